//! SMPP accounts through the REST API (docs/SMPP-GATEWAY.md, "Accounts"): `system_id`s unique
//! ignoring case, and password rotation, checked with real binds over TCP against `vouch serve
//! --smpp` (a raw SMPP 3.4 bind_transceiver: no ESME library needed to bind).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{Provider, Server, serve_command};

const BIND_TRANSCEIVER: u32 = 0x0000_0009;
const ENQUIRE_LINK: u32 = 0x0000_0015;
const ESME_RINVPASWD: u32 = 0x0E;

fn accounts(p: &Provider) -> String {
    format!("/v1/providers/{}/smpp-accounts", p.id)
}

fn password_of(p: &Provider, system_id: &str) -> String {
    format!("/v1/providers/{}/smpp-accounts/{system_id}/password", p.id)
}

/// The SMPP port `vouch serve --smpp` announced on its standard output.
async fn smpp_port(server: &Server) -> u16 {
    let prefix = "vouch: SMPP gateway on 127.0.0.1:";
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = server.stdout.text();
        if let Some(port) = out
            .lines()
            .find_map(|l| l.strip_prefix(prefix))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|p| p.parse().ok())
        {
            return port;
        }
        assert!(Instant::now() < deadline, "no {prefix:?} in {out}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A port nothing listens on (the upstream SMSC, which these tests never reach: a bind does
/// not need it).
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address").port()
}

/// An ESME on a raw TCP connection.
struct Esme {
    s: TcpStream,
    seq: u32,
}

impl Esme {
    fn connect(port: u16) -> Self {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the SMPP port");
        s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        Self { s, seq: 0 }
    }

    /// Sends a request and reads PDUs until its response: the response's command_status.
    fn request(&mut self, command_id: u32, body: &[u8]) -> u32 {
        self.seq += 1;
        let mut pdu = ((16 + body.len()) as u32).to_be_bytes().to_vec();
        for w in [command_id, 0, self.seq] {
            pdu.extend(w.to_be_bytes());
        }
        pdu.extend(body);
        self.s.write_all(&pdu).expect("write");
        loop {
            let mut head = [0u8; 16];
            self.s.read_exact(&mut head).expect("a response");
            let w = |i: usize| u32::from_be_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
            let mut rest = vec![0u8; (w(0) as usize).saturating_sub(16)];
            self.s.read_exact(&mut rest).expect("the response's body");
            if w(4) == command_id | 0x8000_0000 && w(12) == self.seq {
                return w(8);
            }
        }
    }

    /// bind_transceiver (interface_version 0x34): the response's command_status.
    fn bind(&mut self, system_id: &str, password: &str) -> u32 {
        let mut body = Vec::new();
        for field in [system_id, password, ""] {
            body.extend(field.as_bytes());
            body.push(0);
        }
        body.extend([0x34, 0, 0, 0]);
        self.request(BIND_TRANSCEIVER, &body)
    }
}

/// A fresh connection's bind_transceiver: its command_status.
fn bind_status(port: u16, system_id: &str, password: &str) -> u32 {
    Esme::connect(port).bind(system_id, password)
}

/// The registry's events (administrator), oldest first.
async fn events(server: &Server) -> Vec<Value> {
    let r = server.get("/v1/events?limit=1000", Some(&server.admin)).await;
    r.ok(200).as_array().expect("an array of events").clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smpp_accounts_system_ids_are_unique_ignoring_case_and_never_reissued() {
    let server = Server::start();
    let doc = server.get("/openapi.json", None).await.ok(200).clone();
    let rotate = &doc["paths"]["/v1/providers/{id}/smpp-accounts/{system_id}/password"]["post"];
    assert!(rotate["responses"]["200"].is_object(), "rotation in the OpenAPI document: {rotate}");
    let csp = server.csp("Acme Texting").await;
    let other = server.csp("Other Texting Co").await;
    server.smpp_account(&csp, "acme1").await;

    // The same letters in another case: for the same CSP and for another one.
    let r = server.post(&accounts(&csp), &csp.key, &json!({"systemId": "ACME1"})).await;
    r.problem(409, "duplicate-reference-id");
    let r = server.post(&accounts(&other), &other.key, &json!({"systemId": "Acme1"})).await;
    r.problem(409, "duplicate-reference-id");
    // The administrator issuing for a CSP meets the same rule.
    let r = server.post(&accounts(&other), &server.admin, &json!({"systemId": "aCmE1"})).await;
    r.problem(409, "duplicate-reference-id");
    server.post(&accounts(&csp), &csp.key, &json!({"systemId": "acme1"})).await.problem(409, "duplicate-reference-id");
    // A system_id sharing a prefix is another one.
    server.smpp_account(&csp, "acme12").await;
    server.smpp_account(&other, "Other_1").await;
    server
        .post(&accounts(&csp), &csp.key, &json!({"systemId": "OTHER_1"}))
        .await
        .problem(409, "duplicate-reference-id");

    // Revoked, a system_id is never issued again, in any case.
    server.delete(&format!("{}/acme1", accounts(&csp)), &csp.key).await.ok(204);
    for taken in ["acme1", "ACME1"] {
        let r = server.post(&accounts(&csp), &csp.key, &json!({"systemId": taken})).await;
        r.problem(409, "duplicate-reference-id");
        let r = server.post(&accounts(&other), &other.key, &json!({"systemId": taken})).await;
        r.problem(409, "duplicate-reference-id");
    }

    // Nothing of the refused issuances was written: the lists and the events show only the
    // three accounts issued.
    let listed = server.get(&accounts(&csp), Some(&csp.key)).await.ok(200).clone();
    let ids: Vec<&str> = listed.as_array().expect("list").iter().filter_map(|a| a["systemId"].as_str()).collect();
    assert_eq!(ids, ["acme1", "acme12"], "{listed}");
    assert!(listed[0]["revoked"].is_string(), "{listed}");
    let listed = server.get(&accounts(&other), Some(&other.key)).await.ok(200).clone();
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    let issued: Vec<Value> = events(&server)
        .await
        .into_iter()
        .filter(|e| e["kind"] == "smppaccount.issued")
        .map(|e| e["body"]["systemId"].clone())
        .collect();
    assert_eq!(issued, [json!("acme1"), json!("acme12"), json!("Other_1")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smpp_account_password_rotation_takes_effect_at_the_next_bind() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let data_dir = dir.join("data");
    let mut server = Server::launch(serve_command(dir, &data_dir), data_dir.clone(), dir.to_path_buf());
    let csp = server.csp("Acme Texting").await;
    let other = server.csp("Other Texting Co").await;
    let dca = server.dca("Gateway Aggregation").await;
    let first = server.smpp_account(&csp, "rotesme").await;
    server.sigterm();
    let mut cmd = serve_command(dir, &data_dir);
    cmd.args(["--smpp", "127.0.0.1:0", "--gateway-dca", &dca.id, "--smsc"])
        .arg(format!("smpp://up:pw@127.0.0.1:{}", closed_port()));
    let server = Server::launch(cmd, data_dir.clone(), dir.to_path_buf());
    let port = smpp_port(&server).await;

    // A session bound with the first password.
    let mut bound = Esme::connect(port);
    assert_eq!(bound.bind("rotesme", &first), 0, "{}", server.stderr.text());

    // Only the account's CSP and the administrator rotate it; no one finds an account that is
    // not there (unknown, or another CSP's under its own path).
    server.post(&password_of(&csp, "rotesme"), &other.key, &json!({})).await.problem(403, "forbidden");
    server.post(&password_of(&csp, "rotesme"), &dca.key, &json!({})).await.problem(403, "forbidden");
    let r = server.post(&password_of(&other, "rotesme"), &other.key, &json!({})).await;
    r.problem(404, "smpp-account-not-found");
    let r = server.post(&password_of(&csp, "nosuchesme"), &csp.key, &json!({})).await;
    r.problem(404, "smpp-account-not-found");
    // The path's system_id is compared exactly, as a bind compares it.
    let r = server.post(&password_of(&csp, "ROTESME"), &csp.key, &json!({})).await;
    r.problem(404, "smpp-account-not-found");
    assert_eq!(bind_status(port, "rotesme", &first), 0, "nothing refused changed the password");

    // The CSP rotates: the new password is in the answer, once.
    let r = server.post(&password_of(&csp, "rotesme"), &csp.key, &json!({})).await;
    let rotated = r.ok(200).clone();
    assert_eq!(rotated["systemId"], "rotesme");
    assert_eq!(rotated["providerId"], csp.id.as_str());
    assert!(rotated.get("revoked").is_none(), "{rotated}");
    let second = rotated["password"].as_str().expect("the new password").to_owned();
    assert_eq!(second.len(), 8, "{rotated}");
    assert!(second.bytes().all(|b| b.is_ascii_alphanumeric()), "{rotated}");
    assert_ne!(second, first);
    let listed = server.get(&accounts(&csp), Some(&csp.key)).await.ok(200).clone();
    assert!(listed[0].get("password").is_none(), "the password is shown once: {listed}");

    // The old password fails at once, the new one binds, and the session bound before stays.
    assert_eq!(bind_status(port, "rotesme", &first), ESME_RINVPASWD);
    assert_eq!(bind_status(port, "rotesme", &second), 0);
    assert_eq!(bound.request(ENQUIRE_LINK, &[]), 0, "a bound session stays bound after a rotation");

    // The administrator rotates too.
    let r = server.post(&password_of(&csp, "rotesme"), &server.admin, &json!({})).await;
    let third = r.ok(200)["password"].as_str().expect("password").to_owned();
    assert_eq!(bind_status(port, "rotesme", &second), ESME_RINVPASWD);
    assert_eq!(bind_status(port, "rotesme", &third), 0);

    // The events name the account and who rotated it, never a password or a hash.
    let all = events(&server).await;
    let rotations: Vec<&Value> = all.iter().filter(|e| e["kind"] == "smppaccount.rotated").collect();
    assert_eq!(rotations.len(), 2, "{all:?}");
    for (e, actor) in rotations.iter().zip([csp.id.as_str(), "admin"]) {
        assert_eq!(e["body"], json!({"providerId": csp.id, "systemId": "rotesme"}), "{e}");
        assert_eq!(e["actor"], actor, "{e}");
    }
    let text = serde_json::to_string(&all).expect("JSON");
    for secret in [&first, &second, &third] {
        assert!(!text.contains(secret.as_str()), "a password in the events");
    }
    assert!(!text.contains("pbkdf2"), "a password hash in the events");

    // A revoked account is not found for rotation, as for a second revocation.
    server.delete(&format!("{}/rotesme", accounts(&csp)), &csp.key).await.ok(204);
    let r = server.post(&password_of(&csp, "rotesme"), &csp.key, &json!({})).await;
    r.problem(404, "smpp-account-not-found");
    let r = server.post(&password_of(&csp, "rotesme"), &server.admin, &json!({})).await;
    r.problem(404, "smpp-account-not-found");
    assert!(!events(&server).await.iter().skip(all.len()).any(|e| e["kind"] == "smppaccount.rotated"));
}
