-- Abuse detection and enforcement (docs/TRACEBACK.md, "Risk" and "Enforcement").

-- Suspended numbers: a view of number.suspended / number.reinstated events; a number's release
-- ends its suspension (the next holder starts clean).
CREATE TABLE number_suspensions (
    number       BIGINT PRIMARY KEY,     -- E.164 digits
    campaign_id  TEXT   NOT NULL,        -- the holder it was suspended under
    seq          BIGINT NOT NULL,        -- the number.suspended event
    reason       TEXT   NOT NULL,
    suspended_us BIGINT NOT NULL
);

-- Number churn per campaign and minute: a view of number.assigned / number.released events,
-- kept in the same transaction (the assignment history is clustered by number, so counting a
-- campaign's churn there would read the whole table).
CREATE TABLE campaign_activity (
    campaign_id     TEXT   NOT NULL,
    minute_us       BIGINT NOT NULL,     -- start of the minute, unix microseconds
    assigned        BIGINT NOT NULL DEFAULT 0,
    released        BIGINT NOT NULL DEFAULT 0,
    held_under_hour BIGINT NOT NULL DEFAULT 0,   -- releases less than an hour after assignment
    held_under_day  BIGINT NOT NULL DEFAULT 0,   -- releases less than a day after (hour included)
    PRIMARY KEY (campaign_id, minute_us)
) WITHOUT ROWID;

INSERT INTO campaign_activity (campaign_id, minute_us, assigned)
    SELECT campaign_id, assigned_us - assigned_us % 60000000, count(*)
    FROM number_assignments GROUP BY 1, 2;
INSERT INTO campaign_activity (campaign_id, minute_us, released, held_under_hour, held_under_day)
    SELECT campaign_id, released_us - released_us % 60000000, count(*),
           sum(CASE WHEN released_us - assigned_us < 3600000000 THEN 1 ELSE 0 END),
           sum(CASE WHEN released_us - assigned_us < 86400000000 THEN 1 ELSE 0 END)
    FROM number_assignments WHERE released_us IS NOT NULL GROUP BY 1, 2
    ON CONFLICT (campaign_id, minute_us) DO UPDATE SET released = excluded.released,
        held_under_hour = excluded.held_under_hour, held_under_day = excluded.held_under_day;

-- The gateway's traffic per campaign and minute, written with its decision records.
CREATE TABLE campaign_traffic (
    campaign_id     TEXT   NOT NULL,
    minute_us       BIGINT NOT NULL,
    messages        BIGINT NOT NULL DEFAULT 0,   -- decisions (accepted, flagged, rejected)
    rejected        BIGINT NOT NULL DEFAULT 0,
    similar_numbers BIGINT NOT NULL DEFAULT 0,   -- largest cluster of numbers sending near-identical content
    PRIMARY KEY (campaign_id, minute_us)
) WITHOUT ROWID;

-- Where a provider wants notifications (suspensions, reinstatements), and the secret their
-- HMAC signatures use. Secrets are not events.
CREATE TABLE webhooks (
    provider_id TEXT   PRIMARY KEY,
    url         TEXT   NOT NULL,
    secret      TEXT   NOT NULL,
    created_us  BIGINT NOT NULL
);
