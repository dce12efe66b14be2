//! Robocall Mitigation Database exports: any bytes parse into a snapshot (every filing under
//! its own FRN) or a clear error; never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vouch_callauth::{RmdChanges, RmdSnapshot};

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = RmdSnapshot::parse(data) {
        for (frn, f) in &s.filings {
            assert_eq!(frn, &f.frn);
        }
        let c = RmdChanges::between(&Default::default(), &s.filings);
        assert_eq!(c.added.len(), s.filings.len());
    }
});
