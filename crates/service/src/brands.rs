//! Brands: registration with synchronous vetting, updates, re-vetting, sanctions imports.

use vouch_registry::{
    Actor, BrandDetails, BrandId, BrandRequest, CampaignId, CampaignStatus, EntityType, EventBody, IdentityStatus,
    Role, SanctionsList, ThroughputClass, VettingContext, VettingOutcome, check_brand_eligibility, vet,
};
use vouch_store::{BrandFilter, BrandRow, Tx};

use crate::{ConflictKind, Principal, Registry, ServiceError, require_role, store_conflict};

/// What a sanctions import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SanctionsImport {
    /// Parties listed.
    pub entries: u64,
    /// Hex SHA-256 of the file.
    pub sha256: String,
    /// Brands whose vetting outcome changed, re-vetted in the same transaction.
    pub revetted: Vec<BrandId>,
}

impl Registry {
    async fn vet_brand(
        &self,
        id: Option<BrandId>,
        csp: vouch_registry::ProviderId,
        details: &BrandDetails,
        sanctions: &SanctionsList,
    ) -> Result<VettingOutcome, ServiceError> {
        let holders = match details.ein_digits().filter(|_| details.ein_is_us()) {
            Some(ein) => self.store.ein_holders(&ein, id).await?,
            None => Vec::new(),
        };
        Ok(vet(details, &VettingContext { csp, ein_holders: &holders, sanctions }))
    }

    /// Registers a brand for the calling CSP and vets it, in one transaction.
    pub async fn register_brand(&self, p: &Principal, req: BrandRequest) -> Result<BrandRow, ServiceError> {
        let csp = require_role(p, Role::Csp)?;
        let details = req.validate()?;
        let mut w = self.write_lock().await?;
        if let Some(r) = &details.reference_id
            && let Some(existing) = self.store.brand_by_reference(csp, r).await?
        {
            return Err(ServiceError::conflict(
                ConflictKind::DuplicateReference,
                format!("referenceId `{r}` is already used by brand {existing}"),
            ));
        }
        let id = loop {
            let id = BrandId::from_random(rand::random());
            if self.store.brand(id).await?.is_none() {
                break id;
            }
        };
        let outcome = self.vet_brand(None, csp, &details, &self.sanctions()).await?;
        let mut tx = self.begin(&mut w).await?;
        tx.append(p.actor(), EventBody::BrandRegistered { brand_id: id, csp_id: csp, brand: (*details).clone() })
            .await
            .map_err(store_conflict(
                ConflictKind::DuplicateReference,
                "referenceId is already used by another brand",
            ))?;
        tx.append(p.actor(), EventBody::BrandVetted { brand_id: id, outcome }).await?;
        self.committed(&tx.commit().await?).await?;
        self.store.brand(id).await?.ok_or_else(|| ServiceError::not_found("brand", id))
    }

    /// Whether `p` may see brand `b`: its CSP, the administrator, or a DCA one of whose
    /// campaigns was shared with.
    async fn can_see_brand(&self, p: &Principal, b: &BrandRow) -> Result<bool, ServiceError> {
        Ok(match p {
            Principal::Admin => true,
            Principal::Provider { id, .. } if *id == b.csp_id => true,
            Principal::Provider { id, roles } if roles.contains(&Role::Dca) => self
                .store
                .campaigns(None, Some(*id))
                .await?
                .iter()
                .any(|c| c.brand_id == b.id && crate::campaigns::shared_with(c, *id)),
            Principal::Provider { .. } => false,
        })
    }

    /// A brand the caller may see.
    pub async fn brand(&self, p: &Principal, id: BrandId) -> Result<BrandRow, ServiceError> {
        let b = self.store.brand(id).await?.ok_or_else(|| ServiceError::not_found("brand", id))?;
        if self.can_see_brand(p, &b).await? { Ok(b) } else { Err(ServiceError::not_found("brand", id)) }
    }

    /// The brands the caller may see: its own (CSP), those of campaigns shared with it (DCA),
    /// or all.
    pub async fn brands(&self, p: &Principal) -> Result<Vec<BrandRow>, ServiceError> {
        self.brand_page(p, None, None, usize::MAX).await
    }

    /// A page of the brands the caller may see, oldest first: at most `limit`, in vetting
    /// state `status` if given, after brand `after` (a brand of the same listing).
    pub async fn brand_page(
        &self,
        p: &Principal,
        status: Option<IdentityStatus>,
        after: Option<BrandId>,
        limit: usize,
    ) -> Result<Vec<BrandRow>, ServiceError> {
        let after = match after {
            Some(id) => match self.brand(p, id).await {
                Ok(b) => Some((b.id, b.created)),
                Err(ServiceError::NotFound { .. }) => {
                    return Err(ServiceError::invalid("after", format!("no brand {id} in this listing")));
                }
                Err(e) => return Err(e),
            },
            None => None,
        };
        let filter = BrandFilter { identity_status: status, after };
        Ok(self.store.brand_page(crate::campaigns::visibility(p), &filter, limit).await?)
    }

    /// The brand, if the caller is its CSP (403 if it can see it but does not own it).
    async fn owned_brand(&self, p: &Principal, id: BrandId) -> Result<BrandRow, ServiceError> {
        let b = self.brand(p, id).await?;
        if p.provider() != Some(b.csp_id) {
            return Err(ServiceError::Forbidden(format!("only the brand's CSP ({}) can change brand {id}", b.csp_id)));
        }
        Ok(b)
    }

    /// Replaces a brand's fields and re-vets it.
    pub async fn update_brand(&self, p: &Principal, id: BrandId, req: BrandRequest) -> Result<BrandRow, ServiceError> {
        let details = req.validate()?;
        let mut w = self.write_lock().await?;
        let old = self.owned_brand(p, id).await?;
        if let Some(r) = &details.reference_id
            && let Some(existing) = self.store.brand_by_reference(old.csp_id, r).await?
            && existing != id
        {
            return Err(ServiceError::conflict(
                ConflictKind::DuplicateReference,
                format!("referenceId `{r}` is already used by brand {existing}"),
            ));
        }
        let outcome = self.vet_brand(Some(id), old.csp_id, &details, &self.sanctions()).await?;
        let mut tx = self.begin(&mut w).await?;
        tx.append(p.actor(), EventBody::BrandUpdated { brand_id: id, brand: (*details).clone() }).await?;
        let (score, status) = (outcome.score, outcome.identity_status);
        tx.append(p.actor(), EventBody::BrandVetted { brand_id: id, outcome }).await?;
        let suspended = self.suspend_what_the_brand_no_longer_allows(&mut tx, id, details.entity_type, status).await?;
        self.commit_with_suspensions(tx, &suspended).await?;
        self.refresh_brand_campaigns(id, score).await?;
        self.store.brand(id).await?.ok_or_else(|| ServiceError::not_found("brand", id))
    }

    /// Vets a brand again (its CSP or the administrator), e.g. after the EIN holder changed.
    pub async fn revet_brand(&self, p: &Principal, id: BrandId) -> Result<BrandRow, ServiceError> {
        let mut w = self.write_lock().await?;
        let b = self.brand(p, id).await?;
        if !p.is_admin() && p.provider() != Some(b.csp_id) {
            return Err(ServiceError::Forbidden(format!(
                "only the brand's CSP ({}) or the administrator can re-vet brand {id}",
                b.csp_id
            )));
        }
        let details = b.details.clone().validate()?;
        let outcome = self.vet_brand(Some(id), b.csp_id, &details, &self.sanctions()).await?;
        let (score, status) = (outcome.score, outcome.identity_status);
        let mut tx = self.begin(&mut w).await?;
        tx.append(p.actor(), EventBody::BrandVetted { brand_id: id, outcome }).await?;
        let suspended = self.suspend_what_the_brand_no_longer_allows(&mut tx, id, details.entity_type, status).await?;
        self.commit_with_suspensions(tx, &suspended).await?;
        self.refresh_brand_campaigns(id, score).await?;
        self.store.brand(id).await?.ok_or_else(|| ServiceError::not_found("brand", id))
    }

    /// Appends to `tx` the suspension (actor `system`) of every active campaign of `brand` that
    /// the brand, as just vetted, no longer qualifies for: a campaign is only as good as its
    /// brand's identity, so a sanctions match, a failed EIN, a legal form changed to sole
    /// proprietor or a special use case without VETTED_VERIFIED stops its traffic in the same
    /// transaction as the vetting. Returns the campaigns, for the index once committed. Its
    /// DCA resumes a campaign once the brand qualifies again.
    async fn suspend_what_the_brand_no_longer_allows(
        &self,
        tx: &mut Tx,
        brand: BrandId,
        entity_type: EntityType,
        status: IdentityStatus,
    ) -> Result<Vec<CampaignId>, ServiceError> {
        let mut out = Vec::new();
        for id in self.index.campaigns_of_brand(brand) {
            let Some(c) = self.store.campaign(id).await? else { continue };
            if c.status != CampaignStatus::Active {
                continue;
            }
            if let Err(e) = check_brand_eligibility(c.details.usecase, entity_type, status) {
                let reason = format!("brand {brand} no longer qualifies ({status} after vetting): {e}");
                tx.append(Actor::System, EventBody::CampaignSuspended { campaign_id: id, reason }).await?;
                out.push(id);
            }
        }
        Ok(out)
    }

    /// Commits `tx`; the campaigns it suspended are refused from the very next message.
    async fn commit_with_suspensions(&self, tx: Tx, suspended: &[CampaignId]) -> Result<(), ServiceError> {
        let events = tx.commit().await?;
        for id in suspended {
            self.index.update_campaign(*id, |s| s.status = CampaignStatus::Suspended);
        }
        self.committed(&events).await?;
        Ok(())
    }

    /// Brings the index slots of a brand's campaigns up to date with its score.
    pub(crate) async fn refresh_brand_campaigns(&self, brand: BrandId, score: u8) -> Result<(), ServiceError> {
        for cid in self.index.campaigns_of_brand(brand) {
            if let Some(c) = self.store.campaign(cid).await? {
                self.index.update_campaign(cid, |s| {
                    s.throughput_class = ThroughputClass::for_campaign(c.details.usecase, score)
                });
            }
        }
        Ok(())
    }

    /// Imports a sanctions list in OFAC SDN CSV layout (administrator only) and re-vets every
    /// brand whose outcome changes under it, in the same transaction.
    pub async fn import_sanctions(&self, p: &Principal, bytes: &[u8]) -> Result<SanctionsImport, ServiceError> {
        if !p.is_admin() {
            return Err(ServiceError::Forbidden("only the administrator imports sanctions lists".into()));
        }
        let list = SanctionsList::from_sdn_csv(bytes)?;
        let sha256 = crate::sha256_hex(bytes);
        let mut w = self.write_lock().await?;
        let mut changed = Vec::new();
        for b in self.store.brands(None).await? {
            let Ok(details) = b.details.clone().validate() else { continue };
            let outcome = self.vet_brand(Some(b.id), b.csp_id, &details, &list).await?;
            if b.vetting.as_ref() != Some(&outcome) {
                changed.push((b.id, details.entity_type, outcome));
            }
        }
        let mut tx: Tx = self.begin(&mut w).await?;
        tx.insert_sanctions_list(&sha256, list.len() as u64, bytes).await?;
        tx.append(p.actor(), EventBody::SanctionsImported { entries: list.len() as u64, sha256: sha256.clone() })
            .await?;
        let mut scores = Vec::new();
        let mut suspended = Vec::new();
        for (id, entity_type, outcome) in changed {
            scores.push((id, outcome.score));
            let status = outcome.identity_status;
            tx.append(Actor::System, EventBody::BrandVetted { brand_id: id, outcome }).await?;
            suspended.extend(self.suspend_what_the_brand_no_longer_allows(&mut tx, id, entity_type, status).await?);
        }
        self.commit_with_suspensions(tx, &suspended).await?;
        let entries = list.len() as u64;
        self.set_sanctions(list);
        for (id, score) in &scores {
            self.refresh_brand_campaigns(*id, *score).await?;
        }
        Ok(SanctionsImport { entries, sha256, revetted: scores.into_iter().map(|(id, _)| id).collect() })
    }
}
