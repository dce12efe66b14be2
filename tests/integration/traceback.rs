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
pub(crate) async fn trace_with_proofs(server: &Server, path: &str, key: &str) -> Value {
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

    // The campaign's CSP and DCA see the reports against it (not who filed them); the
    // innocent campaign has none, and another CSP sees nothing.
    let path = format!("/v1/campaigns/{}/reports", s.campaign);
    for key in [&s.csp.key, &s.dca.key] {
        let listed = server.get(&path, Some(key)).await.ok(200).clone();
        assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
        assert_eq!((&listed[0]["id"], &listed[0]["category"]), (&json!(report_id), &json!("spam")), "{listed}");
        assert!(listed[0].get("reporterId").is_none(), "{listed}");
    }
    let as_admin = server.get(&path, Some(&server.admin)).await.ok(200).clone();
    assert_eq!(as_admin[0]["reporterId"], carrier.id.as_str(), "{as_admin}");
    let theirs = server.get(&format!("/v1/campaigns/{innocent}/reports"), Some(&innocent_csp.key)).await;
    assert_eq!(theirs.ok(200).as_array().map(Vec::len), Some(0));
    server.get(&path, Some(&innocent_csp.key)).await.problem(404, "campaign-not-found");
    server.get(&format!("{path}?since=yesterday"), Some(&s.dca.key)).await.ok(400);

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

/// `vouch trace` against `server` as `key`: its standard output (the command must succeed).
fn cli_trace(server: &Server, key: &str, args: &[&str]) -> String {
    let out = crate::harness::run(
        crate::harness::vouch(&server.scratch).arg("trace").args(args).args([
            "--server",
            &server.base,
            "--api-key",
            key,
        ]),
        Duration::from_secs(30),
    );
    assert!(out.status.success(), "vouch trace {args:?}: {out:?}");
    out.stdout
}

/// A PASSporT that copies a real call's `origid` is not traced to the provider that signed the
/// real call: signed with another key it names that provider only as claimed; signed with the
/// right key but for another destination it does not match vouch's record; and a report about
/// another number than the PASSporT's `orig` says so. The CLI puts these first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_passport_is_not_traced_to_the_call_whose_origid_it_copied() {
    use crate::stir_http::{Voice, craft, decode, identity, signer, split_identity};
    let v = Voice::start(&[]);
    let s = &v.s;
    let (p, cert, _) = signer(s, &v.ca, "Acme Voice LLC", "0099999999", "1234").await;
    let carrier = s.provider("Terminating Carrier", &["carrier"]).await;
    let real = identity(s, &p, "12155551212", "12125551213").await;
    let (token, x5u) = split_identity(&real);
    let (header, claims) = decode(token);
    let origid = claims["origid"].as_str().expect("origid").to_owned();
    let mut copied = claims.clone();
    copied["dest"] = json!({"tn": ["19175550000"]});
    copied["iat"] = json!(claims["iat"].as_i64().expect("iat") + 60);
    let attacker = v.ca.issue("5678");
    let header_of = |t: String| format!("{t};info=<{x5u}>;alg=ES256;ppt=shaken");
    let forged = header_of(craft(&attacker.key, &header, &copied));
    let resigned = header_of(craft(&cert.key, &header, &copied));

    let report = |number: &str, identity: &str| {
        json!({"channel": "voice", "number": number, "at": jiff::Timestamp::now().to_string(),
            "category": "robocall", "identity": identity})
    };
    let trace_of = |id: &Value| format!("/v1/reports/{}/trace?proofs=false", id.as_str().unwrap_or(""));

    // Another key: nothing verifies, the SPC and its provider are only claimed, and vouch's
    // record of the real call is not attached.
    let r = s.post("/v1/reports", &carrier.key, &report("+12155551212", &forged)).await.ok(201).clone();
    let t = s.get(&trace_of(&r["id"]), Some(&carrier.key)).await.ok(200).clone();
    let call = &t["call"];
    assert_eq!(call["verified"], false, "{call}");
    assert!(call["signer"].is_null() && call["spc"].is_null(), "no signer is named for a forgery: {call}");
    assert_eq!(call["claimedSpc"], "1234", "{call}");
    assert_eq!(call["claimedSigner"]["id"], p.id.as_str(), "{call}");
    assert!(call["signedByVouch"].is_null(), "the copied call's record is not attached: {call}");
    assert_eq!(call["mismatch"]["fields"], json!(["signature", "dest", "iat"]), "{call}");
    assert!(call["problem"].as_str().is_some_and(|p| !p.is_empty()), "{call}");
    assert_eq!(call["origIsNumber"], true);
    let out = cli_trace(s, &carrier.key, &["--report", r["id"].as_str().unwrap_or("")]);
    assert!(out.contains("signature NOT verified") && out.contains("CLAIMS to be signed by"), "{out}");
    assert!(out.contains("PROBLEM: ") && out.contains(&format!("WARNING: vouch signed a call with origid {origid}")));
    assert!(!out.contains("vouch signed it for"), "{out}");

    // The provider's own key, another destination and time: it verifies, but it is not the
    // call vouch signed.
    let r = s.post("/v1/reports", &carrier.key, &report("+12155551212", &resigned)).await.ok(201).clone();
    let call = s.get(&trace_of(&r["id"]), Some(&carrier.key)).await.ok(200)["call"].clone();
    assert_eq!(call["verified"], true, "{call}");
    assert_eq!(call["signer"]["id"], p.id.as_str(), "{call}");
    assert!(call["signedByVouch"].is_null(), "{call}");
    assert_eq!(call["mismatch"]["fields"], json!(["dest", "iat"]), "{call}");

    // The real call, reported against another number: its record is attached, and the
    // difference between the report and the PASSporT is flagged.
    let r = s.post("/v1/reports", &carrier.key, &report("+12155550000", &real)).await.ok(201).clone();
    let t = s.get(&trace_of(&r["id"]), Some(&carrier.key)).await.ok(200).clone();
    let call = &t["call"];
    assert_eq!(call["signedByVouch"]["provider"]["id"], p.id.as_str(), "{call}");
    assert!(call["mismatch"].is_null(), "{call}");
    assert_eq!(call["origIsNumber"], false, "{call}");
    assert!(
        call["warnings"].as_array().is_some_and(|w| w.iter().any(|w| w.as_str().is_some_and(|w| w.contains("orig")))),
        "{call}"
    );
    assert_eq!(call["dest"], json!(["12125551213"]), "the stored header keeps dest: {call}");
}

/// Instants at the ends of jiff's range: a trace is refused with 400 `invalid-at`, a report
/// with 422 naming `at`; a report stored with such an instant (before the check) is traced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extreme_instants_are_refused_and_a_stored_one_still_traces() {
    let mut server = Server::start();
    let s = server.accepted_campaign().await;
    let carrier = server.provider("Big Mobile Carrier", &["carrier"]).await;
    server.assign(&s.csp.key, "+12025550177", &s.campaign).await.ok(201);
    for at in ["-009999-01-02T01:59:59Z", "9999-12-30T22:00:00Z", "2014-12-31T23:59:59Z"] {
        let path = format!("/v1/trace?tn=%2B12025550177&at={at}");
        let p = server.get(&path, Some(&carrier.key)).await.problem(400, "invalid-at").clone();
        assert!(p["detail"].as_str().is_some_and(|d| d.contains("at: ")), "{p}");
        let body = json!({"channel": "sms", "number": "+12025550177", "at": at, "category": "spam"});
        server.post("/v1/reports", &carrier.key, &body).await.problem_naming(422, "validation-failed", "at");
    }
    let body = json!({"channel": "sms", "number": "+12025550177", "at": jiff::Timestamp::now().to_string(),
        "category": "spam"});
    let id = server.post("/v1/reports", &carrier.key, &body).await.ok(201)["id"].as_str().expect("id").to_owned();
    // As a report filed before the check could be: at the first instant jiff knows.
    server.sigterm();
    let min_us = jiff::Timestamp::MIN.as_microsecond();
    let sql = format!("UPDATE reports SET at_us = {min_us} WHERE id = '{id}'");
    crate::harness::store_sql(&server.data_dir, &sql, &sql);
    server.restart();
    let t = server.get(&format!("/v1/reports/{id}/trace?proofs=false"), Some(&carrier.key)).await.ok(200).clone();
    assert!(t["holder"].is_null(), "{t}");
    assert_eq!(t["at"], "-009999-01-02T01:59:59Z", "{t}");
}

/// The trace and `vouch trace` show the number and the brand as they stood at the instant: the
/// brand's fields before a later rename (with the events they rest on), the number's own
/// suspension then and now (also in the public lookup); and the CLI prints nobody as nobody.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trace_shows_the_brand_and_the_numbers_suspension_as_they_stood_then() {
    let server = Server::start();
    let s = server.accepted_campaign().await;
    let carrier = server.provider("Big Mobile Carrier", &["carrier"]).await;
    let n = "+12025550177";
    server.assign(&s.csp.key, n, &s.campaign).await.ok(201);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let t0 = jiff::Timestamp::now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut renamed = crate::harness::brand_json();
    renamed["displayName"] = json!("Renamed Later Co");
    renamed["website"] = json!("https://renamed.example");
    server.put(&format!("/v1/brands/{}", s.brand), &s.csp.key, &renamed).await.ok(200);
    server.post(&format!("/v1/numbers/{n}/suspend"), &s.dca.key, &json!({"reason": "traceback test"})).await.ok(200);

    // Then: the old name, and the number not yet suspended.
    let then = server.get(&format!("/v1/trace?tn=%2B{}&at={t0}&proofs=false", &n[1..]), Some(&s.dca.key)).await;
    let then = then.ok(200).clone();
    let h = &then["holder"];
    assert_eq!(h["brand"]["displayName"], "Acme Dental", "{h}");
    assert_eq!(h["brand"]["website"], "https://acmedental.com", "{h}");
    assert_eq!(h["brand"]["changedSince"], true, "{h}");
    assert!(h["brand"]["asOf"].is_string(), "{h}");
    assert_eq!((&h["numberSuspendedThen"], &h["numberSuspendedNow"]), (&json!(false), &json!(true)), "{h}");
    let k = kinds(&then);
    assert!(!k.iter().any(|k| k == "brand.updated"), "only what the answer rests on: {k:?}");
    assert!(k.iter().any(|k| k == "number.suspended"), "the suspension now shown is cited: {k:?}");
    // Now: the new name, the suspension then and now.
    let now = server.get(&format!("/v1/trace?tn=%2B{}&proofs=false", &n[1..]), Some(&carrier.key)).await;
    let now = now.ok(200).clone();
    let h = &now["holder"];
    assert_eq!(h["brand"]["displayName"], "Renamed Later Co", "{h}");
    assert_eq!(h["brand"]["changedSince"], false, "{h}");
    assert_eq!((&h["numberSuspendedThen"], &h["numberSuspendedNow"]), (&json!(true), &json!(true)), "{h}");
    assert!(kinds(&now).iter().any(|k| k == "brand.updated") && kinds(&now).iter().any(|k| k == "number.suspended"));
    // The public lookup says so too, now and at an instant.
    let l = server.get(&format!("/v1/numbers/{n}"), None).await.ok(200).clone();
    assert_eq!((&l["campaignStatus"], &l["numberSuspended"]), (&json!("ACTIVE"), &json!(true)), "{l}");
    let l = server.get(&format!("/v1/numbers/{n}?at={t0}"), None).await.ok(200).clone();
    assert_eq!(l["numberSuspended"], false, "{l}");

    // The CLI: nobody is "nobody" (not null), and the brand's id is printed.
    let out = cli_trace(&server, &carrier.key, &["--tn", "+12025550999"]);
    assert!(out.contains("held by nobody at that instant") && out.contains("held now by nobody"), "{out}");
    assert!(!out.contains("null") && !out.contains("campaign -"), "{out}");
    let out = cli_trace(&server, &carrier.key, &["--tn", n, "--at", &t0.to_string()]);
    assert!(out.contains(&format!("held by campaign {}", s.campaign)), "{out}");
    assert!(out.contains(&format!("brand {} \"Acme Dental\"", s.brand)), "{out}");
    assert!(out.contains("still held by that campaign") && out.contains("changed since"), "{out}");
    assert!(out.contains("the number itself is suspended now"), "{out}");
    assert!(!out.contains("null") && !out.contains("brand -"), "{out}");

    // Reinstated: not suspended now, still suspended at the instant it was.
    let during = jiff::Timestamp::now();
    server.post(&format!("/v1/numbers/{n}/reinstate"), &s.dca.key, &json!({"reason": "cleared"})).await.ok(200);
    assert_eq!(server.get(&format!("/v1/numbers/{n}"), None).await.ok(200)["numberSuspended"], false);
    let l = server.get(&format!("/v1/numbers/{n}?at={during}"), None).await.ok(200).clone();
    assert_eq!(l["numberSuspended"], true, "{l}");
    let t = server.get(&format!("/v1/trace?tn=%2B{}&at={during}&proofs=false", &n[1..]), Some(&carrier.key)).await;
    let h = t.ok(200)["holder"].clone();
    assert_eq!((&h["numberSuspendedThen"], &h["numberSuspendedNow"]), (&json!(true), &json!(false)), "{h}");
}

/// The gateway side of a trace over more decisions than it lists: the counts cover the whole
/// window, the decision nearest the instant is found among 2,000 later ones, and which
/// accounts sent them is shown only to the administrator, the gateway's DCA and each
/// account's CSP (the others get the counts).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trace_counts_the_whole_window_and_names_accounts_only_to_those_entitled() {
    use crate::harness::serve_command;
    use crate::smpp::{Esme, Smsc, announced_port};
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let data_dir = dir.join("data");
    let mut server = Server::launch(serve_command(dir, &data_dir), data_dir.clone(), dir.to_path_buf());
    let s = server.accepted_campaign().await;
    let n = "12025557000";
    server.assign(&s.csp.key, &format!("+{n}"), &s.campaign).await.ok(201);
    let spam_pw = server.smpp_account(&s.csp, "spammer1").await;
    let bulk_pw = server.smpp_account(&s.csp, "bulk1").await;
    let carrier = server.provider("Big Mobile Carrier", &["carrier"]).await;
    let rival = server.dca("Rival DCA").await;
    let other = server.provider("Other Texting and Carrier Co", &["csp", "carrier"]).await;
    let other_pw = server.smpp_account(&other, "other1").await;
    server.sigterm();
    let smsc = Smsc::start(dir.join("smsc.jsonl"));
    let mut cmd = serve_command(dir, &data_dir);
    cmd.args(["--smpp", "127.0.0.1:0", "--gateway-dca", &s.dca.id, "--enforcement", "off", "--smsc"])
        .arg(format!("smpp://vouchup:uppw@127.0.0.1:{}", smsc.port));
    let server = Server::launch(cmd, data_dir.clone(), dir.to_path_buf());
    let port = announced_port(&server, "vouch: SMPP gateway on 127.0.0.1:");
    let (mut spam, mut bulk, mut foreign) = (Esme::start(port), Esme::start(port), Esme::start(port));
    assert_eq!(spam.bind("spammer1", &spam_pw), 0);
    assert_eq!(bulk.bind("bulk1", &bulk_pw), 0);
    assert_eq!(foreign.bind("other1", &other_pw), 0);

    const SPAM: &str = "WIN a FREE cruise now, claim at prizes.example";
    foreign.submit(n, "13105550100", "Hello from another CSP's account", "none");
    assert_eq!(spam.submit(n, "13105550100", SPAM, "none"), vec![0]);
    let t0 = jiff::Timestamp::now();
    tokio::time::sleep(Duration::from_millis(300)).await;
    for i in 0..2_100 {
        let to = format!("1310555{:04}", i % 9_000);
        assert_eq!(bulk.submit(n, &to, &format!("Your package {i} is out for delivery."), "none"), vec![0]);
    }
    let content: String = url::form_urlencoded::byte_serialize(SPAM.as_bytes()).collect();
    let path = format!("/v1/trace?tn=%2B{n}&at={t0}&proofs=false&content={content}");

    let g = server.get(&path, Some(&s.dca.key)).await.ok(200)["gateway"].clone();
    assert_eq!(g["messages"], 2_102, "every decision of the hour: {g}");
    assert_eq!(g["nearest"]["systemId"], "spammer1", "the decision nearest the instant: {g}");
    assert_eq!(g["truncated"], true, "{g}");
    let records = g["records"].as_array().expect("records");
    assert_eq!(records.len(), 2 + 1_000, "all before the instant, 1,000 after: {}", records.len());
    assert!(g["similar"].as_u64().is_some_and(|n| n >= 1), "{g}");
    let accounts: Vec<&str> =
        g["accounts"].as_array().expect("accounts").iter().filter_map(|a| a["systemId"].as_str()).collect();
    assert_eq!(accounts, ["bulk1", "other1", "spammer1"], "{g}");

    // A carrier and another DCA: the counts, not the accounts (as /v1/gateway/records).
    for key in [&carrier.key, &rival.key] {
        server.get(&format!("/v1/gateway/records?source=%2B{n}"), Some(key)).await.problem(403, "forbidden");
        let g = server.get(&path, Some(key)).await.ok(200)["gateway"].clone();
        assert_eq!((&g["messages"], &g["accountsHidden"]), (&json!(2_102), &json!(3)), "{g}");
        assert!(g["accounts"].as_array().is_some_and(Vec::is_empty), "{g}");
        assert!(g["nearest"].is_null() && g["records"].as_array().is_some_and(Vec::is_empty), "{g}");
    }
    // A CSP that also traces: its own account only.
    let g = server.get(&path, Some(&other.key)).await.ok(200)["gateway"].clone();
    let accounts: Vec<&str> =
        g["accounts"].as_array().expect("accounts").iter().filter_map(|a| a["systemId"].as_str()).collect();
    assert_eq!(accounts, ["other1"], "{g}");
    assert!(g["nearest"].is_null(), "the nearest decision is another CSP's: {g}");
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_provider_files_at_most_600_reports_a_minute() {
    let s = Server::start();
    let carrier = s.provider("Busy Mobile Carrier", &["carrier"]).await;
    let other = s.provider("Quiet Mobile Carrier", &["carrier"]).await;
    let body = |k: u32| {
        let at = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(i64::from(k % 50));
        json!({"channel": "sms", "number": format!("+1202555{:04}", 2000 + k % 100), "at": at.to_string(), "category": "spam"})
    };
    // A minute starting now has room for 600; reports filed across a minute boundary may see a
    // fresh budget, so the loop stops at the first refusal and checks it came after 600.
    let mut filed = 0;
    let mut refused = None;
    for k in 0..1300 {
        let r = s.post("/v1/reports", &carrier.key, &body(k)).await;
        match r.status.as_u16() {
            201 => filed += 1,
            _ => {
                refused = Some(r);
                break;
            }
        }
    }
    let r = refused.expect("1,300 reports in well under two minutes were all taken");
    r.problem(429, "rate-limited");
    assert_eq!(r.headers.get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
    assert!(filed >= 600, "refused after {filed}");
    // Another provider is not held back.
    s.post("/v1/reports", &other.key, &body(0)).await.ok(201);
}
