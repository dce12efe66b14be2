-- signed_calls without the primary key on call_key. The key is random, so every signed call
-- wrote to a random page of that index (the key is never looked up). Generated origids are
-- UUIDv7, so the origid index appends.
ALTER TABLE signed_calls DROP CONSTRAINT signed_calls_pkey;
