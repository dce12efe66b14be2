//! ATIS-1000082 (the STI-AS / STI-VS HTTP interface): request and response shapes, the service
//! and policy exception table, and the E1-E19 verification outcomes.
//!
//! Requests are parsed from the received bytes into typed values; every failure is a
//! [`ServiceException`] naming the standard's message id, HTTP status and the parameter at
//! fault. Members the standard does not define are ignored, as other implementations of the
//! interface do (some clients send `ppt` inside `signingRequest`); vouch's own additions are
//! documented on each field.

use serde_json::{Map, Value, json};
use vouch_shaken::{Attestation, ShakenError, Tn, Verstat};

/// Largest request body the interface accepts (one Identity header is a few hundred bytes).
pub const MAX_BODY: usize = 16 * 1024;

/// How far the request's `time` may be from the verifier's clock by default (E3), seconds.
pub const DEFAULT_FRESHNESS: i64 = 60;

/// Most destination numbers in one request.
const MAX_DEST: usize = 64;

/// A request the interface refuses before any signing or verification: the standard's
/// `serviceException` / `policyException` (ATIS-1000082, after the OMA REST conventions).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceException {
    /// SVC4000: the body is empty.
    #[error("SVC4000 the request has no body")]
    MissingBody,
    /// SVC4001: a mandatory parameter is missing.
    #[error("SVC4001 missing mandatory parameter {0}")]
    MissingParameter(String),
    /// SVC4002: the `Accept` header does not allow `application/json`.
    #[error("SVC4002 unsupported Accept header {0:?}")]
    UnsupportedAccept(String),
    /// SVC4003: no such resource.
    #[error("SVC4003 no resource at {0}")]
    NotFound(String),
    /// SVC4004: the body is not `application/json`.
    #[error("SVC4004 unsupported Content-Type {0:?}")]
    UnsupportedContentType(String),
    /// SVC4005: a parameter has a value the interface cannot use.
    #[error("SVC4005 invalid value for {name}: {detail}")]
    InvalidParameter {
        /// The parameter, e.g. `orig.tn`.
        name: String,
        /// What is wrong.
        detail: String,
    },
    /// SVC4006: the body is not JSON (or not the expected object).
    #[error("SVC4006 the body is not valid JSON: {0}")]
    MalformedJson(String),
    /// SVC4007: no `Content-Length` (and no chunked body).
    #[error("SVC4007 {0}")]
    ContentLength(String),
    /// POL4050: the method is not allowed on the resource.
    #[error("POL4050 method {0} is not allowed")]
    MethodNotAllowed(String),
    /// POL5000: the server failed.
    #[error("POL5000 internal error: {0}")]
    Internal(String),
    /// VOUCH4010 (vouch's addition; the standard leaves authentication to deployments):
    /// no valid API key, or the key's provider may not use this interface.
    #[error("VOUCH4010 {0}")]
    Unauthorized(String),
    /// VOUCH4030 (vouch's addition): the caller is known but may not do this (no voice role,
    /// no signing certificate registered).
    #[error("VOUCH4030 {0}")]
    Forbidden(String),
}

impl ServiceException {
    /// The message id of the standard's table (`SVC4001`, `POL4050`…).
    pub fn message_id(&self) -> &'static str {
        match self {
            Self::MissingBody => "SVC4000",
            Self::MissingParameter(_) => "SVC4001",
            Self::UnsupportedAccept(_) => "SVC4002",
            Self::NotFound(_) => "SVC4003",
            Self::UnsupportedContentType(_) => "SVC4004",
            Self::InvalidParameter { .. } => "SVC4005",
            Self::MalformedJson(_) => "SVC4006",
            Self::ContentLength(_) => "SVC4007",
            Self::MethodNotAllowed(_) => "POL4050",
            Self::Internal(_) => "POL5000",
            Self::Unauthorized(_) => "VOUCH4010",
            Self::Forbidden(_) => "VOUCH4030",
        }
    }

    /// The HTTP status the table gives the exception.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::MissingBody | Self::MissingParameter(_) | Self::InvalidParameter { .. } | Self::MalformedJson(_) => {
                400
            }
            Self::UnsupportedAccept(_) => 406,
            Self::NotFound(_) => 404,
            Self::UnsupportedContentType(_) => 415,
            Self::ContentLength(_) => 411,
            Self::MethodNotAllowed(_) => 405,
            Self::Internal(_) => 500,
            Self::Unauthorized(_) => 401,
            Self::Forbidden(_) => 403,
        }
    }

    /// The table's text, with `%1` standing for the variable.
    pub fn text(&self) -> &'static str {
        match self {
            Self::MissingBody => "Missing request body.",
            Self::MissingParameter(_) => "Error: Missing mandatory parameter '%1'.",
            Self::UnsupportedAccept(_) => "Error: Requested response body type '%1' is not supported.",
            Self::NotFound(_) => "Error: Requested resource '%1' was not found.",
            Self::UnsupportedContentType(_) => "Error: Unsupported request body type, expected '%1'.",
            Self::InvalidParameter { .. } => "Error: Invalid '%1' parameter value: %2.",
            Self::MalformedJson(_) => "Error: Failed to parse message body: %1.",
            Self::ContentLength(_) => "Error: %1.",
            Self::MethodNotAllowed(_) => "Method not allowed: %1.",
            Self::Internal(_) => "Internal server error: %1.",
            Self::Unauthorized(_) => "Unauthorized: %1.",
            Self::Forbidden(_) => "Forbidden: %1.",
        }
    }

    /// The values of `%1`, `%2`.
    pub fn variables(&self) -> Vec<String> {
        match self {
            Self::MissingBody => Vec::new(),
            Self::UnsupportedContentType(_) => vec!["application/json".into()],
            Self::InvalidParameter { name, detail } => vec![name.clone(), detail.clone()],
            Self::MissingParameter(v)
            | Self::UnsupportedAccept(v)
            | Self::NotFound(v)
            | Self::MalformedJson(v)
            | Self::ContentLength(v)
            | Self::MethodNotAllowed(v)
            | Self::Internal(v)
            | Self::Unauthorized(v)
            | Self::Forbidden(v) => vec![v.clone()],
        }
    }

    /// The response body:
    /// `{"requestError":{"serviceException":{"messageId":…,"text":…,"variables":[…]}}}`
    /// (`policyException` for POL codes).
    pub fn to_json(&self) -> Value {
        let kind = if self.message_id().starts_with("POL") { "policyException" } else { "serviceException" };
        json!({ "requestError": { kind: {
            "messageId": self.message_id(),
            "text": self.text(),
            "variables": self.variables(),
        }}})
    }

    /// SVC4005 for `name`.
    pub fn invalid(name: &str, detail: impl Into<String>) -> Self {
        Self::InvalidParameter { name: name.to_owned(), detail: detail.into() }
    }
}

/// Checks the `Content-Type` of a request: `application/json`, parameters allowed.
pub fn check_content_type(value: Option<&str>) -> Result<(), ServiceException> {
    let v = value.unwrap_or_default();
    let media = v.split(';').next().unwrap_or_default().trim();
    if media.eq_ignore_ascii_case("application/json") {
        Ok(())
    } else {
        Err(ServiceException::UnsupportedContentType(v.to_owned()))
    }
}

/// Checks the `Accept` header: absent, or a media range matching `application/json`
/// (`application/json`, `application/*`, `*/*`) with a weight above zero. As RFC 9110 section
/// 12.5.1 says, the most specific matching range gives the weight: `application/json;q=0, */*`
/// refuses JSON.
pub fn check_accept(value: Option<&str>) -> Result<(), ServiceException> {
    let Some(v) = value else { return Ok(()) };
    // (specificity, weight in thousandths) of the most specific range that matches JSON.
    let mut best: Option<(u8, u16)> = None;
    for range in v.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or_default().trim();
        let specificity = match media.to_ascii_lowercase().as_str() {
            "application/json" => 2,
            "application/*" => 1,
            "*/*" => 0,
            _ => continue,
        };
        let weight = parts
            .filter_map(|p| p.split_once('='))
            .find(|(name, _)| name.trim().eq_ignore_ascii_case("q"))
            .map_or(Some(1000), |(_, q)| qvalue(q.trim()));
        // A weight that is not a qvalue: the range is ignored.
        let Some(weight) = weight else { continue };
        if best.is_none_or(|(s, _)| specificity > s) {
            best = Some((specificity, weight));
        }
    }
    match best {
        Some((_, weight)) if weight > 0 => Ok(()),
        _ => Err(ServiceException::UnsupportedAccept(v.to_owned())),
    }
}

/// A `qvalue` (RFC 9110 section 12.4.2: `0`, `0.5`, `1.000`…) in thousandths.
fn qvalue(q: &str) -> Option<u16> {
    let (int, frac) = q.split_once('.').unwrap_or((q, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths =
        frac.bytes().chain(std::iter::repeat(b'0')).take(3).fold(0u16, |n, b| n * 10 + u16::from(b - b'0'));
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// Lower-case hex of the SHA-256 of `bytes` (a key for what must be told apart, such as the
/// legs of a forwarded call).
pub fn hex_digest(bytes: &[u8]) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `s` is a UUID in its 8-4-4-4-12 hexadecimal form.
pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Formats 16 random bytes as a version 4 UUID.
pub fn uuid_v4(mut bytes: [u8; 16]) -> String {
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    uuid_text(&bytes)
}

/// A version 7 UUID (RFC 9562 section 5.7): `unix_ms` in the first 48 bits, then random bits
/// from `random`. Such UUIDs sort by time, so a store indexing them appends rather than writes
/// all over its index.
pub fn uuid_v7(unix_ms: u64, mut random: [u8; 16]) -> String {
    random[..6].copy_from_slice(&unix_ms.to_be_bytes()[2..]);
    random[6] = (random[6] & 0x0f) | 0x70;
    random[8] = (random[8] & 0x3f) | 0x80;
    uuid_text(&random)
}

fn uuid_text(bytes: &[u8; 16]) -> String {
    let h = vouch_shaken::hex(bytes);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

fn body_object(body: &[u8], root: &str) -> Result<Map<String, Value>, ServiceException> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ServiceException::MissingBody);
    }
    if body.len() > MAX_BODY {
        return Err(ServiceException::invalid("body", format!("the body is over {MAX_BODY} bytes")));
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| ServiceException::MalformedJson(e.to_string()))?;
    let Value::Object(mut top) = value else {
        return Err(ServiceException::MalformedJson("the body is not a JSON object".into()));
    };
    match top.remove(root) {
        Some(Value::Object(o)) => Ok(o),
        Some(_) => Err(ServiceException::invalid(root, "must be an object")),
        None => Err(ServiceException::MissingParameter(root.to_owned())),
    }
}

fn required<'a>(o: &'a Map<String, Value>, name: &str) -> Result<&'a Value, ServiceException> {
    match o.get(name) {
        None | Some(Value::Null) => Err(ServiceException::MissingParameter(name.to_owned())),
        Some(v) => Ok(v),
    }
}

/// A number of a request: canonical, and a ten-digit North American number written nationally
/// made global (`4155550123` is `14155550123`), as the SIP server reads one.
fn tn_value(v: &Value, name: &str) -> Result<Tn, ServiceException> {
    let s = v.as_str().ok_or_else(|| ServiceException::invalid(name, "must be a string of digits"))?;
    let tn =
        Tn::canonicalize(s).map_err(|_| ServiceException::invalid(name, format!("{s:?} is not a telephone number")))?;
    Ok(if s.trim().starts_with('+') { tn } else { tn.nanp_global() })
}

/// `{"tn": "…"}` (a string; a one-element array is accepted, as some clients send it).
fn orig_tn(o: &Map<String, Value>, field: &str) -> Result<Tn, ServiceException> {
    let v = required(o, field)?;
    let name = format!("{field}.tn");
    let tn = v.as_object().ok_or_else(|| ServiceException::invalid(field, "must be an object {\"tn\": …}"))?;
    match required(tn, "tn").map_err(|_| ServiceException::MissingParameter(name.clone()))? {
        Value::Array(a) if a.len() == 1 => tn_value(&a[0], &name),
        other => tn_value(other, &name),
    }
}

/// `{"tn": ["…", …]}` (an array; a single string is accepted).
fn dest_tns(o: &Map<String, Value>, field: &str) -> Result<Vec<Tn>, ServiceException> {
    let v = required(o, field)?;
    let name = format!("{field}.tn");
    let tn = v.as_object().ok_or_else(|| ServiceException::invalid(field, "must be an object {\"tn\": [ … ]}"))?;
    let list = match required(tn, "tn").map_err(|_| ServiceException::MissingParameter(name.clone()))? {
        Value::Array(a) => a.iter().map(|x| tn_value(x, &name)).collect::<Result<Vec<_>, _>>()?,
        other => vec![tn_value(other, &name)?],
    };
    if list.is_empty() || list.len() > MAX_DEST {
        return Err(ServiceException::invalid(&name, format!("must list 1 to {MAX_DEST} numbers")));
    }
    Ok(list)
}

fn int(o: &Map<String, Value>, name: &str) -> Result<i64, ServiceException> {
    required(o, name)?.as_i64().ok_or_else(|| ServiceException::invalid(name, "must be an integer (Unix seconds)"))
}

fn opt_str<'a>(o: &'a Map<String, Value>, name: &str, max: usize) -> Result<Option<&'a str>, ServiceException> {
    match o.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.is_empty() && s.len() <= max => Ok(Some(s)),
        Some(_) => Err(ServiceException::invalid(name, format!("must be a string of 1 to {max} characters"))),
    }
}

/// `origid`, when present: a UUID, in lower case (UUIDs compare case-insensitively, RFC 9562
/// section 4: signed and recorded in the form lookups use).
fn opt_origid(o: &Map<String, Value>) -> Result<Option<String>, ServiceException> {
    match opt_str(o, "origid", 36)? {
        Some(id) if !is_uuid(id) => Err(ServiceException::invalid("origid", "must be a UUID")),
        id => Ok(id.map(str::to_ascii_lowercase)),
    }
}

/// `POST /stir/v1/signing`: `{"signingRequest":{"attest","orig":{"tn"},"dest":{"tn":[…]},"iat","origid"}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningRequest {
    /// The attestation the caller asks for; vouch never signs higher than the registry supports.
    pub attest: Attestation,
    /// The calling number.
    pub orig: Tn,
    /// The called numbers.
    pub dest: Vec<Tn>,
    /// Issued-at, Unix seconds.
    pub iat: i64,
    /// The caller's origination identifier; vouch chooses one when absent.
    pub origid: Option<String>,
    /// vouch's addition, `customer`: the brand (a vouch brand id) the caller has authenticated
    /// as the calling party, which allows B attestation for numbers that are not the brand's.
    pub customer: Option<String>,
}

impl SigningRequest {
    /// Parses a request body.
    pub fn parse(body: &[u8]) -> Result<Self, ServiceException> {
        Self::from_object(&body_object(body, "signingRequest")?)
    }

    fn from_object(o: &Map<String, Value>) -> Result<Self, ServiceException> {
        let attest = match required(o, "attest")? {
            Value::String(s) => {
                s.parse().map_err(|_| ServiceException::invalid("attest", "must be \"A\", \"B\" or \"C\""))?
            }
            _ => return Err(ServiceException::invalid("attest", "must be \"A\", \"B\" or \"C\"")),
        };
        let orig = orig_tn(o, "orig")?;
        let dest = dest_tns(o, "dest")?;
        let iat = int(o, "iat")?;
        let origid = opt_origid(o)?;
        if let Some(ppt) = opt_str(o, "ppt", 16)?
            && ppt != vouch_shaken::passport::PPT_SHAKEN
        {
            return Err(ServiceException::invalid("ppt", "\"shaken\" or \"div\" (a forward) is signed"));
        }
        let customer = opt_str(o, "customer", 64)?.map(str::to_owned);
        Ok(Self { attest, orig, dest, iat, origid, customer })
    }
}

/// A signing request of either kind: `ppt` `div` inside `signingRequest` asks for a diversion
/// PASSporT ([`DivSigningRequest`]); otherwise it is a SHAKEN one ([`SigningRequest`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signing {
    /// A call's SHAKEN PASSporT.
    Shaken(SigningRequest),
    /// A forward's div PASSporT.
    Div(DivSigningRequest),
}

impl Signing {
    /// Parses a request body of either kind.
    pub fn parse(body: &[u8]) -> Result<Self, ServiceException> {
        let o = body_object(body, "signingRequest")?;
        match opt_str(&o, "ppt", 16)? {
            Some(vouch_shaken::passport::PPT_DIV) => DivSigningRequest::from_object(&o).map(Self::Div),
            _ => SigningRequest::from_object(&o).map(Self::Shaken),
        }
    }
}

/// `POST /stir/v1/signing` for a forward (RFC 8946):
/// `{"signingRequest":{"ppt":"div","identity":"<the call's SHAKEN Identity header>","diversions":[…],"dest":{"tn":[new target]},"div":{"tn":number diverted from},"orig":{"tn"},"iat"}}`.
/// The call's SHAKEN Identity header is required (vouch verifies it and takes `orig` and
/// `origid` from it), with the div headers of earlier forwards when there were any;
/// `orig`, when given, must be the PASSporT's; `attest` and `iat` are not read (a div is
/// signed now).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DivSigningRequest {
    /// The call's SHAKEN Identity header value.
    pub identity: String,
    /// The div Identity header values of earlier forwards (at most 5).
    pub diversions: Vec<String>,
    /// The calling number, when given.
    pub orig: Option<Tn>,
    /// The new target.
    pub dest: Tn,
    /// The number the call was sent to and is diverted from.
    pub div: Tn,
}

impl DivSigningRequest {
    fn from_object(o: &Map<String, Value>) -> Result<Self, ServiceException> {
        let identity = identity_value(o, "must be the call's SHAKEN Identity header, a string")?;
        let diversions = identity_list(o, "diversions")?;
        let orig = opt_tn(o, "orig")?;
        let dest = match dest_tns(o, "dest")?.as_slice() {
            [one] => one.clone(),
            _ => return Err(ServiceException::invalid("dest.tn", "a forward has one new target")),
        };
        let div = orig_tn(o, "div")?;
        Ok(Self { identity, diversions, orig, dest, div })
    }
}

/// The required `identity` member: an Identity header value, not blank, at most a body long;
/// `what` says what it must be otherwise.
fn identity_value(o: &Map<String, Value>, what: &str) -> Result<String, ServiceException> {
    match required(o, "identity")? {
        Value::String(s) if !s.trim().is_empty() && s.len() <= MAX_BODY => Ok(s.clone()),
        _ => Err(ServiceException::invalid("identity", what)),
    }
}

/// An optional `{"tn": "…"}` member ([`orig_tn`] when present).
fn opt_tn(o: &Map<String, Value>, field: &str) -> Result<Option<Tn>, ServiceException> {
    match o.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => orig_tn(o, field).map(Some),
    }
}

/// An optional array of at most 5 Identity header values (`diversions`).
fn identity_list(o: &Map<String, Value>, name: &str) -> Result<Vec<String>, ServiceException> {
    match o.get(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) if items.len() <= 5 => items
            .iter()
            .map(|v| match v {
                Value::String(s) if !s.trim().is_empty() => Ok(s.clone()),
                _ => Err(ServiceException::invalid(name, "must hold div Identity header values, strings")),
            })
            .collect(),
        Some(_) => Err(ServiceException::invalid(name, "must be an array of at most 5 div Identity header values")),
    }
}

/// The answer to a [`DivSigningRequest`]: `{"signingResponse":{"identity":"…;ppt=div","vouch":{"origid"}}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DivSigningResponse {
    /// The div Identity header value.
    pub identity: String,
    /// The origid the forward is recorded under.
    pub origid: String,
}

impl DivSigningResponse {
    /// `{"signingResponse":{"identity":…, "vouch":{"origid":…}}}`.
    pub fn to_json(&self) -> Value {
        json!({ "signingResponse": { "identity": self.identity, "vouch": { "origid": self.origid } } })
    }
}

/// The signing response: the Identity header, and (vouch's additions) what was signed and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningResponse {
    /// The Identity header value.
    pub identity: String,
    /// The attestation signed.
    pub attest: Attestation,
    /// The attestation asked for.
    pub requested: Attestation,
    /// Why the registry supports `attest` (and not more).
    pub reason: String,
    /// The `origid` signed.
    pub origid: String,
}

impl SigningResponse {
    /// `{"signingResponse":{"identity":…, "vouch":{…}}}`.
    pub fn to_json(&self) -> Value {
        json!({ "signingResponse": {
            "identity": self.identity,
            "vouch": {
                "attest": self.attest.as_str(),
                "requestedAttest": self.requested.as_str(),
                "downgraded": self.attest > self.requested,
                "reason": self.reason,
                "origid": self.origid,
            }
        }})
    }
}

/// `POST /stir/v1/verification`:
/// `{"verificationRequest":{"from":{"tn"},"to":{"tn":[…]},"time","identity"}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationRequest {
    /// The call's calling number (SIP From / P-Asserted-Identity).
    pub from: Tn,
    /// The call's called numbers.
    pub to: Vec<Tn>,
    /// When the call arrived, Unix seconds.
    pub time: i64,
    /// The Identity header value.
    pub identity: String,
    /// vouch's addition, `callId`: the call's SIP Call-ID. The same PASSporT presented with
    /// two different call ids (or twice without one) within its lifetime is a replay.
    pub call_id: Option<String>,
    /// vouch's addition, `upstream`: the provider that handed the call over (its FRN or vouch
    /// provider id), checked against the Robocall Mitigation Database.
    pub upstream: Option<String>,
    /// vouch's addition, `diversions`: the call's diversion Identity header values (RFC 8946,
    /// `ppt=div`), in the order received, when it was forwarded on the way (at most 5).
    pub diversions: Vec<String>,
    /// vouch's addition, `target`: `{"tn": …}`, the number the call is being sent to (the SIP
    /// Request-URI's) when a forward changed it and left `to` (the To header) as it was.
    pub target: Option<Tn>,
}

impl VerificationRequest {
    /// Parses a request body (E1: a missing parameter is SVC4001; E2: a bad value SVC4005).
    pub fn parse(body: &[u8]) -> Result<Self, ServiceException> {
        let o = body_object(body, "verificationRequest")?;
        let from = orig_tn(&o, "from")?;
        let to = dest_tns(&o, "to")?;
        let time = int(&o, "time")?;
        let identity = identity_value(&o, "must be the Identity header value, a string")?;
        let call_id = opt_str(&o, "callId", 256)?.map(str::to_owned);
        let upstream = opt_str(&o, "upstream", 64)?.map(str::to_owned);
        let diversions = identity_list(&o, "diversions")?;
        let target = opt_tn(&o, "target")?;
        Ok(Self { from, to, time, identity, call_id, upstream, diversions, target })
    }
}

/// Why a verification did not pass, in the standard's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The ATIS-1000082 case (`E3`…`E19`), or vouch's own (`RMD`, `REPLAY`).
    pub case: &'static str,
    /// The SIP response code (`reasoncode`).
    pub code: u16,
    /// The SIP reason phrase (`reasontext`).
    pub text: &'static str,
    /// What exactly failed (`reasondesc`).
    pub desc: String,
}

/// The ATIS-1000082 case of a verification failure (E4-E19). E1 and E2 are service exceptions;
/// E3 is the request's own `time` ([`stale_request`]).
pub fn atis_case(e: &ShakenError) -> &'static str {
    match e {
        ShakenError::CompactForm => "E4",
        ShakenError::WrongPpt { .. } => "E13",
        ShakenError::IdentityHeader(_) => "E5",
        ShakenError::MissingInfo(_) => "E6",
        ShakenError::BadInfo(_) => "E7",
        ShakenError::MissingHeaderParameter(_) => "E9",
        ShakenError::InfoMismatch { .. } => "E10",
        ShakenError::UnsupportedType(_) => "E11",
        ShakenError::UnsupportedAlgorithm(_) => "E12",
        ShakenError::BadAttest(_) => "E19",
        ShakenError::Malformed { .. } | ShakenError::Claim { .. } => "E14",
        ShakenError::Stale { .. } => "E15",
        ShakenError::NumberMismatch { .. } => "E16",
        ShakenError::Chain(_)
        | ShakenError::Revoked { .. }
        | ShakenError::Certificate(_)
        | ShakenError::TnAuthList(_)
        | ShakenError::Key(_) => "E17",
        ShakenError::BadSignature => "E18",
        _ => "E14",
    }
}

impl Failure {
    /// The failure for a verification error.
    pub fn from_shaken(e: &ShakenError) -> Self {
        let r = e.sip_reason();
        Self { case: atis_case(e), code: r.code, text: r.phrase, desc: e.to_string() }
    }

    /// E8: the certificate at `info` could not be fetched.
    pub fn unreachable_certificate(detail: impl Into<String>) -> Self {
        Self { case: "E8", code: 436, text: "Bad Identity Info", desc: detail.into() }
    }
}

/// E3: the request's `time` is outside the window around the verifier's clock.
pub fn stale_request(time: i64, now: i64, window: i64) -> Option<Failure> {
    let age = now.saturating_sub(time);
    (age.saturating_abs() > window).then(|| Failure {
        case: "E3",
        code: 403,
        text: "Stale Date",
        desc: format!("the request time {time} is {age} s from the verifier's clock; the window is {window} s"),
    })
}

/// The verification response.
#[derive(Debug, Clone, PartialEq)]
pub struct VerificationResponse {
    /// The verstat to attach to the call.
    pub verstat: Verstat,
    /// Why the call should be refused or marked, when it should.
    pub failure: Option<Failure>,
    /// vouch's additions: what was verified (attest, origid, signer SPC and provider, RMD
    /// standing, replay, profile warnings), as a JSON object.
    pub details: Map<String, Value>,
}

impl VerificationResponse {
    /// `{"verificationResponse":{"verstat":…}}`, with `reasoncode`, `reasontext` and
    /// `reasondesc` on failure, and vouch's additions under `vouch`.
    pub fn to_json(&self) -> Value {
        let mut r = Map::new();
        if let Some(f) = &self.failure {
            r.insert("reasoncode".into(), f.code.into());
            r.insert("reasontext".into(), f.text.into());
            r.insert("reasondesc".into(), f.desc.clone().into());
        }
        r.insert("verstat".into(), self.verstat.as_str().into());
        let mut details = self.details.clone();
        if let Some(f) = &self.failure {
            details.insert("case".into(), f.case.into());
        }
        if !details.is_empty() {
            r.insert("vouch".into(), Value::Object(details));
        }
        json!({ "verificationResponse": r })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signing_request_parses_and_names_what_is_wrong() {
        let r = SigningRequest::parse(
            br#"{"signingRequest":{"attest":"A","dest":{"tn":["12355551212"]},"iat":1632412033,
                "orig":{"tn":"12155551212"},"origid":"de305d54-75b4-431b-adb2-eb6b9e546014","ppt":"shaken"}}"#,
        )
        .unwrap();
        assert_eq!(r.attest, Attestation::A);
        assert_eq!(r.orig.as_str(), "12155551212");
        assert_eq!(r.dest[0].as_str(), "12355551212");
        assert_eq!(r.origid.as_deref(), Some("de305d54-75b4-431b-adb2-eb6b9e546014"));
        let cases: [(&[u8], &str, &str); 8] = [
            (b"", "SVC4000", ""),
            (b"{", "SVC4006", ""),
            (b"[]", "SVC4006", ""),
            (br#"{"other":{}}"#, "SVC4001", "signingRequest"),
            (br#"{"signingRequest":{"orig":{"tn":"1"},"dest":{"tn":["2"]},"iat":1}}"#, "SVC4001", "attest"),
            (
                br#"{"signingRequest":{"attest":"D","orig":{"tn":"1"},"dest":{"tn":["2"]},"iat":1}}"#,
                "SVC4005",
                "attest",
            ),
            (
                br#"{"signingRequest":{"attest":"A","orig":{"tn":"x"},"dest":{"tn":["2"]},"iat":1}}"#,
                "SVC4005",
                "orig.tn",
            ),
            (br#"{"signingRequest":{"attest":"A","orig":{"tn":"1"},"dest":{"tn":["2"]},"iat":"1"}}"#, "SVC4005", "iat"),
        ];
        for (body, id, var) in cases {
            let e = SigningRequest::parse(body).unwrap_err();
            assert_eq!(e.message_id(), id, "{}", String::from_utf8_lossy(body));
            if !var.is_empty() {
                assert_eq!(e.variables()[0], var);
            }
        }
    }

    #[test]
    fn verification_request_and_exception_json() {
        let r = VerificationRequest::parse(
            br#"{"verificationRequest":{"from":{"tn":"12355551212"},"to":{"tn":["12155551212"]},"time":1632413071,"identity":"a.b.c;info=<https://x/>"}}"#,
        )
        .unwrap();
        assert_eq!(r.time, 1632413071);
        let e =
            VerificationRequest::parse(br#"{"verificationRequest":{"from":{"tn":"1"},"to":{"tn":["2"]},"time":1}}"#)
                .unwrap_err();
        assert_eq!(
            e.to_json(),
            json!({"requestError":{"serviceException":{"messageId":"SVC4001","text":"Error: Missing mandatory parameter '%1'.","variables":["identity"]}}})
        );
        assert_eq!(e.http_status(), 400);
        let p = ServiceException::MethodNotAllowed("GET".into());
        assert_eq!(p.http_status(), 405);
        assert!(p.to_json()["requestError"]["policyException"].is_object());
    }

    #[test]
    fn media_types() {
        assert!(check_content_type(Some("application/json; charset=utf-8")).is_ok());
        assert_eq!(check_content_type(Some("text/plain")).unwrap_err().http_status(), 415);
        assert_eq!(check_content_type(None).unwrap_err().http_status(), 415);
        assert!(check_accept(None).is_ok());
        assert!(check_accept(Some("text/html, application/json;q=0.9")).is_ok());
        assert_eq!(check_accept(Some("application/xml")).unwrap_err().http_status(), 406);
        // A weight of zero means "not acceptable"; the most specific matching range decides.
        for refused in [
            "application/json;q=0",
            "application/json; q=0.000",
            "application/json;q=0, */*",
            "*/*;q=0",
            "application/*;q=0, text/html",
            "application/json;q=2",
        ] {
            assert_eq!(check_accept(Some(refused)).unwrap_err().http_status(), 406, "{refused}");
        }
        for accepted in [
            "application/json;q=0.001",
            "application/json;Q=1.000",
            "*/*;q=0, application/json",
            "application/*;q=0, application/json;q=0.5",
            "application/json;charset=utf-8",
            "APPLICATION/JSON",
        ] {
            assert!(check_accept(Some(accepted)).is_ok(), "{accepted}");
        }
        assert_eq!(
            (qvalue("0"), qvalue("0.5"), qvalue("1"), qvalue("1.0")),
            (Some(0), Some(500), Some(1000), Some(1000))
        );
        assert_eq!((qvalue("1.5"), qvalue("0.0001"), qvalue(""), qvalue("x")), (None, None, None, None));
    }

    #[test]
    fn uuids() {
        let u = uuid_v4([0xff; 16]);
        assert!(is_uuid(&u));
        assert_eq!(&u[14..15], "4");
        assert_eq!(uuid_v4([0; 16]), "00000000-0000-4000-8000-000000000000");
        // RFC 9562 appendix A.6: 2022-02-22T19:22:22Z is 0x017F22E279B0 ms.
        let v7 = uuid_v7(0x017F_22E2_79B0, [0xff; 16]);
        assert_eq!(v7, "017f22e2-79b0-7fff-bfff-ffffffffffff");
        assert!(is_uuid(&v7));
        assert!(uuid_v7(1_800_000_000_000, [0xff; 16]) < uuid_v7(1_800_000_000_001, [0; 16]), "they sort by time");
        assert!(!is_uuid("de305d54-75b4-431b-adb2-eb6b9e54601"));
    }

    #[test]
    fn every_verification_error_has_its_case() {
        let cases = [
            (ShakenError::CompactForm, "E4", 438),
            (ShakenError::IdentityHeader("ppt".into()), "E5", 438),
            (ShakenError::MissingInfo("x".into()), "E6", 436),
            (ShakenError::BadInfo("x".into()), "E7", 436),
            (ShakenError::MissingHeaderParameter("x5u"), "E9", 436),
            (ShakenError::InfoMismatch { info: "a".into(), x5u: "b".into() }, "E10", 436),
            (ShakenError::UnsupportedType("jwt".into()), "E11", 437),
            (ShakenError::UnsupportedAlgorithm("RS256".into()), "E12", 437),
            (ShakenError::WrongPpt { expected: "shaken", found: "div".into() }, "E13", 438),
            (ShakenError::Malformed { part: "payload", detail: "x".into() }, "E14", 438),
            (ShakenError::Stale { iat: 0, now: 100, age: 100, window: 60 }, "E15", 403),
            (ShakenError::NumberMismatch { claim: "orig.tn", passport: "1".into(), call: "2".into() }, "E16", 438),
            (ShakenError::Chain("x".into()), "E17", 437),
            (ShakenError::BadSignature, "E18", 438),
            (ShakenError::BadAttest("x".into()), "E19", 438),
            (ShakenError::Claim { claim: "attest", problem: "is missing".into() }, "E14", 438),
        ];
        for (e, case, code) in cases {
            let f = Failure::from_shaken(&e);
            assert_eq!((f.case, f.code), (case, code), "{e}");
        }
        // As the parsers produce them.
        let case = |e: ShakenError| Failure::from_shaken(&e).case;
        let t = "eyJhbGciOiJFUzI1NiJ9.e30.c2ln";
        assert_eq!(case(vouch_shaken::IdentityHeader::parse(t).unwrap_err()), "E6");
        assert_eq!(case(vouch_shaken::IdentityHeader::parse(&format!("{t};ppt=shaken")).unwrap_err()), "E6");
        for info in ["info=https://a.example/c.pem", "info=<>", "info=<no-scheme>", "info"] {
            assert_eq!(case(vouch_shaken::IdentityHeader::parse(&format!("{t};{info}")).unwrap_err()), "E7", "{info}");
        }
        assert_eq!(case("D".parse::<Attestation>().unwrap_err()), "E19");

        assert_eq!(stale_request(0, 61, 60).map(|f| f.code), Some(403));
        assert!(stale_request(0, 60, 60).is_none());
        assert!(stale_request(i64::MIN, 100, 60).is_some());
        assert!(stale_request(i64::MAX, -100, 60).is_some());
    }
}
