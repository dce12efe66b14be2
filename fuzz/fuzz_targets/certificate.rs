//! Certificates and CRLs from untrusted bytes (an x5u chain, a CRL download): parsing, the
//! profile linter in both modes, and chain validation never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vouch_shaken::lint::{LintMode, lint_der, lint_pem};
use vouch_shaken::{Certificate, TrustStore};

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = Certificate::from_der(data) {
        let _ = c.spc();
        let _ = c.verifying_key();
        let mut trust = TrustStore::new();
        let _ = trust.add_anchor(c.clone());
        let _ = trust.validate(std::slice::from_ref(&c), c.not_before, true);
        let _ = trust.add_crl_der(data, 0);
    }
    let _ = lint_der(data, LintMode::Strict);
    let _ = lint_der(data, LintMode::Lenient);
    let _ = lint_pem(data, LintMode::Strict);
    let _ = Certificate::chain_from_pem(data);
    let _ = TrustStore::new().add_crl_der(data, 0);
});
