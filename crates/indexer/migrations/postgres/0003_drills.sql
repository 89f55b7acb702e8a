-- MatrixAI indexer schema, version 3 (PostgreSQL): validators' signed drill reports, which verify
-- machines' claimed speed (docs/indexer.md, "Drill reports").

CREATE TABLE drills (
    machine_id VARCHAR(36) NOT NULL,
    validator VARCHAR(64) NOT NULL,
    at_ms BIGINT NOT NULL,
    verdict VARCHAR(16) NOT NULL,
    measured_samples_per_s DOUBLE PRECISION,
    claimed_samples_per_s DOUBLE PRECISION NOT NULL,
    report TEXT NOT NULL,
    signature VARCHAR(130) NOT NULL,
    received_ms BIGINT NOT NULL,
    PRIMARY KEY (machine_id, validator, at_ms)
);

-- Each machine's latest drill, which the machine views show.
CREATE TABLE latest_drills (
    machine_id VARCHAR(36) NOT NULL PRIMARY KEY,
    validator VARCHAR(64) NOT NULL,
    at_ms BIGINT NOT NULL,
    verdict VARCHAR(16) NOT NULL,
    measured_samples_per_s DOUBLE PRECISION,
    claimed_samples_per_s DOUBLE PRECISION NOT NULL
);
