//! Registry id parsing: never panics; what parses prints back and packs losslessly.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vouch_registry::{BrandId, CampaignId, ProviderId};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(id) = s.parse::<ProviderId>() {
        assert_eq!(id.as_str(), s);
        assert_eq!(ProviderId::from_u64(id.to_u64()), Some(id));
    }
    if let Ok(id) = s.parse::<BrandId>() {
        assert_eq!(id.as_str(), s);
    }
    if let Ok(id) = s.parse::<CampaignId>() {
        assert_eq!(id.as_str(), s);
    }
    if data.len() >= 8 {
        let bits = u64::from_le_bytes(data[..8].try_into().unwrap_or_default());
        if let Some(id) = ProviderId::from_u64(bits) {
            assert_eq!(id.to_u64(), bits);
        }
    }
});
