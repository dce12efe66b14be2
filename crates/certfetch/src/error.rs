//! Why an x5u certificate could not be fetched.

use std::net::IpAddr;

use crate::ranges::SpecialRange;

/// Why fetching the certificate chain at an x5u URL failed.
///
/// **Every variant means SIP `436 Bad Identity Info`** for the verifier (RFC 8224 §6.2.2: the
/// URI in the `info` parameter / `x5u` cannot be dereferenced or its contents are unusable); see
/// [`FetchError::SIP_STATUS`]. The variants exist so that logs, metrics ([`FetchError::kind`]) and
/// the `Reason` header text can say exactly what was wrong.
///
/// The type is `Clone` because one failed fetch is handed to every caller that was waiting for
/// it (single-flight) and to the callers served from the negative cache.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The x5u is not an absolute URL, has no host, or is longer than [`crate::MAX_URL_LEN`].
    #[error("x5u is not a usable URL: {0}")]
    BadUrl(String),
    /// The scheme is not `https`.
    #[error("x5u scheme must be https, not {scheme:?}")]
    NotHttps {
        /// The scheme that was given.
        scheme: String,
    },
    /// The port is neither 443 nor 8443 (and the address is not allow-listed).
    #[error("x5u port {port} is not allowed (only 443 and 8443)")]
    ForbiddenPort {
        /// The port that was given.
        port: u16,
    },
    /// The URL has a userinfo part (`user:password@`).
    #[error("x5u must not contain userinfo (user:password@)")]
    Userinfo,
    /// The URL has a query part (`?…`), even an empty one.
    #[error("x5u must not contain a query (?…)")]
    Query,
    /// The URL has a fragment (`#…`), even an empty one.
    #[error("x5u must not contain a fragment (#…)")]
    Fragment,
    /// The host is, or resolves to, a special-purpose address (SSRF guard) that is not allow-listed.
    #[error("x5u host {host} is or resolves to {addr}, which is in the special-purpose range {range}")]
    ForbiddenAddress {
        /// The host as written in the URL.
        host: String,
        /// The refused address.
        addr: IpAddr,
        /// The range it is in.
        range: SpecialRange,
    },
    /// The host name could not be resolved, or resolved to no address.
    #[error("could not resolve x5u host {host}: {reason}")]
    Resolve {
        /// The host name.
        host: String,
        /// The resolver's error.
        reason: String,
    },
    /// The TCP connection could not be established.
    #[error("could not connect to the x5u server: {0}")]
    Connect(String),
    /// The TLS handshake failed (untrusted certificate, wrong name, protocol error…).
    #[error("TLS with the x5u server failed: {0}")]
    Tls(String),
    /// A timeout expired.
    #[error("x5u fetch timed out: {phase} took longer than {limit_ms} ms")]
    Timeout {
        /// `connect` (TCP connection) or `fetch` (the whole fetch: resolution, connection, TLS, body).
        phase: &'static str,
        /// The limit, in milliseconds.
        limit_ms: u64,
    },
    /// The server answered with a redirect; redirects are never followed (ATIS-1000074).
    #[error(
        "x5u server answered {status} redirect to {}; redirects are not followed",
        .location.as_deref().unwrap_or("(no Location header)")
    )]
    Redirect {
        /// The 3xx status.
        status: u16,
        /// The `Location` header, if present.
        location: Option<String>,
    },
    /// The server answered with a status other than 200 (and not a redirect).
    #[error("x5u server answered HTTP {0}, expected 200")]
    Status(u16),
    /// The body is larger than the size cap (checked on `Content-Length` and while streaming).
    #[error("x5u response body exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The cap, in bytes.
        limit: usize,
    },
    /// Any other HTTP-level failure (malformed response, connection reset while reading…).
    #[error("HTTP exchange with the x5u server failed: {0}")]
    Http(String),
    /// The body contains no PEM `CERTIFICATE` block.
    #[error("x5u response contains no PEM CERTIFICATE block")]
    NoCertificate,
    /// A PEM block is malformed or a `CERTIFICATE` block is not one DER X.509 certificate.
    #[error("x5u response certificate #{index} is unusable: {reason}")]
    BadCertificate {
        /// Zero-based position of the PEM block in the response.
        index: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The background fetch ended without a result (the runtime shut down during the fetch).
    #[error("x5u fetch was aborted before completing")]
    Aborted,
}

impl FetchError {
    /// The SIP response a verifier gives for any x5u failure: `436 Bad Identity Info`.
    pub const SIP_STATUS: (u16, &'static str) = (436, "Bad Identity Info");

    /// A short stable name of the variant, for metrics labels and logs (e.g. `forbidden_address`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::BadUrl(_) => "bad_url",
            Self::NotHttps { .. } => "not_https",
            Self::ForbiddenPort { .. } => "forbidden_port",
            Self::Userinfo => "userinfo",
            Self::Query => "query",
            Self::Fragment => "fragment",
            Self::ForbiddenAddress { .. } => "forbidden_address",
            Self::Resolve { .. } => "resolve",
            Self::Connect(_) => "connect",
            Self::Tls(_) => "tls",
            Self::Timeout { .. } => "timeout",
            Self::Redirect { .. } => "redirect",
            Self::Status(_) => "status",
            Self::TooLarge { .. } => "too_large",
            Self::Http(_) => "http",
            Self::NoCertificate => "no_certificate",
            Self::BadCertificate { .. } => "bad_certificate",
            Self::Aborted => "aborted",
        }
    }
}

/// Why a [`crate::CertFetcher`] could not be built from a [`crate::FetchPolicy`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// An entry of `extra_roots` is not a usable DER trust anchor.
    #[error("extra trust anchor #{index} is unusable: {reason}")]
    BadRoot {
        /// Zero-based position in `extra_roots`.
        index: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A limit is zero or otherwise unusable.
    #[error("fetch policy: {0}")]
    Policy(String),
    /// The TLS configuration could not be built.
    #[error("TLS configuration: {0}")]
    Tls(String),
}
