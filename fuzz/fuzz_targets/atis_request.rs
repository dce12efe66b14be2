//! ATIS-1000082 request bodies from the HTTP interface: signing and verification requests
//! parse or fail with a service exception whose status and JSON are well formed; never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vouch_callauth::{Signing, SigningRequest, VerificationRequest};

fuzz_target!(|data: &[u8]| {
    let errors = [SigningRequest::parse(data).err(), Signing::parse(data).err(), VerificationRequest::parse(data).err()];
    for e in errors.into_iter().flatten() {
        assert!((400..=599).contains(&e.http_status()));
        let body = e.to_json();
        assert!(body["requestError"].is_object());
    }
    if let Ok(r) = VerificationRequest::parse(data) {
        assert!(!r.to.is_empty());
    }
});
