//! Mobile-originated keywords: opt-out (CTIA's STOP words and the campaign's own), opt back
//! in, and help.
//!
//! A message is a keyword when the whole of it is one, read loosely as a subscriber types it:
//! case, punctuation, quotes, symbols and emoji around it, and spaces, hyphens and underscores
//! between its words do not count (`"Stop!"`, `STOP ALL`, `opt-out`, `Help?`). Anything more is
//! not a keyword (`please stop texting me`, `HELP ME`, `STOP 2`).

use crate::content::{fold_width, is_invisible};

/// Standard opt-out words. CTIA's Messaging Principles and Best Practices name STOP, STOPALL
/// (also written STOP ALL), UNSUBSCRIBE, CANCEL, END and QUIT; the FCC's 2024 revocation rule,
/// 47 CFR 64.1200(a)(12), adds that "stop, quit, end, revoke, opt out, cancel, or unsubscribe"
/// in reply revokes consent. Written without spaces: `OPT OUT` and `OPT-OUT` are `OPTOUT`.
pub const STOP_WORDS: &[&str] = &["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"];
/// The longest standard word, in bytes.
const LONGEST_STANDARD: usize = 11;

/// Words that opt back in.
pub const START_WORDS: &[&str] = &["START", "UNSTOP", "SUBSCRIBE", "YES"];
/// Standard help words.
pub const HELP_WORDS: &[&str] = &["HELP", "INFO"];

/// What a subscriber's message asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    /// Stop messages from this campaign.
    OptOut,
    /// Resume them.
    OptIn,
    /// Send the campaign's help message.
    Help,
}

/// `text` without what surrounds a keyword: anything but letters and digits (whitespace,
/// punctuation, quotes, symbols, emoji) at either end.
fn trim(text: &str) -> &str {
    text.trim_matches(|c: char| !fold_width(c).is_alphanumeric())
}

/// What joins the words of a keyword and is ignored: whitespace, hyphens and dashes,
/// underscores, and invisible characters.
fn is_joiner(c: char) -> bool {
    c.is_whitespace() || is_invisible(c) || matches!(c, '-' | '_' | '\u{2010}'..='\u{2015}' | '\u{2212}')
}

/// The characters that are compared: case-folded, full-width folded, joiners left out.
fn folded(text: &str) -> impl Iterator<Item = char> + '_ {
    text.chars().map(fold_width).filter(|c| !is_joiner(*c)).flat_map(char::to_lowercase)
}

/// Whether the trimmed message `t` is `word` (trimmed and folded the same way). Allocates nothing.
fn is_word(t: &str, word: &str) -> bool {
    let word = trim(word);
    !word.is_empty() && folded(t).eq(folded(word))
}

/// The keyword a mobile-originated message is, if it is one: the whole message, without
/// punctuation, quotes, symbols or emoji around it, case-folded and with the spaces, hyphens
/// and underscores between its words ignored, is one of the standard words or of the
/// campaign's own lists (read the same way). Opt-out wins over opt-in, opt-in over help.
pub fn keyword(text: &str, optout_keywords: &[String], help_keywords: &[String]) -> Option<Keyword> {
    let t = trim(text);
    // Quick reject (most messages are not keywords): a character lower-cases to at most three,
    // so a message with more letters than three times the longest keyword's bytes is none.
    let longest = optout_keywords.iter().chain(help_keywords).map(String::len).fold(LONGEST_STANDARD, usize::max);
    let letters = t.chars().map(fold_width).filter(|c| !is_joiner(*c)).take(3 * longest + 1).count();
    if letters == 0 || letters > 3 * longest {
        return None;
    }
    let is = |list: &[&str]| list.iter().any(|w| is_word(t, w));
    let is_own = |list: &[String]| list.iter().any(|w| is_word(t, w));
    if is(STOP_WORDS) || is_own(optout_keywords) {
        Some(Keyword::OptOut)
    } else if is(START_WORDS) {
        Some(Keyword::OptIn)
    } else if is(HELP_WORDS) || is_own(help_keywords) {
        Some(Keyword::Help)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords() {
        let own = vec!["ARRET".to_owned()];
        let help = vec!["AIDE".to_owned()];
        assert_eq!(keyword(" stop ", &own, &help), Some(Keyword::OptOut));
        assert_eq!(keyword("Arret", &own, &help), Some(Keyword::OptOut));
        assert_eq!(keyword("UNSUBSCRIBE.", &[], &[]), Some(Keyword::OptOut));
        assert_eq!(keyword("start", &own, &help), Some(Keyword::OptIn));
        assert_eq!(keyword("Help", &own, &help), Some(Keyword::Help));
        assert_eq!(keyword("aide", &own, &help), Some(Keyword::Help));
        assert_eq!(keyword("please stop texting me", &own, &help), None, "only the whole message is a keyword");
        assert_eq!(keyword("ARRET", &[], &[]), None);
    }

    #[test]
    fn keywords_as_subscribers_type_them() {
        for text in [
            "STOP ALL",
            "Stop all",
            "OPT OUT",
            "OPT-OUT",
            "opt_out",
            "Opt\u{2011}out",
            "Stop?",
            "STOP,",
            "\"STOP\"",
            "“Stop”",
            "‘stop’",
            "STOP 🛑",
            "¡STOP!",
            "ＳＴＯＰ",
            "Revoke",
            "  stop\u{200B}\n",
            "Un-subscribe.",
        ] {
            assert_eq!(keyword(text, &[], &[]), Some(Keyword::OptOut), "{text}");
        }
        assert_eq!(keyword("Help?", &[], &[]), Some(Keyword::Help));
        let standard = || STOP_WORDS.iter().chain(START_WORDS).chain(HELP_WORDS);
        assert_eq!(standard().map(|w| w.len()).max(), Some(LONGEST_STANDARD));
        assert_eq!(keyword("U N S U B S C R I B E", &[], &[]), Some(Keyword::OptOut), "spaces are not letters");
        let long = vec!["PLEASE STOP SENDING ME THESE".to_owned()];
        assert_eq!(keyword("please stop sending me these!", &long, &[]), Some(Keyword::OptOut));
        assert_eq!(keyword("«Start»", &[], &[]), Some(Keyword::OptIn));
        // The campaign's own words, read the same way.
        let own = vec!["ARRÊT".to_owned(), "STOP-NOW".to_owned(), String::new(), "!!".to_owned()];
        let help = vec!["AIDE SVP".to_owned()];
        assert_eq!(keyword("Arrêt!", &own, &help), Some(Keyword::OptOut));
        assert_eq!(keyword("stop now", &own, &help), Some(Keyword::OptOut));
        assert_eq!(keyword("aide-svp", &own, &help), Some(Keyword::Help));
        for text in
            ["please stop texting me", "START please", "HELP ME", "STOP 2", "", "!!!", "🛑", "S.T.O.P", "stopping"]
        {
            assert_eq!(keyword(text, &own, &help), None, "{text}");
        }
    }
}
