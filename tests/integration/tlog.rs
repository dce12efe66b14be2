//! The transparency log through the real binary: signed checkpoints, proofs checked by
//! `vouch log prove`, sealed brand fields and their openings, the auditor (`vouch log verify`)
//! across a SIGKILL during a burst of writes, and tampering caught by `--full`.

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

/// Every event, in order (the administrator's paged stream).
async fn all_events(s: &Server) -> Vec<Value> {
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

/// The newest event's sequence number.
async fn last_seq(s: &Server) -> u64 {
    all_events(s).await.last().map_or(0, |e| e["seq"].as_u64().expect("seq"))
}

/// Waits until the signed checkpoint covers every event; returns its size.
async fn wait_integrated(s: &Server) -> u64 {
    let want = last_seq(s).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let cp = s.get("/log/checkpoint", None).await;
        if cp.status == 200 {
            let size: u64 = cp.text.lines().nth(1).and_then(|l| l.parse().ok()).expect("size line");
            if size >= want {
                return size;
            }
        }
        assert!(Instant::now() < deadline, "the log did not reach {want} entries: {}", cp.text);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
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
        ("/v1/log/proofs/inclusion?event=99999999", 409),
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
