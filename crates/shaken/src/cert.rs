//! SHAKEN certificates: the fields a verifier and the registry need, read once from the DER.

use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension};
use x509_parser::oid_registry::{OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY};
use x509_parser::prelude::FromDer;
use x509_parser::x509::{SubjectPublicKeyInfo, X509Name};

use crate::passport::VerifyingKey;
use crate::{ShakenError, TnAuthList};

/// Most certificates read from one PEM chain (an x5u chain is leaf + 1-2 CAs).
pub const MAX_CHAIN: usize = 8;

/// A CRL distribution point: where the CRL is, and who signs it when that is not the
/// certificate's issuer (an indirect CRL, as the STI-PA's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrlDistributionPoint {
    /// URIs of the CRL.
    pub uris: Vec<String>,
    /// The `cRLIssuer` names, as [`name_key`]s; empty for a direct CRL.
    pub crl_issuers: Vec<String>,
}

/// A Name in comparable form (RFC 5280 section 7.1, simplified from RFC 4518): each attribute
/// as `OID=value`, the value's string type ignored, white space trimmed and collapsed, case
/// folded; values that are not strings as hex. Two encodings of the same name compare equal.
pub fn name_key(name: &X509Name<'_>) -> String {
    let mut out = String::new();
    for rdn in name.iter() {
        if !out.is_empty() {
            out.push(',');
        }
        let mut attrs: Vec<String> = rdn
            .iter()
            .map(|a| {
                let value = match a.as_str() {
                    Ok(s) => s.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase(),
                    Err(_) => format!("#{}", crate::hex(a.attr_value().data)),
                };
                format!("{}={value}", a.attr_type().to_id_string())
            })
            .collect();
        attrs.sort();
        out.push_str(&attrs.join("+"));
    }
    out
}

/// The [`name_key`] of a DER Name, if it parses.
pub fn name_key_of_der(der: &[u8]) -> Option<String> {
    match X509Name::from_der(der) {
        Ok((&[], name)) => Some(name_key(&name)),
        _ => None,
    }
}

/// A serial number without redundant leading zero bytes (CRLs may encode it non-minimally).
pub fn serial_key(serial: &[u8]) -> &[u8] {
    let mut s = serial;
    while s.len() > 1 && s[0] == 0 {
        s = &s[1..];
    }
    s
}

/// A parsed certificate. Keeps its DER; everything else is read from it once.
#[derive(Clone)]
pub struct Certificate {
    der: Vec<u8>,
    /// Subject, as text (RFC 4514 style).
    pub subject: String,
    /// Issuer, as text.
    pub issuer: String,
    /// Subject Name, DER (for chaining).
    pub subject_der: Vec<u8>,
    /// Issuer Name, DER (for chaining).
    pub issuer_der: Vec<u8>,
    /// Issuer Name, comparable ([`name_key`]), for revocation scope.
    pub issuer_key: String,
    /// Subject Name, comparable ([`name_key`]).
    pub subject_key: String,
    /// Serial number, big-endian bytes as encoded.
    pub serial: Vec<u8>,
    /// Validity start, Unix seconds.
    pub not_before: i64,
    /// Validity end, Unix seconds.
    pub not_after: i64,
    /// `Some(true)` for a CA (basicConstraints cA), `Some(false)` when the extension says not,
    /// `None` without the extension.
    pub is_ca: Option<bool>,
    /// basicConstraints pathLenConstraint.
    pub path_len: Option<u32>,
    /// keyUsage: (digitalSignature, keyCertSign, cRLSign), `None` without the extension.
    pub key_usage: Option<(bool, bool, bool)>,
    /// The P-256 public key point, when the key is P-256.
    pub p256_point: Option<Vec<u8>>,
    /// The TNAuthList, when present (`Err` when present but undecodable).
    pub tn_auth_list: Option<Result<TnAuthList, ShakenError>>,
    /// CRL distribution points.
    pub crl_distribution_points: Vec<CrlDistributionPoint>,
    /// Critical extensions this crate does not understand (OIDs as text).
    pub unknown_critical: Vec<String>,
    /// The signature algorithm's OID, as text.
    pub signature_algorithm: String,
    /// The lenient profile lint, computed on first use (it depends on the DER only).
    lenient_lint: std::sync::OnceLock<Result<crate::lint::LintReport, ShakenError>>,
    /// SHA-256 of the DER, computed on first use.
    fingerprint: std::sync::OnceLock<[u8; 32]>,
    /// Issuers (by fingerprint) whose key was checked against this certificate's signature,
    /// and the answer: a verifier validates the same chain for every call.
    signature_checks: std::sync::Arc<std::sync::Mutex<SignatureChecks>>,
}

/// (issuer fingerprint, whether its key made the signature).
type SignatureChecks = Vec<([u8; 32], bool)>;

/// Most issuers remembered per certificate.
const MAX_SIGNATURE_CHECKS: usize = 8;

/// ecdsa-with-SHA256.
pub const ECDSA_WITH_SHA256: &str = "1.2.840.10045.4.3.2";
/// ecdsa-with-SHA384 (allowed by US SHAKEN CP 1.4).
pub const ECDSA_WITH_SHA384: &str = "1.2.840.10045.4.3.3";

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificate")
            .field("subject", &self.subject)
            .field("issuer", &self.issuer)
            .field("serial", &crate::hex(&self.serial))
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

/// The DER of every CERTIFICATE block of a PEM text, in order: at most [`MAX_CHAIN`], at
/// least one.
pub fn pem_certificates(pem: &[u8]) -> Result<Vec<Vec<u8>>, ShakenError> {
    let mut out = Vec::new();
    for block in x509_parser::pem::Pem::iter_from_buffer(pem) {
        let block = block.map_err(|e| cert_err(format!("bad PEM: {e}")))?;
        if block.label != "CERTIFICATE" {
            continue;
        }
        if out.len() == MAX_CHAIN {
            return Err(cert_err(format!("more than {MAX_CHAIN} certificates")));
        }
        out.push(block.contents);
    }
    if out.is_empty() {
        return Err(cert_err("no CERTIFICATE block in the PEM"));
    }
    Ok(out)
}

/// The public key point when the key is EC on P-256, or why it is not (ATIS-1000080 6.4.1).
pub fn p256_point<'s>(spki: &'s SubjectPublicKeyInfo<'_>) -> Result<&'s [u8], String> {
    if spki.algorithm.algorithm != OID_KEY_TYPE_EC_PUBLIC_KEY {
        return Err(format!("public key algorithm {} is not id-ecPublicKey", spki.algorithm.algorithm));
    }
    match spki.algorithm.parameters.as_ref().and_then(|p| p.as_oid().ok()) {
        Some(curve) if curve == OID_EC_P256 => Ok(&spki.subject_public_key.data),
        Some(curve) => Err(format!("curve {curve} is not P-256")),
        None => Err("the EC key names no curve".into()),
    }
}

fn cert_err(e: impl std::fmt::Display) -> ShakenError {
    ShakenError::Certificate(e.to_string())
}

impl Certificate {
    /// Parses one DER certificate (no trailing bytes).
    pub fn from_der(der: &[u8]) -> Result<Self, ShakenError> {
        let (rest, x) =
            X509Certificate::from_der(der).map_err(|e| cert_err(format!("not an X.509 certificate: {e}")))?;
        if !rest.is_empty() {
            return Err(cert_err("trailing bytes after the certificate"));
        }
        let tbs = &x.tbs_certificate;
        let spki = &tbs.subject_pki;
        let p256_point = p256_point(spki).ok().map(<[u8]>::to_vec);
        let mut c = Self {
            der: der.to_vec(),
            subject: tbs.subject.to_string(),
            issuer: tbs.issuer.to_string(),
            subject_der: tbs.subject.as_raw().to_vec(),
            issuer_der: tbs.issuer.as_raw().to_vec(),
            issuer_key: name_key(&tbs.issuer),
            subject_key: name_key(&tbs.subject),
            serial: tbs.raw_serial().to_vec(),
            not_before: tbs.validity.not_before.timestamp(),
            not_after: tbs.validity.not_after.timestamp(),
            is_ca: None,
            path_len: None,
            key_usage: None,
            p256_point,
            tn_auth_list: None,
            crl_distribution_points: Vec::new(),
            unknown_critical: Vec::new(),
            signature_algorithm: x.signature_algorithm.algorithm.to_id_string(),
            lenient_lint: std::sync::OnceLock::new(),
            fingerprint: std::sync::OnceLock::new(),
            signature_checks: Default::default(),
        };
        for ext in tbs.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::BasicConstraints(bc) => {
                    c.is_ca = Some(bc.ca);
                    c.path_len = bc.path_len_constraint;
                }
                ParsedExtension::KeyUsage(ku) => {
                    c.key_usage = Some((ku.digital_signature(), ku.key_cert_sign(), ku.crl_sign()));
                }
                ParsedExtension::CRLDistributionPoints(dps) => {
                    for dp in dps.iter() {
                        let mut uris = Vec::new();
                        if let Some(DistributionPointName::FullName(names)) = &dp.distribution_point {
                            for n in names {
                                if let GeneralName::URI(u) = n {
                                    uris.push((*u).to_owned());
                                }
                            }
                        }
                        let crl_issuers = dp
                            .crl_issuer
                            .iter()
                            .flatten()
                            .filter_map(|n| match n {
                                GeneralName::DirectoryName(name) => Some(name_key(name)),
                                _ => None,
                            })
                            .collect();
                        c.crl_distribution_points.push(CrlDistributionPoint { uris, crl_issuers });
                    }
                }
                _ if ext.oid.to_id_string() == crate::TN_AUTH_LIST_OID => {
                    c.tn_auth_list = Some(TnAuthList::from_der(ext.value));
                }
                ParsedExtension::SubjectKeyIdentifier(_)
                | ParsedExtension::AuthorityKeyIdentifier(_)
                | ParsedExtension::CertificatePolicies(_) => {}
                _ if ext.critical => c.unknown_critical.push(ext.oid.to_id_string()),
                _ => {}
            }
        }
        Ok(c)
    }

    /// Every CERTIFICATE block of a PEM file, in order (at most [`MAX_CHAIN`]).
    pub fn chain_from_pem(pem: &[u8]) -> Result<Vec<Self>, ShakenError> {
        pem_certificates(pem)?.iter().map(|der| Self::from_der(der)).collect()
    }

    /// The DER.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The SHAKEN profile lint in lenient mode (for verifying calls), computed once per
    /// certificate however many calls it signs.
    pub fn lenient_lint(&self) -> Result<&crate::lint::LintReport, ShakenError> {
        self.lenient_lint
            .get_or_init(|| crate::lint::lint_der(&self.der, crate::lint::LintMode::Lenient))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The key PASSporTs signed by this certificate's holder verify with.
    pub fn verifying_key(&self) -> Result<VerifyingKey, ShakenError> {
        let point = self.p256_point.as_ref().ok_or_else(|| cert_err("the public key is not EC P-256"))?;
        VerifyingKey::from_point(point)
    }

    /// The SPC of a SHAKEN end-entity certificate (its TNAuthList's one SPC).
    pub fn spc(&self) -> Result<&str, ShakenError> {
        match &self.tn_auth_list {
            None => Err(ShakenError::TnAuthList("the certificate has no TNAuthList".into())),
            Some(Err(e)) => Err(e.clone()),
            Some(Ok(list)) => list.single_spc(),
        }
    }

    /// Whether the certificate is valid at `t` (Unix seconds).
    pub fn valid_at(&self, t: i64) -> bool {
        self.not_before <= t && t <= self.not_after
    }

    /// Whether `issuer`'s key made this certificate's signature (remembered per issuer).
    pub fn is_signed_by(&self, issuer: &Self) -> bool {
        let key = issuer.fingerprint();
        let mut checks = self.signature_checks.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, ok)) = checks.iter().find(|(k, _)| *k == key) {
            return *ok;
        }
        let ok = match (X509Certificate::from_der(&self.der), X509Certificate::from_der(&issuer.der)) {
            (Ok((_, me)), Ok((_, them))) => me.verify_signature(Some(them.public_key())).is_ok(),
            _ => false,
        };
        if checks.len() == MAX_SIGNATURE_CHECKS {
            checks.remove(0);
        }
        checks.push((key, ok));
        ok
    }

    /// The certificate as one PEM block (`-----BEGIN CERTIFICATE-----`, 64-column base64).
    pub fn to_pem(&self) -> String {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(&self.der);
        let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 60);
        out.push_str("-----BEGIN CERTIFICATE-----\n");
        for line in b64.as_bytes().chunks(64) {
            out.push_str(&String::from_utf8_lossy(line));
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
        out
    }

    /// SHA-256 of the DER (the certificate's fingerprint).
    pub fn fingerprint(&self) -> [u8; 32] {
        *self.fingerprint.get_or_init(|| {
            let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &self.der);
            let mut out = [0u8; 32];
            out.copy_from_slice(d.as_ref());
            out
        })
    }
}
