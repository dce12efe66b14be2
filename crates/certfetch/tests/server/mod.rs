//! A small HTTPS server on 127.0.0.1 for the fetcher's tests: per-path behaviour, request counts.
//! Never binds or connects to anything but 127.0.0.1.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use vouch_certfetch::{CertFetcher, FetchPolicy};

/// What the server does for one path.
#[derive(Clone, Debug)]
pub enum Route {
    /// 200 with this body and extra headers.
    Ok { body: Vec<u8>, headers: Vec<(String, String)> },
    /// A redirect.
    Redirect { status: u16, location: String },
    /// Wait, then behave like the inner route.
    Sleep { delay: Duration, then: Box<Route> },
    /// 200 headers, then wait before sending the body of the inner `Ok` route.
    SlowBody { delay: Duration, body: Vec<u8> },
    /// 200 with `bytes` bytes of body, announced in Content-Length or not (close-delimited).
    Flood { announce: bool, bytes: usize },
    /// This status with a short body.
    Status(u16),
}

/// A PEM chain route with `Content-Type: application/pem-certificate-chain` and optional
/// Cache-Control.
pub fn pem_route(pem: &str, cache_control: Option<&str>) -> Route {
    let mut headers = vec![("Content-Type".to_owned(), "application/pem-certificate-chain".to_owned())];
    if let Some(cc) = cache_control {
        headers.push(("Cache-Control".to_owned(), cc.to_owned()));
    }
    Route::Ok { body: pem.as_bytes().to_vec(), headers }
}

/// Requests being worked on by one or more servers: from the end of the request head to the end of
/// the route's leading `Sleep`s (before any response byte, so a client cannot have finished yet).
#[derive(Debug, Default)]
pub struct Gauge {
    active: AtomicUsize,
    max: AtomicUsize,
}

impl Gauge {
    /// The most requests that were in progress at once.
    pub fn max(&self) -> usize {
        self.max.load(Ordering::SeqCst)
    }

    /// Requests in progress now.
    pub fn active(&self) -> usize {
        self.active.load(Ordering::SeqCst)
    }

    fn enter(self: &Arc<Self>) -> GaugeGuard {
        let n = self.active.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(n, Ordering::SeqCst);
        GaugeGuard(self.clone())
    }
}

struct GaugeGuard(Arc<Gauge>);

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

pub struct Server {
    pub addr: SocketAddr,
    pub ca_der: Vec<u8>,
    pub gauge: Arc<Gauge>,
    routes: Arc<Mutex<HashMap<String, Route>>>,
    counts: Arc<Mutex<HashMap<String, usize>>>,
}

impl Server {
    pub async fn start() -> Server {
        Self::start_with_gauge(Arc::default()).await
    }

    /// A server that reports its requests in progress to `gauge` (shared by several servers to
    /// measure their sum).
    pub async fn start_with_gauge(gauge: Arc<Gauge>) -> Server {
        let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "certfetch test CA");
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);

        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params.subject_alt_names.push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        let cert = params.signed_by(&key, &issuer).unwrap();

        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone(), ca_cert.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let routes: Arc<Mutex<HashMap<String, Route>>> = Arc::default();
        let counts: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let (r, c, g) = (routes.clone(), counts.clone(), gauge.clone());
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else { continue };
                let (acceptor, routes, counts, gauge) = (acceptor.clone(), r.clone(), c.clone(), g.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else { return };
                    serve(tls, routes, counts, gauge).await;
                });
            }
        });
        Server { addr, ca_der: ca_cert.der().to_vec(), gauge, routes, counts }
    }

    pub fn route(&self, path: &str, route: Route) {
        self.routes.lock().unwrap().insert(path.to_owned(), route);
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.addr.port())
    }

    pub fn count(&self, path: &str) -> usize {
        self.counts.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    pub fn total(&self) -> usize {
        self.counts.lock().unwrap().values().sum()
    }

    /// A policy that trusts this server's CA and allow-lists 127.0.0.0/8, with short timeouts.
    pub fn policy(&self) -> FetchPolicy {
        FetchPolicy {
            allow: vec!["127.0.0.0/8".parse().unwrap()],
            extra_roots: vec![self.ca_der.clone()],
            connect_timeout: Duration::from_millis(300),
            total_timeout: Duration::from_millis(300),
            ..FetchPolicy::default()
        }
    }
}

async fn serve(
    mut tls: tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
    routes: Arc<Mutex<HashMap<String, Route>>>,
    counts: Arc<Mutex<HashMap<String, usize>>>,
    gauge: Arc<Gauge>,
) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match tls.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > 16 * 1024 {
            return;
        }
    }
    let text = String::from_utf8_lossy(&head);
    let path = text.split_whitespace().nth(1).unwrap_or("/").to_owned();
    *counts.lock().unwrap().entry(path.clone()).or_default() += 1;
    let mut route = routes.lock().unwrap().get(&path).cloned().unwrap_or(Route::Status(404));
    {
        let _in_progress = gauge.enter();
        while let Route::Sleep { delay, then } = route {
            tokio::time::sleep(delay).await;
            route = *then;
        }
    }
    respond(&mut tls, route).await;
    let _ = tls.shutdown().await;
}

async fn respond(tls: &mut tokio_rustls::server::TlsStream<tokio::net::TcpStream>, mut route: Route) {
    loop {
        match route {
            Route::Sleep { delay, then } => {
                tokio::time::sleep(delay).await;
                route = *then;
            }
            Route::Ok { body, headers } => {
                let mut head = format!("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
                for (k, v) in headers {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                head.push_str("\r\n");
                let _ = tls.write_all(head.as_bytes()).await;
                let _ = tls.write_all(&body).await;
                return;
            }
            Route::SlowBody { delay, body } => {
                let head = format!("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: {}\r\n\r\n", body.len());
                let _ = tls.write_all(head.as_bytes()).await;
                let _ = tls.flush().await;
                tokio::time::sleep(delay).await;
                let _ = tls.write_all(&body).await;
                return;
            }
            Route::Redirect { status, location } => {
                let head = format!(
                    "HTTP/1.1 {status} Redirect\r\nConnection: close\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n"
                );
                let _ = tls.write_all(head.as_bytes()).await;
                return;
            }
            Route::Flood { announce, bytes } => {
                let mut head = "HTTP/1.1 200 OK\r\nConnection: close\r\n".to_owned();
                if announce {
                    head.push_str(&format!("Content-Length: {bytes}\r\n"));
                }
                head.push_str("\r\n");
                if tls.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = vec![b'A'; 1024];
                let mut sent = 0;
                while sent < bytes {
                    if tls.write_all(&chunk).await.is_err() {
                        return;
                    }
                    sent += chunk.len();
                }
                return;
            }
            Route::Status(code) => {
                let head = format!("HTTP/1.1 {code} Status\r\nConnection: close\r\nContent-Length: 5\r\n\r\nnope\n");
                let _ = tls.write_all(head.as_bytes()).await;
                return;
            }
        }
    }
}

/// A SHAKEN-like chain (leaf, then its CA) as PEM, both with the given notAfter, plus the DERs.
pub fn chain_pem(not_after: (i32, u8, u8)) -> (String, Vec<Vec<u8>>) {
    let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "SHAKEN test intermediate");
    ca_params.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, "SHAKEN 1234");
    params.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
    let leaf = params.signed_by(&key, &issuer).unwrap();
    let pem = format!("{}{}", leaf.pem(), ca_cert.pem());
    (pem, vec![leaf.der().to_vec(), ca_cert.der().to_vec()])
}

/// A clock the test moves by hand.
#[derive(Clone)]
pub struct TestClock(Arc<AtomicI64>);

impl TestClock {
    pub fn at(rfc3339: &str) -> TestClock {
        let t: Timestamp = rfc3339.parse().unwrap();
        TestClock(Arc::new(AtomicI64::new(t.as_second())))
    }

    pub fn advance(&self, d: Duration) {
        self.0.fetch_add(i64::try_from(d.as_secs()).unwrap(), Ordering::SeqCst);
    }

    pub fn now(&self) -> Timestamp {
        Timestamp::from_second(self.0.load(Ordering::SeqCst)).unwrap()
    }

    pub fn fetcher(&self, policy: FetchPolicy) -> CertFetcher {
        let c = self.clone();
        CertFetcher::new(policy, Arc::new(move || c.now())).unwrap()
    }
}

pub fn hours(h: u64) -> Duration {
    Duration::from_secs(h * 3600)
}

/// A PEM certificate expiring at `not_after`, issued by nobody in [`chain_pem`]'s chains (e.g. a
/// TLS CA a repository appends by mistake), and its DER.
pub fn unrelated_pem(not_after: (i32, u8, u8)) -> (String, Vec<u8>) {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, "unrelated TLS root");
    params.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), cert.der().to_vec())
}

/// One event captured by [`LogCapture`]: its level, message and `name=value` fields.
#[derive(Clone, Debug)]
pub struct LogEvent {
    pub level: tracing::Level,
    pub message: String,
    pub fields: Vec<(String, String)>,
}

impl LogEvent {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// A minimal `tracing` subscriber that records events (no spans), for asserting on logs. Install
/// with `tracing::subscriber::set_default` in a current-thread test: tasks spawned on that runtime
/// log to it too.
#[derive(Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<LogEvent>>>);

impl LogCapture {
    pub fn events(&self) -> Vec<LogEvent> {
        self.0.lock().unwrap().clone()
    }

    /// Events whose message is `message`.
    pub fn with_message(&self, message: &str) -> Vec<LogEvent> {
        self.events().into_iter().filter(|e| e.message == message).collect()
    }
}

struct Fields<'a>(&'a mut LogEvent);

impl tracing::field::Visit for Fields<'_> {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.0.message = value.to_owned();
        } else {
            self.0.fields.push((field.name().to_owned(), value.to_owned()));
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0.message = format!("{value:?}");
        } else {
            self.0.fields.push((field.name().to_owned(), format!("{value:?}")));
        }
    }
}

impl tracing::Subscriber for LogCapture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }

    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}

    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}

    fn event(&self, event: &tracing::Event<'_>) {
        let mut e = LogEvent { level: *event.metadata().level(), message: String::new(), fields: Vec::new() };
        event.record(&mut Fields(&mut e));
        self.0.lock().unwrap().push(e);
    }

    fn enter(&self, _: &tracing::span::Id) {}

    fn exit(&self, _: &tracing::span::Id) {}
}
