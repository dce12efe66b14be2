//! Bad requests get RFC 9457 problems, never plain text or a dead server.

use reqwest::Method;
use serde_json::json;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bodies_get_problems() {
    let s = Server::start();
    let csp = s.csp("Acme Messaging Inc").await;
    let json_ct = Some("application/json");

    // Malformed JSON.
    for body in [&b"{\"entityType\":"[..], b"{", b"not json", b"{\"displayName\": }"] {
        s.raw(Method::POST, "/v1/brands", Some(&csp.key), json_ct, Some(body.to_vec()))
            .await
            .problem(400, "malformed-json");
    }
    s.raw(Method::POST, "/v1/providers", Some(&s.admin), json_ct, Some(Vec::new()))
        .await
        .problem(400, "malformed-json");

    // Unknown field: named.
    let mut b = brand_json();
    b["favouriteColour"] = json!("blue");
    let r = s.post("/v1/brands", &csp.key, &b).await;
    r.problem_naming(422, "invalid-field", "favouriteColour");
    assert!(r.json["detail"].as_str().is_some_and(|d| d.contains("favouriteColour")), "{}", r.text);
    let r = s.post("/v1/providers", &s.admin, &json!({"legalName": "X", "roles": ["csp"], "colour": "blue"})).await;
    r.problem_naming(422, "invalid-field", "colour");

    // Wrong type or value: named.
    let mut b = brand_json();
    b["entityType"] = json!("NOPE");
    s.post("/v1/brands", &csp.key, &b).await.problem_naming(422, "invalid-field", "entityType");
    let mut b = brand_json();
    b["phone"] = json!("4155550100");
    s.post("/v1/brands", &csp.key, &b).await.problem_naming(422, "invalid-field", "phone");
    let mut b = brand_json();
    b.as_object_mut().expect("object").remove("displayName");
    s.post("/v1/brands", &csp.key, &b).await.problem(422, "invalid-field");
    let mut b = brand_json();
    b["country"] = json!("USA");
    s.post("/v1/brands", &csp.key, &b).await.problem_naming(422, "validation-failed", "country");

    // Wrong content type.
    let body = serde_json::to_vec(&brand_json()).expect("json");
    for ct in [Some("text/plain"), Some("application/x-www-form-urlencoded"), None] {
        let r = s.raw(Method::POST, "/v1/brands", Some(&csp.key), ct, Some(body.clone())).await;
        r.problem(415, "unsupported-media-type");
    }
    s.raw(Method::POST, "/v1/brands", Some(&csp.key), Some("application/json; charset=utf-8"), Some(body))
        .await
        .ok(201);
    // The CSV endpoints want CSV.
    s.raw(Method::POST, "/v1/numbers/import", Some(&s.admin), json_ct, Some(b"[]".to_vec()))
        .await
        .problem(415, "unsupported-media-type");

    // Over 64 KiB on a JSON endpoint.
    let mut big = brand_json();
    big["displayName"] = json!("x".repeat(70 * 1024));
    let r = s.post("/v1/brands", &csp.key, &big).await;
    r.problem(413, "body-too-large");
    let big = json!({"legalName": "y".repeat(65 * 1024), "roles": ["csp"]});
    s.post("/v1/providers", &s.admin, &big).await.problem(413, "body-too-large");
    // Just under the limit is parsed (and then refused for its content).
    let mut near = brand_json();
    near["displayName"] = json!("z".repeat(60 * 1024));
    s.post("/v1/brands", &csp.key, &near).await.problem_naming(422, "validation-failed", "displayName");

    assert_eq!(s.health().await["status"], "ok");
    // Nothing refused was stored.
    assert_eq!(s.get("/v1/brands", Some(&csp.key)).await.ok(200).as_array().map(Vec::len), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_paths_and_queries_get_problems() {
    let s = Server::start();
    let csp = s.csp("Acme Messaging Inc").await;

    for n in ["12345", "+1", "+1202555012x", "+0123456789", "%2B1234567890123456"] {
        let r = s.get(&format!("/v1/numbers/{n}"), None).await;
        r.problem_naming(400, "invalid-number", "number");
    }
    s.get("/v1/numbers/12345/history", None).await.problem(400, "invalid-number");
    s.put("/v1/numbers/12345", &s.admin, &json!({"campaignId": "C0000000"})).await.problem(400, "invalid-number");
    s.get("/v1/brands/not-a-brand", Some(&csp.key)).await.problem_naming(400, "invalid-brand-id", "brandId");
    s.get("/v1/campaigns/B1234567", Some(&csp.key)).await.problem_naming(400, "invalid-campaign-id", "campaignId");
    s.get("/v1/providers/xyz", Some(&csp.key)).await.problem_naming(400, "invalid-provider-id", "providerId");
    s.get("/v1/brands/B0000000", Some(&csp.key)).await.problem(404, "brand-not-found");

    // Unknown endpoints and methods.
    for path in ["/v1/nope", "/v2/brands", "/console/nope", "/v1/numbers/+12025550123/owner"] {
        s.get(path, None).await.problem(404, "no-such-endpoint");
    }
    // The root is the web console's front door (a redirect the client follows).
    let root = s.get("/", None).await;
    assert!(root.status == 200 && root.text.contains("vouch console"), "{root:?}");
    let r = s.call(Method::PATCH, "/v1/brands", Some(&csp.key), None).await;
    r.problem(405, "method-not-allowed");

    // The event stream's page: `after` past the largest sequence number (it once wrapped to -1
    // and answered the whole stream) and an empty page are refused, naming the parameter.
    for (q, names) in [
        ("after=18446744073709551615", "after"),
        ("after=9223372036854775808", "after"),
        ("limit=0", "limit"),
        ("after=0&limit=0", "limit"),
    ] {
        let r = s.get(&format!("/v1/events?{q}"), Some(&s.admin)).await;
        let p = r.problem(400, "invalid-query");
        assert!(p["detail"].as_str().is_some_and(|d| d.starts_with(names)), "{q}: {p}");
    }
    let page = s.get("/v1/events?after=9223372036854775807", Some(&s.admin)).await;
    assert_eq!(page.ok(200).as_array().map(Vec::len), Some(0), "{}", page.text);
    let page = s.get("/v1/events?limit=1", Some(&s.admin)).await;
    assert_eq!(page.ok(200).as_array().map(Vec::len), Some(1), "{}", page.text);

    assert_eq!(s.health().await["status"], "ok");
    s.get("/v1/providers", Some(&csp.key)).await.ok(200);
}

/// The authentication scheme is case-insensitive (RFC 9110 §11.1): `BEARER` and `bearer` are
/// `Bearer`; another scheme is no key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bearer_scheme_is_case_insensitive() {
    let s = Server::start();
    let csp = s.csp("Acme Messaging Inc").await;
    let with = |value: String| {
        s.http.get(format!("{}/v1/campaigns", s.base)).header(reqwest::header::AUTHORIZATION, value).send()
    };
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let r = with(format!("{scheme} {}", csp.key)).await.expect("request");
        assert_eq!(r.status(), 200, "{scheme}: {:?}", r.text().await);
    }
    for value in [format!("Basic {}", csp.key), format!("Bearer{}", csp.key), "Bearer ".to_owned()] {
        let r = with(value.clone()).await.expect("request");
        assert_eq!(r.status(), 401, "{value}");
        let ct = r.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        assert!(ct.starts_with("application/problem+json"), "{value}: {ct}");
    }
}

/// A body that ends before its Content-Length answers 400 `unreadable-body` (docs/API.md),
/// on a JSON endpoint and on the CSV import alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_cut_short_of_its_length_is_unreadable_body() {
    use std::io::{Read, Write};
    let s = Server::start();
    let addr = s.base.strip_prefix("http://").expect("an http base").to_owned();
    for (method, path, ct) in
        [("PUT", "/v1/numbers/+12025550100", "application/json"), ("POST", "/v1/numbers/import", "text/csv")]
    {
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nContent-Type: {ct}\r\n\
             Content-Length: 100\r\nConnection: close\r\n\r\n{{\"campa",
            s.admin
        );
        let addr = addr.clone();
        let answer = tokio::task::spawn_blocking(move || {
            let mut c = std::net::TcpStream::connect(&addr).expect("connect");
            c.set_read_timeout(Some(std::time::Duration::from_secs(20))).expect("timeout");
            c.write_all(request.as_bytes()).expect("send");
            c.shutdown(std::net::Shutdown::Write).expect("half-close");
            let mut answer = Vec::new();
            // The server may reset the connection after answering: keep what came.
            let _ = c.read_to_end(&mut answer);
            String::from_utf8_lossy(&answer).into_owned()
        })
        .await
        .expect("the client thread");
        assert!(answer.starts_with("HTTP/1.1 400"), "{method} {path}: {answer}");
        assert!(answer.to_ascii_lowercase().contains("content-type: application/problem+json"), "{answer}");
        assert!(answer.contains("\"type\":\"urn:vouch:problem:unreadable-body\""), "{method} {path}: {answer}");
    }
    assert_eq!(s.health().await["status"], "ok");
}

/// Sends a request head announcing a `length`-byte body, none of it, and reads what the server
/// answers within 10 s (the body never comes: an answer means the server did not wait for it).
fn answer_to_a_head(addr: &str, method: &str, path: &str, key: Option<&str>, ct: &str, length: usize) -> String {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(addr).expect("connect");
    c.set_read_timeout(Some(std::time::Duration::from_secs(10))).expect("timeout");
    let auth = key.map(|k| format!("Authorization: Bearer {k}\r\n")).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: {ct}\r\nContent-Length: {length}\r\n\r\n"
    );
    c.write_all(head.as_bytes()).expect("send");
    let mut answer = vec![0; 4096];
    let n = c.read(&mut answer).unwrap_or(0);
    String::from_utf8_lossy(&answer[..n]).into_owned()
}

/// A request without a valid key announcing a body larger than its route accepts, or a CSV
/// import without a valid key, is answered (401, 404) without the server first holding the body: a client without
/// a key could otherwise make it keep 32 MiB per connection (the copy kept to run a write again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_are_not_held_for_requests_their_route_turns_away() {
    let s = Server::start();
    let addr = s.base.strip_prefix("http://").expect("an http base").to_owned();
    let big = 32 * 1024 * 1024 - 1;
    let forged = "vouch_KAAAAAAA_00000000000000000000000000000000";
    let cases = [
        ("POST", "/v1/brands", None, "application/json", "401 "),
        ("POST", "/v1/brands", Some(forged), "application/json", "401 "),
        ("POST", "/v1/no-such-route", None, "application/json", "404 "),
        ("POST", "/v1/numbers/import", None, "text/csv", "401 "),
        ("POST", "/v1/numbers/import", Some(forged), "text/csv", "401 "),
        ("POST", "/v1/sanctions", Some(forged), "text/csv", "401 "),
        ("POST", "/v1/rmd", None, "text/csv", "401 "),
    ];
    for (method, path, key, ct, status) in cases {
        let (to, with) = (addr.clone(), key.map(str::to_owned));
        let answer = tokio::task::spawn_blocking(move || answer_to_a_head(&to, method, path, with.as_deref(), ct, big))
            .await
            .expect("the client thread");
        let keyed = key.is_some();
        assert!(answer.starts_with(&format!("HTTP/1.1 {status}")), "{method} {path} (key: {keyed}): `{answer}`");
    }
    // A valid key's CSV import is still read whole.
    let csv = b"number,campaignId,dca\n".to_vec();
    let r = s.raw(Method::POST, "/v1/numbers/import", Some(&s.admin), Some("text/csv"), Some(csv)).await;
    r.ok(200);
    assert_eq!(s.health().await["status"], "ok");
}

/// The `method` label of the request metrics takes the methods of RFC 9110 and `OTHER`: a
/// client inventing methods cannot add series without end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invented_methods_do_not_add_metric_series() {
    let s = Server::start();
    for i in 0..5 {
        let method = Method::from_bytes(format!("PENTEST{i}").as_bytes()).expect("a method token");
        let r = s.raw(method, "/v1/brands", None, None, None).await;
        assert_eq!(r.status.as_u16(), 405, "{}", r.text);
        // Every answer says nosniff, the API's as the console's.
        let nosniff = r.headers.get("x-content-type-options").and_then(|v| v.to_str().ok());
        assert_eq!(nosniff, Some("nosniff"), "{:?}", r.headers);
    }
    let metrics = s.get("/metrics", None).await.text;
    assert!(!metrics.contains("PENTEST"), "{metrics}");
    assert!(metrics.contains(r#"method="OTHER""#), "{metrics}");
}

/// A webhook may not point into the operator's network: special-purpose IP literals (the vouch
/// host's own loopback, a cloud's metadata service, private networks) and `localhost` are
/// refused when set, unless the operator allows the network.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_to_special_purpose_addresses_are_refused() {
    let s = Server::start();
    let csp = s.csp("Acme Messaging Inc").await;
    let path = format!("/v1/providers/{}/webhook", csp.id);
    for url in [
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.1/hook",
        "https://[::ffff:a9fe:a9fe]/hook",
        "https://0.0.0.0:22/",
        "https://[fd00::1]/hook",
        "http://127.0.0.1:5432/",
        "http://[::1]:22/",
        "https://localhost:6379/",
    ] {
        let r = s.put(&path, &csp.key, &json!({ "url": url })).await;
        let p = r.problem_naming(422, "validation-failed", "url");
        assert!(p["detail"].as_str().is_some_and(|d| d.contains("special-purpose")), "{url}: {p}");
    }
    s.get(&path, Some(&csp.key)).await.problem(404, "webhook-not-found");
    // Public hosts are taken, over https only.
    s.put(&path, &csp.key, &json!({ "url": "https://hooks.example.com/vouch" })).await.ok(201);
    let r = s.put(&path, &csp.key, &json!({ "url": "http://93.184.215.14:8080/hook" })).await;
    let p = r.problem_naming(422, "validation-failed", "url");
    assert!(p["detail"].as_str().is_some_and(|d| d.contains("use https")), "{p}");

    // An operator lets webhooks reach its own network: that network only.
    let tmp = tempfile::tempdir().expect("tempdir");
    let data_dir = tmp.path().join("data");
    let mut cmd = serve_command(tmp.path(), &data_dir);
    cmd.args(["--webhook-allow-net", "10.20.0.0/16", "--webhook-allow-net", "127.0.0.0/8"]);
    let inside = Server::launch(cmd, data_dir, tmp.path().to_path_buf());
    let csp = inside.csp("Acme Messaging Inc").await;
    let path = format!("/v1/providers/{}/webhook", csp.id);
    inside.put(&path, &csp.key, &json!({ "url": "http://10.20.1.5:8080/hook" })).await.ok(201);
    let r = inside.put(&path, &csp.key, &json!({ "url": "https://10.21.1.5/hook" })).await;
    r.problem_naming(422, "validation-failed", "url");
    let r = inside.put(&path, &csp.key, &json!({ "url": "https://169.254.169.254/" })).await;
    r.problem_naming(422, "validation-failed", "url");
    // Loopback allowed: by literal and as localhost; ::1 is not in 127.0.0.0/8.
    inside.put(&path, &csp.key, &json!({ "url": "http://127.0.0.1:9/hook" })).await.ok(201);
    inside.put(&path, &csp.key, &json!({ "url": "http://localhost:9/hook" })).await.ok(201);
    let r = inside.put(&path, &csp.key, &json!({ "url": "http://[::1]:9/hook" })).await;
    r.problem_naming(422, "validation-failed", "url");
}
