-- Spam reports (docs/TRACEBACK.md). A report names the number and instant it is about; the
-- campaign and brand that held the number then are resolved when it is filed, so that counts
-- per campaign and per brand need no history lookup. Content is kept only as a SimHash unless
-- the reporter opted in.
CREATE TABLE reports (
    id          TEXT    PRIMARY KEY,
    reporter_id TEXT    NOT NULL,
    channel     TEXT    NOT NULL,    -- sms | voice
    number      BIGINT  NOT NULL,    -- E.164 digits of the offending number
    at_us       BIGINT  NOT NULL,    -- when the message or call happened
    category    TEXT    NOT NULL,
    campaign_id TEXT,                -- the number's holder at at_us, if any
    brand_id    TEXT,
    fingerprint TEXT,                -- SimHash of the content (hex), when content was given
    content     TEXT,                -- the content itself, only when the reporter opted in
    identity    TEXT,                -- the Identity header or PASSporT given for a call
    origid      TEXT,                -- its origid, when it parsed
    created_us  BIGINT  NOT NULL
);
CREATE INDEX reports_number ON reports (number, at_us);
CREATE INDEX reports_campaign ON reports (campaign_id, at_us);
CREATE INDEX reports_brand ON reports (brand_id, at_us);

-- The events about one brand, campaign or provider, for the evidence of a trace. Number events
-- (most of the table) are left out, so that bulk imports do not pay for this index.
CREATE INDEX events_subject ON events (subject, seq) WHERE kind NOT IN ('number.assigned', 'number.released');
