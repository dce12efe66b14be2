//! The fetcher: SSRF-checked resolution, one HTTPS GET, the cache and single-flight.
//!
//! The cache and the single-flight are written here rather than taken from a crate (moka's
//! `try_get_with` coalesces too) because expiry must follow the *injected* clock (moka expires on
//! its own `Instant` clock, so a test could not move time by 25 hours), failures must be shared
//! with the waiters *and* remembered for a short time (moka does not cache errors), and the
//! byte bound must count certificates and URLs. It is a `Mutex<HashMap>` never held across an
//! `.await`; a miss spawns one task that performs the fetch and publishes the result through a
//! `tokio::sync::watch` channel that every collapsed caller waits on, so a cancelled caller never
//! cancels the fetch for the others.
//!
//! Eviction order: expired entries, then remembered failures, then the least recently used chain,
//! so that failures (which anyone who can get a PASSporT verified can create at will, one per
//! unique x5u) never push a fresh chain out. Three ordered indexes (chains by last use, chains by
//! expiry, failures by expiry) make each eviction O(log entries), so a flood of unique failing
//! x5u against a full cache costs O(log n) per failure, not a scan of the cache.
//!
//! The fetch task first takes a slot for its host (host and port) and then one of the overall
//! slots (`tokio::sync::Semaphore`s, first come first served), within the total timeout; the
//! slots are released when the task's work ends or is dropped (timeout, error, shutdown).

use std::collections::{BTreeMap, HashMap};
use std::error::Error as StdError;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use jiff::Timestamp;
use reqwest::header::{ACCEPT, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, SemaphorePermit, watch};

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
    /// Until when it may still be served when a refetch after `expires_at` fails
    /// ([`FetchPolicy::max_stale`]: a repository's outage does not fail every call of its
    /// signers); never past `earliest_not_after`.
    pub stale_until: Timestamp,
    /// The earliest `notAfter` of the leaf and the certificates it chains to by name (caps
    /// `expires_at`; see [`crate::parse_pem_chain`]).
    pub earliest_not_after: Timestamp,
    /// The `Content-Type` the server sent, if any.
    pub content_type: Option<String>,
    /// Deviations from ATIS-1000074/-1000080 that did not prevent use of the chain. The fetcher
    /// logs them (info, `x5u chain fetched with warnings`) once, when the chain is fetched.
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

impl fmt::Display for FetchWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnexpectedContentType(Some(ct)) => {
                write!(f, "Content-Type {ct:?} is not {PEM_CHAIN_MEDIA_TYPE} (ATIS-1000080)")
            }
            Self::UnexpectedContentType(None) => {
                write!(f, "no Content-Type, expected {PEM_CHAIN_MEDIA_TYPE} (ATIS-1000080)")
            }
            Self::NoCacheDirective => f.write_str("no recognised Cache-Control directive, cached for the minimum"),
        }
    }
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
    limits: Limits,
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

/// The cache and the fetches in flight.
///
/// Invariants: every `Ready` slot is in `ready_by_use` (under its `last_used`) and in
/// `ready_by_expiry` (under its chain's `expires_at` and its `id`); every `Failed` slot is in
/// `failed_by_expiry`; `Pending` slots are in no index and not charged.
#[derive(Default)]
struct State {
    map: HashMap<Arc<str>, Slot>,
    /// Bytes charged by `Ready` and `Failed` slots.
    bytes: usize,
    /// Entries that are `Ready` or `Failed`.
    entries: usize,
    /// Logical time: last-use order, and a unique id for each cached entry.
    tick: u64,
    /// `Ready` keys by last use, least recent first.
    ready_by_use: BTreeMap<u64, Arc<str>>,
    /// `Ready` keys by expiry, earliest first.
    ready_by_expiry: BTreeMap<(Timestamp, u64), Arc<str>>,
    /// `Failed` keys by expiry, earliest first (all live `negative_cache`: oldest first).
    failed_by_expiry: BTreeMap<(Timestamp, u64), Arc<str>>,
}

enum Slot {
    Ready { chain: Arc<FetchedChain>, bytes: usize, id: u64, last_used: u64 },
    Failed { error: FetchError, expires_at: Timestamp, bytes: usize, id: u64 },
    Pending(watch::Receiver<Option<Outcome>>),
}

impl State {
    fn next_tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }

    fn remove(&mut self, key: &str) -> Option<Slot> {
        let slot = self.map.remove(key)?;
        let bytes = match &slot {
            Slot::Ready { chain, bytes, id, last_used } => {
                self.ready_by_use.remove(last_used);
                self.ready_by_expiry.remove(&(chain.expires_at, *id));
                *bytes
            }
            Slot::Failed { expires_at, bytes, id, .. } => {
                self.failed_by_expiry.remove(&(*expires_at, *id));
                *bytes
            }
            Slot::Pending(_) => return Some(slot),
        };
        self.bytes -= bytes;
        self.entries -= 1;
        Some(slot)
    }

    fn insert(&mut self, key: Arc<str>, slot: Slot) {
        self.remove(&key);
        let bytes = match &slot {
            Slot::Ready { chain, bytes, id, last_used } => {
                self.ready_by_use.insert(*last_used, key.clone());
                self.ready_by_expiry.insert((chain.expires_at, *id), key.clone());
                Some(*bytes)
            }
            Slot::Failed { expires_at, bytes, id, .. } => {
                self.failed_by_expiry.insert((*expires_at, *id), key.clone());
                Some(*bytes)
            }
            Slot::Pending(_) => None,
        };
        if let Some(bytes) = bytes {
            self.bytes += bytes;
            self.entries += 1;
        }
        self.map.insert(key, slot);
    }

    /// Evict until within the bounds: expired entries first (failures, then chains), then
    /// failures (earliest expiry first), then the least recently used chain. The entry just
    /// inserted may be the victim: a failure, when the rest of the cache is fresh chains.
    fn evict(&mut self, now: Timestamp, max_entries: usize, max_bytes: usize) {
        while self.entries > max_entries || self.bytes > max_bytes {
            let victim = first_expired(&self.failed_by_expiry, now)
                .or_else(|| first_expired(&self.ready_by_expiry, now))
                .or_else(|| self.failed_by_expiry.values().next())
                .or_else(|| self.ready_by_use.values().next())
                .cloned();
            match victim {
                Some(k) => {
                    self.remove(&k);
                }
                None => break,
            }
        }
    }

    fn clear(&mut self) {
        self.map.retain(|_, slot| matches!(slot, Slot::Pending(_)));
        self.ready_by_use.clear();
        self.ready_by_expiry.clear();
        self.failed_by_expiry.clear();
        self.bytes = 0;
        self.entries = 0;
    }
}

/// The key of the earliest expiry in `index`, if that has passed at `now`.
fn first_expired(index: &BTreeMap<(Timestamp, u64), Arc<str>>, now: Timestamp) -> Option<&Arc<str>> {
    index.first_key_value().filter(|((expires_at, _), _)| *expires_at <= now).map(|(_, k)| k)
}

/// The caps on fetches in flight: per host and overall.
struct Limits {
    per_host: usize,
    all: Semaphore,
    hosts: Mutex<HashMap<String, HostGate>>,
}

/// One host's slots, and how many fetches hold or wait for one (the entry is removed at zero).
struct HostGate {
    slots: Arc<Semaphore>,
    users: usize,
}

/// A fetch's registration with its host's gate; unregisters (and drops an unused gate) on drop.
struct HostUse<'a> {
    limits: &'a Limits,
    host: String,
}

impl Drop for HostUse<'_> {
    fn drop(&mut self) {
        let mut hosts = self.limits.hosts.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(gate) = hosts.get_mut(&self.host) {
            gate.users = gate.users.saturating_sub(1);
            if gate.users == 0 {
                hosts.remove(&self.host);
            }
        }
    }
}

/// The slots one fetch holds; dropping it releases them (fields drop in order: the permits, then
/// the registration).
struct FetchSlots<'a> {
    _all: SemaphorePermit<'a>,
    _host: OwnedSemaphorePermit,
    _use: HostUse<'a>,
}

impl Limits {
    fn new(per_host: usize, all: usize) -> Self {
        Self { per_host, all: Semaphore::new(all), hosts: Mutex::new(HashMap::new()) }
    }

    /// Wait for a slot for `host`, then for one of the overall slots (in that order, so that the
    /// fetches queued for one busy host do not hold overall slots other hosts could use).
    async fn acquire(&self, host: &str) -> Result<FetchSlots<'_>, FetchError> {
        let (slots, registration) = {
            let mut hosts = self.hosts.lock().unwrap_or_else(PoisonError::into_inner);
            let gate = hosts
                .entry(host.to_owned())
                .or_insert_with(|| HostGate { slots: Arc::new(Semaphore::new(self.per_host)), users: 0 });
            gate.users += 1;
            (gate.slots.clone(), HostUse { limits: self, host: host.to_owned() })
        };
        // The semaphores are never closed; an error would mean they were.
        let host_permit = slots.acquire_owned().await.map_err(|_| FetchError::Aborted)?;
        let all = self.all.acquire().await.map_err(|_| FetchError::Aborted)?;
        Ok(FetchSlots { _all: all, _host: host_permit, _use: registration })
    }

    #[cfg(test)]
    fn hosts_tracked(&self) -> usize {
        self.hosts.lock().unwrap_or_else(PoisonError::into_inner).len()
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
        for (name, value) in
            [("max_in_flight_per_host", policy.max_in_flight_per_host), ("max_in_flight", policy.max_in_flight)]
        {
            if value == 0 || value > Semaphore::MAX_PERMITS {
                return Err(ConfigError::Policy(format!(
                    "{name} must be between 1 and {}, not {value}",
                    Semaphore::MAX_PERMITS
                )));
            }
        }
        let tls = client_tls_config(&policy.extra_roots)?;
        let limits = Limits::new(policy.max_in_flight_per_host, policy.max_in_flight);
        Ok(Self {
            inner: Arc::new(Inner {
                policy,
                clock,
                tls,
                state: Mutex::new(State::default()),
                limits,
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
    ///
    /// A fetch first waits for a slot ([`FetchPolicy::max_in_flight_per_host`],
    /// [`FetchPolicy::max_in_flight`]); the wait counts towards the total timeout. A fetch that
    /// times out before getting a slot says nothing about the URL and is not negatively cached.
    /// Warnings ([`FetchedChain::warnings`]) are logged at info level once per network fetch.
    pub async fn fetch(&self, url: &str) -> Result<Arc<FetchedChain>, FetchError> {
        let inner = &self.inner;
        let x5u = match check_x5u_url(url, &inner.policy) {
            Ok(u) => u,
            Err(e) => {
                inner.counters.errors.fetch_add(1, Ordering::Relaxed);
                return Err(e);
            }
        };
        let mut rx = {
            let mut guard = lock(&inner.state);
            let now = (inner.clock)();
            let tick = guard.next_tick();
            let state = &mut *guard;
            match state.map.get_mut(x5u.as_str()) {
                Some(Slot::Ready { chain, last_used, .. }) if chain.expires_at > now => {
                    if let Some(k) = state.ready_by_use.remove(last_used) {
                        state.ready_by_use.insert(tick, k);
                    }
                    *last_used = tick;
                    inner.counters.hits.fetch_add(1, Ordering::Relaxed);
                    return Ok(chain.clone());
                }
                Some(Slot::Failed { error, expires_at, .. }) if *expires_at > now => {
                    inner.counters.negative_hits.fetch_add(1, Ordering::Relaxed);
                    return Err(error.clone());
                }
                Some(Slot::Pending(rx)) => {
                    inner.counters.collapsed.fetch_add(1, Ordering::Relaxed);
                    rx.clone()
                }
                _ => {
                    inner.counters.misses.fetch_add(1, Ordering::Relaxed);
                    // An expired chain stays at hand while it is fetched again, in case the
                    // repository is down (see `FetchedChain::stale_until`).
                    let stale = match state.map.get(x5u.as_str()) {
                        Some(Slot::Ready { chain, .. }) if chain.stale_until > now => Some(chain.clone()),
                        _ => None,
                    };
                    let key: Arc<str> = Arc::from(x5u.as_str());
                    let (tx, rx) = watch::channel(None);
                    state.insert(key.clone(), Slot::Pending(rx.clone()));
                    drop(guard);
                    let pending = PendingGuard { inner: inner.clone(), key: Some(key) };
                    tokio::spawn(run_fetch(pending, x5u, tx, stale));
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
        lock(&self.inner.state).clear();
    }
}

/// Removes the `Pending` slot if the fetch task ends without publishing (runtime shutdown), so
/// the next call starts a new fetch instead of waiting forever.
struct PendingGuard {
    inner: Arc<Inner>,
    key: Option<Arc<str>>,
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

async fn run_fetch(
    mut guard: PendingGuard,
    x5u: X5uUrl,
    tx: watch::Sender<Option<Outcome>>,
    stale: Option<Arc<FetchedChain>>,
) {
    let inner = guard.inner.clone();
    let policy = &inner.policy;
    let limit = policy.total_timeout;
    let host = format!("{}:{}", x5u.host(), x5u.port());
    let mut got_slots = false;
    let work = async {
        // Held until the fetch ends or this future is dropped (timeout, runtime shutdown).
        let _slots = inner.limits.acquire(&host).await?;
        got_slots = true;
        fetch_network(&inner, &x5u).await
    };
    let outcome = match tokio::time::timeout(limit, work).await {
        Ok(r) => r,
        Err(_) => Err(FetchError::Timeout { phase: "fetch", limit_ms: millis(limit) }),
    };
    let now = (inner.clock)();
    let Some(key) = guard.key.take() else { return };
    let mut warned: Option<String> = None;
    let outcome = {
        let mut state = lock(&inner.state);
        state.remove(&key);
        let tick = state.next_tick();
        let outcome = match outcome {
            Ok(parsed) => {
                let chain = Arc::new(parsed.into_chain(key.to_string(), now, policy));
                let bytes = key.len()
                    + ENTRY_OVERHEAD
                    + chain.certificates.iter().map(|c| c.len() + 24).sum::<usize>()
                    + chain.content_type.as_ref().map_or(0, String::len);
                if chain.expires_at > now && bytes <= policy.max_cached_bytes {
                    let slot = Slot::Ready { chain: chain.clone(), bytes, id: tick, last_used: tick };
                    state.insert(key.clone(), slot);
                }
                if !chain.warnings.is_empty() {
                    warned = Some(chain.warnings.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "));
                }
                Ok(chain)
            }
            Err(error) if let Some(old) = stale.as_deref().filter(|c| c.stale_until > now) => {
                // The repository failed a refetch: the chain fetched before serves on, tried
                // again after `negative_cache`, until its `stale_until`.
                inner.counters.errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(url = %key, kind = error.kind(), %error, stale_until = %old.stale_until, "x5u refetch failed; the chain fetched before is used meanwhile");
                let expires_at = body::add(now, policy.negative_cache).min(old.stale_until);
                let chain = Arc::new(FetchedChain { expires_at, warnings: Vec::new(), ..old.clone() });
                let bytes = key.len() + ENTRY_OVERHEAD + chain.certificates.iter().map(|c| c.len() + 24).sum::<usize>();
                state.insert(key.clone(), Slot::Ready { chain: chain.clone(), bytes, id: tick, last_used: tick });
                Ok(chain)
            }
            Err(error) => {
                inner.counters.errors.fetch_add(1, Ordering::Relaxed);
                tracing::info!(url = %key, kind = error.kind(), %error, attempted = got_slots, "x5u fetch failed");
                // A fetch that timed out waiting for a slot was never attempted: remembering it
                // would fail a good x5u for `negative_cache` because its host was busy.
                if !policy.negative_cache.is_zero() && got_slots {
                    let expires_at = body::add(now, policy.negative_cache);
                    let bytes = key.len() + ENTRY_OVERHEAD;
                    state.insert(key.clone(), Slot::Failed { error: error.clone(), expires_at, bytes, id: tick });
                }
                Err(error)
            }
        };
        state.evict(now, policy.max_entries, policy.max_cached_bytes);
        outcome
    };
    if let Some(warnings) = warned {
        tracing::info!(url = %key, %warnings, "x5u chain fetched with warnings");
    }
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
        let stale_until = body::add(expires_at, policy.max_stale).min(self.parsed.earliest_not_after);
        FetchedChain {
            url,
            certificates: self.parsed.certificates,
            fetched_at: now,
            expires_at,
            stale_until,
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn ts(secs: i64) -> Timestamp {
        Timestamp::from_second(1_900_000_000 + secs).expect("timestamp")
    }

    fn ready(state: &mut State, key: &str, expires_at: Timestamp) {
        let tick = state.next_tick();
        let chain = Arc::new(FetchedChain {
            url: key.to_owned(),
            certificates: vec![vec![0; 500]],
            fetched_at: ts(0),
            expires_at,
            stale_until: expires_at,
            earliest_not_after: expires_at,
            content_type: None,
            warnings: Vec::new(),
        });
        state.insert(Arc::from(key), Slot::Ready { chain, bytes: 700, id: tick, last_used: tick });
    }

    fn failed(state: &mut State, key: &str, expires_at: Timestamp) {
        let tick = state.next_tick();
        let slot = Slot::Failed { error: FetchError::Status(404), expires_at, bytes: 200, id: tick };
        state.insert(Arc::from(key), slot);
    }

    fn has(state: &State, key: &str) -> bool {
        state.map.contains_key(key)
    }

    fn check_indexes(state: &State) {
        let ready = state.map.values().filter(|s| matches!(s, Slot::Ready { .. })).count();
        let failed = state.map.values().filter(|s| matches!(s, Slot::Failed { .. })).count();
        assert_eq!(state.ready_by_use.len(), ready);
        assert_eq!(state.ready_by_expiry.len(), ready);
        assert_eq!(state.failed_by_expiry.len(), failed);
        assert_eq!(state.entries, ready + failed);
    }

    #[test]
    fn a_flood_of_failures_keeps_every_fresh_chain() {
        let (max, now) = (10_000, ts(0));
        let mut state = State::default();
        for i in 0..max {
            ready(&mut state, &format!("https://r/{i}"), ts(86_400));
            state.evict(now, max, usize::MAX);
        }
        // 10^4 chains, then 2·10^4 unique failures, each evicting: O(log n) each (the former
        // scan of the whole cache per eviction made this 2·10^8 steps).
        for i in 0..2 * max {
            failed(&mut state, &format!("https://f/{i}"), ts(30));
            state.evict(now, max, usize::MAX);
        }
        assert_eq!(state.entries, max);
        assert!((0..max).all(|i| has(&state, &format!("https://r/{i}"))));
        assert!(state.failed_by_expiry.is_empty(), "a failure is not kept in a cache full of fresh chains");
        check_indexes(&state);
    }

    #[test]
    fn eviction_order_is_expired_then_failures_then_least_recently_used() {
        let now = ts(100);
        let mut state = State::default();
        ready(&mut state, "old-chain", ts(50)); // expired
        failed(&mut state, "old-failure", ts(60)); // expired
        ready(&mut state, "a", ts(86_400));
        ready(&mut state, "b", ts(86_400));
        failed(&mut state, "f1", ts(120));
        failed(&mut state, "f2", ts(130));
        state.evict(now, 5, usize::MAX);
        assert!(!has(&state, "old-failure") && has(&state, "old-chain"), "expired failure first");
        state.evict(now, 4, usize::MAX);
        assert!(!has(&state, "old-chain"), "then expired chains");
        state.evict(now, 3, usize::MAX);
        assert!(!has(&state, "f1") && has(&state, "f2"), "then the failure expiring first");
        state.evict(now, 2, usize::MAX);
        assert!(!has(&state, "f2") && has(&state, "a") && has(&state, "b"));
        // `a` was used after `b`: `b` is the least recently used.
        let tick = state.next_tick();
        if let Some(Slot::Ready { last_used, .. }) = state.map.get_mut("a")
            && let Some(k) = state.ready_by_use.remove(last_used)
        {
            state.ready_by_use.insert(tick, k);
            *last_used = tick;
        }
        state.evict(now, 1, usize::MAX);
        assert!(has(&state, "a") && !has(&state, "b"));
        check_indexes(&state);
        // Replacing an entry keeps the indexes and the charge consistent.
        failed(&mut state, "a", ts(130));
        check_indexes(&state);
        assert_eq!(state.bytes, 200);
        state.clear();
        check_indexes(&state);
        assert_eq!(state.bytes, 0);
    }

    #[test]
    fn byte_bound_evicts_failures_before_chains() {
        let now = ts(0);
        let mut state = State::default();
        ready(&mut state, "a", ts(86_400));
        for i in 0..5 {
            failed(&mut state, &format!("f{i}"), ts(30));
        }
        ready(&mut state, "b", ts(86_400));
        state.evict(now, usize::MAX, 1_400);
        assert!(has(&state, "a") && has(&state, "b"));
        assert_eq!((state.entries, state.bytes), (2, 1_400));
        check_indexes(&state);
    }

    fn local_policy(per_host: usize) -> FetchPolicy {
        FetchPolicy {
            allow: vec!["127.0.0.0/8".parse().expect("net")],
            total_timeout: Duration::from_millis(200),
            max_in_flight_per_host: per_host,
            ..FetchPolicy::default()
        }
    }

    #[tokio::test]
    async fn a_fetch_that_timed_out_waiting_for_a_slot_is_not_remembered() {
        let f = CertFetcher::with_system_clock(local_policy(1)).expect("fetcher");
        // Nothing listens on port 1: once attempted, the fetch fails with `Connect`.
        let url = "https://127.0.0.1:1/a.pem";
        let held = f.inner.limits.acquire("127.0.0.1:1").await.expect("slot");
        let err = f.fetch(url).await.expect_err("queued");
        assert!(matches!(err, FetchError::Timeout { phase: "fetch", limit_ms: 200 }), "{err:?}");
        let s = f.stats();
        assert_eq!((s.network_fetches, s.cached_entries, s.errors), (0, 0, 1));
        drop(held);
        let err = f.fetch(url).await.expect_err("refused");
        assert!(matches!(err, FetchError::Connect(_)), "{err:?}");
        let s = f.stats();
        assert_eq!((s.network_fetches, s.cached_entries), (1, 1), "an attempted fetch is remembered");
        assert_eq!(f.inner.limits.hosts_tracked(), 0, "idle hosts are forgotten");
    }

    #[tokio::test]
    async fn host_slots_are_released_by_cancelled_waiters() {
        let limits = Limits::new(1, 10);
        let first = limits.acquire("h:443").await.expect("slot");
        let waiting = tokio::time::timeout(Duration::from_millis(20), limits.acquire("h:443")).await;
        assert!(waiting.is_err(), "the second fetch to a host with 1 slot waits");
        let other = limits.acquire("other:443").await.expect("another host is not blocked");
        assert_eq!(limits.hosts_tracked(), 2);
        drop(first);
        let second = limits.acquire("h:443").await.expect("slot after release");
        drop((second, other));
        assert_eq!(limits.hosts_tracked(), 0);
        assert_eq!(limits.all.available_permits(), 10);
    }

    #[test]
    fn zero_or_huge_caps_are_configuration_errors() {
        for policy in [
            FetchPolicy { max_in_flight_per_host: 0, ..FetchPolicy::default() },
            FetchPolicy { max_in_flight: 0, ..FetchPolicy::default() },
            FetchPolicy { max_in_flight: usize::MAX, ..FetchPolicy::default() },
        ] {
            assert!(matches!(CertFetcher::with_system_clock(policy), Err(ConfigError::Policy(_))));
        }
    }

    #[test]
    fn warnings_display() {
        let ct = FetchWarning::UnexpectedContentType(Some("text/html\u{7}".into()));
        assert_eq!(
            ct.to_string(),
            "Content-Type \"text/html\\u{7}\" is not application/pem-certificate-chain (ATIS-1000080)"
        );
        assert!(FetchWarning::UnexpectedContentType(None).to_string().starts_with("no Content-Type"));
        assert!(FetchWarning::NoCacheDirective.to_string().contains("Cache-Control"));
    }
}
