//! PASSporT signing and verification rates on one thread, for `benches/shaken.sh` (which runs
//! `openssl speed ecdsap256` beside it). Prints one `name rate` line per figure.
//!
//! `cargo bench -p vouch-shaken --bench sign_verify -- [SECONDS]`
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use vouch_shaken::devca::DevCa;
use vouch_shaken::passport::{Claims, Destination, Origin, PPT_DIV, PPT_SHAKEN, PassportHeader};
use vouch_shaken::{
    Attestation, Certificate, DiversionChain, IdentityHeader, Passport, SigningKey, Tn, TrustStore, TrustedSigner,
    VerifyOptions, decode_div_identity, decode_identity, verify_div_with_signer, verify_identity, verify_with_signer,
};

fn rate(name: &str, seconds: f64, mut f: impl FnMut()) {
    // Warm up, then count whole iterations until the time is up.
    for _ in 0..200 {
        f();
    }
    let limit = Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < limit {
        for _ in 0..100 {
            f();
        }
        n += 100;
    }
    println!("{name} {:.0}", n as f64 / start.elapsed().as_secs_f64());
}

fn main() {
    let seconds: f64 = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(3.0);
    let now = 1_790_000_000;
    let ca = DevCa::init(now, "http://127.0.0.1/crl").unwrap();
    let issued = ca.issue("1234", now, 365, "http://127.0.0.1/crl").unwrap();
    let chain = Certificate::chain_from_pem(issued.chain_pem.as_bytes()).unwrap();
    let mut trust = TrustStore::new();
    trust.add_anchor(Certificate::chain_from_pem(ca.root_pem.as_bytes()).unwrap().remove(0)).unwrap();
    let key = SigningKey::from_pem(issued.key_pem.as_bytes()).unwrap();
    let x5u = "https://cert.example.org/1234.pem".to_string();
    let header = PassportHeader { ppt: Some(PPT_SHAKEN.into()), x5u: x5u.clone() };
    let claims = Claims {
        attest: Some(Attestation::A),
        dest: Destination { tn: vec![Tn::from_canonical("12125551213").unwrap()], uri: vec![] },
        iat: now,
        orig: Origin::Tn(Tn::from_canonical("12155551212").unwrap()),
        origid: Some("123e4567-e89b-12d3-a456-426655440000".into()),
        rcd: None,
        crn: None,
        div: None,
    };
    let identity = IdentityHeader::shaken(key.sign(&header, &claims).unwrap(), x5u.clone()).to_string();
    // The verifier's cache holds the validated chain's key.
    let cached = trust.validate(&chain, now, false).unwrap().leaf().verifying_key().unwrap();

    rate("sign_identity_per_s", seconds, || {
        black_box(IdentityHeader::shaken(key.sign(black_box(&header), black_box(&claims)).unwrap(), &x5u).to_string());
    });
    rate("verify_identity_cached_chain_per_s", seconds, || {
        let h = IdentityHeader::parse(black_box(&identity)).unwrap();
        h.require_shaken().unwrap();
        let p = Passport::decode(&h.passport).unwrap();
        assert_eq!(p.header().x5u, h.info);
        p.require_shaken().unwrap();
        p.check_freshness(now, 60).unwrap();
        p.verify_signature(&cached).unwrap();
        black_box(p);
    });
    let opts = VerifyOptions::at(now);
    rate("verify_identity_uncached_chain_per_s", seconds, || {
        black_box(verify_identity(black_box(&identity), &chain, &trust, &opts).unwrap());
    });
    // A forwarded call (RFC 8946): the SHAKEN header to 12125551213 and a div header from it
    // to 14155550199, both chains cached; the div verified, linked back from the target, and
    // the SHAKEN PASSporT verified against the numbers it may name: two ES256 verifications.
    let div_claims = Claims {
        attest: None,
        dest: Destination { tn: vec![Tn::from_canonical("14155550199").unwrap()], uri: vec![] },
        iat: now,
        orig: claims.orig.clone(),
        origid: None,
        rcd: None,
        crn: None,
        div: Some(Origin::Tn(Tn::from_canonical("12125551213").unwrap())),
    };
    let div_header = PassportHeader { ppt: Some(PPT_DIV.into()), x5u: x5u.clone() };
    let div = IdentityHeader::div(key.sign(&div_header, &div_claims).unwrap(), x5u.clone()).to_string();
    let signer = TrustedSigner::validate(&chain, &trust, now, false).unwrap();
    let target = [Tn::from_canonical("14155550199").unwrap()];
    let call = VerifyOptions {
        orig: Some(Tn::from_canonical("12155551212").unwrap()),
        dest: target.to_vec(),
        ..VerifyOptions::at(now)
    };
    rate("verify_forwarded_call_cached_chains_per_s", seconds, || {
        let (_, d) = decode_div_identity(black_box(&div), &call).unwrap();
        let hop = verify_div_with_signer(d, &signer, &call).unwrap();
        let links = DiversionChain::link(&target, vec![hop]);
        let opts = VerifyOptions { dest: links.acceptable_destinations(), ..call.clone() };
        let (_, p) = decode_identity(black_box(&identity), &opts).unwrap();
        black_box(verify_with_signer(p, &signer, &opts).unwrap());
    });
}
