//! The PASSporT decoder: never panics; what decodes keeps the received signing input and
//! passes or fails every later check without panicking.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vouch_shaken::Passport;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(p) = Passport::decode(s) {
        assert!(s.trim().starts_with(p.signing_input()));
        let _ = p.require_shaken();
        let _ = p.require_div();
        let _ = p.check_freshness(1_700_000_000, 60);
        let _ = p.check_freshness(i64::MIN, i64::MAX);
    }
});
