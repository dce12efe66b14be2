-- Several verifying nodes share replay detection: each writes, about every 250 ms, the
-- PASSporTs it saw first (24 bytes each: SHA-256 prefixes of the PASSporT and the call, and
-- until when; no number, no PASSporT) and reads the other nodes' batches (docs/DEPLOYMENT.md).
CREATE TABLE stir_presentations (
    node_id TEXT   NOT NULL,
    batch   BIGINT NOT NULL,
    at_us   BIGINT NOT NULL,
    entries BYTEA  NOT NULL,
    PRIMARY KEY (node_id, batch)
);
CREATE INDEX stir_presentations_at ON stir_presentations (at_us);
