//! Canonical event bytes (what a follower node or auditor reads back): parse; never panics;
//! an event that parses re-encodes to bytes that parse to the same event.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vouch_registry::Event;

fuzz_target!(|data: &[u8]| {
    if let Ok(event) = Event::from_canonical(data)
        && let Ok(bytes) = event.to_canonical()
    {
        let back = Event::from_canonical(&bytes).expect("canonical bytes parse");
        assert_eq!(back, event);
        assert_eq!(back.to_canonical().ok(), Some(bytes));
    }
});
