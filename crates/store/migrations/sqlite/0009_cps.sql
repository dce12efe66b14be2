-- Out-of-band STIR/SHAKEN (docs/CPS.md): SIP peers that are TDM gateways, and the HPKE keys of
-- providers (a view of cpskey.registered events; the latest per provider).
ALTER TABLE sip_peers ADD COLUMN tdm INTEGER NOT NULL DEFAULT 0;
CREATE TABLE cps_keys (
    provider_id TEXT PRIMARY KEY,
    key_id      TEXT   NOT NULL,
    public_key  TEXT   NOT NULL,
    created_us  BIGINT NOT NULL
);
