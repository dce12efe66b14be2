//! Interop with Kamailio, the SIP server carriers run as an SBC, using vouch as its
//! STIR/SHAKEN redirect server, as a carrier deploys it:
//!
//! ```text
//! SIPp UAC ──▶ Kamailio ORIG ──TCP──▶ vouch (302 + Identity)
//!                   │ Identity added from the 302
//!                   ▼
//!              Kamailio TERM ──UDP──▶ vouch (302 + P-Asserted-Identity;verstat=…, or 438…)
//!                   │ vouch's P-Asserted-Identity (and Reason: STIR) put in place
//!                   ▼
//!               SIPp UAS (checks Identity and verstat)
//! ```
//!
//! Both SBCs run `tests/kamailio/sbc.cfg` (`-A ORIG`, `-A TERM`); TERM also checks the
//! Identity with Kamailio's secsipid module (libsecsipid), and the test checks it again with
//! secsipidx. Everything binds to and targets 127.0.0.1 on ports chosen at run time; every
//! process is bounded, and the Kamailio instances are stopped by PID when the test ends,
//! panics included. A failure prints every SIP message the SBCs sent and received (Kamailio's
//! sipdump); `KAMAILIO_DUMP=1` (with `--no-capture`) prints them after a passing run too.

#![allow(clippy::unwrap_used)]

use std::net::{SocketAddr, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::{Finished, Provider, Spawned, run, wait_timeout};
use crate::stir_http::{
    Issued, Voice, add_block, add_peer, cli_sign, decode, free_udp_port, free_udp_tcp_port, identity, now, signer,
    split_identity, tamper_signature,
};

const KAMAILIO: &str = "/usr/sbin/kamailio";
const ORIG: &str = "12025550100";
const DEST: &str = "12025550199";

fn repo_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

// ---------------------------------------------------------------------------------------------
// Kamailio

/// A Kamailio in the foreground (`-DD -E`), in a process group of its own, with its
/// configuration, runtime directory and PID file in the test's directory. Dropped (the test
/// ended or panicked): SIGTERM to its PID (the main process stops its children), then SIGKILL
/// to its process group (whose id is that PID) for anything left.
struct Kamailio {
    proc: Option<Spawned>,
    pid: u32,
    role: &'static str,
    /// Where it listens (UDP and TCP).
    at: SocketAddr,
    /// Its runtime directory: PID file and the sipdump files.
    run_dir: PathBuf,
}

impl Kamailio {
    /// `role` (`ORIG`, `TERM`) on UDP and TCP 127.0.0.1:`port`, asking vouch at
    /// `vouch` and relaying on to `next`; `ca` is the root the secsipid module trusts.
    fn start(dir: &Path, role: &'static str, port: u16, vouch: SocketAddr, next: SocketAddr, ca: &Path) -> Self {
        let template = std::fs::read_to_string(repo_file("tests/kamailio/sbc.cfg")).unwrap();
        let name = role.to_ascii_lowercase();
        let run_dir = dir.join(format!("kamailio-{name}-run"));
        std::fs::create_dir_all(&run_dir).unwrap();
        let cfg = template
            .replace("@LISTEN@", &port.to_string())
            .replace("@VOUCH@", &vouch.to_string())
            .replace("@NEXT@", &next.to_string())
            .replace("@CA_FILE@", ca.to_str().unwrap())
            .replace("@DUMP_DIR@", run_dir.to_str().unwrap());
        let left = cfg.lines().find(|l| !l.trim_start().starts_with('#') && l.contains('@'));
        assert!(left.is_none(), "a placeholder left in the configuration: {left:?}");
        let file = dir.join(format!("kamailio-{name}.cfg"));
        std::fs::write(&file, cfg).unwrap();
        let mut c = Command::new(KAMAILIO);
        c.arg("-DD").arg("-E").arg("-f").arg(&file).args(["-A", role, "-m", "32", "-M", "8"]);
        c.arg("-Y").arg(&run_dir).arg("-P").arg(run_dir.join("kamailio.pid")).arg("-w").arg(&run_dir);
        c.current_dir(dir).process_group(0);
        let proc = Spawned::start(c);
        let pid = proc.child.id();
        let mut k = Self { proc: Some(proc), pid, role, at: SocketAddr::from(([127, 0, 0, 1], port)), run_dir };
        // Ready once its UDP socket is bound (datagrams then wait in its buffer).
        let deadline = Instant::now() + Duration::from_secs(10);
        while UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            let exited = k.proc.as_mut().and_then(|p| p.child.try_wait().ok().flatten());
            assert!(
                Instant::now() < deadline && exited.is_none(),
                "Kamailio {role} is not listening on {port} ({exited:?}):\n{}",
                k.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        k
    }

    /// What it logged so far.
    fn log(&self) -> String {
        self.proc.as_ref().map(|p| format!("{}\n{}", p.stdout.text(), p.stderr.text())).unwrap_or_default()
    }

    /// Every SIP message it received and sent so far (sipdump's text files).
    fn dump(&self) -> String {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.run_dir)
            .map(|d| {
                d.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "data"))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files.iter().map(|f| std::fs::read_to_string(f).unwrap_or_default()).collect()
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        let Some(mut proc) = self.proc.take() else { return };
        let signal = |args: &[&str]| {
            let _ = Command::new("kill").args(args).output();
        };
        if matches!(proc.child.try_wait(), Ok(None)) {
            signal(&["-TERM", &self.pid.to_string()]);
            if wait_timeout(&mut proc.child, Duration::from_secs(5)).is_none() {
                eprintln!("Kamailio {} (PID {}) ignored SIGTERM; killing its process group", self.role, self.pid);
            }
        }
        // Children the main process left (it was killed, or stopped without them).
        signal(&["-KILL", "--", &format!("-{}", self.pid)]);
        drop(proc);
    }
}

// ---------------------------------------------------------------------------------------------
// SIPp

/// The `<log>` lines of a SIPp run and how it ended.
#[derive(Debug)]
struct Sipp {
    finished: Finished,
    log: String,
    errors: String,
}

impl Sipp {
    fn from(finished: Finished, log: &Path, errors: &Path) -> Self {
        Self {
            finished,
            log: std::fs::read_to_string(log).unwrap_or_default(),
            errors: std::fs::read_to_string(errors).unwrap_or_default(),
        }
    }

    /// The value of the `<log message="NAME …">` line, trimmed.
    fn logged(&self, name: &str) -> String {
        self.log
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")).or_else(|| (l == name).then_some("")))
            .unwrap_or_else(|| panic!("no {name} line in the SIPp log:\n{}", self.log))
            .trim()
            .to_owned()
    }

    fn report(&self) -> String {
        format!(
            "log:\n{}\nerrors:\n{}\nstdout:\n{}\nstderr:\n{}",
            self.log, self.errors, self.finished.stdout, self.finished.stderr
        )
    }
}

/// A SIPp command for `scenario` on 127.0.0.1:`port` (UDP), one call, bounded, with its logs
/// under `dir/<tag>*`; injection `fields` when given.
fn sipp_command(
    dir: &Path,
    tag: &str,
    scenario: &str,
    port: u16,
    fields: Option<&[&str]>,
) -> (Command, PathBuf, PathBuf) {
    let log = dir.join(format!("{tag}.log"));
    let errors = dir.join(format!("{tag}-errors.log"));
    let mut c = Command::new("sipp");
    c.current_dir(dir).arg("-sf").arg(repo_file("tests/sipp").join(scenario));
    if let Some(f) = fields {
        assert!(f.iter().all(|x| !x.contains([';', '\n'])), "SIPp injection fields cannot hold ';': {f:?}");
        let inf = dir.join(format!("{tag}.csv"));
        std::fs::write(&inf, format!("SEQUENTIAL\n{}\n", f.join(";"))).unwrap();
        c.arg("-inf").arg(inf);
    }
    c.args(["-t", "u1", "-i", "127.0.0.1", "-bind_local", "-p", &port.to_string()]);
    c.args(["-ci", "127.0.0.1", "-cp", &free_udp_port().to_string()]);
    c.args(["-mi", "127.0.0.1", "-mp", &free_udp_port().to_string()]);
    c.args(["-m", "1", "-timeout", "15s", "-timeout_error", "-nostdin", "-max_socket", "16"]);
    c.arg("-trace_logs").arg("-log_file").arg(&log).arg("-trace_err").arg("-error_file").arg(&errors);
    (c, log, errors)
}

/// The callee: SIPp running `uas_kamailio.xml` on 127.0.0.1:`port`, in the background.
struct Uas {
    proc: Spawned,
    log: PathBuf,
    errors: PathBuf,
}

impl Uas {
    fn start(dir: &Path, tag: &str, port: u16) -> Self {
        let (c, log, errors) = sipp_command(dir, tag, "uas_kamailio.xml", port, None);
        let mut proc = Spawned::start(c);
        let deadline = Instant::now() + Duration::from_secs(10);
        while UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            let exited = proc.child.try_wait().ok().flatten();
            if exited.is_some() || Instant::now() >= deadline {
                let out = proc.finish(Duration::from_secs(5));
                panic!("the SIPp UAS is not listening on {port} ({exited:?})\n{}\n{}", out.stdout, out.stderr);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { proc, log, errors }
    }

    fn finish(self) -> Sipp {
        Sipp::from(self.proc.finish(Duration::from_secs(30)), &self.log, &self.errors)
    }
}

/// One call of `scenario` from a SIPp UAC on 127.0.0.1 to `target`.
fn uac(dir: &Path, tag: &str, scenario: &str, target: SocketAddr, fields: &[&str]) -> Sipp {
    let (mut c, log, errors) = sipp_command(dir, tag, scenario, free_udp_tcp_port(), Some(fields));
    c.arg(target.to_string());
    Sipp::from(run(c, Duration::from_secs(30)), &log, &errors)
}

// ---------------------------------------------------------------------------------------------
// The deployment

/// vouch with a signing provider (SPC 123A) owning +12025550100..199 whose SIP peer is
/// 127.0.0.1 (both SBCs: a peer is an address or network, without a port), and the two SBCs.
struct Deployment {
    orig: Kamailio,
    term: Kamailio,
    uas_port: u16,
    p: Provider,
    cert: Issued,
    x5u: String,
    // Last: the SBCs are stopped before vouch and before the directory goes.
    v: Voice,
}

impl Deployment {
    async fn start(flags: &[&str]) -> Self {
        let v = Voice::start(flags);
        let (p, cert, reg) = signer(&v.s, &v.ca, "Acme Voice LLC", "0055500001", "123A").await;
        // A peer is an address or a network, not an address and port.
        let path = format!("/v1/providers/{}/sip-peers", p.id);
        let r = v.s.post(&path, &p.key, &serde_json::json!({ "address": "127.0.0.1:5060" })).await;
        assert_eq!(r.status.as_u16(), 422, "{}", r.text);
        add_peer(&v.s, &p, "127.0.0.1").await;
        add_block(&v.s, &p, "+12025550100", "+12025550199").await;
        let x5u = reg["x5u"].as_str().unwrap().to_owned();
        let at = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
        let (orig_port, term_port, uas_port) = (free_udp_tcp_port(), free_udp_tcp_port(), free_udp_tcp_port());
        let root = v.ca.root();
        let term = Kamailio::start(&v.dir, "TERM", term_port, v.sip, at(uas_port), &root);
        let orig = Kamailio::start(&v.dir, "ORIG", orig_port, v.sip, at(term_port), &root);
        Self { orig, term, uas_port, p, cert, x5u, v }
    }

    /// Everything the SBCs and vouch logged, for failure messages.
    fn logs(&self) -> String {
        format!(
            "Kamailio ORIG:\n{}\n{}\nKamailio TERM:\n{}\n{}\nvouch:\n{}\n{}",
            self.orig.log(),
            self.orig.dump(),
            self.term.log(),
            self.term.dump(),
            self.v.s.stdout.text(),
            self.v.s.stderr.text()
        )
    }

    /// A UAC running `scenario` to `target` that expects a refusal: asserts it got it and
    /// returns its run.
    fn refused(&self, tag: &str, scenario: &str, target: SocketAddr, fields: &[&str]) -> Sipp {
        let caller = uac(&self.v.dir, tag, scenario, target, fields);
        assert!(caller.finished.status.success(), "{tag}: {}\n{}", caller.report(), self.logs());
        caller
    }

    /// Runs `scenario` from a UAC to `target` with a UAS behind the terminating SBC; asserts
    /// both ended well and returns the UAS's run.
    fn call(&self, tag: &str, scenario: &str, target: SocketAddr, fields: &[&str]) -> Sipp {
        let uas = Uas::start(&self.v.dir, &format!("{tag}-uas"), self.uas_port);
        let caller = uac(&self.v.dir, &format!("{tag}-uac"), scenario, target, fields);
        let callee = uas.finish();
        assert!(
            caller.finished.status.success() && callee.finished.status.success(),
            "{tag}: the call failed\nUAC {}\nUAS {}\n{}",
            caller.report(),
            callee.report(),
            self.logs()
        );
        callee
    }
}

fn which(cmd: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| Path::new(d).join(cmd)).find(|p| p.is_file())
}

/// The value of the sample `name` (with its labels) in vouch's /metrics, 0 when absent.
async fn metric(v: &Voice, name: &str) -> f64 {
    let text = v.s.get("/metrics", None).await.text;
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .map_or(0.0, |n| n.trim().parse().unwrap())
}

/// The injection fields of a signed INVITE from `ORIG` to `DEST` carrying `identity`.
fn signed_fields(identity: &str) -> [&str; 4] {
    let (token, info) = split_identity(identity);
    assert!(identity.ends_with(";alg=ES256;ppt=shaken"), "the scenarios add ;alg=ES256;ppt=shaken: {identity}");
    [ORIG, DEST, token, info]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kamailio_sbcs_have_vouch_sign_and_verify_and_relay_its_refusals() {
    let secsipidx = which("secsipidx").expect("secsipidx is not installed (apt-get install secsipidx)");
    let started = Instant::now();
    // x5u fetches may reach loopback (the unanswering repository below).
    let d = Deployment::start(&["--x5u-allow-net", "127.0.0.1/32"]).await;

    // An unsigned call to the originating SBC: signed by vouch (over TCP), verified by vouch for
    // the terminating SBC (over UDP), answered by the callee, ACKed and hung up through both.
    // Twice: the second INVITE goes to vouch on the SBC's TCP connection of the first.
    let mut signed_calls = Vec::new();
    for n in 1..=2 {
        let callee = d.call(&format!("call-{n}"), "uac_kamailio_call.xml", d.orig.at, &[ORIG, DEST]);
        let signed = callee.logged("IDENTITY");
        let pai = callee.logged("PAI");
        assert!(
            pai.starts_with(&format!("\"sipp\" <sip:+{ORIG}@127.0.0.1:"))
                && pai.ends_with(";user=phone;verstat=TN-Validation-Passed>"),
            "{pai}\n{}",
            d.logs()
        );
        assert_eq!(callee.logged("REASON"), "", "no Reason for a call that verified");
        // The terminating SBC's own check (libsecsipid): 1, valid.
        assert_eq!(callee.logged("SECSIPID"), "1", "{}", d.logs());

        // The PASSporT is vouch's: A for the provider's own number, for this call's numbers.
        let (token, info) = split_identity(&signed);
        assert_eq!(info, d.x5u, "{signed}");
        assert!(signed.ends_with(";alg=ES256;ppt=shaken"), "{signed}");
        let (header, claims) = decode(token);
        assert_eq!(header["x5u"], d.x5u.as_str());
        assert_eq!((claims["attest"].as_str(), claims["orig"]["tn"].as_str()), (Some("A"), Some(ORIG)), "{claims}");
        assert_eq!(claims["dest"]["tn"][0], DEST, "{claims}");
        assert!((claims["iat"].as_i64().unwrap() - now()).abs() <= 30, "{claims}");
        // secsipidx agrees, fetching the chain from vouch's x5u and checking it to the root.
        let o = Command::new(&secsipidx)
            .args(["-check", "-expire", "60", "-identity", &signed, "-fpubkey", &d.x5u, "-cert-verify", "5"])
            .arg("-ca-file")
            .arg(d.v.ca.root())
            .output()
            .unwrap();
        assert!(o.status.success(), "secsipidx refused {signed}: {}", String::from_utf8_lossy(&o.stdout));
        signed_calls.push(claims["origid"].as_str().unwrap().to_owned());
    }
    assert_ne!(signed_calls[0], signed_calls[1], "each call is signed for itself");
    // vouch signed each call once and verified each once.
    assert_eq!(metric(&d.v, "vouch_stir_signed_total{attest=\"A\"}").await, 2.0);
    assert_eq!(metric(&d.v, "vouch_stir_verified_total{verstat=\"TN-Validation-Passed\"}").await, 2.0);
    let (orig_log, term_log) = (d.orig.log(), d.term.log());
    assert!(orig_log.contains("vouch signed: "), "{orig_log}");
    assert!(term_log.contains("vouch verified: "), "{term_log}");

    // A tampered PASSporT handed to the terminating SBC: vouch's 438 goes back to the caller
    // through the SBC, with vouch's Reason. libsecsipid refused it too.
    let bad = tamper_signature(&identity(&d.v.s, &d.p, ORIG, DEST).await);
    let caller = d.refused("tampered", "uac_expect_438.xml", d.term.at, &signed_fields(&bad));
    assert!(caller.logged("REASON").contains("signature"), "{}", caller.log);
    assert!(d.term.log().lines().any(|l| l.contains("secsipid says -")), "{}", d.term.log());

    // A PASSporT whose certificate repository never answers: the terminating SBC retransmits
    // the INVITE over UDP while vouch waits for the x5u (at most 5 s; a stateless server sends
    // no 100 Trying); vouch's 436 reaches the caller within the SBC's 8 s.
    let tarpit = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let slow = cli_sign(&d.v.dir, &d.cert, &format!("https://{}/c.pem", tarpit.local_addr().unwrap()), ORIG, DEST, &[]);
    let asked = Instant::now();
    let caller = d.refused("unreachable-x5u", "uac_expect_436.xml", d.term.at, &signed_fields(&slow));
    assert!(caller.logged("REASON").contains("cause=436"), "{}", caller.log);
    assert!(asked.elapsed() < Duration::from_secs(15), "{:?}", asked.elapsed());
    drop(tarpit);
    eprintln!("took {:?}", started.elapsed());
    if std::env::var_os("KAMAILIO_DUMP").is_some() {
        // sipdump writes from a timer process: let it catch up.
        std::thread::sleep(Duration::from_secs(1));
        eprintln!("{}", d.logs());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kamailio_terminating_sbc_continues_a_failed_call_with_vouchs_verstat_and_stir_reason() {
    let d = Deployment::start(&["--verify-failure", "continue"]).await;
    // RFC 9410: the call goes on, marked TN-Validation-Failed, with Reason: STIR.
    let bad = tamper_signature(&identity(&d.v.s, &d.p, ORIG, DEST).await);
    let callee = d.call("continued", "uac_kamailio_signed_call.xml", d.term.at, &signed_fields(&bad));
    let pai = callee.logged("PAI");
    assert!(pai.ends_with(";user=phone;verstat=TN-Validation-Failed>"), "{pai}\n{}", d.logs());
    let reason = callee.logged("REASON");
    assert!(reason.starts_with("STIR;cause=438;text=\"") && reason.contains("signature"), "{reason}");
    assert!(callee.logged("SECSIPID").starts_with('-'), "libsecsipid accepted a tampered signature");
    assert_eq!(callee.logged("IDENTITY"), bad, "the Identity goes on to the callee as it came");

    // The originating SBC does not pass on an Identity its caller sent (vouch would verify it
    // instead of signing): vouch signs the call afresh and it verifies.
    let callee = d.call("caller-identity", "uac_kamailio_signed_call.xml", d.orig.at, &signed_fields(&bad));
    assert_ne!(callee.logged("IDENTITY"), bad);
    assert!(callee.logged("PAI").ends_with(";verstat=TN-Validation-Passed>"), "{}", d.logs());
    assert_eq!(callee.logged("REASON"), "");
}
