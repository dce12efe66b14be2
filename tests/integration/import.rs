//! Bulk number import through the real `vouch import numbers` client, including a server
//! crash in the middle of an import.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::Method;

use crate::harness::*;

fn write_lines(path: &Path, lines: impl IntoIterator<Item = String>) {
    let f = std::fs::File::create(path).expect("create the CSV file");
    let mut w = std::io::BufWriter::new(f);
    for l in lines {
        writeln!(w, "{l}").expect("write the CSV file");
    }
    w.flush().expect("flush the CSV file");
}

fn import_command(s: &Server, file: &Path, key: &str, chunk: u32) -> std::process::Command {
    let mut cmd = vouch(&s.scratch);
    cmd.args(["import", "numbers"])
        .arg(file)
        .arg("--server")
        .arg(&s.base)
        .arg("--api-key")
        .arg(key)
        .arg("--chunk")
        .arg(chunk.to_string());
    cmd
}

const GOOD_ROWS: usize = 20_000;

/// A 10DLC number (the exchange starts at 200).
fn good_number(i: usize) -> String {
    format!("+1720{:07}", 2_000_000 + i)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_import_reports_bad_rows_and_is_idempotent() {
    let s = Server::start();
    let st = s.accepted_campaign().await;
    let other_dca = s.dca("Relay Partners Inc").await;
    let second = s.second_campaign(&st).await;
    s.assign(&st.dca.key, "+17299990003", &second).await.ok(201);

    let c = &st.campaign;
    let d = &st.dca.id;
    // (line in the file, number as written, part of the expected reason)
    let bad: Vec<(usize, &str, String, String)> = vec![
        (5, "12025550999", format!("12025550999,{c},{d}"), "E.164".into()),
        (7_000, "+1720abc0001", format!("+1720abc0001,{c},{d}"), "E.164".into()),
        (12_001, "+17299990001", format!("+17299990001,C0000000,{d}"), "campaign C0000000 not found".into()),
        (16_500, "+17299990003", format!("+17299990003,{c},{d}"), format!("held by campaign {second}")),
        (
            19_000,
            "+17299990002",
            format!("+17299990002,{c},{}", other_dca.id),
            format!("is carried by DCA {d}, not {}", other_dca.id),
        ),
    ];
    let mut lines = vec!["number,campaignId,dca".to_owned()];
    let mut good = 0;
    while good < GOOD_ROWS || lines.len() < bad.last().map_or(0, |b| b.0) {
        let line_no = lines.len() + 1;
        if let Some(b) = bad.iter().find(|b| b.0 == line_no) {
            lines.push(b.2.clone());
        } else {
            lines.push(format!("{},{c},{d}", good_number(good)));
            good += 1;
        }
    }
    assert_eq!(good, GOOD_ROWS);
    let total_lines = lines.len();
    let file = s.scratch_file("numbers.csv");
    write_lines(&file, lines);

    let out = run(import_command(&s, &file, &st.dca.key, 4_000), Duration::from_secs(120));
    assert_eq!(out.status.code(), Some(2), "rejected rows must exit 2: {out:?}");
    let summary = format!("{GOOD_ROWS} assigned, 0 already assigned, {} rejected, {total_lines} lines", bad.len());
    assert!(out.stdout.contains(&summary), "expected `{summary}` in stdout:\n{}", out.stdout);
    let report = format!("{}\n{}", out.stdout, out.stderr);
    for (line, number, _, why) in &bad {
        let prefix = format!("line {line}: {number}: ");
        let l = report
            .lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("line {line} not reported:\n{report}"));
        assert!(l.contains(why.as_str()), "line {line} should say `{why}`: {l}");
    }
    assert_eq!(report.lines().filter(|l| l.starts_with("line ")).count(), bad.len(), "{report}");

    // Every good row is visible through the public lookup.
    assert_eq!(s.held_numbers().await, GOOD_ROWS as u64 + 1);
    for i in (0..GOOD_ROWS).step_by(997).chain([GOOD_ROWS - 1]) {
        let r = s.get(&format!("/v1/numbers/{}", good_number(i)), None).await;
        let r = r.ok(200);
        assert_eq!(r["campaignId"], c.as_str());
        assert_eq!(r["dcaId"], d.as_str());
    }
    for n in ["+17299990001", "+17299990002"] {
        s.get(&format!("/v1/numbers/{n}"), None).await.problem(404, "number-not-assigned");
    }
    assert_eq!(s.get("/v1/numbers/+17299990003", None).await.ok(200)["campaignId"], second.as_str());

    // Running it again changes nothing and says so.
    let again = run(import_command(&s, &file, &st.dca.key, 4_000), Duration::from_secs(120));
    assert_eq!(again.status.code(), Some(2), "{again:?}");
    let summary = format!("0 assigned, {GOOD_ROWS} already assigned, {} rejected", bad.len());
    assert!(again.stdout.contains(&summary), "expected `{summary}` in stdout:\n{}", again.stdout);
    assert_eq!(s.held_numbers().await, GOOD_ROWS as u64 + 1);
    let h = s.history(&good_number(0)).await;
    assert_eq!(h["intervals"].as_array().map(Vec::len), Some(1), "a re-run must not open intervals: {h:#}");

    // Only those who may manage the campaign's numbers can import them.
    let stranger = s.csp("Bravo Texting LLC").await;
    let small = s.scratch_file("small.csv");
    write_lines(&small, [format!("+17299990100,{c},{d}")]);
    let out = run(import_command(&s, &small, &stranger.key, 10), Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stderr.contains("line 1: +17299990100: "), "{out:?}");
    s.get("/v1/numbers/+17299990100", None).await.problem(404, "number-not-assigned");
}

const CRASH_ROWS: usize = 300_000;
const CRASH_CHUNK: u64 = 2_000;

/// A 10DLC number (the exchange starts at 200).
fn crash_number(i: usize) -> String {
    format!("+1900{:07}", 2_000_000 + i)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_interrupted_by_a_server_crash_resumes_exactly() {
    let mut s = Server::start();
    let st = s.accepted_campaign().await;
    let file = s.scratch_file("big.csv");
    let (c, d) = (st.campaign.clone(), st.dca.id.clone());
    // No header, so that every chunk of the file is exactly CRASH_CHUNK rows.
    write_lines(&file, (0..CRASH_ROWS).map(|i| format!("{},{c},{d}", crash_number(i))));

    let setup_last = s.health().await["lastEvent"].as_u64().expect("lastEvent");
    let client = Spawned::start(import_command(&s, &file, &st.dca.key, CRASH_CHUNK as u32));
    // Wait until at least one chunk is acknowledged (committed and in the index)...
    let deadline = Instant::now() + Duration::from_secs(60);
    let acked = loop {
        let n = s.held_numbers().await;
        if n > 0 {
            break n;
        }
        assert!(
            Instant::now() < deadline,
            "no chunk was committed within 60 s; client stderr:\n{}",
            client.stderr.text()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    // ...then crash the server.
    let killed = s.sigkill();
    assert!(!killed.status.success(), "the server survived SIGKILL? {killed:?}");
    let client = client.finish(Duration::from_secs(60));
    assert!(
        !client.status.success(),
        "the import finished before the server was killed ({acked} numbers seen); the crash was not exercised: {client:?}"
    );
    assert!(client.stderr.contains("vouch: error"), "the client should report the failure: {client:?}");
    assert!(acked < CRASH_ROWS as u64, "{acked}");

    // After a restart, exactly the committed chunks are there, as a prefix of the file.
    s.restart();
    let n = s.held_numbers().await;
    eprintln!("crash test: {acked} numbers acknowledged before SIGKILL, {n} held after the restart");
    assert!(n >= acked, "acknowledged rows were lost: {acked} seen before the crash, {n} after");
    assert_eq!(n % CRASH_CHUNK, 0, "a partial chunk survived the crash: {n} numbers held");
    assert!(n < CRASH_ROWS as u64, "{n}");
    let n_us = n as usize;
    s.get(&format!("/v1/numbers/{}", crash_number(0)), None).await.ok(200);
    s.get(&format!("/v1/numbers/{}", crash_number(n_us - 1)), None).await.ok(200);
    s.get(&format!("/v1/numbers/{}", crash_number(n_us)), None).await.problem(404, "number-not-assigned");
    s.get(&format!("/v1/numbers/{}", crash_number(CRASH_ROWS - 1)), None).await.problem(404, "number-not-assigned");
    // The event log holds exactly one number.assigned event per committed row.
    assert_eq!(
        s.health().await["lastEvent"].as_u64(),
        Some(setup_last + n),
        "events of a lost chunk survived, or events were lost"
    );
    let first = s.get(&format!("/v1/events?after={setup_last}&limit=1"), Some(&s.admin)).await;
    assert_eq!(first.ok(200)[0]["kind"], "number.assigned");

    // Re-running the import completes it: the committed rows are reported unchanged.
    let again = run(import_command(&s, &file, &st.dca.key, CRASH_CHUNK as u32), Duration::from_secs(180));
    assert!(again.status.success(), "{again:?}");
    let summary = format!("{} assigned, {n} already assigned, 0 rejected, {CRASH_ROWS} lines", CRASH_ROWS as u64 - n);
    assert!(again.stdout.contains(&summary), "expected `{summary}` in:\n{}", again.stdout);
    assert_eq!(s.held_numbers().await, CRASH_ROWS as u64);
    for i in [0, n_us - 1, n_us, n_us + 1, CRASH_ROWS / 2, CRASH_ROWS - 1] {
        let r = s.get(&format!("/v1/numbers/{}", crash_number(i)), None).await;
        assert_eq!(r.ok(200)["campaignId"], c.as_str());
    }
    assert_eq!(
        s.health().await["lastEvent"].as_u64(),
        Some(setup_last + CRASH_ROWS as u64),
        "one number.assigned event per row"
    );
}

/// A spreadsheet's file as Excel writes "CSV UTF-8" (a byte order mark, CRLF, empty padding
/// fields), with a row repeated exactly and a row with a field too many, through the CLI; then
/// the same rules on the endpoint itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spreadsheet_files_byte_order_mark_repeated_rows_and_extra_fields() {
    let s = Server::start();
    let st = s.accepted_campaign().await;
    let (c, d) = (&st.campaign, &st.dca.id);
    let file = s.scratch_file("excel.csv");
    let text = format!(
        "\u{feff}number,campaignId,dca\r\n+12025550601,{c},{d}\r\n+12025550602,{c},\r\n+12025550601,{c},{d}\r\n\
         +12025550603,{c},{d},extra,cols\r\n+12025550604,{c},{d},,\r\n"
    );
    std::fs::write(&file, text).expect("write the CSV file");
    let out = run(import_command(&s, &file, &st.dca.key, 10_000), Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(2), "the extra field is a rejected row: {out:?}");
    let summary = "3 assigned, 1 already assigned, 1 rejected, 6 lines";
    assert!(out.stdout.contains(summary), "expected `{summary}`:\n{out:?}");
    let report = format!("{}\n{}", out.stdout, out.stderr);
    let rejected: Vec<&str> = report.lines().filter(|l| l.starts_with("line ")).collect();
    assert_eq!(rejected.len(), 1, "{report}");
    assert!(rejected[0].starts_with("line 5: +12025550603: ") && rejected[0].contains("field 4 `extra`"), "{report}");
    for n in ["+12025550601", "+12025550602", "+12025550604"] {
        assert_eq!(s.get(&format!("/v1/numbers/{n}"), None).await.ok(200)["campaignId"], c.as_str(), "{n}");
    }
    s.get("/v1/numbers/+12025550603", None).await.problem(404, "number-not-assigned");

    // The endpoint: a byte order mark before a data row; a repeat of an assigned row is
    // unchanged, a repeat of a rejected row is rejected alike, the same number with another
    // campaign stays rejected.
    let second = s.second_campaign(&st).await;
    let body = format!(
        "\u{feff}+12025550610,{c},\n+12025550610,{c},\n+12025550610,{second},\n+12025550611,C0000000,\n\
         +12025550611,C0000000,\n+12025550612,{c},{d},note\n"
    );
    let r =
        s.raw(Method::POST, "/v1/numbers/import", Some(&st.dca.key), Some("text/csv"), Some(body.into_bytes())).await;
    let report = r.ok(200);
    assert_eq!((report["accepted"].as_u64(), report["unchanged"].as_u64()), (Some(1), Some(1)), "{report:#}");
    let rejected = report["rejected"].as_array().expect("rejected");
    let lines: Vec<u64> = rejected.iter().filter_map(|j| j["line"].as_u64()).collect();
    assert_eq!(lines, [3, 4, 5, 6], "{report:#}");
    assert!(rejected[0]["reason"].as_str().is_some_and(|r| r.contains("appears twice")), "{report:#}");
    assert_eq!(rejected[1]["reason"], rejected[2]["reason"], "{report:#}");
    assert!(rejected[1]["reason"].as_str().is_some_and(|r| r.contains("C0000000")), "{report:#}");
    assert!(rejected[3]["reason"].as_str().is_some_and(|r| r.contains("field 4 `note`")), "{report:#}");
    assert_eq!(s.get("/v1/numbers/+12025550610", None).await.ok(200)["campaignId"], c.as_str());
}
