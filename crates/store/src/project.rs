//! The projection of events onto the view tables: one function, used when an event is appended
//! and when views are rebuilt from the event table.

use std::collections::HashMap;

use crate::{DbConn, on_conn};
use vouch_registry::{CampaignStatus, Event, EventBody, SharingStatus};

use crate::StoreError;
use crate::tx::map_unique;

fn json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::corrupt("events", e))
}

/// What a transaction's projections leave to its end: churn counts per campaign and minute,
/// and the suspensions its releases end. One statement per transaction instead of one per
/// event (sqlx's SQLite statements cost tens of microseconds each, and a campaign's expiry
/// releases every one of its numbers in one transaction).
#[derive(Debug, Default)]
pub struct Deferred {
    /// (campaign, minute) -> assigned, released, held under an hour, a day, a week.
    activity: HashMap<(String, i64), [i64; 5]>,
    /// Numbers released.
    pub(crate) released: Vec<i64>,
}

impl Deferred {
    /// Writes what was deferred (before the transaction commits).
    pub async fn flush(&mut self, conn: &mut DbConn<'_>) -> Result<(), StoreError> {
        let rows: Vec<_> = self.activity.drain().collect();
        for chunk in rows.chunks(100) {
            on_conn!(conn, db => {
                let mut q = sqlx::QueryBuilder::new(
                    "INSERT INTO campaign_activity \
                     (campaign_id, minute_us, assigned, released, held_under_hour, held_under_day, held_under_week) ",
                );
                q.push_values(chunk, |mut b, ((campaign, minute), c)| {
                    b.push_bind(campaign)
                        .push_bind(*minute)
                        .push_bind(c[0])
                        .push_bind(c[1])
                        .push_bind(c[2])
                        .push_bind(c[3])
                        .push_bind(c[4]);
                });
                q.push(
                    " ON CONFLICT (campaign_id, minute_us) DO UPDATE SET \
                     assigned = campaign_activity.assigned + excluded.assigned, \
                     released = campaign_activity.released + excluded.released, \
                     held_under_hour = campaign_activity.held_under_hour + excluded.held_under_hour, \
                     held_under_day = campaign_activity.held_under_day + excluded.held_under_day, \
                     held_under_week = campaign_activity.held_under_week + excluded.held_under_week",
                );
                q.build().execute(&mut *db).await.map(|r| r.rows_affected())
            })?;
        }
        let released = std::mem::take(&mut self.released);
        if !released.is_empty() {
            let (n,): (i64,) = on_conn!(conn, db => sqlx::query_as("SELECT count(*) FROM number_suspensions").fetch_one(&mut *db).await)?;
            if n > 0 {
                for chunk in released.chunks(500) {
                    on_conn!(conn, db => {
                        let mut q = sqlx::QueryBuilder::new("DELETE FROM number_suspensions WHERE number IN (");
                        let mut list = q.separated(", ");
                        for n in chunk {
                            list.push_bind(*n);
                        }
                        q.push(")");
                        q.build().execute(&mut *db).await.map(|r| r.rows_affected())
                    })?;
                }
            }
        }
        Ok(())
    }

    pub(crate) fn count(&mut self, campaign: String, us: i64, assigned: i64, held_us: Option<i64>) {
        let c = self.activity.entry((campaign, us - us.rem_euclid(MINUTE_US))).or_default();
        c[0] += assigned;
        if let Some(h) = held_us {
            c[1] += 1;
            c[2] += i64::from(h < HOUR_US);
            c[3] += i64::from(h < DAY_US);
            c[4] += i64::from(h < 7 * DAY_US);
        }
    }
}

/// Applies `event` to the view tables (some of it through `deferred`, which the caller flushes
/// before committing).
pub async fn project(conn: &mut DbConn<'_>, deferred: &mut Deferred, event: &Event) -> Result<(), StoreError> {
    let us = event.time.as_microsecond();
    let seq = event.seq.0 as i64;
    match &event.body {
        EventBody::ProviderRegistered { provider_id, registration } => {
            on_conn!(conn, db => sqlx::query("INSERT INTO providers (id, legal_name, registration, frn, spc, created_us) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(provider_id.to_string())
                .bind(&registration.legal_name)
                .bind(json(registration)?)
                .bind(registration.frn.as_ref().map(|f| f.to_string()))
                .bind(registration.spc.as_ref().map(|s| s.to_string()))
                .bind(us)
                .execute(&mut *db)
                .await.map(|r| r.rows_affected()))
                .map_err(map_unique)?;
        }
        // Keys live in api_keys and SMPP accounts in smpp_accounts, written beside the event (a
        // secret's hash is never in an event: events are published in the transparency log).
        EventBody::ApiKeyIssued { .. }
        | EventBody::ApiKeyRevoked { .. }
        | EventBody::SmppAccountIssued { .. }
        | EventBody::SmppAccountRotated { .. }
        | EventBody::SmppAccountRevoked { .. }
        | EventBody::SanctionsImported { .. } => {}
        EventBody::BrandRegistered { brand_id, csp_id, brand } => {
            let ein = brand.clone().validate().ok().and_then(|d| if d.ein_is_us() { d.ein_digits() } else { None });
            on_conn!(conn, db => sqlx::query(
                "INSERT INTO brands (id, csp_id, ein, reference_id, details, version, created_us, updated_us) \
                 VALUES ($1, $2, $3, $4, $5, 1, $6, $6)",
            )
            .bind(brand_id.to_string())
            .bind(csp_id.to_string())
            .bind(ein)
            .bind(&brand.reference_id)
            .bind(json(brand)?)
            .bind(us)
            .execute(&mut *db)
            .await.map(|r| r.rows_affected()))
            .map_err(map_unique)?;
        }
        EventBody::BrandUpdated { brand_id, brand } => {
            let ein = brand.clone().validate().ok().and_then(|d| if d.ein_is_us() { d.ein_digits() } else { None });
            on_conn!(conn, db => sqlx::query("UPDATE brands SET ein = $1, reference_id = $2, details = $3, version = version + 1, updated_us = $4 WHERE id = $5")
                .bind(ein)
                .bind(&brand.reference_id)
                .bind(json(brand)?)
                .bind(us)
                .bind(brand_id.to_string())
                .execute(&mut *db)
                .await.map(|r| r.rows_affected()))
                .map_err(map_unique)?;
        }
        EventBody::BrandVetted { brand_id, outcome } => {
            on_conn!(conn, db => sqlx::query(
                "UPDATE brands SET score = $1, identity_status = $2, vetting = $3, updated_us = $4 WHERE id = $5",
            )
            .bind(i64::from(outcome.score))
            .bind(outcome.identity_status.as_str())
            .bind(json(outcome)?)
            .bind(us)
            .bind(brand_id.to_string())
            .execute(&mut *db)
            .await.map(|r| r.rows_affected()))?;
        }
        EventBody::CampaignCreated { campaign_id, csp_id, campaign } => {
            on_conn!(conn, db => sqlx::query(
                "INSERT INTO campaigns (id, brand_id, csp_id, reference_id, details, status, version, created_us, updated_us) \
                 VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $7)",
            )
            .bind(campaign_id.to_string())
            .bind(campaign.brand_id.to_string())
            .bind(csp_id.to_string())
            .bind(&campaign.reference_id)
            .bind(json(campaign)?)
            .bind(CampaignStatus::Active.as_str())
            .bind(us)
            .execute(&mut *db)
            .await.map(|r| r.rows_affected()))
            .map_err(map_unique)?;
        }
        EventBody::CampaignUpdated { campaign_id, campaign } => {
            on_conn!(conn, db => sqlx::query("UPDATE campaigns SET reference_id = $1, details = $2, version = version + 1, updated_us = $3 WHERE id = $4")
                .bind(&campaign.reference_id)
                .bind(json(campaign)?)
                .bind(us)
                .bind(campaign_id.to_string())
                .execute(&mut *db)
                .await.map(|r| r.rows_affected()))
                .map_err(map_unique)?;
        }
        EventBody::CampaignShared { campaign_id, dca_id } => {
            on_conn!(conn, db => sqlx::query(
                "INSERT INTO campaign_sharing (campaign_id, dca_id, status, shared_us, status_us) VALUES ($1, $2, $3, $4, $4) \
                 ON CONFLICT (campaign_id, dca_id) DO UPDATE SET status = excluded.status, reason = NULL, \
                 shared_us = excluded.shared_us, status_us = excluded.status_us",
            )
            .bind(campaign_id.to_string())
            .bind(dca_id.to_string())
            .bind(SharingStatus::Pending.as_str())
            .bind(us)
            .execute(&mut *db)
            .await.map(|r| r.rows_affected()))?;
            // Shared again with the DCA that had accepted it (a material change to review): it
            // carries the campaign again only once it accepts again.
            on_conn!(conn, db => sqlx::query("UPDATE campaigns SET dca_id = NULL WHERE id = $1 AND dca_id = $2")
                .bind(campaign_id.to_string())
                .bind(dca_id.to_string())
                .execute(&mut *db)
                .await.map(|r| r.rows_affected()))?;
        }
        EventBody::SharingAccepted { campaign_id, dca_id } | EventBody::SharingDeclined { campaign_id, dca_id, .. } => {
            let (status, reason) = match &event.body {
                EventBody::SharingDeclined { reason, .. } => (SharingStatus::Declined, reason.clone()),
                _ => (SharingStatus::Accepted, None),
            };
            on_conn!(conn, db => sqlx::query("UPDATE campaign_sharing SET status = $1, reason = $2, status_us = $3 WHERE campaign_id = $4 AND dca_id = $5")
                .bind(status.as_str())
                .bind(reason)
                .bind(us)
                .bind(campaign_id.to_string())
                .bind(dca_id.to_string())
                .execute(&mut *db)
                .await.map(|r| r.rows_affected()))?;
            if status == SharingStatus::Accepted {
                on_conn!(conn, db => sqlx::query("UPDATE campaigns SET dca_id = $1, updated_us = $2 WHERE id = $3")
                    .bind(dca_id.to_string())
                    .bind(us)
                    .bind(campaign_id.to_string())
                    .execute(&mut *db)
                    .await.map(|r| r.rows_affected()))?;
            }
        }
        EventBody::CampaignSuspended { campaign_id, reason } | EventBody::CampaignResumed { campaign_id, reason } => {
            let status = if matches!(event.body, EventBody::CampaignSuspended { .. }) {
                CampaignStatus::Suspended
            } else {
                CampaignStatus::Active
            };
            set_status(conn, &campaign_id.to_string(), status, Some(reason.as_str()), us).await?;
        }
        EventBody::CampaignExpired { campaign_id, reason } => {
            set_status(conn, &campaign_id.to_string(), CampaignStatus::Expired, reason.as_deref(), us).await?;
        }
        EventBody::NumberAssigned { number, campaign_id, dca_id } => {
            on_conn!(conn, db => sqlx::query("INSERT INTO number_assignments (assigned_seq, number, campaign_id, dca_id, assigned_us) VALUES ($1, $2, $3, $4, $5)")
                .bind(seq)
                .bind(number.digits() as i64)
                .bind(campaign_id.to_string())
                .bind(dca_id.to_string())
                .bind(us)
                .execute(&mut *db)
                .await.map(|r| r.rows_affected()))
                .map_err(map_unique)?;
            deferred.count(campaign_id.to_string(), us, 1, None);
        }
        EventBody::NumberReleased { number, reason, .. } => {
            let held: Option<(String, i64)> = on_conn!(conn, db => sqlx::query_as(
                "UPDATE number_assignments SET released_seq = $1, released_us = $2, release_reason = $3 \
                 WHERE number = $4 AND released_us IS NULL RETURNING campaign_id, assigned_us",
            )
            .bind(seq)
            .bind(us)
            .bind(reason)
            .bind(number.digits() as i64)
            .fetch_optional(&mut *db)
            .await)?;
            if let Some((campaign, assigned_us)) = held {
                deferred.count(campaign, us, 0, Some(us - assigned_us));
            }
            deferred.released.push(number.digits() as i64);
        }
        EventBody::NumberSuspended { number, campaign_id, reason } => {
            on_conn!(conn, db => sqlx::query(
                "INSERT INTO number_suspensions (number, campaign_id, seq, reason, suspended_us) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(number.digits() as i64)
            .bind(campaign_id.to_string())
            .bind(seq)
            .bind(reason)
            .bind(us)
            .execute(&mut *db)
            .await.map(|r| r.rows_affected()))
            .map_err(map_unique)?;
        }
        EventBody::NumberReinstated { number, .. } => {
            on_conn!(conn, db => sqlx::query("DELETE FROM number_suspensions WHERE number = $1")
                .bind(number.digits() as i64)
                .execute(&mut *db)
                .await.map(|r| r.rows_affected()))?;
        }
        EventBody::CertificateRegistered { provider_id, fingerprint, spc, chain_pem, x5u } => {
            on_conn!(conn, db => sqlx::query(
                "INSERT INTO certificates (fingerprint, provider_id, spc, chain_pem, x5u, created_us) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(fingerprint)
            .bind(provider_id.to_string())
            .bind(spc.as_str())
            .bind(chain_pem)
            .bind(x5u)
            .bind(us)
            .execute(&mut *db)
            .await.map(|r| r.rows_affected()))
            .map_err(map_unique)?;
        }
        EventBody::SipPeerAdded { provider_id, address, brand_id, tdm, verify_only } => {
            on_conn!(conn, db => sqlx::query("INSERT INTO sip_peers (address, provider_id, brand_id, created_us, tdm, verify_only) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(address)
                .bind(provider_id.to_string())
                .bind(brand_id.map(|b| b.to_string()))
                .bind(us)
                .bind(i64::from(*tdm))
                .bind(i64::from(*verify_only))
                .execute(&mut *db)
                .await.map(|r| r.rows_affected()))
                .map_err(map_unique)?;
        }
        EventBody::SipPeerRemoved { address, .. } => {
            on_conn!(conn, db => sqlx::query("DELETE FROM sip_peers WHERE address = $1").bind(address).execute(&mut *db).await.map(|r| r.rows_affected()))?;
        }
        EventBody::NumberBlockRegistered { provider_id, first, last, brand_id } => {
            on_conn!(conn, db => sqlx::query(
                "INSERT INTO number_blocks (first_number, last_number, provider_id, brand_id, created_us) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(first.digits() as i64)
            .bind(last.digits() as i64)
            .bind(provider_id.to_string())
            .bind(brand_id.map(|b| b.to_string()))
            .bind(us)
            .execute(&mut *db)
            .await.map(|r| r.rows_affected()))
            .map_err(map_unique)?;
        }
        EventBody::NumberBlockRemoved { first, .. } => {
            on_conn!(conn, db => sqlx::query("DELETE FROM number_blocks WHERE first_number = $1")
                .bind(first.digits() as i64)
                .execute(&mut *db)
                .await.map(|r| r.rows_affected()))?;
        }
        // The snapshot's rows are written beside the event (reference data, like sanctions).
        EventBody::RmdImported { .. } => {}
        EventBody::CpsKeyRegistered { provider_id, key_id, public_key } => {
            on_conn!(conn, db => sqlx::query("DELETE FROM cps_keys WHERE provider_id = $1").bind(provider_id.to_string()).execute(&mut *db).await.map(|r| r.rows_affected()))?;
            on_conn!(conn, db => sqlx::query("INSERT INTO cps_keys (provider_id, key_id, public_key, created_us) VALUES ($1, $2, $3, $4)")
                .bind(provider_id.to_string())
                .bind(key_id)
                .bind(public_key)
                .bind(us)
                .execute(&mut *db)
                .await.map(|r| r.rows_affected()))?;
        }
        _ => {}
    }
    Ok(())
}

/// Microseconds in a minute, the grain of `campaign_activity` and `campaign_traffic`.
pub(crate) const MINUTE_US: i64 = 60_000_000;
const HOUR_US: i64 = 3_600_000_000;
const DAY_US: i64 = 86_400_000_000;

async fn set_status(
    conn: &mut DbConn<'_>,
    id: &str,
    status: CampaignStatus,
    reason: Option<&str>,
    us: i64,
) -> Result<(), StoreError> {
    on_conn!(conn, db => sqlx::query("UPDATE campaigns SET status = $1, status_reason = $2, updated_us = $3 WHERE id = $4")
        .bind(status.as_str())
        .bind(reason)
        .bind(us)
        .bind(id)
        .execute(&mut *db)
        .await.map(|r| r.rows_affected()))?;
    Ok(())
}
