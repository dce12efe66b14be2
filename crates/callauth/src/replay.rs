//! Replay detection: a PASSporT is made for one call. The same PASSporT seen again for a
//! different call while it is still fresh is a replay (RFC 8224 section 12.1; the cache the
//! Comcast VESPER verifier keeps). Time is the caller's (no clock here).
//!
//! Several verifying nodes share what they saw: PASSporTs and calls are named by SHA-256
//! prefixes, the same on every node; a node that [`ReplayCache::share`]s keeps the
//! presentations it saw first for [`ReplayCache::take_presented`], and takes in the other
//! nodes' with [`ReplayCache::apply_others`] (bytes: [`encode_presentations`],
//! [`decode_presentations`]).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// What the cache says about a presentation of a PASSporT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Not seen before (or no longer remembered because it expired).
    First,
    /// Seen before for the same call (a retransmission or a retry).
    SameCall,
    /// Seen before for another call: a replay.
    Replay,
    /// The cache is full of unexpired entries; the presentation could not be remembered.
    Full,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    call: u64,
    expires: i64,
}

/// A PASSporT presented for a call, as verifying nodes tell each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Presentation {
    /// The PASSporT: the first 8 bytes of the SHA-256 of what was signed.
    pub passport: u64,
    /// The call: the first 8 bytes of the SHA-256 of its id, low bit set; 0 for none.
    pub call: u64,
    /// Until when it is remembered (unix seconds).
    pub expires: i64,
}

/// Bytes of one presentation in [`encode_presentations`].
pub const PRESENTATION_LEN: usize = 24;

/// Presentations as bytes: 24 each (passport, call, expires; big-endian).
pub fn encode_presentations(ps: &[Presentation]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ps.len() * PRESENTATION_LEN);
    for p in ps {
        out.extend_from_slice(&p.passport.to_be_bytes());
        out.extend_from_slice(&p.call.to_be_bytes());
        out.extend_from_slice(&p.expires.to_be_bytes());
    }
    out
}

/// Reads [`encode_presentations`]' bytes back; `None` unless their length is a multiple of 24.
pub fn decode_presentations(bytes: &[u8]) -> Option<Vec<Presentation>> {
    if !bytes.len().is_multiple_of(PRESENTATION_LEN) {
        return None;
    }
    let word = |b: &[u8], at: usize| -> [u8; 8] { std::array::from_fn(|i| b[at + i]) };
    Some(
        bytes
            .chunks_exact(PRESENTATION_LEN)
            .map(|c| Presentation {
                passport: u64::from_be_bytes(word(c, 0)),
                call: u64::from_be_bytes(word(c, 8)),
                expires: i64::from_be_bytes(word(c, 16)),
            })
            .collect(),
    )
}

fn prefix(bytes: &[u8]) -> u64 {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    u64::from_be_bytes(std::array::from_fn(|i| d.as_ref()[i]))
}

/// A bounded, sharded cache of recently verified PASSporTs.
#[derive(Debug)]
pub struct ReplayCache {
    shards: Vec<Mutex<HashMap<u64, Entry>>>,
    per_shard: usize,
    shared: AtomicBool,
    /// Presentations seen first here, not yet taken for the other nodes.
    outbox: Mutex<Vec<Presentation>>,
    capacity: usize,
}

const SHARDS: usize = 64;

impl ReplayCache {
    /// A cache remembering at most about `capacity` PASSporTs.
    pub fn new(capacity: usize) -> Self {
        let per_shard = capacity.div_ceil(SHARDS).max(1);
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_shard,
            shared: AtomicBool::new(false),
            outbox: Mutex::new(Vec::new()),
            capacity,
        }
    }

    /// From now on, keeps the presentations seen first here for [`ReplayCache::take_presented`]
    /// (several nodes).
    pub fn share(&self) {
        self.shared.store(true, Ordering::Relaxed);
    }

    /// The presentations this node saw first since the last call (at most the cache's capacity
    /// are kept between calls; beyond, they stay local).
    pub fn take_presented(&self) -> Vec<Presentation> {
        std::mem::take(&mut *self.outbox.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Takes in the presentations other nodes saw, so that the same PASSporT presented here for
    /// another call is a replay. Returns how many of them were already here for another call
    /// (replays both nodes saw first, within the time it takes nodes to hear of each other).
    pub fn apply_others(&self, ps: &[Presentation], now: i64) -> usize {
        let mut both = 0;
        for p in ps.iter().filter(|p| p.expires >= now) {
            let shard = &self.shards[(p.passport as usize) % SHARDS];
            let mut map = shard.lock().unwrap_or_else(|e| e.into_inner());
            match map.get(&p.passport) {
                Some(e) if e.expires >= now => {
                    if p.call == 0 || e.call != p.call {
                        both += 1;
                    }
                }
                _ => {
                    if map.len() >= self.per_shard {
                        map.retain(|_, e| e.expires >= now);
                    }
                    if map.len() < self.per_shard {
                        map.insert(p.passport, Entry { call: p.call, expires: p.expires });
                    }
                }
            }
        }
        both
    }

    /// What [`ReplayCache::check`] would answer now, without recording anything: `First` when
    /// the PASSporT is not remembered (or has expired), `SameCall` when it was presented for
    /// `call`, `Replay` when for another call (or `call` is `None`).
    pub fn peek(&self, signature: &[u8], call: Option<&str>, now: i64) -> Seen {
        let key = prefix(signature);
        let call = match call {
            Some(c) => prefix(c.as_bytes()) | 1,
            None => 0,
        };
        let shard = &self.shards[(key as usize) % SHARDS];
        let map = shard.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(&key) {
            Some(e) if e.expires >= now && call != 0 && e.call == call => Seen::SameCall,
            Some(e) if e.expires >= now => Seen::Replay,
            _ => Seen::First,
        }
    }

    /// Records that the PASSporT whose signature is `signature` was presented for `call` (the
    /// call's id; `None` when the caller has none, making every presentation a new call) at
    /// `now`, to be remembered until `expires` (its `iat` plus the freshness window).
    pub fn check(&self, signature: &[u8], call: Option<&str>, expires: i64, now: i64) -> Seen {
        let key = prefix(signature);
        // A presentation without a call id never matches an earlier one.
        let call = match call {
            Some(c) => prefix(c.as_bytes()) | 1,
            None => 0,
        };
        let shard = &self.shards[(key as usize) % SHARDS];
        let mut map = shard.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = map.get(&key)
            && e.expires >= now
        {
            return if call != 0 && e.call == call { Seen::SameCall } else { Seen::Replay };
        }
        if map.len() >= self.per_shard {
            map.retain(|_, e| e.expires >= now);
            if map.len() >= self.per_shard {
                return Seen::Full;
            }
        }
        map.insert(key, Entry { call, expires });
        drop(map);
        if self.shared.load(Ordering::Relaxed) {
            let mut out = self.outbox.lock().unwrap_or_else(|e| e.into_inner());
            if out.len() < self.capacity {
                out.push(Presentation { passport: key, call, expires });
            }
        }
        Seen::First
    }

    /// How many PASSporTs are remembered.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).len()).sum()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replays_retransmissions_and_expiry() {
        let c = ReplayCache::new(1000);
        assert_eq!(c.check(b"sig1", Some("call-a"), 160, 100), Seen::First);
        assert_eq!(c.check(b"sig1", Some("call-a"), 160, 101), Seen::SameCall);
        assert_eq!(c.check(b"sig1", Some("call-b"), 160, 102), Seen::Replay);
        assert_eq!(c.check(b"sig1", None, 160, 102), Seen::Replay);
        assert_eq!(c.check(b"sig2", None, 160, 102), Seen::First);
        assert_eq!(c.check(b"sig2", None, 160, 103), Seen::Replay);
        // Past its lifetime the PASSporT is stale anyway; the cache forgets it.
        assert_eq!(c.check(b"sig1", Some("call-c"), 300, 161), Seen::First);
    }

    #[test]
    fn peek_answers_as_check_would_and_records_nothing() {
        let c = ReplayCache::new(1000);
        assert_eq!(c.peek(b"sig1", Some("call-a"), 100), Seen::First);
        assert_eq!(c.peek(b"sig1", Some("call-a"), 100), Seen::First, "nothing was recorded");
        assert_eq!(c.check(b"sig1", Some("call-a"), 160, 100), Seen::First);
        assert_eq!(c.peek(b"sig1", Some("call-a"), 120), Seen::SameCall);
        assert_eq!(c.peek(b"sig1", Some("call-b"), 120), Seen::Replay);
        assert_eq!(c.peek(b"sig1", None, 120), Seen::Replay);
        assert_eq!(c.peek(b"sig1", Some("call-b"), 161), Seen::First, "expired");
    }

    #[test]
    fn nodes_hear_of_each_others_presentations() {
        let (a, b) = (ReplayCache::new(1000), ReplayCache::new(1000));
        a.share();
        assert_eq!(a.check(b"sig1", Some("call-a"), 160, 100), Seen::First);
        assert_eq!(a.check(b"sig1", Some("call-a"), 160, 100), Seen::SameCall);
        assert_eq!(a.check(b"sig2", None, 160, 100), Seen::First);
        let told = a.take_presented();
        assert_eq!(told.len(), 2, "first presentations only");
        assert!(a.take_presented().is_empty());
        // Through bytes, as the store keeps them.
        let bytes = encode_presentations(&told);
        assert_eq!(bytes.len(), 48);
        let heard = decode_presentations(&bytes).unwrap();
        assert_eq!(heard, told);
        assert_eq!(decode_presentations(&bytes[..47]), None);
        assert_eq!(b.apply_others(&heard, 101), 0);
        assert_eq!(b.check(b"sig1", Some("call-a"), 160, 101), Seen::SameCall, "the same call through node b");
        assert_eq!(b.check(b"sig1", Some("call-b"), 160, 101), Seen::Replay, "another call through node b");
        assert_eq!(b.check(b"sig2", None, 160, 101), Seen::Replay);
        assert!(b.take_presented().is_empty(), "b does not share");
        // Seen first by both for different calls: counted; expired ones are ignored.
        let c = ReplayCache::new(1000);
        assert_eq!(c.check(b"sig1", Some("call-z"), 160, 100), Seen::First);
        assert_eq!(c.apply_others(&heard, 100), 1, "sig1 for call-a here; sig2 is new here");
        assert_eq!(c.check(b"sig2", None, 160, 100), Seen::Replay);
        assert_eq!(c.apply_others(&heard, 161), 0, "expired");
    }

    #[test]
    fn bounded() {
        let c = ReplayCache::new(64);
        let mut full = 0;
        for i in 0..1000u32 {
            if c.check(&i.to_be_bytes(), None, 1000, 0) == Seen::Full {
                full += 1;
            }
        }
        assert!(c.len() <= 64, "{}", c.len());
        assert!(full > 0);
        // Once those expire, there is room again.
        assert_eq!(c.check(b"new", None, 3000, 2000), Seen::First);
    }
}
