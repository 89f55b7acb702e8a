-- MatrixAI indexer schema, version 1 (PostgreSQL).
-- Balances are u128 in the chain's smallest unit: exact decimal text, plus a DOUBLE copy where
-- the market filters or sorts by them. Ids are UUID text, accounts SS58 text (prefix 42).

CREATE TABLE index_cursor (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    block_number BIGINT NOT NULL,
    block_hash VARCHAR(66) NOT NULL,
    updated_ms BIGINT NOT NULL
);

CREATE TABLE events (
    block_number BIGINT NOT NULL,
    event_index BIGINT NOT NULL,
    block_hash VARCHAR(66) NOT NULL,
    timestamp_ms BIGINT NOT NULL,
    extrinsic_index BIGINT,
    pallet VARCHAR(32) NOT NULL,
    name VARCHAR(32) NOT NULL,
    machine_id VARCHAR(36),
    order_id VARCHAR(36),
    account VARCHAR(64),
    fields_json TEXT NOT NULL,
    PRIMARY KEY (block_number, event_index)
);
CREATE INDEX events_by_machine ON events (machine_id, block_number);
CREATE INDEX events_by_order ON events (order_id, block_number);
CREATE INDEX events_by_account ON events (account, block_number);

CREATE TABLE machines (
    machine_id VARCHAR(36) PRIMARY KEY,
    owner VARCHAR(64) NOT NULL,
    metadata TEXT NOT NULL,
    metadata_error TEXT,
    gpu_model VARCHAR(128),
    gpu_count BIGINT NOT NULL,
    gpu_memory_mb BIGINT,
    cpu_model VARCHAR(128),
    cpu_cores BIGINT,
    ram_mb BIGINT,
    region VARCHAR(128),
    performance_index DOUBLE PRECISION,
    deposit VARCHAR(40) NOT NULL,
    listed BIGINT NOT NULL,
    price_per_hour VARCHAR(40),
    price_per_hour_num DOUBLE PRECISION,
    max_duration_hours BIGINT,
    disk_gb BIGINT,
    performance_per_price DOUBLE PRECISION,
    rented_by VARCHAR(36),
    outcome_weight DOUBLE PRECISION NOT NULL,
    success_weight DOUBLE PRECISION NOT NULL,
    reliability DOUBLE PRECISION,
    orders_total BIGINT NOT NULL,
    orders_succeeded BIGINT NOT NULL,
    orders_failed BIGINT NOT NULL,
    added_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    removed_at BIGINT
);
CREATE INDEX machines_by_owner ON machines (owner);
CREATE INDEX machines_listed_price ON machines (listed, price_per_hour_num);
CREATE INDEX machines_listed_performance ON machines (listed, performance_index);
CREATE INDEX machines_listed_value ON machines (listed, performance_per_price);
CREATE INDEX machines_listed_reliability ON machines (listed, reliability);
CREATE INDEX machines_listed_gpu ON machines (listed, gpu_model, gpu_count, price_per_hour_num);
CREATE INDEX machines_listed_region ON machines (listed, region, price_per_hour_num);

CREATE TABLE orders (
    order_id VARCHAR(36) NOT NULL,
    placed_at BIGINT NOT NULL,
    buyer VARCHAR(64) NOT NULL,
    seller VARCHAR(64) NOT NULL,
    machine_id VARCHAR(36) NOT NULL,
    duration_hours BIGINT NOT NULL,
    price_per_hour VARCHAR(40) NOT NULL,
    escrow VARCHAR(40) NOT NULL,
    collateral VARCHAR(40) NOT NULL,
    deadline BIGINT NOT NULL,
    metadata TEXT NOT NULL,
    status VARCHAR(16) NOT NULL,
    closed BIGINT NOT NULL,
    result TEXT,
    score BIGINT,
    proof TEXT,
    challenge_block BIGINT,
    panel_json TEXT,
    verdict VARCHAR(8),
    verified_by VARCHAR(64),
    dispute_until BIGINT,
    disputer VARCHAR(64),
    dispute_segment BIGINT,
    refunded VARCHAR(40),
    slashed VARCHAR(40),
    paid VARCHAR(40),
    updated_at BIGINT NOT NULL,
    closed_at BIGINT,
    PRIMARY KEY (order_id, placed_at)
);
CREATE INDEX orders_by_buyer ON orders (buyer, placed_at);
CREATE INDEX orders_by_seller ON orders (seller, placed_at);
CREATE INDEX orders_by_machine ON orders (machine_id, placed_at);
CREATE INDEX orders_by_status ON orders (status);

CREATE TABLE validators (
    account VARCHAR(64) PRIMARY KEY,
    active BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE faucet_claims (
    block_number BIGINT NOT NULL,
    event_index BIGINT NOT NULL,
    account VARCHAR(64) NOT NULL,
    amount VARCHAR(40) NOT NULL,
    next_claim_at BIGINT NOT NULL,
    PRIMARY KEY (block_number, event_index)
);
CREATE INDEX faucet_claims_by_account ON faucet_claims (account, block_number);

CREATE TABLE totals (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    volume_placed VARCHAR(40) NOT NULL,
    volume_paid VARCHAR(40) NOT NULL,
    volume_refunded VARCHAR(40) NOT NULL,
    claimed VARCHAR(40) NOT NULL
);

CREATE TABLE logs (
    order_id VARCHAR(36) NOT NULL,
    placed_at BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    timestamp_ms BIGINT NOT NULL,
    level VARCHAR(8) NOT NULL,
    message TEXT NOT NULL,
    epoch BIGINT,
    step BIGINT,
    loss DOUBLE PRECISION,
    accuracy DOUBLE PRECISION,
    received_ms BIGINT NOT NULL,
    PRIMARY KEY (order_id, placed_at, seq)
);
