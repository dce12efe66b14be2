//! Certificate chain validation to a SHAKEN trust list, with CRLs (direct, and indirect as the
//! STI-PA's: signed by the CRL issuer named in the certificate's `cRLIssuer`).
//!
//! The path is built from the certificates the signer published at `x5u` (leaf first) up to a
//! trust anchor (the STI-PA's list of approved CA certificates). Every certificate must be valid
//! at the instant given (the PASSporT's `iat`), every signature ECDSA with SHA-256 or SHA-384,
//! every issuer a CA allowed to sign certificates, and no certificate on the path revoked by a
//! CRL the trust store holds.

use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

use crate::ShakenError;
use crate::cert::{Certificate, ECDSA_WITH_SHA256, ECDSA_WITH_SHA384};

/// Longest path accepted (leaf, intermediates, anchor).
const MAX_DEPTH: usize = 5;
/// Most entries read from one CRL.
const MAX_CRL_ENTRIES: usize = 1_000_000;
/// The certificateIssuer CRL entry extension.
const CERTIFICATE_ISSUER_OID: &str = "2.5.29.29";

fn chain_err(detail: impl Into<String>) -> ShakenError {
    ShakenError::Chain(detail.into())
}

/// A revoked certificate: its serial and, when the CRL says (certificateIssuer), its issuer's
/// Name (DER).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Revoked {
    serial: Vec<u8>,
    issuer: Option<Vec<u8>>,
}

/// A CRL whose signature has been checked against a trusted certificate.
#[derive(Debug, Clone)]
pub struct Crl {
    /// The CRL issuer's Name, DER.
    issuer_der: Vec<u8>,
    /// The CRL issuer, as text.
    pub issuer: String,
    /// thisUpdate, Unix seconds.
    pub this_update: i64,
    /// nextUpdate, Unix seconds.
    pub next_update: Option<i64>,
    /// Whether the issuing distribution point says indirect.
    pub indirect: bool,
    revoked: Vec<Revoked>,
}

impl Crl {
    /// How many certificates it revokes.
    pub fn len(&self) -> usize {
        self.revoked.len()
    }

    /// Whether it revokes nothing.
    pub fn is_empty(&self) -> bool {
        self.revoked.is_empty()
    }
}

/// Reads the directoryName out of a certificateIssuer value (GeneralNames).
fn directory_name(value: &[u8]) -> Option<Vec<u8>> {
    use der::{Decode, Tag, TagNumber, Tagged};
    let names: Vec<der::Any> = <Vec<der::Any> as Decode>::from_der(value).ok()?;
    names.into_iter().find_map(|n| {
        (n.tag() == Tag::ContextSpecific { constructed: true, number: TagNumber(4) }).then(|| n.value().to_vec())
    })
}

/// Trust anchors (the STI-PA trust list), certificates trusted to sign CRLs, and CRLs.
#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    anchors: Vec<Certificate>,
    crl_signers: Vec<Certificate>,
    crls: Vec<Crl>,
}

impl TrustStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a trust anchor (a CA certificate from the trust list).
    pub fn add_anchor(&mut self, cert: Certificate) -> Result<(), ShakenError> {
        if cert.is_ca != Some(true) {
            return Err(chain_err(format!("{} is not a CA certificate and cannot be a trust anchor", cert.subject)));
        }
        self.anchors.push(cert);
        Ok(())
    }

    /// Adds a certificate that signs CRLs (the STI-PA CRL signer); it must itself be a trust
    /// anchor or be signed by one.
    pub fn add_crl_signer(&mut self, cert: Certificate) -> Result<(), ShakenError> {
        let trusted = self.anchors.iter().any(|a| a.der() == cert.der())
            || self.anchors.iter().any(|a| a.subject_der == cert.issuer_der && cert.is_signed_by(a));
        if !trusted {
            return Err(chain_err(format!("CRL signer {} is not signed by a trust anchor", cert.subject)));
        }
        self.crl_signers.push(cert);
        Ok(())
    }

    /// The trust anchors.
    pub fn anchors(&self) -> &[Certificate] {
        &self.anchors
    }

    /// The CRLs held.
    pub fn crls(&self) -> &[Crl] {
        &self.crls
    }

    /// Adds a CRL (DER) after checking its signature with a trusted certificate whose subject
    /// is the CRL's issuer (an anchor or a CRL signer), and that it is in effect at `at`.
    pub fn add_crl_der(&mut self, der: &[u8], at: i64) -> Result<&Crl, ShakenError> {
        let (rest, crl) = CertificateRevocationList::from_der(der).map_err(|e| chain_err(format!("not a CRL: {e}")))?;
        if !rest.is_empty() {
            return Err(chain_err("trailing bytes after the CRL"));
        }
        let issuer_der = crl.issuer().as_raw().to_vec();
        let signer = self
            .anchors
            .iter()
            .chain(&self.crl_signers)
            .find(|c| c.subject_der == issuer_der)
            .ok_or_else(|| chain_err(format!("no trusted certificate for CRL issuer {}", crl.issuer())))?;
        let (_, signer_x) = x509_parser::certificate::X509Certificate::from_der(signer.der())
            .map_err(|e| chain_err(format!("CRL signer: {e}")))?;
        crl.verify_signature(signer_x.public_key())
            .map_err(|e| chain_err(format!("the CRL's signature does not verify with {}: {e}", signer.subject)))?;
        let this_update = crl.last_update().timestamp();
        let next_update = crl.next_update().map(|t| t.timestamp());
        if let Some(next) = next_update
            && next < at
        {
            return Err(chain_err(format!("the CRL from {} expired at {next} (now {at})", crl.issuer())));
        }
        let indirect = crl.extensions().iter().any(|e| match e.parsed_extension() {
            ParsedExtension::IssuingDistributionPoint(idp) => idp.indirect_crl,
            _ => false,
        });
        let mut revoked = Vec::new();
        // RFC 5280 5.3.3: an entry without certificateIssuer belongs to the issuer of the entry
        // before it. Before any certificateIssuer the entries name no issuer: the STI-PA's CRL
        // lists serials of certificates from many STI-CAs that way, and a verifier matches
        // them by serial (serials are at least 64 random bits, ATIS-1000080).
        let mut current_issuer: Option<Vec<u8>> = None;
        for entry in crl.iter_revoked_certificates() {
            if revoked.len() == MAX_CRL_ENTRIES {
                return Err(chain_err(format!("more than {MAX_CRL_ENTRIES} entries")));
            }
            if let Some(ext) = entry.extensions().iter().find(|e| e.oid.to_id_string() == CERTIFICATE_ISSUER_OID) {
                current_issuer = Some(
                    directory_name(ext.value)
                        .ok_or_else(|| chain_err("a certificateIssuer without a directoryName"))?,
                );
            }
            revoked.push(Revoked { serial: entry.raw_serial().to_vec(), issuer: current_issuer.clone() });
        }
        self.crls.push(Crl {
            issuer_der,
            issuer: crl.issuer().to_string(),
            this_update,
            next_update,
            indirect,
            revoked,
        });
        self.crls.last().ok_or_else(|| chain_err("unreachable"))
    }

    /// Whether a CRL the store holds covers `cert` (it is signed by the certificate's issuer or
    /// by a `cRLIssuer` of its distribution points).
    fn covering_crls<'a>(&'a self, cert: &'a Certificate) -> impl Iterator<Item = &'a Crl> + 'a {
        self.crls.iter().filter(move |crl| {
            crl.issuer_der == cert.issuer_der
                || cert.crl_distribution_points.iter().any(|dp| dp.crl_issuers.contains(&crl.issuer_der))
        })
    }

    fn check_revocation(&self, cert: &Certificate, require_crl: bool) -> Result<(), ShakenError> {
        let mut covered = false;
        for crl in self.covering_crls(cert) {
            covered = true;
            if crl
                .revoked
                .iter()
                .any(|r| r.serial == cert.serial && r.issuer.as_ref().is_none_or(|i| *i == cert.issuer_der))
            {
                return Err(ShakenError::Revoked { subject: cert.subject.clone(), crl_issuer: crl.issuer.clone() });
            }
        }
        if require_crl && !covered {
            return Err(chain_err(format!("no CRL covers {} (issuer {})", cert.subject, cert.issuer)));
        }
        Ok(())
    }

    /// Validates `chain` (leaf first, then the intermediates in any order) at `at` (Unix
    /// seconds). With `require_crl`, every certificate below the anchor must be covered by a
    /// CRL the store holds.
    pub fn validate(&self, chain: &[Certificate], at: i64, require_crl: bool) -> Result<ValidatedChain, ShakenError> {
        let leaf = chain.first().ok_or_else(|| chain_err("no certificate"))?;
        if leaf.is_ca == Some(true) {
            return Err(chain_err(format!("{} is a CA certificate, not an end-entity", leaf.subject)));
        }
        if let Some((digital_signature, _, _)) = leaf.key_usage
            && !digital_signature
        {
            return Err(chain_err(format!("{}: keyUsage lacks digitalSignature", leaf.subject)));
        }
        let mut path: Vec<&Certificate> = vec![leaf];
        loop {
            let current = path[path.len() - 1];
            check_cert(current, at)?;
            self.check_revocation(current, require_crl)?;
            if let Some(anchor) =
                self.anchors.iter().find(|a| a.subject_der == current.issuer_der && current.is_signed_by(a))
            {
                if !anchor.valid_at(at) {
                    return Err(chain_err(format!(
                        "trust anchor {} is not valid at {at} ({}..{})",
                        anchor.subject, anchor.not_before, anchor.not_after
                    )));
                }
                check_issuer(anchor, path.len() - 1)?;
                return Ok(ValidatedChain {
                    certificates: path.into_iter().cloned().collect(),
                    anchor: anchor.clone(),
                });
            }
            if path.len() == MAX_DEPTH {
                return Err(chain_err(format!("no trust anchor within {MAX_DEPTH} certificates")));
            }
            let next = chain[1..]
                .iter()
                .find(|c| {
                    c.subject_der == current.issuer_der
                        && !path.iter().any(|p| p.der() == c.der())
                        && current.is_signed_by(c)
                })
                .ok_or_else(|| {
                    chain_err(format!(
                        "no issuer for {} (issuer {}) in the chain or the trust list",
                        current.subject, current.issuer
                    ))
                })?;
            check_issuer(next, path.len() - 1)?;
            path.push(next);
        }
    }
}

fn check_cert(c: &Certificate, at: i64) -> Result<(), ShakenError> {
    if !c.valid_at(at) {
        return Err(chain_err(format!("{} is not valid at {at} ({}..{})", c.subject, c.not_before, c.not_after)));
    }
    if c.signature_algorithm != ECDSA_WITH_SHA256 && c.signature_algorithm != ECDSA_WITH_SHA384 {
        return Err(chain_err(format!(
            "{} is signed with {}, not ECDSA with SHA-256 or SHA-384",
            c.subject, c.signature_algorithm
        )));
    }
    if let Some(oid) = c.unknown_critical.first() {
        return Err(chain_err(format!("{} has an unknown critical extension {oid}", c.subject)));
    }
    Ok(())
}

/// `issuer` signs a certificate with `below` CA certificates under it.
fn check_issuer(issuer: &Certificate, below: usize) -> Result<(), ShakenError> {
    if issuer.is_ca != Some(true) {
        return Err(chain_err(format!("{} issued a certificate but is not a CA", issuer.subject)));
    }
    if let Some((_, cert_sign, _)) = issuer.key_usage
        && !cert_sign
    {
        return Err(chain_err(format!("{}: keyUsage lacks keyCertSign", issuer.subject)));
    }
    if let Some(limit) = issuer.path_len
        && below > limit as usize
    {
        return Err(chain_err(format!("{}: pathLenConstraint {limit} exceeded", issuer.subject)));
    }
    Ok(())
}

/// A chain that validated: the path from the leaf up (anchor excluded) and the anchor.
#[derive(Debug, Clone)]
pub struct ValidatedChain {
    /// Leaf first, then the intermediates used.
    pub certificates: Vec<Certificate>,
    /// The trust anchor reached.
    pub anchor: Certificate,
}

impl ValidatedChain {
    /// The end-entity certificate.
    pub fn leaf(&self) -> &Certificate {
        &self.certificates[0]
    }
}
