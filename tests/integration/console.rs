//! The web console (issue 10, docs/CONSOLE.md) end to end in headless Chromium against a real
//! `vouch serve`: a CSP signs in, registers a brand through the form (a validation message
//! first), creates a campaign and shares it; the DCA accepts it from its queue, suspends and
//! reinstates it, and declines a second one with a reason; the CSP assigns a number, imports two
//! from a CSV file and releases one; the analyst sees the numbers' timelines and a trace;
//! the log page audits the log. A screenshot of each main page goes to
//! `target/console-screenshots/`.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use crate::browser::Browser;
use crate::harness::{Server, serve_command};
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_csp_registers_dca_accepts_number_timeline_trace_and_log() {
    let s = Server::start();
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

    // Brand: without the EIN a private company is refused with the message next to the field;
    // with it the form registers.
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
    b.type_into("form[aria-label='Register a brand'] [name=ein]", "46-4123456").await;
    b.click("form[aria-label='Register a brand'] button[type=submit]").await;
    b.wait_for_text("#vetting", "VERIFIED").await;
    assert_eq!(b.text("[data-error-for=ein]").await, "", "the fixed field still shows its error");
    shoot(&b, &shots, "brands").await;

    // Campaign: use-case guidance beside the form; created, then shared with the DCA.
    b.click("nav a[href='#/campaigns']").await;
    b.wait_for_text("#usecase-guidance", "MARKETING").await;
    b.select("form[aria-label='Create a campaign'] [name=usecase]", "ACCOUNT_NOTIFICATION").await;
    b.wait_for_text("#usecase-guidance", "account").await;
    b.select("form[aria-label='Create a campaign'] [name=usecase]", "MARKETING").await;
    let campaign = [
        ("description", "Appointment reminders and monthly offers for Acme Dental patients, list 1."),
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

    // DCA: accepts it from the queue; the gateway page answers.
    sign_out(&b).await;
    sign_in(&b, &s.base, &dca.key).await;
    b.wait_for_url_contains("#/queue").await;
    b.wait_for_text("main table", &campaign_id).await;
    b.click("main table button").await;
    b.wait_for_text("#status", "accepted").await;
    b.wait_for_text("main table", "ACCEPTED").await;
    // Suspend with a reason, then reinstate: each is an event with its reason.
    b.type_into("main table input", "complaints about opt-out").await;
    b.click("main table button.danger").await;
    b.wait_for_text("main table", "SUSPENDED").await;
    b.type_into("main table input", "CSP fixed the opt-out flow").await;
    b.click("main table button").await;
    b.wait_for_text("#status", "reinstated").await;
    b.wait_for_text("main table", "ACTIVE").await;
    let events = s.get("/v1/events", Some(&s.admin)).await.ok(200).to_string();
    assert!(events.contains("complaints about opt-out") && events.contains("CSP fixed the opt-out flow"), "{events}");
    // A second campaign of the brand, shared through the API, is declined from the queue with a
    // reason; the first stays as it was.
    let first = s.get(&format!("/v1/campaigns/{campaign_id}"), Some(&csp.key)).await.ok(200).clone();
    let second = s.marketing_campaign(&csp, first["brandId"].as_str().unwrap()).await;
    s.share(&csp, &second, &dca).await;
    b.click("nav a[href='#/gateway']").await;
    b.wait_for_text("main h1", "Gateway").await;
    b.click("nav a[href='#/queue']").await;
    b.wait_for_text("main table", &second).await;
    b.type_into(&format!("input[aria-label='Reason for campaign {second}']"), "no opt-in evidence for list 2").await;
    let clicked = b
        .execute(
            "const row = document.querySelector(`input[aria-label='Reason for campaign ${arguments[0]}']`).closest('tr');
             const button = [...row.querySelectorAll('button')].find((x) => x.textContent === 'Decline');
             if (!button) return false; button.click(); return true;",
            vec![serde_json::json!(second)],
        )
        .await;
    assert_eq!(clicked, true, "no Decline button in the row of {second}");
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
    // One of them released through the form: the registry's history closes its interval.
    b.type_into("form[aria-label='Assign a number'] [name=number]", "+12025550125").await;
    b.click("#release").await;
    b.wait_for_text("#status", "+12025550125 released").await;
    let history = s.get("/v1/numbers/%2B12025550125/history", Some(&csp.key)).await.ok(200).clone();
    assert!(history["intervals"][0]["until"].is_string(), "{history}");
    shoot(&b, &shots, "numbers").await;

    // Analyst (the DCA): the number's timeline names the brand; the trace cites events with proofs.
    sign_out(&b).await;
    sign_in(&b, &s.base, &dca.key).await;
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
    b.wait_for_text("main table", &campaign_id).await;
    let until =
        b.execute("return document.querySelector('main table tbody tr td:nth-child(5)').textContent", vec![]).await;
    assert!(
        until.as_str().is_some_and(|u| u != "now" && u.starts_with("20")),
        "the released number's interval: {until}"
    );
    b.click("nav a[href='#/trace']").await;
    b.type_into("form[aria-label='Trace a number'] [name=number]", "+12025550123").await;
    b.click("form[aria-label='Trace a number'] button[type=submit]").await;
    b.wait_for_text("main", "Evidence chain").await;
    b.wait_for_text("main", "Acme Dental").await;
    let proofs = b.find_all("main table a").await;
    assert!(!proofs.is_empty(), "no proof links in the evidence chain");
    shoot(&b, &shots, "trace").await;
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

    // Log: the checkpoint, the size chart, and the browser's own consistency audit.
    b.click("nav a[href='#/log']").await;
    b.find("#size-chart").await;
    b.wait_for_text("#audit", "consistent").await;
    let audit = b.text("#audit").await;
    assert!(!audit.contains("INCONSISTENT"), "{audit}");
    shoot(&b, &shots, "log").await;
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
    for page in ["signin", "brands", "campaigns", "queue", "gateway", "numbers", "history", "trace", "risk", "log"] {
        let png = std::fs::read(shots.join(format!("{page}.png"))).unwrap();
        assert!(png.starts_with(b"\x89PNG") && png.len() > 5_000, "{page}.png");
    }
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

    // A new decision appears without reloading the page.
    assert_eq!(
        esme.submit("12025550141", "13105550100", "Acme: order 9 shipped https://acme.example", "none").len(),
        1
    );
    b.wait_for_text("main", "6 decisions").await;
}
