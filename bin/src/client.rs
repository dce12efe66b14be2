//! Client verbs that talk to a running `vouch serve`.

use std::io::{BufRead, BufReader, IsTerminal};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Deserialize;

use crate::ClientArgs;

struct Client {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Client {
    fn new(args: &ClientArgs) -> anyhow::Result<Self> {
        let key = match &args.api_key {
            Some(k) => k.clone(),
            None => {
                let path = args.data_dir.join("admin.key");
                std::fs::read_to_string(&path)
                    .with_context(|| {
                        format!(
                            "no --api-key given and cannot read {} (set --api-key or VOUCH_API_KEY)",
                            path.display()
                        )
                    })?
                    .trim()
                    .to_owned()
            }
        };
        let http = reqwest::Client::builder().build().context("cannot build the HTTP client")?;
        Ok(Self { http, base: args.server.trim_end_matches('/').to_owned(), key })
    }

    async fn post(&self, path: &str, content_type: &str, body: Vec<u8>) -> anyhow::Result<serde_json::Value> {
        let url = format!("{}{path}", self.base);
        let resp = self
            .http
            .post(&url)
            .bearer_auth(&self.key)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await
            .with_context(|| format!("cannot reach vouch at {}; is `vouch serve` running there?", self.base))?;
        let status = resp.status();
        let value: serde_json::Value =
            resp.json().await.with_context(|| format!("{url}: unreadable response ({status})"))?;
        if !status.is_success() {
            let detail = value.get("detail").and_then(|d| d.as_str()).unwrap_or("no detail");
            bail!("{url}: {status}: {detail}");
        }
        Ok(value)
    }
}

#[derive(Debug, Deserialize)]
struct Rejected {
    line: u64,
    number: String,
    reason: String,
}

#[derive(Debug, Deserialize)]
struct Report {
    accepted: u64,
    unchanged: u64,
    rejected: Vec<Rejected>,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the async runtime")
}

/// `vouch import numbers FILE`.
pub fn import_numbers(args: &ClientArgs, file: &Path, chunk: usize) -> anyhow::Result<ExitCode> {
    let client = Client::new(args)?;
    let f = std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let total = f.metadata().map(|m| m.len()).unwrap_or(0);
    let mut reader = BufReader::with_capacity(1 << 20, f);
    let bar = ProgressBar::new(total);
    if std::io::stderr().is_terminal() {
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
    } else {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    let started = Instant::now();
    let (mut accepted, mut unchanged, mut rejected) = (0u64, 0u64, Vec::<Rejected>::new());
    let rt = runtime()?;
    let mut line_no = 0u64;
    let mut line = String::new();
    loop {
        let first_line = line_no + 1;
        let mut body = Vec::with_capacity(chunk * 40);
        let mut rows = 0;
        while rows < chunk {
            line.clear();
            let n = reader
                .read_line(&mut line)
                .with_context(|| format!("cannot read {} at line {}", file.display(), line_no + 1))?;
            if n == 0 {
                break;
            }
            line_no += 1;
            bar.inc(n as u64);
            body.extend_from_slice(line.trim_end_matches(['\r', '\n']).as_bytes());
            body.push(b'\n');
            rows += 1;
        }
        if rows == 0 {
            break;
        }
        let value =
            rt.block_on(client.post(&format!("/v1/numbers/import?firstLine={first_line}"), "text/csv", body))?;
        let report: Report = serde_json::from_value(value).context("unexpected import report")?;
        accepted += report.accepted;
        unchanged += report.unchanged;
        rejected.extend(report.rejected);
        let rate = (accepted + unchanged) as f64 / started.elapsed().as_secs_f64().max(1e-9);
        bar.set_message(format!(
            "{accepted} new, {unchanged} unchanged, {} rejected, {rate:.0} rows/s",
            rejected.len()
        ));
    }
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "imported {}: {accepted} assigned, {unchanged} already assigned, {} rejected, {line_no} lines in {secs:.1} s ({:.0} rows/s)",
        file.display(),
        rejected.len(),
        line_no as f64 / secs.max(1e-9)
    );
    for r in rejected.iter().take(100) {
        eprintln!("line {}: {}: {}", r.line, r.number, r.reason);
    }
    if rejected.len() > 100 {
        eprintln!("… and {} more rejected rows", rejected.len() - 100);
    }
    Ok(if rejected.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(2) })
}

/// `vouch import sanctions FILE`.
pub fn import_sanctions(args: &ClientArgs, file: &Path) -> anyhow::Result<ExitCode> {
    let client = Client::new(args)?;
    let body = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let value = runtime()?.block_on(client.post("/v1/sanctions", "text/csv", body))?;
    let entries = value.get("entries").and_then(|v| v.as_u64()).unwrap_or(0);
    let sha = value.get("sha256").and_then(|v| v.as_str()).unwrap_or("");
    let revetted: Vec<&str> = value
        .get("revettedBrands")
        .and_then(|v| v.as_array())
        .map(|a| a.iter().filter_map(|b| b.as_str()).collect())
        .unwrap_or_default();
    println!("imported {} sanctioned parties from {} (sha256 {sha})", entries, file.display());
    if revetted.is_empty() {
        println!("no brand's vetting changed");
    } else {
        println!("re-vetted {} brand(s) whose outcome changed: {}", revetted.len(), revetted.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}
