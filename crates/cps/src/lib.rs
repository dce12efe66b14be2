//! Out-of-band STIR/SHAKEN with no I/O: what a Call Placement Service (ATIS-1000096,
//! ATIS-1000105) and its clients compute, bytes in, values out, time passed in.
//!
//! - [`token`]: the ES256 bearer token that authorizes a publish or a retrieval, and the
//!   digest of a publish body's `passports` (RFC 8785).
//! - [`record`]: keyed record names and vouch's privacy mode (sealed PASSporTs).
//! - [`hpke`]: HPKE (RFC 9180) base mode, DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-128-GCM.
//! - [`verdict`]: which of several held PASSporTs that verify answers a call (ambiguity).

pub mod hpke;
pub mod record;
pub mod token;
pub mod verdict;

pub use hpke::{HpkePrivateKey, HpkePublicKey};
pub use record::{Item, NamingKey, RecordName, open_passport, seal_passport};
pub use token::{Action, CpsToken, Expect, TokenClaims, passports_digest};

/// Everything that can go wrong here, each with the HTTP status a CPS answers
/// ([`CpsError::http_status`]) and a problem slug ([`CpsError::slug`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CpsError {
    /// No token, or not a compact ES256 JWS with an `x5u`.
    #[error("token: {0}")]
    Token(String),
    /// A claim missing or of the wrong form.
    #[error("token claim {claim} {problem}")]
    Claim {
        /// The claim.
        claim: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// The token's signature does not verify with its certificate.
    #[error("the token's signature does not verify with the certificate at its x5u")]
    BadSignature,
    /// The certificate at `x5u` cannot be fetched or does not validate.
    #[error("the token's certificate: {0}")]
    Certificate(String),
    /// The token is for another action.
    #[error("the token is for {token}, not {request}")]
    WrongAction {
        /// The token's action.
        token: &'static str,
        /// The request's.
        request: &'static str,
    },
    /// The token is for another CPS.
    #[error("the token's aud ({token}) is not this CPS ({cps})")]
    WrongAudience {
        /// The token's audience.
        token: String,
        /// This CPS's.
        cps: String,
    },
    /// `iat` ahead of the clock.
    #[error("the token's iat {iat} is ahead of the CPS's clock ({now})")]
    Future {
        /// The token's iat.
        iat: i64,
        /// The CPS's time.
        now: i64,
    },
    /// `iat` too old.
    #[error("the token is stale: iat {iat} is {} s before the CPS's clock ({now}); at most {freshness} s", now - iat)]
    Stale {
        /// The token's iat.
        iat: i64,
        /// The CPS's time.
        now: i64,
        /// The freshness window.
        freshness: i64,
    },
    /// `exp` passed.
    #[error("the token expired at {exp} (now {now})")]
    Expired {
        /// The token's exp.
        exp: i64,
        /// The CPS's time.
        now: i64,
    },
    /// `exp` more than 60 s after `iat`.
    #[error("the token lives from {iat} to {exp}: at most 60 s is allowed")]
    Lifetime {
        /// The token's iat.
        iat: i64,
        /// The token's exp.
        exp: i64,
    },
    /// The token was already used.
    #[error("the token's jti was already used: a token is accepted once")]
    Replay,
    /// The token's `spc` is not its certificate's.
    #[error("the token's spc {token} is not its certificate's SPC {certificate}")]
    SpcMismatch {
        /// The token's spc.
        token: String,
        /// The certificate's.
        certificate: String,
    },
    /// A retrieval of another provider's records.
    #[error("SPC {caller} may not retrieve records published for SPC {path}")]
    NotYours {
        /// The caller's SPC.
        caller: String,
        /// The path's SPC.
        path: String,
    },
    /// The token names other numbers than the path.
    #[error("the token's {claim} {token} is not the path's {path}")]
    NumberMismatch {
        /// orig or dest.
        claim: &'static str,
        /// The token's number.
        token: String,
        /// The path's.
        path: String,
    },
    /// A PASSporT in the clear that does not verify with the certificate chain at its own
    /// `x5u` (chain, SHAKEN profile, revocation, signature, SHAKEN claims).
    #[error("passports[{index}] does not verify: {problem}")]
    Unverified {
        /// Its position in the body's `passports` (from 0).
        index: usize,
        /// Why.
        problem: String,
    },
    /// The body's passports are not those the token covers.
    #[error("the body's passports do not match the token's passports digest")]
    DigestMismatch,
    /// A request body or path that is not acceptable.
    #[error("{0}")]
    Body(String),
    /// A key that cannot be used.
    #[error("key: {0}")]
    Key(String),
    /// A sealed item that is malformed or does not open.
    #[error("sealed PASSporT: {0}")]
    Sealed(String),
    /// A cryptographic primitive failed.
    #[error("cryptography failed: {0}")]
    Crypto(&'static str),
    /// No PASSporT is held for the record asked for (none published, or expired).
    #[error("no PASSporT is held for this call (none was published, or it expired)")]
    NotFound,
    /// The CPS cannot take the request now.
    #[error("{0}")]
    Unavailable(String),
}

impl CpsError {
    /// The HTTP status a CPS answers: 401 for tokens that do not authenticate (RFC 6750
    /// `invalid_token`), 403 for authenticated callers asking for what the token or their SPC
    /// does not cover, 400 for bodies, 500 for internal failures.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::Token(_)
            | Self::Claim { .. }
            | Self::BadSignature
            | Self::Certificate(_)
            | Self::WrongAudience { .. }
            | Self::Future { .. }
            | Self::Stale { .. }
            | Self::Expired { .. }
            | Self::Lifetime { .. }
            | Self::Replay => 401,
            Self::WrongAction { .. }
            | Self::SpcMismatch { .. }
            | Self::NotYours { .. }
            | Self::NumberMismatch { .. }
            | Self::DigestMismatch => 403,
            Self::Body(_) | Self::Key(_) | Self::Sealed(_) | Self::Unverified { .. } => 400,
            Self::NotFound => 404,
            Self::Crypto(_) => 500,
            Self::Unavailable(_) => 503,
        }
    }

    /// The problem type slug (`urn:vouch:problem:cps-<slug>`).
    pub fn slug(&self) -> &'static str {
        match self {
            Self::Token(_) => "cps-token",
            Self::Claim { .. } => "cps-claim",
            Self::BadSignature => "cps-signature",
            Self::Certificate(_) => "cps-certificate",
            Self::WrongAction { .. } => "cps-action",
            Self::WrongAudience { .. } => "cps-audience",
            Self::Future { .. } => "cps-future",
            Self::Stale { .. } => "cps-stale",
            Self::Expired { .. } => "cps-expired",
            Self::Lifetime { .. } => "cps-lifetime",
            Self::Replay => "cps-replay",
            Self::SpcMismatch { .. } => "cps-spc",
            Self::NotYours { .. } => "cps-not-yours",
            Self::NumberMismatch { .. } => "cps-number",
            Self::DigestMismatch => "cps-digest",
            Self::Unverified { .. } => "cps-passport",
            Self::Body(_) => "cps-body",
            Self::Key(_) => "cps-key",
            Self::Sealed(_) => "cps-sealed",
            Self::NotFound => "cps-not-found",
            Self::Crypto(_) => "internal",
            Self::Unavailable(_) => "cps-unavailable",
        }
    }
}
