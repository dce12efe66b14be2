//! The main flow end to end (the curl walk-through), and the operational endpoints.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn walk_through_provider_brand_campaign_number_history() {
    let s = Server::start();

    // Providers, registered by the administrator.
    let csp = s.csp("Acme Messaging Inc").await;
    let dca = s.dca("Carrier Connect LLC").await;
    assert!(csp.id.starts_with('P') && csp.id.len() == 8, "provider id {}", csp.id);
    let p = s.get(&format!("/v1/providers/{}", dca.id), Some(&csp.key)).await;
    let p = p.ok(200);
    assert_eq!(p["legalName"], "Carrier Connect LLC");
    assert_eq!(p["roles"], json!(["dca"]));
    assert!(p.get("apiKey").is_none(), "the directory must not show keys: {p}");

    // Brand: vetted synchronously.
    let b = s.brand_with(&csp, &brand_json()).await;
    assert_eq!(b["identityStatus"], "VERIFIED", "{b:#}");
    assert_eq!(b["vettingScore"], 85, "{b:#}");
    assert_eq!(b["cspId"], csp.id.as_str());
    assert_eq!(b["ein"], "46-4123456", "the owning CSP sees the EIN");
    assert_eq!(b["version"], 1);
    assert!(blocking_codes(&b).is_empty(), "{b:#}");
    for code in ["EIN_VALID", "WEBSITE_VALID", "DOMAINS_CONSISTENT", "ADDRESS_COMPLETE", "SANCTIONS_CLEAR"] {
        assert_eq!(reason(&b, code).map(|r| r["severity"].clone()), Some(json!("PASS")), "{code} in {b:#}");
    }
    let brand = b["brandId"].as_str().expect("brandId").to_owned();
    // A provider's own data is never kept by a browser cache or a proxy.
    let mine = s.get(&format!("/v1/brands/{brand}"), Some(&csp.key)).await;
    assert_eq!(mine.headers.get("cache-control").and_then(|v| v.to_str().ok()), Some("no-store"));
    let denied = s.get("/v1/brands", Some("vouch_XXXXXXXX_wrong")).await;
    assert_eq!(denied.headers.get("cache-control").and_then(|v| v.to_str().ok()), Some("no-store"));

    // Campaign.
    let c = s.post("/v1/campaigns", &csp.key, &campaign_json(&brand)).await;
    let c = c.ok(201);
    assert_eq!(c["status"], "ACTIVE");
    assert_eq!(c["brandId"], brand.as_str());
    assert_eq!(c["usecase"], "MARKETING");
    assert_eq!(c["optoutKeywords"], "STOP,QUIT");
    assert_eq!(c["throughputClass"], "B", "MARKETING with score 85 is class B: {c:#}");
    assert_eq!(c["smsPerMinute"], 4500);
    assert_eq!(c["sharing"], json!([]));
    assert!(c.get("dcaId").is_none());
    let campaign = c["campaignId"].as_str().expect("campaignId").to_owned();

    // Share, then accept.
    let shared = s.share(&csp, &campaign, &dca).await;
    assert_eq!(shared["sharing"][0]["upstreamCnpId"], dca.id.as_str());
    assert_eq!(shared["sharing"][0]["sharingStatus"], "PENDING");
    let accepted = s.accept(&dca, &campaign).await;
    assert_eq!(accepted["sharing"][0]["sharingStatus"], "ACCEPTED");
    assert_eq!(accepted["sharing"].as_array().map(Vec::len), Some(1));

    // Number assignment and public lookup.
    let n = "+12025550123";
    let a = s.assign(&dca.key, n, &campaign).await;
    let a = a.ok(201);
    assert_eq!(a["number"], n);
    assert_eq!(a["campaignId"], campaign.as_str());
    let l = s.get(&format!("/v1/numbers/{n}"), None).await;
    let l = l.ok(200);
    assert_eq!(l["campaignId"], campaign.as_str());
    assert_eq!(l["campaignStatus"], "ACTIVE");
    assert_eq!(l["dcaId"], dca.id.as_str());
    assert_eq!(l["throughputClass"], "B");
    assert_eq!(l["smsPerMinute"], 4500);
    assert_eq!(s.held_numbers().await, 1);

    // Release, then ask about an instant while it was held.
    let h = s.history(n).await;
    let from = h["intervals"][0]["from"].as_str().expect("from").to_owned();
    s.call(Method::DELETE, &format!("/v1/numbers/{n}?reason=customer%20left"), Some(&dca.key), None).await.ok(204);
    s.get(&format!("/v1/numbers/{n}"), None).await.problem(404, "number-not-assigned");
    let then = s.get(&format!("/v1/numbers/{n}?at={from}"), None).await;
    let then = then.ok(200);
    assert_eq!(then["campaignId"], campaign.as_str());
    assert_eq!(then["heldSince"], from.as_str());
    assert!(then["heldUntil"].is_string(), "{then:#}");

    // History.
    let h = s.history(n).await;
    assert_eq!(h["number"], n);
    let iv = h["intervals"].as_array().expect("intervals");
    assert_eq!(iv.len(), 1, "{h:#}");
    assert_eq!(iv[0]["campaignId"], campaign.as_str());
    assert_eq!(iv[0]["dcaId"], dca.id.as_str());
    assert_eq!(iv[0]["releaseReason"], "customer left");
    assert_eq!(iv[0]["until"], then["heldUntil"]);
    assert!(iv[0]["releasedEvent"].as_u64() > iv[0]["assignedEvent"].as_u64());

    // Suspension stops assignments.
    let sus =
        s.post(&format!("/v1/campaigns/{campaign}/suspend"), &dca.key, &json!({"reason": "spam complaints"})).await;
    let sus = sus.ok(200);
    assert_eq!(sus["status"], "SUSPENDED");
    assert_eq!(sus["statusReason"], "spam complaints");
    s.assign(&dca.key, "+12025550124", &campaign).await.problem(409, "campaign-suspended");

    // The event stream recorded all of it, in order.
    let ev = s.get("/v1/events?limit=1000", Some(&s.admin)).await;
    let ev = ev.ok(200).as_array().expect("events").clone();
    let kinds: Vec<&str> = ev.iter().filter_map(|e| e["kind"].as_str()).collect();
    for k in [
        "provider.registered",
        "brand.registered",
        "brand.vetted",
        "campaign.created",
        "campaign.shared",
        "number.assigned",
        "number.released",
        "campaign.suspended",
    ] {
        assert!(kinds.contains(&k), "no {k} event in {kinds:?}");
    }
    let seqs: Vec<u64> = ev.iter().filter_map(|e| e["seq"].as_u64()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "event seqs not increasing: {seqs:?}");
    assert_eq!(s.health().await["lastEvent"], json!(seqs.last().copied()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_answers_within_seconds_of_start() {
    let started = Instant::now();
    let s = Server::start();
    let h = s.health().await;
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(5), "healthz took {elapsed:?} from spawn");
    assert_eq!(h["status"], "ok");
    assert_eq!(h["numbers"], 0);
    assert!(h["lastEvent"].as_u64().is_some_and(|n| n >= 1), "the admin key bootstrap is an event: {h}");
}

/// `(method, path)` of every `#[utoipa::path(...)]` in handlers.rs.
fn handler_paths() -> BTreeSet<(String, String)> {
    let src = include_str!("../../crates/http/src/handlers.rs");
    let mut out = BTreeSet::new();
    for chunk in src.split("#[utoipa::path(").skip(1) {
        let method = chunk.split(',').next().expect("method").trim().to_ascii_lowercase();
        let rest = chunk.split("path = \"").nth(1).expect("a path in every utoipa::path");
        let path = rest.split('"').next().expect("closing quote").to_owned();
        out.insert((method, path));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_is_3_1_and_lists_every_v1_path() {
    let s = Server::start();
    let r = s.get("/openapi.json", None).await;
    let doc = r.ok(200);
    assert!(r.content_type().starts_with("application/json"), "{}", r.content_type());
    let version = doc["openapi"].as_str().expect("openapi member");
    assert!(version.starts_with("3.1"), "OpenAPI {version}, expected 3.1.x");
    assert!(doc["info"]["title"].is_string());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object(), "bearer scheme missing");

    let expected = handler_paths();
    let v1: BTreeSet<&str> = expected.iter().map(|(_, p)| p.as_str()).filter(|p| p.starts_with("/v1/")).collect();
    assert!(v1.len() >= 19, "parsed too few paths from handlers.rs: {v1:?}");
    let paths = doc["paths"].as_object().expect("paths");
    let mut missing = BTreeMap::new();
    for (method, path) in &expected {
        match paths.get(path) {
            None => {
                missing.insert(path.clone(), "path missing".to_owned());
            }
            Some(item) if item.get(method).is_none() => {
                missing.insert(path.clone(), format!("{method} missing"));
            }
            Some(_) => {}
        }
    }
    assert!(missing.is_empty(), "the OpenAPI document lacks handlers: {missing:?}");
    for p in [
        "/v1/providers",
        "/v1/brands/{id}",
        "/v1/campaigns/{id}/sharing/{providerId}/accept",
        "/v1/numbers/{number}/history",
        "/v1/numbers/import",
        "/v1/sanctions",
        "/v1/events",
    ] {
        assert!(v1.contains(p), "{p} not found in handlers.rs (parser broken?)");
    }
}

/// The served document says what the wire carries, for every operation: problems are
/// `application/problem+json`, every operation with a security requirement declares its 401,
/// every response has a description, and `PUT /v1/numbers/{number}` declares the problems it
/// answers. Then the wire: a secured operation called without a key answers the declared 401.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_declares_problem_json_and_a_401_on_every_secured_operation() {
    const PROBLEM_REF: &str = "#/components/schemas/Problem";
    const PROBLEM_JSON: &str = "application/problem+json";
    let s = Server::start();
    let doc = s.get("/openapi.json", None).await.ok(200).clone();
    let methods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
    let (mut operations, mut secured) = (0, Vec::new());
    let mut wrong = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("a path item").iter().filter(|(m, _)| methods.contains(&m.as_str()))
        {
            operations += 1;
            let what = format!("{} {path}", method.to_uppercase());
            let responses = op["responses"].as_object().expect("responses");
            for (status, r) in responses {
                if r["description"].as_str().is_none_or(str::is_empty) {
                    wrong.push(format!("{what} {status}: no description"));
                }
                for (media, content) in r["content"].as_object().into_iter().flatten() {
                    let problem = content["schema"]["$ref"] == PROBLEM_REF;
                    if problem != (media == PROBLEM_JSON) {
                        wrong.push(format!("{what} {status}: {media} with {}", content["schema"]));
                    }
                }
                if status.starts_with('4') || status.starts_with('5') {
                    let media: Vec<&String> = r["content"].as_object().into_iter().flatten().map(|(m, _)| m).collect();
                    if media != [PROBLEM_JSON] {
                        wrong.push(format!("{what} {status}: error declared as {media:?}"));
                    }
                }
            }
            if op["security"].as_array().is_some_and(|s| s.iter().any(|r| r.as_object().is_some_and(|r| !r.is_empty())))
            {
                secured.push((method.clone(), path.clone()));
                if responses.get("401").map(|r| &r["content"][PROBLEM_JSON]["schema"]["$ref"])
                    != Some(&json!(PROBLEM_REF))
                {
                    wrong.push(format!("{what}: no 401 problem"));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "the OpenAPI document disagrees with the wire:\n{}", wrong.join("\n"));
    assert!(operations > 50 && secured.len() > 50, "{operations} operations, {} secured", secured.len());
    let put = &doc["paths"]["/v1/numbers/{number}"]["put"]["responses"];
    for status in ["400", "401", "403", "404", "409", "422"] {
        assert_eq!(
            put[status]["content"][PROBLEM_JSON]["schema"]["$ref"], PROBLEM_REF,
            "PUT /v1/numbers/{{number}} {status}"
        );
    }

    // The wire: every secured GET without parameters answers the 401 it declares.
    let mut called = 0;
    for (method, path) in secured.iter().filter(|(m, p)| m == "get" && !p.contains('{')) {
        let r = s.get(path, None).await;
        r.problem(401, "unauthenticated");
        assert!(r.headers.contains_key(reqwest::header::WWW_AUTHENTICATE), "{method} {path}");
        called += 1;
    }
    assert!(called > 5, "only {called} secured GETs without parameters");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_prometheus_text() {
    let s = Server::start();
    s.health().await;
    s.get("/v1/brands", None).await.problem(401, "unauthenticated");
    let r = s.get("/metrics", None).await;
    r.ok(200);
    assert!(r.content_type().starts_with("text/plain"), "metrics content type {}", r.content_type());
    assert!(r.text.contains("# TYPE vouch_http_requests_total counter"), "{}", r.text);
    let healthz = r.text.lines().find(|l| {
        l.starts_with("vouch_http_requests_total{") && l.contains("route=\"/healthz\"") && l.contains("status=\"200\"")
    });
    let healthz = healthz.unwrap_or_else(|| panic!("no healthz counter in:\n{}", r.text));
    let value: f64 = healthz.rsplit(' ').next().and_then(|v| v.parse().ok()).expect("a sample value");
    assert!(value >= 1.0, "{healthz}");
    assert!(
        r.text.lines().any(|l| l.starts_with("vouch_http_requests_total{") && l.contains("status=\"401\"")),
        "{}",
        r.text
    );
    assert!(r.text.contains("vouch_http_request_duration_seconds"), "{}", r.text);
    // Every sample line is `name{labels} value` or `name value`.
    for line in r.text.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let v = line.rsplit(' ').next().unwrap_or_default();
        assert!(v.parse::<f64>().is_ok() || v == "+Inf" || v == "NaN", "not a Prometheus sample: {line}");
    }
}
