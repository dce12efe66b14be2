//! The certificates vouch's TLS listeners present (HTTPS on `--http`, SMPP over TLS on
//! `--smpps`): read at start, where a bad file stops the start, and read again when their files
//! change (looked at every minute) or at SIGHUP, so a renewed certificate (an ACME client's,
//! every 60 to 90 days) is taken without a restart. A renewal that does not load keeps the
//! certificate in use, with a warning.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// How often the files are looked at for a change.
const RELOAD_EVERY: Duration = Duration::from_secs(60);

/// Woken at SIGHUP (`vouch serve` listens for it): every certificate is read again.
pub static RELOAD: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// A certificate chain and its key from PEM files, re-read when they change.
#[derive(Debug)]
pub struct ServerCertificate {
    cert: PathBuf,
    key: PathBuf,
    /// The flags that named the files, for messages (`--http-tls-cert`, `--http-tls-key`).
    flags: (&'static str, &'static str),
    current: RwLock<(Arc<CertifiedKey>, Option<Modified>)>,
}

/// When the certificate and key files were last modified.
type Modified = (SystemTime, SystemTime);

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

fn modified(cert: &Path, key: &Path) -> Option<Modified> {
    let m = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    Some((m(cert)?, m(key)?))
}

impl ServerCertificate {
    /// Reads the chain in `cert` and the key (PKCS#8, SEC1 or PKCS#1) in `key`, which must match.
    pub fn load(cert: &Path, key: &Path, flags: (&'static str, &'static str)) -> anyhow::Result<Arc<Self>> {
        let stamp = modified(cert, key);
        let loaded = Self::read(cert, key, flags)?;
        Ok(Arc::new(Self {
            cert: cert.to_owned(),
            key: key.to_owned(),
            flags,
            current: RwLock::new((Arc::new(loaded), stamp)),
        }))
    }

    fn read(cert: &Path, key: &Path, (cert_flag, key_flag): (&str, &str)) -> anyhow::Result<CertifiedKey> {
        let chain = pem_certificates(cert, cert_flag)?;
        let der =
            PrivateKeyDer::from_pem_file(key).map_err(|e| anyhow::anyhow!("{key_flag} {}: {e}", key.display()))?;
        CertifiedKey::from_der(chain, der, &rustls::crypto::aws_lc_rs::default_provider())
            .with_context(|| format!("{cert_flag} and {key_flag} do not make a usable certificate (is it that key?)"))
    }

    /// Reads the files again if they changed since last read (or, `forced`, anyway); keeps
    /// the certificate in use when they do not load (a renewal caught half-written is read
    /// again at the next look).
    pub fn reload(&self, forced: bool) {
        let stamp = modified(&self.cert, &self.key);
        if !forced
            && (stamp.is_none() || stamp == self.current.read().unwrap_or_else(std::sync::PoisonError::into_inner).1)
        {
            return;
        }
        match Self::read(&self.cert, &self.key, self.flags) {
            Ok(loaded) => {
                *self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner) = (Arc::new(loaded), stamp);
                tracing::info!(cert = %self.cert.display(), "TLS certificate read again: new connections get it");
            }
            Err(e) => tracing::warn!(
                error = %format!("{e:#}"),
                "TLS certificate files changed but do not load; still presenting the previous certificate"
            ),
        }
    }

    /// A TLS acceptor presenting this certificate, offering `alpn` (e.g. `http/1.1`), and a
    /// task that looks at the files every minute.
    pub fn acceptor(self: &Arc<Self>, alpn: &[&[u8]]) -> tokio_rustls::TlsAcceptor {
        let mut config = rustls::ServerConfig::builder().with_no_client_auth().with_cert_resolver(self.clone());
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(RELOAD_EVERY);
            every.tick().await;
            loop {
                let forced = tokio::select! {
                    _ = every.tick() => false,
                    () = RELOAD.notified() => true,
                };
                let Some(cert) = weak.upgrade() else { break };
                cert.reload(forced);
            }
        });
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    }
}
