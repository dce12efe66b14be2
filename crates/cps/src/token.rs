//! The CPS bearer token (ATIS-1000105 style): a compact JWS signed ES256 with the caller's
//! SHAKEN certificate (at the header's `x5u`), whose claims say what the caller may do with
//! which record:
//!
//! ```text
//! header  {"alg":"ES256","typ":"JWT","x5u":"https://cr.example/sp.pem"}
//! claims  {"action":"publish","aud":"https://cps.example","dest":{"tn":["12025550101"]},
//!          "exp":1767225660,"iat":1767225600,"iss":"1234","jti":"…","orig":{"tn":"12025550100"},
//!          "passports":"sha256-…","spc":"1234"}
//! ```
//!
//! `orig` and `dest` are also accepted as plain strings. Decoding checks the form; [`CpsToken::check`]
//! checks the claims against the request and the clock; the signature and the certificate's
//! SPC are checked by the caller, which holds the certificate.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Map, Value, json};
use vouch_shaken::{SigningKey, Tn};

use crate::CpsError;

/// The largest token accepted, bytes.
pub const MAX_TOKEN: usize = 8 * 1024;
/// The longest a token may live: `exp - iat`, seconds.
pub const MAX_LIFETIME: i64 = 60;
/// How far a token's `iat` may be ahead of the CPS's clock, seconds.
pub const CLOCK_SKEW: i64 = 5;
/// The longest `jti` accepted, bytes.
pub const MAX_JTI: usize = 128;

/// What a token allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `POST /passports/{SPC}/{DEST}/{ORIG}`.
    Publish,
    /// `GET /passports/{SPC}/{DEST}/{ORIG}`.
    Retrieve,
}

impl Action {
    /// The claim's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Publish => "publish",
            Self::Retrieve => "retrieve",
        }
    }
}

/// A token's claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenClaims {
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expires at, Unix seconds.
    pub exp: i64,
    /// The CPS it is meant for (one value or several).
    pub aud: Vec<String>,
    /// The issuer: the caller's SPC.
    pub iss: String,
    /// The caller's SPC, which must be its certificate's.
    pub spc: String,
    /// Publish or retrieve.
    pub action: Action,
    /// Unique per token: a token is accepted once.
    pub jti: String,
    /// The calling number.
    pub orig: Tn,
    /// The called number.
    pub dest: Tn,
    /// For publish: `sha256-` and the base64 of the SHA-256 of the RFC 8785 form of the
    /// body's `passports` array.
    pub passports: Option<String>,
}

impl TokenClaims {
    /// The claims as JSON, numbers in the PASSporT form (`{"tn": …}`).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("action".into(), self.action.as_str().into());
        m.insert(
            "aud".into(),
            match self.aud.as_slice() {
                [one] => one.clone().into(),
                many => many.to_vec().into(),
            },
        );
        m.insert("dest".into(), json!({ "tn": [self.dest.as_str()] }));
        m.insert("exp".into(), self.exp.into());
        m.insert("iat".into(), self.iat.into());
        m.insert("iss".into(), self.iss.clone().into());
        m.insert("jti".into(), self.jti.clone().into());
        m.insert("orig".into(), json!({ "tn": self.orig.as_str() }));
        if let Some(p) = &self.passports {
            m.insert("passports".into(), p.clone().into());
        }
        m.insert("spc".into(), self.spc.clone().into());
        Value::Object(m)
    }

    /// Signs these claims with `key` under a header naming `x5u`: the compact token.
    pub fn sign(&self, key: &SigningKey, x5u: &str) -> Result<String, CpsError> {
        let header = json!({ "alg": "ES256", "typ": "JWT", "x5u": x5u });
        let enc = |v: &Value| {
            vouch_canonical_json::to_canonical_json(v)
                .map(|b| URL_SAFE_NO_PAD.encode(b))
                .map_err(|e| CpsError::Token(e.to_string()))
        };
        let input = format!("{}.{}", enc(&header)?, enc(&self.to_json())?);
        let sig = key.sign_raw(input.as_bytes()).map_err(|e| CpsError::Key(e.to_string()))?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig)))
    }
}

/// What the request and the CPS expect of a token.
#[derive(Debug, Clone)]
pub struct Expect<'a> {
    /// The CPS's time, Unix seconds.
    pub now: i64,
    /// How old `iat` may be, seconds.
    pub freshness: i64,
    /// The request's action (from its method).
    pub action: Action,
    /// This CPS's audience value.
    pub audience: &'a str,
    /// The path's calling number.
    pub orig: &'a Tn,
    /// The path's called number.
    pub dest: &'a Tn,
    /// For publish, the digest of the body's `passports`.
    pub passports: Option<&'a str>,
}

/// A received token, decoded (not yet verified).
#[derive(Debug, Clone)]
pub struct CpsToken {
    token: String,
    input_end: usize,
    signature: Vec<u8>,
    /// Where the caller's certificate is.
    pub x5u: String,
    /// The claims.
    pub claims: TokenClaims,
}

fn claim_err(claim: &'static str, problem: impl Into<String>) -> CpsError {
    CpsError::Claim { claim, problem: problem.into() }
}

fn decode_part(part: &str, what: &str) -> Result<Map<String, Value>, CpsError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| CpsError::Token(format!("the {what} is not base64url without padding")))?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(CpsError::Token(format!("the {what} is not a JSON object"))),
    }
}

fn string(m: &Map<String, Value>, claim: &'static str) -> Result<String, CpsError> {
    match m.get(claim) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(claim_err(claim, "must be a string")),
        None => Err(claim_err(claim, "is missing")),
    }
}

fn int(m: &Map<String, Value>, claim: &'static str) -> Result<i64, CpsError> {
    match m.get(claim) {
        Some(v) => v.as_i64().ok_or_else(|| claim_err(claim, "must be an integer (Unix seconds)")),
        None => Err(claim_err(claim, "is missing")),
    }
}

/// `"12025550100"`, `{"tn":"12025550100"}` or `{"tn":["12025550100"]}` (one number).
fn number(m: &Map<String, Value>, claim: &'static str) -> Result<Tn, CpsError> {
    let tn = |s: &str| Tn::canonicalize(s).map_err(|_| claim_err(claim, format!("{s:?} is not a telephone number")));
    match m.get(claim) {
        Some(Value::String(s)) => tn(s),
        Some(Value::Object(o)) => match o.get("tn") {
            Some(Value::String(s)) => tn(s),
            Some(Value::Array(a)) => match a.as_slice() {
                [Value::String(s)] => tn(s),
                _ => Err(claim_err(claim, "tn must hold exactly one number")),
            },
            _ => Err(claim_err(claim, "must have a tn")),
        },
        Some(_) => Err(claim_err(claim, "must be a number string or an object with tn")),
        None => Err(claim_err(claim, "is missing")),
    }
}

impl CpsToken {
    /// Decodes a compact token: form, header (`alg` ES256, `x5u`) and claims' types.
    pub fn decode(token: &str) -> Result<Self, CpsError> {
        if token.len() > MAX_TOKEN {
            return Err(CpsError::Token(format!("the token is over {MAX_TOKEN} bytes")));
        }
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(CpsError::Token("a token is three base64url parts joined by '.' (a compact JWS)".into()));
        };
        let header = decode_part(h, "header")?;
        match header.get("alg") {
            Some(Value::String(a)) if a == "ES256" => {}
            Some(Value::String(a)) => return Err(CpsError::Token(format!("alg {a:?} is not supported; use ES256"))),
            _ => return Err(CpsError::Token("the header has no alg".into())),
        }
        if header.contains_key("crit") {
            return Err(CpsError::Token("crit extensions are not supported (RFC 7515 4.1.11)".into()));
        }
        match header.get("typ") {
            None => {}
            Some(Value::String(t)) if t.eq_ignore_ascii_case("JWT") => {}
            Some(other) => return Err(CpsError::Token(format!("typ {other} is not JWT"))),
        }
        let x5u = match header.get("x5u") {
            Some(Value::String(u)) if !u.is_empty() => u.clone(),
            _ => return Err(CpsError::Token("the header has no x5u (the signer's certificate URL)".into())),
        };
        let signature = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| CpsError::Token("the signature is not base64url without padding".into()))?;
        if signature.len() != 64 {
            return Err(CpsError::Token(format!("an ES256 signature is 64 bytes (r || s), not {}", signature.len())));
        }
        let m = decode_part(p, "payload")?;
        let action = match string(&m, "action")?.as_str() {
            "publish" => Action::Publish,
            "retrieve" => Action::Retrieve,
            other => return Err(claim_err("action", format!("{other:?} is neither publish nor retrieve"))),
        };
        let aud = match m.get("aud") {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(a)) if !a.is_empty() => a
                .iter()
                .map(|v| v.as_str().map(str::to_owned).ok_or_else(|| claim_err("aud", "must hold strings")))
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(claim_err("aud", "must be a string or an array of strings")),
            None => return Err(claim_err("aud", "is missing")),
        };
        let jti = string(&m, "jti")?;
        if jti.is_empty() || jti.len() > MAX_JTI {
            return Err(claim_err("jti", format!("must be 1 to {MAX_JTI} bytes")));
        }
        let passports = match m.get("passports") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(claim_err("passports", "must be a string (sha256-…)")),
        };
        let claims = TokenClaims {
            iat: int(&m, "iat")?,
            exp: int(&m, "exp")?,
            aud,
            iss: string(&m, "iss")?,
            spc: string(&m, "spc")?,
            action,
            jti,
            orig: number(&m, "orig")?,
            dest: number(&m, "dest")?,
            passports,
        };
        Ok(Self { input_end: h.len() + 1 + p.len(), token: token.to_owned(), signature, x5u, claims })
    }

    /// The bytes the signature covers.
    pub fn signing_input(&self) -> &[u8] {
        &self.token.as_bytes()[..self.input_end]
    }

    /// The raw `r || s` signature.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// Checks the claims against the request and the clock, in this order: action, audience,
    /// `iss` = `spc`, time (`iat` not ahead, not stale; `exp` not passed, at most
    /// [`MAX_LIFETIME`] after `iat`), numbers ([`Tn::same_number`]: a ten-digit North American
    /// number is the same as with country code 1), and for publish the passports digest.
    pub fn check(&self, e: &Expect<'_>) -> Result<(), CpsError> {
        let c = &self.claims;
        if c.action != e.action {
            return Err(CpsError::WrongAction { token: c.action.as_str(), request: e.action.as_str() });
        }
        if !c.aud.iter().any(|a| a == e.audience) {
            return Err(CpsError::WrongAudience { token: c.aud.join(", "), cps: e.audience.to_owned() });
        }
        if c.iss != c.spc {
            return Err(claim_err("iss", format!("{:?} is not the spc {:?}", c.iss, c.spc)));
        }
        // Saturating: iat and exp are the sender's, any i64.
        if c.iat > e.now.saturating_add(CLOCK_SKEW) {
            return Err(CpsError::Future { iat: c.iat, now: e.now });
        }
        if e.now.saturating_sub(c.iat) > e.freshness {
            return Err(CpsError::Stale { iat: c.iat, now: e.now, freshness: e.freshness });
        }
        if c.exp <= e.now {
            return Err(CpsError::Expired { exp: c.exp, now: e.now });
        }
        if c.exp.saturating_sub(c.iat) > MAX_LIFETIME || c.exp < c.iat {
            return Err(CpsError::Lifetime { iat: c.iat, exp: c.exp });
        }
        // A North American number written nationally is the same number with country code 1.
        if !c.orig.same_number(e.orig) {
            return Err(CpsError::NumberMismatch {
                claim: "orig",
                token: c.orig.to_string(),
                path: e.orig.to_string(),
            });
        }
        if !c.dest.same_number(e.dest) {
            return Err(CpsError::NumberMismatch {
                claim: "dest",
                token: c.dest.to_string(),
                path: e.dest.to_string(),
            });
        }
        if let Some(want) = e.passports {
            match &c.passports {
                Some(got) if got == want => {}
                Some(_) => return Err(CpsError::DigestMismatch),
                None => return Err(claim_err("passports", "is missing (a publish token covers its body)")),
            }
        }
        Ok(())
    }
}

/// `sha256-` and the base64 of the SHA-256 of the RFC 8785 (JCS) form of `passports`.
///
/// The array holds strings only (base64url and `.`), whose JCS form is the canonical JSON
/// vouch writes everywhere.
pub fn passports_digest(passports: &[String]) -> Result<String, CpsError> {
    let array = Value::Array(passports.iter().cloned().map(Value::String).collect());
    let bytes = vouch_canonical_json::to_canonical_json(&array).map_err(|e| CpsError::Body(e.to_string()))?;
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &bytes);
    Ok(format!("sha256-{}", STANDARD.encode(d.as_ref())))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn claims(now: i64) -> TokenClaims {
        TokenClaims {
            iat: now,
            exp: now + 30,
            aud: vec!["https://cps.test".into()],
            iss: "1234".into(),
            spc: "1234".into(),
            action: Action::Publish,
            jti: "j-1".into(),
            orig: Tn::canonicalize("+1 202 555 0100").unwrap(),
            dest: Tn::canonicalize("12025550101").unwrap(),
            passports: Some(passports_digest(&["a.b.c".into()]).unwrap()),
        }
    }

    #[test]
    fn signed_tokens_decode_and_check() {
        let key = SigningKey::generate().unwrap();
        let now = 1_767_225_600;
        let c = claims(now);
        let t = CpsToken::decode(&c.sign(&key, "https://cr.test/sp.pem").unwrap()).unwrap();
        assert_eq!(t.claims, c);
        assert_eq!(t.x5u, "https://cr.test/sp.pem");
        key.verifying_key().unwrap().verify(t.signing_input(), t.signature()).unwrap();
        let digest = passports_digest(&["a.b.c".into()]).unwrap();
        let ok = Expect {
            now: now + 10,
            freshness: 60,
            action: Action::Publish,
            audience: "https://cps.test",
            orig: &c.orig,
            dest: &c.dest,
            passports: Some(&digest),
        };
        t.check(&ok).unwrap();
        let other = Tn::canonicalize("12025550199").unwrap();
        let slug = |e: Expect<'_>| t.check(&e).map_err(|e| e.slug()).err();
        assert_eq!(slug(Expect { action: Action::Retrieve, ..ok.clone() }), Some("cps-action"));
        assert_eq!(slug(Expect { audience: "https://other", ..ok.clone() }), Some("cps-audience"));
        assert_eq!(slug(Expect { now: now - 10, ..ok.clone() }), Some("cps-future"));
        assert_eq!(slug(Expect { now: now + 25, freshness: 20, ..ok.clone() }), Some("cps-stale"));
        assert_eq!(slug(Expect { now: now + 30, ..ok.clone() }), Some("cps-expired"));
        assert_eq!(slug(Expect { orig: &other, ..ok.clone() }), Some("cps-number"));
        assert_eq!(slug(Expect { dest: &other, ..ok.clone() }), Some("cps-number"));
        assert_eq!(slug(Expect { passports: Some("sha256-AAAA"), ..ok.clone() }), Some("cps-digest"));
        // A national-format North American number is the same number as with country code 1.
        let national = TokenClaims {
            orig: Tn::canonicalize("202-555-0100").unwrap(),
            dest: Tn::canonicalize("(202) 555-0101").unwrap(),
            ..c.clone()
        };
        let t2 = CpsToken::decode(&national.sign(&key, "https://cr.test/sp.pem").unwrap()).unwrap();
        t2.check(&ok).unwrap();
        let national_path = (Tn::canonicalize("2025550100").unwrap(), Tn::canonicalize("2025550101").unwrap());
        t.check(&Expect { orig: &national_path.0, dest: &national_path.1, ..ok.clone() }).unwrap();
        let not_nanp = Tn::canonicalize("1025550100").unwrap();
        assert_eq!(slug(Expect { orig: &not_nanp, ..ok.clone() }), Some("cps-number"));
        // Extreme times from the sender do not overflow.
        for (iat, exp) in [(i64::MIN, i64::MAX), (i64::MAX, i64::MAX), (i64::MIN, i64::MIN), (0, i64::MAX)] {
            let c = TokenClaims { iat, exp, ..c.clone() };
            let t = CpsToken::decode(&c.sign(&key, "https://cr.test/sp.pem").unwrap()).unwrap();
            assert!(t.check(&ok).is_err());
        }
        let long = TokenClaims { exp: now + 61, ..c.clone() };
        let t = CpsToken::decode(&long.sign(&key, "https://cr.test/sp.pem").unwrap()).unwrap();
        assert!(matches!(t.check(&ok), Err(CpsError::Lifetime { .. })));
    }

    #[test]
    fn the_digest_is_of_the_jcs_array() {
        // JCS of ["a.b.c","d.e.f"] is exactly these bytes.
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, br#"["a.b.c","d.e.f"]"#);
        assert_eq!(
            passports_digest(&["a.b.c".into(), "d.e.f".into()]).unwrap(),
            format!("sha256-{}", STANDARD.encode(d.as_ref()))
        );
    }

    #[test]
    fn malformed_tokens_are_refused() {
        for t in ["", "a.b", "a.b.c.d", "e30.e30.AAAA", "!!.!!.!!"] {
            assert!(CpsToken::decode(t).is_err(), "{t}");
        }
        assert!(CpsToken::decode(&"a".repeat(MAX_TOKEN + 1)).is_err());
    }

    proptest::proptest! {
        #[test]
        fn decode_never_panics(s in "\\PC{0,300}") {
            let _ = CpsToken::decode(&s);
        }
    }
}
