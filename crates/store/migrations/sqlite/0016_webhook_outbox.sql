-- Webhook notifications as an outbox: the notifier turns committed events of the notified
-- kinds into one delivery per receiver, in the transaction that moves the cursor past them
-- (so a delivery is written once, whichever node gets there first, and survives a restart);
-- the sender posts due deliveries and retries them with back-off for a day
-- (docs/TRACEBACK.md, "Webhooks"). Not rebuilt from events: operational state.
CREATE TABLE webhook_cursor (
    id  BIGINT PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL                  -- events up to here are turned into deliveries
);
-- Events before this migration were notified (or not) by the previous, in-memory sender.
INSERT INTO webhook_cursor (id, seq) SELECT 1, COALESCE(MAX(seq), 0) FROM events;

CREATE TABLE webhook_deliveries (
    id          TEXT PRIMARY KEY,         -- N… (Vouch-Delivery; the body's id)
    provider_id TEXT NOT NULL,            -- the receiver
    seq         BIGINT NOT NULL,          -- the event
    kind        TEXT NOT NULL,            -- the event's kind (Vouch-Event)
    body        TEXT NOT NULL,            -- the JSON POSTed, byte for byte
    status      TEXT NOT NULL,            -- pending, delivered, failed
    attempts    BIGINT NOT NULL,
    next_us     BIGINT NOT NULL,          -- pending: next attempt (or end of a sender's claim)
    created_us  BIGINT NOT NULL,
    last_us     BIGINT,                   -- last attempt
    last_error  TEXT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_us) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_receiver ON webhook_deliveries (provider_id, created_us);
