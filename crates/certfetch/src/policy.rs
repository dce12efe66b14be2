//! What a [`crate::CertFetcher`] may fetch, and how much.

use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;

use crate::{FetchError, STANDARD_PORTS, ranges};

/// Limits and exceptions for fetching x5u certificate chains.
///
/// [`FetchPolicy::default`] is the production policy: no allow-list, 8 KiB, 2 s connect, 5 s
/// total, 24 h minimum cache (ATIS-1000074), 30 s negative cache, 10 000 entries, 64 MiB, at most
/// 8 fetches in flight per host and 64 in all.
#[derive(Clone, Debug)]
pub struct FetchPolicy {
    /// Networks exempt from the SSRF guard, for test networks (e.g. `127.0.0.0/8` in tests, a lab
    /// `10.20.0.0/16`). An address inside one of these may be fetched from even though it is
    /// special-purpose, and on any port. Empty in production.
    pub allow: Vec<IpNet>,
    /// Largest accepted response body, in bytes; enforced on `Content-Length` and while
    /// streaming. Default 8 KiB (Asterisk's limit; a 3-certificate P-256 chain is about 2.5 KiB).
    pub max_bytes: usize,
    /// Limit for establishing the TCP connection to one address. Default 2 s.
    pub connect_timeout: Duration,
    /// Limit for the whole fetch: resolution, connection, TLS, request, body. Default 5 s.
    pub total_timeout: Duration,
    /// Shortest time a fetched chain is cached, whatever `Cache-Control` says (ATIS-1000074: 24 h).
    /// The earliest `notAfter` of the chain still caps the lifetime.
    pub min_cache: Duration,
    /// How long a failure is remembered and returned without fetching again. Default 30 s;
    /// zero disables the negative cache.
    pub negative_cache: Duration,
    /// How long past its cache lifetime a chain may still be served when fetching it again
    /// fails (the repository is down or slow), as HTTP's `stale-if-error` does; never past the
    /// chain's `notAfter`. Default 24 h; zero disables.
    pub max_stale: Duration,
    /// Most entries (chains and remembered failures) kept in the cache. Default 10 000. When it is
    /// full, expired entries go first, then remembered failures (earliest expiry first), then the
    /// least recently used chain: failures never push a fresh chain out.
    pub max_entries: usize,
    /// Most bytes (URLs, DER certificates, bookkeeping) kept in the cache. Default 64 MiB.
    pub max_cached_bytes: usize,
    /// Most fetches in flight to one host (the URL's host name or IP literal, and port). Further
    /// fetches to that host wait, in order, for one to finish; the wait counts towards
    /// `total_timeout`. Default 8: vouch cannot be used to open many connections to one server,
    /// while a burst of distinct x5u on one repository (a cold start) is queued, not refused.
    pub max_in_flight_per_host: usize,
    /// Most fetches in flight in all, to any hosts; further fetches wait as above. Default 64.
    pub max_in_flight: usize,
    /// Extra DER trust anchors for the TLS connection, added to the Mozilla roots (webpki-roots),
    /// e.g. a test CA or a private CA of a lab certificate repository.
    pub extra_roots: Vec<Vec<u8>>,
}

/// Default [`FetchPolicy::max_bytes`]: 8 KiB.
pub const DEFAULT_MAX_BYTES: usize = 8 * 1024;
/// Default [`FetchPolicy::connect_timeout`]: 2 s.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Default [`FetchPolicy::total_timeout`]: 5 s.
pub const DEFAULT_TOTAL_TIMEOUT: Duration = Duration::from_secs(5);
/// Default [`FetchPolicy::min_cache`]: 24 h (ATIS-1000074).
pub const DEFAULT_MIN_CACHE: Duration = Duration::from_secs(24 * 3600);
/// Default [`FetchPolicy::max_stale`]: 24 h.
pub const DEFAULT_MAX_STALE: Duration = Duration::from_secs(24 * 3600);
/// Default [`FetchPolicy::negative_cache`]: 30 s.
pub const DEFAULT_NEGATIVE_CACHE: Duration = Duration::from_secs(30);
/// Default [`FetchPolicy::max_in_flight_per_host`]: 8.
pub const DEFAULT_MAX_IN_FLIGHT_PER_HOST: usize = 8;
/// Default [`FetchPolicy::max_in_flight`]: 64.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 64;

impl Default for FetchPolicy {
    fn default() -> Self {
        Self {
            allow: Vec::new(),
            max_bytes: DEFAULT_MAX_BYTES,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            total_timeout: DEFAULT_TOTAL_TIMEOUT,
            min_cache: DEFAULT_MIN_CACHE,
            negative_cache: DEFAULT_NEGATIVE_CACHE,
            max_stale: DEFAULT_MAX_STALE,
            max_entries: 10_000,
            max_cached_bytes: 64 * 1024 * 1024,
            max_in_flight_per_host: DEFAULT_MAX_IN_FLIGHT_PER_HOST,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            extra_roots: Vec::new(),
        }
    }
}

impl FetchPolicy {
    /// Whether `addr` is inside an allow-listed network. IPv4-mapped IPv6 addresses
    /// (`::ffff:a.b.c.d`) also match IPv4 networks, and vice versa.
    pub fn is_allowed(&self, addr: IpAddr) -> bool {
        crate::ranges::in_networks(&self.allow, addr)
    }

    /// The SSRF rule for one address of `host` (an IP literal or a resolved address) and the
    /// URL's port: a special-purpose address is refused unless allow-listed, and a port other
    /// than 443/8443 is allowed only towards an allow-listed address.
    pub fn check_addr(&self, host: &str, addr: IpAddr, port: u16) -> Result<(), FetchError> {
        let allowed = self.is_allowed(addr);
        if !allowed && let Some(range) = ranges::classify(addr) {
            return Err(FetchError::ForbiddenAddress { host: host.to_owned(), addr, range });
        }
        if !allowed && !STANDARD_PORTS.contains(&port) {
            return Err(FetchError::ForbiddenPort { port });
        }
        Ok(())
    }
}
