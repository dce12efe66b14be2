//! Replay detection: a PASSporT is made for one call. The same PASSporT seen again for a
//! different call while it is still fresh is a replay (RFC 8224 section 12.1; the cache the
//! Comcast VESPER verifier keeps). Time is the caller's (no clock here).

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;

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

/// A bounded, sharded cache of recently verified PASSporTs.
#[derive(Debug)]
pub struct ReplayCache {
    shards: Vec<Mutex<HashMap<u64, Entry>>>,
    per_shard: usize,
    hasher: RandomState,
}

const SHARDS: usize = 64;

impl ReplayCache {
    /// A cache remembering at most about `capacity` PASSporTs.
    pub fn new(capacity: usize) -> Self {
        let per_shard = capacity.div_ceil(SHARDS).max(1);
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_shard,
            hasher: RandomState::new(),
        }
    }

    /// Records that the PASSporT whose signature is `signature` was presented for `call` (the
    /// call's id; `None` when the caller has none, making every presentation a new call) at
    /// `now`, to be remembered until `expires` (its `iat` plus the freshness window).
    pub fn check(&self, signature: &[u8], call: Option<&str>, expires: i64, now: i64) -> Seen {
        let key = self.hasher.hash_one(signature);
        // A presentation without a call id never matches an earlier one.
        let call = match call {
            Some(c) => self.hasher.hash_one(c.as_bytes()) | 1,
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
