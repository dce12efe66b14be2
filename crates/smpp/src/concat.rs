//! Reassembly of concatenated messages, so content checks read the whole text.
//!
//! Parts are keyed by what the caller gives (the session, the addresses and the reference);
//! each part carries a tag of the caller's (its sequence number and bytes, to answer and
//! forward it later). Memory is bounded: at most `max_messages` messages and `max_bytes` of
//! user data are held; a message whose parts have not all come within `timeout_ms` is given
//! back by [`Reassembler::expire`].

use std::collections::HashMap;
use std::hash::Hash;

/// Limits of a [`Reassembler`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most messages held at once.
    pub max_messages: usize,
    /// Most bytes of user data held at once.
    pub max_bytes: usize,
    /// How long the first part waits for the others, in milliseconds.
    pub timeout_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_messages: 256, max_bytes: 1 << 20, timeout_ms: 10_000 }
    }
}

struct Pending<T> {
    first_ms: u64,
    total: u8,
    parts: Vec<Option<(Vec<u8>, T)>>,
    have: usize,
    bytes: usize,
}

/// What became of a part.
#[derive(Debug, PartialEq, Eq)]
pub enum Offer<T> {
    /// The message is whole: its parts' user data in order, and their tags in order.
    Complete {
        /// The concatenated user data (without UDHs).
        data: Vec<u8>,
        /// The tags, part 1 first.
        tags: Vec<T>,
    },
    /// Held until the other parts come.
    Held,
    /// Not taken: numbering out of range, a total that disagrees with earlier parts, a
    /// duplicate, or the limits reached. The tag comes back.
    Refused(T, &'static str),
}

/// Holds parts until their message is whole.
pub struct Reassembler<K, T> {
    limits: Limits,
    pending: HashMap<K, Pending<T>>,
    bytes: usize,
}

impl<K, T> std::fmt::Debug for Reassembler<K, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reassembler").field("messages", &self.pending.len()).field("bytes", &self.bytes).finish()
    }
}

impl<K: Hash + Eq + Clone, T> Reassembler<K, T> {
    /// An empty reassembler.
    pub fn new(limits: Limits) -> Self {
        Self { limits, pending: HashMap::new(), bytes: 0 }
    }

    /// How many messages are waiting for parts.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Offers part `seqnum` of `total` of the message `key`, at `now_ms`.
    pub fn offer(&mut self, key: K, total: u8, seqnum: u8, data: &[u8], tag: T, now_ms: u64) -> Offer<T> {
        if total == 0 || seqnum == 0 || seqnum > total {
            return Offer::Refused(tag, "part number out of range");
        }
        if total == 1 {
            return Offer::Complete { data: data.to_vec(), tags: vec![tag] };
        }
        if self.bytes + data.len() > self.limits.max_bytes {
            return Offer::Refused(tag, "too much concatenated data is waiting for its other parts");
        }
        if !self.pending.contains_key(&key) && self.pending.len() >= self.limits.max_messages {
            return Offer::Refused(tag, "too many concatenated messages are waiting for their other parts");
        }
        let p = self.pending.entry(key.clone()).or_insert_with(|| Pending {
            first_ms: now_ms,
            total,
            parts: (0..total).map(|_| None).collect(),
            have: 0,
            bytes: 0,
        });
        if p.total != total {
            return Offer::Refused(tag, "the parts disagree on the number of parts");
        }
        let slot = &mut p.parts[seqnum as usize - 1];
        if slot.is_some() {
            return Offer::Refused(tag, "this part was already received");
        }
        *slot = Some((data.to_vec(), tag));
        p.have += 1;
        p.bytes += data.len();
        self.bytes += data.len();
        if p.have < p.total as usize {
            return Offer::Held;
        }
        let Some(p) = self.pending.remove(&key) else { return Offer::Held };
        self.bytes -= p.bytes;
        let mut data = Vec::with_capacity(p.bytes);
        let mut tags = Vec::with_capacity(p.parts.len());
        for (d, t) in p.parts.into_iter().flatten() {
            data.extend_from_slice(&d);
            tags.push(t);
        }
        Offer::Complete { data, tags }
    }

    /// Takes back part `seqnum` of the message `key`, if it is held and `which` says so (its
    /// tag), so that the same part sent again can take its place.
    pub fn take_part(&mut self, key: &K, seqnum: u8, which: impl FnOnce(&T) -> bool) -> Option<T> {
        let p = self.pending.get_mut(key)?;
        let slot = p.parts.get_mut(usize::from(seqnum).checked_sub(1)?)?;
        if !slot.as_ref().is_some_and(|(_, t)| which(t)) {
            return None;
        }
        let (data, tag) = slot.take()?;
        p.have -= 1;
        p.bytes -= data.len();
        self.bytes -= data.len();
        if p.have == 0 {
            self.pending.remove(key);
        }
        Some(tag)
    }

    /// Removes the messages whose first part came more than the timeout before `now_ms`, and
    /// gives back the tags of their parts.
    pub fn expire(&mut self, now_ms: u64) -> Vec<T> {
        let timeout = self.limits.timeout_ms;
        let old: Vec<K> = self
            .pending
            .iter()
            .filter(|(_, p)| now_ms.saturating_sub(p.first_ms) >= timeout)
            .map(|(k, _)| k.clone())
            .collect();
        let mut tags = Vec::new();
        for k in old {
            if let Some(p) = self.pending.remove(&k) {
                self.bytes -= p.bytes;
                tags.extend(p.parts.into_iter().flatten().map(|(_, t)| t));
            }
        }
        tags
    }

    /// Removes everything held (the session closed) and gives back the tags.
    pub fn drain(&mut self) -> Vec<T> {
        self.bytes = 0;
        self.pending.drain().flat_map(|(_, p)| p.parts.into_iter().flatten().map(|(_, t)| t)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_in_any_order_make_the_message() {
        let mut r: Reassembler<u16, u32> = Reassembler::new(Limits::default());
        assert_eq!(r.offer(7, 3, 3, b"!", 30, 0), Offer::Held);
        assert_eq!(r.offer(7, 3, 1, b"Hello ", 10, 1), Offer::Held);
        assert_eq!(r.offer(8, 2, 1, b"other", 11, 1), Offer::Held);
        assert_eq!(
            r.offer(7, 3, 2, b"world", 20, 2),
            Offer::Complete { data: b"Hello world!".to_vec(), tags: vec![10, 20, 30] }
        );
        assert_eq!(r.len(), 1);
        assert_eq!(r.offer(9, 1, 1, b"single", 1, 0), Offer::Complete { data: b"single".to_vec(), tags: vec![1] });
    }

    #[test]
    fn refusals_and_expiry() {
        let mut r: Reassembler<u16, u32> = Reassembler::new(Limits { max_messages: 1, max_bytes: 10, timeout_ms: 100 });
        assert!(matches!(r.offer(1, 2, 3, b"x", 1, 0), Offer::Refused(1, _)));
        assert!(matches!(r.offer(1, 0, 0, b"x", 1, 0), Offer::Refused(1, _)));
        assert_eq!(r.offer(1, 2, 1, b"abc", 1, 0), Offer::Held);
        assert!(matches!(r.offer(1, 2, 1, b"abc", 2, 0), Offer::Refused(2, "this part was already received")));
        assert!(matches!(r.offer(1, 3, 2, b"abc", 3, 0), Offer::Refused(3, _)));
        assert!(matches!(r.offer(2, 2, 1, b"a", 4, 0), Offer::Refused(4, _)), "one message at most");
        assert!(matches!(r.offer(1, 2, 2, b"0123456789", 5, 0), Offer::Refused(5, _)), "ten bytes at most");
        assert!(r.expire(99).is_empty());
        assert_eq!(r.expire(100), vec![1]);
        assert!(r.is_empty());
        assert_eq!(r.offer(2, 2, 1, b"a", 6, 200), Offer::Held);
        assert_eq!(r.drain(), vec![6]);
    }

    #[test]
    fn a_held_part_can_be_taken_back_for_the_same_part_sent_again() {
        let mut r: Reassembler<u16, u32> = Reassembler::new(Limits { max_messages: 4, max_bytes: 12, timeout_ms: 100 });
        assert_eq!(r.offer(1, 3, 1, b"Hello ", 10, 0), Offer::Held);
        assert_eq!(r.offer(1, 3, 2, b"world", 20, 0), Offer::Held);
        assert_eq!(r.take_part(&1, 1, |t| *t == 99), None, "only the part the caller says");
        assert_eq!(r.take_part(&1, 3, |_| true), None, "not held");
        assert_eq!(r.take_part(&1, 0, |_| true), None);
        assert_eq!(r.take_part(&2, 1, |_| true), None);
        assert_eq!(r.take_part(&1, 1, |t| *t == 10), Some(10));
        assert_eq!(r.offer(1, 3, 1, b"Hi, ", 11, 1), Offer::Held, "the bytes it held are free again");
        assert_eq!(
            r.offer(1, 3, 3, b"!", 30, 1),
            Offer::Complete { data: b"Hi, world!".to_vec(), tags: vec![11, 20, 30] }
        );
        assert_eq!(r.offer(2, 2, 1, b"x", 1, 2), Offer::Held);
        assert_eq!(r.take_part(&2, 1, |_| true), Some(1));
        assert!(r.is_empty(), "a message with no part left is gone");
    }
}
