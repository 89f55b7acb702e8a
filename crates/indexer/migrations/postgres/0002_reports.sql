-- MatrixAI indexer schema, version 2 (PostgreSQL): judging panels' seats and validators' signed
-- verification reports (docs/indexer.md, "Verification reports").

-- One row per validator of each panel drawn (PanelDrawn): who may publish a report for it.
CREATE TABLE panel_seats (
    order_id VARCHAR(36) NOT NULL,
    placed_at BIGINT NOT NULL,
    panel_from BIGINT NOT NULL,
    validator VARCHAR(64) NOT NULL,
    round_index BIGINT NOT NULL,
    PRIMARY KEY (order_id, placed_at, panel_from, validator)
);

CREATE TABLE reports (
    order_id VARCHAR(36) NOT NULL,
    placed_at BIGINT NOT NULL,
    panel_from BIGINT NOT NULL,
    validator VARCHAR(64) NOT NULL,
    verdict VARCHAR(8) NOT NULL,
    report TEXT NOT NULL,
    signature VARCHAR(130) NOT NULL,
    received_ms BIGINT NOT NULL,
    PRIMARY KEY (order_id, placed_at, panel_from, validator)
);
