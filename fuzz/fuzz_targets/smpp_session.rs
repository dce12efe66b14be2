//! SMPP bytes from an ESME: framing, PDU decoding, the session state machine and window,
//! text decoding, UDH parsing, reassembly, receipts and the gateway's content scan. Lengths
//! that lie, zero-length and 64 KiB PDUs, out-of-state PDUs and enquire_link floods must give
//! answers or errors, never a panic, and the window never goes past its bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vouch_smpp::concat::{Limits, Offer, Reassembler};
use vouch_smpp::session::{Admission, ServerSession};
use vouch_smpp::{Body, BindMode, frame};

fuzz_target!(|data: &[u8]| {
    let mut session = ServerSession::new(4);
    let mut reassembler: Reassembler<u16, usize> =
        Reassembler::new(Limits { max_messages: 4, max_bytes: 4096, timeout_ms: 10 });
    let mut at = 0;
    let mut n = 0;
    while let Ok(Some(h)) = frame(&data[at..]) {
        if data.len() - at < h.length {
            break;
        }
        let pdu = &data[at..at + h.length];
        at += h.length;
        n += 1;
        let admitted = session.admit(&h);
        assert!(session.outstanding() <= 4);
        let Ok(p) = vouch_smpp::decode(pdu) else { continue };
        match p.body() {
            Body::Bind(b) if admitted == Admission::Accept => {
                if b.password.len() % 2 == 0 { session.bound(b.mode) } else { let _ = session.bind_failed(); }
            }
            Body::Message(sm) => {
                let _ = vouch_smpp::text::decode_text(sm.data_coding, sm.user_data());
                let _ = vouch_smpp::receipt::receipt_id(sm.user_data());
                let _ = vouch_smpp::receipt::rewrite_id(sm.user_data(), "v1");
                let _ = vouch_gateway::content::scan(&String::from_utf8_lossy(sm.user_data()));
                let _ = vouch_gateway::address_number(&sm.source);
                if let Ok((Some(c), rest)) = vouch_smpp::text::split_udh(sm.user_data()) {
                    if let Offer::Complete { tags, .. } = reassembler.offer(c.reference, c.total, c.seqnum, rest, n, n as u64) {
                        assert!(!tags.is_empty());
                    }
                }
                if admitted == Admission::Accept {
                    session.answered();
                }
            }
            _ => {}
        }
        let _ = reassembler.expire(n as u64);
    }
    let _ = BindMode::Transceiver.receives();
});
