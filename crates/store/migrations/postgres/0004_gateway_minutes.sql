-- The gateway's decisions counted per minute, CSP, verdict and command_status, written with the
-- decision records (the DCA's live figures: a few rows a minute however many messages pass).
CREATE TABLE gateway_minutes (
    minute_us   BIGINT NOT NULL,
    provider_id TEXT   NOT NULL,
    verdict     TEXT   NOT NULL,
    status      BIGINT NOT NULL,
    messages    BIGINT NOT NULL,
    PRIMARY KEY (minute_us, provider_id, verdict, status)
);
