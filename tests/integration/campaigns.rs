//! Campaign rules, sharing to a DCA, suspension, resumption and expiry.

use reqwest::Method;
use serde_json::json;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn campaign_rules_name_the_failing_fields() {
    let s = Server::start();
    let csp = s.csp("Acme Messaging Inc").await;
    let brand = s.verified_brand(&csp).await;

    // MIXED needs 2 to 5 sub-use-cases.
    let mut mixed = campaign_json(&brand);
    mixed["usecase"] = json!("MIXED");
    mixed["subUsecases"] = json!(["MARKETING"]);
    let r = s.post("/v1/campaigns", &csp.key, &mixed).await;
    r.problem_naming(422, "validation-failed", "subUsecases");
    assert_eq!(r.error_fields(), vec!["subUsecases".to_owned()], "{}", r.text);
    mixed["subUsecases"] = json!(["MARKETING", "2FA"]);
    let ok = s.post("/v1/campaigns", &csp.key, &mixed).await;
    assert_eq!(ok.ok(201)["subUsecases"], json!(["MARKETING", "2FA"]));

    // Opt-out keywords must include STOP.
    let mut c = campaign_json(&brand);
    c["optoutKeywords"] = json!("QUIT,END");
    s.post("/v1/campaigns", &csp.key, &c).await.problem_naming(422, "validation-failed", "optoutKeywords");
    c.as_object_mut().expect("object").remove("optoutKeywords");
    s.post("/v1/campaigns", &csp.key, &c).await.problem_naming(422, "validation-failed", "optoutKeywords");

    // Every failing field is named at once.
    let mut bad = campaign_json(&brand);
    bad["description"] = json!("too short");
    bad["subscriberOptout"] = json!(false);
    bad["helpKeywords"] = json!("INFO");
    let r = s.post("/v1/campaigns", &csp.key, &bad).await;
    r.problem(422, "validation-failed");
    let fields = r.error_fields();
    for f in ["description", "subscriberOptout", "helpKeywords"] {
        assert!(fields.iter().any(|x| x == f), "{f} not in {fields:?}");
    }

    // Nothing of the refused requests was created.
    let list = s.get("/v1/campaigns", Some(&csp.key)).await;
    assert_eq!(list.ok(200).as_array().map(Vec::len), Some(1), "{}", list.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_ids_are_unique_per_csp() {
    let s = Server::start();
    let a = s.csp("Acme Messaging Inc").await;
    let b = s.csp("Bravo Texting LLC").await;
    let brand_a = s.verified_brand(&a).await;
    let mut other = other_brand_json();
    other["referenceId"] = json!("crm-7");
    let brand_b = s.verified_brand_with(&b, &other).await;

    let mut c = campaign_json(&brand_a);
    c["referenceId"] = json!("crm-7");
    let first = s.post("/v1/campaigns", &a.key, &c).await.ok(201).clone();
    let again = s.post("/v1/campaigns", &a.key, &c).await;
    again.problem(409, "duplicate-reference-id");
    assert!(
        again.json["detail"].as_str().is_some_and(|d| d.contains(first["campaignId"].as_str().unwrap_or("?"))),
        "{}",
        again.text
    );

    // Another CSP may use the same reference.
    let mut c = campaign_json(&brand_b);
    c["referenceId"] = json!("crm-7");
    s.post("/v1/campaigns", &b.key, &c).await.ok(201);

    // Brands too.
    let mut dup = other_brand_json();
    dup["referenceId"] = json!("crm-7");
    s.post("/v1/brands", &b.key, &dup).await.problem(409, "duplicate-reference-id");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_keep_brand_and_usecase() {
    let s = Server::start();
    let csp = s.csp("Acme Messaging Inc").await;
    let brand = s.verified_brand(&csp).await;
    let other_brand = s.verified_brand_with(&csp, &other_brand_json()).await;
    let id = s.marketing_campaign(&csp, &brand).await;
    let path = format!("/v1/campaigns/{id}");

    let mut c = campaign_json(&brand);
    c["usecase"] = json!("MIXED");
    c["subUsecases"] = json!(["MARKETING", "2FA"]);
    s.put(&path, &csp.key, &c).await.problem_naming(422, "validation-failed", "usecase");

    let mut c = campaign_json(&other_brand);
    s.put(&path, &csp.key, &c).await.problem_naming(422, "validation-failed", "brandId");

    c = campaign_json(&brand);
    c["description"] = json!("Appointment reminders, recall notices and monthly offers for Acme Dental patients.");
    let updated = s.put(&path, &csp.key, &c).await;
    let updated = updated.ok(200);
    assert_eq!(updated["version"], 2);
    assert_eq!(updated["usecase"], "MARKETING");
    assert!(updated["description"].as_str().is_some_and(|d| d.contains("recall notices")));
    let fetched = s.get(&path, Some(&csp.key)).await;
    assert_eq!(fetched.ok(200)["description"], updated["description"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharing_goes_to_one_dca_at_a_time() {
    let s = Server::start();
    let csp = s.csp("Acme Messaging Inc").await;
    let other_csp = s.csp("Bravo Texting LLC").await;
    let d1 = s.dca("Carrier Connect LLC").await;
    let d2 = s.dca("Relay Partners Inc").await;
    let brand = s.verified_brand(&csp).await;
    let id = s.marketing_campaign(&csp, &brand).await;
    let share = |dca: &str| format!("/v1/campaigns/{id}/sharing/{dca}");

    // Only to a DCA.
    s.put_empty(&share(&other_csp.id), &csp.key).await.problem_naming(422, "validation-failed", "providerId");
    s.put_empty(&share("P0000000"), &csp.key).await.problem(404, "provider-not-found");
    // Only by its CSP.
    s.put_empty(&share(&d1.id), &d1.key).await.problem(404, "campaign-not-found");

    let c = s.share(&csp, &id, &d1).await;
    assert_eq!(c["sharing"][0]["sharingStatus"], "PENDING");
    // Sharing again with the same DCA changes nothing; with another, it conflicts.
    let again = s.share(&csp, &id, &d1).await;
    assert_eq!(again["sharing"].as_array().map(Vec::len), Some(1), "{again:#}");
    s.put_empty(&share(&d2.id), &csp.key).await.problem(409, "sharing-state");

    // Only the named DCA answers.
    let accept2 = format!("/v1/campaigns/{id}/sharing/{}/accept", d2.id);
    s.call(Method::POST, &accept2, Some(&d2.key), None).await.problem(404, "campaign-not-found");
    let accept1_by_d2 = format!("/v1/campaigns/{id}/sharing/{}/accept", d1.id);
    s.call(Method::POST, &accept1_by_d2, Some(&d2.key), None).await.problem(404, "campaign-not-found");
    s.call(Method::POST, &accept1_by_d2, Some(&csp.key), None).await.problem(403, "forbidden");

    // Decline with a reason frees the campaign for another DCA.
    let decline = format!("/v1/campaigns/{id}/sharing/{}/decline", d1.id);
    let declined = s.post(&decline, &d1.key, &json!({"reason": "not our vertical"})).await;
    let declined = declined.ok(200);
    assert_eq!(declined["sharing"][0]["sharingStatus"], "DECLINED");
    assert_eq!(declined["sharing"][0]["reason"], "not our vertical");
    // A DCA that declined sees the campaign no more, so it cannot answer again either.
    s.call(Method::POST, &accept1_by_d2, Some(&d1.key), None).await.problem(404, "campaign-not-found");
    // It may be shared with the same DCA again, which may decline again (without a body).
    let again = s.share(&csp, &id, &d1).await;
    assert_eq!(again["sharing"].as_array().map(Vec::len), Some(1), "{again:#}");
    assert_eq!(again["sharing"][0]["sharingStatus"], "PENDING");
    assert!(again["sharing"][0].get("reason").is_none(), "{again:#}");
    let declined = s.call(Method::POST, &decline, Some(&d1.key), None).await;
    assert_eq!(declined.ok(200)["sharing"][0]["sharingStatus"], "DECLINED");
    // Declined: neither the campaign nor its brand's confidential fields are the DCA's to read.
    s.get(&format!("/v1/campaigns/{id}"), Some(&d1.key)).await.problem(404, "campaign-not-found");
    s.get(&format!("/v1/brands/{brand}"), Some(&d1.key)).await.problem(404, "brand-not-found");
    let listed = s.get("/v1/campaigns", Some(&d1.key)).await.ok(200).clone();
    assert!(listed.as_array().is_some_and(|a| a.iter().all(|c| c["campaignId"] != id.as_str())), "{listed:#}");
    let brands = s.get("/v1/brands", Some(&d1.key)).await.ok(200).clone();
    assert!(brands.as_array().is_some_and(|a| a.iter().all(|b| b["brandId"] != brand.as_str())), "{brands:#}");

    let c = s.share(&csp, &id, &d2).await;
    assert_eq!(c["sharing"].as_array().map(Vec::len), Some(2), "{c:#}");
    let c = s.accept(&d2, &id).await;
    // A trace shows the brand's confidential fields to the DCA carrying it, not to the one
    // that declined it.
    s.assign(&d2.key, "+13125550170", &id).await.ok(201);
    let as_d2 = s.get("/v1/trace?tn=%2B13125550170", Some(&d2.key)).await.ok(200).to_string();
    let as_d1 = s.get("/v1/trace?tn=%2B13125550170", Some(&d1.key)).await.ok(200).to_string();
    assert!(as_d2.contains("46-4123456"), "{as_d2}");
    assert!(!as_d1.contains("46-4123456"), "{as_d1}");
    let sharing = c["sharing"].as_array().expect("sharing");
    assert!(sharing.iter().any(|x| x["upstreamCnpId"] == d2.id.as_str() && x["sharingStatus"] == "ACCEPTED"), "{c:#}");

    // Accepted: no more sharing, not even back to the first DCA.
    s.put_empty(&share(&d1.id), &csp.key).await.problem(409, "sharing-state");
    s.call(Method::POST, &format!("/v1/campaigns/{id}/sharing/{}/accept", d2.id), Some(&d2.key), None)
        .await
        .problem(409, "sharing-state");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspension_needs_a_reason_and_the_accepted_dca() {
    let s = Server::start();
    let st = s.accepted_campaign().await;
    let stranger = s.dca("Relay Partners Inc").await;
    let n = "+13125550100";
    s.assign(&st.dca.key, n, &st.campaign).await.ok(201);
    let suspend = format!("/v1/campaigns/{}/suspend", st.campaign);
    let resume = format!("/v1/campaigns/{}/resume", st.campaign);

    s.post(&suspend, &st.dca.key, &json!({})).await.problem_naming(422, "validation-failed", "reason");
    s.post(&suspend, &st.dca.key, &json!({"reason": "   "})).await.problem_naming(422, "validation-failed", "reason");
    s.post(&suspend, &st.csp.key, &json!({"reason": "we want to pause"})).await.problem(403, "forbidden");
    s.post(&suspend, &stranger.key, &json!({"reason": "spam"})).await.problem(404, "campaign-not-found");

    let c = s.post(&suspend, &st.dca.key, &json!({"reason": "spam complaints"})).await;
    let c = c.ok(200);
    assert_eq!(c["status"], "SUSPENDED");
    assert_eq!(c["statusReason"], "spam complaints");
    s.post(&suspend, &st.dca.key, &json!({"reason": "again"})).await.problem(409, "campaign-suspended");

    // Suspended: no assignments, no updates; the public sees the status.
    s.assign(&st.dca.key, "+13125550101", &st.campaign).await.problem(409, "campaign-suspended");
    s.assign(&s.admin, "+13125550101", &st.campaign).await.problem(409, "campaign-suspended");
    let mut upd = campaign_json(&st.brand);
    upd["description"] = json!("Appointment reminders, recall notices and monthly offers for Acme Dental patients.");
    s.put(&format!("/v1/campaigns/{}", st.campaign), &st.csp.key, &upd).await.problem(409, "campaign-suspended");
    assert_eq!(s.get(&format!("/v1/numbers/{n}"), None).await.ok(200)["campaignStatus"], "SUSPENDED");

    // Resume: the CSP may not, the administrator may.
    s.post(&resume, &st.csp.key, &json!({"reason": "fixed"})).await.problem(403, "forbidden");
    s.post(&resume, &s.admin, &json!({})).await.problem_naming(422, "validation-failed", "reason");
    let c = s.post(&resume, &s.admin, &json!({"reason": "complaints resolved"})).await;
    assert_eq!(c.ok(200)["status"], "ACTIVE");
    assert_eq!(s.get(&format!("/v1/numbers/{n}"), None).await.ok(200)["campaignStatus"], "ACTIVE");
    s.assign(&st.dca.key, "+13125550101", &st.campaign).await.ok(201);
    s.put(&format!("/v1/campaigns/{}", st.campaign), &st.csp.key, &upd).await.ok(200);

    // The administrator may suspend too.
    let c = s.post(&suspend, &s.admin, &json!({"reason": "operator review"})).await;
    assert_eq!(c.ok(200)["status"], "SUSPENDED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_campaign_expires_it_and_releases_its_numbers() {
    let s = Server::start();
    let st = s.accepted_campaign().await;
    let keep = s.second_campaign(&st).await;
    let numbers = ["+14045550100", "+14045550101"];
    for n in numbers {
        s.assign(&st.dca.key, n, &st.campaign).await.ok(201);
    }
    s.assign(&st.dca.key, "+14045550199", &keep).await.ok(201);
    assert_eq!(s.held_numbers().await, 3);
    let path = format!("/v1/campaigns/{}", st.campaign);

    s.delete(&path, &st.dca.key).await.problem(403, "forbidden");
    let c = s.call(Method::DELETE, &format!("{path}?reason=brand%20closed"), Some(&st.csp.key), None).await;
    let c = c.ok(200);
    assert_eq!(c["status"], "EXPIRED", "{c:#}");

    assert_eq!(s.held_numbers().await, 1);
    for n in numbers {
        s.get(&format!("/v1/numbers/{n}"), None).await.problem(404, "number-not-assigned");
        let h = s.history(n).await;
        let iv = &h["intervals"][0];
        assert!(iv["until"].is_string(), "the interval was not closed: {h:#}");
        assert_eq!(iv["releaseReason"], "campaign expired", "{h:#}");
        assert!(iv["releasedEvent"].is_u64(), "{h:#}");
    }
    assert_eq!(s.get("/v1/numbers/+14045550199", None).await.ok(200)["campaignId"], keep.as_str());

    // Expired is final.
    s.assign(&st.dca.key, "+14045550100", &st.campaign).await.problem(409, "campaign-expired");
    s.post(&format!("{path}/suspend"), &st.dca.key, &json!({"reason": "x"})).await.problem(409, "campaign-expired");
    s.put(&path, &st.csp.key, &campaign_json(&st.brand)).await.problem(409, "campaign-expired");
    assert_eq!(s.delete(&path, &st.csp.key).await.ok(200)["status"], "EXPIRED");
    // Its numbers are free for other campaigns.
    s.assign(&st.dca.key, "+14045550100", &keep).await.ok(201);
    let h = s.history("+14045550100").await;
    assert_eq!(h["intervals"].as_array().map(Vec::len), Some(2), "{h:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_is_only_as_good_as_its_brand() {
    let s = Server::start();
    let st = s.accepted_campaign().await;
    let other = s.second_campaign(&st).await;
    let n = "+13125550140";
    s.assign(&st.dca.key, n, &st.campaign).await.ok(201);
    let brand_path = format!("/v1/brands/{}", st.brand);
    let campaign_path = format!("/v1/campaigns/{}", st.campaign);

    // The CSP swaps the brand's identity under its accepted campaign: an EIN the IRS never
    // issued. Vetting makes the brand UNVERIFIED, and in the same transaction the campaign
    // is suspended by `system`: no traffic, no new numbers.
    let mut bad = brand_json();
    bad["ein"] = json!("00-0000000");
    let b = s.put(&brand_path, &st.csp.key, &bad).await.ok(200).clone();
    assert_eq!(b["identityStatus"], "UNVERIFIED", "{b:#}");
    let c = s.get(&campaign_path, Some(&st.csp.key)).await.ok(200).clone();
    assert_eq!(c["status"], "SUSPENDED", "{c:#}");
    let why = c["statusReason"].as_str().unwrap_or_default();
    assert!(why.contains(&st.brand) && why.contains("UNVERIFIED"), "{c:#}");
    assert_eq!(s.get(&format!("/v1/numbers/{n}"), None).await.ok(200)["campaignStatus"], "SUSPENDED");
    s.assign(&st.dca.key, "+13125550141", &st.campaign).await.problem(409, "campaign-suspended");
    // Its DCA cannot resume it while the brand does not qualify.
    let resume = format!("{campaign_path}/resume");
    let r = s.post(&resume, &st.dca.key, &json!({"reason": "looks fine"})).await;
    r.problem(409, "campaign-state");
    // Nor can the CSP take the numbers elsewhere: release and deactivation wait for the DCA.
    s.delete(&format!("/v1/numbers/{n}"), &st.csp.key).await.problem(409, "campaign-suspended");
    s.delete(&campaign_path, &st.csp.key).await.problem(409, "campaign-suspended");
    assert_eq!(s.get(&format!("/v1/numbers/{n}"), None).await.ok(200)["campaignId"], st.campaign.as_str());
    // Every campaign of the brand went the same way.
    let o = s.get(&format!("/v1/campaigns/{other}"), Some(&st.csp.key)).await.ok(200).clone();
    assert_eq!(o["status"], "SUSPENDED", "{o:#}");

    // The brand fixed, the DCA resumes it.
    s.put(&brand_path, &st.csp.key, &brand_json()).await.ok(200);
    let c = s.post(&resume, &st.dca.key, &json!({"reason": "EIN corrected"})).await;
    assert_eq!(c.ok(200)["status"], "ACTIVE");

    // A legal form changed to sole proprietor cannot keep a MARKETING campaign either.
    let mut sole = brand_json();
    sole["entityType"] = json!("SOLE_PROPRIETOR");
    sole["firstName"] = json!("Jane");
    sole["lastName"] = json!("Doe");
    sole["mobilePhone"] = json!("+14155550123");
    let b = s.put(&brand_path, &st.csp.key, &sole).await.ok(200).clone();
    assert_eq!(b["entityType"], "SOLE_PROPRIETOR", "{b:#}");
    let c = s.get(&campaign_path, Some(&st.csp.key)).await.ok(200).clone();
    assert_eq!(c["status"], "SUSPENDED", "{c:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csp_cannot_undo_its_dcas_suspensions() {
    let s = Server::start();
    let st = s.accepted_campaign().await;
    let other = s.second_campaign(&st).await;
    let n = "+13125550150";
    s.assign(&st.csp.key, n, &st.campaign).await.ok(201);
    let number = format!("/v1/numbers/{n}");

    // The DCA suspends one number: the CSP can neither release it (to assign it again, or to
    // another campaign) nor deactivate the campaign holding it.
    s.post(&format!("{number}/suspend"), &st.dca.key, &json!({"reason": "spam reports"})).await.ok(200);
    s.delete(&number, &st.csp.key).await.problem(409, "number-state");
    s.delete(&format!("/v1/campaigns/{}", st.campaign), &st.csp.key).await.problem(409, "number-state");
    s.assign(&st.csp.key, n, &other).await.problem(409, "number-held");
    let r = s.post(&format!("{number}/reinstate"), &st.dca.key, &json!({"reason": "cleared"})).await;
    r.ok(200);
    // The DCA can release it.
    s.post(&format!("{number}/suspend"), &st.dca.key, &json!({"reason": "again"})).await.ok(200);
    s.delete(&number, &st.dca.key).await.ok(204);

    // The DCA suspends the campaign: its numbers stay with it.
    s.assign(&st.csp.key, n, &st.campaign).await.ok(201);
    s.set_suspended(&st.dca.key, &st.campaign, true, "complaints").await.ok(200);
    s.delete(&number, &st.csp.key).await.problem(409, "campaign-suspended");
    s.delete(&format!("/v1/campaigns/{}", st.campaign), &st.csp.key).await.problem(409, "campaign-suspended");
    assert_eq!(s.get(&number, None).await.ok(200)["campaignId"], st.campaign.as_str());
    // The administrator may deactivate it.
    let c = s.call(Method::DELETE, &format!("/v1/campaigns/{}", st.campaign), Some(&s.admin), None).await;
    assert_eq!(c.ok(200)["status"], "EXPIRED");

    // Reasons are bounded like the others: they are recorded in the public history.
    s.assign(&st.csp.key, n, &other).await.ok(201);
    let long = "x".repeat(1025);
    let r = s.call(Method::DELETE, &format!("{number}?reason={long}"), Some(&st.csp.key), None).await;
    r.problem_naming(422, "validation-failed", "reason");
    let r = s.call(Method::DELETE, &format!("/v1/campaigns/{other}?reason={long}"), Some(&st.csp.key), None).await;
    r.problem_naming(422, "validation-failed", "reason");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_that_widens_a_campaign_goes_back_to_its_dca() {
    let s = Server::start();
    let st = s.accepted_campaign().await;
    let path = format!("/v1/campaigns/{}", st.campaign);
    s.assign(&st.csp.key, "+13125550160", &st.campaign).await.ok(201);

    // A change of wording keeps the acceptance.
    let mut wording = campaign_json(&st.brand);
    wording["description"] = json!("Appointment reminders and recall notices for the patients of Acme Dental clinics.");
    let c = s.put(&path, &st.csp.key, &wording).await.ok(200).clone();
    assert_eq!((&c["dcaId"], &c["sharing"][0]["sharingStatus"]), (&json!(st.dca.id), &json!("ACCEPTED")), "{c:#}");

    // Links and lending, which the DCA never accepted: the campaign is pending with it again,
    // and takes no numbers (and sends nothing) until the DCA accepts the new declaration.
    let mut wider = wording.clone();
    wider["embeddedLink"] = json!(true);
    wider["sample3"] = json!("Acme Dental: book at https://acmedental.com/book. Reply STOP to opt out.");
    wider["directLending"] = json!(true);
    let c = s.put(&path, &st.csp.key, &wider).await.ok(200).clone();
    assert!(c["dcaId"].is_null(), "{c:#}");
    assert_eq!(c["sharing"][0]["sharingStatus"], "PENDING", "{c:#}");
    s.assign(&st.csp.key, "+13125550161", &st.campaign).await.problem(409, "campaign-not-accepted");
    assert!(s.get("/v1/numbers/+13125550160", None).await.ok(200)["dcaId"].is_null());
    // While it reviews the change, the DCA keeps its enforcement: it suspends a number.
    let n = "/v1/numbers/+13125550160";
    s.post(&format!("{n}/suspend"), &st.dca.key, &json!({"reason": "spam reports"})).await.ok(200);
    s.delete(n, &st.csp.key).await.problem(409, "number-state");
    s.post(&format!("{n}/reinstate"), &st.dca.key, &json!({"reason": "cleared"})).await.ok(200);
    // The DCA still sees it, reviews it and accepts it.
    s.get(&path, Some(&st.dca.key)).await.ok(200);
    let c = s.accept(&st.dca, &st.campaign).await;
    assert_eq!(c["dcaId"], st.dca.id.as_str(), "{c:#}");
    s.assign(&st.csp.key, "+13125550161", &st.campaign).await.ok(201);

    // Turning a permission off needs no review.
    let c = s.put(&path, &st.csp.key, &wording).await.ok(200).clone();
    assert_eq!(c["sharing"][0]["sharingStatus"], "ACCEPTED", "{c:#}");

    // A campaign cannot escape its DCA's suspension through a review: the DCA suspends a
    // number, the CSP widens the campaign, the DCA declines it; no other DCA may take it while
    // it holds the suspended number.
    s.post(&format!("{n}/suspend"), &st.dca.key, &json!({"reason": "spam reports"})).await.ok(200);
    s.put(&path, &st.csp.key, &wider).await.ok(200);
    let decline = format!("{path}/sharing/{}/decline", st.dca.id);
    s.post(&decline, &st.dca.key, &json!({"reason": "no links for this brand"})).await.ok(200);
    let other = s.dca("Relay Partners Inc").await;
    let share = format!("{path}/sharing/{}", other.id);
    s.put_empty(&share, &st.csp.key).await.problem(409, "number-state");
}

/// The ids of a listing, following its `Link: <…>; rel="next"` headers from `first`.
async fn listed_ids(s: &Server, key: &str, first: &str, id_field: &str) -> (Vec<String>, usize) {
    let (mut ids, mut pages, mut path) = (Vec::new(), 0, Some(first.to_owned()));
    while let Some(p) = path.take() {
        let r = s.get(&p, Some(key)).await;
        pages += 1;
        assert!(pages < 50, "the pages never end at {p}");
        ids.extend(r.ok(200).as_array().expect("a list").iter().map(|c| c[id_field].as_str().expect("id").to_owned()));
        path = r.headers.get("link").map(|l| {
            let l = l.to_str().expect("ascii link");
            l.strip_prefix('<')
                .and_then(|l| l.strip_suffix(">; rel=\"next\""))
                .unwrap_or_else(|| panic!("not a next link: {l}"))
                .to_owned()
        });
    }
    (ids, pages)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn campaign_and_brand_lists_come_in_pages_and_filter_by_state_and_brand() {
    let s = Server::start();
    let st = s.accepted_campaign().await;
    let other_brand = s.verified_brand_with(&st.csp, &other_brand_json()).await;
    let mut all = vec![st.campaign.clone()];
    for i in 0..6 {
        let brand = if i % 2 == 0 { &st.brand } else { &other_brand };
        let c = s.marketing_campaign(&st.csp, brand).await;
        if i < 4 {
            s.share_and_accept(&st.csp, &c, &st.dca).await;
        }
        all.push(c);
    }
    // all[5] is shared with a second DCA, which declines it; all[6] is never shared.
    let dca2 = s.dca("Relay Partners Inc").await;
    s.share(&st.csp, &all[5], &dca2).await;
    s.post(&format!("/v1/campaigns/{}/sharing/{}/decline", all[5], dca2.id), &dca2.key, &json!({"reason": "no"}))
        .await
        .ok(200);
    s.set_suspended(&st.dca.key, &all[2], true, "complaints").await.ok(200);

    // Pages of 3 give the whole list, oldest first, each once, as without a limit.
    let (paged, pages) = listed_ids(&s, &st.csp.key, "/v1/campaigns?limit=3", "campaignId").await;
    assert_eq!(paged, all);
    assert_eq!(pages, 3);
    let (unpaged, pages) = listed_ids(&s, &st.csp.key, "/v1/campaigns", "campaignId").await;
    assert_eq!((unpaged, pages), (all.clone(), 1));
    // The DCA sees the five it carries; the declining DCA none; filters keep to the listing.
    let (dca_list, _) = listed_ids(&s, &st.dca.key, "/v1/campaigns?limit=2", "campaignId").await;
    assert_eq!(dca_list, all[..5]);
    let (declined, _) = listed_ids(&s, &dca2.key, "/v1/campaigns", "campaignId").await;
    assert!(declined.is_empty(), "{declined:?}");
    let (suspended, _) = listed_ids(&s, &st.dca.key, "/v1/campaigns?status=SUSPENDED&limit=1", "campaignId").await;
    assert_eq!(suspended, [all[2].clone()]);
    let (of_brand, pages) =
        listed_ids(&s, &st.csp.key, &format!("/v1/campaigns?brandId={other_brand}&limit=1"), "campaignId").await;
    assert_eq!(of_brand, [all[2].clone(), all[4].clone(), all[6].clone()]);
    assert_eq!(pages, 3, "each next link keeps the filter");
    let (after, _) =
        listed_ids(&s, &st.csp.key, &format!("/v1/campaigns?after={}&limit=2", all[4]), "campaignId").await;
    assert_eq!(after, all[5..]);

    // Brands page the same way; the DCA that declined sees no brand.
    let (brands, pages) = listed_ids(&s, &st.csp.key, "/v1/brands?limit=1", "brandId").await;
    assert_eq!((brands, pages), (vec![st.brand.clone(), other_brand.clone()], 2));
    let (verified, _) = listed_ids(&s, &st.dca.key, "/v1/brands?identityStatus=VERIFIED", "brandId").await;
    assert_eq!(verified.len(), 2);
    let (none, _) = listed_ids(&s, &dca2.key, "/v1/brands", "brandId").await;
    assert!(none.is_empty(), "{none:?}");

    // What the server cannot use is a 400 naming it; a cursor from another listing is one.
    let bad = |q: &str| format!("/v1/campaigns?{q}");
    let r = s.get(&bad("status=PAUSED"), Some(&st.csp.key)).await;
    r.problem(400, "invalid-query");
    assert!(r.json["detail"].as_str().is_some_and(|d| d.contains("ACTIVE, SUSPENDED, EXPIRED")), "{}", r.text);
    s.get(&bad("limit=0"), Some(&st.csp.key)).await.problem(400, "invalid-query");
    s.get(&bad("brandId=%00"), Some(&st.csp.key)).await.problem(400, "invalid-query");
    let r = s.get(&bad(&format!("after={}", all[6])), Some(&st.dca.key)).await;
    r.problem(400, "invalid-query");
    assert!(r.json["detail"].as_str().is_some_and(|d| d.contains("in this listing")), "{}", r.text);
    s.get("/v1/brands?identityStatus=verified", Some(&st.csp.key)).await.problem(400, "invalid-query");
}
