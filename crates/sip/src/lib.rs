//! The SIP subset vouch's STIR/SHAKEN redirect server speaks (RFC 3261), with no I/O: bytes in,
//! [`SipMessage`] out, responses to bytes.
//!
//! - Requests and responses, header names case-insensitive with RFC 3261 compact forms (and `y`
//!   for Identity, RFC 8224), folded header lines unfolded, `Content-Length` honoured.
//! - Stream framing for TCP ([`frame_len`]): how many bytes the next message takes.
//! - Limits on everything an attacker controls: message size, header count, line length.
//! - [`Response::to_request`] builds a stateless response: the request's Via, From, To (with a
//!   tag added), Call-ID and CSeq, then the caller's own headers.

use std::fmt::Write as _;

/// Largest message accepted (a UDP datagram cannot be larger; TCP messages are held to it too).
pub const MAX_MESSAGE: usize = 65_535;
/// Most header fields in a message.
pub const MAX_HEADERS: usize = 256;
/// Most bytes in one (unfolded) header field.
pub const MAX_HEADER_LEN: usize = 16 * 1024;

/// Everything that can be wrong with bytes claiming to be SIP.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SipError {
    /// More bytes than [`MAX_MESSAGE`].
    #[error("message of {0} bytes; at most {MAX_MESSAGE} are accepted")]
    TooLarge(usize),
    /// The start line is not `METHOD URI SIP/2.0` or `SIP/2.0 CODE REASON`.
    #[error("bad start line: {0}")]
    StartLine(String),
    /// A header line is not `name: value`, or a header is too long or too many.
    #[error("bad header: {0}")]
    Header(String),
    /// A header every request needs is missing or unusable.
    #[error("missing or bad {0} header")]
    Missing(&'static str),
    /// `Content-Length` disagrees with the bytes, or is not a number.
    #[error("bad Content-Length: {0}")]
    ContentLength(String),
    /// The bytes are not UTF-8 text before the body.
    #[error("the message head is not UTF-8")]
    NotText,
}

/// The first line of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    /// `METHOD Request-URI SIP/2.0`.
    Request {
        /// The method (`INVITE`, `OPTIONS`, …), as sent (methods are case-sensitive).
        method: String,
        /// The Request-URI.
        uri: String,
    },
    /// `SIP/2.0 CODE REASON`.
    Response {
        /// The status code.
        code: u16,
        /// The reason phrase.
        reason: String,
    },
}

/// A parsed SIP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipMessage {
    /// The request or status line.
    pub start: StartLine,
    /// Header fields in order: canonical (long-form, as RFC 3261 capitalises it) name, value.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// The long form of a header name, RFC 3261 section 7.3.3 compact forms expanded.
fn canonical_name(name: &str) -> String {
    let long = match name.to_ascii_lowercase().as_str() {
        "i" | "call-id" => "Call-ID",
        "m" | "contact" => "Contact",
        "e" | "content-encoding" => "Content-Encoding",
        "l" | "content-length" => "Content-Length",
        "c" | "content-type" => "Content-Type",
        "f" | "from" => "From",
        "s" | "subject" => "Subject",
        "k" | "supported" => "Supported",
        "t" | "to" => "To",
        "v" | "via" => "Via",
        "y" | "identity" => "Identity",
        "cseq" => "CSeq",
        "max-forwards" => "Max-Forwards",
        "p-asserted-identity" => "P-Asserted-Identity",
        "reason" => "Reason",
        "www-authenticate" => "WWW-Authenticate",
        _ => return name.to_owned(),
    };
    long.to_owned()
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-.!%*_+`'~".contains(c))
}

/// Where the head ends (`\r\n\r\n`, or `\n\n` from lenient senders): (head length, body start).
fn head_end(bytes: &[u8]) -> Option<(usize, usize)> {
    let crlf = bytes.windows(4).position(|w| w == b"\r\n\r\n").map(|i| (i, i + 4));
    let lf = bytes.windows(2).position(|w| w == b"\n\n").map(|i| (i, i + 2));
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// The Content-Length among `(name, value)` header pairs: `None` when absent; an error when
/// not a number or given twice (framing and parsing must agree on one value).
fn content_length<'a>(headers: impl Iterator<Item = (&'a str, &'a str)>) -> Result<Option<usize>, SipError> {
    let mut length = None;
    for (name, value) in headers {
        if canonical_name(name.trim()) != "Content-Length" {
            continue;
        }
        let v = value.trim();
        let n = v.parse::<usize>().map_err(|_| SipError::ContentLength(v.to_owned()))?;
        if length.replace(n).is_some() {
            return Err(SipError::ContentLength("given twice".into()));
        }
    }
    Ok(length)
}

/// For a stream (TCP): the length of the first complete message in `bytes`, `Ok(None)` when
/// more bytes are needed, or an error when what is there can never become a message (the
/// connection should then be answered 400 where possible and closed). Leading CRLF keep-alives
/// (RFC 5626) count as a zero-content "message" of their own length.
pub fn frame_len(bytes: &[u8]) -> Result<Option<usize>, SipError> {
    let blank = bytes.iter().take_while(|b| **b == b'\r' || **b == b'\n').count();
    if blank > 0 {
        return Ok(Some(blank));
    }
    let Some((head, body_start)) = head_end(bytes) else {
        return if bytes.len() > MAX_MESSAGE { Err(SipError::TooLarge(bytes.len())) } else { Ok(None) };
    };
    let text = std::str::from_utf8(&bytes[..head]).map_err(|_| SipError::NotText)?;
    let length = content_length(text.split('\n').skip(1).filter_map(|l| l.split_once(':')))?;
    // RFC 3261 18.3: over a stream Content-Length is mandatory.
    let length = length.ok_or(SipError::Missing("Content-Length"))?;
    let total = body_start.saturating_add(length);
    if total > MAX_MESSAGE {
        return Err(SipError::TooLarge(total));
    }
    Ok((bytes.len() >= total).then_some(total))
}

impl SipMessage {
    /// Parses one whole message (a UDP datagram, or a frame from [`frame_len`]). Without a
    /// `Content-Length` the body is the rest of the bytes (allowed over UDP).
    pub fn parse(bytes: &[u8]) -> Result<Self, SipError> {
        if bytes.len() > MAX_MESSAGE {
            return Err(SipError::TooLarge(bytes.len()));
        }
        let (head, body_start) = head_end(bytes).unwrap_or((bytes.len(), bytes.len()));
        let text = std::str::from_utf8(&bytes[..head]).map_err(|_| SipError::NotText)?;
        let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
        let first = lines.next().unwrap_or_default();
        let start = parse_start(first)?;
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in lines {
            // RFC 3261 section 25.1: CR and LF only as CRLF, no other control character than HTAB.
            if line.chars().any(|c| c.is_control() && c != '\t') {
                return Err(SipError::Header("a control character (bare CR, NUL…) in a header line".into()));
            }
            if line.starts_with([' ', '\t']) {
                // A folded continuation of the previous header (RFC 3261 7.3.1).
                let (_, value) =
                    headers.last_mut().ok_or_else(|| SipError::Header("a continuation line first".into()))?;
                value.push(' ');
                value.push_str(line.trim());
                if value.len() > MAX_HEADER_LEN {
                    return Err(SipError::Header(format!("a header longer than {MAX_HEADER_LEN} bytes")));
                }
                continue;
            }
            let (name, value) = line.split_once(':').ok_or_else(|| SipError::Header(format!("{line:?} has no ':'")))?;
            let name = name.trim();
            if !is_token(name) {
                return Err(SipError::Header(format!("{name:?} is not a header name")));
            }
            if headers.len() == MAX_HEADERS {
                return Err(SipError::Header(format!("more than {MAX_HEADERS} headers")));
            }
            if value.len() > MAX_HEADER_LEN {
                return Err(SipError::Header(format!("a header longer than {MAX_HEADER_LEN} bytes")));
            }
            headers.push((canonical_name(name), value.trim().to_owned()));
        }
        let rest = &bytes[body_start.min(bytes.len())..];
        let body = match content_length(headers.iter().map(|(n, v)| (n.as_str(), v.as_str())))? {
            None => rest.to_vec(),
            Some(n) if n > rest.len() => {
                return Err(SipError::ContentLength(format!("{n}, but only {} body bytes", rest.len())));
            }
            Some(n) => rest[..n].to_vec(),
        };
        Ok(Self { start, headers, body })
    }

    /// The first value of header `name` (any form: `From`, `f`, `from`).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = canonical_name(name);
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(&name)).map(|(_, v)| v.as_str())
    }

    /// Every value of header `name`, in order.
    pub fn headers_named<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> + 'a {
        let name = canonical_name(name);
        self.headers.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(&name)).map(|(_, v)| v.as_str())
    }

    /// The method, for a request.
    pub fn method(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// Checks what RFC 3261 section 8.1.1 requires of every request: Via, From, To, Call-ID,
    /// CSeq (number and the request's method).
    pub fn check_request(&self) -> Result<(), SipError> {
        let Some(method) = self.method() else { return Err(SipError::StartLine("not a request".into())) };
        for h in ["Via", "From", "To", "Call-ID"] {
            if self.header(h).is_none_or(str::is_empty) {
                return Err(SipError::Missing(h));
            }
        }
        let cseq = self.header("CSeq").ok_or(SipError::Missing("CSeq"))?;
        let mut parts = cseq.split_whitespace();
        let ok = parts.next().is_some_and(|n| n.len() <= 10 && n.parse::<u32>().is_ok())
            && parts.next() == Some(method)
            && parts.next().is_none();
        if !ok {
            return Err(SipError::Missing("CSeq"));
        }
        Ok(())
    }
}

/// For bytes [`SipMessage::parse`] refused: the headers a stateless `400 Bad Request` needs
/// (every Via, From, To, Call-ID, CSeq), found leniently line by line, when the bytes start
/// like a request and all five are there. `None` otherwise (the bytes are then dropped).
pub fn salvage_request(bytes: &[u8]) -> Option<SipMessage> {
    let bytes = &bytes[..bytes.len().min(MAX_MESSAGE)];
    let end = head_end(bytes).map_or(bytes.len(), |(h, _)| h);
    let text = String::from_utf8_lossy(&bytes[..end]);
    let mut lines = text.split('\n').map(|l| l.trim_end_matches('\r'));
    let first = lines.next()?;
    let method = first.split(' ').next().filter(|m| is_token(m) && !m.starts_with("SIP/"))?;
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in lines.take(MAX_HEADERS) {
        let Some((name, value)) = line.split_once(':') else { continue };
        let name = canonical_name(name.trim());
        if ["Via", "From", "To", "Call-ID", "CSeq"].contains(&name.as_str())
            && value.len() <= MAX_HEADER_LEN
            && !value.chars().any(|c| c.is_control() && c != '\t')
        {
            headers.push((name, value.trim().to_owned()));
        }
    }
    let m = SipMessage {
        start: StartLine::Request { method: method.to_owned(), uri: "sip:invalid".into() },
        headers,
        body: Vec::new(),
    };
    ["Via", "From", "To", "Call-ID", "CSeq"].iter().all(|h| m.header(h).is_some()).then_some(m)
}

fn parse_start(line: &str) -> Result<StartLine, SipError> {
    let bad = || SipError::StartLine(line.chars().take(200).collect());
    if let Some(rest) = line.strip_prefix("SIP/2.0 ") {
        let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
        let code: u16 = code.parse().map_err(|_| bad())?;
        if !(100..=699).contains(&code) {
            return Err(bad());
        }
        return Ok(StartLine::Response { code, reason: reason.to_owned() });
    }
    let mut parts = line.split(' ');
    let (Some(method), Some(uri), Some("SIP/2.0"), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    // The Request-URI is copied into Contact headers: no control characters, no characters
    // that would end or split a name-addr.
    if !is_token(method)
        || uri.is_empty()
        || !uri.contains(':')
        || uri.chars().any(|c| c.is_control() || matches!(c, '<' | '>' | '"' | ','))
    {
        return Err(bad());
    }
    Ok(StartLine::Request { method: method.to_owned(), uri: uri.to_owned() })
}

/// The telephone number in a name-addr or addr-spec (`"Alice" <sip:+12025550123@host;user=phone>`,
/// `<tel:+1-202-555-0123>`): the URI's user part, visual separators dropped, without `+`.
/// `None` when the user part is not a telephone number (letters, empty, over 15 digits).
pub fn telephone_number(value: &str) -> Option<String> {
    let uri = match (value.find('<'), value.find('>')) {
        (Some(a), Some(b)) if a < b => &value[a + 1..b],
        _ => value.split(';').next().unwrap_or(value).trim(),
    };
    let user = if let Some(rest) = uri.strip_prefix("tel:") {
        rest.split(';').next().unwrap_or_default()
    } else {
        let rest = uri.strip_prefix("sip:").or_else(|| uri.strip_prefix("sips:"))?;
        let user = rest.split_once('@')?.0;
        user.split(';').next().unwrap_or_default()
    };
    let digits: String = user.trim_start_matches('+').chars().filter(|c| !matches!(c, '-' | '.' | '(' | ')')).collect();
    ((1..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

/// A response to build for a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub code: u16,
    /// Reason phrase.
    pub reason: String,
    /// Headers after the ones copied from the request.
    pub headers: Vec<(String, String)>,
}

impl Response {
    /// A response with no extra header.
    pub fn new(code: u16, reason: impl Into<String>) -> Self {
        Self { code, reason: reason.into(), headers: Vec::new() }
    }

    /// Adds a header.
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The response's bytes for `request` (RFC 3261 section 8.2.6): every Via, From, To (a tag
    /// added when it has none, `to_tag`), Call-ID and CSeq copied, then [`Response::headers`],
    /// then `Content-Length: 0`.
    pub fn to_request(&self, request: &SipMessage, to_tag: &str) -> Vec<u8> {
        let mut out = String::with_capacity(512);
        let _ = write!(out, "SIP/2.0 {} {}\r\n", self.code, self.reason);
        for v in request.headers_named("Via") {
            let _ = write!(out, "Via: {v}\r\n");
        }
        if let Some(f) = request.header("From") {
            let _ = write!(out, "From: {f}\r\n");
        }
        if let Some(t) = request.header("To") {
            let has_tag = t.split(';').skip(1).any(|p| p.trim().to_ascii_lowercase().starts_with("tag="));
            if has_tag || self.code == 100 {
                let _ = write!(out, "To: {t}\r\n");
            } else {
                let _ = write!(out, "To: {t};tag={to_tag}\r\n");
            }
        }
        for h in ["Call-ID", "CSeq"] {
            if let Some(v) = request.header(h) {
                let _ = write!(out, "{h}: {v}\r\n");
            }
        }
        for (n, v) in &self.headers {
            let _ = write!(out, "{n}: {v}\r\n");
        }
        out.push_str("Content-Length: 0\r\n\r\n");
        out.into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:+12125551213@vouch.example;user=phone SIP/2.0\r\n\
        Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1\r\n\
        v: SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bK-0\r\n\
        Max-Forwards: 70\r\n\
        f: \"Acme\" <sip:+1-215-555-1212@carrier.example;user=phone>;tag=abc\r\n\
        To: <tel:+12125551213>\r\n\
        i: 1-2-3@127.0.0.1\r\n\
        CSeq: 1 INVITE\r\n\
        Subject: a folded\r\n  header line\r\n\
        Content-Type: application/sdp\r\n\
        l: 4\r\n\r\nv=0\r";

    #[test]
    fn parses_compact_folded_and_bodies() {
        let m = SipMessage::parse(INVITE.as_bytes()).unwrap();
        assert_eq!(m.method(), Some("INVITE"));
        m.check_request().unwrap();
        assert_eq!(m.headers_named("via").count(), 2);
        assert_eq!(m.header("f").and_then(telephone_number).as_deref(), Some("12155551212"));
        assert_eq!(m.header("To").and_then(telephone_number).as_deref(), Some("12125551213"));
        assert_eq!(m.header("Subject"), Some("a folded header line"));
        assert_eq!(m.body, b"v=0\r");
        assert_eq!(frame_len(INVITE.as_bytes()).unwrap(), Some(INVITE.len()));
        assert_eq!(frame_len(&INVITE.as_bytes()[..INVITE.len() - 1]).unwrap(), None);
    }

    #[test]
    fn salvages_what_a_400_needs() {
        let bad = INVITE.replace("Max-Forwards: 70", "Max Forwards 70");
        assert!(SipMessage::parse(bad.as_bytes()).is_err());
        let m = salvage_request(bad.as_bytes()).unwrap();
        assert_eq!(m.headers_named("Via").count(), 2);
        let bytes = Response::new(400, "Bad Request").to_request(&m, "x");
        assert!(SipMessage::parse(&bytes).is_ok());
        assert!(salvage_request(b"SIP/2.0 200 OK\r\nVia: x\r\n\r\n").is_none());
        assert!(salvage_request(b"\x00\x01garbage").is_none());
        // A bare CR inside a header is refused, and not salvaged into a response either.
        let cr = INVITE.replace("CSeq: 1 INVITE", "CSeq: 1 INVITE\rX: y");
        assert!(SipMessage::parse(cr.as_bytes()).is_err());
        // Nor in the Request-URI, which responses copy into Contact.
        let uri = INVITE.replace("vouch.example;user=phone SIP", "h\rRoute:<sip:evil> SIP");
        assert!(SipMessage::parse(uri.as_bytes()).is_err());
        assert!(SipMessage::parse(INVITE.replace("@vouch.example", "@h>x").as_bytes()).is_err());
    }

    #[test]
    fn builds_stateless_responses() {
        let m = SipMessage::parse(INVITE.as_bytes()).unwrap();
        let r = Response::new(302, "Moved Temporarily").with("Contact", "<sip:+12125551213@next.example>");
        let bytes = r.to_request(&m, "vouch1");
        let back = SipMessage::parse(&bytes).unwrap();
        assert_eq!(back.start, StartLine::Response { code: 302, reason: "Moved Temporarily".into() });
        assert_eq!(back.headers_named("Via").collect::<Vec<_>>(), m.headers_named("Via").collect::<Vec<_>>());
        assert_eq!(back.header("To"), Some("<tel:+12125551213>;tag=vouch1"));
        assert_eq!(back.header("CSeq"), Some("1 INVITE"));
        assert_eq!(back.header("Content-Length"), Some("0"));
    }

    #[test]
    fn refuses_what_is_not_sip() {
        for bad in [
            &b""[..],
            b"hello",
            b"INVITE sip:a@b SIP/3.0\r\n\r\n",
            b"INVITE  sip:a@b SIP/2.0\r\n\r\n",
            b"SIP/2.0 99 Too Low\r\n\r\n",
            b"INVITE sip:a@b SIP/2.0\r\nno colon here\r\n\r\n",
            b"INVITE sip:a@b SIP/2.0\r\n folded first: x\r\n\r\n",
            b"INVITE sip:a@b SIP/2.0\r\nContent-Length: 10\r\n\r\nshort",
            b"INVITE sip:a@b SIP/2.0\r\nContent-Length: x\r\n\r\n",
            b"INVITE sip:a@b SIP/2.0\r\nBad Name: x\r\n\r\n",
        ] {
            assert!(SipMessage::parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let no_cseq = SipMessage::parse(b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\nFrom: a\r\nTo: b\r\nCall-ID: c\r\n\r\n");
        assert_eq!(no_cseq.unwrap().check_request(), Err(SipError::Missing("CSeq")));
        let many = format!("OPTIONS sip:a@b SIP/2.0\r\n{}\r\n", "X-A: 1\r\n".repeat(MAX_HEADERS + 1));
        assert!(SipMessage::parse(many.as_bytes()).is_err());
        assert!(SipMessage::parse(&vec![b'a'; MAX_MESSAGE + 1]).is_err());
        assert!(frame_len(b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\n").is_err(), "no Content-Length on a stream");
        assert!(frame_len(&vec![b'a'; MAX_MESSAGE + 1]).is_err());
        assert_eq!(frame_len(b"\r\n\r\nOPTIONS").unwrap(), Some(4));
    }

    #[test]
    fn reads_telephone_numbers_from_uris() {
        for (v, want) in [
            ("<sip:+12025550123@h;user=phone>;tag=1", Some("12025550123")),
            ("sip:12025550123@h", Some("12025550123")),
            ("\"x\" <tel:+1-202-555-0123;phone-context=x>", Some("12025550123")),
            ("<sips:+1(202)5550123@h>", Some("12025550123")),
            ("<sip:alice@h>", None),
            ("<sip:@h>", None),
            ("<sip:+1234567890123456@h>", None),
            ("garbage", None),
        ] {
            assert_eq!(telephone_number(v).as_deref(), want, "{v}");
        }
    }

    proptest::proptest! {
        #[test]
        fn parse_and_frame_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = SipMessage::parse(&bytes);
            let _ = frame_len(&bytes);
        }

        #[test]
        fn responses_reparse(tag in "[a-z0-9]{1,8}", reason in "[A-Za-z ]{1,20}", code in 100u16..700) {
            let m = SipMessage::parse(INVITE.as_bytes()).unwrap();
            let bytes = Response::new(code, reason.trim()).to_request(&m, &tag);
            let back = SipMessage::parse(&bytes).unwrap();
            proptest::prop_assert_eq!(back.header("Call-ID"), m.header("Call-ID"));
        }
    }
}
