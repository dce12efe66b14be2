//! Safe fetching of SHAKEN certificate chains from a PASSporT's `x5u` URL.
//!
//! The I/O adapter a STIR/SHAKEN verifier uses to get the signer's certificates (the protocol
//! checks live in `vouch-shaken`, which does no I/O). The x5u comes from the caller's PASSporT,
//! i.e. from anyone who can place a call, so fetching it is an SSRF and abuse surface:
//!
//! - [`check_x5u_url`] (pure, fuzzed): https only; port 443 or 8443; no userinfo, query or
//!   fragment; IP-literal hosts outside special-purpose ranges ([`ranges`]).
//! - [`CertFetcher::fetch`]: resolves a host name once, refuses it if *any* address is
//!   special-purpose, and connects only to those checked addresses (DNS-rebinding safe); no
//!   proxies, no redirects (a 3xx is [`FetchError::Redirect`]); status 200 only; body capped at
//!   [`FetchPolicy::max_bytes`] while streaming; connect and total timeouts; at least one PEM
//!   `CERTIFICATE` block, each a DER X.509 certificate, kept in order.
//! - A cache bounded in entries and bytes: `Cache-Control: max-age` honoured, but never less
//!   than 24 h (ATIS-1000074) and never past the earliest `notAfter` of the leaf and the
//!   certificates it chains to; failures remembered for [`FetchPolicy::negative_cache`], and
//!   evicted before any fresh chain; concurrent calls for one URL share one request and its
//!   result (single-flight).
//! - At most [`FetchPolicy::max_in_flight_per_host`] fetches in flight per host and
//!   [`FetchPolicy::max_in_flight`] in all; further fetches queue (within the total timeout).
//! - [`FetchPolicy::allow`] exempts test networks from the address guard and the port rule.
//!
//! Every [`FetchError`] means SIP `436 Bad Identity Info` for the verifier. See `docs/X5U.md`.
//!
//! ```no_run
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! use vouch_certfetch::{CertFetcher, FetchPolicy};
//! let fetcher = CertFetcher::with_system_clock(FetchPolicy::default())?;
//! let chain = fetcher.fetch("https://cert.example.org/sp.pem").await?;
//! println!("{} certificates, cached until {}", chain.certificates.len(), chain.expires_at);
//! # Ok(()) }
//! ```

mod body;
mod error;
mod fetcher;
mod policy;
pub mod ranges;
mod x5u;

pub use body::{CacheDirective, ParsedChain, parse_cache_control, parse_pem_chain};
pub use error::{ConfigError, FetchError};
pub use fetcher::{
    CertFetcher, Clock, FetchStats, FetchWarning, FetchedChain, PEM_CHAIN_MEDIA_TYPE, client_tls_config,
};
pub use ipnet::IpNet;
pub use policy::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_BYTES, DEFAULT_MAX_IN_FLIGHT, DEFAULT_MAX_IN_FLIGHT_PER_HOST,
    DEFAULT_MAX_STALE, DEFAULT_MIN_CACHE, DEFAULT_NEGATIVE_CACHE, DEFAULT_TOTAL_TIMEOUT, FetchPolicy,
};
pub use x5u::{MAX_URL_LEN, STANDARD_PORTS, X5uHost, X5uUrl, check_x5u_url};
