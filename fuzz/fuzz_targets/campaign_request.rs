//! A campaign body: parse and validate against its use case; never panics, and a valid
//! campaign re-validates to itself.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vouch_registry::CampaignRequest;

fuzz_target!(|data: &[u8]| {
    let Ok(req) = serde_json::from_slice::<CampaignRequest>(data) else { return };
    if let Ok(details) = req.validate() {
        let again = (*details).clone().validate().expect("a valid campaign stays valid");
        assert_eq!(again, details);
    }
});
