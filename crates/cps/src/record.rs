//! What the CPS stores, and vouch's privacy mode (an extension of ATIS-1000105):
//!
//! - records are named by a keyed hash of (SPC, called, calling number) ([`RecordName`]), so the
//!   store holds no telephone number in either mode;
//! - in privacy mode each published item is a PASSporT sealed with HPKE to the terminating
//!   provider's key ([`seal_passport`]): `hpke1.` base64url(enc) `.` base64url(ciphertext), with
//!   HPKE `info` = `vouch-cps-v1 ` + SPC and the AEAD's associated data = called `,` calling
//!   number, so a sealed item moved to another record does not open.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use vouch_shaken::{Passport, Tn};

use crate::CpsError;
use crate::hpke::{self, ENC_LEN, HpkePrivateKey, HpkePublicKey, TAG_LEN};

/// The largest item (PASSporT or sealed PASSporT) accepted, bytes.
pub const MAX_ITEM: usize = 8 * 1024;
/// The most items one publish may carry.
pub const MAX_ITEMS: usize = 10;
/// The prefix of a sealed item.
pub const SEALED_PREFIX: &str = "hpke1.";

/// The name a record is stored under: HMAC-SHA256 under the CPS's key of
/// `vouch-cps-v1 \0 SPC \0 DEST \0 ORIG`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordName(pub [u8; 32]);

/// The CPS's key for naming records.
pub struct NamingKey(aws_lc_rs::hmac::Key);

impl std::fmt::Debug for NamingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NamingKey")
    }
}

impl NamingKey {
    /// From secret bytes (at least 32).
    pub fn new(secret: &[u8]) -> Result<Self, CpsError> {
        if secret.len() < 32 {
            return Err(CpsError::Key(format!(
                "the record naming key must be at least 32 bytes, not {}",
                secret.len()
            )));
        }
        Ok(Self(aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret)))
    }

    /// The name of the record of `spc` for a call from `orig` to `dest`.
    pub fn name(&self, spc: &str, dest: &Tn, orig: &Tn) -> RecordName {
        let mut ctx = aws_lc_rs::hmac::Context::with_key(&self.0);
        for part in [b"vouch-cps-v1".as_slice(), spc.as_bytes(), dest.as_str().as_bytes(), orig.as_str().as_bytes()] {
            ctx.update(part);
            ctx.update(&[0]);
        }
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.sign().as_ref());
        RecordName(out)
    }
}

/// One published item, as the CPS sees it.
#[derive(Debug, Clone)]
pub enum Item {
    /// A PASSporT in the clear (the standard flow), decoded.
    Plain(Box<Passport>),
    /// A sealed PASSporT (privacy mode): opaque to the CPS.
    Sealed,
}

impl Item {
    /// Parses one item of a publish body: a sealed item's form (lengths), or a PASSporT's.
    pub fn parse(s: &str) -> Result<Self, CpsError> {
        if s.len() > MAX_ITEM {
            return Err(CpsError::Body(format!("an item is over {MAX_ITEM} bytes")));
        }
        if let Some(rest) = s.strip_prefix(SEALED_PREFIX) {
            split_sealed(rest)?;
            return Ok(Self::Sealed);
        }
        Passport::decode(s)
            .map(|p| Self::Plain(Box::new(p)))
            .map_err(|e| CpsError::Body(format!("not a PASSporT: {e}")))
    }
}

fn split_sealed(rest: &str) -> Result<(Vec<u8>, Vec<u8>), CpsError> {
    let (enc, ct) =
        rest.split_once('.').ok_or_else(|| CpsError::Sealed("a sealed item is hpke1.<enc>.<ciphertext>".into()))?;
    let enc = URL_SAFE_NO_PAD.decode(enc).map_err(|_| CpsError::Sealed("enc is not base64url".into()))?;
    let ct = URL_SAFE_NO_PAD.decode(ct).map_err(|_| CpsError::Sealed("the ciphertext is not base64url".into()))?;
    if enc.len() != ENC_LEN || enc[0] != 4 {
        return Err(CpsError::Sealed(format!("enc must be a {ENC_LEN}-byte uncompressed P-256 point")));
    }
    if ct.len() <= TAG_LEN {
        return Err(CpsError::Sealed("the ciphertext is shorter than its tag".into()));
    }
    Ok((enc, ct))
}

fn info(spc: &str) -> Vec<u8> {
    format!("vouch-cps-v1 {spc}").into_bytes()
}

fn aad(dest: &Tn, orig: &Tn) -> Vec<u8> {
    format!("{},{}", dest.as_str(), orig.as_str()).into_bytes()
}

/// Seals `passport` for the provider `spc` (whose HPKE key is `to`), for the call from `orig`
/// to `dest`.
pub fn seal_passport(to: &HpkePublicKey, spc: &str, dest: &Tn, orig: &Tn, passport: &str) -> Result<String, CpsError> {
    let (enc, ct) = hpke::seal(to, &info(spc), &aad(dest, orig), passport.as_bytes())?;
    Ok(format!("{SEALED_PREFIX}{}.{}", URL_SAFE_NO_PAD.encode(enc), URL_SAFE_NO_PAD.encode(ct)))
}

/// Opens a sealed item retrieved by `spc` for the call from `orig` to `dest`: the PASSporT.
pub fn open_passport(key: &HpkePrivateKey, spc: &str, dest: &Tn, orig: &Tn, item: &str) -> Result<String, CpsError> {
    let rest = item.strip_prefix(SEALED_PREFIX).ok_or_else(|| CpsError::Sealed("the item is not sealed".into()))?;
    let (enc, ct) = split_sealed(rest)?;
    let plain = key.open(&enc, &info(spc), &aad(dest, orig), &ct)?;
    String::from_utf8(plain).map_err(|_| CpsError::Sealed("the sealed PASSporT is not UTF-8".into()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sealed_items_open_only_for_their_record() {
        let key = HpkePrivateKey::generate().unwrap();
        let (a, b, c) = (
            Tn::canonicalize("12025550100").unwrap(),
            Tn::canonicalize("12025550101").unwrap(),
            Tn::canonicalize("12025550102").unwrap(),
        );
        let sealed = seal_passport(key.public_key(), "1234", &b, &a, "eyJ.a.b").unwrap();
        assert!(matches!(Item::parse(&sealed).unwrap(), Item::Sealed));
        assert!(!sealed.contains("eyJ"));
        assert_eq!(open_passport(&key, "1234", &b, &a, &sealed).unwrap(), "eyJ.a.b");
        assert!(open_passport(&key, "1234", &c, &a, &sealed).is_err());
        assert!(open_passport(&key, "9999", &b, &a, &sealed).is_err());
        assert!(Item::parse("hpke1.AAAA.BBBB").is_err());
        assert!(Item::parse("not a passport").is_err());
    }

    #[test]
    fn names_are_keyed() {
        let (a, b) = (Tn::canonicalize("12025550100").unwrap(), Tn::canonicalize("12025550101").unwrap());
        let k1 = NamingKey::new(&[1; 32]).unwrap();
        let k2 = NamingKey::new(&[2; 32]).unwrap();
        assert_eq!(k1.name("1234", &b, &a), k1.name("1234", &b, &a));
        assert_ne!(k1.name("1234", &b, &a), k2.name("1234", &b, &a));
        assert_ne!(k1.name("1234", &b, &a), k1.name("1234", &a, &b));
        assert_ne!(k1.name("1234", &b, &a), k1.name("1235", &b, &a));
        assert!(NamingKey::new(&[1; 16]).is_err());
    }
}
