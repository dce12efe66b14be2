//! Mobile-originated keywords: opt-out (CTIA's STOP words and the campaign's own), opt back
//! in, and help.

/// CTIA's standard opt-out words.
pub const STOP_WORDS: &[&str] = &["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"];
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

/// The keyword a mobile-originated message is, if it is one: the whole message, trimmed and
/// case-folded, compared to the standard words and the campaign's own lists.
pub fn keyword(text: &str, optout_keywords: &[String], help_keywords: &[String]) -> Option<Keyword> {
    let t: String = text.trim().trim_end_matches(['.', '!']).to_uppercase();
    let is = |list: &[&str]| list.contains(&t.as_str());
    let is_own = |list: &[String]| list.iter().any(|k| k.eq_ignore_ascii_case(&t));
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
}
