//! A small HTTPS server on 127.0.0.1 for the fetcher's tests: per-path behaviour, request counts.
//! Never binds or connects to anything but 127.0.0.1.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicI64, Ordering};
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

pub struct Server {
    pub addr: SocketAddr,
    pub ca_der: Vec<u8>,
    routes: Arc<Mutex<HashMap<String, Route>>>,
    counts: Arc<Mutex<HashMap<String, usize>>>,
}

impl Server {
    pub async fn start() -> Server {
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
        let (r, c) = (routes.clone(), counts.clone());
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else { continue };
                let (acceptor, routes, counts) = (acceptor.clone(), r.clone(), c.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else { return };
                    serve(tls, routes, counts).await;
                });
            }
        });
        Server { addr, ca_der: ca_cert.der().to_vec(), routes, counts }
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
    let route = routes.lock().unwrap().get(&path).cloned().unwrap_or(Route::Status(404));
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
