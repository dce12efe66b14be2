-- The SMPP gateway's message ids awaiting a delivery receipt: which ESME account, under which
-- id of vouch's, gets the receipt an SMSC sends for its own id. Written in batches (every
-- 250 ms) so that a crash loses at most the last batch, read when a receipt's id is not in the
-- node's memory (after a restart, or for a message another node sent), and deleted once the
-- receipt window is over (docs/SMPP-GATEWAY.md, "Receipt ids"). Not rebuilt from events:
-- operational state.
CREATE TABLE smpp_receipt_ids (
    smsc        TEXT   NOT NULL,   -- the SMSC account that took the message: SYSTEM_ID@HOST:PORT
    upstream_id TEXT   NOT NULL,   -- the SMSC's message id
    our_id      TEXT   NOT NULL,   -- the id the ESME was given
    system_id   TEXT   NOT NULL,   -- the ESME account that sent it
    at_us       BIGINT NOT NULL,   -- when the SMSC took it
    PRIMARY KEY (smsc, upstream_id)
) WITHOUT ROWID;
CREATE INDEX smpp_receipt_ids_at ON smpp_receipt_ids (at_us);
