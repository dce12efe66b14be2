-- The transparency log (docs/TRANSPARENCY-LOG.md). Leaf i is the event with seq i + 1, in its
-- log form; the entries are not copied (entry bundles are built from `events`), the hashes are
-- kept as C2SP tiles.

-- The log's keys, created at first start: the checkpoint signing key (Ed25519 PKCS#8, named by
-- the log's origin) and the secret from which the salts of confidential-field commitments derive.
CREATE TABLE log_keys (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    origin     TEXT    NOT NULL,
    signing    BLOB    NOT NULL,
    sealing    BLOB    NOT NULL,
    created_us BIGINT  NOT NULL
);

-- Hash tiles: the bottom row of each tile (32 bytes per hash, 256 when full). A partial tile is
-- replaced as it grows, in the same transaction as the checkpoint that covers it.
CREATE TABLE log_tiles (
    level  INTEGER NOT NULL,
    idx    BIGINT  NOT NULL,
    hashes BLOB    NOT NULL,
    PRIMARY KEY (level, idx)
) WITHOUT ROWID;

-- Every signed checkpoint: the newest is the log's current state.
CREATE TABLE log_checkpoints (
    size  BIGINT PRIMARY KEY,
    root  BLOB   NOT NULL,
    note  TEXT   NOT NULL,
    ts_us BIGINT NOT NULL
);

-- Inclusion proofs by certificate fingerprint.
CREATE INDEX events_certificates ON events (subject) WHERE kind = 'certificate.registered';
