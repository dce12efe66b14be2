//! Campaigns: creation, updates, sharing to a DCA, suspension, expiry.

use vouch_registry::TelephoneNumber;
use vouch_registry::{
    Actor, CampaignId, CampaignRequest, CampaignStatus, EventBody, ProviderId, Role, SharingStatus,
    check_brand_eligibility,
};
use vouch_store::{CampaignFilter, CampaignRow, Visibility};

use crate::{ConflictKind, Principal, Registry, ServiceError, require_role, slot_of, store_conflict};

impl Registry {
    /// Creates a campaign for one of the calling CSP's verified brands.
    pub async fn create_campaign(&self, p: &Principal, req: CampaignRequest) -> Result<CampaignRow, ServiceError> {
        let csp = require_role(p, Role::Csp)?;
        let mut w = self.write_lock().await?;
        let brand = match self.store.brand(req.brand_id).await? {
            Some(b) if b.csp_id == csp => b,
            _ => {
                return Err(ServiceError::invalid(
                    "brandId",
                    format!("brand {} is not one of your brands", req.brand_id),
                ));
            }
        };
        check_brand_eligibility(req.usecase, brand.details.entity_type, brand.identity_status)?;
        let details = req.validate()?;
        if let Some(r) = &details.reference_id
            && let Some(existing) = self.store.campaign_by_reference(csp, r).await?
        {
            return Err(ServiceError::conflict(
                ConflictKind::DuplicateReference,
                format!("referenceId `{r}` is already used by campaign {existing}"),
            ));
        }
        let id = loop {
            let id = CampaignId::from_random(rand::random());
            if self.store.campaign(id).await?.is_none() {
                break id;
            }
        };
        let mut tx = self.begin(&mut w).await?;
        tx.append(p.actor(), EventBody::CampaignCreated { campaign_id: id, csp_id: csp, campaign: (*details).clone() })
            .await
            .map_err(store_conflict(
                ConflictKind::DuplicateReference,
                "referenceId is already used by another campaign",
            ))?;
        self.committed(&tx.commit().await?).await?;
        let row = self.store.campaign(id).await?.ok_or_else(|| ServiceError::not_found("campaign", id))?;
        self.index.put_campaign(slot_of(&row, brand.score));
        Ok(row)
    }

    /// Whether `p` may see campaign `c`: its CSP, the administrator, or a DCA it was shared with.
    fn can_see_campaign(p: &Principal, c: &CampaignRow) -> bool {
        match p {
            Principal::Admin => true,
            Principal::Provider { id, .. } => *id == c.csp_id || shared_with(c, *id),
        }
    }

    /// A campaign the caller may see.
    pub async fn campaign(&self, p: &Principal, id: CampaignId) -> Result<CampaignRow, ServiceError> {
        match self.store.campaign(id).await? {
            Some(c) if Self::can_see_campaign(p, &c) => Ok(c),
            _ => Err(ServiceError::not_found("campaign", id)),
        }
    }

    /// The campaigns the caller may see: its own (CSP), those shared with it (DCA), or all.
    pub async fn campaigns(&self, p: &Principal) -> Result<Vec<CampaignRow>, ServiceError> {
        self.campaign_page(p, CampaignQuery::default(), usize::MAX).await
    }

    /// A page of the campaigns the caller may see, oldest first: at most `limit` matching
    /// `q`, after `q.after` (a campaign of the same listing).
    pub async fn campaign_page(
        &self,
        p: &Principal,
        q: CampaignQuery,
        limit: usize,
    ) -> Result<Vec<CampaignRow>, ServiceError> {
        let after = match q.after {
            Some(id) => match self.campaign(p, id).await {
                Ok(c) => Some((c.id, c.created)),
                Err(ServiceError::NotFound { .. }) => {
                    return Err(ServiceError::invalid("after", format!("no campaign {id} in this listing")));
                }
                Err(e) => return Err(e),
            },
            None => None,
        };
        let filter = CampaignFilter { status: q.status, brand: q.brand, after };
        Ok(self.store.campaign_page(visibility(p), &filter, limit).await?)
    }

    /// A page of the numbers a campaign holds now (see [`NumberPage`]), to whoever may see the
    /// campaign.
    pub async fn campaign_numbers(
        &self,
        p: &Principal,
        id: CampaignId,
        after: Option<TelephoneNumber>,
        limit: usize,
    ) -> Result<NumberPage, ServiceError> {
        let c = self.campaign(p, id).await?;
        let (numbers, total) = self.index.numbers_page(id, after, limit);
        let numbers = numbers.into_iter().map(|n| (n, self.number_suspended(n))).collect();
        Ok(NumberPage { campaign: c, numbers, total })
    }

    fn must_be_live(c: &CampaignRow) -> Result<(), ServiceError> {
        match c.status {
            CampaignStatus::Suspended => Err(ServiceError::conflict(
                ConflictKind::CampaignSuspended,
                format!(
                    "campaign {} is suspended ({}); its DCA or the administrator must resume it first",
                    c.id,
                    c.status_reason.as_deref().unwrap_or("no reason given")
                ),
            )),
            CampaignStatus::Expired => Err(ServiceError::conflict(
                ConflictKind::CampaignExpired,
                format!("campaign {} is expired and cannot change", c.id),
            )),
            _ => Ok(()),
        }
    }

    async fn owned_campaign(&self, p: &Principal, id: CampaignId) -> Result<CampaignRow, ServiceError> {
        let c = self.campaign(p, id).await?;
        if p.provider() != Some(c.csp_id) {
            return Err(ServiceError::Forbidden(format!("only the campaign's CSP ({}) can do this", c.csp_id)));
        }
        Ok(c)
    }

    /// Replaces a campaign's mutable fields (brandId and usecase cannot change).
    pub async fn update_campaign(
        &self,
        p: &Principal,
        id: CampaignId,
        req: CampaignRequest,
    ) -> Result<CampaignRow, ServiceError> {
        let mut w = self.write_lock().await?;
        let c = self.owned_campaign(p, id).await?;
        Self::must_be_live(&c)?;
        if req.brand_id != c.details.brand_id {
            return Err(ServiceError::invalid(
                "brandId",
                format!("a campaign's brand cannot change (it is {})", c.details.brand_id),
            ));
        }
        if req.usecase != c.details.usecase {
            return Err(ServiceError::invalid(
                "usecase",
                format!("a campaign's use case cannot change (it is {}); create a new campaign", c.details.usecase),
            ));
        }
        let details = req.validate()?;
        if let Some(r) = &details.reference_id
            && let Some(existing) = self.store.campaign_by_reference(c.csp_id, r).await?
            && existing != id
        {
            return Err(ServiceError::conflict(
                ConflictKind::DuplicateReference,
                format!("referenceId `{r}` is already used by campaign {existing}"),
            ));
        }
        // A change that widens what the campaign may send is the DCA's to review again: the
        // campaign goes back to it, pending, and sends nothing until it accepts once more.
        let widened = widened_permissions(&c.details, &details);
        let mut tx = self.begin(&mut w).await?;
        tx.append(p.actor(), EventBody::CampaignUpdated { campaign_id: id, campaign: (*details).clone() }).await?;
        let review = c.dca_id.filter(|_| !widened.is_empty());
        if let Some(dca) = review {
            tx.append(Actor::System, EventBody::CampaignShared { campaign_id: id, dca_id: dca }).await?;
        }
        let events = tx.commit().await?;
        if review.is_some() {
            self.index.update_campaign(id, |s| s.dca = None);
        }
        self.committed(&events).await?;
        self.store.campaign(id).await?.ok_or_else(|| ServiceError::not_found("campaign", id))
    }

    /// Shares a campaign with a DCA (its CSP only); the DCA must then accept or decline.
    pub async fn share_campaign(
        &self,
        p: &Principal,
        id: CampaignId,
        dca: ProviderId,
    ) -> Result<CampaignRow, ServiceError> {
        let mut w = self.write_lock().await?;
        let c = self.owned_campaign(p, id).await?;
        Self::must_be_live(&c)?;
        let target = self.store.provider(dca).await?.ok_or_else(|| ServiceError::not_found("provider", dca))?;
        if !target.registration.has_role(Role::Dca) {
            return Err(ServiceError::invalid(
                "providerId",
                format!("provider {dca} is not a DCA; campaigns are shared with a provider that has the dca role"),
            ));
        }
        if let Some(s) = c.sharing.iter().find(|s| s.status != SharingStatus::Declined) {
            if s.dca_id == dca && s.status == SharingStatus::Pending {
                return Ok(c); // already shared with this DCA: idempotent
            }
            return Err(ServiceError::conflict(
                ConflictKind::SharingState,
                format!(
                    "campaign {id} is already shared with {} ({}); a campaign has one DCA, and may be shared elsewhere only after a decline",
                    s.dca_id, s.status
                ),
            ));
        }
        // A campaign that once had a DCA (declined after a change to review) does not take the
        // numbers that DCA suspended to another one, which could reinstate them.
        if let Some(n) = self.suspended_number_of(id) {
            return Err(ServiceError::conflict(
                ConflictKind::NumberState,
                format!("{n} of campaign {id} is suspended: the campaign cannot go to another DCA while it holds it"),
            ));
        }
        let mut tx = self.begin(&mut w).await?;
        tx.append(p.actor(), EventBody::CampaignShared { campaign_id: id, dca_id: dca }).await?;
        self.committed(&tx.commit().await?).await?;
        self.store.campaign(id).await?.ok_or_else(|| ServiceError::not_found("campaign", id))
    }

    /// The DCA accepts (`accept = true`) or declines a campaign shared with it.
    pub async fn answer_sharing(
        &self,
        p: &Principal,
        id: CampaignId,
        dca: ProviderId,
        accept: bool,
        reason: Option<String>,
    ) -> Result<CampaignRow, ServiceError> {
        let reason = checked_optional_reason(reason)?;
        let mut w = self.write_lock().await?;
        let c = self.campaign(p, id).await?;
        if p.provider() != Some(dca) {
            return Err(ServiceError::Forbidden(format!("only provider {dca} can answer its own sharing request")));
        }
        Self::must_be_live(&c)?;
        let Some(s) = c.sharing.iter().find(|s| s.dca_id == dca) else {
            return Err(ServiceError::not_found("sharing", format!("{id}/{dca}")));
        };
        if s.status != SharingStatus::Pending {
            return Err(ServiceError::conflict(
                ConflictKind::SharingState,
                format!("the sharing of {id} with {dca} is already {}", s.status),
            ));
        }
        let body = if accept {
            EventBody::SharingAccepted { campaign_id: id, dca_id: dca }
        } else {
            EventBody::SharingDeclined { campaign_id: id, dca_id: dca, reason: reason.filter(|r| !r.trim().is_empty()) }
        };
        let mut tx = self.begin(&mut w).await?;
        tx.append(p.actor(), body).await?;
        self.committed(&tx.commit().await?).await?;
        if accept {
            self.index.update_campaign(id, |s| s.dca = Some(dca));
        }
        self.store.campaign(id).await?.ok_or_else(|| ServiceError::not_found("campaign", id))
    }

    /// Suspends (`suspend = true`) or resumes a campaign: its accepted DCA or the administrator.
    pub async fn set_campaign_suspended(
        &self,
        p: &Principal,
        id: CampaignId,
        suspend: bool,
        reason: String,
    ) -> Result<CampaignRow, ServiceError> {
        let reason = checked_reason(reason)?;
        let mut w = self.write_lock().await?;
        let c = self.campaign(p, id).await?;
        let dca = answerable_dca(&c);
        let allowed = p.is_admin() || (dca.is_some() && p.provider() == dca);
        if !allowed {
            return Err(ServiceError::Forbidden(format!(
                "only the DCA that accepted campaign {id} or the administrator can suspend or resume it"
            )));
        }
        if !suspend
            && c.status == CampaignStatus::Suspended
            && let Some(b) = self.store.brand(c.brand_id).await?
            && let Err(e) = check_brand_eligibility(c.details.usecase, b.details.entity_type, b.identity_status)
        {
            return Err(ServiceError::conflict(
                ConflictKind::CampaignState,
                format!(
                    "campaign {id} cannot resume while its brand {} does not qualify ({}): {e}",
                    c.brand_id, b.identity_status
                ),
            ));
        }
        self.change_campaign_status(&mut w, p.actor(), c, suspend, reason).await
    }

    /// Suspends an active campaign on an enforcement policy's decision (actor `system`);
    /// `None` when it is not active. The caller holds no writer lock.
    pub(crate) async fn enforce_campaign_suspension(
        &self,
        id: CampaignId,
        reason: String,
    ) -> Result<Option<CampaignRow>, ServiceError> {
        let reason = checked_reason(reason)?;
        let mut w = self.write_lock().await?;
        let Some(c) = self.store.campaign(id).await? else { return Ok(None) };
        if c.status != CampaignStatus::Active {
            return Ok(None);
        }
        self.change_campaign_status(&mut w, Actor::System, c, true, reason).await.map(Some)
    }

    /// Appends the suspension or resumption (under the writer lock).
    async fn change_campaign_status(
        &self,
        w: &mut crate::WriteGuard<'_>,
        actor: Actor,
        c: CampaignRow,
        suspend: bool,
        reason: String,
    ) -> Result<CampaignRow, ServiceError> {
        let id = c.id;
        let (want, body) = if suspend {
            (CampaignStatus::Active, EventBody::CampaignSuspended { campaign_id: id, reason })
        } else {
            (CampaignStatus::Suspended, EventBody::CampaignResumed { campaign_id: id, reason })
        };
        if c.status != want {
            return Err(ServiceError::conflict(
                match c.status {
                    CampaignStatus::Expired => ConflictKind::CampaignExpired,
                    CampaignStatus::Suspended => ConflictKind::CampaignSuspended,
                    _ => ConflictKind::CampaignState,
                },
                format!(
                    "campaign {id} is {}; only {want} campaigns can be {}",
                    c.status,
                    if suspend { "suspended" } else { "resumed" }
                ),
            ));
        }
        let mut tx = self.begin(w).await?;
        tx.append(actor, body).await?;
        let events = tx.commit().await?;
        let status = if suspend { CampaignStatus::Suspended } else { CampaignStatus::Active };
        // The gateway refuses the very next message: the index first, then the rest.
        self.index.update_campaign(id, |s| s.status = status);
        self.committed(&events).await?;
        self.store.campaign(id).await?.ok_or_else(|| ServiceError::not_found("campaign", id))
    }

    /// Deactivates a campaign for good (its CSP or the administrator) and releases its numbers.
    pub async fn expire_campaign(
        &self,
        p: &Principal,
        id: CampaignId,
        reason: Option<String>,
    ) -> Result<CampaignRow, ServiceError> {
        let reason = checked_optional_reason(reason)?;
        let mut w = self.write_lock().await?;
        let c = self.campaign(p, id).await?;
        if !p.is_admin() && p.provider() != Some(c.csp_id) {
            return Err(ServiceError::Forbidden(format!(
                "only the campaign's CSP ({}) or the administrator can deactivate it",
                c.csp_id
            )));
        }
        if c.status == CampaignStatus::Expired {
            return Ok(c);
        }
        // Expiring releases the numbers: a CSP cannot use that to take the numbers of a
        // campaign its DCA suspended (or numbers the DCA suspended) elsewhere.
        if !p.is_admin() {
            if c.status == CampaignStatus::Suspended {
                return Err(ServiceError::conflict(
                    ConflictKind::CampaignSuspended,
                    format!("campaign {id} is suspended: its DCA resumes it, or the administrator deactivates it"),
                ));
            }
            if let Some(n) = self.suspended_number_of(id) {
                return Err(ServiceError::conflict(
                    ConflictKind::NumberState,
                    format!(
                        "{n} of campaign {id} is suspended: its DCA reinstates or releases it before the campaign \
                         can be deactivated"
                    ),
                ));
            }
        }
        // The index is the store's current view while the writer lock is held. In number
        // order, each release updates the history row next to the previous one's (in index
        // order they are spread over the whole table, a page each).
        let mut numbers = self.index.numbers_of_campaign(id);
        numbers.sort_unstable();
        let mut tx = self.begin(&mut w).await?;
        tx.append(p.actor(), EventBody::CampaignExpired { campaign_id: id, reason: reason.clone() }).await?;
        // The bulk path: one statement per thousand releases, not two per release.
        tx.append_number_releases(p.actor(), id, &numbers, "campaign expired").await?;
        self.committed(&tx.commit().await?).await?;
        if !numbers.is_empty() {
            metrics::counter!("vouch_registry_events_total", "kind" => "number.released")
                .increment(numbers.len() as u64);
            self.checkpoint_in_background();
        }
        for n in numbers {
            if self.number_suspended(n) {
                self.gateway_facts_mut().suspended.remove(&n);
            }
            self.index.release(n);
        }
        self.index.update_campaign(id, |s| s.status = CampaignStatus::Expired);
        self.store.campaign(id).await?.ok_or_else(|| ServiceError::not_found("campaign", id))
    }
}

/// A suspension's or reinstatement's reason: 1 to 1024 characters, trimmed.
/// The declarations `after` turns on that `before` did not make: each lets the campaign send
/// what its DCA did not accept (links, phone numbers, a number pool, age-gated or lending
/// content, affiliate marketing).
fn widened_permissions(before: &CampaignRequest, after: &CampaignRequest) -> Vec<&'static str> {
    [
        ("embeddedLink", before.embedded_link, after.embedded_link),
        ("embeddedPhone", before.embedded_phone, after.embedded_phone),
        ("numberPool", before.number_pool, after.number_pool),
        ("ageGated", before.age_gated, after.age_gated),
        ("directLending", before.direct_lending, after.direct_lending),
        ("affiliateMarketing", before.affiliate_marketing, after.affiliate_marketing),
    ]
    .into_iter()
    .filter(|(_, was, is)| !was && *is)
    .map(|(name, _, _)| name)
    .collect()
}

/// The DCA answerable for a campaign: the one that accepted it, or, while a change waits for
/// its review (the sharing is pending again and the campaign has no DCA), the one reviewing it,
/// which keeps suspending, reinstating and releasing meanwhile.
pub(crate) fn answerable_dca(c: &CampaignRow) -> Option<ProviderId> {
    c.dca_id.or_else(|| c.sharing.iter().find(|s| s.status == SharingStatus::Pending).map(|s| s.dca_id))
}

/// Whether `c` is shared with DCA `dca`, pending its answer or accepted: a DCA that declined
/// it sees it (and its brand's confidential fields) no more.
pub(crate) fn shared_with(c: &CampaignRow, dca: ProviderId) -> bool {
    c.sharing.iter().any(|s| s.dca_id == dca && s.status != SharingStatus::Declined)
}

/// An optional reason (release, deactivation, a DCA's answer): empty is none, longer than
/// 1,024 characters is refused.
pub(crate) fn checked_optional_reason(reason: Option<String>) -> Result<Option<String>, ServiceError> {
    match reason.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty()) {
        Some(r) if r.chars().count() > 1024 => {
            Err(ServiceError::invalid("reason", "a reason takes at most 1024 characters"))
        }
        r => Ok(r),
    }
}

pub(crate) fn checked_reason(reason: String) -> Result<String, ServiceError> {
    let reason = reason.trim().to_owned();
    if reason.is_empty() || reason.chars().count() > 1024 {
        return Err(ServiceError::invalid(
            "reason",
            "give a reason of 1 to 1024 characters; it is recorded in the registry's history",
        ));
    }
    Ok(reason)
}

/// Which campaigns a listing asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CampaignQuery {
    /// Only campaigns in this state.
    pub status: Option<CampaignStatus>,
    /// Only campaigns of this brand.
    pub brand: Option<vouch_registry::BrandId>,
    /// Only campaigns after this one, in the listing's order (oldest first).
    pub after: Option<CampaignId>,
}

/// A page of the numbers a campaign holds now.
#[derive(Debug, Clone)]
pub struct NumberPage {
    /// The campaign.
    pub campaign: CampaignRow,
    /// The numbers, ascending, each with whether it is suspended on its own.
    pub numbers: Vec<(TelephoneNumber, bool)>,
    /// How many numbers the campaign holds in all.
    pub total: usize,
}

/// What a principal's listings show: everything to the administrator, a provider its own rows
/// and, as a DCA, those shared with it and not declined.
pub(crate) fn visibility(p: &Principal) -> Visibility {
    match p {
        Principal::Admin => Visibility::All,
        Principal::Provider { id, roles } => Visibility::Provider { id: *id, dca: roles.contains(&Role::Dca) },
    }
}
