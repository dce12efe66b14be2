//! The SMPP gateway end to end with real peers: smpplib as the ESME (`peers/esme.py`) and an
//! independent SMSC simulator (`peers/smsc_sim.py`), both on loopback, through `vouch serve
//! --smpp`.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{Server, serve_command};

pub(crate) fn python() -> String {
    std::env::var("VOUCH_TEST_PYTHON").unwrap_or_else(|_| "python3".into())
}

pub(crate) fn peer(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/integration/peers").join(name)
}

/// The SMSC simulator: its SMPP and control ports, and its log of accepted messages.
pub(crate) struct Smsc {
    child: Child,
    pub(crate) port: u16,
    control: u16,
    log: PathBuf,
}

impl Smsc {
    pub(crate) fn start(log: PathBuf) -> Self {
        Self::start_with(log, &[])
    }

    fn start_with(log: PathBuf, extra: &[&std::ffi::OsStr]) -> Self {
        let mut child = Command::new(python())
            .arg(peer("smsc_sim.py"))
            .args(["--system-id", "vouchup", "--password", "uppw", "--log"])
            .arg(&log)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cannot start the SMSC simulator");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("simulator output");
        let parts: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(parts.first(), Some(&"LISTENING"), "simulator said {line:?}");
        Self { child, port: parts[1].parse().expect("port"), control: parts[2].parse().expect("port"), log }
    }

    pub(crate) fn control(&self, command: &str) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", self.control)).expect("control port");
        s.set_read_timeout(Some(Duration::from_secs(10))).ok();
        writeln!(s, "{command}").expect("control write");
        let mut line = String::new();
        BufReader::new(s).read_line(&mut line).expect("control read");
        assert!(line.starts_with("OK"), "SMSC control {command:?} answered {line:?}");
        line
    }

    /// Messages the SMSC accepted, in order.
    fn messages(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("simulator log line"))
            .collect()
    }

    pub(crate) fn texts_from(&self, source: &str) -> Vec<String> {
        self.messages().iter().filter(|m| m["source_addr"] == source).map(short_message).collect()
    }
}

/// A logged message's short_message, as text: UCS-2 for data_coding 8; otherwise ASCII, as
/// smpplib sends it, with byte 0 read as the GSM alphabet's `@` (vouch's own answers are GSM).
fn short_message(m: &Value) -> String {
    let hex = m["short_message_hex"].as_str().unwrap_or("");
    let bytes: Vec<u8> =
        (0..hex.len() / 2).filter_map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()).collect();
    match m["data_coding"].as_u64() {
        Some(8) => String::from_utf16_lossy(
            &bytes.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect::<Vec<_>>(),
        ),
        _ => bytes.iter().map(|&b| if b == 0 { '@' } else { char::from(b) }).collect(),
    }
}

impl Drop for Smsc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An smpplib ESME driven line by line.
pub(crate) struct Esme {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Esme {
    pub(crate) fn start(port: u16) -> Self {
        Self::start_with(port, &[])
    }

    fn start_with(port: u16, extra: &[&std::ffi::OsStr]) -> Self {
        let mut child = Command::new(python())
            .arg(peer("esme.py"))
            .args(["--port", &port.to_string()])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cannot start the ESME");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        Self { child, stdin, stdout }
    }

    fn op(&mut self, v: Value) -> Value {
        writeln!(self.stdin, "{v}").expect("esme write");
        self.stdin.flush().expect("esme flush");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("esme read");
        let r: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("esme said {line:?}: {e}"));
        assert!(r.get("error").is_none(), "esme op {v} failed: {r}");
        r
    }

    pub(crate) fn bind(&mut self, system_id: &str, password: &str) -> i64 {
        self.op(json!({"op": "bind", "mode": "trx", "system_id": system_id, "password": password}))["status"]
            .as_i64()
            .expect("status")
    }

    /// Sends a message; returns every part's status.
    pub(crate) fn submit(&mut self, src: &str, dst: &str, text: &str, split: &str) -> Vec<i64> {
        let r = self.op(json!({"op": "submit", "src": src, "dst": dst, "text": text, "dlr": true, "split": split}));
        r["statuses"].as_array().expect("statuses").iter().map(|s| s.as_i64().expect("int")).collect()
    }

    pub(crate) fn submit_full(&mut self, src: &str, dst: &str, text: &str) -> Value {
        self.op(json!({"op": "submit", "src": src, "dst": dst, "text": text, "dlr": true, "split": "none"}))
    }

    pub(crate) fn wait_deliver(&mut self, count: usize, timeout: u64) -> Vec<Value> {
        let r = self.op(json!({"op": "wait_deliver", "count": count, "timeout": timeout}));
        r["pdus"].as_array().cloned().unwrap_or_default()
    }
}

impl Drop for Esme {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The port of the listener `vouch serve` announced with `prefix`.
pub(crate) fn announced_port(server: &Server, prefix: &str) -> u16 {
    let out = server.stdout.text();
    out.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no {prefix:?} in {out}"))
}

const N_MAIN: &str = "12025550101";
const N_NOT_SHARED: &str = "12025550102";
const N_OTHER_CSP: &str = "12025550103";
const N_UNREGISTERED: &str = "12025550109";
const SUBSCRIBER: &str = "13105550100";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_enforces_the_registry_between_a_real_esme_and_a_real_smsc() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data_dir = tmp.path().join("data");
    let scratch = tmp.path().to_path_buf();
    let mut server = Server::launch(serve_command(&scratch, &data_dir), data_dir.clone(), scratch.clone());

    // The registry: a CSP's accepted campaign, one carried by another DCA, another CSP's campaign.
    let s = server.accepted_campaign().await;
    // Accepted by another DCA: not shared to this gateway's.
    let not_shared = server.marketing_campaign(&s.csp, &s.brand).await;
    let dca2 = server.dca("Elsewhere Aggregation").await;
    server.share_and_accept(&s.csp, &not_shared, &dca2).await;
    let other = server.csp("Other Texting Co").await;
    let other_brand = server.verified_brand_with(&other, &crate::harness::other_brand_json()).await;
    let other_campaign = server.marketing_campaign(&other, &other_brand).await;
    server.share_and_accept(&other, &other_campaign, &s.dca).await;
    server.assign(&s.csp.key, &format!("+{N_MAIN}"), &s.campaign).await.ok(201);
    server.assign(&s.csp.key, &format!("+{N_NOT_SHARED}"), &not_shared).await.ok(201);
    server.assign(&other.key, &format!("+{N_OTHER_CSP}"), &other_campaign).await.ok(201);

    // SMPP credentials through the REST API: shown once, stored hashed.
    let path = format!("/v1/providers/{}/smpp-accounts", s.csp.id);
    let acct = server.post(&path, &s.csp.key, &json!({"systemId": "acme1"})).await.ok(201).clone();
    let password = acct["password"].as_str().expect("password").to_owned();
    assert_eq!(password.len(), 8);
    let listed = server.get(&path, Some(&s.csp.key)).await.ok(200).clone();
    assert!(listed[0].get("password").is_none(), "the password is shown once: {listed}");
    server.post(&path, &s.csp.key, &json!({"systemId": "acme1"})).await.ok(409);
    server.post(&path, &s.dca.key, &json!({})).await.ok(403);
    server.post(&format!("/v1/providers/{}/smpp-accounts", s.dca.id), &s.dca.key, &json!({})).await.ok(422);
    let db = crate::harness::store_bytes(&data_dir);
    assert!(!db.windows(8).any(|w| w == password.as_bytes()), "the password is not stored in clear");

    // Restart with the gateway in front of the SMSC simulator (classes at 1 % of their rate).
    server.sigterm();
    let smsc = Smsc::start(scratch.join("smsc.jsonl"));
    let config = scratch.join("vouch.toml");
    std::fs::write(&config, "[gateway]\nminute_scale = 0.01\n").expect("config");
    let mut cmd = serve_command(&scratch, &data_dir);
    cmd.args(["--smpp", "127.0.0.1:0", "--gateway-dca", &s.dca.id, "--config"])
        .arg(&config)
        .arg("--smsc")
        .arg(format!("smpp://vouchup:uppw@127.0.0.1:{}", smsc.port));
    let server = Server::launch(cmd, data_dir.clone(), scratch.clone());
    let smpp_port = announced_port(&server, "vouch: SMPP gateway on 127.0.0.1:");

    let mut esme = Esme::start(smpp_port);
    assert_eq!(esme.bind("acme1", "wrongpw1"), 14, "ESME_RINVPASWD");
    assert_eq!(esme.bind("nobody", "x"), 15, "ESME_RINVSYSID");
    assert_eq!(esme.bind("acme1", &password), 0);

    // Registered traffic reaches the SMSC, and its receipt comes back under vouch's id.
    let r = esme.submit_full(N_MAIN, SUBSCRIBER, "Acme Dental: your cleaning is due. Reply STOP to opt out.");
    assert_eq!(r["statuses"], json!([0]), "{r}");
    let our_id = r["message_ids"][0].as_str().expect("message id").to_owned();
    assert!(!our_id.starts_with("smsc-"), "the ESME gets vouch's id, not the SMSC's: {our_id}");
    let receipts = esme.wait_deliver(1, 10);
    assert_eq!(receipts.len(), 1, "one receipt");
    assert_eq!(receipts[0]["receipted_message_id"], our_id.as_str(), "{receipts:?}");
    assert!(receipts[0]["text"].as_str().unwrap_or("").starts_with(&format!("id:{our_id} ")), "{receipts:?}");
    assert_eq!(smsc.texts_from(N_MAIN).len(), 1);

    // Every registry reason has its own status, and nothing refused reaches the SMSC.
    assert_eq!(esme.submit(N_UNREGISTERED, SUBSCRIBER, "Hello", "none"), vec![0x400]);
    assert_eq!(esme.submit(N_NOT_SHARED, SUBSCRIBER, "Hello", "none"), vec![0x403]);
    assert_eq!(esme.submit(N_OTHER_CSP, SUBSCRIBER, "Hello", "none"), vec![0x404]);
    assert_eq!(esme.submit("ACME", SUBSCRIBER, "Hello", "none"), vec![0x0A], "ESME_RINVSRCADR");
    // Content against the campaign's declaration (no links, no phone numbers declared).
    assert_eq!(esme.submit(N_MAIN, SUBSCRIBER, "Book at https://acme.example/x", "none"), vec![0x407]);
    assert_eq!(esme.submit(N_MAIN, SUBSCRIBER, "Call us at (415) 555-0100", "none"), vec![0x408]);
    assert_eq!(esme.submit(N_MAIN, SUBSCRIBER, "Offer: bit.ly/abc", "none"), vec![0x409]);
    // Concatenated: parts are reassembled before the content check. Parts sent before the last
    // are acknowledged while they wait (smpplib sends a part after the previous one's answer);
    // the last part gets the verdict, and the earlier ones a REJECTD receipt.
    let _ = esme.wait_deliver(10, 1);
    let split_link = "Acme Dental: your cleaning is due soon, book at acmedental.com/book today. Reply STOP.";
    for split in ["udh8", "udh16", "sar"] {
        let st = esme.submit(N_MAIN, SUBSCRIBER, split_link, split);
        assert_eq!(st, vec![0, 0, 0x407], "{split}");
        let receipts = esme.wait_deliver(2, 10);
        assert_eq!(receipts.len(), 2, "{split}: {receipts:?}");
        let rejected = |r: &Value| r["text"].as_str().is_some_and(|t| t.contains("stat:REJECTD err:407"));
        assert!(receipts.iter().all(rejected), "{receipts:?}");
    }
    assert_eq!(smsc.texts_from(N_MAIN).len(), 1, "no part of a refused message reached the SMSC");
    let clean_long = "Acme Dental: your cleaning is due soon, please book a visit with us. Reply STOP to opt out.";
    assert_eq!(esme.submit(N_MAIN, SUBSCRIBER, clean_long, "udh16"), vec![0, 0, 0]);
    assert_eq!(esme.submit(N_MAIN, SUBSCRIBER, clean_long, "payload"), vec![0]);
    assert_eq!(smsc.texts_from(N_MAIN).len(), 5, "1 + 3 parts + 1 payload reached the SMSC");
    let _ = esme.wait_deliver(4, 5);

    // Opt-out: STOP from the subscriber (through the SMSC) suppresses the campaign until START.
    // ("Stop all", as subscribers type it: STOP ALL is one of CTIA's opt-out words.)
    smsc.control(&format!("mo {SUBSCRIBER} {N_MAIN} Stop all"));
    let mo = esme.wait_deliver(1, 10);
    assert_eq!(mo.first().map(|m| m["text"].clone()), Some(json!("Stop all")), "the CSP gets the STOP: {mo:?}");
    assert_eq!(esme.submit(N_MAIN, SUBSCRIBER, "Hello again", "none"), vec![0x406]);
    assert_eq!(
        esme.submit(N_MAIN, "13105550199", "Hello other", "none"),
        vec![0],
        "other subscribers are not affected"
    );
    let _ = esme.wait_deliver(1, 5);
    smsc.control(&format!("mo {SUBSCRIBER} {N_MAIN} HELP"));
    smsc.control(&format!("mo {SUBSCRIBER} {N_MAIN} START"));
    let _ = esme.wait_deliver(2, 5);
    let replies: Vec<Value> =
        smsc.messages().into_iter().filter(|m| m["source_addr"] == N_MAIN && m["dest_addr"] == SUBSCRIBER).collect();
    let texts: Vec<String> = replies.iter().map(short_message).collect();
    assert!(texts.iter().any(|t| t.contains("you are unsubscribed")), "the opt-out is confirmed: {texts:?}");
    assert!(texts.iter().any(|t| t.contains("help at support@acmedental.com")), "HELP is answered: {texts:?}");
    // In the GSM alphabet, where `@` is septet 0 (0x40 is `¡`).
    let help = replies.iter().find(|m| short_message(m).contains("help at")).expect("the HELP answer");
    let hex = help["short_message_hex"].as_str().unwrap_or_default();
    assert_eq!(help["data_coding"], 0, "{help}");
    assert!(hex.as_bytes().chunks(2).all(|b| b != b"40") && hex.contains("00"), "{help}");
    assert_eq!(esme.submit(N_MAIN, SUBSCRIBER, "Welcome back", "none"), vec![0], "START lifts the opt-out");
    let _ = esme.wait_deliver(1, 5);

    // Upstream throttling is the ESME's throttling; nothing is acknowledged that the SMSC refused.
    smsc.control("throttle 1");
    assert_eq!(esme.submit(N_MAIN, SUBSCRIBER, "Throttled once", "none"), vec![0x58]);
    assert!(!smsc.texts_from(N_MAIN).iter().any(|t| t == "Throttled once"));
    // An SMSC that drops the connection mid-submit: vouch reconnects and sends again.
    smsc.control("drop 1");
    let r = esme.submit_full(N_MAIN, SUBSCRIBER, "Survives a disconnect");
    assert_eq!(r["statuses"], json!([0]), "{r}");
    assert!(smsc.texts_from(N_MAIN).iter().any(|t| t == "Survives a disconnect"), "acknowledged means delivered");
    let _ = esme.wait_deliver(2, 5);

    // A bad ESME does not disturb a good one.
    let mut bad = Esme::start(smpp_port);
    let nack = bad.op(json!({"op": "raw", "hex": "00000010000012340000000000000007"}));
    assert_eq!((nack["command_id"].as_i64(), nack["command_status"].as_i64()), (Some(0x8000_0000), Some(3)), "{nack}");
    let lie = bad.op(json!({"op": "raw", "hex": "00000005000000150000000000000001"}));
    assert_eq!((lie["command_id"].as_i64(), lie["command_status"].as_i64()), (Some(0x8000_0000), Some(2)), "{lie}");
    let early = Esme::start(smpp_port)
        .op(json!({"op": "raw", "hex": "000000230000000400000000000000010001013100010132000000000000000000000000"}));
    assert_eq!(early["command_status"], 4, "submit before bind: ESME_RINVBNDSTS: {early}");

    // Suspending the campaign through the REST API stops the very next message.
    server.set_suspended(&s.dca.key, &s.campaign, true, "spam reports").await.ok(200);
    assert_eq!(esme.submit(N_MAIN, SUBSCRIBER, "After suspension", "none"), vec![0x401]);
    server.set_suspended(&s.dca.key, &s.campaign, false, "cleared").await.ok(200);

    // What the SMSC refuses was not sent: it does not spend the campaign's class rate. 30
    // messages refused upstream, then the rate test below still gets (nearly) the whole 45.
    smsc.control("throttle 30");
    for _ in 0..30 {
        assert_eq!(esme.submit(N_MAIN, SUBSCRIBER, "Refused upstream", "none"), vec![0x58]);
    }

    // Over the class rate (MARKETING, score 85: class B, 4,500 a minute at 1 %: 45).
    let started = Instant::now();
    let mut statuses = Vec::new();
    while statuses.len() < 60 && started.elapsed() < Duration::from_secs(60) {
        statuses.extend(esme.submit(N_MAIN, SUBSCRIBER, "Rate test", "none"));
        if statuses.last() == Some(&0x58) {
            break;
        }
    }
    assert_eq!(statuses.last(), Some(&0x58), "the class rate throttles: {statuses:?}");
    let accepted = statuses.iter().filter(|s| **s == 0).count();
    assert!(accepted >= 25, "the 30 refused upstream spent none of the 45 a minute: {accepted} accepted");

    // Every decision is recorded, with no destination number and no content.
    let recs = server
        .get(&format!("/v1/gateway/records?source=%2B{N_MAIN}&limit=500"), Some(&s.dca.key))
        .await
        .ok(200)
        .clone();
    let recs = recs.as_array().expect("records");
    let has = |verdict: &str, status: &str| recs.iter().any(|r| r["verdict"] == verdict && r["status"] == status);
    assert!(has("accepted", "0x00000000"));
    for status in ["0x00000401", "0x00000406", "0x00000407", "0x00000408", "0x00000409", "0x00000058"] {
        assert!(has("rejected", status), "no rejected record with {status}");
    }
    let text = serde_json::to_string(recs).unwrap_or_default();
    assert!(!text.contains(SUBSCRIBER) && !text.contains("cleaning"), "records keep no number and no content");
    assert!(recs.iter().all(|r| r["destinationHash"].as_str().is_some_and(|h| h.len() == 32)));
    // A message from another CSP's number tells this CSP nothing of that CSP's campaign.
    let foreign =
        server.get(&format!("/v1/gateway/records?source=%2B{N_OTHER_CSP}"), Some(&s.csp.key)).await.ok(200).clone();
    let foreign = foreign.as_array().and_then(|a| a.first()).cloned().unwrap_or_default();
    assert_eq!(foreign["status"], "0x00000404", "{foreign}");
    assert!(foreign["campaignId"].is_null(), "{foreign}");
    let shown = foreign.to_string();
    assert!(!shown.contains(other_campaign.as_str()) && !shown.contains(other.id.as_str()), "{shown}");
    let theirs = server.get("/v1/gateway/records", Some(&other.key)).await.ok(200).clone();
    assert!(theirs.as_array().is_some_and(|a| a.iter().all(|r| r["providerId"] == other.id.as_str())));

    // The live figures: every record counted once under its minute, verdict and status.
    let tally = |rows: &Value, key: fn(&Value) -> (String, String), n: fn(&Value) -> u64| {
        let mut m = std::collections::BTreeMap::<(String, String), u64>::new();
        for r in rows.as_array().expect("rows") {
            *m.entry(key(r)).or_default() += n(r);
        }
        m
    };
    let by_status =
        |r: &Value| (r["verdict"].as_str().unwrap_or("").to_owned(), r["status"].as_str().unwrap_or("").to_owned());
    for (key, provider) in [(&s.dca.key, None), (&s.csp.key, Some(&s.csp.id)), (&other.key, Some(&other.id))] {
        let all = server.get("/v1/gateway/records?limit=10000", Some(key)).await.ok(200).clone();
        let minutes = server.get("/v1/gateway/minutes", Some(key)).await.ok(200).clone();
        assert!(
            all.as_array().is_some_and(|a| a.iter().all(|r| provider.is_none_or(|p| r["providerId"] == p.as_str())))
        );
        assert_eq!(
            tally(&minutes, by_status, |r| r["messages"].as_u64().unwrap_or(0)),
            tally(&all, by_status, |_| 1),
            "{minutes}"
        );
    }
    let minutes = server.get("/v1/gateway/minutes", Some(&s.dca.key)).await.ok(200).clone();
    assert!(minutes[0]["reason"].as_str().is_some_and(|r| r.contains(": ")), "{minutes}");
    server.get("/v1/gateway/minutes", Some(&dca2.key)).await.ok(403);
    server.get("/v1/gateway/minutes?since=yesterday", Some(&s.dca.key)).await.ok(400);
    server.get("/v1/gateway/minutes?since=2020-01-01T00:00:00Z", Some(&s.dca.key)).await.ok(400);
    for bad in ["limit=0", "limit=10001", "since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z"] {
        server.get(&format!("/v1/gateway/records?{bad}"), Some(&s.dca.key)).await.ok(400);
    }
    drop(bad);
}

/// SMPP over TLS on both sides: smpplib binds to `--smpps` with a certificate made by OpenSSL,
/// and vouch reaches an SMSC that only speaks TLS (`smpps://…?ca=`). A plain bind on the TLS
/// port gets nowhere, and a certificate vouch does not trust keeps the SMSC session down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_speaks_smpp_over_tls_to_esmes_and_smscs() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let data_dir = dir.join("data");
    let (cert, key) = crate::harness::loopback_tls_certificate(dir);

    let (s, password) = registered_account(dir, &data_dir, "acmetls").await;

    let smsc = Smsc::start_with(
        dir.join("smsc.jsonl"),
        &["--tls-cert".as_ref(), cert.as_os_str(), "--tls-key".as_ref(), key.as_os_str()],
    );
    let mut cmd = serve_command(dir, &data_dir);
    cmd.args(["--smpps", "127.0.0.1:0", "--gateway-dca", &s.dca.id, "--smpp-tls-cert"])
        .arg(&cert)
        .arg("--smpp-tls-key")
        .arg(&key)
        .arg("--smsc")
        .arg(format!("smpps://vouchup:uppw@127.0.0.1:{}?ca={}", smsc.port, cert.display()));
    let server = Server::launch(cmd, data_dir.clone(), dir.to_path_buf());
    let port = announced_port(&server, "vouch: SMPP gateway over TLS on 127.0.0.1:");
    assert!(!server.stdout.text().contains("vouch: SMPP gateway on "), "no plain listener was asked for");

    let mut esme = Esme::start_with(port, &["--tls-ca".as_ref(), cert.as_os_str()]);
    assert_eq!(esme.bind("acmetls", &password), 0);
    let r = esme.submit_full(N_MAIN, SUBSCRIBER, "Acme Dental: your cleaning is due. Reply STOP to opt out.");
    assert_eq!(r["statuses"], json!([0]), "{r}");
    let our_id = r["message_ids"][0].as_str().expect("message id").to_owned();
    let receipts = esme.wait_deliver(1, 10);
    assert_eq!(receipts.first().map(|r| r["receipted_message_id"].clone()), Some(json!(our_id)), "{receipts:?}");
    assert_eq!(smsc.texts_from(N_MAIN).len(), 1, "the message crossed the TLS session to the SMSC");
    assert_eq!(esme.submit(N_UNREGISTERED, SUBSCRIBER, "Hello", "none"), vec![0x400], "checks apply over TLS");

    // A plain bind on the TLS port: no SMPP answer, the connection is closed.
    let plain =
        Esme::start(port).op(json!({"op": "bind", "mode": "trx", "system_id": "acmetls", "password": password}));
    assert_eq!(plain["status"], -1, "{plain}");
    drop(server);

    // An SMSC whose certificate vouch does not trust (no ca=): the TLS session never comes up,
    // and vouch says why.
    let mut cmd = serve_command(dir, &data_dir);
    cmd.args(["--smpp", "127.0.0.1:0", "--gateway-dca", &s.dca.id])
        .arg("--smsc")
        .arg(format!("smpps://vouchup:uppw@127.0.0.1:{}", smsc.port));
    let server = Server::launch(cmd, data_dir.clone(), dir.to_path_buf());
    let deadline = Instant::now() + Duration::from_secs(15);
    while !server.stderr.text().contains("SMSC session lost") {
        assert!(Instant::now() < deadline, "no failed TLS session: {}", server.stderr.text());
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = server.stderr.text();
    assert!(log.contains("TLS handshake failed") && log.contains("UnknownIssuer"), "{log}");
    let health = server.health().await;
    assert_eq!(health["smscs"][format!("127.0.0.1:{}", smsc.port)], json!(false), "/healthz: {health}");
    let stats = smsc.control("stats");
    assert!(stats.contains("\"binds\": 1,"), "only the first gateway bound: {stats}");
    drop(server);
}

/// A store (in `data_dir`) where N_MAIN is in a campaign accepted by the DCA and its CSP has the
/// SMPP account `system_id`, written by a server that is stopped again: the setup and the
/// account's password.
async fn registered_account(dir: &Path, data_dir: &Path, system_id: &str) -> (crate::harness::Setup, String) {
    let mut server = Server::launch(serve_command(dir, data_dir), data_dir.to_path_buf(), dir.to_path_buf());
    let s = server.accepted_campaign().await;
    server.assign(&s.csp.key, &format!("+{N_MAIN}"), &s.campaign).await.ok(201);
    let password = server.smpp_account(&s.csp, system_id).await;
    server.sigterm();
    (s, password)
}

/// A PDU as read off the wire: command id, status, sequence, body.
type RawPdu = (u32, u32, u32, Vec<u8>);

/// An ESME written with raw PDUs, for what smpplib will not send: user data given twice, a UDH
/// that does not parse, parts of one message in two encodings, header-only PDUs, an unbind
/// with submits outstanding, a transmitter and a receiver of one account.
struct RawEsme {
    s: TcpStream,
    seq: u32,
    /// PDUs read while waiting for another.
    seen: Vec<RawPdu>,
}

fn cstr(v: &str) -> Vec<u8> {
    let mut b = v.as_bytes().to_vec();
    b.push(0);
    b
}

/// A submit_sm body from N_MAIN to SUBSCRIBER.
fn submit_body(esm_class: u8, data_coding: u8, dlr: bool, short: &[u8], tlvs: &[(u16, &[u8])]) -> Vec<u8> {
    let mut b = cstr("");
    b.extend([1, 1]);
    b.extend(cstr(N_MAIN));
    b.extend([1, 1]);
    b.extend(cstr(SUBSCRIBER));
    b.extend([esm_class, 0, 0]);
    b.extend(cstr(""));
    b.extend(cstr(""));
    b.extend([u8::from(dlr), 0, data_coding, 0, short.len() as u8]);
    b.extend(short);
    for (tag, value) in tlvs {
        b.extend(tag.to_be_bytes());
        b.extend((value.len() as u16).to_be_bytes());
        b.extend(*value);
    }
    b
}

/// One PDU: header and body.
fn raw_pdu(command_id: u32, status: u32, seq: u32, body: &[u8]) -> Vec<u8> {
    let mut p = ((16 + body.len()) as u32).to_be_bytes().to_vec();
    for w in [command_id, status, seq] {
        p.extend(w.to_be_bytes());
    }
    p.extend(body);
    p
}

impl RawEsme {
    fn connect(port: u16) -> Self {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        Self { s, seq: 0, seen: Vec::new() }
    }

    /// Connects from `source` (another loopback address), as a second ESME host would.
    fn connect_from(source: &str, port: u16) -> Self {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.bind(format!("{source}:0").parse().expect("source")).expect("bind the source address");
        let stream = tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(socket.connect(([127, 0, 0, 1], port).into()))
        })
        .expect("connect");
        let s = stream.into_std().expect("std stream");
        s.set_nonblocking(false).expect("blocking");
        s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        Self { s, seq: 0, seen: Vec::new() }
    }

    fn send(&mut self, command_id: u32, status: u32, body: &[u8]) -> u32 {
        self.seq += 1;
        let seq = self.seq;
        self.send_as(command_id, status, seq, body);
        seq
    }

    fn send_as(&mut self, command_id: u32, status: u32, seq: u32, body: &[u8]) {
        self.s.write_all(&raw_pdu(command_id, status, seq, body)).expect("write");
    }

    /// Sends several requests in one write, so that they reach vouch together (separate writes
    /// may be read apart); their sequence numbers.
    fn send_together(&mut self, requests: &[(u32, &[u8])]) -> Vec<u32> {
        let mut bytes = Vec::new();
        let mut seqs = Vec::new();
        for (command_id, body) in requests {
            self.seq += 1;
            seqs.push(self.seq);
            bytes.extend(raw_pdu(*command_id, 0, self.seq, body));
        }
        self.s.write_all(&bytes).expect("write");
        seqs
    }

    /// The next PDU, or `None` at EOF or after `wait`.
    fn read(&mut self, wait: Duration) -> Option<RawPdu> {
        use std::io::Read;
        self.s.set_read_timeout(Some(wait)).ok();
        let mut head = [0u8; 16];
        self.s.read_exact(&mut head).ok()?;
        let w = |i: usize| u32::from_be_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
        let mut body = vec![0u8; (w(0) as usize).saturating_sub(16)];
        self.s.read_exact(&mut body).ok()?;
        Some((w(4), w(8), w(12), body))
    }

    /// The response to `seq`, read already or read now (keeping what else comes in `seen`):
    /// its id and status.
    fn answer_to(&mut self, seq: u32, wait: Duration) -> Option<(u32, u32)> {
        if let Some(i) = self.seen.iter().position(|p| p.0 & 0x8000_0000 != 0 && p.2 == seq) {
            let p = self.seen.remove(i);
            return Some((p.0, p.1));
        }
        let deadline = Instant::now() + wait;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let p = self.read(left)?;
            if p.0 & 0x8000_0000 != 0 && p.2 == seq {
                return Some((p.0, p.1));
            }
            self.seen.push(p);
        }
        None
    }

    fn bind(&mut self, command_id: u32, system_id: &str, password: &str) -> u32 {
        let mut b = cstr(system_id);
        b.extend(cstr(password));
        b.extend(cstr(""));
        b.extend([0x34, 0, 0]);
        b.extend(cstr(""));
        let seq = self.send(command_id, 0, &b);
        self.answer_to(seq, Duration::from_secs(10)).expect("bind answer").1
    }

    /// Submits and waits (at most `wait`) for the status.
    fn submit(&mut self, body: &[u8], wait: Duration) -> Option<u32> {
        let seq = self.send(4, 0, body);
        self.answer_to(seq, wait).map(|(_, status)| status)
    }
}

/// UCS-2 (big-endian) bytes of `text`.
fn ucs2(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_be_bytes).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_answers_every_pdu_when_smscs_nack_stall_or_vanish_and_esmes_misbehave() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let data_dir = dir.join("data");
    let (s, password) = registered_account(dir, &data_dir, "rawesme").await;
    let smsc = Smsc::start(dir.join("smsc.jsonl"));
    let mut cmd = serve_command(dir, &data_dir);
    cmd.args(["--smpp", "127.0.0.1:0", "--gateway-dca", &s.dca.id, "--smpp-window", "8", "--smsc"])
        .arg(format!("smpp://vouchup:uppw@127.0.0.1:{}?window=4&response_timeout=2", smsc.port));
    let server = Server::launch(cmd, data_dir.clone(), dir.to_path_buf());
    let port = announced_port(&server, "vouch: SMPP gateway on 127.0.0.1:");
    let short = Duration::from_secs(8);
    let clean = submit_body(0, 0, false, b"Acme Dental: see you soon. Reply STOP to opt out.", &[]);

    let mut e = RawEsme::connect(port);
    assert_eq!(e.bind(0x09, "rawesme", &password), 0);
    assert_eq!(e.submit(&clean, short), Some(0));

    // generic_nack from the SMSC (it does not take the PDU) completes the submit: the ESME hears
    // the SMSC's status, and the SMSC's window (4) is not left full.
    smsc.control("nack 4");
    for _ in 0..4 {
        assert_eq!(e.submit(&clean, short), Some(0x03), "the SMSC's generic_nack");
    }
    assert_eq!(e.submit(&clean, short), Some(0), "the window is free again");
    // An SMSC that never answers: after response_timeout (2 s) ESME_RSYSERR, the slot freed.
    smsc.control("silent 4");
    let seqs: Vec<u32> = (0..4).map(|_| e.send(4, 0, &clean)).collect();
    for seq in seqs {
        let got = e.answer_to(seq, short);
        assert_eq!(
            got,
            Some((0x8000_0004, 0x08)),
            "an unanswered submit is answered: {:x?} {}",
            e.seen,
            server.stderr.text()
        );
    }
    assert_eq!(e.submit(&clean, short), Some(0));
    // The SMSC away: a submit waits for it at most response_timeout, then ESME_RTHROTTLED.
    smsc.control("down 6");
    // Once vouch saw the session close (a submit written into it just before could have been
    // taken, and is answered ESME_RSYSERR instead; see below).
    let seen = Instant::now() + Duration::from_secs(5);
    while !server
        .get("/metrics", None)
        .await
        .text
        .lines()
        .any(|l| l.starts_with("vouch_smpp_upstream_bound") && l.ends_with(" 0"))
    {
        assert!(Instant::now() < seen, "vouch never saw the SMSC session close");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let since = Instant::now();
    assert_eq!(e.submit(&clean, short), Some(0x58), "throttled while the SMSC is away");
    assert!(since.elapsed() < Duration::from_secs(6), "answered before the SMSC came back: {:?}", since.elapsed());
    let back = Instant::now() + Duration::from_secs(30);
    while e.submit(&clean, short) != Some(0) {
        assert!(Instant::now() < back, "the SMSC session never came back");
        std::thread::sleep(Duration::from_millis(200));
    }
    // A submit already written when the SMSC went away may have been taken: after the timeout
    // it is answered ESME_RSYSERR (outcome unknown), not ESME_RTHROTTLED (send it again).
    smsc.control("silent 1");
    let seq = e.send(4, 0, &clean);
    std::thread::sleep(Duration::from_millis(500));
    smsc.control("down 6");
    assert_eq!(e.answer_to(seq, short), Some((0x8000_0004, 0x08)));
    let back = Instant::now() + Duration::from_secs(30);
    while e.submit(&clean, short) != Some(0) {
        assert!(Instant::now() < back, "the SMSC session never came back");
        std::thread::sleep(Duration::from_millis(200));
    }

    // User data given twice: refused, not checked on one and forwarded with both.
    let before = smsc.texts_from(N_MAIN).len();
    let twice = submit_body(0, 0, false, b"Offer: bit.ly/abc call (415) 555-0100", &[(0x0424, b"Hello")]);
    assert_eq!(e.submit(&twice, short), Some(0xC1), "ESME_ROPTPARNOTALLWD");
    // A UDH whose element runs past its header: refused, not checked as empty text.
    let mut bad_udh = b"\x03\x00\x05\x01".to_vec();
    bad_udh.extend(b"Offer: bit.ly/abc");
    assert_eq!(e.submit(&submit_body(0x40, 0, false, &bad_udh, &[]), short), Some(0x43), "ESME_RINVESMCLASS");
    // A UDH saying part 1 of 2 and sar_ TLVs saying a whole message: the check would read this
    // part alone and the handset join it to the next (a link split in two). Refused; when the
    // two agree, the part is held as usual.
    let mut split = b"\x05\x00\x03\x09\x02\x01".to_vec();
    split.extend(b"Offer https://evil");
    let whole: [(u16, &[u8]); 3] = [(0x020C, &[0, 9]), (0x020E, &[1]), (0x020F, &[1])];
    assert_eq!(e.submit(&submit_body(0x40, 0, false, &split, &whole), short), Some(0xC1), "UDH and SAR disagree");
    let agree: [(u16, &[u8]); 3] = [(0x020C, &[0, 9]), (0x020E, &[2]), (0x020F, &[1])];
    assert_eq!(e.submit(&submit_body(0x40, 0, false, &split, &agree), short), Some(0), "held for its other part");
    let mut rest = b"\x05\x00\x03\x09\x02\x02".to_vec();
    rest.extend(b".com/abc");
    let last: [(u16, &[u8]); 3] = [(0x020C, &[0, 9]), (0x020E, &[2]), (0x020F, &[2])];
    assert_eq!(e.submit(&submit_body(0x40, 0, false, &rest, &last), short), Some(0x407), "the link, joined");
    // Parts of one message in two encodings: each part is read in its own, and the whole text
    // is checked (a URL shortener).
    let mut one = b"\x05\x00\x03\x2a\x02\x01".to_vec();
    one.extend(ucs2("Offer: bit.ly/abc"));
    let mut two = b"\x05\x00\x03\x2a\x02\x02".to_vec();
    two.extend(b" and more");
    assert_eq!(e.submit(&submit_body(0x40, 0x08, false, &one, &[]), short), Some(0), "held for its other part");
    assert_eq!(e.submit(&submit_body(0x40, 0x00, false, &two, &[]), short), Some(0x409), "the shortener is seen");
    // Links and numbers as people write them, in UCS-2: next to curly quotes, emoji and
    // full-width punctuation, under any top-level domain, internationalised, with full-width
    // digits.
    for (text, want) in [
        ("Visit “https://evil.com/x” now", 0x407),
        ("👉usps-redelivery.icu/track", 0x407),
        ("Visit bücher.de， now", 0x407),
        ("Go “https://bit.ly/abc”", 0x409),
        ("Call +44 20 7946 0958", 0x408),
        ("Call ４１５-５５５-０１００", 0x408),
    ] {
        assert_eq!(e.submit(&submit_body(0, 0x08, false, &ucs2(text), &[]), short), Some(want), "{text}");
    }
    assert_eq!(smsc.texts_from(N_MAIN).len(), before, "none of these reached the SMSC");

    // submit_sm of a header alone: answered ESME_RINVCMDLEN, and the window (8) not used up.
    for _ in 0..9 {
        let seq = e.send(4, 0, &[]);
        assert_eq!(e.answer_to(seq, short), Some((0x8000_0004, 0x02)));
    }
    assert_eq!(e.submit(&clean, short), Some(0), "the window is not leaked");
    // A TLV whose length runs past the PDU: the status names the TLVs (0xC0).
    let mut lying_tlv = clean.clone();
    lying_tlv.extend([0x04, 0x24, 0x00, 0x40, b'x']);
    assert_eq!(e.submit(&lying_tlv, short), Some(0xC0));
    // Operations a gateway without a message store does not offer: their own responses.
    for (id, status) in [(0x03, 0x67), (0x08, 0x11), (0x07, 0x13), (0x21, 0x03)] {
        let seq = e.send(id, 0, &cstr("x"));
        assert_eq!(e.answer_to(seq, short), Some((id | 0x8000_0000, status)), "command 0x{id:x}");
    }

    // A receipt answered with a header-only deliver_sm_resp: accepted (no generic_nack), and
    // the SMSC hears it was taken.
    let dlr_ok = |smsc: &Smsc| {
        let stats = smsc.control("stats");
        let v: Value = serde_json::from_str(stats.trim_start_matches("OK ").trim()).expect("stats");
        v["dlr_resps_ok"].as_u64().unwrap_or(0)
    };
    let ok_before = dlr_ok(&smsc);
    assert_eq!(e.submit(&submit_body(0, 0, true, b"Acme Dental: receipt please.", &[]), short), Some(0));
    let receipt = loop {
        let p = match e.seen.pop() {
            Some(p) => p,
            None => e.read(short).expect("a receipt"),
        };
        if p.0 == 0x05 {
            break p;
        }
    };
    e.send_as(0x8000_0005, 0, receipt.2, &[]);
    let late = e.read(Duration::from_millis(700));
    assert!(late.as_ref().is_none_or(|p| p.0 != 0x8000_0000), "a response is never nacked: {late:?}");
    let until = Instant::now() + Duration::from_secs(5);
    while dlr_ok(&smsc) == ok_before {
        assert!(Instant::now() < until, "the SMSC was not told the receipt was taken");
        std::thread::sleep(Duration::from_millis(100));
    }

    // unbind right behind a submit: the submit is answered first, then unbind_resp; a submit
    // after the unbind, in the same read, is refused (0x04). (One sent after vouch has
    // answered the unbind finds the connection closed, as section 4.2 has it: the three go in
    // one write so that vouch reads them together.)
    let [seq, unbind, after] = e.send_together(&[(4, &clean), (0x06, &[]), (4, &clean)])[..] else {
        unreachable!("three requests, three sequence numbers")
    };
    let mut got = Vec::new();
    while let Some(p) = e.read(short) {
        got.push((p.0, p.1, p.2));
    }
    let at = |id: u32, seq: u32| got.iter().position(|p| p.0 == id && p.2 == seq);
    let (submit_at, unbind_at) = (at(0x8000_0004, seq), at(0x8000_0006, unbind));
    assert!(submit_at.is_some() && submit_at < unbind_at, "{got:x?}");
    assert!(got.contains(&(0x8000_0004, 0, seq)) && got.contains(&(0x8000_0004, 0x04, after)), "{got:x?}");

    // A length that lies: generic_nack to the sequence number the header gave, then closed.
    let mut lie = RawEsme::connect(port);
    lie.s.write_all(&[0, 0, 0, 8, 0, 0, 0, 0x15, 0, 0, 0, 0, 0, 0, 0, 77]).expect("write");
    let nack = lie.read(short).expect("generic_nack");
    assert_eq!((nack.0, nack.1, nack.2), (0x8000_0000, 0x02, 77));

    // A transmitter gets no deliver_sm: the REJECTD receipt of a part it was acknowledged for
    // goes to the account's receiver.
    let mut tx = RawEsme::connect(port);
    let mut rx = RawEsme::connect(port);
    assert_eq!(tx.bind(0x02, "rawesme", &password), 0);
    assert_eq!(rx.bind(0x01, "rawesme", &password), 0);
    let mut one = b"\x05\x00\x03\x2b\x02\x01".to_vec();
    one.extend(b"Offer: bit.");
    let mut two = b"\x05\x00\x03\x2b\x02\x02".to_vec();
    two.extend(b"ly/abc");
    assert_eq!(tx.submit(&submit_body(0x40, 0, true, &one, &[]), short), Some(0));
    assert_eq!(tx.submit(&submit_body(0x40, 0, true, &two, &[]), short), Some(0x409));
    let r = rx.read(short).expect("the receipt at the receiver");
    assert_eq!(r.0, 0x05, "{r:x?}");
    assert!(String::from_utf8_lossy(&r.3).contains("stat:REJECTD err:409"), "{r:x?}");
    rx.send_as(0x8000_0005, 0, r.2, &cstr(""));
    let stray = tx.read(Duration::from_millis(700));
    assert!(stray.as_ref().is_none_or(|p| p.0 != 0x05), "a deliver_sm reached the transmitter: {stray:x?}");

    // The account disabled with a submit outstanding (the SMSC silent): vouch unbinds the
    // session (within 5 s), refuses what comes after with 0x04, still answers the earlier
    // submit (ESME_RSYSERR once response_timeout is up), and closes once its unbind is answered.
    smsc.control("silent 1");
    let pending = tx.send(4, 0, &clean);
    let r = server.delete(&format!("/v1/providers/{}/smpp-accounts/rawesme", s.csp.id), &s.csp.key).await;
    assert_eq!(r.status.as_u16(), 204, "{}", r.text);
    let unbind = match tx.seen.iter().position(|p| p.0 == 0x06) {
        Some(i) => tx.seen.remove(i),
        None => loop {
            let p = tx.read(short).expect("vouch's unbind");
            if p.0 == 0x06 {
                break p;
            }
            tx.seen.push(p);
        },
    };
    assert_eq!(tx.submit(&clean, short), Some(0x04), "no new submit once unbound");
    assert_eq!(tx.answer_to(pending, short), Some((0x8000_0004, 0x08)), "the earlier submit is answered");
    tx.send_as(0x8000_0006, 0, unbind.2, &[]);
    assert_eq!(tx.read(short).map(|p| p.0), None, "closed once the unbind is answered");
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_brands_daily_cap_holds_across_a_restart() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let data_dir = dir.join("data");
    let config = dir.join("vouch.toml");
    std::fs::write(&config, "[gateway]\ndaily_caps = [12, 12, 12, 12, 12]\n").expect("config");
    let (s, password) = registered_account(dir, &data_dir, "capesme").await;
    let smsc = Smsc::start(dir.join("smsc.jsonl"));
    let gateway = |dir: &Path| {
        let mut cmd = serve_command(dir, &data_dir);
        cmd.arg("--config").arg(&config);
        cmd.args(["--smpp", "127.0.0.1:0", "--gateway-dca", &s.dca.id, "--smsc"])
            .arg(format!("smpp://vouchup:uppw@127.0.0.1:{}", smsc.port));
        cmd
    };
    let short = Duration::from_secs(8);
    let clean = submit_body(0, 0, false, b"Acme Dental: see you soon. Reply STOP to opt out.", &[]);
    let mut server = Server::launch(gateway(dir), data_dir.clone(), dir.to_path_buf());
    let mut e = RawEsme::connect(announced_port(&server, "vouch: SMPP gateway on 127.0.0.1:"));
    assert_eq!(e.bind(0x09, "capesme", &password), 0);
    for n in 0..10 {
        assert_eq!(e.submit(&clean, short), Some(0), "message {n}");
    }
    drop(e);
    server.sigterm();
    // The day goes on after the restart: 2 more of the 12, then the cap.
    let server = Server::launch(gateway(dir), data_dir.clone(), dir.to_path_buf());
    tokio::time::sleep(Duration::from_millis(600)).await; // a shared store's nodes meet every 250 ms
    let mut e = RawEsme::connect(announced_port(&server, "vouch: SMPP gateway on 127.0.0.1:"));
    assert_eq!(e.bind(0x09, "capesme", &password), 0);
    assert_eq!(e.submit(&clean, short), Some(0));
    assert_eq!(e.submit(&clean, short), Some(0));
    assert_eq!(e.submit(&clean, short), Some(0x405), "VOUCH_BRAND_DAILY_CAP: 12 today in all");
    assert_eq!(smsc.texts_from(N_MAIN).len(), 12);
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_flag_policy_forwards_and_marks_what_the_carrier_gets() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let data_dir = dir.join("data");
    let (s, password) = registered_account(dir, &data_dir, "flagesme").await;
    let smsc = Smsc::start(dir.join("smsc.jsonl"));
    let mut cmd = serve_command(dir, &data_dir);
    cmd.args(["--smpp", "127.0.0.1:0", "--gateway-dca", &s.dca.id, "--gateway-policy", "flag", "--smsc"])
        .arg(format!("smpp://vouchup:uppw@127.0.0.1:{}", smsc.port));
    let server = Server::launch(cmd, data_dir.clone(), dir.to_path_buf());
    let mut e = RawEsme::connect(announced_port(&server, "vouch: SMPP gateway on 127.0.0.1:"));
    assert_eq!(e.bind(0x09, "flagesme", &password), 0);
    let short = Duration::from_secs(8);
    let clean = submit_body(0, 0, false, b"Acme Dental: see you soon. Reply STOP to opt out.", &[]);
    let link = submit_body(0, 0, false, b"Acme Dental: book at https://acme-dental.example/book", &[]);
    assert_eq!(e.submit(&clean, short), Some(0));
    assert_eq!(e.submit(&link, short), Some(0), "flagged, not refused");
    let flag = |text: &str| {
        let m = smsc.messages().into_iter().find(|m| short_message(m).contains(text)).expect("at the SMSC");
        m["tlvs"].get("0x1430").and_then(Value::as_str).map(str::to_owned)
    };
    assert_eq!(flag("see you soon"), None, "an accepted message carries no mark");
    assert_eq!(flag("book at").as_deref(), Some("00000407"), "VOUCH_UNDECLARED_LINK, for the carrier to see");
    drop(server);
}

/// A C-octet string at the start of `body`.
fn leading_cstr(body: &[u8]) -> String {
    String::from_utf8_lossy(body.split(|b| *b == 0).next().unwrap_or_default()).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_answers_every_submit_in_flight_and_receipts_find_their_esme_after_the_restart() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let data_dir = dir.join("data");
    let (s, password) = registered_account(dir, &data_dir, "drainesme").await;
    let smsc = Smsc::start(dir.join("smsc.jsonl"));
    let gateway = || {
        let mut cmd = serve_command(dir, &data_dir);
        cmd.args(["--smpp", "127.0.0.1:0", "--gateway-dca", &s.dca.id, "--smsc"])
            .arg(format!("smpp://vouchup:uppw@127.0.0.1:{}", smsc.port));
        Server::launch(cmd, data_dir.clone(), dir.to_path_buf())
    };
    let server = gateway();
    let mut e = RawEsme::connect(announced_port(&server, "vouch: SMPP gateway on 127.0.0.1:"));
    assert_eq!(e.bind(0x09, "drainesme", &password), 0);
    // The SMSC answers each submit 1.5 s late and sends its receipts 4 s after; vouch is told to
    // stop while 5 submits are in flight.
    smsc.control("delay 1500");
    smsc.control("dlrdelay 4000");
    let body = submit_body(0, 0, true, b"Acme Dental: see you soon. Reply STOP to opt out.", &[]);
    let seqs: Vec<u32> = (0..5).map(|_| e.send(4, 0, &body)).collect();
    std::thread::sleep(Duration::from_millis(300));
    let stopped = Instant::now();
    let stopper = std::thread::spawn(move || {
        let mut server = server;
        server.sigterm()
    });
    // Every submit is answered (accepted), then vouch unbinds; the ESME answers and the
    // connection closes.
    let mut ids = Vec::new();
    let unbind = loop {
        let p = e.read(Duration::from_secs(8)).expect("an answer or vouch's unbind before the close");
        match p.0 {
            0x8000_0004 => {
                assert!(seqs.contains(&p.2) && p.1 == 0, "{p:x?}");
                ids.push(leading_cstr(&p.3));
            }
            0x06 => break p,
            _ => {}
        }
    };
    assert_eq!(ids.len(), 5, "every submit in flight answered before the unbind");
    e.send_as(0x8000_0006, 0, unbind.2, &[]);
    assert_eq!(e.read(Duration::from_secs(5)).map(|p| p.0), None, "closed once the unbind is answered");
    let finished = stopper.join().expect("the stopping thread");
    assert!(finished.status.success(), "{finished:?}");
    assert!(stopped.elapsed() < Duration::from_secs(8), "the stop took {:?}", stopped.elapsed());
    let stats = smsc.control("stats");
    assert!(stats.contains("\"unbinds\": 1"), "vouch unbinds from the SMSC: {stats}");
    assert!(!data_dir.join("smpp-receipt-ids").exists(), "the ids awaiting receipts are in the store, not a file");
    // Restarted: the receipts the SMSC sends now reach the ESME under the ids it was given.
    let server = gateway();
    let mut rx = RawEsme::connect(announced_port(&server, "vouch: SMPP gateway on 127.0.0.1:"));
    assert_eq!(rx.bind(0x01, "drainesme", &password), 0);
    let mut receipted = Vec::new();
    while receipted.len() < 5 {
        let p = rx.read(Duration::from_secs(10)).expect("the receipts after the restart");
        if p.0 == 0x05 {
            let text = String::from_utf8_lossy(&p.3).into_owned();
            let id = text.split("id:").nth(1).and_then(|t| t.split(' ').next()).unwrap_or_default().to_owned();
            receipted.push(id);
            rx.send_as(0x8000_0005, 0, p.2, &cstr(""));
        }
    }
    receipted.sort();
    ids.sort();
    assert_eq!(receipted, ids);
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_refuses_unroutable_messages_and_holds_off_bind_guessers_and_idle_connections() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let data_dir = dir.join("data");
    let (s, password) = registered_account(dir, &data_dir, "opsesme").await;
    let smsc = Smsc::start(dir.join("smsc.jsonl"));
    // The only SMSC takes +1415 numbers: there is no default route.
    let mut cmd = serve_command(dir, &data_dir);
    cmd.args(["--smpp", "127.0.0.1:0", "--gateway-dca", &s.dca.id, "--smsc"])
        .arg(format!("smpp://vouchup:uppw@127.0.0.1:{}?prefixes=1415", smsc.port));
    let server = Server::launch(cmd, data_dir.clone(), dir.to_path_buf());
    let port = announced_port(&server, "vouch: SMPP gateway on 127.0.0.1:");
    let short = Duration::from_secs(8);
    let mut e = RawEsme::connect(port);
    assert_eq!(e.bind(0x09, "opsesme", &password), 0);
    let clean = submit_body(0, 0, false, b"Acme Dental: see you soon. Reply STOP to opt out.", &[]);
    assert_eq!(e.submit(&clean, short), Some(0x0B), "+1310 matches no SMSC's prefixes: ESME_RINVDSTADR");
    assert!(smsc.messages().is_empty());
    let records = server.get(&format!("/v1/gateway/records?source=%2B{N_MAIN}"), Some(&server.admin)).await;
    assert!(records.text.contains("no SMSC routes this destination"), "{}", records.text);
    let health = server.health().await;
    assert_eq!(health["smscs"], json!({ format!("127.0.0.1:{}", smsc.port): true }), "/healthz: {health}");

    // Someone guessing passwords from 127.0.0.2: after 20 failures in a minute its binds are
    // refused (0x0D) without a password check, even the right one; 127.0.0.1 is not affected.
    let mut failures = 0;
    while failures < 20 {
        let mut g = RawEsme::connect_from("127.0.0.2", port);
        for _ in 0..3.min(20 - failures) {
            assert_eq!(g.bind(0x09, "opsesme", "wrongpw"), 0x0E, "failure {failures}");
            failures += 1;
        }
    }
    let mut g = RawEsme::connect_from("127.0.0.2", port);
    assert_eq!(g.bind(0x09, "opsesme", &password), 0x0D, "held off for the rest of the minute");
    assert_eq!(RawEsme::connect(port).bind(0x09, "opsesme", &password), 0);
    // (The harness reads the server's lines on its own thread.)
    let deadline = Instant::now() + Duration::from_secs(5);
    let log = loop {
        let log = server.stderr.text();
        if log.contains("failed SMPP binds from one address") || Instant::now() > deadline {
            break log;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(log.contains("failed SMPP binds from one address"), "{log}");
    // Each refused bind is one line ending with the client's address; none while it is held.
    let refused: Vec<&str> = log.lines().filter(|l| l.contains("ESME bind refused")).collect();
    assert_eq!(refused.len(), 20, "{log}");
    assert!(refused.iter().all(|l| l.ends_with("peer=127.0.0.2")), "{log}");

    // Idle connections from one address: 32 at most wait for their bind; more are closed at
    // once, and other addresses still bind.
    let idle: Vec<RawEsme> = (0..32).map(|_| RawEsme::connect_from("127.0.0.3", port)).collect();
    let mut extra = RawEsme::connect_from("127.0.0.3", port);
    assert_eq!(extra.read(Duration::from_secs(5)).map(|p| p.0), None, "closed without a word");
    assert_eq!(RawEsme::connect(port).bind(0x09, "opsesme", &password), 0);
    drop(idle);
    let metrics = server.get("/metrics", None).await.text;
    for m in ["vouch_smpp_upstream_bound{smsc=", "vouch_smpp_connections_refused_total{why=\"unbound per address\"}"] {
        assert!(metrics.contains(m), "{m} in\n{metrics}");
    }
    drop(server);
}

/// What a transceiver ESME heard: the answers to its submits (sequence → status and message
/// id) and the ids of the receipts it was sent (each answered at once).
#[derive(Default)]
struct Heard {
    answers: HashMap<u32, (u32, String)>,
    receipts: Vec<String>,
}

impl RawEsme {
    /// Reads for at most `wait`, until `done` says so, answering every deliver_sm.
    fn hear(&mut self, heard: &mut Heard, wait: Duration, done: impl Fn(&Heard) -> bool) {
        for p in std::mem::take(&mut self.seen) {
            self.note(heard, p);
        }
        let deadline = Instant::now() + wait;
        while !done(heard) {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else { return };
            let Some(p) = self.read(left.max(Duration::from_millis(1))) else { return };
            self.note(heard, p);
        }
    }

    fn note(&mut self, heard: &mut Heard, p: RawPdu) {
        match p.0 {
            0x8000_0004 => {
                heard.answers.insert(p.2, (p.1, leading_cstr(&p.3)));
            }
            0x05 => {
                let text = String::from_utf8_lossy(&p.3).into_owned();
                let id = text.split("id:").nth(1).and_then(|t| t.split(' ').next()).unwrap_or_default();
                heard.receipts.push(id.to_owned());
                self.send_as(0x8000_0005, 0, p.2, &cstr(""));
            }
            0x15 => self.send_as(0x8000_0015, 0, p.2, &[]),
            _ => {}
        }
    }

    /// Sends a message asking for a receipt, numbered `n` in its text; returns its sequence
    /// number and text.
    fn send_visit(&mut self, n: usize) -> (u32, String) {
        let text = format!("Acme Dental: visit {n} confirmed. Reply STOP to opt out.");
        (self.send(4, 0, &submit_body(0, 0, true, text.as_bytes(), &[])), text)
    }
}

/// Waits (at most 20 s) until `/healthz` says each SMSC session is bound or not as wanted.
async fn wait_smscs(server: &Server, want: &[(&str, bool)]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let health = server.health().await;
        if want.iter().all(|(label, bound)| health["smscs"][*label] == json!(bound)) {
            return;
        }
        assert!(Instant::now() < deadline, "/healthz never said {want:?}: {health}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_of_two_smscs_carries_on_when_one_is_lost_and_takes_it_back() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let data_dir = dir.join("data");
    let (s, password) = registered_account(dir, &data_dir, "pairesme").await;
    // Two SMSCs of one carrier (ids of their own: a-N and b-N), one route.
    let a = Smsc::start_with(dir.join("a.jsonl"), &[OsStr::new("--id-prefix"), OsStr::new("a-")]);
    let b = Smsc::start_with(dir.join("b.jsonl"), &[OsStr::new("--id-prefix"), OsStr::new("b-")]);
    let mut cmd = serve_command(dir, &data_dir);
    cmd.args(["--smpp", "127.0.0.1:0", "--gateway-dca", &s.dca.id]);
    for smsc in [&a, &b] {
        cmd.arg("--smsc").arg(format!("smpp://vouchup:uppw@127.0.0.1:{}?group=carrier", smsc.port));
    }
    let server = Server::launch(cmd, data_dir.clone(), dir.to_path_buf());
    let (la, lb) = (format!("127.0.0.1:{}", a.port), format!("127.0.0.1:{}", b.port));
    wait_smscs(&server, &[(&la, true), (&lb, true)]).await;
    let mut e = RawEsme::connect(announced_port(&server, "vouch: SMPP gateway on 127.0.0.1:"));
    assert_eq!(e.bind(0x09, "pairesme", &password), 0);
    let mut heard = Heard::default();
    let mut sent: Vec<(u32, String)> = Vec::new();
    let mut n = 0;
    let wait = Duration::from_secs(10);
    // Both SMSCs bound: the messages go to each in turn.
    for _ in 0..10 {
        n += 1;
        let (seq, text) = e.send_visit(n);
        e.hear(&mut heard, wait, |h| h.answers.contains_key(&seq));
        sent.push((seq, text));
    }
    let texts = |smsc: &Smsc| smsc.texts_from(N_MAIN);
    assert_eq!((texts(&a).len(), texts(&b).len()), (5, 5), "round-robin over the bound SMSCs");
    // A answers slowly, and goes away with submits outstanding: those go to B.
    a.control("delay 1000");
    let burst: Vec<(u32, String)> = (0..6)
        .map(|_| {
            n += 1;
            e.send_visit(n)
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    a.control("down 6");
    e.hear(&mut heard, wait, |h| burst.iter().all(|(seq, _)| h.answers.contains_key(seq)));
    sent.extend(burst);
    a.control("delay 0");
    wait_smscs(&server, &[(&la, false), (&lb, true)]).await;
    // A away: everything goes to B.
    let before_b = texts(&b).len();
    for _ in 0..6 {
        n += 1;
        let (seq, text) = e.send_visit(n);
        e.hear(&mut heard, wait, |h| h.answers.contains_key(&seq));
        assert_eq!(heard.answers.get(&seq).map(|a| a.0), Some(0), "taken by B while A is away");
        sent.push((seq, text));
    }
    assert_eq!(texts(&b).len(), before_b + 6);
    // A back: it takes its turn again.
    wait_smscs(&server, &[(&la, true), (&lb, true)]).await;
    let before_a = texts(&a).len();
    for _ in 0..10 {
        n += 1;
        let (seq, text) = e.send_visit(n);
        e.hear(&mut heard, wait, |h| h.answers.contains_key(&seq));
        sent.push((seq, text));
    }
    assert!(texts(&a).len() >= before_a + 4, "A carries traffic again: {} more", texts(&a).len() - before_a);
    // Every message was acknowledged, and each acknowledged message reached A or B.
    let (a_texts, b_texts) = (texts(&a), texts(&b));
    let mut ids = Vec::new();
    for (seq, text) in &sent {
        let (status, id) = heard.answers.get(seq).cloned().unwrap_or_else(|| panic!("no answer to {text:?}"));
        assert_eq!(status, 0, "{text:?} was refused {status:#x}");
        assert!(a_texts.contains(text) || b_texts.contains(text), "{text:?} reached no SMSC");
        ids.push(id);
    }
    // A receipt for each, from both SMSCs, under the ESME's ids. (A sends again the receipts
    // it had sent and not seen answered when it went away, as SMSCs do: some come twice.)
    let distinct = |h: &Heard| h.receipts.iter().collect::<std::collections::BTreeSet<_>>().len();
    e.hear(&mut heard, Duration::from_secs(15), |h| distinct(h) >= ids.len());
    let mut receipted = heard.receipts.clone();
    receipted.sort();
    receipted.dedup();
    ids.sort();
    assert_eq!(receipted, ids, "a receipt for every acknowledged message, under the ESME's ids");
    for smsc in [&a, &b] {
        let stats = smsc.control("stats");
        assert!(!stats.contains("\"dlrs_sent\": 0,"), "receipts from both SMSCs: {stats}");
    }
    let metrics = server.get("/metrics", None).await.text;
    for label in [&la, &lb] {
        assert!(metrics.contains(&format!("vouch_smpp_upstream_bound{{smsc=\"{label}\"}} 1")), "{metrics}");
    }
    drop(server);
}

/// Whether `/metrics` says SMSC session `label` is stalled.
async fn stalled(server: &Server, label: &str) -> bool {
    let metrics = server.get("/metrics", None).await.text;
    metrics.contains(&format!("vouch_smpp_upstream_stalled{{smsc=\"{label}\"}} 1"))
}

/// An SMSC of a route that stays bound (it answers enquire_link) but answers no submit, a hung
/// SMSC, loses its turn within about 2 s: the route's other SMSC takes every message meanwhile,
/// the submits it swallowed are answered ESME_RSYSERR at its response_timeout, and once those
/// are gone it takes its turn again (and answers).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_smsc_of_a_route_loses_its_turn_until_it_answers_again() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let data_dir = dir.join("data");
    let (s, password) = registered_account(dir, &data_dir, "hungesme").await;
    let a = Smsc::start_with(dir.join("a.jsonl"), &[OsStr::new("--id-prefix"), OsStr::new("a-")]);
    let b = Smsc::start_with(dir.join("b.jsonl"), &[OsStr::new("--id-prefix"), OsStr::new("b-")]);
    let mut cmd = serve_command(dir, &data_dir);
    cmd.args(["--smpp", "127.0.0.1:0", "--gateway-dca", &s.dca.id]);
    cmd.arg("--smsc").arg(format!("smpp://vouchup:uppw@127.0.0.1:{}?group=carrier&response_timeout=4", a.port));
    cmd.arg("--smsc").arg(format!("smpp://vouchup:uppw@127.0.0.1:{}?group=carrier", b.port));
    let server = Server::launch(cmd, data_dir.clone(), dir.to_path_buf());
    let (la, lb) = (format!("127.0.0.1:{}", a.port), format!("127.0.0.1:{}", b.port));
    wait_smscs(&server, &[(&la, true), (&lb, true)]).await;
    let mut e = RawEsme::connect(announced_port(&server, "vouch: SMPP gateway on 127.0.0.1:"));
    assert_eq!(e.bind(0x09, "hungesme", &password), 0);
    let mut heard = Heard::default();
    let texts = |smsc: &Smsc| smsc.texts_from(N_MAIN);

    // A hangs. Two messages: one of them goes to A and waits.
    a.control("silent 1000");
    let swallowed: Vec<u32> = (1..=2).map(|n| e.send_visit(n).0).collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !stalled(&server, &la).await {
        assert!(Instant::now() < deadline, "A was never marked stalled: {}", server.stderr.text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!stalled(&server, &lb).await);
    // Stalled: every message goes to B, answered at once.
    let before_b = texts(&b).len();
    for n in 3..=12 {
        let (seq, _) = e.send_visit(n);
        e.hear(&mut heard, Duration::from_secs(2), |h| h.answers.contains_key(&seq));
        assert_eq!(heard.answers.get(&seq).map(|a| a.0), Some(0), "message {n} was not taken by B at once");
    }
    assert_eq!(texts(&b).len(), before_b + 10, "B took every message while A was stalled");
    // What A swallowed is answered ESME_RSYSERR (outcome unknown) at its response_timeout;
    // the one B took, at once.
    e.hear(&mut heard, Duration::from_secs(8), |h| swallowed.iter().all(|s| h.answers.contains_key(s)));
    let statuses: Vec<u32> = swallowed.iter().map(|s| heard.answers.get(s).map_or(u32::MAX, |a| a.0)).collect();
    assert!(statuses.contains(&0x08) && statuses.contains(&0), "answers to the first two: {statuses:x?}");

    // A answers again: with its swallowed submits gone it is no longer stalled, and takes its
    // turn.
    a.control("silent 0");
    let deadline = Instant::now() + Duration::from_secs(10);
    while stalled(&server, &la).await {
        assert!(Instant::now() < deadline, "A stayed stalled");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let before_a = texts(&a).len();
    for n in 13..=22 {
        let (seq, _) = e.send_visit(n);
        e.hear(&mut heard, Duration::from_secs(5), |h| h.answers.contains_key(&seq));
        assert_eq!(heard.answers.get(&seq).map(|a| a.0), Some(0), "message {n}");
    }
    assert!(texts(&a).len() >= before_a + 4, "A carries traffic again: {} more", texts(&a).len() - before_a);
    let stalls = server.get("/metrics", None).await.text;
    assert!(stalls.contains(&format!("vouch_smpp_upstream_stalls_total{{smsc=\"{la}\"}} 1")), "{stalls}");
}

/// An upgrade from a version that kept the ids awaiting receipts in `<data-dir>/smpp-receipt-ids`
/// (written at a clean stop): the first start takes the ids of SMSCs still configured into the
/// store and removes the file, and a receipt the SMSC sends for such a message reaches its
/// ESME under its own id, also after a later restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipt_ids_an_earlier_version_left_in_a_file_are_taken_into_the_store() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let data_dir = dir.join("data");
    let (s, password) = registered_account(dir, &data_dir, "oldesme").await;
    let smsc = Smsc::start(dir.join("smsc.jsonl"));
    let file = data_dir.join("smpp-receipt-ids");
    std::fs::write(
        &file,
        format!(
            "vouch smpp receipt ids v1\n127.0.0.1:{}\tleg-7\tV0000000000000007\toldesme\n\
             127.0.0.1:1\tleg-8\tV0000000000000008\toldesme\nnot a line\n",
            smsc.port
        ),
    )
    .expect("the old file");
    let gateway = || {
        let mut cmd = serve_command(dir, &data_dir);
        cmd.args(["--smpp", "127.0.0.1:0", "--gateway-dca", &s.dca.id, "--smsc"])
            .arg(format!("smpp://vouchup:uppw@127.0.0.1:{}", smsc.port));
        Server::launch(cmd, data_dir.clone(), dir.to_path_buf())
    };
    let mut server = gateway();
    // (Read as the gateway starts, which may be just after the listening line.)
    let deadline = Instant::now() + Duration::from_secs(10);
    while file.exists() {
        assert!(Instant::now() < deadline, "the file is removed once read: {}", server.stderr.text());
        std::thread::sleep(Duration::from_millis(20));
    }
    // Into the store within its write interval: it outlives this run.
    std::thread::sleep(Duration::from_millis(1000));
    assert!(server.sigterm().status.success());
    let server = gateway();
    let label = format!("127.0.0.1:{}", smsc.port);
    wait_smscs(&server, &[(&label, true)]).await;
    let mut rx = RawEsme::connect(announced_port(&server, "vouch: SMPP gateway on 127.0.0.1:"));
    assert_eq!(rx.bind(0x01, "oldesme", &password), 0);
    assert!(smsc.control(&format!("dlr vouchup leg-7 +{N_MAIN} +13105550123")).starts_with("OK"));
    let mut heard = Heard::default();
    rx.hear(&mut heard, Duration::from_secs(10), |h| !h.receipts.is_empty());
    assert_eq!(heard.receipts, vec!["V0000000000000007".to_owned()], "the receipt under the ESME's own id");
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_find_their_esme_after_a_crash() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let data_dir = dir.join("data");
    let (s, password) = registered_account(dir, &data_dir, "crashesme").await;
    let smsc = Smsc::start(dir.join("smsc.jsonl"));
    let gateway = || {
        let mut cmd = serve_command(dir, &data_dir);
        cmd.args(["--smpp", "127.0.0.1:0", "--gateway-dca", &s.dca.id, "--smsc"])
            .arg(format!("smpp://vouchup:uppw@127.0.0.1:{}", smsc.port));
        Server::launch(cmd, data_dir.clone(), dir.to_path_buf())
    };
    let mut server = gateway();
    let mut e = RawEsme::connect(announced_port(&server, "vouch: SMPP gateway on 127.0.0.1:"));
    assert_eq!(e.bind(0x09, "crashesme", &password), 0);
    // The SMSC sends its receipts 7 s after each message: vouch is killed before.
    smsc.control("dlrdelay 7000");
    let mut heard = Heard::default();
    let mut seqs = Vec::new();
    for n in 0..5 {
        let (seq, _) = e.send_visit(n);
        e.hear(&mut heard, Duration::from_secs(8), |h| h.answers.contains_key(&seq));
        seqs.push(seq);
    }
    let mut ids: Vec<String> = seqs.iter().filter_map(|s| heard.answers.get(s)).map(|a| a.1.clone()).collect();
    assert_eq!(ids.len(), 5);
    // Past the store's write interval (250 ms), the process dies without a stop.
    std::thread::sleep(Duration::from_millis(1000));
    let killed = server.sigkill();
    assert!(!killed.status.success());
    drop(e);
    assert!(!data_dir.join("smpp-receipt-ids").exists(), "no clean stop, no file");
    let server = gateway();
    let mut rx = RawEsme::connect(announced_port(&server, "vouch: SMPP gateway on 127.0.0.1:"));
    assert_eq!(rx.bind(0x01, "crashesme", &password), 0);
    let mut after = Heard::default();
    rx.hear(&mut after, Duration::from_secs(15), |h| h.receipts.len() >= 5);
    let mut receipted = after.receipts;
    receipted.sort();
    ids.sort();
    assert_eq!(receipted, ids, "the receipts reach the ESME under its own ids after the crash");
    drop(server);
}
