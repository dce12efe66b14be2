//! The SIP redirect server's answers (RFC 3261 section 8.3, stateless): what an originating or
//! terminating SBC gets back for an INVITE.
//!
//! - Signed: `302 Moved Temporarily` whose Contact is the Request-URI with the Identity header
//!   in its headers component (`<sip:…?Identity=…>`), so the SBC re-sends the INVITE with it;
//!   the Identity header is also on the 302 itself, as SBCs that copy headers expect.
//! - Verified: `302` whose Contact carries the P-Asserted-Identity with `verstat` (3GPP TS
//!   24.229) and, when the call continues after a failure, `Reason: STIR` (RFC 9410).
//! - Refused: the RFC 8224 code (428, 436, 437, 438, 403) or 603 for the Robocall Mitigation
//!   Database rule, with a `Reason` header saying why.

use vouch_shaken::Verstat;
use vouch_sip::{Response, SipMessage, StartLine};

use crate::atis::Failure;

/// Percent-encodes `value` for a SIP URI's headers component (RFC 3261 `hvalue`): unreserved
/// characters and `[ ] / ? : + $` stay, everything else is `%XX`.
pub fn uri_header_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + value.len() / 4);
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()[]/?:+$".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A quoted-string for `text` (RFC 3261 section 25.1): quotes and backslashes escaped, line
/// breaks and other controls dropped, at most 200 characters.
pub fn quoted(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars().filter(|c| !c.is_control()).take(200) {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn request_uri(req: &SipMessage) -> &str {
    match &req.start {
        StartLine::Request { uri, .. } => uri,
        StartLine::Response { .. } => "",
    }
}

/// `<uri?Name=value&…>`: the Request-URI with headers for the re-sent INVITE. A `tel:` URI
/// has no headers component (RFC 3966; RFC 3261 section 19.1.1): it is given alone, and the
/// headers are on the 302 itself. (The parser refuses a Request-URI with headers of its own.)
fn contact_with(req: &SipMessage, headers: &[(&str, &str)]) -> String {
    let uri = request_uri(req);
    if uri.get(..4).is_some_and(|s| s.eq_ignore_ascii_case("tel:")) {
        return format!("<{uri}>");
    }
    let mut c = format!("<{uri}");
    let mut sep = '?';
    for (name, value) in headers {
        c.push(sep);
        c.push_str(name);
        c.push('=');
        c.push_str(&uri_header_escape(value));
        sep = '&';
    }
    c.push('>');
    c
}

/// The calling identity with `verstat` added to its URI: the P-Asserted-Identity (or From),
/// its header parameters (the From tag) and any headers component dropped, any earlier
/// `verstat` replaced, and the display name set to `caller_name` when the PASSporT carried a
/// verified one.
pub fn with_verstat(req: &SipMessage, verstat: Verstat, caller_name: Option<&str>) -> Option<String> {
    let value = req.header("P-Asserted-Identity").or_else(|| req.header("From"))?;
    let (display, uri) = match (value.find('<'), value.find('>')) {
        (Some(a), Some(b)) if a < b => (value[..a].trim(), &value[a + 1..b]),
        _ => ("", value.split(';').next().unwrap_or(value).trim()),
    };
    let base = uri.split_once('?').map_or(uri, |(b, _)| b);
    let mut parts = base.split(';');
    let mut out_uri = parts.next().unwrap_or_default().to_owned();
    for p in parts.filter(|p| !p.trim().to_ascii_lowercase().starts_with("verstat=")) {
        out_uri.push(';');
        out_uri.push_str(p);
    }
    out_uri.push_str(";verstat=");
    out_uri.push_str(verstat.as_str());
    let display = match caller_name {
        Some(n) => format!("{} ", quoted(n)),
        None if !display.is_empty() => format!("{display} "),
        None => String::new(),
    };
    Some(format!("{display}<{out_uri}>"))
}

/// `Reason: STIR;cause=438;text="…"` for a failure the call continues past (RFC 9410).
pub fn stir_reason(f: &Failure) -> String {
    format!("STIR;cause={};text={}", f.code, quoted(&f.desc))
}

/// The answer to an INVITE vouch signed.
pub fn signed(req: &SipMessage, identity: &str) -> Response {
    Response::new(302, "Moved Temporarily")
        .with("Contact", contact_with(req, &[("Identity", identity)]))
        .with("Identity", identity)
}

/// The answer to an INVITE vouch verified: 302 with the calling identity marked with
/// `verstat`; `continued` is the failure the call goes on despite, by policy.
pub fn verified(
    req: &SipMessage,
    verstat: Verstat,
    caller_name: Option<&str>,
    continued: Option<&Failure>,
) -> Response {
    let pai = with_verstat(req, verstat, caller_name);
    let reason = continued.map(stir_reason);
    let mut headers: Vec<(&str, &str)> = Vec::new();
    if let Some(p) = &pai {
        headers.push(("P-Asserted-Identity", p));
    }
    if let Some(r) = &reason {
        headers.push(("Reason", r));
    }
    let mut resp = Response::new(302, "Moved Temporarily").with("Contact", contact_with(req, &headers));
    if let Some(p) = pai {
        resp = resp.with("P-Asserted-Identity", p);
    }
    if let Some(r) = reason {
        resp = resp.with("Reason", r);
    }
    resp
}

/// A refusal: the failure's code and phrase, and `Reason: SIP;cause=…;text="…"` (RFC 3326).
pub fn refused(f: &Failure) -> Response {
    Response::new(f.code, f.text).with("Reason", format!("SIP;cause={};text={}", f.code, quoted(&f.desc)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:+12125551213@vouch.example;user=phone SIP/2.0\r\n\
        Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1\r\n\
        From: \"Acme\" <sip:+12155551212@carrier.example;user=phone;verstat=TN-Validation-Passed>;tag=abc\r\n\
        To: <sip:+12125551213@vouch.example>\r\n\
        Call-ID: 1@127.0.0.1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";

    #[test]
    fn signed_contact_carries_the_identity() {
        let req = SipMessage::parse(INVITE.as_bytes()).unwrap();
        let identity = "aaa.bbb.ccc;info=<https://cr.example/c.pem>;alg=ES256;ppt=shaken";
        let bytes = signed(&req, identity).to_request(&req, "t1");
        let resp = SipMessage::parse(&bytes).unwrap();
        let contact = resp.header("Contact").unwrap();
        assert_eq!(
            contact,
            "<sip:+12125551213@vouch.example;user=phone?Identity=aaa.bbb.ccc%3Binfo%3D%3Chttps://cr.example/c.pem%3E%3Balg%3DES256%3Bppt%3Dshaken>"
        );
        assert_eq!(resp.header("Identity"), Some(identity));
    }

    #[test]
    fn verstat_replaces_and_names() {
        let req = SipMessage::parse(INVITE.as_bytes()).unwrap();
        assert_eq!(
            with_verstat(&req, Verstat::Failed, None).unwrap(),
            "\"Acme\" <sip:+12155551212@carrier.example;user=phone;verstat=TN-Validation-Failed>"
        );
        assert_eq!(
            with_verstat(&req, Verstat::Passed, Some("Dr \"Who\"")).unwrap(),
            "\"Dr \\\"Who\\\"\" <sip:+12155551212@carrier.example;user=phone;verstat=TN-Validation-Passed>"
        );
        let f = Failure { case: "E18", code: 438, text: "Invalid Identity Header", desc: "bad\r\nsig".into() };
        let r = verified(&req, Verstat::Failed, None, Some(&f));
        let reason = r.headers.iter().find(|(n, _)| n == "Reason").unwrap();
        assert_eq!(reason.1, "STIR;cause=438;text=\"badsig\"");
        let refusal = refused(&f);
        assert_eq!((refusal.code, refusal.reason.as_str()), (438, "Invalid Identity Header"));
    }
}
