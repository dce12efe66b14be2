//! SIP messages from the network (UDP datagrams, TCP streams): parsing and stream framing never
//! panic; a frame's length is within the input; a parsed request answers with a response that
//! itself parses.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vouch_sip::{Response, SipMessage, frame_len, telephone_number};

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(n)) = frame_len(data) {
        assert!(n <= data.len());
    }
    if let Ok(m) = SipMessage::parse(data) {
        for (_, v) in &m.headers {
            let _ = telephone_number(v);
        }
        if m.check_request().is_ok() {
            let bytes = Response::new(400, "Bad Request").to_request(&m, "t");
            SipMessage::parse(&bytes).expect("a response to a parsed request parses");
        }
    }
});
