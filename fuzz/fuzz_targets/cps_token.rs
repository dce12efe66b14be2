//! Call Placement Service input: a bearer token (decoded, then checked against a request and a
//! clock taken from the input too) and a published item (a PASSporT, or a sealed one opened
//! with a fixed HPKE key). Errors carry a status a CPS can answer; never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vouch_cps::{Action, CpsToken, Expect, HpkePrivateKey, Item, open_passport};
use vouch_shaken::Tn;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (token, item) = text.split_once('\n').unwrap_or((text, text));
    let orig = Tn::canonicalize("12025550100").ok();
    let dest = Tn::canonicalize("13105550101").ok();
    let (Some(orig), Some(dest)) = (orig, dest) else { return };
    match CpsToken::decode(token) {
        Ok(t) => {
            // A clock near the token's and one far from it (the sender's times are any i64).
            for now in [t.claims.iat.wrapping_add(i64::from(data.len() as u8)), 1_767_225_600] {
            for action in [Action::Publish, Action::Retrieve] {
                let e = Expect { now, freshness: 60, action, audience: "https://cps.test", orig: &orig, dest: &dest, passports: Some("sha256-x") };
                if let Err(e) = t.check(&e) {
                    assert!((400..=599).contains(&e.http_status()));
                }
            }
            }
            assert_eq!(t.signature().len(), 64);
        }
        Err(e) => assert!((400..=599).contains(&e.http_status())),
    }
    if let Err(e) = Item::parse(item) {
        assert!((400..=599).contains(&e.http_status()));
    }
    if let Ok(key) = HpkePrivateKey::from_scalar(&[7u8; 32]) {
        let _ = open_passport(&key, "1234", &dest, &orig, item);
    }
});
