//! What the gateway records instead of the content and the destination: a similarity
//! fingerprint (64-bit SimHash over word pairs, digits folded so that codes and amounts do not
//! separate otherwise identical messages) and a keyed hash of the destination number.

use aws_lc_rs::hmac;
use vouch_registry::TelephoneNumber;

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The 64-bit SimHash of `text`: near-identical texts differ in few bits
/// ([`hamming`]), different texts in about 32.
pub fn simhash(text: &str) -> u64 {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.chars().map(|c| if c.is_ascii_digit() { '0' } else { c }).flat_map(char::to_lowercase).collect())
        .collect();
    if words.is_empty() {
        return 0;
    }
    let mut weights = [0i32; 64];
    let mut add = |feature: &[u8]| {
        let h = fnv1a(feature);
        for (bit, w) in weights.iter_mut().enumerate() {
            *w += if h >> bit & 1 == 1 { 1 } else { -1 };
        }
    };
    if words.len() == 1 {
        add(words[0].as_bytes());
    }
    for pair in words.windows(2) {
        let mut f = Vec::with_capacity(pair[0].len() + pair[1].len() + 1);
        f.extend_from_slice(pair[0].as_bytes());
        f.push(b' ');
        f.extend_from_slice(pair[1].as_bytes());
        add(&f);
    }
    weights.iter().enumerate().fold(0u64, |acc, (bit, w)| if *w > 0 { acc | 1 << bit } else { acc })
}

/// Bits in which two fingerprints differ.
pub fn hamming(a: u64, b: u64) -> u32 {
    (a ^ b).count_ones()
}

/// Keyed hashes of destination numbers (HMAC-SHA256 under the gateway's secret, 128 bits):
/// the same subscriber always has the same key, and nobody without the secret can tell who.
#[derive(Debug, Clone)]
pub struct DestinationKeyer {
    key: hmac::Key,
}

/// A destination's keyed hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DestinationKey(pub [u8; 16]);

impl DestinationKey {
    /// Lower-case hex.
    pub fn to_hex(self) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut s = String::with_capacity(32);
        for b in self.0 {
            s.push(DIGITS[usize::from(b >> 4)] as char);
            s.push(DIGITS[usize::from(b & 15)] as char);
        }
        s
    }
}

impl DestinationKeyer {
    /// A keyer under `secret`.
    pub fn new(secret: &[u8]) -> Self {
        Self { key: hmac::Key::new(hmac::HMAC_SHA256, secret) }
    }

    /// The key of `number`.
    pub fn key(&self, number: TelephoneNumber) -> DestinationKey {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(b"vouch smpp destination\0");
        ctx.update(&number.digits().to_be_bytes());
        let tag = ctx.sign();
        let mut out = [0u8; 16];
        out.copy_from_slice(&tag.as_ref()[..16]);
        DestinationKey(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_identical_messages_are_near() {
        let a = simhash("Your Acme code is 123456. Do not share it with anyone.");
        let b = simhash("Your Acme code is 987654. Do not share it with anyone.");
        let c = simhash("Your Acme code is 987654. Do not share it with anyone!!");
        let d = simhash("Lunch special today: two tacos for five dollars at Rosa's on Main Street");
        assert_eq!(a, b, "digits are folded");
        assert!(hamming(a, c) <= 4, "punctuation does not matter: {}", hamming(a, c));
        assert!(hamming(a, d) >= 16, "different texts are far apart: {}", hamming(a, d));
        assert_eq!(simhash(""), 0);
    }

    #[test]
    fn destination_keys_are_keyed() {
        let n: TelephoneNumber = "+13105550100".parse().unwrap();
        let k1 = DestinationKeyer::new(b"one");
        let k2 = DestinationKeyer::new(b"two");
        assert_eq!(k1.key(n), k1.key(n));
        assert_ne!(k1.key(n), k2.key(n));
        assert_eq!(k1.key(n).to_hex().len(), 32);
    }
}
