//! C2SP `signed-note`: a text signed by one or more keys, here Ed25519.
//!
//! ```text
//! <text, ending in a newline>
//! <blank line>
//! — <key name> <base64(key id (4 bytes) || signature)>
//! ```
//!
//! The key id is the first four bytes of SHA-256(name || 0x0A || 0x01 || public key); a
//! verifier key is written `name+<key id hex>+<base64(0x01 || public key)>`.

use aws_lc_rs::digest;
use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::TlogError;

/// The signature type byte of Ed25519 keys.
const ALG_ED25519: u8 = 0x01;
/// The most signatures a note may carry (as in Go's `note` package).
const MAX_SIGNATURES: usize = 100;
/// The longest note this parser accepts.
pub const MAX_NOTE: usize = 1 << 20;
/// U+2014 EM DASH and a space: how every signature line starts.
const SIG_PREFIX: &str = "\u{2014} ";

/// Whether `name` may name a key: non-empty, no white space, no `+`.
pub fn is_key_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == '+' || c.is_control())
}

fn key_id(name: &str, public: &[u8]) -> [u8; 4] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(name.as_bytes());
    ctx.update(b"\n");
    ctx.update(&[ALG_ED25519]);
    ctx.update(public);
    let d = ctx.finish();
    let mut id = [0u8; 4];
    id.copy_from_slice(&d.as_ref()[..4]);
    id
}

fn hex4(id: [u8; 4]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// A key that checks notes: a name and an Ed25519 public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    id: [u8; 4],
    public: [u8; 32],
}

impl NoteVerifier {
    /// Parses `name+hash+base64(0x01 || key)`; the hash must be the key's id.
    pub fn parse(s: &str) -> Result<Self, TlogError> {
        let s = s.trim();
        // Names have no '+'; base64 may.
        let mut parts = s.splitn(3, '+');
        let (Some(name), Some(hash), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(TlogError::BadKey("a verifier key is name+hash+key"));
        };
        if !is_key_name(name) {
            return Err(TlogError::BadKey("the key name is empty or has white space or '+'"));
        }
        let raw = STANDARD.decode(key).map_err(|_| TlogError::BadKey("the key is not base64"))?;
        let [ALG_ED25519, public @ ..] = raw.as_slice() else {
            return Err(TlogError::BadKey("not an Ed25519 key (type 0x01)"));
        };
        let public: [u8; 32] = public.try_into().map_err(|_| TlogError::BadKey("an Ed25519 key is 32 bytes"))?;
        let id = key_id(name, &public);
        if hash.len() != 8 || hash != hex4(id) {
            return Err(TlogError::BadKey("the key hash does not match the key"));
        }
        Ok(Self { name: name.to_string(), id, public })
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The Ed25519 public key.
    pub fn public_key(&self) -> &[u8; 32] {
        &self.public
    }

    /// The key in its text form.
    pub fn to_key_string(&self) -> String {
        let mut raw = vec![ALG_ED25519];
        raw.extend_from_slice(&self.public);
        format!("{}+{}+{}", self.name, hex4(self.id), STANDARD.encode(raw))
    }
}

/// A key that signs notes.
#[derive(Debug)]
pub struct NoteSigner {
    name: String,
    id: [u8; 4],
    key: Ed25519KeyPair,
}

impl NoteSigner {
    /// A signer from an Ed25519 PKCS#8 document (as stored).
    pub fn from_pkcs8(name: &str, pkcs8: &[u8]) -> Result<Self, TlogError> {
        if !is_key_name(name) {
            return Err(TlogError::BadKey("the key name is empty or has white space or '+'"));
        }
        let key = Ed25519KeyPair::from_pkcs8(pkcs8).map_err(|_| TlogError::BadKey("not an Ed25519 PKCS#8 key"))?;
        let id = key_id(name, key.public_key().as_ref());
        Ok(Self { name: name.to_string(), id, key })
    }

    /// A new random key, and its PKCS#8 document for storage.
    pub fn generate(name: &str) -> Result<(Self, Vec<u8>), TlogError> {
        let key = Ed25519KeyPair::generate().map_err(|_| TlogError::BadKey("cannot generate a key"))?;
        let doc = key.to_pkcs8().map_err(|_| TlogError::BadKey("cannot encode the key"))?;
        let pkcs8 = doc.as_ref().to_vec();
        Ok((Self::from_pkcs8(name, &pkcs8)?, pkcs8))
    }

    /// Parses Go's private key text, `PRIVATE+KEY+name+hash+base64(0x01 || seed)`.
    pub fn from_private_key_string(s: &str) -> Result<Self, TlogError> {
        let rest = s.trim().strip_prefix("PRIVATE+KEY+").ok_or(TlogError::BadKey("not PRIVATE+KEY+..."))?;
        let mut parts = rest.splitn(3, '+');
        let (Some(name), Some(hash), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(TlogError::BadKey("a private key is PRIVATE+KEY+name+hash+key"));
        };
        let raw = STANDARD.decode(key).map_err(|_| TlogError::BadKey("the key is not base64"))?;
        let [ALG_ED25519, seed @ ..] = raw.as_slice() else {
            return Err(TlogError::BadKey("not an Ed25519 key (type 0x01)"));
        };
        let key = Ed25519KeyPair::from_seed_unchecked(seed).map_err(|_| TlogError::BadKey("bad Ed25519 seed"))?;
        if !is_key_name(name) {
            return Err(TlogError::BadKey("the key name is empty or has white space or '+'"));
        }
        let id = key_id(name, key.public_key().as_ref());
        if hash != hex4(id) {
            return Err(TlogError::BadKey("the key hash does not match the key"));
        }
        Ok(Self { name: name.to_string(), id, key })
    }

    /// The matching verifier.
    pub fn verifier(&self) -> NoteVerifier {
        let mut public = [0u8; 32];
        public.copy_from_slice(self.key.public_key().as_ref());
        NoteVerifier { name: self.name.clone(), id: self.id, public }
    }

    /// Signs `text` (which must be a valid note text) and returns the whole note.
    pub fn sign(&self, text: &str) -> Result<String, TlogError> {
        check_text(text)?;
        let sig = self.key.sign(text.as_bytes());
        let mut raw = self.id.to_vec();
        raw.extend_from_slice(sig.as_ref());
        Ok(format!("{text}\n{SIG_PREFIX}{} {}\n", self.name, STANDARD.encode(raw)))
    }
}

/// A note's text rules: non-empty, ends in a newline, no other control characters, no blank
/// line.
fn check_text(text: &str) -> Result<(), TlogError> {
    if !text.ends_with('\n') {
        return Err(TlogError::BadNote("the text does not end in a newline"));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(TlogError::BadNote("the text has control characters"));
    }
    if text.contains("\n\n") || text.starts_with('\n') {
        return Err(TlogError::BadNote("the text has a blank line"));
    }
    Ok(())
}

/// One signature line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// The key's name.
    pub name: String,
    /// The key id.
    pub id: [u8; 4],
    /// The signature bytes.
    pub signature: Vec<u8>,
}

/// A parsed, not yet verified note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedNote {
    /// The signed text, ending in a newline.
    pub text: String,
    /// The signature lines, in order.
    pub signatures: Vec<NoteSignature>,
}

impl SignedNote {
    /// Parses a note's bytes (well-formed UTF-8, text, blank line, signature lines).
    pub fn parse(bytes: &[u8]) -> Result<Self, TlogError> {
        if bytes.len() > MAX_NOTE {
            return Err(TlogError::BadNote("longer than 1 MiB"));
        }
        let s = std::str::from_utf8(bytes).map_err(|_| TlogError::BadNote("not UTF-8"))?;
        let split = s.rfind("\n\n").ok_or(TlogError::BadNote("no blank line before the signatures"))?;
        let (text, sigs) = (&s[..split + 1], &s[split + 2..]);
        check_text(text)?;
        if !sigs.ends_with('\n') {
            return Err(TlogError::BadNote("the signatures do not end in a newline"));
        }
        let mut signatures = Vec::new();
        for line in sigs[..sigs.len() - 1].split('\n') {
            let rest =
                line.strip_prefix(SIG_PREFIX).ok_or(TlogError::BadNote("a signature line does not start with '— '"))?;
            let (name, b64) = rest.split_once(' ').ok_or(TlogError::BadNote("a signature line has no signature"))?;
            if !is_key_name(name) {
                return Err(TlogError::BadNote("a signature's key name is malformed"));
            }
            let raw = STANDARD.decode(b64).map_err(|_| TlogError::BadNote("a signature is not base64"))?;
            if raw.len() < 5 {
                return Err(TlogError::BadNote("a signature is too short"));
            }
            let mut id = [0u8; 4];
            id.copy_from_slice(&raw[..4]);
            signatures.push(NoteSignature { name: name.to_string(), id, signature: raw[4..].to_vec() });
            if signatures.len() > MAX_SIGNATURES {
                return Err(TlogError::BadNote("more than 100 signatures"));
            }
        }
        Ok(Self { text: text.to_string(), signatures })
    }

    /// Checks the note against one trusted key: the first signature by that key (name and id)
    /// must verify. Signatures by other keys are ignored.
    pub fn verify(&self, key: &NoteVerifier) -> Result<&str, TlogError> {
        let sig = self
            .signatures
            .iter()
            .find(|s| s.name == key.name && s.id == key.id)
            .ok_or(TlogError::BadSignature("not signed by the expected key"))?;
        UnparsedPublicKey::new(&ED25519, key.public)
            .verify(self.text.as_bytes(), &sig.signature)
            .map_err(|_| TlogError::BadSignature("the signature by the expected key does not verify"))?;
        Ok(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example of Go's golang.org/x/mod/sumdb/note documentation.
    const SKEY: &str = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const TEXT: &str =
        "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
    const SIGNED: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

    #[test]
    fn matches_go_note_example() {
        let signer = NoteSigner::from_private_key_string(SKEY).unwrap();
        assert_eq!(signer.verifier().to_key_string(), VKEY);
        assert_eq!(signer.sign(TEXT).unwrap(), SIGNED);
        let v = NoteVerifier::parse(VKEY).unwrap();
        let n = SignedNote::parse(SIGNED.as_bytes()).unwrap();
        assert_eq!(n.verify(&v).unwrap(), TEXT);
    }

    #[test]
    fn rejects_tampering_and_unknown_keys() {
        let v = NoteVerifier::parse(VKEY).unwrap();
        let bad = SIGNED.replace("cryptography", "cryptograpHy");
        assert!(matches!(SignedNote::parse(bad.as_bytes()).unwrap().verify(&v), Err(TlogError::BadSignature(_))));
        let (other, _) = NoteSigner::generate("PeterNeumann").unwrap();
        let n = SignedNote::parse(other.sign(TEXT).unwrap().as_bytes()).unwrap();
        assert!(n.verify(&v).is_err());
        assert!(n.verify(&other.verifier()).is_ok());
        for bad in ["no blank line\n", "text\n\n- x AAAAAAA=\n", "text\n\n\u{2014} x AAAA\n", "text\n\n"] {
            assert!(SignedNote::parse(bad.as_bytes()).is_err(), "{bad:?}");
        }
        assert!(NoteVerifier::parse("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW").is_err());
        assert!(other.sign("no newline").is_err());
    }
}
