//! A development SHAKEN PKI, **for tests and demonstrations only**: a root standing for the
//! STI-PA trust anchor, an STI-CA intermediate, a CRL signer standing for the STI-PA's CRL
//! issuer, and end-entity certificates for an SPC that pass the strict SHAKEN profile. Every
//! name says `DEVELOPMENT`; none of it is trusted anywhere but where an operator installs it.
//!
//! The shape follows ATIS-1000080 and the US SHAKEN CP: P-256 keys, ecdsa-with-SHA256, 64-bit+
//! random serials, SKI as the SHA-1 of the key, AKI, critical basicConstraints and keyUsage,
//! CP 1.3 policy OID on the intermediate and leaf, a CRL distribution point whose `cRLIssuer`
//! is the CRL signer (an indirect CRL, as the STI-PA's), and `CN=SHAKEN <SPC>` with the SPC as
//! the leaf's only TNAuthList entry.

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CustomExtension, DistinguishedName, DnType,
    DnValue, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, RevokedCertParams,
    SerialNumber,
};
use time::OffsetDateTime;

use crate::{ShakenError, TnAuthList, hex};

/// The US SHAKEN CP 1.3 policy OID.
pub const CP_1_3: &str = "2.16.840.1.114569.1.1.3";

fn ca_err(e: impl std::fmt::Display) -> ShakenError {
    ShakenError::Certificate(format!("development CA: {e}"))
}

fn time_of(unix: i64) -> Result<OffsetDateTime, ShakenError> {
    OffsetDateTime::from_unix_timestamp(unix).map_err(ca_err)
}

/// DER TLV with a definite length.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

fn oid_der(oid: &str) -> Result<Vec<u8>, ShakenError> {
    use der::Encode;
    der::asn1::ObjectIdentifier::new(oid).map_err(ca_err)?.to_der().map_err(ca_err)
}

/// certificatePolicies with one policy OID.
fn policies_extension(oid: &str) -> Result<CustomExtension, ShakenError> {
    let value = tlv(0x30, &tlv(0x30, &oid_der(oid)?));
    Ok(CustomExtension::from_oid_content(&[2, 5, 29, 32], value))
}

/// cRLDistributionPoints: one point, an http URI, and the CRL issuer's Name.
fn crl_dp_extension(url: &str, crl_issuer_name_der: &[u8]) -> CustomExtension {
    let full_name = tlv(0xA0, &tlv(0x86, url.as_bytes()));
    let dp_name = tlv(0xA0, &full_name);
    let crl_issuer = tlv(0xA2, &tlv(0xA4, crl_issuer_name_der));
    let point = tlv(0x30, &[dp_name, crl_issuer].concat());
    CustomExtension::from_oid_content(&[2, 5, 29, 31], tlv(0x30, &point))
}

fn random_serial() -> Result<SerialNumber, ShakenError> {
    use aws_lc_rs::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::SystemRandom::new().fill(&mut bytes).map_err(|_| ca_err("no randomness"))?;
    bytes[0] = (bytes[0] & 0x7f) | 0x40; // positive, and at least 2^126: well over 64 bits
    Ok(SerialNumber::from_slice(&bytes))
}

fn ski(key: &KeyPair) -> KeyIdMethod {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, key.public_key_raw());
    KeyIdMethod::PreSpecified(d.as_ref().to_vec())
}

fn name(cn: &str, serial_number: Option<&str>) -> Result<DistinguishedName, ShakenError> {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, DnValue::PrintableString("US".try_into().map_err(ca_err)?));
    dn.push(DnType::OrganizationName, "vouch DEVELOPMENT PKI - not for production");
    dn.push(DnType::CommonName, cn);
    if let Some(sn) = serial_number {
        dn.push(DnType::CustomDnType(vec![2, 5, 4, 5]), DnValue::PrintableString(sn.try_into().map_err(ca_err)?));
    }
    Ok(dn)
}

fn base_params(
    dn: DistinguishedName,
    key: &KeyPair,
    not_before: i64,
    not_after: i64,
) -> Result<CertificateParams, ShakenError> {
    let mut p = CertificateParams::new(Vec::<String>::new()).map_err(ca_err)?;
    p.distinguished_name = dn;
    p.serial_number = Some(random_serial()?);
    p.not_before = time_of(not_before)?;
    p.not_after = time_of(not_after)?;
    p.key_identifier_method = ski(key);
    p.use_authority_key_identifier_extension = true;
    Ok(p)
}

fn der_name_of(pem: &str) -> Result<Vec<u8>, ShakenError> {
    let certs = crate::Certificate::chain_from_pem(pem.as_bytes())?;
    certs.first().map(|c| c.subject_der.clone()).ok_or_else(|| ca_err("empty PEM"))
}

/// The development PKI's certificates and keys, as PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevCa {
    /// The root (trust anchor) certificate.
    pub root_pem: String,
    /// The root's key (PKCS#8).
    pub root_key_pem: String,
    /// The intermediate (STI-CA) certificate.
    pub ca_pem: String,
    /// The intermediate's key.
    pub ca_key_pem: String,
    /// The CRL signer's certificate (issued by the root).
    pub crl_signer_pem: String,
    /// The CRL signer's key.
    pub crl_signer_key_pem: String,
}

/// An end-entity certificate the development CA issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedCertificate {
    /// Leaf then intermediate: what to publish at the `x5u` URL.
    pub chain_pem: String,
    /// The leaf's private key (PKCS#8 PEM).
    pub key_pem: String,
    /// The leaf's serial number (hex).
    pub serial_hex: String,
}

impl DevCa {
    /// Creates a root (20 years), an intermediate (10 years) and a CRL signer (10 years)
    /// valid from `now` (Unix seconds) minus an hour; the intermediate's CRL is at `crl_url`.
    pub fn init(now: i64, crl_url: &str) -> Result<Self, ShakenError> {
        check_crl_url(crl_url)?;
        let from = now - 3600;
        let root_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(ca_err)?;
        let mut root =
            base_params(name("vouch DEVELOPMENT SHAKEN ROOT", None)?, &root_key, from, now + 20 * 365 * 86400)?;
        root.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        root.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        root.use_authority_key_identifier_extension = false;
        let root_cert = root.self_signed(&root_key).map_err(ca_err)?;
        let root_issuer = Issuer::new(root, &root_key);

        let crl_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(ca_err)?;
        let mut crl = base_params(name("vouch DEVELOPMENT STI-PA CRL", None)?, &crl_key, from, now + 10 * 365 * 86400)?;
        crl.is_ca = IsCa::ExplicitNoCa;
        crl.key_usages = vec![KeyUsagePurpose::CrlSign];
        let crl_cert = crl.signed_by(&crl_key, &root_issuer).map_err(ca_err)?;

        let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(ca_err)?;
        let mut ca = base_params(name("vouch DEVELOPMENT SHAKEN CA", None)?, &ca_key, from, now + 10 * 365 * 86400)?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
        ca.custom_extensions =
            vec![policies_extension(CP_1_3)?, crl_dp_extension(crl_url, &der_name_of(&crl_cert.pem())?)];
        let ca_cert = ca.signed_by(&ca_key, &root_issuer).map_err(ca_err)?;

        Ok(Self {
            root_pem: root_cert.pem(),
            root_key_pem: root_key.serialize_pem(),
            ca_pem: ca_cert.pem(),
            ca_key_pem: ca_key.serialize_pem(),
            crl_signer_pem: crl_cert.pem(),
            crl_signer_key_pem: crl_key.serialize_pem(),
        })
    }

    /// Issues an end-entity certificate for `spc`, valid from `now` minus an hour for `days`
    /// days, whose CRL is at `crl_url` (an http URL) and signed by the CRL signer.
    pub fn issue(&self, spc: &str, now: i64, days: u32, crl_url: &str) -> Result<IssuedCertificate, ShakenError> {
        if spc.is_empty() || spc.len() > 16 || !spc.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()) {
            return Err(ca_err(format!("SPC {spc:?} must be 1-16 digits or upper-case letters")));
        }
        check_crl_url(crl_url)?;
        let ca_key = KeyPair::from_pem(&self.ca_key_pem).map_err(ca_err)?;
        let issuer = Issuer::from_ca_cert_pem(&self.ca_pem, ca_key).map_err(ca_err)?;
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(ca_err)?;
        let serial_number = format!("vouch-dev-{spc}");
        let mut p = base_params(
            name(&format!("SHAKEN {spc}"), Some(&serial_number))?,
            &key,
            now - 3600,
            now + i64::from(days) * 86400,
        )?;
        p.is_ca = IsCa::ExplicitNoCa;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let mut tn = CustomExtension::from_oid_content(&[1, 3, 6, 1, 5, 5, 7, 1, 26], TnAuthList::spc(spc).to_der()?);
        tn.set_criticality(false);
        p.custom_extensions =
            vec![tn, policies_extension(CP_1_3)?, crl_dp_extension(crl_url, &der_name_of(&self.crl_signer_pem)?)];
        let serial_hex = p.serial_number.as_ref().map(|s| hex(s.as_ref())).unwrap_or_default();
        let cert = p.signed_by(&key, &issuer).map_err(ca_err)?;
        Ok(IssuedCertificate {
            chain_pem: format!("{}{}", cert.pem(), self.ca_pem),
            key_pem: key.serialize_pem(),
            serial_hex,
        })
    }

    /// A CRL signed by the CRL signer, revoking the given serials (hex, as in
    /// [`IssuedCertificate::serial_hex`]), valid from `now` for `days` days. DER.
    pub fn crl(&self, revoked_hex: &[String], now: i64, days: u32, crl_number: u64) -> Result<Vec<u8>, ShakenError> {
        let key = KeyPair::from_pem(&self.crl_signer_key_pem).map_err(ca_err)?;
        let issuer = Issuer::from_ca_cert_pem(&self.crl_signer_pem, key).map_err(ca_err)?;
        let mut revoked = Vec::new();
        for s in revoked_hex {
            revoked.push(RevokedCertParams {
                serial_number: SerialNumber::from_slice(&unhex(s)?),
                revocation_time: time_of(now)?,
                reason_code: None,
                invalidity_date: None,
            });
        }
        let params = CertificateRevocationListParams {
            this_update: time_of(now - 60)?,
            next_update: time_of(now + i64::from(days.max(1)) * 86400)?,
            crl_number: SerialNumber::from(crl_number),
            issuing_distribution_point: None,
            revoked_certs: revoked,
            key_identifier_method: KeyIdMethod::Sha256,
        };
        Ok(params.signed_by(&issuer).map_err(ca_err)?.der().to_vec())
    }
}

fn check_crl_url(url: &str) -> Result<(), ShakenError> {
    if (url.starts_with("http://") || url.starts_with("https://")) && !url.contains(char::is_whitespace) {
        Ok(())
    } else {
        Err(ca_err(format!("CRL URL {url:?} must be an http(s) URL")))
    }
}

fn unhex(s: &str) -> Result<Vec<u8>, ShakenError> {
    let s = s.trim();
    if s.is_empty() || !s.len().is_multiple_of(2) || s.len() > 40 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ca_err(format!("serial {s:?} is not 1-20 bytes of hex")));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|_| ca_err(format!("serial {s:?} is not hex"))))
        .collect()
}
