//! The Call Placement Service (issue 9, docs/CPS.md) through the real binary: the standard
//! out-of-band flow (publish, retrieve, verify), every rejection of a token, expiry that
//! deletes, the privacy mode (sealed PASSporTs, nothing about the call stored or logged), a
//! publisher token made by PyJWT with the `jcs` package's RFC 8785 canonicalisation, and the
//! SIP redirect server retrieving a PASSporT for an INVITE from a TDM gateway.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{Provider, run, store_bytes, vouch};
use crate::stir_http::{
    LIMIT, Voice, cli_sign, craft, decode, now, ok, signer, split_identity, verification_request, verify,
};

const ORIG: &str = "12025557311";
const DEST: &str = "13105557422";
const O_SPC: &str = "731A";
const T_SPC: &str = "742B";
const X_SPC: &str = "753C";

/// Two voice providers with certificates: the originating one (O) and the terminating one (T).
struct Parties {
    v: Voice,
    o: Provider,
    o_cert: crate::stir_http::Issued,
    o_key: std::path::PathBuf,
    o_x5u: String,
    t: Provider,
    t_key: std::path::PathBuf,
    t_x5u: String,
}

async fn parties(flags: &[&str]) -> Parties {
    parties_logging(flags, None).await
}

async fn parties_logging(flags: &[&str], rust_log: Option<&str>) -> Parties {
    let v = Voice::start_logging(flags, rust_log);
    let (o, o_cert, o_reg) = signer(&v.s, &v.ca, "Originating Telco", "0073111111", O_SPC).await;
    let (t, t_cert, t_reg) = signer(&v.s, &v.ca, "Terminating Telco", "0074222222", T_SPC).await;
    Parties {
        o_x5u: o_reg["x5u"].as_str().unwrap().to_owned(),
        t_x5u: t_reg["x5u"].as_str().unwrap().to_owned(),
        o_key: o_cert.key.clone(),
        o_cert,
        t_key: t_cert.key.clone(),
        v,
        o,
        t,
    }
}

impl Parties {
    /// `vouch cps <verb>` as O or T.
    fn cli(&self, verb: &str, as_t: bool, extra: &[&str]) -> crate::harness::Finished {
        self.cli_for(verb, as_t, ORIG, DEST, extra)
    }

    /// `vouch cps <verb>` as O or T for the call from `orig` to `dest`.
    fn cli_for(&self, verb: &str, as_t: bool, orig: &str, dest: &str, extra: &[&str]) -> crate::harness::Finished {
        let (key, x5u, spc) = if as_t { (&self.t_key, &self.t_x5u, T_SPC) } else { (&self.o_key, &self.o_x5u, O_SPC) };
        let mut c = vouch(&self.v.dir);
        c.args(["cps", verb, "--cps", &self.v.s.base, "--key"]).arg(key);
        c.args(["--x5u", x5u, "--signer-spc", spc, "--orig", orig, "--dest", dest]).args(extra);
        run(c, LIMIT)
    }

    /// A third voice provider, X (SPC 753C), with its certificate: (key, x5u, certificate).
    async fn third(&self) -> (std::path::PathBuf, String, crate::stir_http::Issued) {
        let (_, cert, reg) = signer(&self.v.s, &self.v.ca, "Other Telco", "0075333333", X_SPC).await;
        (cert.key.clone(), reg["x5u"].as_str().unwrap().to_owned(), cert)
    }

    /// O's Identity header for the call, signed offline (`vouch sign`: nothing reaches the server).
    fn identity(&self) -> String {
        cli_sign(&self.v.dir, &self.o_cert, &self.o_x5u, ORIG, DEST, &[])
    }

    /// A token crafted with `key` over `claims` (x5u `x5u`).
    fn token(&self, key: &Path, x5u: &str, claims: &Value) -> String {
        craft(key, &json!({ "alg": "ES256", "typ": "JWT", "x5u": x5u }), claims)
    }

    fn claims(&self, action: &str, spc: &str, passports: Option<&[String]>) -> Value {
        let mut c = json!({ "action": action, "aud": self.v.s.base, "iss": spc, "spc": spc, "iat": now(),
            "exp": now() + 30, "jti": format!("jti-{}", rand_suffix()), "orig": { "tn": ORIG }, "dest": { "tn": [DEST] } });
        if let Some(p) = passports {
            c["passports"] = json!(digest(p));
        }
        c
    }

    async fn publish(&self, token: &str, passports: &[String]) -> crate::harness::Resp {
        self.publish_at(&format!("/passports/{T_SPC}/{DEST}/{ORIG}"), token, passports).await
    }

    async fn publish_at(&self, path: &str, token: &str, passports: &[String]) -> crate::harness::Resp {
        let body = serde_json::to_vec(&json!({ "passports": passports })).unwrap();
        self.v.s.raw(Method::POST, path, Some(token), Some("application/json"), Some(body)).await
    }

    async fn retrieve(&self, spc: &str, token: &str) -> crate::harness::Resp {
        self.v.s.get(&format!("/passports/{spc}/{DEST}/{ORIG}"), Some(token)).await
    }
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    (std::process::id() as u64) << 32 | N.fetch_add(1, Ordering::Relaxed)
}

/// `sha256-` + base64 of the SHA-256 of the JSON array (strings only: its RFC 8785 form is
/// `["a","b"]`).
fn digest(passports: &[String]) -> String {
    use base64::Engine as _;
    let bytes = serde_json::to_vec(passports).unwrap();
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &bytes);
    format!("sha256-{}", base64::engine::general_purpose::STANDARD.encode(d.as_ref()))
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cps_standard_flow_publishes_retrieves_verifies_and_deletes_at_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("vouch.toml");
    std::fs::write(&config, "cps_ttl = 3\n").unwrap();
    let p = parties(&["--config", config.to_str().unwrap()]).await;
    let identity = p.identity();
    let published = ok(p.cli("publish", false, &["--spc", T_SPC, "--identity", &identity]));
    assert!(published.starts_with("published 1 PASSporT(s) for SPC 742B"), "{published}");
    // The terminating side retrieves it and verifies it as if it had come in the INVITE.
    let got = ok(p.cli("retrieve", true, &[]));
    let header = got.trim();
    assert_eq!(split_identity(header).0, split_identity(&identity).0, "the CPS must return what was published");
    let v = verify(&p.v.s, &p.t.key, &verification_request(ORIG, DEST, header)).await;
    assert_eq!(v["verstat"], "TN-Validation-Passed", "{v}");
    // Another provider cannot read T's records, and O cannot either.
    let r = p.retrieve(T_SPC, &p.token(&p.o_key, &p.o_x5u, &p.claims("retrieve", O_SPC, None))).await;
    r.problem(403, "cps-not-yours");
    let metrics = p.v.s.get("/metrics", None).await.text;
    assert_eq!(metric(&metrics, "vouch_cps_records"), 1.0, "{metrics}");
    // At exp the record is gone: not served, and deleted (the store's gauge drops to 0).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let m = p.v.s.get("/metrics", None).await.text;
        if metric(&m, "vouch_cps_records") == 0.0 && metric(&m, "vouch_cps_expired_total") >= 1.0 {
            break;
        }
        assert!(Instant::now() < deadline, "the record was not deleted after its ttl:\n{m}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let gone = p.cli("retrieve", true, &[]);
    assert_eq!(gone.status.code(), Some(3), "{gone:?}");
    assert!(gone.stderr.contains("no PASSporT is held"), "{gone:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cps_refuses_every_bad_token_with_its_own_problem() {
    let p = parties(&[]).await;
    let identity = p.identity();
    let passports = vec![split_identity(&identity).0.to_owned()];
    let base = p.claims("publish", O_SPC, Some(&passports));
    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = base.clone();
        c["jti"] = json!(format!("jti-{}", rand_suffix()));
        f(&mut c);
        c
    };
    // No token, and a token that is not a JWS.
    let body = serde_json::to_vec(&json!({ "passports": passports })).unwrap();
    let path = format!("/passports/{T_SPC}/{DEST}/{ORIG}");
    let r = p.v.s.raw(Method::POST, &path, None, Some("application/json"), Some(body)).await;
    r.problem(401, "cps-token");
    let www = r.headers.get("www-authenticate").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(www.contains("invalid_token"), "{www}");
    p.publish("not-a-jws", &passports).await.problem(401, "cps-token");
    // Each claim wrong in turn.
    let cases: Vec<(Value, u16, &str)> = vec![
        (with(&|c| c["iat"] = json!(now() - 120)), 401, "cps-stale"),
        (with(&|c| c["iat"] = json!(now() + 120)), 401, "cps-future"),
        (with(&|c| c["exp"] = json!(now() + 90)), 401, "cps-lifetime"),
        (
            with(&|c| {
                c["iat"] = json!(now() - 40);
                c["exp"] = json!(now() - 1);
            }),
            401,
            "cps-expired",
        ),
        (with(&|c| c["aud"] = json!("https://another-cps.example")), 401, "cps-audience"),
        (with(&|c| c["iss"] = json!("9999")), 401, "cps-claim"),
        (with(&|c| c["action"] = json!("retrieve")), 403, "cps-action"),
        (
            with(&|c| {
                c["spc"] = json!(T_SPC);
                c["iss"] = json!(T_SPC);
            }),
            403,
            "cps-spc",
        ),
        (with(&|c| c["orig"] = json!({ "tn": "12025550000" })), 403, "cps-number"),
        (with(&|c| c["passports"] = json!("sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")), 403, "cps-digest"),
        (
            with(&|c| {
                c.as_object_mut().unwrap().remove("passports");
            }),
            401,
            "cps-claim",
        ),
    ];
    for (claims, status, slug) in cases {
        let r = p.publish(&p.token(&p.o_key, &p.o_x5u, &claims), &passports).await;
        r.problem(status, slug);
    }
    // A signature that does not verify, and a certificate that cannot be had.
    let t = p.token(&p.o_key, &p.o_x5u, &with(&|_| {}));
    let (input, sig) = t.rsplit_once('.').unwrap();
    p.publish(&format!("{input}.{}", crate::stir_http::flip_middle(sig)), &passports)
        .await
        .problem(401, "cps-signature");
    let t = p.token(&p.t_key, &p.o_x5u, &with(&|_| {}));
    p.publish(&t, &passports).await.problem(401, "cps-signature");
    let t = p.token(&p.o_key, "http://127.0.0.1:9/none.pem", &with(&|_| {}));
    p.publish(&t, &passports).await.problem(401, "cps-certificate");
    // A token that does not authenticate does not use up its jti.
    let jti = json!(format!("jti-{}", rand_suffix()));
    let bad = p.token(&p.t_key, &p.o_x5u, &with(&|c| c["jti"] = jti.clone()));
    p.publish(&bad, &passports).await.problem(401, "cps-signature");
    p.publish(&p.token(&p.o_key, &p.o_x5u, &with(&|c| c["jti"] = jti.clone())), &passports).await.ok(201);
    // One call, one path: no '+', no percent-encoding, no query.
    for path in [
        format!("/passports/{T_SPC}/%2B{DEST}/{ORIG}"),
        format!("/passports/{T_SPC}/%3{}/{ORIG}", &DEST[1..]),
        format!("/passports/{T_SPC}/{DEST}/{ORIG}?x=1"),
    ] {
        let t = p.token(&p.o_key, &p.o_x5u, &with(&|_| {}));
        p.publish_at(&path, &t, &passports).await.problem(400, "cps-body");
    }
    // The same token twice: the second is a replay, whatever the body.
    let once = p.token(&p.o_key, &p.o_x5u, &with(&|_| {}));
    p.publish(&once, &passports).await.ok(201);
    p.publish(&once, &passports).await.problem(401, "cps-replay");
    // A PASSporT for another call than the path, and a body that is not the shape.
    let other = cli_sign(&p.v.dir, &p.o_cert, &p.o_x5u, "12025550001", DEST, &[]);
    let wrong = vec![split_identity(&other).0.to_owned()];
    let t = p.token(&p.o_key, &p.o_x5u, &with(&|c| c["passports"] = json!(digest(&wrong))));
    let r = p.publish(&t, &wrong).await;
    let detail = r.problem(403, "cps-number")["detail"].as_str().unwrap_or_default().to_owned();
    // The numbers as digits, not a Rust debug dump.
    assert!(detail.contains("PASSporT orig 12025550001 is not the path's 12025557311"), "{detail}");
    let t = p.token(&p.o_key, &p.o_x5u, &with(&|c| c["passports"] = json!(digest(&[]))));
    p.publish(&t, &[]).await.problem(400, "cps-body");
    p.publish_at(&format!("/passports/{T_SPC}/not-a-number/{ORIG}"), &once, &passports).await.problem(400, "cps-body");
    // Retrieval: the right token works once; nothing held for another call is 404.
    let t = p.token(&p.t_key, &p.t_x5u, &p.claims("retrieve", T_SPC, None));
    let r = p.retrieve(T_SPC, &t).await;
    // Published twice above (the jti test, then `once`): both held, in order.
    assert_eq!(r.ok(200)["passports"], json!([passports[0], passports[0]]));
    assert_eq!(r.headers.get("cache-control").and_then(|v| v.to_str().ok()), Some("no-store"));
    p.retrieve(T_SPC, &t).await.problem(401, "cps-replay");
    let mut c = p.claims("retrieve", T_SPC, None);
    c["orig"] = json!({ "tn": "12025550002" });
    let r = p.v.s.get(&format!("/passports/{T_SPC}/{DEST}/12025550002"), Some(&p.token(&p.t_key, &p.t_x5u, &c))).await;
    r.problem(404, "cps-not-found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cps_privacy_mode_seals_passports_and_keeps_no_number_or_passport() {
    // Logging at debug: request spans name the path (which a CPS's must not).
    let p = parties_logging(&["--cps-privacy", "required"], Some("debug")).await;
    // T makes an HPKE key and registers it; the key is public at /cps/v1/keys/{spc}.
    let hpke = p.v.dir.join("t-hpke.pem");
    let public = ok(run(vouch(&p.v.dir).args(["cps", "keygen", "--out"]).arg(&hpke), LIMIT)).trim().to_owned();
    let mut c = vouch(&p.v.dir);
    c.args(["cps", "register-key", "--provider", &p.t.id, "--public-key", &public, "--server", &p.v.s.base]);
    c.args(["--api-key", &p.t.key]);
    assert!(ok(run(c, LIMIT)).contains("registered HPKE key"));
    let k = p.v.s.get(&format!("/cps/v1/keys/{T_SPC}"), None).await.ok(200).clone();
    assert_eq!(k["publicKey"], json!(public));
    p.v.s.get("/cps/v1/keys/0000", None).await.problem(404, "not-found");
    // Neither O nor the operator may register T's key.
    p.v.s
        .post(&format!("/v1/providers/{}/cps-keys", p.t.id), &p.v.s.admin, &json!({ "publicKey": public }))
        .await
        .problem(403, "forbidden");
    p.v.s
        .post(&format!("/v1/providers/{}/cps-keys", p.t.id), &p.o.key, &json!({ "publicKey": public }))
        .await
        .problem(403, "forbidden");
    let identity = p.identity();
    let passport = split_identity(&identity).0.to_owned();
    // In the clear: refused in privacy mode.
    let plain = p.cli("publish", false, &["--spc", T_SPC, "--identity", &identity]);
    assert!(!plain.status.success() && plain.stderr.contains("privacy mode"), "{plain:?}");
    let sealed = ok(p.cli("publish", false, &["--spc", T_SPC, "--identity", &identity, "--seal"]));
    assert!(sealed.contains("sealed for SPC 742B"), "{sealed}");
    // An item sealed to another key (junk, or a key T replaced) is skipped by the retriever.
    let other = ok(run(vouch(&p.v.dir).args(["cps", "keygen", "--out"]).arg(p.v.dir.join("other.pem")), LIMIT));
    ok(p.cli("publish", false, &["--spc", T_SPC, "--identity", &identity, "--recipient-key", other.trim()]));
    // What the CPS holds and hands out is sealed: no part of the PASSporT, no number.
    let t = p.token(&p.t_key, &p.t_x5u, &p.claims("retrieve", T_SPC, None));
    let held = p.retrieve(T_SPC, &t).await.ok(200)["passports"].clone();
    assert_eq!(held.as_array().map(Vec::len), Some(2), "{held}");
    let item = held[0].as_str().unwrap();
    assert!(item.starts_with("hpke1.") && held[1].as_str().unwrap().starts_with("hpke1."), "{held}");
    for part in passport.split('.') {
        assert!(!item.contains(&part[..20]), "the held item shows the PASSporT");
    }
    assert!(!item.contains(ORIG) && !item.contains(DEST));
    // Without the key it does not open; with it, it verifies.
    let no_key = p.cli("retrieve", true, &[]);
    assert!(!no_key.status.success() && no_key.stderr.contains("--hpke-key"), "{no_key:?}");
    let opened = p.cli("retrieve", true, &["--hpke-key", hpke.to_str().unwrap()]);
    assert!(opened.stderr.contains("skipped an item that does not open"), "{opened:?}");
    let opened = ok(opened);
    assert_eq!(split_identity(opened.trim()).0, passport);
    let v = verify(&p.v.s, &p.t.key, &verification_request(ORIG, DEST, opened.trim())).await;
    assert_eq!(v["verstat"], "TN-Validation-Passed", "{v}");
    // Nothing about the call reached the store, the transparency log or the logs: neither
    // number, nor any part of the PASSporT.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let mut kept = store_bytes(&p.v.s.data_dir);
    kept.extend_from_slice(p.v.s.stdout.text().as_bytes());
    kept.extend_from_slice(p.v.s.stderr.text().as_bytes());
    let kept = String::from_utf8_lossy(&kept);
    assert!(kept.contains("request") && kept.contains("/passports/…"), "the server logged no request spans");
    for needle in [ORIG, DEST].into_iter().chain(passport.split('.')) {
        assert!(!kept.contains(needle), "{needle} is in the store or the logs");
    }
    // The record is named by a keyed hash: the naming key is the server's own secret file.
    let naming = std::fs::read_to_string(p.v.s.data_dir.join("cps-naming.key")).unwrap();
    assert_eq!(naming.trim().len(), 64);
}

/// PyJWT signs the publisher's token, the `jcs` package (RFC 8785) canonicalises the passports
/// array for its digest: vouch accepts it, and the terminating side gets the PASSporT.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cps_accepts_a_pyjwt_publisher_token_with_a_jcs_digest() {
    let python = std::env::var("VOUCH_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = Command::new(&python).args(["-c", "import jwt, jcs"]).output();
    assert!(probe.is_ok_and(|o| o.status.success()), "PyJWT and jcs are not importable by {python}; run scripts/test");
    let p = parties(&[]).await;
    let identity = p.identity();
    let passport = split_identity(&identity).0.to_owned();
    let script = r#"
import sys, json, time, uuid, base64, hashlib, urllib.request, jwt, jcs
from cryptography.hazmat.primitives import serialization
base, key, x5u, spc, orig, dest, passport, t_spc = sys.argv[1:9]
body = {"passports": [passport]}
digest = "sha256-" + base64.b64encode(hashlib.sha256(jcs.canonicalize(body["passports"])).digest()).decode()
now = int(time.time())
claims = {"action": "publish", "aud": base, "iss": spc, "spc": spc, "iat": now, "exp": now + 20,
          "jti": str(uuid.uuid4()), "orig": {"tn": orig}, "dest": {"tn": [dest]}, "passports": digest}
priv = serialization.load_pem_private_key(open(key, "rb").read(), password=None)
token = jwt.encode(claims, priv, algorithm="ES256", headers={"x5u": x5u})
req = urllib.request.Request(f"{base}/passports/{t_spc}/{dest}/{orig}", data=json.dumps(body).encode(),
    headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"}, method="POST")
with urllib.request.urlopen(req, timeout=10) as r:
    assert r.status == 201, r.status
    print(r.read().decode())
"#;
    let out = Command::new(&python)
        .args(["-c", script, &p.v.s.base])
        .arg(&p.o_key)
        .args([&p.o_x5u, O_SPC, ORIG, DEST, &passport, T_SPC])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["items"], 1);
    let got = ok(p.cli("retrieve", true, &[]));
    assert_eq!(split_identity(got.trim()).0, passport);
    // PyJWT's own token is a plain JWS: decode() of the harness reads it the same way.
    let (h, _) = decode(&passport);
    assert_eq!(h["x5u"], json!(p.o_x5u));
}

/// An INVITE from a TDM gateway arrives without Identity: the redirect server retrieves the
/// PASSporT published for the call and answers with its verstat.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cps_sip_invites_from_a_tdm_gateway_are_verified_with_the_published_passport() {
    let p = parties(&[]).await;
    let peer = json!({ "address": "127.0.0.1", "tdm": true });
    let r = p.v.s.post(&format!("/v1/providers/{}/sip-peers", p.t.id), &p.t.key, &peer).await;
    assert_eq!(r.ok(201)["tdm"], true);
    let invite = |id: &str, orig: &str| {
        format!(
            "INVITE sip:+{DEST}@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;rport;branch=z9hG4bK-{id}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:+{orig}@127.0.0.1>;tag=t-{id}\r\nTo: <sip:+{DEST}@127.0.0.1>\r\n\
             Call-ID: {id}@127.0.0.1\r\nCSeq: 1 INVITE\r\nContact: <sip:gw@127.0.0.1:5999>\r\nContent-Length: 0\r\n\r\n"
        )
    };
    let ask = |m: String| {
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.send_to(m.as_bytes(), p.v.sip).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = vec![0u8; 65_536];
        let (n, _) = sock.recv_from(&mut buf).expect("no SIP answer");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    // Nothing published yet: the call goes on, unverified.
    let a = ask(invite("tdm-1", ORIG));
    assert!(a.starts_with("SIP/2.0 302 ") && a.contains("verstat=No-TN-Validation"), "{a}");
    ok(p.cli("publish", false, &["--spc", T_SPC, "--identity", &p.identity()]));
    // A PASSporT that does not verify (here a tampered one) is not taken by the CPS.
    let junk = crate::stir_http::tamper_signature(&p.identity());
    let refused = p.cli("publish", false, &["--spc", T_SPC, "--identity", &junk]);
    assert!(!refused.status.success() && refused.stderr.contains("does not verify"), "{refused:?}");
    let a = ask(invite("tdm-2", ORIG));
    assert!(a.starts_with("SIP/2.0 302 ") && a.contains("verstat=TN-Validation-Passed"), "{a}");
    // The same PASSporT again for another call (a redial before its own is published): a
    // replay, so the call goes on unverified, not refused.
    let a = ask(invite("tdm-2b", ORIG));
    assert!(a.starts_with("SIP/2.0 302 ") && a.contains("verstat=No-TN-Validation"), "{a}");
    // Another caller's call finds nothing.
    let a = ask(invite("tdm-3", "12025550003"));
    assert!(a.starts_with("SIP/2.0 302 ") && a.contains("verstat=No-TN-Validation"), "{a}");
}

/// Registers 127.0.0.1 as T's TDM gateway.
async fn tdm_gateway(p: &Parties) {
    let peer = json!({ "address": "127.0.0.1", "tdm": true });
    let r = p.v.s.post(&format!("/v1/providers/{}/sip-peers", p.t.id), &p.t.key, &peer).await;
    assert_eq!(r.ok(201)["tdm"], true);
}

/// An INVITE without Identity from T's TDM gateway (`orig`, `dest` as the gateway writes
/// them): the redirect server's answer.
fn tdm_invite(p: &Parties, id: &str, orig: &str, dest: &str) -> String {
    let m = format!(
        "INVITE sip:{dest}@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;rport;branch=z9hG4bK-{id}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:{orig}@127.0.0.1>;tag=t-{id}\r\nTo: <sip:{dest}@127.0.0.1>\r\n\
         Call-ID: {id}@127.0.0.1\r\nCSeq: 1 INVITE\r\nContact: <sip:gw@127.0.0.1:5999>\r\nContent-Length: 0\r\n\r\n"
    );
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.send_to(m.as_bytes(), p.v.sip).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = vec![0u8; 65_536];
    let (n, _) = sock.recv_from(&mut buf).expect("no SIP answer");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// Another publisher's PASSporT for the same call (here with a caller name of its own) does not
/// override the originating provider's: PASSporTs of two signers that both verify make the
/// call ambiguous, so no caller name is shown. One signer's several PASSporTs are not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cps_tdm_call_with_passports_of_two_signers_shows_no_caller_name() {
    let p = parties(&[]).await;
    tdm_gateway(&p).await;
    let (x_key, x_x5u, x_cert) = p.third().await;
    let named = || cli_sign(&p.v.dir, &p.o_cert, &p.o_x5u, ORIG, DEST, &["--rcd-name", "Acme Dental"]);
    // O publishes a PASSporT twice (a retransmission) and another one: one signer, its name.
    let first = named();
    ok(p.cli("publish", false, &["--spc", T_SPC, "--identity", &first]));
    ok(p.cli("publish", false, &["--spc", T_SPC, "--identity", &first, "--identity", &named()]));
    let a = tdm_invite(&p, "amb-1", &format!("+{ORIG}"), &format!("+{DEST}"));
    assert!(a.contains("verstat=TN-Validation-Passed") && a.contains("Acme Dental"), "{a}");
    // The next call: O's new PASSporT, and X's own for the same numbers, published after it.
    ok(p.cli("publish", false, &["--spc", T_SPC, "--identity", &named()]));
    let x = cli_sign(&p.v.dir, &x_cert, &x_x5u, ORIG, DEST, &["--rcd-name", "Bank Fraud Department"]);
    let items = vec![split_identity(&x).0.to_owned()];
    p.publish(&p.token(&x_key, &x_x5u, &p.claims("publish", X_SPC, Some(&items))), &items).await.ok(201);
    let a = tdm_invite(&p, "amb-2", &format!("+{ORIG}"), &format!("+{DEST}"));
    assert!(a.starts_with("SIP/2.0 302 ") && a.contains("verstat=TN-Validation-Passed"), "{a}");
    assert!(!a.contains("Bank Fraud") && !a.contains("Acme Dental"), "an ambiguous call shows a caller name: {a}");
}

/// Each PASSporT in the clear is verified with the certificate at its own x5u, whoever
/// publishes it: a gateway may publish the originating provider's PASSporT, and a PASSporT that
/// does not verify is refused (cps-passport).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cps_publish_verifies_each_passport_with_its_own_certificate() {
    use crate::stir_http::{claims as passport_claims, jose, tamper_signature};
    let p = parties(&[]).await;
    let (x_key, x_x5u, _) = p.third().await;
    let as_o = |items: &[String]| p.token(&p.o_key, &p.o_x5u, &p.claims("publish", O_SPC, Some(items)));
    let refused = [
        // A signature that does not verify.
        split_identity(&tamper_signature(&p.identity())).0.to_owned(),
        // O's key, T's certificate.
        craft(&p.o_key, &jose(&p.t_x5u), &passport_claims(ORIG, DEST)),
        // A certificate that cannot be had.
        craft(&p.o_key, &jose("http://127.0.0.1:9/none.pem"), &passport_claims(ORIG, DEST)),
    ];
    for item in refused {
        let items = vec![item];
        let r = p.publish(&as_o(&items), &items).await;
        let detail = r.problem(400, "cps-passport")["detail"].as_str().unwrap_or_default().to_owned();
        assert!(detail.starts_with("passports[0] does not verify"), "{detail}");
    }
    // The valid one after a bad one: the whole body is refused, nothing is held.
    let good = split_identity(&p.identity()).0.to_owned();
    let items = vec![good.clone(), split_identity(&tamper_signature(&p.identity())).0.to_owned()];
    let r = p.publish(&as_o(&items), &items).await;
    assert!(r.problem(400, "cps-passport")["detail"].as_str().unwrap_or_default().starts_with("passports[1]"));
    p.retrieve(T_SPC, &p.token(&p.t_key, &p.t_x5u, &p.claims("retrieve", T_SPC, None)))
        .await
        .problem(404, "cps-not-found");
    // X, an IP-to-TDM gateway, publishes O's PASSporT as it received it.
    let items = vec![good.clone()];
    let r = p.publish(&p.token(&x_key, &x_x5u, &p.claims("publish", X_SPC, Some(&items))), &items).await;
    assert_eq!(r.ok(201)["items"], 1);
    let got = ok(p.cli("retrieve", true, &[]));
    assert_eq!(split_identity(got.trim()).0, good);
}

/// National-format North American numbers name the same record as with country code 1: in
/// the CLI's numbers, the path, the token and the PASSporT.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cps_national_numbers_name_the_record_of_the_global_ones() {
    let p = parties(&[]).await;
    tdm_gateway(&p).await;
    let (nat_orig, nat_dest) = (&ORIG[1..], &DEST[1..]);
    // `vouch sign` keeps national numbers in the PASSporT, as some equipment does.
    let identity = cli_sign(&p.v.dir, &p.o_cert, &p.o_x5u, nat_orig, nat_dest, &[]);
    assert_eq!(decode(split_identity(&identity).0).1["orig"]["tn"], json!(nat_orig));
    ok(p.cli_for("publish", false, "202-555-7311", "(310) 555-7422", &["--spc", T_SPC, "--identity", &identity]));
    // Retrieved with the global numbers, and with national ones.
    let got = ok(p.cli("retrieve", true, &[]));
    assert_eq!(split_identity(got.trim()).0, split_identity(&identity).0);
    ok(p.cli_for("retrieve", true, nat_orig, nat_dest, &[]));
    // A national path with a token naming the global numbers.
    let t = p.token(&p.t_key, &p.t_x5u, &p.claims("retrieve", T_SPC, None));
    let r = p.v.s.get(&format!("/passports/{T_SPC}/{nat_dest}/{nat_orig}"), Some(&t)).await;
    assert_eq!(r.ok(200)["passports"].as_array().map(Vec::len), Some(1));
    // The TDM gateway writes the numbers nationally too.
    let a = tdm_invite(&p, "nat-1", nat_orig, nat_dest);
    assert!(a.contains("verstat=TN-Validation-Passed"), "{a}");
}

/// A sealed item in the record (anyone may publish one) does not keep `vouch cps retrieve`
/// without --hpke-key from printing the PASSporTs in the clear.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cps_retrieve_without_a_key_skips_sealed_items() {
    use base64::Engine as _;
    let p = parties(&[]).await;
    let (x_key, x_x5u, _) = p.third().await;
    let identity = p.identity();
    ok(p.cli("publish", false, &["--spc", T_SPC, "--identity", &identity]));
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let mut point = vec![4u8];
    point.extend_from_slice(&[0x11; 64]);
    let junk = vec![format!("hpke1.{}.{}", b64(&point), b64(&[0; 32]))];
    p.publish(&p.token(&x_key, &x_x5u, &p.claims("publish", X_SPC, Some(&junk))), &junk).await.ok(201);
    let got = p.cli("retrieve", true, &[]);
    assert!(got.stderr.contains("skipped 1 sealed item(s): give --hpke-key"), "{got:?}");
    assert_eq!(split_identity(ok(got).trim()).0, split_identity(&identity).0);
}

/// A publish body over the limit gets problem+json like every other answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cps_refuses_an_oversize_body_with_a_problem() {
    let p = parties(&[]).await;
    let big = vec!["x".repeat(8_000); 13];
    let r = p.publish(&p.token(&p.o_key, &p.o_x5u, &p.claims("publish", O_SPC, Some(&big))), &big).await;
    r.problem(413, "body-too-large");
    assert_eq!(r.headers.get("cache-control").and_then(|v| v.to_str().ok()), Some("no-store"));
}

/// A path whose SPC is not canonical (lower case) is refused, rather than held where the
/// provider's retrievals (whose certificate says 742B) never look.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cps_refuses_a_lower_case_spc_in_the_path() {
    let p = parties(&[]).await;
    let items = vec![split_identity(&p.identity()).0.to_owned()];
    let t = p.token(&p.o_key, &p.o_x5u, &p.claims("publish", O_SPC, Some(&items)));
    let lower = T_SPC.to_ascii_lowercase();
    p.publish_at(&format!("/passports/{lower}/{DEST}/{ORIG}"), &t, &items).await.problem(400, "cps-body");
    let t = p.token(&p.t_key, &p.t_x5u, &p.claims("retrieve", T_SPC, None));
    p.retrieve(&lower, &t).await.problem(400, "cps-body");
}
