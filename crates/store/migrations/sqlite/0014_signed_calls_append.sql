-- signed_calls without the unique index on call_key. The key is random, so every signed call
-- wrote to a random page of that index: under load most of the store's work while signing
-- (the key is never looked up). The table appends by rowid now; generated origids are
-- UUIDv7, so the origid index appends too.
CREATE TABLE signed_calls_new (
    call_key    BIGINT NOT NULL,
    origid      TEXT NOT NULL,
    provider_id TEXT NOT NULL,
    brand_id    TEXT,
    campaign_id TEXT,
    orig        TEXT NOT NULL,
    dest        TEXT NOT NULL,           -- comma-separated
    attest      TEXT NOT NULL,
    iat         BIGINT NOT NULL,
    created_us  BIGINT NOT NULL
);
INSERT INTO signed_calls_new (call_key, origid, provider_id, brand_id, campaign_id, orig, dest, attest, iat, created_us)
    SELECT call_key, origid, provider_id, brand_id, campaign_id, orig, dest, attest, iat, created_us FROM signed_calls;
DROP TABLE signed_calls;
ALTER TABLE signed_calls_new RENAME TO signed_calls;
CREATE INDEX signed_calls_origid ON signed_calls (origid, created_us);
CREATE INDEX signed_calls_orig ON signed_calls (orig, iat);
