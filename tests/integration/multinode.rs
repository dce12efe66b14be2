//! Several `vouch serve` nodes on one PostgreSQL database: what one node writes, the other's
//! index and SMPP gateway enforce within a second; concurrent writers keep one gap-free event
//! order; the transparency log has one sequencer at a time and another node takes over when
//! it dies, without forking the tree.
//!
//! These tests need a PostgreSQL server: `VOUCH_TEST_PG` (scripts/test starts a throwaway one
//! with scripts/pg-cluster and sets it).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{Server, checkpoint_size, log_verify, psql_on, run, vouch, within};
use crate::smpp::{Esme, Smsc, announced_port};

/// The PostgreSQL server of these tests.
fn pg_server() -> String {
    std::env::var("VOUCH_TEST_PG").ok().filter(|s| !s.is_empty()).map(|s| s.trim_end_matches('/').to_owned()).expect(
        "VOUCH_TEST_PG must name a PostgreSQL server (scripts/test starts one: \
         `scripts/pg-cluster start DIR` prints its URL)",
    )
}

/// A new, empty database on the test server; its URL.
fn fresh_database(tag: &str) -> String {
    let server = pg_server();
    let name = format!("mn_{tag}_{}_{}", std::process::id(), rand::random::<u32>());
    psql_on(&server, "postgres", &format!("CREATE DATABASE {name}"));
    format!("{server}/{name}")
}

/// A `vouch serve` node on `url`, with its own data directory `<dir>/<name>`. A node after the
/// first finds the administrator key in the database already, so it gets a copy of the first
/// node's key file.
fn node(dir: &Path, name: &str, url: &str, admin_from: Option<&Server>, extra: &[&str]) -> Server {
    let data_dir = dir.join(name);
    std::fs::create_dir_all(&data_dir).expect("data dir");
    if let Some(first) = admin_from {
        std::fs::write(data_dir.join("admin.key"), format!("{}\n", first.admin)).expect("admin key");
    }
    let mut cmd = vouch(dir);
    cmd.arg("serve").arg("--data-dir").arg(&data_dir).arg("--http").arg("127.0.0.1:0");
    cmd.arg("--database").arg(url).args(extra);
    Server::launch(cmd, data_dir, dir.to_path_buf())
}

/// Every event of the registry as `(seq, kind)`, in order, as `s` serves them.
async fn event_seqs(s: &Server) -> Vec<u64> {
    let mut out: Vec<u64> = Vec::new();
    loop {
        let after = out.last().copied().unwrap_or(0);
        let page = s.get(&format!("/v1/events?after={after}&limit=1000"), Some(&s.admin)).await;
        let events = page.ok(200).as_array().expect("events").clone();
        if events.is_empty() {
            return out;
        }
        out.extend(events.iter().map(|e| e["seq"].as_u64().expect("seq")));
    }
}

/// The number as SMPP addresses it, and as the REST API does.
const N_SHARED: &str = "12025550111";
const N_SHARED_E164: &str = "+12025550111";
const SUBSCRIBER: &str = "13105550100";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_on_one_node_is_enforced_by_the_other_nodes_gateway_within_a_second() {
    let tmp = tempfile::tempdir().expect("tmp");
    let url = fresh_database("gw");
    let a = node(tmp.path(), "a", &url, None, &[]);
    assert_eq!(a.health().await["store"], "postgres");
    let s = a.accepted_campaign().await;
    let password = a.smpp_account(&s.csp, "acme1").await;

    // Node B carries the gateway, in front of an SMSC simulator.
    let smsc = Smsc::start(tmp.path().join("smsc.jsonl"));
    let smsc_url = format!("smpp://vouchup:uppw@127.0.0.1:{}", smsc.port);
    let b = node(
        tmp.path(),
        "b",
        &url,
        Some(&a),
        &["--smpp", "127.0.0.1:0", "--gateway-dca", &s.dca.id, "--smsc", &smsc_url],
    );
    let mut esme = Esme::start(announced_port(&b, "vouch: SMPP gateway on 127.0.0.1:"));
    assert_eq!(esme.bind("acme1", &password), 0, "B knows the account A issued");
    assert_eq!(esme.submit(N_SHARED, SUBSCRIBER, "Acme: hello", "none"), vec![0x400], "not assigned yet");

    // Assigned on A: B's index has it within a second, and its gateway lets the message through.
    a.assign(&s.csp.key, N_SHARED_E164, &s.campaign).await.ok(201);
    let lag = within(Duration::from_secs(1), "B's index shows A's assignment", || async {
        b.get(&format!("/v1/numbers/{N_SHARED_E164}"), None).await.status == 200
    })
    .await;
    eprintln!("assignment on A visible on B after {lag:?}");
    assert_eq!(esme.submit(N_SHARED, SUBSCRIBER, "Acme: hello", "none"), vec![0]);
    assert_eq!(smsc.texts_from(N_SHARED).len(), 1);

    // Suspended on A: B's gateway refuses within a second.
    a.set_suspended(&s.dca.key, &s.campaign, true, "spam reports").await.ok(200);
    let start = Instant::now();
    loop {
        match esme.submit(N_SHARED, SUBSCRIBER, "Acme: still there?", "none").as_slice() {
            [0x401] => break,
            [0] => {
                assert!(start.elapsed() < Duration::from_secs(1), "B kept delivering for a second after A suspended")
            }
            other => panic!("unexpected status {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("suspension on A enforced by B's gateway after {:?}", start.elapsed());
}

/// Sends `submit` every 20 ms until it is answered `want`; fails if another answer than
/// `before` comes first, or after `limit`. How long it took.
fn answered_within(esme: &mut Esme, limit: Duration, want: i64, before: i64, what: &str) -> Duration {
    let start = Instant::now();
    loop {
        match esme.submit(N_SHARED, SUBSCRIBER, "Acme: your order shipped", "none").as_slice() {
            [s] if *s == want => return start.elapsed(),
            [s] if *s == before => assert!(start.elapsed() < limit, "{what}: not within {limit:?}"),
            other => panic!("{what}: unexpected status {other:?}"),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Two gateway nodes on one database, each in front of its own SMSC, with the CSP's account
/// bound on both; `a0` set the registry up (a node started before the DCA existed).
struct GatewayPair {
    a0: Server,
    a: Server,
    b: Server,
    smsc_a: Smsc,
    smsc_b: Smsc,
    esme_a: Esme,
    esme_b: Esme,
    password: String,
    /// Arguments of a gateway node like B.
    args_b: Vec<String>,
    /// The database.
    url: String,
}

/// With `b_role`, node B logs in to the database as that role (which the caller created), so
/// that a test can shut B alone out.
async fn gateway_pair(dir: &Path, tag: &str, extra: &[&str], b_role: Option<&str>) -> GatewayPair {
    let url = fresh_database(tag);
    let url_b = match b_role {
        Some(role) => {
            let (scheme, rest) = url.split_once("://").expect("a URL");
            format!("{scheme}://{role}@{}", rest.split_once('@').map_or(rest, |(_, host)| host))
        }
        None => url.clone(),
    };
    let smsc_a = Smsc::start(dir.join("smsc-a.jsonl"));
    let smsc_b = Smsc::start(dir.join("smsc-b.jsonl"));
    // Node A0 first without a gateway (the DCA a gateway names must exist).
    let a0 = node(dir, "a0", &url, None, &[]);
    let s = a0.accepted_campaign().await;
    a0.assign(&s.csp.key, N_SHARED_E164, &s.campaign).await.ok(201);
    let password = a0.smpp_account(&s.csp, "acme1").await;
    let args = |smsc: &Smsc| -> Vec<String> {
        ["--smpp", "127.0.0.1:0", "--gateway-dca", &s.dca.id, "--smsc"]
            .iter()
            .map(|a| a.to_string())
            .chain([format!("smpp://vouchup:uppw@127.0.0.1:{}", smsc.port)])
            .chain(extra.iter().map(|a| a.to_string()))
            .collect()
    };
    let (args_a, args_b) = (args(&smsc_a), args(&smsc_b));
    let a = node(dir, "a", &url, Some(&a0), &args_a.iter().map(String::as_str).collect::<Vec<_>>());
    let b = node(dir, "b", &url_b, Some(&a0), &args_b.iter().map(String::as_str).collect::<Vec<_>>());
    let mut esme_a = Esme::start(announced_port(&a, "vouch: SMPP gateway on 127.0.0.1:"));
    let mut esme_b = Esme::start(announced_port(&b, "vouch: SMPP gateway on 127.0.0.1:"));
    assert_eq!(esme_a.bind("acme1", &password), 0);
    assert_eq!(esme_b.bind("acme1", &password), 0);
    GatewayPair { a0, a, b, smsc_a, smsc_b, esme_a, esme_b, password, args_b, url }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_received_by_one_nodes_gateway_is_enforced_by_the_other_within_a_second() {
    let tmp = tempfile::tempdir().expect("tmp");
    let GatewayPair { a0, a: _a, b, smsc_a, smsc_b, mut esme_a, mut esme_b, password, args_b, url } =
        gateway_pair(tmp.path(), "stop", &[], None).await;
    // Both deliver; A's upstream session is up (the subscriber's STOP comes through it).
    assert_eq!(esme_a.submit(N_SHARED, SUBSCRIBER, "Acme: welcome", "none"), vec![0]);
    assert_eq!(esme_b.submit(N_SHARED, SUBSCRIBER, "Acme: welcome", "none"), vec![0]);
    assert_eq!(smsc_a.texts_from(N_SHARED).len() + smsc_b.texts_from(N_SHARED).len(), 2);

    // The subscriber's STOP reaches node A: B stops delivering to them within a second.
    smsc_a.control(&format!("mo {SUBSCRIBER} {N_SHARED} STOP"));
    let lag = answered_within(&mut esme_b, Duration::from_secs(1), 0x406, 0, "B enforces the STOP A received");
    eprintln!("STOP on A enforced by B's gateway after {lag:?}");
    assert_eq!(esme_a.submit(N_SHARED, SUBSCRIBER, "Acme: hello?", "none"), vec![0x406], "and A at once");
    assert_eq!(
        esme_b.submit(N_SHARED, "13105550199", "Acme: hello", "none"),
        vec![0],
        "other subscribers are not affected"
    );

    // START through A lifts it on B within a second too.
    smsc_a.control(&format!("mo {SUBSCRIBER} {N_SHARED} START"));
    let lag = answered_within(&mut esme_b, Duration::from_secs(1), 0, 0x406, "B lifts the opt-out on A's START");
    eprintln!("START on A enforced by B's gateway after {lag:?}");

    // A node started afterwards loads the opt-outs in force, and not the lifted ones.
    smsc_a.control(&format!("mo 13105550177 {N_SHARED} STOP"));
    drop(esme_b);
    drop(b);
    let c = node(tmp.path(), "c", &url, Some(&a0), &args_b.iter().map(String::as_str).collect::<Vec<_>>());
    let mut esme_c = Esme::start(announced_port(&c, "vouch: SMPP gateway on 127.0.0.1:"));
    assert_eq!(esme_c.bind("acme1", &password), 0);
    assert_eq!(esme_c.submit(N_SHARED, "13105550177", "Acme: hi", "none"), vec![0x406]);
    assert_eq!(esme_c.submit(N_SHARED, SUBSCRIBER, "Acme: hi", "none"), vec![0]);
}

/// Submits to the shared number through `esme` until it is throttled (or `most` were accepted);
/// how many were accepted.
fn accepted_until_throttled(esme: &mut Esme, most: usize) -> usize {
    for accepted in 0..=most {
        match esme.submit(N_SHARED, SUBSCRIBER, "Acme: your order shipped", "none").as_slice() {
            [0] => {}
            [0x58] => return accepted,
            other => panic!("unexpected status {other:?} after {accepted} accepted"),
        }
    }
    most + 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateway_nodes_share_the_campaigns_minute_rate() {
    let tmp = tempfile::tempdir().expect("tmp");
    // MARKETING at vetting score 85 is class B: 4,500 a minute, at 1 % 45.
    let config = tmp.path().join("vouch.toml");
    std::fs::write(&config, "[gateway]\nminute_scale = 0.01\n").expect("config");
    let config = config.to_string_lossy().into_owned();
    let mut p = gateway_pair(tmp.path(), "rate", &["--config", &config], None).await;
    let (esme_a, esme_b) = (&mut p.esme_a, &mut p.esme_b);

    // 30 through A; within a second B knows, and lets through about the 15 left of the minute
    // (a few more as the budget refills at 0.75 a second), not 45.
    for n in 0..30 {
        assert_eq!(esme_a.submit(N_SHARED, SUBSCRIBER, "Acme: your order shipped", "none"), vec![0], "message {n}");
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let on_b = accepted_until_throttled(esme_b, 45);
    assert!((13..=20).contains(&on_b), "B accepted {on_b} after A's 30 of 45 a minute");
    // And A, in turn, sees B's.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let on_a = accepted_until_throttled(esme_a, 45);
    assert!(on_a <= 4, "A accepted {on_a} more after the minute's 45 went through both nodes");
    let delivered = p.smsc_a.texts_from(N_SHARED).len() + p.smsc_b.texts_from(N_SHARED).len();
    assert_eq!(delivered, 30 + on_b + on_a);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateway_nodes_share_the_brands_daily_cap() {
    let tmp = tempfile::tempdir().expect("tmp");
    // Every tier's day capped at 40; the minute rates as published (class B: 4,500).
    let config = tmp.path().join("vouch.toml");
    std::fs::write(&config, "[gateway]\ndaily_caps = [40, 40, 40, 40, 40]\n").expect("config");
    let config = config.to_string_lossy().into_owned();
    // The pair's nodes and SMSCs run as long as it lives.
    let mut p = gateway_pair(tmp.path(), "day", &["--config", &config], None).await;
    let (esme_a, esme_b) = (&mut p.esme_a, &mut p.esme_b);
    for n in 0..30 {
        assert_eq!(esme_a.submit(N_SHARED, SUBSCRIBER, "Acme: your order shipped", "none"), vec![0], "message {n}");
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let mut on_b = 0;
    let last = loop {
        match esme_b.submit(N_SHARED, SUBSCRIBER, "Acme: your order shipped", "none")[0] {
            0 if on_b < 40 => on_b += 1,
            status => break status,
        }
    };
    assert_eq!((last, on_b), (0x405, 10), "B stops at the brand's 40 a day, 30 of them through A");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(esme_a.submit(N_SHARED, SUBSCRIBER, "Acme: one more?", "none"), vec![0x405], "and so does A");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passport_replayed_through_another_node_for_another_call_is_caught() {
    use crate::stir_http::{DevCa, identity, provider, signer, verification_request, verify};
    let tmp = tempfile::tempdir().expect("tmp");
    let url = fresh_database("replay");
    let ca = DevCa::init(tmp.path(), "ca");
    let trust = tmp.path().join("trust");
    std::fs::create_dir(&trust).expect("trust dir");
    ca.trust_into(&trust, "dev");
    let trust = trust.to_string_lossy().into_owned();
    let a = node(tmp.path(), "a", &url, None, &["--trust-dir", &trust]);
    let b = node(tmp.path(), "b", &url, Some(&a), &["--trust-dir", &trust]);
    let (p, _, _) = signer(&a, &ca, "Acme Voice LLC", "0055500001", "123A").await;
    let carrier = provider(&a, "Mobile Carrier Inc", &["carrier"], Some("0055500003"), None).await;
    let (orig, dest) = ("12025550100", "12025550199");
    let call = |passport: &str, call_id: &str| {
        let mut body = verification_request(orig, dest, passport);
        body["verificationRequest"]["callId"] = json!(call_id);
        body
    };
    let verstat =
        |r: &Value| (r["verstat"].as_str().unwrap_or("").to_owned(), r["vouch"]["case"].as_str().map(str::to_owned));
    let passed = ("TN-Validation-Passed".to_owned(), None);
    let replay = ("TN-Validation-Failed".to_owned(), Some("REPLAY".to_owned()));

    // Verified on A for call 1; a second later B refuses the PASSporT for call 2, and lets the
    // same call's retransmission through. (Asking B earlier would make B see it first for
    // call 2: both nodes would then hold it for their own call.)
    let first = identity(&a, &p, orig, dest).await;
    assert_eq!(verstat(&verify(&a, &carrier.key, &call(&first, "call-1@127.0.0.1")).await), passed);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(verstat(&verify(&b, &carrier.key, &call(&first, "call-2@127.0.0.1")).await), replay);
    assert_eq!(verstat(&verify(&b, &carrier.key, &call(&first, "call-1@127.0.0.1")).await), passed, "same call");

    // And the other way round.
    let second = identity(&a, &p, orig, dest).await;
    assert_eq!(verstat(&verify(&b, &carrier.key, &call(&second, "call-3@127.0.0.1")).await), passed);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(verstat(&verify(&a, &carrier.key, &call(&second, "call-4@127.0.0.1")).await), replay);

    // Presented first on both nodes for different calls within the same instant: each keeps
    // its own call, and a third call is a replay on both.
    let third = identity(&a, &p, orig, dest).await;
    assert_eq!(verstat(&verify(&a, &carrier.key, &call(&third, "call-5@127.0.0.1")).await), passed);
    assert_eq!(verstat(&verify(&b, &carrier.key, &call(&third, "call-6@127.0.0.1")).await), passed);
    tokio::time::sleep(Duration::from_secs(1)).await;
    for n in [&a, &b] {
        assert_eq!(verstat(&verify(n, &carrier.key, &call(&third, "call-7@127.0.0.1")).await), replay);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_on_two_nodes_keep_one_gap_free_order() {
    let tmp = tempfile::tempdir().expect("tmp");
    let url = fresh_database("order");
    let a = node(tmp.path(), "a", &url, None, &[]);
    let s = a.accepted_campaign().await;
    let second = a.second_campaign(&s).await;
    let b = node(tmp.path(), "b", &url, Some(&a), &[]);

    // 60 assignments at once, half through each node: every one lands.
    let mut calls = Vec::new();
    for i in 0..60u64 {
        let (node, key, campaign) = if i % 2 == 0 { (&a, &s.csp.key, &s.campaign) } else { (&b, &s.csp.key, &second) };
        let number = format!("+1202555{:04}", 2000 + i);
        calls.push(async move { (number.clone(), node.assign(key, &number, campaign).await.status) });
    }
    for (number, status) in futures_util::future::join_all(calls).await {
        assert_eq!(status, 201, "{number}");
    }
    // One number, two campaigns, one through each node at the same moment: exactly one wins.
    let contested = "+12025553000";
    let (ra, rb) = tokio::join!(a.assign(&s.csp.key, contested, &s.campaign), b.assign(&s.csp.key, contested, &second));
    let mut statuses = [ra.status, rb.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409], "A: {} B: {}", ra.text, rb.text);

    // One order of events, numbered 1, 2, 3, … without a gap, the same through both nodes.
    let last = a.health().await["lastEvent"].as_u64().expect("lastEvent");
    let seqs = event_seqs(&b).await;
    assert_eq!(seqs, (1..=last).collect::<Vec<_>>());
    assert_eq!(event_seqs(&a).await, seqs);
    // Both nodes' indexes agree on every number.
    within(Duration::from_secs(2), "B applied every event", || async {
        b.health().await["appliedEvent"].as_u64() == Some(last)
    })
    .await;
    for i in (0..60u64).step_by(7) {
        let n = format!("+1202555{:04}", 2000 + i);
        let on_a = a.get(&format!("/v1/numbers/{n}"), None).await.ok(200).clone();
        let on_b = b.get(&format!("/v1/numbers/{n}"), None).await.ok(200).clone();
        assert_eq!(on_a["campaignId"], on_b["campaignId"], "{n}");
    }
    let winner_a = a.get(&format!("/v1/numbers/{contested}"), None).await.ok(200).clone();
    let winner_b = b.get(&format!("/v1/numbers/{contested}"), None).await.ok(200).clone();
    assert_eq!(winner_a["campaignId"], winner_b["campaignId"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_sequencer_fails_over_and_the_auditor_sees_one_tree() {
    let tmp = tempfile::tempdir().expect("tmp");
    let url = fresh_database("seq");
    let mut a = node(tmp.path(), "a", &url, None, &[]);
    within(Duration::from_secs(10), "A became the sequencer", || async { a.health().await["sequencer"] == true }).await;
    let b = node(tmp.path(), "b", &url, Some(&a), &[]);
    for i in 0..20 {
        let via = if i % 2 == 0 { &a } else { &b };
        via.post("/v1/providers", &via.admin, &json!({"legalName": format!("Node test {i}"), "roles": ["csp"]}))
            .await
            .ok(201);
    }
    let last: u64 = a.health().await["lastEvent"].as_u64().expect("lastEvent");
    within(Duration::from_secs(20), "both nodes serve a checkpoint of every event", || async {
        checkpoint_size(&a).await >= last && checkpoint_size(&b).await >= last
    })
    .await;
    let hb: Value = b.health().await;
    assert_eq!(hb["sequencer"], false, "one sequencer at a time: {hb}");
    let state = tmp.path().join("audit.json");
    let out = log_verify(tmp.path(), &a.base, &state, true);
    assert!(out.status.success(), "{out:?}");

    // The sequencer dies without giving its lease up: B takes over once the lease expires.
    a.sigkill();
    for i in 20..30 {
        b.post("/v1/providers", &b.admin, &json!({"legalName": format!("Node test {i}"), "roles": ["csp"]}))
            .await
            .ok(201);
    }
    let last: u64 = b.health().await["lastEvent"].as_u64().expect("lastEvent");
    let took = within(Duration::from_secs(30), "B took over and integrated the new events", || async {
        b.health().await["sequencer"] == true && checkpoint_size(&b).await >= last
    })
    .await;
    eprintln!("B signed a checkpoint of every event {took:?} after A died");
    // The auditor that saw A's tree checks B's against it (consistency proof) and every tile.
    let out = log_verify(tmp.path(), &b.base, &state, true);
    assert!(out.status.success(), "{out:?}");

    // A comes back: it follows B's tree (B keeps the lease) and serves the same checkpoint.
    a.restart_with(&url);
    within(Duration::from_secs(10), "A serves B's checkpoint", || async { checkpoint_size(&a).await >= last }).await;
    assert_eq!(a.health().await["sequencer"], false);
    let out = log_verify(tmp.path(), &a.base, &state, false);
    assert!(out.status.success(), "{out:?}");
}

/// A TCP relay on loopback to the test's PostgreSQL server, which the test can cut: the
/// database then goes away as a node sees it (its open connections close, new ones are
/// refused).
struct Relay {
    port: u16,
    cut: tokio::sync::watch::Sender<bool>,
}

impl Relay {
    async fn to_test_server() -> Self {
        let server = pg_server();
        let target = server.rsplit('@').next().expect("host:port").to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let (cut, mut watch) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = watch.changed() => return,
                    accepted = listener.accept() => {
                        let Ok((mut inbound, _)) = accepted else { continue };
                        let (target, mut watch) = (target.clone(), watch.clone());
                        tokio::spawn(async move {
                            let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else { return };
                            tokio::select! {
                                _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                                _ = watch.changed() => {}
                            }
                        });
                    }
                }
            }
        });
        Self { port, cut }
    }

    /// The URL of database `url` (on the test server) through this relay.
    fn url_of(&self, url: &str) -> String {
        let name = url.rsplit('/').next().expect("database name");
        let user = pg_server().split("://").nth(1).and_then(|r| r.split('@').next()).expect("user").to_owned();
        format!("postgres://{user}@127.0.0.1:{}/{name}", self.port)
    }

    fn cut(&self) {
        let _ = self.cut.send(true);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_database_is_gone_says_so_promptly_and_stops_promptly() {
    let tmp = tempfile::tempdir().expect("tmp");
    let relay = Relay::to_test_server().await;
    let mut a = node(tmp.path(), "a", &relay.url_of(&fresh_database("outage")), None, &[]);
    let s = a.accepted_campaign().await;
    a.assign(&s.csp.key, "+12025554000", &s.campaign).await.ok(201);
    assert_eq!(a.health().await["status"], "ok");
    relay.cut();

    // /healthz answers within its short wait, from memory, and names the database.
    let start = Instant::now();
    let health = a.health().await;
    assert!(start.elapsed() < Duration::from_secs(4), "/healthz took {:?}", start.elapsed());
    assert_eq!(health["status"], "degraded", "{health}");
    assert!(health["databaseUnavailable"].as_str().is_some_and(|w| !w.is_empty()), "{health}");
    // A public lookup goes on from memory.
    a.get("/v1/numbers/+12025554000", None).await.ok(200);

    // A write: a typed 503 after the pool's wait (10 s), not four of them, with Retry-After.
    let start = Instant::now();
    let r = a.assign(&s.csp.key, "+12025554001", &s.campaign).await;
    let took = start.elapsed();
    r.problem(503, "database-unavailable");
    assert_eq!(r.headers.get("retry-after").and_then(|v| v.to_str().ok()), Some("1"), "{}", r.text);
    assert!(took < Duration::from_secs(15), "the write took {took:?}");

    // SIGTERM: the stop's steps share one deadline (5 s) instead of waiting 10 s each.
    let start = Instant::now();
    let out = a.sigterm();
    assert!(out.status.success(), "{out:?}");
    assert!(start.elapsed() < Duration::from_secs(9), "the stop took {:?}", start.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_holder_of_the_registry_lock_makes_writes_busy_not_stuck() {
    let tmp = tempfile::tempdir().expect("tmp");
    let url = fresh_database("stalled");
    let a = node(tmp.path(), "a", &url, None, &[]);
    let s = a.accepted_campaign().await;

    // Another node, frozen inside its write transaction: it holds the registry's row lock.
    let mut stalled = Command::new("psql")
        .arg(format!("{url}?application_name=stalled"))
        .args(["-v", "ON_ERROR_STOP=1", "-qAt"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("psql");
    {
        use std::io::Write;
        let stdin = stalled.stdin.as_mut().expect("stdin");
        stdin.write_all(b"BEGIN;\nSELECT next_seq FROM registry_state FOR UPDATE;\n").expect("write");
        stdin.flush().expect("flush");
    }
    let server = pg_server();
    let db = url.rsplit('/').next().expect("database").to_owned();
    within(Duration::from_secs(10), "the lock is held", || {
        let (server, db) = (server.clone(), db.clone());
        async move {
            psql_on(
                &server,
                "postgres",
                &format!(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = '{db}' AND application_name = 'stalled' \
                     AND state = 'idle in transaction'"
                ),
            )
            .trim()
                == "1"
        }
    })
    .await;

    // Reads go on; a write answers 503 registry-busy once it waited the lock timeout (5 s; it
    // is not run again), instead of waiting for as long as the holder is frozen.
    a.get(&format!("/v1/campaigns/{}", s.campaign), Some(&s.csp.key)).await.ok(200);
    let start = Instant::now();
    let r = a.assign(&s.csp.key, "+12025554100", &s.campaign).await;
    let took = start.elapsed();
    r.problem(503, "registry-busy");
    assert_eq!(r.headers.get("retry-after").and_then(|v| v.to_str().ok()), Some("1"), "{}", r.text);
    assert!(took >= Duration::from_secs(4) && took < Duration::from_secs(9), "the write took {took:?}");
    assert_eq!(a.health().await["status"], "ok");

    // Once the holder is gone, writes go through again.
    let _ = stalled.kill();
    let _ = stalled.wait();
    a.assign(&s.csp.key, "+12025554100", &s.campaign).await.ok(201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_taken_while_a_node_was_cut_off_from_the_database_is_enforced_when_it_is_back() {
    let tmp = tempfile::tempdir().expect("tmp");
    let server = pg_server();
    // Node B logs in as its own role, which the test can shut out of the database.
    let role = format!("cut_{}_{}", std::process::id(), rand::random::<u32>());
    psql_on(&server, "postgres", &format!("CREATE ROLE {role} LOGIN SUPERUSER"));
    let GatewayPair { a0, a, b, smsc_a, smsc_b, mut esme_a, mut esme_b, .. } =
        gateway_pair(tmp.path(), "cut", &[], Some(&role)).await;
    assert_eq!(esme_b.submit(N_SHARED, SUBSCRIBER, "Acme: welcome", "none"), vec![0]);

    // B is shut out of the database (its sessions killed, no new logins) for longer than the
    // window it re-reads; meanwhile the subscriber's STOP reaches node A.
    psql_on(&server, "postgres", &format!("ALTER ROLE {role} NOLOGIN"));
    psql_on(
        &server,
        "postgres",
        &format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'"),
    );
    smsc_a.control(&format!("mo {SUBSCRIBER} {N_SHARED} STOP"));
    assert_eq!(esme_a.submit(N_SHARED, SUBSCRIBER, "Acme: hello?", "none"), vec![0x406]);
    tokio::time::sleep(Duration::from_secs(12)).await;
    // A database it cannot reach does not unbind B's ESME: the account is as it was.
    assert_eq!(esme_b.submit(N_SHARED, "13105550199", "Acme: hello", "none"), vec![0], "B still serves");

    // Back: B reads what it missed and refuses the opted-out subscriber within a few seconds.
    psql_on(&server, "postgres", &format!("ALTER ROLE {role} LOGIN"));
    let lag = answered_within(&mut esme_b, Duration::from_secs(5), 0x406, 0, "B enforces the STOP it missed");
    eprintln!("a STOP taken while B was cut off enforced by B {lag:?} after it was back");
    drop((esme_a, esme_b, a, b, a0, smsc_a, smsc_b));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_reaching_another_node_than_the_one_that_sent_the_message_finds_the_esme_there() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let url = fresh_database("receipt");
    let smsc = Smsc::start(dir.join("smsc.jsonl"));
    let a0 = node(dir, "a0", &url, None, &[]);
    let s = a0.accepted_campaign().await;
    a0.assign(&s.csp.key, N_SHARED_E164, &s.campaign).await.ok(201);
    let password = a0.smpp_account(&s.csp, "acme1").await;
    // Two gateway nodes bound to one SMSC with its one account, as a carrier's bind is shared.
    let upstream = format!("smpp://vouchup:uppw@127.0.0.1:{}", smsc.port);
    let args = ["--smpp", "127.0.0.1:0", "--gateway-dca", s.dca.id.as_str(), "--smsc", upstream.as_str()];
    let mut a = node(dir, "a", &url, Some(&a0), &args);
    let b = node(dir, "b", &url, Some(&a0), &args);
    within(Duration::from_secs(10), "both nodes bound to the SMSC", || async {
        smsc.control("stats").contains("\"sessions_bound\": 2")
    })
    .await;
    smsc.control("dlrdelay 3000");
    let mut esme_a = Esme::start(announced_port(&a, "vouch: SMPP gateway on 127.0.0.1:"));
    assert_eq!(esme_a.bind("acme1", &password), 0);
    let sent = esme_a.submit_full(N_SHARED, SUBSCRIBER, "Acme: welcome");
    assert_eq!(sent["statuses"], json!([0]), "{sent}");
    let id = sent["message_ids"][0].as_str().expect("a message id").to_owned();
    let mut esme_b = Esme::start(announced_port(&b, "vouch: SMPP gateway on 127.0.0.1:"));
    assert_eq!(esme_b.bind("acme1", &password), 0);
    // Node A dies before the receipt comes: the SMSC sends it on B's bind, and B finds where
    // it goes in the shared table.
    std::thread::sleep(Duration::from_millis(500));
    a.sigkill();
    let pdus = esme_b.wait_deliver(1, 10);
    assert_eq!(pdus.len(), 1, "the receipt reaches the ESME through node B");
    assert_eq!(pdus[0]["receipted_message_id"], json!(id), "{pdus:?}");
}

/// A PostgreSQL cluster of one test's own, with TLS on (scripts/pg-cluster `tls`), stopped and
/// deleted at the end.
struct TlsCluster {
    dir: std::path::PathBuf,
    url: String,
}

impl TlsCluster {
    fn start(dir: &Path) -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/pg-cluster");
        let out = Command::new(&script).arg("start").arg(dir).args(["fast", "tls"]).output().expect("pg-cluster");
        assert!(out.status.success(), "pg-cluster: {}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let url = stdout.lines().last().expect("the server URL").trim().to_owned();
        Self { dir: dir.to_owned(), url }
    }
}

impl Drop for TlsCluster {
    fn drop(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/pg-cluster");
        let _ = Command::new(script).arg("stop").arg(&self.dir).output();
    }
}

/// TLS to the database as docs/DEPLOYMENT.md says: `verify-full` with the operator's CA
/// connects over TLS (every connection of the node); a server whose certificate another CA
/// signed, or whose name is not the URL's host, stops the start naming why; `verify-ca` checks
/// the chain only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_connection_is_tls_checked_against_the_operators_ca() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().expect("tempdir");
    // The cluster's owner (postgres, when the tests run as root) must enter the directory.
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let cluster = TlsCluster::start(&tmp.path().join("pg"));
    psql_on(&cluster.url, "postgres", "CREATE DATABASE tls LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0");
    let ca = cluster.dir.join("tls/ca.pem");
    let url = |host: &str, mode: &str, root: &Path| {
        let base = cluster.url.replacen("127.0.0.1", host, 1);
        format!("{base}/tls?sslmode={mode}&sslrootcert={}", root.display())
    };

    let mut s = node(tmp.path(), "a", &url("127.0.0.1", "verify-full", &ca), None, &[]);
    s.csp("Acme Messaging Inc").await;
    let sessions = psql_on(
        &cluster.url,
        "postgres",
        "SELECT count(*) || ' ' || bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
         WHERE a.datname = 'tls'",
    );
    let (count, all_tls) = sessions.trim().split_once(' ').expect("count and ssl");
    assert!(count.parse::<u32>().expect("count") > 0 && all_tls == "true", "sessions of the node: {sessions}");
    assert!(s.sigterm().status.success());

    let refused = |url: String| {
        let mut cmd = vouch(tmp.path());
        cmd.arg("serve").arg("--data-dir").arg(tmp.path().join("a")).args(["--http", "127.0.0.1:0", "--database"]);
        cmd.arg(url);
        let out = run(cmd, Duration::from_secs(60));
        assert!(!out.status.success(), "started: {out:?}");
        out.stderr
    };
    // Another CA (a self-signed certificate of its own).
    let other = tmp.path().join("other");
    std::fs::create_dir(&other).expect("mkdir");
    let (other_ca, _) = crate::harness::loopback_tls_certificate(&other);
    let e = refused(url("127.0.0.1", "verify-full", &other_ca));
    assert!(e.contains("UnknownIssuer"), "{e}");
    // The right CA, but the URL names a host the certificate is not for.
    let e = refused(url("localhost", "verify-full", &ca));
    assert!(e.contains("not valid for name"), "{e}");
    // verify-ca checks the chain only: that host is taken.
    let mut s = node(tmp.path(), "a", &url("localhost", "verify-ca", &ca), None, &[]);
    s.get("/healthz", None).await.ok(200);
    assert!(s.sigterm().status.success());
}
