//! A bulk number-import body: parse rows and every field; never panics, lines increase.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vouch_registry::{CampaignId, TelephoneNumber, parse_import_csv};

fuzz_target!(|data: &[u8]| {
    if let Ok(rows) = parse_import_csv(data, 1) {
        let mut last = 0;
        for r in rows {
            assert!(r.line > last);
            last = r.line;
            let _ = r.number.parse::<TelephoneNumber>();
            let _ = r.campaign_id.parse::<CampaignId>();
        }
    }
});
