-- Call authentication: signing credentials, SIP peers, number blocks, the Robocall Mitigation
-- Database snapshot, and the signer's record of what it signed.

-- A view of certificate.registered events.
CREATE TABLE certificates (
    fingerprint TEXT PRIMARY KEY,        -- hex SHA-256 of the end-entity certificate's DER
    provider_id TEXT NOT NULL,
    spc         TEXT NOT NULL,
    chain_pem   TEXT NOT NULL,
    x5u         TEXT NOT NULL,
    created_us  BIGINT NOT NULL
);
CREATE INDEX certificates_provider ON certificates (provider_id, created_us);

-- Private keys are secrets, not events: PKCS#8 DER, or the name of a file in the key directory.
CREATE TABLE signing_keys (
    fingerprint TEXT PRIMARY KEY,
    pkcs8       BLOB,
    key_file    TEXT
);

-- A view of sippeer.added / sippeer.removed events.
CREATE TABLE sip_peers (
    address     TEXT PRIMARY KEY,        -- CIDR network, e.g. 192.0.2.10/32
    provider_id TEXT NOT NULL,
    brand_id    TEXT,
    created_us  BIGINT NOT NULL
);

-- A view of numberblock.registered / numberblock.removed events.
CREATE TABLE number_blocks (
    first_number BIGINT PRIMARY KEY,     -- E.164 digits
    last_number  BIGINT NOT NULL,
    provider_id  TEXT NOT NULL,
    brand_id     TEXT,
    created_us   BIGINT NOT NULL
);

-- The current Robocall Mitigation Database snapshot, replaced by each import (rmd.imported
-- events carry the file's hash and what changed).
CREATE TABLE rmd_filings (
    frn    TEXT PRIMARY KEY,
    filing TEXT NOT NULL                 -- RmdFiling JSON
);

-- What the signer signed, by origid, for the originating side's traceback. Call metadata:
-- never an event, never in the transparency log.
-- origid identifies the origination point (ATIS-1000074): callers may reuse it, so each call
-- has its own random key.
CREATE TABLE signed_calls (
    call_key    BIGINT PRIMARY KEY,
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
CREATE INDEX signed_calls_origid ON signed_calls (origid, created_us);
CREATE INDEX signed_calls_orig ON signed_calls (orig, iat);
