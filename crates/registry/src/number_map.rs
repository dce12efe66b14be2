//! A map from number digits to campaign ordinals whose reads take no lock and do no atomic
//! read-modify-write: one writer at a time (behind a mutex) and any number of readers.
//!
//! The table is open addressing with linear probing over two arrays of atomics (keys and
//! values). The writer publishes a value before its key, so a reader that sees a key sees its
//! value. A released number keeps its key with a `DEAD` value until the next resize drops it.
//! Growing builds a new table and publishes it behind a generation counter; each reader thread
//! keeps an `Arc` of the table it last used and swaps it only when the generation moved, so the
//! common lookup is: one plain load of the generation, a thread-local check, and the probe.
//! A reader holding the previous table sees the map as it was when the table was replaced,
//! which is a valid linearisation of a lookup that overlapped the write.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

const EMPTY: u64 = 0;
const DEAD: u32 = u32::MAX;
/// Most slots (live or dead) in use before the table grows, out of 8.
const MAX_LOAD_EIGHTHS: usize = 6;

struct Table {
    keys: Box<[AtomicU64]>,
    values: Box<[AtomicU32]>,
    mask: usize,
    seed: u64,
}

impl Table {
    fn new(capacity: usize, seed: u64) -> Self {
        let slots = (capacity.max(8) * 8 / MAX_LOAD_EIGHTHS + 1).next_power_of_two();
        Self {
            keys: (0..slots).map(|_| AtomicU64::new(EMPTY)).collect(),
            values: (0..slots).map(|_| AtomicU32::new(DEAD)).collect(),
            mask: slots - 1,
            seed,
        }
    }

    fn start(&self, key: u64) -> usize {
        // A seeded multiply-xorshift: cheap, and the seed keeps probe sequences unpredictable.
        let mut h = (key ^ self.seed).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        h ^= h >> 32;
        (h as usize) & self.mask
    }

    /// The slot holding `key`, or the empty slot where it would go.
    fn find(&self, key: u64) -> (usize, bool) {
        let mut i = self.start(key);
        loop {
            let k = self.keys[i].load(Ordering::Acquire);
            if k == key {
                return (i, true);
            }
            if k == EMPTY {
                return (i, false);
            }
            i = (i + 1) & self.mask;
        }
    }

    fn get(&self, key: u64) -> Option<u32> {
        match self.find(key) {
            (i, true) => Some(self.values[i].load(Ordering::Acquire)).filter(|v| *v != DEAD),
            _ => None,
        }
    }
}

struct Writer {
    table: Arc<Table>,
    /// Slots whose key is set (live or dead).
    used: usize,
    /// Live entries.
    live: usize,
}

/// The map; see the module documentation.
pub(crate) struct NumberMap {
    id: u64,
    generation: AtomicU64,
    published: RwLock<Arc<Table>>,
    writer: Mutex<Writer>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// (map id, generation, table) of the maps this thread read lately.
    static TABLES: RefCell<Vec<(u64, u64, Arc<Table>)>> = const { RefCell::new(Vec::new()) };
}

/// How many maps a thread keeps a table for (one in production; tests make many).
const CACHED_MAPS: usize = 4;

impl NumberMap {
    pub(crate) fn with_capacity(capacity: usize, seed: u64) -> Self {
        let table = Arc::new(Table::new(capacity, seed));
        Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            generation: AtomicU64::new(0),
            published: RwLock::new(table.clone()),
            writer: Mutex::new(Writer { table, used: 0, live: 0 }),
        }
    }

    fn published(&self) -> Arc<Table> {
        self.published.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The value of `key`.
    pub(crate) fn get(&self, key: u64) -> Option<u32> {
        let generation = self.generation.load(Ordering::Acquire);
        TABLES.with(|cell| {
            let Ok(mut cache) = cell.try_borrow_mut() else {
                return self.published().get(key);
            };
            if let Some(entry) = cache.iter_mut().find(|e| e.0 == self.id) {
                if entry.1 != generation {
                    entry.2 = self.published();
                    entry.1 = generation;
                }
                return entry.2.get(key);
            }
            let table = self.published();
            let value = table.get(key);
            if cache.len() >= CACHED_MAPS {
                cache.remove(0);
            }
            cache.push((self.id, generation, table));
            value
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Writer> {
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets `key` to `value` (`key` must not be 0, `value` not `u32::MAX`).
    pub(crate) fn insert(&self, key: u64, value: u32) {
        let mut w = self.lock();
        self.insert_locked(&mut w, key, value);
    }

    /// Sets each key to its value, taking the writer's lock once.
    pub(crate) fn insert_many(&self, entries: impl IntoIterator<Item = (u64, u32)>) {
        let mut w = self.lock();
        for (key, value) in entries {
            self.insert_locked(&mut w, key, value);
        }
    }

    fn insert_locked(&self, w: &mut Writer, key: u64, value: u32) {
        debug_assert!(key != EMPTY && value != DEAD);
        let (mut i, found) = w.table.find(key);
        if found {
            if w.table.values[i].swap(value, Ordering::AcqRel) == DEAD {
                w.live += 1;
            }
            return;
        }
        if (w.used + 1) * 8 > w.table.keys.len() * MAX_LOAD_EIGHTHS {
            self.grow(w);
            i = w.table.find(key).0;
        }
        w.table.values[i].store(value, Ordering::Release);
        w.table.keys[i].store(key, Ordering::Release);
        w.used += 1;
        w.live += 1;
    }

    /// Marks `key` absent.
    pub(crate) fn remove(&self, key: u64) {
        let mut w = self.lock();
        if let (i, true) = w.table.find(key)
            && w.table.values[i].swap(DEAD, Ordering::AcqRel) != DEAD
        {
            w.live -= 1;
        }
    }

    /// Rebuilds the table with room for twice the live entries, dropping dead keys, and
    /// publishes it.
    fn grow(&self, w: &mut Writer) {
        let next = Table::new((w.live + 1) * 2, w.table.seed);
        let mut live = 0;
        for (k, v) in w.table.keys.iter().zip(w.table.values.iter()) {
            let (k, v) = (k.load(Ordering::Acquire), v.load(Ordering::Acquire));
            if k != EMPTY && v != DEAD {
                let (i, _) = next.find(k);
                next.values[i].store(v, Ordering::Relaxed);
                next.keys[i].store(k, Ordering::Relaxed);
                live += 1;
            }
        }
        let next = Arc::new(next);
        *self.published.write().unwrap_or_else(|e| e.into_inner()) = next.clone();
        self.generation.fetch_add(1, Ordering::Release);
        *w = Writer { table: next, used: live, live };
    }

    /// Every live key whose value is `value`, in table order (a scan of the whole table, under
    /// the writer's lock: no write lands halfway through it).
    pub(crate) fn keys_with_value(&self, value: u32) -> Vec<u64> {
        let w = self.lock();
        w.table
            .keys
            .iter()
            .zip(w.table.values.iter())
            .filter(|(k, v)| v.load(Ordering::Acquire) == value && k.load(Ordering::Acquire) != EMPTY)
            .map(|(k, _)| k.load(Ordering::Acquire))
            .collect()
    }

    /// Up to `limit` live keys above `after` whose value is `value`, ascending, and how many
    /// live keys have that value in all. A scan of the table as published, without the
    /// writer's lock (a listing must not hold up assignments): a write that lands during the
    /// scan may or may not show, as if the listing had been read just before or after it.
    pub(crate) fn page_with_value(&self, value: u32, after: u64, limit: usize) -> (Vec<u64>, usize) {
        let table = self.published();
        let mut total = 0;
        let mut page = Vec::new();
        for (k, v) in table.keys.iter().zip(table.values.iter()) {
            if v.load(Ordering::Acquire) != value {
                continue;
            }
            let k = k.load(Ordering::Acquire);
            if k == EMPTY {
                continue;
            }
            total += 1;
            if k > after && limit > 0 {
                page.push(k);
                // Keep memory to about twice the page, whatever the campaign's size.
                if page.len() >= limit.saturating_mul(2).max(16) {
                    page.select_nth_unstable(limit - 1);
                    page.truncate(limit);
                }
            }
        }
        page.sort_unstable();
        page.truncate(limit);
        (page, total)
    }

    /// Live entries.
    pub(crate) fn len(&self) -> usize {
        self.lock().live
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    proptest::proptest! {
        #[test]
        fn behaves_like_a_hash_map(ops in proptest::collection::vec((0u8..3, 1u64..64, proptest::prop_oneof![0u32..3, 0u32..1000]), 0..400)) {
            let map = NumberMap::with_capacity(0, 7);
            let mut model = HashMap::new();
            for (op, k, v) in ops {
                match op {
                    0 | 1 => { map.insert(k, v); model.insert(k, v); }
                    _ => { map.remove(k); model.remove(&k); }
                }
                proptest::prop_assert_eq!(map.len(), model.len());
            }
            for k in 1..64 {
                proptest::prop_assert_eq!(map.get(k), model.get(&k).copied());
            }
            for v in [0u32, 1, 500, 999] {
                let mut keys = map.keys_with_value(v);
                keys.sort_unstable();
                let mut want: Vec<u64> = model.iter().filter(|e| *e.1 == v).map(|e| *e.0).collect();
                want.sort_unstable();
                proptest::prop_assert_eq!(&keys, &want);
                // Paging through them in any page size gives them all, in order, once.
                for limit in [1usize, 3, 7, 100] {
                    let (mut paged, mut after) = (Vec::new(), 0);
                    loop {
                        let (page, total) = map.page_with_value(v, after, limit);
                        proptest::prop_assert_eq!(total, want.len());
                        proptest::prop_assert!(page.len() <= limit);
                        let Some(&last) = page.last() else { break };
                        paged.extend(page);
                        after = last;
                    }
                    proptest::prop_assert_eq!(&paged, &want);
                }
                proptest::prop_assert_eq!(map.page_with_value(v, 0, 0), (Vec::new(), want.len()));
            }
        }
    }

    #[test]
    fn readers_see_stable_keys_while_the_writer_grows_the_table() {
        let map = Arc::new(NumberMap::with_capacity(0, 1));
        for k in 1..=1000u64 {
            map.insert(k, k as u32);
        }
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let (map, stop) = (map.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        for k in 1..=1000u64 {
                            assert_eq!(map.get(k), Some(k as u32));
                        }
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        for k in 1001..200_000u64 {
            map.insert(k, 1);
            if k % 3 == 0 {
                map.remove(k);
            }
        }
        stop.store(true, Ordering::Relaxed);
        for r in readers {
            assert!(r.join().unwrap() > 0);
        }
        assert_eq!(map.get(200_001), None);
        assert_eq!(map.get(1001), Some(1));
        assert_eq!(map.get(1002), None);
        assert_eq!(map.len(), 1000 + (1001..200_000).filter(|k| k % 3 != 0).count());
    }
}
