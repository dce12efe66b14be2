//! Client verbs that talk to a running `vouch serve`.

use std::io::{BufRead, BufReader, IsTerminal};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Deserialize;
use vouch_registry::TelephoneNumber;

use crate::ClientArgs;

pub(crate) struct Client {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Client {
    pub(crate) fn new(args: &ClientArgs) -> anyhow::Result<Self> {
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

    /// GETs `path` with the API key; a problem answer becomes an error naming its detail.
    pub(crate) async fn get(&self, path: &str) -> anyhow::Result<serde_json::Value> {
        let url = format!("{}{path}", self.base);
        let resp = self
            .http
            .get(&url)
            .bearer_auth(&self.key)
            .send()
            .await
            .map_err(reqwest::Error::without_url)
            .with_context(|| self.unreachable())?;
        Self::answer(&url, resp).await
    }

    /// Why a request did not reach the server, without a password the URL may hold.
    fn unreachable(&self) -> String {
        format!("cannot reach vouch at {}; is `vouch serve` running there?", crate::config::redact(&self.base))
    }

    async fn answer(url: &str, resp: reqwest::Response) -> anyhow::Result<serde_json::Value> {
        let url = crate::config::redact(url);
        let status = resp.status();
        let value: serde_json::Value = resp
            .json()
            .await
            .map_err(reqwest::Error::without_url)
            .with_context(|| format!("{url}: unreadable response ({status})"))?;
        if !status.is_success() {
            let detail = value.get("detail").and_then(|d| d.as_str()).unwrap_or("no detail");
            bail!("{url}: {status}: {detail}");
        }
        Ok(value)
    }

    pub(crate) async fn post(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> anyhow::Result<serde_json::Value> {
        let len = body.len();
        self.post_stream(path, content_type, reqwest::Body::from(body), len).await
    }

    async fn post_stream(
        &self,
        path: &str,
        content_type: &str,
        body: reqwest::Body,
        len: usize,
    ) -> anyhow::Result<serde_json::Value> {
        let url = format!("{}{path}", self.base);
        let resp = self
            .http
            .post(&url)
            .bearer_auth(&self.key)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .header(reqwest::header::CONTENT_LENGTH, len)
            .body(body)
            .send()
            .await
            .map_err(reqwest::Error::without_url)
            .with_context(|| self.unreachable())?;
        Self::answer(&url, resp).await
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

pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the async runtime")
}

/// Lines read and sorted together before they are sent (rounded up to whole chunks).
///
/// The server keeps indexes keyed by number; numbers sent in ascending order land next to one
/// another in those indexes, so each transaction changes (and writes to disk) a few pages of
/// them instead of one page per row. Sorting a window of a million lines makes a random file
/// nearly as cheap to import as a sorted one, with bounded memory.
const WINDOW_LINES: usize = 1 << 20;

/// A data line kept for sending (24 bytes: a window of lines costs little beyond its text).
#[derive(Debug)]
struct Line {
    /// The number's digits, the sort key; 0 (no E.164 number) when the server will reject the
    /// number, which sorts such lines first.
    key: u64,
    /// Line in the file (1-based).
    line: u64,
    /// Where the line's text is in the window's buffer.
    start: u32,
    len: u32,
}

/// Consecutive lines of the file, sorted by number, ready to send.
#[derive(Debug, Default)]
struct Window {
    text: String,
    lines: Vec<Line>,
    /// Lines read from the file so far, this window included.
    lines_read: u64,
    /// The read error that ends the file here; the lines kept are those the unsorted import
    /// would have sent before it (whole chunks before the unreadable line).
    error: Option<anyhow::Error>,
}

/// The number field of a CSV line as the server reads it (`vouch_registry::parse_import_csv`).
fn first_field(text: &str) -> &str {
    vouch_registry::import_field(text.trim().split(',').next().unwrap_or_default())
}

/// Reads the file in windows of whole chunks and sends each, sorted, to `out`.
///
/// Blank lines and header lines are dropped here, exactly where the server would skip them:
/// the server takes a line as a header only when it is the first line of a request body, so
/// a header is the first line of one of the chunks the file would be cut into.
fn read_windows(
    mut reader: impl BufRead,
    file: &Path,
    chunk: usize,
    bar: &ProgressBar,
    out: &std::sync::mpsc::SyncSender<Window>,
) {
    let window_lines = WINDOW_LINES.div_ceil(chunk).max(1) * chunk;
    let chunk = chunk as u64;
    let mut line_no = 0u64;
    let mut line = String::new();
    loop {
        // Capacity is only reserved, not touched, until lines fill it.
        let mut w = Window {
            text: String::with_capacity(window_lines * 40),
            lines: Vec::with_capacity(window_lines),
            ..Window::default()
        };
        let mut eof = false;
        for _ in 0..window_lines {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => {
                    line_no += 1;
                    bar.inc(n as u64);
                    let text = line.trim_end_matches(['\r', '\n']);
                    if text.trim().is_empty() {
                        continue;
                    }
                    let field = first_field(text);
                    if (line_no - 1).is_multiple_of(chunk) && vouch_registry::is_import_header(field) {
                        continue;
                    }
                    let key = field.parse::<TelephoneNumber>().map_or(0, TelephoneNumber::digits);
                    let (Ok(start), Ok(len)) = (u32::try_from(w.text.len()), u32::try_from(text.len())) else {
                        // Past 4 GiB of text: never with real files (windows are far smaller).
                        w.error = Some(anyhow::anyhow!("{}: line {line_no} is too long", file.display()));
                        eof = true;
                        break;
                    };
                    w.text.push_str(text);
                    w.lines.push(Line { key, line: line_no, start, len });
                }
                Err(e) => {
                    let bad = line_no + 1;
                    let kept = (bad - 1) / chunk * chunk;
                    w.lines.retain(|l| l.line <= kept);
                    w.error =
                        Some(anyhow::Error::new(e).context(format!("cannot read {} at line {bad}", file.display())));
                    eof = true;
                    break;
                }
            }
        }
        w.lines.sort_unstable_by_key(|l| (l.key, l.line));
        w.lines_read = line_no;
        if out.send(w).is_err() || eof {
            return;
        }
    }
}

/// One request: a body and the file line of each of its data lines.
struct Request {
    body: Vec<u8>,
    lines: Vec<u64>,
}

/// Cuts a sorted window into requests of at most `chunk` lines, so that the server decides
/// every line as it would have decided it in the file's own order: lines holding the same
/// number stay together when they were in the same chunk of the file (the server reports the
/// repeat as such) and go to separate requests, in file order, when they were not (the later
/// one finds the number assigned).
fn requests(w: &Window, chunk: usize) -> impl Iterator<Item = Request> + '_ {
    let chunk_of = move |l: &Line| (l.line - 1) / chunk as u64;
    let lines = &w.lines;
    let mut i = 0;
    std::iter::from_fn(move || {
        if i == lines.len() {
            return None;
        }
        // A leading empty line: the server then never takes a data line for a header.
        let mut r = Request { body: Vec::with_capacity(chunk * 40 + 1), lines: Vec::with_capacity(chunk) };
        r.body.push(b'\n');
        while i < lines.len() {
            let mut end = i + 1;
            let k = lines[i].key;
            if k != 0 {
                while end < lines.len() && lines[end].key == k && chunk_of(&lines[end]) == chunk_of(&lines[i]) {
                    end += 1;
                }
            }
            if !r.lines.is_empty() && (r.lines.len() + (end - i) > chunk || (k != 0 && k == lines[i - 1].key)) {
                break;
            }
            for l in &lines[i..end] {
                let start = l.start as usize;
                r.body.extend_from_slice(&w.text.as_bytes()[start..start + l.len as usize]);
                r.body.push(b'\n');
                r.lines.push(l.line);
            }
            i = end;
        }
        Some(r)
    })
}

/// `vouch import numbers FILE`.
/// A byte progress bar on a terminal's standard error; hidden otherwise.
fn byte_bar(total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    if std::io::stderr().is_terminal() {
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
    } else {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar
}

pub fn import_numbers(args: &ClientArgs, file: &Path, chunk: usize) -> anyhow::Result<ExitCode> {
    let client = Client::new(args)?;
    let f = std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let total = f.metadata().map(|m| m.len()).unwrap_or(0);
    let reader = BufReader::with_capacity(1 << 20, f);
    let bar = byte_bar(total);
    let started = Instant::now();
    let (mut accepted, mut unchanged, mut rejected) = (0u64, 0u64, Vec::<Rejected>::new());
    let rt = runtime()?;
    let chunk = chunk.max(1);
    // The next window is read and sorted on another thread while this one is sent.
    let (tx, rx) = std::sync::mpsc::sync_channel::<Window>(0);
    let reader_thread = {
        let (file, bar) = (file.to_owned(), bar.clone());
        std::thread::spawn(move || read_windows(reader, &file, chunk, &bar, &tx))
    };
    let mut line_no = 0;
    for w in rx {
        line_no = w.lines_read;
        for r in requests(&w, chunk) {
            let value = rt.block_on(client.post("/v1/numbers/import?firstLine=0", "text/csv", r.body))?;
            let report: Report = serde_json::from_value(value).context("unexpected import report")?;
            accepted += report.accepted;
            unchanged += report.unchanged;
            // The server numbers the body's lines from 0; data lines start at 1.
            rejected.extend(report.rejected.into_iter().map(|mut j| {
                if let Some(&l) = j.line.checked_sub(1).and_then(|i| r.lines.get(i as usize)) {
                    j.line = l;
                }
                j
            }));
            let rate = (accepted + unchanged) as f64 / started.elapsed().as_secs_f64().max(1e-9);
            bar.set_message(format!(
                "{accepted} new, {unchanged} unchanged, {} rejected, {rate:.0} rows/s",
                rejected.len()
            ));
        }
        if let Some(e) = w.error {
            return Err(e);
        }
    }
    reader_thread.join().map_err(|_| anyhow::anyhow!("the file reader failed"))?;
    rejected.sort_by_key(|r| r.line);
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    crate::out!(
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
    crate::out!("imported {} sanctioned parties from {} (sha256 {sha})", entries, file.display());
    if revetted.is_empty() {
        crate::out!("no brand's vetting changed");
    } else {
        crate::out!("re-vetted {} brand(s) whose outcome changed: {}", revetted.len(), revetted.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}

/// `vouch import rmd FILE`: uploads the Robocall Mitigation Database export with a progress
/// bar; the server replaces its snapshot and reports what changed.
pub fn import_rmd(args: &ClientArgs, file: &Path, allow_shrink: bool) -> anyhow::Result<ExitCode> {
    let client = Client::new(args)?;
    let size = std::fs::metadata(file).with_context(|| format!("cannot read {}", file.display()))?.len();
    anyhow::ensure!(
        size <= vouch_http::CSV_BODY_LIMIT as u64,
        "{} is {size} bytes; the server takes an RMD export of at most {} MiB",
        file.display(),
        vouch_http::CSV_BODY_LIMIT >> 20
    );
    let body = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let bar = byte_bar(body.len() as u64);
    bar.set_message("uploading");
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> =
        body.chunks(64 * 1024).map(|c| Ok(bytes::Bytes::copy_from_slice(c))).collect();
    let progress = bar.clone();
    let stream = futures_util::stream::iter(chunks).inspect(move |c| {
        if let Ok(c) = c {
            progress.inc(c.len() as u64);
        }
    });
    let len = body.len();
    drop(body);
    let value = runtime()?.block_on(async {
        bar.set_message("uploading");
        let path = if allow_shrink { "/v1/rmd?allowShrink=true" } else { "/v1/rmd" };
        let v = client.post_stream(path, "text/csv", reqwest::Body::wrap_stream(stream), len).await;
        bar.set_message("the server is applying the snapshot");
        v
    })?;
    bar.finish_and_clear();
    let n = |k: &str| value.get(k).and_then(|v| v.as_array()).map(|a| a.len()).unwrap_or(0);
    crate::out!(
        "imported {} RMD filings from {}: {} added, {} removed, {} changed, {} rows rejected",
        value.get("filings").and_then(|v| v.as_u64()).unwrap_or(0),
        file.display(),
        n("added"),
        n("removed"),
        n("changed"),
        n("rejected")
    );
    let rejected = value.get("rejected").and_then(|v| v.as_array()).cloned().unwrap_or_default();
    for r in rejected.iter().take(100) {
        eprintln!(
            "line {}: {}",
            r.get("line").and_then(|v| v.as_u64()).unwrap_or(0),
            r.get("reason").and_then(|v| v.as_str()).unwrap_or("")
        );
    }
    if rejected.len() > 100 {
        eprintln!("… and {} more rows rejected", rejected.len() - 100);
    }
    Ok(if rejected.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(2) })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn numbers_page_path_encodes_the_campaign_and_cursor() {
        assert_eq!(numbers_page_path("C1", 10, None), "/v1/campaigns/C1/numbers?limit=10");
        // A slash or `?` in an id stays inside its segment; `+` in the cursor is not a space.
        assert_eq!(
            numbers_page_path("A/B?x", 5, Some("+12025550100")),
            "/v1/campaigns/A%2FB%3Fx/numbers?limit=5&after=%2B12025550100"
        );
    }

    /// The requests a file is sent in: (file line of each data line, body).
    fn cut(file: &str, chunk: usize) -> Vec<(Vec<u64>, String)> {
        let (tx, rx) = std::sync::mpsc::sync_channel(16);
        read_windows(std::io::Cursor::new(file), Path::new("f.csv"), chunk, &ProgressBar::hidden(), &tx);
        drop(tx);
        rx.into_iter()
            .flat_map(|w| {
                assert!(w.error.is_none());
                requests(&w, chunk).collect::<Vec<_>>()
            })
            .map(|r| (r.lines, String::from_utf8(r.body).unwrap()))
            .collect()
    }

    #[test]
    fn the_number_field_is_read_as_the_server_reads_it() {
        for line in ["+12025550123,C1,P1", " \"+12025550123\" , C1", "\"+1202\",x", "number,c", " , x", "+1 2,c", ""] {
            let server = vouch_registry::parse_import_csv(format!("\n{line}").as_bytes(), 0).unwrap();
            let server = server.first().map_or("", |r| r.number.as_str());
            assert_eq!(first_field(line), server, "{line:?}");
        }
    }

    #[test]
    fn windows_are_sorted_and_cut_as_the_file_would_have_been() {
        let file = "number,campaignId,dca\n+12025550003,C1,P1\n+12025550001,C1,P1\n\n+12025550001,C1,P1\n\
                    bad,C1,P1\n+12025550002,C1,P1\n+12025550002,C1,P1\nNumber,x\nnumber,y\n";
        let got = cut(file, 3);
        let lines: Vec<Vec<u64>> = got.iter().map(|(l, _)| l.clone()).collect();
        // Headers at the start of a chunk (lines 1 and 10) and blank lines are not sent; lines
        // the server cannot read a number from go first; a number repeated in another chunk of
        // the file goes to a later request, one repeated within a chunk stays in its request.
        assert_eq!(lines, vec![vec![6, 9, 3], vec![5, 7, 8], vec![2]]);
        assert_eq!(got[0].1, "\nbad,C1,P1\nNumber,x\n+12025550001,C1,P1\n");
        // The server numbers body lines from 0 (the leading empty line); line i is lines[i - 1].
        for (lines, body) in &got {
            let rows = vouch_registry::parse_import_csv(body.as_bytes(), 0).unwrap();
            assert_eq!(rows.len(), lines.len());
            for (j, row) in rows.iter().enumerate() {
                assert_eq!(row.line, j as u64 + 1);
                let original = file.lines().nth(lines[j] as usize - 1).unwrap();
                assert_eq!(first_field(original), row.number);
            }
        }
    }

    #[test]
    fn a_number_repeated_in_another_chunk_is_sent_after_it() {
        let mut file = String::new();
        for i in 0..12 {
            let n = if i == 0 || i == 11 { 1 } else { 100 + i };
            file.push_str(&format!("+120255{n:05},C1,P1\n"));
        }
        let got = cut(&file, 10);
        let lines: Vec<Vec<u64>> = got.iter().map(|(l, _)| l.clone()).collect();
        assert_eq!(lines, vec![vec![1], vec![12, 2, 3, 4, 5, 6, 7, 8, 9, 10], vec![11]]);
    }
}

/// `vouch export numbers CAMPAIGN`: follows the pages of `/v1/campaigns/{id}/numbers` and writes
/// `number,campaignId,dca` rows. With `--out` the file appears only once the list is whole.
pub(crate) fn export_numbers(
    args: &ClientArgs,
    campaign: &str,
    out: Option<&Path>,
    page: u32,
) -> anyhow::Result<ExitCode> {
    use std::io::Write;
    let client = Client::new(args)?;
    let rt = runtime()?;
    let (mut sink, temp): (Box<dyn Write>, Option<tempfile::NamedTempFile>) = match out {
        Some(path) => {
            let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
            let f = tempfile::NamedTempFile::new_in(dir)
                .with_context(|| format!("cannot create a file next to {}", path.display()))?;
            let w = f.reopen().with_context(|| format!("cannot write next to {}", path.display()))?;
            (Box::new(std::io::BufWriter::new(w)), Some(f))
        }
        None => (Box::new(std::io::BufWriter::new(std::io::stdout().lock())), None),
    };
    let write_failed = |e: std::io::Error| -> anyhow::Error {
        if out.is_none() && e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(141);
        }
        anyhow::Error::new(e).context("cannot write the export")
    };
    writeln!(sink, "number,campaignId,dca").map_err(write_failed)?;
    let (mut after, mut written) = (None::<String>, 0u64);
    let total = loop {
        let path = numbers_page_path(campaign, page, after.as_deref());
        let v = rt.block_on(client.get(&path))?;
        let page: NumbersPage = serde_json::from_value(v).context("unexpected answer from the server")?;
        let dca = page.dca_id.unwrap_or_default();
        for n in &page.numbers {
            writeln!(sink, "{},{},{}", n.number, page.campaign_id, dca).map_err(write_failed)?;
        }
        written += page.numbers.len() as u64;
        match page.next {
            Some(next) if !page.numbers.is_empty() => after = Some(next),
            _ => break page.total,
        }
    };
    sink.flush().map_err(write_failed)?;
    drop(sink);
    if let (Some(path), Some(temp)) = (out, temp) {
        temp.persist(path).map_err(|e| e.error).with_context(|| format!("cannot write {}", path.display()))?;
    }
    eprintln!("vouch: exported {written} numbers of campaign {campaign}");
    if written != total {
        eprintln!("vouch: the campaign held {total} when the last page was read: numbers changed during the export");
    }
    Ok(ExitCode::SUCCESS)
}

/// The path and query of one page of `/v1/campaigns/{campaign}/numbers`, encoded by `url`.
fn numbers_page_path(campaign: &str, limit: u32, after: Option<&str>) -> String {
    let mut url = url::Url::parse("http://vouch.invalid/").expect("a constant base URL parses");
    url.path_segments_mut().expect("an http URL has path segments").extend(["v1", "campaigns", campaign, "numbers"]);
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("limit", &limit.to_string());
        if let Some(a) = after {
            q.append_pair("after", a);
        }
    }
    url[url::Position::BeforePath..].to_owned()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NumbersPage {
    campaign_id: String,
    dca_id: Option<String>,
    total: u64,
    numbers: Vec<ExportedNumber>,
    next: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ExportedNumber {
    number: String,
}
