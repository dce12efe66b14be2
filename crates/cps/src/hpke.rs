//! HPKE (RFC 9180) in base mode with one suite: DHKEM(P-256, HKDF-SHA256) (0x0010),
//! HKDF-SHA256 (0x0001), AES-128-GCM (0x0001), single-shot (one message per encapsulation).
//!
//! Built on aws-lc-rs's ECDH, HMAC and AES-GCM, so vouch keeps one cryptographic provider. Every
//! HKDF output HPKE asks of this suite is at most one SHA-256 block, so `Expand` is one HMAC.

use aws_lc_rs::aead::{AES_128_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::agreement::{self, ECDH_P256, PrivateKey, UnparsedPublicKey};
use aws_lc_rs::encoding::AsBigEndian;
use aws_lc_rs::hmac;
use base64::Engine as _;
use x509_parser::prelude::FromDer as _;

use crate::CpsError;

const KEM_ID: u16 = 0x0010;
const KDF_ID: u16 = 0x0001;
const AEAD_ID: u16 = 0x0001;
/// Length of an encapsulated key (an uncompressed P-256 point).
pub const ENC_LEN: usize = 65;
/// Length of the AEAD tag added to each plaintext.
pub const TAG_LEN: usize = 16;
const NK: usize = 16;
const NN: usize = 12;
const NH: usize = 32;

fn kem_suite() -> [u8; 5] {
    let k = KEM_ID.to_be_bytes();
    [b'K', b'E', b'M', k[0], k[1]]
}

fn hpke_suite() -> [u8; 10] {
    let (k, f, a) = (KEM_ID.to_be_bytes(), KDF_ID.to_be_bytes(), AEAD_ID.to_be_bytes());
    [b'H', b'P', b'K', b'E', k[0], k[1], f[0], f[1], a[0], a[1]]
}

/// `LabeledExtract(salt, label, ikm)`: HMAC-SHA256 keyed by the salt (RFC 5869 `Extract`).
fn labeled_extract(suite: &[u8], salt: &[u8], label: &[u8], ikm: &[u8]) -> [u8; NH] {
    let key = hmac::Key::new(hmac::HMAC_SHA256, salt);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(b"HPKE-v1");
    ctx.update(suite);
    ctx.update(label);
    ctx.update(ikm);
    let mut out = [0u8; NH];
    out.copy_from_slice(ctx.sign().as_ref());
    out
}

/// `LabeledExpand(prk, label, info, L)` for `L` up to one hash length: `T(1)` truncated.
fn labeled_expand<const L: usize>(suite: &[u8], prk: &[u8; NH], label: &[u8], info: &[u8]) -> [u8; L] {
    const { assert!(L <= NH) };
    let key = hmac::Key::new(hmac::HMAC_SHA256, prk);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(&(L as u16).to_be_bytes());
    ctx.update(b"HPKE-v1");
    ctx.update(suite);
    ctx.update(label);
    ctx.update(info);
    ctx.update(&[1]);
    let mut out = [0u8; L];
    out.copy_from_slice(&ctx.sign().as_ref()[..L]);
    out
}

/// DHKEM's `ExtractAndExpand(dh, kem_context)`.
fn shared_secret(dh: &[u8], enc: &[u8], pk_r: &[u8]) -> [u8; NH] {
    let suite = kem_suite();
    let eae_prk = labeled_extract(&suite, b"", b"eae_prk", dh);
    let mut context = Vec::with_capacity(enc.len() + pk_r.len());
    context.extend_from_slice(enc);
    context.extend_from_slice(pk_r);
    labeled_expand::<NH>(&suite, &eae_prk, b"shared_secret", &context)
}

/// The base mode key schedule: the AEAD key and base nonce.
fn key_schedule(shared: &[u8; NH], info: &[u8]) -> ([u8; NK], [u8; NN]) {
    let suite = hpke_suite();
    let psk_id_hash = labeled_extract(&suite, b"", b"psk_id_hash", b"");
    let info_hash = labeled_extract(&suite, b"", b"info_hash", info);
    let mut context = [0u8; 1 + 2 * NH];
    context[1..1 + NH].copy_from_slice(&psk_id_hash);
    context[1 + NH..].copy_from_slice(&info_hash);
    let secret = labeled_extract(&suite, shared, b"secret", b"");
    (
        labeled_expand::<NK>(&suite, &secret, b"key", &context),
        labeled_expand::<NN>(&suite, &secret, b"base_nonce", &context),
    )
}

fn aead(key: &[u8; NK]) -> Result<LessSafeKey, CpsError> {
    UnboundKey::new(&AES_128_GCM, key).map(LessSafeKey::new).map_err(|_| CpsError::Crypto("AES-128-GCM key"))
}

/// A recipient's public key: an uncompressed SEC1 P-256 point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HpkePublicKey([u8; ENC_LEN]);

impl HpkePublicKey {
    /// From an uncompressed SEC1 point (65 bytes, `0x04 || x || y`) on P-256.
    pub fn from_sec1(bytes: &[u8]) -> Result<Self, CpsError> {
        let point: [u8; ENC_LEN] = bytes.try_into().map_err(|_| {
            CpsError::Key(format!(
                "an HPKE public key is a 65-byte uncompressed P-256 point, not {} bytes",
                bytes.len()
            ))
        })?;
        if point[0] != 4 {
            return Err(CpsError::Key("an HPKE public key must be an uncompressed point (0x04…)".into()));
        }
        // On the curve: aws-lc parses (and rejects) the point in an agreement.
        let probe = PrivateKey::generate(&ECDH_P256).map_err(|_| CpsError::Crypto("P-256 key generation"))?;
        agreement::agree(&probe, UnparsedPublicKey::new(&ECDH_P256, &point[..]), (), |_| Ok(()))
            .map_err(|()| CpsError::Key("the HPKE public key is not a point on P-256".into()))?;
        Ok(Self(point))
    }

    /// From a `PUBLIC KEY` PEM block or its DER (SubjectPublicKeyInfo of a P-256 key).
    pub fn from_spki_pem_or_der(bytes: &[u8]) -> Result<Self, CpsError> {
        let der = match x509_parser::pem::parse_x509_pem(bytes) {
            Ok((_, pem)) if pem.label == "PUBLIC KEY" => pem.contents,
            Ok((_, pem)) => return Err(CpsError::Key(format!("a {} PEM block is not a PUBLIC KEY", pem.label))),
            Err(_) => bytes.to_vec(),
        };
        let (_, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(&der)
            .map_err(|e| CpsError::Key(format!("not a SubjectPublicKeyInfo: {e}")))?;
        Self::from_sec1(&spki.subject_public_key.data)
    }

    /// The uncompressed point.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// A recipient's private key.
pub struct HpkePrivateKey {
    key: PrivateKey,
    public: HpkePublicKey,
}

impl std::fmt::Debug for HpkePrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HpkePrivateKey(P-256)")
    }
}

impl HpkePrivateKey {
    fn new(key: PrivateKey) -> Result<Self, CpsError> {
        let public = key.compute_public_key().map_err(|_| CpsError::Crypto("P-256 public key"))?;
        let public = HpkePublicKey::from_sec1(public.as_ref())?;
        Ok(Self { key, public })
    }

    /// A new random key.
    pub fn generate() -> Result<Self, CpsError> {
        Self::new(PrivateKey::generate(&ECDH_P256).map_err(|_| CpsError::Crypto("P-256 key generation"))?)
    }

    /// From the 32-byte big-endian scalar.
    pub fn from_scalar(bytes: &[u8]) -> Result<Self, CpsError> {
        Self::new(
            PrivateKey::from_private_key(&ECDH_P256, bytes)
                .map_err(|e| CpsError::Key(format!("not a P-256 private scalar: {e}")))?,
        )
    }

    /// From DER: PKCS#8 or SEC1 (RFC 5915) `ECPrivateKey` on P-256.
    pub fn from_der(der: &[u8]) -> Result<Self, CpsError> {
        Self::new(
            PrivateKey::from_private_key_der(&ECDH_P256, der)
                .map_err(|e| CpsError::Key(format!("not a P-256 private key (PKCS#8 or SEC1 DER): {e}")))?,
        )
    }

    /// From PEM (`PRIVATE KEY` or `EC PRIVATE KEY`; an `EC PARAMETERS` block before it is
    /// skipped), as `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256` writes.
    pub fn from_pem(pem: &[u8]) -> Result<Self, CpsError> {
        let der = vouch_shaken::private_key_der(pem).map_err(|e| match e {
            vouch_shaken::ShakenError::Key(detail) => CpsError::Key(detail),
            other => CpsError::Key(other.to_string()),
        })?;
        Self::from_der(&der)
    }

    /// The 32-byte scalar (for writing the key out).
    pub fn to_scalar(&self) -> Result<Vec<u8>, CpsError> {
        let bin: aws_lc_rs::encoding::EcPrivateKeyBin<'_> =
            self.key.as_be_bytes().map_err(|_| CpsError::Crypto("P-256 private key encoding"))?;
        Ok(bin.as_ref().to_vec())
    }

    /// The key as PEM (`EC PRIVATE KEY`, RFC 5915), for writing it out.
    pub fn to_pem(&self) -> Result<String, CpsError> {
        use aws_lc_rs::encoding::{AsDer, EcPrivateKeyRfc5915Der};
        let der: EcPrivateKeyRfc5915Der<'_> =
            self.key.as_der().map_err(|_| CpsError::Crypto("P-256 private key encoding"))?;
        let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
        let mut pem = String::from("-----BEGIN EC PRIVATE KEY-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(line));
            pem.push('\n');
        }
        pem.push_str("-----END EC PRIVATE KEY-----\n");
        Ok(pem)
    }

    /// The matching public key.
    pub fn public_key(&self) -> &HpkePublicKey {
        &self.public
    }

    /// `Open` of a single-shot message: `enc` from the sender, sequence number 0.
    pub fn open(&self, enc: &[u8], info: &[u8], aad: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>, CpsError> {
        if enc.len() != ENC_LEN {
            return Err(CpsError::Sealed(format!("an encapsulated key is {ENC_LEN} bytes, not {}", enc.len())));
        }
        let dh = agreement::agree(&self.key, UnparsedPublicKey::new(&ECDH_P256, enc), (), |dh| Ok(dh.to_vec()))
            .map_err(|()| CpsError::Sealed("the encapsulated key is not a point on P-256".into()))?;
        let shared = shared_secret(&dh, enc, self.public.as_bytes());
        let (key, nonce) = key_schedule(&shared, info);
        let mut buf = ciphertext.to_vec();
        let plain = aead(&key)?
            .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut buf)
            .map_err(|_| CpsError::Sealed("cannot decrypt: not sealed to this key, or altered".into()))?;
        let n = plain.len();
        buf.truncate(n);
        Ok(buf)
    }
}

/// `Seal` of a single-shot message to `recipient`: `(enc, ciphertext)`.
pub fn seal(
    recipient: &HpkePublicKey,
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), CpsError> {
    let ephemeral = PrivateKey::generate(&ECDH_P256).map_err(|_| CpsError::Crypto("P-256 key generation"))?;
    seal_with(&ephemeral, recipient, info, aad, plaintext)
}

fn seal_with(
    ephemeral: &PrivateKey,
    recipient: &HpkePublicKey,
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), CpsError> {
    let enc = ephemeral.compute_public_key().map_err(|_| CpsError::Crypto("P-256 public key"))?.as_ref().to_vec();
    let dh =
        agreement::agree(ephemeral, UnparsedPublicKey::new(&ECDH_P256, recipient.as_bytes()), (), |dh| Ok(dh.to_vec()))
            .map_err(|()| CpsError::Crypto("P-256 key agreement"))?;
    let shared = shared_secret(&dh, &enc, recipient.as_bytes());
    let (key, nonce) = key_schedule(&shared, info);
    let mut buf = plaintext.to_vec();
    aead(&key)?
        .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut buf)
        .map_err(|_| CpsError::Crypto("AES-128-GCM"))?;
    Ok((enc, buf))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn round_trip_and_tamper() {
        let sk = HpkePrivateKey::generate().unwrap();
        let (enc, ct) = seal(sk.public_key(), b"info", b"aad", b"a passport").unwrap();
        assert_eq!(enc.len(), ENC_LEN);
        assert_eq!(ct.len(), 10 + TAG_LEN);
        assert_eq!(sk.open(&enc, b"info", b"aad", &ct).unwrap(), b"a passport");
        assert!(sk.open(&enc, b"info", b"other aad", &ct).is_err());
        assert!(sk.open(&enc, b"other info", b"aad", &ct).is_err());
        let other = HpkePrivateKey::generate().unwrap();
        assert!(other.open(&enc, b"info", b"aad", &ct).is_err());
        let mut bad = ct.clone();
        bad[0] ^= 1;
        assert!(sk.open(&enc, b"info", b"aad", &bad).is_err());
        assert!(sk.open(&enc[..64], b"info", b"aad", &ct).is_err());
        let back = HpkePrivateKey::from_scalar(&sk.to_scalar().unwrap()).unwrap();
        assert_eq!(back.public_key(), sk.public_key());
        let back = HpkePrivateKey::from_pem(sk.to_pem().unwrap().as_bytes()).unwrap();
        assert_eq!(back.public_key(), sk.public_key());
    }

    #[test]
    fn public_keys_off_the_curve_are_refused() {
        let mut p = HpkePrivateKey::generate().unwrap().public_key().as_bytes().to_vec();
        p[40] ^= 1;
        assert!(HpkePublicKey::from_sec1(&p).is_err());
        assert!(HpkePublicKey::from_sec1(&p[..33]).is_err());
    }
    /// RFC 9180 appendix A.3.1 (DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-128-GCM, base
    /// mode), sequence number 0: the sender's side with the vector's ephemeral key, and the
    /// recipient's.
    #[test]
    fn rfc9180_a_3_1_vector() {
        let info = hex("4f6465206f6e2061204772656369616e2055726e");
        let sk_e = PrivateKey::from_private_key(
            &ECDH_P256,
            &hex("4995788ef4b9d6132b249ce59a77281493eb39af373d236a1fe415cb0c2d7beb"),
        )
        .unwrap();
        let sk_r =
            HpkePrivateKey::from_scalar(&hex("f3ce7fdae57e1a310d87f1ebbde6f328be0a99cdbcadf4d6589cf29de4b8ffd2"))
                .unwrap();
        assert_eq!(
            sk_r.public_key().as_bytes(),
            &hex(
                "04fe8c19ce0905191ebc298a9245792531f26f0cece2460639e8bc39cb7f706a826a779b4cf969b8a0e539c7f62fb3d30ad6aa8f80e30f1d128aafd68a2ce72ea0"
            )[..]
        );
        let pt = hex("4265617574792069732074727574682c20747275746820626561757479");
        let aad = hex("436f756e742d30");
        let want_ct = hex("5ad590bb8baa577f8619db35a36311226a896e7342a6d836d8b7bcd2f20b6c7f9076ac232e3ab2523f39513434");
        let (enc, ct) = seal_with(&sk_e, sk_r.public_key(), &info, &aad, &pt).unwrap();
        assert_eq!(
            enc,
            hex(
                "04a92719c6195d5085104f469a8b9814d5838ff72b60501e2c4466e5e67b325ac98536d7b61a1af4b78e5b7f951c0900be863c403ce65c9bfcb9382657222d18c4"
            )
        );
        assert_eq!(ct, want_ct);
        assert_eq!(sk_r.open(&enc, &info, &aad, &want_ct).unwrap(), pt);
        let shared = shared_secret(
            &agreement::agree(&sk_e, UnparsedPublicKey::new(&ECDH_P256, sk_r.public_key().as_bytes()), (), |d| {
                Ok(d.to_vec())
            })
            .unwrap(),
            &enc,
            sk_r.public_key().as_bytes(),
        );
        assert_eq!(shared.to_vec(), hex("c0d26aeab536609a572b07695d933b589dcf363ff9d93c93adea537aeabb8cb8"));
        let (key, nonce) = key_schedule(&shared, &info);
        assert_eq!(key.to_vec(), hex("868c066ef58aae6dc589b6cfdd18f97e"));
        assert_eq!(nonce.to_vec(), hex("4e0bc5018beba4bf004cca59"));
    }
}
