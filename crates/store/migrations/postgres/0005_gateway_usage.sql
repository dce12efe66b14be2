-- Several gateway nodes share the throughput limits: each writes what it took per campaign
-- minute (key `campaign:number`, number 0 but for class G) and per brand day (key `brand`),
-- as running totals of the period, and reads the others' (docs/DEPLOYMENT.md).
CREATE TABLE gateway_usage (
    node_id TEXT   NOT NULL,
    scope   TEXT   NOT NULL,
    key     TEXT   NOT NULL,
    period  BIGINT NOT NULL,
    count   BIGINT NOT NULL,
    PRIMARY KEY (node_id, scope, key, period)
);
CREATE INDEX gateway_usage_period ON gateway_usage (scope, period);
