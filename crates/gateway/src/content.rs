//! Content against the campaign's declaration: links (when `embeddedLink` is false), phone
//! numbers (when `embeddedPhone` is false), public URL shorteners (always refused, as CTIA's
//! guidelines and the carriers' filters do), and a pluggable [`ContentClassifier`].
//!
//! The scan reads the text as a handset's link detector would, not word by word: a link is a
//! run of characters that can be in a host name (letters of any script, digits, `-`, `_` and
//! dots, the ideographic ones `。` `．` `｡` included) and anything else, punctuation of any
//! script, symbols, emoji, quotes, `:`, `>`, `|`, separates it from its neighbours. It
//! allocates only for what it finds.

use crate::tlds::is_tld;

/// Public URL shorteners (hosts, lower case, without `www.`). A subdomain of one is one too.
pub const SHORTENERS: &[&str] = &[
    "bit.ly",
    "bitly.com",
    "j.mp",
    "bit.do",
    "tinyurl.com",
    "tiny.one",
    "rotf.lol",
    "t.co",
    "goo.gl",
    "ow.ly",
    "is.gd",
    "v.gd",
    "x.gd",
    "buff.ly",
    "rebrand.ly",
    "cutt.ly",
    "cutt.us",
    "shorturl.at",
    "shorturl.com",
    "short.gy",
    "tiny.cc",
    "tiny.pl",
    "rb.gy",
    "bl.ink",
    "t.ly",
    "t2m.io",
    "surl.li",
    "s.id",
    "lnkd.in",
    "trib.al",
    "qrco.de",
    "short.io",
    "shorte.st",
    "sh.st",
    "adf.ly",
    "ouo.io",
    "bc.vc",
    "soo.gd",
    "clck.ru",
    "vk.cc",
    "goo.su",
    "u.to",
    "u.nu",
    "gg.gg",
    "x.co",
    "y2u.be",
    "2u.pw",
    "dub.sh",
    "kutt.it",
    "snip.ly",
    "urlz.fr",
    "urlr.me",
    "tr.im",
    "po.st",
    "chilp.it",
    "ity.im",
    "t.cn",
    "reurl.cc",
    "pse.is",
    "ppt.cc",
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

/// `c` with the full-width forms of ASCII (U+FF01–U+FF5E: `ｅｖｉｌ．ｃｏｍ`, `４１５`, `＋`)
/// folded to ASCII, the ideographic full stops (`。` U+3002, `｡` U+FF61) to `.` and the
/// ideographic space to a space; any other character as it is.
pub(crate) fn fold_width(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3002}' | '\u{FF61}' => '.',
        '\u{3000}' => ' ',
        _ => c,
    }
}

/// Characters that show nothing (soft hyphen, zero-width space and joiners, word joiner, byte
/// order mark): they neither end nor change a host name they are put into.
pub(crate) fn is_invisible(c: char) -> bool {
    matches!(c, '\u{AD}' | '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')
}

/// Combining marks that `char::is_alphanumeric` does not count (a decomposed `ü` in an IDN).
fn is_combining(c: char) -> bool {
    matches!(c, '\u{300}'..='\u{36F}' | '\u{1AB0}'..='\u{1AFF}' | '\u{1DC0}'..='\u{1DFF}' | '\u{20D0}'..='\u{20FF}'
        | '\u{FE20}'..='\u{FE2F}')
}

/// Whether `c` (folded) can be in a host name as the scan reads one.
fn is_host_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '.' | '-' | '_') || is_invisible(c) || is_combining(c)
}

/// Scripts for splitting a run: ASCII next to CJK, kana or hangul (written without spaces) is a
/// word boundary (`点击bit.ly`, `evil.com了解`); other scripts are not.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Script {
    Ascii,
    Wide,
    Other,
}

fn script(c: char) -> Script {
    if c.is_ascii() {
        Script::Ascii
    } else if c >= '\u{2E80}' {
        Script::Wide
    } else {
        Script::Other
    }
}

/// The character at byte `i` of `text` (folded), if any.
fn char_at(text: &str, i: usize) -> Option<char> {
    text.get(i..).and_then(|t| t.chars().next()).map(fold_width)
}

/// The end of the run of host characters that starts at `start`, and whether it has a dot.
fn run_end(text: &str, start: usize) -> (usize, bool) {
    let Some(rest) = text.get(start..) else { return (text.len(), false) };
    let mut prev: Option<Script> = None;
    let mut dotted = false;
    for (j, c) in rest.char_indices() {
        let c = fold_width(c);
        if c.is_alphanumeric() {
            let s = script(c);
            if matches!((prev, s), (Some(Script::Ascii), Script::Wide) | (Some(Script::Wide), Script::Ascii)) {
                return (start + j, dotted);
            }
            prev = Some(s);
        } else if c == '.' {
            prev = None;
            dotted = true;
        } else if !is_host_char(c) {
            return (start + j, dotted);
        }
    }
    (text.len(), dotted)
}

/// Where the host name in a run starts and ends (byte offsets in it): without what cannot
/// start or end one (dots, hyphens, invisible characters).
fn trim_host(run: &str) -> (usize, usize) {
    let start = run.len() - run.trim_start_matches(|c: char| !fold_width(c).is_alphanumeric()).len();
    let end = run.trim_end_matches(|c: char| !(fold_width(c).is_alphanumeric() || is_combining(c))).len();
    (start, end.max(start))
}

/// The labels of a host name: split at any kind of full stop.
fn labels(host: &str) -> impl Iterator<Item = &str> {
    host.split(|c: char| fold_width(c) == '.')
}

fn is_empty_label(label: &str) -> bool {
    !label.chars().any(|c| fold_width(c).is_alphanumeric())
}

fn is_numeric_label(label: &str) -> bool {
    label.chars().map(fold_width).filter(|c| !is_invisible(*c)).all(char::is_numeric)
}

/// Whether `label` is a top-level domain, whatever its case or width (no allocation: the
/// longest is 24 bytes).
fn is_tld_label(label: &str) -> bool {
    let mut buf = [0u8; 64];
    let mut n = 0;
    for c in label.chars().map(fold_width).filter(|c| !is_invisible(*c)) {
        for l in c.to_lowercase() {
            let Some(slot) = buf.get_mut(n..n + l.len_utf8()) else { return false };
            l.encode_utf8(slot);
            n += l.len_utf8();
        }
    }
    buf.get(..n).and_then(|b| std::str::from_utf8(b).ok()).is_some_and(is_tld)
}

/// Whether `host` is a dotted quad (`192.168.10.5`).
fn is_ipv4(host: &str) -> bool {
    let mut n = 0;
    for label in host.split('.') {
        n += 1;
        if n > 4 || label.is_empty() || label.len() > 3 || !label.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
        if label.parse::<u16>().map_or(true, |v| v > 255) {
            return false;
        }
    }
    n == 4
}

/// Whether a host written without a scheme is a link: `www.` and two more labels, a dotted
/// quad, or a name whose last label is an ICANN top-level domain and whose label before it is
/// not a number (`3.50`, `10.30am`, `e.g.`, `Dr.Smith` are not links).
fn is_bare_link(host: &str) -> bool {
    if is_ipv4(host) {
        return true;
    }
    let mut count = 0;
    let mut www = false;
    let mut second_last = "";
    let mut last = "";
    for label in labels(host) {
        if is_empty_label(label) {
            return false;
        }
        if count == 0 {
            www = label.eq_ignore_ascii_case("www");
        }
        count += 1;
        second_last = last;
        last = label;
    }
    (www && count >= 3) || (count >= 2 && !is_numeric_label(second_last) && is_tld_label(last))
}

/// The link in a run without a scheme (its host), if it is one. A last label that is not a
/// top-level domain may be one followed by a hyphen and more (`evil.com-now`): then the link
/// is the host before the hyphen, as handsets' link detectors read it.
fn bare_link(host: &str) -> Option<&str> {
    if host.is_empty() {
        return None;
    }
    if is_bare_link(host) {
        return Some(host);
    }
    let last_dot = host.rfind(|c: char| fold_width(c) == '.')?;
    let cut = host.get(last_dot..)?.find(['-', '_'])?;
    host.get(..last_dot + cut).filter(|h| is_bare_link(h))
}

/// The host as reported: lower case, ASCII width, `.` for every full stop, without invisible
/// characters, a trailing dot or a leading `www.`.
fn normalize_host(host: &str) -> String {
    let mut out = String::with_capacity(host.len());
    for c in host.chars().map(fold_width).filter(|c| !is_invisible(*c)) {
        out.extend(c.to_lowercase());
    }
    while out.ends_with('.') {
        out.pop();
    }
    match out.strip_prefix("www.") {
        Some(rest) if !rest.is_empty() => rest.to_owned(),
        _ => out,
    }
}

/// Where a scheme that ends at `end` (a run of ASCII letters, digits and `-` starting with a
/// letter: `https`, `HTTP`, `hxxps`, `ftp`) is followed by its `://`, the position after it.
/// For the http-like schemes any number of slashes or back slashes will do, none included
/// (`https:/host`, `https:\\host`, `http:host`), as browsers take them.
fn after_scheme(text: &str, scheme: &str, end: usize) -> Option<usize> {
    let first = scheme.bytes().next()?;
    if !first.is_ascii_alphabetic() || !scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return None;
    }
    let rest = text.get(end..)?;
    let rest = rest.strip_prefix(':').or_else(|| rest.strip_prefix('\u{FF1A}'))?;
    let after = rest.trim_start_matches(|c: char| matches!(fold_width(c), '/' | '\\'));
    let slashes = rest.get(..rest.len() - after.len()).map_or(0, |s| s.chars().count());
    let http_like = ["http", "https", "hxxp", "hxxps"].iter().any(|s| s.eq_ignore_ascii_case(scheme));
    let host_follows = || after.chars().next().is_some_and(|c| fold_width(c).is_alphanumeric());
    (slashes >= 2 || (http_like && (slashes > 0 || host_follows()))).then_some(text.len() - after.len())
}

/// Characters of a URL's authority besides those of a host: userinfo and port.
fn is_authority_char(c: char) -> bool {
    is_host_char(c)
        || matches!(c, '@' | '¡' | ':' | '%' | '!' | '$' | '&' | '\'' | '*' | '+' | ',' | ';' | '=' | '~' | '(' | ')')
        || matches!(c, '[' | ']')
}

/// One link found by [`Links`]: the host as written in the text.
struct Link<'a> {
    host: &'a str,
}

/// The links of a text, in order.
struct Links<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Links<'a> {
    fn new(text: &'a str) -> Self {
        Self { text, pos: 0 }
    }

    /// The link whose scheme ends at `start` (after its slashes), if it names a host; moves past it.
    fn schemed(&mut self, start: usize) -> Option<Link<'a>> {
        let text = self.text;
        let rest = text.get(start..)?;
        let mut end = text.len();
        let mut host_start = start;
        let mut inverted = false; // '¡': an '@' read as GSM, or a '¡'
        for (i, c) in rest.char_indices() {
            let f = fold_width(c);
            if !is_authority_char(f) {
                end = start + i;
                break;
            }
            if f == '@' || f == '¡' {
                host_start = start + i + c.len_utf8();
                inverted |= f == '¡';
            }
        }
        let (from, to) = if text.get(host_start..)?.starts_with('[') {
            let bracket = text.get(host_start..end)?.find(']')?;
            (host_start, host_start + bracket + 1)
        } else if char_at(text, host_start).is_some_and(is_host_char) {
            let (a, b) = trim_host(text.get(host_start..run_end(text, host_start).0)?);
            (host_start + a, host_start + b)
        } else {
            return None;
        };
        let host = text.get(from..to).filter(|h| !h.is_empty())?;
        // After a '¡' the part before it may be the host as well: scan it as text too.
        self.pos = if inverted { start } else { to };
        Some(Link { host })
    }
}

impl<'a> Iterator for Links<'a> {
    type Item = Link<'a>;

    fn next(&mut self) -> Option<Link<'a>> {
        let text = self.text;
        loop {
            // The next run of host characters starts at a letter or digit.
            let rest = text.get(self.pos..)?;
            let (offset, _) = rest.char_indices().find(|(_, c)| fold_width(*c).is_alphanumeric())?;
            let start = self.pos + offset;
            let (end, dotted) = run_end(text, start);
            let run = text.get(start..end).filter(|r| !r.is_empty())?;
            self.pos = end;
            // Most runs are words: no dot, no scheme after them.
            if !dotted && !matches!(char_at(text, end), Some(':')) {
                continue;
            }
            if let Some(after) = after_scheme(text, run, end) {
                self.pos = after.max(end);
                if let Some(link) = self.schemed(after) {
                    return Some(link);
                }
                continue;
            }
            let (a, b) = trim_host(run);
            let Some(host) = run.get(a..b).and_then(bare_link) else { continue };
            let b = a + host.len();
            // user@example.com is an e-mail address (so is user¡example.com, an '@' read as
            // GSM), unless a path follows it.
            let mut before = text.get(..start).unwrap_or("").chars().rev().map(fold_width);
            let email = matches!(before.next(), Some('@' | '¡'))
                && before.next().is_some_and(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '%' | '+' | '-'))
                && char_at(text, start + b) != Some('/');
            if !email {
                return Some(Link { host });
            }
        }
    }
}

/// The host of the first link in `word` (lower case, without `www.`): a scheme (`https://`,
/// `hxxp://`…) followed by any host, `www.` and two more labels, a dotted quad (`192.168.10.5`),
/// or a dotted name whose last label is an ICANN top-level domain (any of them, the
/// internationalised ones included, `bücher.de`, `пример.рф`) and whose label before it is not
/// a number. An e-mail address is not a link.
pub fn link_host(word: &str) -> Option<String> {
    Links::new(word).next().map(|l| normalize_host(l.host))
}

/// Whether `host` (any case, a trailing dot allowed) is a public URL shortener or a subdomain
/// of one (`www.bit.ly`, `m.bit.ly`).
pub fn is_shortener(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host).as_bytes();
    SHORTENERS.iter().any(|s| {
        let s = s.as_bytes();
        host.len() >= s.len()
            && host[host.len() - s.len()..].eq_ignore_ascii_case(s)
            && (host.len() == s.len() || host[host.len() - s.len() - 1] == b'.')
    })
}

/// The code point of `0` of each run of ten Unicode decimal digits (general category Nd) past
/// ASCII, from Python's `unicodedata` (Unicode 14):
/// `[c for c in range(0x80, 0x110000) if unicodedata.decimal(chr(c), None) == 0]`.
const DIGIT_ZEROS: &[u32] = &[
    0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6, 0x0C66, 0x0CE6, 0x0D66, 0x0DE6, 0x0E50,
    0x0ED0, 0x0F20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90, 0x1B50, 0x1BB0, 0x1C40, 0x1C50,
    0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0, 0xFF10, 0x104A0, 0x10D30, 0x11066, 0x110F0, 0x11136,
    0x111D0, 0x112F0, 0x11450, 0x114D0, 0x11650, 0x116C0, 0x11730, 0x118E0, 0x11950, 0x11C50, 0x11D50, 0x11DA0,
    0x16A60, 0x16AC0, 0x16B50, 0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC, 0x1D7F6, 0x1E140, 0x1E2F0, 0x1E950, 0x1FBF0,
];

/// The value of a decimal digit of any script (`4`, `４`, `٤`, `۴`, `४`…).
fn digit_value(c: char) -> Option<u8> {
    if c.is_ascii_digit() {
        return Some(c as u8 - b'0');
    }
    if c.is_ascii() || !c.is_numeric() {
        return None;
    }
    let cp = c as u32;
    let zero = DIGIT_ZEROS[..DIGIT_ZEROS.partition_point(|z| *z <= cp)].last()?;
    u8::try_from(cp - zero).ok().filter(|d| *d < 10)
}

/// How a character takes part in a phone number.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PhoneChar {
    Digit(u8),
    Space,
    Slash,
    Plus,
    /// `(`.
    Open,
    /// `-`, `.`, `)` and the dashes.
    Separator,
    Other,
}

fn phone_char(c: char) -> PhoneChar {
    if c.is_ascii() {
        return match c {
            '0'..='9' => PhoneChar::Digit(c as u8 - b'0'),
            ' ' => PhoneChar::Space,
            '/' => PhoneChar::Slash,
            '+' => PhoneChar::Plus,
            '(' => PhoneChar::Open,
            '-' | '.' | ')' => PhoneChar::Separator,
            _ => PhoneChar::Other,
        };
    }
    let c = fold_width(c);
    if let Some(d) = digit_value(c) {
        return PhoneChar::Digit(d);
    }
    match c {
        ' ' | '\u{A0}' | '\u{2000}'..='\u{200A}' | '\u{202F}' => PhoneChar::Space,
        '/' => PhoneChar::Slash,
        '+' => PhoneChar::Plus,
        '(' => PhoneChar::Open,
        '-' | '.' | ')' | '\u{2010}'..='\u{2015}' | '\u{2212}' => PhoneChar::Separator,
        _ => PhoneChar::Other,
    }
}

/// The most digits a run of a phone number's characters keeps; a longer run is an account
/// number or the like, not a phone number.
const MAX_RUN_DIGITS: usize = 32;

/// A run of digits and separators being read by [`phone_numbers`].
struct PhoneRun {
    digits: [u8; MAX_RUN_DIGITS],
    n: usize,
    /// More digits than `digits` holds.
    overflow: bool,
    /// It started with `+`.
    plus: bool,
    /// Where spaces split it (digit offsets): a phone number may be any part between two.
    spaces: [u8; MAX_RUN_DIGITS],
    n_spaces: usize,
    /// Where slashes are (digit offsets).
    slashes: [u8; MAX_RUN_DIGITS],
    n_slashes: usize,
    /// Where `-`, `.` and the like are (digit offsets).
    separators: [u8; MAX_RUN_DIGITS],
    n_separators: usize,
}

impl PhoneRun {
    const fn new() -> Self {
        Self {
            digits: [0; MAX_RUN_DIGITS],
            n: 0,
            overflow: false,
            plus: false,
            spaces: [0; MAX_RUN_DIGITS],
            n_spaces: 0,
            slashes: [0; MAX_RUN_DIGITS],
            n_slashes: 0,
            separators: [0; MAX_RUN_DIGITS],
            n_separators: 0,
        }
    }

    fn push(&mut self, d: u8) {
        match self.digits.get_mut(self.n) {
            Some(slot) => {
                *slot = d;
                self.n += 1;
            }
            None => self.overflow = true,
        }
    }

    /// Records a space or slash after the digits read so far (offsets fit in a u8: n ≤ 32).
    fn mark(list: &mut [u8; MAX_RUN_DIGITS], count: &mut usize, at: usize) {
        let at = u8::try_from(at).unwrap_or(u8::MAX);
        if *count > 0 && list.get(*count - 1) == Some(&at) {
            return;
        }
        if let Some(slot) = list.get_mut(*count) {
            *slot = at;
            *count += 1;
        }
    }

    /// Whether digits `s..e` are a phone number: 8 to 15 after a `+` at the start of the run,
    /// else a North American number (10 digits, or 11 starting with 1) whose slashes, if any,
    /// sit between its groups (`415/555-0100`, not `12/25/2025 10`). When `part` (the digits are
    /// only part of the run), its spaces must sit between its groups too.
    fn is_phone(&self, s: usize, e: usize, part: bool) -> bool {
        let n = e - s;
        if s == 0 && self.plus && (8..=15).contains(&n) {
            return true;
        }
        let national = match n {
            10 => s,
            11 if self.digits.get(s) == Some(&1) => s + 1,
            _ => return false,
        };
        // NANP: neither the area code nor the exchange starts with 0 or 1.
        let plausible = |at: usize| self.digits.get(at).is_some_and(|&d| d >= 2);
        if !plausible(national) || !plausible(national + 3) {
            return false;
        }
        let between_groups = |o: usize| o == national || o == national + 3 || o == national + 6;
        let all_between =
            |list: &[u8]| list.iter().map(|&o| usize::from(o)).filter(|&o| o > s && o < e).all(between_groups);
        all_between(&self.slashes[..self.n_slashes]) && (!part || all_between(&self.spaces[..self.n_spaces]))
    }

    /// The phone numbers in the run, into `found`; then the run is empty again. Parts of the run
    /// between spaces are tried, longest first, so a number after a date or a code is found.
    fn finish(&mut self, found: &mut Vec<String>) {
        if !self.overflow && self.n >= 8 {
            // An ISO 8601 date at the start (`2025-12-25 10:30`) is a date, not digits of a
            // number; a number may still follow it.
            let date = self.starts_with_iso_date();
            let mut bounds = [0usize; MAX_RUN_DIGITS + 2];
            if date {
                bounds[0] = 8;
            }
            let mut nb = 1;
            for &o in &self.spaces[..self.n_spaces] {
                let o = usize::from(o);
                if o > bounds[nb - 1] && o < self.n {
                    bounds[nb] = o;
                    nb += 1;
                }
            }
            bounds[nb] = self.n;
            nb += 1;
            let mut i = 0;
            while i + 1 < nb {
                let part = |j: usize| date || i > 0 || j + 1 < nb;
                match (i + 1..nb).rev().find(|&j| self.is_phone(bounds[i], bounds[j], part(j))) {
                    Some(j) => {
                        found.push(self.digits[bounds[i]..bounds[j]].iter().map(|d| char::from(b'0' + d)).collect());
                        i = j;
                    }
                    None => i += 1,
                }
            }
        }
        self.n = 0;
        self.overflow = false;
        self.plus = false;
        self.n_spaces = 0;
        self.n_slashes = 0;
        self.n_separators = 0;
    }

    /// Whether the run starts `YYYY-MM-DD` (or with `.` or `/`): 19xx or 20xx, a month and a
    /// day, separated after the year and the month.
    fn starts_with_iso_date(&self) -> bool {
        let d = &self.digits;
        let two = |at: usize| d[at] * 10 + d[at + 1];
        let separated =
            |at: u8| self.separators[..self.n_separators].contains(&at) || self.slashes[..self.n_slashes].contains(&at);
        self.n >= 8
            && matches!(two(0), 19 | 20)
            && (1..=12).contains(&two(4))
            && (1..=31).contains(&two(6))
            && separated(4)
            && separated(6)
    }
}

/// The phone numbers in the text (their digits, in ASCII): runs of decimal digits of any script
/// (`４１５`, `٤١٥`) and separators (`- . ( ) /`, dashes, spaces between digit groups) holding
/// a North American number, 10 digits or 11 starting with 1 (a `/` only between its groups:
/// `415/555-0100`), or a `+` and 8 to 15 digits (`+44 20 7946 0958`). Short codes, codes,
/// dates and longer digit strings (an account number) are not phone numbers.
pub fn phone_numbers(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    // Quick reject: no phone number has fewer than 8 digits, and a digit is an ASCII digit or
    // takes at least one byte past ASCII.
    if text.bytes().filter(|b| b.is_ascii_digit() || !b.is_ascii()).count() < 8 {
        return found;
    }
    let mut run = PhoneRun::new();
    let mut chars = text.chars().map(phone_char);
    let mut next = chars.next();
    while let Some(c) = next {
        next = chars.next();
        match c {
            PhoneChar::Digit(d) => run.push(d),
            PhoneChar::Plus if run.n == 0 => run.plus = matches!(next, Some(PhoneChar::Digit(_))),
            PhoneChar::Separator if run.n > 0 => PhoneRun::mark(&mut run.separators, &mut run.n_separators, run.n),
            PhoneChar::Plus | PhoneChar::Open | PhoneChar::Separator => {}
            PhoneChar::Slash if run.n > 0 => PhoneRun::mark(&mut run.slashes, &mut run.n_slashes, run.n),
            // A space continues a number only between digit groups ("415 555 0100", "+1 (415)…").
            PhoneChar::Space if run.n > 0 && matches!(next, Some(PhoneChar::Digit(_) | PhoneChar::Open)) => {
                PhoneRun::mark(&mut run.spaces, &mut run.n_spaces, run.n);
            }
            PhoneChar::Slash | PhoneChar::Space | PhoneChar::Other if run.n > 0 || run.plus => run.finish(&mut found),
            PhoneChar::Slash | PhoneChar::Space | PhoneChar::Other => {}
        }
    }
    run.finish(&mut found);
    found
}

/// Every link, shortener and phone number in the text.
pub fn scan(text: &str) -> Vec<Finding> {
    let mut out: Vec<Finding> = Links::new(text)
        .map(|l| normalize_host(l.host))
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

    /// The links (and shorteners) `scan` finds in `text`.
    fn links_in(text: &str) -> Vec<Finding> {
        scan(text).into_iter().filter(|f| !matches!(f, Finding::Phone(_))).collect()
    }

    fn link(host: &str) -> Vec<Finding> {
        vec![Finding::Link(host.into())]
    }

    #[test]
    fn links_next_to_any_punctuation() {
        for (text, host) in [
            ("Visit “https://evil.com/x” now", "evil.com"),
            ("👉https://evil.com/x", "evil.com"),
            ("Visit evil.com， now", "evil.com"),
            ("Book now:acmedental.com/book", "acmedental.com"),
            ("Book now->evil.com/x", "evil.com"),
            ("Book|evil.com/x", "evil.com"),
            ("«evil.com»", "evil.com"),
            ("点击evil.com了解", "evil.com"),
            ("Visit-evil.com-now", "visit-evil.com"),
            ("evil.com_", "evil.com"),
            ("evil\u{200B}.com", "evil.com"),
            // A scheme makes a link whatever the host.
            ("HTTPS://Evil.example/x", "evil.example"),
            ("hxxps://evil.example/x", "evil.example"),
            ("https:\\\\evil.example", "evil.example"),
            ("http:evil.example/x", "evil.example"),
            ("https://localhost/x", "localhost"),
            ("https://3232235777/x", "3232235777"),
            ("https://[::1]/x", "[::1]"),
            ("https://\u{200B}evil.com", "evil.com"),
            ("(https://evil.example:8443/x)", "evil.example"),
        ] {
            assert_eq!(links_in(text), link(host), "{text}");
        }
        assert_eq!(scan("Go “https://bit.ly/abc”"), vec![Finding::Shortener("bit.ly".into())]);
        assert_eq!(links_in("Book now: https:// "), vec![], "a scheme without a host");
        assert_eq!(links_in("Ratio 3:50, see x/y"), vec![]);
        assert_eq!(links_in("Categories:/Shoes, Note:\\x"), vec![], "one slash makes a URL only after http");
        assert_eq!(links_in("ftp://files"), link("files"));
        assert_eq!(links_in("https:/evil.example"), link("evil.example"));
    }

    #[test]
    fn every_icann_top_level_domain() {
        for (text, host) in [
            ("usps-redelivery.icu/track", "usps-redelivery.icu"),
            ("Verify at chase-verify.sbs!", "chase-verify.sbs"),
            ("evil.fr/x", "evil.fr"),
            ("evil.mx", "evil.mx"),
            ("paypal-login.support", "paypal-login.support"),
            ("Visit ACME.COM.", "acme.com"),
            ("evil.co.uk/x", "evil.co.uk"),
            ("пример.рф", "пример.рф"),
            ("ПРИМЕР.РФ", "пример.рф"),
            ("例子.中国", "例子.中国"),
            ("example.xn--p1ai", "example.xn--p1ai"),
            ("192.168.10.5/login", "192.168.10.5"),
            ("Log in at 192.168.10.5", "192.168.10.5"),
            ("www.acme.example", "acme.example"),
        ] {
            assert_eq!(links_in(text), link(host), "{text}");
        }
        for text in [
            "Only $3.50 today",
            "Open at 10.30am",
            "e.g. this, i.e. that",
            "at 10 a.m. or 3 p.m.",
            "Update to v1.2.3 (version 2.0.1)",
            "Dr.Smith and Mr.Smith",
            "Made in the U.S.",
            "No.1 choice",
            "Order 3.Call us",
            "1.2.3.4.5 and 999.1.1.1",
            "file.notatld",
            "www.acme",
            "STOP",
            "support@acme.com",
            "support¡acme.com",
            "…",
            "",
        ] {
            assert_eq!(links_in(text), vec![], "{text}");
        }
    }

    #[test]
    fn internationalised_domain_names() {
        for (text, host) in [
            ("https://bücher.de/x", "bücher.de"),
            ("Visit bücher.de today", "bücher.de"),
            ("BÜCHER.de", "bücher.de"),
            ("bu\u{308}cher.de", "bu\u{308}cher.de"),
            ("evil。com", "evil.com"),
            ("evil．com", "evil.com"),
            ("evil｡com", "evil.com"),
            ("ｅｖｉｌ．ｃｏｍ", "evil.com"),
            ("https://xn--bcher-kva.de", "xn--bcher-kva.de"),
        ] {
            assert_eq!(links_in(text), link(host), "{text}");
        }
    }

    #[test]
    fn shorteners() {
        for (text, host) in [
            ("bit.do/x", "bit.do"),
            ("short.gy/x", "short.gy"),
            ("t2m.io/x", "t2m.io"),
            ("surl.li/x", "surl.li"),
            ("tiny.pl/x", "tiny.pl"),
            ("shorturl.com/x", "shorturl.com"),
            ("https://bit.ly./abc", "bit.ly"),
            ("https://user@bit.ly/abc", "bit.ly"),
            ("https://acme.com@bit.ly/abc", "bit.ly"),
            ("https://user:pw@BIT.LY:443/abc", "bit.ly"),
            ("https://www.bit.ly/abc", "bit.ly"),
            ("m.bit.ly/abc", "m.bit.ly"),
            ("点击bit.ly/abc", "bit.ly"),
            ("user@bit.ly/abc", "bit.ly"),
        ] {
            assert_eq!(links_in(text), vec![Finding::Shortener(host.into())], "{text}");
        }
        // '¡' is '@' read as GSM: either side may be the host.
        assert!(links_in("https://user¡bit.ly/abc").contains(&Finding::Shortener("bit.ly".into())));
        assert!(links_in("https://bit.ly¡x/abc").contains(&Finding::Shortener("bit.ly".into())));
        // A shortener behind a redirect is still seen.
        assert!(links_in("https://acme.com/r?u=https://bit.ly/x").contains(&Finding::Shortener("bit.ly".into())));
        assert!(is_shortener("BIT.LY."));
        assert!(is_shortener("m.bit.ly"));
        assert!(!is_shortener("notbit.ly"));
        assert!(!is_shortener("bit.ly.evil.com"));
        assert!(!is_shortener(""));
    }

    #[test]
    fn phones_in_other_shapes() {
        assert_eq!(phone_numbers("Call 415/555-0100"), vec!["4155550100"]);
        assert_eq!(phone_numbers("Call +44 20 7946 0958 today"), vec!["442079460958"]);
        assert_eq!(phone_numbers("Appelez le +33 1 23 45 67 89"), vec!["33123456789"]);
        assert_eq!(phone_numbers("+4930123456"), vec!["4930123456"]);
        assert_eq!(phone_numbers("Call ４１５－５５５－０１００"), vec!["4155550100"]);
        assert_eq!(phone_numbers("Call （４１５）５５５－０１００"), vec!["4155550100"]);
        assert_eq!(phone_numbers("اتصل ٤١٥٥٥٥٠١٠٠"), vec!["4155550100"]);
        assert_eq!(phone_numbers("۴۱۵-۵۵۵-۰۱۰۰"), vec!["4155550100"]);
        assert_eq!(phone_numbers("Call 415\u{2013}555\u{2013}0100"), vec!["4155550100"]);
        assert_eq!(phone_numbers("Call +1 (415) 555-0100"), vec!["14155550100"]);
        // A number after a date or a code.
        assert_eq!(phone_numbers("12/25/2025 4155550100"), vec!["4155550100"]);
        assert_eq!(phone_numbers("Ref 1234567 415 555 0100"), vec!["4155550100"]);
        assert_eq!(phone_numbers("2025-12-25 415 555 0100"), vec!["4155550100"]);
        // Not a date: the digits still make a number.
        assert_eq!(phone_numbers("Call 2025-125-100"), vec!["2025125100"]);
        assert_eq!(phone_numbers("Call 2 0 2 5 5 5 0 1 0 0"), vec!["2025550100"]);
        for text in [
            "Due 12/25/2025",
            "Due 12/25/2025 10:30am",
            "On 1/2/2025 10:30",
            "Your visit: 2025-12-25 10:30",
            "Your visit: 2025.12.25 10:45am",
            "Due 2025/12/25 12",
            "Order 1225202510 shipped",
            "Ref 212-155-5010",
            "Total $1,234.56",
            "Save +1234567 points",
            "Score 2+2",
            "Account 123456789012345678901234567890123456",
        ] {
            assert!(phone_numbers(text).is_empty(), "{text}");
        }
    }

    #[test]
    fn tld_table() {
        use crate::tlds::{TLDS, is_tld};
        assert!(TLDS.len() > 1400);
        assert!(TLDS.windows(2).all(|w| w[0] < w[1]), "sorted, no duplicates");
        assert!(TLDS.iter().all(|t| !t.is_empty() && !t.contains('.') && t.to_lowercase() == *t));
        for t in ["com", "icu", "sbs", "support", "fr", "mx", "рф", "xn--p1ai", "中国", "xn--fiqs8s"] {
            assert!(is_tld(t), "{t}");
        }
        assert!(!is_tld("COM") && !is_tld("notatld") && !is_tld(""));
        assert!(is_tld_label("ＣＯＭ") && is_tld_label("РФ"));
    }

    proptest::proptest! {
        #[test]
        fn scan_never_panics(text in "\\PC{0,60}", mixed in "[a-z0-9.:/\\\\@¡()\\[\\]+ ,。．４٤\u{200B}\u{308}-]{0,40}") {
            let _ = scan(&text);
            let _ = scan(&mixed);
            let _ = link_host(&mixed);
        }
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
