//! The web console (issue 10, docs/CONSOLE.md) end to end in headless Chromium against a real
//! `vouch serve`: a CSP signs in, registers a brand through the form (a validation message
//! first), sees it fail vetting in red and fixes it with "Edit and re-vet", creates a campaign
//! and shares it; the DCA reviews it in its queue and accepts it, suspends and reinstates it,
//! and declines a second one with a reason; the CSP assigns a number, imports two from a CSV
//! file and releases one with a reason; the analyst sees the numbers' timelines and traces
//! (at a typed instant, kept when only the number changes); the log page pins the log's key,
//! proves consistency with the tree it accepted before and raises a forged one; a revoked key
//! and a stopped server are named as such. A screenshot of each main page goes to
//! `target/console-screenshots/`.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use crate::browser::Browser;
use crate::harness::{LOOPBACK_WEBHOOKS, Server, serve_command};
use crate::smpp::{Esme, Smsc, announced_port};
use crate::stir_http::provider;

fn shots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Audits the page's accessibility (no problem allowed) and saves its screenshot as `<name>.png`.
async fn shoot(b: &Browser, shots: &std::path::Path, name: &str) {
    let problems = b.accessibility_problems().await;
    assert!(problems.is_empty(), "the {name} page: {problems:#?}");
    b.screenshot(shots.join(format!("{name}.png"))).await;
}

async fn sign_in(b: &Browser, base: &str, key: &str) {
    b.goto(&format!("{base}/console/#/signin")).await;
    b.type_into("input[name=apiKey]", key).await;
    b.click("form[aria-label='Sign in'] button[type=submit]").await;
    b.wait_for_text("#who", "Signed in as").await;
}

async fn sign_out(b: &Browser) {
    b.click("#who button").await;
    b.find("input[name=apiKey]").await;
}

/// Clicks the button labelled `label` in the queue's row of `campaign`.
async fn click_in_row(b: &Browser, campaign: &str, label: &str) {
    let clicked = b
        .execute(
            "const row = document.querySelector(`tr[data-campaign='${arguments[0]}']`);
             const button = row && [...row.querySelectorAll('button')].find((x) => x.textContent === arguments[1]);
             if (!button) return false; button.click(); return true;",
            vec![serde_json::json!(campaign), serde_json::json!(label)],
        )
        .await;
    assert_eq!(clicked, true, "no {label} button in the row of {campaign}");
}

/// `[text, class]` of each severity pill of the vetting card's findings (those that did not pass).
async fn finding_pills(b: &Browser) -> Vec<(String, String)> {
    let v = b
        .execute(
            "return [...document.querySelectorAll('#vetting ul.findings > li > .pill')].map((p) => [p.textContent, p.className]);",
            vec![],
        )
        .await;
    serde_json::from_value(v).unwrap()
}

/// The browser's kept log audit state (`vouch-log-audit` in localStorage).
async fn audit_state(b: &Browser) -> serde_json::Value {
    let v = b.execute("return localStorage.getItem('vouch-log-audit');", vec![]).await;
    serde_json::from_str(v.as_str().expect("no audit state in localStorage")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_csp_registers_dca_accepts_number_timeline_trace_and_log() {
    let mut s = Server::start();
    let csp = provider(&s, "Acme Messaging Inc", &["csp"], None, None).await;
    let dca = provider(&s, "Carrier Connect LLC", &["dca"], Some("0012345678"), None).await;
    let b = Browser::start().await;
    let shots = shots();

    // Sign-in: labelled, reachable by keyboard; a wrong key is refused in place.
    b.goto(&format!("{}/console/", s.base)).await;
    b.find("input[name=apiKey]").await;
    // The view takes focus when it renders; Tab walks its labelled controls in order.
    b.press_tab().await;
    assert_eq!(b.active_element_label().await, "API key");
    b.press_tab().await;
    assert_eq!(b.active_element_label().await, "Sign in");
    shoot(&b, &shots, "signin").await;
    b.type_into("input[name=apiKey]", "vouch_nope_nope").await;
    b.click("form[aria-label='Sign in'] button[type=submit]").await;
    b.find("#status .msg.bad").await;
    assert!(b.current_url().await.contains("#/signin"));
    sign_in(&b, &s.base, &csp.key).await;
    b.wait_for_url_contains("#/brands").await;
    assert!(b.text("#who").await.contains("Acme Messaging Inc"));
    // Traces are not for CSPs (the API answers them 403): no tab, and the page is not drawn.
    assert!(b.find_all("nav a[href='#/trace']").await.is_empty(), "a CSP has a Trace tab");
    b.goto(&format!("{}/console/#/trace?number=%2B12025550123", s.base)).await;
    b.wait_for_url_contains("#/brands").await;
    b.wait_for_text("#status", "not for your role").await;

    // Brand: without the EIN a private company is refused with the message next to the field;
    // with an EIN the IRS never issued it registers but fails vetting (BLOCKING, in red).
    let brand = [
        ("displayName", "Acme Dental"),
        ("companyName", "Acme Dental Group LLC"),
        ("phone", "+14155550100"),
        ("email", "ops@acmedental.com"),
        ("website", "https://acmedental.com"),
        ("street", "1 Main St"),
        ("city", "San Francisco"),
        ("state", "CA"),
        ("postalCode", "94105"),
    ];
    for (name, value) in brand {
        b.type_into(&format!("form[aria-label='Register a brand'] [name={name}]"), value).await;
    }
    b.select("form[aria-label='Register a brand'] [name=entityType]", "PRIVATE_PROFIT").await;
    b.select("form[aria-label='Register a brand'] [name=vertical]", "HEALTHCARE").await;
    b.click("form[aria-label='Register a brand'] button[type=submit]").await;
    b.find("[name=ein][aria-invalid=true]").await;
    let err = b.text("[data-error-for=ein]").await;
    assert!(!err.is_empty(), "no message next to the EIN field");
    b.type_into("form[aria-label='Register a brand'] [name=ein]", "00-1234567").await;
    b.click("form[aria-label='Register a brand'] button[type=submit]").await;
    b.wait_for_text("#vetting", "UNVERIFIED").await;
    assert_eq!(b.text("[data-error-for=ein]").await, "", "the fixed field still shows its error");
    assert_eq!(b.text("#vetting h2 .pill.bad").await, "UNVERIFIED", "UNVERIFIED is not shown as bad");
    // Under "Findings" only what did not pass, each with its severity's colour and its points;
    // the passed checks are folded away, with their points too.
    let pills = finding_pills(&b).await;
    assert!(pills.contains(&("BLOCKING".into(), "pill bad".into())), "{pills:?}");
    assert!(pills.iter().all(|(t, c)| t != "PASS" && !c.contains("ok")), "{pills:?}");
    let found = b.text("#vetting ul.findings").await;
    assert!(
        found.contains("EIN_PREFIX_INVALID") && found.contains("(0 points)") && found.contains("How to fix"),
        "{found}"
    );
    let passed = b.execute("return document.querySelector('#vetting details.passed').textContent;", vec![]).await;
    let passed = passed.as_str().unwrap();
    assert!(
        passed.contains("checks passed") && passed.contains("WEBSITE_VALID") && passed.contains("+10 points"),
        "{passed}"
    );
    assert_eq!(b.text("#brand-list td .pill.bad").await, "UNVERIFIED");

    // Edit and re-vet: the form comes filled from the brand, the finding beside its field; the
    // fixed EIN vets VERIFIED (green), the other fields kept.
    b.click("button[aria-label^='Edit and re-vet brand']").await;
    let edit = "form[aria-label^='Edit brand']";
    b.find(&format!("{edit} [name=ein][aria-invalid=true]")).await;
    let filled = b
        .execute(
            "const f = document.querySelector(arguments[0]);
             return [f.ein.value, f.displayName.value, f.website.value, f.vertical.value];",
            vec![serde_json::json!(edit)],
        )
        .await;
    assert_eq!(filled, serde_json::json!(["00-1234567", "Acme Dental", "https://acmedental.com", "HEALTHCARE"]));
    assert!(b.text(&format!("{edit} [data-error-for=ein]")).await.contains("EIN_PREFIX_INVALID"));
    shoot(&b, &shots, "brand-edit").await;
    b.type_into(&format!("{edit} [name=ein]"), "46-4123456").await;
    b.click(&format!("{edit} button[type=submit]")).await;
    b.wait_for_text("#status", "updated and vetted again: VERIFIED").await;
    assert_eq!(b.text("#vetting h2 .pill.ok").await, "VERIFIED");
    b.wait_for_text("#brand-list", "VERIFIED").await;
    let brands = s.get("/v1/brands", Some(&csp.key)).await.ok(200).clone();
    assert_eq!(brands.as_array().unwrap().len(), 1, "{brands}");
    let brand_id = brands[0]["brandId"].as_str().unwrap().to_owned();
    assert_eq!(brands[0]["identityStatus"], "VERIFIED", "{brands}");
    assert_eq!(brands[0]["companyName"], "Acme Dental Group LLC", "{brands}");
    assert_eq!(brands[0]["postalCode"], "94105", "{brands}");
    // Re-vet on its own: the same outcome, nothing left to fix.
    b.click(&format!("button[aria-label='Re-vet brand {brand_id}']")).await;
    b.wait_for_text("#status", "vetted again: VERIFIED").await;
    b.wait_for_text("#vetting", "Nothing to fix").await;
    assert!(finding_pills(&b).await.is_empty());
    shoot(&b, &shots, "brands").await;

    // Log, first visit: the browser pins the log's key, checks the checkpoint's signature and
    // keeps the tree it accepted.
    b.click("nav a[href='#/log']").await;
    b.wait_for_text("#audit", "key pinned on first use").await;
    let audit = b.text("#audit").await;
    assert!(audit.contains("signature verified") && audit.contains("consistent"), "{audit}");
    let first = audit_state(&b).await;
    let first_size = first["size"].as_u64().unwrap();
    assert!(first_size > 0 && first["root"].as_str().unwrap().len() == 44, "{first}");
    let key = s.get("/log/key", None).await.text.clone();
    assert_eq!(first["key"].as_str().unwrap(), key.trim(), "the pinned key is not the log's");

    // Campaign: use-case guidance beside the form; created, then shared with the DCA. Its
    // description carries markup, which must stay text wherever it is shown.
    b.click("nav a[href='#/campaigns']").await;
    b.wait_for_text("#usecase-guidance", "MARKETING").await;
    b.select("form[aria-label='Create a campaign'] [name=usecase]", "ACCOUNT_NOTIFICATION").await;
    b.wait_for_text("#usecase-guidance", "account").await;
    b.select("form[aria-label='Create a campaign'] [name=usecase]", "MARKETING").await;
    let description = "Appointment reminders and monthly offers for Acme Dental patients, <b>list 1</b>.";
    let campaign = [
        ("description", description),
        ("messageFlow", "Patients tick an unticked SMS consent box on the booking form at acmedental.com/book."),
        ("sample1", "Acme Dental: 20% off whitening this month. Reply STOP to opt out."),
        ("sample2", "Acme Dental: your cleaning is due, book online. Reply STOP to opt out."),
        ("optoutMessage", "Acme Dental: you are unsubscribed and will get no more messages."),
        ("helpMessage", "Acme Dental: help at support@acmedental.com or +14155550100."),
    ];
    for (name, value) in campaign {
        b.type_into(&format!("form[aria-label='Create a campaign'] [name={name}]"), value).await;
    }
    b.click("form[aria-label='Create a campaign'] button[type=submit]").await;
    let status = b.wait_for_text("#status", "created").await;
    let campaign_id = status.split_whitespace().nth(1).unwrap().to_owned();
    b.wait_for_text("main table", &campaign_id).await;
    b.click("main table button").await;
    b.wait_for_text("#status", "shared with Carrier Connect LLC").await;
    b.wait_for_text("main table", "PENDING").await;
    shoot(&b, &shots, "campaigns").await;

    // DCA: reviews the campaign (its brand's vetting, texts and flags), accepts it from the
    // queue; the gateway page answers.
    sign_out(&b).await;
    sign_in(&b, &s.base, &dca.key).await;
    b.wait_for_url_contains("#/queue").await;
    b.wait_for_text("main table", &campaign_id).await;
    b.click(&format!("button[aria-label='Review campaign {campaign_id}']")).await;
    let review = b.wait_for_text("tr.detail", "Vetting findings").await;
    for needle in [
        "Acme Dental",
        "Acme Dental Group LLC",
        "VERIFIED",
        "Nothing to fix",
        description,
        "booking form at acmedental.com/book",
        "20% off whitening this month",
        "keywords STOP: Acme Dental: you are unsubscribed",
        "keywords HELP: Acme Dental: help at",
        "Subscribers opt in: yes",
        "Messages contain links: no",
        "Age-gated content: no",
    ] {
        assert!(review.contains(needle), "the review lacks {needle:?}:\n{review}");
    }
    assert!(b.find_all("tr.detail b").await.is_empty(), "registry text was drawn as markup");
    let expanded = b
        .execute(&format!("return document.querySelector(\"button[aria-label='Review campaign {campaign_id}']\").getAttribute('aria-expanded');"), vec![])
        .await;
    assert_eq!(expanded, "true");
    shoot(&b, &shots, "queue-review").await;
    click_in_row(&b, &campaign_id, "Accept").await;
    b.wait_for_text("#status", "accepted").await;
    b.wait_for_text("main table", "ACCEPTED").await;
    // Suspend with a reason, then reinstate: each is an event with its reason.
    b.type_into("main table input", "complaints about opt-out").await;
    click_in_row(&b, &campaign_id, "Suspend").await;
    b.wait_for_text("main table", "SUSPENDED").await;
    b.type_into("main table input", "CSP fixed the opt-out flow").await;
    click_in_row(&b, &campaign_id, "Reinstate").await;
    b.wait_for_text("#status", "reinstated").await;
    b.wait_for_text("main table", "ACTIVE").await;
    let events = s.get("/v1/events", Some(&s.admin)).await.ok(200).to_string();
    assert!(events.contains("complaints about opt-out") && events.contains("CSP fixed the opt-out flow"), "{events}");
    // A second campaign of the brand, shared through the API, is declined from the queue with a
    // reason; the first stays as it was.
    let second = s.marketing_campaign(&csp, &brand_id).await;
    s.share(&csp, &second, &dca).await;
    b.click("nav a[href='#/gateway']").await;
    b.wait_for_text("main h1", "Gateway").await;
    b.click("nav a[href='#/queue']").await;
    b.wait_for_text("main table", &second).await;
    b.type_into(&format!("input[aria-label='Reason for campaign {second}']"), "no opt-in evidence for list 2").await;
    click_in_row(&b, &second, "Decline").await;
    b.wait_for_text("#status", &format!("Campaign {second} declined")).await;
    // Declined, the campaign leaves the DCA's queue: a DCA that declined sees it no more.
    let mut queue = b.text("main table").await;
    for _ in 0..50 {
        if !queue.contains(&second) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        queue = b.text("main table").await;
    }
    assert!(!queue.contains(&second) && queue.contains(&campaign_id), "{queue}");
    let declined = s.get(&format!("/v1/campaigns/{second}"), Some(&csp.key)).await.ok(200).to_string();
    assert!(declined.contains("DECLINED"), "{declined}");
    let events = s.get("/v1/events", Some(&s.admin)).await.ok(200).to_string();
    assert!(events.contains("no opt-in evidence for list 2"), "the decline's reason is not in the events");
    let first_now = s.get(&format!("/v1/campaigns/{campaign_id}"), Some(&csp.key)).await.ok(200).clone();
    assert_eq!(first_now["status"], "ACTIVE", "{first_now}");
    shoot(&b, &shots, "queue").await;
    b.click("nav a[href='#/gateway']").await;
    b.find("main h1").await;
    b.wait_for_text("main", "Messages decided per minute").await;
    shoot(&b, &shots, "gateway").await;

    // CSP: one number through the form, two through a CSV upload with progress.
    sign_out(&b).await;
    sign_in(&b, &s.base, &csp.key).await;
    b.click("nav a[href='#/numbers']").await;
    b.type_into("form[aria-label='Assign a number'] [name=number]", "+12025550123").await;
    b.select("form[aria-label='Assign a number'] [name=campaignId]", &campaign_id).await;
    b.click("form[aria-label='Assign a number'] button[type=submit]").await;
    b.wait_for_text("#status", "+12025550123 assigned").await;
    let csv = b.dir().join("numbers.csv");
    std::fs::write(&csv, format!("+12025550124,{campaign_id},{}\n+12025550125,{campaign_id},{}\n", dca.id, dca.id))
        .unwrap();
    b.set_file("form[aria-label='Import numbers from CSV'] [name=file]", &csv).await;
    b.click("form[aria-label='Import numbers from CSV'] button[type=submit]").await;
    b.wait_for_text("#status", "2 accepted").await;
    let progress = b.execute("return document.querySelector('progress').value", vec![]).await;
    assert_eq!(progress, 100);
    // One of them released through the form (a second after its import, so that a whole second
    // of its holding can be traced below): the release asks for a reason, which the history keeps.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    b.type_into("form[aria-label='Assign a number'] [name=number]", "+12025550125").await;
    b.click("#release").await;
    b.find("form[aria-label='Assign a number'] [name=reason][aria-invalid=true]").await;
    b.wait_for_text("#status", "needs a reason").await;
    b.type_into("form[aria-label='Assign a number'] [name=reason]", "customer moved to a rival").await;
    b.click("#release").await;
    b.wait_for_text("#status", "+12025550125 released").await;
    let history = s.get("/v1/numbers/%2B12025550125/history", Some(&csp.key)).await.ok(200).clone();
    assert!(history["intervals"][0]["until"].is_string(), "{history}");
    assert_eq!(history["intervals"][0]["releaseReason"], "customer moved to a rival", "{history}");
    let held_from: jiff::Timestamp = history["intervals"][0]["from"].as_str().unwrap().parse().unwrap();
    // The campaign's numbers now: the two it still holds, each linked to its history.
    b.select("form[aria-label='Numbers a campaign holds'] [name=campaignId]", &campaign_id).await;
    b.click("form[aria-label='Numbers a campaign holds'] button[type=submit]").await;
    let caption = b.wait_for_text("#held-numbers caption", "2 of 2 numbers").await;
    assert!(caption.contains(&campaign_id), "{caption}");
    let held = b.text("#held-numbers tbody").await;
    assert!(held.contains("+12025550123") && held.contains("+12025550124") && !held.contains("+12025550125"), "{held}");
    shoot(&b, &shots, "numbers").await;
    // The number goes to a third campaign of the brand (through the API): it has a current
    // holder other than the one at the instant traced below.
    let third = s.marketing_campaign(&csp, &brand_id).await;
    s.share_and_accept(&csp, &third, &dca).await;
    s.assign(&csp.key, "+12025550125", &third).await.ok(201);

    // Analyst (the DCA, with a second key revoked at the end): the number's timeline names the
    // brand; the trace cites events with proofs.
    sign_out(&b).await;
    let key2 =
        s.post(&format!("/v1/providers/{}/keys", dca.id), &s.admin, &serde_json::json!({})).await.ok(201).clone();
    sign_in(&b, &s.base, key2["apiKey"].as_str().unwrap()).await;
    assert_eq!(b.find_all("nav a[href='#/trace']").await.len(), 1, "a DCA has no Trace tab");
    b.goto(&format!("{}/console/#/history?number=%2B12025550123", s.base)).await;
    b.find("#timeline").await;
    let aria = b.execute("return document.querySelector('#timeline').getAttribute('aria-label')", vec![]).await;
    assert!(aria.as_str().unwrap().contains("Acme Dental"), "{aria}");
    b.wait_for_text("main table", &campaign_id).await;
    let until =
        b.execute("return document.querySelector('main table tbody tr td:nth-child(5)').textContent", vec![]).await;
    assert_eq!(until, "now", "+12025550123 is still held");
    shoot(&b, &shots, "history").await;
    b.goto(&format!("{}/console/#/history?number=%2B12025550125", s.base)).await;
    b.wait_for_text("main table", &third).await;
    let row = b
        .execute(
            "const row = [...document.querySelectorAll('main table tbody tr')].find((r) => r.cells[0].textContent === arguments[0]);
             return row ? [row.cells[4].textContent, row.cells[5].textContent] : null;",
            vec![serde_json::json!(campaign_id)],
        )
        .await;
    let until = row[0].as_str().unwrap_or_default();
    assert!(until != "now" && until.starts_with("20"), "the released number's interval: {row}");
    assert_eq!(row[1], "customer moved to a rival", "{row}");
    b.click("nav a[href='#/trace']").await;
    b.type_into("form[aria-label='Trace a number'] [name=number]", "+12025550123").await;
    b.click("form[aria-label='Trace a number'] button[type=submit]").await;
    b.wait_for_text("main", "Evidence chain").await;
    b.wait_for_text("main", "Acme Dental").await;
    let proofs = b.find_all("main table a").await;
    assert!(!proofs.is_empty(), "no proof links in the evidence chain");
    shoot(&b, &shots, "trace").await;
    // An instant typed into the field is traced; changing only the number afterwards traces the
    // new number at that same instant (not at "now"). The instant: a whole second while
    // +12025550125 was still with the first campaign.
    let instant = jiff::Timestamp::from_second(held_from.as_second() + 1).unwrap();
    let typed = b
        .execute(
            "const d = new Date(arguments[0]);
             const el = document.querySelector(\"form[aria-label='Trace a number'] [name=at]\");
             el.value = new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 19);
             el.dispatchEvent(new Event('input', { bubbles: true }));
             el.dispatchEvent(new Event('change', { bubbles: true }));
             return 'at=' + encodeURIComponent(d.toISOString());",
            vec![serde_json::json!(instant.to_string())],
        )
        .await;
    let typed = typed.as_str().unwrap().to_owned();
    b.click("form[aria-label='Trace a number'] button[type=submit]").await;
    b.wait_for_url_contains(&typed).await;
    b.wait_for_text("section[aria-label=Holder]", &instant.strftime("%H:%M:%S").to_string()).await;
    b.type_into("form[aria-label='Trace a number'] [name=number]", "+12025550125").await;
    b.click("form[aria-label='Trace a number'] button[type=submit]").await;
    let url = b.wait_for_url_contains("number=%2B12025550125").await;
    assert!(url.contains(&typed), "changing the number alone moved the instant: {url}");
    let holder = b.wait_for_text("section[aria-label=Holder]", "+12025550125 at").await;
    assert!(holder.contains(&campaign_id), "{holder}");
    assert!(!holder.contains("Nobody held"), "{holder}");
    let current = b.text("#current-holder").await;
    assert!(current.contains("Held now by another campaign") && current.contains(&third), "{current}");
    // A report filed through the API, traced from the console by its id.
    let body = serde_json::json!({ "channel": "sms", "number": "+12025550123", "category": "spam",
        "content": "WIN a FREE cruise", "at": jiff::Timestamp::now().to_string() });
    let filed = s.post("/v1/reports", &dca.key, &body).await.ok(201).clone();
    let report = filed["traceUrl"].as_str().unwrap().split('/').nth(3).unwrap().to_owned();
    b.type_into("form[aria-label='Trace a filed report'] [name=report]", &report).await;
    b.click("form[aria-label='Trace a filed report'] button[type=submit]").await;
    b.wait_for_url_contains(&format!("report={report}")).await;
    b.wait_for_text("main", "1 report(s)").await;
    b.wait_for_text("main", "Evidence chain").await;
    b.click("nav a[href='#/risk']").await;
    b.wait_for_text("main h1", "Abuse scores").await;
    shoot(&b, &shots, "risk").await;

    // Log, second visit: the signature again with the pinned key, and the RFC 9162 proof that
    // today's tree extends the one accepted on the first visit; the kept tree advances.
    b.click("nav a[href='#/log']").await;
    b.find("#size-chart").await;
    let audit = b
        .wait_for_text("#audit", &format!("consistent with the tree of size {first_size} this browser accepted"))
        .await;
    assert!(audit.contains("signature verified") && !audit.contains("FAILED"), "{audit}");
    let now = audit_state(&b).await;
    assert!(now["size"].as_u64().unwrap() > first_size, "the accepted tree did not advance: {now}");
    assert!(
        b.text("#last-audit").await.contains(&format!("tree {first_size} (root {}", first["root"].as_str().unwrap()))
    );
    shoot(&b, &shots, "log").await;
    // A browser that accepted another tree of an earlier size (a fork): the proof cannot
    // verify, the page says so loudly, and the kept tree does not move.
    let forged = serde_json::json!({ "key": now["key"], "size": first_size, "at": "earlier",
        "root": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" });
    let set_state = "localStorage.setItem('vouch-log-audit', arguments[0]); location.reload();";
    b.execute(set_state, vec![serde_json::json!(forged.to_string())]).await;
    b.wait_for_text("#audit .alarm", "SPLIT VIEW OR REWRITE").await;
    b.wait_for_text("#status .msg.bad", "LOG CHECK FAILED").await;
    shoot(&b, &shots, "log-split-view").await;
    assert_eq!(audit_state(&b).await, forged, "a failed audit moved the accepted tree");
    // A pinned key that did not sign the checkpoint (another key under the log's name).
    let origin = key.trim().split('+').next().unwrap();
    let (other, _) = vouch_tlog::NoteSigner::generate(origin).unwrap();
    let mut pinned_other = now.clone();
    pinned_other["key"] = serde_json::json!(other.verifier().to_key_string());
    b.execute(set_state, vec![serde_json::json!(pinned_other.to_string())]).await;
    b.wait_for_text("#audit .alarm", "BAD SIGNATURE").await;
    // Paging: two checkpoints a page, older ones on demand.
    b.execute("localStorage.setItem('vouch-log-audit', arguments[0]);", vec![serde_json::json!(now.to_string())]).await;
    b.goto(&format!("{}/console/#/log?limit=2", s.base)).await;
    b.wait_for_text("#audit", "consistent").await;
    let chart = || async {
        b.execute("return document.querySelector('#size-chart').getAttribute('aria-label')", vec![]).await.to_string()
    };
    assert!(chart().await.contains("over 2 checkpoints"), "{}", chart().await);
    b.click("#older-checkpoints").await;
    b.wait_for_text("#status", "4 checkpoints shown").await;
    assert!(chart().await.contains("over 4 checkpoints"), "{}", chart().await);

    // The audit itself finds what it looks for: an unlabelled field and a second h1, added here.
    b.execute(
        "const m = document.querySelector('main'); const i = document.createElement('input'); i.id = 'probe'; \
         const h = document.createElement('h1'); h.id = 'probe-h1'; h.textContent = 'x'; m.append(i, h);",
        vec![],
    )
    .await;
    let found = b.accessibility_problems().await;
    assert!(found.iter().any(|p| p.starts_with("no accessible name") && p.contains("probe")), "{found:#?}");
    assert!(found.iter().any(|p| p == "main has 2 h1 headings"), "{found:#?}");
    for page in [
        "signin",
        "brand-edit",
        "brands",
        "campaigns",
        "queue-review",
        "queue",
        "gateway",
        "numbers",
        "history",
        "trace",
        "risk",
        "log",
        "log-split-view",
    ] {
        let png = std::fs::read(shots.join(format!("{page}.png"))).unwrap();
        assert!(png.starts_with(b"\x89PNG") && png.len() > 5_000, "{page}.png");
    }

    // The key revoked mid-session: the next page goes back to sign-in, saying why.
    let key2_id = key2["keyId"].as_str().unwrap();
    s.delete(&format!("/v1/providers/{}/keys/{key2_id}", dca.id), &s.admin).await.ok(204);
    b.click("nav a[href='#/queue']").await;
    b.wait_for_url_contains("#/signin").await;
    b.wait_for_text("#status", "Your API key was refused (revoked or expired)").await;
    shoot(&b, &shots, "signin-refused").await;
    // The server gone: said in words, not as the browser's "Failed to fetch".
    s.sigterm();
    b.type_into("input[name=apiKey]", &dca.key).await;
    b.click("form[aria-label='Sign in'] button[type=submit]").await;
    let down = b.wait_for_text("#status .msg.bad", "The vouch server could not be reached").await;
    assert!(!down.contains("Failed to fetch"), "{down}");
}

/// The DCA's gateway page with real traffic: smpplib sends through a running gateway to the
/// SMSC simulator; the page counts the decisions per minute, verdict and reason, and picks up
/// new ones on its own (it refreshes every 5 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_gateway_page_shows_the_live_decisions_per_minute_and_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data_dir = dir.join("data");
    let mut server = Server::launch(serve_command(dir, &data_dir), data_dir.clone(), dir.to_path_buf());
    let s = server.accepted_campaign().await;
    server.assign(&s.csp.key, "+12025550141", &s.campaign).await.ok(201);
    let password = server.smpp_account(&s.csp, "acmegw").await;
    server.sigterm();

    let smsc = Smsc::start(dir.join("smsc.jsonl"));
    let mut cmd = serve_command(dir, &data_dir);
    cmd.args(["--smpp", "127.0.0.1:0", "--gateway-dca", &s.dca.id, "--smsc"])
        .arg(format!("smpp://vouchup:uppw@127.0.0.1:{}", smsc.port));
    let server = Server::launch(cmd, data_dir.clone(), dir.to_path_buf());
    let mut esme = Esme::start(announced_port(&server, "vouch: SMPP gateway on 127.0.0.1:"));
    assert_eq!(esme.bind("acmegw", &password), 0);
    for n in 0..3 {
        assert_eq!(esme.submit("12025550141", "13105550100", &format!("Acme: order {n} shipped"), "none"), vec![0]);
    }
    for _ in 0..2 {
        assert_eq!(esme.submit("12025550142", "13105550100", "Acme: from a number nobody holds", "none"), vec![0x400]);
    }
    assert_eq!(smsc.texts_from("12025550141").len(), 3);

    let b = Browser::start().await;
    sign_in(&b, &server.base, &s.dca.key).await;
    b.click("nav a[href='#/gateway']").await;
    b.wait_for_text("main", "5 decisions: 3 accepted, 2 rejected or flagged.").await;
    // One row per minute, verdict and reason (the five may straddle a minute): summed here.
    let table = b.text("main table").await;
    let count = |verdict: &str, reason: &str| -> u32 {
        table
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            // "2026-12-06 23:58 rejected VOUCH_SOURCE_UNREGISTERED: the source … 2"
            .filter(|w| w.len() > 4 && w[2] == verdict && w[3].starts_with(reason))
            .map(|w| w[w.len() - 1].parse::<u32>().unwrap())
            .sum()
    };
    assert_eq!(count("accepted", "ESME_ROK"), 3, "{table}");
    assert_eq!(count("rejected", "VOUCH_SOURCE_UNREGISTERED"), 2, "{table}");
    let shots = shots();
    shoot(&b, &shots, "gateway-live").await;

    // The trace of the sending number shows the gateway's side: the counts, and (for the
    // gateway's DCA) the account that sent them and each decision.
    b.click("nav a[href='#/trace']").await;
    b.type_into("form[aria-label='Trace a number'] [name=number]", "+12025550141").await;
    b.click("form[aria-label='Trace a number'] button[type=submit]").await;
    let counts = b.wait_for_text("#gateway-counts", "3 messages").await;
    assert!(counts.contains("3 accepted, 0 rejected, 0 flagged"), "{counts}");
    let gateway = b.text("#trace-gateway").await;
    assert!(
        gateway.contains("acmegw") && gateway.contains(&s.csp.id) && gateway.contains("Decisions around the instant"),
        "{gateway}"
    );
    assert_eq!(gateway.matches("accepted 0x00000000").count(), 3, "one row per decision: {gateway}");
    shoot(&b, &shots, "trace-gateway").await;
    b.click("nav a[href='#/gateway']").await;

    // A new decision appears without reloading the page.
    assert_eq!(
        esme.submit("12025550141", "13105550100", "Acme: order 9 shipped https://acme.example", "none").len(),
        1
    );
    b.wait_for_text("main", "6 decisions").await;
}

/// A loopback receiver that answers every HTTP request 204 and counts them.
async fn counting_receiver() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut conn = tokio::io::BufReader::new(conn);
                loop {
                    let (mut line, mut len) = (String::new(), 0usize);
                    loop {
                        line.clear();
                        if conn.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        if line.trim_end().is_empty() {
                            break;
                        }
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; len];
                    if conn.read_exact(&mut body).await.is_err() {
                        return;
                    }
                    seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let _ = conn.get_mut().write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n").await;
                }
            });
        }
    });
    (port, count)
}

/// The CSP's Notifications page: its webhook set through the form (the secret shown once), a
/// suspension that could not be delivered shown pending then failed, and sent again by hand.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_notifications_show_each_delivery_and_send_a_failed_one_again() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data_dir = dir.join("data");
    let mut cmd = serve_command(dir, &data_dir);
    cmd.args(LOOPBACK_WEBHOOKS);
    let server = Server::launch(cmd, data_dir.clone(), dir.to_path_buf());
    let s = server.accepted_campaign().await;
    let b = Browser::start().await;
    sign_in(&b, &server.base, &s.csp.key).await;
    b.click("nav a[href='#/notifications']").await;
    b.wait_for_text("main", "Set a webhook URL to be notified.").await;
    // Nothing listens on the first URL.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://127.0.0.1:{}/hook", dead.local_addr().unwrap().port());
    drop(dead);
    b.type_into("form[aria-label='Webhook'] [name=url]", &dead_url).await;
    b.click("form[aria-label='Webhook'] button[type=submit]").await;
    let secret = b.wait_for_text("#webhook-secret", "whsec_").await;
    assert!(secret.starts_with("whsec_"), "{secret}");

    // The DCA suspends the campaign: the delivery fails and waits; then the webhook is stopped,
    // so the next attempt gives it up.
    server.set_suspended(&s.dca.key, &s.campaign, true, "complaints").await.ok(200);
    let deliveries = format!("/v1/providers/{}/webhook/deliveries", s.csp.id);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while server.get(&deliveries, Some(&s.csp.key)).await.ok(200)[0]["lastError"].is_null() {
        assert!(std::time::Instant::now() < deadline, "no attempt was made");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    b.click("nav a[href='#/log']").await;
    b.click("nav a[href='#/notifications']").await;
    let table = b.wait_for_text("main table", "campaign.suspended").await;
    assert!(table.contains("pending") && table.contains(&s.campaign), "{table}");
    b.click("#stop-webhook").await;
    b.wait_for_text("#status", "Notifications stopped.").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while server.get(&deliveries, Some(&s.csp.key)).await.ok(200)[0]["status"] != "failed" {
        assert!(std::time::Instant::now() < deadline, "the delivery never failed");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    // A working receiver, and the failed delivery sent again from its row.
    let (port, received) = counting_receiver().await;
    b.click("nav a[href='#/log']").await;
    b.click("nav a[href='#/notifications']").await;
    b.type_into("form[aria-label='Webhook'] [name=url]", &format!("http://127.0.0.1:{port}/hook")).await;
    b.click("form[aria-label='Webhook'] button[type=submit]").await;
    b.wait_for_text("#webhook-secret", "whsec_").await;
    b.select("form[aria-label='Filter deliveries'] [name=status]", "failed").await;
    b.click("form[aria-label='Filter deliveries'] button[type=submit]").await;
    let table = b.wait_for_text("main table", "failed").await;
    assert!(table.contains("no webhook"), "{table}");
    shoot(&b, &shots(), "notifications").await;
    b.click("button[data-delivery]").await;
    b.wait_for_text("#status", "is sent again").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while received.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(std::time::Instant::now() < deadline, "the delivery sent again never arrived");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let list = server.get(&deliveries, Some(&s.csp.key)).await.ok(200).clone();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut list = list;
    while list[0]["status"] != "delivered" {
        assert!(std::time::Instant::now() < deadline, "{list:#}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        list = server.get(&deliveries, Some(&s.csp.key)).await.ok(200).clone();
    }
}
