//! The certificates vouch's TLS listeners present (HTTPS on `--http`, SMPP over TLS on
//! `--smpps`, SIP over TLS on `--sips`): read at start, where a bad file stops the start, and
//! read again when their contents change (looked at every minute) or at SIGHUP, so a renewed
//! certificate (an ACME client's, every 60 to 90 days) is taken without a restart. A renewal
//! that does not load keeps the certificate in use, with a warning. Also the handshake every
//! listener does the same way.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use anyhow::Context;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite};

/// How often the files are looked at for a change.
const RELOAD_EVERY: Duration = Duration::from_secs(60);

/// Longest wait for a client's TLS handshake on any of vouch's TLS listeners.
pub const HANDSHAKE: Duration = Duration::from_secs(10);

/// Bumped at each SIGHUP (`vouch serve` listens for it from its first moment): every
/// certificate is read again. A watch channel, so that a SIGHUP arriving while a certificate is
/// being read is not lost.
pub fn reload_requests() -> &'static tokio::sync::watch::Sender<u64> {
    static RELOAD: OnceLock<tokio::sync::watch::Sender<u64>> = OnceLock::new();
    RELOAD.get_or_init(|| tokio::sync::watch::Sender::new(0))
}

/// The server side of a TLS handshake on `stream`, within [`HANDSHAKE`]: a failure or a
/// timeout is counted in the counter `failures` and logged (debug) with the peer, and gives
/// `None`.
pub async fn accept<S: AsyncRead + AsyncWrite + Unpin>(
    acceptor: &tokio_rustls::TlsAcceptor,
    stream: S,
    peer: SocketAddr,
    failures: &'static str,
) -> Option<tokio_rustls::server::TlsStream<S>> {
    let why = match tokio::time::timeout(HANDSHAKE, acceptor.accept(stream)).await {
        Ok(Ok(s)) => return Some(s),
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("no handshake within {HANDSHAKE:?}"),
    };
    metrics::counter!(failures).increment(1);
    tracing::debug!(%peer, error = why, "TLS handshake failed");
    None
}

/// A certificate chain and its key from PEM files, re-read when they change.
#[derive(Debug)]
pub struct ServerCertificate {
    cert: PathBuf,
    key: PathBuf,
    /// The flags that named the files, for messages (`--http-tls-cert`, `--http-tls-key`).
    flags: (&'static str, &'static str),
    /// The certificate in use, and the digest of the two files it was read from.
    current: RwLock<(Arc<CertifiedKey>, [u8; 32])>,
}

impl ResolvesServerCert for ServerCertificate {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().unwrap_or_else(std::sync::PoisonError::into_inner).0.clone())
    }
}

/// The PEM certificates in `path` (at least one).
pub fn pem_certificates(path: &Path, what: &str) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow::anyhow!("{what} {}: {e}", path.display()))?;
    anyhow::ensure!(!certs.is_empty(), "{what} {}: no CERTIFICATE in it", path.display());
    Ok(certs)
}

/// The two files' bytes, and their digest (what tells a renewal, whatever the files' times).
fn read_files(
    cert: &Path,
    key: &Path,
    (cert_flag, key_flag): (&str, &str),
) -> anyhow::Result<(Vec<u8>, Vec<u8>, [u8; 32])> {
    let c = std::fs::read(cert).with_context(|| format!("{cert_flag} {}", cert.display()))?;
    let k = std::fs::read(key).with_context(|| format!("{key_flag} {}", key.display()))?;
    let mut h = Sha256::new();
    h.update((c.len() as u64).to_be_bytes());
    h.update(&c);
    h.update(&k);
    Ok((c, k, h.finalize().into()))
}

impl ServerCertificate {
    /// Reads the chain in `cert` and the key (PKCS#8, SEC1 or PKCS#1) in `key`, which must match.
    pub fn load(cert: &Path, key: &Path, flags: (&'static str, &'static str)) -> anyhow::Result<Arc<Self>> {
        let (c, k, digest) = read_files(cert, key, flags)?;
        let loaded = Self::parse(&c, &k, cert, key, flags)?;
        Ok(Arc::new(Self {
            cert: cert.to_owned(),
            key: key.to_owned(),
            flags,
            current: RwLock::new((Arc::new(loaded), digest)),
        }))
    }

    fn parse(
        c: &[u8],
        k: &[u8],
        cert: &Path,
        key: &Path,
        (cert_flag, key_flag): (&str, &str),
    ) -> anyhow::Result<CertifiedKey> {
        let chain = CertificateDer::pem_slice_iter(c)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| anyhow::anyhow!("{cert_flag} {}: {e}", cert.display()))?;
        anyhow::ensure!(!chain.is_empty(), "{cert_flag} {}: no CERTIFICATE in it", cert.display());
        let der = PrivateKeyDer::from_pem_slice(k).map_err(|e| anyhow::anyhow!("{key_flag} {}: {e}", key.display()))?;
        CertifiedKey::from_der(chain, der, &rustls::crypto::aws_lc_rs::default_provider())
            .with_context(|| format!("{cert_flag} and {key_flag} do not make a usable certificate (is it that key?)"))
    }

    /// Reads the files again and takes them if their contents changed since last read; keeps
    /// the certificate in use when they do not load (a renewal caught half-written is read
    /// again at the next look).
    pub fn reload(&self) {
        let result = read_files(&self.cert, &self.key, self.flags).and_then(|(c, k, digest)| {
            if digest == self.current.read().unwrap_or_else(std::sync::PoisonError::into_inner).1 {
                return Ok(None);
            }
            Ok(Some((Self::parse(&c, &k, &self.cert, &self.key, self.flags)?, digest)))
        });
        match result {
            Ok(None) => {}
            Ok(Some((loaded, digest))) => {
                *self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner) = (Arc::new(loaded), digest);
                tracing::info!(cert = %self.cert.display(), "TLS certificate read again: new connections get it");
            }
            Err(e) => tracing::warn!(
                error = %format!("{e:#}"),
                "TLS certificate files changed but do not load; still presenting the previous certificate"
            ),
        }
    }

    /// A TLS acceptor presenting this certificate, offering `alpn` (e.g. `http/1.1`), and a
    /// task that reads the files every minute and at each SIGHUP.
    pub fn acceptor(self: &Arc<Self>, alpn: &[&[u8]]) -> tokio_rustls::TlsAcceptor {
        let mut config = rustls::ServerConfig::builder().with_no_client_auth().with_cert_resolver(self.clone());
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        let weak = Arc::downgrade(self);
        let mut hangups = reload_requests().subscribe();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(RELOAD_EVERY);
            every.tick().await;
            loop {
                tokio::select! {
                    _ = every.tick() => {}
                    changed = hangups.changed() => if changed.is_err() { break },
                }
                let Some(cert) = weak.upgrade() else { break };
                cert.reload();
            }
        });
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    }
}
