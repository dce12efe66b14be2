//! Who may see and do what.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_wrong_or_malformed_keys_are_401() {
    let s = Server::start();
    let csp = s.csp("Acme Messaging Inc").await;

    let no_key = s.get("/v1/brands", None).await;
    no_key.problem(401, "unauthenticated");
    let www = no_key.headers.get(reqwest::header::WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()).unwrap_or("");
    assert!(www.starts_with("Bearer"), "401 without a Bearer WWW-Authenticate challenge: `{www}`");

    // A key of the right shape whose secret is wrong.
    let last = if csp.key.ends_with('x') { 'y' } else { 'x' };
    let forged = format!("{}{last}", &csp.key[..csp.key.len() - 1]);
    for key in [forged.as_str(), "vouch_KAAAAAAA_00000000000000000000000000000000", "not-a-key", ""] {
        let r = s.get("/v1/brands", Some(key)).await;
        r.problem(401, "unauthenticated");
        assert!(r.headers.contains_key(reqwest::header::WWW_AUTHENTICATE), "{key:?}: no WWW-Authenticate");
    }
    // Another scheme.
    let r = s
        .http
        .get(format!("{}/v1/brands", s.base))
        .header("Authorization", format!("Basic {}", csp.key))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 401);
    // Writes too, before the body is looked at.
    s.raw(Method::POST, "/v1/brands", None, Some("application/json"), Some(b"{".to_vec()))
        .await
        .problem(401, "unauthenticated");
    s.raw(Method::POST, "/v1/providers", Some("vouch_bad"), Some("application/json"), Some(b"{}".to_vec()))
        .await
        .problem(401, "unauthenticated");
    // The good key works.
    s.get("/v1/brands", Some(&csp.key)).await.ok(200);

    // Each refused key is logged with the peer's address and the key's id, never its secret;
    // a request without a key is not a refused key.
    // (The lines are written before each answer; the harness reads them on its own thread.)
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let log = loop {
        let log = s.stderr.text();
        if log.matches("API key refused").count() >= 6 || std::time::Instant::now() > deadline {
            break log;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let refused: Vec<&str> = log.lines().filter(|l| l.contains("API key refused")).collect();
    assert_eq!(refused.len(), 6, "{log}");
    assert!(refused.iter().all(|l| l.contains("peer=127.0.0.1")), "{log}");
    let forged_id = csp.key.split('_').nth(1).expect("a vouch key has an id");
    assert!(
        refused.iter().any(|l| l.contains(&format!("key=\"{forged_id}\"")) || l.contains(&format!("key={forged_id}"))),
        "{log}"
    );
    assert!(refused.iter().any(|l| l.contains("not a vouch key")), "{log}");
    assert!(!log.contains(&forged[forged.len() - 20..]), "a presented secret was logged: {log}");
}

/// At most --http-max-connections connections are served at once; the next waits until one
/// closes, and is then served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_connections_past_the_limit_wait_for_a_free_slot() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data_dir = tmp.path().join("data");
    let mut cmd = serve_command(tmp.path(), &data_dir);
    cmd.args(["--http-max-connections", "2"]);
    let mut s = Server::launch(cmd, data_dir, tmp.path().to_path_buf());
    let addr = s.base.trim_start_matches("http://").to_owned();
    let a = std::net::TcpStream::connect(&addr).expect("connect");
    let b = std::net::TcpStream::connect(&addr).expect("connect");
    let fresh = || reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(2)).build().expect("client");
    let waiting = fresh().get(format!("{}/healthz", s.base)).send().await;
    assert!(waiting.is_err_and(|e| e.is_timeout()), "a third connection was served past the limit of 2");
    drop(a);
    let served = fresh().get(format!("{}/healthz", s.base)).send().await.expect("served once a slot is free");
    assert_eq!(served.status().as_u16(), 200);
    drop(b);
    assert!(s.sigterm().status.success());
    assert!(s.stderr.text().contains("at --http-max-connections"), "{}", s.stderr.text());
}

/// One address holds at most --http-max-connections-per-address connections: its next is
/// closed at once, while another address is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_take_every_http_connection() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data_dir = tmp.path().join("data");
    let mut cmd = serve_command(tmp.path(), &data_dir);
    cmd.args(["--http-max-connections-per-address", "2"]);
    let s = Server::launch(cmd, data_dir, tmp.path().to_path_buf());
    let addr = s.base.trim_start_matches("http://").to_owned();
    // Two connections that send half a request and stall.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut c = std::net::TcpStream::connect(&addr).expect("connect");
        std::io::Write::write_all(&mut c, b"POST /v1/brands HTTP/1.1\r\nHost: x\r\nContent-Length: 60000\r\n\r\n{")
            .expect("write");
        held.push(c);
    }
    let from = |ip: [u8; 4]| {
        reqwest::Client::builder()
            .no_proxy()
            .local_address(std::net::IpAddr::from(ip))
            .timeout(Duration::from_secs(5))
            .build()
            .expect("client")
    };
    let started = std::time::Instant::now();
    let refused = from([127, 0, 0, 1]).get(format!("{}/healthz", s.base)).send().await;
    assert!(refused.is_err(), "a third connection from 127.0.0.1 was served: {refused:?}");
    assert!(started.elapsed() < Duration::from_secs(4), "refused at once, not left waiting");
    let other = from([127, 0, 0, 2]).get(format!("{}/healthz", s.base)).send().await.expect("another address");
    assert_eq!(other.status().as_u16(), 200);
    let metrics = other_metrics(&s).await;
    assert!(metrics.contains(r#"vouch_http_connections_refused_total{why="per address"} 1"#), "{metrics}");
    drop(held);
}

/// `/metrics` read from 127.0.0.2 (loopback, another address than the held ones).
async fn other_metrics(s: &Server) -> String {
    let c = reqwest::Client::builder().no_proxy().local_address(std::net::IpAddr::from([127, 0, 0, 2])).build();
    c.expect("client").get(format!("{}/metrics", s.base)).send().await.expect("metrics").text().await.expect("text")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csp_cannot_see_or_change_another_csps_resources() {
    let s = Server::start();
    let a = s.csp("Acme Messaging Inc").await;
    let b = s.csp("Bravo Texting LLC").await;
    let brand = s.verified_brand(&a).await;
    let campaign = s.marketing_campaign(&a, &brand).await;
    let bp = format!("/v1/brands/{brand}");
    let cp = format!("/v1/campaigns/{campaign}");

    s.get(&bp, Some(&b.key)).await.problem(404, "brand-not-found");
    s.get(&cp, Some(&b.key)).await.problem(404, "campaign-not-found");
    s.put(&bp, &b.key, &brand_json()).await.problem(404, "brand-not-found");
    s.put(&cp, &b.key, &campaign_json(&brand)).await.problem(404, "campaign-not-found");
    s.delete(&cp, &b.key).await.problem(404, "campaign-not-found");
    s.call(Method::POST, &format!("{bp}/revet"), Some(&b.key), None).await.problem(404, "brand-not-found");
    // Nor create a campaign on it.
    s.post("/v1/campaigns", &b.key, &campaign_json(&brand)).await.problem_naming(422, "validation-failed", "brandId");
    assert_eq!(s.get("/v1/brands", Some(&b.key)).await.ok(200), &json!([]));
    assert_eq!(s.get("/v1/campaigns", Some(&b.key)).await.ok(200), &json!([]));

    // Nothing changed; the owner and the administrator still see it.
    let mine = s.get(&bp, Some(&a.key)).await;
    assert_eq!(mine.ok(200)["version"], 1);
    assert_eq!(s.get(&cp, Some(&a.key)).await.ok(200)["version"], 1);
    s.get(&bp, Some(&s.admin)).await.ok(200);
    s.get(&cp, Some(&s.admin)).await.ok(200);
    assert_eq!(ids(s.get("/v1/brands", Some(&s.admin)).await.ok(200), "brandId"), vec![brand.clone()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dca_sees_only_campaigns_shared_with_it_and_their_brands() {
    let s = Server::start();
    let csp = s.csp("Acme Messaging Inc").await;
    let d1 = s.dca("Carrier Connect LLC").await;
    let d2 = s.dca("Relay Partners Inc").await;
    let b1 = s.verified_brand(&csp).await;
    let b2 = s.verified_brand_with(&csp, &other_brand_json()).await;
    let shared = s.marketing_campaign(&csp, &b1).await;
    let private = s.marketing_campaign(&csp, &b2).await;

    assert_eq!(s.get("/v1/campaigns", Some(&d1.key)).await.ok(200), &json!([]));
    assert_eq!(s.get("/v1/brands", Some(&d1.key)).await.ok(200), &json!([]));
    s.get(&format!("/v1/brands/{b1}"), Some(&d1.key)).await.problem(404, "brand-not-found");

    s.share(&csp, &shared, &d1).await;
    // Pending: the DCA may look before it decides.
    let c = s.get(&format!("/v1/campaigns/{shared}"), Some(&d1.key)).await;
    assert_eq!(c.ok(200)["campaignId"], shared.as_str());
    let b = s.get(&format!("/v1/brands/{b1}"), Some(&d1.key)).await;
    assert_eq!(b.ok(200)["brandId"], b1.as_str());
    assert_eq!(ids(s.get("/v1/campaigns", Some(&d1.key)).await.ok(200), "campaignId"), vec![shared.clone()]);
    assert_eq!(ids(s.get("/v1/brands", Some(&d1.key)).await.ok(200), "brandId"), vec![b1.clone()]);

    s.accept(&d1, &shared).await;
    s.get(&format!("/v1/campaigns/{private}"), Some(&d1.key)).await.problem(404, "campaign-not-found");
    s.get(&format!("/v1/brands/{b2}"), Some(&d1.key)).await.problem(404, "brand-not-found");
    assert_eq!(ids(s.get("/v1/campaigns", Some(&d1.key)).await.ok(200), "campaignId"), vec![shared.clone()]);

    // A DCA cannot change the brand or campaign it carries.
    s.put(&format!("/v1/brands/{b1}"), &d1.key, &brand_json()).await.problem(403, "forbidden");
    s.put(&format!("/v1/campaigns/{shared}"), &d1.key, &campaign_json(&b1)).await.problem(403, "forbidden");

    // The other DCA sees nothing.
    s.get(&format!("/v1/campaigns/{shared}"), Some(&d2.key)).await.problem(404, "campaign-not-found");
    s.get(&format!("/v1/brands/{b1}"), Some(&d2.key)).await.problem(404, "brand-not-found");
    assert_eq!(s.get("/v1/campaigns", Some(&d2.key)).await.ok(200), &json!([]));
    assert_eq!(s.get("/v1/brands", Some(&d2.key)).await.ok(200), &json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_administrator_registers_providers() {
    let s = Server::start();
    let csp = s.csp("Acme Messaging Inc").await;
    let dca = s.dca("Carrier Connect LLC").await;
    let body = json!({"legalName": "Sneaky Reseller LLC", "roles": ["csp"]});
    s.post("/v1/providers", &csp.key, &body).await.problem(403, "forbidden");
    s.post("/v1/providers", &dca.key, &body).await.problem(403, "forbidden");
    let all = s.get("/v1/providers", Some(&csp.key)).await;
    assert_eq!(all.ok(200).as_array().map(Vec::len), Some(2), "nothing was registered: {}", all.text);
    assert!(!has_key(&all.json, "apiKey"), "{}", all.text);
    s.post("/v1/providers", &s.admin, &body).await.ok(201);
    // FRNs are unique.
    let frn = s.get(&format!("/v1/providers/{}", dca.id), Some(&s.admin)).await.ok(200)["frn"].clone();
    let r =
        s.post("/v1/providers", &s.admin, &json!({"legalName": "Copycat Carrier", "roles": ["dca"], "frn": frn})).await;
    r.problem(409, "duplicate-provider");

    // The administrator is not a CSP.
    s.post("/v1/brands", &s.admin, &brand_json()).await.problem(403, "forbidden");
    // A DCA is not a CSP either.
    s.post("/v1/brands", &dca.key, &brand_json()).await.problem(403, "forbidden");
    // Registration is validated.
    let r = s.post("/v1/providers", &s.admin, &json!({"legalName": "Voice Co", "roles": ["voice"]})).await;
    r.problem(422, "validation-failed");
    for f in ["frn", "spc"] {
        assert!(r.error_fields().iter().any(|x| x == f), "{f}: {}", r.text);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_listed_issued_and_revoked_by_the_administrator_and_the_provider_only() {
    let s = Server::start();
    let a = s.csp("Acme Messaging Inc").await;
    let b = s.dca("Carrier Connect LLC").await;
    let keys = format!("/v1/providers/{}/keys", a.id);

    let by_admin = s.get(&keys, Some(&s.admin)).await.ok(200).clone();
    let by_self = s.get(&keys, Some(&a.key)).await.ok(200).clone();
    assert_eq!(by_admin, by_self);
    assert_eq!(ids(&by_self, "keyId"), vec![a.key_id.clone()]);
    assert!(!by_self.to_string().contains(&a.key), "the key list shows the secret");
    assert!(!has_key(&by_self, "apiKey"), "{by_self}");
    s.get(&keys, Some(&b.key)).await.problem(403, "forbidden");
    s.post(&keys, &b.key, &json!({})).await.problem(403, "forbidden");
    s.delete(&format!("{keys}/{}", a.key_id), &b.key).await.problem(403, "forbidden");

    // A second key, then the first revoked.
    let issued = s.call(Method::POST, &keys, Some(&a.key), None).await;
    let issued = issued.ok(201).clone();
    let new_key = issued["apiKey"].as_str().expect("apiKey").to_owned();
    let new_id = issued["keyId"].as_str().expect("keyId").to_owned();
    s.get("/v1/brands", Some(&new_key)).await.ok(200);
    s.delete(&format!("{keys}/{}", a.key_id), &new_key).await.ok(204);

    let r = s.get("/v1/brands", Some(&a.key)).await;
    r.problem(401, "unauthenticated");
    assert!(r.json["detail"].as_str().is_some_and(|d| d.contains("revoked")), "{}", r.text);
    s.get("/v1/brands", Some(&new_key)).await.ok(200);
    let listed = s.get(&keys, Some(&new_key)).await.ok(200).clone();
    let list = listed.as_array().expect("keys");
    assert_eq!(list.len(), 2, "{listed}");
    let old = list.iter().find(|k| k["keyId"] == a.key_id.as_str()).expect("old key listed");
    assert!(old["revokedAt"].is_string(), "{listed}");
    let new = list.iter().find(|k| k["keyId"] == new_id.as_str()).expect("new key listed");
    assert!(new.get("revokedAt").is_none(), "{listed}");
    // Revoking twice or an unknown key is 404.
    s.delete(&format!("{keys}/{}", a.key_id), &new_key).await.problem(404, "api-key-not-found");
    s.delete(&format!("{keys}/KNOPE000"), &s.admin).await.problem(404, "api-key-not-found");
    // The administrator may revoke a provider's key.
    s.delete(&format!("{keys}/{new_id}"), &s.admin).await.ok(204);
    s.get("/v1/brands", Some(&new_key)).await.problem(401, "unauthenticated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_is_for_the_administrator_only() {
    let s = Server::start();
    let csp = s.csp("Acme Messaging Inc").await;
    let dca = s.dca("Carrier Connect LLC").await;
    s.get("/v1/events", Some(&csp.key)).await.problem(403, "forbidden");
    s.get("/v1/events", Some(&dca.key)).await.problem(403, "forbidden");
    s.get("/v1/events", None).await.problem(401, "unauthenticated");

    let all = s.get("/v1/events", Some(&s.admin)).await.ok(200).clone();
    let all = all.as_array().expect("events");
    assert_eq!(all.len(), 5, "bootstrap key + 2 x (provider, key): {all:?}");
    assert_eq!(all[0]["kind"], "apikey.issued");
    assert_eq!(all[0]["actor"], "system");
    assert_eq!(all[1]["kind"], "provider.registered");
    assert_eq!(all[1]["actor"], "admin");
    let two = s.get("/v1/events?limit=2", Some(&s.admin)).await.ok(200).clone();
    assert_eq!(two.as_array().map(Vec::len), Some(2));
    let after = s.get("/v1/events?after=3", Some(&s.admin)).await.ok(200).clone();
    let seqs: Vec<u64> = after.as_array().expect("events").iter().filter_map(|e| e["seq"].as_u64()).collect();
    assert_eq!(seqs, vec![4, 5]);
    s.get("/v1/events?limit=many", Some(&s.admin)).await.problem(400, "invalid-query");
    // Events carry no secrets.
    assert!(!serde_json::to_string(all).expect("json").contains(&csp.key));
}

/// A brand's risk: a DCA that carries none of its campaigns, like any provider that may not
/// read the brand, gets the 404 of a brand that does not exist (no oracle for brand ids);
/// the brand's own CSP, which reads it, gets 403; the DCA carrying it and the administrator
/// read it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brand_risk_does_not_reveal_brands_the_caller_cannot_see() {
    let s = Server::start();
    let a = s.accepted_campaign().await;
    let other_dca = s.dca("Other Gateway LLC").await;
    let other_csp = s.csp("Bravo Texting LLC").await;
    let path = format!("/v1/risk/brands/{}", a.brand);
    let missing = s.get("/v1/risk/brands/BZZZZZZZ", Some(&other_dca.key)).await;
    missing.problem(404, "brand-not-found");
    for key in [&other_dca.key, &other_csp.key] {
        let r = s.get(&path, Some(key)).await;
        let p = r.problem(404, "brand-not-found");
        assert!(p["detail"].as_str().is_some_and(|d| d.contains("not visible")), "{p}");
    }
    s.get(&path, Some(&a.csp.key)).await.problem(403, "forbidden");
    s.get(&path, Some(&a.dca.key)).await.ok(200);
    s.get(&path, Some(&s.admin)).await.ok(200);
}

/// `/metrics` answers loopback clients by default; with `--metrics-allow` only the networks it
/// names, and anyone else only with the administrator's key (a provider's key is not enough).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_served_to_the_allowed_networks_or_the_administrator() {
    let s = Server::start();
    let r = s.get("/metrics", None).await;
    assert_eq!(r.status.as_u16(), 200, "loopback reads /metrics by default");

    let tmp = tempfile::tempdir().expect("tempdir");
    let data_dir = tmp.path().join("data");
    let mut cmd = serve_command(tmp.path(), &data_dir);
    cmd.args(["--metrics-allow", "10.0.0.0/8"]);
    let s = Server::launch(cmd, data_dir, tmp.path().to_path_buf());
    let csp = s.csp("Acme Messaging Inc").await;
    let p = s.get("/metrics", None).await.problem(403, "metrics-forbidden").clone();
    assert!(p["detail"].as_str().is_some_and(|d| d.contains("127.0.0.1")), "{p}");
    s.get("/metrics", Some(&csp.key)).await.problem(403, "metrics-forbidden");
    // A key that does not authenticate is refused as such (401), and logged.
    s.get("/metrics", Some("vouch_KAAAAAAA_guessguessguess")).await.problem(401, "unauthenticated");
    let r = s.get("/metrics", Some(&s.admin)).await;
    assert_eq!(r.status.as_u16(), 200);
    assert!(r.text.contains("vouch_http_requests_total"), "{}", r.text);
    assert!(r.text.contains("vouch_http_refused_keys_total 1"), "{}", r.text);
}
