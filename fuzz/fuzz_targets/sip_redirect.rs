//! What the SIP redirect server does with bytes it cannot parse: the salvaged head of a bad
//! request always answers with a 400 that parses; verstat rewriting of any From/PAI is safe.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vouch_callauth::redirect::{uri_header_escape, with_verstat};
use vouch_shaken::Verstat;
use vouch_sip::{Response, SipMessage, salvage_request};

fuzz_target!(|data: &[u8]| {
    if let Some(m) = salvage_request(data) {
        let bytes = Response::new(400, "Bad Request").to_request(&m, "t");
        SipMessage::parse(&bytes).expect("a 400 to a salvaged request parses");
    }
    if let Ok(m) = SipMessage::parse(data) {
        if let Some(v) = with_verstat(&m, Verstat::Passed, Some("Name")) {
            assert!(!v.contains(['\r', '\n']));
        }
        if let Some(id) = m.header("Identity") {
            let e = uri_header_escape(id);
            assert!(e.bytes().all(|b| b.is_ascii_graphic()));
        }
    }
});
