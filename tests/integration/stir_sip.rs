//! The SIP redirect server (STI-AS and STI-VS over SIP) driven by SIPp, a real SIP user agent,
//! with the scenarios in `tests/sipp`: signing an unsigned INVITE (the Identity then verified
//! independently by secsipidx, which fetches the x5u from vouch, and by `vouch verify`),
//! verifying signed INVITEs with each refusal code, the RFC 9410 "continue" policy, the
//! Robocall Mitigation Database rule for the upstream peer, OPTIONS, TCP, and malformed
//! datagrams and streams written by hand.
//!
//! Everything binds to and targets 127.0.0.0/8; every SIPp run is bounded (`-m 1`,
//! `-timeout 15s -timeout_error`).

#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{Provider, run, vouch};
use crate::stir_http::{
    DevCa, Issued, LIMIT, Voice, add_block, add_peer, cli_sign, decode, free_tcp_port, free_udp_port,
    free_udp_tcp_port, identity, now, ok, provider, signer, split_identity, tamper_payload, tamper_signature,
};

/// The SIPp scenarios.
fn scenarios() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/sipp")
}

/// What one SIPp run left: its exit status and output, and its `<log>` lines.
#[derive(Debug)]
struct Sipp {
    success: bool,
    stdout: String,
    stderr: String,
    errors: String,
    log: String,
}

impl Sipp {
    /// The value of the `<log message="NAME …">` line, trimmed.
    fn logged(&self, name: &str) -> String {
        self.log
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} line in the SIPp log:\n{}", self.log))
            .trim()
            .to_owned()
    }

    #[track_caller]
    fn assert_ok(&self, what: &str) {
        assert!(
            self.success,
            "{what}: SIPp failed\nlog:\n{}\nerrors:\n{}\nstdout:\n{}\nstderr:\n{}",
            self.log, self.errors, self.stdout, self.stderr
        );
    }
}

/// One call of `scenario` from `local_ip` to `target` over `transport` (`u1`, `t1`), with one
/// injection line (`fields` joined by ';') when given.
fn sipp(
    dir: &Path,
    scenario: &str,
    transport: &str,
    local_ip: &str,
    target: SocketAddr,
    fields: Option<&[&str]>,
) -> Sipp {
    static RUN: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = RUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let log = dir.join(format!("sipp-{n}.log"));
    let errors = dir.join(format!("sipp-{n}-errors.log"));
    let mut c = Command::new("sipp");
    c.current_dir(dir).arg("-sf").arg(scenarios().join(scenario));
    if let Some(f) = fields {
        let inf = dir.join(format!("sipp-{n}.csv"));
        assert!(f.iter().all(|x| !x.contains([';', '\n'])), "SIPp injection fields cannot hold ';': {f:?}");
        std::fs::write(&inf, format!("SEQUENTIAL\n{}\n", f.join(";"))).unwrap();
        c.arg("-inf").arg(inf);
    }
    c.args(["-t", transport, "-i", local_ip, "-bind_local", "-p", &free_udp_tcp_port().to_string()]);
    // The control and media sockets on loopback too, on ports of our choosing.
    c.args([
        "-ci",
        local_ip,
        "-cp",
        &free_udp_port().to_string(),
        "-mi",
        local_ip,
        "-mp",
        &free_udp_port().to_string(),
    ]);
    c.args(["-m", "1", "-l", "1", "-timeout", "15s", "-timeout_error", "-nostdin", "-max_socket", "16"]);
    c.arg("-trace_logs").arg("-log_file").arg(&log).arg("-trace_err").arg("-error_file").arg(&errors);
    c.arg(target.to_string());
    let f = run(c, Duration::from_secs(30));
    Sipp {
        success: f.status.success(),
        stdout: f.stdout,
        stderr: f.stderr,
        errors: std::fs::read_to_string(&errors).unwrap_or_default(),
        log: std::fs::read_to_string(&log).unwrap_or_default(),
    }
}

/// Percent-decoding (RFC 3986).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// A server with a signing provider (SPC 123A, FRN 0055500001) whose SIP peer is 127.0.0.1
/// and who owns +12025550100..199.
async fn signing_setup(flags: &[&str]) -> (Voice, Provider, Issued, String) {
    let v = Voice::start(flags);
    let (p, cert, reg) = signer(&v.s, &v.ca, "Acme Voice LLC", "0055500001", "123A").await;
    add_peer(&v.s, &p, "127.0.0.1").await;
    add_block(&v.s, &p, "+12025550100", "+12025550199").await;
    let x5u = reg["x5u"].as_str().unwrap().to_owned();
    (v, p, cert, x5u)
}

const ORIG: &str = "12025550100";
const DEST: &str = "12025550199";

/// The injection fields of a signed INVITE from `orig` to `dest` carrying `identity`.
fn fields<'a>(orig: &'a str, dest: &'a str, identity: &'a str) -> [&'a str; 4] {
    let (token, info) = split_identity(identity);
    assert!(identity.ends_with(";alg=ES256;ppt=shaken"), "the scenarios add ;alg=ES256;ppt=shaken: {identity}");
    [orig, dest, token, info]
}

fn which(cmd: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| Path::new(d).join(cmd)).find(|p| p.is_file())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stir_sip_unsigned_invite_is_redirected_with_an_identity_that_verifies_independently() {
    let secsipidx = which("secsipidx").expect("secsipidx is not installed (apt-get install secsipidx)");
    let (v, p, _, x5u) = signing_setup(&[]).await;
    let s = &v.s;
    for transport in ["u1", "t1"] {
        let r = sipp(&v.dir, "uac_unsigned.xml", transport, "127.0.0.1", v.sip, Some(&[ORIG, DEST]));
        r.assert_ok(transport);
        let identity = r.logged("IDENTITY");
        // The Contact carries the same header for the re-sent INVITE.
        let contact = r.logged("CONTACT");
        assert!(contact.starts_with(&format!("<sip:+{DEST}@{};user=phone?Identity=", v.sip)), "{contact}");
        assert_eq!(unescape(r.logged("CONTACT_IDENTITY").strip_prefix("?Identity=").unwrap()), identity);
        let (token, info) = split_identity(&identity);
        assert_eq!(info, x5u, "{identity}");
        assert!(identity.ends_with(";alg=ES256;ppt=shaken"), "{identity}");
        let (header, claims) = decode(token);
        assert_eq!(header["x5u"], x5u.as_str());
        assert_eq!((claims["attest"].as_str(), claims["orig"]["tn"].as_str()), (Some("A"), Some(ORIG)), "{claims}");
        assert_eq!(claims["dest"]["tn"][0], DEST, "{claims}");
        assert!((claims["iat"].as_i64().unwrap() - now()).abs() <= 5, "{claims}");

        // secsipidx fetches the chain from vouch's x5u over HTTP and checks the signature, the
        // expiry and the chain to the development root.
        let check = |id: &str| {
            Command::new(&secsipidx)
                .args(["-check", "-expire", "60", "-identity", id, "-fpubkey", &x5u, "-cert-verify", "5", "-ca-file"])
                .arg(v.ca.root())
                .output()
                .unwrap()
        };
        let o = check(&identity);
        assert!(
            o.status.success(),
            "{transport}: secsipidx refused {identity}: {}",
            String::from_utf8_lossy(&o.stdout)
        );
        assert!(!check(&tamper_signature(&identity)).status.success(), "secsipidx accepted a tampered signature");
        let other = DevCa::init(&v.dir, &format!("other-{transport}"));
        let o = Command::new(&secsipidx)
            .args([
                "-check",
                "-expire",
                "60",
                "-identity",
                &identity,
                "-fpubkey",
                &x5u,
                "-cert-verify",
                "5",
                "-ca-file",
            ])
            .arg(other.root())
            .output()
            .unwrap();
        assert!(!o.status.success(), "secsipidx accepted a chain to another root");

        // vouch verify, with the chain as served at x5u.
        let pem = s.get(x5u.strip_prefix(&s.base).unwrap(), None).await;
        assert_eq!(pem.status.as_u16(), 200);
        let chain = v.file(&format!("x5u-{transport}.pem"));
        std::fs::write(&chain, &pem.text).unwrap();
        let mut c = vouch(&v.dir);
        c.args(["verify", "--json", "--identity", &identity, "--cert"]).arg(&chain).arg("--trust").arg(&v.trust);
        let out: Value = serde_json::from_str(&ok(run(c.args(["--orig", ORIG, "--dest", DEST]), LIMIT))).unwrap();
        assert_eq!(out["verstat"], "TN-Validation-Passed", "{out}");
        assert_eq!((out["attest"].as_str(), out["spc"].as_str()), (Some("A"), Some("123A")), "{out}");

        // The call is on record under its origid.
        let path = format!("/v1/signed-calls/{}", claims["origid"].as_str().unwrap());
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let r = s.get(&path, Some(&p.key)).await;
            if r.status.as_u16() == 200 {
                assert_eq!((r.json["attest"].as_str(), r.json["orig"].as_str()), (Some("A"), Some(ORIG)), "{}", r.text);
                break;
            }
            assert!(Instant::now() < deadline, "{path} never recorded");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stir_sip_signed_invites_are_verified_or_refused_with_the_rfc_8224_code() {
    let (v, p, cert, x5u) = signing_setup(&["--x5u-allow-net", "127.0.0.0/8"]).await;
    let s = &v.s;
    let dir = &v.dir;
    let call = |scenario: &str, transport: &str, local: &str, f: &[&str]| {
        sipp(dir, scenario, transport, local, v.sip, Some(f))
    };

    // Valid: 302 with verstat=TN-Validation-Passed, over UDP and over TCP.
    for transport in ["u1", "t1"] {
        let id = identity(s, &p, ORIG, DEST).await;
        let r = call("uac_signed.xml", transport, "127.0.0.1", &fields(ORIG, DEST, &id));
        r.assert_ok(&format!("valid over {transport}"));
        let pai = r.logged("PAI");
        assert!(
            pai.contains(&format!("<sip:+{ORIG}@127.0.0.1")) && pai.ends_with(";verstat=TN-Validation-Passed>"),
            "{pai}"
        );
    }
    // Tampered payload: 438.
    let id = tamper_payload(&identity(s, &p, ORIG, DEST).await);
    let r = call("uac_expect_438.xml", "u1", "127.0.0.1", &fields(ORIG, DEST, &id));
    r.assert_ok("tampered payload");
    // Tampered signature: 438, and the reason says so.
    let id = tamper_signature(&identity(s, &p, ORIG, DEST).await);
    let r = call("uac_expect_438.xml", "u1", "127.0.0.1", &fields(ORIG, DEST, &id));
    r.assert_ok("tampered signature");
    assert!(r.logged("REASON").to_lowercase().contains("signature"), "{}", r.log);
    // Signed for another calling number: 438.
    let id = identity(s, &p, "12025550101", DEST).await;
    let r = call("uac_expect_438.xml", "u1", "127.0.0.1", &fields(ORIG, DEST, &id));
    r.assert_ok("wrong calling number");
    assert!(r.logged("REASON").contains("orig"), "{}", r.log);
    // Signed by the provider's own key ten minutes ago: 403 Stale Date.
    let old = (now() - 600).to_string();
    let id = cli_sign(dir, &cert, &x5u, ORIG, DEST, &["--iat", &old]);
    let r = call("uac_expect_403.xml", "u1", "127.0.0.1", &fields(ORIG, DEST, &id));
    r.assert_ok("stale iat");
    // x5u nobody serves (a loopback port that is not listening, allowed for the test): 436.
    let gone = format!("https://127.0.0.1:{}/cert.pem", free_tcp_port());
    let id = cli_sign(dir, &cert, &gone, ORIG, DEST, &[]);
    let r = call("uac_expect_436.xml", "u1", "127.0.0.1", &fields(ORIG, DEST, &id));
    r.assert_ok("unreachable x5u");
    // From a source that is no registered peer: 403 whatever it carries.
    let id = identity(s, &p, ORIG, DEST).await;
    let r = call("uac_expect_403.xml", "u1", "127.0.0.2", &fields(ORIG, DEST, &id));
    r.assert_ok("unknown source");
    assert!(r.logged("REASON").contains("127.0.0.2 is not a registered SIP peer"), "{}", r.log);

    // The Robocall Mitigation Database: a second provider peers from 127.0.0.2. Before any
    // import its calls are verified; after an import that lists only the first provider,
    // calls it hands over are declined (603) while the first provider's still pass.
    let q = provider(s, "Bravo Voice LLC", &["voice"], Some("0055500002"), Some("456B")).await;
    add_peer(s, &q, "127.0.0.2").await;
    let id = identity(s, &p, ORIG, DEST).await;
    call("uac_signed.xml", "u1", "127.0.0.2", &fields(ORIG, DEST, &id)).assert_ok("second peer before the RMD import");
    let csv = "number,frn,business_name,implementation,voice_service_provider_choice,gateway_provider_choice,intermediate_provider_choice,last_updated\n\
        RMD0000001,0055500001,Acme Voice LLC,Complete STIR/SHAKEN Implementation,Yes,No,No,2025-01-15\n";
    let file = v.file("rmd.csv");
    std::fs::write(&file, csv).unwrap();
    let mut c = vouch(dir);
    c.args(["import", "rmd"]).arg(&file).args(["--server", &s.base, "--api-key", &s.admin]);
    assert!(ok(run(c, LIMIT)).contains("imported 1 RMD filings"));
    let id = identity(s, &p, ORIG, DEST).await;
    let r = call("uac_expect_603.xml", "u1", "127.0.0.2", &fields(ORIG, DEST, &id));
    r.assert_ok("upstream absent from the RMD");
    assert!(r.logged("REASON").contains("Robocall Mitigation Database"), "{}", r.log);
    let r = call("uac_expect_603.xml", "t1", "127.0.0.2", &fields(ORIG, DEST, &id));
    r.assert_ok("upstream absent from the RMD, over TCP");
    // The 603s did not consume the PASSporT: its first real presentation passes.
    call("uac_signed.xml", "u1", "127.0.0.1", &fields(ORIG, DEST, &id)).assert_ok("listed upstream after the import");
    // Presented again for another call (a new Call-ID): a replay, 438.
    let r = call("uac_expect_438.xml", "u1", "127.0.0.1", &fields(ORIG, DEST, &id));
    r.assert_ok("replayed PASSporT");
    assert!(r.logged("REASON").contains("already presented"), "{}", r.log);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stir_sip_a_chain_to_an_untrusted_root_is_437() {
    let (mut v, p, _, _) = signing_setup(&[]).await;
    // A second provider whose certificate comes from a second development CA, trusted while
    // it registers, then no longer (the trust directory is read at start).
    let ca2 = DevCa::init(&v.dir, "ca2");
    ca2.trust_into(&v.trust, "second");
    v.restart();
    let (q, cert2, reg2) = signer(&v.s, &ca2, "Bravo Voice LLC", "0055500002", "456B").await;
    let x5u2 = reg2["x5u"].as_str().unwrap().to_owned();
    let id = identity(&v.s, &q, ORIG, DEST).await;
    sipp(&v.dir, "uac_signed.xml", "u1", "127.0.0.1", v.sip, Some(&fields(ORIG, DEST, &id))).assert_ok("trusted");
    for f in ["root.pem", "crl-signer.pem"] {
        std::fs::remove_file(v.trust.join(format!("second-{f}"))).unwrap();
    }
    v.restart();
    let id = cli_sign(&v.dir, &cert2, &x5u2, ORIG, DEST, &[]);
    let r = sipp(&v.dir, "uac_expect_437.xml", "u1", "127.0.0.1", v.sip, Some(&fields(ORIG, DEST, &id)));
    r.assert_ok("untrusted root");
    // The first provider's calls still verify.
    let id = identity(&v.s, &p, ORIG, DEST).await;
    sipp(&v.dir, "uac_signed.xml", "u1", "127.0.0.1", v.sip, Some(&fields(ORIG, DEST, &id))).assert_ok("trusted root");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stir_sip_a_signing_certificate_revoked_by_a_crl_of_the_trust_dir_signs_nothing() {
    let (mut v, p, cert, _) = signing_setup(&[]).await;
    let from = format!("<sip:+{ORIG}@127.0.0.1;user=phone>");
    let a = datagram(v.sip, invite("before", &from, &[]).as_bytes(), Duration::from_secs(5)).expect("no answer");
    assert!(a.starts_with("SIP/2.0 302 ") && sip_header(&a, "Identity").is_some(), "{a}");
    // The CA revokes the certificate; the CRL goes into the trust directory (read at start).
    let crl = v.ca.revoke(&cert);
    std::fs::copy(crl, v.trust.join("dev.crl")).unwrap();
    v.restart();
    // As when the provider has no certificate: marked No-TN-Validation, nothing signed.
    let a = datagram(v.sip, invite("after", &from, &[]).as_bytes(), Duration::from_secs(5)).expect("no answer");
    assert!(a.starts_with("SIP/2.0 302 ") && sip_header(&a, "Identity").is_none(), "{a}");
    assert!(sip_header(&a, "P-Asserted-Identity").unwrap().ends_with(";verstat=No-TN-Validation>"), "{a}");
    // Over HTTP: refused, saying why.
    let r = crate::stir_http::stir_post(
        &v.s,
        "/stir/v1/signing",
        &p.key,
        &crate::stir_http::signing_request("A", ORIG, DEST),
    )
    .await;
    let e = r.exception(403, "VOUCH4030", "");
    assert!(e["variables"][0].as_str().unwrap().contains("revoked"), "{e}");
    // A new certificate: signed again.
    crate::stir_http::register_certificate(&v.s, &p, &v.ca.issue("123A")).await.ok(201);
    let a = datagram(v.sip, invite("renewed", &from, &[]).as_bytes(), Duration::from_secs(5)).expect("no answer");
    assert!(a.starts_with("SIP/2.0 302 ") && sip_header(&a, "Identity").is_some(), "{a}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stir_a_lapsed_crl_still_revokes_and_require_crl_fails_closed_without_a_current_one() {
    let (mut v, p, cert, _) = signing_setup(&[]).await;
    let (ca_dir, trust) = (v.ca.dir.clone(), v.trust.clone());
    let crl_at = |at: i64| {
        let t = jiff::Timestamp::from_second(at).unwrap().to_string();
        ok(run(vouch(&ca_dir).args(["ca", "crl", "--dir", ".", "--days", "1", "--at", &t]), LIMIT));
        std::fs::copy(ca_dir.join("crl.der"), trust.join("dev.crl")).unwrap();
    };
    // The certificate is revoked by a CRL whose nextUpdate passed 30 minutes ago (the cron
    // job fetching the STI-PA CRL lapsed). The server still starts, and the revocation holds.
    ok(run(vouch(&v.ca.dir).args(["ca", "revoke", "--dir", "."]).arg(&cert.chain), LIMIT));
    crl_at(now() - 86_400 - 1_800);
    v.restart();
    let said = format!("{}{}", v.s.stdout.text(), v.s.stderr.text());
    assert!(said.contains("past its nextUpdate"), "no warning about the lapsed CRL: {said}");
    let r = crate::stir_http::stir_post(
        &v.s,
        "/stir/v1/signing",
        &p.key,
        &crate::stir_http::signing_request("A", ORIG, DEST),
    )
    .await;
    let e = r.exception(403, "VOUCH4030", "");
    assert!(e["variables"][0].as_str().unwrap().contains("revoked"), "{e}");

    // With --require-crl a lapsed CRL covers nothing: a new certificate does not register.
    v.flags.push("--require-crl".into());
    v.restart();
    let renewed = v.ca.issue("123A");
    let r = crate::stir_http::register_certificate(&v.s, &p, &renewed).await;
    assert_eq!(r.status.as_u16(), 422, "{}", r.text);
    assert!(r.text.contains("no CRL in effect covers"), "{}", r.text);
    // A current CRL covers it: it registers, signs, and what it signs verifies.
    crl_at(now());
    v.restart();
    crate::stir_http::register_certificate(&v.s, &p, &renewed).await.ok(201);
    let id = identity(&v.s, &p, ORIG, DEST).await;
    let out = crate::stir_http::verify(&v.s, &p.key, &crate::stir_http::verification_request(ORIG, DEST, &id)).await;
    assert_eq!(out["verstat"], "TN-Validation-Passed", "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stir_sip_a_verify_only_peer_gets_its_unsigned_calls_marked_never_signed() {
    let (v, p, cert, x5u) = signing_setup(&[]).await;
    // The provider's terminating SBC asks only for verification.
    let body = serde_json::json!({ "address": "127.0.0.2", "verifyOnly": true });
    let r = v.s.post(&format!("/v1/providers/{}/sip-peers", p.id), &p.key, &body).await;
    assert_eq!(r.ok(201)["verifyOnly"], true);
    let wait = Duration::from_secs(5);
    let from = format!("<sip:+{ORIG}@127.0.0.1>");
    // An unsigned call from the originating SBC is signed …
    let a = datagram(v.sip, invite("from-orig", &from, &[]).as_bytes(), wait).expect("no answer");
    assert!(a.starts_with("SIP/2.0 302 ") && sip_header(&a, "Identity").is_some(), "{a}");
    // … but the same call reaching the terminating SBC unsigned (an upstream did not sign it)
    // is marked, not signed for this provider.
    let a = datagram_from("127.0.0.2", v.sip, invite("from-term", &from, &[]).as_bytes(), wait).expect("no answer");
    assert!(a.starts_with("SIP/2.0 302 ") && sip_header(&a, "Identity").is_none(), "{a}");
    assert!(sip_header(&a, "P-Asserted-Identity").unwrap_or_default().ends_with(";verstat=No-TN-Validation>"), "{a}");
    // A signed call from it is verified as from any peer.
    let id = cli_sign(&v.dir, &cert, &x5u, ORIG, DEST, &[]);
    let signed = invite("signed-term", &from, &[format!("Identity: {id}")]);
    let a = datagram_from("127.0.0.2", v.sip, signed.as_bytes(), wait).expect("no answer");
    assert!(
        sip_header(&a, "P-Asserted-Identity").unwrap_or_default().ends_with(";verstat=TN-Validation-Passed>"),
        "{a}"
    );
    let peers = v.s.get(&format!("/v1/providers/{}/sip-peers", p.id), Some(&p.key)).await.ok(200).clone();
    let flags: Vec<(String, bool)> = peers
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["address"].as_str().unwrap().to_owned(), x["verifyOnly"].as_bool().unwrap()))
        .collect();
    assert_eq!(flags, [("127.0.0.1/32".to_owned(), false), ("127.0.0.2/32".to_owned(), true)]);
    let metrics = v.s.get("/metrics", None).await.text;
    assert!(metrics.lines().any(|l| l == "vouch_stir_signed_total{attest=\"A\"} 1"), "one call signed: {metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stir_sip_with_verify_failure_continue_a_failure_is_a_302_marked_failed() {
    let (v, p, cert, x5u) = signing_setup(&["--verify-failure", "continue", "--require-identity"]).await;
    let id = tamper_signature(&identity(&v.s, &p, ORIG, DEST).await);
    let r = sipp(&v.dir, "uac_expect_302_failed.xml", "u1", "127.0.0.1", v.sip, Some(&fields(ORIG, DEST, &id)));
    r.assert_ok("continue policy");
    assert!(r.logged("REASON").starts_with("STIR;cause=438;text=\""), "{}", r.log);
    // A valid one is unaffected.
    let id = identity(&v.s, &p, ORIG, DEST).await;
    sipp(&v.dir, "uac_signed.xml", "u1", "127.0.0.1", v.sip, Some(&fields(ORIG, DEST, &id))).assert_ok("valid");
    // With --require-identity, an unsigned INVITE from a peer whose provider cannot be signed
    // for is refused 428 (RFC 8224) instead of marked.
    let q = provider(&v.s, "Bravo Voice LLC", &["voice"], Some("0055500002"), Some("456B")).await;
    add_peer(&v.s, &q, "127.0.0.2").await;
    let m = invite("needs-identity", &format!("<sip:+{ORIG}@127.0.0.1;user=phone>"), &[]);
    let a = datagram_from("127.0.0.2", v.sip, m.as_bytes(), Duration::from_secs(5)).expect("no answer");
    assert!(a.starts_with("SIP/2.0 428 "), "{a}");
    // The provider that has a certificate is still signed for.
    let a = datagram(
        v.sip,
        invite("signed-anyway", &format!("<sip:+{ORIG}@127.0.0.1;user=phone>"), &[]).as_bytes(),
        Duration::from_secs(5),
    )
    .expect("no answer");
    assert!(a.starts_with("SIP/2.0 302 ") && sip_header(&a, "Identity").is_some(), "{a}");
    // A stale PASSporT continues marked No-TN-Validation, with the 403 as the STIR reason, in
    // the 302 and in its Contact.
    let from = format!("<sip:+{ORIG}@127.0.0.1;user=phone>");
    let stale = cli_sign(&v.dir, &cert, &x5u, ORIG, DEST, &["--iat", &(now() - 600).to_string()]);
    let a = datagram(v.sip, invite("stale", &from, &[format!("Identity: {stale}")]).as_bytes(), Duration::from_secs(5))
        .expect("no answer");
    assert!(a.starts_with("SIP/2.0 302 "), "{a}");
    assert!(sip_header(&a, "P-Asserted-Identity").unwrap().ends_with(";verstat=No-TN-Validation>"), "{a}");
    assert!(sip_header(&a, "Reason").unwrap().starts_with("STIR;cause=403;text=\""), "{a}");
    let contact = unescape(sip_header(&a, "Contact").unwrap());
    assert!(contact.contains("?P-Asserted-Identity=") && contact.contains("&Reason=STIR;cause=403;"), "{contact}");
    // The RMD rule is not a verification failure: it refuses even under "continue".
    let csv = "number,frn,business_name,implementation,voice_service_provider_choice,gateway_provider_choice,intermediate_provider_choice,last_updated\n\
        RMD0000001,0055500001,Acme Voice LLC,Complete STIR/SHAKEN Implementation,Yes,No,No,2025-01-15\n";
    let r = v.s.raw(reqwest::Method::POST, "/v1/rmd", Some(&v.s.admin), Some("text/csv"), Some(csv.into())).await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text);
    let id = identity(&v.s, &p, ORIG, DEST).await;
    let m = invite("rmd-continue", &from, &[format!("Identity: {id}")]);
    let a = datagram_from("127.0.0.2", v.sip, m.as_bytes(), Duration::from_secs(5)).expect("no answer");
    assert!(a.starts_with("SIP/2.0 603 ") && sip_header(&a, "Reason").unwrap().starts_with("SIP;cause=603;"), "{a}");
}

/// Sends one datagram from 127.0.0.1 and waits up to `wait` for an answer.
fn datagram(to: SocketAddr, bytes: &[u8], wait: Duration) -> Option<String> {
    datagram_from("127.0.0.1", to, bytes, wait)
}

/// Sends one datagram from `source` (a loopback address) and waits up to `wait` for an answer.
fn datagram_from(source: &str, to: SocketAddr, bytes: &[u8], wait: Duration) -> Option<String> {
    let sock = UdpSocket::bind((source, 0)).unwrap();
    sock.send_to(bytes, to).unwrap();
    sock.set_read_timeout(Some(wait)).unwrap();
    let mut buf = vec![0u8; 65_536];
    match sock.recv_from(&mut buf) {
        Ok((n, _)) => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
        Err(_) => None,
    }
}

/// The five headers a stateless 400 needs, for Call-ID `id`.
fn head(method: &str, id: &str) -> String {
    format!(
        "{method} sip:+{DEST}@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;rport;branch=z9hG4bK-{id}\r\n\
         From: <sip:+{ORIG}@127.0.0.1>;tag=t-{id}\r\nTo: <sip:+{DEST}@127.0.0.1>\r\nCall-ID: {id}@127.0.0.1\r\n\
         CSeq: 1 {method}\r\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stir_sip_options_malformed_messages_and_oversized_streams_leave_the_server_serving() {
    let (v, _, _, _) = signing_setup(&[]).await;
    let options = |what: &str| {
        let r = sipp(&v.dir, "uac_options.xml", "u1", "127.0.0.1", v.sip, None);
        r.assert_ok(what);
        assert!(r.logged("ALLOW").contains("INVITE"), "{}", r.log);
    };
    options("OPTIONS");
    let wait = Duration::from_millis(1500);
    let bad_request = |what: &str, bytes: &[u8], id: &str| {
        let answer = datagram(v.sip, bytes, wait).unwrap_or_else(|| panic!("{what}: no answer"));
        assert!(answer.starts_with("SIP/2.0 400 "), "{what}: {answer}");
        assert!(answer.contains(&format!("Call-ID: {id}@127.0.0.1\r\n")), "{what}: {answer}");
        assert!(answer.contains(&format!("branch=z9hG4bK-{id}")), "{what}: {answer}");
    };
    // A header line without a colon.
    bad_request(
        "header without ':'",
        format!("{}Garbage line\r\nContent-Length: 0\r\n\r\n", head("INVITE", "nocolon")).as_bytes(),
        "nocolon",
    );
    // A folded line before any header.
    let folded_first = head("INVITE", "fold1").replacen("\r\nVia:", "\r\n continued\r\nVia:", 1);
    bad_request("continuation line first", format!("{folded_first}Content-Length: 0\r\n\r\n").as_bytes(), "fold1");
    // One header over 16 KiB (the datagram itself under 64 KiB).
    let big = format!("{}X-Big: {}\r\nContent-Length: 0\r\n\r\n", head("INVITE", "bighdr"), "a".repeat(60_000));
    bad_request("a 60 KB header", big.as_bytes(), "bighdr");
    // Thousands of Identity headers (more than the 256 headers a message may have).
    let many = format!(
        "{}{}Content-Length: 0\r\n\r\n",
        head("INVITE", "manyid"),
        "Identity: a.b.c;info=<https://x.example/a.pem>\r\n".repeat(1200)
    );
    assert!(many.len() < 65_000);
    bad_request("1200 Identity headers", many.as_bytes(), "manyid");
    // Content-Length larger than the body.
    bad_request(
        "short body",
        format!("{}Content-Length: 500\r\n\r\nv=0\r\n", head("INVITE", "short")).as_bytes(),
        "short",
    );
    // A CSeq that does not name the method.
    let cseq = head("INVITE", "cseq").replace("CSeq: 1 INVITE", "CSeq: 1 OPTIONS");
    bad_request("CSeq of another method", format!("{cseq}Content-Length: 0\r\n\r\n").as_bytes(), "cseq");

    // Folded header lines are legal SIP: an OPTIONS with one is answered 200.
    let folded = format!("{}Subject: a folded\r\n  header line\r\nContent-Length: 0\r\n\r\n", head("OPTIONS", "fold2"));
    let answer = datagram(v.sip, folded.as_bytes(), wait).expect("no answer to a folded OPTIONS");
    assert!(answer.starts_with("SIP/2.0 200 "), "{answer}");
    // Compact header names too.
    let compact = "OPTIONS sip:127.0.0.1 SIP/2.0\r\nv: SIP/2.0/UDP 127.0.0.1:5999;rport;branch=z9hG4bK-compact\r\n\
         f: <sip:a@127.0.0.1>;tag=1\r\nt: <sip:b@127.0.0.1>\r\ni: compact@127.0.0.1\r\nCSeq: 7 OPTIONS\r\nl: 0\r\n\r\n";
    let answer = datagram(v.sip, compact.as_bytes(), wait).expect("no answer to a compact OPTIONS");
    assert!(answer.starts_with("SIP/2.0 200 ") && answer.contains("Call-ID: compact@127.0.0.1"), "{answer}");

    // Nothing a stateless 400 could be addressed with: no answer (and no crash).
    let no_call_id = head("INVITE", "nocid").replace("Call-ID: nocid@127.0.0.1\r\n", "");
    for (what, bytes) in [
        ("no Call-ID", format!("{no_call_id}Content-Length: 0\r\n\r\n").into_bytes()),
        ("binary noise", (0..2000u32).map(|i| (i * 7919 % 251) as u8).collect()),
        ("a response", b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5999\r\nContent-Length: 0\r\n\r\n".to_vec()),
        ("an ACK", format!("{}Content-Length: 0\r\n\r\n", head("ACK", "ack")).into_bytes()),
        ("empty", Vec::new()),
    ] {
        let answer = datagram(v.sip, &bytes, Duration::from_millis(500));
        assert!(answer.is_none(), "{what}: {answer:?}");
    }
    // A head that is not UTF-8, but whose five headers are: 400.
    bad_request("not UTF-8", &[head("INVITE", "utf").as_bytes(), b"X-Bad: \xff\xfe\r\n\r\n"].concat(), "utf");

    // Over TCP: a stream that never ends a head, one byte over the 65,535-byte limit (exactly
    // that many, so that the server has read everything when it gives up and closes with a
    // FIN rather than a reset): answered 400, as its head allows, and closed. (70 KB cannot
    // be one UDP datagram over IPv4; the 60 KB-header datagram above is the UDP case.)
    let mut stream = TcpStream::connect(v.sip).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    stream.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut flood = format!("{}X-Flood: ", head("INVITE", "flood")).into_bytes();
    flood.resize(65_536, b'b');
    stream.write_all(&flood).unwrap();
    let mut got = Vec::new();
    let _ = stream.read_to_end(&mut got);
    let got = String::from_utf8_lossy(&got);
    assert!(
        got.starts_with("SIP/2.0 400 ") && got.contains("Call-ID: flood@127.0.0.1"),
        "an unframeable stream whose head has the five headers should get its 400: {got:?}"
    );
    // Two messages in one segment over TCP are both answered (each as soon as it is ready).
    let mut stream = TcpStream::connect(v.sip).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let two = format!(
        "{}Content-Length: 0\r\n\r\n{}Content-Length: 0\r\n\r\n",
        head("OPTIONS", "tcp1"),
        head("OPTIONS", "tcp2")
    );
    stream.write_all(two.as_bytes()).unwrap();
    let mut got = String::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = [0u8; 4096];
    while got.matches("SIP/2.0 200 ").count() < 2 && Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    assert!(got.contains("Call-ID: tcp1@") && got.contains("Call-ID: tcp2@"), "{got}");

    // Still serving, over UDP (SIPp) and HTTP.
    options("OPTIONS after the malformed messages");
    v.s.health().await;
}

/// An INVITE with Call-ID `id`, `from` as From, and `extra` header lines.
fn invite(id: &str, from: &str, extra: &[String]) -> String {
    let mut m = format!(
        "INVITE sip:+{DEST}@127.0.0.1;user=phone SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;rport;branch=z9hG4bK-{id}\r\n\
         From: {from};tag=t-{id}\r\nTo: <sip:+{DEST}@127.0.0.1;user=phone>\r\nCall-ID: {id}@127.0.0.1\r\n\
         CSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"
    );
    for e in extra {
        m.push_str(e);
        m.push_str("\r\n");
    }
    m.push_str("Content-Length: 0\r\n\r\n");
    m
}

/// The value of the first header `name` of a SIP message.
fn sip_header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.split("\r\n").find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stir_sip_retransmissions_compact_and_several_identity_headers_pai_and_customer_trunks() {
    let (v, p, _, _) = signing_setup(&[]).await;
    let s = &v.s;
    let from = format!("<sip:+{ORIG}@127.0.0.1;user=phone>");
    let send = |source: &str, msg: &str| {
        datagram_from(source, v.sip, msg.as_bytes(), Duration::from_secs(5))
            .unwrap_or_else(|| panic!("no answer to\n{msg}"))
    };
    let passed = |answer: &str| {
        assert!(answer.starts_with("SIP/2.0 302 "), "{answer}");
        let pai = sip_header(answer, "P-Asserted-Identity").unwrap_or_else(|| panic!("no PAI: {answer}"));
        assert!(pai.ends_with(";verstat=TN-Validation-Passed>"), "{answer}");
        pai.to_owned()
    };

    // A UDP retransmission (same Call-ID) is the same call, verified again; the same PASSporT
    // under another Call-ID is a replay.
    let id = identity(s, &p, ORIG, DEST).await;
    let m = invite("retx", &from, &[format!("Identity: {id}")]);
    for _ in 0..2 {
        passed(&send("127.0.0.1", &m));
    }
    // An unsigned INVITE retransmitted gets the first answer again, byte for byte: one
    // signature and one origid per call. A new transaction (another branch and CSeq) of the
    // same call is signed anew.
    let m = invite("retx-unsigned", &from, &[]);
    let sbc = UdpSocket::bind("127.0.0.1:0").unwrap();
    sbc.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let exchange = |msg: &str| {
        sbc.send_to(msg.as_bytes(), v.sip).unwrap();
        let mut buf = vec![0u8; 65_536];
        let n = sbc.recv(&mut buf).expect("an answer");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let first = exchange(&m);
    assert!(first.starts_with("SIP/2.0 302 ") && sip_header(&first, "Identity").is_some(), "{first}");
    assert_eq!(exchange(&m), first);
    // From another port it is another sender: answered afresh (its own rport).
    let elsewhere = send("127.0.0.1", &m);
    assert_ne!(sip_header(&elsewhere, "Identity"), sip_header(&first, "Identity"));
    let next = m.replace("z9hG4bK-retx-unsigned", "z9hG4bK-retx-unsigned-2").replace("CSeq: 1 ", "CSeq: 2 ");
    let next = exchange(&next);
    assert!(next.starts_with("SIP/2.0 302 "), "{next}");
    assert_ne!(sip_header(&next, "Identity"), sip_header(&first, "Identity"));
    let metrics = s.get("/metrics", None).await.text;
    assert!(metrics.lines().any(|l| l.starts_with("vouch_sip_retransmissions_total{answer=\"again\"} ")), "{metrics}");
    let a = send("127.0.0.1", &invite("retx-other-call", &from, &[format!("Identity: {id}")]));
    assert!(a.starts_with("SIP/2.0 438 "), "{a}");
    assert!(sip_header(&a, "Reason").unwrap().contains("already presented"), "{a}");
    // The compact form of the header name (RFC 8224: y).
    let id = identity(s, &p, ORIG, DEST).await;
    passed(&send("127.0.0.1", &invite("compact-y", &from, &[format!("y: {id}")])));
    // Several Identity headers: the SHAKEN one is verified, whatever comes first.
    let id = identity(s, &p, ORIG, DEST).await;
    let div = "eyJhbGciOiJFUzI1NiJ9.e30.c2ln;info=<https://cert.example.org/div.pem>;alg=ES256;ppt=div".to_owned();
    passed(&send("127.0.0.1", &invite("two-ids", &from, &[format!("Identity: {div}"), format!("Identity: {id}")])));
    // Several SHAKEN ones: the first that verifies decides (RFC 9410: one with an error does not
    // fail the call); when none verifies, the first one's failure is the answer.
    let id = identity(s, &p, ORIG, DEST).await;
    let bad = tamper_signature(&identity(s, &p, ORIG, DEST).await);
    let m = invite("bad-then-good", &from, &[format!("Identity: {bad}"), format!("Identity: {id}")]);
    passed(&send("127.0.0.1", &m));
    let worse = tamper_signature(&identity(s, &p, ORIG, DEST).await);
    let a = send("127.0.0.1", &invite("two-bad", &from, &[format!("Identity: {bad}"), format!("Identity: {worse}")]));
    assert!(a.starts_with("SIP/2.0 438 "), "{a}");
    // The calling number from P-Asserted-Identity, before an anonymous From; the answer marks
    // the PAI (display name kept).
    let id = identity(s, &p, ORIG, DEST).await;
    let pai = format!("P-Asserted-Identity: \"Front Desk\" <sip:+{ORIG}@127.0.0.1;user=phone>");
    let m = invite("pai", "\"Anonymous\" <sip:anonymous@anonymous.invalid>", &[pai, format!("Identity: {id}")]);
    let marked = passed(&send("127.0.0.1", &m));
    assert_eq!(marked, format!("\"Front Desk\" <sip:+{ORIG}@127.0.0.1;user=phone;verstat=TN-Validation-Passed>"));
    // No telephone number to verify against, or to sign for: 400 with a Warning.
    let id = identity(s, &p, ORIG, DEST).await;
    let a = send("127.0.0.1", &invite("alice", "<sip:alice@example.com>", &[format!("Identity: {id}")]));
    assert!(a.starts_with("SIP/2.0 400 ") && sip_header(&a, "Warning").is_some(), "{a}");
    let a = send("127.0.0.1", &invite("alice-unsigned", "<sip:alice@example.com>", &[]));
    assert!(a.starts_with("SIP/2.0 400 "), "{a}");
    // Other methods: 405 with Allow (CANCEL is ignored, as a stateless server must).
    let a = send("127.0.0.1", &format!("{}Content-Length: 0\r\n\r\n", head("REGISTER", "register")));
    assert!(a.starts_with("SIP/2.0 405 ") && sip_header(&a, "Allow").is_some_and(|v| v.contains("INVITE")), "{a}");

    // A number of a VETTED_VERIFIED brand's campaign: signed with rcd.nam, and the verified
    // caller name becomes the display name of the marked identity.
    let dca = s.dca("Carrier Connect LLC").await;
    let mut listed = crate::harness::other_brand_json();
    listed["entityType"] = serde_json::json!("PUBLIC_PROFIT");
    listed["stockSymbol"] = serde_json::json!("INIT");
    listed["stockExchange"] = serde_json::json!("NASDAQ");
    let vv = s.brand_with(&p, &listed).await;
    assert_eq!(vv["identityStatus"], "VETTED_VERIFIED", "{vv:#}");
    let c = s.post("/v1/campaigns", &p.key, &crate::harness::campaign_json(vv["brandId"].as_str().unwrap())).await;
    let campaign = c.ok(201)["campaignId"].as_str().unwrap().to_owned();
    s.share_and_accept(&p, &campaign, &dca).await;
    s.assign(&dca.key, "+15125550177", &campaign).await.ok(201);
    let id = identity(s, &p, "15125550177", DEST).await;
    let (_, claims) = decode(split_identity(&id).0);
    assert_eq!(claims["rcd"]["nam"], vv["displayName"], "{claims}");
    let m = invite("caller-name", "\"Whoever\" <sip:+15125550177@127.0.0.1;user=phone>", &[format!("Identity: {id}")]);
    let marked = passed(&send("127.0.0.1", &m));
    assert_eq!(
        marked,
        format!(
            "\"{}\" <sip:+15125550177@127.0.0.1;user=phone;verstat=TN-Validation-Passed>",
            vv["displayName"].as_str().unwrap()
        )
    );
    assert_eq!(vv["callerName"], vv["displayName"], "{vv:#}");
    // Renamed to something that is not the vetted company: the legal name is signed instead,
    // so the brand's CSP cannot present any name it likes as verified.
    let mut renamed = listed.clone();
    renamed["displayName"] = serde_json::json!("IRS Collections");
    let vv_id = vv["brandId"].as_str().unwrap();
    let after = s.put(&format!("/v1/brands/{vv_id}"), &p.key, &renamed).await.ok(200).clone();
    assert_eq!((&after["identityStatus"], &after["callerName"]), (&vv["identityStatus"], &listed["companyName"]));
    let id = identity(s, &p, "15125550177", DEST).await;
    let (_, claims) = decode(split_identity(&id).0);
    assert_eq!(claims["rcd"]["nam"], listed["companyName"], "{claims}");

    // A customer trunk (a peer registered with one of the provider's brands): a number that is
    // not the brand's is signed B; from the provider's own peer, C.
    let brand = s.verified_brand(&p).await;
    let body = serde_json::json!({ "address": "127.0.0.3", "brandId": brand });
    s.post(&format!("/v1/providers/{}/sip-peers", p.id), &p.key, &body).await.ok(201);
    let stranger = "<sip:+13105550111@127.0.0.1;user=phone>";
    for (source, attest) in [("127.0.0.3", "B"), ("127.0.0.1", "C")] {
        let a = send(source, &invite(&format!("trunk-{attest}"), stranger, &[]));
        assert!(a.starts_with("SIP/2.0 302 "), "{a}");
        let id = sip_header(&a, "Identity").unwrap_or_else(|| panic!("no Identity: {a}"));
        let (_, claims) = decode(split_identity(id).0);
        assert_eq!(claims["attest"], attest, "from {source}: {claims}");
        assert_eq!(claims["orig"]["tn"], "13105550111", "{claims}");
    }
    // A peer whose provider has no certificate: nothing to sign with, so the call goes on
    // marked No-TN-Validation (without --require-identity).
    let q = provider(s, "Bravo Voice LLC", &["voice"], Some("0055500002"), Some("456B")).await;
    add_peer(s, &q, "127.0.0.2").await;
    let a = send("127.0.0.2", &invite("uncertified", &from, &[]));
    assert!(a.starts_with("SIP/2.0 302 ") && sip_header(&a, "Identity").is_none(), "{a}");
    assert!(sip_header(&a, "P-Asserted-Identity").unwrap().ends_with(";verstat=No-TN-Validation>"), "{a}");
}

/// Reads from `stream` until `done` says the text so far is complete, the peer closes, or 5 s.
fn read_until(stream: &mut TcpStream, done: impl Fn(&str) -> bool) -> String {
    stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let mut got = String::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = [0u8; 8192];
    while !done(&got) && Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.push_str(&String::from_utf8_lossy(&buf[..n])),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stir_sip_server_rules_of_rfc_3261_via_tags_methods_extensions_and_national_numbers() {
    // A listener that accepts and never answers stands for a slow certificate repository.
    let tarpit = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let tarpit_at = tarpit.local_addr().unwrap();
    let (mut v, _, cert, x5u) = signing_setup(&["--x5u-allow-net", "127.0.0.1/32"]).await;
    let wait = Duration::from_secs(5);
    let send = |msg: &str| datagram(v.sip, msg.as_bytes(), wait).unwrap_or_else(|| panic!("no answer to\n{msg}"));
    let code = |answer: &str| answer.get(8..11).unwrap_or_default().to_owned();

    // Via: `rport` is filled in with the source port and `received` added (RFC 3581).
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(wait)).unwrap();
    let port = sock.local_addr().unwrap().port();
    let options = format!("{}Content-Length: 0\r\n\r\n", head("OPTIONS", "rport"));
    sock.send_to(options.as_bytes(), v.sip).unwrap();
    let mut buf = vec![0u8; 65_536];
    let n = sock.recv(&mut buf).unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert_eq!(
        sip_header(&answer, "Via"),
        Some(format!("SIP/2.0/UDP 127.0.0.1:5999;rport={port};branch=z9hG4bK-rport;received=127.0.0.1").as_str()),
        "{answer}"
    );
    // Without rport the answer goes to the sent-by port (RFC 3261 section 18.2.2), not to the
    // source port; a sent-by host that is not the source address gets `received`.
    let listener = UdpSocket::bind("127.0.0.1:0").unwrap();
    listener.set_read_timeout(Some(wait)).unwrap();
    let sent_by = listener.local_addr().unwrap().port();
    let options = format!("{}Content-Length: 0\r\n\r\n", head("OPTIONS", "sentby"))
        .replace("127.0.0.1:5999;rport;", &format!("sbc.example:{sent_by};"));
    sock.send_to(options.as_bytes(), v.sip).unwrap();
    let n = listener.recv(&mut buf).expect("no answer at the Via's sent-by port");
    let answer = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(answer.starts_with("SIP/2.0 200 "), "{answer}");
    assert_eq!(
        sip_header(&answer, "Via"),
        Some(format!("SIP/2.0/UDP sbc.example:{sent_by};branch=z9hG4bK-sentby;received=127.0.0.1").as_str())
    );

    // The same request twice (a retransmission) gets the same To tag; another request another.
    let tag = |answer: &str| sip_header(answer, "To").and_then(|t| t.split_once(";tag=")).unwrap().1.to_owned();
    let options = format!("{}Content-Length: 0\r\n\r\n", head("OPTIONS", "again"));
    let (first, second) = (send(&options), send(&options));
    assert_eq!(tag(&first), tag(&second));
    let other = format!("{}Content-Length: 0\r\n\r\n", head("OPTIONS", "other"));
    assert_ne!(tag(&first), tag(&send(&other)));
    // A malformed CANCEL is ignored too (no 400).
    let bad_cancel = format!("{}X Bad\r\nContent-Length: 0\r\n\r\n", head("CANCEL", "badcancel"));
    assert_eq!(datagram(v.sip, bad_cancel.as_bytes(), Duration::from_millis(700)), None);
    // A To tag already there is kept, whatever its spelling.
    let tagged = options.replace("To: <sip:+12025550199@127.0.0.1>", "To: <sip:+12025550199@127.0.0.1> ; TAG = x1");
    assert_eq!(sip_header(&send(&tagged), "To"), Some("<sip:+12025550199@127.0.0.1> ; TAG = x1"));

    // Methods: CANCEL is ignored by a stateless server, a known method not served is 405, an
    // unknown one 501, another SIP version 505, a scheme other than sip/sips/tel 416, and a
    // required extension 420 naming it.
    assert_eq!(datagram(v.sip, format!("{}Content-Length: 0\r\n\r\n", head("CANCEL", "c")).as_bytes(), wait), None);
    for (method, want) in [("BYE", "405"), ("FOOBAR", "501"), ("invite", "501")] {
        let answer = send(&format!("{}Content-Length: 0\r\n\r\n", head(method, method)));
        assert_eq!(code(&answer), want, "{method}: {answer}");
        assert_eq!(sip_header(&answer, "Allow"), Some("INVITE, ACK, OPTIONS, CANCEL"), "{answer}");
    }
    let v3 = format!("{}Content-Length: 0\r\n\r\n", head("OPTIONS", "v3")).replacen("SIP/2.0\r\n", "SIP/3.0\r\n", 1);
    assert_eq!(code(&send(&v3)), "505");
    let lower =
        format!("{}Content-Length: 0\r\n\r\n", head("OPTIONS", "low")).replacen("SIP/2.0\r\n", "sip/2.0\r\n", 1);
    assert_eq!(code(&send(&lower)), "200", "the version is case-insensitive");
    let mailto = invite("mailto", &format!("<sip:+{ORIG}@127.0.0.1>"), &[]).replacen(
        &format!("sip:+{DEST}@127.0.0.1;user=phone SIP"),
        "mailto:a@example.com SIP",
        1,
    );
    assert_eq!(code(&send(&mailto)), "416");
    let require = send(&invite("req", &format!("<sip:+{ORIG}@127.0.0.1>"), &["Require: foo, 100rel".into()]));
    assert_eq!((code(&require), sip_header(&require, "Unsupported")), ("420".into(), Some("foo, 100rel")), "{require}");

    // Headers in the Request-URI (which a redirect would copy into the re-sent INVITE) are 400.
    let forged = invite("hdr", &format!("<sip:+{ORIG}@127.0.0.1>"), &[]).replacen(
        ";user=phone SIP",
        ";user=phone?P-Asserted-Identity=%3Csip:+18005551212%40bank.example%3Bverstat%3DTN-Validation-Passed%3E SIP",
        1,
    );
    assert_eq!(code(&send(&forged)), "400");

    // Ten-digit North American numbers are the +1 numbers they stand for: signed at A for the
    // provider that owns the block, with E.164 numbers in the PASSporT.
    let national = invite("nanp", &format!("<sip:{}@127.0.0.1>", &ORIG[1..]), &[])
        .replace(&format!("sip:+{DEST}@"), &format!("sip:{}@", &DEST[1..]));
    let answer = send(&national);
    assert_eq!(code(&answer), "302", "{answer}");
    let (_, claims) = decode(split_identity(sip_header(&answer, "Identity").unwrap()).0);
    assert_eq!((claims["attest"].as_str(), claims["orig"]["tn"].as_str()), (Some("A"), Some(ORIG)), "{claims}");
    assert_eq!(claims["dest"]["tn"][0], DEST, "{claims}");
    // A tel: Request-URI cannot carry headers: the Contact is the URI alone, the Identity is
    // on the 302.
    let tel = invite("tel", &format!("<sip:+{ORIG}@127.0.0.1>"), &[]).replacen(
        &format!("sip:+{DEST}@127.0.0.1;user=phone SIP"),
        &format!("tel:+{DEST} SIP"),
        1,
    );
    let answer = send(&tel);
    assert_eq!(sip_header(&answer, "Contact"), Some(format!("<tel:+{DEST}>").as_str()), "{answer}");
    assert!(sip_header(&answer, "Identity").is_some(), "{answer}");

    // TCP: an INVITE without Content-Length cannot be framed: 400, and the OPTIONS after it is
    // not taken for its body; the connection closes.
    let mut stream = TcpStream::connect(v.sip).unwrap();
    let no_length = format!("{}\r\n{}Content-Length: 0\r\n\r\n", head("INVITE", "nolen"), head("OPTIONS", "after"));
    stream.write_all(no_length.as_bytes()).unwrap();
    let got = read_until(&mut stream, |_| false);
    assert!(got.starts_with("SIP/2.0 400 ") && got.contains("Call-ID: nolen@"), "{got}");
    assert!(!got.contains("SIP/2.0 302") && !got.contains("Call-ID: after@"), "{got}");

    // TCP: an INVITE whose certificate repository never answers does not hold up the requests
    // after it on the same connection.
    let mut stream = TcpStream::connect(v.sip).unwrap();
    let slow_id = cli_sign(&v.dir, &cert, &format!("https://{tarpit_at}/c.pem"), ORIG, DEST, &[]);
    let slow = invite("slow", &format!("<sip:+{ORIG}@127.0.0.1>"), &[format!("Identity: {slow_id}")])
        .replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    let quick = format!("{}Content-Length: 0\r\n\r\n", head("OPTIONS", "quick")).replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    let sent = Instant::now();
    stream.write_all(format!("{slow}{quick}").as_bytes()).unwrap();
    let got = read_until(&mut stream, |g| g.contains("Call-ID: quick@"));
    assert!(got.contains("SIP/2.0 200 ") && got.contains("Call-ID: quick@"), "{got}");
    assert!(sent.elapsed() < Duration::from_secs(1), "the OPTIONS waited {:?} behind the INVITE", sent.elapsed());
    // The INVITE is answered after it, when the fetch gives up: 436 (x5u unreachable).
    let got = read_until(&mut stream, |g| g.contains("Call-ID: slow@"));
    assert!(got.starts_with("SIP/2.0 436 ") && got.contains("Call-ID: slow@"), "{got}");

    // Several Identity headers: their chains are fetched at once. Two whose repositories never
    // answer, ahead of one that verifies, cost one fetch budget (5 s), not one each (10 s,
    // past this wait): the answer is the third header's verdict.
    let dead = |path: &str| cli_sign(&v.dir, &cert, &format!("https://{tarpit_at}/{path}"), ORIG, DEST, &[]);
    let headers = [dead("a.pem"), dead("b.pem"), cli_sign(&v.dir, &cert, &x5u, ORIG, DEST, &[])]
        .map(|id| format!("Identity: {id}"));
    let three = invite("three-ids", &format!("<sip:+{ORIG}@127.0.0.1>"), &headers);
    let answer = datagram(v.sip, three.as_bytes(), Duration::from_secs(8)).expect("no answer within 8 s");
    assert!(answer.starts_with("SIP/2.0 302 "), "{answer}");
    let pai = sip_header(&answer, "P-Asserted-Identity").unwrap_or_default();
    assert!(pai.ends_with(";verstat=TN-Validation-Passed>"), "{answer}");

    // UDP retransmissions of an INVITE still being answered (its repository is slow) are
    // dropped, as a stateless server may: the INVITE is answered once, and a copy sent after
    // the answer gets the same bytes again.
    let slow = invite("retrans", &format!("<sip:+{ORIG}@127.0.0.1>"), &[format!("Identity: {}", dead("r.pem"))]);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let mut answers = Vec::new();
    let started = Instant::now();
    let mut sent = 0;
    while started.elapsed() < Duration::from_secs(7) {
        if sent < 3 && started.elapsed() >= Duration::from_millis(500) * sent {
            sock.send_to(slow.as_bytes(), v.sip).unwrap();
            sent += 1;
        }
        if let Ok(n) = sock.recv(&mut buf) {
            answers.push(buf[..n].to_vec());
        }
    }
    assert_eq!(
        answers.len(),
        1,
        "one answer to three copies: {:?}",
        answers.iter().map(|a| String::from_utf8_lossy(a)).collect::<Vec<_>>()
    );
    assert!(answers[0].starts_with(b"SIP/2.0 436 "), "{}", String::from_utf8_lossy(&answers[0]));
    sock.set_read_timeout(Some(wait)).unwrap();
    sock.send_to(slow.as_bytes(), v.sip).unwrap();
    let n = sock.recv(&mut buf).expect("the answer again");
    assert_eq!(buf[..n], answers[0][..], "the same answer again");
    let metrics = v.s.get("/metrics", None).await.text;
    let count = |answer: &str| {
        metrics
            .lines()
            .find(|l| l.starts_with(&format!("vouch_sip_retransmissions_total{{answer=\"{answer}\"}}")))
            .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    assert_eq!((count("dropped"), count("again")), (2.0, 1.0), "{metrics}");
    drop(tarpit);

    // The To tag's key is the store's: after a restart the same request gets the same tag.
    v.restart();
    let again = datagram(v.sip, options.as_bytes(), wait).expect("no answer after the restart");
    assert_eq!(tag(&again), tag(&first));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stir_sip_a_tcp_peer_that_stops_reading_is_cut_off() {
    let (v, _, _, _) = signing_setup(&[]).await;
    // A registered peer sends OPTIONS without ever reading the answers. Once every buffer
    // between it and the server is full, the server's write stalls; after 10 s of that it
    // gives the connection up, and the peer's writes then fail (reset), where they would
    // otherwise block for as long as the peer liked. At most 20 MB are sent.
    let mut stream = TcpStream::connect(v.sip).unwrap();
    stream.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    let one = format!("{}Content-Length: 0\r\n\r\n", head("OPTIONS", "noreader")).replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    let batch = one.repeat(64);
    let start = Instant::now();
    let mut sent = 0usize;
    let cut = loop {
        assert!(start.elapsed() < Duration::from_secs(40), "still connected after {:?}", start.elapsed());
        match stream.write(batch.as_bytes()) {
            Ok(n) => sent += n,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(e) => break e,
        }
        assert!(sent < 20 << 20, "20 MB written and the server still takes them");
    };
    assert!(
        matches!(cut.kind(), std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe),
        "{cut:?} after {:?}",
        start.elapsed()
    );
    assert!(start.elapsed() >= Duration::from_secs(10), "cut off after only {:?}", start.elapsed());
    // The server serves on.
    let answer = datagram(
        v.sip,
        format!("{}Content-Length: 0\r\n\r\n", head("OPTIONS", "after")).as_bytes(),
        Duration::from_secs(5),
    );
    assert!(answer.is_some_and(|a| a.starts_with("SIP/2.0 200 ")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stir_sip_rmd_policy_flag_passes_the_call_on_with_a_warning_naming_both_absences() {
    let (v, p, _, _) = signing_setup(&["--rmd-policy", "flag"]).await;
    let s = &v.s;
    let q = provider(s, "Bravo Voice LLC", &["voice"], Some("0055500002"), Some("456B")).await;
    add_peer(s, &q, "127.0.0.2").await;
    // A snapshot listing neither the signer (p) nor the upstream (q).
    let csv = "number,frn,business_name,implementation,voice_service_provider_choice,gateway_provider_choice,intermediate_provider_choice,last_updated\n\
        RMD0000009,0055500009,Someone Else LLC,Complete STIR/SHAKEN Implementation,Yes,No,No,2025-01-15\n";
    let file = v.file("rmd.csv");
    std::fs::write(&file, csv).unwrap();
    let mut c = vouch(&v.dir);
    c.args(["import", "rmd"]).arg(&file).args(["--server", &s.base, "--api-key", &s.admin]);
    assert!(ok(run(c, LIMIT)).contains("imported 1 RMD filings"));
    let id = identity(s, &p, ORIG, DEST).await;
    let m = invite("flagged", &format!("<sip:+{ORIG}@127.0.0.1;user=phone>"), &[format!("Identity: {id}")]);
    let a = datagram_from("127.0.0.2", v.sip, m.as_bytes(), Duration::from_secs(5)).expect("no answer");
    assert!(a.starts_with("SIP/2.0 302 "), "flag passes the call on: {a}");
    assert!(sip_header(&a, "P-Asserted-Identity").unwrap().ends_with(";verstat=TN-Validation-Passed>"), "{a}");
    let warning = sip_header(&a, "Warning").unwrap_or_else(|| panic!("no Warning: {a}"));
    assert!(warning.starts_with("399 vouch \"RMD flag: "), "{warning}");
    assert!(warning.contains("the upstream") && warning.contains("the signer"), "both absences: {warning}");
}

/// One SIP message over a TLS connection to `addr`, trusting only `ca` (PEM): the answer.
async fn over_tls(addr: SocketAddr, ca: &Path, message: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(ca).unwrap();
    for c in rustls::pki_types::pem::PemObject::pem_slice_iter(&pem) {
        roots.add(c.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let mut tls = tokio::time::timeout(Duration::from_secs(5), connector.connect(name, tcp)).await.unwrap().unwrap();
    tls.write_all(message.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    let deadline = Instant::now() + Duration::from_secs(10);
    while !String::from_utf8_lossy(&got).contains("\r\n\r\n") && Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(5), tls.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// SIP over TLS (`--sips`, RFC 3261 section 26): an unsigned INVITE from the peer gets its 302
/// with an Identity, which verifies when the INVITE comes back signed on another TLS
/// connection; a client that does not trust the certificate gets nothing, and the UDP and TCP
/// listener still serve.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stir_sip_over_tls_signs_and_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let (cert, key) = crate::harness::loopback_tls_certificate(tmp.path());
    let sips = SocketAddr::from(([127, 0, 0, 1], free_tcp_port()));
    let sips_s = sips.to_string();
    let flags = ["--sips", &sips_s, "--sip-tls-cert", cert.to_str().unwrap(), "--sip-tls-key", key.to_str().unwrap()];
    let (v, _, _, _) = signing_setup(&flags).await;
    assert!(v.s.stdout.text().contains(&format!("vouch: SIP redirect server over TLS on sips:{sips}")));
    let from = format!("<sip:+{ORIG}@127.0.0.1;user=phone>");
    let tls_invite = |id: &str, extra: &[String]| invite(id, &from, extra).replace("SIP/2.0/UDP", "SIP/2.0/TLS");

    let answer = over_tls(sips, &cert, &tls_invite("tls-unsigned", &[])).await;
    assert!(answer.starts_with("SIP/2.0 302 "), "{answer}");
    assert!(sip_header(&answer, "Via").is_some_and(|via| via.starts_with("SIP/2.0/TLS")), "{answer}");
    let identity = sip_header(&answer, "Identity").expect("an Identity in the 302").to_owned();
    let (_, claims) = decode(split_identity(&identity).0);
    assert_eq!((claims["attest"].as_str(), claims["orig"]["tn"].as_str()), (Some("A"), Some(ORIG)), "{claims}");

    let signed = tls_invite("tls-signed", &[format!("Identity: {identity}")]);
    let answer = over_tls(sips, &cert, &signed).await;
    assert!(answer.starts_with("SIP/2.0 302 ") && answer.contains("verstat=TN-Validation-Passed"), "{answer}");

    // A client trusting another certificate: the handshake fails, nothing is answered.
    let other = tmp.path().join("other");
    std::fs::create_dir(&other).unwrap();
    let (other_ca, _) = crate::harness::loopback_tls_certificate(&other);
    let handshake = {
        let ca = other_ca.clone();
        tokio::spawn(async move { over_tls(sips, &ca, "OPTIONS sip:x SIP/2.0\r\n\r\n").await })
    };
    assert!(handshake.await.is_err(), "a client that does not trust the certificate connected");
    let metrics = v.s.get("/metrics", None).await.text;
    assert!(metrics.contains("vouch_sip_tls_handshake_failures_total 1"), "{metrics}");
    // UDP still serves.
    let options = head("OPTIONS", "after-tls") + "Content-Length: 0\r\n\r\n";
    let got = datagram(v.sip, options.as_bytes(), Duration::from_secs(5)).unwrap_or_default();
    assert!(got.starts_with("SIP/2.0 200 "), "{got}");
}

/// An INVITE from `from` to `to` whose Request-URI is `target` (a forward retargets the
/// Request-URI; a B2BUA may rewrite To too).
fn invite_to(id: &str, target: &str, to: &str, extra: &[String]) -> String {
    invite(id, &format!("<sip:+{ORIG}@127.0.0.1;user=phone>"), extra)
        .replacen(&format!("INVITE sip:+{DEST}@"), &format!("INVITE sip:+{target}@"), 1)
        .replacen(&format!("To: <sip:+{DEST}@"), &format!("To: <sip:+{to}@"), 1)
}

/// A call forwarded (RFC 8946, ATIS-1000085): the provider holding the number it was sent to
/// gets a div PASSporT from vouch when it retargets the call; the terminating verifier follows
/// the diversion from the SHAKEN PASSporT's `dest` to the call's target, each leg its own call
/// (no replay), and a forward without a div, or with one that does not verify, is still the
/// wrong number's (438). Only the holder of a number diverts its calls; a traceback of the
/// origid finds the forward.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stir_sip_a_forwarded_call_is_signed_with_a_div_passport_and_followed_on_verification() {
    let (v, origin, _, _) = signing_setup(&[]).await;
    let s = &v.s;
    // The forwarding provider holds 1303555 01xx; the terminating one only verifies.
    let (fwd, fwd_cert, fwd_reg) = signer(s, &v.ca, "Forward Telecom", "0055500002", "456B").await;
    add_peer(s, &fwd, "127.0.0.3").await;
    add_block(s, &fwd, "+13035550100", "+13035550199").await;
    let (term, _, _) = signer(s, &v.ca, "Terminating Co", "0055500003", "789C").await;
    let body = serde_json::json!({ "address": "127.0.0.4", "verifyOnly": true });
    s.post(&format!("/v1/providers/{}/sip-peers", term.id), &term.key, &body).await.ok(201);
    let (d0, d1) = ("13035550123", "14155550199");
    let wait = Duration::from_secs(5);
    let send = |source: &str, msg: String| {
        datagram_from(source, v.sip, msg.as_bytes(), wait).unwrap_or_else(|| panic!("no answer to\n{msg}"))
    };
    let verstat = |a: &str| {
        assert!(a.starts_with("SIP/2.0 302 "), "{a}");
        let pai = sip_header(a, "P-Asserted-Identity").unwrap_or_else(|| panic!("no PAI: {a}"));
        pai.rsplit("verstat=").next().unwrap().trim_end_matches('>').to_owned()
    };

    // The caller's provider signs the call to d0.
    let a = send("127.0.0.1", invite_to("leg1-sign", d0, d0, &[]));
    let shaken = sip_header(&a, "Identity").unwrap_or_else(|| panic!("not signed: {a}")).to_owned();
    let origid = decode(split_identity(&shaken).0).1["origid"].as_str().unwrap().to_owned();
    // It reaches the forwarding provider, which verifies it: its own number, not a forward.
    let a = send("127.0.0.3", invite_to("leg1", d0, d0, &[format!("Identity: {shaken}")]));
    assert_eq!(verstat(&a), "TN-Validation-Passed");
    assert!(sip_header(&a, "Identity").is_none(), "{a}");

    // The registry reads a request's numbers as written: +2025550100 (ten digits after +) is
    // not the caller's provider's 1 202 555 0100, and is not signed at A. (Only PASSporT
    // claims, written as their signer chose, read a national ten-digit number as +1.)
    let r = crate::stir_http::sign(s, &origin.key, &crate::stir_http::signing_request("A", "+2025550100", d0)).await;
    assert_ne!(r["vouch"]["attest"], "A", "{r}");

    // Not a forward: the same call to the forwarder's own number with the Request-URI in
    // another form (national, a trunk prefix) and no Diversion is verified, not diverted.
    for (id, uri) in [("local-form", "3035550123"), ("prefixed", "03035550123")] {
        let fresh = identity(s, &origin, ORIG, d0).await;
        let m = invite_to(id, d0, d0, &[format!("Identity: {fresh}")]).replacen(
            &format!("sip:+{d0}@"),
            &format!("sip:{uri}@"),
            1,
        );
        let a = send("127.0.0.3", m);
        assert_eq!(verstat(&a), "TN-Validation-Passed", "{id}: {a}");
        assert!(sip_header(&a, "Identity").is_none(), "{id}: {a}");
    }
    // A forward says so (Diversion, RFC 5806; or History-Info, RFC 7044) and its SHAKEN
    // PASSporT must verify: a tampered one gets no div.
    let diversion = format!("Diversion: <sip:+{d0}@127.0.0.3;user=phone>;reason=no-answer;counter=1");
    let tampered = tamper_signature(&shaken);
    let a = send("127.0.0.3", invite_to("forged-fwd", d1, d0, &[format!("Identity: {tampered}"), diversion.clone()]));
    assert!(sip_header(&a, "Identity").is_none(), "{a}");

    // It forwards the call to d1: the Request-URI changes, To stays. vouch signs a div with
    // the forwarder's certificate: orig kept, div d0, dest d1, no attestation.
    let a = send("127.0.0.3", invite_to("leg2-sign", d1, d0, &[format!("Identity: {shaken}"), diversion.clone()]));
    assert!(a.starts_with("SIP/2.0 302 "), "{a}");
    let div = sip_header(&a, "Identity").unwrap_or_else(|| panic!("no div: {a}")).to_owned();
    assert!(div.ends_with(";alg=ES256;ppt=div"), "{div}");
    let contact = sip_header(&a, "Contact").unwrap();
    assert!(contact.starts_with(&format!("<sip:+{d1}@")) && contact.contains("?Identity="), "{contact}");
    let (token, info) = split_identity(&div);
    assert_eq!(info, fwd_reg["x5u"].as_str().unwrap());
    let (header, claims) = decode(token);
    assert_eq!(header["ppt"], "div");
    assert_eq!(claims["div"], serde_json::json!({ "tn": d0 }));
    assert_eq!(claims["dest"], serde_json::json!({ "tn": [d1] }));
    assert_eq!(claims["orig"], serde_json::json!({ "tn": ORIG }));
    assert!(claims.get("attest").is_none() && claims.get("origid").is_none(), "{claims}");

    // The terminating provider verifies the forwarded call; its B2BUA rewrote To as well.
    let both = [format!("Identity: {shaken}"), format!("Identity: {div}")];
    let a = send("127.0.0.4", invite_to("leg2", d1, d1, &both));
    assert_eq!(verstat(&a), "TN-Validation-Passed", "the SHAKEN PASSporT of leg 1 is no replay on leg 2");
    // In the other order too, and over HTTP with the diversion details.
    let a = send("127.0.0.4", invite_to("leg2", d1, d1, &[both[1].clone(), both[0].clone()]));
    assert_eq!(verstat(&a), "TN-Validation-Passed");
    let mut req = crate::stir_http::verification_request(ORIG, d1, &shaken);
    req["verificationRequest"]["diversions"] = serde_json::json!([div]);
    req["verificationRequest"]["callId"] = "leg2@127.0.0.1".into();
    let r = crate::stir_http::verify(s, &term.key, &req).await;
    assert_eq!(r["verstat"], "TN-Validation-Passed", "{r}");
    let hops = &r["vouch"]["diversions"];
    assert_eq!(hops[0]["div"], d0, "{r}");
    assert_eq!(hops[0]["dest"], serde_json::json!([d1]), "{r}");
    assert_eq!((hops[0]["spc"].as_str(), hops[0]["signer"].as_str()), (Some("456B"), Some(fwd.id.as_str())), "{r}");
    // The forwarded leg presented again as another call: the div PASSporT is a replay.
    let a = send("127.0.0.4", invite_to("leg3", d1, d1, &both));
    assert!(a.starts_with("SIP/2.0 438 ") && sip_header(&a, "Reason").unwrap().contains("already presented"), "{a}");
    // The holder forwards the call again (find-me, to d1b; History-Info this time), and this
    // leg reaches the terminator with To left as d0: the Request-URI is where the call goes,
    // the div leads there, and the leg is its own call.
    let d1b = "14155550198";
    let history = format!("History-Info: <sip:+{d0}@127.0.0.3>;index=1, <sip:+{d1b}@127.0.0.3;cause=480>;index=1.1");
    let a = send("127.0.0.3", invite_to("leg4-sign", d1b, d0, &[format!("Identity: {shaken}"), history]));
    let div_b = sip_header(&a, "Identity").unwrap_or_else(|| panic!("no div: {a}")).to_owned();
    assert_eq!(decode(split_identity(&div_b).0).1["dest"], serde_json::json!({ "tn": [d1b] }));
    let a =
        send("127.0.0.4", invite_to("leg4", d1b, d0, &[format!("Identity: {shaken}"), format!("Identity: {div_b}")]));
    assert_eq!(verstat(&a), "TN-Validation-Passed", "a forward that left To alone");
    // Over HTTP such a leg names its Request-URI's number as `target` (To stays in `to`).
    let mut req = crate::stir_http::verification_request(ORIG, d0, &shaken);
    req["verificationRequest"]["diversions"] = serde_json::json!([div_b]);
    req["verificationRequest"]["target"] = serde_json::json!({ "tn": d1b });
    req["verificationRequest"]["callId"] = "leg4@127.0.0.1".into();
    let r = crate::stir_http::verify(s, &term.key, &req).await;
    assert_eq!(
        (r["verstat"].as_str(), r["vouch"]["diversions"][0]["dest"][0].as_str()),
        (Some("TN-Validation-Passed"), Some(d1b)),
        "{r}"
    );
    // A forward whose caller is not the PASSporT's is not signed (and fails as a call).
    let m = invite_to("wrong-caller", d1b, d0, &[format!("Identity: {shaken}"), diversion.clone()])
        .replace(&format!("From: <sip:+{ORIG}@"), "From: <sip:+12025550111@");
    let a = send("127.0.0.3", m);
    assert!(a.starts_with("SIP/2.0 438 ") && sip_header(&a, "Identity").is_none(), "{a}");

    // Without the div, or with one that does not verify, the SHAKEN PASSporT is d0's, not d1's.
    let a = send("127.0.0.4", invite_to("no-div", d1, d1, &[format!("Identity: {shaken}")]));
    assert!(a.starts_with("SIP/2.0 438 "), "{a}");
    let forged = [format!("Identity: {shaken}"), format!("Identity: {}", tamper_signature(&div))];
    let a = send("127.0.0.4", invite_to("forged-div", d1, d1, &forged));
    assert!(a.starts_with("SIP/2.0 438 "), "{a}");
    assert!(sip_header(&a, "Reason").unwrap().contains("a div PASSporT did not verify"), "{a}");
    // A provider that does not hold d0 diverting its call (a PASSporT replayed within its
    // freshness to a number of the replayer's choosing): its div verifies as a signature, but
    // the registry says d0 is another provider's. A number vouch knows no holder of may be
    // diverted by any signer, reported by SPC.
    let (rogue, rogue_cert, rogue_reg) = signer(s, &v.ca, "Rogue Routes", "0055500004", "999D").await;
    let rogue_x5u = rogue_reg["x5u"].as_str().unwrap();
    let rogue_div = |from: &str, to: &str| {
        let header = serde_json::json!({ "alg": "ES256", "ppt": "div", "typ": "passport", "x5u": rogue_x5u });
        let claims = serde_json::json!({
            "dest": { "tn": [to] }, "div": { "tn": from }, "iat": now(), "orig": { "tn": ORIG }
        });
        format!("{};info=<{rogue_x5u}>;alg=ES256;ppt=div", crate::stir_http::craft(&rogue_cert.key, &header, &claims))
    };
    // In either form of d0 (national numbers are the +1 ones to the registry too).
    for from in [d0, "3035550123"] {
        let stolen = [format!("Identity: {shaken}"), format!("Identity: {}", rogue_div(from, d1))];
        let a = send("127.0.0.4", invite_to(&format!("rogue-div-{from}"), d1, d1, &stolen));
        assert!(a.starts_with("SIP/2.0 438 "), "{a}");
        assert!(sip_header(&a, "Reason").unwrap().contains("another provider than the div's signer (SPC 999D)"), "{a}");
    }
    let unknown = "16465550123";
    let elsewhere = identity(s, &origin, ORIG, unknown).await;
    let mut req = crate::stir_http::verification_request(ORIG, d1, &elsewhere);
    req["verificationRequest"]["diversions"] = serde_json::json!([rogue_div(unknown, d1)]);
    let r = crate::stir_http::verify(s, &term.key, &req).await;
    assert_eq!(r["verstat"], "TN-Validation-Passed", "{r}");
    assert_eq!(
        (r["vouch"]["diversions"][0]["spc"].as_str(), r["vouch"]["diversions"][0]["signer"].as_str()),
        (Some("999D"), Some(rogue.id.as_str())),
        "{r}"
    );
    assert_eq!(r["vouch"]["diversions"][0]["holder"], false, "{r}");
    // But such a div does not make the PASSporT new: presented again, for another call, alone
    // or through another div of the same signer, it is a replay.
    let a = send("127.0.0.4", invite_to("elsewhere-direct", unknown, unknown, &[format!("Identity: {elsewhere}")]));
    assert!(a.starts_with("SIP/2.0 438 ") && sip_header(&a, "Reason").unwrap().contains("already presented"), "{a}");
    // Nor under one Call-ID: a new div is a new leg whatever its Call-ID.
    let fresh = identity(s, &origin, ORIG, unknown).await;
    let (t1, t2) = ("19195550199", "19195550198");
    let first = [format!("Identity: {fresh}"), format!("Identity: {}", rogue_div(unknown, t1))];
    assert_eq!(verstat(&send("127.0.0.4", invite_to("rogue-same", t1, t1, &first))), "TN-Validation-Passed");
    let second = [format!("Identity: {fresh}"), format!("Identity: {}", rogue_div(unknown, t2))];
    for _ in 0..2 {
        let a = send("127.0.0.4", invite_to("rogue-same", t2, t2, &second));
        assert!(
            a.starts_with("SIP/2.0 438 ") && sip_header(&a, "Reason").unwrap().contains("already presented"),
            "{a}"
        );
    }
    // The accepted leg sent again (a retransmission) is the same call.
    assert_eq!(verstat(&send("127.0.0.4", invite_to("rogue-same", t1, t1, &first))), "TN-Validation-Passed");
    let again = [format!("Identity: {elsewhere}"), format!("Identity: {}", rogue_div(unknown, d1b))];
    let a = send("127.0.0.4", invite_to("elsewhere-again", d1b, d1b, &again));
    assert!(a.starts_with("SIP/2.0 438 ") && sip_header(&a, "Reason").unwrap().contains("already presented"), "{a}");

    let mut req = crate::stir_http::verification_request(ORIG, d1, &shaken);
    req["verificationRequest"]["diversions"] = serde_json::json!([div, div, div, div, div, div]);
    let r = crate::stir_http::stir_post(s, "/stir/v1/verification", &term.key, &req).await;
    assert_eq!(r.status, 400, "at most five diversions: {r:?}");

    // Only the holder of a number diverts its calls: the forwarder retargeting a call to the
    // caller's provider's own number gets it verified, not a div.
    let other = identity(s, &origin, ORIG, DEST).await;
    let not_theirs = format!("Diversion: <sip:+{DEST}@127.0.0.3>");
    let a = send("127.0.0.3", invite_to("not-theirs", d1, DEST, &[format!("Identity: {other}"), not_theirs]));
    assert_eq!(verstat(&a), "TN-Validation-Passed");
    assert!(sip_header(&a, "Identity").is_none(), "{a}");

    // Over HTTP, an SBC that signs through /stir/v1/signing asks for a forward with `ppt`
    // `div` inside signingRequest and the call's SHAKEN Identity header, which must verify;
    // the same holder rule answers SVC4005 naming div.tn.
    let div_request = |from: &str, to: &str| {
        serde_json::json!({ "signingRequest": {
            "ppt": "div", "identity": shaken, "orig": { "tn": ORIG }, "dest": { "tn": [to] }, "div": { "tn": from }
        }})
    };
    let mut forged_request = div_request(d0, "12125550100");
    forged_request["signingRequest"]["identity"] = tampered.clone().into();
    let r = crate::stir_http::stir_post(s, "/stir/v1/signing", &fwd.key, &forged_request).await;
    r.exception(400, "SVC4005", "identity");
    let r = crate::stir_http::stir_post(s, "/stir/v1/signing", &fwd.key, &div_request(d0, "0123")).await;
    r.exception(400, "SVC4005", "dest.tn");
    let r = crate::stir_http::stir_post(s, "/stir/v1/signing", &fwd.key, &div_request(d0, "12125550100")).await;
    assert_eq!(r.status, 200, "{r:?}");
    let http_div = r.json["signingResponse"]["identity"].as_str().unwrap().to_owned();
    assert!(http_div.ends_with(";ppt=div") && r.json["signingResponse"]["vouch"]["origid"] == origid.as_str(), "{r:?}");
    assert_eq!(decode(split_identity(&http_div).0).1["div"], serde_json::json!({ "tn": d0 }));
    let a = send(
        "127.0.0.4",
        invite_to(
            "http-div",
            "12125550100",
            "12125550100",
            &[format!("Identity: {shaken}"), format!("Identity: {http_div}")],
        ),
    );
    assert_eq!(verstat(&a), "TN-Validation-Passed");
    let r = crate::stir_http::stir_post(s, "/stir/v1/signing", &rogue.key, &div_request(d0, d1)).await;
    r.exception(400, "SVC4005", "div.tn");

    // A traceback of the origid finds the forward as the newest record: who, and where to
    // (records are written in batches: polled).
    let path = format!("/v1/signed-calls/{origid}");
    crate::harness::within(Duration::from_secs(5), "both records of the origid", || async {
        s.get(&path, Some(&s.admin)).await.json["calls"] == 4
    })
    .await;
    let r = s.get(&path, Some(&s.admin)).await.ok(200).clone();
    assert_eq!((r["attest"].as_str(), r["providerId"].as_str()), (Some("div"), Some(fwd.id.as_str())), "{r}");
    assert_eq!((r["dest"].clone(), r["calls"].as_u64()), (serde_json::json!(["12125550100"]), Some(4)), "{r}");
    // The forwarder sees its own forwards of the call; the caller's provider its own call.
    let r = s.get(&path, Some(&fwd.key)).await.ok(200).clone();
    assert_eq!((r["attest"].as_str(), r["calls"].as_u64()), (Some("div"), Some(3)), "{r}");
    let r = s.get(&path, Some(&origin.key)).await.ok(200).clone();
    assert_eq!((r["attest"].as_str(), r["calls"].as_u64()), (Some("A"), Some(1)), "{r}");
    // Even a holder may not fan one PASSporT out without end. vouch signs at most 5 forwards
    // of one PASSporT (three so far: d1, d1b, 12125550100); asking again for a target it
    // granted is answered again (an SBC's retry).
    for (i, target) in ["17185550100", "17185550101", "17185550102", "17185550100"].iter().enumerate() {
        let r = crate::stir_http::stir_post(s, "/stir/v1/signing", &fwd.key, &div_request(d0, target)).await;
        match i {
            2 => {
                let e = r.exception(403, "VOUCH4030", "");
                assert!(e["variables"][0].as_str().unwrap_or_default().contains("forwarded to 5"), "{e}");
            }
            _ => assert_eq!(r.status, 200, "{target}: {r:?}"),
        }
    }
    // And a verifier takes one PASSporT on at most 8 forwarded legs, divs the holder signed
    // itself included; a leg is its div, whatever its Call-ID (one here for all).
    let fwd_x5u = fwd_reg["x5u"].as_str().unwrap();
    let own_div = |to: &str| {
        let header = serde_json::json!({ "alg": "ES256", "ppt": "div", "typ": "passport", "x5u": fwd_x5u });
        let claims =
            serde_json::json!({ "dest": { "tn": [to] }, "div": { "tn": d0 }, "iat": now(), "orig": { "tn": ORIG } });
        format!("{};info=<{fwd_x5u}>;alg=ES256;ppt=div", crate::stir_http::craft(&fwd_cert.key, &header, &claims))
    };
    let mut passed = 0;
    for i in 0..6 {
        let target = format!("1919555010{i}");
        let a = send(
            "127.0.0.4",
            invite_to(
                "fan",
                &target,
                &target,
                &[format!("Identity: {shaken}"), format!("Identity: {}", own_div(&target))],
            ),
        );
        if a.starts_with("SIP/2.0 302 ") {
            passed += 1;
        } else {
            assert!(i == 5 && sip_header(&a, "Reason").unwrap().contains("already presented"), "{i}: {a}");
        }
    }
    assert_eq!(passed, 5, "8 legs: d1, d1b, 12125550100 and five more");
    // Refused legs stay refused when sent again, even under the Call-ID the PASSporT first
    // came with (leg 1's): a leg is remembered only once accepted.
    let late = [format!("Identity: {shaken}"), format!("Identity: {}", own_div("19195550109"))];
    for _ in 0..2 {
        let a = send("127.0.0.4", invite_to("leg1", "19195550109", "19195550109", &late));
        assert!(a.starts_with("SIP/2.0 438 "), "{a}");
    }

    // A report of the call traces its SHAKEN PASSporT to the call vouch signed, not to a
    // forward recorded under the same origid.
    let carrier = s.provider("Reporting Carrier", &["carrier"]).await;
    let report = serde_json::json!({"channel": "voice", "number": format!("+{ORIG}"),
        "at": jiff::Timestamp::now().to_string(), "category": "robocall", "identity": shaken});
    let r = s.post("/v1/reports", &carrier.key, &report).await.ok(201).clone();
    let t = crate::traceback::trace_with_proofs(
        s,
        &format!("/v1/reports/{}/trace", r["id"].as_str().unwrap()),
        &carrier.key,
    )
    .await;
    assert_eq!(t["call"]["signedByVouch"]["provider"]["id"], origin.id.as_str(), "{t}");
    assert_eq!(t["call"]["signedByVouch"]["attest"], "A", "{t}");
    let metrics = s.get("/metrics", None).await.text;
    assert!(metrics.lines().any(|l| l == "vouch_stir_diversions_signed_total 6"), "{metrics}");
    assert!(metrics.lines().any(|l| l.starts_with("vouch_stir_diverted_total ")), "{metrics}");
}
