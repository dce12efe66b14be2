//! The fetcher: SSRF-checked resolution, one HTTPS GET, the cache and single-flight.
//!
//! The cache and the single-flight are written here rather than taken from a crate (moka's
//! `try_get_with` coalesces too) because expiry must follow the *injected* clock (moka expires on
//! its own `Instant` clock, so a test could not move time by 25 hours), failures must be shared
//! with the waiters *and* remembered for a short time (moka does not cache errors), and the
//! byte bound must count certificates and URLs. It is a `Mutex<HashMap>` never held across an
//! `.await`; a miss spawns one task that performs the fetch and publishes the result through a
//! `tokio::sync::watch` channel that every collapsed caller waits on, so a cancelled caller never
//! cancels the fetch for the others. Eviction scans for the expired or least recently used entry
//! (O(entries) per eviction; it only happens on a miss, and misses are rare: entries live 24 h).

use std::collections::HashMap;
use std::error::Error as StdError;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use jiff::Timestamp;
use reqwest::header::{ACCEPT, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use tokio::sync::watch;

use crate::body::{self, CacheDirective};
use crate::error::{ConfigError, FetchError};
use crate::policy::FetchPolicy;
use crate::x5u::{X5uHost, X5uUrl, check_x5u_url};

/// The media type ATIS-1000080 expects for an x5u response.
pub const PEM_CHAIN_MEDIA_TYPE: &str = "application/pem-certificate-chain";

/// Bookkeeping bytes charged per cache entry on top of its URL and certificates.
const ENTRY_OVERHEAD: usize = 128;

/// The injected clock: returns the current time. Cache expiry is computed from it only.
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// A certificate chain fetched from an x5u URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchedChain {
    /// The normalised URL it was fetched from (the cache key).
    pub url: String,
    /// The DER certificates, in the order of the response (leaf first, then intermediates).
    pub certificates: Vec<Vec<u8>>,
    /// When it was fetched (injected clock).
    pub fetched_at: Timestamp,
    /// When the cache stops serving it.
    pub expires_at: Timestamp,
    /// The earliest `notAfter` of the certificates (caps `expires_at`).
    pub earliest_not_after: Timestamp,
    /// The `Content-Type` the server sent, if any.
    pub content_type: Option<String>,
    /// Deviations from ATIS-1000074/-1000080 that did not prevent use of the chain.
    pub warnings: Vec<FetchWarning>,
}

/// A deviation from the ATIS rules that is reported but does not fail the fetch.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FetchWarning {
    /// The `Content-Type` is not `application/pem-certificate-chain` (ATIS-1000080); holds what
    /// was sent.
    UnexpectedContentType(Option<String>),
    /// The response carried no recognised `Cache-Control` directive (cached for the minimum).
    NoCacheDirective,
}

/// Counters since the fetcher was created, and the cache's current size.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FetchStats {
    /// Calls answered from a fresh cached chain.
    pub hits: u64,
    /// Calls answered from a remembered failure (negative cache).
    pub negative_hits: u64,
    /// Calls that found nothing usable and started a fetch.
    pub misses: u64,
    /// Calls that waited for a fetch another call had started (single-flight).
    pub collapsed: u64,
    /// HTTP requests actually sent.
    pub network_fetches: u64,
    /// Fetches that failed, plus calls refused by [`check_x5u_url`].
    pub errors: u64,
    /// Entries now in the cache (chains and remembered failures, not fetches in flight).
    pub cached_entries: u64,
    /// Bytes now charged to the cache.
    pub cached_bytes: u64,
}

/// Fetches x5u certificate chains safely, through a bounded cache with single-flight.
///
/// Cheap to clone (an `Arc`); clones share the cache. [`CertFetcher::fetch`] must run inside a
/// Tokio runtime.
#[derive(Clone)]
pub struct CertFetcher {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for CertFetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertFetcher").field("policy", &self.inner.policy).field("stats", &self.stats()).finish()
    }
}

struct Inner {
    policy: FetchPolicy,
    clock: Clock,
    tls: rustls::ClientConfig,
    state: Mutex<State>,
    counters: Counters,
}

#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    negative_hits: AtomicU64,
    misses: AtomicU64,
    collapsed: AtomicU64,
    network_fetches: AtomicU64,
    errors: AtomicU64,
}

type Outcome = Result<Arc<FetchedChain>, FetchError>;

#[derive(Default)]
struct State {
    map: HashMap<String, Slot>,
    /// Bytes charged by `Ready` and `Failed` slots.
    bytes: usize,
    /// Entries that are `Ready` or `Failed`.
    entries: usize,
    /// Logical time for least-recently-used eviction.
    tick: u64,
}

enum Slot {
    Ready { chain: Arc<FetchedChain>, bytes: usize, last_used: u64 },
    Failed { error: FetchError, expires_at: Timestamp, bytes: usize, last_used: u64 },
    Pending(watch::Receiver<Option<Outcome>>),
}

impl Slot {
    fn charged(&self) -> Option<(usize, u64, Timestamp)> {
        match self {
            Slot::Ready { chain, bytes, last_used } => Some((*bytes, *last_used, chain.expires_at)),
            Slot::Failed { expires_at, bytes, last_used, .. } => Some((*bytes, *last_used, *expires_at)),
            Slot::Pending(_) => None,
        }
    }
}

impl State {
    fn remove(&mut self, key: &str) -> Option<Slot> {
        let slot = self.map.remove(key)?;
        if let Some((bytes, ..)) = slot.charged() {
            self.bytes -= bytes;
            self.entries -= 1;
        }
        Some(slot)
    }

    fn insert(&mut self, key: String, slot: Slot) {
        self.remove(&key);
        if let Some((bytes, ..)) = slot.charged() {
            self.bytes += bytes;
            self.entries += 1;
        }
        self.map.insert(key, slot);
    }

    /// Evict until within the bounds: expired entries first, then the least recently used.
    fn evict(&mut self, now: Timestamp, max_entries: usize, max_bytes: usize) {
        while self.entries > max_entries || self.bytes > max_bytes {
            let victim = self
                .map
                .iter()
                .filter_map(|(k, s)| s.charged().map(|(_, used, exp)| (exp > now, used, k)))
                .min_by_key(|(fresh, used, _)| (*fresh, *used))
                .map(|(.., k)| k.clone());
            match victim {
                Some(k) => {
                    self.remove(&k);
                }
                None => break,
            }
        }
    }
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    // The state is consistent after every statement that could panic, so a poisoned lock is usable.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl CertFetcher {
    /// A fetcher with `policy`, reading the time from `clock`.
    pub fn new(policy: FetchPolicy, clock: Clock) -> Result<Self, ConfigError> {
        if policy.max_bytes == 0 {
            return Err(ConfigError::Policy("max_bytes must be positive".into()));
        }
        if policy.connect_timeout.is_zero() || policy.total_timeout.is_zero() {
            return Err(ConfigError::Policy("timeouts must be positive".into()));
        }
        let tls = client_tls_config(&policy.extra_roots)?;
        Ok(Self {
            inner: Arc::new(Inner {
                policy,
                clock,
                tls,
                state: Mutex::new(State::default()),
                counters: Counters::default(),
            }),
        })
    }

    /// A fetcher with `policy` and the system clock.
    pub fn with_system_clock(policy: FetchPolicy) -> Result<Self, ConfigError> {
        Self::new(policy, Arc::new(Timestamp::now))
    }

    /// The policy this fetcher applies.
    pub fn policy(&self) -> &FetchPolicy {
        &self.inner.policy
    }

    /// The certificate chain at `url`, from the cache or fetched.
    ///
    /// Checks the URL ([`check_x5u_url`]); answers from a fresh cached chain or a remembered
    /// failure; joins a fetch of the same URL already in flight; otherwise resolves the host,
    /// refuses it if any address is special-purpose (and not allow-listed), connects only to the
    /// checked addresses, sends one GET without following redirects, reads at most
    /// `max_bytes`, and parses the PEM chain. Any error means SIP 436 for the verifier.
    pub async fn fetch(&self, url: &str) -> Result<Arc<FetchedChain>, FetchError> {
        let inner = &self.inner;
        let x5u = match check_x5u_url(url, &inner.policy) {
            Ok(u) => u,
            Err(e) => {
                inner.counters.errors.fetch_add(1, Ordering::Relaxed);
                return Err(e);
            }
        };
        let key = x5u.as_str().to_owned();
        let mut rx = {
            let mut state = lock(&inner.state);
            let now = (inner.clock)();
            state.tick += 1;
            let tick = state.tick;
            match state.map.get_mut(&key) {
                Some(Slot::Ready { chain, last_used, .. }) if chain.expires_at > now => {
                    *last_used = tick;
                    inner.counters.hits.fetch_add(1, Ordering::Relaxed);
                    return Ok(chain.clone());
                }
                Some(Slot::Failed { error, expires_at, last_used, .. }) if *expires_at > now => {
                    *last_used = tick;
                    inner.counters.negative_hits.fetch_add(1, Ordering::Relaxed);
                    return Err(error.clone());
                }
                Some(Slot::Pending(rx)) => {
                    inner.counters.collapsed.fetch_add(1, Ordering::Relaxed);
                    rx.clone()
                }
                _ => {
                    inner.counters.misses.fetch_add(1, Ordering::Relaxed);
                    let (tx, rx) = watch::channel(None);
                    state.insert(key.clone(), Slot::Pending(rx.clone()));
                    drop(state);
                    let guard = PendingGuard { inner: inner.clone(), key: Some(key) };
                    tokio::spawn(run_fetch(guard, x5u, tx));
                    rx
                }
            }
        };
        let outcome = match rx.wait_for(Option::is_some).await {
            Ok(v) => v.clone(),
            Err(_) => None,
        };
        outcome.unwrap_or(Err(FetchError::Aborted))
    }

    /// Counters and cache size.
    pub fn stats(&self) -> FetchStats {
        let c = &self.inner.counters;
        let (entries, bytes) = {
            let s = lock(&self.inner.state);
            (s.entries, s.bytes)
        };
        FetchStats {
            hits: c.hits.load(Ordering::Relaxed),
            negative_hits: c.negative_hits.load(Ordering::Relaxed),
            misses: c.misses.load(Ordering::Relaxed),
            collapsed: c.collapsed.load(Ordering::Relaxed),
            network_fetches: c.network_fetches.load(Ordering::Relaxed),
            errors: c.errors.load(Ordering::Relaxed),
            cached_entries: entries as u64,
            cached_bytes: bytes as u64,
        }
    }

    /// Drop every cached chain and remembered failure (fetches in flight are unaffected).
    pub fn clear(&self) {
        let mut s = lock(&self.inner.state);
        s.map.retain(|_, slot| matches!(slot, Slot::Pending(_)));
        s.bytes = 0;
        s.entries = 0;
    }
}

/// Removes the `Pending` slot if the fetch task ends without publishing (runtime shutdown), so
/// the next call starts a new fetch instead of waiting forever.
struct PendingGuard {
    inner: Arc<Inner>,
    key: Option<String>,
}

impl Drop for PendingGuard {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let mut s = lock(&self.inner.state);
            if matches!(s.map.get(&key), Some(Slot::Pending(_))) {
                s.remove(&key);
            }
        }
    }
}

async fn run_fetch(mut guard: PendingGuard, x5u: X5uUrl, tx: watch::Sender<Option<Outcome>>) {
    let inner = guard.inner.clone();
    let policy = &inner.policy;
    let limit = policy.total_timeout;
    let outcome = match tokio::time::timeout(limit, fetch_network(&inner, &x5u)).await {
        Ok(r) => r,
        Err(_) => Err(FetchError::Timeout { phase: "fetch", limit_ms: millis(limit) }),
    };
    let now = (inner.clock)();
    let key = guard.key.take().unwrap_or_default();
    let outcome = {
        let mut state = lock(&inner.state);
        state.remove(&key);
        state.tick += 1;
        let tick = state.tick;
        let outcome = match outcome {
            Ok(parsed) => {
                let chain = Arc::new(parsed.into_chain(key.clone(), now, policy));
                let bytes = key.len()
                    + ENTRY_OVERHEAD
                    + chain.certificates.iter().map(|c| c.len() + 24).sum::<usize>()
                    + chain.content_type.as_ref().map_or(0, String::len);
                if chain.expires_at > now && bytes <= policy.max_cached_bytes {
                    state.insert(key.clone(), Slot::Ready { chain: chain.clone(), bytes, last_used: tick });
                }
                Ok(chain)
            }
            Err(error) => {
                inner.counters.errors.fetch_add(1, Ordering::Relaxed);
                tracing::info!(url = %key, kind = error.kind(), %error, "x5u fetch failed");
                if !policy.negative_cache.is_zero() {
                    let expires_at = body::add(now, policy.negative_cache);
                    let bytes = key.len() + ENTRY_OVERHEAD;
                    state
                        .insert(key.clone(), Slot::Failed { error: error.clone(), expires_at, bytes, last_used: tick });
                }
                Err(error)
            }
        };
        state.evict(now, policy.max_entries, policy.max_cached_bytes);
        outcome
    };
    tx.send_replace(Some(outcome));
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// What one network fetch produced, before the clock turns it into a [`FetchedChain`].
struct Fetched {
    parsed: body::ParsedChain,
    directive: CacheDirective,
    content_type: Option<String>,
}

impl Fetched {
    fn into_chain(self, url: String, now: Timestamp, policy: &FetchPolicy) -> FetchedChain {
        let expires_at =
            body::expiry(now, self.directive, policy.min_cache, self.parsed.earliest_not_after, policy.negative_cache);
        let mut warnings = Vec::new();
        let media_ok = self.content_type.as_deref().is_some_and(|ct| {
            ct.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case(PEM_CHAIN_MEDIA_TYPE))
        });
        if !media_ok {
            warnings.push(FetchWarning::UnexpectedContentType(self.content_type.clone()));
        }
        if self.directive == CacheDirective::None {
            warnings.push(FetchWarning::NoCacheDirective);
        }
        FetchedChain {
            url,
            certificates: self.parsed.certificates,
            fetched_at: now,
            expires_at,
            earliest_not_after: self.parsed.earliest_not_after,
            content_type: self.content_type,
            warnings,
        }
    }
}

/// Resolve the host once and check every address; the connection is made to these only.
async fn resolve_checked(policy: &FetchPolicy, x5u: &X5uUrl) -> Result<Vec<SocketAddr>, FetchError> {
    let port = x5u.port();
    let host = match x5u.host() {
        // Already checked by `check_x5u_url`.
        X5uHost::Ip(addr) => return Ok(vec![SocketAddr::new(*addr, port)]),
        X5uHost::Domain(d) => d,
    };
    let resolved = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|e| FetchError::Resolve { host: host.clone(), reason: e.to_string() })?;
    let mut addrs: Vec<SocketAddr> = Vec::new();
    for addr in resolved {
        if !addrs.contains(&addr) {
            addrs.push(addr);
        }
    }
    if addrs.is_empty() {
        return Err(FetchError::Resolve { host: host.clone(), reason: "no addresses".into() });
    }
    // Every address must pass: refusing the host if any fails keeps a name that mixes public and
    // internal addresses from reaching the internal one on a retry or a happy-eyeballs race.
    for addr in &addrs {
        policy.check_addr(host, addr.ip(), port)?;
    }
    Ok(addrs)
}

/// A resolver that resolves nothing: every host the client may contact is pinned with
/// `resolve_to_addrs` to addresses already checked, so any other lookup is a bug and fails.
struct NoResolver;

impl reqwest::dns::Resolve for NoResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let msg = format!("refusing unchecked resolution of {}", name.as_str());
        Box::pin(async move { Err(msg.into()) })
    }
}

async fn fetch_network(inner: &Inner, x5u: &X5uUrl) -> Result<Fetched, FetchError> {
    let policy = &inner.policy;
    let addrs = resolve_checked(policy, x5u).await?;
    // One client per fetch: it pins this host to the checked addresses (no second resolution,
    // so DNS rebinding cannot swap them) and ignores proxy environment variables (a proxy would
    // make the guard moot). Fetches are rare (24 h cache), so the lost connection reuse is moot.
    let mut builder = reqwest::Client::builder()
        .use_preconfigured_tls(inner.tls.clone())
        .https_only(true)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(policy.connect_timeout)
        .pool_max_idle_per_host(0)
        .dns_resolver(Arc::new(NoResolver))
        .user_agent(concat!("vouch-certfetch/", env!("CARGO_PKG_VERSION")));
    if let X5uHost::Domain(d) = x5u.host() {
        builder = builder.resolve_to_addrs(d, &addrs);
    }
    let client = builder.build().map_err(|e| FetchError::Http(format!("building the client: {}", chain(&e))))?;
    inner.counters.network_fetches.fetch_add(1, Ordering::Relaxed);
    let mut response = client
        .get(x5u.url().clone())
        .header(ACCEPT, PEM_CHAIN_MEDIA_TYPE)
        .send()
        .await
        .map_err(|e| map_reqwest(&e, policy))?;
    let status = response.status();
    if status.is_redirection() {
        let location = response.headers().get(LOCATION).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        return Err(FetchError::Redirect { status: status.as_u16(), location });
    }
    if status != reqwest::StatusCode::OK {
        return Err(FetchError::Status(status.as_u16()));
    }
    let limit = policy.max_bytes;
    let declared =
        response.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(FetchError::TooLarge { limit });
    }
    let directive =
        body::parse_cache_control(response.headers().get_all(CACHE_CONTROL).iter().filter_map(|v| v.to_str().ok()));
    let content_type = response.headers().get(CONTENT_TYPE).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let mut bytes: Vec<u8> = Vec::with_capacity(declared.map_or(4096, |n| n as usize).min(limit));
    while let Some(chunk) = response.chunk().await.map_err(|e| map_reqwest(&e, policy))? {
        if bytes.len() + chunk.len() > limit {
            // Dropping the response closes the connection; the rest is never read.
            return Err(FetchError::TooLarge { limit });
        }
        bytes.extend_from_slice(&chunk);
    }
    let parsed = body::parse_pem_chain(&bytes)?;
    Ok(Fetched { parsed, directive, content_type })
}

/// The error and all its sources, joined with ": ".
fn chain(e: &(dyn StdError + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(err) = cur {
        let text = err.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cur = err.source();
    }
    s
}

/// Whether a TLS (rustls) error is anywhere in the chain. `io::Error::source` skips the error it
/// wraps, so wrapped errors are looked at explicitly.
fn is_tls(e: &(dyn StdError + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.is::<rustls::Error>() {
            return true;
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
            && is_tls(inner)
        {
            return true;
        }
        cur = err.source();
    }
    false
}

fn map_reqwest(e: &reqwest::Error, policy: &FetchPolicy) -> FetchError {
    let detail = chain(e);
    if e.is_timeout() {
        if e.is_connect() {
            FetchError::Timeout { phase: "connect", limit_ms: millis(policy.connect_timeout) }
        } else {
            FetchError::Timeout { phase: "fetch", limit_ms: millis(policy.total_timeout) }
        }
    } else if is_tls(e) {
        FetchError::Tls(detail)
    } else if e.is_connect() {
        FetchError::Connect(detail)
    } else {
        FetchError::Http(detail)
    }
}

/// A TLS client configuration (aws-lc-rs, TLS 1.2 and 1.3) trusting the public web roots
/// (webpki-roots) and `extra_roots` (DER); the fetcher's, and vouch's to SMPP-over-TLS SMSCs.
pub fn client_tls_config(extra_roots: &[Vec<u8>]) -> Result<rustls::ClientConfig, ConfigError> {
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    for (index, der) in extra_roots.iter().enumerate() {
        roots
            .add(rustls::pki_types::CertificateDer::from(der.clone()))
            .map_err(|e| ConfigError::BadRoot { index, reason: e.to_string() })?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}
