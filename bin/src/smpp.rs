//! The SMPP gateway's sockets: the SMPP 3.4 server ESMEs bind to, and the client sessions to
//! the carriers' SMSCs. Every submit is checked by [`SmppGateway::check`] (rules in
//! vouch-gateway, PDUs in vouch-smpp); this file is transport, windows, ids and routing.
//!
//! An ESME's submit_sm is answered only once the upstream SMSC answered it (or a check refused
//! it): an acknowledged message has always been acknowledged by the carrier. Receipts and
//! subscribers' messages from upstream are acknowledged upstream only once the ESME
//! acknowledged them, and refused with ESME_RX_T_APPN (the SMSC retries) when no ESME of the
//! account is bound to take them.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, oneshot};
use vouch_registry::ProviderId;
use vouch_service::{BoundAccount, SmppGateway};
use vouch_smpp::concat::{Limits, Offer, Reassembler};
use vouch_smpp::session::{Admission, ServerSession, SessionState};
use vouch_smpp::{
    Address, BindMode, Body, CommandId, CommandStatus, HEADER_LEN, MAX_PDU_LEN, OutboundMessage, ShortMessage,
};

/// ESME connections at once.
const MAX_CONNECTIONS: usize = 4096;
/// An ESME connection that has not bound within this long is closed.
const BIND_DEADLINE: Duration = Duration::from_secs(10);
/// Connections from one address that have not bound yet: more are closed at once, so that
/// idle connections from one place cannot take every slot.
const MAX_UNBOUND_PER_ADDRESS: usize = 32;
/// Failed binds from one address in a minute; past this, its binds are refused
/// (ESME_RBINDFAIL) without checking the password until the minute is over.
const MAX_BIND_FAILURES_PER_MINUTE: u32 = 20;
/// A connection silent this long (no PDU, not even enquire_link) is closed.
const IDLE: Duration = Duration::from_secs(300);
/// How long an ESME has to answer a deliver_sm before the SMSC is told to retry.
const DELIVER_TIMEOUT: Duration = Duration::from_secs(10);
/// Messages waiting for an upstream window slot, per SMSC.
const UPSTREAM_QUEUE: usize = 65_536;
/// Ids remembered for receipts: two generations of this many.
const ID_GENERATION: usize = 1 << 21;
/// How often the message ids awaiting receipts are written to the store (a crash loses at
/// most the ids of the messages taken in this last stretch, and of a write under way).
const RECEIPT_IDS_EVERY: Duration = Duration::from_millis(250);

/// An SMSC session that answers no submit for this long while one waits that long is stalled
/// (or its `response_timeout`, when shorter): its route's other sessions take its turn until it
/// answers again or its waiting submits time out.
const STALL: Duration = Duration::from_secs(2);
/// Ids awaiting their write to the store (the store away): past this, the newest are not
/// kept (their receipts can still be matched from memory while this node runs).
const RECEIPT_IDS_UNWRITTEN: usize = 1 << 21;

/// One upstream SMSC (its `Debug` form hides the password).
#[derive(Clone)]
pub struct SmscConfig {
    /// Where it listens.
    pub addr: SocketAddr,
    /// `system_id` vouch binds with.
    pub system_id: String,
    /// Its password.
    pub password: String,
    /// Destination prefixes (E.164 digits, no `+`) routed to it; empty: the default route.
    pub prefixes: Vec<String>,
    /// Outstanding submits allowed.
    pub window: usize,
    /// TLS (`smpps://`), else plain TCP.
    pub tls: Option<SmscTls>,
    /// How long a submit may go unanswered by it: sent, before the ESME is told ESME_RSYSERR
    /// (the outcome is unknown) and the window slot is freed; waiting for a session (the SMSC
    /// away), before the ESME is told ESME_RTHROTTLED.
    pub response_timeout: Duration,
    /// The route it shares with the other SMSCs of the same group (`group=NAME`), if any: a
    /// message for the route goes to any bound SMSC of it.
    pub group: Option<String>,
    /// Sessions (binds) vouch keeps to it with these credentials (`binds=N`, default 1); the
    /// configuration lists one entry per bind once expanded ([`SmscConfig::expand`]).
    pub binds: usize,
    /// Which of those binds this entry is (0 for the first).
    pub bind: usize,
}

impl std::fmt::Debug for SmscConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmscConfig")
            .field("addr", &self.addr)
            .field("system_id", &self.system_id)
            .field("password", &"***")
            .field("prefixes", &self.prefixes)
            .field("window", &self.window)
            .field("tls", &self.tls.is_some())
            .field("response_timeout", &self.response_timeout)
            .field("group", &self.group)
            .field("binds", &self.binds)
            .field("bind", &self.bind)
            .finish()
    }
}

/// TLS to an SMSC: whom to trust and which name its certificate must carry.
#[derive(Clone)]
pub struct SmscTls {
    /// The name checked against its certificate (default: the host of the URL).
    pub server_name: ServerName<'static>,
    /// Trusted roots besides the public web roots (`ca=PEM_FILE`).
    pub extra_roots: Vec<CertificateDer<'static>>,
    /// The client configuration from those roots, built once and used by every reconnect.
    connector: tokio_rustls::TlsConnector,
}

impl std::fmt::Debug for SmscTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmscTls")
            .field("server_name", &self.server_name)
            .field("extra_roots", &self.extra_roots.len())
            .finish_non_exhaustive()
    }
}

impl SmscTls {
    fn new(server_name: ServerName<'static>, extra_roots: Vec<CertificateDer<'static>>) -> anyhow::Result<Self> {
        let der: Vec<Vec<u8>> = extra_roots.iter().map(|c| c.to_vec()).collect();
        let config = vouch_certfetch::client_tls_config(&der).context("--smsc ca")?;
        Ok(Self { server_name, extra_roots, connector: tokio_rustls::TlsConnector::from(Arc::new(config)) })
    }
}

/// The TLS acceptor of the `--smpps` listener, from a PEM chain and key (re-read when they
/// change: crate::tls).
pub fn tls_acceptor(cert: &std::path::Path, key: &std::path::Path) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    Ok(crate::tls::ServerCertificate::load(cert, key, ("--smpp-tls-cert", "--smpp-tls-key"))?.acceptor(&[]))
}

/// The two halves of an ESME's connection: plain, or after the TLS handshake on the TLS
/// listener (a failed handshake, or none within [`crate::tls::HANDSHAKE`], is counted and the
/// connection closed).
async fn open_halves(stream: TcpStream, peer: SocketAddr, tls: Option<tokio_rustls::TlsAcceptor>) -> Option<Halves> {
    let _ = stream.set_nodelay(true);
    let Some(acceptor) = tls else { return Some(plain_halves(stream)) };
    crate::tls::accept(&acceptor, stream, peer, "vouch_smpp_tls_handshake_failures_total").await.map(tls_halves)
}

/// The two halves of a connection, plain or TLS.
type Halves = (Box<dyn AsyncRead + Unpin + Send>, Box<dyn AsyncWrite + Unpin + Send>);

fn plain_halves(stream: TcpStream) -> Halves {
    let (rd, wr) = stream.into_split();
    (Box::new(rd), Box::new(wr))
}

fn tls_halves<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(stream: S) -> Halves {
    let (rd, wr) = tokio::io::split(stream);
    (Box::new(rd), Box::new(wr))
}

impl SmscConfig {
    /// The SMSC account: `SYSTEM_ID@HOST:PORT`. Its message ids are its own, whichever bind
    /// took the message; receipt ids are kept under it.
    pub fn account(&self) -> String {
        format!("{}@{}", self.system_id, self.addr)
    }

    /// One entry per bind (`binds=N`), numbered.
    pub fn expand(self) -> Vec<SmscConfig> {
        (0..self.binds.max(1)).map(|bind| SmscConfig { bind, ..self.clone() }).collect()
    }

    /// Parses `smpp://SYSTEM_ID:PASSWORD@HOST:PORT[?prefixes=1202,1310&window=N&response_timeout=S&group=NAME&binds=N]`,
    /// or `smpps://` with `ca=PEM_FILE` and `server_name=NAME` as well.
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        let shown = crate::config::redact(url);
        let u = url::Url::parse(url).with_context(|| format!("--smsc {shown:?} is not a URL"))?;
        anyhow::ensure!(
            matches!(u.scheme(), "smpp" | "smpps"),
            "--smsc {shown:?}: the scheme must be smpp:// or smpps:// (TLS)"
        );
        let host = u.host_str().context("--smsc needs a host")?;
        let port = u.port().context("--smsc needs a port")?;
        let addr: SocketAddr = format!("{}:{port}", host.trim_start_matches('[').trim_end_matches(']'))
            .parse()
            .with_context(|| format!("--smsc host {host:?} must be an IP address"))?;
        anyhow::ensure!(
            addr.ip().is_loopback() || std::env::var_os("VOUCH_ALLOW_REMOTE_SMSC").is_some(),
            "--smsc {addr}: only loopback SMSCs are allowed unless VOUCH_ALLOW_REMOTE_SMSC is set"
        );
        let system_id = percent_decode(u.username())
            .with_context(|| format!("--smsc {shown:?}: the system_id is not UTF-8 once percent-decoded"))?;
        let password = percent_decode(u.password().unwrap_or(""))
            .with_context(|| format!("--smsc {shown:?}: the password is not UTF-8 once percent-decoded"))?;
        anyhow::ensure!(!system_id.is_empty() && system_id.len() <= 15, "--smsc: system_id must be 1-15 characters");
        anyhow::ensure!(password.len() <= 8, "--smsc: the password must be at most 8 characters");
        let mut prefixes = Vec::new();
        let mut window = 512;
        let mut response_timeout = Duration::from_secs(30);
        let mut server_name = host.trim_start_matches('[').trim_end_matches(']').to_owned();
        let mut extra_roots = Vec::new();
        let mut group = None;
        let mut binds = 1;
        let tls = u.scheme() == "smpps";
        for (k, v) in u.query_pairs() {
            match k.as_ref() {
                "prefixes" => {
                    prefixes = Vec::new();
                    for p in v.split(',').map(str::trim) {
                        let digits = p.strip_prefix('+').unwrap_or(p);
                        anyhow::ensure!(
                            !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()),
                            "--smsc {shown:?}: prefixes={v:?} holds {}: a prefix is digits (after an optional +), \
                             the prefixes separated by commas",
                            if p.is_empty() {
                                "an empty prefix, which would route every destination".to_owned()
                            } else {
                                format!("{p:?}")
                            }
                        );
                        prefixes.push(digits.to_owned());
                    }
                }
                "window" => {
                    window = v.parse().with_context(|| format!("--smsc window={v:?}"))?;
                    anyhow::ensure!(window >= 1, "--smsc {shown:?}: window={v} must be at least 1");
                }
                "response_timeout" => {
                    let secs: u64 = v.parse().with_context(|| format!("--smsc response_timeout={v:?}"))?;
                    anyhow::ensure!((1..=300).contains(&secs), "--smsc response_timeout must be 1 to 300 seconds");
                    response_timeout = Duration::from_secs(secs);
                }
                "group" => {
                    anyhow::ensure!(
                        (1..=32).contains(&v.len())
                            && v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')),
                        "--smsc {shown:?}: group={v:?} must be 1 to 32 letters, digits, '-', '_' or '.'"
                    );
                    group = Some(v.into_owned());
                }
                "binds" => {
                    binds = v.parse().with_context(|| format!("--smsc binds={v:?}"))?;
                    anyhow::ensure!((1..=16).contains(&binds), "--smsc {shown:?}: binds={v} must be 1 to 16");
                }
                "ca" if tls => {
                    extra_roots = crate::tls::pem_certificates(std::path::Path::new(v.as_ref()), "--smsc ca")?
                }
                "server_name" if tls => server_name = v.into_owned(),
                "ca" | "server_name" => anyhow::bail!("--smsc: {k} is for smpps:// (TLS) SMSCs"),
                other => anyhow::bail!(
                    "--smsc: unknown parameter {other:?} (prefixes, group, binds, window, response_timeout, ca, \
                     server_name)"
                ),
            }
        }
        let tls = match tls {
            false => None,
            true => {
                let server_name = ServerName::try_from(server_name.clone())
                    .map_err(|e| anyhow::anyhow!("--smsc server_name {server_name:?}: {e}"))?;
                Some(SmscTls::new(server_name, extra_roots)?)
            }
        };
        Ok(Self { addr, system_id, password, prefixes, window, tls, response_timeout, group, binds, bind: 0 })
    }
}

/// Percent-decodes a URL's user or password (RFC 3986: `%2B` is `+`, and `+` is itself, not a
/// space as in a form); `None` when the octets are not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let (b, mut out, mut i) = (s.as_bytes(), Vec::with_capacity(s.len()), 0);
    let hex = |i: usize| b.get(i).and_then(|&c| char::from(c).to_digit(16));
    while i < b.len() {
        if let (b'%', Some(h), Some(l)) = (b[i], hex(i + 1), hex(i + 2)) {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Gateway settings of the SMPP listener.
#[derive(Debug, Clone)]
pub struct SmppSettings {
    /// Outstanding submits an ESME may have.
    pub window: usize,
    /// The SMSCs.
    pub smscs: Vec<SmscConfig>,
    /// Where the message ids awaiting receipts are kept from a stop to the next start.
    pub receipt_ids: Option<std::path::PathBuf>,
    /// How long a message's receipt is awaited: its id is kept in the store that long
    /// (`[gateway] receipt_window_hours`; the carrier's longest validity period).
    pub receipt_window: Duration,
}

/// What answers a submit forwarded upstream.
type UpstreamReply = Result<Taken, CommandStatus>;

/// A submit an SMSC took: its message id, and which SMSC session took it (a route's
/// messages go to any of its SMSCs, and move to another when one is lost).
struct Taken {
    id: String,
    smsc: usize,
}

struct UpstreamRequest {
    pdu: Vec<u8>,
    reply: Reply,
    /// When the ESME's submit came (the deadline for sending it counts from here).
    first: Instant,
    /// When it was last written to an SMSC session (its answer is awaited from then); `None`
    /// while it was never written (once written, the SMSC may have taken it).
    sent: Option<Instant>,
}

impl UpstreamRequest {
    fn new(pdu: Vec<u8>, reply: Reply) -> Self {
        Self { pdu, reply, first: Instant::now(), sent: None }
    }
}

/// Who hears what became of a submit forwarded upstream.
enum Reply {
    /// A task waiting for every part of a concatenated message.
    Wait(oneshot::Sender<UpstreamReply>),
    /// A message in one PDU: the upstream session answers the ESME itself, with no task of its
    /// own per message.
    Answer(Answer),
    /// vouch's own message (an answer to HELP): nobody.
    Nobody,
}

impl Reply {
    fn send(self, reply: UpstreamReply) {
        match self {
            Reply::Wait(tx) => {
                let _ = tx.send(reply);
            }
            Reply::Answer(mut a) => {
                if let Some(m) = a.0.take() {
                    m.conclude(reply);
                }
            }
            Reply::Nobody => {}
        }
    }
}

/// The ESME's side of a message in one PDU, answered by [`Reply::send`]; if it is dropped
/// unanswered (the gateway is stopping), the ESME is told ESME_RSYSERR, so that no submit is
/// left without an answer.
struct Answer(Option<Box<Answering>>);

impl Drop for Answer {
    fn drop(&mut self) {
        if let Some(m) = self.0.take() {
            m.conclude(Err(CommandStatus::ESME_RSYSERR));
        }
    }
}

struct Answering {
    shared: Arc<Shared>,
    account: BoundAccount,
    checked: vouch_service::Checked,
    part: Part,
    events: mpsc::Sender<Event>,
}

impl Answering {
    fn conclude(self: Box<Self>, reply: UpstreamReply) {
        let Answering { shared, account, checked, part, events } = *self;
        let mut answers = Vec::with_capacity(64);
        let (first_id, failed) = match answer_part(&shared, &account, &part, reply, &mut answers) {
            Ok(id) => (Some(id), None),
            Err(status) => (None, Some(status)),
        };
        conclude(shared, account, checked, 1, first_id, failed, Event(answers, 1), events);
    }
}

/// A session that receives deliver_sm: where to send them.
#[derive(Clone)]
struct Receiver {
    id: u64,
    tx: mpsc::Sender<Deliver>,
}

struct Deliver {
    pdu: Vec<u8>,
    reply: oneshot::Sender<CommandStatus>,
}

/// Where a receipt goes: the id the ESME knows and the account that sent the message.
#[derive(Clone)]
struct Sent {
    our_id: String,
    system_id: String,
}

/// Upstream (SMSC account index, message id) → what the ESME was told.
type IdGeneration = HashMap<(usize, String), Sent>;

/// Remembers upstream ids for receipts, bounded (two generations).
#[derive(Default)]
struct IdMap {
    generations: std::sync::Mutex<(IdGeneration, IdGeneration)>,
}

impl IdMap {
    fn insert(&self, key: (usize, String), sent: Sent) {
        let mut g = self.generations.lock().unwrap_or_else(|e| e.into_inner());
        if g.0.len() >= ID_GENERATION {
            let (current, previous) = &mut *g;
            std::mem::swap(current, previous);
            current.clear();
        }
        g.0.insert(key, sent);
    }

    fn get(&self, key: &(usize, String)) -> Option<Sent> {
        let g = self.generations.lock().unwrap_or_else(|e| e.into_inner());
        g.0.get(key).or_else(|| g.1.get(key)).cloned()
    }

    /// Reads the file earlier versions wrote at a clean stop (one line per message, `SMSC
    /// address, SMSC's id, vouch's id, system_id`, tab-separated), for the SMSCs still
    /// configured (by address), and removes it; `keep` is handed each id taken, for the store.
    /// Returns how many were taken.
    fn load(
        &self,
        path: &std::path::Path,
        accounts: &[(std::net::SocketAddr, usize)],
        mut keep: impl FnMut(usize, &str, &Sent),
    ) -> std::io::Result<usize> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        let mut lines = text.lines();
        if lines.next() != Some(RECEIPT_IDS_HEADER) {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "not a vouch receipt id file"));
        }
        let mut n = 0;
        for line in lines {
            let mut f = line.split('\t');
            let (Some(addr), Some(theirs), Some(ours), Some(system_id), None) =
                (f.next(), f.next(), f.next(), f.next(), f.next())
            else {
                continue;
            };
            let Some(&(_, account)) = accounts.iter().find(|(a, _)| a.to_string() == addr) else { continue };
            let sent = Sent { our_id: ours.to_owned(), system_id: system_id.to_owned() };
            keep(account, theirs, &sent);
            self.insert((account, theirs.to_owned()), sent);
            n += 1;
        }
        std::fs::remove_file(path)?;
        Ok(n)
    }
}

/// The first line of the file earlier versions wrote at a clean stop.
const RECEIPT_IDS_HEADER: &str = "vouch smpp receipt ids v1";

/// One SMSC session (a bind): how `/healthz` and the metrics name it, its SMSC account, its
/// route.
struct Upstream {
    label: String,
    account: usize,
    route: usize,
}

/// Where a set of destinations goes: the SMSC sessions of one group (or of one `--smsc` URL),
/// taking its messages in turn while bound.
struct Route {
    prefixes: Vec<String>,
    /// Its SMSC sessions.
    members: Vec<usize>,
    /// Their SMSC accounts (a receipt from any of them may be for a message any of them took).
    accounts: Vec<usize>,
    /// The turn.
    next: AtomicUsize,
}

/// The SMSC sessions, their accounts and their routes, from the configuration.
struct Topology {
    upstreams: Vec<Upstream>,
    routes: Vec<Route>,
    /// `SYSTEM_ID@HOST:PORT` of each SMSC account ([`SmscConfig::account`]).
    accounts: Vec<String>,
}

impl Topology {
    /// Groups the sessions: one route per `group=` name, else per SMSC account. A session is
    /// named by its address, or `SYSTEM_ID@HOST:PORT` when several accounts share the address,
    /// with `#N` after it when the account has several binds.
    fn of(smscs: &[SmscConfig]) -> Self {
        let mut accounts: Vec<String> = Vec::new();
        let mut route_keys: Vec<String> = Vec::new();
        let mut routes: Vec<Route> = Vec::new();
        let mut upstreams = Vec::with_capacity(smscs.len());
        for (i, s) in smscs.iter().enumerate() {
            let key = s.account();
            let account = accounts.iter().position(|a| *a == key).unwrap_or_else(|| {
                accounts.push(key.clone());
                accounts.len() - 1
            });
            let route_key = s.group.as_ref().map_or_else(|| key.clone(), |g| format!("group {g}"));
            let route = route_keys.iter().position(|k| *k == route_key).unwrap_or_else(|| {
                route_keys.push(route_key);
                routes.push(Route {
                    prefixes: s.prefixes.clone(),
                    members: Vec::new(),
                    accounts: Vec::new(),
                    next: AtomicUsize::new(0),
                });
                routes.len() - 1
            });
            let r = &mut routes[route];
            r.members.push(i);
            if !r.accounts.contains(&account) {
                r.accounts.push(account);
            }
            let shared_addr = smscs.iter().filter(|o| o.addr == s.addr).count() > 1;
            let label = match (shared_addr, s.binds > 1) {
                (false, false) => s.addr.to_string(),
                (true, false) => key,
                (_, true) => format!("{key}#{}", s.bind + 1),
            };
            upstreams.push(Upstream { label, account, route });
        }
        Self { upstreams, routes, accounts }
    }
}

struct Shared {
    gateway: Arc<SmppGateway>,
    settings: SmppSettings,
    upstreams: Vec<mpsc::Sender<UpstreamRequest>>,
    topology: Topology,
    /// Whether each SMSC session is bound now.
    bound: Vec<AtomicBool>,
    /// Whether each SMSC session is stalled: bound, but no submit answered for [`STALL`]
    /// while one waits that long. Its route's other sessions take its turn meanwhile.
    stalled: Vec<AtomicBool>,
    /// Message ids awaiting receipts not yet written to the store.
    unwritten: std::sync::Mutex<Vec<vouch_store::ReceiptIdRow>>,
    /// Receiving sessions by system_id, and by CSP (for subscribers' messages).
    by_account: std::sync::Mutex<HashMap<String, Vec<Receiver>>>,
    by_provider: std::sync::Mutex<HashMap<ProviderId, Vec<Receiver>>>,
    ids: IdMap,
    next_id: AtomicU64,
    id_prefix: u32,
    next_session: AtomicU64,
    /// Set at shutdown: every session unbinds (see [`SmppServer::run`]).
    draining: tokio::sync::watch::Sender<bool>,
    /// Set once the sessions are gone: the SMSC sessions unbind once their submits are answered.
    stopping: tokio::sync::watch::Sender<bool>,
    /// Connections per address not bound yet ([`MAX_UNBOUND_PER_ADDRESS`]).
    unbound: std::sync::Mutex<HashMap<IpAddr, usize>>,
    /// Failed binds per address: (when its minute began, how many).
    bind_failures: std::sync::Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

/// A connection counted against its address's [`MAX_UNBOUND_PER_ADDRESS`] until it binds or
/// closes.
struct UnboundSlot {
    shared: Arc<Shared>,
    address: IpAddr,
    held: bool,
}

impl UnboundSlot {
    /// A slot for a new connection from `address`, if it has room.
    fn take(shared: &Arc<Shared>, address: IpAddr) -> Option<Self> {
        let mut m = shared.unbound.lock().unwrap_or_else(|e| e.into_inner());
        let n = m.entry(address).or_insert(0);
        if *n >= MAX_UNBOUND_PER_ADDRESS {
            return None;
        }
        *n += 1;
        Some(Self { shared: shared.clone(), address, held: true })
    }

    /// The connection bound (or closes): it no longer counts.
    fn release(&mut self) {
        if std::mem::take(&mut self.held) {
            let mut m = self.shared.unbound.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(n) = m.get_mut(&self.address) {
                *n -= 1;
                if *n == 0 {
                    m.remove(&self.address);
                }
            }
        }
    }
}

impl Drop for UnboundSlot {
    fn drop(&mut self) {
        self.release();
    }
}

/// The message id vouch gives a message: the node's prefix (23 random bits), `a`, and a
/// counter (36 bits, wrapping: far more messages than the id map keeps), in 16 hex digits.
///
/// SMPP 3.4 makes message_id a C-octet string, and ESMEs match receipts by it. But Kannel, when
/// told that an SMSC's ids are numbers (`msg-id-type`, which many configurations set), converts
/// both the id of submit_sm_resp and the one of a receipt with `strtoll`: as hex when the id
/// has a letter, else as decimal, unless the setting says hex. The `a` makes every setting read
/// the id as hex in both places, and below 2^63 it is read whole: with the top bit set, strtoll
/// reads every id as 2^63 - 1 and Kannel matches receipts to the wrong messages.
fn message_id(prefix: u32, n: u64) -> String {
    format!("{:06x}a{:09x}", prefix & 0x7f_ffff, n & 0xf_ffff_ffff)
}

impl Shared {
    fn message_id(&self) -> String {
        message_id(self.id_prefix, self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// Whether binds from `address` are refused for now: [`MAX_BIND_FAILURES_PER_MINUTE`]
    /// failed in its current minute.
    fn bind_throttled(&self, address: IpAddr) -> bool {
        let m = self.bind_failures.lock().unwrap_or_else(|e| e.into_inner());
        m.get(&address)
            .is_some_and(|(since, n)| since.elapsed() < Duration::from_secs(60) && *n >= MAX_BIND_FAILURES_PER_MINUTE)
    }

    /// Counts a failed bind from `address`; `true` when this one reached the limit.
    fn bind_failed(&self, address: IpAddr) -> bool {
        let mut m = self.bind_failures.lock().unwrap_or_else(|e| e.into_inner());
        if m.len() >= 65_536 {
            m.retain(|_, (since, _)| since.elapsed() < Duration::from_secs(60));
        }
        let e = m.entry(address).or_insert((Instant::now(), 0));
        if e.0.elapsed() >= Duration::from_secs(60) {
            *e = (Instant::now(), 0);
        }
        e.1 = e.1.saturating_add(1);
        e.1 == MAX_BIND_FAILURES_PER_MINUTE
    }

    /// The route for a destination: the longest matching prefix, else the one without
    /// prefixes (the default route); `None` when every route has prefixes and none matches.
    fn route(&self, dest: &str) -> Option<usize> {
        let digits = dest.trim_start_matches('+');
        let routes = &self.topology.routes;
        let mut best: Option<(usize, usize)> = None;
        for (i, r) in routes.iter().enumerate() {
            for p in &r.prefixes {
                if digits.starts_with(p.as_str()) && best.is_none_or(|(_, l)| p.len() > l) {
                    best = Some((i, p.len()));
                }
            }
        }
        best.map(|(i, _)| i).or_else(|| routes.iter().position(|r| r.prefixes.is_empty()))
    }

    /// Whether SMSC session `m` takes submits now: bound, and (`prefer`) not stalled.
    fn usable(&self, m: usize, prefer: bool) -> bool {
        self.bound[m].load(Ordering::Relaxed) && !(prefer && self.stalled[m].load(Ordering::Relaxed))
    }

    /// Hands a submit to the route's next bound SMSC session in turn (round-robin), skipping
    /// stalled ones while another is not, another bound one when that one's queue is full; when
    /// none of the route is bound, to the queue of one that is not, where it waits for a
    /// session (moved to the first of the route that binds). Answered ESME_RTHROTTLED when no
    /// queue has room.
    fn send_upstream(&self, route: usize, mut req: UpstreamRequest) {
        let r = &self.topology.routes[route];
        let n = r.members.len();
        let start = if n == 1 { 0 } else { r.next.fetch_add(1, Ordering::Relaxed) };
        let mut any_bound = false;
        // A route of one session has no other to prefer.
        let passes: &[bool] = if n == 1 { &[false] } else { &[true, false] };
        for &prefer in passes {
            for k in 0..n {
                let m = r.members[(start + k) % n];
                if !self.usable(m, prefer) {
                    continue;
                }
                any_bound = true;
                match self.upstreams[m].try_send(req) {
                    Ok(()) => return,
                    Err(mpsc::error::TrySendError::Full(x) | mpsc::error::TrySendError::Closed(x)) => req = x,
                }
            }
        }
        if !any_bound {
            match self.upstreams[r.members[start % n]].try_send(req) {
                Ok(()) => return,
                Err(mpsc::error::TrySendError::Full(x) | mpsc::error::TrySendError::Closed(x)) => req = x,
            }
        }
        req.reply.send(Err(CommandStatus::ESME_RTHROTTLED));
    }

    /// Gives a submit that SMSC session `from` holds (not bound, or stalled) to a bound session
    /// of its route that is not stalled; hands it back when there is none with room.
    fn to_bound_peer(&self, from: usize, mut req: UpstreamRequest) -> Result<(), UpstreamRequest> {
        let route = &self.topology.routes[self.topology.upstreams[from].route];
        for &m in &route.members {
            if m == from || !self.usable(m, true) {
                continue;
            }
            match self.upstreams[m].try_send(req) {
                Ok(()) => return Ok(()),
                Err(mpsc::error::TrySendError::Full(x) | mpsc::error::TrySendError::Closed(x)) => req = x,
            }
        }
        Err(req)
    }

    /// Whether SMSC session `index` has a peer in its route that takes submits and is not
    /// stalled.
    fn has_usable_peer(&self, index: usize) -> bool {
        self.topology.routes[self.topology.upstreams[index].route]
            .members
            .iter()
            .any(|&m| m != index && self.usable(m, true))
    }

    /// Notes that SMSC session `index` is stalled or answers again: routing, the gauge, a log.
    fn set_stalled(&self, index: usize, stalled: bool) {
        if self.stalled[index].swap(stalled, Ordering::Relaxed) == stalled {
            return;
        }
        let label = &self.topology.upstreams[index].label;
        metrics::gauge!("vouch_smpp_upstream_stalled", "smsc" => label.clone()).set(if stalled { 1.0 } else { 0.0 });
        if stalled {
            metrics::counter!("vouch_smpp_upstream_stalls_total", "smsc" => label.clone()).increment(1);
            tracing::warn!(
                smsc = %label,
                "the SMSC has answered no submit for {STALL:?} while submits wait: its route's other sessions take its turn"
            );
        } else {
            tracing::info!(smsc = %label, "the SMSC answers submits again");
        }
    }

    /// Moves the submits a session that is not bound holds to bound sessions of its route,
    /// oldest first, as far as they have room.
    fn hand_over(&self, from: usize, waiting: &mut VecDeque<UpstreamRequest>) {
        if self.topology.routes[self.topology.upstreams[from].route].members.len() == 1 {
            return;
        }
        while let Some(r) = waiting.pop_front() {
            if let Err(r) = self.to_bound_peer(from, r) {
                waiting.push_front(r);
                return;
            }
        }
    }

    /// Notes that SMSC session `index` is bound or not: routing, the gauge, `/healthz`.
    fn set_bound(&self, index: usize, bound: bool) {
        self.bound[index].store(bound, Ordering::Relaxed);
        let label = &self.topology.upstreams[index].label;
        metrics::gauge!("vouch_smpp_upstream_bound", "smsc" => label.clone()).set(if bound { 1.0 } else { 0.0 });
        self.gateway.set_smsc_bound(label, bound);
    }

    /// Queues a message id awaiting its receipt for the store (written every
    /// [`RECEIPT_IDS_EVERY`]).
    fn keep_receipt_id(&self, account: usize, upstream_id: &str, sent: &Sent) {
        let row = vouch_store::ReceiptIdRow {
            smsc: self.topology.accounts[account].clone(),
            upstream_id: upstream_id.to_owned(),
            our_id: sent.our_id.clone(),
            system_id: sent.system_id.clone(),
            at: jiff::Timestamp::now(),
        };
        let mut w = self.unwritten.lock().unwrap_or_else(|e| e.into_inner());
        if w.len() < RECEIPT_IDS_UNWRITTEN {
            w.push(row);
        } else {
            metrics::counter!("vouch_smpp_receipt_ids_unwritten_total").increment(1);
        }
    }

    /// Writes the message ids queued by [`Shared::keep_receipt_id`]; kept for the next try
    /// when the store fails.
    async fn write_receipt_ids(&self) {
        let rows = std::mem::take(&mut *self.unwritten.lock().unwrap_or_else(|e| e.into_inner()));
        if rows.is_empty() {
            return;
        }
        if let Err(e) = self.gateway.registry().store().put_receipt_ids(&rows).await {
            tracing::warn!(error = %e, ids = rows.len(), "cannot write the message ids awaiting receipts; retrying");
            let mut w = self.unwritten.lock().unwrap_or_else(|e| e.into_inner());
            let room = RECEIPT_IDS_UNWRITTEN.saturating_sub(w.len());
            let mut rows = rows;
            if rows.len() > room {
                metrics::counter!("vouch_smpp_receipt_ids_unwritten_total").increment((rows.len() - room) as u64);
                rows.truncate(room);
            }
            rows.append(&mut w);
            *w = rows;
        }
    }

    /// Where the receipt for SMSC session `index`'s message id `upstream_id` goes: from memory
    /// (this node sent it lately), else from the store (sent before a restart, or by another
    /// node of a shared database). The session's own account is asked first, then the other
    /// accounts of its route. `Err` when the store cannot say now.
    async fn receipt_for(&self, index: usize, upstream_id: &str) -> Result<Option<Sent>, vouch_store::StoreError> {
        let own = self.topology.upstreams[index].account;
        let route = &self.topology.routes[self.topology.upstreams[index].route];
        let accounts = std::iter::once(own).chain(route.accounts.iter().copied().filter(|&a| a != own));
        let key = |a: usize| (a, upstream_id.to_owned());
        for a in accounts.clone() {
            if let Some(sent) = self.ids.get(&key(a)) {
                return Ok(Some(sent));
            }
        }
        let store = self.gateway.registry().store();
        for a in accounts {
            if let Some(row) = store.receipt_id(&self.topology.accounts[a], upstream_id).await? {
                return Ok(Some(Sent { our_id: row.our_id, system_id: row.system_id }));
            }
        }
        Ok(None)
    }

    fn receivers_of(&self, system_id: &str, provider: Option<ProviderId>) -> Vec<Receiver> {
        let mut r =
            self.by_account.lock().unwrap_or_else(|e| e.into_inner()).get(system_id).cloned().unwrap_or_default();
        if r.is_empty()
            && let Some(p) = provider
        {
            r = self.by_provider.lock().unwrap_or_else(|e| e.into_inner()).get(&p).cloned().unwrap_or_default();
        }
        r
    }

    fn add_receiver(&self, account: &BoundAccount, r: Receiver) {
        self.by_account
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(account.system_id.clone())
            .or_default()
            .push(r.clone());
        self.by_provider.lock().unwrap_or_else(|e| e.into_inner()).entry(account.provider).or_default().push(r);
    }

    fn remove_receiver(&self, account: &BoundAccount, id: u64) {
        if let Some(v) = self.by_account.lock().unwrap_or_else(|e| e.into_inner()).get_mut(&account.system_id) {
            v.retain(|r| r.id != id);
        }
        if let Some(v) = self.by_provider.lock().unwrap_or_else(|e| e.into_inner()).get_mut(&account.provider) {
            v.retain(|r| r.id != id);
        }
    }

    /// Hands a deliver_sm to the most recently bound receiver that has room, and waits
    /// for its answer; ESME_RX_T_APPN when nobody can take it.
    async fn deliver(&self, receivers: Vec<Receiver>, pdu: Vec<u8>) -> CommandStatus {
        for r in receivers.iter().rev() {
            let (tx, rx) = oneshot::channel();
            if r.tx.try_send(Deliver { pdu: pdu.clone(), reply: tx }).is_err() {
                continue;
            }
            return match tokio::time::timeout(DELIVER_TIMEOUT, rx).await {
                Ok(Ok(status)) => status,
                _ => CommandStatus::ESME_RX_T_APPN,
            };
        }
        CommandStatus::ESME_RX_T_APPN
    }
}

/// The bound listeners: plain, TLS, or both.
pub struct SmppServer {
    plain: Option<TcpListener>,
    tls: Option<(TcpListener, tokio_rustls::TlsAcceptor)>,
}

impl SmppServer {
    /// Binds the plain listener at `plain` and the TLS one at `tls` (with its acceptor).
    pub async fn bind(
        plain: Option<SocketAddr>,
        tls: Option<(SocketAddr, tokio_rustls::TlsAcceptor)>,
    ) -> anyhow::Result<Self> {
        let plain = match plain {
            Some(addr) => {
                Some(TcpListener::bind(addr).await.with_context(|| format!("cannot listen on TCP {addr} (--smpp)"))?)
            }
            None => None,
        };
        let tls = match tls {
            Some((addr, acceptor)) => Some((
                TcpListener::bind(addr).await.with_context(|| format!("cannot listen on TCP {addr} (--smpps)"))?,
                acceptor,
            )),
            None => None,
        };
        Ok(Self { plain, tls })
    }

    /// Where the plain listener listens.
    pub fn local_addr(&self) -> anyhow::Result<Option<SocketAddr>> {
        self.plain.as_ref().map(TcpListener::local_addr).transpose().map_err(Into::into)
    }

    /// Where the TLS listener listens.
    pub fn tls_addr(&self) -> anyhow::Result<Option<SocketAddr>> {
        self.tls.as_ref().map(|(l, _)| l.local_addr()).transpose().map_err(Into::into)
    }

    /// Serves ESMEs and keeps the upstream sessions until `shutdown` completes.
    pub async fn run(
        self,
        gateway: Arc<SmppGateway>,
        settings: SmppSettings,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        let mut upstreams = Vec::new();
        let mut receivers = Vec::new();
        for _ in &settings.smscs {
            let (tx, rx) = mpsc::channel(UPSTREAM_QUEUE);
            upstreams.push(tx);
            receivers.push(rx);
        }
        let shared = Arc::new(Shared {
            gateway,
            settings: settings.clone(),
            upstreams,
            topology: Topology::of(&settings.smscs),
            bound: settings.smscs.iter().map(|_| AtomicBool::new(false)).collect(),
            stalled: settings.smscs.iter().map(|_| AtomicBool::new(false)).collect(),
            unwritten: Default::default(),
            by_account: Default::default(),
            by_provider: Default::default(),
            ids: IdMap::default(),
            next_id: AtomicU64::new(1),
            id_prefix: rand::random(),
            next_session: AtomicU64::new(1),
            draining: tokio::sync::watch::Sender::new(false),
            stopping: tokio::sync::watch::Sender::new(false),
            unbound: Default::default(),
            bind_failures: Default::default(),
        });
        // The ids an earlier version kept in a file at its last stop: into memory and the store.
        if let Some(path) = &settings.receipt_ids {
            let accounts: Vec<(SocketAddr, usize)> =
                settings.smscs.iter().zip(&shared.topology.upstreams).map(|(s, u)| (s.addr, u.account)).collect();
            match shared
                .ids
                .load(path, &accounts, |account, theirs, sent| shared.keep_receipt_id(account, theirs, sent))
            {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(ids = n, "message ids awaiting receipts taken up from the file of the last run")
                }
                Err(e) => {
                    tracing::warn!(error = %e, path = %path.display(), "cannot read the message ids awaiting receipts")
                }
            }
        }
        // The ids awaiting receipts go to the store every RECEIPT_IDS_EVERY; those whose receipt
        // window is over are deleted every hour.
        let (keeper_stop, mut keeper_stopped) = oneshot::channel::<()>();
        let keeper = {
            let shared = shared.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(RECEIPT_IDS_EVERY);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                let mut purge = tokio::time::interval(Duration::from_secs(3600));
                purge.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        _ = tick.tick() => shared.write_receipt_ids().await,
                        _ = purge.tick() => {
                            let before = jiff::Timestamp::now() - shared.settings.receipt_window;
                            match shared.gateway.registry().store().purge_receipt_ids(before).await {
                                Ok(0) => {}
                                Ok(n) => tracing::debug!(ids = n, "message ids past their receipt window deleted"),
                                Err(e) => tracing::warn!(error = %e, "cannot delete the message ids past their receipt window"),
                            }
                        }
                        _ = &mut keeper_stopped => return,
                    }
                }
            })
        };
        let upstream_tasks: Vec<_> =
            receivers.into_iter().enumerate().map(|(i, rx)| tokio::spawn(upstream(shared.clone(), i, rx))).collect();
        let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let serve = |listener: Option<TcpListener>, tls: Option<tokio_rustls::TlsAcceptor>| {
            let (limit, shared) = (limit.clone(), shared.clone());
            async move {
                let Some(listener) = listener else { return std::future::pending().await };
                loop {
                    let Ok(permit) = limit.clone().acquire_owned().await else { return };
                    match listener.accept().await {
                        Ok((stream, peer)) => {
                            let Some(slot) = UnboundSlot::take(&shared, peer.ip()) else {
                                metrics::counter!("vouch_smpp_connections_refused_total", "why" => "unbound per address").increment(1);
                                continue;
                            };
                            let (shared, tls) = (shared.clone(), tls.clone());
                            tokio::spawn(async move {
                                let _permit = permit;
                                let Some(halves) = open_halves(stream, peer, tls).await else { return };
                                if let Err(e) = esme_session(shared, halves, peer, slot).await {
                                    tracing::debug!(%peer, error = %e, "SMPP session ended");
                                }
                            });
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "SMPP accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                }
            }
        };
        let (tls_listener, acceptor) = self.tls.map_or((None, None), |(l, a)| (Some(l), Some(a)));
        let accept = async { tokio::join!(serve(self.plain, None), serve(tls_listener, acceptor)) };
        tokio::select! {
            _ = accept => {}
            _ = shutdown => {}
        }
        // Shutting down (the listeners are closed): every bound session is unbound and closes
        // once the answers to its submits are out (at most UNBIND_WAIT); then each SMSC session
        // unbinds once its own submits are answered. Nothing acknowledged is lost, and the ESMEs
        // hear about every submit they sent.
        shared.draining.send_replace(true);
        let all = u32::try_from(MAX_CONNECTIONS).unwrap_or(u32::MAX);
        if tokio::time::timeout(UNBIND_WAIT + UNBIND_ANSWER + Duration::from_secs(1), limit.acquire_many(all))
            .await
            .is_err()
        {
            tracing::warn!("SMPP sessions still open after {:?}; stopping anyway", UNBIND_WAIT);
        }
        shared.stopping.send_replace(true);
        for t in upstream_tasks {
            if tokio::time::timeout(Duration::from_secs(3), t).await.is_err() {
                tracing::warn!("an SMSC session did not unbind in 3 s; stopping anyway");
            }
        }
        // The last ids awaiting receipts go to the store (at most a write's worth of waiting:
        // the stop's own bound covers the database being away).
        let _ = keeper_stop.send(());
        let _ = keeper.await;
        if tokio::time::timeout(Duration::from_secs(3), shared.write_receipt_ids()).await.is_err() {
            tracing::warn!("the message ids awaiting receipts could not be written within 3 s");
        }
    }
}

/// A part (or a whole message) waiting for its answer.
struct Part {
    command_id: CommandId,
    sequence: u32,
    pdu: Vec<u8>,
    /// The id a part of a concatenated message was acknowledged with while it waited for the
    /// others (ESMEs that send a part only after the previous one's answer need it). What
    /// becomes of it is told by a delivery receipt.
    acked: Option<String>,
    /// Whether its session takes deliver_sm (receipts of vouch's own go elsewhere if not).
    receives: bool,
    /// Held again after the campaign's rate throttled its message (see [`hold_again`]): the
    /// same part sent again takes its place.
    held_again: bool,
    /// It asks for a delivery receipt (or an intermediate notification): its id is kept in
    /// the store until the receipt window is over.
    receipt: bool,
}

/// A receipt telling the ESME that an acknowledged part was not delivered after all (the
/// whole message was refused, or the SMSC refused it); `None` if it asked for no receipt.
fn rejection_receipt(part: &Part, our_id: &str, status: CommandStatus, stat: &str) -> Option<Vec<u8>> {
    let pdu = vouch_smpp::decode(&part.pdu).ok()?;
    let Body::Message(sm) = pdu.body() else { return None };
    if sm.registered_delivery & 0x03 == 0 {
        return None;
    }
    let now = jiff::Zoned::now().strftime("%y%m%d%H%M").to_string();
    let text = format!(
        "id:{our_id} sub:001 dlvrd:000 submit date:{now} done date:{now} stat:{stat} err:{:03X} text:",
        status.0 & 0xfff
    );
    let m = OutboundMessage {
        source: sm.dest,
        dest: sm.source,
        esm_class: 0x04,
        data_coding: 0,
        registered_delivery: 0,
        user_data: text.as_bytes(),
        receipted_message_id: Some(our_id),
        message_state: Some(if stat == "REJECTD" { 8 } else { 5 }),
    };
    let mut out = Vec::new();
    // Receipts of vouch's own are numbered from the top of the range; their answers are ignored.
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let seq = 0x7000_0000 | (SEQ.fetch_add(1, Ordering::Relaxed) as u32 & 0x0fff_ffff);
    vouch_smpp::encode_message(&mut out, true, seq, &m).ok()?;
    Some(out)
}

/// Sends a receipt of vouch's own about `part`: on the part's session when it takes deliver_sm,
/// else to a receiving session of the same account (SMPP 3.4 section 2.3: a transmitter is
/// sent no deliver_sm); dropped when the account has none bound.
fn push_receipt(shared: &Arc<Shared>, acc: &BoundAccount, part: &Part, receipt: Option<Vec<u8>>, out: &mut Vec<u8>) {
    let Some(receipt) = receipt else { return };
    if part.receives {
        out.extend_from_slice(&receipt);
        return;
    }
    let receivers = shared.receivers_of(&acc.system_id, None);
    if receivers.is_empty() {
        metrics::counter!("vouch_smpp_receipts_total", "result" => "no_receiver").increment(1);
        return;
    }
    let shared = shared.clone();
    tokio::spawn(async move {
        shared.deliver(receivers, receipt).await;
    });
}

/// What a submit's answer task hands back to its session: the answers to write, and how many
/// submits they answer.
struct Event(Vec<u8>, usize);

/// Why a message's user data cannot be checked as the handset would show it.
enum UserDataFault {
    /// esm_class says a UDH is there and it does not parse.
    Udh,
    /// A UDH concatenation header and sar_ TLVs that disagree: the check would join the parts
    /// one way and the handset (by the UDH) another.
    Conflict,
}

/// A message's concatenation reference (SAR TLVs, or a UDH with an 8-bit or 16-bit reference),
/// and its user data without the UDH; an error when the text that a check reads may not be
/// what a handset shows.
fn user_text<'a>(sm: &'a ShortMessage<'_>) -> Result<(Option<vouch_smpp::text::ConcatRef>, &'a [u8]), UserDataFault> {
    let data = sm.user_data();
    let (udh_ref, text) = match sm.has_udh() {
        true => vouch_smpp::text::split_udh(data).map_err(|_| UserDataFault::Udh)?,
        false => (None, data),
    };
    let sar = sm.sar.map(|s| vouch_smpp::text::ConcatRef { reference: s.reference, total: s.total, seqnum: s.seqnum });
    match (sar, udh_ref) {
        (Some(s), Some(u)) if s != u => Err(UserDataFault::Conflict),
        (s, u) => Ok((s.or(u), text)),
    }
}

/// A part of a concatenated message that the SMSC throttled is sent again after this pause,
/// doubling, for at most [`PART_RETRY_FOR`] after the message was forwarded; then it is
/// refused as the SMSC refused it.
const PART_RETRY_FIRST: Duration = Duration::from_millis(250);
/// See [`PART_RETRY_FIRST`].
const PART_RETRY_FOR: Duration = Duration::from_secs(4);
/// The detail recorded for a concatenated message whose parts did not all come.
const PARTS_MISSING: &str = "concatenated parts missing";
/// How long an unbind waits for the answers to the submits before it.
const UNBIND_WAIT: Duration = Duration::from_secs(10);
/// How long vouch waits for the answer to its own unbind before it closes the connection.
const UNBIND_ANSWER: Duration = Duration::from_secs(2);

/// vouch unbinding a session: since when, whether its unbind went out, and whether the ESME
/// answered it.
struct Withdrawal {
    since: Instant,
    sent: Option<Instant>,
    answered: bool,
}

/// vouch unbinds a bound session (SMPP 3.4 section 4.2; its account was revoked, or vouch is
/// stopping): no new request is taken, the session gets no more deliveries (those queued go
/// back to the SMSC with ESME_RX_T_APPN, which it retries), the answers to earlier submits
/// still go out, and then the unbind (see the session loop). `None` when the session was not
/// bound.
fn withdraw(
    session: &mut ServerSession,
    shared: &Shared,
    account: &BoundAccount,
    session_id: u64,
    delivers: &mut mpsc::Receiver<Deliver>,
) -> Option<Withdrawal> {
    if !session.withdraw() {
        return None;
    }
    shared.remove_receiver(account, session_id);
    while let Ok(d) = delivers.try_recv() {
        let _ = d.reply.send(CommandStatus::ESME_RX_T_APPN);
    }
    Some(Withdrawal { since: Instant::now(), sent: None, answered: false })
}

/// Milliseconds on the process's monotonic clock (the reassembler's time).
fn now_ms() -> u64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64
}

async fn esme_session(
    shared: Arc<Shared>,
    (mut rd, mut wr): Halves,
    peer: SocketAddr,
    mut unbound: UnboundSlot,
) -> anyhow::Result<()> {
    let mut session = ServerSession::new(shared.settings.window);
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut out: Vec<u8> = Vec::with_capacity(64 * 1024);
    let (events_tx, mut events) = mpsc::channel::<Event>(4096);
    let (deliver_tx, mut delivers) = mpsc::channel::<Deliver>(1024);
    let mut account: Option<BoundAccount> = None;
    let session_id = shared.next_session.fetch_add(1, Ordering::Relaxed);
    let mut reassembler: Reassembler<(String, String, u16), Part> = Reassembler::new(Limits::default());
    let mut pending_delivers: HashMap<u32, oneshot::Sender<CommandStatus>> = HashMap::new();
    let mut next_seq: u32 = 1;
    let opened = Instant::now();
    let mut last_pdu = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut account_check = Instant::now();
    let mut closing = false;
    // An unbind waiting for the answers to the submits before it: (its sequence, when).
    let mut unbinding: Option<(u32, Instant)> = None;
    // vouch's own unbind (the account was disabled, or vouch is stopping).
    let mut withdrawn: Option<Withdrawal> = None;
    let mut draining = shared.draining.subscribe();
    let result: anyhow::Result<()> = loop {
        tokio::select! {
            n = rd.read_buf(&mut buf) => {
                let n = n?;
                if n == 0 { break Ok(()); }
                last_pdu = Instant::now();
                // Every whole PDU in the buffer.
                let mut at = 0;
                loop {
                    let header = match vouch_smpp::frame(&buf[at..]) {
                        Ok(Some(h)) => h,
                        Ok(None) => break,
                        Err(e) => {
                            // The length lies: the stream cannot be followed; say so (to the
                            // sequence number the header gave) and close.
                            let seq = vouch_smpp::sequence(&buf[at..]).unwrap_or(0);
                            vouch_smpp::encode_header_only(&mut out, CommandId::GENERIC_NACK, CommandStatus::ESME_RINVCMDLEN, seq);
                            wr.write_all(&out).await?;
                            anyhow::bail!("{e}");
                        }
                    };
                    if buf.len() - at < header.length { break; }
                    let pdu = &buf[at..at + header.length];
                    at += header.length;
                    let result = handle_pdu(&shared, &mut session, &mut account, pdu, &mut out, &events_tx, &mut reassembler,
                        &mut pending_delivers, session_id, &deliver_tx, peer).await;
                    if account.is_some() { unbound.release(); }
                    match result {
                        Ok(Next::Continue) => {}
                        Ok(Next::Close) => closing = true,
                        Ok(Next::Unbind(seq)) => {
                            unbinding = Some((seq, Instant::now()));
                            withdrawn = None;
                            // No more deliveries to this session: those queued go back to the
                            // SMSC (ESME_RX_T_APPN: it retries, another receiver may take them).
                            if let Some(acc) = &account { shared.remove_receiver(acc, session_id); }
                            while let Ok(d) = delivers.try_recv() { let _ = d.reply.send(CommandStatus::ESME_RX_T_APPN); }
                        }
                        Ok(Next::UnbindAnswered) => {
                            if let Some(w) = &mut withdrawn { w.answered = true; }
                        }
                        Err(e) => { wr.write_all(&out).await?; return Err(e); }
                    }
                }
                buf.drain(..at);
                if buf.capacity() > 4 * MAX_PDU_LEN && buf.len() < HEADER_LEN { buf.shrink_to(64 * 1024); }
            }
            Some(ev) = events.recv() => {
                let mut ev = Some(ev);
                while let Some(e) = ev.take() {
                    out.extend_from_slice(&e.0);
                    (0..e.1).for_each(|_| session.answered());
                    if out.len() < 256 * 1024 { ev = events.try_recv().ok(); }
                }
            }
            Some(d) = delivers.recv(), if matches!(session.state(), SessionState::Bound(m) if m.receives()) => {
                let mut pdu = d.pdu;
                let seq = next_seq;
                next_seq = next_seq.wrapping_add(1).max(1);
                vouch_smpp::set_sequence(&mut pdu, seq);
                out.extend_from_slice(&pdu);
                pending_delivers.insert(seq, d.reply);
            }
            Ok(()) = draining.changed() => {
                match session.state() {
                    SessionState::Bound(_) => {
                        if let Some(acc) = &account {
                            withdrawn = withdraw(&mut session, &shared, acc, session_id, &mut delivers);
                        }
                    }
                    SessionState::Open => closing = true,
                    _ => {}
                }
            }
            _ = tick.tick() => {
                let expired = reassembler.expire(now_ms());
                if !expired.is_empty()
                    && let Some(acc) = &account {
                        answer_refused(&shared, acc, &expired, CommandStatus::VOUCH_INCOMPLETE_CONCATENATION, PARTS_MISSING, &mut out).await;
                        for _ in expired.iter().filter(|p| p.acked.is_none()) { session.answered(); }
                    }
                if account.is_none() && opened.elapsed() > BIND_DEADLINE { break Ok(()); }
                if last_pdu.elapsed() > IDLE { break Ok(()); }
                if let Some(acc) = &account
                    && matches!(session.state(), SessionState::Bound(_))
                    && account_check.elapsed() > Duration::from_secs(5) {
                        account_check = Instant::now();
                        // A disabled account is unbound (section 4.2): no new request is taken,
                        // the answers to earlier submits still go out, queued deliveries go back
                        // to the SMSC, and the connection closes once the ESME has answered.
                        if !shared.gateway.registry().smpp_account_active(&acc.system_id).await {
                            withdrawn = withdraw(&mut session, &shared, acc, session_id, &mut delivers);
                        }
                    }
            }
        }
        // SMPP 3.4 section 4.2: unbind_resp once every submit before the unbind is answered
        // (or after UNBIND_WAIT), then the connection closes.
        if let Some((seq, since)) = unbinding
            && (session.outstanding() == 0 || since.elapsed() > UNBIND_WAIT)
        {
            vouch_smpp::encode_header_only(&mut out, CommandId::UNBIND.response(), CommandStatus::ESME_ROK, seq);
            unbinding = None;
            session.close();
            closing = true;
        }
        // vouch's unbind goes out once every earlier submit is answered (an ESME may stop
        // reading at an unbind), at the latest after UNBIND_WAIT; the connection closes once the
        // ESME answers it (or UNBIND_ANSWER after it was sent).
        if let Some(w) = &mut withdrawn {
            if w.sent.is_none() && (session.outstanding() == 0 || w.since.elapsed() > UNBIND_WAIT) {
                vouch_smpp::encode_header_only(&mut out, CommandId::UNBIND, CommandStatus::ESME_ROK, next_seq);
                next_seq = next_seq.wrapping_add(1).max(1);
                w.sent = Some(Instant::now());
            }
            if w.sent.is_some_and(|t| w.answered || t.elapsed() > UNBIND_ANSWER) {
                session.close();
                closing = true;
            }
        }
        if !out.is_empty() {
            wr.write_all(&out).await?;
            out.clear();
        }
        if closing {
            break Ok(());
        }
    };
    if let Some(acc) = &account {
        metrics::gauge!("vouch_smpp_sessions_bound").decrement(1.0);
        shared.remove_receiver(acc, session_id);
        let left = reassembler.drain();
        if !left.is_empty() {
            let mut sink = Vec::new();
            answer_refused(
                &shared,
                acc,
                &left,
                CommandStatus::VOUCH_INCOMPLETE_CONCATENATION,
                PARTS_MISSING,
                &mut sink,
            )
            .await;
        }
    }
    for (_, tx) in pending_delivers.drain() {
        let _ = tx.send(CommandStatus::ESME_RX_T_APPN);
    }
    let _ = wr.shutdown().await;
    result
}

/// Answers parts refused before any check (`detail` says why) and records the decision.
async fn answer_refused(
    shared: &Arc<Shared>,
    acc: &BoundAccount,
    parts: &[Part],
    status: CommandStatus,
    detail: &str,
    out: &mut Vec<u8>,
) {
    for p in parts {
        match &p.acked {
            None => vouch_smpp::encode_message_resp(out, p.command_id, status, p.sequence, ""),
            Some(id) => push_receipt(shared, acc, p, rejection_receipt(p, id, status, "REJECTD"), out),
        }
    }
    if let Some(first) = parts.first()
        && let Ok(pdu) = vouch_smpp::decode(&first.pdu)
        && let Body::Message(sm) = pdu.body()
    {
        let checked = vouch_service::Checked {
            source: vouch_service::source_label(&sm.source),
            verdict: vouch_gateway::Verdict::Reject(vouch_gateway::Reason { status, detail: detail.into() }),
            campaign: None,
            dest: None,
            fingerprint: 0,
        };
        shared.gateway.record(acc, &checked, parts.len() as u32, None).await;
    }
}

/// What a session does after a PDU.
enum Next {
    /// Reads on.
    Continue,
    /// Closes after writing what is written.
    Close,
    /// The ESME unbound (this sequence number): answer once its submits are answered.
    Unbind(u32),
    /// The ESME answered vouch's unbind.
    UnbindAnswered,
}

/// Acts on one PDU.
#[allow(clippy::too_many_arguments)]
async fn handle_pdu(
    shared: &Arc<Shared>,
    session: &mut ServerSession,
    account: &mut Option<BoundAccount>,
    bytes: &[u8],
    out: &mut Vec<u8>,
    events: &mpsc::Sender<Event>,
    reassembler: &mut Reassembler<(String, String, u16), Part>,
    pending_delivers: &mut HashMap<u32, oneshot::Sender<CommandStatus>>,
    session_id: u64,
    deliver_tx: &mpsc::Sender<Deliver>,
    peer: SocketAddr,
) -> anyhow::Result<Next> {
    let Some(h) = vouch_smpp::frame(bytes)? else { return Ok(Next::Continue) };
    match session.admit(&h) {
        Admission::Ignore => return Ok(Next::Continue),
        Admission::Nack(status) => {
            vouch_smpp::encode_header_only(out, CommandId::GENERIC_NACK, status, h.sequence);
            return Ok(Next::Continue);
        }
        Admission::Refuse(status) => {
            if status == CommandStatus::ESME_RTHROTTLED {
                // The ESME's window is full: refused before any check, so in no record.
                metrics::counter!("vouch_smpp_window_refusals_total").increment(1);
            }
            vouch_smpp::encode_header_only(out, h.command_id.response(), status, h.sequence);
            return Ok(Next::Continue);
        }
        Admission::Accept => {}
    }
    let pdu = match vouch_smpp::decode(bytes) {
        Ok(p) => p,
        Err(e) => {
            tracing::debug!(error = %e, "undecodable PDU");
            // The field to blame when there is one (source address, TLVs…), else the length.
            let status = match e {
                vouch_smpp::SmppError::Malformed { status, .. } => status,
                _ => CommandStatus::ESME_RINVCMDLEN,
            };
            match h.command_id {
                CommandId::SUBMIT_SM | CommandId::DATA_SM => {
                    session.answered();
                    vouch_smpp::encode_header_only(out, h.command_id.response(), status, h.sequence);
                }
                CommandId::BIND_RECEIVER | CommandId::BIND_TRANSMITTER | CommandId::BIND_TRANSCEIVER => {
                    // A system_id or password longer than its field (0x0F, 0x0E), another field
                    // that does not decode (0x0D): the bind fails.
                    let status = match status {
                        CommandStatus::ESME_RINVSYSID | CommandStatus::ESME_RINVPASWD => status,
                        _ => CommandStatus::ESME_RBINDFAIL,
                    };
                    vouch_smpp::encode_header_only(out, h.command_id.response(), status, h.sequence);
                    metrics::counter!("vouch_smpp_binds_total", "result" => status.name()).increment(1);
                    if session.bind_failed() {
                        return Ok(Next::Close);
                    }
                }
                // A response is never answered (section 4.3), not even a malformed one.
                id if id.is_response() => {}
                _ => vouch_smpp::encode_header_only(out, CommandId::GENERIC_NACK, status, h.sequence),
            }
            return Ok(Next::Continue);
        }
    };
    match pdu.body() {
        Body::Bind(b) => {
            let throttled = shared.bind_throttled(peer.ip());
            let result = if b.interface_version < 0x33 || throttled {
                Err(CommandStatus::ESME_RBINDFAIL)
            } else {
                shared.gateway.registry().authenticate_smpp(b.system_id, b.password).await
            };
            if let Err(status) = result {
                // One line per refused bind, the client's address last (as the HTTP listener's
                // refused keys: a fail2ban filter anchored at the end of the line reads it);
                // none while the address is held off (its hold was said once).
                if !throttled {
                    let peer_ip = peer.ip().to_canonical();
                    tracing::warn!(system_id = b.system_id, status = status.name(), peer = %peer_ip, "ESME bind refused");
                }
                if shared.bind_failed(peer.ip()) {
                    tracing::warn!(address = %peer.ip().to_canonical(), "{MAX_BIND_FAILURES_PER_MINUTE} failed SMPP binds from one address within a minute: its binds are refused for the rest of the minute");
                    metrics::counter!("vouch_smpp_bind_holds_total").increment(1);
                }
            }
            match result {
                Ok(acc) => {
                    session.bound(b.mode);
                    vouch_smpp::encode_bind_resp(out, b.mode, CommandStatus::ESME_ROK, h.sequence, "vouch");
                    if b.mode.receives() {
                        shared.add_receiver(&acc, Receiver { id: session_id, tx: deliver_tx.clone() });
                    }
                    tracing::info!(system_id = %acc.system_id, mode = b.mode.as_str(), "ESME bound");
                    metrics::counter!("vouch_smpp_binds_total", "result" => "ok").increment(1);
                    metrics::gauge!("vouch_smpp_sessions_bound").increment(1.0);
                    *account = Some(acc);
                }
                Err(status) => {
                    metrics::counter!("vouch_smpp_binds_total", "result" => status.name()).increment(1);
                    vouch_smpp::encode_bind_resp(out, b.mode, status, h.sequence, "vouch");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    if session.bind_failed() {
                        return Ok(Next::Close);
                    }
                }
            }
        }
        Body::EnquireLink => {
            vouch_smpp::encode_header_only(out, CommandId::ENQUIRE_LINK.response(), CommandStatus::ESME_ROK, h.sequence)
        }
        Body::Unbind => return Ok(Next::Unbind(h.sequence)),
        Body::UnbindResp => return Ok(Next::UnbindAnswered),
        Body::MessageResp(_) if h.command_id == CommandId::DELIVER_SM.response() => {
            if let Some(tx) = pending_delivers.remove(&h.sequence) {
                let _ = tx.send(h.status);
            }
        }
        Body::Message(sm) if matches!(h.command_id, CommandId::SUBMIT_SM | CommandId::DATA_SM) => {
            let Some(acc) = account.clone() else {
                vouch_smpp::encode_header_only(
                    out,
                    h.command_id.response(),
                    CommandStatus::ESME_RINVBNDSTS,
                    h.sequence,
                );
                return Ok(Next::Continue);
            };
            let receives = matches!(session.state(), SessionState::Bound(m) if m.receives());
            let mut part = Part {
                command_id: h.command_id,
                sequence: h.sequence,
                pdu: bytes.to_vec(),
                acked: None,
                receives,
                held_again: false,
                receipt: sm.registered_delivery & 0x13 != 0,
            };
            // User data given twice (short_message and message_payload), a UDH that does not
            // parse, or parts numbered two ways that disagree (UDH and sar_ TLVs): what a check
            // reads would not be what the handset shows.
            let refusal = match (sm.has_two_bodies(), user_text(&sm)) {
                (false, Ok(t)) => Ok(t),
                (true, _) => Err((CommandStatus::ESME_ROPTPARNOTALLWD, "message_payload with a short_message")),
                (false, Err(UserDataFault::Udh)) => {
                    Err((CommandStatus::ESME_RINVESMCLASS, "a user data header that does not parse"))
                }
                (false, Err(UserDataFault::Conflict)) => Err((
                    CommandStatus::ESME_ROPTPARNOTALLWD,
                    "sar_ TLVs that disagree with the user data header's concatenation",
                )),
            };
            let (concat, text_bytes) = match refusal {
                Ok(t) => t,
                Err((status, detail)) => {
                    session.answered();
                    answer_refused(shared, &acc, &[part], status, detail, out).await;
                    return Ok(Next::Continue);
                }
            };
            match concat {
                Some(c) if c.total > 1 => {
                    let key = (sm.source.addr.to_owned(), sm.dest.addr.to_owned(), c.reference);
                    // An ESME that sends every part again after ESME_RTHROTTLED (not only the
                    // part that got it) replaces the parts held again: the earlier one is told
                    // by a receipt that it was not sent.
                    if let Some(old) = reassembler.take_part(&key, c.seqnum, |p| p.held_again)
                        && let Some(old_id) = &old.acked
                    {
                        let receipt = rejection_receipt(&old, old_id, CommandStatus::ESME_RTHROTTLED, "REJECTD");
                        push_receipt(shared, &acc, &old, receipt, out);
                    }
                    let id = shared.message_id();
                    part.acked = Some(id.clone());
                    // Each part is decoded with its own data_coding (parts may differ); the text
                    // is reassembled.
                    let text = vouch_smpp::text::decode_text(sm.data_coding, text_bytes);
                    match reassembler.offer(key, c.total, c.seqnum, text.as_bytes(), part, now_ms()) {
                        Offer::Held => {
                            vouch_smpp::encode_message_resp(
                                out,
                                h.command_id,
                                CommandStatus::ESME_ROK,
                                h.sequence,
                                &id,
                            );
                            session.answered();
                        }
                        Offer::Refused(mut p, why) => {
                            p.acked = None;
                            tracing::debug!(why, "concatenated part refused");
                            session.answered();
                            let status = CommandStatus::VOUCH_INCOMPLETE_CONCATENATION;
                            answer_refused(shared, &acc, &[p], status, why, out).await;
                        }
                        Offer::Complete { data, mut tags } => {
                            // The part that completed the message is answered with the verdict.
                            tags.iter_mut().filter(|t| t.sequence == h.sequence).for_each(|t| t.acked = None);
                            let text = String::from_utf8_lossy(&data);
                            let done = submit(shared, &acc, &sm.source, &sm.dest, &text, tags, out, events).await;
                            (0..done.answered).for_each(|_| session.answered());
                            hold_again(shared, &acc, reassembler, done.hold_again, out);
                        }
                    }
                }
                _ => {
                    let text = vouch_smpp::text::decode_text(sm.data_coding, text_bytes);
                    let done = submit(shared, &acc, &sm.source, &sm.dest, &text, vec![part], out, events).await;
                    (0..done.answered).for_each(|_| session.answered());
                }
            }
        }
        Body::EnquireLinkResp | Body::GenericNack | Body::MessageResp(_) | Body::BindResp(_) => {}
        Body::Message(_) | Body::Unsupported => {
            vouch_smpp::encode_header_only(out, CommandId::GENERIC_NACK, CommandStatus::ESME_RINVCMDID, h.sequence);
        }
    }
    Ok(Next::Continue)
}

/// What [`submit`] did with a message.
struct Submitted {
    /// How many of its submits it answered (the others are answered later, or were already).
    answered: usize,
    /// The parts acknowledged earlier of a concatenated message the campaign's rate throttled:
    /// they wait again for the part answered ESME_RTHROTTLED (see [`hold_again`]).
    hold_again: Vec<Part>,
}

/// Checks a whole message and answers or forwards its parts.
#[allow(clippy::too_many_arguments)]
async fn submit(
    shared: &Arc<Shared>,
    acc: &BoundAccount,
    source: &Address<'_>,
    dest: &Address<'_>,
    text: &str,
    parts: Vec<Part>,
    out: &mut Vec<u8>,
    events: &mpsc::Sender<Event>,
) -> Submitted {
    let n = parts.len() as u32;
    let mut checked = shared.gateway.check(acc, source, dest, text, n);
    let route = if checked.verdict.forwards() { shared.route(dest.addr) } else { None };
    if checked.verdict.forwards() && route.is_none() {
        // No SMSC takes this destination: refused as the carrier would, what it spent given back.
        shared.gateway.refused_upstream(&checked, n);
        checked.verdict = vouch_gateway::Verdict::Reject(vouch_gateway::Reason {
            status: CommandStatus::ESME_RINVDSTADR,
            detail: "no SMSC routes this destination (every SMSC has prefixes and none matches)".into(),
        });
    }
    let (true, Some(route)) = (checked.verdict.forwards(), route) else {
        let status = checked.verdict.reason().map_or(CommandStatus::ESME_RSYSERR, |r| r.status);
        // Over the rate, a concatenated message is answered ESME_RTHROTTLED on the part that
        // completed it, and an ESME sends that part again, alone: the others were answered
        // ESME_ROK (Kannel does so). So the parts acknowledged earlier are not refused by a
        // receipt: they wait for it again, and the message is checked again when it comes.
        let throttled = status == CommandStatus::ESME_RTHROTTLED;
        let mut hold = Vec::new();
        let mut answered = 0;
        for p in parts {
            match &p.acked {
                None => {
                    vouch_smpp::encode_message_resp(out, p.command_id, status, p.sequence, "");
                    answered += 1;
                }
                Some(_) if throttled => hold.push(p),
                Some(id) => push_receipt(shared, acc, &p, rejection_receipt(&p, id, status, "REJECTD"), out),
            }
        }
        shared.gateway.record(acc, &checked, n, None).await;
        return Submitted { answered, hold_again: hold };
    };
    // Forwarded under the flag policy: the carrier is told which check failed.
    let mut parts = parts;
    if let vouch_gateway::Verdict::Flag(r) = &checked.verdict {
        for p in &mut parts {
            vouch_smpp::append_tlv(&mut p.pdu, vouch_smpp::TLV_VOUCH_FLAG, &r.status.0.to_be_bytes());
        }
    }
    let send = |req: UpstreamRequest| shared.send_upstream(route, req);
    if let [p] = parts.as_slice()
        && p.acked.is_none()
    {
        // A message in one PDU: the upstream session answers it.
        let mut part = parts.remove(0);
        let pdu = std::mem::take(&mut part.pdu);
        let answering =
            Answering { shared: shared.clone(), account: acc.clone(), checked, part, events: events.clone() };
        send(UpstreamRequest::new(pdu, Reply::Answer(Answer(Some(Box::new(answering))))));
        return Submitted { answered: 0, hold_again: Vec::new() };
    }
    let mut waits = Vec::with_capacity(parts.len());
    for mut p in parts {
        let (tx, rx) = oneshot::channel();
        // An acknowledged part keeps its bytes for a receipt should the SMSC refuse it; every
        // part keeps a copy to be sent again should the SMSC throttle it.
        let pdu = if p.acked.is_some() { p.pdu.clone() } else { std::mem::take(&mut p.pdu) };
        send(UpstreamRequest::new(pdu.clone(), Reply::Wait(tx)));
        waits.push((p, pdu, rx));
    }
    let shared = shared.clone();
    let acc = acc.clone();
    let events = events.clone();
    tokio::spawn(async move {
        let mut answers = Vec::new();
        let mut first_id = None;
        let count = waits.iter().filter(|(p, _, _)| p.acked.is_none()).count();
        let parts = waits.len() as u32;
        let mut failed = None;
        let started = Instant::now();
        for (part, pdu, rx) in waits {
            let mut reply = rx.await.unwrap_or(Err(CommandStatus::ESME_RSYSERR));
            // A part the SMSC throttled is sent again by vouch: the ESME was told the parts
            // before the last were taken, and the last part sent again alone would not make the
            // message (Kannel sends again only the part answered ESME_RTHROTTLED).
            let mut pause = PART_RETRY_FIRST;
            while matches!(reply, Err(CommandStatus::ESME_RTHROTTLED)) && started.elapsed() + pause <= PART_RETRY_FOR {
                tokio::time::sleep(pause).await;
                pause *= 2;
                metrics::counter!("vouch_smpp_part_retries_total").increment(1);
                let (tx, rx) = oneshot::channel();
                shared.send_upstream(route, UpstreamRequest::new(pdu.clone(), Reply::Wait(tx)));
                reply = rx.await.unwrap_or(Err(CommandStatus::ESME_RSYSERR));
            }
            match answer_part(&shared, &acc, &part, reply, &mut answers) {
                Ok(id) => {
                    first_id.get_or_insert(id);
                }
                Err(status) => {
                    failed.get_or_insert(status);
                }
            }
        }
        conclude(shared, acc, checked, parts, first_id, failed, Event(answers, count), events);
    });
    Submitted { answered: 0, hold_again: Vec::new() }
}

/// Holds again the acknowledged parts of a concatenated message the campaign's rate throttled,
/// so that the part answered ESME_RTHROTTLED, sent again, completes the message once more. If
/// it does not come within the reassembly timeout, they expire like any incomplete message (a
/// receipt with VOUCH_INCOMPLETE_CONCATENATION); if the ESME sends them again too, the new
/// ones take their place (and the old ones get a receipt with ESME_RTHROTTLED); a part that
/// cannot be held again gets that receipt now.
fn hold_again(
    shared: &Arc<Shared>,
    acc: &BoundAccount,
    reassembler: &mut Reassembler<(String, String, u16), Part>,
    parts: Vec<Part>,
    out: &mut Vec<u8>,
) {
    for mut p in parts {
        p.held_again = true;
        let offer = match vouch_smpp::decode(&p.pdu) {
            Ok(pdu) => match pdu.body() {
                Body::Message(sm) => match user_text(&sm) {
                    Ok((Some(c), bytes)) => {
                        let text = vouch_smpp::text::decode_text(sm.data_coding, bytes);
                        let key = (sm.source.addr.to_owned(), sm.dest.addr.to_owned(), c.reference);
                        Some((key, c, text))
                    }
                    _ => None,
                },
                _ => None,
            },
            Err(_) => None,
        };
        let refused = match offer {
            Some((key, c, text)) => match reassembler.offer(key, c.total, c.seqnum, text.as_bytes(), p, now_ms()) {
                Offer::Held => Vec::new(),
                Offer::Refused(p, _) => vec![p],
                // Not with the throttled part missing; were it so, it would be refused too.
                Offer::Complete { tags, .. } => tags,
            },
            None => vec![p],
        };
        for p in refused {
            if let Some(id) = &p.acked {
                let receipt = rejection_receipt(&p, id, CommandStatus::ESME_RTHROTTLED, "REJECTD");
                push_receipt(shared, acc, &p, receipt, out);
            }
        }
    }
}

/// Adds what the ESME is told about one part the SMSC answered (`reply`) to `answers`: the id
/// vouch gives the message (remembered for its receipt), or the refusal (a receipt for a part
/// acknowledged earlier). Returns the id, or the SMSC's refusal.
fn answer_part(
    shared: &Arc<Shared>,
    acc: &BoundAccount,
    part: &Part,
    reply: UpstreamReply,
    answers: &mut Vec<u8>,
) -> Result<String, CommandStatus> {
    let (command_id, sequence, acked) = (part.command_id, part.sequence, &part.acked);
    match reply {
        Ok(Taken { id: upstream_id, smsc }) => {
            let our_id = acked.clone().unwrap_or_else(|| shared.message_id());
            let sent = Sent { our_id: our_id.clone(), system_id: acc.system_id.clone() };
            let account = shared.topology.upstreams[smsc].account;
            if part.receipt {
                shared.keep_receipt_id(account, &upstream_id, &sent);
            }
            shared.ids.insert((account, upstream_id), sent);
            if acked.is_none() {
                vouch_smpp::encode_message_resp(answers, command_id, CommandStatus::ESME_ROK, sequence, &our_id);
            }
            Ok(our_id)
        }
        Err(status) => {
            match acked {
                None => vouch_smpp::encode_message_resp(answers, command_id, status, sequence, ""),
                Some(id) => push_receipt(shared, acc, part, rejection_receipt(part, id, status, "UNDELIV"), answers),
            }
            Err(status)
        }
    }
}

/// Records a forwarded message's decision (refused upstream if no part got through) and hands
/// its answers to the ESME's session. The record is queued before the ESME hears back: when
/// the writer falls behind, answers slow down and the ESME's window holds the load back,
/// instead of records piling up in memory. Without waiting when there is room (the usual
/// case); else in a task of its own.
#[allow(clippy::too_many_arguments)]
fn conclude(
    shared: Arc<Shared>,
    acc: BoundAccount,
    mut checked: vouch_service::Checked,
    parts: u32,
    first_id: Option<String>,
    failed: Option<CommandStatus>,
    event: Event,
    events: mpsc::Sender<Event>,
) {
    if let Some(status) = failed {
        metrics::counter!("vouch_smpp_upstream_refusals_total", "status" => status.name()).increment(1);
        if first_id.is_none() {
            // Not sent after all: what it spent of the campaign's rate goes back.
            shared.gateway.refused_upstream(&checked, parts);
            let detail = match status {
                CommandStatus::ESME_RTHROTTLED => "not sent: the SMSC throttled it, or was unavailable",
                CommandStatus::ESME_RSYSERR => {
                    "no answer from the SMSC within its response_timeout (it may have been delivered)"
                }
                _ => "refused by the SMSC",
            };
            checked.verdict = vouch_gateway::Verdict::Reject(vouch_gateway::Reason { status, detail: detail.into() });
        }
    }
    let record = shared.gateway.try_record(&acc, &checked, parts, first_id);
    let event = match record {
        Ok(()) => match events.try_send(event) {
            Ok(()) => return,
            Err(mpsc::error::TrySendError::Closed(_)) => return, // the session is gone
            Err(mpsc::error::TrySendError::Full(e)) => e,
        },
        Err(_) => event,
    };
    let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
    runtime.spawn(async move {
        if let Err(rec) = record {
            shared.gateway.queue_record(*rec).await;
        }
        let _ = events.send(event).await;
    });
}

/// One SMSC: connect, bind as transceiver, forward submits within the window, keep the link
/// alive, reconnect with back-off; receipts and subscribers' messages go to the ESMEs.
async fn upstream(shared: Arc<Shared>, index: usize, mut requests: mpsc::Receiver<UpstreamRequest>) {
    let cfg = shared.settings.smscs[index].clone();
    let mut backoff = Duration::from_millis(100);
    // Submits sent and not answered when a connection dropped: sent again first.
    let mut retry: VecDeque<UpstreamRequest> = VecDeque::new();
    let mut stopping = shared.stopping.subscribe();
    let label = shared.topology.upstreams[index].label.clone();
    // Present from the start, so that an alert on 0 also sees an SMSC that never bound.
    shared.set_bound(index, false);
    loop {
        if *stopping.borrow_and_update() {
            return; // the gateway is shutting down, and this SMSC is away
        }
        let mut bound = false;
        match upstream_connection(&shared, index, &cfg, &mut requests, &mut retry, &mut bound).await {
            Ok(()) => return, // the gateway is shutting down
            Err(e) => {
                // A session that was up starts the back-off again from the shortest wait.
                if bound {
                    backoff = Duration::from_millis(100);
                }
                metrics::counter!("vouch_smpp_upstream_disconnects_total", "smsc" => label.clone()).increment(1);
                tracing::warn!(smsc = %label, error = format!("{e:#}"), retry_in_ms = backoff.as_millis() as u64, "SMSC session lost");
            }
        }
        // While the SMSC is away, its submits (those already sent first) go to another bound
        // SMSC of its route, if there is one; else they wait for the next session of either.
        // One that waited the response timeout since it came is answered, checked every
        // 250 ms (and after each failed attempt, which may itself take up to 25 s).
        shared.hand_over(index, &mut retry);
        give_back_late(&mut retry, cfg.response_timeout);
        let now = tokio::time::Instant::now();
        let until = now + backoff;
        let mut tick = tokio::time::interval_at(now + Duration::from_millis(250), Duration::from_millis(250));
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(until) => break,
                r = requests.recv() => match r {
                    Some(r) => if let Err(r) = shared.to_bound_peer(index, r) { retry.push_back(r) },
                    None => return,
                },
                _ = tick.tick() => {
                    shared.hand_over(index, &mut retry);
                    give_back_late(&mut retry, cfg.response_timeout);
                }
                Ok(()) = stopping.changed() => return,
            }
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// Answers the waiting submits that came more than `deadline` ago: ESME_RTHROTTLED (retry
/// later) for one never sent; ESME_RSYSERR for one sent before the connection dropped, which
/// the SMSC may have taken (a retry could deliver it twice).
fn give_back_late(waiting: &mut VecDeque<UpstreamRequest>, deadline: Duration) {
    if waiting.iter().all(|r| r.first.elapsed() <= deadline) {
        return;
    }
    let mut kept = VecDeque::with_capacity(waiting.len());
    while let Some(r) = waiting.pop_front() {
        if r.first.elapsed() > deadline {
            let status = if r.sent.is_some() { CommandStatus::ESME_RSYSERR } else { CommandStatus::ESME_RTHROTTLED };
            r.reply.send(Err(status));
        } else {
            kept.push_back(r);
        }
    }
    *waiting = kept;
}

async fn upstream_connection(
    shared: &Arc<Shared>,
    index: usize,
    cfg: &SmscConfig,
    requests: &mut mpsc::Receiver<UpstreamRequest>,
    retry: &mut VecDeque<UpstreamRequest>,
    bound_once: &mut bool,
) -> anyhow::Result<()> {
    let stream = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(cfg.addr))
        .await
        .context("connect timed out")??;
    stream.set_nodelay(true)?;
    let (mut rd, mut wr) = match &cfg.tls {
        None => plain_halves(stream),
        Some(tls) => {
            let s = tokio::time::timeout(crate::tls::HANDSHAKE, tls.connector.connect(tls.server_name.clone(), stream))
                .await
                .context("TLS handshake timed out")?
                .context("TLS handshake failed")?;
            tls_halves(s)
        }
    };
    let mut out = Vec::with_capacity(64 * 1024);
    let mut seq: u32 = 1;
    vouch_smpp::encode_bind(&mut out, BindMode::Transceiver, seq, &cfg.system_id, &cfg.password)?;
    wr.write_all(&out).await?;
    out.clear();
    let mut buf = Vec::with_capacity(64 * 1024);
    // The bind response.
    let bound = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if rd.read_buf(&mut buf).await? == 0 {
                anyhow::bail!("closed before the bind answer");
            }
            if let Some(h) = vouch_smpp::frame(&buf)?
                && buf.len() >= h.length
            {
                buf.drain(..h.length);
                return Ok(h);
            }
        }
    })
    .await
    .context("no bind answer")??;
    if !bound.status.is_ok() {
        // A wrong system_id or password will not get better by itself: say so loudly.
        if matches!(bound.status, CommandStatus::ESME_RINVPASWD | CommandStatus::ESME_RINVSYSID) {
            tracing::error!(smsc = %cfg.addr, status = %bound.status, "the SMSC refuses vouch's system_id or password; check --smsc");
        }
        anyhow::bail!("bind refused: {}", bound.status);
    }
    *bound_once = true;
    tracing::info!(smsc = %shared.topology.upstreams[index].label, "bound to SMSC");
    shared.set_bound(index, true);
    let mut pending: HashMap<u32, UpstreamRequest> = HashMap::new();
    let (resp_tx, mut resps) = mpsc::channel::<Vec<u8>>(4096);
    let mut keepalive = tokio::time::interval(Duration::from_secs(30));
    keepalive.tick().await;
    let mut awaiting_link: Option<Instant> = None;
    let mut sweep = tokio::time::interval(Duration::from_secs(1));
    let mut stopping = shared.stopping.subscribe();
    // The last submit answer, and whether the session is stalled (STALL).
    let (mut last_answer, mut stalled) = (Instant::now(), false);
    let stall_after = STALL.min(cfg.response_timeout);
    let result = loop {
        // Stalled, with a peer that is not: new submits are left to the peers, and those
        // queued here go to them.
        let yielding = stalled && shared.has_usable_peer(index);
        if yielding {
            while let Ok(r) = requests.try_recv() {
                retry.push_back(r);
            }
            shared.hand_over(index, retry);
        }
        // Shutting down, and every submit answered: unbind (section 4.2) and wait a little for
        // the answer.
        if *stopping.borrow_and_update() && pending.is_empty() && retry.is_empty() {
            seq = seq.wrapping_add(1).max(2);
            vouch_smpp::encode_header_only(&mut out, CommandId::UNBIND, CommandStatus::ESME_ROK, seq);
            if wr.write_all(&out).await.is_ok() {
                let _ = tokio::time::timeout(Duration::from_secs(2), async {
                    loop {
                        match rd.read_buf(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(_) => {}
                        }
                        while let Ok(Some(h)) = vouch_smpp::frame(&buf) {
                            if buf.len() < h.length {
                                break;
                            }
                            buf.drain(..h.length);
                            if h.command_id == CommandId::UNBIND.response() {
                                return;
                            }
                        }
                    }
                })
                .await;
            }
            tracing::info!(smsc = %cfg.addr, "unbound from SMSC");
            break Ok(());
        }
        // Retries first, then new requests, while the window has room.
        while pending.len() < cfg.window && !yielding {
            let Some(mut r) = retry.pop_front() else { break };
            seq = seq.wrapping_add(1).max(2);
            vouch_smpp::set_sequence(&mut r.pdu, seq);
            out.extend_from_slice(&r.pdu);
            r.sent = Some(Instant::now());
            pending.insert(seq, r);
        }
        if !out.is_empty() {
            if let Err(e) = wr.write_all(&out).await {
                break Err(e.into());
            }
            out.clear();
        }
        tokio::select! {
            r = requests.recv(), if pending.len() < cfg.window && !yielding => {
                let Some(mut r) = r else { break Ok(()) };
                let now = Instant::now();
                loop {
                    seq = seq.wrapping_add(1).max(2);
                    vouch_smpp::set_sequence(&mut r.pdu, seq);
                    out.extend_from_slice(&r.pdu);
                    r.sent = Some(now);
                    pending.insert(seq, r);
                    if pending.len() >= cfg.window || out.len() > 256 * 1024 { break; }
                    match requests.try_recv() { Ok(next) => r = next, Err(_) => break }
                }
            }
            n = rd.read_buf(&mut buf) => {
                match n {
                    Ok(0) => break Err(anyhow::anyhow!("the SMSC closed the connection")),
                    Err(e) => break Err(e.into()),
                    Ok(_) => {}
                }
                let mut at = 0;
                let mut fatal = None;
                loop {
                    let h = match vouch_smpp::frame(&buf[at..]) {
                        Ok(Some(h)) if buf.len() - at >= h.length => h,
                        Ok(_) => break,
                        Err(e) => { fatal = Some(e); break; }
                    };
                    let bytes = &buf[at..at + h.length];
                    at += h.length;
                    match h.command_id {
                        id if id == CommandId::SUBMIT_SM.response() || id == CommandId::DATA_SM.response() => {
                            last_answer = Instant::now();
                            if stalled {
                                stalled = false;
                                shared.set_stalled(index, false);
                            }
                            if let Some(r) = pending.remove(&h.sequence) {
                                let reply = if h.status.is_ok() {
                                    match vouch_smpp::decode(bytes).ok().map(|p| match p.body() { Body::MessageResp(id) => id.to_owned(), _ => String::new() }) {
                                        Some(id) if !id.is_empty() => Ok(Taken { id, smsc: index }),
                                        _ => Err(CommandStatus::ESME_RSYSERR),
                                    }
                                } else if h.status == CommandStatus::ESME_RTHROTTLED || h.status.0 == 0x14 {
                                    Err(CommandStatus::ESME_RTHROTTLED)
                                } else {
                                    Err(h.status)
                                };
                                r.reply.send(reply);
                            }
                        }
                        // SMPP 3.4 section 4.3: generic_nack answers a request the SMSC could not
                        // take (data_sm it does not support, a PDU it could not read).
                        CommandId::GENERIC_NACK => {
                            if let Some(r) = pending.remove(&h.sequence) {
                                let status = if h.status.is_ok() { CommandStatus::ESME_RSYSERR } else { h.status };
                                metrics::counter!("vouch_smpp_upstream_nacks_total").increment(1);
                                r.reply.send(Err(status));
                            }
                        }
                        CommandId::ENQUIRE_LINK => vouch_smpp::encode_header_only(&mut out, CommandId::ENQUIRE_LINK.response(), CommandStatus::ESME_ROK, h.sequence),
                        id if id == CommandId::ENQUIRE_LINK.response() => awaiting_link = None,
                        CommandId::UNBIND => {
                            vouch_smpp::encode_header_only(&mut out, CommandId::UNBIND.response(), CommandStatus::ESME_ROK, h.sequence);
                            fatal = Some(vouch_smpp::SmppError::Encode("the SMSC unbound".into()));
                            break;
                        }
                        CommandId::DELIVER_SM | CommandId::DATA_SM => {
                            let shared = shared.clone();
                            let bytes = bytes.to_vec();
                            let resp_tx = resp_tx.clone();
                            tokio::spawn(async move {
                                let status = from_upstream(&shared, index, &bytes).await;
                                let mut r = Vec::new();
                                vouch_smpp::encode_message_resp(&mut r, h.command_id, status, h.sequence, "");
                                let _ = resp_tx.send(r).await;
                            });
                        }
                        id if id.is_response() => {}
                        _ => vouch_smpp::encode_header_only(&mut out, CommandId::GENERIC_NACK, CommandStatus::ESME_RINVCMDID, h.sequence),
                    }
                }
                buf.drain(..at);
                if let Some(e) = fatal { let _ = wr.write_all(&out).await; break Err(e.into()); }
            }
            Some(r) = resps.recv() => {
                out.extend_from_slice(&r);
                while let Ok(r) = resps.try_recv() { out.extend_from_slice(&r); }
            }
            _ = sweep.tick() => {
                // Submits the SMSC never answered: the ESME is told ESME_RSYSERR (the outcome
                // is unknown) and the window slot is freed, so that a session that answers
                // enquire_link but not submits cannot hold every slot.
                let late: Vec<u32> = pending.iter().filter(|(_, r)| r.sent.is_some_and(|t| t.elapsed() > cfg.response_timeout)).map(|(s, _)| *s).collect();
                for s in late {
                    if let Some(r) = pending.remove(&s) {
                        metrics::counter!("vouch_smpp_upstream_timeouts_total").increment(1);
                        r.reply.send(Err(CommandStatus::ESME_RSYSERR));
                    }
                }
                let waiting_long = pending.values().any(|r| r.sent.is_some_and(|t| t.elapsed() > stall_after));
                let now_stalled = waiting_long && last_answer.elapsed() > stall_after;
                if now_stalled != stalled {
                    stalled = now_stalled;
                    shared.set_stalled(index, stalled);
                }
            }
            Ok(()) = stopping.changed() => {}
            _ = keepalive.tick() => {
                if awaiting_link.is_some_and(|t| t.elapsed() > Duration::from_secs(30)) {
                    break Err(anyhow::anyhow!("the SMSC did not answer enquire_link"));
                }
                seq = seq.wrapping_add(1).max(2);
                vouch_smpp::encode_header_only(&mut out, CommandId::ENQUIRE_LINK, CommandStatus::ESME_ROK, seq);
                awaiting_link.get_or_insert_with(Instant::now);
            }
        }
    };
    shared.set_bound(index, false);
    shared.set_stalled(index, false);
    // Unanswered submits go out again on the next connection (or to another SMSC of the
    // route), oldest first.
    let mut left: Vec<(u32, UpstreamRequest)> = pending.into_iter().collect();
    left.sort_by_key(|(s, _)| *s);
    for (_, r) in left.into_iter().rev() {
        retry.push_front(r);
    }
    result
}

/// A deliver_sm (or data_sm) from the SMSC: a receipt goes to the account that sent the
/// message, under the id it knows; a subscriber's message is checked for STOP/START/HELP
/// (answered upstream) and goes to the campaign's CSP. Returns the status to answer upstream.
async fn from_upstream(shared: &Arc<Shared>, index: usize, bytes: &[u8]) -> CommandStatus {
    let Ok(pdu) = vouch_smpp::decode(bytes) else { return CommandStatus::ESME_RINVCMDLEN };
    let Body::Message(sm) = pdu.body() else { return CommandStatus::ESME_RINVCMDID };
    if sm.is_receipt() {
        let text = sm.user_data();
        let upstream_id = sm
            .receipted_message_id
            .map(str::to_owned)
            .or_else(|| vouch_smpp::receipt::receipt_id(text).map(str::to_owned));
        let found = match &upstream_id {
            Some(id) => shared.receipt_for(index, id).await,
            None => Ok(None),
        };
        let sent = match found {
            Ok(Some(sent)) => sent,
            Ok(None) => {
                metrics::counter!("vouch_smpp_receipts_total", "result" => "unknown_id").increment(1);
                return CommandStatus::ESME_ROK; // not ours to keep: nobody could take it
            }
            Err(e) => {
                // The store cannot say now: the SMSC sends it again later.
                tracing::warn!(error = %e, "cannot look up a receipt's message id");
                metrics::counter!("vouch_smpp_receipts_total", "result" => "retry").increment(1);
                return CommandStatus::ESME_RX_T_APPN;
            }
        };
        let rewritten = vouch_smpp::receipt::rewrite_id(text, &sent.our_id).unwrap_or_else(|| text.to_vec());
        let m = OutboundMessage {
            source: sm.source,
            dest: sm.dest,
            esm_class: sm.esm_class,
            data_coding: sm.data_coding,
            registered_delivery: 0,
            user_data: &rewritten,
            receipted_message_id: Some(&sent.our_id),
            message_state: sm.message_state,
        };
        let mut out = Vec::new();
        if vouch_smpp::encode_message(&mut out, true, 0, &m).is_err() {
            return CommandStatus::ESME_RSYSERR;
        }
        let status = shared.deliver(shared.receivers_of(&sent.system_id, None), out).await;
        metrics::counter!("vouch_smpp_receipts_total", "result" => if status.is_ok() { "delivered" } else { "retry" })
            .increment(1);
        return status;
    }
    // A subscriber's message.
    let text = vouch_smpp::text::decode_text(sm.data_coding, user_text(&sm).map_or(sm.user_data(), |(_, t)| t));
    let mo = match shared.gateway.mobile_originated(&sm.source, &sm.dest, &text).await {
        Ok(mo) => mo,
        Err(e) => {
            tracing::warn!(error = %e, "mobile-originated message not handled");
            return CommandStatus::ESME_RX_T_APPN;
        }
    };
    if let Some(reply) = &mo.reply {
        // The campaign's answer, from the campaign's number to the subscriber, straight upstream,
        // in the GSM alphabet when it fits, else UCS-2.
        let (data_coding, user_data) = vouch_smpp::text::encode_text(reply);
        let m = OutboundMessage {
            source: sm.dest,
            dest: sm.source,
            esm_class: 0,
            data_coding,
            registered_delivery: 0,
            user_data: &user_data,
            receipted_message_id: None,
            message_state: None,
        };
        let mut pdu = Vec::new();
        if vouch_smpp::encode_message(&mut pdu, false, 0, &m).is_ok() {
            let _ = shared.upstreams[index].try_send(UpstreamRequest::new(pdu, Reply::Nobody));
        }
    }
    let Some(campaign) = mo.campaign else {
        return CommandStatus::ESME_ROK; // a number nobody holds: nobody to give it to
    };
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(bytes);
    shared.deliver(shared.receivers_of("", Some(campaign.csp)), out).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_read_the_same_whatever_kannels_msg_id_type() {
        for (prefix, n) in [(0, 1), (0x80_0000, 1), (u32::MAX, u64::MAX), (0x12_3456, 0x9_9999_9999), (7, 1 << 36)] {
            let id = message_id(prefix, n);
            assert_eq!(id.len(), 16, "{id}");
            // Kannel reads an id with a letter as hex, in submit_sm_resp and in receipts alike.
            assert!(id.bytes().any(|b| b.is_ascii_alphabetic()), "{id}");
            let value = u64::from_str_radix(&id, 16).expect("hex");
            assert!(value <= i64::MAX as u64, "{id} is read whole by strtoll");
        }
        assert_ne!(message_id(1, 2), message_id(1, 3));
        assert_ne!(message_id(1, 2), message_id(2, 2));
    }

    #[test]
    fn smsc_urls() {
        let c = SmscConfig::parse("smpp://vouch:pw@127.0.0.1:2775?prefixes=1202,+1310&window=64").unwrap();
        assert_eq!(c.addr, "127.0.0.1:2775".parse().unwrap());
        assert_eq!((c.system_id.as_str(), c.password.as_str(), c.window), ("vouch", "pw", 64));
        assert_eq!(c.prefixes, vec!["1202", "1310"]);
        assert!(SmscConfig::parse("http://a:b@127.0.0.1:1").is_err());
        assert!(SmscConfig::parse("smpp://a:b@127.0.0.1:1?x=1").is_err());
        assert!(SmscConfig::parse("smpp://a:123456789@127.0.0.1:1").is_err(), "passwords are 8 characters at most");
        assert!(SmscConfig::parse("smpp://a:b@10.0.0.1:1").is_err(), "loopback only by default");
    }

    #[test]
    fn smsc_tls_urls() {
        let c = SmscConfig::parse("smpps://vouch:pw@127.0.0.1:3550?server_name=smsc.carrier.example").unwrap();
        let tls = c.tls.expect("TLS");
        assert_eq!(tls.server_name, ServerName::try_from("smsc.carrier.example").unwrap());
        assert!(tls.extra_roots.is_empty());
        let c = SmscConfig::parse("smpps://vouch:pw@127.0.0.1:3550").unwrap();
        assert_eq!(c.tls.map(|t| t.server_name), Some(ServerName::try_from("127.0.0.1").unwrap()));
        assert!(SmscConfig::parse("smpp://vouch:pw@127.0.0.1:2775").unwrap().tls.is_none());
        let e = SmscConfig::parse("smpp://a:b@127.0.0.1:1?ca=x.pem").unwrap_err().to_string();
        assert!(e.contains("is for smpps://"), "{e}");
        let e = SmscConfig::parse("smpps://a:b@127.0.0.1:1?ca=/nonexistent.pem").unwrap_err().to_string();
        assert!(e.contains("--smsc ca /nonexistent.pem"), "{e}");
    }

    #[test]
    fn smsc_url_user_information_is_percent_decoded() {
        let password = |u: &str| SmscConfig::parse(u).unwrap().password;
        assert_eq!(password("smpp://up:pw+1@127.0.0.1:2775"), "pw+1", "+ is itself, not a space");
        assert_eq!(password("smpp://up:pw%2B1@127.0.0.1:2775"), "pw+1");
        assert_eq!(password("smpp://up:a%20b@127.0.0.1:2775"), "a b");
        assert_eq!(password("smpp://up:a b@127.0.0.1:2775"), "a b");
        assert_eq!(password("smpp://up:%40%3A%25@127.0.0.1:2775"), "@:%");
        assert_eq!(SmscConfig::parse("smpp://a%2Bb+c:pw@127.0.0.1:1").unwrap().system_id, "a+b+c");
        assert!(SmscConfig::parse("smpp://up:%FF@127.0.0.1:1").is_err(), "not UTF-8");
    }

    #[test]
    fn smsc_url_errors_hide_the_password() {
        for url in [
            "smpp://up:S3cr3tPw@127.0.0.1:99999",
            "http://up:S3cr3tPw@127.0.0.1:99999",
            "smpp://up:S3cr3tPw@127.0.0.1:1?prefixes=1202,",
            "smpp://up:S3cr3tPw@127.0.0.1:1?prefixes=abc",
            "smpp://up:S3cr3tPw@127.0.0.1:1?window=0",
        ] {
            let e = format!("{:#}", SmscConfig::parse(url).unwrap_err());
            assert!(!e.contains("S3cr3tPw") && e.contains("up:***@127.0.0.1:"), "{e}");
        }
        let e = format!("{:#}", SmscConfig::parse("smpp://up:S3cr3tPw@127.0.0.1:99999").unwrap_err());
        assert!(e.contains("\"smpp://up:***@127.0.0.1:99999\" is not a URL"), "{e}");
    }

    #[test]
    fn smsc_url_prefixes_and_window_are_checked() {
        let c = SmscConfig::parse("smpp://up:pw@127.0.0.1:1?prefixes=%2B1202,%201310").unwrap();
        assert_eq!(c.prefixes, ["1202", "1310"]);
        for bad in ["prefixes=1202,", "prefixes=", "prefixes=1202,,1310"] {
            let e = format!("{:#}", SmscConfig::parse(&format!("smpp://up:pw@127.0.0.1:1?{bad}")).unwrap_err());
            assert!(e.contains("smpp://up:***@127.0.0.1:1") && e.contains("an empty prefix"), "{e}");
        }
        for bad in ["prefixes=abc", "prefixes=1202,12a", "prefixes=%2B%2B1", "prefixes=1-202"] {
            let e = format!("{:#}", SmscConfig::parse(&format!("smpp://up:pw@127.0.0.1:1?{bad}")).unwrap_err());
            assert!(e.contains("smpp://up:***@127.0.0.1:1") && e.contains("a prefix is digits"), "{e}");
        }
        let e = format!("{:#}", SmscConfig::parse("smpp://up:pw@127.0.0.1:1?window=0").unwrap_err());
        assert!(e.contains("window=0 must be at least 1"), "{e}");
        assert_eq!(SmscConfig::parse("smpp://up:pw@127.0.0.1:1?window=1").unwrap().window, 1);
    }

    #[test]
    fn smsc_url_groups_and_binds_are_checked() {
        let c = SmscConfig::parse("smpp://up:pw@127.0.0.1:1?group=att-1&binds=2").unwrap();
        assert_eq!((c.group.as_deref(), c.binds), (Some("att-1"), 2));
        assert_eq!(c.expand().iter().map(|c| c.bind).collect::<Vec<_>>(), [0, 1]);
        for (bad, says) in [
            ("group=", "must be 1 to 32"),
            ("group=a%20b", "must be 1 to 32"),
            ("binds=0", "binds=0 must be 1 to 16"),
            ("binds=17", "binds=17 must be 1 to 16"),
        ] {
            let e = format!("{:#}", SmscConfig::parse(&format!("smpp://up:pw@127.0.0.1:1?{bad}")).unwrap_err());
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn routes_group_smscs_and_name_each_session_apart() {
        let smscs: Vec<SmscConfig> = [
            "smpp://a:pw@127.0.0.1:1?group=att&prefixes=1202",
            "smpp://b:pw@127.0.0.1:1?group=att&prefixes=1202&binds=2",
            "smpp://c:pw@127.0.0.1:2",
        ]
        .iter()
        .flat_map(|u| SmscConfig::parse(u).unwrap().expand())
        .collect();
        let t = Topology::of(&smscs);
        let labels: Vec<&str> = t.upstreams.iter().map(|u| u.label.as_str()).collect();
        assert_eq!(labels, ["a@127.0.0.1:1", "b@127.0.0.1:1#1", "b@127.0.0.1:1#2", "127.0.0.1:2"]);
        assert_eq!(t.routes.len(), 2);
        assert_eq!(t.routes[0].members, [0, 1, 2]);
        assert_eq!(t.routes[0].accounts, [0, 1], "two binds of one account share its ids");
        assert_eq!(t.accounts, ["a@127.0.0.1:1", "b@127.0.0.1:1", "c@127.0.0.1:2"]);
        assert_eq!(t.routes[1].members, [3]);
    }
}
