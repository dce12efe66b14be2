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
use std::net::{IpAddr, SocketAddr};

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
    /// A request's start line names a SIP version other than 2.0 (answered 505).
    #[error("{0} is not supported; this server speaks SIP/2.0")]
    Version(String),
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
    !s.is_empty() && s.chars().all(is_token_char)
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-.!%*_+`'~".contains(c)
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

    /// Records where a request came from in its topmost Via, as a server must before
    /// answering (RFC 3261 section 18.2.1, RFC 3581 section 4): `received` with the source
    /// address when the sent-by is not that address (always, when the Via asks for `rport`),
    /// and an `rport` without a value filled in with the source port. Responses copy it.
    pub fn stamp_via(&mut self, source: SocketAddr) {
        let Some((_, value)) = self.headers.iter_mut().find(|(n, _)| n == "Via") else { return };
        let (before, params, end) = split_params(value);
        let Some((host, _)) = via_sent_by(before) else { return };
        let ip = plain_ip(source.ip());
        let same_host = host.parse::<IpAddr>().is_ok_and(|h| plain_ip(h) == ip);
        let rport = params.iter().any(|(n, _)| n.eq_ignore_ascii_case("rport"));
        let mut out = before.to_owned();
        for (n, v) in &params {
            if n.eq_ignore_ascii_case("received") {
                continue;
            }
            out.push(';');
            out.push_str(n);
            match v {
                Some(v) => {
                    out.push('=');
                    out.push_str(v);
                }
                None if n.eq_ignore_ascii_case("rport") => {
                    let _ = write!(out, "={}", source.port());
                }
                None => {}
            }
        }
        if rport || !same_host {
            let _ = write!(out, ";received={ip}");
        }
        out.push_str(&value[end..]);
        *value = out;
    }

    /// Where a response to this request goes over UDP (RFC 3261 section 18.2.2, RFC 3581):
    /// back to the source address and port when the topmost Via has `rport`; otherwise to the
    /// source address at the port the Via's sent-by names (5060 when it names none).
    pub fn reply_address(&self, source: SocketAddr) -> SocketAddr {
        let Some(via) = self.header("Via") else { return source };
        let (sent_by, params, _) = split_params(via);
        if params.iter().any(|(n, _)| n.eq_ignore_ascii_case("rport")) {
            return source;
        }
        let port = via_sent_by(sent_by).and_then(|(_, p)| p).unwrap_or(5060);
        SocketAddr::new(source.ip(), port)
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
    // RFC 3261 section 7.1: the version string is case-insensitive.
    if let Some(rest) = line.get(..8).filter(|p| p.eq_ignore_ascii_case("SIP/2.0 ")).map(|_| &line[8..]) {
        let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
        let code: u16 = code.parse().map_err(|_| bad())?;
        if !(100..=699).contains(&code) {
            return Err(bad());
        }
        return Ok(StartLine::Response { code, reason: reason.to_owned() });
    }
    let mut parts = line.split(' ');
    let (Some(method), Some(uri), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    if !version.eq_ignore_ascii_case("SIP/2.0") {
        let sip = version.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("SIP/"));
        return Err(if sip && version.len() <= 16 && is_token(method) {
            SipError::Version(version.chars().filter(|c| !c.is_control()).collect())
        } else {
            bad()
        });
    }
    // The Request-URI is copied into Contact headers: no control characters, no characters
    // that would end or split a name-addr, and no headers component (`?Name=value` after the
    // host; a `?` in the user part is legal), which RFC 3261 section 19.1.1 does not allow in
    // a Request-URI and which would otherwise reach the redirected INVITE as headers the
    // sender chose.
    let after_user = uri.rsplit_once('@').map_or(uri, |(_, host)| host);
    if !is_token(method)
        || uri.is_empty()
        || !uri.contains(':')
        || uri.chars().any(|c| c.is_control() || matches!(c, '<' | '>' | '"' | ','))
    {
        return Err(bad());
    }
    // A headers component is refused saying so: it is what a proxy sends that recursed on a
    // 302 by copying the Contact, headers and all, into the Request-URI (Kamailio's
    // uac_redirect get_redirects() does; sections 16.6 step 2 and 19.1.1 say to drop it).
    if let Some((_, headers)) = after_user.split_once('?') {
        let name: String = headers.chars().take_while(|c| is_token_char(*c)).take(40).collect();
        return Err(SipError::StartLine(format!(
            "the Request-URI has a headers component (?{name}=…), which RFC 3261 section 19.1.1 does not allow: \
             a 302's Contact headers become header fields of the new request (section 8.1.3.4)"
        )));
    }
    Ok(StartLine::Request { method: method.to_owned(), uri: uri.to_owned() })
}

/// Splits a header value's first element (up to a `,` outside quotes and `<…>`) into what
/// comes before its parameters (a name-addr, an addr-spec, a Via's `SIP/2.0/UDP host:port`)
/// and the parameters themselves, as (name, value) with the name trimmed; also returns where
/// the first element ends. RFC 3261 section 20: an addr-spec outside `<…>` has no URI
/// parameters, so the first `;` outside quotes and angle brackets starts the header's.
fn split_params(value: &str) -> (&str, Vec<(&str, Option<&str>)>, usize) {
    let (mut quoted, mut escaped, mut angle) = (false, false, false);
    let mut params_at = None;
    let mut end = value.len();
    for (i, c) in value.char_indices() {
        if quoted {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => quoted = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => quoted = true,
            '<' => angle = true,
            '>' => angle = false,
            ';' if !angle && params_at.is_none() => params_at = Some(i),
            ',' if !angle => {
                end = i;
                break;
            }
            _ => {}
        }
    }
    let first = &value[..end];
    let Some(at) = params_at else { return (first.trim(), Vec::new(), end) };
    let params = split_unquoted(&first[at + 1..], ';')
        .into_iter()
        .filter(|p| !p.trim().is_empty())
        .map(|p| match p.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim())),
            None => (p.trim(), None),
        })
        .collect();
    (first[..at].trim(), params, end)
}

/// `text` split at `sep` outside quoted strings.
fn split_unquoted(text: &str, sep: char) -> Vec<&str> {
    let (mut out, mut start, mut quoted, mut escaped) = (Vec::new(), 0, false, false);
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                out.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    out.push(&text[start..]);
    out
}

/// A header parameter of a header value's first element (`tag` of a From or To, `branch`
/// or `rport` of a Via), its name matched case-insensitively: `Some(None)` when it is there
/// without a value, `None` when it is not there.
pub fn header_param<'a>(value: &'a str, name: &str) -> Option<Option<&'a str>> {
    split_params(value).1.into_iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v)
}

/// The sent-by of a Via element (`SIP/2.0/UDP host:port`): the host (IPv6 without its
/// brackets) and the port, when given.
fn via_sent_by(via: &str) -> Option<(&str, Option<u16>)> {
    let (protocol, sent_by) = via.trim().split_once(char::is_whitespace)?;
    if !protocol.get(..8).is_some_and(|p| p.eq_ignore_ascii_case("SIP/2.0/")) {
        return None;
    }
    let sent_by = sent_by.trim();
    let (host, port) = match sent_by.strip_prefix('[') {
        Some(v6) => {
            let (host, rest) = v6.split_once(']')?;
            (host, rest.strip_prefix(':'))
        }
        None => match sent_by.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (sent_by, None),
        },
    };
    let port = match port {
        Some(p) => Some(p.trim().parse::<u16>().ok()?),
        None => None,
    };
    (!host.is_empty()).then_some((host, port))
}

fn plain_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// The telephone number in a name-addr or addr-spec (`"Alice" <sip:+12025550123@host;user=phone>`,
/// `<tel:+1-202-555-0123>`): the URI's user part, visual separators dropped, as E.164 digits
/// without `+` (RFC 8224 section 8.3). A number without `+` is made global the way US
/// equipment writes it: a `tel:` URI's `phone-context=+CC` prefix is added, and a ten-digit
/// North American number (`NPA-NXX-XXXX`, both starting 2 to 9) gets country code 1.
/// `None` when the user part is not a telephone number (letters, empty, over 15 digits).
pub fn telephone_number(value: &str) -> Option<String> {
    let uri = match (value.find('<'), value.find('>')) {
        (Some(a), Some(b)) if a < b => &value[a + 1..b],
        _ => value.split(';').next().unwrap_or(value).trim(),
    };
    let (user, params) = if let Some(rest) = uri.strip_prefix("tel:") {
        rest.split_once(';').unwrap_or((rest, ""))
    } else {
        let rest = uri.strip_prefix("sip:").or_else(|| uri.strip_prefix("sips:"))?;
        let user = rest.split_once('@')?.0;
        user.split_once(';').unwrap_or((user, ""))
    };
    let separators = |c: &char| !matches!(c, '-' | '.' | '(' | ')');
    let digits = |s: &str| -> Option<String> {
        let d: String = s.chars().filter(separators).collect();
        (!d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())).then_some(d)
    };
    let number = match user.strip_prefix('+') {
        Some(global) => digits(global)?,
        None => {
            let local = digits(user)?;
            let context = params.split(';').find_map(|p| {
                let (n, v) = p.split_once('=')?;
                n.trim().eq_ignore_ascii_case("phone-context").then(|| v.trim().strip_prefix('+')).flatten()
            });
            match context.and_then(digits) {
                Some(cc) => cc + &local,
                None if is_nanp(&local) => format!("1{local}"),
                None => local,
            }
        }
    };
    (number.len() <= 15).then_some(number)
}

/// A ten-digit North American number: area code and exchange each start with 2 to 9.
fn is_nanp(digits: &str) -> bool {
    let b = digits.as_bytes();
    b.len() == 10 && (b'2'..=b'9').contains(&b[0]) && (b'2'..=b'9').contains(&b[3])
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
            let has_tag = header_param(t, "tag").is_some();
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
            // Ten-digit North American numbers, as many US SBCs send them, get country code 1.
            ("<sip:2155551212@h;user=phone>;tag=1", Some("12155551212")),
            ("<sip:215-555-1212@h>", Some("12155551212")),
            ("<tel:2155551212>", Some("12155551212")),
            ("<sip:+2155551212@h>", Some("2155551212")),
            ("<sip:1155551212@h>", Some("1155551212")),
            ("<sip:2151551212@h>", Some("2151551212")),
            ("<sip:5551212@h>", Some("5551212")),
            ("<tel:2155551212;phone-context=+1>", Some("12155551212")),
            ("<tel:7911234567;phone-context=+44>", Some("447911234567")),
            ("<tel:2155551212;phone-context=example.com>", Some("12155551212")),
            ("<tel:+>", None),
        ] {
            assert_eq!(telephone_number(v).as_deref(), want, "{v}");
        }
    }

    #[test]
    fn stamps_the_top_via_and_finds_where_answers_go() {
        let src: SocketAddr = "127.0.0.9:41000".parse().unwrap();
        let mut m = SipMessage::parse(INVITE.as_bytes()).unwrap();
        m.stamp_via(src);
        let vias: Vec<&str> = m.headers_named("Via").collect();
        assert_eq!(
            vias,
            [
                "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1;received=127.0.0.9",
                "SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bK-0"
            ]
        );
        assert_eq!(m.reply_address(src), "127.0.0.9:5070".parse().unwrap());
        for (via, stamped, to) in [
            // rport: filled in, received always added, the answer goes to the source port.
            (
                "SIP/2.0/UDP 127.0.0.9:5060;rport;branch=b",
                "SIP/2.0/UDP 127.0.0.9:5060;rport=41000;branch=b;received=127.0.0.9",
                "127.0.0.9:41000",
            ),
            // Same host, no rport: nothing added; the sent-by port (5060 when none).
            ("SIP/2.0/UDP 127.0.0.9;branch=b", "SIP/2.0/UDP 127.0.0.9;branch=b", "127.0.0.9:5060"),
            // A received the sender wrote itself is replaced; several Vias on one line.
            (
                "SIP/2.0/UDP sbc.example:5080;received=1.2.3.4;branch=b, SIP/2.0/UDP x",
                "SIP/2.0/UDP sbc.example:5080;branch=b;received=127.0.0.9, SIP/2.0/UDP x",
                "127.0.0.9:5080",
            ),
            (
                "SIP/2.0/TCP [::1]:5062 ; branch=b",
                "SIP/2.0/TCP [::1]:5062;branch=b;received=127.0.0.9",
                "127.0.0.9:5062",
            ),
            // Not a Via this server understands: left alone.
            ("garbage", "garbage", "127.0.0.9:5060"),
        ] {
            let mut m =
                SipMessage::parse(INVITE.replacen("SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1", via, 1).as_bytes())
                    .unwrap();
            m.stamp_via(src);
            assert_eq!(m.header("Via"), Some(stamped), "{via}");
            assert_eq!(m.reply_address(src), to.parse().unwrap(), "{via}");
        }
        let v6: SocketAddr = "[::1]:41000".parse().unwrap();
        let mut m = SipMessage::parse(INVITE.replacen("127.0.0.1:5070;", "[::1]:5070;rport;", 1).as_bytes()).unwrap();
        m.stamp_via(v6);
        assert_eq!(m.header("Via"), Some("SIP/2.0/UDP [::1]:5070;rport=41000;branch=z9hG4bK-1;received=::1"));
    }

    #[test]
    fn header_params_skip_display_names_and_uris() {
        for (value, tag) in [
            ("<sip:a@b>;tag=1", Some(Some("1"))),
            ("<sip:a@b> ; TAG = 2 ;x", Some(Some("2"))),
            ("sip:a@b;tag=3", Some(Some("3"))),
            ("<sip:a@b;tag=uri>", None),
            ("\"x;tag=quoted\" <sip:a@b>", None),
            ("\"x \\\" ;tag=q\" <sip:a@b>;tag=4", Some(Some("4"))),
            ("<sip:a@b>;tag", Some(None)),
        ] {
            assert_eq!(header_param(value, "tag"), tag, "{value}");
        }
    }

    #[test]
    fn versions_and_request_uris() {
        let opt = |first: &str| SipMessage::parse(format!("{first}\r\nVia: x\r\n\r\n").as_bytes());
        assert!(opt("OPTIONS sip:a@b sip/2.0").is_ok());
        assert!(matches!(opt("OPTIONS sip:a@b SIP/3.0"), Err(SipError::Version(v)) if v == "SIP/3.0"));
        assert!(matches!(opt("OPTIONS sip:a@b HTTP/1.1"), Err(SipError::StartLine(_))));
        assert!(opt("sip/2.0 200 OK").is_ok());
        assert!(matches!(opt("INVITE sip:a@b?Route=x SIP/2.0"), Err(SipError::StartLine(_))));
        assert!(matches!(opt("INVITE sip:a@b;user=phone?Route=x SIP/2.0"), Err(SipError::StartLine(_))));
        assert!(matches!(opt("INVITE tel:+1202?Route=x SIP/2.0"), Err(SipError::StartLine(_))));
        // What a proxy that copied a 302's Contact into the Request-URI sends: refused saying so.
        let e = opt("INVITE sip:+12025550199@sbc;user=phone?Identity=a.b.c%3Binfo%3D%3Chttps://x/c.pem%3E SIP/2.0");
        let e = e.unwrap_err().to_string();
        assert!(e.contains("headers component (?Identity=…)") && e.contains("8.1.3.4"), "{e}");
        assert!(e.chars().count() <= 200, "a Warning keeps 200 characters: {e}");
        assert!(opt("INVITE sip:a?b@host SIP/2.0").is_ok(), "a ? in the user part is legal");
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
