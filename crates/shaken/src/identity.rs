//! The SIP Identity header (RFC 8224 section 4, with errata 6499: the token is base64url).
//!
//! ```text
//! Identity = "Identity" HCOLON signed-identity-digest SEMI ident-info *( SEMI ident-info-params )
//! ident-info = "info" EQUAL LAQUOT absoluteURI RAQUOT
//! ident-info-params = "alg" EQUAL token / "ppt" EQUAL token / generic-param
//! ```
//!
//! Parsing accepts what deployed signers send: parameter names in any case, white space around
//! `;` and `=`, a quoted `ppt` (`ppt="shaken"`), and several Identity header values in one
//! header line separated by commas.

use crate::ShakenError;

/// Longest header value accepted (a SHAKEN Identity is about 700 bytes; `rcd` adds some).
const MAX_HEADER: usize = 16 * 1024;
/// Most Identity headers accepted in one message.
const MAX_IDENTITIES: usize = 16;
/// Most parameters accepted in one Identity header (SHAKEN uses three).
const MAX_PARAMS: usize = 32;

/// One Identity header value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityHeader {
    /// The PASSporT (compact JWS serialisation).
    pub passport: String,
    /// The `info` URI (without the angle brackets).
    pub info: String,
    /// The `alg` parameter, if present.
    pub alg: Option<String>,
    /// The `ppt` parameter, unquoted, if present.
    pub ppt: Option<String>,
    /// Other parameters, in order: names lower-cased, values as written (quotes included).
    pub other: Vec<(String, Option<String>)>,
}

fn bad(detail: impl Into<String>) -> ShakenError {
    ShakenError::IdentityHeader(detail.into())
}

fn is_token_char(c: char) -> bool {
    // RFC 3261 token.
    c.is_ascii_alphanumeric() || "-.!%*_+`'~".contains(c)
}

/// A parameter value: a token, or a quoted string of printable ASCII without escapes (no
/// Identity parameter needs them). Returns the value as written.
fn param_value(v: &str) -> Result<&str, ShakenError> {
    let ok = match v.strip_prefix('"') {
        None => !v.is_empty() && v.chars().all(is_token_char),
        Some(rest) => rest
            .strip_suffix('"')
            .is_some_and(|inner| inner.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')),
    };
    if ok { Ok(v) } else { Err(bad(format!("parameter value {v:?} is neither a token nor a plain quoted string"))) }
}

/// `alg` and `ppt` values: tokens, optionally quoted (`ppt="shaken"`); returned unquoted.
fn token_value(v: &str) -> Result<String, ShakenError> {
    let v = param_value(v)?;
    let inner = v.strip_prefix('"').and_then(|r| r.strip_suffix('"')).unwrap_or(v);
    if inner.is_empty() || !inner.chars().all(is_token_char) {
        return Err(bad(format!("parameter value {v:?} is not a token")));
    }
    Ok(inner.to_owned())
}

/// Splits on the ASCII `sep` outside `<…>` and `"…"`. Works on bytes: every byte it stops at
/// is ASCII, so each piece is still whole UTF-8 (a PASSporT is most of the header, and this
/// runs for every call).
fn split_outside(s: &str, sep: u8) -> Vec<&str> {
    let (mut out, mut start, mut angle, mut quote) = (Vec::new(), 0, false, false);
    for (i, b) in s.bytes().enumerate() {
        match b {
            b'"' if !angle => quote = !quote,
            b'<' if !quote => angle = true,
            b'>' if !quote => angle = false,
            b if b == sep && !angle && !quote => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

impl IdentityHeader {
    /// A SHAKEN Identity header for `passport`: `<passport>;info=<x5u>;alg=ES256;ppt=shaken`.
    pub fn shaken(passport: impl Into<String>, x5u: impl Into<String>) -> Self {
        Self {
            passport: passport.into(),
            info: x5u.into(),
            alg: Some("ES256".into()),
            ppt: Some(crate::passport::PPT_SHAKEN.into()),
            other: Vec::new(),
        }
    }

    /// A diversion Identity header (RFC 8946) for `passport`:
    /// `<passport>;info=<x5u>;alg=ES256;ppt=div`.
    pub fn div(passport: impl Into<String>, x5u: impl Into<String>) -> Self {
        Self { ppt: Some(crate::passport::PPT_DIV.into()), ..Self::shaken(passport, x5u) }
    }

    /// Parses one header value (after `Identity:`).
    pub fn parse(value: &str) -> Result<Self, ShakenError> {
        if value.len() > MAX_HEADER {
            return Err(bad(format!("longer than {MAX_HEADER} bytes")));
        }
        let parts = split_outside(value.trim(), b';');
        let passport = parts.first().map(|p| p.trim()).unwrap_or_default();
        if passport.is_empty() {
            return Err(bad("no PASSporT before the first ';'"));
        }
        if !passport.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.') {
            return Err(bad("the PASSporT has characters outside base64url and '.'"));
        }
        if parts.len() == 1 {
            return Err(ShakenError::MissingInfo("no info parameter (nothing after the PASSporT)".into()));
        }
        if parts.len() > MAX_PARAMS + 1 {
            return Err(bad(format!("more than {MAX_PARAMS} parameters")));
        }
        let mut header =
            Self { passport: passport.to_owned(), info: String::new(), alg: None, ppt: None, other: vec![] };
        let mut info = None;
        for param in &parts[1..] {
            let param = param.trim();
            if param.is_empty() {
                return Err(bad("an empty parameter (';;' or a trailing ';')"));
            }
            let (name, value) = match param.split_once('=') {
                Some((n, v)) => (n.trim().to_ascii_lowercase(), Some(v.trim())),
                None => (param.to_ascii_lowercase(), None),
            };
            if name.is_empty() || !name.chars().all(is_token_char) {
                return Err(bad(format!("parameter name {name:?} is not a token")));
            }
            let seen = match name.as_str() {
                "info" => info.is_some(),
                "alg" => header.alg.is_some(),
                "ppt" => header.ppt.is_some(),
                _ => header.other.iter().any(|(n, _)| *n == name),
            };
            if seen {
                return Err(bad(format!("parameter {name} appears twice")));
            }
            match (name.as_str(), value) {
                ("info", Some(v)) => {
                    let uri = v
                        .strip_prefix('<')
                        .and_then(|v| v.strip_suffix('>'))
                        .ok_or_else(|| ShakenError::BadInfo(format!("info {v:?} is not a URI in angle brackets")))?;
                    if uri.is_empty() || uri.contains(['<', '>', ' ', '"']) || !uri.contains(':') {
                        return Err(ShakenError::BadInfo(format!("info <{uri}> is not an absolute URI")));
                    }
                    info = Some(uri.to_owned());
                }
                ("info", None) => return Err(ShakenError::BadInfo("info has no value".into())),
                ("alg", Some(v)) => header.alg = Some(token_value(v)?),
                ("ppt", Some(v)) => header.ppt = Some(token_value(v)?),
                ("alg" | "ppt", None) => return Err(bad(format!("{name} has no value"))),
                (_, v) => {
                    let v = v.map(param_value).transpose()?.map(str::to_owned);
                    header.other.push((name, v));
                }
            }
        }
        header.info = info.ok_or_else(|| ShakenError::MissingInfo("no info parameter".into()))?;
        Ok(header)
    }

    /// Parses every Identity header of a message: each item is one header line's value, which
    /// may itself hold several comma-separated Identity values.
    pub fn parse_all<'a>(values: impl IntoIterator<Item = &'a str>) -> Result<Vec<Self>, ShakenError> {
        let mut out = Vec::new();
        for line in values {
            for v in split_outside(line, b',') {
                if out.len() == MAX_IDENTITIES {
                    return Err(bad(format!("more than {MAX_IDENTITIES} Identity headers")));
                }
                out.push(Self::parse(v)?);
            }
        }
        Ok(out)
    }

    /// For a SHAKEN verification: `ppt` must be `shaken` (quoted or not; E5), `alg`, when
    /// present, `ES256`.
    pub fn require_shaken(&self) -> Result<(), ShakenError> {
        self.require_ppt(crate::passport::PPT_SHAKEN)
    }

    /// For a diversion (RFC 8946): `ppt` must be `div` (quoted or not), `alg`, when present,
    /// `ES256`.
    pub fn require_div(&self) -> Result<(), ShakenError> {
        self.require_ppt(crate::passport::PPT_DIV)
    }

    fn require_ppt(&self, want: &str) -> Result<(), ShakenError> {
        if self.ppt.as_deref() != Some(want) {
            return Err(ShakenError::IdentityHeader(format!(
                "the ppt parameter is {:?}, not {want:?} (ATIS-1000082 E5)",
                self.ppt.as_deref().unwrap_or_default()
            )));
        }
        match self.alg.as_deref() {
            None | Some("ES256") => Ok(()),
            Some(other) => Err(ShakenError::UnsupportedAlgorithm(other.to_owned())),
        }
    }
}

impl std::fmt::Display for IdentityHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{};info=<{}>", self.passport, self.info)?;
        if let Some(alg) = &self.alg {
            write!(f, ";alg={alg}")?;
        }
        if let Some(ppt) = &self.ppt {
            write!(f, ";ppt={ppt}")?;
        }
        for (n, v) in &self.other {
            match v {
                Some(v) => write!(f, ";{n}={v}")?,
                None => write!(f, ";{n}")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "eyJhbGciOiJFUzI1NiJ9.eyJpYXQiOjF9.c2ln";

    #[test]
    fn parses_the_forms_deployed_signers_send() {
        let canonical = format!("{T};info=<https://cert.example.org/sp.pem>;alg=ES256;ppt=shaken");
        let h = IdentityHeader::parse(&canonical).unwrap();
        assert_eq!(h, IdentityHeader::shaken(T, "https://cert.example.org/sp.pem"));
        assert_eq!(h.to_string(), canonical);
        for variant in [
            format!("{T} ; INFO=<https://cert.example.org/sp.pem> ;Alg=ES256; PPT=\"shaken\""),
            format!("  {T};ppt=shaken;info=<https://cert.example.org/sp.pem>;alg=ES256  "),
        ] {
            let v = IdentityHeader::parse(&variant).unwrap();
            assert_eq!(v, h, "{variant}");
            v.require_shaken().unwrap();
        }
        let with_ext =
            IdentityHeader::parse(&format!("{T};info=<https://a.example/c;x=1>;ppt=div;foo;bar=\"b z\"")).unwrap();
        assert_eq!(with_ext.info, "https://a.example/c;x=1");
        assert_eq!(with_ext.other, vec![("foo".into(), None), ("bar".into(), Some("\"b z\"".into()))]);
        assert!(IdentityHeader::parse(&format!("{T};info=<https://a/c>;ppt=\"shak\0en\"")).is_err());
        assert!(IdentityHeader::parse(&format!("{T};info=<https://a/c>;x=\"a\nb\"")).is_err());
        assert_eq!(with_ext.require_shaken().unwrap_err().sip_reason().code, 438);
    }

    #[test]
    fn several_identities_in_one_message() {
        let a = format!("{T};info=<https://a.example/1.pem>;ppt=shaken");
        let b = format!("{T};info=<https://a.example/2.pem>;ppt=div");
        let all = IdentityHeader::parse_all([format!("{a}, {b}").as_str(), a.as_str()]).unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(all[1].ppt.as_deref(), Some("div"));
    }

    #[test]
    fn rejects_with_the_right_reason() {
        for (v, code) in [
            (T.to_string(), 436),
            (format!("{T};alg=ES256;ppt=shaken"), 436),
            (format!("{T};info=https://a.example/c.pem"), 436),
            (format!("{T};info=<>"), 436),
            (format!("{T};info"), 436),
            (String::new(), 438),
            (";info=<https://a.example/c.pem>".to_string(), 438),
            (format!("{T};info=<https://a.example/c.pem>;;ppt=shaken"), 438),
            (format!("{T};info=<https://a.example/c.pem>;ppt=\"shaken"), 438),
            (format!("{T};info=<https://a.example/c.pem>;ppt=shaken;ppt=shaken"), 438),
            (format!("{T} x;info=<https://a.example/c.pem>"), 438),
            (format!("{T}/+;info=<https://a.example/c.pem>"), 438),
        ] {
            let e = IdentityHeader::parse(&v).unwrap_err();
            assert_eq!(e.sip_reason().code, code, "{v:?}: {e}");
        }
        let alg = IdentityHeader::parse(&format!("{T};info=<https://a/c>;alg=RS256;ppt=shaken")).unwrap();
        assert_eq!(alg.require_shaken().unwrap_err().sip_reason().code, 437);
    }

    proptest::proptest! {
        #[test]
        fn format_then_parse_round_trips(
            token in "[A-Za-z0-9_-]{1,40}\\.[A-Za-z0-9_-]{1,40}\\.[A-Za-z0-9_-]{1,40}",
            info in "https://[a-z]{1,10}\\.example/[a-z0-9/]{0,20}",
        ) {
            let h = IdentityHeader::shaken(token, info);
            proptest::prop_assert_eq!(IdentityHeader::parse(&h.to_string()).unwrap(), h);
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,200}") {
            let _ = IdentityHeader::parse(&s);
            let _ = IdentityHeader::parse_all([s.as_str()]);
        }
    }
}
