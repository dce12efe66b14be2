//! The SIP redirect server's sockets: UDP and TCP on one port. Each message goes to
//! [`CallAuth::handle_sip`]; everything here is transport (RFC 3261 section 18).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
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

/// The bound sockets.
pub struct SipServer {
    udp: Arc<UdpSocket>,
    tcp: TcpListener,
}

impl SipServer {
    /// Binds UDP and TCP on `addr` (port 0: the UDP socket's port for both).
    pub async fn bind(addr: SocketAddr) -> anyhow::Result<Self> {
        let udp = UdpSocket::bind(addr).await.with_context(|| format!("cannot listen on UDP {addr} (--sip)"))?;
        let bound = udp.local_addr()?;
        let tcp = TcpListener::bind(bound).await.with_context(|| format!("cannot listen on TCP {bound} (--sip)"))?;
        Ok(Self { udp: Arc::new(udp), tcp })
    }

    /// The address both listen on.
    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.udp.local_addr()?)
    }

    /// Serves until the future is dropped.
    pub async fn run(self, auth: Arc<CallAuth>) {
        let udp = tokio::spawn(serve_udp(self.udp, auth.clone()));
        let tcp = tokio::spawn(serve_tcp(self.tcp, auth));
        let _ = tokio::join!(udp, tcp);
    }
}

async fn serve_udp(socket: Arc<UdpSocket>, auth: Arc<CallAuth>) {
    let limit = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
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
            if let Some(resp) = auth.handle_sip(from.ip(), &bytes).await
                && let Err(e) = socket.send_to(&resp, from).await
            {
                tracing::debug!(error = %e, %from, "UDP send");
            }
            drop(permit);
        });
    }
}

async fn serve_tcp(listener: TcpListener, auth: Arc<CallAuth>) {
    let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (stream, from) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "TCP accept");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            metrics::counter!("vouch_sip_dropped_total", "why" => "connections").increment(1);
            continue;
        };
        let auth = auth.clone();
        tokio::spawn(async move {
            if let Err(e) = connection(stream, from, &auth).await {
                tracing::debug!(error = %e, %from, "SIP TCP connection ended");
            }
            drop(permit);
        });
    }
}

/// Reads framed messages from one connection and answers each in order.
async fn connection(mut stream: TcpStream, from: SocketAddr, auth: &CallAuth) -> anyhow::Result<()> {
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        // Answer every whole message already buffered.
        loop {
            match frame_len(&buf) {
                Ok(Some(n)) => {
                    let msg: Vec<u8> = buf.drain(..n).collect();
                    if msg.iter().all(|b| *b == b'\r' || *b == b'\n') {
                        continue; // keep-alive
                    }
                    if let Some(resp) = auth.handle_sip(from.ip(), &msg).await {
                        stream.write_all(&resp).await?;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    // The stream can no longer be framed: answer 400 if the head allows, close.
                    metrics::counter!("vouch_sip_malformed_total").increment(1);
                    if let Some(resp) = auth.handle_sip(from.ip(), &buf).await {
                        stream.write_all(&resp).await?;
                    }
                    stream.shutdown().await.ok();
                    return Err(anyhow::anyhow!("unframeable stream: {e}"));
                }
            }
        }
        let n = match tokio::time::timeout(IDLE, stream.read(&mut chunk)).await {
            Ok(r) => r?,
            Err(_) => return Ok(()),
        };
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}
