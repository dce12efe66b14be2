//! Number assignment, the public lookup (now and at an instant) and history.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assignment_is_idempotent_and_exclusive() {
    let s = Server::start();
    let st = s.accepted_campaign().await;
    let second = s.second_campaign(&st).await;
    let n = "+16175550100";

    let first = s.assign(&st.dca.key, n, &st.campaign).await.ok(201).clone();
    let again = s.assign(&st.dca.key, n, &st.campaign).await;
    assert_eq!(again.ok(200), &first, "assigning again must answer the same, unchanged");
    let h = s.history(n).await;
    assert_eq!(
        h["intervals"].as_array().map(Vec::len),
        Some(1),
        "a repeated assignment must not open an interval: {h:#}"
    );

    let r = s.assign(&st.dca.key, n, &second).await;
    r.problem(409, "number-held");
    assert!(r.json["detail"].as_str().is_some_and(|d| d.contains(&st.campaign)), "{}", r.text);
    assert_eq!(s.get(&format!("/v1/numbers/{n}"), None).await.ok(200)["campaignId"], st.campaign.as_str());
    assert_eq!(s.held_numbers().await, 1);

    // The administrator may assign as well; unknown campaigns are 404.
    s.assign(&s.admin, "+16175550101", &second).await.ok(201);
    s.assign(&st.dca.key, "+16175550102", "C0000000").await.problem(404, "campaign-not-found");
    // The body must name a campaign.
    let r = s.put(&format!("/v1/numbers/{n}"), &st.dca.key, &json!({})).await;
    r.problem_naming(422, "invalid-field", "campaignId");
    assert!(
        r.json["detail"].as_str().is_some_and(|d| d.contains("campaignId")),
        "the problem should name campaignId: {}",
        r.text
    );
    s.put(&format!("/v1/numbers/{n}"), &st.dca.key, &json!({"campaignId": "nope"})).await.problem_naming(
        422,
        "invalid-field",
        "campaignId",
    );

    // Release: only the campaign's CSP, DCA or the administrator; unknown numbers are 404.
    let other = s.csp("Bravo Texting LLC").await;
    s.delete(&format!("/v1/numbers/{n}"), &other.key).await.problem(403, "forbidden");
    s.delete("/v1/numbers/+16175550199", &st.dca.key).await.problem(404, "number-not-found");
    s.delete(&format!("/v1/numbers/{n}"), &st.csp.key).await.ok(204);
    s.assign(&st.dca.key, n, &second).await.ok(201);

    // Only 10DLC numbers: North American, +1 NPA NXX XXXX, no N11 or toll-free area code.
    for bad in ["+442071838750", "+1202555010", "+10005550100", "+12021550100", "+19115550100", "+18885550100"] {
        let r = s.assign(&st.dca.key, bad, &second).await;
        r.problem_naming(422, "validation-failed", "number");
    }
    let csv = format!("+442071838750,{second}\n+16175550150,{second}\n");
    let r =
        s.raw(Method::POST, "/v1/numbers/import", Some(&st.dca.key), Some("text/csv"), Some(csv.into_bytes())).await;
    let report = r.ok(200).clone();
    assert_eq!(report["accepted"], 1, "{report:#}");
    assert!(report["rejected"][0]["reason"].as_str().is_some_and(|why| why.contains("North American")), "{report:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csp_assigns_only_after_the_dca_accepted() {
    let s = Server::start();
    let csp = s.csp("Acme Messaging Inc").await;
    let dca = s.dca("Carrier Connect LLC").await;
    let brand = s.verified_brand(&csp).await;
    let id = s.marketing_campaign(&csp, &brand).await;
    let n = "+17185550100";

    s.assign(&csp.key, n, &id).await.problem(409, "campaign-not-accepted");
    s.share(&csp, &id, &dca).await;
    s.assign(&csp.key, n, &id).await.problem(409, "campaign-not-accepted");
    // A DCA that has not accepted does not carry the campaign.
    s.assign(&dca.key, n, &id).await.problem(404, "campaign-not-found");
    s.get(&format!("/v1/numbers/{n}"), None).await.problem(404, "number-not-assigned");

    s.accept(&dca, &id).await;
    let a = s.assign(&csp.key, n, &id).await;
    assert_eq!(a.ok(201)["dcaId"], dca.id.as_str());
    // Another CSP cannot use the campaign.
    let other = s.csp("Bravo Texting LLC").await;
    s.assign(&other.key, "+17185550101", &id).await.problem(404, "campaign-not-found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_lookup_needs_no_key_and_shows_nothing_of_the_brand() {
    let s = Server::start();
    let st = s.accepted_campaign().await;
    let n = "+12125550100";
    s.assign(&st.dca.key, n, &st.campaign).await.ok(201);
    let from = s.history(n).await["intervals"][0]["from"].as_str().expect("from").to_owned();

    let brand = brand_json();
    for path in [format!("/v1/numbers/{n}"), format!("/v1/numbers/{n}?at={from}"), format!("/v1/numbers/{n}/history")] {
        let r = s.get(&path, None).await;
        let body = r.ok(200);
        for key in ["ein", "companyName", "email", "brandId", "phone", "street", "website", "displayName"] {
            assert!(!has_key(body, key), "{path} shows the brand's `{key}`: {}", r.text);
        }
        for value in ["ein", "companyName", "email", "street", "phone"] {
            let v = brand[value].as_str().expect("string");
            assert!(!r.text.contains(v), "{path} leaks the brand's {value} `{v}`: {}", r.text);
        }
        assert!(!r.text.contains(&st.brand), "{path} names the brand: {}", r.text);
    }
    let body = s.get(&format!("/v1/numbers/{n}"), None).await.ok(200).clone();
    let keys: Vec<&str> = body.as_object().expect("object").keys().map(String::as_str).collect();
    for k in &keys {
        assert!(
            ["number", "campaignId", "campaignStatus", "dcaId", "throughputClass", "smsPerMinute", "numberSuspended"]
                .contains(k),
            "unexpected field {k} in {body}"
        );
    }
    // A key is not needed, and a bad one is not looked at.
    s.get(&format!("/v1/numbers/{n}"), Some("vouch_KXXXXXXX_nonsense")).await.ok(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookup_at_an_instant() {
    let s = Server::start();
    let st = s.accepted_campaign().await;
    let n = "+13035550100";
    let before = s.get(&format!("/v1/campaigns/{}", st.campaign), Some(&st.csp.key)).await.ok(200)["updateDate"]
        .as_str()
        .expect("updateDate")
        .to_owned();
    s.assign(&st.dca.key, n, &st.campaign).await.ok(201);
    let from = s.history(n).await["intervals"][0]["from"].as_str().expect("from").to_owned();
    assert!(before < from, "{before} should be before {from}");

    let at = |t: &str| format!("/v1/numbers/{n}?at={t}");
    s.get(&at(&before), None).await.problem(404, "number-not-assigned");
    s.get(&at("2001-01-01T00:00:00Z"), None).await.problem(404, "number-not-assigned");

    // While held.
    let during = s.get(&at(&from), None).await;
    let during = during.ok(200);
    assert_eq!(during["campaignId"], st.campaign.as_str());
    assert_eq!(during["heldSince"], from.as_str());
    assert_eq!(during["at"], from.as_str());
    assert_eq!(during["campaignStatus"], "ACTIVE");
    assert!(during.get("heldUntil").is_none(), "still held: {during}");

    // After the release, the interval is closed.
    s.call(Method::DELETE, &format!("/v1/numbers/{n}?reason=ported%20out"), Some(&st.dca.key), None).await.ok(204);
    let until = s.history(n).await["intervals"][0]["until"].as_str().expect("until").to_owned();
    let closed = s.get(&at(&from), None).await;
    let closed = closed.ok(200);
    assert_eq!(closed["heldSince"], from.as_str());
    assert_eq!(closed["heldUntil"], until.as_str());
    // The end is exclusive, and later instants find nothing.
    s.get(&at(&until), None).await.problem(404, "number-not-assigned");
    s.get(&at("2999-01-01T00:00:00Z"), None).await.problem(404, "number-not-assigned");

    s.get(&at("garbage"), None).await.problem(400, "invalid-at");
    s.get(&at("2024-13-45T99:00:00Z"), None).await.problem(400, "invalid-at");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_lists_intervals_in_order_across_reassignment() {
    let s = Server::start();
    let a = s.accepted_campaign().await;
    // A second CSP, DCA and campaign.
    let csp2 = s.csp("Bravo Texting LLC").await;
    let dca2 = s.dca("Relay Partners Inc").await;
    let brand2 = s.verified_brand_with(&csp2, &other_brand_json()).await;
    let c2 = s.marketing_campaign(&csp2, &brand2).await;
    s.share_and_accept(&csp2, &c2, &dca2).await;
    let n = "+14155550111";

    assert_eq!(s.history(n).await["intervals"], json!([]), "no history yet");
    s.assign(&a.dca.key, n, &a.campaign).await.ok(201);
    s.assign(&dca2.key, n, &c2).await.problem(409, "number-held");
    s.call(Method::DELETE, &format!("/v1/numbers/{n}?reason=ported"), Some(&a.dca.key), None).await.ok(204);
    s.assign(&dca2.key, n, &c2).await.ok(201);
    s.call(Method::DELETE, &format!("/v1/numbers/{n}"), Some(&csp2.key), None).await.ok(204);
    s.assign(&a.dca.key, n, &a.campaign).await.ok(201);

    let h = s.history(n).await;
    let iv = h["intervals"].as_array().expect("intervals");
    assert_eq!(iv.len(), 3, "{h:#}");
    let campaigns: Vec<&str> = iv.iter().map(|i| i["campaignId"].as_str().unwrap_or("?")).collect();
    assert_eq!(campaigns, [a.campaign.as_str(), c2.as_str(), a.campaign.as_str()]);
    let dcas: Vec<&str> = iv.iter().map(|i| i["dcaId"].as_str().unwrap_or("?")).collect();
    assert_eq!(dcas, [a.dca.id.as_str(), dca2.id.as_str(), a.dca.id.as_str()]);
    assert_eq!(iv[0]["releaseReason"], "ported");
    assert!(iv[1].get("releaseReason").is_none(), "{h:#}");
    assert!(iv[2].get("until").is_none() && iv[2].get("releasedEvent").is_none(), "the last interval is open: {h:#}");
    for w in iv.windows(2) {
        let (prev, next) = (&w[0], &w[1]);
        let until = prev["until"].as_str().expect("closed interval");
        let from = next["from"].as_str().expect("from");
        assert!(prev["from"].as_str() <= Some(until) && until <= from, "intervals overlap or are out of order: {h:#}");
        assert!(prev["releasedEvent"].as_u64() < next["assignedEvent"].as_u64(), "{h:#}");
    }

    // The point-in-time answer follows the history.
    let mid = iv[1]["from"].as_str().expect("from");
    let r = s.get(&format!("/v1/numbers/{n}?at={mid}"), None).await;
    let r = r.ok(200);
    assert_eq!(r["campaignId"], c2.as_str());
    assert_eq!(r["dcaId"], dca2.id.as_str());
    assert_eq!(r["heldUntil"], iv[1]["until"]);
    assert_eq!(s.get(&format!("/v1/numbers/{n}"), None).await.ok(200)["campaignId"], a.campaign.as_str());
}

/// Follows `GET /v1/campaigns/{campaign}/numbers` page by page through its `Link` headers.
async fn all_pages(s: &Server, key: &str, first: &str) -> (Vec<String>, usize) {
    let (mut numbers, mut pages, mut path) = (Vec::new(), 0, first.to_owned());
    loop {
        let r = s.get(&path, Some(key)).await;
        let page = r.ok(200).clone();
        pages += 1;
        assert!(pages < 100, "the pages never end: {page:#}");
        let got: Vec<String> = page["numbers"]
            .as_array()
            .expect("numbers")
            .iter()
            .map(|n| n["number"].as_str().expect("number").to_owned())
            .collect();
        numbers.extend(got.iter().cloned());
        let link = r.headers.get("link").map(|l| l.to_str().expect("ascii link").to_owned());
        match (&page["next"], link) {
            (serde_json::Value::Null, None) => return (numbers, pages),
            (serde_json::Value::String(next), Some(link)) => {
                assert_eq!(Some(next.as_str()), got.last().map(String::as_str), "next is the page's last number");
                let target = link
                    .strip_prefix('<')
                    .and_then(|l| l.split_once(">; rel=\"next\""))
                    .map(|(t, _)| t.to_owned())
                    .unwrap_or_else(|| panic!("not a next link: {link}"));
                assert!(target.contains(&format!("after={}", next.replace('+', "%2B"))), "{target}");
                path = target;
            }
            (next, link) => panic!("next {next} and Link {link:?} disagree"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaigns_numbers_are_listed_in_pages_and_exported_as_an_importable_csv() {
    let s = Server::start();
    let st = s.accepted_campaign().await;
    let second = s.second_campaign(&st).await;
    // Assigned out of order, with another campaign's numbers in between.
    let mut mine: Vec<String> = (0..25).rev().map(|i| format!("+1617555{:04}", 100 + i * 7)).collect();
    for (i, n) in mine.iter().enumerate() {
        s.assign(&st.dca.key, n, &st.campaign).await.ok(201);
        if i % 8 == 0 {
            s.assign(&st.dca.key, &format!("+1617555{:04}", 101 + i * 7), &second).await.ok(201);
        }
    }
    mine.sort();
    let base = format!("/v1/campaigns/{}/numbers", st.campaign);

    // Pages of 10: every number once, ascending, then no next page.
    let (listed, pages) = all_pages(&s, &st.csp.key, &format!("{base}?limit=10")).await;
    assert_eq!(listed, mine);
    assert_eq!(pages, 3);
    let first = s.get(&format!("{base}?limit=10"), Some(&st.csp.key)).await.ok(200).clone();
    assert_eq!(first["total"], 25);
    assert_eq!(first["campaignStatus"], "ACTIVE");
    assert_eq!(first["dcaId"], st.dca.id.as_str());
    // The default page holds them all; its DCA reads them too.
    let (listed, pages) = all_pages(&s, &st.dca.key, &base).await;
    assert_eq!((listed.len(), pages), (25, 1));

    // A number suspended on its own says so; a released one is gone.
    s.post(&format!("/v1/numbers/{}/suspend", mine[3]), &st.dca.key, &json!({ "reason": "spam reports" }))
        .await
        .ok(200);
    s.delete(&format!("/v1/numbers/{}", mine[0]), &st.csp.key).await.ok(204);
    let page = s.get(&base, Some(&st.csp.key)).await.ok(200).clone();
    assert_eq!(page["total"], 24);
    let rows = page["numbers"].as_array().expect("numbers");
    assert_eq!(rows[0]["number"], mine[1].as_str());
    let suspended: Vec<&str> =
        rows.iter().filter(|r| r["suspended"] == true).map(|r| r["number"].as_str().expect("number")).collect();
    assert_eq!(suspended, [mine[3].as_str()]);
    let after = s.get(&format!("{base}?after=%2B{}&limit=2", &mine[20][1..]), Some(&st.csp.key)).await;
    let after_numbers: Vec<&str> = after.ok(200)["numbers"]
        .as_array()
        .expect("numbers")
        .iter()
        .map(|r| r["number"].as_str().expect("n"))
        .collect();
    assert_eq!(after_numbers, [mine[21].as_str(), mine[22].as_str()]);

    // Nobody else reads them; nonsense is a 400 in the protocol's own terms.
    let stranger = s.csp("Stranger Texts LLC").await;
    s.get(&base, Some(&stranger.key)).await.problem(404, "campaign-not-found");
    s.get(&format!("{base}?limit=0"), Some(&st.csp.key)).await.problem(400, "invalid-query");
    s.get(&format!("{base}?after=tomorrow"), Some(&st.csp.key)).await.problem(400, "invalid-query");
    s.get(&format!("{base}?limit=-3"), Some(&st.csp.key)).await.problem(400, "invalid-query");
    s.get("/v1/campaigns/nonsense/numbers", Some(&st.csp.key)).await.problem(400, "invalid-campaign-id");

    // `vouch export numbers` writes what `vouch import numbers` reads: importing it again
    // changes nothing.
    let out = s.scratch_file("export.csv");
    let r = run(
        {
            let mut c = vouch(&s.scratch);
            c.args(["export", "numbers", &st.campaign, "--page", "7", "--server", &s.base, "--api-key", &st.csp.key])
                .arg("--out")
                .arg(&out);
            c
        },
        Duration::from_secs(30),
    );
    assert!(r.status.success(), "export failed: {}", r.stderr);
    assert!(r.stderr.contains("exported 24 numbers"), "{}", r.stderr);
    let csv = std::fs::read_to_string(&out).expect("the export");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "number,campaignId,dca");
    assert_eq!(lines.len(), 25, "{csv}");
    assert_eq!(lines[1], format!("{},{},{}", mine[1], st.campaign, st.dca.id));
    let mut import = vouch(&s.scratch);
    import.args(["import", "numbers"]).arg(&out).args(["--server", &s.base, "--api-key", &st.dca.key]);
    let r = run(import, Duration::from_secs(30));
    assert!(r.status.success(), "re-import failed: {}", r.stderr);
    let said = format!("{}{}", r.stdout, r.stderr);
    assert!(said.contains(": 0 assigned, 24 already assigned, 0 rejected"), "{said}");
    // An export that cannot be made leaves no file and says why.
    let missing = s.scratch_file("missing.csv");
    let mut c = vouch(&s.scratch);
    c.args(["export", "numbers", "C0000000", "--server", &s.base, "--api-key", &st.csp.key]).arg("--out").arg(&missing);
    let r = run(c, Duration::from_secs(30));
    assert!(!r.status.success());
    assert!(r.stderr.contains("404 Not Found: campaign C0000000 does not exist"), "{}", r.stderr);
    assert!(!missing.exists());
}
