//! A disaster-recovery drill on PostgreSQL, as an operator runs it (docs/OPERATIONS.md,
//! "Backups and restores"; docs/DEPLOYMENT.md, "Backups and recovery"): two nodes on one
//! database take writes (the SMPP gateway and a webhook outbox among them), `pg_dump -Fc` runs
//! while they write, `pg_restore` into a new database, and a node on the restored copy is
//! checked against the auditors' states: `--log-audit-state` refuses the newest and accepts an
//! older one, `vouch log verify` says ROLLBACK, the restored registry is exactly the dump's
//! snapshot (events, views, outbox, receipt ids), new writes continue the event sequence, and
//! `--rebuild-views` gives the same views. Then nodes on the two diverged copies: each signs its
//! own tree under the same key, which only an auditor that has seen both can tell.
//!
//! These tests run on PostgreSQL only (`VOUCH_TEST_DATABASE_URL`, as the suite's PostgreSQL
//! pass sets it; scripts/test) and return at once otherwise. They need `pg_dump` and
//! `pg_restore` (the `postgresql` package scripts/pg-cluster installs).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{
    Provider, Server, Setup, all_events, campaign_json, checkpoint_size, log_verify, other_brand_json, psql_on, run,
    test_database_server, vouch, wait_integrated, within,
};
use crate::smpp::{Esme, Smsc, announced_port};

/// A PostgreSQL client program (`pg_dump`, `pg_restore`): the newest installed version's
/// (`/usr/lib/postgresql/N/bin`), else the one on the `PATH`.
fn pg_tool(name: &str) -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let tool = e.path().join("bin").join(name);
            tool.is_file().then_some((version, tool))
        })
        .collect();
    found.sort();
    found.pop().map_or_else(|| PathBuf::from(name), |(_, tool)| tool)
}

/// The databases a test made on the test server, dropped (with their sessions) at its end.
struct Databases {
    server: String,
    names: Vec<String>,
}

impl Databases {
    fn new(server: &str) -> Self {
        Self { server: server.to_owned(), names: Vec::new() }
    }

    /// A new, empty database with the bytewise collation docs/DEPLOYMENT.md asks for: its name
    /// and URL.
    fn create(&mut self, tag: &str) -> (String, String) {
        let name = format!("dr_{tag}_{}_{}", std::process::id(), rand::random::<u32>());
        psql_on(
            &self.server,
            "postgres",
            &format!("CREATE DATABASE {name} LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"),
        );
        self.names.push(name.clone());
        let url = format!("{}/{name}", self.server);
        (name, url)
    }

    fn sql(&self, db: &str, sql: &str) -> String {
        psql_on(&self.server, db, sql).trim().to_owned()
    }
}

impl Drop for Databases {
    fn drop(&mut self) {
        for name in &self.names {
            let _ = Command::new("psql")
                .arg(format!("{}/postgres", self.server))
                .args(["-qAt", "-c", &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")])
                .output();
        }
    }
}

/// `vouch serve` on `url` with the data directory `<dir>/<name>` (kept across starts). A node
/// after the first gets a copy of the first node's `admin.key` (as an operator copies it from
/// the backup of that node's data directory).
fn serve(dir: &Path, name: &str, url: &str, admin_key: Option<&str>, extra: &[&str]) -> Command {
    let data_dir = dir.join(name);
    std::fs::create_dir_all(&data_dir).expect("data dir");
    if let Some(key) = admin_key {
        std::fs::write(data_dir.join("admin.key"), format!("{key}\n")).expect("admin key");
    }
    let mut cmd = vouch(dir);
    cmd.arg("serve").arg("--data-dir").arg(&data_dir).arg("--http").arg("127.0.0.1:0");
    // The CSP's webhook receiver is on loopback.
    cmd.arg("--database").arg(url).args(["--webhook-allow-net", "127.0.0.0/8"]).args(extra);
    cmd
}

fn node(dir: &Path, name: &str, url: &str, admin_key: Option<&str>, extra: &[&str]) -> Server {
    Server::launch(serve(dir, name, url, admin_key, extra), dir.join(name), dir.to_path_buf())
}

/// The last event `s` applied.
async fn last_event(s: &Server) -> u64 {
    s.health().await["lastEvent"].as_u64().expect("lastEvent")
}

/// Every number of `campaign` (with its status and total), following the pages.
async fn campaign_numbers(s: &Server, campaign: &str) -> Value {
    let mut numbers = Vec::new();
    let mut after = String::new();
    loop {
        let path = format!("/v1/campaigns/{campaign}/numbers?limit=1000{after}");
        let mut page = s.get(&path, Some(&s.admin)).await.ok(200).clone();
        numbers.extend(page["numbers"].as_array().unwrap_or_else(|| panic!("{path}: {page}")).iter().cloned());
        match page["next"].as_str() {
            Some(next) => after = format!("&after={}", next.replace('+', "%2B")),
            None => {
                page["numbers"] = Value::Array(numbers);
                return page;
            }
        }
    }
}

/// What a client reads from the registry: the administrator's listings, every campaign's
/// numbers, and the public lookups and histories of `numbers`.
async fn registry_reads(s: &Server, numbers: &[&str]) -> Value {
    let admin = Some(s.admin.as_str());
    let mut providers = s.get("/v1/providers", admin).await.ok(200).as_array().expect("providers").clone();
    providers.sort_by(|x, y| x["providerId"].as_str().cmp(&y["providerId"].as_str()));
    let brands = s.get("/v1/brands", admin).await.ok(200).clone();
    let campaigns = s.get("/v1/campaigns", admin).await.ok(200).clone();
    let mut per_campaign = serde_json::Map::new();
    for c in campaigns.as_array().expect("campaigns") {
        let id = c["campaignId"].as_str().expect("campaignId");
        per_campaign.insert(id.to_owned(), campaign_numbers(s, id).await);
    }
    let mut lookups = serde_json::Map::new();
    for n in numbers {
        let at = s.get(&format!("/v1/numbers/{n}"), None).await;
        let history = s.get(&format!("/v1/numbers/{n}/history"), None).await;
        lookups.insert((*n).to_owned(), json!({"status": at.status.as_u16(), "now": at.json, "history": history.json}));
    }
    json!({
        "providers": providers,
        "brands": brands,
        "campaigns": campaigns,
        "campaignNumbers": per_campaign,
        "lookups": lookups,
    })
}

/// Where `x` and `y` differ (JSON paths, at most 20), for a readable failure.
fn diff(x: &Value, y: &Value) -> Vec<String> {
    fn walk(x: &Value, y: &Value, path: String, out: &mut Vec<String>) {
        if out.len() >= 20 || x == y {
            return;
        }
        match (x, y) {
            (Value::Object(a), Value::Object(b)) => {
                for k in a.keys().chain(b.keys().filter(|k| !a.contains_key(*k))) {
                    walk(
                        a.get(k).unwrap_or(&Value::Null),
                        b.get(k).unwrap_or(&Value::Null),
                        format!("{path}.{k}"),
                        out,
                    );
                }
            }
            (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
                for (i, (a, b)) in a.iter().zip(b).enumerate() {
                    walk(a, b, format!("{path}[{i}]"), out);
                }
            }
            _ => {
                let short = |v: &Value| v.to_string().chars().take(300).collect::<String>();
                out.push(format!("{path}: {} != {}", short(x), short(y)));
            }
        }
    }
    let mut out = Vec::new();
    walk(x, y, String::new(), &mut out);
    out
}

/// Waits until every node of `nodes` applied every event.
async fn settled(nodes: &[&Server]) {
    within(Duration::from_secs(20), "every node applied every event", || async {
        let mut seen = Vec::new();
        for n in nodes {
            let h = n.health().await;
            seen.push((h["lastEvent"].as_u64(), h["appliedEvent"].as_u64()));
        }
        let last = seen[0].0;
        seen.iter().all(|&(l, a)| l == last && a == last)
    })
    .await;
}

/// `reads` without what the writers during the dump wrote (providers named `During …`, the
/// numbers of the `hot` campaign): the ids of those providers and numbers.
fn split_during(reads: &mut Value, hot: &str) -> (Vec<String>, Vec<String>) {
    let mut providers = Vec::new();
    reads["providers"].as_array_mut().expect("providers").retain(|p| {
        let during = p["legalName"].as_str().is_some_and(|n| n.starts_with("During "));
        if during {
            providers.push(p["providerId"].as_str().expect("providerId").to_owned());
        }
        !during
    });
    let mut numbers: Vec<String> = reads["campaignNumbers"][hot]["numbers"]
        .as_array()
        .expect("the hot campaign's numbers")
        .iter()
        .map(|n| n["number"].as_str().expect("number").to_owned())
        .collect();
    reads["campaignNumbers"][hot] = Value::Null;
    providers.sort();
    numbers.sort();
    (providers, numbers)
}

/// The deliveries of `provider`'s webhook outbox, as `(id, kind, seq, body)`, sorted.
async fn outbox(s: &Server, provider: &str) -> Vec<Value> {
    let r = s.get(&format!("/v1/providers/{provider}/webhook/deliveries?limit=1000"), Some(&s.admin)).await;
    let mut v: Vec<Value> = r
        .ok(200)
        .as_array()
        .unwrap_or_else(|| panic!("deliveries: {}", r.text))
        .iter()
        .map(|d| json!({"id": d["id"], "kind": d["kind"], "seq": d["seq"], "body": d["body"]}))
        .collect();
    v.sort_by_key(|d| d["id"].as_str().unwrap_or("").to_owned());
    v
}

/// The view tables `Store::rebuild_views` rebuilds, each as an md5 of its rows in order.
fn view_digests(dbs: &Databases, db: &str) -> Vec<(String, String)> {
    vouch_store::VIEW_TABLES
        .iter()
        .map(|t| {
            let d = dbs.sql(
                db,
                &format!(
                    "SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM {t} t"
                ),
            );
            ((*t).to_owned(), d)
        })
        .collect()
}

/// A loopback port nothing listens on (a webhook receiver that is down: deliveries stay in
/// the outbox, pending).
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// A number the writers assign during the dump.
fn hot_number(writer: usize, i: usize) -> String {
    format!("+1303555{:04}", writer * 1000 + i)
}

/// The bulk-imported numbers.
fn bulk_number(i: usize) -> String {
    format!("+1720{:07}", 3_000_000 + i)
}
const BULK: usize = 20_000;

/// What the two nodes hold before the backup: providers, two brands, campaigns (one shared
/// through node B, one suspended and resumed), numbers assigned through both nodes and some
/// released, a bulk import, a CSP webhook whose deliveries wait in the outbox.
struct Populated {
    csp: Provider,
    dca: Provider,
    campaign: String,
    hot: String,
    numbers: Vec<String>,
}

async fn populate(a: &Server, b: &Server, s: Setup) -> Populated {
    // Node B: another brand of the CSP, its campaign shared with the DCA; numbers through both.
    let other = b.verified_brand_with(&s.csp, &other_brand_json()).await;
    let c2 = b.post("/v1/campaigns", &s.csp.key, &campaign_json(&other)).await.ok(201)["campaignId"]
        .as_str()
        .expect("campaignId")
        .to_owned();
    b.share_and_accept(&s.csp, &c2, &s.dca).await;
    let hot = a.second_campaign(&s).await;
    let mut numbers = Vec::new();
    for i in 0..12 {
        let n = format!("+1202555{:04}", 6000 + i);
        let (via, campaign) = if i % 2 == 0 { (a, &s.campaign) } else { (b, &c2) };
        via.assign(&s.dca.key, &n, campaign).await.ok(201);
        numbers.push(n);
    }
    // Released, one of them assigned again elsewhere (histories of two intervals).
    for n in &numbers[..3] {
        let r = b.delete(&format!("/v1/numbers/{n}?reason=ported"), &s.dca.key).await;
        assert_eq!(r.status, 204, "{}", r.text);
    }
    a.assign(&s.dca.key, &numbers[0], &c2).await.ok(201);
    // The CSP's webhook receiver is down: the notifications of a suspension, a resumption and
    // a sharing wait in the outbox.
    let hook = format!("http://127.0.0.1:{}/hook", closed_port());
    a.put(&format!("/v1/providers/{}/webhook", s.csp.id), &s.csp.key, &json!({"url": hook})).await.ok(201);
    a.set_suspended(&s.dca.key, &s.campaign, true, "drill").await.ok(200);
    b.set_suspended(&s.dca.key, &s.campaign, false, "drill over").await.ok(200);
    // A bulk import through node B.
    let file = b.scratch_file("bulk.csv");
    let mut csv = String::from("number,campaignId,dca\n");
    for i in 0..BULK {
        csv.push_str(&format!("{},{},{}\n", bulk_number(i), c2, s.dca.id));
    }
    std::fs::write(&file, csv).expect("csv");
    let mut imp = vouch(&b.scratch);
    imp.args(["import", "numbers"]).arg(&file).args(["--server", &b.base, "--api-key", &s.dca.key]);
    let out = run(imp, Duration::from_secs(120));
    assert!(out.status.success(), "{out:?}");
    numbers.extend([bulk_number(0), bulk_number(BULK - 1), "+12025559999".to_owned()]);
    Populated { csp: s.csp, dca: s.dca, campaign: s.campaign, hot, numbers }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pg_dump_taken_while_two_nodes_write_restores_the_snapshot_and_the_auditors_catch_the_rollback() {
    let Some(server) = test_database_server() else { return };
    let mut dbs = Databases::new(&server);
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let (live_db, live_url) = dbs.create("live");

    // 1. Two nodes on one database take writes; B carries the SMPP gateway.
    let a = node(dir, "a", &live_url, None, &[]);
    let s0 = a.accepted_campaign().await;
    let password = a.smpp_account(&s0.csp, "drill1").await;
    a.assign(&s0.csp.key, "+12025559999", &s0.campaign).await.ok(201);
    let smsc = Smsc::start(dir.join("smsc.jsonl"));
    smsc.control("dlrdelay 600000"); // no receipt during the test: the ids wait in the store
    let upstream = format!("smpp://vouchup:uppw@127.0.0.1:{}", smsc.port);
    let b = node(
        dir,
        "b",
        &live_url,
        Some(&a.admin),
        &["--smpp", "127.0.0.1:0", "--gateway-dca", &s0.dca.id, "--smsc", &upstream],
    );
    within(Duration::from_secs(10), "B bound to the SMSC", || async {
        smsc.control("stats").contains("\"sessions_bound\": 1")
    })
    .await;
    let mut esme = Esme::start(announced_port(&b, "vouch: SMPP gateway on 127.0.0.1:"));
    assert_eq!(esme.bind("drill1", &password), 0);
    for i in 0..3 {
        assert_eq!(esme.submit("12025559999", "13105550100", &format!("Acme: drill {i}"), "none"), vec![0]);
    }
    let p = populate(&a, &b, s0).await;
    // The receipt ids (written every 250 ms) and the webhook deliveries are in the database.
    let receipt_rows = "SELECT smsc || ' ' || upstream_id || ' ' || our_id || ' ' || system_id || ' ' || at_us \
                        FROM smpp_receipt_ids ORDER BY 1";
    within(Duration::from_secs(5), "3 receipt ids stored", || async {
        dbs.sql(&live_db, receipt_rows).lines().count() == 3
    })
    .await;
    let receipts_before = dbs.sql(&live_db, receipt_rows);
    let deadline = Instant::now() + Duration::from_secs(10);
    while outbox(&a, &p.csp.id).await.len() < 2 {
        assert!(Instant::now() < deadline, "the CSP's outbox: {:#?}", outbox(&a, &p.csp.id).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let outbox_before = outbox(&a, &p.csp.id).await;
    assert!(
        outbox_before.iter().any(|d| d["kind"] == "campaign.suspended")
            && outbox_before.iter().any(|d| d["kind"] == "campaign.resumed"),
        "{outbox_before:#?}"
    );
    wait_integrated(&a).await;
    let early = dir.join("early.json");
    let out = log_verify(dir, &a.base, &early, false);
    assert!(out.status.success(), "{out:?}");
    let numbers: Vec<&str> = p.numbers.iter().map(String::as_str).collect();
    settled(&[&a, &b]).await;
    let mut frozen = registry_reads(&a, &numbers).await;
    let on_b = registry_reads(&b, &numbers).await;
    assert!(frozen == on_b, "both nodes answer the same: {:#?}", diff(&frozen, &on_b));
    assert_eq!(split_during(&mut frozen, &p.hot), (vec![], vec![]));
    let held_before = a.held_numbers().await;

    // 2. Writers on both nodes (providers, numbers of the `hot` campaign) while pg_dump runs.
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::<(String, String)>::new()));
    let mut writers = Vec::new();
    for (w, base) in [a.base.clone(), b.base.clone()].into_iter().enumerate() {
        let (stop, acked, http) = (stop.clone(), acked.clone(), a.http.clone());
        let (admin, dca, hot) = (a.admin.clone(), p.dca.key.clone(), p.hot.clone());
        writers.push(tokio::spawn(async move {
            for i in 0..1000 {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                let body = json!({"legalName": format!("During {w}-{i}"), "roles": ["csp"]});
                let r = http.post(format!("{base}/v1/providers")).bearer_auth(&admin).json(&body).send().await;
                let r = r.expect("the node answers");
                assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
                let v: Value = r.json().await.expect("json");
                let id = v["provider"]["providerId"].as_str().expect("providerId").to_owned();
                acked.lock().expect("lock").push(("provider".into(), id));
                let n = hot_number(w, i);
                let r = http
                    .put(format!("{base}/v1/numbers/{n}"))
                    .bearer_auth(&dca)
                    .json(&json!({"campaignId": hot}))
                    .send()
                    .await
                    .expect("the node answers");
                assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
                acked.lock().expect("lock").push(("number".into(), n));
            }
        }));
    }
    let acks = || acked.lock().expect("lock").len();
    within(Duration::from_secs(20), "writes before the dump", || async { acks() >= 20 }).await;
    let dump = dir.join("vouch.dump");
    let at_dump_start = acks();
    let started = Instant::now();
    let out = run(
        {
            let mut c = Command::new(pg_tool("pg_dump"));
            c.args(["--format=custom", "--file"]).arg(&dump).arg(&live_url);
            c
        },
        Duration::from_secs(120),
    );
    let dump_took = started.elapsed();
    assert!(out.status.success(), "pg_dump: {out:?}");
    let during_dump = acks() - at_dump_start;
    let at_dump_end = acks();
    within(Duration::from_secs(20), "writes after the dump", || async { acks() >= at_dump_end + 20 }).await;
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.expect("writer");
    }
    let dump_size = std::fs::metadata(&dump).expect("dump").len();
    eprintln!(
        "pg_dump -Fc: {dump_size} bytes in {dump_took:?}, {during_dump} writes acknowledged meanwhile, {} in all",
        acks()
    );
    let size_late = wait_integrated(&a).await;
    let late = dir.join("late.json");
    let out = log_verify(dir, &a.base, &late, false);
    assert!(out.status.success(), "{out:?}");
    let late_state = std::fs::read(&late).expect("late state");
    let live_events = all_events(&a).await;

    // 3. The restore, into a new database.
    let (restored_db, restored_url) = dbs.create("restored");
    let started = Instant::now();
    let out = run(
        {
            let mut c = Command::new(pg_tool("pg_restore"));
            c.args(["--exit-on-error", "--no-owner", "--dbname"]).arg(&restored_url).arg(&dump);
            c
        },
        Duration::from_secs(120),
    );
    let restore_took = started.elapsed();
    assert!(out.status.success(), "pg_restore: {out:?}");
    let d: u64 = dbs.sql(&restored_db, "SELECT max(seq) FROM events").parse().expect("max seq");
    assert!(d < size_late, "the dump ({d} events) is older than the auditor's late state ({size_late})");
    // One snapshot: the next sequence number follows the last event, and the outbox and the
    // receipt ids (operational state, not rebuilt from events) came with it.
    assert_eq!(dbs.sql(&restored_db, "SELECT next_seq FROM registry_state"), (d + 1).to_string());
    assert_eq!(dbs.sql(&restored_db, receipt_rows), receipts_before);
    let cursor: u64 = dbs.sql(&restored_db, "SELECT seq FROM webhook_cursor").parse().expect("cursor");
    assert!(cursor <= d, "webhook cursor {cursor} past the last event {d}");

    // --log-audit-state: the newest state refuses the older store, and writes no event. (A
    // restore more than 5 s after the backup: the dumped sequencer lease has expired.)
    let newest_checkpoint = "SELECT max(size) FROM log_checkpoints";
    let dumped_size: u64 = dbs.sql(&restored_db, newest_checkpoint).parse().expect("size");
    dbs.sql(&restored_db, "UPDATE log_lease SET expires_us = 0");
    let started = Instant::now();
    let refused = run(
        serve(
            dir,
            "r",
            &restored_url,
            Some(&a.admin),
            &["--enforcement", "off", "--log-audit-state", late.to_str().expect("path")],
        ),
        Duration::from_secs(30),
    );
    assert!(!refused.status.success(), "{refused:?}");
    assert!(
        refused.stderr.contains("older than what was published")
            && refused.stderr.contains(&format!("accepted a tree of {size_late}")),
        "{}",
        refused.stderr
    );
    assert!(!refused.stdout.contains("listening"), "{}", refused.stdout);
    assert_eq!(dbs.sql(&restored_db, "SELECT max(seq) FROM events"), d.to_string(), "no event written");
    // The refused start writes no event, but does write to the log (docs/OPERATIONS.md says
    // so): extends_audit_state (bin/src/serve.rs) integrates the events past the dump's
    // checkpoint before it compares sizes, so it signs and stores a checkpoint of the restored
    // store's `d` events, then gives the sequencer lease up as it exits. That tree is the live
    // tree's prefix (checked below), so no fork is published. Asserted here: nothing past the
    // restored events, and no lease left held.
    assert_eq!(dbs.sql(&restored_db, "SELECT expires_us FROM log_lease WHERE id = 1"), "0", "the lease is given up");
    let size_now: u64 = dbs.sql(&restored_db, newest_checkpoint).parse().expect("size");
    assert!(dumped_size <= size_now && size_now <= d, "checkpoints: dumped {dumped_size}, now {size_now}, events {d}");
    eprintln!("the refused start signed checkpoints from {dumped_size} to {size_now} ({d} events restored)");
    eprintln!("the start on the restored database with the late state was refused in {:?}", started.elapsed());
    // The older state: it starts (loopback, no SMPP, enforcement off, as the procedure says).
    let started = Instant::now();
    let r = node(
        dir,
        "r",
        &restored_url,
        None,
        &["--enforcement", "off", "--log-audit-state", early.to_str().expect("path")],
    );
    let listened = started.elapsed();
    assert!(r.stdout.text().contains("extends the tree of"), "{}", r.stdout.text());
    assert_eq!(last_event(&r).await, d);
    eprintln!("pg_restore: {restore_took:?}; the restored node ({d} events) listened {listened:?} after its start");

    // Its tree, once it integrated the dump's events, is the live tree's prefix: the auditor
    // who saw the live log finds them consistent (no fork yet), and `log verify` with the late
    // state says ROLLBACK, keeping the state.
    let took = within(Duration::from_secs(30), "the restored node integrates the dump's events", || async {
        checkpoint_size(&r).await >= d
    })
    .await;
    eprintln!("the restored node signed a checkpoint of its {d} events {took:?} after listening");
    let restored_state = dir.join("restored.json");
    std::fs::copy(&early, &restored_state).expect("copy");
    let out = log_verify(dir, &r.base, &restored_state, false);
    assert!(out.status.success() && out.stdout.contains("consistent with the checkpoint seen before"), "{out:?}");
    let out = log_verify(dir, &a.base, &restored_state, false);
    assert!(out.status.success(), "the restored tree is a prefix of the live one: {out:?}");
    let out = log_verify(dir, &r.base, &late, false);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(out.stderr.contains("LOG CHECK FAILED: ROLLBACK"), "{}", out.stderr);
    assert_eq!(std::fs::read(&late).expect("state"), late_state, "a failed check keeps the state");

    // The restored registry is the dump's snapshot: the live events up to `d`, byte for byte;
    // the reads of before the dump; of the writes during it, exactly those with events up to
    // `d`; the outbox.
    let restored_events = all_events(&r).await;
    assert_eq!(restored_events.as_slice(), &live_events[..d as usize]);
    let seq_of = |kind: &str, field: &str, value: &str| {
        live_events
            .iter()
            .find(|e| e["kind"] == kind && e["body"][field] == value)
            .and_then(|e| e["seq"].as_u64())
            .unwrap_or_else(|| panic!("no {kind} event for {value}"))
    };
    let acked = acked.lock().expect("lock").clone();
    let (mut kept_providers, mut kept_numbers) = (Vec::new(), Vec::new());
    for (kind, id) in &acked {
        match kind.as_str() {
            "provider" if seq_of("provider.registered", "providerId", id) <= d => kept_providers.push(id.clone()),
            "number" if seq_of("number.assigned", "number", id) <= d => kept_numbers.push(id.clone()),
            _ => {}
        }
    }
    let provider_acks = acked.iter().filter(|(k, _)| k == "provider").count();
    assert!(
        !kept_providers.is_empty() && kept_providers.len() < provider_acks,
        "{} of {provider_acks} providers written during the dump are in it",
        kept_providers.len()
    );
    // A number assigned on the live registry after the dump: the restored one does not have it.
    let lost = acked
        .iter()
        .rev()
        .find(|(k, n)| k == "number" && !kept_numbers.contains(n))
        .map(|(_, n)| n.clone())
        .expect("a number assigned after the dump");
    let mut reads = registry_reads(&r, &numbers).await;
    let (restored_providers, hot_numbers) = split_during(&mut reads, &p.hot);
    assert!(
        reads == frozen,
        "the restored node answers as the live ones did before the dump: {:#?}",
        diff(&frozen, &reads)
    );
    kept_providers.sort();
    assert_eq!(restored_providers, kept_providers, "the providers written during the dump up to event {d}");
    kept_numbers.sort();
    assert_eq!(hot_numbers, kept_numbers, "the numbers assigned during the dump up to event {d}");
    assert_eq!(r.held_numbers().await, held_before + kept_numbers.len() as u64);
    assert_eq!(outbox(&r, &p.csp.id).await, outbox_before);

    // --rebuild-views on the restored database gives the same views (the dump's views are its
    // events' projection).
    let digests = view_digests(&dbs, &restored_db);
    let mut r = r;
    assert!(r.sigterm().status.success());
    let r = node(dir, "r", &restored_url, None, &["--enforcement", "off", "--rebuild-views"]);
    assert!(r.stdout.text().contains(&format!("rebuilt the registry's views from {d} events")), "{}", r.stdout.text());
    assert_eq!(view_digests(&dbs, &restored_db), digests);
    let mut again = registry_reads(&r, &numbers).await;
    assert_eq!(split_during(&mut again, &p.hot), (kept_providers.clone(), kept_numbers.clone()));
    assert!(again == frozen, "{:#?}", diff(&frozen, &again));

    // New writes on the restored database: the event sequence goes on from `d` without a
    // gap or a collision; new ids are new.
    let csp2 = r.csp("After the restore").await;
    let brand = r.verified_brand(&csp2).await;
    let c = r.marketing_campaign(&csp2, &brand).await;
    r.share_and_accept(&csp2, &c, &p.dca).await;
    r.assign(&p.dca.key, "+12025557000", &c).await.ok(201);
    // The number assigned on the live registry after the dump is free here: a second holder.
    r.assign(&p.dca.key, &lost, &c).await.ok(201);
    while last_event(&r).await <= size_late + 2 {
        r.csp("Filler").await;
    }
    let after = all_events(&r).await;
    let seqs: Vec<u64> = after.iter().map(|e| e["seq"].as_u64().expect("seq")).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "gap-free, from 1");
    assert_eq!(&after[..d as usize], &live_events[..d as usize]);
    for id in [&csp2.id, &brand, &c] {
        assert!(!live_events.iter().any(|e| e["subject"] == id.as_str()), "{id} exists in the live registry too");
    }
    let size_r = wait_integrated(&r).await;

    // 4. Two nodes on two diverged databases. Both logs have the same origin and key, and
    // each signs its own tree past `d`.
    for i in 0..(size_r - size_late + 4) {
        a.csp(&format!("Live after the restore {i}")).await;
    }
    let size_a = wait_integrated(&a).await;
    assert!(size_a > size_r && size_r > size_late && size_late > d, "{size_a} {size_r} {size_late} {d}");
    assert_eq!(a.get("/log/key", None).await.text, r.get("/log/key", None).await.text);
    let origin = |cp: String| cp.lines().next().unwrap_or("").to_owned();
    assert_eq!(origin(a.get("/log/checkpoint", None).await.text), origin(r.get("/log/checkpoint", None).await.text));
    let live_next = &all_events(&a).await[d as usize];
    assert_eq!(live_next["seq"], after[d as usize]["seq"]);
    assert_ne!(live_next, &after[d as usize], "two different events under one sequence number");
    // An auditor that saw the live log: SPLIT VIEW OR REWRITE on the restored one.
    let out = log_verify(dir, &r.base, &late, false);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(out.stderr.contains("LOG CHECK FAILED: SPLIT VIEW OR REWRITE"), "{}", out.stderr);
    // One that follows only the restored log: nothing wrong there…
    let only_r = dir.join("only-r.json");
    let out = log_verify(dir, &r.base, &only_r, false);
    assert!(out.status.success(), "{out:?}");
    // …until it looks at the live log.
    let out = log_verify(dir, &a.base, &only_r, false);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(out.stderr.contains("LOG CHECK FAILED: SPLIT VIEW OR REWRITE"), "{}", out.stderr);
    assert_eq!(a.get(&format!("/v1/numbers/{lost}"), None).await.ok(200)["campaignId"], p.hot.as_str());
    assert_eq!(r.get(&format!("/v1/numbers/{lost}"), None).await.ok(200)["campaignId"], c.as_str());
    // The late state given to a restarted restored node: refused, as a split view now.
    drop(r);
    let refused = run(
        serve(
            dir,
            "r",
            &restored_url,
            None,
            &["--enforcement", "off", "--log-audit-state", late.to_str().expect("path")],
        ),
        Duration::from_secs(30),
    );
    assert!(!refused.status.success(), "{refused:?}");
    assert!(refused.stderr.contains("is not the one auditors accepted"), "{}", refused.stderr);
    drop((esme, a, b, smsc));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuild_views_on_a_shared_database_gives_the_same_views_and_repairs_damaged_ones() {
    let Some(server) = test_database_server() else { return };
    let mut dbs = Databases::new(&server);
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let (db, url) = dbs.create("rebuild");
    let mut a = node(dir, "a", &url, None, &[]);
    let mut b = node(dir, "b", &url, Some(&a.admin), &[]);
    let s = a.accepted_campaign().await;
    let p = populate(&a, &b, s).await;
    // The hot campaign suspended, a number suspended by hand: both in the views.
    b.set_suspended(&p.dca.key, &p.hot, true, "spam").await.ok(200);
    let r = a.post(&format!("/v1/numbers/{}/suspend", p.numbers[4]), &a.admin, &json!({"reason": "reports"})).await;
    assert!(r.status.is_success(), "{}", r.text);
    let numbers: Vec<&str> = p.numbers.iter().map(String::as_str).collect();
    settled(&[&a, &b]).await;
    let before = registry_reads(&a, &numbers).await;
    let on_b = registry_reads(&b, &numbers).await;
    assert!(before == on_b, "both nodes answer the same: {:#?}", diff(&before, &on_b));
    let events = last_event(&a).await;
    let digests = view_digests(&dbs, &db);
    assert!(a.sigterm().status.success());
    assert!(b.sigterm().status.success());

    // Damaged views: rows lost, a row edited.
    dbs.sql(
        &db,
        &format!(
            "DELETE FROM number_assignments WHERE number % 3 = 0; DELETE FROM campaign_sharing; \
             UPDATE campaigns SET status = 'EXPIRED' WHERE id = '{}'; DELETE FROM providers WHERE id = '{}'",
            p.campaign, p.csp.id
        ),
    );
    assert_ne!(view_digests(&dbs, &db), digests);
    let started = Instant::now();
    let r = node(dir, "a", &url, None, &["--rebuild-views"]);
    let out = r.stdout.text();
    assert!(out.contains(&format!("rebuilt the registry's views from {events} events")), "{out}");
    eprintln!(
        "--rebuild-views of {events} events: {}; listening {:?} after the start",
        out.lines().find(|l| l.contains("rebuilt")).unwrap_or(""),
        started.elapsed()
    );
    assert_eq!(view_digests(&dbs, &db), digests, "the views are the events' projection again");
    let after = registry_reads(&r, &numbers).await;
    assert!(after == before, "{:#?}", diff(&before, &after));
    // A second node started afterwards (no rebuild) answers the same.
    let b2 = node(dir, "b", &url, None, &[]);
    let on_b2 = registry_reads(&b2, &numbers).await;
    assert!(on_b2 == before, "{:#?}", diff(&before, &on_b2));
    drop((r, b2));
}
