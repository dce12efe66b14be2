//! Numbers: assignment to campaigns, release, point-in-time lookup, history, bulk import.

use std::collections::{HashMap, HashSet};

use jiff::Timestamp;
use vouch_registry::{
    CampaignId, CampaignSlot, CampaignStatus, EventBody, ImportRow, ProviderId, TelephoneNumber, ThroughputClass,
};
use vouch_store::AssignmentRow;

use crate::{ConflictKind, Principal, Registry, ServiceError};

/// The public answer to "who holds this number": nothing confidential about the brand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberAnswer {
    /// The number.
    pub number: TelephoneNumber,
    /// The campaign holding it.
    pub campaign_id: CampaignId,
    /// That campaign's status (at `at`, for point-in-time answers).
    pub campaign_status: CampaignStatus,
    /// The DCA carrying the campaign.
    pub dca_id: Option<ProviderId>,
    /// Message class (current answers only).
    pub throughput_class: Option<ThroughputClass>,
    /// Start of the holding interval (point-in-time answers).
    pub held_since: Option<Timestamp>,
    /// End of the holding interval, if it ended (point-in-time answers).
    pub held_until: Option<Timestamp>,
    /// Whether the number itself is suspended (now, or at `at`): the gateway refuses its
    /// messages whatever its campaign's status. `None` in the answers to assignments.
    pub number_suspended: Option<bool>,
}

/// A number's suspension or reinstatement, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuspensionAnswer {
    /// The number.
    pub number: TelephoneNumber,
    /// The campaign holding it.
    pub campaign_id: CampaignId,
    /// Suspended now.
    pub suspended: bool,
    /// Why.
    pub reason: String,
    /// The event.
    pub seq: u64,
}

/// A row that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRejection {
    /// Line in the file.
    pub line: u64,
    /// The number as written.
    pub number: String,
    /// Why.
    pub reason: String,
}

/// What a bulk import did: every row is accepted, unchanged (already so) or rejected.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Rows newly assigned.
    pub accepted: u64,
    /// Rows already assigned to that campaign (re-running an import is harmless).
    pub unchanged: u64,
    /// Rows refused, with reasons.
    pub rejected: Vec<ImportRejection>,
}

/// A campaign checked for an import: its slot and DCA, or why its rows are refused.
type CheckedCampaign = Result<(CampaignSlot, ProviderId), String>;

/// Most rows one import call takes (the CLI sends files in chunks).
pub const MAX_IMPORT_ROWS: usize = 100_000;

impl Registry {
    /// Whether `p` may assign numbers to (or release numbers from) the campaign in `slot`.
    fn may_manage_numbers(p: &Principal, slot: &CampaignSlot) -> Result<(), ServiceError> {
        match p {
            Principal::Admin => Ok(()),
            Principal::Provider { id, .. } if Some(*id) == slot.dca => Ok(()),
            Principal::Provider { id, .. } if *id == slot.csp => {
                if slot.dca.is_some() {
                    Ok(())
                } else {
                    Err(ServiceError::conflict(
                        ConflictKind::CampaignNotAccepted,
                        format!(
                            "campaign {} has not been accepted by a DCA yet; share it and wait for the DCA to accept",
                            slot.id
                        ),
                    ))
                }
            }
            Principal::Provider { .. } => Err(ServiceError::not_found("campaign", slot.id)),
        }
    }

    fn check_assignable(slot: &CampaignSlot) -> Result<ProviderId, ServiceError> {
        match slot.status {
            CampaignStatus::Suspended => Err(ServiceError::conflict(
                ConflictKind::CampaignSuspended,
                format!("campaign {} is suspended; numbers cannot be assigned to it", slot.id),
            )),
            CampaignStatus::Expired => {
                Err(ServiceError::conflict(ConflictKind::CampaignExpired, format!("campaign {} is expired", slot.id)))
            }
            _ => slot.dca.ok_or_else(|| {
                ServiceError::conflict(
                    ConflictKind::CampaignNotAccepted,
                    format!("campaign {} has not been accepted by a DCA yet", slot.id),
                )
            }),
        }
    }

    /// Assigns `number` to `campaign`. Returns the answer and whether anything changed
    /// (assigning a number to the campaign that already holds it changes nothing).
    pub async fn assign_number(
        &self,
        p: &Principal,
        number: TelephoneNumber,
        campaign: CampaignId,
    ) -> Result<(NumberAnswer, bool), ServiceError> {
        if let Some(why) = number.ten_dlc_problem() {
            return Err(ServiceError::invalid("number", format!("{number}: {why}")));
        }
        let mut w = self.write_lock().await?;
        let slot = self.index.campaign(campaign).ok_or_else(|| ServiceError::not_found("campaign", campaign))?;
        Self::may_manage_numbers(p, &slot)?;
        let dca = Self::check_assignable(&slot)?;
        if let Some(current) = self.index.lookup(number) {
            if current.campaign.id == campaign {
                return Ok((answer_from_slot(number, &slot), false));
            }
            return Err(ServiceError::conflict(
                ConflictKind::NumberHeld,
                format!(
                    "{number} is held by campaign {}; it must be released before it can be assigned to {campaign}",
                    current.campaign.id
                ),
            ));
        }
        let mut tx = self.begin(&mut w).await?;
        tx.append(p.actor(), EventBody::NumberAssigned { number, campaign_id: campaign, dca_id: dca }).await?;
        self.committed(&tx.commit().await?).await?;
        self.index.assign(number, campaign);
        Ok((answer_from_slot(number, &slot), true))
    }

    /// [`crate::campaigns::answerable_dca`] for a campaign slot: the index's DCA, and only
    /// without one the store's row (a review in progress).
    async fn answerable_dca(&self, slot: &CampaignSlot) -> Result<Option<ProviderId>, ServiceError> {
        if slot.dca.is_some() {
            return Ok(slot.dca);
        }
        Ok(self.store.campaign(slot.id).await?.as_ref().and_then(crate::campaigns::answerable_dca))
    }

    /// Releases `number` from the campaign holding it.
    pub async fn release_number(
        &self,
        p: &Principal,
        number: TelephoneNumber,
        reason: Option<String>,
    ) -> Result<(), ServiceError> {
        let reason = crate::campaigns::checked_optional_reason(reason)?;
        let mut w = self.write_lock().await?;
        let current = self.index.lookup(number).ok_or_else(|| ServiceError::not_found("number", number))?;
        let dca = self.answerable_dca(&current.campaign).await?;
        match p {
            Principal::Admin => {}
            Principal::Provider { id, .. } if *id == current.campaign.csp || Some(*id) == dca => {}
            Principal::Provider { .. } => {
                return Err(ServiceError::Forbidden(format!(
                    "only the CSP or DCA of campaign {} can release {number}",
                    current.campaign.id
                )));
            }
        }
        // A suspension is the DCA's enforcement: the CSP cannot undo it by releasing the number
        // (and assigning it again, or to another campaign). The DCA or the administrator can.
        let by_dca_or_admin = p.is_admin() || dca.is_some_and(|d| p.provider() == Some(d));
        if !by_dca_or_admin {
            if current.campaign.status == CampaignStatus::Suspended {
                return Err(ServiceError::conflict(
                    ConflictKind::CampaignSuspended,
                    format!(
                        "campaign {} is suspended: its numbers stay with it until its DCA resumes it or releases them",
                        current.campaign.id
                    ),
                ));
            }
            if self.number_suspended(number) {
                return Err(ServiceError::conflict(
                    ConflictKind::NumberState,
                    format!("{number} is suspended: only the campaign's DCA or the administrator can release it"),
                ));
            }
        }
        let mut tx = self.begin(&mut w).await?;
        tx.append(p.actor(), EventBody::NumberReleased { number, campaign_id: current.campaign.id, reason }).await?;
        self.committed(&tx.commit().await?).await?;
        self.index.release(number);
        Ok(())
    }

    /// Suspends (`suspend = true`) or reinstates one number of a campaign: the campaign's
    /// accepted DCA or the administrator, with a reason.
    pub async fn set_number_suspended(
        &self,
        p: &Principal,
        number: TelephoneNumber,
        suspend: bool,
        reason: String,
    ) -> Result<SuspensionAnswer, ServiceError> {
        let reason = crate::campaigns::checked_reason(reason)?;
        let mut w = self.write_lock().await?;
        let current = self.index.lookup(number).ok_or_else(|| ServiceError::not_found("number", number))?;
        let dca = self.answerable_dca(&current.campaign).await?;
        let allowed = p.is_admin() || (dca.is_some() && p.provider() == dca);
        if !allowed {
            return Err(ServiceError::Forbidden(format!(
                "only the DCA that accepted campaign {} or the administrator can suspend or reinstate {number}",
                current.campaign.id
            )));
        }
        if self.number_suspended(number) == suspend {
            return Err(ServiceError::conflict(
                ConflictKind::NumberState,
                format!("{number} is {}", if suspend { "already suspended" } else { "not suspended" }),
            ));
        }
        self.change_number_status(&mut w, p.actor(), number, current.campaign.id, suspend, reason).await
    }

    /// Suspends a number on an enforcement policy's decision (actor `system`), if `campaign`
    /// still holds it and it is not suspended yet.
    pub(crate) async fn enforce_number_suspension(
        &self,
        number: TelephoneNumber,
        campaign: CampaignId,
        reason: String,
    ) -> Result<Option<SuspensionAnswer>, ServiceError> {
        let reason = crate::campaigns::checked_reason(reason)?;
        let mut w = self.write_lock().await?;
        match self.index.lookup(number) {
            Some(a) if a.campaign.id == campaign && !self.number_suspended(number) => {}
            _ => return Ok(None),
        }
        self.change_number_status(&mut w, vouch_registry::Actor::System, number, campaign, true, reason).await.map(Some)
    }

    async fn change_number_status(
        &self,
        w: &mut crate::WriteGuard<'_>,
        actor: vouch_registry::Actor,
        number: TelephoneNumber,
        campaign_id: CampaignId,
        suspend: bool,
        reason: String,
    ) -> Result<SuspensionAnswer, ServiceError> {
        let body = if suspend {
            EventBody::NumberSuspended { number, campaign_id, reason: reason.clone() }
        } else {
            EventBody::NumberReinstated { number, campaign_id, reason: reason.clone() }
        };
        let mut tx = self.begin(w).await?;
        let seq = tx.append(actor, body).await?.seq.0;
        let events = tx.commit().await?;
        self.committed(&events).await?;
        Ok(SuspensionAnswer { number, campaign_id, suspended: suspend, reason, seq })
    }

    /// Who holds `number` now, and whether the number itself is suspended, from memory
    /// (public).
    pub fn lookup_number(&self, number: TelephoneNumber) -> Option<NumberAnswer> {
        self.index.lookup(number).map(|a| NumberAnswer {
            number_suspended: Some(self.number_suspended(number)),
            ..answer_from_slot(number, &a.campaign)
        })
    }

    /// Who held `number` at instant `at`, from the store's history (public).
    pub async fn lookup_number_at(
        &self,
        number: TelephoneNumber,
        at: Timestamp,
    ) -> Result<Option<NumberAnswer>, ServiceError> {
        let Some(row) = self.store.assignment_at(number, at).await? else { return Ok(None) };
        let status = self.store.campaign_status_at(row.campaign_id, at).await?;
        // The number's own suspensions during this holding, the last one up to `at` decides.
        let suspensions = self.store.number_suspension_events(number, row.assigned_seq, row.released_seq).await?;
        let number_suspended = suspensions.iter().rev().find(|e| e.at <= at).is_some_and(|e| e.suspended);
        Ok(Some(NumberAnswer {
            number,
            campaign_id: row.campaign_id,
            campaign_status: status,
            dca_id: Some(row.dca_id),
            throughput_class: None,
            held_since: Some(row.assigned),
            held_until: row.released,
            number_suspended: Some(number_suspended),
        }))
    }

    /// Every interval `number` was held, oldest first (public).
    pub async fn number_history(&self, number: TelephoneNumber) -> Result<Vec<AssignmentRow>, ServiceError> {
        Ok(self.store.number_history(number).await?)
    }

    /// Imports number assignments in one transaction: every acknowledged row is durable, rows
    /// already in place are reported unchanged, and bad rows are reported with reasons.
    pub async fn import_numbers(&self, p: &Principal, rows: Vec<ImportRow>) -> Result<ImportReport, ServiceError> {
        if rows.len() > MAX_IMPORT_ROWS {
            return Err(ServiceError::invalid(
                "body",
                format!("at most {MAX_IMPORT_ROWS} rows per request; send the file in chunks"),
            ));
        }
        let mut w = self.write_lock().await?;
        let mut report = ImportReport::default();
        let mut accepted: Vec<(TelephoneNumber, CampaignId, ProviderId)> = Vec::with_capacity(rows.len());
        let mut seen: HashSet<TelephoneNumber> = HashSet::with_capacity(rows.len());
        // Each campaign is checked once per request (rows of many campaigns may interleave).
        let mut checked: HashMap<CampaignId, CheckedCampaign> = HashMap::new();
        for row in rows {
            let reject = |reason: String| ImportRejection { line: row.line, number: row.number.clone(), reason };
            let number = match row.number.trim().parse::<TelephoneNumber>() {
                Ok(n) => match n.ten_dlc_problem() {
                    None => n,
                    Some(why) => {
                        report.rejected.push(reject(format!("{n}: {why}")));
                        continue;
                    }
                },
                Err(e) => {
                    report.rejected.push(reject(e.to_string()));
                    continue;
                }
            };
            let campaign = match row.campaign_id.trim().parse::<CampaignId>() {
                Ok(c) => c,
                Err(e) => {
                    report.rejected.push(reject(e.to_string()));
                    continue;
                }
            };
            let checked = checked.entry(campaign).or_insert_with(|| match self.index.campaign(campaign) {
                None => Err(format!("campaign {campaign} not found")),
                Some(slot) => Self::may_manage_numbers(p, &slot)
                    .and_then(|()| Self::check_assignable(&slot))
                    .map(|dca| (slot, dca))
                    .map_err(|e| e.to_string()),
            });
            let (slot, dca) = match checked {
                Ok((slot, dca)) => (*slot, *dca),
                Err(e) => {
                    report.rejected.push(reject(e.clone()));
                    continue;
                }
            };
            let dca_col = row.dca_id.trim();
            if !dca_col.is_empty() && dca_col != dca.as_str() {
                report.rejected.push(reject(format!("campaign {campaign} is carried by DCA {dca}, not {dca_col}")));
                continue;
            }
            match self.index.lookup(number) {
                Some(current) if current.campaign.id == slot.id => {
                    report.unchanged += 1;
                    continue;
                }
                Some(current) => {
                    report.rejected.push(reject(format!("{number} is held by campaign {}", current.campaign.id)));
                    continue;
                }
                None => {}
            }
            if !seen.insert(number) {
                report.rejected.push(reject(format!("{number} appears twice in this request")));
                continue;
            }
            accepted.push((number, campaign, dca));
        }
        if !accepted.is_empty() {
            let mut tx = self.begin(&mut w).await?;
            tx.append_number_assignments(p.actor(), &accepted).await?;
            tx.commit().await?;
            // The commit left the WAL as it is: copy it into the database on another thread
            // while the next chunk is written.
            self.checkpoint_in_background();
            metrics::counter!("vouch_registry_events_total", "kind" => "number.assigned")
                .increment(accepted.len() as u64);
            let rows: Vec<_> = accepted.iter().map(|(n, c, _)| (*n, *c)).collect();
            self.index.assign_many(&rows);
            report.accepted = accepted.len() as u64;
        }
        Ok(report)
    }
}

fn answer_from_slot(number: TelephoneNumber, slot: &CampaignSlot) -> NumberAnswer {
    NumberAnswer {
        number,
        campaign_id: slot.id,
        campaign_status: slot.status,
        dca_id: slot.dca,
        throughput_class: Some(slot.throughput_class),
        held_since: None,
        held_until: None,
        number_suspended: None,
    }
}
