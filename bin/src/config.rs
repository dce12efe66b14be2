//! `vouch serve` configuration: flags, `VOUCH_*` environment variables, and an optional TOML
//! file, in that order of precedence, with errors that name the bad value and its source.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

/// Flags of `vouch serve`; each also reads a `VOUCH_*` environment variable.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Directory of the embedded store, the administrator key and other state [default: ./vouch-data]
    #[arg(long, env = "VOUCH_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// The registry's database: a postgres:// URL (PostgreSQL or a compatible engine, which
    /// several nodes may share) [default: the embedded store, <data-dir>/vouch.db]
    #[arg(long, env = "VOUCH_DATABASE_URL")]
    pub database: Option<String>,
    /// Address of the REST API listener [default: 127.0.0.1:8080]
    #[arg(long, env = "VOUCH_HTTP")]
    pub http: Option<SocketAddr>,
    /// Most HTTP connections open at once; past it, new ones wait in the listen backlog until
    /// one closes (keep the process's open-file limit above it) [default: 4096]
    #[arg(long, env = "VOUCH_HTTP_MAX_CONNECTIONS", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub http_max_connections: Option<u32>,
    /// Most HTTP connections open at once from one address; past it, its new connections are
    /// closed at once (behind a load balancer, raise it above the balancer's connection pool)
    /// [default: 256]
    #[arg(long, env = "VOUCH_HTTP_MAX_CONNECTIONS_PER_ADDRESS", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub http_max_connections_per_address: Option<u32>,
    /// PEM certificate chain the --http listener presents: it then speaks HTTPS only (with
    /// --http-tls-key; re-read within a minute when the files change)
    #[arg(long, env = "VOUCH_HTTP_TLS_CERT")]
    pub http_tls_cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, SEC1 or PKCS#1) of that certificate
    #[arg(long, env = "VOUCH_HTTP_TLS_KEY")]
    pub http_tls_key: Option<PathBuf>,
    /// Log format: text or json [default: text]
    #[arg(long, env = "VOUCH_LOG_FORMAT", value_parser = ["text", "json"])]
    pub log_format: Option<String>,
    /// TOML file with the same settings (data_dir, http, log_format, and the call
    /// authentication ones); flags and environment win.
    #[arg(long, env = "VOUCH_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address of the SIP redirect server, UDP and TCP on the same port (off by default)
    #[arg(long, env = "VOUCH_SIP")]
    pub sip: Option<SocketAddr>,
    /// Address of the SIP-over-TLS listener (RFC 3261 section 26; needs --sip, --sip-tls-cert
    /// and --sip-tls-key; off by default)
    #[arg(long, env = "VOUCH_SIPS")]
    pub sips: Option<SocketAddr>,
    /// PEM certificate chain the SIP-over-TLS listener presents (re-read when it changes)
    #[arg(long, env = "VOUCH_SIP_TLS_CERT")]
    pub sip_tls_cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, SEC1 or PKCS#1) of that certificate
    #[arg(long, env = "VOUCH_SIP_TLS_KEY")]
    pub sip_tls_key: Option<PathBuf>,
    /// Base URL verifiers reach this server at, for the x5u of certificates vouch serves
    /// [default: http://<--http address>, https:// with --http-tls-cert]
    #[arg(long, env = "VOUCH_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Directory of STI-PA trust anchors, CRL signers and CRLs (PEM; *.crl) for verification
    #[arg(long, env = "VOUCH_TRUST_DIR")]
    pub trust_dir: Option<PathBuf>,
    /// Directory of private key files providers may name [default: <data-dir>/keys]
    #[arg(long, env = "VOUCH_KEY_DIR")]
    pub key_dir: Option<PathBuf>,
    /// A network x5u fetches may reach although special-purpose (loopback, private); repeatable
    #[arg(long = "x5u-allow-net", env = "VOUCH_X5U_ALLOW_NET", value_delimiter = ',')]
    pub x5u_allow_net: Vec<ipnet::IpNet>,
    /// A special-purpose network (loopback, private, link-local…) webhooks may reach: the
    /// operator's own receivers (127.0.0.0/8 for ones on this host); repeatable
    #[arg(long = "webhook-allow-net", env = "VOUCH_WEBHOOK_ALLOW_NET", value_delimiter = ',')]
    pub webhook_allow_net: Vec<ipnet::IpNet>,
    /// A network whose clients may read /metrics without a key (Prometheus scrapers);
    /// repeatable; replaces the default, loopback. Others need the administrator's key
    #[arg(long = "metrics-allow", env = "VOUCH_METRICS_ALLOW", value_delimiter = ',')]
    pub metrics_allow: Vec<ipnet::IpNet>,
    /// PEM file of extra CA certificates trusted for x5u fetches' TLS, besides the Mozilla
    /// roots (a lab's or a private certificate repository's CA)
    #[arg(long = "x5u-tls-root", env = "VOUCH_X5U_TLS_ROOT")]
    pub x5u_tls_root: Option<PathBuf>,
    /// Calls from providers absent from the Robocall Mitigation Database: block or flag [default: block]
    #[arg(long, env = "VOUCH_RMD_POLICY", value_parser = ["block", "flag"])]
    pub rmd_policy: Option<String>,
    /// SIP calls whose PASSporT fails: reject (RFC 8224 code) or continue (302 with
    /// Reason: STIR, RFC 9410) [default: reject]
    #[arg(long, env = "VOUCH_VERIFY_FAILURE", value_parser = ["reject", "continue"])]
    pub verify_failure: Option<String>,
    /// A PASSporT replayed for another call: block or flag [default: block]
    #[arg(long, env = "VOUCH_REPLAY_POLICY", value_parser = ["block", "flag"])]
    pub replay_policy: Option<String>,
    /// How far a PASSporT's iat may be from the clock, seconds [default: 60]
    #[arg(long, env = "VOUCH_FRESHNESS", value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub freshness: Option<u32>,
    /// Answer 428 to an unsigned INVITE from a peer vouch cannot sign for (else 302 with
    /// verstat=No-TN-Validation)
    #[arg(long, env = "VOUCH_REQUIRE_IDENTITY")]
    pub require_identity: bool,
    /// Fail closed on revocation: a chain verifies (437 otherwise) and a certificate registers
    /// only when a CRL of --trust-dir in effect covers each of its certificates below the
    /// anchor (without it, a certificate no CRL speaks for is taken as not revoked)
    #[arg(long, env = "VOUCH_REQUIRE_CRL")]
    pub require_crl: bool,
    /// The transparency log's origin line and key name, fixed when the log is created
    /// [default: <public URL without scheme>/log]
    #[arg(long, env = "VOUCH_LOG_ORIGIN")]
    pub log_origin: Option<String>,
    /// Most milliseconds between transparency-log batches (events are integrated and a
    /// checkpoint signed at least this often while there are new events) [default: 500]
    #[arg(long, env = "VOUCH_LOG_INTERVAL", value_parser = clap::value_parser!(u32).range(10..=60_000))]
    pub log_interval: Option<u32>,
    /// An auditor's state file (`vouch log verify --state`, or a backup's log-state.json): the
    /// start is refused when this store's log is older than that tree or does not extend it
    /// (a restore from an old backup, whose writes would publish a split view)
    #[arg(long, env = "VOUCH_LOG_AUDIT_STATE")]
    pub log_audit_state: Option<PathBuf>,
    /// Call Placement Service: accept PASSporTs in the clear (optional) or only sealed to the
    /// terminating provider (required, privacy mode) [default: optional]
    #[arg(long, env = "VOUCH_CPS_PRIVACY", value_parser = ["optional", "required"])]
    pub cps_privacy: Option<String>,
    /// File of the secret (32+ bytes) CPS records are named with; give every node the same
    /// [default: <data-dir>/cps-naming.key, created]
    #[arg(long, env = "VOUCH_CPS_KEY_FILE")]
    pub cps_key_file: Option<PathBuf>,
    /// Address of the SMPP 3.4 gateway listener (off by default)
    #[arg(long, env = "VOUCH_SMPP")]
    pub smpp: Option<SocketAddr>,
    /// Address of the SMPP-over-TLS listener (needs --smpp-tls-cert and --smpp-tls-key; may run
    /// beside --smpp or alone)
    #[arg(long, env = "VOUCH_SMPPS")]
    pub smpps: Option<SocketAddr>,
    /// PEM certificate chain the SMPP-over-TLS listener presents
    #[arg(long, env = "VOUCH_SMPP_TLS_CERT")]
    pub smpp_tls_cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, SEC1 or PKCS#1) of that certificate
    #[arg(long, env = "VOUCH_SMPP_TLS_KEY")]
    pub smpp_tls_key: Option<PathBuf>,
    /// Upstream SMSC: smpp://SYSTEM_ID:PASSWORD@HOST:PORT[?prefixes=1202,1310&window=512], or
    /// smpps:// for TLS (with &ca=PEM_FILE&server_name=NAME); SYSTEM_ID and PASSWORD are
    /// percent-encoded (%40 for @, %3A for :, %25 for %, %20 for a space; + is itself).
    /// Repeatable, one URL per flag (the longest matching destination prefix routes, else the
    /// one without prefixes); SMSCs with the same &group=NAME share a route (round-robin over
    /// the bound ones, failover), &binds=N opens N binds of one account [env: VOUCH_SMSC,
    /// several URLs separated by spaces]
    #[arg(long, value_name = "URL")]
    pub smsc: Vec<String>,
    /// VOUCH_SMSC, read here rather than by clap: clap's delimiter would split `--smsc` too.
    #[arg(skip = std::env::var_os("VOUCH_SMSC"))]
    pub smsc_env: Option<std::ffi::OsString>,
    /// The DCA (provider id) this gateway carries campaigns for
    #[arg(long, env = "VOUCH_GATEWAY_DCA")]
    pub gateway_dca: Option<String>,
    /// Messages failing a check: block (refuse) or flag (forward and record) [default: block]
    #[arg(long, env = "VOUCH_GATEWAY_POLICY", value_parser = ["block", "flag"])]
    pub gateway_policy: Option<String>,
    /// Outstanding submits an ESME may have [default: 256]
    #[arg(long, env = "VOUCH_SMPP_WINDOW", value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub smpp_window: Option<u32>,
    /// Hours a message's delivery receipt is awaited (its id kept to route the receipt): the
    /// longest validity period of the carriers behind the SMSCs [default: 72]
    #[arg(long, env = "VOUCH_SMPP_RECEIPT_WINDOW_HOURS", value_parser = clap::value_parser!(u32).range(1..=2160))]
    pub smpp_receipt_window_hours: Option<u32>,
    /// Days gateway decision records are kept [default: 90]
    #[arg(long, env = "VOUCH_GATEWAY_RETENTION_DAYS", value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub gateway_retention_days: Option<u32>,
    /// File of content terms the gateway refuses (one per line, optionally `label<TAB>term`)
    #[arg(long, env = "VOUCH_CONTENT_RULES")]
    pub content_rules: Option<PathBuf>,
    /// Enforcement policies: on (suspend what crosses a threshold) or off (scores only)
    /// [default: on]
    #[arg(long, env = "VOUCH_ENFORCEMENT", value_parser = ["on", "off"])]
    pub enforcement: Option<String>,
    /// Suspend a campaign (or every campaign of a brand) whose risk score reaches this
    /// [default: 70]
    #[arg(long, env = "VOUCH_SUSPEND_AT", value_parser = clap::value_parser!(u8).range(1..=100))]
    pub suspend_at: Option<u8>,
    /// Suspend a number reported against its current holding by this many different providers
    /// [default: 5]
    #[arg(long, env = "VOUCH_SUSPEND_NUMBER_REPORTS", value_parser = clap::value_parser!(u64).range(1..))]
    pub suspend_number_reports: Option<u64>,
    /// Seconds between enforcement sweeps over campaigns with new activity [default: 30]
    #[arg(long, env = "VOUCH_ENFORCEMENT_INTERVAL", value_parser = clap::value_parser!(u32).range(1..=86_400))]
    pub enforcement_interval: Option<u32>,
    /// Rebuild the registry's view tables from its events before serving (after a restore or
    /// damage to the views; docs/OPERATIONS.md), once
    #[arg(long)]
    pub rebuild_views: bool,
}

/// The `[risk]` table of the TOML file: the window, the enforcement thresholds and the
/// scoring thresholds (each `{ at = …, weight = … }`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRisk {
    enforcement: Option<String>,
    suspend_at: Option<u8>,
    suspend_number_reports: Option<u64>,
    interval_secs: Option<u32>,
    window_hours: Option<u32>,
    #[serde(default)]
    scoring: Option<vouch_registry::RiskPolicy>,
}

/// The `[gateway]` table of the TOML file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileGateway {
    smpp: Option<String>,
    smpps: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    smsc: Option<Vec<String>>,
    dca: Option<String>,
    policy: Option<String>,
    window: Option<u32>,
    retention_days: Option<u32>,
    receipt_window_hours: Option<u32>,
    content_rules: Option<PathBuf>,
    /// Multiplies every class's messages per minute.
    minute_scale: Option<f64>,
    /// Daily caps by tier: top, upper_mid, lower_mid, low, sole_proprietor.
    daily_caps: Option<[u64; 5]>,
}

/// The SMPP gateway's settings.
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    /// The plain listener.
    pub listen: Option<SocketAddr>,
    /// The TLS listener, its certificate chain and key files.
    pub tls: Option<(SocketAddr, PathBuf, PathBuf)>,
    pub smscs: Vec<crate::smpp::SmscConfig>,
    pub dca: vouch_registry::ProviderId,
    pub policy: vouch_gateway::Policy,
    pub window: usize,
    pub retention_days: u32,
    /// Hours a delivery receipt is awaited.
    pub receipt_window_hours: u32,
    pub content_rules: Option<PathBuf>,
    pub throughput: vouch_gateway::ThroughputConfig,
}

/// A URL (database, SMSC) without its password, for messages: `smpp://up:***@127.0.0.1:2775`.
/// Everything from the first `:` of the user information to the last `@` is hidden, so a
/// password that is not well-formed (holding `@`, `/` or a space) is hidden whole; a string with
/// no `scheme://` is read as user information from its start.
pub fn redact(url: &str) -> String {
    let Some(at) = url.rfind('@') else { return url.to_owned() };
    let start = url[..at].find("://").map_or(0, |s| s + 3);
    match url[start..at].split_once(':') {
        Some((user, _)) => format!("{}{user}:***{}", &url[..start], &url[at..]),
        None => url.to_owned(),
    }
}

/// [`redact`] on each line of a message that may quote URLs, such as a TOML error (which quotes
/// the line and the value). In a line without `scheme://`, the word holding the last `@`.
fn redact_lines(text: &str) -> String {
    text.split_inclusive('\n')
        .map(|line| {
            let Some(at) = line.rfind('@') else { return line.to_owned() };
            let start = match line[..at].find("://") {
                Some(_) => 0,
                None => line[..at].rfind([' ', '"', '\'', '[', ',', '=']).map_or(0, |i| i + 1),
            };
            format!("{}{}", &line[..start], redact(&line[start..]))
        })
        .collect()
}

/// The TOML file's settings.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    database: Option<String>,
    http: Option<String>,
    http_max_connections: Option<u32>,
    http_max_connections_per_address: Option<u32>,
    http_tls_cert: Option<PathBuf>,
    http_tls_key: Option<PathBuf>,
    log_format: Option<String>,
    sip: Option<String>,
    sips: Option<String>,
    sip_tls_cert: Option<PathBuf>,
    sip_tls_key: Option<PathBuf>,
    public_url: Option<String>,
    trust_dir: Option<PathBuf>,
    key_dir: Option<PathBuf>,
    x5u_allow_net: Option<Vec<String>>,
    webhook_allow_net: Option<Vec<String>>,
    metrics_allow: Option<Vec<String>>,
    x5u_tls_root: Option<PathBuf>,
    rmd_policy: Option<String>,
    verify_failure: Option<String>,
    replay_policy: Option<String>,
    freshness: Option<u32>,
    require_identity: Option<bool>,
    require_crl: Option<bool>,
    log_origin: Option<String>,
    log_interval: Option<u32>,
    log_audit_state: Option<PathBuf>,
    cps_privacy: Option<String>,
    cps_key_file: Option<PathBuf>,
    cps_ttl: Option<u32>,
    cps_audience: Option<String>,
    #[serde(default)]
    gateway: FileGateway,
    #[serde(default)]
    risk: FileRisk,
}

/// The resolved settings.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub data_dir: PathBuf,
    /// A PostgreSQL URL, or `None` for the embedded store in `data_dir`.
    pub database: Option<String>,
    pub http: SocketAddr,
    /// Most HTTP connections open at once (`--http-max-connections`).
    pub http_max_connections: usize,
    /// Most HTTP connections open at once from one address.
    pub http_max_connections_per_address: usize,
    /// The certificate and key files of HTTPS on the `--http` listener.
    pub http_tls: Option<(PathBuf, PathBuf)>,
    pub json_logs: bool,
    pub voice: VoiceSettings,
    /// The transparency log's origin.
    pub log_origin: String,
    /// Milliseconds between log batches.
    pub log_interval: u32,
    /// An auditor's state the log must extend (`--log-audit-state`).
    pub log_audit_state: Option<PathBuf>,
    /// The SMPP gateway, when `--smpp` is given.
    pub gateway: Option<GatewaySettings>,
    /// Risk scoring and enforcement.
    pub abuse: vouch_service::AbusePolicy,
    /// The Call Placement Service.
    pub cps: CpsSettings,
    /// Rebuild the registry's views from the events before serving (`--rebuild-views`).
    pub rebuild_views: bool,
    /// Special-purpose networks webhooks may reach (`--webhook-allow-net`).
    pub webhook_allow_net: Vec<ipnet::IpNet>,
    /// Networks whose clients read `/metrics` without a key (`--metrics-allow`; `None`: the
    /// default, loopback).
    pub metrics_allow: Option<Vec<ipnet::IpNet>>,
}

/// Call Placement Service settings.
#[derive(Debug, Clone)]
pub struct CpsSettings {
    /// Only sealed PASSporTs (privacy mode).
    pub privacy_required: bool,
    /// Seconds items are held.
    pub ttl: u32,
    /// The naming secret's file.
    pub key_file: PathBuf,
    /// The `aud` tokens must carry.
    pub audience: String,
}

/// Call authentication settings.
#[derive(Debug, Clone)]
pub struct VoiceSettings {
    pub sip: Option<SocketAddr>,
    /// The SIP-over-TLS listener, its certificate chain and key files.
    pub sips: Option<(SocketAddr, PathBuf, PathBuf)>,
    pub public_url: String,
    pub trust_dir: Option<PathBuf>,
    pub key_dir: PathBuf,
    pub x5u_allow_net: Vec<ipnet::IpNet>,
    /// Extra TLS trust anchors for x5u fetches (DER), from `--x5u-tls-root`.
    pub x5u_tls_roots: Vec<Vec<u8>>,
    pub rmd_block: bool,
    pub continue_on_failure: bool,
    pub replay_block: bool,
    pub freshness: u32,
    pub require_identity: bool,
    pub require_crl: bool,
}

/// Refuses SMSC lists whose routing would be ambiguous. SMSCs with the same `group=` name
/// form one route (messages go to any bound one of them), so they must give the same prefixes;
/// otherwise each URL is a route of its own. Two routes may not share a prefix, nor both have
/// none (the default route): routing would take the first, and the second would never be sent
/// anything. The same SMSC account (address and system_id) twice is refused too: `binds=N`
/// asks for several binds of one account.
fn check_smsc_routes(urls: &[String], smscs: &[crate::smpp::SmscConfig]) -> anyhow::Result<()> {
    let sorted = |s: &crate::smpp::SmscConfig| {
        let mut p = s.prefixes.clone();
        p.sort();
        p.dedup();
        p
    };
    // The same route: both in one group.
    let together = |a: &crate::smpp::SmscConfig, b: &crate::smpp::SmscConfig| a.group.is_some() && a.group == b.group;
    for (i, a) in smscs.iter().enumerate() {
        if let Some(j) = smscs[..i].iter().position(|b| (b.addr, &b.system_id) == (a.addr, &a.system_id)) {
            bail!(
                "--smsc {:?} and {:?} are the same SMSC (address {}, system_id {:?}); give each SMSC once (binds=N \
                 for several binds of one account)",
                redact(&urls[j]),
                redact(&urls[i]),
                a.addr,
                a.system_id
            );
        }
        if let Some(j) = smscs[..i].iter().position(|b| together(a, b) && sorted(a) != sorted(b)) {
            bail!(
                "--smsc {:?} and {:?} are both in group {:?} but route different prefixes; give every SMSC of a \
                 group the same prefixes (or none, for the default route)",
                redact(&urls[j]),
                redact(&urls[i]),
                a.group.as_deref().unwrap_or_default()
            );
        }
        if a.prefixes.is_empty()
            && let Some(j) = smscs[..i].iter().position(|b| b.prefixes.is_empty() && !together(a, b))
        {
            bail!(
                "--smsc {:?} and {:?} both have no prefixes: only the first would carry the destinations no prefix \
                 routes; give one of them ?prefixes=, or give both the same group=NAME to share the route (failover)",
                redact(&urls[j]),
                redact(&urls[i]),
            );
        }
        for p in &a.prefixes {
            if let Some(j) = smscs[..i].iter().position(|b| b.prefixes.contains(p) && !together(a, b)) {
                bail!(
                    "--smsc {:?} and {:?} both route prefix {p}: only the first would carry it; give each prefix to \
                     one SMSC, or give both the same group=NAME to share the route (failover)",
                    redact(&urls[j]),
                    redact(&urls[i]),
                );
            }
        }
    }
    Ok(())
}

/// A socket address the flag or else the TOML file's `key` gives (`example` shows the form).
fn file_address(
    file_name: &str,
    key: &str,
    example: &str,
    flag: Option<SocketAddr>,
    file: Option<String>,
) -> anyhow::Result<Option<SocketAddr>> {
    match (flag, file) {
        (Some(a), _) => Ok(Some(a)),
        (None, Some(s)) => Ok(Some(
            s.parse()
                .with_context(|| format!("{file_name}: {key} = {s:?} is not a socket address such as {example}"))?,
        )),
        (None, None) => Ok(None),
    }
}

/// A TLS listener (`names`: its flag, its certificate's and its key's) with its certificate
/// and key files: all three, or none.
fn tls_listener(
    (listener, cert_flag, key_flag): (&str, &str, &str),
    addr: Option<SocketAddr>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
) -> anyhow::Result<Option<(SocketAddr, PathBuf, PathBuf)>> {
    match (addr, cert, key) {
        (Some(a), Some(cert), Some(key)) => Ok(Some((a, cert, key))),
        (Some(_), _, _) => bail!("{listener} needs {cert_flag} and {key_flag} (PEM files)"),
        (None, None, None) => Ok(None),
        (None, _, _) => bail!("{cert_flag} and {key_flag} are for the {listener} listener, which is not set"),
    }
}

/// A number the flag (range-checked by clap) or else the TOML file sets, or `default`: a file's
/// value outside `range` is refused with the file and key named, never clamped.
fn file_number<T: Copy + PartialOrd + std::fmt::Display>(
    file_name: &str,
    key: &str,
    flag: Option<T>,
    file: Option<T>,
    range: std::ops::RangeInclusive<T>,
    default: T,
) -> anyhow::Result<T> {
    match (flag, file) {
        (Some(v), _) => Ok(v),
        (None, Some(v)) if !range.contains(&v) => {
            bail!("{file_name}: {key} = {v} must be {} to {}", range.start(), range.end())
        }
        (None, v) => Ok(v.unwrap_or(default)),
    }
}

fn choice(name: &str, file_name: &str, v: Option<String>, allowed: [&str; 2]) -> anyhow::Result<bool> {
    match v {
        None => Ok(true),
        Some(v) if v == allowed[0] => Ok(true),
        Some(v) if v == allowed[1] => Ok(false),
        Some(v) => bail!("{file_name}: {name} = {v:?} must be \"{}\" or \"{}\"", allowed[0], allowed[1]),
    }
}

impl ServeArgs {
    /// Resolves flags, environment, file and defaults.
    pub fn resolve(self) -> anyhow::Result<ServeConfig> {
        let file = match &self.config {
            Some(path) => load(path)?,
            None => FileConfig::default(),
        };
        let file_name = self.config.as_deref().map(Path::display).map(|d| d.to_string()).unwrap_or_default();
        let http = file_address(&file_name, "http", "127.0.0.1:8080", self.http, file.http)?
            .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8080)));
        let log_format = self.log_format.or(file.log_format).unwrap_or_else(|| "text".into());
        if !matches!(log_format.as_str(), "text" | "json") {
            bail!("{file_name}: log_format = {log_format:?} must be \"text\" or \"json\"");
        }
        let sip = file_address(&file_name, "sip", "127.0.0.1:5060", self.sip, file.sip)?;
        let sips = file_address(&file_name, "sips", "127.0.0.1:5061", self.sips, file.sips)?;
        if sips.is_some() && sip.is_none() {
            bail!("--sips needs --sip (the UDP and TCP listener)");
        }
        let sips = tls_listener(
            ("--sips", "--sip-tls-cert", "--sip-tls-key"),
            sips,
            self.sip_tls_cert.or(file.sip_tls_cert),
            self.sip_tls_key.or(file.sip_tls_key),
        )?;
        let mut allow = self.x5u_allow_net;
        if allow.is_empty() {
            for n in file.x5u_allow_net.unwrap_or_default() {
                allow.push(
                    n.parse().with_context(|| format!("{file_name}: x5u_allow_net {n:?} is not a CIDR network"))?,
                );
            }
        }
        let mut webhook_allow_net = self.webhook_allow_net;
        if webhook_allow_net.is_empty() {
            for n in file.webhook_allow_net.unwrap_or_default() {
                webhook_allow_net.push(
                    n.parse().with_context(|| format!("{file_name}: webhook_allow_net {n:?} is not a CIDR network"))?,
                );
            }
        }
        let metrics_allow = if self.metrics_allow.is_empty() {
            match file.metrics_allow {
                Some(nets) => Some(
                    nets.iter()
                        .map(|n| {
                            n.parse().with_context(|| format!("{file_name}: metrics_allow {n:?} is not a CIDR network"))
                        })
                        .collect::<anyhow::Result<Vec<_>>>()?,
                ),
                None => None,
            }
        } else {
            Some(self.metrics_allow)
        };
        let data_dir = self.data_dir.or(file.data_dir).unwrap_or_else(|| PathBuf::from("./vouch-data"));
        let database = self.database.or(file.database).filter(|d| !d.is_empty());
        if let Some(d) = &database
            && !(d.starts_with("postgres://") || d.starts_with("postgresql://"))
        {
            bail!(
                "database {:?} must be a postgres:// or postgresql:// URL (leave it unset for the embedded store)",
                redact(d)
            );
        }
        let http_tls = match (self.http_tls_cert.or(file.http_tls_cert), self.http_tls_key.or(file.http_tls_key)) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => {
                bail!("--http-tls-cert and --http-tls-key go together (PEM files of the HTTPS certificate and its key)")
            }
        };
        let scheme = if http_tls.is_some() { "https" } else { "http" };
        let public_url = self.public_url.or(file.public_url).unwrap_or_else(|| format!("{scheme}://{http}"));
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            bail!("public_url {:?} must be an http:// or https:// URL", redact(&public_url));
        }
        let voice = VoiceSettings {
            sip,
            sips,
            public_url: public_url.trim_end_matches('/').to_owned(),
            trust_dir: self.trust_dir.or(file.trust_dir),
            key_dir: self.key_dir.or(file.key_dir).unwrap_or_else(|| data_dir.join("keys")),
            x5u_allow_net: allow,
            x5u_tls_roots: match self.x5u_tls_root.or(file.x5u_tls_root) {
                None => Vec::new(),
                Some(path) => {
                    let pem = std::fs::read(&path)
                        .with_context(|| format!("x5u_tls_root: cannot read {}", path.display()))?;
                    let roots: Vec<Vec<u8>> = vouch_shaken::Certificate::chain_from_pem(&pem)
                        .with_context(|| format!("x5u_tls_root: {}", path.display()))?
                        .iter()
                        .map(|c| c.der().to_vec())
                        .collect();
                    if roots.is_empty() {
                        bail!("x5u_tls_root: {} holds no certificate", path.display());
                    }
                    roots
                }
            },
            rmd_block: choice("rmd_policy", &file_name, self.rmd_policy.or(file.rmd_policy), ["block", "flag"])?,
            continue_on_failure: !choice(
                "verify_failure",
                &file_name,
                self.verify_failure.or(file.verify_failure),
                ["reject", "continue"],
            )?,
            replay_block: choice(
                "replay_policy",
                &file_name,
                self.replay_policy.or(file.replay_policy),
                ["block", "flag"],
            )?,
            freshness: file_number(&file_name, "freshness", self.freshness, file.freshness, 1..=3600, 60)?,
            require_identity: self.require_identity || file.require_identity.unwrap_or(false),
            require_crl: self.require_crl || file.require_crl.unwrap_or(false),
        };
        let log_origin = match self.log_origin.or(file.log_origin) {
            Some(o) => o,
            None => {
                let host = voice.public_url.split_once("://").map_or(voice.public_url.as_str(), |(_, h)| h);
                format!("{host}/log")
            }
        };
        if !vouch_tlog::note::is_key_name(&log_origin) {
            bail!("log_origin {log_origin:?} must be non-empty with no white space or '+'");
        }
        let log_interval = self.log_interval.or(file.log_interval).unwrap_or(500);
        if !(10..=60_000).contains(&log_interval) {
            bail!("{file_name}: log_interval = {log_interval} must be 10 to 60000 (milliseconds)");
        }
        let g = file.gateway;
        let address = |flag: &str, key: &str, arg: Option<SocketAddr>, file: Option<String>| match (arg, file) {
            (Some(a), _) => Ok(Some(a)),
            (None, Some(s)) => s.parse().map(Some).with_context(|| {
                format!("{file_name}: [gateway] {key} = {s:?} is not a socket address such as 127.0.0.1:2775 ({flag})")
            }),
            (None, None) => Ok(None),
        };
        let smpp = address("--smpp", "smpp", self.smpp, g.smpp)?;
        let smpps = address("--smpps", "smpps", self.smpps, g.smpps)?;
        let tls = tls_listener(
            ("--smpps", "--smpp-tls-cert", "--smpp-tls-key"),
            smpps,
            self.smpp_tls_cert.or(g.tls_cert),
            self.smpp_tls_key.or(g.tls_key),
        )?;
        let urls = if !self.smsc.is_empty() {
            self.smsc
        } else {
            let env = match self.smsc_env {
                Some(v) => v.into_string().map_err(|_| anyhow::anyhow!("VOUCH_SMSC is not UTF-8"))?,
                None => String::new(),
            };
            let env: Vec<String> = env.split_whitespace().map(str::to_owned).collect();
            if env.is_empty() { g.smsc.unwrap_or_default() } else { env }
        };
        let dca = self.gateway_dca.or(g.dca);
        let gateway = match (smpp, tls) {
            (None, None) => {
                let given = match (urls.is_empty(), dca.is_none()) {
                    (true, true) => None,
                    (false, true) => Some("--smsc is"),
                    (true, false) => Some("--gateway-dca is"),
                    (false, false) => Some("--smsc and --gateway-dca are"),
                };
                if let Some(given) = given {
                    bail!(
                        "{given} for the SMPP gateway, which is off: it needs --smpp ADDR (or --smpps ADDR) to listen on"
                    );
                }
                None
            }
            (listen, tls) => {
                if urls.is_empty() {
                    bail!("the SMPP gateway needs at least one upstream --smsc smpp://SYSTEM_ID:PASSWORD@HOST:PORT");
                }
                let smscs =
                    urls.iter().map(|u| crate::smpp::SmscConfig::parse(u)).collect::<anyhow::Result<Vec<_>>>()?;
                check_smsc_routes(&urls, &smscs)?;
                let smscs: Vec<crate::smpp::SmscConfig> = smscs.into_iter().flat_map(|s| s.expand()).collect();
                let dca =
                    dca.context("the SMPP gateway needs --gateway-dca PROVIDER_ID (the DCA the gateway carries for)")?;
                let dca = dca.parse().map_err(|e| anyhow::anyhow!("--gateway-dca {dca:?}: {e}"))?;
                let policy = self.gateway_policy.or(g.policy).unwrap_or_else(|| "block".into());
                let policy = policy.parse().map_err(|e: String| anyhow::anyhow!("{file_name}: [gateway] {e}"))?;
                let mut throughput = vouch_gateway::ThroughputConfig::default();
                if let Some(scale) = g.minute_scale {
                    if !(scale > 0.0 && scale <= 1_000_000.0) {
                        bail!("{file_name}: [gateway] minute_scale = {scale} must be above 0 and at most 1000000");
                    }
                    throughput.minute_scale = scale;
                }
                if let Some(caps) = g.daily_caps {
                    const TIERS: [&str; 5] = ["top", "upper_mid", "lower_mid", "low", "sole_proprietor"];
                    if let Some(i) = caps.iter().position(|&c| c == 0) {
                        bail!(
                            "{file_name}: [gateway] daily_caps = {caps:?}: the {} cap is 0, which would refuse every \
                             message of every brand in that tier; each cap must be at least 1",
                            TIERS[i]
                        );
                    }
                    throughput.daily_caps = caps;
                }
                let window = file_number(&file_name, "[gateway] window", self.smpp_window, g.window, 1..=65_536, 256)?;
                let retention_days = file_number(
                    &file_name,
                    "[gateway] retention_days",
                    self.gateway_retention_days,
                    g.retention_days,
                    1..=3650,
                    90,
                )?;
                let receipt_window_hours = file_number(
                    &file_name,
                    "[gateway] receipt_window_hours",
                    self.smpp_receipt_window_hours,
                    g.receipt_window_hours,
                    1..=2160,
                    72,
                )?;
                Some(GatewaySettings {
                    listen,
                    tls,
                    smscs,
                    dca,
                    policy,
                    window: window as usize,
                    retention_days,
                    receipt_window_hours,
                    content_rules: self.content_rules.or(g.content_rules),
                    throughput,
                })
            }
        };
        let r = file.risk;
        let enforce = choice("[risk] enforcement", &file_name, self.enforcement.or(r.enforcement), ["on", "off"])?;
        let mut abuse = vouch_service::AbusePolicy::default();
        if let Some(p) = r.scoring {
            abuse.risk = p;
        }
        if let Some(h) = r.window_hours {
            if !(1..=24 * 90).contains(&h) {
                bail!("{file_name}: [risk] window_hours = {h} must be 1 to 2160");
            }
            abuse.window = jiff::SignedDuration::from_hours(i64::from(h));
        }
        let suspend_at = self.suspend_at.or(r.suspend_at).unwrap_or(70);
        if !(1..=100).contains(&suspend_at) {
            bail!("{file_name}: [risk] suspend_at = {suspend_at} must be 1 to 100");
        }
        let number_reports = file_number(
            &file_name,
            "[risk] suspend_number_reports",
            self.suspend_number_reports,
            r.suspend_number_reports,
            1..=u64::MAX,
            5,
        )?;
        abuse.suspend_at = enforce.then_some(suspend_at);
        abuse.suspend_number_reports = enforce.then_some(number_reports);
        let interval = file_number(
            &file_name,
            "[risk] interval_secs",
            self.enforcement_interval,
            r.interval_secs,
            1..=86_400,
            30,
        )?;
        abuse.interval = std::time::Duration::from_secs(u64::from(interval));
        let cps_ttl = file.cps_ttl.unwrap_or(60);
        if !(1..=300).contains(&cps_ttl) {
            bail!("{file_name}: cps_ttl = {cps_ttl} must be 1 to 300 (seconds)");
        }
        let cps = CpsSettings {
            privacy_required: !choice(
                "cps_privacy",
                &file_name,
                self.cps_privacy.or(file.cps_privacy),
                ["optional", "required"],
            )?,
            ttl: cps_ttl,
            key_file: self.cps_key_file.or(file.cps_key_file).unwrap_or_else(|| data_dir.join("cps-naming.key")),
            audience: file.cps_audience.unwrap_or_else(|| voice.public_url.clone()),
        };
        Ok(ServeConfig {
            cps,
            data_dir,
            database,
            http,
            http_tls,
            http_max_connections: file_number(
                &file_name,
                "http_max_connections",
                self.http_max_connections,
                file.http_max_connections,
                1..=1_000_000,
                4096,
            )? as usize,
            http_max_connections_per_address: file_number(
                &file_name,
                "http_max_connections_per_address",
                self.http_max_connections_per_address,
                file.http_max_connections_per_address,
                1..=1_000_000,
                256,
            )? as usize,
            json_logs: log_format == "json",
            voice,
            log_origin,
            log_interval,
            log_audit_state: self.log_audit_state.or(file.log_audit_state),
            gateway,
            abuse,
            rebuild_views: self.rebuild_views,
            webhook_allow_net,
            metrics_allow,
        })
    }
}

fn load(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text)
        .map_err(|e| anyhow::anyhow!("config file {}: {}", path.display(), redact_lines(&e.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> ServeArgs {
        ServeArgs {
            data_dir: None,
            database: None,
            http: None,
            http_max_connections: None,
            http_max_connections_per_address: None,
            http_tls_cert: None,
            http_tls_key: None,
            log_format: None,
            config: None,
            sip: None,
            sips: None,
            sip_tls_cert: None,
            sip_tls_key: None,
            public_url: None,
            cps_privacy: None,
            cps_key_file: None,
            trust_dir: None,
            key_dir: None,
            x5u_allow_net: Vec::new(),
            webhook_allow_net: Vec::new(),
            metrics_allow: Vec::new(),
            x5u_tls_root: None,
            rmd_policy: None,
            verify_failure: None,
            replay_policy: None,
            freshness: None,
            require_identity: false,
            require_crl: false,
            log_origin: None,
            log_interval: None,
            log_audit_state: None,
            smpp: None,
            smpps: None,
            smpp_tls_cert: None,
            smpp_tls_key: None,
            smsc: Vec::new(),
            smsc_env: None,
            gateway_dca: None,
            gateway_policy: None,
            smpp_window: None,
            smpp_receipt_window_hours: None,
            gateway_retention_days: None,
            content_rules: None,
            enforcement: None,
            suspend_at: None,
            suspend_number_reports: None,
            enforcement_interval: None,
            rebuild_views: false,
        }
    }

    #[test]
    fn defaults() {
        let c = args().resolve().unwrap();
        assert_eq!(c.http.to_string(), "127.0.0.1:8080");
        assert_eq!(c.data_dir, PathBuf::from("./vouch-data"));
    }

    #[test]
    fn file_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vouch.toml");
        std::fs::write(&path, "http = \"127.0.0.1:9999\"\ndata_dir = \"/tmp/x\"\n").unwrap();
        let mut a = args();
        a.config = Some(path.clone());
        let c = a.clone().resolve().unwrap();
        assert_eq!(c.http.port(), 9999);
        assert_eq!(c.data_dir, PathBuf::from("/tmp/x"));
        a.http = Some("127.0.0.1:7000".parse().unwrap());
        assert_eq!(a.resolve().unwrap().http.port(), 7000);
    }

    #[test]
    fn bad_values_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vouch.toml");
        std::fs::write(&path, "http = \"localhost\"\n").unwrap();
        let mut a = args();
        a.config = Some(path.clone());
        let e = a.clone().resolve().unwrap_err().to_string();
        assert!(e.contains("http = \"localhost\""), "{e}");
        std::fs::write(&path, "htp = \"127.0.0.1:1\"\n").unwrap();
        let e = a.resolve().unwrap_err().to_string();
        assert!(e.contains("unknown field") && e.contains("htp"), "{e}");
    }

    #[test]
    fn risk_settings_from_the_file_and_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vouch.toml");
        std::fs::write(
            &path,
            "[risk]\nsuspend_at = 80\nwindow_hours = 48\n[risk.scoring]\nreports = { at = 10.0, weight = 20 }\n",
        )
        .unwrap();
        let mut a = args();
        a.config = Some(path.clone());
        let c = a.clone().resolve().unwrap().abuse;
        assert_eq!(c.suspend_at, Some(80));
        assert_eq!(c.window, jiff::SignedDuration::from_hours(48));
        assert_eq!(c.risk.reports.at, 10.0);
        assert_eq!(c.risk.short_holds, vouch_registry::RiskPolicy::default().short_holds);
        a.enforcement = Some("off".into());
        let c = a.resolve().unwrap().abuse;
        assert_eq!((c.suspend_at, c.suspend_number_reports), (None, None));
    }

    #[test]
    fn file_numbers_out_of_range_are_refused_not_clamped() {
        let dir = tempfile::tempdir().unwrap();
        for (toml, message) in [
            ("freshness = 0", "freshness = 0 must be 1 to 3600"),
            ("freshness = 86400", "freshness = 86400 must be 1 to 3600"),
            ("[risk]\nsuspend_number_reports = 0", "[risk] suspend_number_reports = 0 must be 1 to"),
            ("[risk]\ninterval_secs = 0", "[risk] interval_secs = 0 must be 1 to 86400"),
            ("[risk]\ninterval_secs = 100000", "[risk] interval_secs = 100000 must be 1 to 86400"),
        ] {
            let e = error(with_file(args(), &dir, &format!("{toml}\n")));
            assert!(e.contains("vouch.toml: ") && e.contains(message), "{toml}: {e}");
        }
        let ok = "freshness = 3600\n[risk]\nsuspend_number_reports = 1\ninterval_secs = 86400\n";
        let c = with_file(args(), &dir, ok).resolve().unwrap();
        assert_eq!(c.voice.freshness, 3600);
        assert_eq!(c.abuse.suspend_number_reports, Some(1));
        assert_eq!(c.abuse.interval, std::time::Duration::from_secs(86_400));
        // A flag wins over the file, whatever the file says.
        let mut a = with_file(args(), &dir, "freshness = 0\n");
        a.freshness = Some(120);
        assert_eq!(a.resolve().unwrap().voice.freshness, 120);
    }

    #[test]
    fn smpp_over_tls_needs_its_certificate_and_key() {
        let mut a = args();
        a.smsc = vec!["smpp://up:pw@127.0.0.1:2775".into()];
        a.gateway_dca = Some("PAAAAAAA".into());
        a.smpps = Some("127.0.0.1:3550".parse().unwrap());
        let e = a.clone().resolve().unwrap_err().to_string();
        assert!(e.contains("--smpps needs --smpp-tls-cert and --smpp-tls-key"), "{e}");
        a.smpp_tls_cert = Some("cert.pem".into());
        a.smpp_tls_key = Some("key.pem".into());
        let g = a.clone().resolve().unwrap().gateway.unwrap();
        assert_eq!(g.listen, None, "TLS alone");
        assert_eq!(g.tls.map(|t| t.0.port()), Some(3550));
        a.smpps = None;
        let e = a.resolve().unwrap_err().to_string();
        assert!(e.contains("which is not set"), "{e}");
    }

    #[test]
    fn sips_needs_sip_and_both_files() {
        let mut a = args();
        a.sips = Some("127.0.0.1:5061".parse().unwrap());
        let e = a.clone().resolve().unwrap_err().to_string();
        assert!(e.contains("--sips needs --sip"), "{e}");
        a.sip = Some("127.0.0.1:5060".parse().unwrap());
        let e = a.clone().resolve().unwrap_err().to_string();
        assert!(e.contains("--sips needs --sip-tls-cert and --sip-tls-key"), "{e}");
        a.sip_tls_cert = Some("cert.pem".into());
        a.sip_tls_key = Some("key.pem".into());
        let v = a.clone().resolve().unwrap().voice;
        assert_eq!(v.sips.map(|t| t.0.port()), Some(5061));
        a.sips = None;
        let e = a.resolve().unwrap_err().to_string();
        assert!(e.contains("which is not set"), "{e}");
    }

    #[test]
    fn https_needs_both_files_and_makes_the_default_public_url_https() {
        let mut a = args();
        a.http_tls_cert = Some("cert.pem".into());
        let e = a.clone().resolve().unwrap_err().to_string();
        assert!(e.contains("--http-tls-cert and --http-tls-key go together"), "{e}");
        a.http_tls_key = Some("key.pem".into());
        let c = a.resolve().unwrap();
        assert_eq!(c.voice.public_url, "https://127.0.0.1:8080");
        assert_eq!(c.http_tls, Some(("cert.pem".into(), "key.pem".into())));
        assert_eq!(c.http_max_connections, 4096);
        assert!(c.metrics_allow.is_none());
    }

    fn gateway_args() -> ServeArgs {
        let mut a = args();
        a.smpp = Some("127.0.0.1:2775".parse().unwrap());
        a.smsc = vec!["smpp://up:pw@127.0.0.1:2776".into()];
        a.gateway_dca = Some("PAAAAAAA".into());
        a
    }

    /// `a` reading a config file holding `toml` (the directory must outlive the call).
    fn with_file(mut a: ServeArgs, dir: &tempfile::TempDir, toml: &str) -> ServeArgs {
        let path = dir.path().join("vouch.toml");
        std::fs::write(&path, toml).unwrap();
        a.config = Some(path);
        a
    }

    fn error(a: ServeArgs) -> String {
        format!("{:#}", a.resolve().unwrap_err())
    }

    #[test]
    fn urls_in_messages_lose_their_password() {
        assert_eq!(redact("postgres://u:pw@db:5432/vouch"), "postgres://u:***@db:5432/vouch");
        assert_eq!(redact("smpp://up:S3cr3tPw@127.0.0.1:99999"), "smpp://up:***@127.0.0.1:99999");
        assert_eq!(redact("smpp://up:a@b/c@127.0.0.1:1"), "smpp://up:***@127.0.0.1:1", "up to the last @");
        assert_eq!(redact("up:pw@127.0.0.1:1"), "up:***@127.0.0.1:1", "no scheme");
        assert_eq!(redact("smpp://up@127.0.0.1:1"), "smpp://up@127.0.0.1:1");
        assert_eq!(redact("postgres://db/vouch"), "postgres://db/vouch");
        let text =
            "line 2\n2 | smsc = \"smpp://up:pw1@h:1\"\ninvalid type: string \"up:pw2@h:1\", expected a sequence\n";
        let shown = redact_lines(text);
        assert!(!shown.contains("pw1") && !shown.contains("pw2"), "{shown}");
        assert!(shown.contains("smpp://up:***@h:1") && shown.contains("string \"up:***@h:1\", expected"), "{shown}");
    }

    #[test]
    fn file_errors_hide_url_passwords() {
        let dir = tempfile::tempdir().unwrap();
        for toml in [
            "[gateway]\nsmsc = \"smpp://up:S3cr3tPw@127.0.0.1:2775\"\n",
            "[gateway]\nsmsc = \"up:S3cr3tPw@127.0.0.1:2775\"\n",
            "database = [\"postgres://u:S3cr3tPw@db/vouch\"]\n",
            "database = \"postgres://u:S3cr3tPw@db/vouch\" x\n",
        ] {
            let e = error(with_file(args(), &dir, toml));
            assert!(!e.contains("S3cr3tPw") && e.contains(":***@"), "{e}");
        }
        let a = with_file(args(), &dir, "[gateway]\nsmpp = \"127.0.0.1:2775\"\ndca = \"PAAAAAAA\"\n");
        let mut b = a.clone();
        b.smsc = vec!["smpp://up:S3cr3tPw@127.0.0.1:99999".into()];
        let e = error(b);
        assert!(e.contains("\"smpp://up:***@127.0.0.1:99999\" is not a URL") && !e.contains("S3cr3tPw"), "{e}");
        let mut b = a;
        b.smsc = vec!["smpp://up:S3cr3tPw@127.0.0.1:1".into(), "smpp://up:0therPw@127.0.0.1:1?window=8".into()];
        let e = error(b);
        assert!(e.contains("are the same SMSC") && !e.contains("S3cr3tPw") && !e.contains("0therPw"), "{e}");
    }

    #[test]
    fn smsc_flags_are_one_url_each_and_the_variable_a_list() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            serve: ServeArgs,
        }
        let cli = <Cli as clap::Parser>::try_parse_from([
            "vouch",
            "--smsc",
            "smpp://up:a b@127.0.0.1:2776",
            "--smsc",
            "smpp://up2:pw@127.0.0.1:2777?prefixes=1310",
        ])
        .unwrap();
        assert_eq!(cli.serve.smsc, ["smpp://up:a b@127.0.0.1:2776", "smpp://up2:pw@127.0.0.1:2777?prefixes=1310"]);
        let mut a = cli.serve;
        a.smpp = Some("127.0.0.1:2775".parse().unwrap());
        a.gateway_dca = Some("PAAAAAAA".into());
        a.smsc_env = Some("smpp://x:y@127.0.0.1:1".into());
        let g = a.clone().resolve().unwrap().gateway.unwrap();
        assert_eq!(g.smscs.iter().map(|s| s.password.as_str()).collect::<Vec<_>>(), ["a b", "pw"], "flags win");
        a.smsc = Vec::new();
        a.smsc_env = Some(" smpp://up:a%20b@127.0.0.1:1 \tsmpp://up:c+d@127.0.0.1:2?prefixes=1310\n".into());
        let g = a.resolve().unwrap().gateway.unwrap();
        assert_eq!(g.smscs.iter().map(|s| s.password.as_str()).collect::<Vec<_>>(), ["a b", "c+d"]);
    }

    #[test]
    fn the_same_smsc_twice_is_refused() {
        let mut a = gateway_args();
        a.smsc.push("smpp://up:pw@127.0.0.1:2776?prefixes=1202".into());
        assert!(error(a.clone()).contains("are the same SMSC (address 127.0.0.1:2776, system_id \"up\")"));
        a.smsc[1] = "smpp://up2:pw@127.0.0.1:2776?prefixes=1202".into();
        assert_eq!(a.clone().resolve().unwrap().gateway.unwrap().smscs.len(), 2, "another system_id");
        a.smsc[1] = "smpp://up:pw@127.0.0.1:2777?prefixes=1202".into();
        assert_eq!(a.clone().resolve().unwrap().gateway.unwrap().smscs.len(), 2, "another address");
        // One SMSC per route: a second default or a prefix given twice would never be used.
        a.smsc.push("smpp://up3:pw@127.0.0.1:2778".into());
        let e = error(a.clone());
        assert!(e.contains("both have no prefixes") && e.contains("127.0.0.1:2778") && !e.contains(":pw@"), "{e}");
        a.smsc[2] = "smpp://up3:pw@127.0.0.1:2778?prefixes=1310,+1202".into();
        let e = error(a.clone());
        assert!(e.contains("both route prefix 1202"), "{e}");
        a.smsc[2] = "smpp://up3:pw@127.0.0.1:2778?prefixes=1310,12025".into();
        assert_eq!(a.clone().resolve().unwrap().gateway.unwrap().smscs.len(), 3, "a longer prefix is another route");
        // One route for several SMSCs: the same group, the same prefixes.
        a.smsc = vec![
            "smpp://up:pw@127.0.0.1:2776?group=att&prefixes=1202,1310".into(),
            "smpp://up2:pw@127.0.0.1:2777?group=att&prefixes=1310,+1202&binds=2".into(),
            "smpp://up3:pw@127.0.0.1:2778?group=dflt".into(),
            "smpp://up4:pw@127.0.0.1:2779?group=dflt".into(),
        ];
        let g = a.clone().resolve().unwrap().gateway.unwrap();
        assert_eq!(g.smscs.len(), 5, "binds=2 is two sessions");
        a.smsc[1] = "smpp://up2:pw@127.0.0.1:2777?group=att&prefixes=1202".into();
        let e = format!("{:#}", a.clone().resolve().unwrap_err());
        assert!(e.contains("both in group \"att\" but route different prefixes"), "{e}");
        a.smsc[1] = "smpp://up2:pw@127.0.0.1:2777?group=other&prefixes=1202,1310".into();
        let e = format!("{:#}", a.clone().resolve().unwrap_err());
        assert!(e.contains("both route prefix 1202") && e.contains("group=NAME"), "{e}");
        a.smsc[1] = "smpp://up2:pw@127.0.0.1:2777?group=att&prefixes=1202,1310".into();
        a.smsc[3] = "smpp://up4:pw@127.0.0.1:2779".into();
        let e = format!("{:#}", a.clone().resolve().unwrap_err());
        assert!(e.contains("both have no prefixes"), "a default route in a group and one outside it: {e}");
        a.smsc[3] = "smpp://up:pw@127.0.0.1:2776?group=dflt".into();
        let e = format!("{:#}", a.resolve().unwrap_err());
        assert!(e.contains("the same SMSC") && e.contains("binds=N"), "{e}");
    }

    #[test]
    fn gateway_settings_without_a_listener_are_refused() {
        let mut a = gateway_args();
        a.smpp = None;
        let e = error(a.clone());
        assert!(
            e.contains("--smsc and --gateway-dca are for the SMPP gateway, which is off: it needs --smpp ADDR"),
            "{e}"
        );
        a.gateway_dca = None;
        assert!(error(a.clone()).starts_with("--smsc is for the SMPP gateway"));
        a.smsc = Vec::new();
        a.smsc_env = Some("smpp://up:pw@127.0.0.1:2776".into());
        assert!(error(a.clone()).starts_with("--smsc is for the SMPP gateway"));
        a.smsc_env = Some(String::new().into());
        assert!(a.clone().resolve().unwrap().gateway.is_none(), "an empty VOUCH_SMSC is no SMSC");
        let dir = tempfile::tempdir().unwrap();
        let e = error(with_file(a.clone(), &dir, "[gateway]\ndca = \"PAAAAAAA\"\n"));
        assert!(e.starts_with("--gateway-dca is for the SMPP gateway"), "{e}");
        assert!(a.resolve().unwrap().gateway.is_none());
    }

    #[test]
    fn gateway_file_values_are_checked_not_clamped() {
        let dir = tempfile::tempdir().unwrap();
        for (toml, message) in [
            ("window = 0", "[gateway] window = 0 must be 1 to 65536"),
            ("window = 65537", "[gateway] window = 65537 must be 1 to 65536"),
            ("retention_days = 0", "[gateway] retention_days = 0 must be 1 to 3650"),
            ("retention_days = 3651", "[gateway] retention_days = 3651 must be 1 to 3650"),
            ("receipt_window_hours = 0", "[gateway] receipt_window_hours = 0 must be 1 to 2160"),
            ("minute_scale = 2000000", "minute_scale = 2000000 must be above 0 and at most 1000000"),
            ("minute_scale = 0.0", "minute_scale = 0 must be above 0 and at most 1000000"),
            ("daily_caps = [0, 0, 0, 0, 0]", "the top cap is 0, which would refuse every message"),
            ("daily_caps = [5, 4, 3, 0, 1]", "the low cap is 0"),
        ] {
            let e = error(with_file(gateway_args(), &dir, &format!("[gateway]\n{toml}\n")));
            assert!(e.contains(message), "{toml}: {e}");
        }
        let g = with_file(
            gateway_args(),
            &dir,
            "[gateway]\nwindow = 1\nretention_days = 3650\ndaily_caps = [5, 4, 3, 2, 1]\nreceipt_window_hours = 168\n",
        )
        .resolve()
        .unwrap()
        .gateway
        .unwrap();
        assert_eq!((g.window, g.retention_days, g.throughput.daily_caps), (1, 3650, [5, 4, 3, 2, 1]));
        assert_eq!(g.receipt_window_hours, 168);
        let mut a = with_file(gateway_args(), &dir, "[gateway]\nwindow = 0\nretention_days = 0\n");
        a.smpp_window = Some(8);
        a.gateway_retention_days = Some(7);
        let g = a.resolve().unwrap().gateway.unwrap();
        assert_eq!((g.window, g.retention_days), (8, 7), "flags win over the file");
    }
}
