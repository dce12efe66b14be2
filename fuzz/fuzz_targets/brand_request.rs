//! A brand body as the REST API receives it: parse, validate, vet; never panics, and the
//! vetting outcome is always consistent (blocking reasons mean UNVERIFIED and score 0).
#![no_main]
use libfuzzer_sys::fuzz_target;
use vouch_registry::{BrandRequest, IdentityStatus, ProviderId, SanctionsList, Severity, VettingContext, vet};

fuzz_target!(|data: &[u8]| {
    let Ok(req) = serde_json::from_slice::<BrandRequest>(data) else { return };
    let Ok(details) = req.validate() else { return };
    let list = SanctionsList::from_sdn_csv(b"1,\"ACME DENTAL GROUP\",-0-,\"SDGT\"\n").unwrap_or_default();
    let outcome =
        vet(&details, &VettingContext { csp: ProviderId::from_random(1), ein_holders: &[], sanctions: &list });
    assert!(outcome.score <= 100);
    if outcome.reasons.iter().any(|r| r.severity == Severity::Blocking) {
        assert_eq!(outcome.identity_status, IdentityStatus::Unverified);
        assert_eq!(outcome.score, 0);
    }
    let again = serde_json::to_vec(&*details).unwrap_or_default();
    assert!(serde_json::from_slice::<BrandRequest>(&again).is_ok());
});
