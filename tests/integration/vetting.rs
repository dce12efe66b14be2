//! Brand vetting: EIN checks, public companies, EIN reuse, sanctions screening.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::*;

fn assert_blocked(brand: &Value, code: &str, field: &str) {
    assert_eq!(brand["identityStatus"], "UNVERIFIED", "{brand:#}");
    assert_eq!(brand["vettingScore"], 0, "a blocked brand scores 0: {brand:#}");
    let r = reason(brand, code).unwrap_or_else(|| panic!("no {code} reason in {brand:#}"));
    assert_eq!(r["severity"], "BLOCKING", "{r}");
    assert_eq!(r["field"], field, "{r}");
    assert!(r["message"].as_str().is_some_and(|m| !m.is_empty()), "{r}");
    assert!(r["fix"].as_str().is_some_and(|m| !m.is_empty()), "a blocking reason says how to fix it: {r}");
    assert_eq!(brand["vettingReasons"][0]["severity"], "BLOCKING", "blocking reasons come first: {brand:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_ein_prefix_is_unverified_and_cannot_run_campaigns() {
    let s = Server::start();
    let csp = s.csp("Acme Messaging Inc").await;
    let mut body = brand_json();
    body["ein"] = json!("07-1234567");
    let b = s.brand_with(&csp, &body).await;
    assert_blocked(&b, "EIN_PREFIX_INVALID", "ein");
    assert_eq!(blocking_codes(&b), vec!["EIN_PREFIX_INVALID".to_owned()]);
    let id = b["brandId"].as_str().expect("brandId");

    let r = s.post("/v1/campaigns", &csp.key, &campaign_json(id)).await;
    r.problem_naming(422, "validation-failed", "brandId");
    assert!(r.json["detail"].as_str().is_some_and(|d| d.contains("UNVERIFIED")), "{}", r.text);
    let listed = s.get("/v1/campaigns", Some(&csp.key)).await;
    assert_eq!(listed.ok(200), &json!([]));

    // A malformed EIN is blocked too, with its own code.
    body["ein"] = json!("4-61234567");
    let b = s.brand_with(&csp, &body).await;
    assert_blocked(&b, "EIN_FORMAT_INVALID", "ein");

    // Fixing the EIN by an update re-vets the brand.
    body["ein"] = json!("46-4123456");
    let fixed = s.put(&format!("/v1/brands/{id}"), &csp.key, &body).await;
    let fixed = fixed.ok(200);
    assert_eq!(fixed["identityStatus"], "VERIFIED", "{fixed:#}");
    assert_eq!(fixed["version"], 2);
    s.marketing_campaign(&csp, id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_profit_brands_need_a_stock_symbol() {
    let s = Server::start();
    let csp = s.csp("Acme Messaging Inc").await;
    let mut body = brand_json();
    body["entityType"] = json!("PUBLIC_PROFIT");
    body["ein"] = json!("46-7654321");
    body["companyName"] = json!("Acme Dental Holdings Corp");
    let b = s.brand_with(&csp, &body).await;
    assert_blocked(&b, "STOCK_SYMBOL_REQUIRED", "stockSymbol");
    let id = b["brandId"].as_str().expect("brandId").to_owned();
    s.post("/v1/campaigns", &csp.key, &campaign_json(&id)).await.problem_naming(422, "validation-failed", "brandId");

    body["stockSymbol"] = json!("ACMD");
    body["stockExchange"] = json!("NASDAQ");
    let fixed = s.put(&format!("/v1/brands/{id}"), &csp.key, &body).await;
    let fixed = fixed.ok(200);
    assert_eq!(fixed["identityStatus"], "VETTED_VERIFIED", "listed company with a clean record: {fixed:#}");
    assert_eq!(fixed["vettingScore"], 95, "{fixed:#}");
    assert_eq!(reason(fixed, "STOCK_LISTED").map(|r| r["severity"].clone()), Some(json!("PASS")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ein_registered_under_another_name_is_blocked() {
    let s = Server::start();
    let a = s.csp("Acme Messaging Inc").await;
    let b = s.csp("Bravo Texting LLC").await;
    let original = s.verified_brand(&a).await;

    // The same company under a legal-form variant of its name is fine, with a warning that
    // another CSP registered it.
    let mut same = brand_json();
    same["companyName"] = json!("ACME DENTAL GROUP, L.L.C.");
    let ok = s.brand_with(&b, &same).await;
    assert_eq!(ok["identityStatus"], "VERIFIED", "{ok:#}");
    let w = reason(&ok, "EIN_REGISTERED_BY_OTHER_CSP").unwrap_or_else(|| panic!("no warning in {ok:#}"));
    assert_eq!(w["severity"], "WARNING");
    assert_eq!(ok["vettingScore"], 75, "{ok:#}");

    // Another legal name with the same EIN is blocked.
    let mut other_name = brand_json();
    other_name["companyName"] = json!("Globex Dental Holdings Inc");
    other_name["displayName"] = json!("Globex Dental");
    let blocked = s.brand_with(&b, &other_name).await;
    assert_blocked(&blocked, "EIN_REGISTERED_UNDER_OTHER_NAME", "ein");
    assert!(blocked["vettingReasons"][0]["message"].as_str().is_some_and(|m| m.contains(&original)), "{blocked:#}");

    // Only the brand's CSP and the administrator may re-vet it; the other CSP cannot see it.
    let r = s.call(reqwest::Method::POST, &format!("/v1/brands/{original}/revet"), Some(&b.key), None).await;
    r.problem(404, "brand-not-found");
}

/// A brand that was itself refused for using someone else's EIN (EIN_REGISTERED_UNDER_OTHER_NAME,
/// UNVERIFIED) must not count as a holder of that EIN: otherwise any CSP could register a
/// victim's EIN under a made-up name, and the victim's legitimate brand would turn UNVERIFIED on
/// its next vetting, and the victim could not register the company again either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unverified_ein_squatter_does_not_block_the_legitimate_brand() {
    let s = Server::start();
    let victim = s.csp("Acme Messaging Inc").await;
    let squatter = s.csp("Bravo Texting LLC").await;
    let original = s.verified_brand(&victim).await;

    let mut fake = brand_json();
    fake["companyName"] = json!("Totally Different Holdings Inc");
    fake["displayName"] = json!("Totally Different");
    let refused = s.brand_with(&squatter, &fake).await;
    assert_blocked(&refused, "EIN_REGISTERED_UNDER_OTHER_NAME", "ein");

    // The refused registration must not count against the company that owns the EIN.
    let revetted = s.call(reqwest::Method::POST, &format!("/v1/brands/{original}/revet"), Some(&s.admin), None).await;
    let revetted = revetted.ok(200).clone();
    assert_eq!(
        revetted["identityStatus"],
        "VERIFIED",
        "re-vetting the legitimate brand after an UNVERIFIED squatter registered its EIN: {:?}",
        blocking_codes(&revetted)
    );
    let again = s.brand_with(&victim, &brand_json()).await;
    assert_eq!(again["identityStatus"], "VERIFIED", "the EIN's owner registering again: {:?}", blocking_codes(&again));
}

fn sdn_fixture() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data/sdn-sample.csv"))
}

fn import_sanctions(s: &Server, key: &str) -> Finished {
    let mut cmd = vouch(&s.scratch);
    cmd.args(["import", "sanctions"]).arg(sdn_fixture()).arg("--server").arg(&s.base).arg("--api-key").arg(key);
    run(cmd, Duration::from_secs(30))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sanctions_import_re_vets_existing_and_screens_new_brands() {
    let mut s = Server::start();
    let st = s.accepted_campaign().await;
    s.assign(&st.dca.key, "+12025550188", &st.campaign).await.ok(201);
    assert_eq!(s.get("/v1/numbers/+12025550188", None).await.ok(200)["throughputClass"], "B");

    // Only the administrator imports lists.
    let denied = import_sanctions(&s, &st.csp.key);
    assert!(!denied.status.success(), "a CSP imported a sanctions list: {denied:?}");
    assert!(denied.stderr.contains("403"), "{}", denied.stderr);

    let out = import_sanctions(&s, &s.admin);
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.contains("imported 5 sanctioned parties"), "{}", out.stdout);
    assert!(out.stdout.contains("re-vetted 1 brand(s)") && out.stdout.contains(&st.brand), "{}", out.stdout);

    // The existing brand matched and was re-vetted.
    let b = s.get(&format!("/v1/brands/{}", st.brand), Some(&st.csp.key)).await.ok(200).clone();
    assert_blocked(&b, "SANCTIONS_MATCH", "companyName");
    assert_eq!(blocking_codes(&b), vec!["SANCTIONS_MATCH".to_owned()]);
    let m = reason(&b, "SANCTIONS_MATCH").expect("match");
    assert!(m["message"].as_str().is_some_and(|t| t.contains("ACME DENTAL GROUP") && t.contains("9001")), "{m}");
    // Its campaign now runs at the lowest class of its use case.
    assert_eq!(s.get("/v1/numbers/+12025550188", None).await.ok(200)["throughputClass"], "F");
    // No new campaigns for it.
    s.post("/v1/campaigns", &st.csp.key, &campaign_json(&st.brand)).await.problem_naming(
        422,
        "validation-failed",
        "brandId",
    );

    // A new brand with a matching name is screened on registration.
    let mut body = brand_json();
    body["ein"] = json!("46-1111111");
    body["companyName"] = json!("Acme Dental Group, Inc.");
    let fresh = s.brand_with(&st.csp, &body).await;
    assert_blocked(&fresh, "SANCTIONS_MATCH", "companyName");

    // A clean brand is not.
    let clean = s.brand_with(&st.csp, &other_brand_json()).await;
    assert_eq!(clean["identityStatus"], "VERIFIED", "{clean:#}");
    assert!(reason(&clean, "SANCTIONS_CLEAR").is_some(), "{clean:#}");

    // The list is part of the store: after a restart, new brands are still screened.
    let stopped = s.sigterm();
    assert!(stopped.status.success(), "{stopped:?}");
    s.restart();
    assert_eq!(
        s.get("/v1/numbers/+12025550188", None).await.ok(200)["throughputClass"],
        "F",
        "the re-vetted score was reloaded"
    );
    let b = s.get(&format!("/v1/brands/{}", st.brand), Some(&st.csp.key)).await.ok(200).clone();
    assert_eq!(b["identityStatus"], "UNVERIFIED");
    let mut heron = other_brand_json();
    heron["displayName"] = json!("Heron Imports");
    heron["companyName"] = json!("Blue Heron Trading Co Ltd");
    heron["ein"] = json!("94-5556667");
    let after = s.brand_with(&st.csp, &heron).await;
    assert_blocked(&after, "SANCTIONS_MATCH", "companyName");
}
