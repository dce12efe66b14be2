-- vouch registry schema, PostgreSQL dialect: the embedded store's schema (migrations/sqlite,
-- all of it) as one file. The same tables, columns and keys, so that the same SQL runs on both;
-- only the types differ (every integer is BIGINT, BLOB is BYTEA, no WITHOUT ROWID). Nothing
-- here needs SERIAL columns, sequences, advisory locks or extensions, so the schema also runs on
-- PostgreSQL-compatible distributed engines (CockroachDB, YugabyteDB). See docs/DEPLOYMENT.md.

CREATE TABLE events (
    seq       BIGINT PRIMARY KEY,        -- gap-free, from 1 (allocated under registry_state's row lock)
    ts_us     BIGINT NOT NULL,           -- commit time, unix microseconds, never decreasing
    actor     TEXT   NOT NULL,
    kind      TEXT   NOT NULL,
    subject   TEXT   NOT NULL,           -- id of the entity the event is about
    canonical TEXT   NOT NULL            -- the canonical encoding (docs/EVENTS.md)
);
CREATE INDEX events_campaign_status ON events (subject, seq)
    WHERE kind IN ('campaign.suspended', 'campaign.resumed', 'campaign.expired');
CREATE INDEX events_certificates ON events (subject) WHERE kind = 'certificate.registered';
CREATE INDEX events_subject ON events (subject, seq) WHERE kind NOT IN ('number.assigned', 'number.released');

-- One row: the next sequence number and the last event time. Every write transaction of every
-- node locks it first, which orders the writers.
CREATE TABLE registry_state (
    id       BIGINT PRIMARY KEY CHECK (id = 1),
    next_seq BIGINT NOT NULL,
    last_us  BIGINT NOT NULL
);
INSERT INTO registry_state (id, next_seq, last_us) VALUES (1, 1, 0);

CREATE TABLE api_keys (
    key_hash    TEXT PRIMARY KEY,
    key_id      TEXT NOT NULL UNIQUE,
    provider_id TEXT,
    created_us  BIGINT NOT NULL,
    revoked_us  BIGINT
);

CREATE TABLE providers (
    id           TEXT PRIMARY KEY,
    legal_name   TEXT NOT NULL,
    registration TEXT NOT NULL,
    frn          TEXT,
    spc          TEXT,
    created_us   BIGINT NOT NULL
);
CREATE UNIQUE INDEX providers_frn ON providers (frn) WHERE frn IS NOT NULL;
CREATE UNIQUE INDEX providers_spc ON providers (spc) WHERE spc IS NOT NULL;

CREATE TABLE brands (
    id              TEXT PRIMARY KEY,
    csp_id          TEXT NOT NULL,
    ein             TEXT,
    reference_id    TEXT,
    details         TEXT NOT NULL,
    score           BIGINT NOT NULL DEFAULT 0,
    identity_status TEXT NOT NULL DEFAULT 'UNVERIFIED',
    vetting         TEXT,
    version         BIGINT NOT NULL,
    created_us      BIGINT NOT NULL,
    updated_us      BIGINT NOT NULL
);
CREATE INDEX brands_csp ON brands (csp_id);
CREATE INDEX brands_ein ON brands (ein);
CREATE UNIQUE INDEX brands_reference ON brands (csp_id, reference_id) WHERE reference_id IS NOT NULL;

CREATE TABLE campaigns (
    id            TEXT PRIMARY KEY,
    brand_id      TEXT NOT NULL,
    csp_id        TEXT NOT NULL,
    reference_id  TEXT,
    details       TEXT NOT NULL,
    status        TEXT NOT NULL,
    status_reason TEXT,
    dca_id        TEXT,
    version       BIGINT NOT NULL,
    created_us    BIGINT NOT NULL,
    updated_us    BIGINT NOT NULL
);
CREATE INDEX campaigns_csp ON campaigns (csp_id);
CREATE INDEX campaigns_brand ON campaigns (brand_id);
CREATE UNIQUE INDEX campaigns_reference ON campaigns (csp_id, reference_id) WHERE reference_id IS NOT NULL;

CREATE TABLE campaign_sharing (
    campaign_id TEXT NOT NULL,
    dca_id      TEXT NOT NULL,
    status      TEXT NOT NULL,
    reason      TEXT,
    shared_us   BIGINT NOT NULL,
    status_us   BIGINT NOT NULL,
    PRIMARY KEY (campaign_id, dca_id)
);
CREATE INDEX campaign_sharing_dca ON campaign_sharing (dca_id);

-- A number's whole history is one short range of the primary key (number, assigned_seq).
-- Unlike the embedded store (one writer, which checks "one current holder per number" against
-- its index), several nodes write here: the partial unique index is the database's own check.
CREATE TABLE number_assignments (
    number         BIGINT NOT NULL,
    assigned_seq   BIGINT NOT NULL,
    campaign_id    TEXT   NOT NULL,
    dca_id         TEXT   NOT NULL,
    assigned_us    BIGINT NOT NULL,
    released_seq   BIGINT,
    released_us    BIGINT,
    release_reason TEXT,
    PRIMARY KEY (number, assigned_seq)
);
CREATE UNIQUE INDEX number_assignments_current ON number_assignments (number) WHERE released_us IS NULL;

CREATE TABLE sanctions_lists (
    sha256      TEXT PRIMARY KEY,
    imported_us BIGINT NOT NULL,
    entries     BIGINT NOT NULL,
    content     BYTEA  NOT NULL
);

CREATE TABLE certificates (
    fingerprint TEXT PRIMARY KEY,
    provider_id TEXT NOT NULL,
    spc         TEXT NOT NULL,
    chain_pem   TEXT NOT NULL,
    x5u         TEXT NOT NULL,
    created_us  BIGINT NOT NULL
);
CREATE INDEX certificates_provider ON certificates (provider_id, created_us);

CREATE TABLE signing_keys (
    fingerprint TEXT PRIMARY KEY,
    pkcs8       BYTEA,
    key_file    TEXT
);

CREATE TABLE sip_peers (
    address     TEXT PRIMARY KEY,
    provider_id TEXT NOT NULL,
    brand_id    TEXT,
    created_us  BIGINT NOT NULL
);

CREATE TABLE number_blocks (
    first_number BIGINT PRIMARY KEY,
    last_number  BIGINT NOT NULL,
    provider_id  TEXT NOT NULL,
    brand_id     TEXT,
    created_us   BIGINT NOT NULL
);

CREATE TABLE rmd_filings (
    frn    TEXT PRIMARY KEY,
    filing TEXT NOT NULL
);

CREATE TABLE signed_calls (
    call_key    BIGINT PRIMARY KEY,
    origid      TEXT NOT NULL,
    provider_id TEXT NOT NULL,
    brand_id    TEXT,
    campaign_id TEXT,
    orig        TEXT NOT NULL,
    dest        TEXT NOT NULL,
    attest      TEXT NOT NULL,
    iat         BIGINT NOT NULL,
    created_us  BIGINT NOT NULL
);
CREATE INDEX signed_calls_origid ON signed_calls (origid, created_us);
CREATE INDEX signed_calls_orig ON signed_calls (orig, iat);

CREATE TABLE log_keys (
    id         BIGINT PRIMARY KEY CHECK (id = 1),
    origin     TEXT   NOT NULL,
    signing    BYTEA  NOT NULL,
    sealing    BYTEA  NOT NULL,
    created_us BIGINT NOT NULL
);

CREATE TABLE log_tiles (
    level  BIGINT NOT NULL,
    idx    BIGINT NOT NULL,
    hashes BYTEA  NOT NULL,
    PRIMARY KEY (level, idx)
);

CREATE TABLE log_checkpoints (
    size  BIGINT PRIMARY KEY,
    root  BYTEA  NOT NULL,
    note  TEXT   NOT NULL,
    ts_us BIGINT NOT NULL
);

-- The transparency log's sequencer: one node at a time integrates events and signs
-- checkpoints, the holder of this lease; it renews the lease well before it expires, and any
-- node takes it over once it has expired.
CREATE TABLE log_lease (
    id         BIGINT PRIMARY KEY CHECK (id = 1),
    holder     TEXT   NOT NULL,
    expires_us BIGINT NOT NULL
);
INSERT INTO log_lease (id, holder, expires_us) VALUES (1, '', 0);

CREATE TABLE smpp_accounts (
    system_id     TEXT   PRIMARY KEY,
    provider_id   TEXT   NOT NULL,
    password_hash TEXT   NOT NULL,
    created_us    BIGINT NOT NULL,
    revoked_us    BIGINT
);

CREATE TABLE gateway_keys (
    id          BIGINT PRIMARY KEY CHECK (id = 1),
    destination BYTEA  NOT NULL,
    created_us  BIGINT NOT NULL
);

CREATE TABLE gateway_opt_outs (
    campaign_id TEXT   NOT NULL,
    dest_key    TEXT   NOT NULL,
    at_us       BIGINT NOT NULL,
    PRIMARY KEY (campaign_id, dest_key)
);

CREATE TABLE gateway_record_batches (
    batch_us  BIGINT NOT NULL,
    batch_key BIGINT NOT NULL,
    last_us   BIGINT NOT NULL,
    records   BIGINT NOT NULL,
    PRIMARY KEY (batch_us, batch_key)
);

CREATE TABLE gateway_records (
    batch_us    BIGINT NOT NULL,
    batch_key   BIGINT NOT NULL,
    source      TEXT   NOT NULL,
    ord         BIGINT NOT NULL,
    at_us       BIGINT NOT NULL,
    system_id   TEXT   NOT NULL,
    provider_id TEXT   NOT NULL,
    campaign_id TEXT,
    dest_key    TEXT   NOT NULL,
    fingerprint TEXT   NOT NULL,
    parts       BIGINT NOT NULL,
    verdict     TEXT   NOT NULL,
    status      BIGINT NOT NULL,
    detail      TEXT   NOT NULL,
    message_id  TEXT,
    PRIMARY KEY (batch_us, batch_key, source, ord)
);

CREATE TABLE reports (
    id          TEXT   PRIMARY KEY,
    reporter_id TEXT   NOT NULL,
    channel     TEXT   NOT NULL,
    number      BIGINT NOT NULL,
    at_us       BIGINT NOT NULL,
    category    TEXT   NOT NULL,
    campaign_id TEXT,
    brand_id    TEXT,
    fingerprint TEXT,
    content     TEXT,
    identity    TEXT,
    origid      TEXT,
    created_us  BIGINT NOT NULL
);
CREATE INDEX reports_number ON reports (number, at_us);
CREATE INDEX reports_campaign ON reports (campaign_id, at_us);
CREATE INDEX reports_brand ON reports (brand_id, at_us);

CREATE TABLE number_suspensions (
    number       BIGINT PRIMARY KEY,
    campaign_id  TEXT   NOT NULL,
    seq          BIGINT NOT NULL,
    reason       TEXT   NOT NULL,
    suspended_us BIGINT NOT NULL
);

CREATE TABLE campaign_activity (
    campaign_id     TEXT   NOT NULL,
    minute_us       BIGINT NOT NULL,
    assigned        BIGINT NOT NULL DEFAULT 0,
    released        BIGINT NOT NULL DEFAULT 0,
    held_under_hour BIGINT NOT NULL DEFAULT 0,
    held_under_day  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign_id, minute_us)
);

CREATE TABLE campaign_traffic (
    campaign_id     TEXT   NOT NULL,
    minute_us       BIGINT NOT NULL,
    messages        BIGINT NOT NULL DEFAULT 0,
    rejected        BIGINT NOT NULL DEFAULT 0,
    similar_numbers BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign_id, minute_us)
);

CREATE TABLE webhooks (
    provider_id TEXT   PRIMARY KEY,
    url         TEXT   NOT NULL,
    secret      TEXT   NOT NULL,
    created_us  BIGINT NOT NULL
);
