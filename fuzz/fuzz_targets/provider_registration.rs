//! A provider registration body: parse and validate; never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vouch_registry::ProviderRegistration;

fuzz_target!(|data: &[u8]| {
    let Ok(req) = serde_json::from_slice::<ProviderRegistration>(data) else { return };
    if let Ok(valid) = req.validate() {
        assert!(!valid.roles.is_empty());
        assert!(!valid.legal_name.is_empty());
    }
});
