//! The STIR/SHAKEN verbs through the real binary: a development PKI, signing, verification
//! with each failure's reason, revocation, the certificate linter against the zlint vectors,
//! and interoperability with secsipidx and PyJWT (real, independent implementations).

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::harness::{Finished, Spawned, run, vouch};

const LIMIT: Duration = Duration::from_secs(60);
const X5U: &str = "https://cert.example.org/1234.pem";

fn ok(f: Finished) -> String {
    assert!(f.status.success(), "exit {:?}\nstdout:\n{}\nstderr:\n{}", f.status, f.stdout, f.stderr);
    f.stdout
}

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors")
}

/// A development CA with one SPC 1234 certificate, and a trust directory for it.
struct Pki {
    dir: tempfile::TempDir,
    chain: PathBuf,
    key: PathBuf,
    trust: PathBuf,
}

fn pki() -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let init = run(vouch(d).args(["ca", "init", "--dir", "ca"]), LIMIT);
    assert!(init.stderr.contains("DEVELOPMENT PKI"), "{}", init.stderr);
    ok(init);
    let out = ok(run(vouch(d).args(["ca", "issue", "--dir", "ca", "--spc", "1234"]), LIMIT));
    let field = |name: &str| {
        d.join(out.lines().find_map(|l| l.strip_prefix(&format!("{name}: "))).unwrap_or_else(|| panic!("{out}")))
    };
    let (chain, key) = (field("chain"), field("key"));
    let trust = d.join("trust");
    std::fs::create_dir(&trust).unwrap();
    for f in ["root.pem", "crl-signer.pem"] {
        std::fs::copy(d.join("ca").join(f), trust.join(f)).unwrap();
    }
    Pki { dir, chain, key, trust }
}

impl Pki {
    fn sign(&self, extra: &[&str]) -> String {
        let mut c = vouch(self.dir.path());
        c.args(["sign", "--key"]).arg(&self.key).args(["--x5u", X5U, "--orig", "+1 215-555-1212"]);
        c.args(["--dest", "12125551213", "--attest", "A"]).args(extra);
        ok(run(c, LIMIT)).trim().to_owned()
    }

    fn verify(&self, identity: &str, extra: &[&str]) -> (bool, Value) {
        self.verify_with(identity, Some(&self.chain), extra)
    }

    /// `vouch verify --json`, with the chain from `cert`, or fetched from x5u when `None`.
    fn verify_with(&self, identity: &str, cert: Option<&Path>, extra: &[&str]) -> (bool, Value) {
        let mut c = vouch(self.dir.path());
        c.args(["verify", "--json", "--identity", identity, "--trust"]).arg(&self.trust).args(extra);
        if let Some(cert) = cert {
            c.arg("--cert").arg(cert);
        }
        let f = run(c, LIMIT);
        let v: Value =
            serde_json::from_str(f.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}{}", f.stdout, f.stderr));
        (f.status.success(), v)
    }
}

#[test]
fn sign_verify_and_each_failure_reason_through_the_cli() {
    let p = pki();
    // The development CA's certificates pass the strict SHAKEN profile.
    let lint = run(vouch(p.dir.path()).arg("lint").arg(&p.chain).arg("ca/root.pem"), LIMIT);
    assert_eq!(ok(lint).matches(": pass").count(), 3);
    let h = p.sign(&["--rcd-name", "Acme Pharmacy", "--origid", "123e4567-e89b-12d3-a456-426655440000"]);
    assert!(h.ends_with(&format!(";info=<{X5U}>;alg=ES256;ppt=shaken")), "{h}");
    let (passed, v) = p.verify(&h, &["--orig", "12155551212", "--dest", "+1 212 555 1213"]);
    assert!(passed, "{v}");
    assert_eq!(v["verstat"], "TN-Validation-Passed");
    assert_eq!((v["attest"].as_str(), v["spc"].as_str()), (Some("A"), Some("1234")));
    assert_eq!(v["callerName"], "Acme Pharmacy");
    assert_eq!(v["origid"], "123e4567-e89b-12d3-a456-426655440000");

    let reason = |identity: &str, extra: &[&str]| {
        let (passed, v) = p.verify(identity, extra);
        assert!(!passed, "{v}");
        (v["reasoncode"].as_u64().unwrap(), v["verstat"].as_str().unwrap().to_owned())
    };
    // Stale: the verifier's clock two minutes later.
    let later = (jiff::Timestamp::now().as_second() + 120).to_string();
    assert_eq!(reason(&h, &["--now", &later]), (403, "No-TN-Validation".into()));
    // Wrong caller.
    assert_eq!(reason(&h, &["--orig", "12155550000"]).0, 438);
    // Tampered payload, signature and header; info that is not the x5u.
    let (token, params) = h.split_once(';').unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    let flip = |s: &str| {
        let mut b = s.as_bytes().to_vec();
        let i = b.len() / 2;
        b[i] = if b[i] == b'A' { b'B' } else { b'A' };
        String::from_utf8(b).unwrap()
    };
    let sig = format!("{}.{}.{};{params}", parts[0], parts[1], flip(parts[2]));
    assert_eq!(reason(&sig, &[]), (438, "TN-Validation-Failed".into()));
    let payload = format!("{}.{}.{};{params}", parts[0], flip(parts[1]), parts[2]);
    assert_eq!(reason(&payload, &[]).0, 438);
    let header = format!("{}.{}.{};{params}", flip(parts[0]), parts[1], parts[2]);
    assert!(matches!(reason(&header, &[]).0, 436..=438));
    let info = format!("{token};info=<https://other.example/1234.pem>;alg=ES256;ppt=shaken");
    assert_eq!(reason(&info, &[]).0, 436);
    assert_eq!(reason(&format!("{token};info=<{X5U}>;alg=ES256;ppt=div"), &[]).0, 438);
    // Compact form.
    assert_eq!(reason(&format!("..{};info=<{X5U}>;alg=ES256;ppt=shaken", parts[2]), &[]).0, 438);

    // Revocation through the CRL signer's (indirect) CRL.
    let d = p.dir.path();
    ok(run(vouch(d).args(["ca", "revoke", "--dir", "ca"]).arg(&p.chain), LIMIT));
    ok(run(vouch(d).args(["ca", "crl", "--dir", "ca"]), LIMIT));
    std::fs::copy(d.join("ca/crl.der"), p.trust.join("dev.crl")).unwrap();
    assert_eq!(reason(&h, &[]), (437, "TN-Validation-Failed".into()));
}

#[test]
fn bad_cli_input_is_a_message_and_a_non_zero_exit() {
    let p = pki();
    let d = p.dir.path();
    for args in [
        vec!["sign", "--key", "missing.pem", "--x5u", X5U, "--orig", "1", "--dest", "2", "--attest", "A"],
        vec!["sign", "--key", "ca/root.pem", "--x5u", X5U, "--orig", "1", "--dest", "2", "--attest", "A"],
        vec!["sign", "--key", "ca/root.key", "--x5u", X5U, "--orig", "1", "--dest", "2", "--attest", "D"],
        vec!["sign", "--key", "ca/root.key", "--x5u", X5U, "--orig", "CALL-ME", "--dest", "2", "--attest", "A"],
        vec!["ca", "issue", "--dir", "ca", "--spc", "not valid"],
        vec!["ca", "init", "--dir", "ca"],
        vec!["lint", "ca/root.key"],
        vec!["verify", "--identity", "x;info=<https://a/b>", "--cert", "ca/root.pem", "--trust", "nowhere"],
    ] {
        let f = run(vouch(d).args(&args), LIMIT);
        assert!(!f.status.success(), "{args:?} succeeded");
        assert!(f.stderr.contains("error"), "{args:?}: no message: {}", f.stderr);
        assert!(!f.stderr.contains("panicked"), "{args:?}: {}", f.stderr);
    }
}

#[test]
fn lint_json_reproduces_every_zlint_expectation() {
    let dir = vectors().join("shaken-certs");
    let expected: Value = serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
    let certs = expected["certs"].as_object().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut c = vouch(tmp.path());
    c.args(["lint", "--json"]);
    let names: Vec<&String> = certs.keys().collect();
    for n in &names {
        c.arg(dir.join(n));
    }
    let f = run(c, LIMIT);
    let out: Value = serde_json::from_str(&f.stdout).unwrap_or_else(|e| panic!("{e}: {}", f.stderr));
    let reports = out.as_array().unwrap();
    let (mut checked, mut wrong) = (0, Vec::new());
    for (name, want) in certs {
        let report = reports
            .iter()
            .find(|r| r["file"].as_str().is_some_and(|f| f.ends_with(name.as_str())))
            .unwrap_or_else(|| panic!("no report for {name}"));
        for (rule, status) in want["lints"].as_object().or(want.as_object()).unwrap() {
            if rule == "notes" || !status.is_string() {
                continue;
            }
            let got = report["results"].as_array().unwrap().iter().find(|r| r["rule"] == *rule);
            let got_status = got.map(|r| r["status"].clone()).unwrap_or(Value::Null);
            if got.is_none_or(|r| r["source"].as_str().is_none_or(str::is_empty)) || got_status != *status {
                wrong.push(format!("{name} {rule}: want {status}, got {got_status}"));
            }
            checked += 1;
        }
    }
    assert!(wrong.is_empty(), "{} of {checked} differ:\n{}", wrong.len(), wrong.join("\n"));
    assert!(checked >= 190, "only {checked} pairs checked");
    assert!(!f.status.success(), "the corpus has failing certificates, so the exit code must say so");
}

/// secsipidx (Debian package, Go, asipto/secsipidx): verifies vouch's headers and signs headers
/// vouch verifies.
#[test]
fn secsipidx_interoperates_both_ways() {
    let Some(secsipidx) = which("secsipidx") else {
        panic!("secsipidx is not installed; scripts/test installs it (apt-get install secsipidx)");
    };
    let p = pki();
    let d = p.dir.path();
    let pubkey = d.join("pub.pem");
    let out = Command::new("openssl").args(["x509", "-pubkey", "-noout", "-in"]).arg(&p.chain).output().unwrap();
    assert!(out.status.success());
    std::fs::write(&pubkey, out.stdout).unwrap();

    let h = p.sign(&[]);
    let check = |identity: &str| {
        let o = Command::new(&secsipidx)
            .args(["-check", "-expire", "60", "-identity", identity, "-fpubkey"])
            .arg(&pubkey)
            .output()
            .unwrap();
        o.status.success()
    };
    assert!(check(&h), "secsipidx refused vouch's header {h}");
    let (token, params) = h.split_once(';').unwrap();
    let (input, sig) = token.rsplit_once('.').unwrap();
    // Change a character in the middle of the signature (the last one carries only 2 bits,
    // which a lenient base64 decoder may drop).
    let mut sig = sig.as_bytes().to_vec();
    sig[20] = if sig[20] == b'A' { b'B' } else { b'A' };
    let forged = format!("{input}.{};{params}", String::from_utf8(sig).unwrap());
    assert!(!check(&forged), "secsipidx accepted a tampered signature");

    let o = Command::new(&secsipidx)
        .args(["-sign-full", "-fprvkey"])
        .arg(&p.key)
        .args(["-x5u", X5U, "-orig-tn", "12155551212", "-dest-tn", "12125551213", "-attest", "B"])
        .args(["-orig-id", "123e4567-e89b-12d3-a456-426655440000"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let theirs = String::from_utf8(o.stdout).unwrap().trim().to_owned();
    let (passed, v) = p.verify(&theirs, &["--orig", "12155551212"]);
    assert!(passed, "vouch refused secsipidx's header: {v}");
    assert_eq!(v["attest"], "B");
}

/// PyJWT (an independent JOSE implementation, in a virtual environment scripts/test makes):
/// decodes and verifies vouch's PASSporT, and signs one vouch verifies.
#[test]
fn pyjwt_interoperates_both_ways() {
    let python = std::env::var("VOUCH_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = Command::new(&python).args(["-c", "import jwt, cryptography"]).output();
    assert!(
        probe.is_ok_and(|o| o.status.success()),
        "PyJWT is not importable by {python}; run scripts/test (it makes the venv) or set VOUCH_TEST_PYTHON"
    );
    let p = pki();
    let h = p.sign(&[]);
    let (token, _) = h.split_once(';').unwrap();
    let script = r#"
import sys, json, jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
chain, token, key, out = sys.argv[1:5]
cert = x509.load_pem_x509_certificate(open(chain, 'rb').read())
hdr = jwt.get_unverified_header(token)
assert hdr == {"alg": "ES256", "ppt": "shaken", "typ": "passport", "x5u": "https://cert.example.org/1234.pem"}, hdr
claims = jwt.decode(token, cert.public_key(), algorithms=["ES256"], options={"verify_aud": False})
assert claims["attest"] == "A" and claims["orig"] == {"tn": "12155551212"}, claims
try:
    h, p, s = token.split(".")
    s = s[:20] + ("B" if s[20] == "A" else "A") + s[21:]
    jwt.decode(h + "." + p + "." + s, cert.public_key(), algorithms=["ES256"])
    raise SystemExit("PyJWT accepted a tampered signature")
except jwt.InvalidSignatureError:
    pass
import time
priv = serialization.load_pem_private_key(open(key, 'rb').read(), password=None)
theirs = jwt.encode(
    {"attest": "C", "dest": {"tn": ["12125551213"]}, "iat": int(time.time()), "orig": {"tn": "12155551212"},
     "origid": "8f3c7a8e-0d6b-4a38-9a0e-2d1b7c9e5f40"},
    priv, algorithm="ES256", headers={"ppt": "shaken", "typ": "passport", "x5u": "https://cert.example.org/1234.pem"})
open(out, "w").write(theirs)
"#;
    let out = p.dir.path().join("pyjwt.txt");
    let o = Command::new(&python).args(["-c", script]).arg(&p.chain).arg(token).arg(&p.key).arg(&out).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let theirs = std::fs::read_to_string(&out).unwrap();
    let (passed, v) = p.verify(&format!("{theirs};info=<{X5U}>;alg=ES256;ppt=shaken"), &[]);
    assert!(passed, "vouch refused PyJWT's PASSporT: {v}");
    assert_eq!(v["attest"], "C");
}

fn which(cmd: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| Path::new(d).join(cmd)).find(|p| p.is_file())
}

/// `vouch verify` without `--cert` fetches the x5u chain: here from `openssl s_server -WWW` on
/// loopback (allowed explicitly, as a test network), and refused without the allow-list.
#[test]
fn verify_fetches_x5u_over_https_and_refuses_special_addresses() {
    let p = pki();
    let d = p.dir.path();
    // A TLS certificate for 127.0.0.1 and an HTTPS file server on a free loopback port.
    crate::harness::loopback_tls_certificate(d);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    std::fs::create_dir(d.join("www")).unwrap();
    std::fs::copy(&p.chain, d.join("www/1234.pem")).unwrap();
    let mut server = Spawned::start(
        Command::new("openssl")
            .args(["s_server", "-quiet", "-WWW", "-accept", &format!("127.0.0.1:{port}")])
            .args(["-cert", "../tls.pem", "-key", "../tls.key"])
            .current_dir(d.join("www")),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "openssl s_server did not start");
        assert!(server.child.try_wait().unwrap().is_none(), "openssl s_server exited: {}", server.stderr.text());
        std::thread::sleep(Duration::from_millis(50));
    }
    let x5u = format!("https://127.0.0.1:{port}/1234.pem");
    let mut c = vouch(d);
    c.args(["sign", "--key"]).arg(&p.key).args(["--x5u", &x5u, "--orig", "12155551212", "--dest", "12125551213"]);
    let h = ok(run(c.args(["--attest", "A"]), LIMIT)).trim().to_owned();
    let fetch = |extra: &[&str]| p.verify_with(&h, None, extra);
    let (passed, v) = fetch(&["--allow-net", "127.0.0.0/8", "--tls-root", "tls.pem"]);
    assert!(passed, "{v}");
    assert_eq!(v["spc"], "1234");
    // The same URL without the allow-list: a loopback address, refused before connecting.
    let (passed, v) = fetch(&["--tls-root", "tls.pem"]);
    assert!(!passed);
    assert_eq!(v["reasoncode"], 436, "{v}");
    assert!(v["reasondesc"].as_str().unwrap().contains("127.0.0.1"), "{v}");
    // Allowed network, but the server's certificate is not trusted: a TLS failure, 436.
    let (passed, v) = fetch(&["--allow-net", "127.0.0.0/8"]);
    assert!(!passed);
    assert_eq!(v["reasoncode"], 436, "{v}");
}
