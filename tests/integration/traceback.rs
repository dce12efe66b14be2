//! Spam reports and traceback through the real binary: a number cycled from one campaign to
//! another is traced to the campaign that held it at the reported instant, with registry
//! events whose inclusion proofs check out against the log's root; a signed call is traced to
//! its signer and vouch's origid record.

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::harness::Server;

/// RFC 6962 §2.1.1: the root from a leaf hash, its index, the tree size and the audit path.
fn root_from_path(leaf: [u8; 32], index: u64, size: u64, path: &[[u8; 32]]) -> Option<[u8; 32]> {
    if index >= size {
        return None;
    }
    let node = |l: &[u8; 32], r: &[u8; 32]| -> [u8; 32] {
        let mut h = Sha256::new();
        h.update([1u8]);
        h.update(l);
        h.update(r);
        h.finalize().into()
    };
    let (mut f_n, mut s_n, mut r) = (index, size - 1, leaf);
    for p in path {
        if s_n == 0 {
            return None;
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node(p, &r);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            r = node(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    (s_n == 0).then_some(r)
}

fn b64_32(v: &Value) -> [u8; 32] {
    let bytes = STANDARD.decode(v.as_str().expect("base64 string")).expect("base64");
    bytes.try_into().expect("32 bytes")
}

/// Checks an evidence item's inclusion proof: the entry hashes to the leaf, and the path leads
/// to the root.
fn check_proof(e: &Value) {
    let p = &e["proof"];
    let entry = STANDARD.decode(p["entry"].as_str().expect("entry")).expect("entry base64");
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(&entry);
    let leaf: [u8; 32] = h.finalize().into();
    assert_eq!(leaf, b64_32(&p["leafHash"]), "leaf hash of {e}");
    let path: Vec<[u8; 32]> = p["proof"].as_array().expect("path").iter().map(b64_32).collect();
    let index = p["leafIndex"].as_u64().expect("index");
    assert_eq!(index + 1, e["seq"].as_u64().expect("seq"));
    let root = root_from_path(leaf, index, p["treeSize"].as_u64().expect("size"), &path);
    assert_eq!(root, Some(b64_32(&p["root"])), "the audit path of event {} leads to the root", e["seq"]);
}

/// A trace, retried until every cited event is in the log (the sequencer runs twice a second).
async fn trace_with_proofs(server: &Server, path: &str, key: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let t = server.get(path, Some(key)).await.ok(200).clone();
        let evidence = t["evidence"].as_array().cloned().unwrap_or_default();
        if !evidence.is_empty() && evidence.iter().all(|e| e.get("proof").is_some()) {
            return t;
        }
        assert!(Instant::now() < deadline, "events never reached the log: {t}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn kinds(t: &Value) -> Vec<String> {
    t["evidence"].as_array().expect("evidence").iter().map(|e| e["kind"].as_str().unwrap_or("").to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_is_traced_to_the_campaign_that_held_the_number_then() {
    let server = Server::start();
    let s = server.accepted_campaign().await;
    let innocent_csp = server.csp("Innocent Texting Co").await;
    let innocent_brand = server.verified_brand_with(&innocent_csp, &crate::harness::other_brand_json()).await;
    let innocent = server.marketing_campaign(&innocent_csp, &innocent_brand).await;
    server.share_and_accept(&innocent_csp, &innocent, &s.dca).await;
    let carrier = server.provider("Big Mobile Carrier", &["carrier"]).await;

    // The number is held by the first campaign, released, then assigned to the innocent one.
    let n = "+12025550177";
    server.assign(&s.csp.key, n, &s.campaign).await.ok(201);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let spam_at = jiff::Timestamp::now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    server.delete(&format!("/v1/numbers/{n}?reason=cycled"), &s.csp.key).await.ok(204);
    server.assign(&innocent_csp.key, n, &innocent).await.ok(201);

    // A carrier reports the spam text it saw at that instant.
    let text = "WIN a FREE cruise!!! claim now at acme-prizes.example";
    let body = json!({"channel": "sms", "number": n, "at": spam_at.to_string(), "category": "spam", "content": text});
    let r = server.post("/v1/reports", &carrier.key, &body).await.ok(201).clone();
    assert_eq!(r["campaignId"], s.campaign.as_str(), "the report is held against the campaign of that instant: {r}");
    assert!(r.get("content").is_none(), "content is kept only as a fingerprint unless opted in: {r}");
    assert_eq!(r["fingerprint"].as_str().map(str::len), Some(16));
    let report_id = r["id"].as_str().expect("id").to_owned();

    // The trace names the campaign of the reported instant, not the current holder.
    let t = trace_with_proofs(&server, &format!("/v1/reports/{report_id}/trace"), &carrier.key).await;
    assert_eq!(t["holder"]["campaignId"], s.campaign.as_str(), "{t}");
    assert_eq!(t["currentHolder"], innocent.as_str(), "{t}");
    assert_eq!(t["holder"]["csp"]["id"], s.csp.id.as_str());
    assert_eq!(t["holder"]["dca"]["id"], s.dca.id.as_str());
    assert_eq!(t["holder"]["brand"]["brandId"], s.brand.as_str());
    assert!(t["holder"]["released"].is_string(), "the interval's end is shown: {t}");
    assert_eq!(t["reports"], 1);
    // A carrier is not entitled to the brand's sealed fields.
    assert!(t["holder"]["brand"].get("ein").is_none(), "{}", t["holder"]["brand"]);
    assert_eq!(t["holder"]["brand"]["sealedFieldsShown"], false);
    let k = kinds(&t);
    for kind in
        ["number.assigned", "number.released", "campaign.created", "campaign.sharing_accepted", "brand.registered"]
    {
        assert!(k.iter().any(|x| x == kind), "{kind} is cited: {k:?}");
    }
    for e in t["evidence"].as_array().expect("evidence") {
        check_proof(e);
        let own = server.get(&format!("/v1/log/proofs/inclusion?event={}", e["seq"]), None).await.ok(200).clone();
        assert_eq!(own["leafHash"], e["proof"]["leafHash"], "the same leaf as the log's own proof API");
    }
    // The innocent campaign's registration is not cited: the trace rests on the right events.
    let innocent_cited = t["evidence"]
        .as_array()
        .expect("evidence")
        .iter()
        .any(|e| e["shows"].as_str().is_some_and(|s| s.contains(innocent.as_str()) && !s.contains("assigned")));
    assert!(!innocent_cited, "{t}");

    // The DCA carrying the campaign sees the sealed fields; a trace after the cycle names the
    // innocent campaign.
    let path = format!("/v1/trace?tn=%2B{}&at={}&proofs=false", &n[1..], spam_at);
    let d = server.get(&path, Some(&s.dca.key)).await.ok(200).clone();
    assert_eq!(d["holder"]["brand"]["ein"], "46-4123456", "{}", d["holder"]["brand"]);
    assert!(d["evidence"].as_array().expect("evidence").iter().all(|e| e.get("proof").is_none()));
    let later = server.get(&format!("/v1/trace?tn=%2B{}", &n[1..]), Some(&carrier.key)).await.ok(200).clone();
    assert_eq!(later["holder"]["campaignId"], innocent.as_str());
    assert!(later["currentHolder"].is_null());
    let before = server
        .get(&format!("/v1/trace?tn=%2B{}&at=2020-01-01T00:00:00Z", &n[1..]), Some(&carrier.key))
        .await
        .ok(200)
        .clone();
    assert!(before["holder"].is_null(), "nobody held it in 2020: {before}");

    // Who may report and trace, and bad input.
    server.get(&path, Some(&s.csp.key)).await.problem(403, "forbidden");
    server.post("/v1/reports", &server.admin, &body).await.ok(403);
    let mut bad = body.clone();
    bad["category"] = json!("annoying");
    server.post("/v1/reports", &carrier.key, &bad).await.problem_naming(422, "validation-failed", "category");
    bad = body.clone();
    bad["number"] = json!("12");
    server.post("/v1/reports", &carrier.key, &bad).await.ok(422);
    bad = body.clone();
    bad["at"] = json!("yesterday");
    server.post("/v1/reports", &carrier.key, &bad).await.ok(400);
    server.get("/v1/trace?tn=abc", Some(&carrier.key)).await.ok(400);
    server.get(&format!("/v1/reports/{report_id}"), Some(&s.dca.key)).await.ok(404);
    let mine = server.get(&format!("/v1/reports/{report_id}"), Some(&carrier.key)).await.ok(200).clone();
    assert_eq!(mine["id"], report_id.as_str());
    // Opting in keeps the text.
    let mut keep = body.clone();
    keep["keepContent"] = json!(true);
    let kept = server.post("/v1/reports", &carrier.key, &keep).await.ok(201).clone();
    assert_eq!(kept["content"], text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reported_call_is_traced_to_its_signer_and_origid() {
    use crate::stir_http::{Voice, identity, signer};
    let v = Voice::start(&[]);
    let s = &v.s;
    let (p, _cert, _) = signer(s, &v.ca, "Acme Voice LLC", "0099999999", "1234").await;
    let carrier = s.provider("Terminating Carrier", &["carrier"]).await;
    let id = identity(s, &p, "12155551212", "12125551213").await;
    let body = json!({"channel": "voice", "number": "+12155551212", "at": jiff::Timestamp::now().to_string(),
        "category": "robocall", "identity": id});
    let r = s.post("/v1/reports", &carrier.key, &body).await.ok(201).clone();
    assert!(r["origid"].as_str().is_some_and(|o| o.len() == 36), "{r}");
    let t = trace_with_proofs(s, &format!("/v1/reports/{}/trace", r["id"].as_str().unwrap_or("")), &carrier.key).await;
    let call = &t["call"];
    assert_eq!(call["spc"], "1234", "{t}");
    assert_eq!(call["signer"]["id"], p.id.as_str());
    assert_eq!(call["verified"], true, "{call}");
    assert_eq!(call["signedByVouch"]["provider"]["id"], p.id.as_str(), "{call}");
    assert_eq!(call["signedByVouch"]["attest"], "C", "an unregistered number signs at C at most: {call}");
    assert!(kinds(&t).iter().any(|k| k == "certificate.registered"), "{:?}", kinds(&t));
    for e in t["evidence"].as_array().expect("evidence") {
        check_proof(e);
    }
    // Not a PASSporT: a clear error.
    let mut bad = body.clone();
    bad["identity"] = json!("not-a-passport");
    s.post("/v1/reports", &carrier.key, &bad).await.problem_naming(422, "validation-failed", "identity");
}
