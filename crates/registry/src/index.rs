//! The hot path: which campaign holds a number *now*, answered from memory.
//!
//! Numbers map to a 32-bit campaign ordinal in a sharded hash map (`u64` digits → `u32`, about
//! 30 bytes per number); the ordinal points into a small table of [`CampaignSlot`]s that carries
//! what a gateway or signer needs (status, DCA, throughput class). A campaign's suspension
//! therefore changes one slot, not millions of numbers. Reads take a shard read lock only.

use std::collections::HashMap;
use std::sync::RwLock;

use dashmap::DashMap;

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

#[derive(Default)]
struct CampaignTable {
    slots: Vec<CampaignSlot>,
    by_id: HashMap<CampaignId, u32>,
}

/// The in-memory number → campaign index.
pub struct NumberIndex {
    numbers: DashMap<u64, u32, foldhash::fast::RandomState>,
    campaigns: RwLock<CampaignTable>,
}

impl Default for NumberIndex {
    fn default() -> Self {
        Self::with_capacity(0)
    }
}

impl std::fmt::Debug for NumberIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NumberIndex").field("numbers", &self.numbers.len()).finish()
    }
}

impl NumberIndex {
    /// An empty index with room for `numbers` numbers.
    pub fn with_capacity(numbers: usize) -> Self {
        Self {
            numbers: DashMap::with_capacity_and_hasher(numbers, foldhash::fast::RandomState::default()),
            campaigns: RwLock::new(CampaignTable::default()),
        }
    }

    fn table(&self) -> std::sync::RwLockReadGuard<'_, CampaignTable> {
        // A panic while holding the lock cannot leave the table half-written (every write is a
        // single assignment), so a poisoned lock is still consistent.
        self.campaigns.read().unwrap_or_else(|e| e.into_inner())
    }

    fn table_mut(&self) -> std::sync::RwLockWriteGuard<'_, CampaignTable> {
        self.campaigns.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds or replaces a campaign's slot.
    pub fn put_campaign(&self, slot: CampaignSlot) {
        let mut t = self.table_mut();
        match t.by_id.get(&slot.id) {
            Some(&i) => t.slots[i as usize] = slot,
            None => {
                let i = u32::try_from(t.slots.len()).unwrap_or(u32::MAX);
                t.slots.push(slot);
                t.by_id.insert(slot.id, i);
            }
        }
    }

    /// Changes a campaign's slot in place; `false` if the campaign is unknown.
    pub fn update_campaign(&self, id: CampaignId, f: impl FnOnce(&mut CampaignSlot)) -> bool {
        let mut t = self.table_mut();
        let Some(&i) = t.by_id.get(&id) else { return false };
        f(&mut t.slots[i as usize]);
        true
    }

    /// A campaign's slot.
    pub fn campaign(&self, id: CampaignId) -> Option<CampaignSlot> {
        let t = self.table();
        t.by_id.get(&id).map(|&i| t.slots[i as usize])
    }

    /// The campaigns of a brand.
    pub fn campaigns_of_brand(&self, brand: BrandId) -> Vec<CampaignId> {
        self.table().slots.iter().filter(|s| s.brand == brand).map(|s| s.id).collect()
    }

    /// Records that `number` is now held by `campaign`; `false` if the campaign is unknown.
    pub fn assign(&self, number: TelephoneNumber, campaign: CampaignId) -> bool {
        let Some(&i) = self.table().by_id.get(&campaign) else { return false };
        self.numbers.insert(number.digits(), i);
        true
    }

    /// Records many assignments to one campaign; `false` if the campaign is unknown.
    pub fn assign_many(&self, numbers: impl IntoIterator<Item = TelephoneNumber>, campaign: CampaignId) -> bool {
        let Some(&i) = self.table().by_id.get(&campaign) else { return false };
        for n in numbers {
            self.numbers.insert(n.digits(), i);
        }
        true
    }

    /// Records that `number` is held by nobody.
    pub fn release(&self, number: TelephoneNumber) {
        self.numbers.remove(&number.digits());
    }

    /// The campaign holding `number` now.
    pub fn lookup(&self, number: TelephoneNumber) -> Option<IndexedAssignment> {
        let ordinal = *self.numbers.get(&number.digits())?;
        let campaign = *self.table().slots.get(ordinal as usize)?;
        Some(IndexedAssignment { number, campaign })
    }

    /// The campaign holding `number` now, as an ordinal (the cheapest lookup; for benchmarks and
    /// for callers that resolve many numbers against one snapshot of the campaign table).
    pub fn campaign_ordinal(&self, number: TelephoneNumber) -> Option<u32> {
        self.numbers.get(&number.digits()).map(|r| *r)
    }

    /// How many numbers are held.
    pub fn len(&self) -> usize {
        self.numbers.len()
    }

    /// Whether no number is held.
    pub fn is_empty(&self) -> bool {
        self.numbers.is_empty()
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
        assert!(idx.update_campaign(c.id, |s| s.status = CampaignStatus::Suspended));
        assert_eq!(idx.lookup(n).unwrap().campaign.status, CampaignStatus::Suspended);
        let d = slot(8);
        idx.put_campaign(d);
        idx.assign(n, d.id);
        assert_eq!(idx.lookup(n).unwrap().campaign.id, d.id);
        idx.release(n);
        assert!(idx.lookup(n).is_none());
        assert_eq!(idx.campaigns_of_brand(c.brand), vec![c.id]);
    }
}
