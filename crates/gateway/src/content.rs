//! Content against the campaign's declaration: links (when `embeddedLink` is false), phone
//! numbers (when `embeddedPhone` is false), public URL shorteners (always refused, as CTIA's
//! guidelines and the carriers' filters do), and a pluggable [`ContentClassifier`].

/// Public URL shorteners (hosts, lower case, without `www.`).
pub const SHORTENERS: &[&str] = &[
    "bit.ly",
    "bitly.com",
    "tinyurl.com",
    "t.co",
    "goo.gl",
    "ow.ly",
    "is.gd",
    "buff.ly",
    "rebrand.ly",
    "cutt.ly",
    "shorturl.at",
    "tiny.cc",
    "rb.gy",
    "bl.ink",
    "t.ly",
    "s.id",
    "lnkd.in",
    "trib.al",
    "v.gd",
    "qrco.de",
    "tiny.one",
    "short.io",
    "shorte.st",
    "adf.ly",
    "soo.gd",
    "clck.ru",
    "u.to",
    "x.co",
    "y2u.be",
    "2u.pw",
];

/// Top-level domains that make a dotted word without a scheme a link (`example.com/x`).
const TLDS: &[&str] = &[
    "com", "net", "org", "io", "co", "us", "ly", "me", "info", "biz", "app", "link", "xyz", "site", "online", "shop",
    "store", "club", "top", "vip", "live", "click", "gov", "edu", "tv", "ai", "gl", "gd", "at", "to", "cc", "id", "in",
    "ru", "cn", "uk", "de", "ca", "page", "dev", "pw", "be", "one", "st",
];

/// What a content check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// A link (its host).
    Link(String),
    /// A link through a public shortener (its host).
    Shortener(String),
    /// A phone number (its digits).
    Phone(String),
}

fn trim_word(w: &str) -> &str {
    w.trim_matches(|c: char| {
        matches!(c, '.' | ',' | ';' | ':' | '!' | '?' | '(' | ')' | '[' | ']' | '"' | '\'' | '<' | '>')
    })
}

/// The host of a word if the word is a link: it has a scheme, starts with `www.`, or is a
/// dotted name ending in a known top-level domain. E-mail addresses are not links.
pub fn link_host(word: &str) -> Option<String> {
    let w = trim_word(word);
    if w.contains('@') && !w.contains("://") {
        return None;
    }
    let lower = w.to_ascii_lowercase();
    let (rest, schemed) = match lower.find("://") {
        Some(i) if lower[..i].chars().all(|c| c.is_ascii_alphabetic()) && i > 0 => (&lower[i + 3..], true),
        _ => (lower.as_str(), false),
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit('@').next().unwrap_or(host);
    let host = host.split(':').next().unwrap_or(host);
    let (host, www) = match host.strip_prefix("www.") {
        Some(h) => (h, true),
        None => (host, false),
    };
    let labels: Vec<&str> = host.split('.').collect();
    let valid_labels = labels.len() >= 2
        && labels.iter().all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    if !valid_labels {
        return None;
    }
    let tld = labels.last().copied().unwrap_or("");
    let tld_ok = tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic());
    if schemed || www || (tld_ok && TLDS.contains(&tld)) { Some(host.to_owned()) } else { None }
}

/// Whether `host` is a public URL shortener.
pub fn is_shortener(host: &str) -> bool {
    SHORTENERS.contains(&host)
}

/// North American phone numbers in the text: runs of digits and separators (`+ - . ( )`,
/// spaces) holding 10 digits, or 11 starting with 1. Short codes and codes of other lengths
/// are not phone numbers.
pub fn phone_numbers(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut digits = String::new();
    let mut flush = |digits: &mut String| {
        let n = digits.len();
        if n == 10 || (n == 11 && digits.starts_with('1')) {
            found.push(std::mem::take(digits));
        }
        digits.clear();
    };
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else if matches!(c, '-' | '.' | '(' | ')' | '+') || (c == ' ' && !digits.is_empty() && digits.len() < 11) {
            // A space continues a number only between digit groups ("415 555 0100").
            if c == ' ' && !chars.get(i + 1).is_some_and(|n| n.is_ascii_digit() || *n == '(') {
                flush(&mut digits);
            }
        } else {
            flush(&mut digits);
        }
        if digits.len() > 11 {
            digits.clear(); // a long digit string (an account number) is not a phone number
        }
    }
    flush(&mut digits);
    found
}

/// Every link, shortener and phone number in the text.
pub fn scan(text: &str) -> Vec<Finding> {
    let mut out: Vec<Finding> = text
        .split_whitespace()
        .filter_map(link_host)
        .map(|h| if is_shortener(&h) { Finding::Shortener(h) } else { Finding::Link(h) })
        .collect();
    out.extend(phone_numbers(text).into_iter().map(Finding::Phone));
    out
}

/// A content classifier: anything that can say "refuse this text, because…". vouch ships
/// [`TermList`]; a deployment may plug another (a model, a vendor's filter) into the gateway.
pub trait ContentClassifier: Send + Sync + std::fmt::Debug {
    /// `Some(reason)` to refuse the text.
    fn classify(&self, text: &str) -> Option<String>;
}

/// The built-in classifier: case-insensitive terms, one per line of a file, each optionally
/// preceded by a label and a tab (`phishing\tverify your account`); `#` starts a comment.
#[derive(Debug, Clone, Default)]
pub struct TermList {
    terms: Vec<(String, String)>,
}

impl TermList {
    /// Parses the file's text.
    pub fn parse(text: &str) -> Self {
        let terms = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| match l.split_once('\t') {
                Some((label, term)) => (label.trim().to_owned(), term.trim().to_lowercase()),
                None => ("listed term".to_owned(), l.to_lowercase()),
            })
            .filter(|(_, t)| !t.is_empty())
            .collect();
        Self { terms }
    }

    /// How many terms.
    pub fn len(&self) -> usize {
        self.terms.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }
}

impl ContentClassifier for TermList {
    fn classify(&self, text: &str) -> Option<String> {
        if self.terms.is_empty() {
            return None;
        }
        let lower = text.to_lowercase();
        self.terms.iter().find(|(_, t)| lower.contains(t.as_str())).map(|(label, t)| format!("{label}: \"{t}\""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links() {
        for (w, host) in [
            ("https://acme.example/x?y", "acme.example"),
            ("http://Bit.ly/abc", "bit.ly"),
            ("www.acmedental.com", "acmedental.com"),
            ("acmedental.com/book.", "acmedental.com"),
            ("(see acme.io)", "acme.io"),
        ] {
            let w = w.split_whitespace().last().unwrap();
            assert_eq!(link_host(w).as_deref(), Some(host), "{w}");
        }
        for w in ["3.5", "Dr.Smith", "support@acme.com", "e.g.", "STOP", "U.S.", "10am."] {
            assert_eq!(link_host(w), None, "{w}");
        }
        assert_eq!(scan("Book at bit.ly/x now"), vec![Finding::Shortener("bit.ly".into())]);
    }

    #[test]
    fn phones() {
        assert_eq!(phone_numbers("Call (415) 555-0100 today"), vec!["4155550100"]);
        assert_eq!(phone_numbers("Call +1 415 555 0100."), vec!["14155550100"]);
        assert_eq!(phone_numbers("415.555.0100 or 4155550101"), vec!["4155550100", "4155550101"]);
        assert!(phone_numbers("Your code is 123456. Text 55555 for help").is_empty());
        assert!(phone_numbers("Account 123456789012345").is_empty());
        assert!(phone_numbers("At 10 am on 12 3").is_empty());
    }

    #[test]
    fn term_list() {
        let t = TermList::parse("# comment\nphishing\tverify your account\nfree money\n\n");
        assert_eq!(t.len(), 2);
        assert_eq!(t.classify("Please VERIFY YOUR ACCOUNT now").as_deref(), Some("phishing: \"verify your account\""));
        assert_eq!(t.classify("Get FREE money").as_deref(), Some("listed term: \"free money\""));
        assert_eq!(t.classify("Your appointment is at 10am"), None);
    }
}
