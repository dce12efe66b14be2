-- The transparency log's sequencer lease (docs/DEPLOYMENT.md): one node at a time integrates
-- events and signs checkpoints. One node uses the embedded store, so it always holds it; the
-- table is here so that the embedded store and PostgreSQL run the same SQL.
CREATE TABLE log_lease (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    holder     TEXT    NOT NULL,
    expires_us BIGINT  NOT NULL
);
INSERT INTO log_lease (id, holder, expires_us) VALUES (1, '', 0);
