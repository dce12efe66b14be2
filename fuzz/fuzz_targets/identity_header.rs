//! The SIP Identity header parser: never panics; what parses formats back to a value that
//! parses to the same header.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vouch_shaken::IdentityHeader;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(h) = IdentityHeader::parse(s) {
        let again = IdentityHeader::parse(&h.to_string()).expect("a formatted header parses");
        assert_eq!(again, h);
        let _ = h.require_shaken();
        let _ = h.require_div();
    }
    let _ = IdentityHeader::parse_all([s]);
    let _ = vouch_shaken::decode_div_identity(s, &vouch_shaken::VerifyOptions::at(1_700_000_000));
});
