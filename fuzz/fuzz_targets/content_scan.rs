//! The gateway's content scan and the subscriber keyword parser on arbitrary text: links,
//! shorteners and phone numbers next to any punctuation, script, digits or invisible
//! characters must give findings, never a panic, and what is found is well formed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vouch_gateway::content::{self, Finding};
use vouch_gateway::optout;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let findings = content::scan(&text);
    let mut first_link = None;
    for f in &findings {
        match f {
            Finding::Link(h) | Finding::Shortener(h) => {
                assert!(!h.is_empty());
                assert_eq!(matches!(f, Finding::Shortener(_)), content::is_shortener(h), "{h}");
                first_link.get_or_insert(h.clone());
            }
            Finding::Phone(d) => {
                assert!((8..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()), "{d}");
            }
        }
    }
    assert_eq!(content::link_host(&text), first_link);

    // The keyword parser, with the campaign's own words taken from the first line.
    let (own, message) = text.split_once('\n').unwrap_or(("", &text));
    let own = vec![own.to_owned()];
    let k = optout::keyword(message, &own, &own);
    // Quotes, punctuation and spaces around a keyword do not change it.
    assert_eq!(optout::keyword(&format!(" “{message}”?! "), &own, &own), k);
});
