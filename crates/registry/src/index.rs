//! The hot path: which campaign holds a number *now*, answered from memory.
//!
//! Numbers map to a 32-bit campaign ordinal in a [`NumberMap`] (`u64` digits → `u32`, 12 bytes
//! a slot, about 20-30 bytes per number); the ordinal points into an append-only, lock-free
//! table of campaign slots carrying what a gateway or signer needs (status, DCA, throughput
//! class). A campaign's suspension therefore changes one slot, not millions of numbers. A
//! lookup takes no lock and does no atomic read-modify-write: readers on different cores do
//! not contend, and consecutive lookups overlap their cache misses.

use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;

use crate::number_map::NumberMap;
use crate::{BrandId, CampaignId, CampaignStatus, ProviderId, TelephoneNumber, ThroughputClass};

/// What the index knows of a campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CampaignSlot {
    /// The campaign.
    pub id: CampaignId,
    /// Its brand.
    pub brand: BrandId,
    /// Its CSP.
    pub csp: ProviderId,
    /// The DCA that accepted it, if any.
    pub dca: Option<ProviderId>,
    /// ACTIVE, SUSPENDED or EXPIRED.
    pub status: CampaignStatus,
    /// Message class.
    pub throughput_class: ThroughputClass,
}

/// A number and the campaign holding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexedAssignment {
    /// The number.
    pub number: TelephoneNumber,
    /// The campaign holding it.
    pub campaign: CampaignSlot,
}

/// A slot as stored: immutable ids plus the mutable state in atomics.
struct Cell {
    id: CampaignId,
    brand: BrandId,
    csp: ProviderId,
    /// Packed ProviderId of the DCA, 0 when none.
    dca: AtomicU64,
    /// status ordinal | class ordinal << 8.
    state: AtomicU64,
}

fn ordinal<T: PartialEq>(all: &[T], v: &T) -> u64 {
    all.iter().position(|x| x == v).unwrap_or(0) as u64
}

fn pack_state(status: CampaignStatus, class: ThroughputClass) -> u64 {
    ordinal(CampaignStatus::ALL, &status) | ordinal(ThroughputClass::ALL, &class) << 8
}

impl Cell {
    fn store(&self, slot: &CampaignSlot) {
        self.dca.store(slot.dca.map_or(0, ProviderId::to_u64), Ordering::Release);
        self.state.store(pack_state(slot.status, slot.throughput_class), Ordering::Release);
    }

    fn load(&self) -> CampaignSlot {
        let state = self.state.load(Ordering::Acquire);
        let dca = ProviderId::from_packed(self.dca.load(Ordering::Acquire));
        CampaignSlot {
            id: self.id,
            brand: self.brand,
            csp: self.csp,
            dca,
            status: CampaignStatus::ALL[(state & 0xff) as usize % CampaignStatus::ALL.len()],
            throughput_class: ThroughputClass::ALL[((state >> 8) & 0xff) as usize % ThroughputClass::ALL.len()],
        }
    }
}

/// The in-memory number → campaign index.
pub struct NumberIndex {
    numbers: NumberMap,
    cells: boxcar::Vec<Cell>,
    by_id: DashMap<CampaignId, u32, foldhash::fast::RandomState>,
    /// Serialises slot creation so one id never gets two cells.
    create: std::sync::Mutex<()>,
}

impl Default for NumberIndex {
    fn default() -> Self {
        Self::with_capacity(0)
    }
}

impl std::fmt::Debug for NumberIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NumberIndex")
            .field("numbers", &self.numbers.len())
            .field("campaigns", &self.cells.count())
            .finish()
    }
}

impl NumberIndex {
    /// An empty index with room for `numbers` numbers.
    pub fn with_capacity(numbers: usize) -> Self {
        Self {
            numbers: NumberMap::with_capacity(numbers, {
                use std::hash::BuildHasher;
                foldhash::fast::RandomState::default().hash_one(0x0076_6f75_6368_u64)
            }),
            cells: boxcar::Vec::new(),
            by_id: DashMap::with_hasher(foldhash::fast::RandomState::default()),
            create: std::sync::Mutex::new(()),
        }
    }

    fn ordinal_of(&self, id: CampaignId) -> Option<u32> {
        self.by_id.get(&id).map(|r| *r)
    }

    /// Adds a campaign's slot, or updates its mutable state (DCA, status, class).
    pub fn put_campaign(&self, slot: CampaignSlot) {
        let _guard = self.create.lock().unwrap_or_else(|e| e.into_inner());
        match self.ordinal_of(slot.id) {
            Some(i) => {
                if let Some(cell) = self.cells.get(i as usize) {
                    cell.store(&slot);
                }
            }
            None => {
                let cell = Cell {
                    id: slot.id,
                    brand: slot.brand,
                    csp: slot.csp,
                    dca: AtomicU64::new(0),
                    state: AtomicU64::new(0),
                };
                cell.store(&slot);
                let i = self.cells.push(cell);
                self.by_id.insert(slot.id, u32::try_from(i).unwrap_or(u32::MAX));
            }
        }
    }

    /// Changes a campaign's DCA, status or class; `false` if the campaign is unknown.
    pub fn update_campaign(&self, id: CampaignId, f: impl FnOnce(&mut CampaignSlot)) -> bool {
        let _guard = self.create.lock().unwrap_or_else(|e| e.into_inner());
        let Some(cell) = self.ordinal_of(id).and_then(|i| self.cells.get(i as usize)) else { return false };
        let mut slot = cell.load();
        f(&mut slot);
        cell.store(&slot);
        true
    }

    /// A campaign's slot.
    pub fn campaign(&self, id: CampaignId) -> Option<CampaignSlot> {
        self.ordinal_of(id).and_then(|i| self.cells.get(i as usize)).map(Cell::load)
    }

    /// The campaigns of a brand.
    pub fn campaigns_of_brand(&self, brand: BrandId) -> Vec<CampaignId> {
        self.cells.iter().filter(|(_, c)| c.brand == brand).map(|(_, c)| c.id).collect()
    }

    /// Records that `number` is now held by `campaign`; `false` if the campaign is unknown.
    pub fn assign(&self, number: TelephoneNumber, campaign: CampaignId) -> bool {
        let Some(i) = self.ordinal_of(campaign) else { return false };
        self.numbers.insert(number.digits(), i);
        true
    }

    /// Records many assignments at once (one lock for all); rows naming an unknown campaign
    /// are skipped and counted in the result.
    pub fn assign_many(&self, rows: &[(TelephoneNumber, CampaignId)]) -> usize {
        let mut last: Option<(CampaignId, Option<u32>)> = None;
        let mut unknown = 0;
        self.numbers.insert_many(rows.iter().filter_map(|(number, campaign)| {
            let ordinal = match last {
                Some((c, o)) if c == *campaign => o,
                _ => {
                    let o = self.ordinal_of(*campaign);
                    last = Some((*campaign, o));
                    o
                }
            };
            if ordinal.is_none() {
                unknown += 1;
            }
            ordinal.map(|o| (number.digits(), o))
        }));
        unknown
    }

    /// Records that `number` is held by nobody.
    pub fn release(&self, number: TelephoneNumber) {
        self.numbers.remove(number.digits());
    }

    /// The campaign holding `number` now.
    pub fn lookup(&self, number: TelephoneNumber) -> Option<IndexedAssignment> {
        let ordinal = self.numbers.get(number.digits())?;
        let campaign = self.cells.get(ordinal as usize)?.load();
        Some(IndexedAssignment { number, campaign })
    }

    /// Every number `campaign` holds now, ascending (a scan of the whole number table: for
    /// rare operations such as deactivating a campaign, not for the traffic path).
    pub fn numbers_of_campaign(&self, campaign: CampaignId) -> Vec<TelephoneNumber> {
        let Some(i) = self.ordinal_of(campaign) else { return Vec::new() };
        let mut numbers: Vec<TelephoneNumber> =
            self.numbers.keys_with_value(i).into_iter().filter_map(TelephoneNumber::from_digits).collect();
        numbers.sort_unstable();
        numbers
    }

    /// A page of the numbers `campaign` holds now: up to `limit` numbers above `after`,
    /// ascending, and how many it holds in all. A scan of the whole number table that holds
    /// up no lookup and no assignment; see [`NumberIndex::numbers_of_campaign`].
    pub fn numbers_page(
        &self,
        campaign: CampaignId,
        after: Option<TelephoneNumber>,
        limit: usize,
    ) -> (Vec<TelephoneNumber>, usize) {
        let Some(i) = self.ordinal_of(campaign) else { return (Vec::new(), 0) };
        let (page, total) = self.numbers.page_with_value(i, after.map_or(0, TelephoneNumber::digits), limit);
        (page.into_iter().filter_map(TelephoneNumber::from_digits).collect(), total)
    }

    /// The campaign holding `number` now, as an ordinal (the cheapest lookup, for benchmarks).
    pub fn campaign_ordinal(&self, number: TelephoneNumber) -> Option<u32> {
        self.numbers.get(number.digits())
    }

    /// How many numbers are held.
    pub fn len(&self) -> usize {
        self.numbers.len()
    }

    /// Whether no number is held.
    pub fn is_empty(&self) -> bool {
        self.numbers.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(id: u64) -> CampaignSlot {
        CampaignSlot {
            id: CampaignId::from_random(id),
            brand: BrandId::from_random(id),
            csp: ProviderId::from_random(1),
            dca: Some(ProviderId::from_random(2)),
            status: CampaignStatus::Active,
            throughput_class: ThroughputClass::A,
        }
    }

    #[test]
    fn assign_lookup_release_and_suspend() {
        let idx = NumberIndex::default();
        let n: TelephoneNumber = "+12025550123".parse().unwrap();
        let c = slot(7);
        assert!(!idx.assign(n, c.id), "unknown campaign must not be assignable");
        idx.put_campaign(c);
        assert!(idx.assign(n, c.id));
        assert_eq!(idx.lookup(n).unwrap().campaign, c);
        assert!(idx.update_campaign(c.id, |s| {
            s.status = CampaignStatus::Suspended;
            s.throughput_class = ThroughputClass::T;
            s.dca = None;
        }));
        let got = idx.lookup(n).unwrap().campaign;
        assert_eq!((got.status, got.throughput_class, got.dca), (CampaignStatus::Suspended, ThroughputClass::T, None));
        let d = slot(8);
        idx.put_campaign(d);
        idx.put_campaign(d);
        idx.assign(n, d.id);
        assert_eq!(idx.lookup(n).unwrap().campaign.id, d.id);
        idx.release(n);
        assert!(idx.lookup(n).is_none());
        assert_eq!(idx.campaigns_of_brand(c.brand), vec![c.id]);
        assert_eq!(idx.cells.count(), 2);
    }

    #[test]
    fn every_status_and_class_round_trips() {
        let idx = NumberIndex::default();
        let mut s = slot(1);
        idx.put_campaign(s);
        for status in CampaignStatus::ALL {
            for class in ThroughputClass::ALL {
                s.status = *status;
                s.throughput_class = *class;
                idx.put_campaign(s);
                assert_eq!(idx.campaign(s.id), Some(s));
            }
        }
    }

    #[test]
    fn batches_and_campaign_scans_agree_with_single_assignments() {
        let idx = NumberIndex::default();
        let (c, d) = (slot(1), slot(2));
        idx.put_campaign(c);
        idx.put_campaign(d);
        let tn = |i: u64| TelephoneNumber::from_digits(12_025_550_000 + i).unwrap();
        let rows: Vec<_> = (0..100).map(|i| (tn(i), if i % 3 == 0 { d.id } else { c.id })).collect();
        let mut with_unknown = rows.clone();
        with_unknown.push((tn(500), slot(9).id));
        assert_eq!(idx.assign_many(&with_unknown), 1, "the unknown campaign's row is skipped and counted");
        assert_eq!(idx.len(), 100);
        assert!(idx.lookup(tn(500)).is_none());
        idx.release(tn(3));
        let want_d: Vec<_> = (0..100).filter(|i| i % 3 == 0 && *i != 3).map(tn).collect();
        assert_eq!(idx.numbers_of_campaign(d.id), want_d);
        assert_eq!(idx.numbers_of_campaign(c.id).len(), 100 - 34);
        assert!(idx.numbers_of_campaign(slot(9).id).is_empty());
    }
}
