-- SIP peers that only ask for verification (terminating SBCs): their calls without Identity
-- are marked No-TN-Validation, never signed for their provider (docs/CALL-AUTH.md).
ALTER TABLE sip_peers ADD COLUMN verify_only INTEGER NOT NULL DEFAULT 0;
