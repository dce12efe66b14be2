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
use crate::cert::{Certificate, ECDSA_WITH_SHA256, ECDSA_WITH_SHA384, name_key, name_key_of_der, serial_key};

/// Longest path accepted (leaf, intermediates, anchor).
const MAX_DEPTH: usize = 5;
/// Most entries read from one CRL.
const MAX_CRL_ENTRIES: usize = 1_000_000;
/// The certificateIssuer CRL entry extension.
const CERTIFICATE_ISSUER_OID: &str = "2.5.29.29";

fn chain_err(detail: impl Into<String>) -> ShakenError {
    ShakenError::Chain(detail.into())
}

/// A revoked certificate: its serial (minimal form) and, when the CRL says (certificateIssuer),
/// its issuer's [`name_key`].
#[derive(Debug, Clone, PartialEq, Eq)]
struct Revoked {
    serial: Vec<u8>,
    issuer: Option<String>,
}

/// A CRL whose signature has been checked against a trusted certificate.
#[derive(Debug, Clone)]
pub struct Crl {
    /// The CRL issuer's [`name_key`].
    issuer_key: String,
    /// The CRL issuer, as text.
    pub issuer: String,
    /// thisUpdate, Unix seconds.
    pub this_update: i64,
    /// nextUpdate, Unix seconds.
    pub next_update: Option<i64>,
    /// Whether the issuing distribution point says indirect.
    pub indirect: bool,
    /// Signed by a CRL signer of the trust list (the STI-PA's), not by an anchor: the SHAKEN
    /// revocation list, which applies to every certificate of every path (see
    /// [`TrustStore::add_crl_der`]).
    pub trust_list_wide: bool,
    /// The issuing distribution point limits it to end-entity certificates.
    user_certs_only: bool,
    /// The issuing distribution point limits it to CA certificates.
    ca_certs_only: bool,
    /// The issuing distribution point limits it to some revocation reasons.
    some_reasons_only: bool,
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

    /// Whether one of its entries revokes `cert` (an entry revokes even from a CRL that is
    /// partial or past its nextUpdate).
    fn revokes(&self, cert: &Certificate) -> bool {
        let serial = serial_key(&cert.serial);
        self.revoked.iter().any(|r| r.serial == serial && r.issuer.as_ref().is_none_or(|i| *i == cert.issuer_key))
    }

    /// Whether the CRL speaks for every revocation of `cert` at `at`: in effect, and not
    /// limited by its issuing distribution point to other certificates or some reasons.
    fn complete_for(&self, cert: &Certificate, at: i64) -> bool {
        let is_ca = cert.is_ca == Some(true);
        let expired = self.next_update.is_some_and(|n| at > n);
        let out_of_scope = (self.user_certs_only && is_ca) || (self.ca_certs_only && !is_ca);
        !expired && !self.some_reasons_only && !out_of_scope
    }
}

/// CRL extensions understood here (a critical one outside this list refuses the CRL).
const KNOWN_CRL_EXTENSIONS: [&str; 5] = [
    "2.5.29.20", // cRLNumber
    "2.5.29.35", // authorityKeyIdentifier
    "2.5.29.28", // issuingDistributionPoint
    "2.5.29.18", // issuerAltName
    "2.5.29.46", // freshestCRL
];
/// The deltaCRLIndicator: delta CRLs are not supported and are refused.
const DELTA_CRL_INDICATOR: &str = "2.5.29.27";
/// CRL entry extensions understood here.
const KNOWN_ENTRY_EXTENSIONS: [&str; 4] = [
    "2.5.29.21", // reasonCode
    "2.5.29.24", // invalidityDate
    "2.5.29.23", // holdInstructionCode
    CERTIFICATE_ISSUER_OID,
];

/// Reads the directoryName out of a certificateIssuer value (GeneralNames), as a name key.
fn directory_name(value: &[u8]) -> Option<String> {
    use der::{Decode, Tag, TagNumber, Tagged};
    let names: Vec<der::Any> = <Vec<der::Any> as Decode>::from_der(value).ok()?;
    names.into_iter().find_map(|n| {
        (n.tag() == Tag::ContextSpecific { constructed: true, number: TagNumber(4) })
            .then(|| name_key_of_der(n.value()))
            .flatten()
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

    /// Adds a certificate that signs CRLs (the STI-PA CRL signer): it must allow cRLSign and be
    /// signed by a trust anchor.
    pub fn add_crl_signer(&mut self, cert: Certificate) -> Result<(), ShakenError> {
        if !cert.key_usage.is_some_and(|(_, _, crl_sign)| crl_sign) {
            return Err(chain_err(format!("CRL signer {} has no keyUsage cRLSign", cert.subject)));
        }
        let trusted = self.anchors.iter().any(|a| a.subject_der == cert.issuer_der && cert.is_signed_by(a));
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
    /// is the CRL's issuer (a CRL signer, or an anchor whose keyUsage allows cRLSign), valid
    /// at `at`; the CRL must be in effect at `at`. Delta CRLs and unknown critical extensions
    /// are refused. A held CRL of the same issuer and scope with an earlier or equal thisUpdate is
    /// replaced. A CRL signed by a CRL signer (not by an anchor) is the STI-PA's: it applies to
    /// every certificate of every path, whatever its distribution points name.
    pub fn add_crl_der(&mut self, der: &[u8], at: i64) -> Result<&Crl, ShakenError> {
        let (rest, crl) = CertificateRevocationList::from_der(der).map_err(|e| chain_err(format!("not a CRL: {e}")))?;
        if !rest.is_empty() {
            return Err(chain_err("trailing bytes after the CRL"));
        }
        let issuer_key = name_key(crl.issuer());
        // (certificate, whether it is a CRL signer rather than an anchor)
        let candidates: Vec<(&Certificate, bool)> = self
            .crl_signers
            .iter()
            .map(|c| (c, true))
            .chain(
                self.anchors.iter().filter(|a| a.key_usage.is_none_or(|(_, _, crl_sign)| crl_sign)).map(|c| (c, false)),
            )
            .filter(|(c, _)| c.subject_key == issuer_key && c.valid_at(at))
            .collect();
        if candidates.is_empty() {
            return Err(chain_err(format!("no trusted CRL signer valid now for CRL issuer {}", crl.issuer())));
        }
        let verified_by = candidates.iter().find(|(signer, _)| {
            x509_parser::certificate::X509Certificate::from_der(signer.der())
                .is_ok_and(|(_, x)| crl.verify_signature(x.public_key()).is_ok())
        });
        let Some(&(_, trust_list_wide)) = verified_by else {
            return Err(chain_err(format!("the CRL's signature does not verify with any key of {}", crl.issuer())));
        };
        let this_update = crl.last_update().timestamp();
        let next_update = crl.next_update().map(|t| t.timestamp());
        if let Some(next) = next_update
            && next < at
        {
            return Err(chain_err(format!("the CRL from {} expired at {next} (now {at})", crl.issuer())));
        }
        let (mut indirect, mut user_certs_only, mut ca_certs_only, mut some_reasons_only) =
            (false, false, false, false);
        for e in crl.extensions() {
            let oid = e.oid.to_id_string();
            if oid == DELTA_CRL_INDICATOR {
                return Err(chain_err("delta CRLs are not supported"));
            }
            if e.critical && !KNOWN_CRL_EXTENSIONS.contains(&oid.as_str()) {
                return Err(chain_err(format!("the CRL has an unknown critical extension {oid}")));
            }
            if let ParsedExtension::IssuingDistributionPoint(idp) = e.parsed_extension() {
                indirect = idp.indirect_crl;
                user_certs_only = idp.only_contains_user_certs;
                ca_certs_only = idp.only_contains_ca_certs || idp.only_contains_attribute_certs;
                some_reasons_only = idp.only_some_reasons.is_some();
            }
        }
        let mut revoked = Vec::new();
        // RFC 5280 5.3.3: an entry without certificateIssuer belongs to the issuer of the entry
        // before it. Before any certificateIssuer the entries name no issuer: the STI-PA's CRL
        // lists serials of certificates from many STI-CAs that way, and a verifier matches
        // them by serial (serials are at least 64 random bits, ATIS-1000080).
        let mut current_issuer: Option<String> = None;
        for entry in crl.iter_revoked_certificates() {
            if revoked.len() == MAX_CRL_ENTRIES {
                return Err(chain_err(format!("more than {MAX_CRL_ENTRIES} entries")));
            }
            for ext in entry.extensions() {
                let oid = ext.oid.to_id_string();
                if ext.critical && !KNOWN_ENTRY_EXTENSIONS.contains(&oid.as_str()) {
                    return Err(chain_err(format!("a CRL entry has an unknown critical extension {oid}")));
                }
                if oid == CERTIFICATE_ISSUER_OID {
                    current_issuer = Some(
                        directory_name(ext.value)
                            .ok_or_else(|| chain_err("a certificateIssuer without a directoryName"))?,
                    );
                }
            }
            revoked.push(Revoked { serial: serial_key(entry.raw_serial()).to_vec(), issuer: current_issuer.clone() });
        }
        let new = Crl {
            issuer_key,
            issuer: crl.issuer().to_string(),
            this_update,
            next_update,
            indirect,
            trust_list_wide,
            user_certs_only,
            ca_certs_only,
            some_reasons_only,
            revoked,
        };
        // A newer CRL of the same issuer and scope replaces the one held.
        self.crls.retain(|c| {
            !(c.issuer_key == new.issuer_key
                && c.user_certs_only == new.user_certs_only
                && c.ca_certs_only == new.ca_certs_only
                && c.some_reasons_only == new.some_reasons_only
                && c.this_update <= new.this_update)
        });
        self.crls.push(new);
        self.crls.last().ok_or_else(|| chain_err("unreachable"))
    }

    /// The CRLs a store holds that speak for `cert`: its issuer's (a direct CRL), a
    /// `cRLIssuer`'s of its distribution points (an indirect CRL), names compared as RFC 5280
    /// section 7.1 says, and every CRL of a trust-list CRL signer (the STI-PA CRL). The STI-PA
    /// CRL is the SHAKEN revocation list of STI-CA certificates: it must revoke an STI-CA
    /// certificate whose distribution point does not name it as `cRLIssuer` too (ATIS-1000080
    /// v003 required no `cRLIssuer`, and some CAs leave it out), or a revoked STI-CA would pass.
    fn crls_for<'a>(&'a self, cert: &'a Certificate) -> impl Iterator<Item = &'a Crl> + 'a {
        self.crls.iter().filter(move |crl| {
            crl.trust_list_wide
                || crl.issuer_key == cert.issuer_key
                || cert.crl_distribution_points.iter().any(|dp| dp.crl_issuers.contains(&crl.issuer_key))
        })
    }

    fn check_revocation(&self, cert: &Certificate, at: i64, require_crl: bool) -> Result<(), ShakenError> {
        let mut covered = false;
        for crl in self.crls_for(cert) {
            if crl.revokes(cert) {
                return Err(ShakenError::Revoked { subject: cert.subject.clone(), crl_issuer: crl.issuer.clone() });
            }
            covered |= crl.complete_for(cert, at);
        }
        if require_crl && !covered {
            return Err(chain_err(format!("no CRL in effect covers {} (issuer {})", cert.subject, cert.issuer)));
        }
        Ok(())
    }

    /// Fails with [`ShakenError::Revoked`] when a CRL the store holds revokes a certificate of
    /// `chain` (leaf first, then the intermediates), whatever the path: what a signer checks
    /// before it uses its own certificate, since every verifier holding the same CRLs refuses
    /// what it signs (437). Nothing else about the chain is checked.
    pub fn check_not_revoked(&self, chain: &[Certificate]) -> Result<(), ShakenError> {
        for cert in chain {
            if let Some(crl) = self.crls_for(cert).find(|crl| crl.revokes(cert)) {
                return Err(ShakenError::Revoked { subject: cert.subject.clone(), crl_issuer: crl.issuer.clone() });
            }
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
            self.check_revocation(current, at, require_crl)?;
            // Among several anchors of the same name (a re-issued root), one valid at `at`.
            let signed_by = |a: &&Certificate| a.subject_der == current.issuer_der && current.is_signed_by(a);
            let matching: Vec<&Certificate> = self.anchors.iter().filter(signed_by).collect();
            if let Some(anchor) = matching.iter().find(|a| a.valid_at(at)) {
                check_issuer(anchor, path.len() - 1)?;
                return Ok(ValidatedChain {
                    certificates: path.into_iter().cloned().collect(),
                    anchor: (*anchor).clone(),
                });
            }
            if let Some(anchor) = matching.first() {
                return Err(chain_err(format!(
                    "trust anchor {} is not valid at {at} ({}..{})",
                    anchor.subject, anchor.not_before, anchor.not_after
                )));
            }
            if path.len() == MAX_DEPTH {
                return Err(chain_err(format!("no trust anchor within {MAX_DEPTH} certificates")));
            }
            let next = chain[1..]
                .iter()
                .filter(|c| {
                    c.subject_der == current.issuer_der
                        && !path.iter().any(|p| p.der() == c.der())
                        && current.is_signed_by(c)
                })
                .min_by_key(|c| !c.valid_at(at))
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
