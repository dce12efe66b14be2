//! Bootstrap of the administrator key, restarts, SIGTERM, and configuration sources.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use serde_json::json;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_key_is_private_and_printed_only_on_first_start() {
    let mut s = Server::start();
    let key_file = s.data_dir.join("admin.key");
    let mode = std::fs::metadata(&key_file).expect("admin.key").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "admin.key has mode {mode:o}");
    let dir_mode = std::fs::metadata(&s.data_dir).expect("data dir").permissions().mode() & 0o777;
    assert_eq!(dir_mode & 0o077, 0, "the data directory is open to others: {dir_mode:o}");

    let first = s.stdout.text();
    assert_eq!(first.matches(&s.admin).count(), 1, "the key should be printed exactly once on first start:\n{first}");
    assert!(first.contains("created the administrator API key"), "{first}");
    s.get("/v1/events?limit=1", Some(&s.admin)).await.ok(200);

    let stopped = s.sigterm();
    assert!(stopped.status.success(), "{stopped:?}");
    s.restart();
    let second = s.stdout.text();
    assert!(second.contains(LISTENING), "{second}");
    assert!(!second.contains(&s.admin), "the admin key was printed again on restart:\n{second}");
    assert!(!second.contains("created the administrator API key"), "{second}");
    assert!(!s.stderr.text().contains(&s.admin), "the admin key leaked to stderr: {}", s.stderr.text());
    assert_eq!(std::fs::metadata(&key_file).expect("admin.key").permissions().mode() & 0o777, 0o600);
    // The same key still works, and only one administrator key exists.
    s.get("/v1/events?limit=1", Some(&s.admin)).await.ok(200);
    let ev = s.get("/v1/events?limit=1000", Some(&s.admin)).await;
    let issued = ev.ok(200).as_array().expect("events").iter().filter(|e| e["kind"] == "apikey.issued").count();
    assert_eq!(issued, 1, "a restart must not issue another administrator key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_survives_a_restart_and_the_index_is_rebuilt() {
    let mut s = Server::start();
    let st = s.accepted_campaign().await;
    let numbers = ["+12025550100", "+12025550101", "+12025550102"];
    for n in numbers {
        s.assign(&st.dca.key, n, &st.campaign).await.ok(201);
    }
    s.call(reqwest::Method::DELETE, "/v1/numbers/+12025550102?reason=ported", Some(&st.dca.key), None).await.ok(204);
    let other = s.second_campaign(&st).await;
    let unshared = s.marketing_campaign(&st.csp, &st.brand).await;
    let paused = s.second_campaign(&st).await;
    s.assign(&st.dca.key, "+12025550150", &paused).await.ok(201);
    s.post(&format!("/v1/campaigns/{paused}/suspend"), &st.dca.key, &json!({"reason": "audit"})).await.ok(200);
    let brand_before = s.get(&format!("/v1/brands/{}", st.brand), Some(&st.csp.key)).await.ok(200).clone();
    let history_before = s.history("+12025550102").await;
    let health_before = s.health().await;
    assert_eq!(health_before["numbers"], 3);

    let out = s.sigterm();
    assert!(out.status.success(), "{out:?}");
    s.restart();

    let health = s.health().await;
    assert_eq!(health["numbers"], 3, "index rebuilt from the store: {health}");
    assert_eq!(health["lastEvent"], health_before["lastEvent"]);
    let brand_after = s.get(&format!("/v1/brands/{}", st.brand), Some(&st.csp.key)).await.ok(200).clone();
    assert_eq!(brand_after, brand_before);
    let l = s.get("/v1/numbers/+12025550100", None).await;
    let l = l.ok(200);
    assert_eq!(l["campaignId"], st.campaign.as_str());
    assert_eq!(l["dcaId"], st.dca.id.as_str());
    assert_eq!(l["throughputClass"], "B", "the brand's score was reloaded: {l}");
    s.get("/v1/numbers/+12025550102", None).await.problem(404, "number-not-assigned");
    assert_eq!(s.history("+12025550102").await, history_before);

    // The rebuilt index knows who holds what and who carries which campaign.
    s.assign(&st.dca.key, "+12025550100", &st.campaign).await.ok(200);
    s.assign(&st.dca.key, "+12025550101", &other).await.problem(409, "number-held");
    s.assign(&st.csp.key, "+12025550103", &st.campaign).await.ok(201);
    s.assign(&st.csp.key, "+12025550104", &unshared).await.problem(409, "campaign-not-accepted");
    s.assign(&st.dca.key, "+12025550104", &unshared).await.problem(404, "campaign-not-found");
    assert_eq!(s.get("/v1/numbers/+12025550150", None).await.ok(200)["campaignStatus"], "SUSPENDED");
    s.assign(&st.dca.key, "+12025550151", &paused).await.problem(409, "campaign-suspended");
    let c = s.get(&format!("/v1/campaigns/{}", st.campaign), Some(&st.dca.key)).await;
    assert_eq!(c.ok(200)["sharing"][0]["sharingStatus"], "ACCEPTED");
    assert_eq!(s.held_numbers().await, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_server_cleanly() {
    let mut s = Server::start();
    s.health().await; // leaves an idle keep-alive connection open
    let t = std::time::Instant::now();
    let out = s.sigterm();
    assert!(t.elapsed() < Duration::from_secs(5), "SIGTERM took {:?} to stop the server", t.elapsed());
    assert_eq!(out.status.code(), Some(0), "exit status after SIGTERM: {out:?}");
    assert!(out.stdout.lines().any(|l| l == "vouch: stopped"), "no `vouch: stopped` in:\n{}", out.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_does_not_wait_on_a_client_stuck_in_its_request_head() {
    use std::io::Write;
    let mut s = Server::start();
    let addr = s.base.trim_start_matches("http://").to_owned();
    let mut stuck = std::net::TcpStream::connect(&addr).expect("connect");
    stuck.write_all(b"POST /v1/providers HTTP/1.1\r\nHost: x\r\n").expect("write");
    std::thread::sleep(Duration::from_millis(200));
    let t = std::time::Instant::now();
    let out = s.sigterm();
    // Requests in progress get 5 s; this one never completes.
    assert!(t.elapsed() < Duration::from_secs(8), "SIGTERM took {:?} with a client mid-head", t.elapsed());
    assert_eq!(out.status.code(), Some(0), "exit status after SIGTERM: {out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_body_that_stalls_is_answered_400_and_the_connection_let_go() {
    use std::io::{Read, Write};
    let s = Server::start();
    let addr = s.base.trim_start_matches("http://").to_owned();
    let mut stalled = std::net::TcpStream::connect(&addr).expect("connect");
    stalled.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    let head = format!(
        "POST /v1/providers HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"",
        s.admin
    );
    stalled.write_all(head.as_bytes()).expect("write");
    let t = std::time::Instant::now();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&answer).contains("\r\n\r\n{") {
        match stalled.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    assert!(answer.contains("application/problem+json") && answer.contains("stalled"), "{answer}");
    assert!(t.elapsed() < Duration::from_secs(25), "answered after {:?}", t.elapsed());
    // Meanwhile and after, others are served.
    assert_eq!(s.health().await["status"], "ok");
}

/// Waits for a server started with `cmd`, checks that it serves and uses `data_dir`, and
/// stops it.
async fn serves_on(cmd: std::process::Command, data_dir: &std::path::Path, scratch: &std::path::Path) {
    let mut s = Server::launch(cmd, data_dir.to_path_buf(), scratch.to_path_buf());
    assert!(data_dir.join("admin.key").is_file(), "no admin.key in {}", data_dir.display());
    assert_eq!(s.health().await["status"], "ok");
    let p = s.post("/v1/providers", &s.admin, &json!({"legalName": "Config Check Co", "roles": ["csp"]})).await;
    p.ok(201);
    let out = s.sigterm();
    assert!(out.status.success(), "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_from_environment_variables() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("env-data");
    let mut cmd = vouch(tmp.path());
    cmd.arg("serve").env("VOUCH_HTTP", "127.0.0.1:0").env("VOUCH_DATA_DIR", &data);
    serves_on(cmd, &data, tmp.path()).await;
    assert!(!tmp.path().join("vouch-data").exists(), "the default data dir was used instead of VOUCH_DATA_DIR");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_from_a_toml_file_with_flags_winning() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file_data = tmp.path().join("toml-data");
    let config = tmp.path().join("vouch.toml");
    std::fs::write(
        &config,
        format!("http = \"127.0.0.1:0\"\ndata_dir = \"{}\"\nlog_format = \"json\"\n", file_data.display()),
    )
    .expect("write config");
    let mut cmd = vouch(tmp.path());
    cmd.arg("serve").arg("--config").arg(&config);
    serves_on(cmd, &file_data, tmp.path()).await;

    // A flag beats the file; VOUCH_CONFIG names the file too.
    let flag_data = tmp.path().join("flag-data");
    let mut cmd = vouch(tmp.path());
    cmd.arg("serve").arg("--data-dir").arg(&flag_data).env("VOUCH_CONFIG", &config);
    serves_on(cmd, &flag_data, tmp.path()).await;
}

#[test]
fn bad_configuration_exits_non_zero_naming_the_key() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("never");
    let cases = [
        ("http = \"localhost\"\n", "http"),
        ("http = \"127.0.0.1:0\"\nlog_format = \"xml\"\n", "log_format"),
        ("http = \"127.0.0.1:0\"\nhtp = \"127.0.0.1:0\"\n", "htp"),
        ("http = 8080\n", "http"),
    ];
    for (i, (text, key)) in cases.iter().enumerate() {
        let config = tmp.path().join(format!("bad{i}.toml"));
        std::fs::write(&config, format!("data_dir = \"{}\"\n{text}", data.display())).expect("write config");
        let mut cmd = vouch(tmp.path());
        cmd.arg("serve").arg("--config").arg(&config);
        let out = run(cmd, Duration::from_secs(20));
        assert!(!out.status.success(), "{text:?} was accepted: {out:?}");
        assert!(!out.stdout.contains(LISTENING), "{text:?}: the server started: {out:?}");
        assert!(out.stderr.contains(key), "{text:?}: the error does not name `{key}`: {}", out.stderr);
        assert!(
            out.stderr.contains(&*config.to_string_lossy()),
            "{text:?}: the error does not name the file: {}",
            out.stderr
        );
    }
    assert!(!data.exists(), "a bad configuration must not create the data directory");
}

/// A database that refuses connections stops the start at once, with the cause said once and
/// the URL's password hidden.
#[test]
fn a_database_that_refuses_stops_the_start_with_its_cause_once() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap();
    let mut cmd = vouch(tmp.path());
    cmd.args(["serve", "--http", "127.0.0.1:0", "--data-dir"]).arg(tmp.path().join("data"));
    cmd.arg("--database").arg(format!("postgres://vouch:hunter2@127.0.0.1:{port}/vouch"));
    let start = std::time::Instant::now();
    let out = run(cmd, Duration::from_secs(30));
    assert!(!out.status.success(), "{out:?}");
    assert!(start.elapsed() < Duration::from_secs(5), "the start took {:?} to fail", start.elapsed());
    assert!(!out.stdout.contains(LISTENING), "{out:?}");
    let said = out.stderr.to_lowercase();
    assert_eq!(said.matches("refused").count(), 1, "the cause, once: {}", out.stderr);
    assert!(!said.contains("pool timed out"), "{}", out.stderr);
    assert!(!out.stderr.contains("hunter2") && out.stderr.contains("vouch:***@127.0.0.1"), "{}", out.stderr);
}

/// `VOUCH_DATABASE_CONNECTIONS` that is not a number of connections vouch can use stops the
/// start, naming the variable and what it may be.
#[test]
fn a_bad_database_connection_count_stops_the_start_naming_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap();
    for bad in ["abc", "1", "100000"] {
        let mut cmd = vouch(tmp.path());
        cmd.args(["serve", "--http", "127.0.0.1:0", "--data-dir"]).arg(tmp.path().join("data"));
        cmd.arg("--database").arg(format!("postgres://vouch@127.0.0.1:{port}/vouch"));
        cmd.env("VOUCH_DATABASE_CONNECTIONS", bad);
        let out = run(cmd, Duration::from_secs(30));
        assert!(!out.status.success(), "{bad}: {out:?}");
        assert!(
            out.stderr.contains(&format!("VOUCH_DATABASE_CONNECTIONS=\"{bad}\""))
                && out.stderr.contains("from 2 to 1000"),
            "{bad}: {}",
            out.stderr
        );
    }
}

/// A password in a server URL given to a client command never shows in its messages.
#[test]
fn client_commands_never_echo_a_urls_password() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // A port nothing listens on: bind one, note it, let it go.
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap();
    let url = format!("http://admin:hunter2@127.0.0.1:{port}");
    let commands: [&[&str]; 3] = [
        &["trace", "--tn", "+12025550100", "--server", &url, "--api-key", "vouch_AAAAAAAA_x"],
        &["risk", "list", "--server", &url, "--api-key", "vouch_AAAAAAAA_x"],
        &["log", "verify", "--url", &url],
    ];
    for args in commands {
        let mut cmd = vouch(tmp.path());
        cmd.args(args);
        let out = run(cmd, Duration::from_secs(30));
        assert!(!out.status.success(), "{args:?}: {out:?}");
        let said = format!("{}{}", out.stdout, out.stderr);
        assert!(!said.contains("hunter2"), "{args:?} shows the password: {said}");
        assert!(said.contains("admin:***@127.0.0.1"), "{args:?} does not name the server: {said}");
    }
}

/// Status and body of each `(path, key)` read.
async fn answers(s: &Server, reads: &[(String, Option<String>)]) -> Vec<(String, u16, String)> {
    let mut out = Vec::new();
    for (path, key) in reads {
        let r = s.get(path, key.as_deref()).await;
        out.push((path.clone(), r.status.as_u16(), r.text.clone()));
    }
    out
}

/// View tables that lost rows or were edited by hand are served as they are; a start with
/// `--rebuild-views` replays the events into them, and the registry answers exactly as before
/// the damage (lookups, history, brands, campaigns and their sharing, the index).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuild_views_restores_damaged_view_tables_from_the_events() {
    let mut s = Server::start();
    let st = s.accepted_campaign().await;
    for n in ["+12025550100", "+12025550101", "+12025550102"] {
        s.assign(&st.dca.key, n, &st.campaign).await.ok(201);
    }
    s.call(reqwest::Method::DELETE, "/v1/numbers/+12025550102?reason=ported", Some(&st.dca.key), None).await.ok(204);
    let other = s.second_campaign(&st).await;
    let paused = s.second_campaign(&st).await;
    s.assign(&st.dca.key, "+12025550150", &paused).await.ok(201);
    s.set_suspended(&st.dca.key, &paused, true, "audit").await.ok(200);
    let reads = [
        (format!("/v1/brands/{}", st.brand), Some(st.csp.key.clone())),
        (format!("/v1/campaigns/{}", st.campaign), Some(st.dca.key.clone())),
        (format!("/v1/campaigns/{paused}"), Some(st.dca.key.clone())),
        ("/v1/numbers/+12025550100".to_owned(), None),
        ("/v1/numbers/+12025550150".to_owned(), None),
        ("/v1/numbers/+12025550102/history".to_owned(), None),
        ("/v1/numbers/+12025550100/history".to_owned(), None),
    ];
    let before = answers(&s, &reads).await;
    let health_before = s.health().await;
    assert_eq!(health_before["numbers"], 3);
    assert!(s.sigterm().status.success());

    let damage = "DELETE FROM number_assignments; DELETE FROM campaign_sharing; UPDATE brands SET score = 0;";
    store_sql(&s.data_dir, damage, damage);
    s.restart();
    assert_eq!(s.health().await["numbers"], 0, "the damaged view is what a plain start serves");
    assert_eq!(s.history("+12025550100").await["intervals"], json!([]));
    assert!(s.sigterm().status.success());

    let mut cmd = serve_command(&s.scratch, &s.data_dir);
    cmd.arg("--rebuild-views");
    let mut rebuilt = Server::launch(cmd, s.data_dir.clone(), s.scratch.clone());
    let said = rebuilt.stdout.text();
    let events = health_before["lastEvent"].as_u64().expect("lastEvent");
    assert!(said.contains(&format!("vouch: rebuilt the registry's views from {events} events in ")), "{said}");
    assert_eq!(answers(&rebuilt, &reads).await, before);
    let health = rebuilt.health().await;
    assert_eq!(
        (health["numbers"].clone(), health["lastEvent"].clone()),
        (json!(3), health_before["lastEvent"].clone())
    );
    // The rebuilt index decides as before: the number held, the suspended campaign refused.
    rebuilt.assign(&st.dca.key, "+12025550101", &other).await.problem(409, "number-held");
    rebuilt.assign(&st.dca.key, "+12025550151", &paused).await.problem(409, "campaign-suspended");
    assert!(rebuilt.sigterm().status.success());
}

/// Starts `vouch serve` on `data`, waits for its listening line, lets it run 200 ms and stops
/// it with SIGTERM; it must exit 0. Its output.
fn start_and_stop(dir: &std::path::Path, data: &std::path::Path, what: &str) -> Finished {
    let s = Spawned::start(serve_command(dir, data));
    let deadline = std::time::Instant::now() + START_TIMEOUT;
    while !s.stdout.text().contains(LISTENING) {
        assert!(std::time::Instant::now() < deadline, "{what}: {}", s.stderr.text());
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    send_signal(s.child.id(), "TERM");
    let out = s.finish(STOP_TIMEOUT);
    assert!(out.status.success(), "{what}: {out:?}");
    out
}

/// A store migrated by a later vouch (an upgrade rolled back without restoring the backup taken
/// before it) stops the start naming both migrations, on the embedded store as on PostgreSQL,
/// and leaves the store as it was.
#[test]
fn a_store_migrated_by_a_newer_vouch_stops_the_start_naming_both_versions() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    start_and_stop(tmp.path(), &data, "first start");
    store_sql(
        &data,
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'from a later vouch', 1, x'00', 1);",
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'from a later vouch', true, '\\x00', 1);",
    );
    let out = run(serve_command(tmp.path(), &data), Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(!out.stdout.contains(LISTENING), "{out:?}");
    assert!(
        out.stderr.contains("the database's schema (migration 9999) is newer than this vouch (knows up to migration ")
            && out.stderr.contains("upgrade this node"),
        "{}",
        out.stderr
    );
    store_sql(
        &data,
        "DELETE FROM _sqlx_migrations WHERE version = 9999;",
        "DELETE FROM _sqlx_migrations WHERE version = 9999;",
    );
    start_and_stop(tmp.path(), &data, "after the newer migration was removed");
    drop_database(&data);
}

/// An embedded store restored without the `admin.key` beside it starts, and says that the key
/// is missing and where it must come from (it cannot be shown or issued again).
#[test]
fn a_restore_without_admin_key_is_said_at_start() {
    if test_database_server().is_some() {
        return; // on a shared database only the node that created the key has the file
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let start = |what: &str| start_and_stop(tmp.path(), &data, what);
    let first = start("first start");
    assert!(!first.stderr.contains("no admin.key"), "{}", first.stderr);
    std::fs::remove_file(data.join("admin.key")).expect("remove admin.key");
    let restored = start("restored");
    assert!(
        restored.stderr.contains("the store has an administrator key but this data directory has no admin.key"),
        "{}",
        restored.stderr
    );
    assert!(!data.join("admin.key").exists(), "no second administrator key is made");
}

/// `scripts/backup` on a running node: the restored copy, started in a fresh data directory,
/// answers as the node did, keeps its administrator key, and its log verifies against the
/// state file the backup wrote (embedded store only: PostgreSQL uses its own backups).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_backup_restores_a_running_node_with_its_keys_and_log_state() {
    if test_database_server().is_some() {
        return;
    }
    let mut s = Server::start();
    let st = s.accepted_campaign().await;
    s.assign(&st.dca.key, "+12025550100", &st.campaign).await.ok(201);
    let last = s.health().await["lastEvent"].as_u64().expect("lastEvent");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let cp = s.get("/log/checkpoint", None).await.text;
        let size: u64 = cp.lines().nth(1).and_then(|l| l.parse().ok()).unwrap_or(0);
        if size >= last {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the log never reached {last}: {cp}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let lookup = s.get("/v1/numbers/+12025550100", None).await.text;

    let dest = s.scratch_file("backup");
    let script = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/backup");
    let mut c = std::process::Command::new(script);
    c.arg(&s.data_dir).arg(&dest).arg(&s.base);
    let out = run(c, Duration::from_secs(60));
    assert!(out.status.success(), "{out:?}");
    let manifest = std::fs::read_to_string(dest.join("MANIFEST")).expect("MANIFEST");
    assert!(manifest.contains("files: vouch.db admin.key") && manifest.contains("log-state.json"), "{manifest}");
    assert!(manifest.contains(&format!("last event: {last}")), "{manifest}");
    let mode = std::fs::metadata(&dest).expect("dest").permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "the backup holds secrets");
    assert!(s.sigterm().status.success());

    // Restored into a new data directory (as on a new machine), started, checked.
    let restored = s.scratch_file("restored");
    std::fs::create_dir(&restored).expect("mkdir");
    std::fs::set_permissions(&restored, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    for f in ["vouch.db", "admin.key"] {
        std::fs::copy(dest.join(f), restored.join(f)).expect("copy");
    }
    let r = Server::launch(serve_command(&s.scratch, &restored), restored.clone(), s.scratch.clone());
    assert_eq!(r.admin, s.admin, "the administrator key came back with the backup");
    assert!(!r.stderr.text().contains("no admin.key"), "{}", r.stderr.text());
    assert_eq!(r.get("/v1/numbers/+12025550100", None).await.text, lookup);
    assert_eq!(r.get("/v1/whoami", Some(&st.csp.key)).await.ok(200)["kind"], "provider");
    let mut verify = vouch(&s.scratch);
    verify.args(["log", "verify", "--full", "--url", &r.base, "--state"]).arg(dest.join("log-state.json"));
    let out = run(verify, Duration::from_secs(60));
    assert!(out.status.success() && out.stdout.contains("OK"), "{out:?}");
}

/// `--http-tls-cert`/`--http-tls-key`: the REST listener speaks HTTPS only, its default public
/// URL is https, and a renewed certificate is taken at SIGHUP without a restart (SIGHUP does
/// not stop vouch).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_listener_serves_https_and_takes_a_renewed_certificate_at_sighup() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (first, renewed) = (tmp.path().join("first"), tmp.path().join("renewed"));
    for d in [&first, &renewed] {
        std::fs::create_dir(d).expect("mkdir");
        loopback_tls_certificate(d);
    }
    let (cert, key) = (tmp.path().join("tls.pem"), tmp.path().join("tls.key"));
    std::fs::copy(first.join("tls.pem"), &cert).expect("copy");
    std::fs::copy(first.join("tls.key"), &key).expect("copy");
    let data_dir = tmp.path().join("data");
    let mut cmd = serve_command(tmp.path(), &data_dir);
    cmd.arg("--http-tls-cert").arg(&cert).arg("--http-tls-key").arg(&key);
    let mut s = Server::launch(cmd, data_dir, tmp.path().to_path_buf());
    assert!(s.base.starts_with("https://127.0.0.1:"), "{}", s.base);

    // A client trusting exactly one certificate, on a new connection each time.
    let trusting = |dir: &std::path::Path| {
        let pem = std::fs::read(dir.join("tls.pem")).expect("pem");
        reqwest::Client::builder()
            .no_proxy()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("certificate"))
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client")
    };
    let healthz = format!("{}/healthz", s.base);
    let r = trusting(&first).get(&healthz).send().await.expect("https answers");
    assert_eq!(r.status().as_u16(), 200);
    // Plain HTTP on the HTTPS port gets no answer, and the server goes on.
    let plain = trusting(&first).get(healthz.replacen("https://", "http://", 1)).send().await;
    assert!(plain.is_err(), "plain HTTP was answered on the HTTPS listener: {plain:?}");

    // The renewal replaces the files; SIGHUP makes new connections get it.
    std::fs::copy(renewed.join("tls.pem"), &cert).expect("copy");
    std::fs::copy(renewed.join("tls.key"), &key).expect("copy");
    let pid = s.pid();
    send_signal(pid, "HUP");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while trusting(&renewed).get(&healthz).send().await.is_err() {
        assert!(std::time::Instant::now() < deadline, "the renewed certificate was not taken: {}", s.stderr.text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(trusting(&first).get(&healthz).send().await.is_err(), "the old certificate is still presented");
    // A renewal that does not load (a key of another certificate) keeps the one in use.
    std::fs::copy(first.join("tls.key"), &key).expect("copy");
    send_signal(pid, "HUP");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !s.stderr.text().contains("do not load") {
        assert!(std::time::Instant::now() < deadline, "no warning: {}", s.stderr.text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = trusting(&renewed).get(&healthz).send().await.expect("still the renewed certificate");
    assert_eq!(r.status().as_u16(), 200);
    assert!(s.sigterm().status.success());
}
