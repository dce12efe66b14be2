//! The transparency log through the real binary: signed checkpoints, proofs checked by
//! `vouch log prove`, sealed brand fields and vetting texts and their openings, the auditor
//! (`vouch log verify`) across a SIGKILL during a burst of writes, tampering caught by
//! `--full`, a lying log caught by `prove` and `trace --verify`, a halted or lagging log
//! reported, and the exit codes that tell these apart.

use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::harness::*;

fn log_cmd(s: &Server, args: &[&str]) -> Command {
    let mut c = vouch(&s.scratch);
    c.arg("log").args(args).arg("--url").arg(&s.base);
    c
}

async fn events_of_kind(s: &Server, kind: &str) -> Vec<Value> {
    all_events(s).await.into_iter().filter(|e| e["kind"] == kind).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_proved_and_brand_secrets_are_sealed() {
    let s = Server::start();
    assert!(s.stdout.text().contains("transparency log"), "{}", s.stdout.text());
    let csp = s.csp("Sealing CSP").await;
    let other = s.csp("Other CSP").await;
    let brand = s.verified_brand(&csp).await;
    let size = wait_integrated(&s).await;

    // The checkpoint is a signed note in the C2SP format, verifiable with the served key.
    let cp = s.get("/log/checkpoint", None).await;
    assert_eq!(cp.content_type(), "text/plain; charset=utf-8");
    let key = s.get("/log/key", None).await.text.trim().to_owned();
    let origin = key.split('+').next().expect("key name").to_owned();
    // Named after the address really bound (the server was asked for port 0).
    let host = s.base.trim_start_matches("http://");
    assert_eq!(origin, format!("{host}/log"));
    assert!(cp.text.starts_with(&format!("{origin}\n{size}\n")), "{}", cp.text);
    assert!(cp.text.contains(&format!("\n\n\u{2014} {origin} ")), "{}", cp.text);

    let state = s.scratch_file("audit.json");
    let out =
        run(log_cmd(&s, &["verify", "--full", "--state", state.to_str().expect("path")]), Duration::from_secs(60));
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.contains("full audit") && out.stdout.contains("OK"), "{}", out.stdout);

    // The brand's event: in the log, without its EIN, e-mail or street in the clear.
    let registered = events_of_kind(&s, "brand.registered").await;
    let seq = registered[0]["seq"].as_u64().expect("seq");
    let out = run(log_cmd(&s, &["prove", "--event", &seq.to_string(), "--key", &key]), Duration::from_secs(60));
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.contains(": OK"), "{}", out.stdout);
    let proof = s.get(&format!("/v1/log/proofs/inclusion?event={seq}"), None).await;
    let entry: Value =
        serde_json::from_slice(&STANDARD.decode(proof.ok(200)["entry"].as_str().expect("entry")).expect("b64"))
            .expect("the entry is JSON");
    let text = entry.to_string();
    for secret in ["46-4123456", "ops@acmedental.com", "1 Main St", "94105", "+14155550100"] {
        assert!(!text.contains(secret), "{secret} is in the clear in the log: {text}");
    }
    assert_eq!(entry["body"]["brand"]["displayName"], "Acme Dental", "{text}");
    let sealed = entry["body"]["sealed"].as_object().expect("sealed commitments");
    assert!(sealed.contains_key("ein") && sealed.contains_key("email"), "{text}");

    // The brand's CSP opens the commitments; they match the entry. Another CSP cannot.
    let openings = s.get(&format!("/v1/log/openings/{seq}"), Some(&csp.key)).await;
    let list = openings.ok(200)["openings"].as_array().expect("openings").clone();
    let ein = list.iter().find(|o| o["field"] == "ein").expect("ein opening");
    assert_eq!(ein["value"], "46-4123456");
    let mut h = Sha256::new();
    h.update(STANDARD.decode(ein["salt"].as_str().expect("salt")).expect("b64"));
    h.update(serde_json::to_string(&ein["value"]).expect("json").as_bytes());
    assert_eq!(STANDARD.encode(h.finalize()), sealed["ein"].as_str().expect("commitment"));
    s.get(&format!("/v1/log/openings/{seq}"), Some(&other.key)).await.ok(404);
    s.get(&format!("/v1/log/openings/{seq}"), None).await.ok(401);
    assert_eq!(s.get(&format!("/v1/brands/{brand}"), Some(&csp.key)).await.ok(200)["ein"], "46-4123456");

    // Consistency proofs between any two sizes; bad requests get problems, never a panic.
    let c = s.get(&format!("/v1/log/proofs/consistency?from=1&to={size}"), None).await;
    assert_eq!(c.ok(200)["to"], size);
    for (path, status) in [
        ("/log/tile/0/abc", 400),
        ("/log/tile/0/000.p/0", 400),
        ("/log/tile/99/000", 400),
        ("/log/tile/0/x999/x999/999", 404),
        ("/log/tile/entries/x001/000", 404),
        ("/v1/log/proofs/consistency?from=0", 422),
        ("/v1/log/proofs/consistency?from=5&to=99999999", 422),
        ("/v1/log/proofs/inclusion?event=1&size=99999999", 422),
        ("/v1/log/proofs/inclusion?event=99999999", 422),
        ("/v1/log/proofs/inclusion?event=0", 422),
        ("/v1/log/proofs/inclusion?event=5&size=3", 422),
        ("/v1/log/proofs/inclusion?event=1&size=0", 422),
        ("/v1/log/proofs/inclusion?event=1&fingerprint=ab", 400),
        ("/v1/log/proofs/inclusion?fingerprint=00", 404),
        ("/v1/log/proofs/inclusion?event=-1", 400),
    ] {
        let r = s.get(path, None).await;
        assert_eq!(r.status.as_u16(), status, "{path}: {}", r.text);
        assert!(r.json["type"].as_str().unwrap_or("").starts_with(PROBLEM), "{path}: {}", r.text);
    }
    // The partial level-0 tile: one 32-byte hash per entry, immutable.
    let w = size.min(255);
    let r = s.http.get(format!("{}/log/tile/0/000.p/{w}", s.base)).send().await.expect("tile");
    assert_eq!(r.headers()["cache-control"], "public, max-age=31536000, immutable");
    assert_eq!(r.bytes().await.expect("bytes").len() as u64, 32 * w);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_a_burst_loses_nothing_and_the_auditor_sees_one_tree() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data_dir = tmp.path().join("data");
    let mut cmd = serve_command(tmp.path(), &data_dir);
    cmd.arg("--log-interval").arg("20");
    let mut s = Server::launch(cmd, data_dir, tmp.path().to_path_buf());
    let state = s.scratch_file("audit.json");
    s.csp("Before the crash").await;
    wait_integrated(&s).await;
    let out = run(log_cmd(&s, &["verify", "--state", state.to_str().expect("path")]), Duration::from_secs(60));
    assert!(out.status.success(), "{out:?}");

    // A burst of writes from 8 concurrent clients; the server is killed in the middle of it.
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut tasks = Vec::new();
    for w in 0..8 {
        let (base, admin, http, acked) = (s.base.clone(), s.admin.clone(), s.http.clone(), acked.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..400 {
                let body = json!({"legalName": format!("Burst {w}-{i}"), "roles": ["csp"]});
                let r = http.post(format!("{base}/v1/providers")).bearer_auth(&admin).json(&body).send().await;
                let Ok(r) = r else { return };
                if r.status() != 201 {
                    return;
                }
                let Ok(v) = r.json::<Value>().await else { return };
                acked.lock().expect("lock").push(v["provider"]["providerId"].as_str().unwrap_or("").to_owned());
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while acked.lock().expect("lock").len() < 150 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let killed = s.sigkill();
    assert!(!killed.status.success(), "{killed:?}");
    for t in tasks {
        let _ = t.await;
    }
    let acked = acked.lock().expect("lock").clone();
    assert!(acked.len() >= 150, "only {} writes were acknowledged before the kill", acked.len());

    s.restart();
    let size = wait_integrated(&s).await;
    // The auditor's consistency check from the pre-crash checkpoint passes, and a full
    // rebuild gives the signed root.
    let out =
        run(log_cmd(&s, &["verify", "--full", "--state", state.to_str().expect("path")]), Duration::from_secs(120));
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.contains("consistent with the checkpoint seen before"), "{}", out.stdout);
    // Every acknowledged write is an event inside the tree.
    let registered = events_of_kind(&s, "provider.registered").await;
    let by_id: std::collections::HashMap<String, u64> = registered
        .iter()
        .map(|e| (e["body"]["providerId"].as_str().unwrap_or("").to_owned(), e["seq"].as_u64().unwrap_or(0)))
        .collect();
    for id in &acked {
        let seq = *by_id.get(id).unwrap_or_else(|| panic!("acknowledged provider {id} has no event"));
        assert!(seq <= size, "event {seq} is not in the tree of size {size}");
    }
    let some = by_id[&acked[acked.len() - 1]];
    let out = run(
        log_cmd(&s, &["prove", "--event", &some.to_string(), "--state", state.to_str().expect("path")]),
        Duration::from_secs(60),
    );
    assert!(out.status.success(), "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_with_a_tile_or_an_entry_is_caught_and_a_split_view_is_reported() {
    let mut s = Server::start();
    for i in 0..300 {
        s.post("/v1/providers", &s.admin.clone(), &json!({"legalName": format!("Tamper {i}"), "roles": ["csp"]}))
            .await
            .ok(201);
    }
    wait_integrated(&s).await;
    let state = s.scratch_file("audit.json");
    let st = state.to_str().expect("path").to_owned();
    let out = run(log_cmd(&s, &["verify", "--full", "--state", &st]), Duration::from_secs(60));
    assert!(out.status.success(), "{out:?}");

    // A stored full tile edited by hand: the full audit names it.
    s.sigterm();
    store_sql(
        &s.data_dir,
        "CREATE TABLE tile_backup AS SELECT hashes FROM log_tiles WHERE level = 0 AND idx = 0; \
         UPDATE log_tiles SET hashes = zeroblob(32) || substr(hashes, 33) WHERE level = 0 AND idx = 0;",
        "CREATE TABLE tile_backup AS SELECT hashes FROM log_tiles WHERE level = 0 AND idx = 0; \
         UPDATE log_tiles SET hashes = decode(repeat('00', 32), 'hex') || substring(hashes from 33) \
         WHERE level = 0 AND idx = 0;",
    );
    s.restart();
    let out = run(log_cmd(&s, &["verify", "--full", "--state", &st]), Duration::from_secs(60));
    assert!(!out.status.success(), "{out:?}");
    assert!(out.stderr.contains("REWRITE") && out.stderr.contains("tile/0/000"), "{}", out.stderr);
    // Without --full, the checkpoint is still consistent (the tree head was not touched).
    let out = run(log_cmd(&s, &["verify", "--state", &st]), Duration::from_secs(60));
    assert!(out.status.success(), "{out:?}");

    // The tile restored from the entries, an entry (event) edited instead: caught too.
    s.sigterm();
    let restore = "UPDATE log_tiles SET hashes = (SELECT hashes FROM tile_backup) WHERE level = 0 AND idx = 0; \
                   DROP TABLE tile_backup;";
    store_sql(&s.data_dir, restore, restore);
    s.restart();
    let out = run(log_cmd(&s, &["verify", "--full", "--state", &st]), Duration::from_secs(60));
    assert!(out.status.success(), "the restored tile should audit clean: {out:?}");
    s.sigterm();
    // Event 10 is the registration of "Tamper 4" (events: the admin key, then a registration
    // and a key per provider).
    let edit = "UPDATE events SET canonical = replace(canonical, 'Tamper 4', 'Tamper X') WHERE seq = 10;";
    store_sql(&s.data_dir, edit, edit);
    s.restart();
    let out = run(log_cmd(&s, &["verify", "--full", "--state", &st]), Duration::from_secs(60));
    assert!(!out.status.success(), "{out:?}");
    assert!(out.stderr.contains("REWRITE") && out.stderr.contains("(event 10)"), "{}", out.stderr);

    // A different tree of the same size than the one the auditor saw: a split view.
    let mut saved: Value = serde_json::from_slice(&std::fs::read(&state).expect("state")).expect("json");
    saved["root"] = json!(STANDARD.encode([7u8; 32]));
    std::fs::write(&state, serde_json::to_vec(&saved).expect("json")).expect("write");
    let out = run(log_cmd(&s, &["verify", "--state", &st]), Duration::from_secs(60));
    assert!(!out.status.success(), "{out:?}");
    assert!(out.stderr.contains("SPLIT VIEW"), "{}", out.stderr);
}

/// Every entry of the signed tree, as the public entry bundles serve them.
async fn public_entries(s: &Server) -> Vec<Vec<u8>> {
    let size = wait_integrated(s).await;
    let mut entries = Vec::new();
    for n in 0..size.div_ceil(256) {
        let width = (size - n * 256).min(256);
        let path = if width == 256 {
            format!("/log/tile/entries/{n:03}")
        } else {
            format!("/log/tile/entries/{n:03}.p/{width}")
        };
        let r = s.http.get(format!("{}{path}", s.base)).send().await.expect("bundle");
        assert_eq!(r.status(), 200, "{path}");
        let bytes = r.bytes().await.expect("bytes");
        let mut rest = &bytes[..];
        while rest.len() >= 2 {
            let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
            entries.push(rest[2..2 + len].to_vec());
            rest = &rest[2 + len..];
        }
    }
    assert_eq!(entries.len() as u64, size);
    entries
}

/// SHA-256(salt || canonical JSON of value), base64, of an opening.
fn commitment_of(opening: &Value) -> String {
    let mut h = Sha256::new();
    h.update(STANDARD.decode(opening["salt"].as_str().expect("salt")).expect("b64"));
    h.update(serde_json::to_string(&opening["value"]).expect("json").as_bytes());
    STANDARD.encode(h.finalize())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vetting_texts_that_quote_sealed_values_are_sealed_in_the_log() {
    let s = Server::start();
    // A sanctions list naming a person: a sole proprietor of that name is matched by name.
    let sdn = "99001,\"DOEPRIVATE, Janet Quincy\",\"individual\",\"SDGT\",-0-,-0-,-0-,-0-,-0-,-0-,-0-,-0-\n";
    let r = s.raw(reqwest::Method::POST, "/v1/sanctions", Some(&s.admin), Some("text/csv"), Some(sdn.into())).await;
    r.ok(200);
    let csp = s.csp("Vetting texts CSP").await;
    let other = s.csp("Another CSP").await;
    // Each brand gets reasons whose texts quote a sealed value: the e-mail's domain (which
    // does not match the website), an alternative business id that is not a D-U-N-S number,
    // an EIN that is not one, an e-mail that is not one, a person's name on the list.
    let mut a = brand_json();
    a["email"] = json!("jane.private@secretive-mail.example");
    a["altBusinessIdType"] = json!("DUNS");
    a["altBusinessId"] = json!("SECRET-ALT-ID-77");
    let mut b = other_brand_json();
    b["ein"] = json!("98765432X");
    b["email"] = json!("jane.doe.at.home");
    let c = json!({
        "entityType": "SOLE_PROPRIETOR", "displayName": "Janet Crafts", "firstName": "Janet Quincy",
        "lastName": "Doeprivate", "country": "US", "state": "CA", "city": "San Francisco",
        "street": "1 Main St", "postalCode": "94105", "email": "janet@example.com", "vertical": "RETAIL",
        "phone": "+14155550100", "mobilePhone": "+14155550199"
    });
    let mut ids = Vec::new();
    for body in [&a, &b, &c] {
        ids.push(s.brand_with(&csp, body).await["brandId"].as_str().expect("brandId").to_owned());
    }
    for (i, code, quoted) in [
        (0, "DOMAINS_INCONSISTENT", "secretive-mail.example"),
        (0, "DUNS_INVALID", "SECRET-ALT-ID-77"),
        (1, "EIN_FORMAT_INVALID", "98765432X"),
        (1, "EMAIL_INVALID", "jane.doe.at.home"),
        (2, "SANCTIONS_MATCH", "doeprivate"),
    ] {
        // The API (for those who may read the brand) keeps the whole text.
        let brand = s.get(&format!("/v1/brands/{}", ids[i]), Some(&csp.key)).await.ok(200).clone();
        let r = reason(&brand, code).unwrap_or_else(|| panic!("no {code}: {brand:#}"));
        let quotes = r["message"].as_str().is_some_and(|m| m.to_lowercase().contains(&quoted.to_lowercase()));
        assert!(quotes, "{code} should quote {quoted}: {r}");
    }

    // No public entry carries any of them; `brand.vetted` entries keep each reason's code,
    // severity, field and points, and commit to its texts.
    let entries = public_entries(&s).await;
    let text = String::from_utf8_lossy(&entries.concat()).to_lowercase();
    for secret in
        ["46-4123456", "jane.private", "secretive-mail.example", "secret-alt-id-77", "98765432x", "jane.doe.at.home"]
            .into_iter()
            .chain(["quincy", "doeprivate", "janet@example.com", "+14155550199"])
    {
        assert!(!text.contains(secret), "{secret} is in the clear in the public log");
    }
    let vetted: Vec<Value> = entries
        .iter()
        .map(|e| serde_json::from_slice::<Value>(e).expect("an entry is JSON"))
        .filter(|e| e["kind"] == "brand.vetted")
        .collect();
    assert!(vetted.len() >= 3, "{vetted:?}");
    for e in &vetted {
        let reasons = e["body"]["outcome"]["reasons"].as_array().expect("reasons");
        assert!(!reasons.is_empty(), "{e}");
        let sealed = e["body"]["sealed"].as_object().expect("sealed");
        for (i, r) in reasons.iter().enumerate() {
            let keys: Vec<&str> = r.as_object().expect("reason").keys().map(String::as_str).collect();
            assert!(keys.iter().all(|k| ["code", "severity", "field", "points"].contains(k)), "{r}");
            assert!(r["code"].is_string() && r["severity"].is_string() && r["points"].is_i64(), "{r}");
            assert!(sealed.contains_key(&format!("reasons.{i}.message")), "{e}");
        }
    }

    // The brand's CSP opens a vetting event's commitments, which match the entry and the API's
    // texts; another CSP cannot.
    let sole = &ids[2];
    let event = all_events(&s)
        .await
        .into_iter()
        .rfind(|e| e["kind"] == "brand.vetted" && e["body"]["brandId"] == sole.as_str())
        .expect("the sole proprietor's vetting");
    let seq = event["seq"].as_u64().expect("seq");
    let entry: Value = serde_json::from_slice(&entries[seq as usize - 1]).expect("json");
    let openings = s.get(&format!("/v1/log/openings/{seq}"), Some(&csp.key)).await.ok(200)["openings"].clone();
    let openings = openings.as_array().expect("openings");
    assert_eq!(openings.len(), entry["body"]["sealed"].as_object().expect("sealed").len(), "{openings:?}");
    for o in openings {
        let field = o["field"].as_str().expect("field");
        assert_eq!(entry["body"]["sealed"][field].as_str(), Some(commitment_of(o).as_str()), "{o}");
    }
    let reasons = entry["body"]["outcome"]["reasons"].as_array().expect("reasons");
    let i = reasons.iter().position(|r| r["code"] == "SANCTIONS_MATCH").expect("match");
    let message = openings.iter().find(|o| o["field"] == format!("reasons.{i}.message")).expect("opening");
    assert!(message["value"].as_str().is_some_and(|m| m.to_lowercase().contains("quincy doeprivate")), "{message}");
    s.get(&format!("/v1/log/openings/{seq}"), Some(&other.key)).await.ok(404);

    // Auditors recomputing every leaf from the served entries agree with the signed tree, and
    // a proof of a vetting event verifies.
    let out = run(log_cmd(&s, &["verify", "--full"]), Duration::from_secs(60));
    assert!(out.status.success(), "{out:?}");
    let out = run(log_cmd(&s, &["prove", "--event", &seq.to_string()]), Duration::from_secs(60));
    assert!(out.status.success() && out.stdout.contains(": OK"), "{out:?}");
    assert!(!out.stdout.to_lowercase().contains("doeprivate"), "{}", out.stdout);
}

/// A lying log in front of `upstream` (loopback only): every inclusion proof asked for, by
/// event or by fingerprint, is answered with the true proof of event 1 (of the size asked
/// for). Everything else is passed through. Returns its base URL.
async fn lying_log(upstream: String) -> String {
    let http = reqwest::Client::builder().no_proxy().build().expect("client");
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let (http, upstream) = (http.clone(), upstream.clone());
        async move {
            let uri = req.uri().clone();
            let mut path = uri.path_and_query().map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
            if uri.path() == "/v1/log/proofs/inclusion" {
                let size = uri.query().unwrap_or("").split('&').find(|kv| kv.starts_with("size="));
                path = format!("/v1/log/proofs/inclusion?event=1{}", size.map(|s| format!("&{s}")).unwrap_or_default());
            }
            let mut forward = http.get(format!("{upstream}{path}"));
            if let Some(auth) = req.headers().get(reqwest::header::AUTHORIZATION) {
                forward = forward.header(reqwest::header::AUTHORIZATION, auth.clone());
            }
            let answer = forward.send().await.expect("the real log answers");
            let status = answer.status();
            let content_type = answer.headers().get(reqwest::header::CONTENT_TYPE).cloned();
            let body = answer.bytes().await.expect("body");
            let mut out = axum::response::Response::new(axum::body::Body::from(body));
            *out.status_mut() = status;
            if let Some(ct) = content_type {
                out.headers_mut().insert(reqwest::header::CONTENT_TYPE, ct);
            }
            out
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

/// Runs `cmd` on a blocking thread (the test's runtime keeps serving the lying log).
async fn run_blocking(cmd: Command) -> Finished {
    tokio::task::spawn_blocking(move || run(cmd, Duration::from_secs(60))).await.expect("the command ran")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_that_proves_another_entry_is_caught_by_prove_and_trace() {
    let s = Server::start();
    let st = s.accepted_campaign().await;
    s.assign(&st.dca.key, "+12025550177", &st.campaign).await.ok(201);
    let size = wait_integrated(&s).await;
    let liar = lying_log(s.base.clone()).await;
    let prove = |url: &str, args: &[&str]| {
        let mut c = vouch(&s.scratch);
        c.args(["log", "prove", "--url", url, "--wait", "5"]).args(args);
        c
    };

    // The true log proves event `size`; the liar's answer (a valid proof, of event 1) is refused.
    let out = run_blocking(prove(&s.base, &["--event", &size.to_string()])).await;
    assert!(out.status.success(), "{out:?}");
    let out = run_blocking(prove(&liar, &["--event", &size.to_string()])).await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(out.stderr.contains("LOG CHECK FAILED") && out.stderr.contains("leaf"), "{}", out.stderr);
    // A certificate's registration answered with another entry: refused too.
    let fp = "ab".repeat(32);
    let out = run_blocking(prove(&liar, &["--fingerprint", &fp])).await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(out.stderr.contains("LOG CHECK FAILED") && out.stderr.contains("registration"), "{}", out.stderr);
    // The fingerprint is one query parameter, whatever it holds.
    let out = run_blocking(prove(&s.base, &["--fingerprint", "ab&event=1"])).await;
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stderr.contains("certificate-not-found"), "{}", out.stderr);

    // `vouch trace --verify` checks that each cited event is the entry proven.
    let trace = |url: &str| {
        let mut c = vouch(&s.scratch);
        c.args(["trace", "--tn", "+12025550177", "--verify", "--server", url, "--api-key", &s.admin]);
        c
    };
    let out = run_blocking(trace(&s.base)).await;
    assert!(out.status.success() && out.stdout.contains("verified: all"), "{out:?}");
    let out = run_blocking(trace(&liar)).await;
    assert!(!out.status.success(), "{out:?}");
    assert!(!out.stdout.contains("verified: all") && out.stderr.contains("leaf"), "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn impossible_proofs_are_refused_at_once_and_exit_codes_say_why() {
    let s = Server::start();
    s.csp("Exit codes").await;
    let size = wait_integrated(&s).await;
    assert!(size >= 3, "{size}");
    for (path, status, slug) in [
        ("/v1/log/proofs/inclusion?event=0".to_owned(), 422, "no-such-event"),
        (format!("/v1/log/proofs/inclusion?event={size}&size={}", size - 1), 422, "event-not-in-tree"),
        ("/v1/log/proofs/inclusion?event=1&size=0".to_owned(), 422, "event-not-in-tree"),
        // An event the registry has not committed is none: not one to wait for (409 is kept
        // for events committed and not yet integrated, which a client retries).
        (format!("/v1/log/proofs/inclusion?event={}", size + 1), 422, "no-such-event"),
        (format!("/v1/log/proofs/inclusion?event={}&size={size}", size + 1), 422, "no-such-event"),
        ("/v1/log/proofs/inclusion?event=18446744073709551615".to_owned(), 422, "no-such-event"),
    ] {
        s.get(&path, None).await.problem(status, slug);
    }

    // `prove --event 0` does not wait out --wait; bad arguments, a bad state file and an
    // unreachable server exit 2, apart from a misbehaving log's 1.
    let started = Instant::now();
    let out = run(log_cmd(&s, &["prove", "--event", "0", "--wait", "60"]), Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    let out = run(log_cmd(&s, &["prove", "--event", "99999999", "--wait", "1"]), Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let bad = s.scratch_file("bad-state.json");
    std::fs::write(&bad, "not json").expect("write");
    let out = run(log_cmd(&s, &["verify", "--state", bad.to_str().expect("path")]), Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let out = run(log_cmd(&s, &["verify", "--key", "not a key"]), Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let mut c = vouch(&s.scratch);
    c.args(["log", "verify", "--url", "http://127.0.0.1:9"]);
    let out = run(c, Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stderr.contains("cannot check the log"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_halted_log_is_reported_by_healthz_and_the_auditor_while_writes_go_on() {
    let mut s = Server::start();
    for i in 0..3 {
        s.csp(&format!("Halt {i}")).await;
    }
    wait_integrated(&s).await;
    let state = s.scratch_file("audit.json");
    let st = state.to_str().expect("path").to_owned();
    let out = run(log_cmd(&s, &["verify", "--state", &st]), Duration::from_secs(60));
    assert!(out.status.success(), "{out:?}");
    assert_eq!(s.health().await["status"], "ok");

    // The right edge's tile no longer gives the checkpoint's root: at start the log halts.
    s.sigterm();
    store_sql(
        &s.data_dir,
        "UPDATE log_tiles SET hashes = zeroblob(32) || substr(hashes, 33) WHERE level = 0 AND idx = 0;",
        "UPDATE log_tiles SET hashes = decode(repeat('00', 32), 'hex') || substring(hashes from 33) \
         WHERE level = 0 AND idx = 0;",
    );
    s.restart();
    let health = s.health().await;
    assert_eq!(health["status"], "degraded", "{health}");
    assert!(health["logHalted"].as_str().is_some_and(|w| w.contains("will not grow")), "{health}");
    // The registry still takes writes (their events wait outside the signed tree).
    s.csp("After the halt").await;
    let last = s.health().await["lastEvent"].as_u64().expect("lastEvent");
    let out = run(log_cmd(&s, &["verify", "--state", &st]), Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(out.stderr.contains("LOG NOT GROWING") && out.stderr.contains("halted"), "{}", out.stderr);
    assert!(!out.stdout.lines().any(|l| l == "OK"), "{}", out.stdout);
    assert_eq!(s.health().await["lastEvent"].as_u64(), Some(last));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_tree_that_trails_the_registry_fails_the_auditor_past_max_lag() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data_dir = tmp.path().join("data");
    // The sequencer integrates at start, then not for a minute.
    let mut cmd = serve_command(tmp.path(), &data_dir);
    cmd.arg("--log-interval").arg("60000");
    let s = Server::launch(cmd, data_dir, tmp.path().to_path_buf());
    let size = wait_integrated(&s).await;
    for i in 0..3 {
        s.csp(&format!("Lag {i}")).await;
    }
    let last = s.health().await["lastEvent"].as_u64().expect("lastEvent");
    assert!(last >= size + 6, "{last} {size}");
    assert_eq!(s.health().await["status"], "ok");
    let out = run(log_cmd(&s, &["verify", "--max-lag", "2"]), Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(out.stderr.contains("LOG NOT GROWING") && out.stderr.contains("--max-lag 2"), "{}", out.stderr);
    let out = run(log_cmd(&s, &["verify"]), Duration::from_secs(60));
    assert!(out.status.success(), "within the default --max-lag: {out:?}");
}

/// A store restored from a backup older than a checkpoint an auditor has checked: vouch cannot
/// tell from its own store, the auditor can. It reports ROLLBACK, and once the restored store
/// takes writes, SPLIT VIEW OR REWRITE (two signed trees); an auditor whose checkpoint the
/// backup covers finds the restored log consistent. docs/OPERATIONS.md, "Backups and
/// restores", says to run that check before a restored store takes writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_older_than_the_auditors_checkpoint_is_a_rollback_then_a_split_view() {
    if test_database_server().is_some() {
        return; // the backup here is the embedded store's files, copied while it is stopped
    }
    let mut s = Server::start();
    let verify = |s: &Server, state: &std::path::Path| {
        run(log_cmd(s, &["verify", "--state", state.to_str().expect("path")]), Duration::from_secs(60))
    };
    s.csp("Before the backup").await;
    wait_integrated(&s).await;
    let early = s.scratch_file("early.json");
    assert!(verify(&s, &early).status.success());
    assert!(s.sigterm().status.success());
    let backup = s.scratch_file("backup.db");
    std::fs::copy(s.data_dir.join("vouch.db"), &backup).expect("backup");

    s.restart();
    for i in 0..3 {
        s.csp(&format!("After the backup {i}")).await;
    }
    wait_integrated(&s).await;
    let late = s.scratch_file("late.json");
    assert!(verify(&s, &late).status.success());
    let late_state = std::fs::read(&late).expect("state");
    assert!(s.sigterm().status.success());

    // The restore: the backup's file, without the WAL of the newer store.
    for f in ["vouch.db-wal", "vouch.db-shm"] {
        let _ = std::fs::remove_file(s.data_dir.join(f));
    }
    std::fs::copy(&backup, s.data_dir.join("vouch.db")).expect("restore");
    // Given the auditor's newest state, vouch refuses to start on the older store; given a
    // state the store's tree extends, it starts.
    let with_state = |state: &std::path::Path| {
        let mut cmd = serve_command(&s.scratch, &s.data_dir);
        cmd.arg("--log-audit-state").arg(state);
        cmd
    };
    let out = run(with_state(&late), Duration::from_secs(30));
    assert!(!out.status.success(), "{out:?}");
    assert!(out.stderr.contains("older than what was published"), "{}", out.stderr);
    let mut checked = Server::launch(with_state(&early), s.data_dir.clone(), s.scratch.clone());
    assert!(checked.stdout.text().contains("extends the tree of"), "{}", checked.stdout.text());
    assert!(checked.sigterm().status.success());
    s.restart();
    wait_integrated(&s).await;
    let out = verify(&s, &early);
    assert!(out.status.success() && out.stdout.contains("same tree as the checkpoint seen before"), "{out:?}");
    let out = verify(&s, &late);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(out.stderr.contains("LOG CHECK FAILED: ROLLBACK"), "{}", out.stderr);
    assert_eq!(std::fs::read(&late).expect("state"), late_state, "a failed check keeps the state");

    // vouch takes writes on the restored store and signs a tree past the auditor's size that
    // does not extend it.
    for i in 0..5 {
        s.csp(&format!("After the restore {i}")).await;
    }
    wait_integrated(&s).await;
    let out = verify(&s, &late);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(out.stderr.contains("LOG CHECK FAILED: SPLIT VIEW OR REWRITE"), "{}", out.stderr);
    // Now larger than the auditor's tree but not extending it: refused too.
    assert!(s.sigterm().status.success());
    let mut cmd = serve_command(&s.scratch, &s.data_dir);
    cmd.arg("--log-audit-state").arg(&late);
    let out = run(cmd, Duration::from_secs(30));
    assert!(!out.status.success(), "{out:?}");
    assert!(out.stderr.contains("is not the one auditors accepted"), "{}", out.stderr);
}
