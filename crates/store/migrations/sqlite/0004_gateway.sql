-- The SMPP gateway (docs/SMPP-GATEWAY.md).

-- SMPP accounts of CSPs: the password is kept as PBKDF2-HMAC-SHA256 (`pbkdf2-sha256$iterations$salt$hash`,
-- base64); the `smppaccount.issued` event names the account by system_id only.
CREATE TABLE smpp_accounts (
    system_id     TEXT   PRIMARY KEY,
    provider_id   TEXT   NOT NULL,
    password_hash TEXT   NOT NULL,
    created_us    BIGINT NOT NULL,
    revoked_us    BIGINT
);

-- The gateway's secret (keys the destination hashes in records and opt-outs), made at first start.
CREATE TABLE gateway_keys (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    destination BLOB    NOT NULL,
    created_us  BIGINT  NOT NULL
);

-- Subscribers who sent STOP to a campaign (by keyed destination hash), until they send START.
CREATE TABLE gateway_opt_outs (
    campaign_id TEXT   NOT NULL,
    dest_key    TEXT   NOT NULL,
    at_us       BIGINT NOT NULL,
    PRIMARY KEY (campaign_id, dest_key)
) WITHOUT ROWID;

-- Every decision, for traceback: no content and no destination number, only a similarity
-- fingerprint and a keyed hash. Rows older than the retention are deleted.
CREATE TABLE gateway_records (
    at_us       BIGINT  NOT NULL,
    record_key  BIGINT  NOT NULL,
    system_id   TEXT    NOT NULL,
    provider_id TEXT    NOT NULL,
    source      TEXT    NOT NULL,
    campaign_id TEXT,
    dest_key    TEXT    NOT NULL,
    fingerprint TEXT    NOT NULL,
    parts       INTEGER NOT NULL,
    verdict     TEXT    NOT NULL,
    status      BIGINT  NOT NULL,
    detail      TEXT    NOT NULL,
    message_id  TEXT,
    PRIMARY KEY (at_us, record_key)
) WITHOUT ROWID;
CREATE INDEX gateway_records_source ON gateway_records (source, at_us);
