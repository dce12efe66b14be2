-- Opt-outs seen by every node (docs/DEPLOYMENT.md): START keeps the row with opted_out = 0
-- (a tombstone, purged after an hour) instead of deleting it, so that the other nodes, which
-- read the rows changed in the last seconds, learn of it; at_us orders those reads.
ALTER TABLE gateway_opt_outs ADD COLUMN opted_out BIGINT NOT NULL DEFAULT 1;
CREATE INDEX gateway_opt_outs_at ON gateway_opt_outs (at_us);
