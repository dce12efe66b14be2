//! Throughput: messages per minute per campaign by class (AT&T's model: the class follows
//! from the use case and the brand's vetting score; classes G and N count per number), and messages
//! per day per brand (T-Mobile's model: a tier by vetting score, reset at midnight US Pacific).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};

use dashmap::DashMap;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use vouch_registry::{BrandId, CampaignId, CampaignSlot, TelephoneNumber};

/// A brand's daily tier, modelled on T-Mobile's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DailyTier {
    /// Vetting score 75-100.
    Top,
    /// 50-74.
    UpperMid,
    /// 25-49.
    LowerMid,
    /// 1-24 (and unvetted).
    Low,
    /// Sole proprietors.
    SoleProprietor,
}

impl DailyTier {
    /// The tier of a brand's score (`sole_proprietor` for that entity type).
    pub fn of(score: u8, sole_proprietor: bool) -> Self {
        match (sole_proprietor, score) {
            (true, _) => Self::SoleProprietor,
            (_, 75..) => Self::Top,
            (_, 50..=74) => Self::UpperMid,
            (_, 25..=49) => Self::LowerMid,
            _ => Self::Low,
        }
    }
}

/// Configurable limits.
#[derive(Debug, Clone, PartialEq)]
pub struct ThroughputConfig {
    /// Multiplies every class's per-minute rate (1.0: the classes as published).
    pub minute_scale: f64,
    /// Messages a day per tier: top, upper mid, lower mid, low, sole proprietor.
    pub daily_caps: [u64; 5],
}

impl Default for ThroughputConfig {
    fn default() -> Self {
        Self { minute_scale: 1.0, daily_caps: [200_000, 40_000, 10_000, 2_000, 1_000] }
    }
}

impl ThroughputConfig {
    /// A tier's daily cap.
    pub fn daily_cap(&self, tier: DailyTier) -> u64 {
        self.daily_caps[tier as usize]
    }
}

/// Which limit a message hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limited {
    /// The campaign's (or, for class G, the number's) messages per minute.
    PerMinute,
    /// The brand's messages per day.
    Daily,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at_us: i64,
}

#[derive(Debug, Clone, Copy)]
struct Day {
    day: i64,
    count: u64,
}

/// What a count is of: a campaign's minute budget (with the number, for class G) or a brand's day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UsageKey {
    /// Messages a campaign sent in a minute (`number` is 0 except for class G, counted per number).
    Minute {
        /// The campaign.
        campaign: CampaignId,
        /// The source number's digits for class G, else 0.
        number: u64,
    },
    /// Messages a brand sent in a US Pacific day.
    Day {
        /// The brand.
        brand: BrandId,
    },
}

/// How many messages were taken under a key in one period (a minute since 1970 for
/// [`UsageKey::Minute`], a Pacific day number for [`UsageKey::Day`]): the whole period so far,
/// not a delta, so that applying the same figure twice changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Whose.
    pub key: UsageKey,
    /// Which minute or day.
    pub period: i64,
    /// Messages taken in it.
    pub count: u64,
}

#[derive(Debug, Clone, Copy)]
struct Taken {
    period: i64,
    count: u64,
    changed: bool,
}

/// [`Throughput::remember_days`]: the brands' days are counted.
const COUNT_DAYS: u8 = 1;
/// [`Throughput::share`]: the minutes and the days are counted.
const COUNT_ALL: u8 = 2;

/// The counters (in memory). Several gateway nodes share their limits by exchanging
/// [`Usage`]: each reports what it took ([`Throughput::take_usage`], once
/// [`Throughput::share`]d) and takes in what the others did ([`Throughput::apply_others`]).
#[derive(Debug)]
pub struct Throughput {
    config: ThroughputConfig,
    buckets: DashMap<(CampaignId, u64), Bucket, foldhash::fast::RandomState>,
    days: DashMap<BrandId, Day, foldhash::fast::RandomState>,
    pacific: TimeZone,
    /// The Pacific day number and the instant the next one starts.
    today: Mutex<(i64, Timestamp)>,
    /// What this node counts of what it takes, for [`Throughput::take_usage`]: nothing,
    /// [`COUNT_DAYS`] or [`COUNT_ALL`].
    counting: AtomicU8,
    /// What this node took, per key, in the current period.
    taken: DashMap<UsageKey, Taken, foldhash::fast::RandomState>,
    /// The other nodes' minute figures applied so far.
    others_minutes: DashMap<(UsageKey, i64), u64, foldhash::fast::RandomState>,
    /// The other nodes' count of a brand's day.
    others_days: DashMap<BrandId, Day, foldhash::fast::RandomState>,
    /// Messages other nodes took under a minute key this node has no budget for yet (minute, count).
    others_before: DashMap<(CampaignId, u64), (i64, u64), foldhash::fast::RandomState>,
}

impl Throughput {
    /// Counters under `config`.
    pub fn new(config: ThroughputConfig) -> Self {
        let pacific = TimeZone::get("America/Los_Angeles").unwrap_or(TimeZone::fixed(jiff::tz::offset(-8)));
        Self {
            config,
            buckets: DashMap::with_hasher(Default::default()),
            days: DashMap::with_hasher(Default::default()),
            pacific,
            today: Mutex::new((i64::MIN, Timestamp::MIN)),
            counting: AtomicU8::new(0),
            taken: DashMap::with_hasher(Default::default()),
            others_minutes: DashMap::with_hasher(Default::default()),
            others_days: DashMap::with_hasher(Default::default()),
            others_before: DashMap::with_hasher(Default::default()),
        }
    }

    /// From now on, counts what this node takes for [`Throughput::take_usage`] (several nodes).
    pub fn share(&self) {
        self.counting.store(COUNT_ALL, Ordering::Relaxed);
    }

    /// From now on, counts what the brands take a day for [`Throughput::take_usage`], so that
    /// a node alone on its store can keep the day's counts across a restart (they come back
    /// through [`Throughput::apply_others`], a previous process being another node).
    pub fn remember_days(&self) {
        self.counting.fetch_max(COUNT_DAYS, Ordering::Relaxed);
    }

    /// What this node took, per key, in the periods that changed since the last call.
    pub fn take_usage(&self) -> Vec<Usage> {
        let mut out = Vec::new();
        for mut t in self.taken.iter_mut() {
            if t.changed {
                t.changed = false;
                out.push(Usage { key: *t.key(), period: t.period, count: t.count });
            }
        }
        out
    }

    /// Takes in what the other nodes took (their sums per key and period): a minute's new
    /// messages come off the campaign's budget here too, and a brand's day counts theirs with
    /// ours. Figures of past periods are ignored; figures already applied change nothing.
    pub fn apply_others(&self, usage: &[Usage], now: Timestamp) {
        let minute = minute_of(now.as_microsecond());
        let (day, _) = self.pacific_day(now);
        for u in usage {
            match u.key {
                UsageKey::Minute { campaign, number } => {
                    if u.period < minute - 1 {
                        continue;
                    }
                    let mut seen = self.others_minutes.entry((u.key, u.period)).or_insert(0);
                    let new = u.count.saturating_sub(*seen);
                    *seen = (*seen).max(u.count);
                    drop(seen);
                    if new > 0 {
                        match self.buckets.get_mut(&(campaign, number)) {
                            Some(mut b) => b.tokens -= new as f64,
                            None => {
                                let mut before = self.others_before.entry((campaign, number)).or_insert((u.period, 0));
                                if before.0 < minute - 1 {
                                    *before = (u.period, 0);
                                }
                                before.1 += new;
                            }
                        }
                    }
                }
                UsageKey::Day { brand } => {
                    if u.period != day {
                        continue;
                    }
                    let mut d = self.others_days.entry(brand).or_insert(Day { day, count: 0 });
                    if d.day != day {
                        *d = Day { day, count: 0 };
                    }
                    d.count = d.count.max(u.count);
                }
            }
        }
        self.others_minutes.retain(|(_, period), _| *period >= minute - 1);
        self.others_before.retain(|_, (period, _)| *period >= minute - 1);
    }

    fn count_taken(&self, key: UsageKey, period: i64, n: u64) {
        let mut t = self.taken.entry(key).or_insert(Taken { period, count: 0, changed: false });
        if t.period != period {
            *t = Taken { period, count: 0, changed: false };
        }
        t.count += n;
        t.changed = true;
    }

    /// The configuration.
    pub fn config(&self) -> &ThroughputConfig {
        &self.config
    }

    /// The US Pacific day `now` falls in (days since 1970-01-01 there), and when it ends.
    pub fn pacific_day(&self, now: Timestamp) -> (i64, Timestamp) {
        let mut t = self.today.lock().unwrap_or_else(|e| e.into_inner());
        if now >= t.1 || t.0 == i64::MIN || now < t.1 - jiff::SignedDuration::from_hours(25) {
            let z = now.to_zoned(self.pacific.clone());
            let date = z.date();
            let day = i64::from(date.since(jiff::civil::date(1970, 1, 1)).map(|s| s.get_days()).unwrap_or(0));
            let next = date
                .tomorrow()
                .ok()
                .and_then(|d| d.to_zoned(self.pacific.clone()).ok())
                .map(|z| z.timestamp())
                .unwrap_or(now + jiff::SignedDuration::from_hours(24));
            *t = (day, next);
        }
        *t
    }

    /// Takes `n` messages from the campaign's minute budget and the brand's day; nothing is
    /// taken when either is short.
    pub fn take(
        &self,
        campaign: &CampaignSlot,
        source: TelephoneNumber,
        tier: DailyTier,
        n: u32,
        now: Timestamp,
    ) -> Result<(), Limited> {
        self.admit(campaign, source, tier, n, now, true)
    }

    /// What [`Throughput::take`] would answer, taking nothing: for a message refused by a later
    /// check, which is not sent and so does not spend the campaign's budget.
    pub fn would_take(
        &self,
        campaign: &CampaignSlot,
        source: TelephoneNumber,
        tier: DailyTier,
        n: u32,
        now: Timestamp,
    ) -> Result<(), Limited> {
        self.admit(campaign, source, tier, n, now, false)
    }

    fn admit(
        &self,
        campaign: &CampaignSlot,
        source: TelephoneNumber,
        tier: DailyTier,
        n: u32,
        now: Timestamp,
        spend: bool,
    ) -> Result<(), Limited> {
        let (key, per_minute) = self.minute_budget(campaign, source);
        let (campaign, brand) = (campaign.id, campaign.brand);
        let now_us = now.as_microsecond();
        let n = f64::from(n);
        {
            let mut b = self.buckets.entry(key).or_insert_with(|| {
                // What other nodes took in the last minute, before this node had a budget here.
                let minute = minute_of(now_us);
                let before =
                    self.others_before.remove(&key).filter(|(_, (m, _))| *m >= minute - 1).map_or(0, |(_, (_, n))| n);
                Bucket { tokens: per_minute - before as f64, at_us: now_us }
            });
            let elapsed = (now_us - b.at_us).max(0) as f64 / 60e6;
            b.tokens = (b.tokens + elapsed * per_minute).min(per_minute);
            b.at_us = now_us.max(b.at_us);
            if b.tokens < n {
                return Err(Limited::PerMinute);
            }
            if spend {
                b.tokens -= n;
            }
        }
        let (day, _) = self.pacific_day(now);
        let cap = self.config.daily_cap(tier);
        let mut d = self.days.entry(brand).or_insert(Day { day, count: 0 });
        if d.day != day {
            *d = Day { day, count: 0 };
        }
        let others = self.others_days.get(&brand).filter(|o| o.day == day).map_or(0, |o| o.count);
        if d.count + others + n as u64 > cap {
            drop(d);
            // Give the minute tokens back: the message is not sent.
            if spend && let Some(mut b) = self.buckets.get_mut(&key) {
                b.tokens = (b.tokens + n).min(per_minute);
            }
            return Err(Limited::Daily);
        }
        if !spend {
            return Ok(());
        }
        d.count += n as u64;
        drop(d);
        let counting = self.counting.load(Ordering::Relaxed);
        if counting == COUNT_ALL {
            self.count_taken(UsageKey::Minute { campaign, number: key.1 }, minute_of(now_us), n as u64);
        }
        if counting >= COUNT_DAYS {
            self.count_taken(UsageKey::Day { brand }, day, n as u64);
        }
        Ok(())
    }

    /// The minute budget a message from `source` draws on (the campaign's, or for class G the
    /// number's), and its size.
    fn minute_budget(&self, campaign: &CampaignSlot, source: TelephoneNumber) -> ((CampaignId, u64), f64) {
        let class = campaign.throughput_class;
        let per_minute = (f64::from(class.sms_per_minute()) * self.config.minute_scale).max(1.0);
        ((campaign.id, if class.per_number() { source.digits() } else { 0 }), per_minute)
    }

    /// Gives back what [`Throughput::take`] took for `n` messages that were not sent after all
    /// (the SMSC refused them): to the campaign's minute budget, and off the brand's day. The
    /// totals other nodes read go down too; they keep the highest they saw, so they count the
    /// next messages only once these are made up, which is the same thing.
    pub fn give_back(&self, campaign: &CampaignSlot, source: TelephoneNumber, n: u32, now: Timestamp) {
        let (key, per_minute) = self.minute_budget(campaign, source);
        let (id, brand) = (campaign.id, campaign.brand);
        if let Some(mut b) = self.buckets.get_mut(&key) {
            b.tokens = (b.tokens + f64::from(n)).min(per_minute);
        }
        let (day, _) = self.pacific_day(now);
        if let Some(mut d) = self.days.get_mut(&brand)
            && d.day == day
        {
            d.count = d.count.saturating_sub(u64::from(n));
        }
        if self.counting.load(Ordering::Relaxed) != 0 {
            let minute = minute_of(now.as_microsecond());
            for (k, period) in
                [(UsageKey::Minute { campaign: id, number: key.1 }, minute), (UsageKey::Day { brand }, day)]
            {
                if let Some(mut t) = self.taken.get_mut(&k)
                    && t.period == period
                {
                    t.count = t.count.saturating_sub(u64::from(n));
                    t.changed = true;
                }
            }
        }
    }

    /// Messages the brand sent today (US Pacific), through this node and (as last heard) the
    /// others.
    pub fn brand_today(&self, brand: BrandId, now: Timestamp) -> u64 {
        let (day, _) = self.pacific_day(now);
        let ours = self.days.get(&brand).filter(|d| d.day == day).map_or(0, |d| d.count);
        ours + self.others_days.get(&brand).filter(|d| d.day == day).map_or(0, |d| d.count)
    }
}

/// The minute since 1970 that `at` falls in: the period of [`UsageKey::Minute`].
pub fn usage_minute(at: Timestamp) -> i64 {
    minute_of(at.as_microsecond())
}

fn minute_of(us: i64) -> i64 {
    us.div_euclid(60_000_000)
}

#[cfg(test)]
mod tests {
    use vouch_registry::ThroughputClass;

    use super::*;

    fn slot(c: CampaignId, b: BrandId, class: ThroughputClass) -> CampaignSlot {
        CampaignSlot {
            id: c,
            brand: b,
            csp: vouch_registry::ProviderId::from_random(1),
            dca: None,
            status: vouch_registry::CampaignStatus::Active,
            throughput_class: class,
        }
    }

    fn ids() -> (CampaignId, BrandId, TelephoneNumber) {
        (CampaignId::from_random(1), BrandId::from_random(1), "+12025550100".parse().unwrap())
    }

    #[test]
    fn minute_budget_refills() {
        let t = Throughput::new(ThroughputConfig::default());
        let (c, b, n) = ids();
        let t0: Timestamp = "2026-11-23T12:00:00Z".parse().unwrap();
        // Class P: 60 a minute.
        for _ in 0..60 {
            t.take(&slot(c, b, ThroughputClass::P), n, DailyTier::Top, 1, t0).unwrap();
        }
        assert_eq!(t.take(&slot(c, b, ThroughputClass::P), n, DailyTier::Top, 1, t0), Err(Limited::PerMinute));
        let t1 = t0 + jiff::SignedDuration::from_secs(1);
        t.take(&slot(c, b, ThroughputClass::P), n, DailyTier::Top, 1, t1).unwrap();
        assert_eq!(t.take(&slot(c, b, ThroughputClass::P), n, DailyTier::Top, 1, t1), Err(Limited::PerMinute));
        // Class G counts per number.
        let other: TelephoneNumber = "+12025550101".parse().unwrap();
        for _ in 0..600 {
            t.take(&slot(c, b, ThroughputClass::G), n, DailyTier::Top, 1, t1).unwrap();
        }
        assert!(t.take(&slot(c, b, ThroughputClass::G), n, DailyTier::Top, 1, t1).is_err());
        t.take(&slot(c, b, ThroughputClass::G), other, DailyTier::Top, 1, t1).unwrap();
        // So does class N (agents and franchises: 3,600 a minute each number).
        let franchise = CampaignId::from_random(77);
        for _ in 0..3_600 {
            t.take(&slot(franchise, b, ThroughputClass::N), n, DailyTier::Top, 1, t1).unwrap();
        }
        assert!(t.take(&slot(franchise, b, ThroughputClass::N), n, DailyTier::Top, 1, t1).is_err());
        t.take(&slot(franchise, b, ThroughputClass::N), other, DailyTier::Top, 1, t1).unwrap();
    }

    #[test]
    fn nodes_share_the_minute_budget_and_the_daily_cap() {
        let (c, b, n) = ids();
        let config = ThroughputConfig { minute_scale: 1.0, daily_caps: [200_000, 40_000, 10_000, 200, 1_000] };
        let (a, other, late) =
            (Throughput::new(config.clone()), Throughput::new(config.clone()), Throughput::new(config));
        for t in [&a, &other, &late] {
            t.share();
        }
        let s = slot(c, b, ThroughputClass::P); // 60 a minute
        let now: Timestamp = "2026-11-20T18:00:00Z".parse().unwrap();
        assert!(other.take(&s, n, DailyTier::Low, 1, now).is_ok(), "other has a budget here");
        for _ in 0..40 {
            a.take(&s, n, DailyTier::Low, 1, now).unwrap();
        }
        let usage = a.take_usage();
        assert!(usage.contains(&Usage { key: UsageKey::Day { brand: b }, period: a.pacific_day(now).0, count: 40 }));
        assert!(usage.contains(&Usage {
            key: UsageKey::Minute { campaign: c, number: 0 },
            period: now.as_second() / 60,
            count: 40
        }));
        assert!(a.take_usage().is_empty(), "reported once");
        // Ten the SMSC refused go back, and the totals the others read go down with them.
        let refused = Throughput::new(a.config().clone());
        refused.share();
        for _ in 0..10 {
            refused.take(&s, n, DailyTier::Low, 1, now).unwrap();
        }
        refused.give_back(&s, n, 4, now);
        let mut told = refused.take_usage();
        told.sort_by_key(|u| u.period);
        assert_eq!(told.iter().map(|u| u.count).collect::<Vec<_>>(), vec![6, 6], "{told:?}");
        assert_eq!(refused.brand_today(b, now), 6);
        assert_eq!((0..60).take_while(|_| refused.take(&s, n, DailyTier::Low, 1, now).is_ok()).count(), 54);
        // The same figures twice change nothing; a node with no budget yet starts short.
        other.apply_others(&usage, now);
        other.apply_others(&usage, now);
        late.apply_others(&usage, now);
        for t in [&other, &late] {
            let taken = (0..60).take_while(|_| t.take(&s, n, DailyTier::Low, 1, now).is_ok()).count();
            assert_eq!(taken + 40 + usize::from(std::ptr::eq(t, &other)), 60, "the 60 a minute are shared");
        }
        // Past periods are ignored.
        let fresh =
            Throughput::new(ThroughputConfig { minute_scale: 1.0, daily_caps: [200_000, 40_000, 10_000, 200, 1_000] });
        let old =
            [Usage { key: UsageKey::Minute { campaign: c, number: 0 }, period: now.as_second() / 60 - 5, count: 60 }];
        fresh.apply_others(&old, now);
        assert!(fresh.take(&s, n, DailyTier::Low, 60, now).is_ok());
        // The brand's day: 200 for the Low tier, counted over the nodes.
        let later = now + jiff::SignedDuration::from_mins(10);
        let day = a.pacific_day(later).0;
        a.apply_others(&[Usage { key: UsageKey::Day { brand: b }, period: day, count: 150 }], later);
        assert_eq!(a.brand_today(b, later), 190);
        assert!(a.take(&s, n, DailyTier::Low, 10, later).is_ok());
        assert_eq!(a.take(&s, n, DailyTier::Low, 1, later), Err(Limited::Daily));
    }

    #[test]
    fn daily_cap_resets_at_pacific_midnight() {
        let cfg = ThroughputConfig { daily_caps: [5, 4, 3, 2, 1], ..Default::default() };
        let t = Throughput::new(cfg);
        let (c, b, n) = ids();
        // 23:59 Pacific on 2026-11-23 is 07:59Z on the 24th (PST, UTC-8).
        let before: Timestamp = "2026-11-24T07:59:00Z".parse().unwrap();
        t.take(&slot(c, b, ThroughputClass::S), n, DailyTier::LowerMid, 2, before).unwrap();
        t.take(&slot(c, b, ThroughputClass::S), n, DailyTier::LowerMid, 1, before).unwrap();
        assert_eq!(t.take(&slot(c, b, ThroughputClass::S), n, DailyTier::LowerMid, 1, before), Err(Limited::Daily));
        assert_eq!(t.brand_today(b, before), 3);
        let after: Timestamp = "2026-11-24T08:00:00Z".parse().unwrap();
        assert_eq!(t.brand_today(b, after), 0);
        t.take(&slot(c, b, ThroughputClass::S), n, DailyTier::LowerMid, 3, after).unwrap();
        // Summer time: midnight Pacific is 07:00Z.
        let (d1, end) = t.pacific_day("2026-07-01T06:59:59Z".parse().unwrap());
        assert_eq!(end, "2026-07-01T07:00:00Z".parse::<Timestamp>().unwrap());
        let (d2, _) = t.pacific_day(end);
        assert_eq!(d2, d1 + 1);
        assert_eq!(DailyTier::of(80, false), DailyTier::Top);
        assert_eq!(DailyTier::of(30, false), DailyTier::LowerMid);
        assert_eq!(DailyTier::of(99, true), DailyTier::SoleProprietor);
    }
}
