//! The SIP redirect server's sockets: UDP and TCP on one port, and TLS (RFC 3261 section 26.2,
//! RFC 5630) on another. Each message goes to [`CallAuth::handle_sip`]; everything here is
//! transport (RFC 3261 section 18).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::Semaphore;
use vouch_service::CallAuth;
use vouch_sip::{MAX_MESSAGE, frame_len};

/// Messages handled at once (each may wait for an x5u fetch); more are dropped over UDP (the
/// peer retransmits) and wait over TCP.
const MAX_IN_FLIGHT: usize = 4096;
/// TCP connections at once.
const MAX_CONNECTIONS: usize = 1024;
/// A TCP connection idle this long is closed.
const IDLE: Duration = Duration::from_secs(120);
/// A message must arrive whole within this long of its first byte.
const MESSAGE_DEADLINE: Duration = Duration::from_secs(10);
/// Messages of one TCP connection handled at once: one that waits (for an x5u fetch) does not
/// hold up those after it; answers go back in the order they are ready.
const PER_CONNECTION: usize = 64;
/// How long a connection closed for bytes that cannot be framed is still read (and discarded).
const LINGER: Duration = Duration::from_secs(2);
/// How long a shutdown waits for messages in progress.
const DRAIN: Duration = Duration::from_secs(5);

/// The bound sockets.
pub struct SipServer {
    udp: Arc<UdpSocket>,
    tcp: TcpListener,
    tls: Option<(TcpListener, tokio_rustls::TlsAcceptor)>,
}

impl SipServer {
    /// Binds UDP and TCP on `addr` (port 0: the UDP socket's port for both), and TLS on `tls`'s
    /// address when given.
    pub async fn bind(addr: SocketAddr, tls: Option<(SocketAddr, tokio_rustls::TlsAcceptor)>) -> anyhow::Result<Self> {
        let udp = UdpSocket::bind(addr).await.with_context(|| format!("cannot listen on UDP {addr} (--sip)"))?;
        let bound = udp.local_addr()?;
        let tcp = TcpListener::bind(bound).await.with_context(|| format!("cannot listen on TCP {bound} (--sip)"))?;
        let tls = match tls {
            Some((a, acceptor)) => Some((
                TcpListener::bind(a).await.with_context(|| format!("cannot listen on TCP {a} (--sips)"))?,
                acceptor,
            )),
            None => None,
        };
        Ok(Self { udp: Arc::new(udp), tcp, tls })
    }

    /// The address UDP and TCP listen on.
    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.udp.local_addr()?)
    }

    /// The address TLS listens on, if it does.
    pub fn tls_addr(&self) -> anyhow::Result<Option<SocketAddr>> {
        self.tls.as_ref().map(|(l, _)| l.local_addr()).transpose().map_err(Into::into)
    }

    /// Serves until `shutdown` completes, then stops reading and waits (at most 5 s) for the
    /// messages in progress, so that every call answered is also recorded.
    pub async fn run(self, auth: Arc<CallAuth>, shutdown: impl std::future::Future<Output = ()>) {
        let limit = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
        let connections = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let tls = async {
            match self.tls {
                Some((listener, acceptor)) => {
                    serve_stream(listener, Some(acceptor), auth.clone(), limit.clone(), connections.clone()).await
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = serve_udp(self.udp, auth.clone(), limit.clone()) => {}
            _ = serve_stream(self.tcp, None, auth.clone(), limit.clone(), connections.clone()) => {}
            _ = tls => {}
            _ = shutdown => {}
        }
        let all = u32::try_from(MAX_IN_FLIGHT).unwrap_or(u32::MAX);
        if tokio::time::timeout(DRAIN, limit.acquire_many(all)).await.is_err() {
            tracing::warn!("SIP messages still in progress after {DRAIN:?}; stopping anyway");
        }
    }
}

async fn serve_udp(socket: Arc<UdpSocket>, auth: Arc<CallAuth>, limit: Arc<Semaphore>) {
    // One byte more than the largest message, to tell an oversized datagram from a full one.
    let mut buf = vec![0u8; MAX_MESSAGE + 1];
    loop {
        let (n, from) = match socket.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(e) => {
                // ICMP errors of earlier sends surface here on some systems; keep serving.
                tracing::debug!(error = %e, "UDP receive");
                continue;
            }
        };
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            metrics::counter!("vouch_sip_dropped_total", "why" => "busy").increment(1);
            continue;
        };
        let bytes = buf[..n].to_vec();
        let (socket, auth) = (socket.clone(), auth.clone());
        tokio::spawn(async move {
            if let Some(answer) = auth.handle_sip(from, &bytes).await
                && let Err(e) = socket.send_to(&answer.bytes, answer.to).await
            {
                tracing::debug!(error = %e, to = %answer.to, "UDP send");
            }
            drop(permit);
        });
    }
}

/// Accepts TCP connections (inside TLS with `tls`) from registered peers, at most
/// [`MAX_CONNECTIONS`] of both together.
async fn serve_stream(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    auth: Arc<CallAuth>,
    in_flight: Arc<Semaphore>,
    limit: Arc<Semaphore>,
) {
    loop {
        let (stream, from) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "TCP accept");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Connections are for registered peers only (UDP strangers get a stateless 403).
        if !auth.is_peer(from.ip()) {
            metrics::counter!("vouch_sip_dropped_total", "why" => "not a peer").increment(1);
            continue;
        }
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            metrics::counter!("vouch_sip_dropped_total", "why" => "connections").increment(1);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (auth, in_flight, tls) = (auth.clone(), in_flight.clone(), tls.clone());
        tokio::spawn(async move {
            let ended = match tls {
                None => connection(stream, from, auth, in_flight).await,
                Some(acceptor) => {
                    match crate::tls::accept(&acceptor, stream, from, "vouch_sip_tls_handshake_failures_total").await {
                        Some(stream) => connection(stream, from, auth, in_flight).await,
                        None => Ok(()),
                    }
                }
            };
            if let Err(e) = ended {
                tracing::debug!(error = %e, %from, "SIP stream connection ended");
            }
            drop(permit);
        });
    }
}

/// Whether `buf` may hold a message head's end at or after `from` (a blank line), so that
/// framing is tried only when it can succeed: bytes trickling in are not rescanned each time.
fn blank_line_from(buf: &[u8], from: usize) -> bool {
    let start = from.saturating_sub(3);
    buf.get(start..).is_some_and(|b| b.windows(2).any(|w| w == b"\n\n") || b.windows(4).any(|w| w == b"\r\n\r\n"))
}

/// An answer to write, with the permit of its message: held until the answer is written, so
/// that a shutdown waits for it.
type Written = (Vec<u8>, tokio::sync::OwnedSemaphorePermit);

/// Reads framed messages from one connection and answers each (several at once, at most
/// [`PER_CONNECTION`]); the answers are written by one writer, which closes the connection
/// after the last. A peer that stops reading is cut off after [`MESSAGE_DEADLINE`] of a
/// write not going through, which ends its messages too.
async fn connection<S: AsyncRead + AsyncWrite + Send + 'static>(
    stream: S,
    from: SocketAddr,
    auth: Arc<CallAuth>,
    in_flight: Arc<Semaphore>,
) -> anyhow::Result<()> {
    let (reader, mut writer) = tokio::io::split(stream);
    let (answers, mut to_write) = tokio::sync::mpsc::channel::<Written>(PER_CONNECTION);
    let write = async move {
        let mut result = Ok(());
        while let Some((bytes, permit)) = to_write.recv().await {
            let written = tokio::time::timeout(MESSAGE_DEADLINE, writer.write_all(&bytes)).await;
            drop(permit);
            match written {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    result = Err(e);
                    break;
                }
                Err(_) => {
                    result = Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "the peer does not read"));
                    break;
                }
            }
        }
        // Closing the receiver fails the senders still waiting, and stops the reader.
        to_write.close();
        while let Ok((_, permit)) = to_write.try_recv() {
            drop(permit);
        }
        writer.shutdown().await.ok();
        result
    };
    let (read, write) = tokio::join!(read_messages(reader, from, auth, in_flight, answers), write);
    read?;
    Ok(write?)
}

/// The reading half of [`connection`]: frames messages and hands each to its own task.
async fn read_messages(
    mut stream: impl AsyncRead + Unpin,
    from: SocketAddr,
    auth: Arc<CallAuth>,
    in_flight: Arc<Semaphore>,
    answers: tokio::sync::mpsc::Sender<Written>,
) -> anyhow::Result<()> {
    let per_connection = Arc::new(Semaphore::new(PER_CONNECTION));
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    let mut chunk = vec![0u8; 16 * 1024];
    // Bytes already searched for a head's end without success, and when the pending message began.
    let mut searched = 0usize;
    let mut started: Option<tokio::time::Instant> = None;
    loop {
        // Answer every whole message already buffered.
        loop {
            let keepalive = buf.first().is_some_and(|b| *b == b'\r' || *b == b'\n');
            if !keepalive && !blank_line_from(&buf, searched) && buf.len() <= MAX_MESSAGE {
                searched = buf.len();
                break;
            }
            match frame_len(&buf) {
                Ok(Some(n)) => {
                    let msg: Vec<u8> = buf.drain(..n).collect();
                    searched = 0;
                    started = None;
                    if msg.iter().all(|b| *b == b'\r' || *b == b'\n') {
                        continue; // keep-alive
                    }
                    let mine = per_connection.clone().acquire_owned().await?;
                    let permit = in_flight.clone().acquire_owned().await?;
                    let (auth, answers) = (auth.clone(), answers.clone());
                    tokio::spawn(async move {
                        if let Some(answer) = auth.handle_sip(from, &msg).await {
                            answers.send((answer.bytes, permit)).await.ok();
                        }
                        drop(mine);
                    });
                }
                Ok(None) => {
                    searched = buf.len();
                    break;
                }
                Err(e) => {
                    // The stream can no longer be framed (RFC 3261 section 18.3: over a stream
                    // every message needs Content-Length): answer 400 where the head allows,
                    // then close once the answers before it are written.
                    if let Some(answer) = auth.refuse_unparsed(from, &buf, &e) {
                        let permit = in_flight.clone().acquire_owned().await?;
                        answers.send((answer.bytes, permit)).await.ok();
                    }
                    // Let the writer finish and close its half; read what the peer still sends
                    // for a moment, so that the close is a FIN and not a reset that could
                    // discard the 400 at the peer.
                    drop(answers);
                    let _ = tokio::time::timeout(LINGER, async {
                        while matches!(stream.read(&mut chunk).await, Ok(n) if n > 0) {}
                    })
                    .await;
                    return Err(anyhow::anyhow!("unframeable stream: {e}"));
                }
            }
        }
        if buf.is_empty() {
            started = None;
        }
        let wait = match started {
            Some(t) => MESSAGE_DEADLINE.saturating_sub(t.elapsed()),
            None => IDLE,
        };
        let n = tokio::select! {
            r = tokio::time::timeout(wait, stream.read(&mut chunk)) => match r {
                Ok(r) => r?,
                Err(_) => return Ok(()),
            },
            // The writer gave up on the peer.
            _ = answers.closed() => return Ok(()),
        };
        if n == 0 {
            return Ok(());
        }
        if started.is_none() {
            started = Some(tokio::time::Instant::now());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}
