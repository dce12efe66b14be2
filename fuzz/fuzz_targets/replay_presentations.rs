//! The replay cache's presentation batches, as nodes read them from the database: never panic;
//! what decodes encodes back to the same bytes, and a cache takes them in without panicking.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vouch_callauth::{ReplayCache, decode_presentations, encode_presentations};

fuzz_target!(|data: &[u8]| {
    if let Some(ps) = decode_presentations(data) {
        assert_eq!(encode_presentations(&ps), data);
        let cache = ReplayCache::new(64);
        let _ = cache.apply_others(&ps, 0);
    }
});
