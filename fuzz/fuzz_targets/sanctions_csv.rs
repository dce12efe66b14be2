//! An operator-supplied sanctions file in OFAC SDN layout: parse and screen; never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vouch_registry::SanctionsList;

fuzz_target!(|data: &[u8]| {
    if let Ok(list) = SanctionsList::from_sdn_csv(data) {
        for m in list.screen("Acme Dental Group LLC") {
            assert!((0.0..=1.0).contains(&m.similarity));
        }
    }
});
