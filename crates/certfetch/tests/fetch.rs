//! The fetcher against a real HTTPS server on 127.0.0.1 (the only address these tests touch).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod server;

use std::sync::Arc;
use std::time::{Duration, Instant};

use server::{Gauge, LogCapture, Route, Server, TestClock, chain_pem, hours, pem_route, unrelated_pem};
use vouch_certfetch::{FetchError, FetchPolicy, FetchWarning, check_x5u_url};

const T0: &str = "2030-01-01T00:00:00Z";
const FAR: (i32, u8, u8) = (2031, 1, 1);

#[tokio::test]
async fn success_then_cache_hit() {
    let srv = Server::start().await;
    let (pem, ders) = chain_pem(FAR);
    srv.route("/sp.pem", pem_route(&pem, Some("max-age=86400")));
    let clock = TestClock::at(T0);
    let f = clock.fetcher(srv.policy());
    let a = f.fetch(&srv.url("/sp.pem")).await.unwrap();
    assert_eq!(a.certificates, ders, "DER chain in response order");
    assert_eq!(a.content_type.as_deref(), Some("application/pem-certificate-chain"));
    assert!(a.warnings.is_empty(), "{:?}", a.warnings);
    assert_eq!(a.fetched_at, clock.now());
    assert_eq!(a.expires_at, clock.now() + jiff::SignedDuration::from_hours(24));
    let b = f.fetch(&srv.url("/sp.pem")).await.unwrap();
    assert!(Arc::ptr_eq(&a, &b));
    assert_eq!(srv.count("/sp.pem"), 1);
    let s = f.stats();
    assert_eq!((s.misses, s.hits, s.network_fetches, s.errors, s.cached_entries), (1, 1, 1, 0, 1));
}

#[tokio::test]
async fn fifty_concurrent_fetches_make_one_request() {
    let srv = Server::start().await;
    let (pem, _) = chain_pem(FAR);
    srv.route("/slow.pem", Route::Sleep { delay: Duration::from_millis(150), then: Box::new(pem_route(&pem, None)) });
    let f = TestClock::at(T0).fetcher(srv.policy());
    let url = srv.url("/slow.pem");
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let (f, url) = (f.clone(), url.clone());
        set.spawn(async move { f.fetch(&url).await });
    }
    let results: Vec<_> = set.join_all().await;
    let first = results[0].as_ref().unwrap().clone();
    for r in &results {
        assert!(Arc::ptr_eq(r.as_ref().unwrap(), &first));
    }
    assert_eq!(srv.count("/slow.pem"), 1);
    let s = f.stats();
    assert_eq!((s.misses, s.collapsed, s.network_fetches), (1, 49, 1));
}

#[tokio::test]
async fn concurrent_callers_share_one_error() {
    let srv = Server::start().await;
    srv.route("/gone.pem", Route::Sleep { delay: Duration::from_millis(150), then: Box::new(Route::Status(404)) });
    let f = TestClock::at(T0).fetcher(srv.policy());
    let url = srv.url("/gone.pem");
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (f, url) = (f.clone(), url.clone());
        set.spawn(async move { f.fetch(&url).await });
    }
    for r in set.join_all().await {
        assert_eq!(r.unwrap_err(), FetchError::Status(404));
    }
    assert_eq!(srv.count("/gone.pem"), 1);
    assert_eq!(f.stats().errors, 1);
}

#[tokio::test]
async fn short_max_age_is_raised_to_24_hours() {
    let srv = Server::start().await;
    let (pem, _) = chain_pem(FAR);
    srv.route("/a.pem", pem_route(&pem, Some("max-age=60")));
    let clock = TestClock::at(T0);
    let f = clock.fetcher(srv.policy());
    f.fetch(&srv.url("/a.pem")).await.unwrap();
    clock.advance(hours(23));
    f.fetch(&srv.url("/a.pem")).await.unwrap();
    assert_eq!(srv.count("/a.pem"), 1, "hit at 23 h");
    clock.advance(hours(2));
    f.fetch(&srv.url("/a.pem")).await.unwrap();
    assert_eq!(srv.count("/a.pem"), 2, "refetched at 25 h");
}

#[tokio::test]
async fn long_max_age_is_honoured() {
    let srv = Server::start().await;
    let (pem, _) = chain_pem(FAR);
    srv.route("/a.pem", pem_route(&pem, Some("public, max-age=172800")));
    let clock = TestClock::at(T0);
    let f = clock.fetcher(srv.policy());
    let c = f.fetch(&srv.url("/a.pem")).await.unwrap();
    assert_eq!(c.expires_at, clock.now() + jiff::SignedDuration::from_hours(48));
    clock.advance(hours(47));
    f.fetch(&srv.url("/a.pem")).await.unwrap();
    assert_eq!(srv.count("/a.pem"), 1, "hit at 47 h");
    clock.advance(hours(2));
    f.fetch(&srv.url("/a.pem")).await.unwrap();
    assert_eq!(srv.count("/a.pem"), 2, "refetched at 49 h");
}

#[tokio::test]
async fn not_after_caps_the_cache_lifetime() {
    let srv = Server::start().await;
    // notAfter is 2030-01-02T00:00:00Z; the clock starts 6 hours before it.
    let (pem, _) = chain_pem((2030, 1, 2));
    srv.route("/short.pem", pem_route(&pem, Some("max-age=172800")));
    let clock = TestClock::at("2030-01-01T18:00:00Z");
    let f = clock.fetcher(srv.policy());
    let c = f.fetch(&srv.url("/short.pem")).await.unwrap();
    let not_after: jiff::Timestamp = "2030-01-02T00:00:00Z".parse().unwrap();
    assert_eq!((c.earliest_not_after, c.expires_at), (not_after, not_after));
    clock.advance(hours(5));
    f.fetch(&srv.url("/short.pem")).await.unwrap();
    assert_eq!(srv.count("/short.pem"), 1);
    clock.advance(hours(2));
    f.fetch(&srv.url("/short.pem")).await.unwrap();
    assert_eq!(srv.count("/short.pem"), 2);
}

#[tokio::test]
async fn no_store_and_missing_directives_cache_for_the_minimum() {
    let srv = Server::start().await;
    let (pem, _) = chain_pem(FAR);
    srv.route("/ns.pem", pem_route(&pem, Some("no-store")));
    srv.route("/none.pem", Route::Ok { body: pem.clone().into_bytes(), headers: vec![] });
    let clock = TestClock::at(T0);
    let f = clock.fetcher(srv.policy());
    let ns = f.fetch(&srv.url("/ns.pem")).await.unwrap();
    assert!(ns.warnings.is_empty(), "{:?}", ns.warnings);
    let none = f.fetch(&srv.url("/none.pem")).await.unwrap();
    assert_eq!(none.warnings, vec![FetchWarning::UnexpectedContentType(None), FetchWarning::NoCacheDirective]);
    assert_eq!(ns.expires_at, clock.now() + jiff::SignedDuration::from_hours(24));
    assert_eq!(none.expires_at, ns.expires_at);
    clock.advance(hours(23));
    f.fetch(&srv.url("/ns.pem")).await.unwrap();
    f.fetch(&srv.url("/none.pem")).await.unwrap();
    assert_eq!((srv.count("/ns.pem"), srv.count("/none.pem")), (1, 1));
    clock.advance(hours(2));
    f.fetch(&srv.url("/ns.pem")).await.unwrap();
    assert_eq!(srv.count("/ns.pem"), 2);
}

#[tokio::test]
async fn wrong_content_type_is_only_a_warning() {
    let srv = Server::start().await;
    let (pem, _) = chain_pem(FAR);
    let headers = vec![("Content-Type".to_owned(), "text/plain".to_owned())];
    srv.route("/txt.pem", Route::Ok { body: pem.into_bytes(), headers });
    let f = TestClock::at(T0).fetcher(srv.policy());
    let c = f.fetch(&srv.url("/txt.pem")).await.unwrap();
    assert!(c.warnings.contains(&FetchWarning::UnexpectedContentType(Some("text/plain".into()))));
}

#[tokio::test]
async fn redirect_is_refused_and_not_followed() {
    let srv = Server::start().await;
    let (pem, _) = chain_pem(FAR);
    let target = srv.url("/target.pem");
    srv.route("/target.pem", pem_route(&pem, None));
    srv.route("/moved.pem", Route::Redirect { status: 302, location: target.clone() });
    let f = TestClock::at(T0).fetcher(srv.policy());
    let err = f.fetch(&srv.url("/moved.pem")).await.unwrap_err();
    assert_eq!(err, FetchError::Redirect { status: 302, location: Some(target.clone()) });
    assert!(err.to_string().contains("302") && err.to_string().contains(&target), "{err}");
    assert_eq!(srv.count("/target.pem"), 0);
}

#[tokio::test]
async fn oversize_body_is_refused_while_streaming() {
    let srv = Server::start().await;
    srv.route("/announced.pem", Route::Flood { announce: true, bytes: 1 << 20 });
    srv.route("/streamed.pem", Route::Flood { announce: false, bytes: 1 << 20 });
    let policy = FetchPolicy { total_timeout: Duration::from_secs(5), ..srv.policy() };
    let f = TestClock::at(T0).fetcher(policy);
    for path in ["/announced.pem", "/streamed.pem"] {
        let started = Instant::now();
        let err = f.fetch(&srv.url(path)).await.unwrap_err();
        assert_eq!(err, FetchError::TooLarge { limit: 8192 }, "{path}");
        assert!(started.elapsed() < Duration::from_secs(2), "{path} took {:?}", started.elapsed());
    }
}

#[tokio::test]
async fn slow_server_times_out_within_the_limit() {
    let srv = Server::start().await;
    let (pem, _) = chain_pem(FAR);
    srv.route("/slow-head.pem", Route::Sleep { delay: Duration::from_secs(3), then: Box::new(pem_route(&pem, None)) });
    srv.route("/slow-body.pem", Route::SlowBody { delay: Duration::from_secs(3), body: pem.into_bytes() });
    let f = TestClock::at(T0).fetcher(srv.policy());
    for path in ["/slow-head.pem", "/slow-body.pem"] {
        let started = Instant::now();
        let err = f.fetch(&srv.url(path)).await.unwrap_err();
        let took = started.elapsed();
        assert!(matches!(err, FetchError::Timeout { limit_ms: 300, .. }), "{path}: {err:?}");
        assert!(took >= Duration::from_millis(250) && took < Duration::from_millis(1500), "{path} took {took:?}");
    }
}

#[tokio::test]
async fn not_found_and_non_pem_are_refused() {
    let srv = Server::start().await;
    srv.route("/html.pem", Route::Ok { body: b"<html>hello</html>".to_vec(), headers: vec![] });
    srv.route(
        "/broken.pem",
        Route::Ok { body: b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".to_vec(), headers: vec![] },
    );
    let f = TestClock::at(T0).fetcher(srv.policy());
    assert_eq!(f.fetch(&srv.url("/missing.pem")).await.unwrap_err(), FetchError::Status(404));
    assert_eq!(f.fetch(&srv.url("/html.pem")).await.unwrap_err(), FetchError::NoCertificate);
    assert!(matches!(f.fetch(&srv.url("/broken.pem")).await.unwrap_err(), FetchError::BadCertificate { index: 0, .. }));
}

#[tokio::test]
async fn failures_are_negatively_cached() {
    let srv = Server::start().await;
    let clock = TestClock::at(T0);
    let f = clock.fetcher(srv.policy());
    let url = srv.url("/missing.pem");
    assert_eq!(f.fetch(&url).await.unwrap_err(), FetchError::Status(404));
    assert_eq!(f.fetch(&url).await.unwrap_err(), FetchError::Status(404));
    assert_eq!(srv.count("/missing.pem"), 1);
    assert_eq!(f.stats().negative_hits, 1);
    clock.advance(Duration::from_secs(31));
    let (pem, _) = chain_pem(FAR);
    srv.route("/missing.pem", pem_route(&pem, None));
    f.fetch(&url).await.unwrap();
    assert_eq!(srv.count("/missing.pem"), 2);
}

#[tokio::test]
async fn a_chain_serves_past_its_lifetime_while_its_repository_fails() {
    let srv = Server::start().await;
    let (pem, ders) = chain_pem(FAR);
    srv.route("/sp.pem", pem_route(&pem, Some("max-age=86400")));
    let clock = TestClock::at(T0);
    let f = clock.fetcher(srv.policy());
    let url = srv.url("/sp.pem");
    let first = f.fetch(&url).await.unwrap();
    assert_eq!(first.stale_until, first.expires_at + jiff::SignedDuration::from_hours(24));
    // A day later the repository answers 500: the chain fetched before serves on, and is tried
    // again only after the negative-cache period.
    srv.route("/sp.pem", Route::Status(500));
    clock.advance(hours(25));
    let stale = f.fetch(&url).await.unwrap();
    assert_eq!(stale.certificates, ders);
    assert_eq!(stale.expires_at, clock.now() + jiff::SignedDuration::from_secs(30));
    assert_eq!(srv.count("/sp.pem"), 2);
    f.fetch(&url).await.unwrap();
    assert_eq!(srv.count("/sp.pem"), 2, "not fetched again within 30 s");
    clock.advance(Duration::from_secs(31));
    f.fetch(&url).await.unwrap();
    assert_eq!(srv.count("/sp.pem"), 3);
    // Past stale_until (48 h after the fetch), the failure is the answer.
    clock.advance(hours(23));
    assert_eq!(f.fetch(&url).await.unwrap_err(), FetchError::Status(500));
    // With max_stale zero, a failed refetch fails at once.
    let clock = TestClock::at(T0);
    let g = clock.fetcher(FetchPolicy { max_stale: Duration::ZERO, ..srv.policy() });
    srv.route("/other.pem", pem_route(&pem, None));
    let other = srv.url("/other.pem");
    g.fetch(&other).await.unwrap();
    srv.route("/other.pem", Route::Status(503));
    clock.advance(hours(25));
    assert_eq!(g.fetch(&other).await.unwrap_err(), FetchError::Status(503));
}

#[tokio::test]
async fn eviction_keeps_the_cache_within_max_entries_lru() {
    let srv = Server::start().await;
    let (pem, _) = chain_pem(FAR);
    for p in ["/a", "/b", "/c", "/d"] {
        srv.route(p, pem_route(&pem, None));
    }
    let f = TestClock::at(T0).fetcher(FetchPolicy { max_entries: 2, ..srv.policy() });
    f.fetch(&srv.url("/a")).await.unwrap();
    f.fetch(&srv.url("/b")).await.unwrap();
    f.fetch(&srv.url("/a")).await.unwrap(); // /a is now more recently used than /b
    f.fetch(&srv.url("/c")).await.unwrap(); // evicts /b
    assert_eq!(f.stats().cached_entries, 2);
    f.fetch(&srv.url("/a")).await.unwrap();
    assert_eq!(srv.count("/a"), 1, "/a stayed");
    f.fetch(&srv.url("/b")).await.unwrap();
    assert_eq!(srv.count("/b"), 2, "/b was evicted");
    f.fetch(&srv.url("/d")).await.unwrap();
    assert!(f.stats().cached_entries <= 2);
}

#[tokio::test]
async fn eviction_keeps_the_cache_within_max_bytes() {
    let srv = Server::start().await;
    let (pem, ders) = chain_pem(FAR);
    let chain_bytes: usize = ders.iter().map(Vec::len).sum();
    for i in 0..6 {
        srv.route(&format!("/{i}"), pem_route(&pem, None));
    }
    let limit = 2 * chain_bytes + 600;
    let f = TestClock::at(T0).fetcher(FetchPolicy { max_cached_bytes: limit, ..srv.policy() });
    for i in 0..6 {
        f.fetch(&srv.url(&format!("/{i}"))).await.unwrap();
        let s = f.stats();
        assert!(s.cached_bytes as usize <= limit, "{s:?}");
        assert!(s.cached_entries >= 1 && s.cached_entries <= 2, "{s:?}");
    }
    // A chain larger than the whole cache is returned but not kept.
    let f = TestClock::at(T0).fetcher(FetchPolicy { max_cached_bytes: 100, ..srv.policy() });
    f.fetch(&srv.url("/0")).await.unwrap();
    assert_eq!(f.stats().cached_entries, 0);
}

#[tokio::test]
async fn untrusted_server_certificate_is_a_tls_error() {
    let srv = Server::start().await;
    let (pem, _) = chain_pem(FAR);
    srv.route("/a.pem", pem_route(&pem, None));
    let f = TestClock::at(T0).fetcher(FetchPolicy { extra_roots: vec![], ..srv.policy() });
    let err = f.fetch(&srv.url("/a.pem")).await.unwrap_err();
    assert!(matches!(err, FetchError::Tls(_)), "{err:?}");
}

#[tokio::test]
async fn special_addresses_are_refused_before_any_connection_without_allow_list() {
    let srv = Server::start().await;
    let f = TestClock::at(T0).fetcher(FetchPolicy { allow: vec![], ..srv.policy() });
    for url in [
        srv.url("/a.pem"),
        "https://127.0.0.1/a.pem".to_owned(),
        "https://[::1]/a.pem".to_owned(),
        "https://10.0.0.1/a.pem".to_owned(),
        "https://169.254.169.254/latest/meta-data/".to_owned(),
        "https://[::ffff:127.0.0.1]/a.pem".to_owned(),
        "https://[64:ff9b::a9fe:a9fe]/a.pem".to_owned(),
    ] {
        let err = f.fetch(&url).await.unwrap_err();
        assert!(matches!(err, FetchError::ForbiddenAddress { .. }), "{url}: {err:?}");
    }
    assert_eq!(f.stats().network_fetches, 0);
    assert_eq!(srv.total(), 0);
}

#[tokio::test]
async fn hostname_resolving_to_loopback_is_refused() {
    let srv = Server::start().await;
    // Without an allow-list, on the default port.
    let f = TestClock::at(T0).fetcher(FetchPolicy { allow: vec![], ..srv.policy() });
    let err = f.fetch("https://localhost/a.pem").await.unwrap_err();
    assert!(
        matches!(&err, FetchError::ForbiddenAddress { host, addr, .. } if host == "localhost" && addr.is_loopback()),
        "{err:?}"
    );
    // With an allow-list that does not cover loopback: the live server is never contacted.
    let other = FetchPolicy { allow: vec!["192.0.2.0/24".parse().unwrap()], ..srv.policy() };
    let f = TestClock::at(T0).fetcher(other);
    let url = format!("https://localhost:{}/a.pem", srv.addr.port());
    assert!(matches!(f.fetch(&url).await.unwrap_err(), FetchError::ForbiddenAddress { .. }));
    assert_eq!(f.stats().network_fetches, 0);
    assert_eq!(srv.total(), 0);
}

#[tokio::test]
async fn allow_listed_hostname_connects_to_the_checked_address() {
    let srv = Server::start().await;
    let resolved: Vec<_> = tokio::net::lookup_host(("localhost", 443)).await.unwrap().collect();
    if !resolved.iter().all(|a| matches!(a.ip(), std::net::IpAddr::V4(v4) if v4.is_loopback())) {
        eprintln!("skipping: localhost resolves to {resolved:?}, not only 127.0.0.0/8");
        return;
    }
    let (pem, _) = chain_pem(FAR);
    srv.route("/a.pem", pem_route(&pem, None));
    let f = TestClock::at(T0).fetcher(srv.policy());
    let c = f.fetch(&format!("https://localhost:{}/a.pem", srv.addr.port())).await.unwrap();
    assert_eq!(c.certificates.len(), 2);
    assert_eq!(srv.count("/a.pem"), 1);
}

#[tokio::test]
async fn failures_never_evict_fresh_chains() {
    let srv = Server::start().await;
    let (pem, _) = chain_pem(FAR);
    srv.route("/a", pem_route(&pem, None));
    srv.route("/b", pem_route(&pem, None));
    let f = TestClock::at(T0).fetcher(FetchPolicy { max_entries: 4, ..srv.policy() });
    f.fetch(&srv.url("/a")).await.unwrap();
    f.fetch(&srv.url("/b")).await.unwrap();
    // A flood of unique failing x5u (404: no route) fills the cache's remaining room only.
    for i in 0..50 {
        assert_eq!(f.fetch(&srv.url(&format!("/missing/{i}"))).await.unwrap_err(), FetchError::Status(404));
        assert!(f.stats().cached_entries <= 4, "{:?}", f.stats());
    }
    f.fetch(&srv.url("/a")).await.unwrap();
    f.fetch(&srv.url("/b")).await.unwrap();
    assert_eq!((srv.count("/a"), srv.count("/b")), (1, 1), "good chains stayed cached");
    // The most recent failures are the ones remembered.
    assert_eq!(f.fetch(&srv.url("/missing/49")).await.unwrap_err(), FetchError::Status(404));
    assert_eq!(srv.count("/missing/49"), 1, "still negatively cached");
    assert_eq!(f.fetch(&srv.url("/missing/0")).await.unwrap_err(), FetchError::Status(404));
    assert_eq!(srv.count("/missing/0"), 2, "evicted by later failures");
}

#[tokio::test]
async fn a_failure_is_not_kept_in_a_cache_full_of_fresh_chains() {
    let srv = Server::start().await;
    let (pem, _) = chain_pem(FAR);
    srv.route("/a", pem_route(&pem, None));
    srv.route("/b", pem_route(&pem, None));
    let f = TestClock::at(T0).fetcher(FetchPolicy { max_entries: 2, ..srv.policy() });
    f.fetch(&srv.url("/a")).await.unwrap();
    f.fetch(&srv.url("/b")).await.unwrap();
    for _ in 0..2 {
        assert_eq!(f.fetch(&srv.url("/x")).await.unwrap_err(), FetchError::Status(404));
    }
    assert_eq!(srv.count("/x"), 2, "the failure was not kept");
    f.fetch(&srv.url("/a")).await.unwrap();
    f.fetch(&srv.url("/b")).await.unwrap();
    assert_eq!((srv.count("/a"), srv.count("/b")), (1, 1));
    assert_eq!(f.stats().cached_entries, 2);
}

#[tokio::test]
async fn an_expired_chain_is_evicted_before_a_fresh_failure() {
    let srv = Server::start().await;
    let (pem, _) = chain_pem(FAR);
    srv.route("/a", pem_route(&pem, None));
    srv.route("/b", pem_route(&pem, None));
    let clock = TestClock::at(T0);
    let f = clock.fetcher(FetchPolicy { max_entries: 2, ..srv.policy() });
    f.fetch(&srv.url("/a")).await.unwrap();
    clock.advance(hours(25)); // /a has expired (but is still held)
    f.fetch(&srv.url("/b")).await.unwrap();
    assert_eq!(f.fetch(&srv.url("/x")).await.unwrap_err(), FetchError::Status(404));
    assert_eq!(f.fetch(&srv.url("/x")).await.unwrap_err(), FetchError::Status(404));
    assert_eq!(srv.count("/x"), 1, "the failure took the expired chain's place");
    f.fetch(&srv.url("/b")).await.unwrap();
    assert_eq!(srv.count("/b"), 1);
    assert_eq!(f.stats().negative_hits, 1);
}

#[tokio::test]
async fn fetches_to_one_host_are_capped_and_queued() {
    let srv = Server::start().await;
    let (pem, ders) = chain_pem(FAR);
    let delayed = Route::Sleep { delay: Duration::from_millis(60), then: Box::new(pem_route(&pem, None)) };
    for i in 0..40 {
        srv.route(&format!("/{i}.pem"), delayed.clone());
    }
    let policy = FetchPolicy { total_timeout: Duration::from_secs(5), ..srv.policy() };
    assert_eq!(policy.max_in_flight_per_host, 8);
    let f = TestClock::at(T0).fetcher(policy);
    let mut set = tokio::task::JoinSet::new();
    // Three callers per URL: the collapsed ones wait for the queued fetch too.
    for i in 0..40 {
        for _ in 0..3 {
            let (f, url) = (f.clone(), srv.url(&format!("/{i}.pem")));
            set.spawn(async move { f.fetch(&url).await });
        }
    }
    for r in set.join_all().await {
        assert_eq!(r.unwrap().certificates, ders);
    }
    assert_eq!(srv.total(), 40);
    assert!(srv.gauge.max() <= 8, "{} requests at once", srv.gauge.max());
    assert!(srv.gauge.max() >= 2, "fetches to one host still run concurrently");
    let s = f.stats();
    assert_eq!((s.misses, s.collapsed, s.network_fetches, s.errors), (40, 80, 40, 0));
}

#[tokio::test]
async fn fetches_are_capped_overall() {
    let gauge = Arc::new(Gauge::default());
    let a = Server::start_with_gauge(gauge.clone()).await;
    let b = Server::start_with_gauge(gauge.clone()).await;
    let (pem, _) = chain_pem(FAR);
    let delayed = Route::Sleep { delay: Duration::from_millis(60), then: Box::new(pem_route(&pem, None)) };
    for i in 0..10 {
        a.route(&format!("/{i}.pem"), delayed.clone());
        b.route(&format!("/{i}.pem"), delayed.clone());
    }
    let policy = FetchPolicy {
        max_in_flight: 3,
        total_timeout: Duration::from_secs(5),
        extra_roots: vec![a.ca_der.clone(), b.ca_der.clone()],
        ..a.policy()
    };
    let f = TestClock::at(T0).fetcher(policy);
    let mut set = tokio::task::JoinSet::new();
    for i in 0..10 {
        for srv in [&a, &b] {
            let (f, url) = (f.clone(), srv.url(&format!("/{i}.pem")));
            set.spawn(async move { f.fetch(&url).await });
        }
    }
    for r in set.join_all().await {
        r.unwrap();
    }
    assert_eq!(a.total() + b.total(), 20);
    assert!(gauge.max() <= 3, "{} requests at once", gauge.max());
}

#[tokio::test]
async fn fetch_slots_are_released_after_every_failure() {
    let srv = Server::start().await;
    let (pem, _) = chain_pem(FAR);
    srv.route("/hang.pem", Route::Sleep { delay: Duration::from_secs(3), then: Box::new(pem_route(&pem, None)) });
    srv.route("/big.pem", Route::Flood { announce: false, bytes: 1 << 16 });
    srv.route("/bad.pem", Route::Ok { body: b"no certificate here".to_vec(), headers: vec![] });
    srv.route("/moved.pem", Route::Redirect { status: 301, location: srv.url("/ok.pem") });
    srv.route("/ok.pem", pem_route(&pem, None));
    // One slot in all: a leaked slot would make every later fetch time out waiting for it.
    let policy = FetchPolicy { max_in_flight_per_host: 1, max_in_flight: 1, ..srv.policy() };
    let f = TestClock::at(T0).fetcher(policy);
    assert!(matches!(f.fetch(&srv.url("/hang.pem")).await.unwrap_err(), FetchError::Timeout { .. }));
    assert_eq!(f.fetch(&srv.url("/missing.pem")).await.unwrap_err(), FetchError::Status(404));
    assert!(matches!(f.fetch(&srv.url("/big.pem")).await.unwrap_err(), FetchError::TooLarge { .. }));
    assert_eq!(f.fetch(&srv.url("/bad.pem")).await.unwrap_err(), FetchError::NoCertificate);
    assert!(matches!(f.fetch(&srv.url("/moved.pem")).await.unwrap_err(), FetchError::Redirect { .. }));
    let closed = "https://127.0.0.1:1/a.pem";
    assert!(matches!(f.fetch(closed).await.unwrap_err(), FetchError::Connect(_)));
    // A caller that gives up does not take the slot with it (the fetch runs on for the others).
    let slow = f.clone();
    let url = srv.url("/hang.pem");
    let _ = tokio::time::timeout(Duration::from_millis(20), async move { slow.fetch(&url).await }).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    f.fetch(&srv.url("/ok.pem")).await.unwrap();
}

#[tokio::test]
async fn pem_markers_are_found_anywhere_in_a_line() {
    let srv = Server::start().await;
    let (pem, ders) = chain_pem(FAR);
    let (leaf, ca) = pem.split_at(pem[1..].find("-----BEGIN").unwrap() + 1);
    // `<pre>` before the leaf's BEGIN, the CA's BEGIN right after the leaf's END, `</pre>` after the
    // last END.
    let body = format!("<html><pre>{}{}</pre></html>\n", leaf.trim_end(), ca.trim_end());
    srv.route("/html.pem", Route::Ok { body: body.into_bytes(), headers: vec![] });
    let f = TestClock::at(T0).fetcher(srv.policy());
    let c = f.fetch(&srv.url("/html.pem")).await.unwrap();
    assert_eq!(c.certificates, ders, "leaf first, then the CA");
}

#[tokio::test(flavor = "current_thread")]
async fn fetch_warnings_are_logged_once_per_network_fetch() {
    let logs = LogCapture::default();
    let _guard = tracing::subscriber::set_default(logs.clone());
    let srv = Server::start().await;
    let (pem, _) = chain_pem(FAR);
    srv.route("/none.pem", Route::Ok { body: pem.clone().into_bytes(), headers: vec![] });
    srv.route("/clean.pem", pem_route(&pem, Some("max-age=86400")));
    let clock = TestClock::at(T0);
    let f = clock.fetcher(srv.policy());
    for _ in 0..3 {
        f.fetch(&srv.url("/none.pem")).await.unwrap();
        f.fetch(&srv.url("/clean.pem")).await.unwrap();
    }
    let warned = logs.with_message("x5u chain fetched with warnings");
    assert_eq!(warned.len(), 1, "{:?}", logs.events());
    let e = &warned[0];
    assert_eq!(e.level, tracing::Level::INFO);
    assert_eq!(e.field("url"), Some(srv.url("/none.pem").as_str()));
    let w = e.field("warnings").unwrap();
    assert!(w.contains("Content-Type") && w.contains("Cache-Control"), "{w}");
    clock.advance(hours(25));
    f.fetch(&srv.url("/none.pem")).await.unwrap();
    assert_eq!(logs.with_message("x5u chain fetched with warnings").len(), 2, "logged again on the refetch");
}

#[tokio::test]
async fn unrelated_certificates_do_not_shorten_caching() {
    let srv = Server::start().await;
    let (pem, _) = chain_pem(FAR);
    let (soon, _) = unrelated_pem((2030, 1, 2));
    let (expired, _) = unrelated_pem((2029, 6, 1));
    srv.route("/soon.pem", pem_route(&format!("{pem}{soon}"), None));
    srv.route("/expired.pem", pem_route(&soon, None));
    srv.route("/expired-extra.pem", pem_route(&format!("{pem}{expired}"), None));
    let clock = TestClock::at("2030-01-01T12:00:00Z");
    let f = clock.fetcher(srv.policy());
    let far: jiff::Timestamp = "2031-01-01T00:00:00Z".parse().unwrap();
    for path in ["/soon.pem", "/expired-extra.pem"] {
        let c = f.fetch(&srv.url(path)).await.unwrap();
        assert_eq!(c.certificates.len(), 3);
        assert_eq!(c.earliest_not_after, far, "{path}");
        assert_eq!(c.expires_at, clock.now() + jiff::SignedDuration::from_hours(24), "{path}");
    }
    // The leaf's own notAfter still counts, whatever else is in the response.
    let c = f.fetch(&srv.url("/expired.pem")).await.unwrap();
    assert_eq!(c.earliest_not_after, "2030-01-02T00:00:00Z".parse::<jiff::Timestamp>().unwrap());
}

#[test]
fn syntax_rules() {
    let p = FetchPolicy::default();
    let refused = |url: &str| check_x5u_url(url, &p).unwrap_err();
    assert!(matches!(refused("http://cert.example.org/a.pem"), FetchError::NotHttps { .. }));
    assert_eq!(refused("https://cert.example.org:8080/a.pem"), FetchError::ForbiddenPort { port: 8080 });
    assert_eq!(refused("https://u:p@cert.example.org/a.pem"), FetchError::Userinfo);
    assert_eq!(refused("https://cert.example.org/a.pem?v=1"), FetchError::Query);
    assert_eq!(refused("https://cert.example.org/a.pem#frag"), FetchError::Fragment);
    assert_eq!(check_x5u_url("https://cert.example.org:443/a.pem", &p).unwrap().port(), 443);
    assert_eq!(check_x5u_url("https://cert.example.org:8443/a.pem", &p).unwrap().port(), 8443);
    assert_eq!(FetchError::SIP_STATUS, (436, "Bad Identity Info"));
}
