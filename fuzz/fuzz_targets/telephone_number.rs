//! E.164 parsing: never panics; what parses prints back to the same text and digits.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vouch_registry::TelephoneNumber;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(n) = s.parse::<TelephoneNumber>() {
        assert_eq!(n.to_string(), s);
        assert_eq!(TelephoneNumber::from_digits(n.digits()), Some(n));
    }
});
