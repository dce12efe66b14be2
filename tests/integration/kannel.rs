//! Interop with Kannel (bearerbox + smsbox), the open-source SMS gateway aggregators run, as
//! the ESME in front of vouch's SMPP gateway.
//!
//! Kannel 1.4.5 (Debian's `kannel`, installed by scripts/test without starting its daemons)
//! binds to vouch as a transceiver; messages go in through smsbox's sendsms HTTP interface and
//! their delivery reports come back to a dlr-url the test serves. Upstream of vouch is the SMSC
//! simulator (`peers/smsc_sim.py`). Every listener, Kannel's included, is on 127.0.0.1.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{Server, serve_command};
use crate::smpp::{Smsc, announced_port};

const BEARERBOX: &str = "/usr/sbin/bearerbox";
const SMSBOX: &str = "/usr/sbin/smsbox";

const N_MAIN: &str = "12025550101";
const N_SUSPENDED: &str = "12025550104";
const N_UNREGISTERED: &str = "12025550109";
const SUBSCRIBER: &str = "13105550100";

const SENDSMS_USER: &str = "tester";
const SENDSMS_PASSWORD: &str = "testpw";
const ADMIN_PASSWORD: &str = "adminpw";

/// A free TCP port on 127.0.0.1 (bound once and let go).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free loopback port")
}

/// Percent-encodes a query value (RFC 3986 unreserved characters stay as they are).
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Decodes a query value (`+` is a space).
fn dec(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 3 <= b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A plain HTTP/1.0 GET on 127.0.0.1: the status and the body.
fn http_get(port: u16, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap_or_else(|e| panic!("connect to :{port}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n").expect("HTTP request");
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

/// The dlr-url's server: records every callback's query.
struct DlrSink {
    port: u16,
    hits: Arc<Mutex<Vec<HashMap<String, String>>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl DlrSink {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("dlr listener");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let hits: Arc<Mutex<Vec<HashMap<String, String>>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (h, st) = (hits.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((s, _)) => Self::serve(s, &h),
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Self { port, hits, stop, thread: Some(thread) }
    }

    fn serve(s: TcpStream, hits: &Mutex<Vec<HashMap<String, String>>>) {
        s.set_nonblocking(false).ok();
        s.set_read_timeout(Some(Duration::from_secs(5))).ok();
        let mut r = BufReader::new(s);
        let mut request = String::new();
        if r.read_line(&mut request).is_err() {
            return;
        }
        loop {
            let mut line = String::new();
            match r.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) if line.trim().is_empty() => break,
                Ok(_) => {}
            }
        }
        let target = request.split_whitespace().nth(1).unwrap_or("");
        let query = target.split_once('?').map_or("", |(_, q)| q);
        let map: HashMap<String, String> =
            query.split('&').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (dec(k), dec(v))).collect();
        hits.lock().unwrap_or_else(|e| e.into_inner()).push(map);
        let mut s = r.into_inner();
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    }

    /// The dlr-url for messages tagged `tag`: Kannel fills in the type (%d), the report's text
    /// (%A: the receipt, or `NACK/…` when vouch refused the submit) and the SMSC's message id
    /// (%F: vouch's id).
    fn url(&self, tag: &str) -> String {
        format!("http://127.0.0.1:{}/dlr?tag={tag}&type=%d&reply=%A&fid=%F", self.port)
    }

    fn of(&self, tag: &str) -> Vec<HashMap<String, String>> {
        self.hits.lock().unwrap_or_else(|e| e.into_inner()).iter().filter(|h| h["tag"] == tag).cloned().collect()
    }

    /// Waits (at most `limit`) for `n` callbacks of type `kind` about `tag`.
    fn wait(&self, tag: &str, kind: &str, n: usize, limit: Duration) -> Vec<HashMap<String, String>> {
        let deadline = Instant::now() + limit;
        loop {
            let got: Vec<_> =
                self.of(tag).into_iter().filter(|h| h.get("type").map(String::as_str) == Some(kind)).collect();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "no {n} callbacks of type {kind} for {tag} in {limit:?}: {:?}",
                self.of(tag)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for DlrSink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// bearerbox and smsbox, killed (by PID) when dropped.
struct Kannel {
    dir: PathBuf,
    boxes: Vec<Child>,
    admin_port: u16,
    sendsms_port: u16,
}

impl Kannel {
    fn start(dir: &Path, vouch_port: u16, system_id: &str, password: &str) -> Self {
        for bin in [BEARERBOX, SMSBOX] {
            assert!(
                Path::new(bin).exists(),
                "{bin} is missing: scripts/test installs Debian's `kannel` package (without starting it)"
            );
        }
        let (admin_port, smsbox_port, sendsms_port) = (free_port(), free_port(), free_port());
        let d = dir.display();
        // Every listener on 127.0.0.1 only (admin, smsbox and sendsms ports), and only
        // 127.0.0.1 allowed to use them; the SMPP session goes to vouch's loopback port.
        let conf = format!(
            r#"group = core
admin-port = {admin_port}
admin-interface = 127.0.0.1
admin-password = {ADMIN_PASSWORD}
status-password = {ADMIN_PASSWORD}
admin-allow-ip = 127.0.0.1
smsbox-port = {smsbox_port}
smsbox-interface = 127.0.0.1
box-allow-ip = 127.0.0.1
box-deny-ip = "*.*.*.*"
log-file = "{d}/bearerbox.log"
log-level = 0
access-log = "{d}/access.log"
store-type = file
store-location = "{d}/kannel.store"
dlr-storage = internal
sms-resend-freq = 1
sms-resend-retry = 60

group = smsc
smsc = smpp
smsc-id = vouch
host = 127.0.0.1
port = {vouch_port}
transceiver-mode = true
smsc-username = "{system_id}"
smsc-password = "{password}"
system-type = ""
interface-version = 34
enquire-link-interval = 2
reconnect-delay = 1
source-addr-ton = 1
source-addr-npi = 1
dest-addr-ton = 1
dest-addr-npi = 1
max-pending-submits = 10
log-file = "{d}/smsc.log"
log-level = 0

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {smsbox_port}
sendsms-port = {sendsms_port}
sendsms-interface = 127.0.0.1
log-file = "{d}/smsbox.log"
log-level = 0

group = sendsms-user
username = {SENDSMS_USER}
password = {SENDSMS_PASSWORD}
user-allow-ip = 127.0.0.1
max-messages = 5
concatenation = true
"#
        );
        let conf_path = dir.join("kannel.conf");
        std::fs::write(&conf_path, conf).expect("kannel.conf");
        let spawn = |bin: &str, name: &str| {
            Command::new(bin)
                .args(["-v", "2"])
                .arg(&conf_path)
                .current_dir(dir)
                .stdin(Stdio::null())
                .stdout(std::fs::File::create(dir.join(format!("{name}.out"))).expect("stdout file"))
                .stderr(std::fs::File::create(dir.join(format!("{name}.err"))).expect("stderr file"))
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"))
        };
        let mut k =
            Self { dir: dir.to_path_buf(), boxes: vec![spawn(BEARERBOX, "bearerbox")], admin_port, sendsms_port };
        k.wait_listening(smsbox_port, "bearerbox's smsbox port");
        k.boxes.push(spawn(SMSBOX, "smsbox"));
        k.wait_listening(sendsms_port, "smsbox's sendsms port");
        k
    }

    fn wait_listening(&mut self, port: u16, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            for b in &mut self.boxes {
                if let Ok(Some(status)) = b.try_wait() {
                    panic!("a Kannel box exited ({status}) before {what} listened:\n{}", self.logs());
                }
            }
            assert!(Instant::now() < deadline, "{what} (:{port}) did not listen within 15 s:\n{}", self.logs());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// bearerbox's status page.
    fn status(&self) -> String {
        http_get(self.admin_port, &format!("/status.txt?password={ADMIN_PASSWORD}")).1
    }

    /// Waits until bearerbox's SMPP session to vouch is bound ("online").
    fn wait_online(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let status = self.status();
            if status.lines().any(|l| l.contains("vouch") && l.contains("(online")) {
                return;
            }
            assert!(Instant::now() < deadline, "Kannel's SMSC vouch is not online:\n{status}\n{}", self.logs());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sends through smsbox's sendsms interface; panics unless smsbox accepted it.
    fn send(&self, from: &str, text: &str, dlr_mask: u32, dlr_url: &str) {
        let path = format!(
            "/cgi-bin/sendsms?username={SENDSMS_USER}&password={SENDSMS_PASSWORD}&from={}&to={}&text={}&dlr-mask={dlr_mask}&dlr-url={}",
            enc(from),
            enc(SUBSCRIBER),
            enc(text),
            enc(dlr_url)
        );
        let (status, body) = http_get(self.sendsms_port, &path);
        assert_eq!(status, 202, "sendsms answered {status}: {body}");
        assert!(body.contains("Accepted for delivery"), "{body}");
    }

    /// One of Kannel's logs, as text (its PDU dumps are not all UTF-8).
    fn log(&self, name: &str) -> String {
        String::from_utf8_lossy(&std::fs::read(self.dir.join(name)).unwrap_or_default()).into_owned()
    }

    /// The tail of every log, for failure messages.
    fn logs(&self) -> String {
        let mut out = String::new();
        for name in ["bearerbox.err", "bearerbox.log", "smsc.log", "smsbox.err", "smsbox.log"] {
            let text = self.log(name);
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(40)..].join("\n");
            out.push_str(&format!("--- {name} (last 40 lines)\n{tail}\n"));
        }
        out
    }

    fn pids(&self) -> Vec<u32> {
        self.boxes.iter().map(Child::id).collect()
    }
}

impl Drop for Kannel {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("Kannel's logs:\n{}", self.logs());
        }
        // By PID: each box this test started, never anything by name.
        for b in self.boxes.iter_mut().rev() {
            let _ = b.kill();
            let _ = b.wait();
        }
    }
}

/// The local addresses of the TCP and UDP sockets `pid` listens on (or has bound, for UDP).
fn listening_addresses(pid: u32) -> Vec<String> {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| std::fs::read_link(e.path()).ok())
                .filter_map(|l| {
                    let l = l.to_string_lossy().into_owned();
                    l.strip_prefix("socket:[").and_then(|r| r.strip_suffix(']')).map(str::to_owned)
                })
                .collect()
        })
        .unwrap_or_default();
    let mut out = Vec::new();
    for (table, listening_state) in [("tcp", "0A"), ("tcp6", "0A"), ("udp", "07"), ("udp6", "07")] {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() > 9 && f[3] == listening_state && inodes.iter().any(|i| i == f[9]) {
                out.push(format!("{table} {}", f[1]));
            }
        }
    }
    out
}

/// A logged message of the SMSC simulator: its user data as bytes.
fn user_data(m: &Value) -> Vec<u8> {
    let hex = m["short_message_hex"].as_str().unwrap_or("");
    (0..hex.len() / 2).filter_map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()).collect()
}

fn smsc_log_entries(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("simulator log line"))
        .collect()
}

/// Texts that reached the SMSC from `source`: single messages as they are, concatenated parts
/// (UDH, esm_class 0x40) joined by their reference in part order.
fn texts_at_smsc(path: &Path, source: &str) -> Vec<String> {
    let mut singles = Vec::new();
    let mut parts: HashMap<u16, Vec<(u8, String)>> = HashMap::new();
    for m in smsc_log_entries(path).iter().filter(|m| m["source_addr"] == source) {
        let data = user_data(m);
        let text = |b: &[u8]| b.iter().map(|&c| if c == 0 { '@' } else { char::from(c) }).collect::<String>();
        if m["esm_class"].as_u64().unwrap_or(0) & 0x40 != 0 {
            let udhl = usize::from(data[0]) + 1;
            let udh = &data[..udhl];
            // IE 0x00 (8-bit reference) or 0x08 (16-bit).
            let (reference, seq) = match udh[1] {
                0x00 => (u16::from(udh[3]), udh[5]),
                0x08 => (u16::from_be_bytes([udh[3], udh[4]]), udh[6]),
                other => panic!("unexpected UDH IE {other:#x}: {m}"),
            };
            parts.entry(reference).or_default().push((seq, text(&data[udhl..])));
        } else {
            singles.push(text(&data));
        }
    }
    for (_, mut p) in parts {
        p.sort();
        singles.push(p.into_iter().map(|(_, t)| t).collect());
    }
    singles
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kannel_sends_through_the_gateway_and_gets_its_delivery_reports() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let data_dir = dir.join("data");

    // The registry through the REST API: an accepted campaign with N_MAIN, a second one with
    // N_SUSPENDED (suspended later), and the CSP's SMPP account.
    let mut server = Server::launch(serve_command(dir, &data_dir), data_dir.clone(), dir.to_path_buf());
    let s = server.accepted_campaign().await;
    let second = server.second_campaign(&s).await;
    server.assign(&s.csp.key, &format!("+{N_MAIN}"), &s.campaign).await.ok(201);
    server.assign(&s.csp.key, &format!("+{N_SUSPENDED}"), &second).await.ok(201);
    let password = server.smpp_account(&s.csp, "kannel1").await;
    server.sigterm();

    // The gateway in front of the SMSC simulator. MARKETING at score 85 is class B, 4,500 a
    // minute, here at 1 %: 45 a minute.
    let smsc_log = dir.join("smsc.jsonl");
    let smsc = Smsc::start(smsc_log.clone());
    let config = dir.join("vouch.toml");
    std::fs::write(&config, "[gateway]\nminute_scale = 0.01\n").expect("config");
    let mut cmd = serve_command(dir, &data_dir);
    cmd.env("RUST_LOG", "warn,vouch=info")
        .args(["--smpp", "127.0.0.1:0", "--gateway-dca", &s.dca.id, "--config"])
        .arg(&config)
        .arg("--smsc")
        .arg(format!("smpp://vouchup:uppw@127.0.0.1:{}", smsc.port));
    let server = Server::launch(cmd, data_dir.clone(), dir.to_path_buf());
    let smpp_port = announced_port(&server, "vouch: SMPP gateway on 127.0.0.1:");

    let dlr = DlrSink::start();
    let kannel = Kannel::start(dir, smpp_port, "kannel1", &password);
    kannel.wait_online(Duration::from_secs(15));
    for pid in kannel.pids() {
        let addrs = listening_addresses(pid);
        assert!(!addrs.is_empty(), "no listener found for Kannel box {pid}");
        assert!(addrs.iter().all(|a| a.contains(" 0100007F:")), "Kannel box {pid} listens beyond loopback: {addrs:?}");
    }
    let all = 1 | 2 | 8 | 16;
    let wait = Duration::from_secs(10);

    // A registered message reaches the SMSC as Kannel sent it, and the SMSC's receipt comes
    // back through vouch under vouch's id, which Kannel matches (msg-id-type unset: the ids
    // are compared as strings).
    let text = "Acme Dental: your cleaning is due. Reply STOP to opt out.";
    kannel.send(N_MAIN, text, all, &dlr.url("registered"));
    let ack = dlr.wait("registered", "8", 1, wait);
    let our_id = ack[0]["fid"].clone();
    let hex_with_a_letter = u64::from_str_radix(&our_id, 16).is_ok() && our_id.bytes().any(|b| b.is_ascii_alphabetic());
    assert!(our_id.len() == 16 && hex_with_a_letter, "vouch's id: {ack:?}");
    let delivered = dlr.wait("registered", "1", 1, wait);
    let receipt = &delivered[0]["reply"];
    assert!(receipt.starts_with(&format!("id:{our_id} ")) && receipt.contains("stat:DELIVRD"), "{delivered:?}");
    assert_eq!(delivered[0]["fid"], our_id);
    let first = smsc_log_entries(&smsc_log);
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!((first[0]["source_addr"].as_str(), first[0]["dest_addr"].as_str()), (Some(N_MAIN), Some(SUBSCRIBER)));
    assert_eq!(first[0]["registered_delivery"], 1, "Kannel asks for the receipt: {first:?}");
    assert_eq!(texts_at_smsc(&smsc_log, N_MAIN), vec![text.to_owned()]);

    // An unregistered source: 0x400, which Kannel takes as final (a NACK, no retry). So is a
    // suspended campaign's 0x401, from the very next message after the suspension.
    kannel.send(N_UNREGISTERED, "Hello from nowhere", all, &dlr.url("unregistered"));
    let nack = dlr.wait("unregistered", "16", 1, wait);
    assert!(nack[0]["reply"].starts_with("NACK/0x00000400/"), "{nack:?}");
    server.set_suspended(&s.dca.key, &second, true, "spam reports").await.ok(200);
    kannel.send(N_SUSPENDED, "Acme Dental: a suspended campaign speaking.", all, &dlr.url("suspended"));
    let nack = dlr.wait("suspended", "16", 1, wait);
    assert!(nack[0]["reply"].starts_with("NACK/0x00000401/"), "{nack:?}");

    // A long message: Kannel splits it (8-bit UDH references, a report asked for on the first
    // part only); vouch reassembles it for the checks and forwards the parts.
    let long = "Acme Dental: your six-monthly cleaning is due soon. We have openings every weekday \
                morning and on Saturdays, and our hygienists will also check your gums and answer \
                any questions about whitening. Reply YES to book the first free slot or STOP to opt out.";
    kannel.send(N_MAIN, long, all, &dlr.url("long"));
    let delivered = dlr.wait("long", "1", 1, wait);
    assert!(delivered[0]["reply"].contains("stat:DELIVRD"), "{delivered:?}");
    assert!(texts_at_smsc(&smsc_log, N_MAIN).contains(&long.to_owned()), "{:?}", texts_at_smsc(&smsc_log, N_MAIN));
    let parts: Vec<Value> =
        smsc_log_entries(&smsc_log).into_iter().filter(|m| m["esm_class"].as_u64().unwrap_or(0) & 0x40 != 0).collect();
    assert_eq!(parts.len(), 2, "{parts:?}");

    // A long message whose second part holds a link the campaign did not declare: the part
    // that completes it gets 0x407, so Kannel fails the whole message (NACK), and the first
    // part, acknowledged while it waited, gets a REJECTD receipt. Nothing reaches the SMSC.
    let linked = "Acme Dental: your six-monthly cleaning is due soon. We have openings every weekday \
                  morning and on Saturdays, and our hygienists will also check your gums. Book at \
                  acmedental.com/book today, or reply STOP to opt out of these messages from us.";
    kannel.send(N_MAIN, linked, all, &dlr.url("linked"));
    let nack = dlr.wait("linked", "16", 1, wait);
    assert!(nack[0]["reply"].starts_with("NACK/"), "{nack:?}");
    let failed = dlr.wait("linked", "2", 1, wait);
    assert!(failed[0]["reply"].contains("stat:REJECTD err:407"), "{failed:?}");
    assert_eq!(smsc_log_entries(&smsc_log).len(), 3, "nothing of the refused message reached the SMSC");

    // The SMSC throttles twice: vouch answers 0x58 as the SMSC did, and Kannel, which takes
    // 0x58 as temporary, sends again (after sms-resend-freq) until it is delivered, once.
    smsc.control("throttle 2");
    let throttled_text = "Acme Dental: sent again until the carrier took it.";
    kannel.send(N_MAIN, throttled_text, all, &dlr.url("smsc-throttled"));
    dlr.wait("smsc-throttled", "1", 1, Duration::from_secs(20));
    assert!(
        dlr.of("smsc-throttled").iter().all(|h| h["type"] == "1" || h["type"] == "8"),
        "{:?}",
        dlr.of("smsc-throttled")
    );
    assert_eq!(texts_at_smsc(&smsc_log, N_MAIN).iter().filter(|t| *t == throttled_text).count(), 1);
    let log = kannel.log("smsc.log");
    assert!(log.matches("SMSC returned error code 0x00000058 (Throttling error)").count() >= 2, "{}", kannel.logs());

    // The SMSC throttles a part of a long message: vouch sends that part again itself (Kannel
    // was told the first part was taken, and would send the last part again alone), and the
    // whole message is delivered.
    smsc.control("throttle 1");
    let long_throttled = long.replace("Saturdays", "Sundays");
    kannel.send(N_MAIN, &long_throttled, all, &dlr.url("long-smsc-throttled"));
    dlr.wait("long-smsc-throttled", "1", 1, wait);
    let reports = dlr.of("long-smsc-throttled");
    assert!(reports.iter().all(|h| h["type"] == "1" || h["type"] == "8"), "{reports:?}");
    assert_eq!(texts_at_smsc(&smsc_log, N_MAIN).iter().filter(|t| **t == long_throttled).count(), 1);

    // Idle: Kannel's enquire_link (every 2 s) is answered, and the session stays bound (one
    // bind in all).
    let links = |k: &Kannel| k.log("smsc.log").matches("type_name: enquire_link_resp").count();
    let before = links(&kannel);
    std::thread::sleep(Duration::from_secs(5));
    assert!(links(&kannel) >= before + 2, "enquire_link answered: {before} -> {}", links(&kannel));
    let log = kannel.log("smsc.log");
    assert!(!log.contains("SMSC got error to enquire_link") && !log.contains("Couldn't connect"), "{}", kannel.logs());
    kannel.wait_online(Duration::from_secs(1));
    assert_eq!(server.stderr.text().matches("ESME bound").count(), 1, "{}", server.stderr.text());

    // Over the campaign's rate (45 a minute): vouch answers 0x58, and Kannel sends again until
    // the rate allows it. A long message too: the part vouch answered 0x58 is the one Kannel
    // sends again, and the part acknowledged before waits for it.
    let burst = 46;
    for i in 0..burst {
        kannel.send(
            N_MAIN,
            &format!("Acme Dental: reminder {i} of {burst}."),
            1 | 2 | 16,
            &dlr.url(&format!("rate{i}")),
        );
    }
    kannel.send(N_MAIN, long, all, &dlr.url("long-over-rate"));
    for i in 0..burst {
        dlr.wait(&format!("rate{i}"), "1", 1, Duration::from_secs(30));
    }
    dlr.wait("long-over-rate", "1", 1, Duration::from_secs(30));
    for tag in (0..burst).map(|i| format!("rate{i}")).chain(["long-over-rate".to_owned()]) {
        assert!(dlr.of(&tag).iter().all(|h| h["type"] == "1" || h["type"] == "8"), "{tag}: {:?}", dlr.of(&tag));
    }
    let texts = texts_at_smsc(&smsc_log, N_MAIN);
    for i in 0..burst {
        let t = format!("Acme Dental: reminder {i} of {burst}.");
        assert_eq!(texts.iter().filter(|x| **x == t).count(), 1, "{t} reached the SMSC once");
    }
    assert_eq!(texts.iter().filter(|x| *x == long).count(), 2, "the long message, twice in all: {texts:?}");
    assert_eq!(texts.len(), 5 + burst, "nothing else, nothing twice: {texts:?}");
    let records = server
        .get(&format!("/v1/gateway/records?source=%2B{N_MAIN}&limit=500"), Some(&s.dca.key))
        .await
        .ok(200)
        .clone();
    let over_rate =
        |r: &&Value| r["status"] == "0x00000058" && r["detail"].as_str().is_some_and(|d| d.contains("a minute"));
    let records = records.as_array().expect("records");
    assert!(
        records.iter().filter(over_rate).any(|r| r["parts"] == 2),
        "the long message was over the rate once: {records:?}"
    );

    eprintln!("Kannel interop: {:?}", started.elapsed());
    drop(kannel);
    drop(dlr);
    drop(server);
    drop(smsc);
}

/// A bare SMPP ESME (one connection, blocking), for what Kannel does not do: send every part
/// of a message again, under the same reference, after ESME_RTHROTTLED.
struct RawEsme {
    s: TcpStream,
    seq: u32,
    /// deliver_sm bodies received (and answered) while waiting for a response.
    delivered: Vec<Vec<u8>>,
}

impl RawEsme {
    fn connect(port: u16) -> Self {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect to vouch");
        s.set_read_timeout(Some(Duration::from_secs(10))).ok();
        Self { s, seq: 0, delivered: Vec::new() }
    }

    fn write(&mut self, command_id: u32, seq: u32, body: &[u8]) {
        let mut pdu = Vec::with_capacity(16 + body.len());
        for v in [16 + body.len() as u32, command_id, 0, seq] {
            pdu.extend(v.to_be_bytes());
        }
        pdu.extend(body);
        self.s.write_all(&pdu).expect("write a PDU");
    }

    /// Sends a request and reads until its response: its command_status and body. deliver_sm
    /// in between are answered and kept.
    fn request(&mut self, command_id: u32, body: &[u8]) -> (u32, Vec<u8>) {
        self.seq += 1;
        let seq = self.seq;
        self.write(command_id, seq, body);
        loop {
            let mut head = [0u8; 16];
            self.s.read_exact(&mut head).expect("a PDU from vouch");
            let word = |i: usize| u32::from_be_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
            let mut body = vec![0u8; word(0) as usize - 16];
            self.s.read_exact(&mut body).expect("the PDU's body");
            match word(4) {
                0x0000_0005 => {
                    self.write(0x8000_0005, word(12), b"\0");
                    self.delivered.push(body);
                }
                id if id == command_id | 0x8000_0000 && word(12) == seq => return (word(8), body),
                _ => {}
            }
        }
    }

    fn submit(&mut self, source: &str, udh: &[u8], text: &str) -> (u32, String) {
        let mut b = vec![0u8]; // service_type
        b.extend([1, 1]);
        b.extend(source.as_bytes());
        b.extend([0, 1, 1]);
        b.extend(SUBSCRIBER.as_bytes());
        let esm_class = if udh.is_empty() { 0 } else { 0x40 };
        b.extend([0, esm_class, 0, 0, 0, 0, 1, 0, 0, 0]);
        b.push((udh.len() + text.len()) as u8);
        b.extend(udh);
        b.extend(text.as_bytes());
        let (status, body) = self.request(0x0000_0004, &b);
        (status, String::from_utf8_lossy(body.split(|c| *c == 0).next().unwrap_or_default()).into_owned())
    }
}

/// The Kannel test's other side: an ESME that, when the part completing a concatenated message
/// gets ESME_RTHROTTLED over the campaign's rate, sends every part again under the same
/// reference. The part sent again takes the place of the one vouch held (which gets a receipt
/// saying it was not sent), and the message goes through once the rate allows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parts_sent_again_after_a_throttled_concatenated_message_take_the_place_of_the_held_ones() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let data_dir = dir.join("data");
    let mut server = Server::launch(serve_command(dir, &data_dir), data_dir.clone(), dir.to_path_buf());
    let s = server.accepted_campaign().await;
    server.assign(&s.csp.key, &format!("+{N_MAIN}"), &s.campaign).await.ok(201);
    let password = server.smpp_account(&s.csp, "resender").await;
    server.sigterm();

    // Class B at 60 a minute: one message a second once the minute's budget is spent.
    let smsc_log = dir.join("smsc.jsonl");
    let smsc = Smsc::start(smsc_log.clone());
    let config = dir.join("vouch.toml");
    std::fs::write(&config, format!("[gateway]\nminute_scale = {}\n", 60.0 / 4500.0)).expect("config");
    let mut cmd = serve_command(dir, &data_dir);
    cmd.args(["--smpp", "127.0.0.1:0", "--gateway-dca", &s.dca.id, "--config"])
        .arg(&config)
        .arg("--smsc")
        .arg(format!("smpp://vouchup:uppw@127.0.0.1:{}", smsc.port));
    let server = Server::launch(cmd, data_dir.clone(), dir.to_path_buf());
    let mut e = RawEsme::connect(announced_port(&server, "vouch: SMPP gateway on 127.0.0.1:"));
    let mut bind = b"resender\0".to_vec();
    bind.extend(password.as_bytes());
    bind.extend([0, 0, 0x34, 0, 0, 0]);
    assert_eq!(e.request(0x0000_0009, &bind).0, 0, "bound");

    // Spend the minute's budget.
    let mut sent = 0;
    while e.submit(N_MAIN, &[], "Acme Dental: see you soon.").0 == 0 {
        sent += 1;
        assert!(sent <= 70, "never throttled");
    }
    // Two parts (reference 0x42): the first is held and acknowledged, the second completes the
    // message over the rate.
    let part = |n: u8| [5, 0, 3, 0x42, 2, n];
    let (status, held_id) = e.submit(N_MAIN, &part(1), "Acme Dental: your cleaning is due, ");
    assert_eq!(status, 0, "held and acknowledged");
    assert_eq!(e.submit(N_MAIN, &part(2), "book a visit soon.").0, 0x58);
    // Every part again, the same reference; the rate has room again a couple of seconds later.
    let (status, new_id) = e.submit(N_MAIN, &part(1), "Acme Dental: your cleaning is due, ");
    assert_eq!(status, 0, "the part sent again takes the held one's place");
    assert_ne!(new_id, held_id);
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(e.submit(N_MAIN, &part(2), "book a visit soon.").0, 0, "the message goes through");
    let texts = texts_at_smsc(&smsc_log, N_MAIN);
    let whole = "Acme Dental: your cleaning is due, book a visit soon.";
    assert_eq!(texts.iter().filter(|t| *t == whole).count(), 1, "{texts:?}");
    assert_eq!(texts.len(), sent + 1, "each part once: {texts:?}");
    // The part it replaced was told, with the throttling status.
    let told = e
        .delivered
        .iter()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .any(|t| t.contains(&format!("id:{held_id} ")) && t.contains("stat:REJECTD err:058"));
    assert!(told, "{:?}", e.delivered.iter().map(|b| String::from_utf8_lossy(b).into_owned()).collect::<Vec<_>>());
    drop(server);
    drop(smsc);
}
