//! The harness: a real `vouch serve` child process per test, on a fresh temporary data
//! directory and an ephemeral loopback port, plus an HTTP client and registry fixtures.

use std::borrow::BorrowMut;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;

/// The `vouch` binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_vouch");
/// How long a server may take to print its listening line.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a server may take to stop after SIGTERM.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// The line prefix `vouch serve` prints once it listens.
pub const LISTENING: &str = "vouch: listening on http://";
/// The same, with `--http-tls-cert`.
pub const LISTENING_HTTPS: &str = "vouch: listening on https://";
/// The problem type prefix.
pub const PROBLEM: &str = "urn:vouch:problem:";

/// A `vouch` command with a clean environment: no `VOUCH_*` variable of the caller leaks in,
/// logs are kept short, and the working directory is `cwd` (so no default `./vouch-data` can
/// land anywhere else).
pub fn vouch(cwd: &Path) -> Command {
    let mut c = Command::new(BIN);
    for v in [
        "VOUCH_DATA_DIR",
        "VOUCH_DATABASE_URL",
        "VOUCH_HTTP",
        "VOUCH_LOG_FORMAT",
        "VOUCH_CONFIG",
        "VOUCH_SERVER",
        "VOUCH_API_KEY",
    ] {
        c.env_remove(v);
    }
    c.env("RUST_LOG", "warn").env("NO_COLOR", "1").current_dir(cwd).stdin(Stdio::null());
    c
}

/// Lines a child process wrote to one of its streams.
#[derive(Clone, Default, Debug)]
pub struct Captured(Arc<Mutex<Vec<String>>>);

impl Captured {
    fn push(&self, line: String) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(line);
    }

    /// Everything so far, one line per line.
    pub fn text(&self) -> String {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).join("\n")
    }
}

/// Copies `reader` line by line into `sink` (and `tx`, if given) until EOF.
fn pump(reader: impl Read + Send + 'static, sink: Captured, tx: Option<mpsc::Sender<String>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines() {
            let Ok(line) = line else { break };
            sink.push(line.clone());
            if let Some(tx) = &tx {
                let _ = tx.send(line);
            }
        }
    })
}

/// Waits for `child` for at most `limit`.
pub fn wait_timeout(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("cannot poll the child process") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Sends `signal` (`TERM`, `KILL`) to `pid` with the system's `kill` command.
pub fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).status().expect("cannot run kill");
    assert!(status.success(), "kill -{signal} {pid} failed: {status}");
}

/// A child process started in the background with its output captured.
pub struct Spawned {
    /// The process.
    pub child: Child,
    /// Its standard output.
    pub stdout: Captured,
    /// Its standard error.
    pub stderr: Captured,
    lines: mpsc::Receiver<String>,
    pumps: Vec<JoinHandle<()>>,
}

impl Spawned {
    /// Starts `cmd` (owned, or borrowed from a builder chain) with both output streams captured.
    pub fn start(mut cmd: impl BorrowMut<Command>) -> Self {
        let cmd = cmd.borrow_mut();
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        let (stdout, stderr) = (Captured::default(), Captured::default());
        let (tx, lines) = mpsc::channel();
        let pumps = vec![
            pump(child.stdout.take().expect("stdout is piped"), stdout.clone(), Some(tx)),
            pump(child.stderr.take().expect("stderr is piped"), stderr.clone(), None),
        ];
        Self { child, stdout, stderr, lines, pumps }
    }

    /// Waits for the process to exit (at most `limit`) and for its output to be read.
    pub fn finish(mut self, limit: Duration) -> Finished {
        let Some(status) = wait_timeout(&mut self.child, limit) else {
            let _ = self.child.kill();
            let _ = self.child.wait();
            panic!(
                "process {} did not exit within {limit:?}\nstdout:\n{}\nstderr:\n{}",
                self.child.id(),
                self.stdout.text(),
                self.stderr.text()
            );
        };
        for p in self.pumps.drain(..) {
            let _ = p.join();
        }
        Finished { status, stdout: self.stdout.text(), stderr: self.stderr.text() }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A process that ran to completion.
#[derive(Debug)]
pub struct Finished {
    /// Its exit status.
    pub status: ExitStatus,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

/// Runs `cmd` to completion, failing the test if it takes longer than `limit`.
pub fn run(cmd: impl BorrowMut<Command>, limit: Duration) -> Finished {
    Spawned::start(cmd).finish(limit)
}

/// A running `vouch serve`, killed when dropped.
pub struct Server {
    proc: Option<Spawned>,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The administrator API key, from `<data-dir>/admin.key`.
    pub admin: String,
    /// The data directory.
    pub data_dir: PathBuf,
    /// A scratch directory next to the data directory, for fixture files.
    pub scratch: PathBuf,
    /// Standard output of the current process.
    pub stdout: Captured,
    /// Standard error of the current process.
    pub stderr: Captured,
    /// A client for the API.
    pub http: reqwest::Client,
    frn: AtomicU32,
    _tmp: Option<TempDir>,
}

/// A self-signed TLS server certificate for 127.0.0.1 made by OpenSSL (P-256, one day, not a
/// CA): writes `tls.pem` and `tls.key` in `dir` and returns their paths.
pub fn loopback_tls_certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE", "-addext", "extendedKeyUsage=serverAuth"])
        .args(["-keyout", "tls.key", "-out", "tls.pem"])
        .current_dir(dir)
        .output()
        .expect("openssl");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (dir.join("tls.pem"), dir.join("tls.key"))
}

// ---------------------------------------------------------------------------------------------
// Waiting, the event stream and the transparency log, as several modules check them.

/// Polls `check` every 20 ms until it holds; returns how long that took, or fails at `limit`.
pub async fn within<F, Fut>(limit: Duration, what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return start.elapsed();
        }
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every event of the registry, in order (the administrator's paged stream).
pub async fn all_events(s: &Server) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    loop {
        let after = out.last().map_or(0, |e| e["seq"].as_u64().expect("seq"));
        let page = s.get(&format!("/v1/events?after={after}&limit=1000"), Some(&s.admin)).await;
        let events = page.ok(200).as_array().expect("events").clone();
        if events.is_empty() {
            return out;
        }
        out.extend(events);
    }
}

/// The size line of the checkpoint `s` serves (0 before the first).
pub async fn checkpoint_size(s: &Server) -> u64 {
    let cp = s.get("/log/checkpoint", None).await;
    if cp.status != 200 {
        return 0;
    }
    cp.text.lines().nth(1).and_then(|l| l.parse().ok()).unwrap_or(0)
}

/// Waits (at most 30 s) until the checkpoint `s` serves covers every event it applied;
/// returns its size.
pub async fn wait_integrated(s: &Server) -> u64 {
    let want = s.health().await["lastEvent"].as_u64().expect("lastEvent");
    within(Duration::from_secs(30), "the log integrates every event", || async { checkpoint_size(s).await >= want })
        .await;
    checkpoint_size(s).await
}

/// `vouch log verify --url BASE --state STATE` (with `--full`: every entry).
pub fn log_verify(dir: &Path, base: &str, state: &Path, full: bool) -> Finished {
    let mut c = vouch(dir);
    c.arg("log").arg("verify").arg("--url").arg(base).arg("--state").arg(state);
    if full {
        c.arg("--full");
    }
    run(c, Duration::from_secs(60))
}

/// `vouch serve` flags that let webhooks reach receivers on loopback, where the tests run them
/// (refused by default: a receiver on the vouch host could probe its ports).
pub const LOOPBACK_WEBHOOKS: [&str; 2] = ["--webhook-allow-net", "127.0.0.0/8"];

/// A `vouch serve` command on `data_dir` and an ephemeral loopback port.
pub fn serve_command(cwd: &Path, data_dir: &Path) -> Command {
    let mut c = vouch(cwd);
    c.arg("serve").arg("--data-dir").arg(data_dir).arg("--http").arg("127.0.0.1:0");
    if let Some(url) = database_for(data_dir) {
        c.arg("--database").arg(url);
    }
    c
}

// ---------------------------------------------------------------------------------------------
// The store under test: the embedded one, or PostgreSQL when `VOUCH_TEST_DATABASE_URL` names a
// server (`postgres://USER@127.0.0.1:PORT`, as `scripts/pg-cluster start` prints; scripts/test
// runs the suite a second time that way).

/// The PostgreSQL server the suite runs against, if any.
pub fn test_database_server() -> Option<String> {
    std::env::var("VOUCH_TEST_DATABASE_URL").ok().filter(|s| !s.is_empty()).map(|s| s.trim_end_matches('/').to_owned())
}

/// The database name of a data directory (each test's directory is new; a restart on the same
/// directory finds the same database).
fn database_name(data_dir: &Path) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    data_dir.hash(&mut h);
    format!("t_{:016x}", h.finish())
}

/// Runs `sql` on the test server's database `db`, returning psql's unaligned output.
pub fn psql(db: &str, sql: &str) -> String {
    psql_on(&test_database_server().expect("VOUCH_TEST_DATABASE_URL is not set"), db, sql)
}

/// Runs `sql` on database `db` of the PostgreSQL server `server`.
pub fn psql_on(server: &str, db: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .arg(format!("{server}/{db}"))
        .args(["-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql])
        .output()
        .expect("psql runs");
    assert!(out.status.success(), "psql {sql}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The database URL for `data_dir` on the test server (created on first use), or `None` when
/// the suite runs on the embedded store.
pub fn database_for(data_dir: &Path) -> Option<String> {
    let server = test_database_server()?;
    let name = database_name(data_dir);
    if psql("postgres", &format!("SELECT 1 FROM pg_database WHERE datname = '{name}'")).trim().is_empty() {
        psql("postgres", &format!("CREATE DATABASE {name}"));
    }
    Some(format!("{server}/{name}"))
}

/// Runs SQL on the store of a stopped server: `sqlite_sql` on the embedded store, `pg_sql` on
/// PostgreSQL (the statements that tamper with a store differ in dialect).
pub fn store_sql(data_dir: &Path, sqlite_sql: &str, pg_sql: &str) {
    if test_database_server().is_some() {
        psql(&database_name(data_dir), pg_sql);
        return;
    }
    let python = std::env::var("VOUCH_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(python)
        .arg("-c")
        .arg("import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.executescript(sys.argv[2]); c.commit()")
        .arg(data_dir.join("vouch.db"))
        .arg(sqlite_sql)
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Everything the store of `data_dir` holds, as bytes to search: the embedded store's files
/// (database and WAL), or a dump of the PostgreSQL database's data. A server that made
/// `vouch.db` ran on the embedded store, whatever the suite's store (servers with call
/// authentication always do).
pub fn store_bytes(data_dir: &Path) -> Vec<u8> {
    if let Some(server) = test_database_server().filter(|_| !data_dir.join("vouch.db").exists()) {
        let out = Command::new("pg_dump")
            .arg("--data-only")
            .arg(format!("{server}/{}", database_name(data_dir)))
            .output()
            .expect("pg_dump runs");
        assert!(out.status.success(), "pg_dump: {}", String::from_utf8_lossy(&out.stderr));
        return out.stdout;
    }
    let mut bytes = std::fs::read(data_dir.join("vouch.db")).unwrap_or_default();
    bytes.extend(std::fs::read(data_dir.join("vouch.db-wal")).unwrap_or_default());
    bytes
}

/// Drops the test database of `data_dir`, if the suite runs on PostgreSQL.
pub fn drop_database(data_dir: &Path) {
    if test_database_server().is_some() {
        let name = database_name(data_dir);
        let _ = Command::new("psql")
            .arg(format!("{}/postgres", test_database_server().unwrap_or_default()))
            .args(["-qAt", "-c", &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")])
            .output();
    }
}

impl Server {
    /// A server on a fresh temporary data directory.
    pub fn start() -> Self {
        let tmp = tempfile::tempdir().expect("cannot create a temporary directory");
        let data_dir = tmp.path().join("data");
        let scratch = tmp.path().to_path_buf();
        let mut s = Self::launch(serve_command(&scratch, &data_dir), data_dir, scratch);
        s._tmp = Some(tmp);
        s
    }

    /// Starts `cmd` (a `vouch serve` on `data_dir`) and waits for its listening line.
    pub fn launch(cmd: Command, data_dir: PathBuf, scratch: PathBuf) -> Self {
        let (proc, base) = Self::spawn_and_wait(cmd);
        let admin = read_admin_key(&data_dir);
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("cannot build the HTTP client");
        Self {
            stdout: proc.stdout.clone(),
            stderr: proc.stderr.clone(),
            proc: Some(proc),
            base,
            admin,
            data_dir,
            scratch,
            http,
            frn: AtomicU32::new(0),
            _tmp: None,
        }
    }

    fn spawn_and_wait(cmd: Command) -> (Spawned, String) {
        let proc = Spawned::start(cmd);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match proc.lines.recv_timeout(left) {
                Ok(line) => {
                    let https = line.strip_prefix(LISTENING_HTTPS).map(|a| ("https", a));
                    if let Some((scheme, addr)) = line.strip_prefix(LISTENING).map(|a| ("http", a)).or(https) {
                        let addr = addr.trim().to_owned();
                        assert!(addr.starts_with("127.0.0.1:"), "the server listens on {addr}, not on loopback");
                        return (proc, format!("{scheme}://{addr}"));
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!(
                        "`vouch serve` did not print `{LISTENING}ADDR` within {START_TIMEOUT:?}\nstdout:\n{}\nstderr:\n{}",
                        proc.stdout.text(),
                        proc.stderr.text()
                    );
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let out = proc.finish(Duration::from_secs(5));
                    panic!(
                        "`vouch serve` closed its output before listening ({})\nstdout:\n{}\nstderr:\n{}",
                        out.status, out.stdout, out.stderr
                    );
                }
            }
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.proc.as_ref().expect("the server is not running").child.id()
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub fn sigterm(&mut self) -> Finished {
        let proc = self.proc.take().expect("the server is not running");
        send_signal(proc.child.id(), "TERM");
        proc.finish(STOP_TIMEOUT)
    }

    /// Sends SIGKILL and waits for the process to die.
    pub fn sigkill(&mut self) -> Finished {
        let proc = self.proc.take().expect("the server is not running");
        send_signal(proc.child.id(), "KILL");
        proc.finish(STOP_TIMEOUT)
    }

    /// Starts the server again on the same data directory (after [`Self::sigterm`] or
    /// [`Self::sigkill`]); it gets a new port.
    pub fn restart(&mut self) {
        self.restart_command(serve_command(&self.scratch, &self.data_dir));
    }

    /// Like [`Self::restart`], on the PostgreSQL database at `url`.
    pub fn restart_with(&mut self, url: &str) {
        let mut cmd = serve_command(&self.scratch, &self.data_dir);
        cmd.arg("--database").arg(url);
        self.restart_command(cmd);
    }

    /// Like [`Self::restart`], with `cmd` (a `vouch serve` on the same data directory).
    pub fn restart_command(&mut self, cmd: Command) {
        assert!(self.proc.is_none(), "stop the server before restarting it");
        let (proc, base) = Self::spawn_and_wait(cmd);
        self.stdout = proc.stdout.clone();
        self.stderr = proc.stderr.clone();
        self.proc = Some(proc);
        self.base = base;
        assert_eq!(read_admin_key(&self.data_dir), self.admin, "admin.key changed across a restart");
    }

    /// `<scratch>/<name>`.
    pub fn scratch_file(&self, name: &str) -> PathBuf {
        self.scratch.join(name)
    }

    // -----------------------------------------------------------------------------------------
    // HTTP

    /// Sends a request with a raw body.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        content_type: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Resp {
        let what = format!("{method} {path}");
        let mut rb = self.http.request(method, format!("{}{path}", self.base));
        if let Some(k) = key {
            rb = rb.bearer_auth(k);
        }
        if let Some(ct) = content_type {
            rb = rb.header(reqwest::header::CONTENT_TYPE, ct);
        }
        if let Some(b) = body {
            rb = rb.body(b);
        }
        let resp = rb.send().await.unwrap_or_else(|e| panic!("{what}: request failed: {e}"));
        Resp::read(what, resp).await
    }

    /// Sends a request with an optional JSON body.
    pub async fn call(&self, method: Method, path: &str, key: Option<&str>, body: Option<&Value>) -> Resp {
        let bytes = body.map(|b| serde_json::to_vec(b).expect("serialisable"));
        let ct = bytes.as_ref().map(|_| "application/json");
        self.raw(method, path, key, ct, bytes).await
    }

    /// `GET path`.
    pub async fn get(&self, path: &str, key: Option<&str>) -> Resp {
        self.call(Method::GET, path, key, None).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, key: &str, body: &Value) -> Resp {
        self.call(Method::POST, path, Some(key), Some(body)).await
    }

    /// `PUT path` with a JSON body.
    pub async fn put(&self, path: &str, key: &str, body: &Value) -> Resp {
        self.call(Method::PUT, path, Some(key), Some(body)).await
    }

    /// `PUT path` without a body.
    pub async fn put_empty(&self, path: &str, key: &str) -> Resp {
        self.call(Method::PUT, path, Some(key), None).await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str, key: &str) -> Resp {
        self.call(Method::DELETE, path, Some(key), None).await
    }

    /// `GET /healthz`, which must answer 200.
    pub async fn health(&self) -> Value {
        let r = self.get("/healthz", None).await;
        r.ok(200).clone()
    }

    /// The `numbers` field of `/healthz`.
    pub async fn held_numbers(&self) -> u64 {
        self.health().await["numbers"].as_u64().expect("healthz.numbers is a number")
    }

    // -----------------------------------------------------------------------------------------
    // Fixtures

    /// Registers a provider with `roles` as the administrator.
    pub async fn provider(&self, legal_name: &str, roles: &[&str]) -> Provider {
        let mut body = json!({ "legalName": legal_name, "roles": roles });
        if roles.iter().any(|r| matches!(*r, "dca" | "carrier" | "voice")) {
            // FRNs are unique in the registry: give each DCA and carrier its own.
            let n = self.frn.fetch_add(1, Ordering::Relaxed);
            body["frn"] = json!(format!("{:010}", 12_345_678 + n));
        }
        let r = self.post("/v1/providers", &self.admin, &body).await;
        let v = r.ok(201);
        let p = Provider {
            id: v["provider"]["providerId"].as_str().expect("provider.providerId").to_owned(),
            key: v["apiKey"].as_str().expect("apiKey").to_owned(),
            key_id: v["keyId"].as_str().expect("keyId").to_owned(),
        };
        assert!(p.key.starts_with(&format!("vouch_{}_", p.key_id)), "unexpected key shape {}", p.key);
        p
    }

    /// A CSP.
    pub async fn csp(&self, legal_name: &str) -> Provider {
        self.provider(legal_name, &["csp"]).await
    }

    /// A DCA.
    pub async fn dca(&self, legal_name: &str) -> Provider {
        self.provider(legal_name, &["dca"]).await
    }

    /// Registers `body` as a brand of `csp`; returns the 201 body.
    pub async fn brand_with(&self, csp: &Provider, body: &Value) -> Value {
        self.post("/v1/brands", &csp.key, body).await.ok(201).clone()
    }

    /// Registers the walk-through brand for `csp` and checks it is VERIFIED; returns its id.
    pub async fn verified_brand(&self, csp: &Provider) -> String {
        self.verified_brand_with(csp, &brand_json()).await
    }

    /// Registers `body` for `csp` and checks it is VERIFIED; returns its id.
    pub async fn verified_brand_with(&self, csp: &Provider, body: &Value) -> String {
        let b = self.brand_with(csp, body).await;
        assert_eq!(b["identityStatus"], "VERIFIED", "the brand should be VERIFIED: {b:#}");
        b["brandId"].as_str().expect("brandId").to_owned()
    }

    /// Creates the walk-through MARKETING campaign for `brand`; returns its id.
    pub async fn marketing_campaign(&self, csp: &Provider, brand: &str) -> String {
        let c = self.post("/v1/campaigns", &csp.key, &campaign_json(brand)).await.ok(201).clone();
        assert_eq!(c["status"], "ACTIVE", "{c:#}");
        c["campaignId"].as_str().expect("campaignId").to_owned()
    }

    /// Shares `campaign` with `dca` (as `csp`); returns the campaign.
    pub async fn share(&self, csp: &Provider, campaign: &str, dca: &Provider) -> Value {
        self.put_empty(&format!("/v1/campaigns/{campaign}/sharing/{}", dca.id), &csp.key).await.ok(200).clone()
    }

    /// `dca` accepts `campaign`; returns the campaign.
    pub async fn accept(&self, dca: &Provider, campaign: &str) -> Value {
        let c = self
            .call(Method::POST, &format!("/v1/campaigns/{campaign}/sharing/{}/accept", dca.id), Some(&dca.key), None)
            .await
            .ok(200)
            .clone();
        assert_eq!(c["dcaId"], dca.id.as_str(), "{c:#}");
        c
    }

    /// Shares `campaign` with `dca` and has it accept.
    pub async fn share_and_accept(&self, csp: &Provider, campaign: &str, dca: &Provider) -> Value {
        self.share(csp, campaign, dca).await;
        self.accept(dca, campaign).await
    }

    /// A CSP, a DCA, a VERIFIED brand and a MARKETING campaign the DCA accepted.
    pub async fn accepted_campaign(&self) -> Setup {
        let csp = self.csp("Acme Messaging Inc").await;
        let dca = self.dca("Carrier Connect LLC").await;
        let brand = self.verified_brand(&csp).await;
        let campaign = self.marketing_campaign(&csp, &brand).await;
        self.share_and_accept(&csp, &campaign, &dca).await;
        Setup { csp, dca, brand, campaign }
    }

    /// Another accepted campaign for the brand of `s`, carried by the same DCA.
    pub async fn second_campaign(&self, s: &Setup) -> String {
        let c = self.marketing_campaign(&s.csp, &s.brand).await;
        self.share_and_accept(&s.csp, &c, &s.dca).await;
        c
    }

    /// `PUT /v1/numbers/{number}` with `{"campaignId": campaign}` as `key`.
    pub async fn assign(&self, key: &str, number: &str, campaign: &str) -> Resp {
        self.put(&format!("/v1/numbers/{number}"), key, &json!({ "campaignId": campaign })).await
    }

    /// `POST /v1/providers/{csp}/smpp-accounts` for `system_id` as the CSP: the password,
    /// shown once.
    pub async fn smpp_account(&self, csp: &Provider, system_id: &str) -> String {
        let acct = self
            .post(&format!("/v1/providers/{}/smpp-accounts", csp.id), &csp.key, &json!({ "systemId": system_id }))
            .await;
        acct.ok(201)["password"].as_str().expect("password").to_owned()
    }

    /// `POST /v1/campaigns/{campaign}/suspend` (or `/resume`) with a reason, as `key`.
    pub async fn set_suspended(&self, key: &str, campaign: &str, suspend: bool, reason: &str) -> Resp {
        let verb = if suspend { "suspend" } else { "resume" };
        self.post(&format!("/v1/campaigns/{campaign}/{verb}"), key, &json!({ "reason": reason })).await
    }

    /// `GET /v1/numbers/{number}/history` (public).
    pub async fn history(&self, number: &str) -> Value {
        self.get(&format!("/v1/numbers/{number}/history"), None).await.ok(200).clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Spawned's own Drop kills the child if it still runs.
        self.proc.take();
        if self._tmp.is_some() {
            drop_database(&self.data_dir);
        }
    }
}

/// Reads and trims `<data_dir>/admin.key`.
pub fn read_admin_key(data_dir: &Path) -> String {
    let path = data_dir.join("admin.key");
    let key = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
        .trim()
        .to_owned();
    assert!(key.starts_with("vouch_"), "{} holds `{key}`, not a vouch API key", path.display());
    key
}

/// A registered provider and its first API key.
#[derive(Debug, Clone)]
pub struct Provider {
    /// Its id.
    pub id: String,
    /// Its API key.
    pub key: String,
    /// The id of that key.
    pub key_id: String,
}

/// The main flow's actors, up to an accepted campaign.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The CSP.
    pub csp: Provider,
    /// The DCA that accepted the campaign.
    pub dca: Provider,
    /// The VERIFIED brand.
    pub brand: String,
    /// The accepted MARKETING campaign.
    pub campaign: String,
}

/// The brand of the walk-through (VERIFIED, score 85).
pub fn brand_json() -> Value {
    json!({
        "entityType": "PRIVATE_PROFIT",
        "displayName": "Acme Dental",
        "companyName": "Acme Dental Group LLC",
        "ein": "46-4123456",
        "country": "US",
        "state": "CA",
        "city": "San Francisco",
        "street": "1 Main St",
        "postalCode": "94105",
        "email": "ops@acmedental.com",
        "website": "https://acmedental.com",
        "vertical": "HEALTHCARE",
        "phone": "+14155550100"
    })
}

/// A second, unrelated brand that vets as VERIFIED.
pub fn other_brand_json() -> Value {
    json!({
        "entityType": "PRIVATE_PROFIT",
        "displayName": "Initech Orthodontics",
        "companyName": "Initech Orthodontics PLLC",
        "ein": "94-2223334",
        "country": "US",
        "state": "TX",
        "city": "Austin",
        "street": "500 Congress Ave",
        "postalCode": "78701",
        "email": "care@initechortho.com",
        "website": "https://initechortho.com",
        "vertical": "HEALTHCARE",
        "phone": "+15125550142"
    })
}

/// The MARKETING campaign of the walk-through, for `brand`.
pub fn campaign_json(brand: &str) -> Value {
    json!({
        "brandId": brand,
        "usecase": "MARKETING",
        "description": "Appointment reminders and monthly offers for Acme Dental patients.",
        "messageFlow": "Patients tick an unticked SMS consent box on the booking form at acmedental.com/book.",
        "sample1": "Acme Dental: 20% off whitening this month. Reply STOP to opt out.",
        "sample2": "Acme Dental: your cleaning is due, book online. Reply STOP to opt out.",
        "subscriberOptin": true,
        "subscriberOptout": true,
        "subscriberHelp": true,
        "optoutKeywords": "STOP,QUIT",
        "helpKeywords": "HELP",
        "optoutMessage": "Acme Dental: you are unsubscribed and will get no more messages.",
        "helpMessage": "Acme Dental: help at support@acmedental.com or +14155550100."
    })
}

/// An HTTP response, read whole.
#[derive(Debug)]
pub struct Resp {
    /// `METHOD path`, for messages.
    pub what: String,
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// The body as text.
    pub text: String,
    /// The body as JSON (`Null` when it is not JSON).
    pub json: Value,
}

impl Resp {
    async fn read(what: String, resp: reqwest::Response) -> Self {
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap_or_else(|e| panic!("{what}: cannot read the body: {e}"));
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Self { what, status, headers, text, json }
    }

    /// The `Content-Type` header.
    pub fn content_type(&self) -> &str {
        self.headers.get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    /// Asserts the status; returns the JSON body.
    #[track_caller]
    pub fn ok(&self, status: u16) -> &Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "{}: expected {status}, got {}: {}",
            self.what,
            self.status,
            self.text
        );
        &self.json
    }

    /// Asserts an RFC 9457 problem of `status` and type `urn:vouch:problem:<slug>`; returns it.
    #[track_caller]
    pub fn problem(&self, status: u16, slug: &str) -> &Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "{}: expected {status} {slug}, got {}: {}",
            self.what,
            self.status,
            self.text
        );
        assert!(
            self.content_type().starts_with("application/problem+json"),
            "{}: a problem must be application/problem+json, got `{}`",
            self.what,
            self.content_type()
        );
        assert_eq!(self.json["type"], format!("{PROBLEM}{slug}"), "{}: wrong problem type: {}", self.what, self.text);
        assert_eq!(self.json["status"], status, "{}: the problem's status member: {}", self.what, self.text);
        assert!(
            self.json["title"].as_str().is_some_and(|t| !t.is_empty()),
            "{}: a problem has a title: {}",
            self.what,
            self.text
        );
        assert!(
            self.json["detail"].as_str().is_some_and(|t| !t.is_empty()),
            "{}: a problem has a detail: {}",
            self.what,
            self.text
        );
        &self.json
    }

    /// Asserts a problem whose `errors` name `field`.
    #[track_caller]
    pub fn problem_naming(&self, status: u16, slug: &str, field: &str) -> &Value {
        self.problem(status, slug);
        let fields = self.error_fields();
        assert!(
            fields.iter().any(|f| f == field),
            "{}: errors should name `{field}`, they name {fields:?}: {}",
            self.what,
            self.text
        );
        &self.json
    }

    /// The `field` members of the problem's `errors`.
    pub fn error_fields(&self) -> Vec<String> {
        self.json["errors"]
            .as_array()
            .map(|a| a.iter().filter_map(|e| e["field"].as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    }
}

/// Whether `v` contains an object key `key` anywhere.
pub fn has_key(v: &Value, key: &str) -> bool {
    match v {
        Value::Object(m) => m.iter().any(|(k, v)| k == key || has_key(v, key)),
        Value::Array(a) => a.iter().any(|v| has_key(v, key)),
        _ => false,
    }
}

/// The vetting reason with `code` in a brand, if any.
pub fn reason<'a>(brand: &'a Value, code: &str) -> Option<&'a Value> {
    brand["vettingReasons"].as_array()?.iter().find(|r| r["code"] == code)
}

/// The codes of a brand's BLOCKING reasons.
pub fn blocking_codes(brand: &Value) -> Vec<String> {
    brand["vettingReasons"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|r| r["severity"] == "BLOCKING")
                .filter_map(|r| r["code"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The ids (`field`) of the objects in a JSON array.
pub fn ids(list: &Value, field: &str) -> Vec<String> {
    list.as_array().expect("a JSON array").iter().filter_map(|v| v[field].as_str().map(str::to_owned)).collect()
}
