//! Chain and CRL validation against the development PKI and the libstirshaken vectors.
#![allow(clippy::unwrap_used)]

use vouch_shaken::devca::DevCa;
use vouch_shaken::passport::{Claims, Destination, Origin, PPT_SHAKEN, PassportHeader};
use vouch_shaken::{Attestation, Certificate, IdentityHeader, Passport, ShakenError, SigningKey, Tn, TrustStore};

const NOW: i64 = 1_790_000_000; // 2026-09-21
const CRL_URL: &str = "http://127.0.0.1:8080/crl";

fn vectors(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/../../tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn pem(s: &str) -> Vec<Certificate> {
    Certificate::chain_from_pem(s.as_bytes()).unwrap()
}

fn trust(ca: &DevCa) -> TrustStore {
    let mut t = TrustStore::new();
    t.add_anchor(pem(&ca.root_pem).remove(0)).unwrap();
    t.add_crl_signer(pem(&ca.crl_signer_pem).remove(0)).unwrap();
    t
}

#[test]
fn an_issued_certificate_validates_and_signs_verifiable_passports() {
    let ca = DevCa::init(NOW, CRL_URL).unwrap();
    let issued = ca.issue("1234", NOW, 365, CRL_URL).unwrap();
    let chain = pem(&issued.chain_pem);
    assert_eq!(chain.len(), 2);
    let v = trust(&ca).validate(&chain, NOW, false).unwrap();
    assert_eq!(v.leaf().spc().unwrap(), "1234");
    assert_eq!(v.leaf().subject, chain[0].subject);
    assert!(v.leaf().subject.contains("CN=SHAKEN 1234"), "{}", v.leaf().subject);

    let key = SigningKey::from_pem(issued.key_pem.as_bytes()).unwrap();
    let x5u = "https://cert.example.org/1234.pem";
    let claims = Claims {
        attest: Some(Attestation::A),
        dest: Destination { tn: vec![Tn::canonicalize("+1 212 555 1213").unwrap()], uri: vec![] },
        iat: NOW,
        orig: Origin::Tn(Tn::canonicalize("+12155551212").unwrap()),
        origid: Some("123e4567-e89b-12d3-a456-426655440000".into()),
        rcd: None,
        crn: None,
        div: None,
    };
    let token = key.sign(&PassportHeader { ppt: Some(PPT_SHAKEN.into()), x5u: x5u.into() }, &claims).unwrap();
    let header = IdentityHeader::parse(&IdentityHeader::shaken(token, x5u).to_string()).unwrap();
    let p = Passport::decode(&header.passport).unwrap();
    p.verify_signature(&v.leaf().verifying_key().unwrap()).unwrap();
}

#[test]
fn validity_trust_and_issuer_failures_are_unsupported_credential() {
    let ca = DevCa::init(NOW, CRL_URL).unwrap();
    let chain = pem(&ca.issue("1234", NOW, 30, CRL_URL).unwrap().chain_pem);
    let t = trust(&ca);
    for at in [NOW - 2 * 3600, NOW + 31 * 86400] {
        let e = t.validate(&chain, at, false).unwrap_err();
        assert_eq!(e.sip_reason().code, 437, "{e}");
    }
    // Another PKI's root does not anchor it.
    let other = DevCa::init(NOW, CRL_URL).unwrap();
    let e = trust(&other).validate(&chain, NOW, false).unwrap_err();
    assert!(matches!(e, ShakenError::Chain(_)), "{e}");
    // Without the intermediate the path stops.
    assert!(t.validate(&chain[..1], NOW, false).is_err());
    // A leaf claiming our intermediate's name but signed by another one's key.
    let forged = pem(&other.issue("1234", NOW, 30, CRL_URL).unwrap().chain_pem);
    assert!(t.validate(&[forged[0].clone(), chain[1].clone()], NOW, false).is_err());
    // A CA certificate is not an end-entity.
    assert!(t.validate(&chain[1..], NOW, false).is_err());
}

#[test]
fn indirect_crls_from_the_crl_signer_revoke() {
    let ca = DevCa::init(NOW, CRL_URL).unwrap();
    let good = ca.issue("1111", NOW, 365, CRL_URL).unwrap();
    let bad = ca.issue("2222", NOW, 365, CRL_URL).unwrap();
    let mut t = trust(&ca);
    // Required but absent.
    assert!(t.validate(&pem(&good.chain_pem), NOW, true).is_err());
    let crl = ca.crl(std::slice::from_ref(&bad.serial_hex), NOW, 7, 1).unwrap();
    assert_eq!(t.add_crl_der(&crl, NOW).unwrap().len(), 1);
    t.validate(&pem(&good.chain_pem), NOW, true).unwrap();
    let e = t.validate(&pem(&bad.chain_pem), NOW, true).unwrap_err();
    assert!(matches!(e, ShakenError::Revoked { .. }), "{e}");
    assert_eq!(e.sip_reason().code, 437);
    // What a signer checks of its own chain: revocation only.
    t.check_not_revoked(&pem(&good.chain_pem)).unwrap();
    assert_eq!(t.check_not_revoked(&pem(&bad.chain_pem)), Err(e));
    assert!(trust(&ca).check_not_revoked(&pem(&bad.chain_pem)).is_ok(), "without the CRL nothing is revoked");
    // A CRL past its nextUpdate, or signed by someone else, is refused.
    assert!(trust(&ca).add_crl_der(&crl, NOW + 8 * 86400).is_err());
    let other = DevCa::init(NOW, CRL_URL).unwrap();
    assert!(trust(&ca).add_crl_der(&other.crl(&[], NOW, 7, 1).unwrap(), NOW).is_err());
    assert!(trust(&ca).add_crl_der(b"not a crl", NOW).is_err());
}

#[test]
fn libstirshaken_tokens_verify_with_its_certificate_but_its_tnauthlist_is_not_rfc_8226() {
    let sp = Certificate::chain_from_pem(&vectors("libstirshaken/sp.pem")).unwrap();
    let ca = Certificate::chain_from_pem(&vectors("libstirshaken/ca.pem")).unwrap();
    let tokens: serde_json::Value = serde_json::from_slice(&vectors("libstirshaken/tokens.json")).unwrap();
    let iat = tokens["iat"].as_i64().unwrap();
    let mut t = TrustStore::new();
    t.add_anchor(ca[0].clone()).unwrap();
    let v = t.validate(&sp, iat + 1, false).unwrap();
    assert!(v.leaf().spc().is_err(), "sp.pem's TNAuthList holds a URL string, not RFC 8226 DER");
    let key = sp[0].verifying_key().unwrap();
    let headers = tokens["identity_headers"].as_array().unwrap();
    for h in headers {
        let h = IdentityHeader::parse(h.as_str().unwrap()).unwrap();
        h.require_shaken().unwrap();
        let p = Passport::decode(&h.passport).unwrap();
        p.require_shaken().unwrap();
        assert_eq!(p.header().x5u, h.info);
        p.verify_signature(&key).unwrap();
        p.check_freshness(iat + 1, 60).unwrap();
        assert_eq!(p.check_freshness(iat + 3600, 60).unwrap_err().sip_reason().code, 403);
        // Tampering with any part breaks it.
        let mut tampered = h.passport.clone().into_bytes();
        let i = tampered.len() / 2;
        tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        match Passport::decode(&tampered) {
            Ok(p) => assert_eq!(p.verify_signature(&key), Err(ShakenError::BadSignature)),
            Err(e) => assert_eq!(e.sip_reason().code, 438),
        }
    }
    for p in tokens["passports"].as_array().unwrap() {
        Passport::decode(p.as_str().unwrap()).unwrap().verify_signature(&key).unwrap();
    }
    let wrong = Certificate::chain_from_pem(&vectors("libstirshaken/wrongsp.pem")).unwrap();
    assert!(t.validate(&wrong, iat + 1, false).is_err());
    // passport.txt: validly signed, but its claims are strings.
    let text = String::from_utf8(vectors("libstirshaken/passport.txt")).unwrap();
    let e = Passport::decode(text.trim()).unwrap_err();
    assert_eq!(e.sip_reason().code, 438, "{e}");
}

#[test]
fn the_verification_procedure_gives_each_failure_its_reason() {
    use vouch_shaken::{VerifyOptions, Verstat, verify_identity};
    let ca = DevCa::init(NOW, CRL_URL).unwrap();
    let issued = ca.issue("1234", NOW, 365, CRL_URL).unwrap();
    let chain = pem(&issued.chain_pem);
    let t = trust(&ca);
    let key = SigningKey::from_pem(issued.key_pem.as_bytes()).unwrap();
    let x5u = "https://cert.example.org/1234.pem";
    let claims = Claims {
        attest: Some(Attestation::B),
        dest: Destination { tn: vec![Tn::canonicalize("12125551213").unwrap()], uri: vec![] },
        iat: NOW,
        orig: Origin::Tn(Tn::canonicalize("12155551212").unwrap()),
        origid: Some("123e4567-e89b-12d3-a456-426655440000".into()),
        rcd: None,
        crn: None,
        div: None,
    };
    let token = key.sign(&PassportHeader { ppt: Some(PPT_SHAKEN.into()), x5u: x5u.into() }, &claims).unwrap();
    let good = IdentityHeader::shaken(token.clone(), x5u).to_string();
    let mut opts = VerifyOptions::at(NOW + 5);
    opts.orig = Some(Tn::canonicalize("+1 215 555 1212").unwrap());
    opts.dest = vec![Tn::canonicalize("+1 212 555 1213").unwrap()];
    let v = verify_identity(&good, &chain, &t, &opts).unwrap();
    assert_eq!((v.attest, v.spc.as_str()), (Attestation::B, "1234"));

    let code = |identity: &str, chain: &[Certificate], opts: &VerifyOptions| {
        let e = verify_identity(identity, chain, &t, opts).unwrap_err();
        (e.sip_reason().code, e.verstat())
    };
    let other_key = SigningKey::generate().unwrap();
    let forged = other_key.sign(&PassportHeader { ppt: Some(PPT_SHAKEN.into()), x5u: x5u.into() }, &claims).unwrap();
    assert_eq!(code(&IdentityHeader::shaken(forged, x5u).to_string(), &chain, &opts), (438, Verstat::Failed));
    assert_eq!(
        code(&IdentityHeader::shaken(token.clone(), "https://elsewhere.example/c.pem").to_string(), &chain, &opts).0,
        436
    );
    assert_eq!(code(&format!("{token};info=<{x5u}>;alg=ES256;ppt=div"), &chain, &opts).0, 438);
    assert_eq!(code(&token, &chain, &opts).0, 436);
    let late = VerifyOptions { now: NOW + 61, ..opts.clone() };
    assert_eq!(code(&good, &chain, &late), (403, Verstat::NoValidation));
    let wrong_caller = VerifyOptions { orig: Some(Tn::canonicalize("12155550000").unwrap()), ..opts.clone() };
    assert_eq!(code(&good, &chain, &wrong_caller).0, 438);
    let wrong_callee = VerifyOptions { dest: vec![Tn::canonicalize("12125550000").unwrap()], ..opts.clone() };
    assert_eq!(code(&good, &chain, &wrong_callee).0, 438);
    // A call to several numbers: one of them among the PASSporT's is enough, in any position.
    let tn = |s: &str| Tn::canonicalize(s).unwrap();
    let several = VerifyOptions { dest: vec![tn("12125550000"), tn("12125551213")], ..opts.clone() };
    verify_identity(&good, &chain, &t, &several).unwrap();
    let none = VerifyOptions { dest: vec![tn("12125550000"), tn("12125550001")], ..opts.clone() };
    let e = verify_identity(&good, &chain, &t, &none).unwrap_err();
    assert!(
        matches!(&e, ShakenError::NumberMismatch { claim: "dest.tn", call, .. } if call == "12125550000,12125550001"),
        "{e}"
    );
    let other_ca = DevCa::init(NOW, CRL_URL).unwrap();
    let untrusted = pem(&other_ca.issue("1234", NOW, 365, CRL_URL).unwrap().chain_pem);
    assert_eq!(code(&good, &untrusted, &opts), (437, Verstat::Failed));
}

#[test]
fn verification_fails_security_profile_rules_and_reports_cosmetic_ones() {
    let cert = |name: &str| Certificate::chain_from_pem(&vectors(&format!("shaken-certs/{name}"))).unwrap();
    // A P-384 leaf key (and its key usage) are security failures even in lenient mode.
    let e = vouch_shaken::lint_path(&cert("shakenKeyAlgP384.pem")).unwrap_err();
    assert_eq!(e.sip_reason().code, 437, "{e}");
    assert!(e.to_string().contains("SHAKEN profile rule e_atis_"), "{e}");
    let lenient = vouch_shaken::lint::LintMode::Lenient;
    let r = vouch_shaken::lint::lint_der(cert("shakenKeyAlgP384.pem")[0].der(), lenient).unwrap();
    assert!(r.failures().any(|f| f.rule == "e_atis_subject_public_key"));
    // A cosmetic failure (no serialNumber attribute) is only a warning when verifying.
    let strict = vouch_shaken::lint::LintMode::Strict;
    let no_sn = cert("shakenSubjectWithoutSerialNumber.pem");
    let r = vouch_shaken::lint::lint_der(no_sn[0].der(), strict).unwrap();
    assert!(r.failures().any(|f| f.rule == "e_us_cp_subject_sn"));
    let r = vouch_shaken::lint::lint_der(no_sn[0].der(), lenient).unwrap();
    assert!(r.failures().all(|f| f.rule != "e_us_cp_subject_sn"));
    assert!(r.warnings().any(|f| f.rule == "e_us_cp_subject_sn"));
    // Development certificates pass the strict profile outright.
    let ca = DevCa::init(NOW, CRL_URL).unwrap();
    let chain = pem(&ca.issue("1234", NOW, 365, CRL_URL).unwrap().chain_pem);
    for c in chain.iter().chain(&pem(&ca.root_pem)) {
        let r = vouch_shaken::lint::lint_der(c.der(), vouch_shaken::lint::LintMode::Strict).unwrap();
        assert!(r.passed(), "{}: {:?}", c.subject, r.failures().collect::<Vec<_>>());
    }
    assert!(vouch_shaken::lint_path(&chain).unwrap().is_empty());
}

#[test]
fn crls_count_only_while_in_effect_and_newer_ones_replace_older() {
    let ca = DevCa::init(NOW, CRL_URL).unwrap();
    let bad = ca.issue("2222", NOW, 365, CRL_URL).unwrap();
    let chain = pem(&bad.chain_pem);
    let mut t = trust(&ca);
    t.add_crl_der(&ca.crl(std::slice::from_ref(&bad.serial_hex), NOW, 7, 1).unwrap(), NOW).unwrap();
    // Past the CRL's nextUpdate the revocation still stands…
    assert!(matches!(t.validate(&chain, NOW + 8 * 86400, true), Err(ShakenError::Revoked { .. })));
    let good = pem(&ca.issue("1111", NOW, 365, CRL_URL).unwrap().chain_pem);
    // …but it no longer proves that other certificates are not revoked.
    t.validate(&good, NOW + 86400, true).unwrap();
    assert!(t.validate(&good, NOW + 8 * 86400, true).is_err());
    // A newer CRL from the same signer replaces the older one.
    t.add_crl_der(&ca.crl(&[], NOW + 600, 7, 2).unwrap(), NOW + 600).unwrap();
    assert_eq!(t.crls().len(), 1);
    t.validate(&chain, NOW + 700, true).unwrap();
}

#[test]
fn names_compare_as_rfc_5280_says() {
    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut v = vec![tag, content.len() as u8];
        v.extend_from_slice(content);
        v
    }
    let name = |string_tag: u8, text: &str| {
        let atv = tlv(0x30, &[tlv(0x06, &[0x55, 0x04, 0x03]), tlv(string_tag, text.as_bytes())].concat());
        tlv(0x30, &tlv(0x31, &atv))
    };
    let printable = vouch_shaken::cert::name_key_of_der(&name(0x13, "STI-PA CRL")).unwrap();
    let utf8 = vouch_shaken::cert::name_key_of_der(&name(0x0c, "  sti-pa   crl ")).unwrap();
    assert_eq!(printable, utf8);
    assert_ne!(printable, vouch_shaken::cert::name_key_of_der(&name(0x13, "STI-PA CRL 2")).unwrap());
    assert_eq!(vouch_shaken::cert::serial_key(&[0, 0, 0x80, 1]), &[0x80, 1]);
    assert_eq!(vouch_shaken::cert::serial_key(&[0]), &[0]);
}

#[test]
fn certificates_write_back_to_the_pem_they_came_from() {
    let ca = DevCa::init(NOW, CRL_URL).unwrap();
    let issued = ca.issue("1234", NOW, 365, CRL_URL).unwrap();
    let chain = pem(&issued.chain_pem);
    let written: String = chain.iter().map(Certificate::to_pem).collect();
    let normalise = |s: &str| s.replace("\r\n", "\n");
    assert_eq!(normalise(&written), normalise(&issued.chain_pem));
    let back = pem(&written);
    assert_eq!(
        back.iter().map(|c| c.der().to_vec()).collect::<Vec<_>>(),
        chain.iter().map(|c| c.der().to_vec()).collect::<Vec<_>>()
    );
}

/// DER TLV with a short definite length (test helper; contents under 128 bytes).
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    assert!(content.len() < 0x80);
    [&[tag, content.len() as u8][..], content].concat()
}

/// An STI-CA intermediate under `ca`'s root whose CRL distribution point is a URI only, without
/// `cRLIssuer` (the ATIS-1000080 v003 form), with `ca`'s intermediate swapped for it.
fn ca_without_crl_issuer(ca: &DevCa) -> (DevCa, String) {
    use rcgen::{BasicConstraints, CertificateParams, CustomExtension, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
    let root_key = KeyPair::from_pem(&ca.root_key_pem).unwrap();
    let root = Issuer::from_ca_cert_pem(&ca.root_pem, root_key).unwrap();
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CountryName, "US");
    p.distinguished_name.push(DnType::OrganizationName, "v003 STI-CA");
    p.distinguished_name.push(DnType::CommonName, "v003 SHAKEN CA");
    p.serial_number = Some(rcgen::SerialNumber::from_slice(&[0x41, 2, 3, 4, 5, 6, 7, 8, 9]));
    p.not_before = time::OffsetDateTime::from_unix_timestamp(NOW - 3600).unwrap();
    p.not_after = time::OffsetDateTime::from_unix_timestamp(NOW + 365 * 86400).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    p.use_authority_key_identifier_extension = true;
    let uri_only = tlv(0x30, &tlv(0x30, &tlv(0xA0, &tlv(0xA0, &tlv(0x86, CRL_URL.as_bytes())))));
    p.custom_extensions = vec![CustomExtension::from_oid_content(&[2, 5, 29, 31], uri_only)];
    let cert = p.signed_by(&key, &root).unwrap();
    let serial_hex = vouch_shaken::hex(&[0x41, 2, 3, 4, 5, 6, 7, 8, 9]);
    (DevCa { ca_pem: cert.pem(), ca_key_pem: key.serialize_pem(), ..ca.clone() }, serial_hex)
}

#[test]
fn the_sti_pa_crl_revokes_an_sti_ca_whose_distribution_point_does_not_name_it() {
    let ca = DevCa::init(NOW, CRL_URL).unwrap();
    let (v003, ca_serial) = ca_without_crl_issuer(&ca);
    let chain = pem(&v003.issue("1234", NOW, 365, CRL_URL).unwrap().chain_pem);
    assert!(chain[1].crl_distribution_points.iter().all(|dp| dp.crl_issuers.is_empty()));
    let mut t = trust(&ca);
    t.validate(&chain, NOW, false).unwrap();
    // The STI-PA CRL (signed by the CRL signer) lists the STI-CA: the path is refused.
    t.add_crl_der(&ca.crl(std::slice::from_ref(&ca_serial), NOW, 7, 1).unwrap(), NOW).unwrap();
    let e = t.validate(&chain, NOW, false).unwrap_err();
    assert!(matches!(&e, ShakenError::Revoked { subject, .. } if subject.contains("v003 SHAKEN CA")), "{e}");
    assert_eq!(e.sip_reason().code, 437);
    assert!(t.check_not_revoked(&chain).is_err());
    // A STI-PA CRL that does not list it covers the whole path (--require-crl).
    let mut t = trust(&ca);
    t.add_crl_der(&ca.crl(&[], NOW, 7, 2).unwrap(), NOW).unwrap();
    t.validate(&chain, NOW, true).unwrap();
}

/// A call diverted twice (RFC 8946): each div PASSporT verifies with its own signer, the chain
/// links back from the call's target to the SHAKEN PASSporT's `dest`, and one from another
/// call, a stale one or one with another caller does not link.
#[test]
fn div_passports_verify_and_link_a_diverted_call_back_to_its_first_destination() {
    use vouch_shaken::passport::PPT_DIV;
    use vouch_shaken::{
        Diversion, DiversionChain, TrustedSigner, VerifyOptions, decode_div_identity, decode_identity,
        verify_div_with_signer, verify_with_signer,
    };
    let tn = |s: &str| Tn::canonicalize(s).unwrap();
    let ca = DevCa::init(NOW, CRL_URL).unwrap();
    let t = trust(&ca);
    let origin = ca.issue("111A", NOW, 365, CRL_URL).unwrap();
    let forwarder = ca.issue("222B", NOW, 365, CRL_URL).unwrap();
    let signer = |issued: &vouch_shaken::devca::IssuedCertificate| {
        (
            SigningKey::from_pem(issued.key_pem.as_bytes()).unwrap(),
            TrustedSigner::validate(&pem(&issued.chain_pem), &t, NOW, false).unwrap(),
        )
    };
    let (origin_key, origin_signer) = signer(&origin);
    let (fwd_key, fwd_signer) = signer(&forwarder);
    let (orig, d0, d1, d2) = (tn("12155551212"), tn("12125551213"), tn("13035550100"), tn("14155550199"));
    let shaken = Claims {
        attest: Some(Attestation::A),
        dest: Destination { tn: vec![d0.clone()], uri: vec![] },
        iat: NOW,
        orig: Origin::Tn(orig.clone()),
        origid: Some("123e4567-e89b-12d3-a456-426655440000".into()),
        rcd: None,
        crn: None,
        div: None,
    };
    let x5u = "https://cert.example.org/111A.pem";
    let token = origin_key.sign(&PassportHeader { ppt: Some(PPT_SHAKEN.into()), x5u: x5u.into() }, &shaken).unwrap();
    let shaken_header = IdentityHeader::shaken(token, x5u).to_string();
    let div = |from: &Tn, to: &Tn, caller: &Tn, iat: i64| {
        let claims = Claims {
            attest: None,
            dest: Destination { tn: vec![to.clone()], uri: vec![] },
            iat,
            orig: Origin::Tn(caller.clone()),
            origid: None,
            rcd: None,
            crn: None,
            div: Some(Origin::Tn(from.clone())),
        };
        let x5u = "https://cert.example.org/222B.pem";
        let token = fwd_key.sign(&PassportHeader { ppt: Some(PPT_DIV.into()), x5u: x5u.into() }, &claims).unwrap();
        IdentityHeader::div(token, x5u).to_string()
    };
    let mut opts = VerifyOptions::at(NOW + 10);
    opts.orig = Some(orig.clone());
    let verify_div = |header: &str| {
        let (_, p) = decode_div_identity(header, &opts)?;
        verify_div_with_signer(p, &fwd_signer, &opts)
    };
    // The headers as written: ppt=div, decoded as a div PASSporT and nothing else.
    let first = div(&d0, &d1, &orig, NOW + 5);
    assert!(first.ends_with(";alg=ES256;ppt=div"), "{first}");
    assert_eq!(decode_identity(&first, &opts).unwrap_err().sip_reason().code, 438, "a div is not a SHAKEN PASSporT");
    assert_eq!(decode_div_identity(&shaken_header, &opts).unwrap_err().sip_reason().code, 438);
    let hop1 = verify_div(&first).unwrap();
    let hop2 = verify_div(&div(&d1, &d2, &orig, NOW + 8)).unwrap();
    assert_eq!((hop1.from.clone(), hop1.to.clone(), hop1.spc.as_str()), (d0.clone(), vec![d1.clone()], "222B"));
    // Stale, another caller, forged: refused with their RFC 8224 codes.
    assert_eq!(verify_div(&div(&d0, &d1, &orig, NOW - 61)).unwrap_err().sip_reason().code, 403);
    assert_eq!(verify_div(&div(&d0, &d1, &tn("12155550000"), NOW)).unwrap_err().sip_reason().code, 438);
    let (_, p) = decode_div_identity(&first, &opts).unwrap();
    assert_eq!(verify_div_with_signer(p, &origin_signer, &opts).unwrap_err().sip_reason().code, 438);

    // Linked from the target d2, in either order: d2 <- d1 <- d0, so the SHAKEN dest d0 passes.
    let unrelated = verify_div(&div(&tn("16465550000"), &tn("17185550000"), &orig, NOW)).unwrap();
    for hops in [vec![hop1.clone(), hop2.clone(), unrelated.clone()], vec![unrelated, hop2.clone(), hop1.clone()]] {
        let chain = DiversionChain::link(std::slice::from_ref(&d2), hops);
        let ok = VerifyOptions { dest: chain.acceptable_destinations(), ..opts.clone() };
        let (_, p) = decode_identity(&shaken_header, &ok).unwrap();
        let v = verify_with_signer(p, &origin_signer, &ok).unwrap();
        assert_eq!(v.spc, "111A");
        let path: Vec<(Tn, Vec<Tn>)> = chain.path(&d0, &d2).iter().map(|d| (d.from.clone(), d.to.clone())).collect();
        assert_eq!(path, vec![(d0.clone(), vec![d1.clone()]), (d1.clone(), vec![d2.clone()])]);
        assert!(chain.path(&d2, &d2).is_empty(), "a target needs no diversion");
        assert_eq!(chain.path(&d1, &d2).len(), 1);
        assert!(!chain.acceptable_destinations().iter().any(|d| d.as_str() == "16465550000"), "not this call's");
    }
    // A loop and a dead end on the way (d0 -> [d9, d1], d9 -> d0, d1 -> d2): the path still
    // goes d0 -> d1 -> d2, breadth first.
    let d9 = tn("12125559999");
    let fork = Diversion { to: vec![d9.clone(), d1.clone()], ..hop1.clone() };
    let back = Diversion { from: d9.clone(), to: vec![d0.clone()], ..hop1.clone() };
    let chain = DiversionChain::link(std::slice::from_ref(&d2), vec![back, fork, hop2.clone()]);
    let path: Vec<Tn> = chain.path(&d0, &d2).iter().map(|d| d.from.clone()).collect();
    assert_eq!(path, vec![d0.clone(), d1.clone()]);
    // National and global forms of a number are one number along the way.
    let national = Diversion { from: tn("2125551213"), ..hop1.clone() };
    let chain = DiversionChain::link(std::slice::from_ref(&d2), vec![national, hop2.clone()]);
    assert_eq!(chain.path(&d0, &d2).len(), 2);

    // The second hop missing: d2 does not lead back to d0, and the SHAKEN PASSporT is the
    // wrong number's (438).
    let broken = DiversionChain::link(std::slice::from_ref(&d2), vec![hop1]);
    let bad = VerifyOptions { dest: broken.acceptable_destinations(), ..opts.clone() };
    let (_, p) = decode_identity(&shaken_header, &bad).unwrap();
    assert_eq!(verify_with_signer(p, &origin_signer, &bad).unwrap_err().sip_reason().code, 438);
}
