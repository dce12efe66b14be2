-- Numbers released less than a week after their assignment, per campaign and minute: the
-- `short-holds-week` risk signal (docs/TRACEBACK.md).
ALTER TABLE campaign_activity ADD COLUMN held_under_week BIGINT NOT NULL DEFAULT 0;

INSERT INTO campaign_activity (campaign_id, minute_us, held_under_week)
    SELECT campaign_id, released_us - released_us % 60000000,
           sum(CASE WHEN released_us - assigned_us < 604800000000 THEN 1 ELSE 0 END)
    FROM number_assignments WHERE released_us IS NOT NULL GROUP BY 1, 2
    ON CONFLICT (campaign_id, minute_us) DO UPDATE SET held_under_week = excluded.held_under_week;
