//! Number cycling, risk and enforcement end to end: a brand cycles 50 numbers through one
//! campaign with texts through the real SMPP gateway (smpplib ESME, simulated SMSC); a carrier
//! reports a number that has since been reassigned to an innocent campaign; the trace names the
//! cycling campaign, the policy suspends it (an event in the log, HMAC-signed webhooks to its
//! CSP and DCA), the gateway refuses its next message, and the innocent campaign is untouched.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::harness::{LOOPBACK_WEBHOOKS, Server, run, serve_command, vouch};
use crate::smpp::{Esme, Smsc, announced_port};

/// One request a webhook receiver got.
#[derive(Debug, Clone)]
struct Hook {
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

/// A loopback HTTP/1.1 receiver that records every POST and answers 204.
async fn webhook_receiver() -> (u16, Arc<Mutex<Vec<Hook>>>) {
    let (port, got, _) = webhook_receiver_answering(204).await;
    (port, got)
}

/// A loopback HTTP/1.1 receiver that records every POST and answers the status the returned
/// cell holds (at first `status`).
async fn webhook_receiver_answering(status: u16) -> (u16, Arc<Mutex<Vec<Hook>>>, Arc<AtomicU16>) {
    let answer = Arc::new(AtomicU16::new(status));
    let answering = answer.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let got: Arc<Mutex<Vec<Hook>>> = Arc::default();
    let sink = got.clone();
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            let sink = sink.clone();
            let answering = answering.clone();
            tokio::spawn(async move {
                let mut conn = BufReader::new(conn);
                loop {
                    let mut line = String::new();
                    if conn.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
                    let mut headers = HashMap::new();
                    loop {
                        let mut h = String::new();
                        if conn.read_line(&mut h).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let h = h.trim_end();
                        if h.is_empty() {
                            break;
                        }
                        if let Some((k, v)) = h.split_once(':') {
                            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
                        }
                    }
                    let len: usize = headers.get("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
                    let mut body = vec![0; len];
                    if conn.read_exact(&mut body).await.is_err() {
                        return;
                    }
                    sink.lock().expect("lock").push(Hook { path, headers, body });
                    let status = answering.load(Ordering::SeqCst);
                    let head = format!("HTTP/1.1 {status} Whatever\r\ncontent-length: 0\r\n\r\n");
                    let _ = conn.get_mut().write_all(head.as_bytes()).await;
                }
            });
        }
    });
    (port, got, answer)
}

/// HMAC-SHA256 (RFC 2104), written here from SHA-256 so the check does not share vouch's code.
fn hmac_sha256(key: &[u8], msg: &[u8]) -> String {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |b: u8| k.iter().map(|x| x ^ b).collect::<Vec<u8>>();
    let inner = Sha256::new().chain_update(pad(0x36)).chain_update(msg).finalize();
    let outer = Sha256::new().chain_update(pad(0x5c)).chain_update(inner).finalize();
    outer.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks a delivery's `Vouch-Signature` (t=…,v1=…) against `secret`, and returns its JSON.
fn verified(h: &Hook, secret: &str) -> Value {
    let sig = h.headers.get("vouch-signature").expect("signature header");
    let (t, v1) = sig.split_once(",v1=").expect("t=…,v1=…");
    let t = t.strip_prefix("t=").expect("t=");
    let mut signed = format!("{t}.").into_bytes();
    signed.extend_from_slice(&h.body);
    assert_eq!(v1, hmac_sha256(secret.as_bytes(), &signed), "the HMAC signature verifies");
    let age = jiff::Timestamp::now().as_second() - t.parse::<i64>().expect("t");
    assert!((0..60).contains(&age), "signed just now ({age} s)");
    serde_json::from_slice(&h.body).expect("JSON body")
}

/// Waits until `pred` holds for the received webhooks.
async fn wait_hooks(got: &Arc<Mutex<Vec<Hook>>>, pred: impl Fn(&[Hook]) -> bool) -> Vec<Hook> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let hooks = got.lock().expect("lock").clone();
        if pred(&hooks) {
            return hooks;
        }
        assert!(Instant::now() < deadline, "webhooks never arrived: {hooks:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const SUBSCRIBER: &str = "13105550100";
const SPAM: &str = "Congrats! You won a $500 gift card. Reply YES to claim it today";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cycling_brand_is_traced_flagged_and_suspended_and_the_innocent_is_untouched() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data_dir = tmp.path().join("data");
    let scratch = tmp.path().to_path_buf();
    let mut cmd = serve_command(&scratch, &data_dir);
    cmd.args(LOOPBACK_WEBHOOKS);
    let mut server = Server::launch(cmd, data_dir.clone(), scratch.clone());

    // The cycler, an innocent CSP with its own brand, a sloppy campaign, one DCA, a carrier.
    let s = server.accepted_campaign().await;
    let sloppy = server.marketing_campaign(&s.csp, &s.brand).await;
    server.share_and_accept(&s.csp, &sloppy, &s.dca).await;
    let innocent_csp = server.csp("Innocent Texting Co").await;
    let innocent_brand = server.verified_brand_with(&innocent_csp, &crate::harness::other_brand_json()).await;
    let innocent = server.marketing_campaign(&innocent_csp, &innocent_brand).await;
    server.share_and_accept(&innocent_csp, &innocent, &s.dca).await;
    let carrier = server.provider("Big Mobile Carrier", &["carrier"]).await;
    let mut accounts = HashMap::new();
    for (csp, sid) in [(&s.csp, "cycler1"), (&innocent_csp, "innoc1")] {
        let path = format!("/v1/providers/{}/smpp-accounts", csp.id);
        let a = server.post(&path, &csp.key, &json!({"systemId": sid})).await.ok(201).clone();
        accounts.insert(sid, a["password"].as_str().expect("password").to_owned());
    }

    // Webhooks for the CSP and the DCA: secrets shown once, refused to non-loopback http.
    let (hook_port, hooks) = webhook_receiver().await;
    let mut secrets = HashMap::new();
    for (who, p) in [("csp", &s.csp), ("dca", &s.dca)] {
        let url = format!("http://127.0.0.1:{hook_port}/{who}");
        let w =
            server.put(&format!("/v1/providers/{}/webhook", p.id), &p.key, &json!({"url": url})).await.ok(201).clone();
        assert!(w["secret"].as_str().is_some_and(|x| x.starts_with("whsec_")), "{w}");
        secrets.insert(who, w["secret"].as_str().expect("secret").to_owned());
        let again = server.get(&format!("/v1/providers/{}/webhook", p.id), Some(&p.key)).await.ok(200).clone();
        assert!(again.get("secret").is_none(), "shown once: {again}");
    }
    let bad = json!({"url": "http://hooks.example.com/x"});
    server.put(&format!("/v1/providers/{}/webhook", s.csp.id), &s.csp.key, &bad).await.problem_naming(
        422,
        "validation-failed",
        "url",
    );
    server.put(&format!("/v1/providers/{}/webhook", s.csp.id), &s.dca.key, &bad).await.ok(403);

    // Restart with the gateway; sweeps hourly, so only a report triggers enforcement here.
    server.sigterm();
    let smsc = Smsc::start(scratch.join("smsc.jsonl"));
    let mut cmd = serve_command(&scratch, &data_dir);
    cmd.args(LOOPBACK_WEBHOOKS);
    cmd.args(["--smpp", "127.0.0.1:0", "--gateway-dca", &s.dca.id, "--enforcement-interval", "3600"])
        .arg("--smsc")
        .arg(format!("smpp://vouchup:uppw@127.0.0.1:{}", smsc.port));
    let server = Server::launch(cmd, data_dir.clone(), scratch.clone());
    assert!(server.stdout.text().contains("vouch: enforcement on"), "{}", server.stdout.text());
    let smpp_port = announced_port(&server, "vouch: SMPP gateway on 127.0.0.1:");
    let mut cycler = Esme::start(smpp_port);
    assert_eq!(cycler.bind("cycler1", &accounts["cycler1"]), 0);
    let mut honest = Esme::start(smpp_port);
    assert_eq!(honest.bind("innoc1", &accounts["innoc1"]), 0);

    // The cycle: 50 numbers, each assigned, used for one text, and released.
    let numbers: Vec<String> = (0..50).map(|i| format!("1202555{:04}", 3000 + i)).collect();
    let mut sent_at = Vec::new();
    for n in &numbers {
        server.assign(&s.csp.key, &format!("+{n}"), &s.campaign).await.ok(201);
        assert_eq!(cycler.submit(n, SUBSCRIBER, SPAM, "none"), vec![0], "a registered number's text goes through");
        sent_at.push(jiff::Timestamp::now());
        server.delete(&format!("/v1/numbers/%2B{n}?reason=rotated"), &s.csp.key).await.ok(204);
    }
    // One more it still holds, and the reported number now belongs to the innocent campaign.
    let still_held = "12025553999";
    server.assign(&s.csp.key, &format!("+{still_held}"), &s.campaign).await.ok(201);
    let reported = &numbers[17];
    server.assign(&innocent_csp.key, &format!("+{reported}"), &innocent).await.ok(201);
    assert_eq!(honest.submit(reported, SUBSCRIBER, "Your order has shipped.", "none"), vec![0]);

    // Flagged: the DCA sees the cycling campaign's risk and its reasons (the gateway's
    // traffic counts land with its records, within a second).
    let risk_path = format!("/v1/risk/campaigns/{}", s.campaign);
    let deadline = Instant::now() + Duration::from_secs(10);
    let risk = loop {
        let r = server.get(&risk_path, Some(&s.dca.key)).await.ok(200).clone();
        if r["signals"]["similarNumbers"].as_u64() >= Some(50) {
            break r;
        }
        assert!(Instant::now() < deadline, "the gateway's traffic never reached the score: {r}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let codes: Vec<&str> =
        risk["reasons"].as_array().expect("reasons").iter().filter_map(|r| r["code"].as_str()).collect();
    for code in ["number-churn", "short-holds", "similar-content"] {
        assert!(codes.contains(&code), "{code} in {risk}");
    }
    assert!(risk["score"].as_u64() >= Some(60), "{risk}");
    assert_eq!(risk["signals"]["assigned"], 51, "{risk}");
    assert_eq!(risk["signals"]["released"], 50);
    assert_eq!(risk["signals"]["heldUnderHour"], 50);
    assert_eq!(risk["status"], "ACTIVE", "nothing suspended before a policy runs");
    server.get(&risk_path, Some(&s.csp.key)).await.problem(403, "forbidden");
    server.get(&risk_path, Some(&carrier.key)).await.ok(404);
    let innocent_risk = server.get(&format!("/v1/risk/campaigns/{innocent}"), Some(&s.dca.key)).await.ok(200).clone();
    assert_eq!(innocent_risk["score"], 0, "{innocent_risk}");
    let listed = server.get("/v1/risk/campaigns?minScore=50", Some(&server.admin)).await.ok(200).clone();
    assert_eq!(listed.as_array().map(|l| l.len()), Some(1), "{listed}");
    assert_eq!(listed[0]["campaignId"], s.campaign.as_str());

    // A carrier reports the text it got from the number that has since moved on.
    let at = sent_at[17];
    let body = json!({"channel": "sms", "number": format!("+{reported}"), "at": at.to_string(), "category": "spam", "content": SPAM});
    let r = server.post("/v1/reports", &carrier.key, &body).await.ok(201).clone();
    assert_eq!(r["campaignId"], s.campaign.as_str(), "held against the campaign of that instant: {r}");
    let enforced = r["enforced"].as_array().cloned().unwrap_or_default();
    assert!(
        enforced.iter().any(|e| e["action"] == "campaign.suspended" && e["campaignId"] == s.campaign.as_str()),
        "the report tips the cycling campaign over the threshold: {r}"
    );
    // The trace names the cycling campaign then, the innocent one now, and the gateway's
    // record of the text.
    let t = server
        .get(&format!("/v1/reports/{}/trace?proofs=false", r["id"].as_str().unwrap_or("")), Some(&carrier.key))
        .await
        .ok(200)
        .clone();
    assert_eq!(t["holder"]["campaignId"], s.campaign.as_str(), "{t}");
    assert_eq!(t["currentHolder"], innocent.as_str(), "{t}");
    // The carrier gets the gateway's counts; which account sent the text is for the gateway's
    // DCA (as `/v1/gateway/records`).
    assert!(t["gateway"]["accounts"].as_array().is_some_and(Vec::is_empty), "{t}");
    assert!(t["gateway"]["messages"].as_u64().is_some_and(|n| n >= 1), "{t}");
    let path = format!("/v1/trace?tn=%2B{reported}&at={at}&proofs=false");
    let d = server.get(&path, Some(&s.dca.key)).await.ok(200).clone();
    assert_eq!(d["gateway"]["accounts"][0]["systemId"], "cycler1", "{d}");

    // Suspended: its next message is refused at the gateway; the innocent one's goes through.
    assert_eq!(cycler.submit(still_held, SUBSCRIBER, SPAM, "none"), vec![0x401], "suspended campaign");
    assert_eq!(honest.submit(reported, SUBSCRIBER, "Your order was delivered.", "none"), vec![0]);
    let c = server.get(&format!("/v1/campaigns/{}", s.campaign), Some(&s.dca.key)).await.ok(200).clone();
    assert_eq!(c["status"], "SUSPENDED");
    let i = server.get(&format!("/v1/campaigns/{innocent}"), Some(&innocent_csp.key)).await.ok(200).clone();
    assert_eq!(i["status"], "ACTIVE", "the innocent campaign is untouched");
    assert_eq!(server.get(&format!("/v1/numbers/%2B{reported}"), None).await.ok(200)["campaignId"], innocent.as_str());

    // The suspension is a registry event by `system`, with its reason, cited by a trace.
    let now_trace =
        server.get(&format!("/v1/trace?tn=%2B{still_held}&proofs=false"), Some(&s.dca.key)).await.ok(200).clone();
    let suspension = now_trace["evidence"]
        .as_array()
        .expect("evidence")
        .iter()
        .find(|e| e["kind"] == "campaign.suspended")
        .cloned()
        .unwrap_or_else(|| panic!("the suspension is cited: {now_trace}"));
    let seq = suspension["seq"].as_u64().expect("seq");
    let events =
        server.get(&format!("/v1/events?after={}&limit=1", seq - 1), Some(&server.admin)).await.ok(200).clone();
    let e = &events[0];
    assert_eq!(e["kind"], "campaign.suspended", "{events}");
    assert_eq!(e["actor"], "system");
    assert!(e["body"]["reason"].as_str().is_some_and(|r| r.contains("number-churn")), "{e}");

    // The CSP and the DCA were told, signed with their own secrets.
    let got = wait_hooks(&hooks, |h| {
        h.iter().filter(|x| x.headers.get("vouch-event").is_some_and(|e| e == "campaign.suspended")).count() >= 2
    })
    .await;
    for who in ["csp", "dca"] {
        let h = got.iter().find(|h| h.path == format!("/{who}")).unwrap_or_else(|| panic!("no webhook to the {who}"));
        let n = verified(h, &secrets[who]);
        assert_eq!(n["kind"], "campaign.suspended", "{n}");
        assert_eq!(n["campaignId"], s.campaign.as_str());
        assert_eq!(n["seq"].as_u64(), Some(seq));
        assert_eq!(n["actor"], "system");
        assert_eq!(h.headers.get("vouch-delivery").map(String::as_str), n["id"].as_str());
    }

    // The brand is flagged too, with its campaigns, for the DCA.
    let b = server.get(&format!("/v1/risk/brands/{}", s.brand), Some(&s.dca.key)).await.ok(200).clone();
    assert!(b["score"].as_u64() >= Some(70), "{b}");
    assert!(b["campaigns"].as_array().is_some_and(|c| c.len() == 2), "{b}");

    // The number policy: five reports against a sloppy campaign's number suspend that number
    // only; the DCA reinstates it with a reason.
    let sloppy_n = "12025554000";
    server.assign(&s.csp.key, &format!("+{sloppy_n}"), &sloppy).await.ok(201);
    assert_eq!(cycler.submit(sloppy_n, SUBSCRIBER, "Weekly deals inside our store", "none"), vec![0]);
    let mut last = Value::Null;
    // The same complaint filed again by the same carrier counts once.
    let once = jiff::Timestamp::now().to_string();
    for _ in 0..6 {
        let body = json!({"channel": "sms", "number": format!("+{sloppy_n}"), "at": once, "category": "unwanted"});
        let r = server.post("/v1/reports", &carrier.key, &body).await.ok(201).clone();
        assert!(r["enforced"].as_array().is_none_or(|a| a.is_empty()), "a repeated report: {r}");
    }
    for k in 0..4 {
        // Four more carriers report it: five reports that count.
        let carrier = json!({"legalName": format!("Regional Carrier {k}"), "roles": ["carrier"], "frn": format!("{:010}", 990_000_000 + k)});
        let other = server.post("/v1/providers", &server.admin, &carrier).await.ok(201).clone();
        let key = other["apiKey"].as_str().unwrap_or_default();
        let body = json!({"channel": "sms", "number": format!("+{sloppy_n}"), "at": once, "category": "unwanted"});
        last = server.post("/v1/reports", key, &body).await.ok(201).clone();
        let acted = last["enforced"].as_array().is_some_and(|a| a.iter().any(|e| e["action"] == "number.suspended"));
        assert_eq!(acted, k == 3, "the fifth distinct report suspends the number: {last}");
    }
    assert_eq!(cycler.submit(sloppy_n, SUBSCRIBER, "Weekly deals inside our store", "none"), vec![0x40C]);
    let sc = server.get(&format!("/v1/campaigns/{sloppy}"), Some(&s.dca.key)).await.ok(200).clone();
    assert_eq!(sc["status"], "ACTIVE", "a number, not its campaign: {last}");
    let reinstate = format!("/v1/numbers/%2B{sloppy_n}/reinstate");
    server.post(&reinstate, &s.csp.key, &json!({"reason": "fixed"})).await.ok(403);
    server.post(&reinstate, &s.dca.key, &json!({})).await.problem_naming(422, "validation-failed", "reason");
    let back = server.post(&reinstate, &s.dca.key, &json!({"reason": "opt-in records reviewed"})).await.ok(200).clone();
    assert_eq!(back["suspended"], false);
    server.post(&reinstate, &s.dca.key, &json!({"reason": "again"})).await.problem(409, "number-state");
    assert_eq!(cycler.submit(sloppy_n, SUBSCRIBER, "Weekly deals inside our store", "none"), vec![0]);

    // The DCA reinstates the cycling campaign with a reason; signals before that do not
    // suspend it again, and its next message goes through.
    let resumed =
        server.set_suspended(&s.dca.key, &s.campaign, false, "brand re-vetted, numbers pinned").await.ok(200).clone();
    assert_eq!(resumed["status"], "ACTIVE");
    let after = server.get(&risk_path, Some(&s.dca.key)).await.ok(200).clone();
    assert!(after["score"].as_u64() < Some(70), "counted from the reinstatement: {after}");
    assert_eq!(cycler.submit(still_held, SUBSCRIBER, "Thanks for being a customer", "none"), vec![0]);
    wait_hooks(&hooks, |h| {
        h.iter().filter(|x| x.headers.get("vouch-event").is_some_and(|e| e == "campaign.resumed")).count() >= 2
    })
    .await;

    // The same through the CLI: a trace checked against the signed log, and the risk.
    let url = server.base.clone();
    let out = run(
        vouch(&scratch).args([
            "trace",
            "--tn",
            &format!("+{reported}"),
            "--at",
            &at.to_string(),
            "--verify",
            "--server",
            &url,
            "--api-key",
            &carrier.key,
        ]),
        Duration::from_secs(30),
    );
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.contains(&format!("held by campaign {}", s.campaign)), "{}", out.stdout);
    assert!(out.stdout.contains(&format!("held now by campaign {innocent}")), "{}", out.stdout);
    assert!(out.stdout.contains("verified: all"), "{}", out.stdout);
    let out = run(
        vouch(&scratch).args(["risk", "brand", &s.brand, "--server", &url, "--api-key", &s.dca.key]),
        Duration::from_secs(30),
    );
    // After the reinstatement the cycle no longer counts; the sloppy campaign's reports do.
    assert!(out.status.success() && out.stdout.contains(&format!("campaign {sloppy} (ACTIVE): risk")), "{out:?}");
    assert!(out.stdout.contains("reports: 5 spam reports") && !out.stdout.contains("number-churn"), "{out:?}");
    let out =
        run(vouch(&scratch).args(["risk", "list", "--server", &url, "--api-key", &s.csp.key]), Duration::from_secs(30));
    assert!(!out.status.success() && out.stderr.contains("403"), "a CSP gets no risk list: {out:?}");
    let out = run(
        vouch(&scratch).args([
            "report",
            "--number",
            &format!("+{reported}"),
            "--at",
            &at.to_string(),
            "--content",
            SPAM,
            "--server",
            &url,
            "--api-key",
            &carrier.key,
        ]),
        Duration::from_secs(30),
    );
    assert!(out.status.success() && out.stdout.contains(&format!("held by campaign {}", s.campaign)), "{out:?}");
    drop(smsc);
}

/// `GET /v1/providers/{provider}/webhook/deliveries` until `pred` holds for them.
async fn wait_deliveries(server: &Server, provider: &str, key: &str, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = server.get(&format!("/v1/providers/{provider}/webhook/deliveries"), Some(key)).await;
        let list = r.ok(200).as_array().expect("a list").clone();
        if pred(&list) {
            return list;
        }
        assert!(Instant::now() < deadline, "deliveries never got there: {list:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_deliveries_outlive_a_receiver_outage_and_a_crash_and_can_be_sent_again() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data_dir = tmp.path().join("data");
    let scratch = tmp.path().to_path_buf();
    let serve = || {
        let mut cmd = serve_command(&scratch, &data_dir);
        cmd.args(LOOPBACK_WEBHOOKS);
        cmd
    };
    let mut server = Server::launch(serve(), data_dir.clone(), scratch.clone());
    let s = server.accepted_campaign().await;
    let (port, hooks, answer) = webhook_receiver_answering(503).await;
    let hook_path = format!("/v1/providers/{}/webhook", s.csp.id);
    let url = json!({"url": format!("http://127.0.0.1:{port}/csp")});
    let secret = server.put(&hook_path, &s.csp.key, &url).await.ok(201)["secret"].as_str().expect("secret").to_owned();

    // The receiver is down (503): the suspension waits in the outbox, tried with back-off.
    server.set_suspended(&s.dca.key, &s.campaign, true, "complaints").await.ok(200);
    let list = wait_deliveries(&server, &s.csp.id, &s.csp.key, |l| {
        l.first().is_some_and(|d| d["lastError"].as_str().is_some_and(|e| e.contains("503")))
    })
    .await;
    assert_eq!(list.len(), 1, "{list:#?}");
    let first = list[0].clone();
    assert_eq!((first["status"].as_str(), first["kind"].as_str()), (Some("pending"), Some("campaign.suspended")));
    assert_eq!(first["body"]["campaignId"], s.campaign.as_str());
    let id = first["id"].as_str().expect("id").to_owned();

    // vouch dies (SIGKILL) while it is pending, and starts again; the receiver is back.
    server.sigkill();
    answer.store(204, Ordering::SeqCst);
    server.restart_command(serve());
    let got = wait_hooks(&hooks, |h| h.len() >= 2).await;
    let last = got.last().expect("a delivery");
    assert_eq!(last.headers.get("vouch-delivery"), Some(&id), "the same delivery, so the receiver can drop repeats");
    assert_eq!(verified(last, &secret)["kind"], "campaign.suspended");
    let list = wait_deliveries(&server, &s.csp.id, &s.csp.key, |l| l[0]["status"] == "delivered").await;
    assert!(list[0]["attempts"].as_u64().is_some_and(|a| a >= 2), "{list:#?}");
    assert!(list[0].get("nextAttempt").is_none(), "{list:#?}");

    // A webhook removed while a delivery waits: that delivery fails, and says why.
    answer.store(500, Ordering::SeqCst);
    server.set_suspended(&s.dca.key, &s.campaign, false, "cleared").await.ok(200);
    let list = wait_deliveries(&server, &s.csp.id, &s.csp.key, |l| {
        l.len() == 2 && l[0]["lastError"].as_str().is_some_and(|e| e.contains("500"))
    })
    .await;
    let resumed = list[0]["id"].as_str().expect("id").to_owned();
    assert_eq!(list[0]["kind"], "campaign.resumed");
    server.delete(&hook_path, &s.csp.key).await.ok(204);
    let list = wait_deliveries(&server, &s.csp.id, &s.csp.key, |l| l[0]["status"] == "failed").await;
    assert!(list[0]["lastError"].as_str().is_some_and(|e| e.contains("no webhook")), "{list:#?}");
    let failed = server
        .get(&format!("/v1/providers/{}/webhook/deliveries?status=failed", s.csp.id), Some(&s.csp.key))
        .await
        .ok(200)
        .clone();
    assert_eq!(failed.as_array().map(Vec::len), Some(1), "{failed:#}");

    // Set again (a new secret) and sent again by hand: delivered, signed with the new secret.
    answer.store(204, Ordering::SeqCst);
    let secret = server.put(&hook_path, &s.csp.key, &url).await.ok(201)["secret"].as_str().expect("secret").to_owned();
    let before = hooks.lock().expect("lock").len();
    let r = server.post(&format!("{hook_path}/deliveries/{resumed}/retry"), &s.csp.key, &json!({})).await;
    assert_eq!(r.ok(202)["status"], "pending");
    let got = wait_hooks(&hooks, |h| h.len() > before).await;
    let last = got.last().expect("a delivery");
    assert_eq!(last.headers.get("vouch-delivery"), Some(&resumed));
    assert_eq!(verified(last, &secret)["kind"], "campaign.resumed");
    wait_deliveries(&server, &s.csp.id, &s.csp.key, |l| l[0]["status"] == "delivered").await;

    // Only the provider and the administrator read or resend them; nonsense is a 400 or 404.
    let deliveries = format!("{hook_path}/deliveries");
    server.get(&deliveries, Some(&s.dca.key)).await.ok(403);
    server.get(&deliveries, Some(&server.admin)).await.ok(200);
    server.get(&format!("{deliveries}?status=lost"), Some(&s.csp.key)).await.problem(400, "invalid-query");
    server
        .post(&format!("{deliveries}/NXXXXXXXXXXXXXXX/retry"), &s.csp.key, &json!({}))
        .await
        .problem(404, "delivery-not-found");
}
