//! The transparency log's parsers of external bytes: signed notes, checkpoints, verifier keys,
//! tile paths, hash tiles and entry bundles. Any bytes give a value or a clear error; parsed
//! values re-encode to what was parsed.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vouch_tlog::tile::{encode_bundle, parse_bundle, parse_hash_tile};
use vouch_tlog::{Checkpoint, NoteVerifier, SignedNote, TilePath};

fuzz_target!(|data: &[u8]| {
    if let Ok(note) = SignedNote::parse(data) {
        assert!(note.text.ends_with('\n'));
        if let Ok(cp) = Checkpoint::parse(&note.text) {
            assert_eq!(Checkpoint::parse(&cp.to_text()).as_ref(), Ok(&cp));
        }
    }
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(cp) = Checkpoint::parse(s) {
            assert_eq!(cp.to_text(), s);
        }
        if let Ok(k) = NoteVerifier::parse(s) {
            assert_eq!(NoteVerifier::parse(&k.to_key_string()).as_ref(), Ok(&k));
        }
        if let Ok(p) = TilePath::parse(s) {
            assert_eq!(p.format(), s);
        }
    }
    if let Ok(entries) = parse_bundle(data) {
        assert_eq!(encode_bundle(&entries).ok().as_deref(), Some(data));
    }
    if let Ok(h) = parse_hash_tile(data) {
        assert_eq!(h.len() * 32, data.len());
    }
});
