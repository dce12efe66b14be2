//! TNAuthList DER: never panics; what decodes encodes back to the same bytes (DER is unique).
#![no_main]
use libfuzzer_sys::fuzz_target;
use vouch_shaken::TnAuthList;

fuzz_target!(|data: &[u8]| {
    if let Ok(list) = TnAuthList::from_der(data) {
        assert_eq!(list.to_der().expect("a decoded list encodes"), data);
        let _ = list.single_spc();
    }
});
