-- Gateway records in batches (docs/SMPP-GATEWAY.md, "Records"). A record is keyed by its batch,
-- then its source number: each write appends one batch at the end of the table instead of
-- scattering index entries over the whole (source, time) index, which cost most of the
-- gateway's CPU at tens of thousands of messages a second. A search for one number seeks once
-- per batch in its window; the writer starts at most about one batch a second, and a batch
-- spans at most a few seconds (RECORD_BATCH_SPAN in crates/store/src/gateway.rs).
CREATE TABLE gateway_record_batches (
    batch_us  BIGINT NOT NULL,  -- time of the batch's first record
    batch_key BIGINT NOT NULL,  -- random: tells apart batches of several writers
    last_us   BIGINT NOT NULL,  -- time of its last record
    records   BIGINT NOT NULL,
    PRIMARY KEY (batch_us, batch_key)
) WITHOUT ROWID;

CREATE TABLE gateway_batch_records (
    batch_us    BIGINT  NOT NULL,
    batch_key   BIGINT  NOT NULL,
    source      TEXT    NOT NULL,
    ord         BIGINT  NOT NULL,  -- position in the batch (arrival order)
    at_us       BIGINT  NOT NULL,
    system_id   TEXT    NOT NULL,
    provider_id TEXT    NOT NULL,
    campaign_id TEXT,
    dest_key    TEXT    NOT NULL,
    fingerprint TEXT    NOT NULL,
    parts       INTEGER NOT NULL,
    verdict     TEXT    NOT NULL,
    status      BIGINT  NOT NULL,
    detail      TEXT    NOT NULL,
    message_id  TEXT,
    PRIMARY KEY (batch_us, batch_key, source, ord)
) WITHOUT ROWID;

-- Records written before batches: each becomes a batch of its own.
INSERT INTO gateway_record_batches (batch_us, batch_key, last_us, records)
    SELECT at_us, record_key, at_us, 1 FROM gateway_records;
INSERT INTO gateway_batch_records (batch_us, batch_key, source, ord, at_us, system_id, provider_id, campaign_id,
                                   dest_key, fingerprint, parts, verdict, status, detail, message_id)
    SELECT at_us, record_key, source, 0, at_us, system_id, provider_id, campaign_id,
           dest_key, fingerprint, parts, verdict, status, detail, message_id FROM gateway_records;
DROP INDEX gateway_records_source;
DROP TABLE gateway_records;
ALTER TABLE gateway_batch_records RENAME TO gateway_records;
