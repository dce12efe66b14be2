//! Abuse risk: the signals the registry and the gateway see about a campaign or a brand, and
//! the score (0-100, with a reason per signal) a [`RiskPolicy`] makes of them. No I/O: the
//! service gathers the signals; this module only weighs them (docs/TRACEBACK.md, "Risk").

use serde::Serialize;

use crate::BrandId;

/// What was observed about one campaign (or, summed, one brand) in the scoring window.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RiskSignals {
    /// Number assignments in the window.
    pub assigned: u64,
    /// Number releases in the window.
    pub released: u64,
    /// Assignments plus releases in the busiest 60 minutes of the window.
    pub busiest_hour_churn: u64,
    /// Numbers released in the window after being held less than an hour.
    pub held_under_hour: u64,
    /// Numbers released in the window after being held less than a day (those under an hour
    /// included).
    pub held_under_day: u64,
    /// Numbers released in the last week (since the last resumption, if later) after being
    /// held less than a week: cycling too slow for the window's churn and short holds.
    pub held_under_week: u64,
    /// Messages the gateway decided on (accepted, flagged or rejected) in the window.
    pub messages: u64,
    /// Spam reports whose reported instant falls in the window.
    pub reports: u64,
    /// Most distinct source numbers seen sending near-identical content (SimHash) in one
    /// cluster.
    pub similar_numbers: u64,
    /// Other brands registered with the same EIN under another name.
    pub ein_twins: Vec<EinTwin>,
}

/// Another brand with the same EIN and a different name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EinTwin {
    /// That brand.
    pub brand_id: BrandId,
    /// Whether one of its campaigns is suspended (re-registration after enforcement).
    pub suspended_campaigns: bool,
}

/// One threshold and what crossing it weighs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Threshold {
    /// The signal's value at which the reason fires.
    pub at: f64,
    /// Points at the threshold; they grow in proportion to the value, up to twice this at
    /// twice the threshold.
    pub weight: u8,
}

impl Threshold {
    const fn new(at: f64, weight: u8) -> Self {
        Self { at, weight }
    }

    fn points(&self, value: f64) -> Option<u8> {
        if self.at <= 0.0 || value < self.at || self.weight == 0 {
            return None;
        }
        let p = f64::from(self.weight) * (value / self.at).min(2.0);
        Some(p.round().clamp(0.0, 255.0) as u8)
    }
}

/// How signals become a score. Every threshold is configurable (`[risk]` in the TOML file).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", default, deny_unknown_fields)]
pub struct RiskPolicy {
    /// Assignments plus releases in one hour.
    pub churn_per_hour: Threshold,
    /// Numbers held less than a day.
    pub short_holds: Threshold,
    /// Numbers held less than a week, released in the last week.
    pub short_holds_week: Threshold,
    /// Reports in the window.
    pub reports: Threshold,
    /// Reports per 1,000 messages through the gateway.
    pub reports_per_thousand: Threshold,
    /// Distinct numbers sending near-identical content.
    pub similar_numbers: Threshold,
    /// Other brands with the same EIN under another name (a twin with a suspended campaign
    /// counts twice).
    pub ein_twins: Threshold,
}

impl Default for RiskPolicy {
    fn default() -> Self {
        Self {
            churn_per_hour: Threshold::new(20.0, 15),
            short_holds: Threshold::new(5.0, 15),
            short_holds_week: Threshold::new(50.0, 15),
            reports: Threshold::new(3.0, 15),
            reports_per_thousand: Threshold::new(1.0, 10),
            similar_numbers: Threshold::new(10.0, 10),
            ein_twins: Threshold::new(1.0, 10),
        }
    }
}

/// One reason a score is what it is.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RiskReason {
    /// Stable code: `number-churn`, `short-holds`, `short-holds-week`, `reports`, `report-rate`,
    /// `similar-content`, `ein-reuse`.
    pub code: &'static str,
    /// What was seen, in words.
    pub detail: String,
    /// The signal's value.
    pub value: f64,
    /// The threshold it crossed.
    pub threshold: f64,
    /// Points it adds.
    pub points: u8,
}

/// A score from 0 (nothing seen) to 100, with its reasons, largest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RiskScore {
    /// 0-100.
    pub score: u8,
    /// Why.
    pub reasons: Vec<RiskReason>,
}

impl RiskPolicy {
    /// Weighs `s`.
    pub fn score(&self, s: &RiskSignals) -> RiskScore {
        let mut reasons = Vec::new();
        let mut add = |code: &'static str, t: &Threshold, value: f64, detail: String| {
            if let Some(points) = t.points(value) {
                reasons.push(RiskReason { code, detail, value, threshold: t.at, points });
            }
        };
        add(
            "number-churn",
            &self.churn_per_hour,
            s.busiest_hour_churn as f64,
            format!(
                "{} assignments and releases in one hour ({} assigned, {} released in the window)",
                s.busiest_hour_churn, s.assigned, s.released
            ),
        );
        add(
            "short-holds",
            &self.short_holds,
            s.held_under_day as f64,
            format!(
                "{} numbers released less than a day after assignment ({} within an hour)",
                s.held_under_day, s.held_under_hour
            ),
        );
        add(
            "short-holds-week",
            &self.short_holds_week,
            s.held_under_week as f64,
            format!("{} numbers released in the last week less than a week after assignment", s.held_under_week),
        );
        add("reports", &self.reports, s.reports as f64, format!("{} spam reports", s.reports));
        if s.messages > 0 {
            let rate = s.reports as f64 * 1000.0 / s.messages as f64;
            add(
                "report-rate",
                &self.reports_per_thousand,
                rate,
                format!("{rate:.2} reports per 1,000 messages ({} reports, {} messages)", s.reports, s.messages),
            );
        }
        add(
            "similar-content",
            &self.similar_numbers,
            s.similar_numbers as f64,
            format!("{} numbers sent near-identical content", s.similar_numbers),
        );
        let twins: u64 = s.ein_twins.iter().map(|t| if t.suspended_campaigns { 2 } else { 1 }).sum();
        if !s.ein_twins.is_empty() {
            let names: Vec<String> = s
                .ein_twins
                .iter()
                .map(|t| {
                    format!("{}{}", t.brand_id, if t.suspended_campaigns { " (has a suspended campaign)" } else { "" })
                })
                .collect();
            add(
                "ein-reuse",
                &self.ein_twins,
                twins as f64,
                format!("the same EIN is registered under another name by {}", names.join(", ")),
            );
        }
        reasons.sort_by(|a, b| b.points.cmp(&a.points).then(a.code.cmp(b.code)));
        let total: u32 = reasons.iter().map(|r| u32::from(r.points)).sum();
        RiskScore { score: total.min(100) as u8, reasons }
    }
}

/// The assignments plus releases in the busiest 60 minutes, from per-minute counts
/// `(minute start in microseconds, count)` in ascending minute order.
pub fn busiest_hour(per_minute: &[(i64, u64)]) -> u64 {
    const HOUR_US: i64 = 3_600_000_000;
    let mut best = 0u64;
    let mut sum = 0u64;
    let mut start = 0usize;
    for (end, &(minute, count)) in per_minute.iter().enumerate() {
        sum += count;
        while let Some(&(first, c)) = per_minute.get(start) {
            if minute - first < HOUR_US || start >= end {
                break;
            }
            sum -= c;
            start += 1;
        }
        best = best.max(sum);
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_seen_scores_zero() {
        let s = RiskPolicy::default().score(&RiskSignals::default());
        assert_eq!(s.score, 0);
        assert!(s.reasons.is_empty());
    }

    #[test]
    fn a_cycling_campaign_with_reports_scores_high() {
        let signals = RiskSignals {
            assigned: 50,
            released: 49,
            busiest_hour_churn: 99,
            held_under_hour: 49,
            held_under_day: 49,
            messages: 200,
            reports: 3,
            ..RiskSignals::default()
        };
        let s = RiskPolicy::default().score(&signals);
        let codes: Vec<_> = s.reasons.iter().map(|r| r.code).collect();
        assert_eq!(codes, ["number-churn", "short-holds", "report-rate", "reports"]);
        // 30 + 30 + 20 (15 per 1,000 is past twice the threshold) + 15.
        assert_eq!(s.score, 95);
    }

    #[test]
    fn slow_cycling_is_seen_over_the_week() {
        // Nine numbers an hour, each held 25 hours: under the hourly churn, no short hold, and
        // 216 numbers a day: 1,512 in a week.
        let signals = RiskSignals {
            assigned: 216,
            released: 216,
            busiest_hour_churn: 18,
            held_under_week: 1512,
            ..RiskSignals::default()
        };
        let s = RiskPolicy::default().score(&signals);
        assert_eq!(s.reasons.iter().map(|r| r.code).collect::<Vec<_>>(), ["short-holds-week"]);
        assert_eq!(s.score, 30);
        // A campaign that moves a few numbers in a week is not.
        let few = RiskSignals { held_under_week: 12, ..RiskSignals::default() };
        assert_eq!(RiskPolicy::default().score(&few).score, 0);
    }

    #[test]
    fn points_grow_with_the_value_up_to_twice_the_weight() {
        let t = Threshold::new(10.0, 10);
        assert_eq!(t.points(9.9), None);
        assert_eq!(t.points(10.0), Some(10));
        assert_eq!(t.points(15.0), Some(15));
        assert_eq!(t.points(1e9), Some(20));
        assert_eq!(Threshold::new(0.0, 10).points(5.0), None);
    }

    #[test]
    fn a_bulk_import_alone_does_not_reach_a_suspension() {
        let signals = RiskSignals { assigned: 1_000_000, busiest_hour_churn: 1_000_000, ..RiskSignals::default() };
        assert_eq!(RiskPolicy::default().score(&signals).score, 30);
    }

    #[test]
    fn reusing_an_ein_after_a_suspension_counts_double() {
        let twin = |suspended_campaigns| EinTwin { brand_id: BrandId::from_random(3), suspended_campaigns };
        let p = RiskPolicy::default();
        let one = p.score(&RiskSignals { ein_twins: vec![twin(false)], ..RiskSignals::default() });
        let bad = p.score(&RiskSignals { ein_twins: vec![twin(true)], ..RiskSignals::default() });
        assert_eq!((one.score, bad.score), (10, 20));
        assert!(bad.reasons[0].detail.contains("suspended"));
    }

    #[test]
    fn busiest_hour_slides_over_minutes() {
        let m = |i: i64| i * 60_000_000;
        assert_eq!(busiest_hour(&[]), 0);
        assert_eq!(busiest_hour(&[(m(0), 5), (m(30), 5), (m(59), 5), (m(60), 7), (m(200), 1)]), 17);
        assert_eq!(busiest_hour(&[(m(0), 50), (m(120), 3)]), 50);
    }
}
