//! SIP messages from the network (UDP datagrams, TCP streams): parsing and stream framing never
//! panic; a frame's length is within the input; stamping the top Via never panics and answers
//! go back to the source address; a parsed request answers with a response that itself parses.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vouch_sip::{Response, SipMessage, frame_len, header_param, telephone_number};

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(n)) = frame_len(data) {
        assert!(n <= data.len());
    }
    if let Ok(mut m) = SipMessage::parse(data) {
        for (_, v) in &m.headers {
            let _ = telephone_number(v);
            let _ = header_param(v, "tag");
        }
        let source = std::net::SocketAddr::from(([127, 0, 0, 1], 5060));
        m.stamp_via(source);
        assert_eq!(m.reply_address(source).ip(), source.ip());
        if m.check_request().is_ok() {
            let bytes = Response::new(400, "Bad Request").to_request(&m, "t");
            SipMessage::parse(&bytes).expect("a response to a parsed request parses");
        }
    }
});
