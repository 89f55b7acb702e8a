-- MatrixAI indexer schema, version 1 (SQLite).
-- Balances are u128 in the chain's smallest unit: exact decimal text. The market filters and
-- sorts on NOT NULL `*_key` columns (a DOUBLE copy of the value, or a sentinel that sorts a
-- machine without the value last), so that an index walk in key order answers a page. Ids are UUID text, accounts SS58 text (prefix 42).

CREATE TABLE index_cursor (
    id INTEGER PRIMARY KEY CHECK (id = 1),
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
    price_key DOUBLE PRECISION NOT NULL,
    max_duration_hours BIGINT,
    disk_gb BIGINT,
    value_key DOUBLE PRECISION NOT NULL,
    rented_by VARCHAR(36),
    outcome_weight DOUBLE PRECISION NOT NULL,
    success_weight DOUBLE PRECISION NOT NULL,
    performance_key DOUBLE PRECISION NOT NULL,
    reliability_key DOUBLE PRECISION NOT NULL,
    orders_total BIGINT NOT NULL,
    orders_succeeded BIGINT NOT NULL,
    orders_failed BIGINT NOT NULL,
    added_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    removed_at BIGINT
);
CREATE INDEX machines_by_owner ON machines (owner);
-- The market walks one of these in sort order and stops at the page's end: each sort key
-- alone, and behind the two most used filters (GPU model, region). docs/indexer.md shows the
-- plans.
CREATE INDEX machines_listed_price ON machines (listed, price_key, machine_id);
CREATE INDEX machines_listed_performance ON machines (listed, performance_key, machine_id);
CREATE INDEX machines_listed_value ON machines (listed, value_key, machine_id);
CREATE INDEX machines_listed_reliability ON machines (listed, reliability_key, machine_id);
CREATE INDEX machines_gpu_price ON machines (listed, gpu_model, price_key, machine_id);
CREATE INDEX machines_gpu_performance ON machines (listed, gpu_model, performance_key, machine_id);
CREATE INDEX machines_gpu_value ON machines (listed, gpu_model, value_key, machine_id);
CREATE INDEX machines_gpu_reliability ON machines (listed, gpu_model, reliability_key, machine_id);
CREATE INDEX machines_region_price ON machines (listed, region, price_key, machine_id);
CREATE INDEX machines_region_performance ON machines (listed, region, performance_key, machine_id);
CREATE INDEX machines_region_value ON machines (listed, region, value_key, machine_id);
CREATE INDEX machines_region_reliability ON machines (listed, region, reliability_key, machine_id);

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
    id INTEGER PRIMARY KEY CHECK (id = 1),
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
