//! Throughput: messages per minute per campaign by class (AT&T's model: the class follows
//! from the use case and the brand's vetting score; class G counts per number), and messages
//! per day per brand (T-Mobile's model: a tier by vetting score, reset at midnight US Pacific).

use std::sync::Mutex;

use dashmap::DashMap;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use vouch_registry::{BrandId, CampaignId, CampaignSlot, TelephoneNumber, ThroughputClass};

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

/// The counters (in memory, per node).
#[derive(Debug)]
pub struct Throughput {
    config: ThroughputConfig,
    buckets: DashMap<(CampaignId, u64), Bucket, foldhash::fast::RandomState>,
    days: DashMap<BrandId, Day, foldhash::fast::RandomState>,
    pacific: TimeZone,
    /// The Pacific day number and the instant the next one starts.
    today: Mutex<(i64, Timestamp)>,
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
        }
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
        let (campaign, class, brand) = (campaign.id, campaign.throughput_class, campaign.brand);
        let per_minute = (f64::from(class.sms_per_minute()) * self.config.minute_scale).max(1.0);
        let key = (campaign, if class == ThroughputClass::G { source.digits() } else { 0 });
        let now_us = now.as_microsecond();
        let n = f64::from(n);
        {
            let mut b = self.buckets.entry(key).or_insert(Bucket { tokens: per_minute, at_us: now_us });
            let elapsed = (now_us - b.at_us).max(0) as f64 / 60e6;
            b.tokens = (b.tokens + elapsed * per_minute).min(per_minute);
            b.at_us = now_us.max(b.at_us);
            if b.tokens < n {
                return Err(Limited::PerMinute);
            }
            b.tokens -= n;
        }
        let (day, _) = self.pacific_day(now);
        let cap = self.config.daily_cap(tier);
        let mut d = self.days.entry(brand).or_insert(Day { day, count: 0 });
        if d.day != day {
            *d = Day { day, count: 0 };
        }
        if d.count + n as u64 > cap {
            drop(d);
            // Give the minute tokens back: the message is not sent.
            if let Some(mut b) = self.buckets.get_mut(&key) {
                b.tokens = (b.tokens + n).min(per_minute);
            }
            return Err(Limited::Daily);
        }
        d.count += n as u64;
        Ok(())
    }

    /// Messages the brand sent today (US Pacific).
    pub fn brand_today(&self, brand: BrandId, now: Timestamp) -> u64 {
        let (day, _) = self.pacific_day(now);
        self.days.get(&brand).filter(|d| d.day == day).map_or(0, |d| d.count)
    }
}

#[cfg(test)]
mod tests {
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
