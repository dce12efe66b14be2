-- vouch registry schema, SQLite dialect. Events are the source of truth; every other table
-- except api_keys and sanctions_lists (secrets and bulk reference data) is a view of them,
-- maintained in the same transaction as the event that changes it.

CREATE TABLE events (
    seq       INTEGER PRIMARY KEY,       -- gap-free, from 1
    ts_us     BIGINT  NOT NULL,          -- commit time, unix microseconds, never decreasing
    actor     TEXT    NOT NULL,
    kind      TEXT    NOT NULL,
    subject   TEXT    NOT NULL,          -- id of the entity the event is about
    canonical TEXT    NOT NULL           -- the canonical encoding (docs/EVENTS.md)
);

CREATE INDEX events_campaign_status ON events (subject, seq)
    WHERE kind IN ('campaign.suspended', 'campaign.resumed', 'campaign.expired');

CREATE TABLE registry_state (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    next_seq BIGINT NOT NULL,
    last_us  BIGINT NOT NULL
);
INSERT INTO registry_state (id, next_seq, last_us) VALUES (1, 1, 0);

CREATE TABLE api_keys (
    key_hash    TEXT PRIMARY KEY,        -- hex SHA-256 of the secret
    key_id      TEXT NOT NULL UNIQUE,
    provider_id TEXT,                    -- NULL for the administrator
    created_us  BIGINT NOT NULL,
    revoked_us  BIGINT
);

CREATE TABLE providers (
    id           TEXT PRIMARY KEY,
    legal_name   TEXT NOT NULL,
    registration TEXT NOT NULL,          -- ProviderRegistration JSON
    frn          TEXT,
    spc          TEXT,
    created_us   BIGINT NOT NULL
);
CREATE UNIQUE INDEX providers_frn ON providers (frn) WHERE frn IS NOT NULL;
CREATE UNIQUE INDEX providers_spc ON providers (spc) WHERE spc IS NOT NULL;

CREATE TABLE brands (
    id              TEXT PRIMARY KEY,
    csp_id          TEXT NOT NULL,
    ein             TEXT,                -- normalised US EIN digits, for duplicate detection
    reference_id    TEXT,
    details         TEXT NOT NULL,       -- BrandRequest JSON
    score           BIGINT NOT NULL DEFAULT 0,
    identity_status TEXT NOT NULL DEFAULT 'UNVERIFIED',
    vetting         TEXT,                -- VettingOutcome JSON
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
    details       TEXT NOT NULL,         -- CampaignRequest JSON
    status        TEXT NOT NULL,
    status_reason TEXT,
    dca_id        TEXT,                  -- the DCA that accepted it
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

CREATE TABLE number_assignments (
    number         BIGINT NOT NULL,      -- E.164 digits
    assigned_seq   BIGINT NOT NULL,      -- the number.assigned event
    campaign_id    TEXT   NOT NULL,
    dca_id         TEXT   NOT NULL,
    assigned_us    BIGINT NOT NULL,
    released_seq   BIGINT,
    released_us    BIGINT,
    release_reason TEXT,
    -- Clustered by number: a number's whole history, its current holder included, is one short
    -- range of the table (assigned_us never decreases with the sequence), and a bulk import
    -- sorted by number writes few pages. No other index: each one costs the bulk import a
    -- page write per row or so. "One current holder per number" is the service's rule, checked
    -- against the in-memory index under the writer lock before any number.assigned event.
    PRIMARY KEY (number, assigned_seq)
) WITHOUT ROWID;

CREATE TABLE sanctions_lists (
    sha256      TEXT PRIMARY KEY,
    imported_us BIGINT NOT NULL,
    entries     BIGINT NOT NULL,
    content     BLOB NOT NULL
);
