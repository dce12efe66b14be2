//! `smpp-load`: an SMPP 3.4 benchmark tool with two halves.
//!
//! * `smpp-load smsc`: a fast sink SMSC that binds anyone (or checks one system_id/password), answers
//!   `submit_sm`/`data_sm` with a decimal message id and optionally sends a delivery receipt per
//!   `submit_sm` that asked for one.
//! * `smpp-load esme`: a pipelined load generator that keeps a window of `submit_sm` outstanding per
//!   connection and reports throughput, latency percentiles and response statuses as one JSON line.
//!
//! The SMPP framing is written by hand (16-byte header, C-octet strings). Both halves drive every
//! connection from one task with non-blocking `try_read`/`try_write`: one read drains whatever the
//! socket holds, every complete PDU in it is handled, and all the resulting PDUs go out in one write.

use std::collections::BTreeMap;
use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _, Interest};
use tokio::net::{TcpListener, TcpStream};

// ---------------------------------------------------------------------------------------------
// SMPP 3.4 constants and framing
// ---------------------------------------------------------------------------------------------

const RESP: u32 = 0x8000_0000;
const GENERIC_NACK: u32 = 0x8000_0000;
const BIND_RECEIVER: u32 = 0x0000_0001;
const BIND_TRANSMITTER: u32 = 0x0000_0002;
const SUBMIT_SM: u32 = 0x0000_0004;
const DELIVER_SM: u32 = 0x0000_0005;
const UNBIND: u32 = 0x0000_0006;
const BIND_TRANSCEIVER: u32 = 0x0000_0009;
const ENQUIRE_LINK: u32 = 0x0000_0015;
const DATA_SM: u32 = 0x0000_0103;

const ESME_ROK: u32 = 0x00;
const ESME_RINVCMDLEN: u32 = 0x02;
const ESME_RINVCMDID: u32 = 0x03;
const ESME_RINVBNDSTS: u32 = 0x04;
const ESME_RALYBND: u32 = 0x05;
const ESME_RINVPASWD: u32 = 0x0E;

const TAG_RECEIPTED_MESSAGE_ID: u16 = 0x001E;
const TAG_SC_INTERFACE_VERSION: u16 = 0x0210;
const TAG_MESSAGE_PAYLOAD: u16 = 0x0424;
const TAG_MESSAGE_STATE: u16 = 0x0427;

const HEADER_LEN: usize = 16;
/// Largest PDU either side accepts; anything longer is a framing error.
const MAX_PDU: usize = 64 * 1024;
/// Read buffer per connection. Must comfortably exceed `MAX_PDU`.
const RBUF_LEN: usize = 256 * 1024;
/// The sink stops reading a connection while this much of its output is still unwritten.
const WBUF_HIGH: usize = 1 << 20;
/// Lenient upper bound (with the NUL) for C-octet strings we parse; SMPP's own limits are smaller.
const CSTR_MAX: usize = 65;

const DLR_TEXT_TAIL: &[u8] =
    b" sub:001 dlvrd:001 submit date:2611230000 done date:2611230000 stat:DELIVRD err:000 text:";
const DEFAULT_TEXT: &str = "Your appointment is confirmed for tomorrow at 10am. Reply STOP to opt out.";

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The length of the complete PDU at the front of `buf`, `None` if more bytes are needed, or
/// `Err(command_length)` when the length field is impossible.
fn frame_len(buf: &[u8]) -> Result<Option<usize>, u32> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = be32(buf, 0);
    if !(HEADER_LEN..=MAX_PDU).contains(&(len as usize)) {
        return Err(len);
    }
    Ok((buf.len() >= len as usize).then_some(len as usize))
}

/// Appends a header with a placeholder length; returns where the PDU starts, for [`end_pdu`].
fn begin_pdu(w: &mut Vec<u8>, cmd: u32, status: u32, seq: u32) -> usize {
    let at = w.len();
    w.extend_from_slice(&[0; 4]);
    w.extend_from_slice(&cmd.to_be_bytes());
    w.extend_from_slice(&status.to_be_bytes());
    w.extend_from_slice(&seq.to_be_bytes());
    at
}

fn end_pdu(w: &mut [u8], at: usize) {
    let len = (w.len() - at) as u32;
    w[at..at + 4].copy_from_slice(&len.to_be_bytes());
}

fn header_only(w: &mut Vec<u8>, cmd: u32, status: u32, seq: u32) {
    let at = begin_pdu(w, cmd, status, seq);
    end_pdu(w, at);
}

fn push_cstr(w: &mut Vec<u8>, s: &[u8]) {
    w.extend_from_slice(s);
    w.push(0);
}

fn push_tlv(w: &mut Vec<u8>, tag: u16, value: &[u8]) {
    w.extend_from_slice(&tag.to_be_bytes());
    w.extend_from_slice(&(value.len() as u16).to_be_bytes());
    w.extend_from_slice(value);
}

/// Decimal digits of `v` in the tail of `tmp`, without allocating.
fn fmt_u64(tmp: &mut [u8; 20], mut v: u64) -> &[u8] {
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            return &tmp[i..];
        }
    }
}

fn push_u64(w: &mut Vec<u8>, v: u64) {
    let mut tmp = [0u8; 20];
    w.extend_from_slice(fmt_u64(&mut tmp, v));
}

/// One JSON object on one line, keys in the given order.
fn json_line(fields: &[(&str, serde_json::Value)]) -> String {
    let body: Vec<String> = fields.iter().map(|(k, v)| format!("{}:{v}", serde_json::Value::from(*k))).collect();
    format!("{{{}}}", body.join(","))
}

fn hex_status(s: u32) -> String {
    format!("0x{s:08X}")
}

/// A bounds-checked reader over a PDU body.
struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(b: &'a [u8]) -> Self {
        Cursor { b, pos: 0 }
    }

    fn u8(&mut self) -> Option<u8> {
        let v = *self.b.get(self.pos)?;
        self.pos += 1;
        Some(v)
    }

    /// A NUL-terminated string of at most `max` octets including the NUL; returned without the NUL.
    fn cstr(&mut self, max: usize) -> Option<&'a [u8]> {
        let rest = &self.b[self.pos..];
        let n = rest.iter().take(max).position(|&c| c == 0)?;
        self.pos += n + 1;
        Some(&rest[..n])
    }
}

/// The esm_class of a deliver_sm/data_sm body (both start service_type, source, dest, esm_class).
fn esm_class(body: &[u8]) -> Option<u8> {
    let mut c = Cursor::new(body);
    c.cstr(CSTR_MAX)?;
    c.u8()?;
    c.u8()?;
    c.cstr(CSTR_MAX)?;
    c.u8()?;
    c.u8()?;
    c.cstr(CSTR_MAX)?;
    c.u8()
}

/// Reads what the socket holds without waiting. A short read means the kernel buffer is drained, so
/// readiness is cleared right away (as tokio's own `poll_read` does) and the next wait goes straight
/// to the reactor instead of costing an extra `EAGAIN` read.
fn read_some(stream: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    let space = buf.len();
    let mut got = 0;
    let r = stream.try_io(Interest::READABLE, || {
        let n = stream.try_read(buf)?;
        got = n;
        if n > 0 && n < space { Err(io::ErrorKind::WouldBlock.into()) } else { Ok(n) }
    });
    match r {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock && got > 0 => Ok(got),
        r => r,
    }
}

/// Writes as much of `w[*pos..]` as the socket takes now; clears `w` once all of it is out.
fn write_some(stream: &TcpStream, w: &mut Vec<u8>, pos: &mut usize) -> io::Result<()> {
    while *pos < w.len() {
        match stream.try_write(&w[*pos..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => *pos += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => return Err(e),
        }
    }
    if *pos == w.len() {
        w.clear();
        *pos = 0;
    }
    Ok(())
}

/// Moves an unparsed tail to the front when the free space could no longer hold a whole PDU.
fn compact(buf: &mut [u8], start: &mut usize, end: &mut usize) {
    if *start == *end {
        *start = 0;
        *end = 0;
    } else if *start > 0 && buf.len() - *end < MAX_PDU {
        buf.copy_within(*start..*end, 0);
        *end -= *start;
        *start = 0;
    }
}

fn check_loopback(addr: SocketAddr, allow_remote: bool) -> Result<()> {
    if !allow_remote && !addr.ip().is_loopback() {
        bail!("{addr} is not a loopback address; pass --allow-remote to use it anyway");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------------------------

#[derive(Parser)]
#[command(name = "smpp-load", version, about = "SMPP 3.4 sink SMSC and load generator for benchmarks")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a fast sink SMSC; prints `LISTENING <port>` once bound and a JSON summary on exit.
    Smsc(SmscArgs),
    /// Run the load generator against an SMPP server; prints one JSON line of results.
    Esme(EsmeArgs),
}

#[derive(Args)]
struct SmscArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Only accept binds with this system_id (and --password if given); others get status 0x0E.
    #[arg(long)]
    system_id: Option<String>,
    /// Password to check together with --system-id.
    #[arg(long, requires = "system_id")]
    password: Option<String>,
    /// Send a deliver_sm receipt for every submit_sm with registered_delivery bit 0 set
    /// (on transceiver sessions).
    #[arg(long)]
    dlr: bool,
    /// Stop after this many seconds (SIGTERM/SIGINT stop it earlier).
    #[arg(long, default_value_t = 600)]
    duration_secs: u64,
    /// Use a multi-thread runtime with this many workers (default: one current_thread runtime).
    #[arg(long)]
    threads: Option<usize>,
    /// Allow a non-loopback listen address.
    #[arg(long)]
    allow_remote: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum BindMode {
    /// bind_transceiver
    Trx,
    /// bind_transmitter
    Tx,
}

#[derive(Args)]
struct EsmeArgs {
    /// SMPP server address, e.g. 127.0.0.1:2775.
    #[arg(long)]
    target: SocketAddr,
    /// system_id for the bind.
    #[arg(long)]
    system_id: String,
    /// Password for the bind.
    #[arg(long)]
    password: String,
    /// Number of SMPP sessions.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Maximum outstanding submit_sm per session (1..=65536).
    #[arg(long, default_value_t = 256)]
    window: usize,
    /// Timed submit_sm messages in total, split over the sessions.
    #[arg(long, default_value_t = 100_000)]
    messages: u64,
    /// File of source numbers, one E.164 digit string per line ('+' and blank/# lines ignored).
    #[arg(long, conflicts_with_all = ["source_base", "source_count"])]
    sources: Option<PathBuf>,
    /// First source number when not using --sources.
    #[arg(long, default_value_t = 12_025_550_000)]
    source_base: u64,
    /// How many consecutive source numbers to cycle through.
    #[arg(long, default_value_t = 1000)]
    source_count: u64,
    /// Destination numbers cycle through dest_base + i % 1_000_000.
    #[arg(long, default_value_t = 13_105_550_000)]
    dest_base: u64,
    /// Message text (data_coding 0; over 254 bytes goes in a message_payload TLV).
    #[arg(long, default_value = DEFAULT_TEXT)]
    text: String,
    /// Bind as transceiver or transmitter.
    #[arg(long, value_enum, default_value_t = BindMode::Trx)]
    bind: BindMode,
    /// Ask for delivery receipts (registered_delivery 1); count and answer deliver_sm receipts.
    #[arg(long)]
    dlr: bool,
    /// Messages sent (untimed) before the timed run.
    #[arg(long, default_value_t = 0)]
    warmup: u64,
    /// Pace the timed run at this many submit_sm per second in all (an open load at a chosen
    /// rate, for latency at that rate); the window still bounds what is outstanding. Default:
    /// as fast as the window allows.
    #[arg(long)]
    rate: Option<f64>,
    /// Use a multi-thread runtime with this many workers (default: one current_thread runtime).
    #[arg(long)]
    threads: Option<usize>,
    /// Fail when responses are outstanding and none has arrived for this many seconds.
    #[arg(long, default_value_t = 30)]
    stall_secs: u64,
    /// Hard limit for the whole run (bind, warmup, timed run), in seconds.
    #[arg(long, default_value_t = 600)]
    timeout_secs: u64,
    /// With --dlr: after the last response, wait up to this long for the remaining receipts.
    #[arg(long, default_value_t = 10)]
    dlr_wait_secs: u64,
    /// Allow a non-loopback target.
    #[arg(long)]
    allow_remote: bool,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let threads = match &cli.cmd {
        Cmd::Smsc(a) => a.threads,
        Cmd::Esme(a) => a.threads,
    };
    let rt = match threads {
        Some(t) if t > 1 => tokio::runtime::Builder::new_multi_thread().worker_threads(t).enable_all().build(),
        _ => tokio::runtime::Builder::new_current_thread().enable_all().build(),
    };
    let result = match rt {
        Ok(rt) => rt.block_on(async move {
            match cli.cmd {
                Cmd::Smsc(a) => smsc_main(a).await,
                Cmd::Esme(a) => esme_main(a).await,
            }
        }),
        Err(e) => Err(e.into()),
    };
    match result {
        Ok(code) => std::process::ExitCode::from(code),
        Err(e) => {
            eprintln!("smpp-load: {e:#}");
            std::process::ExitCode::from(1)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Sink SMSC
// ---------------------------------------------------------------------------------------------

struct Sink {
    system_id: Option<Vec<u8>>,
    password: Option<Vec<u8>>,
    dlr: bool,
    message_ids: AtomicU64,
    submits: AtomicU64,
    data_sms: AtomicU64,
    dlrs: AtomicU64,
    connections: AtomicU64,
}

#[derive(Default)]
struct Session {
    /// The bind command that succeeded, if any.
    bound: Option<u32>,
    /// Sequence numbers for the PDUs we originate (deliver_sm).
    out_seq: u32,
    submits: u64,
    data_sms: u64,
    dlrs: u64,
}

async fn smsc_main(a: SmscArgs) -> Result<u8> {
    check_loopback(a.listen, a.allow_remote)?;
    let listener = TcpListener::bind(a.listen).await.with_context(|| format!("binding {}", a.listen))?;
    let port = listener.local_addr()?.port();
    {
        let mut out = io::stdout().lock();
        writeln!(out, "LISTENING {port}")?;
        out.flush()?;
    }
    let sink = Arc::new(Sink {
        system_id: a.system_id.map(String::into_bytes),
        password: a.password.map(String::into_bytes),
        dlr: a.dlr,
        message_ids: AtomicU64::new(0),
        submits: AtomicU64::new(0),
        data_sms: AtomicU64::new(0),
        dlrs: AtomicU64::new(0),
        connections: AtomicU64::new(0),
    });
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let stop = tokio::time::sleep(Duration::from_secs(a.duration_secs));
    tokio::pin!(stop);
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, _)) => {
                    sink.connections.fetch_add(1, Relaxed);
                    let _ = stream.set_nodelay(true);
                    let sink = sink.clone();
                    tokio::spawn(async move {
                        if let Err(e) = smsc_conn(stream, &sink).await
                            && !matches!(e.kind(), io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe)
                        {
                            eprintln!("smsc: connection error: {e}");
                        }
                    });
                }
                Err(e) => {
                    eprintln!("smsc: accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = term.recv() => break,
            _ = int.recv() => break,
            () = &mut stop => break,
        }
    }
    let summary = json_line(&[
        ("submits", sink.submits.load(Relaxed).into()),
        ("connections", sink.connections.load(Relaxed).into()),
        ("data_sm", sink.data_sms.load(Relaxed).into()),
        ("dlrs_sent", sink.dlrs.load(Relaxed).into()),
    ]);
    println!("{summary}");
    io::stdout().flush()?;
    Ok(0)
}

/// One sink session: read everything available, answer every complete PDU into one buffer, write
/// it with one call, repeat. Reading pauses while too much output is queued (a peer that does not
/// read its responses gets back-pressure instead of unbounded memory).
async fn smsc_conn(stream: TcpStream, sink: &Sink) -> io::Result<()> {
    let mut rbuf = vec![0u8; RBUF_LEN];
    let (mut rstart, mut rend) = (0usize, 0usize);
    let mut wbuf: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut wpos = 0usize;
    let mut sess = Session::default();
    let mut closing = false;
    loop {
        let reading = !closing && wbuf.len() - wpos < WBUF_HIGH;
        let mut progressed = false;
        if reading {
            match read_some(&stream, &mut rbuf[rend..]) {
                Ok(0) => return Ok(()),
                Ok(n) => {
                    rend += n;
                    progressed = true;
                    loop {
                        let len = match frame_len(&rbuf[rstart..rend]) {
                            Ok(Some(len)) => len,
                            Ok(None) => break,
                            Err(_) => {
                                // Framing is lost: nack and close.
                                let seq = if rend - rstart >= HEADER_LEN { be32(&rbuf, rstart + 12) } else { 0 };
                                header_only(&mut wbuf, GENERIC_NACK, ESME_RINVCMDLEN, seq);
                                closing = true;
                                break;
                            }
                        };
                        let close = smsc_handle(&rbuf[rstart..rstart + len], &mut sess, &mut wbuf, sink);
                        rstart += len;
                        if close {
                            closing = true;
                            break;
                        }
                    }
                    compact(&mut rbuf, &mut rstart, &mut rend);
                    if sess.submits > 0 {
                        sink.submits.fetch_add(std::mem::take(&mut sess.submits), Relaxed);
                    }
                    if sess.data_sms > 0 {
                        sink.data_sms.fetch_add(std::mem::take(&mut sess.data_sms), Relaxed);
                    }
                    if sess.dlrs > 0 {
                        sink.dlrs.fetch_add(std::mem::take(&mut sess.dlrs), Relaxed);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        if wpos < wbuf.len() {
            let before = (wbuf.len(), wpos);
            write_some(&stream, &mut wbuf, &mut wpos)?;
            progressed |= (wbuf.len(), wpos) != before;
        }
        if closing && wbuf.is_empty() {
            return Ok(());
        }
        if progressed {
            continue;
        }
        let interest = match (reading, wpos < wbuf.len()) {
            (true, true) => Interest::READABLE | Interest::WRITABLE,
            (true, false) => Interest::READABLE,
            (false, _) => Interest::WRITABLE,
        };
        stream.ready(interest).await?;
    }
}

/// Answers one PDU into `w`. Returns true when the session should close once `w` is written.
fn smsc_handle(pdu: &[u8], s: &mut Session, w: &mut Vec<u8>, sink: &Sink) -> bool {
    let cmd = be32(pdu, 4);
    let seq = be32(pdu, 12);
    let body = &pdu[HEADER_LEN..];
    match cmd {
        SUBMIT_SM | DATA_SM => {
            if !matches!(s.bound, Some(BIND_TRANSMITTER | BIND_TRANSCEIVER)) {
                header_only(w, cmd | RESP, ESME_RINVBNDSTS, seq);
                return false;
            }
            // A receipt needs the addresses, so only then is the body parsed.
            let mut receipt = None;
            if cmd == SUBMIT_SM && sink.dlr && s.bound == Some(BIND_TRANSCEIVER) {
                match parse_submit_for_receipt(body) {
                    Some(r) => receipt = r,
                    None => {
                        header_only(w, cmd | RESP, ESME_RINVCMDLEN, seq);
                        return false;
                    }
                }
            }
            let id = sink.message_ids.fetch_add(1, Relaxed) + 1;
            let mut tmp = [0u8; 20];
            let id = fmt_u64(&mut tmp, id);
            let at = begin_pdu(w, cmd | RESP, ESME_ROK, seq);
            push_cstr(w, id);
            end_pdu(w, at);
            if cmd == SUBMIT_SM {
                s.submits += 1;
            } else {
                s.data_sms += 1;
            }
            if let Some(r) = receipt {
                s.out_seq = if s.out_seq >= 0x7FFF_FFFF { 1 } else { s.out_seq + 1 };
                encode_receipt(w, s.out_seq, id, &r);
                s.dlrs += 1;
            }
        }
        BIND_RECEIVER | BIND_TRANSMITTER | BIND_TRANSCEIVER => {
            let mut c = Cursor::new(body);
            let status = match (c.cstr(CSTR_MAX), c.cstr(CSTR_MAX)) {
                (Some(id), Some(pw)) => {
                    let id_bad = sink.system_id.as_deref().is_some_and(|want| want != id);
                    let pw_bad = sink.password.as_deref().is_some_and(|want| want != pw);
                    if s.bound.is_some() {
                        ESME_RALYBND
                    } else if id_bad || pw_bad {
                        ESME_RINVPASWD
                    } else {
                        s.bound = Some(cmd);
                        ESME_ROK
                    }
                }
                _ => ESME_RINVCMDLEN,
            };
            let at = begin_pdu(w, cmd | RESP, status, seq);
            push_cstr(w, b"sink");
            if status == ESME_ROK {
                push_tlv(w, TAG_SC_INTERFACE_VERSION, &[0x34]);
            }
            end_pdu(w, at);
        }
        ENQUIRE_LINK => header_only(w, ENQUIRE_LINK | RESP, ESME_ROK, seq),
        UNBIND => {
            header_only(w, UNBIND | RESP, ESME_ROK, seq);
            return true;
        }
        // deliver_sm_resp, enquire_link_resp, generic_nack and any other response: nothing to do.
        c if c & RESP != 0 => {}
        _ => header_only(w, GENERIC_NACK, ESME_RINVCMDID, seq),
    }
    false
}

/// Addresses of a submit_sm, for a receipt.
struct ReceiptAddrs<'a> {
    src: (u8, u8, &'a [u8]),
    dst: (u8, u8, &'a [u8]),
}

/// `None`: malformed. `Some(None)`: well-formed, no receipt asked for.
fn parse_submit_for_receipt(body: &[u8]) -> Option<Option<ReceiptAddrs<'_>>> {
    let mut c = Cursor::new(body);
    c.cstr(CSTR_MAX)?; // service_type
    let src = (c.u8()?, c.u8()?, c.cstr(CSTR_MAX)?);
    let dst = (c.u8()?, c.u8()?, c.cstr(CSTR_MAX)?);
    c.u8()?; // esm_class
    c.u8()?; // protocol_id
    c.u8()?; // priority_flag
    c.cstr(CSTR_MAX)?; // schedule_delivery_time
    c.cstr(CSTR_MAX)?; // validity_period
    let registered_delivery = c.u8()?;
    Some((registered_delivery & 1 == 1).then_some(ReceiptAddrs { src, dst }))
}

fn encode_receipt(w: &mut Vec<u8>, seq: u32, id: &[u8], r: &ReceiptAddrs<'_>) {
    let at = begin_pdu(w, DELIVER_SM, ESME_ROK, seq);
    w.push(0); // service_type
    // The receipt travels back: source is the submit's destination and vice versa.
    w.extend_from_slice(&[r.dst.0, r.dst.1]);
    push_cstr(w, r.dst.2);
    w.extend_from_slice(&[r.src.0, r.src.1]);
    push_cstr(w, r.src.2);
    // esm_class 0x04 (SMSC delivery receipt), protocol_id, priority_flag, schedule_delivery_time "",
    // validity_period "", registered_delivery, replace_if_present_flag, data_coding, sm_default_msg_id
    w.extend_from_slice(&[0x04, 0, 0, 0, 0, 0, 0, 0, 0]);
    let sm_length_at = w.len();
    w.push(0);
    w.extend_from_slice(b"id:");
    w.extend_from_slice(id);
    w.extend_from_slice(DLR_TEXT_TAIL);
    w[sm_length_at] = (w.len() - sm_length_at - 1) as u8;
    w.extend_from_slice(&TAG_RECEIPTED_MESSAGE_ID.to_be_bytes());
    w.extend_from_slice(&(id.len() as u16 + 1).to_be_bytes());
    push_cstr(w, id);
    push_tlv(w, TAG_MESSAGE_STATE, &[2]); // DELIVERED
    end_pdu(w, at);
}

// ---------------------------------------------------------------------------------------------
// Load generator (ESME)
// ---------------------------------------------------------------------------------------------

enum Sources {
    Range { base: u64, count: u64 },
    List(Vec<Box<[u8]>>),
}

/// What every submit_sm is made of; shared by all sessions.
struct Traffic {
    sources: Sources,
    dest_base: u64,
    text: Vec<u8>,
    registered_delivery: u8,
    connections: u64,
    window: usize,
}

impl Traffic {
    /// Encodes the submit_sm for global message index `i`.
    fn encode_submit(&self, w: &mut Vec<u8>, seq: u32, i: u64) {
        let at = begin_pdu(w, SUBMIT_SM, ESME_ROK, seq);
        w.extend_from_slice(&[0, 1, 1]); // service_type "", source_addr_ton 1, source_addr_npi 1
        match &self.sources {
            Sources::Range { base, count } => push_u64(w, base + i % count),
            Sources::List(list) => w.extend_from_slice(&list[(i % list.len() as u64) as usize]),
        }
        w.extend_from_slice(&[0, 1, 1]); // NUL, dest_addr_ton 1, dest_addr_npi 1
        push_u64(w, self.dest_base + i % 1_000_000);
        // NUL, esm_class, protocol_id, priority_flag, schedule_delivery_time "", validity_period "",
        // registered_delivery, replace_if_present_flag, data_coding 0, sm_default_msg_id
        w.extend_from_slice(&[0, 0, 0, 0, 0, 0, self.registered_delivery, 0, 0, 0]);
        if self.text.len() <= 254 {
            w.push(self.text.len() as u8);
            w.extend_from_slice(&self.text);
        } else {
            w.push(0);
            push_tlv(w, TAG_MESSAGE_PAYLOAD, &self.text);
        }
        end_pdu(w, at);
    }
}

#[derive(Default)]
struct Counters {
    dlrs: AtomicU64,
    other_deliveries: AtomicU64,
}

/// One bound session.
struct Esme {
    id: u64,
    stream: TcpStream,
    rbuf: Box<[u8]>,
    rstart: usize,
    rend: usize,
    wbuf: Vec<u8>,
    wpos: usize,
    /// Per window slot: (sequence number or 0 when free, when the submit went out).
    slots: Vec<(u32, Instant)>,
    free: Vec<u32>,
    /// Submit sequence numbers are `(generation << shift) | slot`, so a response finds its slot
    /// by masking, with no map.
    shift: u32,
    generation: u32,
    max_generation: u32,
    unbound: bool,
}

/// One phase of work for one session.
struct Phase {
    /// submit_sm to send on this session.
    count: u64,
    /// Added to the global message index (so warmup and timed traffic differ).
    index_base: u64,
    record_latency: bool,
    /// Instead of sending: wait until this many receipts arrived in total (over all sessions).
    dlr_target: Option<u64>,
    deadline: Instant,
    stall: Duration,
    /// submit_sm per second on this session, if paced.
    rate: Option<f64>,
}

#[derive(Default)]
struct PhaseStats {
    sent: u64,
    responses: u64,
    latencies: Vec<u32>,
    statuses: Vec<(u32, u64)>,
    first_submit: Option<Instant>,
    last_response: Option<Instant>,
    unmatched: u64,
    error: Option<String>,
}

impl PhaseStats {
    fn count_status(&mut self, status: u32) {
        match self.statuses.iter_mut().find(|(s, _)| *s == status) {
            Some((_, n)) => *n += 1,
            None => self.statuses.push((status, 1)),
        }
    }
}

impl Esme {
    async fn connect(id: u64, target: SocketAddr, window: usize) -> Result<Esme> {
        let stream = TcpStream::connect(target).await.with_context(|| format!("connecting to {target}"))?;
        stream.set_nodelay(true)?;
        let shift = window.next_power_of_two().trailing_zeros();
        let now = Instant::now();
        Ok(Esme {
            id,
            stream,
            rbuf: vec![0u8; RBUF_LEN].into_boxed_slice(),
            rstart: 0,
            rend: 0,
            wbuf: Vec::with_capacity(64 * 1024),
            wpos: 0,
            slots: vec![(0, now); window],
            free: (0..window as u32).rev().collect(),
            shift,
            generation: 0,
            max_generation: 0x7FFF_FFFF >> shift,
            unbound: false,
        })
    }

    async fn write_all(&mut self) -> io::Result<()> {
        self.stream.write_all(&self.wbuf[self.wpos..]).await?;
        self.wbuf.clear();
        self.wpos = 0;
        Ok(())
    }

    async fn read_more(&mut self, deadline: Instant) -> Result<()> {
        compact(&mut self.rbuf, &mut self.rstart, &mut self.rend);
        let n = tokio::time::timeout_at(deadline.into(), self.stream.read(&mut self.rbuf[self.rend..]))
            .await
            .context("timed out")??;
        if n == 0 {
            bail!("connection closed by peer");
        }
        self.rend += n;
        Ok(())
    }

    async fn bind(&mut self, mode: BindMode, system_id: &str, password: &str) -> Result<()> {
        let cmd = match mode {
            BindMode::Trx => BIND_TRANSCEIVER,
            BindMode::Tx => BIND_TRANSMITTER,
        };
        let seq = 1;
        let at = begin_pdu(&mut self.wbuf, cmd, ESME_ROK, seq);
        push_cstr(&mut self.wbuf, system_id.as_bytes());
        push_cstr(&mut self.wbuf, password.as_bytes());
        push_cstr(&mut self.wbuf, b""); // system_type
        // interface_version 3.4, addr_ton, addr_npi, address_range ""
        self.wbuf.extend_from_slice(&[0x34, 0, 0, 0]);
        end_pdu(&mut self.wbuf, at);
        self.write_all().await?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            while let Some(len) = frame_len(&self.rbuf[self.rstart..self.rend])
                .map_err(|l| anyhow::anyhow!("invalid command_length {l} during bind"))?
            {
                let pdu = &self.rbuf[self.rstart..self.rstart + len];
                let (c, status, s) = (be32(pdu, 4), be32(pdu, 8), be32(pdu, 12));
                self.rstart += len;
                if (c == cmd | RESP || c == GENERIC_NACK) && s == seq {
                    if status != ESME_ROK {
                        bail!("bind refused with status {}", hex_status(status));
                    }
                    return Ok(());
                }
                if c == ENQUIRE_LINK {
                    header_only(&mut self.wbuf, ENQUIRE_LINK | RESP, ESME_ROK, s);
                    self.write_all().await?;
                }
            }
            self.read_more(deadline).await.context("waiting for bind response")?;
        }
    }

    /// Sends `unbind` and waits (briefly) for `unbind_resp`, answering receipts meanwhile.
    async fn unbind(&mut self, counters: &Counters) -> Result<()> {
        header_only(&mut self.wbuf, UNBIND, ESME_ROK, 2);
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut scratch = PhaseStats::default();
        loop {
            self.write_all().await?;
            self.parse(Instant::now(), false, &mut scratch, counters)?;
            if self.unbound {
                return Ok(());
            }
            self.write_all().await?;
            self.read_more(deadline).await.context("waiting for unbind_resp")?;
        }
    }

    fn next_submit_seq(&mut self, slot: u32) -> u32 {
        self.generation = if self.generation >= self.max_generation { 1 } else { self.generation + 1 };
        (self.generation << self.shift) | slot
    }

    fn outstanding(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    /// Handles every complete PDU in the read buffer. Returns whether any submit response arrived.
    fn parse(&mut self, now: Instant, record: bool, st: &mut PhaseStats, counters: &Counters) -> Result<bool> {
        let mask = (1u32 << self.shift) - 1;
        let mut got = false;
        let (mut dlrs, mut others) = (0u64, 0u64);
        loop {
            let buf = &self.rbuf[self.rstart..self.rend];
            let len = match frame_len(buf) {
                Ok(Some(len)) => len,
                Ok(None) => break,
                Err(l) => bail!("invalid command_length {l}"),
            };
            let pdu = &buf[..len];
            let (cmd, status, seq) = (be32(pdu, 4), be32(pdu, 8), be32(pdu, 12));
            match cmd {
                c if c == SUBMIT_SM | RESP || c == GENERIC_NACK => {
                    let slot = (seq & mask) as usize;
                    if seq != 0 && slot < self.slots.len() && self.slots[slot].0 == seq {
                        let sent = self.slots[slot].1;
                        self.slots[slot].0 = 0;
                        self.free.push(slot as u32);
                        if record {
                            let us = now.saturating_duration_since(sent).as_micros();
                            st.latencies.push(u32::try_from(us).unwrap_or(u32::MAX));
                        }
                        st.responses += 1;
                        st.count_status(status);
                        got = true;
                    } else {
                        st.unmatched += 1;
                    }
                }
                DELIVER_SM | DATA_SM => {
                    match esm_class(&pdu[HEADER_LEN..]) {
                        Some(esm) if esm & 0x3C == 0x04 => dlrs += 1,
                        _ => others += 1,
                    }
                    let at = begin_pdu(&mut self.wbuf, cmd | RESP, ESME_ROK, seq);
                    self.wbuf.push(0); // message_id ""
                    end_pdu(&mut self.wbuf, at);
                }
                ENQUIRE_LINK => header_only(&mut self.wbuf, ENQUIRE_LINK | RESP, ESME_ROK, seq),
                UNBIND => {
                    header_only(&mut self.wbuf, UNBIND | RESP, ESME_ROK, seq);
                    let _ = write_some(&self.stream, &mut self.wbuf, &mut self.wpos);
                    bail!("peer sent unbind");
                }
                c if c == UNBIND | RESP => self.unbound = true,
                c if c & RESP != 0 => {}
                _ => header_only(&mut self.wbuf, GENERIC_NACK, ESME_RINVCMDID, seq),
            }
            self.rstart += len;
        }
        compact(&mut self.rbuf, &mut self.rstart, &mut self.rend);
        if dlrs > 0 {
            counters.dlrs.fetch_add(dlrs, Relaxed);
        }
        if others > 0 {
            counters.other_deliveries.fetch_add(others, Relaxed);
        }
        Ok(got)
    }

    async fn run(&mut self, t: &Traffic, p: &Phase, counters: &Counters) -> PhaseStats {
        let mut st = PhaseStats {
            latencies: Vec::with_capacity(if p.record_latency { p.count as usize } else { 0 }),
            ..PhaseStats::default()
        };
        if let Err(e) = self.pump(t, p, counters, &mut st).await {
            st.error = Some(format!("connection {}: {e:#}", self.id));
        }
        st
    }

    /// The pipelined send/receive loop of one session.
    async fn pump(&mut self, t: &Traffic, p: &Phase, counters: &Counters, st: &mut PhaseStats) -> Result<()> {
        const DLR_POLL: Duration = Duration::from_millis(20);
        let mut remaining = p.count;
        let mut j = 0u64;
        let mut last_progress = Instant::now();
        let wake = |last_progress: Instant| {
            let w = if p.dlr_target.is_some() { Instant::now() + DLR_POLL } else { last_progress + p.stall };
            w.min(p.deadline)
        };
        let timer = tokio::time::sleep_until(wake(last_progress).into());
        tokio::pin!(timer);
        let started = Instant::now();
        // How many submits may have gone out by `now` (all of them when not paced).
        let allowed = |now: Instant| match p.rate {
            Some(r) => (now.saturating_duration_since(started).as_secs_f64() * r) as u64 + 1,
            None => u64::MAX,
        };
        loop {
            // Fill the window: every free slot gets a submit_sm, all in one buffer.
            if remaining > 0 && !self.free.is_empty() {
                let now = Instant::now();
                st.first_submit.get_or_insert(now);
                let allowed = allowed(now);
                while remaining > 0
                    && j < allowed
                    && let Some(slot) = self.free.pop()
                {
                    let seq = self.next_submit_seq(slot);
                    self.slots[slot as usize] = (seq, now);
                    t.encode_submit(&mut self.wbuf, seq, p.index_base + j * t.connections + self.id);
                    j += 1;
                    remaining -= 1;
                    st.sent += 1;
                }
            }
            write_some(&self.stream, &mut self.wbuf, &mut self.wpos)?;
            if remaining == 0
                && self.outstanding() == 0
                && self.wbuf.is_empty()
                && p.dlr_target.is_none_or(|n| counters.dlrs.load(Relaxed) >= n)
            {
                return Ok(());
            }
            match read_some(&self.stream, &mut self.rbuf[self.rend..]) {
                Ok(0) => bail!("connection closed by peer"),
                Ok(n) => {
                    self.rend += n;
                    let now = Instant::now();
                    if self.parse(now, p.record_latency, st, counters)? {
                        last_progress = now;
                        st.last_response = Some(now);
                    }
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e.into()),
            }
            let interest =
                if self.wpos < self.wbuf.len() { Interest::READABLE | Interest::WRITABLE } else { Interest::READABLE };
            // Paced and held back by the rate, not the window: wake when the next one is due.
            let next_send = p
                .rate
                .filter(|_| remaining > 0 && !self.free.is_empty())
                .map(|r| started + Duration::from_secs_f64(j as f64 / r));
            let pace = async {
                match next_send {
                    Some(t) => tokio::time::sleep_until(t.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                r = self.stream.ready(interest) => { r?; }
                () = pace => {}
                () = &mut timer => {
                    let now = Instant::now();
                    if p.dlr_target.is_some() {
                        if now >= p.deadline {
                            return Ok(()); // receipts still missing are reported, not fatal
                        }
                    } else if now >= p.deadline {
                        bail!("run time limit reached with {} responses outstanding", self.outstanding());
                    } else if self.outstanding() > 0 && now.duration_since(last_progress) >= p.stall {
                        bail!(
                            "stalled: no response for {} s with {} outstanding",
                            p.stall.as_secs(),
                            self.outstanding()
                        );
                    }
                    timer.as_mut().reset(wake(last_progress).into());
                }
            }
        }
    }
}

fn load_sources(a: &EsmeArgs) -> Result<Sources> {
    let Some(path) = &a.sources else {
        if a.source_count == 0 {
            bail!("--source-count must be at least 1");
        }
        return Ok(Sources::Range { base: a.source_base, count: a.source_count });
    };
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut list = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let digits = line.strip_prefix('+').unwrap_or(line);
        if digits.is_empty() || digits.len() > 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            bail!("{}:{}: not an E.164 digit string: {line:?}", path.display(), n + 1);
        }
        list.push(digits.as_bytes().into());
    }
    if list.is_empty() {
        bail!("{}: no source numbers", path.display());
    }
    Ok(Sources::List(list))
}

/// Runs one phase on every session concurrently and gives the sessions back.
async fn run_all(
    conns: Vec<Esme>,
    traffic: &Arc<Traffic>,
    counters: &Arc<Counters>,
    phase: impl Fn(u64) -> Phase,
) -> Result<(Vec<Esme>, Vec<PhaseStats>)> {
    let mut handles = Vec::with_capacity(conns.len());
    for mut conn in conns {
        let (t, c, p) = (traffic.clone(), counters.clone(), phase(conn.id));
        handles.push(tokio::spawn(async move {
            let st = conn.run(&t, &p, &c).await;
            (conn, st)
        }));
    }
    let mut conns = Vec::with_capacity(handles.len());
    let mut stats = Vec::with_capacity(handles.len());
    for h in handles {
        let (conn, st) = h.await.context("session task failed")?;
        conns.push(conn);
        stats.push(st);
    }
    Ok((conns, stats))
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

async fn esme_main(a: EsmeArgs) -> Result<u8> {
    check_loopback(a.target, a.allow_remote)?;
    if a.connections == 0 {
        bail!("--connections must be at least 1");
    }
    if !(1..=65_536).contains(&a.window) {
        bail!("--window must be between 1 and 65536");
    }
    if a.text.len() > 65_535 {
        bail!("--text is longer than 65535 bytes");
    }
    if a.rate.is_some_and(|r| !(r.is_finite() && r >= 1.0)) {
        bail!("--rate must be at least 1 submit_sm per second");
    }
    let hard_deadline = Instant::now() + Duration::from_secs(a.timeout_secs);
    let stall = Duration::from_secs(a.stall_secs.max(1));
    let receipts_possible = a.dlr && a.bind == BindMode::Trx;
    if a.dlr && !receipts_possible {
        eprintln!("esme: --dlr with --bind tx: receipts are requested but cannot arrive on these sessions");
    }
    let traffic = Arc::new(Traffic {
        sources: load_sources(&a)?,
        dest_base: a.dest_base,
        text: a.text.clone().into_bytes(),
        registered_delivery: u8::from(a.dlr),
        connections: a.connections as u64,
        window: a.window,
    });
    let counters = Arc::new(Counters::default());
    let c = a.connections as u64;
    let share = move |total: u64, id: u64| total / c + u64::from(id < total % c);

    // Connect and bind every session.
    let mut handles = Vec::new();
    for id in 0..c {
        let (target, window, mode) = (a.target, traffic.window, a.bind);
        let (sid, pw) = (a.system_id.clone(), a.password.clone());
        handles.push(tokio::spawn(async move {
            let mut conn = Esme::connect(id, target, window).await?;
            conn.bind(mode, &sid, &pw).await?;
            anyhow::Ok(conn)
        }));
    }
    let mut conns = Vec::new();
    let mut failed = false;
    for (id, h) in handles.into_iter().enumerate() {
        match h.await.context("bind task failed")? {
            Ok(conn) => conns.push(conn),
            Err(e) => {
                eprintln!("esme: connection {id}: {e:#}");
                failed = true;
            }
        }
    }
    if failed {
        return Ok(1);
    }

    if a.warmup > 0 {
        let (cs, stats) = run_all(conns, &traffic, &counters, |id| Phase {
            count: share(a.warmup, id),
            index_base: a.messages,
            record_latency: false,
            dlr_target: None,
            deadline: hard_deadline,
            stall,
            rate: None,
        })
        .await?;
        let errors: Vec<_> = stats.iter().filter_map(|s| s.error.clone()).collect();
        if !errors.is_empty() {
            for e in &errors {
                eprintln!("esme: warmup: {e}");
            }
            return Ok(1);
        }
        conns = cs;
    }

    let (mut conns, stats) = run_all(conns, &traffic, &counters, |id| Phase {
        count: share(a.messages, id),
        index_base: 0,
        record_latency: true,
        dlr_target: None,
        deadline: hard_deadline,
        stall,
        rate: a.rate.map(|r| r / c as f64),
    })
    .await?;
    let errors: Vec<String> = stats.iter().filter_map(|s| s.error.clone()).collect();

    let dlrs_expected = if receipts_possible { a.messages + a.warmup } else { 0 };
    if errors.is_empty() && receipts_possible && counters.dlrs.load(Relaxed) < dlrs_expected {
        let deadline = (Instant::now() + Duration::from_secs(a.dlr_wait_secs)).min(hard_deadline);
        let (cs, _) = run_all(conns, &traffic, &counters, |_| Phase {
            count: 0,
            index_base: 0,
            record_latency: false,
            dlr_target: Some(dlrs_expected),
            deadline,
            stall,
            rate: None,
        })
        .await?;
        conns = cs;
    }
    if errors.is_empty() {
        let mut handles = Vec::new();
        for mut conn in conns {
            let counters = counters.clone();
            handles.push(tokio::spawn(async move {
                if let Err(e) = conn.unbind(&counters).await {
                    eprintln!("esme: connection {}: unbind: {e:#}", conn.id);
                }
            }));
        }
        for h in handles {
            let _ = h.await;
        }
    }

    // Report.
    let responses: u64 = stats.iter().map(|s| s.responses).sum();
    let unmatched: u64 = stats.iter().map(|s| s.unmatched).sum();
    let start = stats.iter().filter_map(|s| s.first_submit).min();
    let end = stats.iter().filter_map(|s| s.last_response).max();
    let seconds = match (start, end) {
        (Some(s), Some(e)) => e.saturating_duration_since(s).as_secs_f64(),
        _ => 0.0,
    };
    let mut latencies: Vec<u32> = Vec::with_capacity(responses as usize);
    let mut statuses: BTreeMap<String, u64> = BTreeMap::new();
    for s in stats {
        latencies.extend_from_slice(&s.latencies);
        for (status, n) in s.statuses {
            *statuses.entry(hex_status(status)).or_default() += n;
        }
    }
    latencies.sort_unstable();
    let per_second = if seconds > 0.0 { responses as f64 / seconds } else { 0.0 };
    let mut fields: Vec<(&str, serde_json::Value)> = vec![
        ("messages", a.messages.into()),
        ("seconds", ((seconds * 1e6).round() / 1e6).into()),
        ("per_second", ((per_second * 10.0).round() / 10.0).into()),
        ("p50_us", percentile(&latencies, 0.50).into()),
        ("p90_us", percentile(&latencies, 0.90).into()),
        ("p99_us", percentile(&latencies, 0.99).into()),
        ("max_us", latencies.last().copied().unwrap_or(0).into()),
        ("statuses", serde_json::json!(statuses)),
        ("dlrs", counters.dlrs.load(Relaxed).into()),
        ("responses", responses.into()),
    ];
    if receipts_possible {
        fields.push(("dlrs_expected", dlrs_expected.into()));
    }
    let others = counters.other_deliveries.load(Relaxed);
    if others > 0 {
        fields.push(("other_deliveries", others.into()));
    }
    if unmatched > 0 {
        fields.push(("unmatched", unmatched.into()));
    }
    if !errors.is_empty() {
        fields.push(("missing", a.messages.saturating_sub(responses).into()));
        fields.push(("errors", errors.clone().into()));
    }
    let out = json_line(&fields);
    println!("{out}");
    io::stdout().flush()?;
    for e in &errors {
        eprintln!("esme: {e}");
    }
    Ok(if errors.is_empty() && responses == a.messages { 0 } else { 1 })
}
