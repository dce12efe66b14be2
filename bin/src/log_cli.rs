//! `vouch log verify` (the auditor) and `vouch log prove`.
//!
//! The auditor trusts one key (given, or the one it saw first, kept in its state file) and the
//! last checkpoint it accepted. Each run checks the new checkpoint's signature and its
//! consistency with that last one; `--full` also rebuilds the whole tree from the entry
//! bundles and compares every hash tile the log serves; then it checks that the log keeps up
//! with the registry (`--max-lag`).
//!
//! Exit status: 0 when every check passed; [`EXIT_MISBEHAVES`] (1) when the log misbehaves;
//! [`EXIT_CANNOT_CHECK`] (2) when the check could not be made; [`EXIT_NOT_GROWING`] (3) when
//! the log checks out but has stopped keeping up with the registry.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use vouch_tlog::proof::{verify_consistency, verify_inclusion};
use vouch_tlog::tile::{TILE_WIDTH, TileId, parse_bundle, parse_hash_tile};
use vouch_tlog::{Checkpoint, Hash, NoteVerifier, SignedNote, TilePath, TreeEdge, leaf_hash};

/// `vouch log` verbs.
#[derive(Debug, clap::Subcommand)]
pub enum LogCommand {
    /// Audit a vouch log: checkpoint signature, consistency with the last checkpoint seen
    /// (kept in --state), with --full the whole tree rebuilt from its entries, and whether the
    /// signed tree keeps up with the registry. Exit 1 on any split view, rewrite or bad
    /// signature; 2 when the check cannot be made (server unreachable, bad arguments, bad
    /// state file); 3 when the log has halted or trails the registry by more than --max-lag.
    Verify(VerifyArgs),
    /// Fetch and check the inclusion proof of an event (or of a certificate's registration)
    /// against the log's signed checkpoint, and that the entry proven is the one asked for.
    /// Exit 1 when the log misbehaves; 2 when the check cannot be made.
    Prove(ProveArgs),
}

/// Where the log is and which key to trust.
#[derive(Debug, clap::Args)]
pub struct LogTarget {
    /// Base URL of the vouch server (the log is under /log/).
    #[arg(long, env = "VOUCH_SERVER", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// The log's note verifier key (name+id+key). Default: the one in --state, else the one
    /// the server publishes at /log/key (trusted on first use and kept in --state).
    #[arg(long)]
    key: Option<String>,
    /// File keeping the trusted key and the last verified checkpoint.
    #[arg(long)]
    state: Option<PathBuf>,
}

/// `vouch log verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    target: LogTarget,
    /// Also rebuild the tree from every entry bundle and compare every hash tile.
    #[arg(long)]
    full: bool,
    /// How many registry events (`lastEvent` on /healthz) the signed tree may trail by before
    /// the log counts as not growing (exit 3), once it has had 5 s to catch up.
    #[arg(long, default_value_t = DEFAULT_MAX_LAG)]
    max_lag: u64,
}

/// `--max-lag` unless given: far more than a healthy sequencer (a pass every 500 ms) leaves
/// behind under ordinary load; a burst beyond it is caught up within the grace below.
const DEFAULT_MAX_LAG: u64 = 1_000;

/// How long a log that trails the registry by more than `--max-lag` gets to catch up.
const LAG_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Exit status when the log misbehaves: a bad signature or origin, a rollback, a split view,
/// a rewrite, a proof that does not verify or proves another entry than the one asked for.
pub const EXIT_MISBEHAVES: u8 = 1;
/// Exit status when the check could not be made: the server cannot be reached or answers with
/// an error, bad arguments, an unreadable or foreign state file, an entry not integrated
/// within `--wait`.
pub const EXIT_CANNOT_CHECK: u8 = 2;
/// Exit status when the log checks out but is not keeping up with the registry: the server
/// says it halted, or the signed tree trails `lastEvent` by more than `--max-lag`.
pub const EXIT_NOT_GROWING: u8 = 3;

/// `vouch log prove`.
#[derive(Debug, clap::Args)]
pub struct ProveArgs {
    #[command(flatten)]
    target: LogTarget,
    /// The event's sequence number (from 1).
    #[arg(long, conflicts_with = "fingerprint", required_unless_present = "fingerprint")]
    event: Option<u64>,
    /// Or: a registered certificate's SHA-256 fingerprint (hex).
    #[arg(long)]
    fingerprint: Option<String>,
    /// How long to wait for a new event to be integrated, seconds.
    #[arg(long, default_value_t = 10)]
    wait: u64,
}

/// What the auditor remembers (`vouch log verify --state`; `vouch serve --log-audit-state`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AuditState {
    /// The log's verifier key, as `/log/key` serves it.
    pub(crate) key: String,
    /// The size of the tree the auditor accepted.
    pub(crate) size: u64,
    /// That tree's root hash, base64.
    pub(crate) root: String,
    checkpoint: String,
}

/// A misbehaving log (as opposed to one that cannot be reached).
#[derive(Debug)]
struct Misbehaviour(String);

impl std::fmt::Display for Misbehaviour {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Misbehaviour {}

fn misbehaved(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Misbehaviour(msg.into()))
}

/// A log that checks out but does not keep up with the registry.
#[derive(Debug)]
struct NotGrowing(String);

impl std::fmt::Display for NotGrowing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotGrowing {}

pub fn run(cmd: LogCommand) -> anyhow::Result<ExitCode> {
    let result = crate::client::runtime().and_then(|rt| match cmd {
        LogCommand::Verify(a) => rt.block_on(verify(a)),
        LogCommand::Prove(a) => rt.block_on(prove(a)),
    });
    Ok(ExitCode::from(match result {
        Ok(()) => return Ok(ExitCode::SUCCESS),
        Err(e) if e.downcast_ref::<Misbehaviour>().is_some() => {
            eprintln!("vouch log: LOG CHECK FAILED: {e:#}");
            EXIT_MISBEHAVES
        }
        Err(e) if e.downcast_ref::<NotGrowing>().is_some() => {
            eprintln!("vouch log: LOG NOT GROWING: {e:#}");
            EXIT_NOT_GROWING
        }
        Err(e) => {
            eprintln!("vouch log: cannot check the log: {e:#}");
            EXIT_CANNOT_CHECK
        }
    }))
}

struct Fetcher {
    http: reqwest::Client,
    base: String,
}

impl Fetcher {
    fn new(url: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Self { http, base: url.trim_end_matches('/').to_owned() })
    }

    async fn get(&self, path: &str) -> anyhow::Result<(reqwest::StatusCode, Vec<u8>)> {
        let url = format!("{}{path}", self.base);
        // Messages never show a password the URL may hold (`http://user:***@…`).
        let shown = crate::config::redact(&url);
        let resp = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(reqwest::Error::without_url)
            .with_context(|| format!("cannot reach {shown}"))?;
        let status = resp.status();
        let body = resp
            .bytes()
            .await
            .map_err(reqwest::Error::without_url)
            .with_context(|| format!("reading {shown}"))?
            .to_vec();
        Ok((status, body))
    }

    async fn get_ok(&self, path: &str) -> anyhow::Result<Vec<u8>> {
        let (status, body) = self.get(path).await?;
        if !status.is_success() {
            bail!("GET {path}: {status}: {}", String::from_utf8_lossy(&body).chars().take(300).collect::<String>());
        }
        Ok(body)
    }

    async fn json(&self, path: &str) -> anyhow::Result<serde_json::Value> {
        let body = self.get_ok(path).await?;
        serde_json::from_slice(&body).with_context(|| format!("GET {path}: not JSON"))
    }
}

/// The state at `path`, which must exist.
pub(crate) fn read_state(path: &Path) -> anyhow::Result<AuditState> {
    load_state(Some(path))?.with_context(|| format!("no audit state at {}", path.display()))
}

fn load_state(path: Option<&Path>) -> anyhow::Result<Option<AuditState>> {
    let Some(path) = path else { return Ok(None) };
    match std::fs::read(path) {
        Ok(b) => Ok(Some(
            serde_json::from_slice(&b).with_context(|| format!("{} is not an audit state file", path.display()))?,
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn save_state(path: &Path, s: &AuditState) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(s)?).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

/// The key to trust: --key, else the state's, else the server's (first use).
async fn trusted_key(f: &Fetcher, t: &LogTarget, state: Option<&AuditState>) -> anyhow::Result<NoteVerifier> {
    let server = async {
        let body = f.get_ok("/log/key").await?;
        NoteVerifier::parse(&String::from_utf8_lossy(&body)).map_err(|e| misbehaved(format!("/log/key: {e}")))
    };
    let key = match (&t.key, state) {
        (Some(k), _) => NoteVerifier::parse(k).context("--key")?,
        (None, Some(s)) => NoteVerifier::parse(&s.key).context("the state file's key")?,
        (None, None) => server.await?,
    };
    if let (Some(k), Some(s)) = (&t.key, state)
        && NoteVerifier::parse(&s.key).ok().as_ref() != Some(&NoteVerifier::parse(k)?)
    {
        bail!("--key differs from the key in the state file; use a new state file for a new log");
    }
    Ok(key)
}

/// Fetches and checks the newest checkpoint.
async fn fetch_checkpoint(f: &Fetcher, key: &NoteVerifier) -> anyhow::Result<(Checkpoint, String)> {
    let body = f.get_ok("/log/checkpoint").await?;
    let note = SignedNote::parse(&body).map_err(|e| misbehaved(format!("the checkpoint is not a signed note: {e}")))?;
    let text = note.verify(key).map_err(|e| misbehaved(format!("the checkpoint's signature: {e}")))?;
    let cp = Checkpoint::parse(text).map_err(|e| misbehaved(format!("the checkpoint: {e}")))?;
    if cp.origin != key.name() {
        return Err(misbehaved(format!(
            "the checkpoint's origin {:?} is not the key's name {:?}",
            cp.origin,
            key.name()
        )));
    }
    Ok((cp, String::from_utf8_lossy(&body).into_owned()))
}

fn hashes(v: &serde_json::Value, field: &str) -> anyhow::Result<Vec<Vec<u8>>> {
    v[field]
        .as_array()
        .with_context(|| format!("no {field} in the answer"))?
        .iter()
        .map(|h| STANDARD.decode(h.as_str().unwrap_or("")).map_err(|_| misbehaved(format!("{field}: not base64"))))
        .collect()
}

async fn verify(a: VerifyArgs) -> anyhow::Result<()> {
    let f = Fetcher::new(&a.target.url)?;
    let state = load_state(a.target.state.as_deref())?;
    let key = trusted_key(&f, &a.target, state.as_ref()).await?;
    let (cp, note) = fetch_checkpoint(&f, &key).await?;
    crate::out!(
        "checkpoint: {} size {} root {} (signature by {} verified)",
        cp.origin,
        cp.size,
        cp.root.to_base64(),
        key.name()
    );
    if let Some(old) = &state {
        let old_root = Hash::from_base64(&old.root).context("the state file's root")?;
        if cp.size < old.size {
            return Err(misbehaved(format!(
                "ROLLBACK: the log's tree has {} entries, fewer than the {} of the checkpoint seen before",
                cp.size, old.size
            )));
        }
        if cp.size == old.size && cp.root != old_root {
            return Err(misbehaved(format!(
                "SPLIT VIEW: two different signed trees of size {}: {} before, {} now",
                cp.size,
                old.root,
                cp.root.to_base64()
            )));
        }
        if cp.size > old.size {
            let v = f.json(&format!("/v1/log/proofs/consistency?from={}&to={}", old.size, cp.size)).await?;
            let proof = hashes(&v, "proof")?;
            verify_consistency(old.size, cp.size, &proof, &old_root.0, &cp.root.0).map_err(|e| {
                misbehaved(format!(
                    "SPLIT VIEW OR REWRITE: the tree of size {} does not extend the one of size {} seen before: {e}",
                    cp.size, old.size
                ))
            })?;
            crate::out!("consistent with the checkpoint seen before (size {})", old.size);
        } else {
            crate::out!("same tree as the checkpoint seen before");
        }
    } else {
        crate::out!("no earlier checkpoint to compare with; trusting key {}", key.to_key_string());
    }
    if a.full {
        let started = std::time::Instant::now();
        full_audit(&f, &cp).await?;
        let secs = started.elapsed().as_secs_f64();
        crate::out!(
            "full audit: {} entries and every tile match the root ({:.2} s, {:.0} entries/s)",
            cp.size,
            secs,
            cp.size as f64 / secs.max(1e-9)
        );
    }
    if let Some(path) = &a.target.state {
        let s = AuditState { key: key.to_key_string(), size: cp.size, root: cp.root.to_base64(), checkpoint: note };
        save_state(path, &s)?;
    }
    // The checkpoint checked out (and is kept); a log that stopped growing is reported apart.
    check_growth(&f, &key, &cp, a.max_lag).await?;
    crate::out!("OK");
    Ok(())
}

/// Checks that the log keeps up with the registry: the server's own word (`logHalted` on
/// /healthz), then the signed tree's size against the registry's last event (`lastEvent`),
/// given [`LAG_GRACE`] to catch up when it trails by more than `max_lag`.
async fn check_growth(f: &Fetcher, key: &NoteVerifier, cp: &Checkpoint, max_lag: u64) -> anyhow::Result<()> {
    let health = f.json("/healthz").await.context("the registry's last event (/healthz)")?;
    let last = health["lastEvent"].as_u64().context("/healthz: no lastEvent")?;
    if let Some(why) = health["logHalted"].as_str() {
        return Err(anyhow::Error::new(NotGrowing(format!(
            "the server says its log has halted: {why} (the signed tree has {} entries, the registry {last} events)",
            cp.size
        ))));
    }
    let mut size = cp.size;
    let deadline = std::time::Instant::now() + LAG_GRACE;
    while last.saturating_sub(size) > max_lag {
        if std::time::Instant::now() >= deadline {
            return Err(anyhow::Error::new(NotGrowing(format!(
                "the signed tree has {size} entries and the registry {last} events: {} behind, more than \
                 --max-lag {max_lag}, after {} s to catch up",
                last - size,
                LAG_GRACE.as_secs()
            ))));
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        size = size.max(fetch_checkpoint(f, key).await?.0.size);
    }
    crate::out!("the signed tree ({size} entries) keeps up with the registry ({last} events; --max-lag {max_lag})");
    Ok(())
}

/// Rebuilds the tree from the entry bundles, comparing each leaf hash with the served level-0
/// tiles and every tile the rebuild produces with the served one, then the root.
async fn full_audit(f: &Fetcher, cp: &Checkpoint) -> anyhow::Result<()> {
    let mut edge = TreeEdge::new();
    let bundles = cp.size.div_ceil(TILE_WIDTH as u64);
    for n in 0..bundles {
        let width = (cp.size - n * TILE_WIDTH as u64).min(TILE_WIDTH as u64) as u16;
        let entries_path = TilePath::Entries { index: n, width }.format();
        let bundle = f.get_ok(&format!("/log/{entries_path}")).await?;
        let entries = parse_bundle(&bundle).map_err(|e| misbehaved(format!("{entries_path}: {e}")))?;
        if entries.len() != usize::from(width) {
            return Err(misbehaved(format!("{entries_path}: {} entries, not {width}", entries.len())));
        }
        let leaves: Vec<Hash> = entries.iter().map(|e| leaf_hash(e)).collect();
        let updates = edge.append(leaves.iter().copied());
        for t in updates {
            // Level-0 tiles first compare with the entries themselves (the first mismatch is
            // named); every tile is then compared with what the rebuild computed.
            let path = TilePath::Hashes { id: t.id, width: t.hashes.len() as u16 }.format();
            let served = f.get_ok(&format!("/log/{path}")).await?;
            let served = parse_hash_tile(&served).map_err(|e| misbehaved(format!("{path}: {e}")))?;
            if served != t.hashes {
                let at =
                    served.iter().zip(&t.hashes).position(|(a, b)| a != b).unwrap_or(served.len().min(t.hashes.len()));
                let what = if t.id.level == 0 {
                    format!("entry {} (event {}) does not hash to", leaf_number(t.id, at), leaf_number(t.id, at) + 1)
                } else {
                    format!("hash {at} is not the hash of its subtree in")
                };
                return Err(misbehaved(format!("REWRITE: {what} the served tile {path}")));
            }
        }
    }
    if edge.root() != cp.root {
        return Err(misbehaved(format!(
            "REWRITE: the entries give root {}, the checkpoint says {}",
            edge.root().to_base64(),
            cp.root.to_base64()
        )));
    }
    Ok(())
}

fn leaf_number(tile: TileId, at: usize) -> u64 {
    tile.index * TILE_WIDTH as u64 + at as u64
}

/// An entry whose inclusion proof verified against a signed checkpoint.
struct Included {
    cp: Checkpoint,
    entry: Vec<u8>,
    /// The entry as JSON (an event in its log form).
    doc: serde_json::Value,
    index: u64,
    proof: Vec<Vec<u8>>,
    leaf: Hash,
}

/// The entry to prove.
#[derive(Debug, Clone, Copy)]
enum Wanted<'a> {
    /// The event of this sequence number.
    Event(u64),
    /// The registration of the certificate of this fingerprint (hex SHA-256 of its DER).
    Certificate(&'a str),
}

/// The event that registered certificate `fingerprint`, as the server names it (whether it
/// is that certificate's registration is checked on its entry, once proven), waiting until
/// `deadline` while it is not integrated yet.
async fn certificate_event(f: &Fetcher, fingerprint: &str, deadline: std::time::Instant) -> anyhow::Result<u64> {
    let query = format!("/v1/log/proofs/inclusion?fingerprint={}", urlencode(fingerprint));
    loop {
        let (status, body) = f.get(&query).await?;
        if status == reqwest::StatusCode::CONFLICT && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            continue;
        }
        if !status.is_success() {
            bail!("certificate {fingerprint}: {status}: {}", String::from_utf8_lossy(&body));
        }
        let v: serde_json::Value = serde_json::from_slice(&body).context("the proof is not JSON")?;
        return v["event"]
            .as_u64()
            .filter(|n| *n > 0)
            .ok_or_else(|| misbehaved(format!("the proof of certificate {fingerprint} names no event")));
    }
}

/// Fetches the newest checkpoint and the inclusion proof of the entry `wanted` names in it,
/// waiting until `deadline` while the entry is not integrated yet; verifies the proof against
/// the checkpoint's root at the leaf of the event asked for, and that the entry proven is that
/// event (and, for a certificate, its registration).
async fn included(
    f: &Fetcher,
    key: &NoteVerifier,
    wanted: Wanted<'_>,
    deadline: std::time::Instant,
) -> anyhow::Result<Included> {
    let seq = match wanted {
        Wanted::Event(0) => bail!("there is no event 0: events are numbered from 1"),
        Wanted::Event(n) => n,
        Wanted::Certificate(fp) => certificate_event(f, fp, deadline).await?,
    };
    let (cp, v) = loop {
        let (cp, _) = fetch_checkpoint(f, key).await?;
        let now = std::time::Instant::now();
        if cp.size < seq && now < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            continue;
        }
        if cp.size < seq {
            bail!("event {seq} is not in the log's signed tree (size {}) yet; try again later or give --wait", cp.size);
        }
        let (status, body) = f.get(&format!("/v1/log/proofs/inclusion?event={seq}&size={}", cp.size)).await?;
        if status == reqwest::StatusCode::CONFLICT && now < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            continue;
        }
        if !status.is_success() {
            bail!("event {seq}: {status}: {}", String::from_utf8_lossy(&body));
        }
        break (cp, serde_json::from_slice::<serde_json::Value>(&body).context("the proof is not JSON")?);
    };
    let index = seq - 1;
    match v["leafIndex"].as_u64() {
        Some(i) if i == index => {}
        other => {
            return Err(misbehaved(format!(
                "asked for the proof of event {seq} (leaf {index}), the log answered for leaf {other:?}"
            )));
        }
    }
    let entry = STANDARD.decode(v["entry"].as_str().unwrap_or("")).map_err(|_| misbehaved("entry: not base64"))?;
    let proof = hashes(&v, "proof")?;
    let leaf = leaf_hash(&entry);
    verify_inclusion(&leaf.0, index, cp.size, &proof, &cp.root.0)
        .map_err(|e| misbehaved(format!("the inclusion proof of leaf {index} does not verify: {e}")))?;
    // The proof binds the entry to leaf `index`; the entry must be the event asked for.
    let doc: serde_json::Value = serde_json::from_slice(&entry)
        .map_err(|e| misbehaved(format!("the entry at leaf {index} is not an event: {e}")))?;
    if doc["seq"].as_u64() != Some(seq) {
        return Err(misbehaved(format!("the entry at leaf {index} is event {}, not event {seq}", doc["seq"])));
    }
    if let Wanted::Certificate(fp) = wanted {
        let registers = doc["kind"] == "certificate.registered"
            && doc["body"]["fingerprint"].as_str().is_some_and(|f| f.eq_ignore_ascii_case(fp.trim()));
        if !registers {
            return Err(misbehaved(format!(
                "event {seq}, proved for certificate {fp}, is {} {}, not that certificate's registration",
                doc["kind"], doc["body"]["fingerprint"]
            )));
        }
    }
    Ok(Included { cp, entry, doc, index, proof, leaf })
}

/// Checks that each event a trace cites (its `evidence`: `seq`, `kind`, `at`, and the
/// `proof` it may carry) is in the log under a signed checkpoint, as that event: the entry
/// proven must have the cited sequence number, kind and time (and be the entry of the cited
/// proof). The key as for `vouch log prove`: `key`, else the server's. Returns the last
/// checkpoint's size and the key name.
pub(crate) async fn check_events(
    url: &str,
    key: Option<String>,
    cited: &[serde_json::Value],
) -> anyhow::Result<(u64, String)> {
    let f = Fetcher::new(url)?;
    let target = LogTarget { url: url.to_owned(), key, state: None };
    let key = trusted_key(&f, &target, None).await?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut size = 0;
    for c in cited {
        let seq = c["seq"]
            .as_u64()
            .filter(|s| *s > 0)
            .ok_or_else(|| misbehaved(format!("the trace cites an event without a sequence number: {c}")))?;
        let proven = included(&f, &key, Wanted::Event(seq), deadline).await?;
        if proven.doc["kind"] != c["kind"] {
            return Err(misbehaved(format!(
                "the trace cites event {seq} as {}, the log's entry for it is {}",
                c["kind"], proven.doc["kind"]
            )));
        }
        let instant = |v: &serde_json::Value| v.as_str().and_then(|t| t.parse::<jiff::Timestamp>().ok());
        if let (Some(cited_at), Some(logged)) = (instant(&c["at"]), instant(&proven.doc["time"]))
            && cited_at != logged
        {
            return Err(misbehaved(format!(
                "the trace cites event {seq} at {cited_at}, the log's entry for it is of {logged}"
            )));
        }
        if let Some(e) = c["proof"]["entry"].as_str()
            && STANDARD.decode(e).ok().as_deref() != Some(proven.entry.as_slice())
        {
            return Err(misbehaved(format!("the trace's proof of event {seq} carries another entry than the log's")));
        }
        size = proven.cp.size;
    }
    Ok((size, key.name().to_owned()))
}

async fn prove(a: ProveArgs) -> anyhow::Result<()> {
    let f = Fetcher::new(&a.target.url)?;
    let state = load_state(a.target.state.as_deref())?;
    let wanted = match (&a.event, &a.fingerprint) {
        (Some(e), _) => Wanted::Event(*e),
        (None, Some(fp)) => Wanted::Certificate(fp),
        (None, None) => bail!("give --event or --fingerprint"),
    };
    if let Wanted::Event(0) = wanted {
        bail!("--event 0: events are numbered from 1");
    }
    let key = trusted_key(&f, &a.target, state.as_ref()).await?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(a.wait);
    let Included { cp, entry, index, proof, leaf, .. } = included(&f, &key, wanted, deadline).await?;
    crate::out!("entry {} (event {}): {}", index, index + 1, String::from_utf8_lossy(&entry));
    crate::out!("leaf hash {}", leaf.to_base64());
    for (i, p) in proof.iter().enumerate() {
        crate::out!("proof[{i}] {}", STANDARD.encode(p));
    }
    crate::out!(
        "included in the tree of size {} with root {}, checkpoint signed by {}: OK",
        cp.size,
        cp.root.to_base64(),
        key.name()
    );
    Ok(())
}

/// `s` percent-encoded for a query string.
fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
