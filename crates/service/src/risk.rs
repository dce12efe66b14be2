//! Abuse detection and enforcement: risk scores per campaign and per brand from the registry's
//! churn, the gateway's traffic and the reports filed, and the policies that suspend a campaign
//! or a number when a threshold is crossed (docs/TRACEBACK.md, "Risk" and "Enforcement").

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use vouch_registry::{
    BrandId, CampaignId, CampaignStatus, EinTwin, ProviderId, RiskPolicy, RiskReason, RiskSignals, TelephoneNumber,
    busiest_hour,
};
use vouch_store::{CampaignRow, ReportRow, ReportsAbout};

use crate::{Principal, Registry, ServiceError};

/// What the abuse policies are.
#[derive(Debug, Clone, PartialEq)]
pub struct AbusePolicy {
    /// How signals become scores.
    pub risk: RiskPolicy,
    /// How far back signals count.
    pub window: SignedDuration,
    /// Suspend a campaign (and, for a brand, each of its active campaigns) whose score
    /// reaches this; `None`: never.
    pub suspend_at: Option<u8>,
    /// Suspend a number reported by this many different providers against its current holding;
    /// `None`: never.
    pub suspend_number_reports: Option<u64>,
    /// How often campaigns with new activity are scored.
    pub interval: Duration,
}

impl Default for AbusePolicy {
    fn default() -> Self {
        Self {
            risk: RiskPolicy::default(),
            window: SignedDuration::from_hours(24),
            suspend_at: Some(70),
            suspend_number_reports: Some(5),
            interval: Duration::from_secs(30),
        }
    }
}

/// A campaign's risk.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CampaignRisk {
    /// The campaign.
    pub campaign_id: CampaignId,
    /// Its brand.
    pub brand_id: BrandId,
    /// Its CSP.
    pub csp_id: ProviderId,
    /// Its DCA.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dca_id: Option<ProviderId>,
    /// Its status now.
    pub status: String,
    /// 0-100.
    pub score: u8,
    /// Why, largest first.
    pub reasons: Vec<RiskReason>,
    /// What was seen.
    pub signals: RiskSignals,
    /// Signals counted from (the window's start, or the last reinstatement).
    pub since: Timestamp,
    /// Scored at.
    pub at: Timestamp,
}

/// A brand's risk: its campaigns' signals together.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BrandRisk {
    /// The brand.
    pub brand_id: BrandId,
    /// 0-100.
    pub score: u8,
    /// Why, largest first.
    pub reasons: Vec<RiskReason>,
    /// Its campaigns' signals summed (the largest similar-content cluster, not a sum).
    pub signals: RiskSignals,
    /// Each campaign.
    pub campaigns: Vec<CampaignRisk>,
    /// Scored at.
    pub at: Timestamp,
}

/// What an enforcement policy did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all_fields = "camelCase", tag = "action")]
pub enum Enforced {
    /// A campaign was suspended.
    #[serde(rename = "campaign.suspended")]
    Campaign {
        /// The campaign.
        campaign_id: CampaignId,
        /// The reason recorded.
        reason: String,
    },
    /// A number was suspended.
    #[serde(rename = "number.suspended")]
    Number {
        /// The number.
        number: TelephoneNumber,
        /// Its campaign.
        campaign_id: CampaignId,
        /// The reason recorded.
        reason: String,
    },
}

/// Risk scores and enforcement over a registry.
#[derive(Debug)]
pub struct Abuse {
    registry: Arc<Registry>,
    policy: AbusePolicy,
}

/// Longest recorded reason.
const MAX_REASON: usize = 1024;

impl Abuse {
    /// Scores and enforces under `policy`.
    pub fn new(registry: Arc<Registry>, policy: AbusePolicy) -> Arc<Self> {
        Arc::new(Self { registry, policy })
    }

    /// The policy.
    pub fn policy(&self) -> &AbusePolicy {
        &self.policy
    }

    /// The DCA carrying (or asked to carry) the campaign, or the administrator.
    fn may_see(p: &Principal, c: &CampaignRow) -> bool {
        match p {
            Principal::Admin => true,
            Principal::Provider { id, .. } => c.dca_id == Some(*id) || crate::campaigns::shared_with(c, *id),
        }
    }

    fn forbidden() -> ServiceError {
        ServiceError::Forbidden("risk scores are for the DCA carrying the campaign and the administrator".into())
    }

    /// A campaign's risk, for its DCA or the administrator.
    pub async fn campaign_risk(&self, p: &Principal, id: CampaignId) -> Result<CampaignRisk, ServiceError> {
        let c = self.registry.campaign(p, id).await?;
        if !Self::may_see(p, &c) {
            return Err(Self::forbidden());
        }
        let twins = self.ein_twins(c.brand_id).await?;
        self.score_campaign(&c, self.registry.now(), &twins).await
    }

    /// A brand's risk, for the administrator or a DCA carrying one of its campaigns (which
    /// then sees only those campaigns in the list).
    pub async fn brand_risk(&self, p: &Principal, id: BrandId) -> Result<BrandRisk, ServiceError> {
        self.score_brand(p, id, false).await
    }

    /// A brand's risk over all its campaigns, or (`active_only`, for enforcement) over those
    /// still active, so that a campaign already suspended does not take its siblings with it.
    async fn score_brand(&self, p: &Principal, id: BrandId, active_only: bool) -> Result<BrandRisk, ServiceError> {
        let store = self.registry.store();
        let now = self.registry.now();
        let twins = self.ein_twins(id).await?;
        let mut campaigns = Vec::new();
        let mut visible = p.is_admin();
        for cid in store.brand_campaign_ids(id).await? {
            let Some(c) = store.campaign(cid).await? else { continue };
            if active_only && c.status != CampaignStatus::Active {
                continue;
            }
            let seen = Self::may_see(p, &c);
            visible |= seen;
            campaigns.push((seen, self.score_campaign(&c, now, &twins).await?));
        }
        if !visible {
            // 403 only to a caller that may read the brand (its CSP): to anyone else a brand
            // it may not see answers as one that does not exist (docs/API.md).
            return Err(match self.registry.brand(p, id).await {
                Ok(_) => Self::forbidden(),
                Err(e) => e,
            });
        }
        let (signals, score) = self.weigh_brand(campaigns.iter().map(|(_, c)| c), twins);
        Ok(BrandRisk {
            brand_id: id,
            score: score.score,
            reasons: score.reasons,
            signals,
            campaigns: campaigns.into_iter().filter(|(seen, _)| *seen).map(|(_, c)| c).collect(),
            at: now,
        })
    }

    /// A brand's signals (its campaigns' summed; the largest similar-content cluster) and score.
    fn weigh_brand<'a>(
        &self,
        campaigns: impl Iterator<Item = &'a CampaignRisk>,
        ein_twins: Vec<EinTwin>,
    ) -> (RiskSignals, vouch_registry::RiskScore) {
        let mut signals = RiskSignals { ein_twins, ..RiskSignals::default() };
        for c in campaigns {
            let s = &c.signals;
            signals.assigned += s.assigned;
            signals.released += s.released;
            signals.busiest_hour_churn += s.busiest_hour_churn;
            signals.held_under_hour += s.held_under_hour;
            signals.held_under_day += s.held_under_day;
            signals.held_under_week += s.held_under_week;
            signals.messages += s.messages;
            signals.reports += s.reports;
            signals.similar_numbers = signals.similar_numbers.max(s.similar_numbers);
        }
        let score = self.policy.risk.score(&signals);
        (signals, score)
    }

    /// Campaigns with activity in the window scoring at least `min`, highest first: all for
    /// the administrator, those it carries for a DCA.
    pub async fn risky_campaigns(&self, p: &Principal, min: u8) -> Result<Vec<CampaignRisk>, ServiceError> {
        if let Principal::Provider { roles, .. } = p
            && !roles.contains(&vouch_registry::Role::Dca)
        {
            return Err(Self::forbidden());
        }
        let now = self.registry.now();
        let store = self.registry.store();
        let mut out = Vec::new();
        let mut twins: HashMap<BrandId, Vec<EinTwin>> = HashMap::new();
        for id in store.campaigns_active_since(now - self.policy.window).await? {
            let Some(c) = store.campaign(id).await? else { continue };
            if !Self::may_see(p, &c) {
                continue;
            }
            let brand_twins = match twins.entry(c.brand_id) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => e.insert(self.ein_twins(c.brand_id).await?),
            };
            let r = self.score_campaign(&c, now, brand_twins).await?;
            if r.score >= min {
                out.push(r);
            }
        }
        out.sort_by(|a, b| b.score.cmp(&a.score).then(a.campaign_id.cmp(&b.campaign_id)));
        Ok(out)
    }

    /// Other brands with the brand's EIN under another name.
    async fn ein_twins(&self, brand: BrandId) -> Result<Vec<EinTwin>, ServiceError> {
        let store = self.registry.store();
        let Some(b) = store.brand(brand).await? else { return Ok(Vec::new()) };
        let Some(ein) = store.brand_ein(brand).await? else { return Ok(Vec::new()) };
        let name = |n: &Option<String>| n.as_deref().map(|s| s.trim().to_lowercase());
        let mut twins = Vec::new();
        for h in store.ein_holders(&ein, Some(brand)).await? {
            if Some(h.company_name.trim().to_lowercase()) == name(&b.details.company_name) {
                continue;
            }
            twins.push(EinTwin {
                brand_id: h.brand_id,
                suspended_campaigns: store.brand_has_suspended_campaign(h.brand_id).await?,
            });
        }
        Ok(twins)
    }

    /// Scores a campaign from its signals since the window's start or its last resumption;
    /// `ein_twins` are its brand's.
    async fn score_campaign(
        &self,
        c: &CampaignRow,
        now: Timestamp,
        ein_twins: &[EinTwin],
    ) -> Result<CampaignRisk, ServiceError> {
        let store = self.registry.store();
        // The window, and the last week for slow cycling; neither from before a resumption.
        let resumed = store.last_resumed(c.id).await?;
        let from = |start: Timestamp| resumed.filter(|r| *r > start).unwrap_or(start);
        let since = from(now - self.policy.window);
        let week = from(now - jiff::SignedDuration::from_hours(24 * 7));
        let activity = store.campaign_activity(c.id, since).await?;
        let traffic = store.campaign_traffic(c.id, since).await?;
        let churn: Vec<(i64, u64)> = activity.iter().map(|a| (a.minute_us, a.assigned + a.released)).collect();
        let signals = RiskSignals {
            assigned: activity.iter().map(|a| a.assigned).sum(),
            released: activity.iter().map(|a| a.released).sum(),
            busiest_hour_churn: busiest_hour(&churn),
            held_under_hour: activity.iter().map(|a| a.held_under_hour).sum(),
            held_under_day: activity.iter().map(|a| a.held_under_day).sum(),
            held_under_week: store.held_under_week(c.id, week).await?,
            messages: traffic.iter().map(|t| t.messages).sum(),
            reports: store.count_reports(ReportsAbout::Campaign(c.id), since, now).await?,
            similar_numbers: traffic.iter().map(|t| t.similar_numbers).max().unwrap_or(0),
            ein_twins: ein_twins.to_vec(),
        };
        let score = self.policy.risk.score(&signals);
        Ok(CampaignRisk {
            campaign_id: c.id,
            brand_id: c.brand_id,
            csp_id: c.csp_id,
            dca_id: c.dca_id,
            status: c.status.to_string(),
            score: score.score,
            reasons: score.reasons,
            signals,
            since,
            at: now,
        })
    }

    fn reason_text(what: &str, score: u8, at: u8, reasons: &[RiskReason]) -> String {
        let why: Vec<String> = reasons.iter().map(|r| format!("{}: {}", r.code, r.detail)).collect();
        let mut text = format!("enforcement policy: {what} risk score {score} reached {at} ({})", why.join("; "));
        if text.chars().count() > MAX_REASON {
            text = text.chars().take(MAX_REASON - 1).collect::<String>() + "…";
        }
        text
    }

    /// Scores each active campaign of a brand once and suspends those at the threshold; then,
    /// if the brand's score over the campaigns still active reaches it, suspends those too (a
    /// suspended campaign does not take its siblings with it).
    pub async fn enforce_brand(&self, brand: BrandId) -> Result<Vec<Enforced>, ServiceError> {
        let Some(at) = self.policy.suspend_at else { return Ok(Vec::new()) };
        let store = self.registry.store();
        let now = self.registry.now();
        let twins = self.ein_twins(brand).await?;
        let mut active = Vec::new();
        for id in store.brand_campaign_ids(brand).await? {
            if let Some(c) = store.campaign(id).await?
                && c.status == CampaignStatus::Active
            {
                active.push(self.score_campaign(&c, now, &twins).await?);
            }
        }
        let mut done = Vec::new();
        let mut rest = Vec::new();
        for r in active {
            if r.score < at {
                rest.push(r);
                continue;
            }
            let reason = Self::reason_text(&format!("campaign {}", r.campaign_id), r.score, at, &r.reasons);
            if self.suspend(r.campaign_id, &reason, brand, r.score).await? {
                done.push(Enforced::Campaign { campaign_id: r.campaign_id, reason });
            }
        }
        let (_, score) = self.weigh_brand(rest.iter(), twins);
        if score.score >= at {
            let reason = Self::reason_text(&format!("brand {brand}"), score.score, at, &score.reasons);
            for r in &rest {
                if self.suspend(r.campaign_id, &reason, brand, score.score).await? {
                    done.push(Enforced::Campaign { campaign_id: r.campaign_id, reason: reason.clone() });
                }
            }
        }
        Ok(done)
    }

    /// Suspends an active campaign for a policy; `false` if it was no longer active.
    async fn suspend(&self, id: CampaignId, reason: &str, brand: BrandId, score: u8) -> Result<bool, ServiceError> {
        let done = self.registry.enforce_campaign_suspension(id, reason.to_owned()).await?.is_some();
        if done {
            tracing::warn!(campaign = %id, brand = %brand, score, "enforcement: campaign suspended");
            metrics::counter!("vouch_enforcement_actions_total", "action" => "campaign.suspended").increment(1);
        }
        Ok(done)
    }

    /// After a report is filed: the number policy for its number, then its brand's campaigns.
    pub async fn after_report(&self, r: &ReportRow) -> Result<Vec<Enforced>, ServiceError> {
        let mut done = Vec::new();
        let Some(campaign) = r.campaign_id else { return Ok(done) };
        if let Some(limit) = self.policy.suspend_number_reports
            && let Some(held) = self.registry.index().lookup(r.number)
            && held.campaign.id == campaign
        {
            let store = self.registry.store();
            let now = self.registry.now();
            let mut since = now - self.policy.window;
            // Only reports on this holding count: not the previous holder's, and not those
            // already answered by a reinstatement.
            if let Some(row) = store.assignment_at(r.number, now).await?
                && row.assigned > since
            {
                since = row.assigned;
            }
            if let Some(t) = store.last_reinstated(r.number).await?
                && t > since
            {
                since = t;
            }
            let n = store.count_reports_on_holding(r.number, campaign, since, now).await?;
            if n >= limit {
                let reason = format!("enforcement policy: {n} providers reported {}, which reached {limit}", r.number);
                if let Some(s) = self.registry.enforce_number_suspension(r.number, campaign, reason.clone()).await? {
                    tracing::warn!(number = %s.number, campaign = %campaign, reports = n, "enforcement: number suspended");
                    metrics::counter!("vouch_enforcement_actions_total", "action" => "number.suspended").increment(1);
                    done.push(Enforced::Number { number: r.number, campaign_id: campaign, reason });
                }
            }
        }
        if let Some(brand) = r.brand_id {
            done.extend(self.enforce_brand(brand).await?);
        }
        Ok(done)
    }

    /// Enforces on every brand with a campaign active since `since` (each brand once).
    pub async fn sweep(&self, since: Timestamp) -> Result<Vec<Enforced>, ServiceError> {
        let store = self.registry.store();
        let mut brands = Vec::new();
        for id in store.campaigns_active_since(since).await? {
            if let Some(c) = store.campaign(id).await?
                && !brands.contains(&c.brand_id)
            {
                brands.push(c.brand_id);
            }
        }
        let mut done = Vec::new();
        for b in brands {
            done.extend(self.enforce_brand(b).await?);
        }
        Ok(done)
    }

    /// Sweeps every [`AbusePolicy::interval`] until `stop` resolves: first over the whole
    /// window, then over what changed since the last sweep.
    pub async fn run(self: Arc<Self>, stop: impl std::future::Future<Output = ()>) {
        if self.policy.suspend_at.is_none() {
            return stop.await;
        }
        tokio::pin!(stop);
        let mut since = self.registry.now() - self.policy.window;
        loop {
            let started = self.registry.now();
            match self.sweep(since).await {
                // A minute of overlap: activity is counted per minute.
                Ok(_) => since = started - SignedDuration::from_mins(1),
                Err(e) => tracing::warn!(error = %e, "enforcement sweep failed; will retry"),
            }
            tokio::select! {
                _ = tokio::time::sleep(self.policy.interval) => {}
                _ = &mut stop => return,
            }
        }
    }
}
