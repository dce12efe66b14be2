//! The call authentication service over HTTP: ATIS-1000082 `/stir/v1/signing` and
//! `/stir/v1/verification` against the real `vouch serve`, with a development PKI made by
//! `vouch ca`. Every service exception, every E-case that can be produced from outside, the
//! attestation the registry supports (A from number blocks and campaigns, B, C, downgrades,
//! `rcd.nam` for VETTED_VERIFIED brands), signed-call records, certificate registration and
//! the chains vouch serves at `x5u`, replay detection, and the Robocall Mitigation Database
//! imported with `vouch import rmd`.
//!
//! The fixtures here (free ports, a server with call authentication flags, a dev CA, voice
//! providers, PASSporT crafting) are shared with `stir_sip`.

#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::harness::{Finished, Provider, Server, other_brand_json, run, vouch};

/// Longest any CLI process of these tests may take.
pub(crate) const LIMIT: Duration = Duration::from_secs(30);

/// The standard output of a process that must have succeeded.
pub(crate) fn ok(f: Finished) -> String {
    assert!(f.status.success(), "exit {:?}\nstdout:\n{}\nstderr:\n{}", f.status, f.stdout, f.stderr);
    f.stdout
}

/// Now, Unix seconds.
pub(crate) fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

// ---------------------------------------------------------------------------------------------
// Ports

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub(crate) fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A UDP port on 127.0.0.1 that was free a moment ago.
pub(crate) fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A port free on 127.0.0.1 for both UDP and TCP (SIP listens on both), a moment ago.
pub(crate) fn free_udp_tcp_port() -> u16 {
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no port free for both UDP and TCP on 127.0.0.1");
}

// ---------------------------------------------------------------------------------------------
// Development PKI

/// A certificate `vouch ca issue` wrote: the chain (end entity, then the STI-CA) and its key.
#[derive(Debug, Clone)]
pub(crate) struct Issued {
    /// The chain, PEM.
    pub chain: PathBuf,
    /// The private key, PEM (PKCS#8).
    pub key: PathBuf,
}

impl Issued {
    /// The chain's PEM text.
    pub fn chain_pem(&self) -> String {
        std::fs::read_to_string(&self.chain).unwrap()
    }

    /// The key's PEM text.
    pub fn key_pem(&self) -> String {
        std::fs::read_to_string(&self.key).unwrap()
    }
}

/// A development CA (`vouch ca init`) in a directory.
#[derive(Debug, Clone)]
pub(crate) struct DevCa {
    /// Its directory.
    pub dir: PathBuf,
}

impl DevCa {
    /// `vouch ca init --dir <parent>/<name>`.
    pub fn init(parent: &Path, name: &str) -> Self {
        ok(run(vouch(parent).args(["ca", "init", "--dir", name]), LIMIT));
        Self { dir: parent.join(name) }
    }

    /// `vouch ca issue --spc SPC`.
    pub fn issue(&self, spc: &str) -> Issued {
        let out = ok(run(vouch(&self.dir).args(["ca", "issue", "--dir", ".", "--spc", spc]), LIMIT));
        let field = |name: &str| {
            self.dir
                .join(out.lines().find_map(|l| l.strip_prefix(&format!("{name}: "))).unwrap_or_else(|| panic!("{out}")))
        };
        Issued { chain: field("chain"), key: field("key") }
    }

    /// `vouch ca issue --spc SPC --days DAYS`.
    pub fn issue_for_days(&self, spc: &str, days: u32) -> Issued {
        let out = ok(run(
            vouch(&self.dir).args(["ca", "issue", "--dir", ".", "--spc", spc, "--days", &days.to_string()]),
            LIMIT,
        ));
        let field = |name: &str| {
            self.dir
                .join(out.lines().find_map(|l| l.strip_prefix(&format!("{name}: "))).unwrap_or_else(|| panic!("{out}")))
        };
        Issued { chain: field("chain"), key: field("key") }
    }

    /// Revokes `cert` and writes the CRL; returns the CRL file.
    pub fn revoke(&self, cert: &Issued) -> PathBuf {
        ok(run(vouch(&self.dir).args(["ca", "revoke", "--dir", "."]).arg(&cert.chain), LIMIT));
        ok(run(vouch(&self.dir).args(["ca", "crl", "--dir", "."]), LIMIT));
        self.dir.join("crl.der")
    }

    /// The trust anchor.
    pub fn root(&self) -> PathBuf {
        self.dir.join("root.pem")
    }

    /// Copies the root and the CRL signer into `trust` as `<prefix>-root.pem` and
    /// `<prefix>-crl-signer.pem`.
    pub fn trust_into(&self, trust: &Path, prefix: &str) {
        for f in ["root.pem", "crl-signer.pem"] {
            std::fs::copy(self.dir.join(f), trust.join(format!("{prefix}-{f}"))).unwrap();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A server with call authentication

/// A `vouch serve` with `--trust-dir`, an HTTP port chosen here (so the `x5u` of the
/// certificates it serves is right) and a SIP port, plus a development CA whose root is in
/// the trust directory.
pub(crate) struct Voice {
    /// The server (declared first: dropped, so killed, before the directory goes).
    pub s: Server,
    /// `127.0.0.1:<port>` of the SIP redirect server (UDP and TCP).
    pub sip: SocketAddr,
    /// The HTTP port.
    pub http_port: u16,
    /// The trust directory.
    pub trust: PathBuf,
    /// The development CA trusted by the server.
    pub ca: DevCa,
    /// The flags the server was started with (besides data dir, ports and trust).
    pub flags: Vec<String>,
    /// The temporary directory (scratch files go in it).
    pub dir: PathBuf,
    /// The server's RUST_LOG, when not the harness's.
    rust_log: Option<String>,
    _tmp: TempDir,
}

impl Voice {
    /// A server with `flags` added to `vouch serve`.
    pub fn start(flags: &[&str]) -> Self {
        Self::start_logging(flags, None)
    }

    /// A server with `flags` logging at `rust_log` (e.g. `debug`) instead of `warn`.
    pub fn start_logging(flags: &[&str], rust_log: Option<&str>) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let ca = DevCa::init(&dir, "ca");
        let trust = dir.join("trust");
        std::fs::create_dir(&trust).unwrap();
        ca.trust_into(&trust, "dev");
        let http_port = free_tcp_port();
        let sip = SocketAddr::from(([127, 0, 0, 1], free_udp_tcp_port()));
        let flags: Vec<String> = flags.iter().map(|f| (*f).to_owned()).collect();
        let rust_log = rust_log.map(str::to_owned);
        let s = Self::launch(&dir, http_port, sip, &trust, &flags, rust_log.as_deref());
        Self { s, sip, http_port, trust, ca, flags, dir, rust_log, _tmp: tmp }
    }

    fn launch(
        dir: &Path,
        http_port: u16,
        sip: SocketAddr,
        trust: &Path,
        flags: &[String],
        rust_log: Option<&str>,
    ) -> Server {
        let data_dir = dir.join("data");
        let mut c = vouch(dir);
        if let Some(l) = rust_log {
            c.env("RUST_LOG", l);
        }
        c.arg("serve").arg("--data-dir").arg(&data_dir);
        c.args(["--http", &format!("127.0.0.1:{http_port}"), "--sip", &sip.to_string()]);
        c.arg("--trust-dir").arg(trust).args(flags);
        let s = Server::launch(c, data_dir, dir.to_path_buf());
        assert_eq!(s.base, format!("http://127.0.0.1:{http_port}"), "the server did not take the HTTP port given");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !s.stdout.text().contains(&format!("vouch: SIP redirect server on sip:{sip} (UDP and TCP)")) {
            assert!(Instant::now() < deadline, "no SIP listening line:\n{}\n{}", s.stdout.text(), s.stderr.text());
            std::thread::sleep(Duration::from_millis(10));
        }
        s
    }

    /// Stops the server (SIGTERM) and starts it again on the same data directory, ports and
    /// trust directory (whose files may have changed: it is read at start).
    pub fn restart(&mut self) {
        let out = self.s.sigterm();
        assert!(out.status.success(), "vouch serve did not stop cleanly: {out:?}");
        self.s = Self::launch(&self.dir, self.http_port, self.sip, &self.trust, &self.flags, self.rust_log.as_deref());
    }

    /// `<dir>/<name>`.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// Registers a provider with `roles` (voice providers need an FRN and an SPC).
pub(crate) async fn provider(s: &Server, name: &str, roles: &[&str], frn: Option<&str>, spc: Option<&str>) -> Provider {
    let mut body = json!({ "legalName": name, "roles": roles });
    if let Some(f) = frn {
        body["frn"] = json!(f);
    }
    if let Some(c) = spc {
        body["spc"] = json!(c);
    }
    let v = s.post("/v1/providers", &s.admin, &body).await.ok(201).clone();
    Provider {
        id: v["provider"]["providerId"].as_str().unwrap().to_owned(),
        key: v["apiKey"].as_str().unwrap().to_owned(),
        key_id: v["keyId"].as_str().unwrap().to_owned(),
    }
}

/// A voice (and CSP) provider with FRN `frn` and SPC `spc`, its certificate from `ca`
/// registered; returns the provider, the certificate files and the registration (201 body).
pub(crate) async fn signer(s: &Server, ca: &DevCa, name: &str, frn: &str, spc: &str) -> (Provider, Issued, Value) {
    let p = provider(s, name, &["voice", "csp"], Some(frn), Some(spc)).await;
    let cert = ca.issue(spc);
    let reg = register_certificate(s, &p, &cert).await.ok(201).clone();
    (p, cert, reg)
}

/// `POST /v1/providers/{id}/certificates` with `cert`'s chain and key.
pub(crate) async fn register_certificate(s: &Server, p: &Provider, cert: &Issued) -> crate::harness::Resp {
    let body = json!({ "chain": cert.chain_pem(), "privateKey": cert.key_pem() });
    s.post(&format!("/v1/providers/{}/certificates", p.id), &p.key, &body).await
}

/// `POST /v1/providers/{id}/sip-peers`.
pub(crate) async fn add_peer(s: &Server, p: &Provider, address: &str) {
    s.post(&format!("/v1/providers/{}/sip-peers", p.id), &p.key, &json!({ "address": address })).await.ok(201);
}

/// `POST /v1/providers/{id}/number-blocks` for the provider's own numbers: the administrator
/// registers blocks (they earn A attestation); the provider itself may not.
pub(crate) async fn add_block(s: &Server, p: &Provider, first: &str, last: &str) {
    let body = json!({ "first": first, "last": last });
    let path = format!("/v1/providers/{}/number-blocks", p.id);
    s.post(&path, &p.key, &body).await.problem(403, "forbidden");
    s.post(&path, &s.admin, &body).await.ok(201);
}

// ---------------------------------------------------------------------------------------------
// /stir/v1

/// An ATIS-1000082 response: status, headers, JSON body.
#[derive(Debug)]
pub(crate) struct Atis {
    /// HTTP status.
    pub status: u16,
    /// Headers.
    pub headers: HeaderMap,
    /// Body (JSON; `Null` when not JSON).
    pub json: Value,
}

impl Atis {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a `requestError` with `status`, message id `id` and first variable `var`
    /// (unless empty); returns the exception.
    #[track_caller]
    pub fn exception(&self, status: u16, id: &str, var: &str) -> &Value {
        assert_eq!(self.status, status, "expected {status} {id}, got {self:?}");
        let kind = if id.starts_with("POL") { "policyException" } else { "serviceException" };
        let e = &self.json["requestError"][kind];
        assert_eq!(e["messageId"], id, "{}", self.json);
        assert!(e["text"].as_str().is_some_and(|t| !t.is_empty()), "{}", self.json);
        assert!(e["variables"].is_array(), "{}", self.json);
        if !var.is_empty() {
            assert_eq!(e["variables"][0], var, "{}", self.json);
        }
        assert!(self.header("x-requestid").is_some_and(|v| !v.is_empty()), "no X-RequestID: {self:?}");
        e
    }
}

/// A request to a `/stir` path with `headers` (no Authorization unless given in them).
pub(crate) async fn stir(
    s: &Server,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> Atis {
    let mut rb = s.http.request(method, format!("{}{path}", s.base));
    for (n, v) in headers {
        rb = rb.header(*n, *v);
    }
    if let Some(b) = body {
        rb = rb.body(b);
    }
    let resp = rb.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    Atis { status, headers, json: serde_json::from_str(&text).unwrap_or(Value::Null) }
}

/// `POST path` with `key` and a JSON body.
pub(crate) async fn stir_post(s: &Server, path: &str, key: &str, body: &Value) -> Atis {
    let auth = format!("Bearer {key}");
    let h = [("authorization", auth.as_str()), ("content-type", "application/json")];
    stir(s, Method::POST, path, &h, Some(serde_json::to_vec(body).unwrap())).await
}

/// A signing request body.
pub(crate) fn signing_request(attest: &str, orig: &str, dest: &str) -> Value {
    json!({ "signingRequest": { "attest": attest, "orig": { "tn": orig }, "dest": { "tn": [dest] }, "iat": now() } })
}

/// Signs through `/stir/v1/signing`; returns `signingResponse`.
pub(crate) async fn sign(s: &Server, key: &str, body: &Value) -> Value {
    let r = stir_post(s, "/stir/v1/signing", key, body).await;
    assert_eq!(r.status, 200, "signing {body}: {r:?}");
    r.json["signingResponse"].clone()
}

/// Signs an A-level call from `orig` to `dest` as `p`; returns the Identity header.
pub(crate) async fn identity(s: &Server, p: &Provider, orig: &str, dest: &str) -> String {
    sign(s, &p.key, &signing_request("A", orig, dest)).await["identity"].as_str().unwrap().to_owned()
}

/// A verification request body.
pub(crate) fn verification_request(from: &str, to: &str, identity: &str) -> Value {
    json!({ "verificationRequest": {
        "from": { "tn": from }, "to": { "tn": [to] }, "time": now(), "identity": identity
    }})
}

/// Verifies through `/stir/v1/verification` (HTTP 200 expected); returns `verificationResponse`.
pub(crate) async fn verify(s: &Server, key: &str, body: &Value) -> Value {
    let r = stir_post(s, "/stir/v1/verification", key, body).await;
    assert_eq!(r.status, 200, "verification {body}: {r:?}");
    r.json["verificationResponse"].clone()
}

// ---------------------------------------------------------------------------------------------
// PASSporTs

/// Unpadded base64url.
pub(crate) fn b64url(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// Decodes unpadded base64url (panics on anything else).
pub(crate) fn b64url_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => u32::from(c - b'A'),
        b'a'..=b'z' => u32::from(c - b'a') + 26,
        b'0'..=b'9' => u32::from(c - b'0') + 52,
        b'-' => 62,
        b'_' => 63,
        _ => panic!("{c:?} is not base64url in {s}"),
    };
    let mut out = Vec::new();
    for chunk in s.as_bytes().chunks(4) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, c)| n | (val(*c) << (18 - 6 * i)));
        for i in 0..chunk.len().saturating_sub(1) {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    out
}

/// The PASSporT and the `info` URI of an Identity header.
pub(crate) fn split_identity(identity: &str) -> (&str, &str) {
    let (token, params) = identity.split_once(';').unwrap();
    let info = params.split(';').find_map(|p| p.strip_prefix("info=<")).unwrap().trim_end_matches('>');
    (token, info)
}

/// The decoded JOSE header and claims of a PASSporT.
pub(crate) fn decode(token: &str) -> (Value, Value) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "{token}");
    let json = |p: &str| serde_json::from_slice::<Value>(&b64url_decode(p)).unwrap();
    (json(parts[0]), json(parts[1]))
}

/// A compact JWS over `header` and `claims`, signed (ES256) with the PEM key at `key`: lets
/// a test present PASSporTs whose header or claims vouch itself would never sign.
pub(crate) fn craft(key: &Path, header: &Value, claims: &Value) -> String {
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
    let pem = std::fs::read(key).unwrap();
    let (_, block) = x509_parser::pem::parse_x509_pem(&pem).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &block.contents).unwrap();
    let input =
        format!("{}.{}", b64url(&serde_json::to_vec(header).unwrap()), b64url(&serde_json::to_vec(claims).unwrap()));
    let sig = pair.sign(&aws_lc_rs::rand::SystemRandom::new(), input.as_bytes()).unwrap();
    assert_eq!(sig.as_ref().len(), 64);
    format!("{input}.{}", b64url(sig.as_ref()))
}

/// The claims of a valid SHAKEN PASSporT from `orig` to `dest`, issued now.
pub(crate) fn claims(orig: &str, dest: &str) -> Value {
    json!({ "attest": "A", "dest": { "tn": [dest] }, "iat": now(), "orig": { "tn": orig },
            "origid": "123e4567-e89b-12d3-a456-426655440000" })
}

/// A SHAKEN JOSE header for `x5u`.
pub(crate) fn jose(x5u: &str) -> Value {
    json!({ "alg": "ES256", "ppt": "shaken", "typ": "passport", "x5u": x5u })
}

/// Changes the character in the middle of `s` (not the last one, which may carry padding
/// bits a decoder ignores).
pub(crate) fn flip_middle(s: &str) -> String {
    let mut b = s.as_bytes().to_vec();
    let i = b.len() / 2;
    b[i] = if b[i] == b'A' { b'B' } else { b'A' };
    String::from_utf8(b).unwrap()
}

/// `identity` with its signature changed (a valid encoding of a wrong signature).
pub(crate) fn tamper_signature(identity: &str) -> String {
    let (token, params) = identity.split_once(';').unwrap();
    let (input, sig) = token.rsplit_once('.').unwrap();
    format!("{input}.{};{params}", flip_middle(sig))
}

/// `identity` with one character of its payload changed.
pub(crate) fn tamper_payload(identity: &str) -> String {
    let (token, params) = identity.split_once(';').unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    format!("{}.{}.{};{params}", parts[0], flip_middle(parts[1]), parts[2])
}

/// `vouch sign` with `cert`'s key: the Identity header.
pub(crate) fn cli_sign(dir: &Path, cert: &Issued, x5u: &str, orig: &str, dest: &str, extra: &[&str]) -> String {
    let mut c = vouch(dir);
    c.args(["sign", "--key"]).arg(&cert.key).args(["--x5u", x5u, "--orig", orig, "--dest", dest, "--attest", "A"]);
    ok(run(c.args(extra), LIMIT)).trim().to_owned()
}

/// Whether `s` looks like a version 4 UUID.
pub(crate) fn is_uuid_v4(s: &str) -> bool {
    is_uuid_of_version(s, b'4')
}

/// Whether `s` looks like a UUID of `version` (`b'4'`, `b'7'`).
pub(crate) fn is_uuid_of_version(s: &str, version: u8) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
        && b[14] == version
}

/// One HTTP/1.1 request written by hand (for what reqwest will not send, such as a POST
/// without Content-Length); returns the status line, the head and the body.
fn raw_http(base: &str, request: &str) -> (String, String, String) {
    let addr = base.strip_prefix("http://").unwrap();
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut buf = Vec::new();
    let _ = stream.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (head.lines().next().unwrap_or_default().to_owned(), head.to_owned(), body.to_owned())
}

// ---------------------------------------------------------------------------------------------
// Tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stir_http_every_service_exception_names_its_parameter_and_carries_a_request_id() {
    let v = Voice::start(&[]);
    let s = &v.s;
    let (p, _, _) = signer(s, &v.ca, "Acme Voice LLC", "0055500001", "123A").await;
    let csp = provider(s, "Acme Messaging Inc", &["csp"], None, None).await;
    let uncertified = provider(s, "Bravo Voice LLC", &["voice"], Some("0055500002"), Some("456B")).await;
    let auth = format!("Bearer {}", p.key);
    let json_ct = ("content-type", "application/json");
    let good = serde_json::to_vec(&signing_request("A", "12025550100", "12025550199")).unwrap();

    // POL4050: only POST, with Allow.
    let r = stir(s, Method::GET, "/stir/v1/signing", &[("authorization", &auth)], None).await;
    r.exception(405, "POL4050", "GET");
    assert_eq!(r.header("allow"), Some("POST"));
    stir(s, Method::PUT, "/stir/v1/verification", &[("authorization", &auth), json_ct], Some(good.clone()))
        .await
        .exception(405, "POL4050", "PUT");
    // SVC4003: another resource under /stir.
    let r = stir(s, Method::POST, "/stir/v1/other", &[("authorization", &auth), json_ct], Some(good.clone())).await;
    r.exception(404, "SVC4003", "/stir/v1/other");
    // SVC4004: not JSON; the variable is the type expected.
    let r = stir(
        s,
        Method::POST,
        "/stir/v1/signing",
        &[("authorization", &auth), ("content-type", "text/plain")],
        Some(good.clone()),
    )
    .await;
    r.exception(415, "SVC4004", "application/json");
    stir(s, Method::POST, "/stir/v1/signing", &[("authorization", &auth)], Some(good.clone())).await.exception(
        415,
        "SVC4004",
        "application/json",
    );
    // SVC4002: an Accept that excludes JSON.
    let xml = [("authorization", auth.as_str()), json_ct, ("accept", "application/xml")];
    stir(s, Method::POST, "/stir/v1/signing", &xml, Some(good.clone())).await.exception(
        406,
        "SVC4002",
        "application/xml",
    );
    // ... as does one that names JSON with the weight 0 ("not acceptable", RFC 9110 12.4.2).
    for refused in ["application/json;q=0", "application/json;q=0, */*;q=0.5"] {
        let h = [("authorization", auth.as_str()), json_ct, ("accept", refused)];
        stir(s, Method::POST, "/stir/v1/signing", &h, Some(good.clone())).await.exception(406, "SVC4002", refused);
    }
    // ... while a list that includes it is fine.
    let list = [("authorization", auth.as_str()), json_ct, ("accept", "text/html, application/json;q=0.9")];
    assert_eq!(stir(s, Method::POST, "/stir/v1/signing", &list, Some(good.clone())).await.status, 200);
    // SVC4007: no Content-Length (and not chunked), written by hand.
    let (status, head, body) = raw_http(
        &s.base,
        &format!(
            "POST /stir/v1/verification HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {auth}\r\n\
             Content-Type: application/json\r\nX-RequestID: no-length-1\r\nConnection: close\r\n\r\n"
        ),
    );
    assert!(status.contains(" 411 "), "{status}\n{head}\n{body}");
    assert!(head.to_ascii_lowercase().contains("x-requestid: no-length-1"), "{head}");
    let e: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(e["requestError"]["serviceException"]["messageId"], "SVC4007", "{e}");
    // VOUCH4010: no key, a malformed key, an unknown key; with WWW-Authenticate.
    let r = stir(s, Method::POST, "/stir/v1/signing", &[json_ct], Some(good.clone())).await;
    r.exception(401, "VOUCH4010", "");
    assert!(r.header("www-authenticate").is_some_and(|v| v.starts_with("Bearer")), "{r:?}");
    for bad in ["Bearer nonsense", "Basic dXNlcjpwdw==", "Bearer vouch_KAAAAAAA_000000000000000000000000000000000"] {
        let r = stir(s, Method::POST, "/stir/v1/signing", &[("authorization", bad), json_ct], Some(good.clone())).await;
        r.exception(401, "VOUCH4010", "");
    }
    // VOUCH4030: a CSP's key may neither sign nor verify; a voice provider without a
    // certificate may not sign.
    let r = stir_post(s, "/stir/v1/signing", &csp.key, &signing_request("A", "12025550100", "12025550199")).await;
    r.exception(403, "VOUCH4030", "");
    let ver = verification_request("12025550100", "12025550199", "a.b.c;info=<http://127.0.0.1/x.pem>");
    stir_post(s, "/stir/v1/verification", &csp.key, &ver).await.exception(403, "VOUCH4030", "");
    let r =
        stir_post(s, "/stir/v1/signing", &uncertified.key, &signing_request("A", "12025550100", "12025550199")).await;
    let e = r.exception(403, "VOUCH4030", "");
    assert!(e["variables"][0].as_str().unwrap().contains("certificate"), "{e}");

    // The body: SVC4000 empty, SVC4006 not JSON, SVC4001 missing, SVC4005 bad value.
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        ("/stir/v1/signing", json!({"other": {}}), "SVC4001", "signingRequest"),
        (
            "/stir/v1/signing",
            json!({"signingRequest": {"orig": {"tn": "12025550100"}, "dest": {"tn": ["12025550199"]}, "iat": now()}}),
            "SVC4001",
            "attest",
        ),
        (
            "/stir/v1/signing",
            json!({"signingRequest": {"attest": "A", "dest": {"tn": ["12025550199"]}, "iat": now()}}),
            "SVC4001",
            "orig",
        ),
        (
            "/stir/v1/signing",
            json!({"signingRequest": {"attest": "A", "orig": {"tn": "12025550100"}, "dest": {"tn": ["12025550199"]}}}),
            "SVC4001",
            "iat",
        ),
        (
            "/stir/v1/signing",
            json!({"signingRequest": {"attest": "D", "orig": {"tn": "12025550100"}, "dest": {"tn": ["12025550199"]}, "iat": now()}}),
            "SVC4005",
            "attest",
        ),
        (
            "/stir/v1/signing",
            json!({"signingRequest": {"attest": "A", "orig": {"tn": "CALL-ME"}, "dest": {"tn": ["12025550199"]}, "iat": now()}}),
            "SVC4005",
            "orig.tn",
        ),
        (
            "/stir/v1/signing",
            json!({"signingRequest": {"attest": "A", "orig": {"tn": "++++12025550100"}, "dest": {"tn": ["12025550199"]}, "iat": now()}}),
            "SVC4005",
            "orig.tn",
        ),
        (
            "/stir/v1/signing",
            json!({"signingRequest": {"attest": "A", "orig": {"tn": "12025550100"}, "dest": {"tn": ["++12025550199"]}, "iat": now()}}),
            "SVC4005",
            "dest.tn",
        ),
        (
            "/stir/v1/signing",
            json!({"signingRequest": {"attest": "A", "orig": {"tn": "12025550100"}, "dest": {"tn": []}, "iat": now()}}),
            "SVC4005",
            "dest.tn",
        ),
        (
            "/stir/v1/signing",
            json!({"signingRequest": {"attest": "A", "orig": {"tn": "12025550100"}, "dest": {"tn": ["12025550199"]}, "iat": "now"}}),
            "SVC4005",
            "iat",
        ),
        (
            "/stir/v1/signing",
            json!({"signingRequest": {"attest": "A", "orig": {"tn": "12025550100"}, "dest": {"tn": ["12025550199"]}, "iat": now() - 3600}}),
            "SVC4005",
            "iat",
        ),
        (
            "/stir/v1/signing",
            json!({"signingRequest": {"attest": "A", "orig": {"tn": "12025550100"}, "dest": {"tn": ["12025550199"]}, "iat": now(), "origid": "not-a-uuid"}}),
            "SVC4005",
            "origid",
        ),
        (
            "/stir/v1/signing",
            json!({"signingRequest": {"attest": "A", "orig": {"tn": "12025550100"}, "dest": {"tn": ["12025550199"]}, "iat": now(), "customer": "not a brand"}}),
            "SVC4005",
            "customer",
        ),
        (
            "/stir/v1/signing",
            json!({"signingRequest": {"attest": "A", "orig": {"tn": "12025550100"}, "dest": {"tn": ["12025550199"]}, "iat": now(), "ppt": "rcd"}}),
            "SVC4005",
            "ppt",
        ),
        // A forward (ppt div) carries the call's SHAKEN Identity header, names the number it
        // diverts from, and one new target.
        (
            "/stir/v1/signing",
            json!({"signingRequest": {"orig": {"tn": "12025550100"}, "dest": {"tn": ["12025550199"]}, "div": {"tn": "12025550100"}, "ppt": "div"}}),
            "SVC4001",
            "identity",
        ),
        (
            "/stir/v1/signing",
            json!({"signingRequest": {"identity": "a.b.c", "dest": {"tn": ["12025550199"]}, "ppt": "div"}}),
            "SVC4001",
            "div",
        ),
        (
            "/stir/v1/signing",
            json!({"signingRequest": {"identity": "a.b.c", "dest": {"tn": ["12025550198", "12025550199"]}, "div": {"tn": "12025550100"}, "ppt": "div"}}),
            "SVC4005",
            "dest.tn",
        ),
        (
            "/stir/v1/verification",
            json!({"verificationRequest": {"from": {"tn": "12025550100"}, "to": {"tn": ["12025550199"]}, "time": now()}}),
            "SVC4001",
            "identity",
        ),
        (
            "/stir/v1/verification",
            json!({"verificationRequest": {"to": {"tn": ["12025550199"]}, "time": now(), "identity": "a"}}),
            "SVC4001",
            "from",
        ),
        (
            "/stir/v1/verification",
            json!({"verificationRequest": {"from": {"tn": "12025550100"}, "to": {"tn": ["12025550199"]}, "identity": "a"}}),
            "SVC4001",
            "time",
        ),
        (
            "/stir/v1/verification",
            json!({"verificationRequest": {"from": {"tn": "12025550100"}, "to": {"tn": ["12025550199"]}, "time": now(), "identity": 7}}),
            "SVC4005",
            "identity",
        ),
        (
            "/stir/v1/verification",
            json!({"verificationRequest": {"from": {"tn": "12025550100"}, "to": {"tn": ["x"]}, "time": now(), "identity": "a"}}),
            "SVC4005",
            "to.tn",
        ),
        (
            "/stir/v1/verification",
            json!({"verificationRequest": {"from": {"tn": "12025550100"}, "to": {"tn": ["12025550199"]}, "time": now(), "identity": "a", "upstream": "not an id"}}),
            "SVC4005",
            "upstream",
        ),
        ("/stir/v1/verification", json!({"verificationRequest": "yes"}), "SVC4005", "verificationRequest"),
    ];
    for (path, body, id, var) in cases {
        let r = stir_post(s, path, &p.key, &body).await;
        assert_eq!(r.status, 400, "{path} {body}: {r:?}");
        r.exception(400, id, var);
    }
    // An empty body with Content-Length: 0 (reqwest sends no Content-Length for an empty body).
    let (status, _, body) = raw_http(
        &s.base,
        &format!(
            "POST /stir/v1/signing HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {auth}\r\n\
             Content-Type: application/json\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        ),
    );
    assert!(status.contains(" 400 "), "{status}\n{body}");
    let e: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(e["requestError"]["serviceException"]["messageId"], "SVC4000", "{e}");
    assert_eq!(e["requestError"]["serviceException"]["variables"], json!([]), "{e}");
    for (bytes, id) in
        [(&b"  \r\n"[..], "SVC4000"), (b"{", "SVC4006"), (b"[1,2]", "SVC4006"), (b"\"signingRequest\"", "SVC4006")]
    {
        let r =
            stir(s, Method::POST, "/stir/v1/signing", &[("authorization", &auth), json_ct], Some(bytes.to_vec())).await;
        r.exception(400, id, "");
    }

    // A body over 16 KiB: SVC4005 naming the body (docs/CALL-AUTH.md), on both resources.
    for path in ["/stir/v1/signing", "/stir/v1/verification"] {
        let mut body = signing_request("A", "12025550100", "12025550199");
        body["signingRequest"]["padding"] = json!("x".repeat(17 * 1024));
        stir_post(s, path, &p.key, &body).await.exception(400, "SVC4005", "body");
    }

    // X-RequestID: echoed when usable (on success and on every kind of error), else a new UUID.
    let with_id = |id: &'static str| {
        [("authorization", auth.clone()), ("content-type", "application/json".into()), ("x-requestid", id.into())]
    };
    for (method, path, body, status) in [
        (Method::POST, "/stir/v1/signing", Some(good.clone()), 200),
        (Method::POST, "/stir/v1/signing", Some(b"{".to_vec()), 400),
        (Method::GET, "/stir/v1/signing", None, 405),
        (Method::POST, "/stir/v2/signing", Some(good.clone()), 404),
    ] {
        let h = with_id("trace-42.a_b:c");
        let h: Vec<(&str, &str)> = h.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let r = stir(s, method.clone(), path, &h, body.clone()).await;
        assert_eq!(r.status, status, "{method} {path}: {r:?}");
        assert_eq!(r.header("x-requestid"), Some("trace-42.a_b:c"), "{method} {path}: {r:?}");
        let r = stir(s, method.clone(), path, &h[..2], body.clone()).await;
        let generated = r.header("x-requestid").unwrap_or_default().to_owned();
        assert!(is_uuid_v4(&generated), "{method} {path}: generated X-RequestID {generated:?}");
        let again = stir(s, method.clone(), path, &h[..2], body).await;
        assert_ne!(again.header("x-requestid"), Some(generated.as_str()), "request ids must not repeat");
    }
    let unauthenticated =
        stir(s, Method::POST, "/stir/v1/signing", &[json_ct, ("x-requestid", "who-1")], Some(good.clone())).await;
    assert_eq!((unauthenticated.status, unauthenticated.header("x-requestid")), (401, Some("who-1")));
    // Not usable (a space; longer than 128 characters): replaced.
    let long = "x".repeat(129);
    for bad in ["two words", long.as_str()] {
        let r = stir(
            s,
            Method::POST,
            "/stir/v1/signing",
            &[("authorization", &auth), json_ct, ("x-requestid", bad)],
            Some(good.clone()),
        )
        .await;
        assert_eq!(r.status, 200);
        assert!(is_uuid_v4(r.header("x-requestid").unwrap_or_default()), "{bad:?} was kept: {r:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stir_http_a_body_that_does_not_arrive_whole_within_10_s_is_refused_and_the_connection_closed() {
    let v = Voice::start(&[]);
    let s = &v.s;
    let (p, _, _) = signer(s, &v.ca, "Acme Voice LLC", "0055500001", "123A").await;
    // An authenticated client announces 100 bytes and sends 2.
    let addr = s.base.strip_prefix("http://").unwrap();
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let started = Instant::now();
    stream
        .write_all(
            format!(
                "POST /stir/v1/signing HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n\
                 Content-Type: application/json\r\nX-RequestID: slow-1\r\nContent-Length: 100\r\n\r\n{{\"",
                p.key
            )
            .as_bytes(),
        )
        .unwrap();
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).expect("the server closes the connection");
    let took = started.elapsed();
    assert!((Duration::from_secs(9)..Duration::from_secs(20)).contains(&took), "answered after {took:?}");
    let answers = split_responses(&buf);
    assert_eq!(answers.len(), 1, "{}", String::from_utf8_lossy(&buf));
    let (code, id, body) = &answers[0];
    assert_eq!((*code, id.as_str()), (400, "slow-1"), "{body}");
    let e = &body["requestError"]["serviceException"];
    assert_eq!(e["messageId"], "SVC4006", "{body}");
    assert!(e["variables"][0].as_str().unwrap().contains("10 s"), "{body}");
    // The server goes on serving.
    assert_eq!(sign(s, &p.key, &signing_request("A", "12025550100", "12025550199")).await["vouch"]["attest"], "C");
}

/// HTTP/1.1 responses read one after another off `bytes` (each with a Content-Length): the
/// status code, the `X-RequestID` and the body of each.
fn split_responses(bytes: &[u8]) -> Vec<(u16, String, Value)> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while let Some(end) = rest.windows(4).position(|w| w == b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&rest[..end]).into_owned();
        let header = |name: &str| {
            head.lines()
                .find_map(|l| l.split_once(':').filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim()))
                .map(str::to_owned)
        };
        let code = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        let length: usize = header("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
        let body = &rest[end + 4..(end + 4 + length).min(rest.len())];
        out.push((
            code,
            header("x-requestid").unwrap_or_default(),
            serde_json::from_slice(body).unwrap_or(Value::Null),
        ));
        rest = &rest[(end + 4 + length).min(rest.len())..];
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stir_http_pipelined_requests_are_answered_in_order_each_with_its_request_id() {
    let v = Voice::start(&[]);
    let s = &v.s;
    let (p, _, _) = signer(s, &v.ca, "Acme Voice LLC", "0055500001", "123A").await;
    // Twelve requests in one write (HTTP/1.1 pipelining, as a busy SBC's client may send them):
    // signings, one that is not JSON (415) in the middle, and a verification without its
    // verificationRequest (400, SVC4001).
    let good = signing_request("A", "12025550100", "12025550199").to_string();
    let request = |i: usize, path: &str, content_type: &str, body: &str, last: bool| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: vouch\r\nAuthorization: Bearer {}\r\nContent-Type: {content_type}\r\n\
             X-RequestID: pipe-{i}\r\nContent-Length: {}\r\n{}\r\n{body}",
            p.key,
            body.len(),
            if last { "Connection: close\r\n" } else { "" }
        )
    };
    let mut all = String::new();
    for i in 0..12 {
        all += &match i {
            5 => request(i, "/stir/v1/signing", "text/plain", &good, false),
            8 => request(i, "/stir/v1/verification", "application/json", "{}", false),
            _ => request(i, "/stir/v1/signing", "application/json", &good, i == 11),
        };
    }
    let addr = s.base.strip_prefix("http://").unwrap();
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    stream.write_all(all.as_bytes()).unwrap();
    let mut buf = Vec::new();
    let _ = stream.read_to_end(&mut buf);
    let answers = split_responses(&buf);
    assert_eq!(answers.len(), 12, "{}", String::from_utf8_lossy(&buf));
    for (i, (code, id, body)) in answers.iter().enumerate() {
        assert_eq!(id, &format!("pipe-{i}"), "answer {i} out of order: {body}");
        match i {
            5 => assert_eq!(
                (*code, body["requestError"]["serviceException"]["messageId"].as_str()),
                (415, Some("SVC4004"))
            ),
            8 => assert_eq!(
                (*code, body["requestError"]["serviceException"]["messageId"].as_str()),
                (400, Some("SVC4001")),
                "{body}"
            ),
            _ => {
                assert_eq!(*code, 200, "{body}");
                let identity = body["signingResponse"]["identity"].as_str().unwrap();
                assert!(identity.contains(";ppt=shaken"), "{identity}");
            }
        }
    }
    // Each signing is its own call with its own origid.
    let origids: std::collections::BTreeSet<String> = answers
        .iter()
        .filter(|a| a.0 == 200)
        .map(|a| {
            let token = a.2["signingResponse"]["identity"].as_str().unwrap().split('.').nth(1).unwrap().to_owned();
            let claims: Value = serde_json::from_slice(&b64url_decode(&token)).unwrap();
            claims["origid"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(origids.len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stir_http_signing_attests_what_the_registry_supports_and_records_each_call() {
    let v = Voice::start(&[]);
    let s = &v.s;
    let (p, _, _) = signer(s, &v.ca, "Acme Voice LLC", "0055500001", "123A").await;
    let other = provider(s, "Bravo Voice LLC", &["voice", "csp"], Some("0055500002"), Some("456B")).await;
    add_block(s, &p, "+12025550100", "+12025550199").await;
    // Brands of the provider (a CSP too), with MARKETING campaigns a DCA accepted.
    let dca = s.dca("Carrier Connect LLC").await;
    let verified = s.verified_brand(&p).await;
    let verified_campaign = s.marketing_campaign(&p, &verified).await;
    s.share_and_accept(&p, &verified_campaign, &dca).await;
    s.assign(&dca.key, "+14155550123", &verified_campaign).await.ok(201);
    let mut listed = other_brand_json();
    listed["entityType"] = json!("PUBLIC_PROFIT");
    listed["stockSymbol"] = json!("INIT");
    listed["stockExchange"] = json!("NASDAQ");
    let vv = s.brand_with(&p, &listed).await;
    assert_eq!(vv["identityStatus"], "VETTED_VERIFIED", "{vv:#}");
    let vv_id = vv["brandId"].as_str().unwrap().to_owned();
    let vv_name = vv["displayName"].as_str().unwrap().to_owned();
    let mut c = crate::harness::campaign_json(&vv_id);
    c["description"] = json!("Appointment reminders and monthly offers for Initech Orthodontics patients.");
    let vv_campaign = s.post("/v1/campaigns", &p.key, &c).await.ok(201)["campaignId"].as_str().unwrap().to_owned();
    s.share_and_accept(&p, &vv_campaign, &dca).await;
    s.assign(&dca.key, "+15125550177", &vv_campaign).await.ok(201);

    let origid = "5b0c7d1e-3f4a-4b6c-8d9e-0a1b2c3d4e5f";
    struct Case {
        what: &'static str,
        body: Value,
        attest: &'static str,
        downgraded: bool,
        reason: &'static str,
        brand: Option<String>,
        campaign: Option<String>,
        rcd: Option<String>,
    }
    let with = |mut b: Value, k: &str, val: Value| {
        b["signingRequest"][k] = val;
        b
    };
    let cases = [
        Case {
            what: "a number of the provider's own block",
            body: with(signing_request("A", "12025550142", "13125550100"), "origid", json!(origid)),
            attest: "A",
            downgraded: false,
            reason: "block the provider registered as its own",
            brand: None,
            campaign: None,
            rcd: None,
        },
        Case {
            what: "a number of a VERIFIED brand's campaign",
            body: signing_request("A", "14155550123", "13125550100"),
            attest: "A",
            downgraded: false,
            reason: "campaign",
            brand: Some(verified.clone()),
            campaign: Some(verified_campaign.clone()),
            rcd: None,
        },
        Case {
            what: "a number of a VETTED_VERIFIED brand's campaign",
            body: signing_request("A", "15125550177", "13125550100"),
            attest: "A",
            downgraded: false,
            reason: "campaign",
            brand: Some(vv_id.clone()),
            campaign: Some(vv_campaign.clone()),
            rcd: Some(vv_name.clone()),
        },
        Case {
            what: "a customer named, but a number that is not its own",
            body: with(signing_request("A", "13105550111", "13125550100"), "customer", json!(verified)),
            attest: "B",
            downgraded: true,
            reason: "customer",
            brand: Some(verified.clone()),
            campaign: None,
            rcd: None,
        },
        Case {
            // The provider's own number stays A, but the registry does not tie it to the
            // brand named: no verified caller name is signed for it.
            what: "a VETTED_VERIFIED customer named on a number of the provider's own block",
            body: with(signing_request("A", "12025550144", "13125550100"), "customer", json!(vv_id)),
            attest: "A",
            downgraded: false,
            reason: "is not the number's holder",
            brand: Some(vv_id.clone()),
            campaign: None,
            rcd: None,
        },
        Case {
            what: "an unknown number",
            body: signing_request("A", "13105550112", "13125550100"),
            attest: "C",
            downgraded: true,
            reason: "does not give this number",
            brand: None,
            campaign: None,
            rcd: None,
        },
        Case {
            what: "an unknown number, C asked for",
            body: signing_request("C", "13105550113", "13125550100"),
            attest: "C",
            downgraded: false,
            reason: "does not give this number",
            brand: None,
            campaign: None,
            rcd: None,
        },
        Case {
            what: "the provider's own number, B asked for (never more than asked)",
            body: signing_request("B", "12025550143", "13125550100"),
            attest: "B",
            downgraded: false,
            reason: "B asked for",
            brand: None,
            campaign: None,
            rcd: None,
        },
        Case {
            what: "another provider's campaign number",
            body: signing_request("A", "14155550123", "13125550100"),
            attest: "C",
            downgraded: true,
            reason: "",
            brand: None,
            campaign: None,
            rcd: None,
        },
    ];
    let mut origids = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let key = if i == cases.len() - 1 { &other.key } else { &p.key };
        if i == cases.len() - 1 {
            // The other provider needs a certificate to sign at all.
            let cert = v.ca.issue("456B");
            register_certificate(s, &other, &cert).await.ok(201);
        }
        let r = sign(s, key, &case.body).await;
        let what = case.what;
        let vouch = &r["vouch"];
        assert_eq!(vouch["attest"], case.attest, "{what}: {r:#}");
        assert_eq!(vouch["requestedAttest"], case.body["signingRequest"]["attest"], "{what}: {r:#}");
        assert_eq!(vouch["downgraded"], case.downgraded, "{what}: {r:#}");
        assert!(vouch["reason"].as_str().unwrap().contains(case.reason), "{what}: {r:#}");
        let identity = r["identity"].as_str().unwrap();
        assert!(identity.ends_with(";alg=ES256;ppt=shaken"), "{identity}");
        let (token, info) = split_identity(identity);
        let (header, payload) = decode(token);
        assert_eq!(header["x5u"], info, "{what}: {header}");
        assert_eq!(
            (header["alg"].as_str(), header["typ"].as_str(), header["ppt"].as_str()),
            (Some("ES256"), Some("passport"), Some("shaken"))
        );
        assert_eq!(payload["attest"], case.attest, "{what}: {payload}");
        assert_eq!(payload["orig"]["tn"], case.body["signingRequest"]["orig"]["tn"], "{what}: {payload}");
        assert_eq!(payload["dest"]["tn"], json!(["13125550100"]), "{what}: {payload}");
        assert_eq!(payload["origid"], vouch["origid"], "{what}: {payload}");
        // vouch's own origids are UUIDv7: they sort by time, and start with the signing
        // millisecond.
        let generated = payload["origid"].as_str().unwrap();
        assert!(is_uuid_of_version(generated, b'7') || payload["origid"] == origid, "{what}: {payload}");
        if payload["origid"] != origid {
            let ms = i64::from_str_radix(&generated[..13].replace('-', ""), 16).unwrap();
            assert!((ms - jiff::Timestamp::now().as_millisecond()).abs() < 60_000, "{what}: {generated} at {ms} ms");
        }
        assert_eq!(payload["rcd"]["nam"].as_str(), case.rcd.as_deref(), "{what}: rcd.nam in {payload}");
        if case.rcd.is_none() {
            assert!(payload.get("rcd").is_none(), "{what}: no rcd may be signed: {payload}");
        }
        origids.push((vouch["origid"].as_str().unwrap().to_owned(), key.clone()));

        // vouch's own verifier agrees, and reports the signed caller name.
        let from = case.body["signingRequest"]["orig"]["tn"].as_str().unwrap();
        let ver = verify(s, key, &verification_request(from, "13125550100", identity)).await;
        assert_eq!(ver["verstat"], "TN-Validation-Passed", "{what}: {ver:#}");
        assert_eq!(ver["vouch"]["attest"], case.attest, "{what}: {ver:#}");
        assert_eq!(ver["vouch"]["callerName"].as_str(), case.rcd.as_deref(), "{what}: {ver:#}");

        // The signed-call record (written in batches: poll).
        let path = format!("/v1/signed-calls/{}", vouch["origid"].as_str().unwrap());
        let deadline = Instant::now() + Duration::from_secs(5);
        let rec = loop {
            let r = s.get(&path, Some(key)).await;
            if r.status.as_u16() == 200 {
                break r.json;
            }
            assert_eq!(r.status.as_u16(), 404, "{path}: {}", r.text);
            assert!(Instant::now() < deadline, "{what}: the signed call was never recorded");
            tokio::time::sleep(Duration::from_millis(25)).await;
        };
        assert_eq!(rec["attest"], case.attest, "{what}: {rec:#}");
        assert_eq!(rec["orig"], payload["orig"]["tn"], "{what}: {rec:#}");
        assert_eq!(rec["dest"], json!(["13125550100"]), "{what}: {rec:#}");
        assert_eq!(rec["iat"], payload["iat"], "{what}: {rec:#}");
        assert_eq!(rec["brandId"].as_str(), case.brand.as_deref(), "{what}: {rec:#}");
        assert_eq!(rec["campaignId"].as_str(), case.campaign.as_deref(), "{what}: {rec:#}");
        let signer_id = if i == cases.len() - 1 { &other.id } else { &p.id };
        assert_eq!(rec["providerId"], signer_id.as_str(), "{what}: {rec:#}");
    }
    assert_eq!(origids[0].0, origid, "the origid asked for is the one signed");
    // UUIDs compare case-insensitively: one asked for in upper case is signed and recorded in
    // lower case, and found in either.
    let upper = "7C9E6679-7425-40DE-944B-E07FC1F90AE7";
    let r = sign(s, &p.key, &with(signing_request("A", "12025550142", "13125550100"), "origid", json!(upper))).await;
    assert_eq!(r["vouch"]["origid"], upper.to_ascii_lowercase(), "{r:#}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while s.get(&format!("/v1/signed-calls/{upper}"), Some(&p.key)).await.status.as_u16() != 200 {
        assert!(Instant::now() < deadline, "{upper} not found");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // Once the DCA suspends the VERIFIED brand's campaign, its number is only B.
    let suspend = format!("/v1/campaigns/{verified_campaign}/suspend");
    s.post(&suspend, &dca.key, &json!({"reason": "spam complaints"})).await.ok(200);
    let r = sign(s, &p.key, &signing_request("A", "14155550123", "13125550100")).await;
    assert_eq!((r["vouch"]["attest"].as_str(), r["vouch"]["downgraded"].as_bool()), (Some("B"), Some(true)), "{r:#}");
    assert!(r["vouch"]["reason"].as_str().unwrap().contains("not active"), "{r:#}");
    // A number both in a voice provider's own block and in another CSP's 10DLC campaign (a
    // texting-enabled landline): the block's provider keeps A, and the campaign's CSP its own
    // answer (here B: the campaign is suspended).
    add_block(s, &other, "+14155550100", "+14155550199").await;
    let r = sign(s, &other.key, &signing_request("A", "14155550123", "13125550100")).await;
    assert_eq!(r["vouch"]["attest"], "A", "{r:#}");
    assert!(r["vouch"]["reason"].as_str().unwrap().contains("as its own"), "{r:#}");
    let r = sign(s, &p.key, &signing_request("A", "14155550123", "13125550100")).await;
    assert_eq!(r["vouch"]["attest"], "B", "{r:#}");
    // A number suspended by enforcement is at most B, and signs no caller name.
    s.post("/v1/numbers/+15125550177/suspend", &s.admin, &json!({"reason": "traceback"})).await.ok(200);
    let r = sign(s, &p.key, &signing_request("A", "15125550177", "13125550100")).await;
    assert_eq!(r["vouch"]["attest"], "B", "{r:#}");
    assert!(r["vouch"]["reason"].as_str().unwrap().contains("suspended"), "{r:#}");
    let (_, claims) = decode(split_identity(r["identity"].as_str().unwrap()).0);
    assert!(claims.get("rcd").is_none(), "{claims}");
    // The administrator sees every record; another provider none of p's.
    let path = format!("/v1/signed-calls/{origid}");
    s.get(&path, Some(&s.admin)).await.ok(200);
    s.get(&path, Some(&other.key)).await.problem(404, "signed-call-not-found");
    s.get(&path, None).await.problem(401, "unauthenticated");
    s.get("/v1/signed-calls/00000000-0000-4000-8000-000000000000", Some(&s.admin))
        .await
        .problem(404, "signed-call-not-found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stir_http_certificate_registration_is_checked_and_vouch_serves_the_chain_at_x5u() {
    let v = Voice::start(&[]);
    let s = &v.s;
    let p = provider(s, "Acme Voice LLC", &["voice"], Some("0055500001"), Some("123A")).await;
    let csp = provider(s, "Acme Messaging Inc", &["csp"], None, None).await;
    let good = v.ca.issue("123A");
    let another = v.ca.issue("123A");
    let wrong_spc = v.ca.issue("999Z");
    let untrusted = DevCa::init(&v.dir, "ca2").issue("123A");
    let path = format!("/v1/providers/{}/certificates", p.id);
    let post = |body: Value| {
        let (path, key) = (&path, &p.key);
        async move { s.post(path, key, &body).await }
    };

    let r = post(json!({ "chain": wrong_spc.chain_pem(), "privateKey": wrong_spc.key_pem() })).await;
    let e = r.problem_naming(422, "validation-failed", "chain");
    assert!(e["detail"].as_str().unwrap().contains("999Z"), "{e:#}");
    let r = post(json!({ "chain": good.chain_pem(), "privateKey": another.key_pem() })).await;
    r.problem_naming(422, "validation-failed", "privateKey");
    let r = post(json!({ "chain": untrusted.chain_pem(), "privateKey": untrusted.key_pem() })).await;
    let e = r.problem_naming(422, "validation-failed", "chain");
    assert!(e["detail"].as_str().unwrap().contains("trust"), "{e:#}");
    post(json!({ "chain": good.chain_pem() })).await.problem_naming(422, "validation-failed", "privateKey");
    post(json!({ "chain": good.chain_pem(), "privateKey": good.key_pem(), "keyFile": "k.pem" })).await.problem_naming(
        422,
        "validation-failed",
        "privateKey",
    );
    post(json!({ "chain": "not PEM", "privateKey": good.key_pem() })).await.problem_naming(
        422,
        "validation-failed",
        "chain",
    );
    post(json!({ "chain": good.chain_pem(), "privateKey": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n" }))
        .await
        .problem_naming(422, "validation-failed", "privateKey");
    post(json!({ "chain": good.chain_pem(), "keyFile": "../../etc/passwd" })).await.problem_naming(
        422,
        "validation-failed",
        "keyFile",
    );
    // An x5u verifiers would refuse (docs/X5U.md): not https, or with userinfo, a query or a
    // fragment; or not a URL at all.
    for x5u in [
        "http://cert.example.org/123A.pem",
        "HTTP://cert.example.org/123A.pem",
        "ftp://cert.example.org/123A.pem",
        "https://user:pw@cert.example.org/123A.pem",
        "https://cert.example.org/123A.pem?v=1",
        "https://cert.example.org/123A.pem#leaf",
        "cert.example.org/123A.pem",
        "https://cert.example.org/1 2.pem",
    ] {
        let r = post(json!({ "chain": good.chain_pem(), "privateKey": good.key_pem(), "x5u": x5u })).await;
        let e = r.problem_naming(422, "validation-failed", "x5u");
        assert!(e["detail"].as_str().is_some_and(|d| !d.is_empty()), "{x5u}: {e:#}");
    }
    // vouch's own x5u is under its public URL, here plain http on loopback: the server said at
    // start that other verifiers refuse it.
    assert!(s.stderr.text().contains("the public URL is not https"), "no warning:\n{}", s.stderr.text());
    // Only the provider itself (or the administrator), and only a voice provider.
    let body = json!({ "chain": good.chain_pem(), "privateKey": good.key_pem() });
    s.post(&path, &csp.key, &body).await.problem(403, "forbidden");
    let csp_path = format!("/v1/providers/{}/certificates", csp.id);
    s.post(&csp_path, &csp.key, &body).await.problem(403, "forbidden");
    s.get(&format!("/certs/{}.pem", "0".repeat(64)), None).await.problem(404, "certificate-not-found");

    let reg = post(body.clone()).await;
    let reg = reg.ok(201);
    let fp = reg["fingerprint"].as_str().unwrap();
    // The fingerprint is the SHA-256 of the end-entity certificate, as openssl computes it.
    let o = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(&good.chain)
        .output()
        .unwrap();
    let theirs = String::from_utf8(o.stdout).unwrap();
    let theirs = theirs.trim().rsplit('=').next().unwrap().replace(':', "").to_ascii_lowercase();
    assert_eq!(fp, theirs);
    assert_eq!(reg["x5u"], format!("{}/certs/{fp}.pem", s.base), "{reg:#}");
    assert_eq!(
        (reg["spc"].as_str(), reg["signing"].as_bool(), reg["providerId"].as_str()),
        (Some("123A"), Some(true), Some(p.id.as_str()))
    );
    let not_after: jiff::Timestamp = reg["notAfter"].as_str().unwrap().parse().unwrap();
    let days = (not_after.as_second() - now()) / 86_400;
    assert!((363..=366).contains(&days), "notAfter {not_after} is {days} days away; vouch ca issues for 365");
    post(body).await.problem(409, "duplicate-reference-id");
    let list = s.get(&path, Some(&p.key)).await;
    assert_eq!(crate::harness::ids(list.ok(200), "fingerprint"), vec![fp.to_owned()]);
    // The registration, with the whole chain and never the key, is in the transparency log:
    // `vouch log prove --fingerprint` checks its inclusion against the signed checkpoint.
    let mut prove = crate::harness::vouch(&s.scratch);
    prove.args(["log", "prove", "--url", &s.base, "--fingerprint", fp]);
    let out = crate::harness::run(prove, std::time::Duration::from_secs(60));
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.contains("certificate.registered") && out.stdout.contains(": OK"), "{}", out.stdout);
    assert!(out.stdout.matches("BEGIN CERTIFICATE").count() >= 2, "the whole chain is logged: {}", out.stdout);
    assert!(!out.stdout.contains("PRIVATE KEY"), "{}", out.stdout);

    // The chain at x5u: the PEM content type of ATIS-1000080, cacheable for a day (never past
    // notAfter), the same certificates as registered.
    let r = s.get(&format!("/certs/{fp}.pem"), None).await;
    r.ok(200);
    assert_eq!(r.content_type(), "application/pem-certificate-chain");
    assert_eq!(r.headers.get("cache-control").unwrap(), "public, max-age=86400");
    assert_eq!(r.headers.get("etag").unwrap().to_str().unwrap(), format!("\"{fp}\""));
    // A verifier revalidating its copy gets 304 without the body; another tag, the chain.
    let url = format!("{}/certs/{fp}.pem", s.base);
    for (tag, status) in [
        (format!("\"{fp}\""), 304),
        (format!("W/\"{fp}\""), 304),
        (format!("\"other\", \"{fp}\""), 304),
        ("*".to_owned(), 304),
        ("\"other\"".to_owned(), 200),
    ] {
        let r = s.http.get(&url).header("if-none-match", &tag).send().await.unwrap();
        assert_eq!(r.status().as_u16(), status, "If-None-Match: {tag}");
        assert_eq!(r.headers().get("etag").unwrap().to_str().unwrap(), format!("\"{fp}\""), "{tag}");
        assert!(r.headers().get("cache-control").is_some(), "{tag}");
        let body = r.text().await.unwrap();
        assert_eq!(body.is_empty(), status == 304, "If-None-Match: {tag}: {body}");
    }
    let certs = |pem: &str| -> Vec<String> {
        pem.split("-----BEGIN CERTIFICATE-----")
            .skip(1)
            .map(|b| b.split("-----END CERTIFICATE-----").next().unwrap().split_whitespace().collect())
            .collect()
    };
    let served = certs(&r.text);
    assert_eq!(served.len(), 2, "end entity and STI-CA: {}", r.text);
    assert_eq!(served, certs(&good.chain_pem()));
    // openssl reads it as the chain to the development root.
    let f = v.file("served.pem");
    std::fs::write(&f, &r.text).unwrap();
    let o = Command::new("openssl")
        .args(["verify", "-CAfile"])
        .arg(v.ca.root())
        .arg("-untrusted")
        .arg(&f)
        .arg(&f)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    s.get(&format!("/certs/{fp}"), None).await.problem(404, "certificate-not-found");

    // A certificate with its own x5u is not served by vouch (verifiers fetch it there).
    let own = v.ca.issue("123A");
    let body =
        json!({ "chain": own.chain_pem(), "privateKey": own.key_pem(), "x5u": "https://cert.example.org/123A.pem" });
    let reg = s.post(&path, &p.key, &body).await.ok(201).clone();
    assert_eq!(reg["x5u"], "https://cert.example.org/123A.pem");
    s.get(&format!("/certs/{}.pem", reg["fingerprint"].as_str().unwrap()), None)
        .await
        .problem(404, "certificate-not-found");
    // The newest is the one vouch signs with.
    let list = s.get(&path, Some(&p.key)).await.ok(200).clone();
    let signing: Vec<&str> =
        list.as_array().unwrap().iter().filter(|c| c["signing"] == true).map(|c| c["x5u"].as_str().unwrap()).collect();
    assert_eq!(signing, vec!["https://cert.example.org/123A.pem"], "{list:#}");
    let r = sign(s, &p.key, &signing_request("A", "12025550100", "12025550199")).await;
    assert!(r["identity"].as_str().unwrap().contains(";info=<https://cert.example.org/123A.pem>;"), "{r:#}");

    // A certificate valid for one more day only: cached no longer than it is valid.
    let short = v.ca.issue_for_days("123A", 1);
    let reg = s.post(&path, &p.key, &json!({ "chain": short.chain_pem(), "privateKey": short.key_pem() })).await;
    let reg = reg.ok(201).clone();
    let not_after: jiff::Timestamp = reg["notAfter"].as_str().unwrap().parse().unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let r = s.get(&format!("/certs/{}.pem", reg["fingerprint"].as_str().unwrap()), None).await;
    r.ok(200);
    let cache = r.headers.get("cache-control").unwrap().to_str().unwrap();
    let max_age: i64 = cache.strip_prefix("public, max-age=").unwrap().parse().unwrap();
    let left = not_after.as_second() - now();
    assert!(max_age < 86_400 && (max_age - left).abs() <= 2, "{cache}, but {left} s left");
    // Key files live in the provider's own directory, <data-dir>/keys/<provider id>/: a file
    // of another provider's directory is not found, and the error does not reveal the path.
    let kf = v.ca.issue("123A");
    let other_dir = s.data_dir.join("keys").join("POTHER01");
    std::fs::create_dir_all(&other_dir).unwrap();
    std::fs::write(other_dir.join("kf.pem"), kf.key_pem()).unwrap();
    let e = post(json!({ "chain": kf.chain_pem(), "keyFile": "kf.pem" })).await;
    let e = e.problem_naming(422, "validation-failed", "keyFile");
    assert!(!e["detail"].as_str().unwrap().contains(s.data_dir.to_str().unwrap()), "{e:#}");
    let own_dir = s.data_dir.join("keys").join(&p.id);
    std::fs::create_dir_all(&own_dir).unwrap();
    std::fs::write(own_dir.join("kf.pem"), kf.key_pem()).unwrap();
    let r = post(json!({ "chain": kf.chain_pem(), "keyFile": "kf.pem" })).await;
    assert_eq!(r.ok(201)["signing"], true, "{}", r.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stir_http_verification_reports_each_atis_case() {
    let v = Voice::start(&["--x5u-allow-net", "127.0.0.0/8"]);
    let s = &v.s;
    let (p, cert, reg) = signer(s, &v.ca, "Acme Voice LLC", "0055500001", "123A").await;
    add_block(s, &p, "+12025550100", "+12025550199").await;
    let x5u = reg["x5u"].as_str().unwrap().to_owned();
    let (orig, dest) = ("12025550100", "12025550199");
    let verify_case = |identity: String, from: &'static str, time: i64| {
        let mut body = verification_request(from, dest, &identity);
        body["verificationRequest"]["time"] = json!(time);
        let key = p.key.clone();
        async move { verify(s, &key, &body).await }
    };
    let params = format!(";info=<{x5u}>;alg=ES256;ppt=shaken");
    let crafted = |header: Value, claims: Value| format!("{}{params}", craft(&cert.key, &header, &claims));

    // Passed, with vouch's details.
    let good = identity(s, &p, orig, dest).await;
    let r = verify_case(good.clone(), orig, now()).await;
    assert_eq!(r["verstat"], "TN-Validation-Passed", "{r:#}");
    assert!(r.get("reasoncode").is_none(), "{r:#}");
    assert_eq!((r["vouch"]["attest"].as_str(), r["vouch"]["spc"].as_str()), (Some("A"), Some("123A")), "{r:#}");
    assert_eq!(r["vouch"]["signer"], p.id.as_str(), "{r:#}");
    // A PASSporT vouch did not sign (crafted here with the same key) passes too.
    let r = verify_case(crafted(jose(&x5u), claims(orig, dest)), orig, now()).await;
    assert_eq!(r["verstat"], "TN-Validation-Passed", "{r:#}");

    // E3 is about the request's own time, before anything else.
    let free = free_tcp_port();
    let unreachable = format!("https://127.0.0.1:{free}/cert.pem");
    let mut no_ppt = jose(&x5u);
    no_ppt.as_object_mut().unwrap().remove("ppt");
    let mut no_typ = jose(&x5u);
    no_typ.as_object_mut().unwrap().remove("typ");
    let mut no_alg = jose(&x5u);
    no_alg.as_object_mut().unwrap().remove("alg");
    let mut no_iat = claims(orig, dest);
    no_iat.as_object_mut().unwrap().remove("iat");
    let mut no_origid = claims(orig, dest);
    no_origid.as_object_mut().unwrap().remove("origid");
    let mut attest_d = claims(orig, dest);
    attest_d["attest"] = json!("D");
    let mut no_attest = claims(orig, dest);
    no_attest.as_object_mut().unwrap().remove("attest");
    let mut typ = jose(&x5u);
    typ["typ"] = json!("JWT");
    let mut alg = jose(&x5u);
    alg["alg"] = json!("RS256");
    let mut ppt = jose(&x5u);
    ppt["ppt"] = json!("div");
    let mut stale = claims(orig, dest);
    stale["iat"] = json!(now() - 600);
    let other_x5u = cli_sign(&v.dir, &cert, "https://cert.example.org/other.pem", orig, dest, &[]);
    let (other_token, _) = split_identity(&other_x5u);
    let unreachable_token = craft(&cert.key, &jose(&unreachable), &claims(orig, dest));
    let sig = good.split(';').next().unwrap().rsplit('.').next().unwrap().to_owned();
    let cases: Vec<(&str, String, &str, i64, u64, &str, &str)> = vec![
        (
            "E3 request time an hour old",
            identity(s, &p, orig, dest).await,
            orig,
            now() - 3600,
            403,
            "E3",
            "No-TN-Validation",
        ),
        ("E4 compact form", format!("..{sig}{params}"), orig, now(), 438, "E4", "No-TN-Validation"),
        (
            "E5 Identity ppt parameter not shaken",
            good.replace(";ppt=shaken", ";ppt=div"),
            orig,
            now(),
            438,
            "E5",
            "No-TN-Validation",
        ),
        (
            "E6 no info parameter",
            good.split(';').next().unwrap().to_owned(),
            orig,
            now(),
            436,
            "E6",
            "No-TN-Validation",
        ),
        (
            "E6 no info parameter among others",
            good.replace(&format!(";info=<{x5u}>"), ""),
            orig,
            now(),
            436,
            "E6",
            "No-TN-Validation",
        ),
        (
            "E7 info not in angle brackets",
            good.replace(&format!("<{x5u}>"), &x5u),
            orig,
            now(),
            436,
            "E7",
            "No-TN-Validation",
        ),
        (
            "E7 info not an absolute URI",
            good.replace(&format!("<{x5u}>"), "<certs/123A.pem>"),
            orig,
            now(),
            436,
            "E7",
            "No-TN-Validation",
        ),
        (
            "E8 x5u unreachable",
            format!("{unreachable_token};info=<{unreachable}>;alg=ES256;ppt=shaken"),
            orig,
            now(),
            436,
            "E8",
            "No-TN-Validation",
        ),
        (
            "E9 no ppt in the PASSporT header",
            crafted(no_ppt, claims(orig, dest)),
            orig,
            now(),
            436,
            "E9",
            "No-TN-Validation",
        ),
        (
            "E9 no typ in the PASSporT header",
            crafted(no_typ, claims(orig, dest)),
            orig,
            now(),
            436,
            "E9",
            "No-TN-Validation",
        ),
        (
            "E9 no alg in the PASSporT header",
            crafted(no_alg, claims(orig, dest)),
            orig,
            now(),
            436,
            "E9",
            "No-TN-Validation",
        ),
        ("E10 info is not the x5u", format!("{other_token}{params}"), orig, now(), 436, "E10", "No-TN-Validation"),
        ("E11 typ not passport", crafted(typ, claims(orig, dest)), orig, now(), 437, "E11", "No-TN-Validation"),
        ("E12 alg not ES256", crafted(alg, claims(orig, dest)), orig, now(), 437, "E12", "No-TN-Validation"),
        (
            "E12 alg parameter not ES256",
            good.replace(";alg=ES256", ";alg=RS256"),
            orig,
            now(),
            437,
            "E12",
            "No-TN-Validation",
        ),
        (
            "E13 ppt in the PASSporT header not shaken",
            crafted(ppt, claims(orig, dest)),
            orig,
            now(),
            438,
            "E13",
            "No-TN-Validation",
        ),
        ("E14 no iat", crafted(jose(&x5u), no_iat), orig, now(), 438, "E14", "No-TN-Validation"),
        ("E14 no origid", crafted(jose(&x5u), no_origid), orig, now(), 438, "E14", "No-TN-Validation"),
        ("E14 no attest", crafted(jose(&x5u), no_attest), orig, now(), 438, "E14", "No-TN-Validation"),
        ("E15 iat ten minutes old", crafted(jose(&x5u), stale), orig, now(), 403, "E15", "No-TN-Validation"),
        (
            "E15 iat ten minutes old (vouch sign)",
            cli_sign(&v.dir, &cert, &x5u, orig, dest, &["--iat", &(now() - 600).to_string()]),
            orig,
            now(),
            403,
            "E15",
            "No-TN-Validation",
        ),
        (
            "E16 calling number differs",
            identity(s, &p, orig, dest).await,
            "12025550101",
            now(),
            438,
            "E16",
            "No-TN-Validation",
        ),
        (
            "E18 signature changed",
            tamper_signature(&identity(s, &p, orig, dest).await),
            orig,
            now(),
            438,
            "E18",
            "TN-Validation-Failed",
        ),
        ("E19 attest not A, B or C", crafted(jose(&x5u), attest_d), orig, now(), 438, "E19", "No-TN-Validation"),
    ];
    for (what, identity, from, time, code, case, verstat) in cases {
        let r = verify_case(identity.clone(), from, time).await;
        assert_eq!(r["reasoncode"], code, "{what}: {identity}\n{r:#}");
        assert_eq!(r["vouch"]["case"], case, "{what}: {r:#}");
        assert_eq!(r["verstat"], verstat, "{what}: {r:#}");
        assert!(r["reasontext"].as_str().is_some_and(|t| !t.is_empty()), "{what}: {r:#}");
        assert!(r["reasondesc"].as_str().is_some_and(|t| !t.is_empty()), "{what}: {r:#}");
    }
    // The destination is checked too (E16).
    let mut body = verification_request(orig, "12025550198", &identity(s, &p, orig, dest).await);
    body["verificationRequest"]["time"] = json!(now());
    let r = verify(s, &p.key, &body).await;
    assert_eq!((r["reasoncode"].as_u64(), r["vouch"]["case"].as_str()), (Some(438), Some("E16")), "{r:#}");
    // A request may list several called numbers: it is enough that one of them is among the
    // PASSporT's, wherever it is listed; none of them is E16.
    for (to, passed) in [
        (json!(["12025550198", dest]), true),
        (json!([dest, "12025550198"]), true),
        (json!(["12025550198", "12025550197"]), false),
    ] {
        let mut body = verification_request(orig, dest, &identity(s, &p, orig, dest).await);
        body["verificationRequest"]["to"]["tn"] = to.clone();
        let r = verify(s, &p.key, &body).await;
        if passed {
            assert_eq!(r["verstat"], "TN-Validation-Passed", "to {to}: {r:#}");
        } else {
            assert_eq!((r["reasoncode"].as_u64(), r["vouch"]["case"].as_str()), (Some(438), Some("E16")), "{r:#}");
            assert!(r["reasondesc"].as_str().unwrap().contains("12025550198,12025550197"), "{r:#}");
        }
    }
    // A PASSporT to several numbers, verified for a call to one of them.
    let mut two = signing_request("A", orig, dest);
    two["signingRequest"]["dest"]["tn"] = json!(["12025550198", dest]);
    let id = sign(s, &p.key, &two).await["identity"].as_str().unwrap().to_owned();
    let r = verify(s, &p.key, &verification_request(orig, dest, &id)).await;
    assert_eq!(r["verstat"], "TN-Validation-Passed", "{r:#}");

    // A caller name counts only at A: signed at B or C it says nothing of who is calling. And a
    // PASSporT refused (here a replay: presented again without a call id) gives none.
    for (attest, shown) in [("A", true), ("B", false), ("C", false)] {
        let mut c = claims(orig, dest);
        c["attest"] = json!(attest);
        c["rcd"] = json!({ "nam": "Bank of America Fraud Dept" });
        let id = crafted(jose(&x5u), c);
        let r = verify(s, &p.key, &verification_request(orig, dest, &id)).await;
        assert_eq!(r["verstat"], "TN-Validation-Passed", "{attest}: {r:#}");
        assert_eq!(r["vouch"]["callerName"].is_string(), shown, "{attest}: {r:#}");
        let again = verify(s, &p.key, &verification_request(orig, dest, &id)).await;
        assert_eq!(again["vouch"]["case"], "REPLAY", "{again:#}");
        assert!(again["vouch"].get("callerName").is_none(), "{again:#}");
    }

    // Ten-digit North American numbers are made global, as the SIP server reads them: signed
    // as 1NPANXXXXXX, and a national number in a PASSporT from other equipment matches the
    // request's global one (and the other way round).
    let national = sign(s, &p.key, &signing_request("A", "2025550100", "2025550199")).await;
    assert_eq!(national["vouch"]["attest"], "A", "the block's number: {national:#}");
    let (_, c) = decode(split_identity(national["identity"].as_str().unwrap()).0);
    assert_eq!((c["orig"]["tn"].as_str(), c["dest"]["tn"][0].as_str()), (Some(orig), Some(dest)), "{c}");
    let mut c = claims("2025550100", "2025550199");
    c["origid"] = json!("123e4567-e89b-12d3-a456-426655440001");
    let r = verify(s, &p.key, &verification_request(orig, dest, &crafted(jose(&x5u), c))).await;
    assert_eq!(r["verstat"], "TN-Validation-Passed", "{r:#}");
    let r =
        verify(s, &p.key, &verification_request("2025550100", "2025550199", &identity(s, &p, orig, dest).await)).await;
    assert_eq!(r["verstat"], "TN-Validation-Passed", "{r:#}");
    // Not any number with a leading 1: 12025550100 is not 2025550101.
    let r = verify(s, &p.key, &verification_request("2025550101", dest, &identity(s, &p, orig, dest).await)).await;
    assert_eq!(r["vouch"]["case"], "E16", "{r:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stir_http_revoked_and_untrusted_chains_are_e17_after_a_restart() {
    let mut v = Voice::start(&[]);
    // A second development CA, trusted at first.
    let ca2 = DevCa::init(&v.dir, "ca2");
    ca2.trust_into(&v.trust, "second");
    v.restart();
    let (p, cert, reg) = signer(&v.s, &v.ca, "Acme Voice LLC", "0055500001", "123A").await;
    let (q, cert2, reg2) = signer(&v.s, &ca2, "Bravo Voice LLC", "0055500002", "456B").await;
    let (orig, dest) = ("12025550100", "12025550199");
    // Both verify while trusted and not revoked.
    for (who, key) in [(&p, &p.key), (&q, &q.key)] {
        let id = identity(&v.s, who, orig, dest).await;
        let r = verify(&v.s, key, &verification_request(orig, dest, &id)).await;
        assert_eq!(r["verstat"], "TN-Validation-Passed", "{r:#}");
    }
    // An RMD snapshot through the REST endpoint (administrator only), which must survive the
    // restart below.
    let csv = "number,frn,business_name,implementation,voice_service_provider_choice,gateway_provider_choice,intermediate_provider_choice,last_updated\n\
        RMD0000001,0055500001,Acme Voice LLC,Complete STIR/SHAKEN Implementation,Yes,No,No,2025-01-15\n\
        RMD0000002,0055500002,Bravo Voice LLC,Complete STIR/SHAKEN Implementation,Yes,No,No,2025-01-16\n";
    let r = v.s.raw(Method::POST, "/v1/rmd", Some(&p.key), Some("text/csv"), Some(csv.as_bytes().to_vec())).await;
    r.problem(403, "forbidden");
    let r = v.s.raw(Method::POST, "/v1/rmd", Some(&v.s.admin), Some("text/csv"), Some(csv.as_bytes().to_vec())).await;
    assert_eq!(r.ok(200)["filings"], 2, "{}", r.text);
    // Revoke p's certificate (the dev CA's CRL signer signs an indirect CRL), stop trusting
    // the second CA, restart: the trust directory is read at start.
    let crl = v.ca.revoke(&cert);
    std::fs::copy(crl, v.trust.join("dev.crl")).unwrap();
    for f in ["root.pem", "crl-signer.pem"] {
        std::fs::remove_file(v.trust.join(format!("second-{f}"))).unwrap();
    }
    v.restart();
    let x5u = reg["x5u"].as_str().unwrap();
    let x5u2 = reg2["x5u"].as_str().unwrap();
    // What was registered before is still there after the restart: the RMD snapshot, the
    // chains vouch serves.
    assert_eq!(v.s.get("/v1/rmd", Some(&v.s.admin)).await.ok(200).clone(), json!({"loaded": true, "filings": 2}));
    for u in [x5u, x5u2] {
        let r = v.s.get(u.strip_prefix(&v.s.base).unwrap(), None).await;
        assert_eq!((r.status.as_u16(), r.content_type()), (200, "application/pem-certificate-chain"), "{u}");
    }
    for (what, id) in [
        ("revoked", cli_sign(&v.dir, &cert, x5u, orig, dest, &[])),
        ("untrusted", cli_sign(&v.dir, &cert2, x5u2, orig, dest, &[])),
    ] {
        let r = verify(&v.s, &p.key, &verification_request(orig, dest, &id)).await;
        assert_eq!(r["reasoncode"], 437, "{what}: {r:#}");
        assert_eq!(r["vouch"]["case"], "E17", "{what}: {r:#}");
        assert_eq!(r["verstat"], "TN-Validation-Failed", "{what}: {r:#}");
        assert!(r["reasondesc"].as_str().is_some_and(|d| !d.is_empty()), "{what}: {r:#}");
    }
    // The untrusted chain can no longer be registered either.
    let fresh = ca2.issue("456B");
    register_certificate(&v.s, &q, &fresh).await.problem_naming(422, "validation-failed", "chain");
    // vouch does not sign with the revoked certificate (every verifier holding the CRL would
    // refuse what it signs), and says so; the listing shows it no longer signs.
    let r = stir_post(&v.s, "/stir/v1/signing", &p.key, &signing_request("A", orig, dest)).await;
    let e = r.exception(403, "VOUCH4030", "");
    let why = e["variables"][0].as_str().unwrap();
    assert!(why.contains("revoked") && why.contains(reg["fingerprint"].as_str().unwrap()), "{e}");
    let path = format!("/v1/providers/{}/certificates", p.id);
    let list = v.s.get(&path, Some(&p.key)).await.ok(200).clone();
    assert_eq!(list.as_array().map(|l| l.iter().map(|c| c["signing"].clone()).collect()), Some(vec![json!(false)]));
    // A new certificate signs again.
    let reg3 = register_certificate(&v.s, &p, &v.ca.issue("123A")).await.ok(201).clone();
    let id = identity(&v.s, &p, orig, dest).await;
    let r = verify(&v.s, &p.key, &verification_request(orig, dest, &id)).await;
    assert_eq!(r["verstat"], "TN-Validation-Passed", "{r:#}");
    let list = v.s.get(&path, Some(&p.key)).await.ok(200).clone();
    assert_eq!(list.as_array().unwrap().iter().filter(|c| c["signing"] == true).count(), 1, "{list:#}");
    // A newer certificate that is then revoked (mis-issued, say) leaves the one it was to
    // replace signing, rather than the provider signing nothing.
    let cert4 = v.ca.issue("123A");
    let reg4 = register_certificate(&v.s, &p, &cert4).await.ok(201).clone();
    assert!(identity(&v.s, &p, orig, dest).await.contains(reg4["fingerprint"].as_str().unwrap()));
    std::fs::copy(v.ca.revoke(&cert4), v.trust.join("dev.crl")).unwrap();
    v.restart();
    let id = identity(&v.s, &p, orig, dest).await;
    assert!(id.contains(reg3["x5u"].as_str().unwrap()), "signed with the older certificate: {id}");
    let r = verify(&v.s, &p.key, &verification_request(orig, dest, &id)).await;
    assert_eq!(r["verstat"], "TN-Validation-Passed", "{r:#}");
    let list = v.s.get(&path, Some(&p.key)).await.ok(200).clone();
    let signing: Vec<_> = list.as_array().unwrap().iter().filter(|c| c["signing"] == true).collect();
    assert_eq!(signing.len(), 1, "{list:#}");
    assert_eq!(signing[0]["fingerprint"], reg3["fingerprint"], "{list:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stir_http_replays_are_refused_and_the_rmd_is_enforced_once_imported() {
    let v = Voice::start(&[]);
    let s = &v.s;
    let (p, _, _) = signer(s, &v.ca, "Acme Voice LLC", "0055500001", "123A").await;
    let q = provider(s, "Bravo Voice LLC", &["voice"], Some("0055500002"), Some("456B")).await;
    let carrier = provider(s, "Mobile Carrier Inc", &["carrier"], Some("0055500003"), None).await;
    let (orig, dest) = ("12025550100", "12025550199");
    let ver = |id: &str, call_id: Option<&str>, upstream: Option<&str>| {
        let mut b = verification_request(orig, dest, id);
        if let Some(c) = call_id {
            b["verificationRequest"]["callId"] = json!(c);
        }
        if let Some(u) = upstream {
            b["verificationRequest"]["upstream"] = json!(u);
        }
        b
    };
    let passed = |r: &Value| r["verstat"] == "TN-Validation-Passed" && r.get("reasoncode").is_none();

    // Replay: the same PASSporT for the same call (SIP retransmissions) is fine; twice
    // without a call id, or for another call, is a replay.
    let a = identity(s, &p, orig, dest).await;
    assert!(passed(&verify(s, &p.key, &ver(&a, Some("call-1@127.0.0.1"), None)).await));
    assert!(passed(&verify(s, &p.key, &ver(&a, Some("call-1@127.0.0.1"), None)).await));
    let r = verify(s, &carrier.key, &ver(&a, Some("call-2@127.0.0.1"), None)).await;
    assert_eq!((r["reasoncode"].as_u64(), r["vouch"]["case"].as_str()), (Some(438), Some("REPLAY")), "{r:#}");
    assert_eq!(r["verstat"], "TN-Validation-Failed", "{r:#}");
    assert_eq!(r["vouch"]["replay"], true, "{r:#}");
    let b = identity(s, &p, orig, dest).await;
    assert!(passed(&verify(s, &p.key, &ver(&b, None, None)).await));
    let r = verify(s, &p.key, &ver(&b, None, None)).await;
    assert_eq!((r["reasoncode"].as_u64(), r["vouch"]["case"].as_str()), (Some(438), Some("REPLAY")), "{r:#}");
    // A failing PASSporT is not remembered: presenting it again fails for its own reason.
    let bad = tamper_signature(&identity(s, &p, orig, dest).await);
    for _ in 0..2 {
        let r = verify(s, &p.key, &ver(&bad, None, None)).await;
        assert_eq!(r["vouch"]["case"], "E18", "{r:#}");
    }

    // No RMD snapshot yet: not enforced, whoever the upstream is.
    assert_eq!(s.get("/v1/rmd", Some(&s.admin)).await.ok(200).clone(), json!({"loaded": false, "filings": 0}));
    let r = verify(s, &p.key, &ver(&identity(s, &p, orig, dest).await, None, Some("0099999999"))).await;
    assert!(passed(&r), "{r:#}");

    // `vouch import rmd`: p and the carrier are listed, q is not; one row is refused.
    let csv = "number,frn,business_name,implementation,voice_service_provider_choice,gateway_provider_choice,intermediate_provider_choice,last_updated\n\
        RMD0000001,0055500001,Acme Voice LLC,Complete STIR/SHAKEN Implementation,Yes,No,No,2025-01-15\n\
        RMD0000002,55500003,Mobile Carrier Inc,Partial STIR/SHAKEN Implementation - Performing Robocall Mitigation,Yes,No,Yes,2025-02-01\n\
        RMD0000003,not-an-frn,Broken Row LLC,Complete STIR/SHAKEN Implementation,Yes,No,No,2025-03-01\n";
    let file = v.file("rmd.csv");
    std::fs::write(&file, csv).unwrap();
    let import = |key: &str| {
        let mut c = vouch(&v.dir);
        c.args(["import", "rmd"]).arg(&file).args(["--server", &s.base, "--api-key", key]);
        run(c, LIMIT)
    };
    let denied = import(&p.key);
    assert!(!denied.status.success(), "a provider imported the RMD: {denied:?}");
    assert!(denied.stderr.contains("403") || denied.stderr.to_lowercase().contains("administrator"), "{denied:?}");
    let out = import(&s.admin);
    assert_eq!(out.status.code(), Some(2), "rejected rows make the exit code 2: {out:?}");
    assert!(out.stdout.contains("imported 2 RMD filings"), "{out:?}");
    assert!(out.stdout.contains("2 added, 0 removed, 0 changed, 1 rows rejected"), "{out:?}");
    assert!(out.stderr.contains("line 4:") && out.stderr.contains("not-an-frn"), "{out:?}");
    assert_eq!(s.get("/v1/rmd", Some(&s.admin)).await.ok(200).clone(), json!({"loaded": true, "filings": 2}));

    // Upstream by FRN: listed passes (the leading zeros the spreadsheet dropped are back);
    // absent is 603 whatever the PASSporT; by provider id the same.
    let check = |upstream: String| {
        let (p, ver) = (&p, &ver);
        async move {
            let id = identity(s, p, orig, dest).await;
            verify(s, &p.key, &ver(&id, None, Some(&upstream))).await
        }
    };
    for listed in ["0055500001", "0055500003", "55500003"] {
        let r = check(listed.to_owned()).await;
        assert!(passed(&r), "{listed}: {r:#}");
        assert_eq!(r["vouch"]["upstreamRmd"], "listed", "{r:#}");
    }
    let r = check("0099999999".to_owned()).await;
    assert_eq!((r["reasoncode"].as_u64(), r["vouch"]["case"].as_str()), (Some(603), Some("RMD")), "{r:#}");
    assert_eq!(r["reasontext"], "Decline");
    assert!(r["reasondesc"].as_str().unwrap().contains("0099999999"), "{r:#}");
    assert_eq!(r["vouch"]["upstreamRmd"], "absent", "{r:#}");
    let r = check(q.id.clone()).await;
    assert_eq!((r["reasoncode"].as_u64(), r["vouch"]["case"].as_str()), (Some(603), Some("RMD")), "{r:#}");
    assert!(passed(&check(p.id.clone()).await));
    // Even a bad PASSporT: the upstream rule comes first.
    let r = verify(s, &p.key, &ver("a.b.c;info=<https://x.example/a.pem>", None, Some("0099999999"))).await;
    assert_eq!(r["reasoncode"], 603, "{r:#}");

    // A new export without the signer's FRN: its calls are refused too (the signer is checked
    // by its SPC's provider), with no upstream named.
    let csv2 = "number,frn,business_name,implementation,voice_service_provider_choice,gateway_provider_choice,intermediate_provider_choice,last_updated\n\
        RMD0000002,0055500003,Mobile Carrier Inc,Complete STIR/SHAKEN Implementation,Yes,No,Yes,2025-04-01\n";
    std::fs::write(&file, csv2).unwrap();
    let out = import(&s.admin);
    assert!(out.status.success(), "{out:?}");
    assert!(
        out.stdout.contains("imported 1 RMD filings")
            && out.stdout.contains("0 added, 1 removed, 1 changed, 0 rows rejected"),
        "{out:?}"
    );
    let r = verify(s, &p.key, &ver(&identity(s, &p, orig, dest).await, None, None)).await;
    assert_eq!((r["reasoncode"].as_u64(), r["vouch"]["case"].as_str()), (Some(603), Some("RMD")), "{r:#}");
    assert_eq!(r["vouch"]["signerRmd"], "absent", "{r:#}");
    // An export without any usable filing is refused and the snapshot kept.
    std::fs::write(&file, "number,frn\nRMD1,0055500001\n").unwrap();
    let out = import(&s.admin);
    assert!(!out.status.success() && out.stderr.contains("column"), "{out:?}");
    assert_eq!(s.get("/v1/rmd", Some(&s.admin)).await.ok(200)["filings"], 1);

    // An export of the real database's size (about 9,200 filings) imports in one go (its
    // event lists the first 1,000 FRNs of each kind and the totals). A Latin-1 business name,
    // a note in other_frns, an odd yes/no and a spreadsheet date do not cost the signer its
    // listing: its calls pass again.
    let mut big = b"number,frn,business_name,implementation,voice_service_provider_choice,gateway_provider_choice,intermediate_provider_choice,last_updated,other_frns\r\n".to_vec();
    big.extend_from_slice(
        b"RMD0000001,0055500001,Acme Voice S\xe0rl,Complete STIR/SHAKEN Implementation,Maybe,No,No,1/15/2025,N/A\r\n",
    );
    for i in 0..9_300u32 {
        big.extend_from_slice(
            format!("RMD{i:07},{:010},Filer {i},Complete,Yes,No,No,2025-01-01,\r\n", 1_000_000 + i).as_bytes(),
        );
    }
    std::fs::write(&file, &big).unwrap();
    let out = import(&s.admin);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(out.stdout.contains("imported 9301 RMD filings"), "{out:?}");
    let r = verify(s, &p.key, &ver(&identity(s, &p, orig, dest).await, None, None)).await;
    assert!(passed(&r), "{r:#}");
    assert_eq!(r["vouch"]["signerRmd"], "listed", "{r:#}");
    // A truncated download (one filing of 9,301) is refused and the snapshot kept, unless the
    // import allows the database to shrink.
    std::fs::write(&file, csv2).unwrap();
    let out = import(&s.admin);
    assert!(!out.status.success() && out.stderr.contains("fewer than half the 9301"), "{out:?}");
    assert_eq!(s.get("/v1/rmd", Some(&s.admin)).await.ok(200)["filings"], 9301);
    let mut c = vouch(&v.dir);
    c.args(["import", "rmd", "--allow-shrink"]).arg(&file).args(["--server", &s.base, "--api-key", &s.admin]);
    assert!(run(c, LIMIT).status.success());
    assert_eq!(s.get("/v1/rmd", Some(&s.admin)).await.ok(200)["filings"], 1);
}

/// A lab certificate repository: a TLS CA and a certificate for 127.0.0.1 made with the
/// `openssl` command, and `peers/cert_repo.py` serving `dir` over HTTPS with them. Returns the
/// CA's PEM file, the server's port, the child and the lines it has printed ("GET /path").
fn lab_cert_repo(
    tmp: &Path,
    dir: &Path,
) -> (PathBuf, u16, std::process::Child, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::BufRead;
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl").args(args).current_dir(tmp).output().expect("openssl");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend(["-keyout", "lab-ca.key", "-out", "lab-ca.pem", "-days", "2", "-subj", "/CN=lab repository CA"]);
    ca.extend(["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"]);
    openssl(&ca);
    let mut csr = vec!["req"];
    csr.extend(ec);
    csr.extend(["-keyout", "repo.key", "-out", "repo.csr", "-subj", "/CN=127.0.0.1"]);
    openssl(&csr);
    std::fs::write(
        tmp.join("repo.ext"),
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=critical,CA:FALSE\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "repo.csr",
        "-CA",
        "lab-ca.pem",
        "-CAkey",
        "lab-ca.key",
        "-CAcreateserial",
        "-out",
        "repo.pem",
        "-days",
        "2",
        "-extfile",
        "repo.ext",
    ]);
    let mut child = Command::new(crate::smpp::python())
        .arg(crate::smpp::peer("cert_repo.py"))
        .arg("--dir")
        .arg(dir)
        .arg("--cert")
        .arg(tmp.join("repo.pem"))
        .arg("--key")
        .arg(tmp.join("repo.key"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("cert_repo.py");
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().and_then(Result::ok).unwrap_or_default();
    let port: u16 = first.strip_prefix("listening ").and_then(|p| p.parse().ok()).expect("listening PORT");
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for l in lines.map_while(Result::ok) {
            log.lock().unwrap().push(l);
        }
    });
    (tmp.join("lab-ca.pem"), port, child, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stir_http_a_chain_fetched_from_a_lab_repository_verifies_and_is_fetched_once() {
    // The repository's TLS certificate is issued by a lab CA, trusted with --x5u-tls-root.
    let lab = tempfile::tempdir().unwrap();
    let repo_dir = lab.path().join("repo");
    std::fs::create_dir(&repo_dir).unwrap();
    let (lab_ca, port, mut repo, requests) = lab_cert_repo(lab.path(), &repo_dir);
    let lab_ca = lab_ca.to_string_lossy().into_owned();
    let v = Voice::start(&["--x5u-allow-net", "127.0.0.0/8", "--x5u-tls-root", &lab_ca]);
    let s = &v.s;
    let (p, cert, _) = signer(s, &v.ca, "Acme Voice LLC", "0055500001", "123A").await;
    std::fs::copy(&cert.chain, repo_dir.join("acme.pem")).unwrap();
    let x5u = format!("https://127.0.0.1:{port}/acme.pem");
    let (orig, dest) = ("12025550100", "12025550199");
    // Two calls signed elsewhere with that x5u: both verify, and the chain is fetched once.
    for n in 0..2 {
        let id = cli_sign(&v.dir, &cert, &x5u, orig, dest, &[]);
        let r = verify(s, &p.key, &verification_request(orig, dest, &id)).await;
        assert_eq!(r["verstat"], "TN-Validation-Passed", "call {n}: {r:#}");
        assert_eq!(r["vouch"]["spc"], "123A", "{r:#}");
    }
    assert_eq!(*requests.lock().unwrap(), vec!["GET /acme.pem".to_owned()], "one fetch, then the cache");
    // The fetcher's figures reach /metrics (every 5 s).
    let deadline = Instant::now() + Duration::from_secs(8);
    loop {
        let m = s.get("/metrics", None).await.text;
        if m.lines().any(|l| l == "vouch_x5u_fetches_total 1") && m.lines().any(|l| l == "vouch_x5u_cache_hits_total 1")
        {
            break;
        }
        assert!(Instant::now() < deadline, "no x5u figures in /metrics:\n{m}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A chain the repository does not have: 436 (E8), as any unusable x5u.
    let id = cli_sign(&v.dir, &cert, &format!("https://127.0.0.1:{port}/missing.pem"), orig, dest, &[]);
    let r = verify(s, &p.key, &verification_request(orig, dest, &id)).await;
    assert_eq!((r["reasoncode"].as_u64(), r["vouch"]["case"].as_str()), (Some(436), Some("E8")), "{r:#}");
    let _ = repo.kill();
    let _ = repo.wait();
}
