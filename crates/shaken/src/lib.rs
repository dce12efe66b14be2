//! vouch's STIR/SHAKEN core, with no I/O: bytes in, values out, values to bytes.
//!
//! - [`passport`]: PASSporT (RFC 8225) with the `shaken` (RFC 8588), `rcd` (RFC 9795) and
//!   `div` (RFC 8946) extensions: canonical encoding, ES256 signing, and strict decoding and
//!   verification over the received bytes.
//! - [`identity`]: the SIP Identity header (RFC 8224 with errata 6499).
//! - [`tnauth`]: the TNAuthList certificate extension (RFC 8226, RFC 9060 entries).
//! - [`lint`]: the SHAKEN certificate profile (ATIS-1000080, US SHAKEN CP), strict and lenient.
//!
//! Time is always passed in (an injectable clock): nothing here reads the system time.

pub mod cert;
pub mod chain;
pub mod devca;
pub mod identity;
mod json;
pub mod lint;
pub mod passport;
pub mod tnauth;
pub mod verify;

pub use cert::Certificate;
pub use chain::{Crl, TrustStore, ValidatedChain};
pub use identity::IdentityHeader;
pub use lint::{CertKind, LintMode, LintReport, LintResult, LintStatus, RuleInfo, lint_der, lint_pem};
pub use passport::{
    Attestation, Claims, Destination, Origin, Passport, PassportHeader, RichCallData, SigningKey, Tn, VerifyingKey,
    private_key_der,
};
pub use tnauth::{TN_AUTH_LIST_OID, TnAuthList, TnEntry};
pub use verify::{
    Diversion, DiversionChain, MAX_DIVERSIONS, TrustedSigner, Verified, VerifyOptions, Verstat, decode_div_identity,
    decode_identity, last_sent, lint_path, verify_div_with_signer, verify_identity, verify_with_signer,
};

/// Everything that can go wrong in this crate. Each failure of a received Identity header or
/// PASSporT maps to the SIP response a verifier gives ([`ShakenError::sip_reason`], RFC 8224
/// section 6.2.2 and the ATIS-1000082 error table).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShakenError {
    /// A TNAuthList that does not decode or does not meet RFC 8226.
    #[error("TNAuthList: {0}")]
    TnAuthList(String),
    /// Bytes that are not an X.509 certificate (or PEM without one).
    #[error("certificate: {0}")]
    Certificate(String),
    /// The certificate chain does not validate to the trust list.
    #[error("certificate chain: {0}")]
    Chain(String),
    /// A certificate on the path is revoked.
    #[error("{subject} is revoked by the CRL of {crl_issuer}")]
    Revoked {
        /// The revoked certificate's subject.
        subject: String,
        /// Who signed the CRL.
        crl_issuer: String,
    },
    /// A key that cannot be used (not P-256, not PKCS#8/SEC1, not a point).
    #[error("key: {0}")]
    Key(String),
    /// An Identity header that does not parse.
    #[error("Identity header: {0}")]
    IdentityHeader(String),
    /// The Identity header has no `info` parameter (ATIS-1000082 E6).
    #[error("Identity header: {0}")]
    MissingInfo(String),
    /// The Identity header's `info` is not an absolute URI in angle brackets (ATIS-1000082 E7).
    #[error("Identity header: {0}")]
    BadInfo(String),
    /// The header's `info` and the PASSporT's `x5u` differ.
    #[error("the Identity header's info <{info}> is not the PASSporT's x5u <{x5u}>")]
    InfoMismatch {
        /// The `info` parameter.
        info: String,
        /// The PASSporT header's `x5u`.
        x5u: String,
    },
    /// The compact form (`..signature`), which SHAKEN forbids (ATIS-1000074 section 5.3.3).
    #[error("the PASSporT is in compact form, which SHAKEN does not allow")]
    CompactForm,
    /// Not three base64url parts, bad base64url, or not a JSON object.
    #[error("malformed PASSporT {part}: {detail}")]
    Malformed {
        /// `header`, `payload`, `signature` or `token`.
        part: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// A required PASSporT header parameter is missing or not a string.
    #[error("the PASSporT header has no {0} string")]
    MissingHeaderParameter(&'static str),
    /// `typ` is not `passport`.
    #[error("PASSporT typ {0:?} is not \"passport\"")]
    UnsupportedType(String),
    /// `alg` is not `ES256`.
    #[error("PASSporT alg {0:?} is not \"ES256\"")]
    UnsupportedAlgorithm(String),
    /// The PASSporT type (`ppt`, in the header or the Identity parameter) is not the one needed.
    #[error("ppt {found:?} where {expected:?} is required")]
    WrongPpt {
        /// What the verifier needs.
        expected: &'static str,
        /// What was there (empty when absent).
        found: String,
    },
    /// A claim is missing or has the wrong type or value.
    #[error("claim {claim}: {problem}")]
    Claim {
        /// The claim's name (`orig.tn`, `dest.tn`, `iat`, `attest`…).
        claim: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// `attest` is there but is not `"A"`, `"B"` or `"C"` (ATIS-1000082 E19; a missing
    /// `attest` is a [`ShakenError::Claim`], E14).
    #[error("claim attest: {0}")]
    BadAttest(String),
    /// The ES256 signature does not verify with the certificate's key.
    #[error("the signature does not verify with the certificate's key")]
    BadSignature,
    /// `iat` outside the freshness window.
    #[error("iat {iat} is {age} s from the verifier's clock ({now}); the window is {window} s")]
    Stale {
        /// The PASSporT's `iat`.
        iat: i64,
        /// The verifier's time.
        now: i64,
        /// `now - iat` (negative: in the future).
        age: i64,
        /// The allowed distance.
        window: i64,
    },
    /// The PASSporT's numbers are not the call's.
    #[error("the PASSporT's {claim} {passport} is not the call's {call}")]
    NumberMismatch {
        /// `orig.tn` or `dest.tn`.
        claim: &'static str,
        /// What the PASSporT says.
        passport: String,
        /// What the call (SIP From/P-Asserted-Identity/To or the API request) says.
        call: String,
    },
}

/// Lower-case hex (serial numbers, fingerprints).
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    out
}

/// A SIP response code and reason phrase for a verification failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SipReason {
    /// 436, 437, 438 or 403.
    pub code: u16,
    /// The RFC 8224 reason phrase.
    pub phrase: &'static str,
}

impl SipReason {
    /// 436 Bad Identity Info.
    pub const BAD_IDENTITY_INFO: Self = Self { code: 436, phrase: "Bad Identity Info" };
    /// 437 Unsupported Credential.
    pub const UNSUPPORTED_CREDENTIAL: Self = Self { code: 437, phrase: "Unsupported Credential" };
    /// 438 Invalid Identity Header.
    pub const INVALID_IDENTITY_HEADER: Self = Self { code: 438, phrase: "Invalid Identity Header" };
    /// 403 Stale Date.
    pub const STALE_DATE: Self = Self { code: 403, phrase: "Stale Date" };
}

impl ShakenError {
    /// The SIP response for this failure when it concerns a received Identity header (the
    /// ATIS-1000082 table: E6-E10 436, E11/E12/E17 437, E4/E5/E13/E14/E16/E18/E19 438,
    /// E3/E15 403).
    pub fn sip_reason(&self) -> SipReason {
        match self {
            Self::MissingInfo(_) | Self::BadInfo(_) | Self::InfoMismatch { .. } | Self::MissingHeaderParameter(_) => {
                SipReason::BAD_IDENTITY_INFO
            }
            Self::UnsupportedType(_)
            | Self::UnsupportedAlgorithm(_)
            | Self::Certificate(_)
            | Self::Chain(_)
            | Self::Revoked { .. }
            | Self::TnAuthList(_)
            | Self::Key(_) => SipReason::UNSUPPORTED_CREDENTIAL,
            Self::Stale { .. } => SipReason::STALE_DATE,
            Self::IdentityHeader(_)
            | Self::CompactForm
            | Self::Malformed { .. }
            | Self::WrongPpt { .. }
            | Self::Claim { .. }
            | Self::BadAttest(_)
            | Self::BadSignature
            | Self::NumberMismatch { .. } => SipReason::INVALID_IDENTITY_HEADER,
        }
    }
}
