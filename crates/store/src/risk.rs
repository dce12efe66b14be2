//! What risk scoring and enforcement read and write: per-minute churn and traffic of a
//! campaign, suspended numbers, webhooks.

use jiff::Timestamp;
use vouch_registry::{BrandId, CampaignId, ProviderId, TelephoneNumber};

use crate::project::MINUTE_US;
use crate::query::{parse, ts};
use crate::{Store, StoreError};
use crate::{on, on_conn};

/// A campaign's number churn in one minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActivityRow {
    /// Start of the minute, unix microseconds.
    pub minute_us: i64,
    /// Numbers assigned.
    pub assigned: u64,
    /// Numbers released.
    pub released: u64,
    /// Of those, held less than an hour.
    pub held_under_hour: u64,
    /// Of those, held less than a day.
    pub held_under_day: u64,
}

/// A campaign's gateway traffic in one minute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrafficRow {
    /// The campaign.
    pub campaign_id: CampaignId,
    /// Start of the minute, unix microseconds.
    pub minute_us: i64,
    /// Decisions (accepted, flagged or rejected).
    pub messages: u64,
    /// Of those, rejected.
    pub rejected: u64,
    /// Largest number of distinct sources seen sending near-identical content.
    pub similar_numbers: u64,
}

impl TrafficRow {
    /// The minute `at` falls in, as [`TrafficRow::minute_us`].
    pub fn minute_of(at: Timestamp) -> i64 {
        let us = at.as_microsecond();
        us - us.rem_euclid(MINUTE_US)
    }
}

/// A suspended number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuspendedNumber {
    /// The number.
    pub number: TelephoneNumber,
    /// The campaign it was suspended under.
    pub campaign_id: CampaignId,
    /// The `number.suspended` event.
    pub seq: u64,
    /// Why.
    pub reason: String,
    /// When.
    pub suspended: Timestamp,
}

/// Where a provider's notifications go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRow {
    /// The provider.
    pub provider_id: ProviderId,
    /// The URL notifications are POSTed to.
    pub url: String,
    /// The HMAC-SHA256 key of their signatures.
    pub secret: String,
    /// When it was set.
    pub created: Timestamp,
}

fn count(v: i64) -> u64 {
    v.max(0) as u64
}

impl Store {
    /// How many of a campaign's numbers released from `since` on had been held less than a week.
    pub async fn held_under_week(&self, id: CampaignId, since: Timestamp) -> Result<u64, StoreError> {
        let (n,): (Option<i64>,) = on!(self.pool(), db => sqlx::query_as(
            "SELECT CAST(sum(held_under_week) AS BIGINT) FROM campaign_activity WHERE campaign_id = $1 AND minute_us >= $2",
        )
        .bind(id.to_string())
        .bind(since.as_microsecond())
        .fetch_one(db)
        .await)?;
        Ok(count(n.unwrap_or(0)))
    }

    /// A campaign's churn per minute from `since`, in minute order.
    pub async fn campaign_activity(&self, id: CampaignId, since: Timestamp) -> Result<Vec<ActivityRow>, StoreError> {
        let rows: Vec<(i64, i64, i64, i64, i64)> = on!(self.pool(), db => sqlx::query_as(
            "SELECT minute_us, assigned, released, held_under_hour, held_under_day FROM campaign_activity \
             WHERE campaign_id = $1 AND minute_us >= $2 ORDER BY minute_us",
        )
        .bind(id.to_string())
        .bind(since.as_microsecond())
        .fetch_all(db)
        .await)?;
        Ok(rows
            .into_iter()
            .map(|(minute_us, a, r, h, d)| ActivityRow {
                minute_us,
                assigned: count(a),
                released: count(r),
                held_under_hour: count(h),
                held_under_day: count(d),
            })
            .collect())
    }

    /// A campaign's gateway traffic per minute from `since`, in minute order.
    pub async fn campaign_traffic(&self, id: CampaignId, since: Timestamp) -> Result<Vec<TrafficRow>, StoreError> {
        let rows: Vec<(i64, i64, i64, i64)> = on!(self.pool(), db => sqlx::query_as(
            "SELECT minute_us, messages, rejected, similar_numbers FROM campaign_traffic \
             WHERE campaign_id = $1 AND minute_us >= $2 ORDER BY minute_us",
        )
        .bind(id.to_string())
        .bind(since.as_microsecond())
        .fetch_all(db)
        .await)?;
        Ok(rows
            .into_iter()
            .map(|(minute_us, m, r, s)| TrafficRow {
                campaign_id: id,
                minute_us,
                messages: count(m),
                rejected: count(r),
                similar_numbers: count(s),
            })
            .collect())
    }

    /// The campaigns with churn or gateway traffic in a minute starting at or after `since`,
    /// or a report filed since then.
    pub async fn campaigns_active_since(&self, since: Timestamp) -> Result<Vec<CampaignId>, StoreError> {
        let rows: Vec<(String,)> = on!(self.pool(), db => sqlx::query_as(
            "SELECT DISTINCT campaign_id FROM campaign_activity WHERE minute_us >= $1 \
             UNION SELECT DISTINCT campaign_id FROM campaign_traffic WHERE minute_us >= $1 \
             UNION SELECT DISTINCT campaign_id FROM reports WHERE created_us >= $2 AND campaign_id IS NOT NULL",
        )
        .bind(since.as_microsecond() - since.as_microsecond().rem_euclid(MINUTE_US))
        .bind(since.as_microsecond())
        .fetch_all(db)
        .await)?;
        rows.into_iter().map(|(c,)| parse("campaign_activity", &c)).collect()
    }

    /// The providers that reported `number` against `campaign` for instants in `[since, until]`:
    /// each counts once, however many reports it filed (a reporter chooses the instants it
    /// reports, so a count of its reports is a count of its say-so).
    pub async fn count_reports_on_holding(
        &self,
        number: TelephoneNumber,
        campaign: CampaignId,
        since: Timestamp,
        until: Timestamp,
    ) -> Result<u64, StoreError> {
        let (n,): (i64,) = on!(self.pool(), db => sqlx::query_as(
            "SELECT count(DISTINCT reporter_id) FROM reports \
             WHERE number = $1 AND at_us BETWEEN $2 AND $3 AND campaign_id = $4",
        )
        .bind(number.digits() as i64)
        .bind(since.as_microsecond())
        .bind(until.as_microsecond())
        .bind(campaign.to_string())
        .fetch_one(db)
        .await)?;
        Ok(count(n))
    }

    /// When the campaign was last resumed (`None`: never). The `kind IN` term repeats the
    /// partial index's condition so that SQLite uses it.
    pub async fn last_resumed(&self, id: CampaignId) -> Result<Option<Timestamp>, StoreError> {
        let (us,): (Option<i64>,) = on!(self.pool(), db => sqlx::query_as(
            "SELECT max(ts_us) FROM events WHERE subject = $1 AND kind = 'campaign.resumed' \
             AND kind IN ('campaign.suspended', 'campaign.resumed', 'campaign.expired')",
        )
        .bind(id.to_string())
        .fetch_one(db)
        .await)?;
        us.map(|us| ts("events", us)).transpose()
    }

    /// When the number was last reinstated (`None`: never); `kind NOT IN` as for
    /// [`Store::last_resumed`], for the `events_subject` index.
    pub async fn last_reinstated(&self, number: TelephoneNumber) -> Result<Option<Timestamp>, StoreError> {
        let (us,): (Option<i64>,) = on!(self.pool(), db => sqlx::query_as(
            "SELECT max(ts_us) FROM events WHERE subject = $1 AND kind = 'number.reinstated' \
             AND kind NOT IN ('number.assigned', 'number.released')",
        )
        .bind(number.to_string())
        .fetch_one(db)
        .await)?;
        us.map(|us| ts("events", us)).transpose()
    }

    /// Whether any campaign of `brand` is suspended.
    pub async fn brand_has_suspended_campaign(&self, brand: BrandId) -> Result<bool, StoreError> {
        let (n,): (i64,) = on!(self.pool(), db => sqlx::query_as("SELECT count(*) FROM campaigns WHERE brand_id = $1 AND status = 'SUSPENDED'")
                .bind(brand.to_string())
                .fetch_one(db)
                .await)?;
        Ok(n > 0)
    }

    /// A brand's normalised EIN, as stored for duplicate detection.
    pub async fn brand_ein(&self, brand: BrandId) -> Result<Option<String>, StoreError> {
        let row: Option<(Option<String>,)> = on!(self.pool(), db => sqlx::query_as("SELECT ein FROM brands WHERE id = $1")
            .bind(brand.to_string())
            .fetch_optional(db)
            .await)?;
        Ok(row.and_then(|(e,)| e))
    }

    /// The ids of a brand's campaigns.
    pub async fn brand_campaign_ids(&self, brand: BrandId) -> Result<Vec<CampaignId>, StoreError> {
        let rows: Vec<(String,)> = on!(self.pool(), db => sqlx::query_as("SELECT id FROM campaigns WHERE brand_id = $1 ORDER BY created_us, id")
                .bind(brand.to_string())
                .fetch_all(db)
                .await)?;
        rows.into_iter().map(|(c,)| parse("campaigns", &c)).collect()
    }

    /// Every suspended number.
    pub async fn suspended_numbers(&self) -> Result<Vec<SuspendedNumber>, StoreError> {
        let rows: Vec<(i64, String, i64, String, i64)> = on!(self.pool(), db => sqlx::query_as("SELECT number, campaign_id, seq, reason, suspended_us FROM number_suspensions")
                .fetch_all(db)
                .await)?;
        rows.into_iter().map(suspended_row).collect()
    }

    /// One suspended number.
    pub async fn suspended_number(&self, number: TelephoneNumber) -> Result<Option<SuspendedNumber>, StoreError> {
        let row: Option<(i64, String, i64, String, i64)> = on!(self.pool(), db => sqlx::query_as(
            "SELECT number, campaign_id, seq, reason, suspended_us FROM number_suspensions WHERE number = $1",
        )
        .bind(number.digits() as i64)
        .fetch_optional(db)
        .await)?;
        row.map(suspended_row).transpose()
    }

    /// Sets (replaces) a provider's webhook.
    pub async fn set_webhook(&self, w: &WebhookRow) -> Result<(), StoreError> {
        on!(self.writer_pool(), db => sqlx::query(
            "INSERT INTO webhooks (provider_id, url, secret, created_us) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (provider_id) DO UPDATE SET url = excluded.url, secret = excluded.secret, \
             created_us = excluded.created_us",
        )
        .bind(w.provider_id.to_string())
        .bind(&w.url)
        .bind(&w.secret)
        .bind(w.created.as_microsecond())
        .execute(db)
        .await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// A provider's webhook.
    pub async fn webhook(&self, provider: ProviderId) -> Result<Option<WebhookRow>, StoreError> {
        let row: Option<(String, String, i64)> = on!(self.pool(), db => sqlx::query_as("SELECT url, secret, created_us FROM webhooks WHERE provider_id = $1")
                .bind(provider.to_string())
                .fetch_optional(db)
                .await)?;
        row.map(|(url, secret, us)| Ok(WebhookRow { provider_id: provider, url, secret, created: ts("webhooks", us)? }))
            .transpose()
    }

    /// Removes a provider's webhook; `true` if there was one.
    pub async fn delete_webhook(&self, provider: ProviderId) -> Result<bool, StoreError> {
        let done = on!(self.writer_pool(), db => sqlx::query("DELETE FROM webhooks WHERE provider_id = $1")
            .bind(provider.to_string())
            .execute(db)
            .await.map(|r| r.rows_affected()))?;
        Ok(done > 0)
    }
}

fn suspended_row(
    (number, campaign, seq, reason, us): (i64, String, i64, String, i64),
) -> Result<SuspendedNumber, StoreError> {
    const T: &str = "number_suspensions";
    Ok(SuspendedNumber {
        number: TelephoneNumber::from_digits(number as u64)
            .ok_or_else(|| StoreError::corrupt(T, format!("number {number}")))?,
        campaign_id: parse(T, &campaign)?,
        seq: count(seq),
        reason,
        suspended: ts(T, us)?,
    })
}

/// Adds traffic counts inside the gateway's record transaction: messages and rejections add
/// up; the similar-numbers figure keeps the largest seen in the minute.
pub(crate) async fn add_traffic(tx: &mut crate::DbTx, rows: &[TrafficRow]) -> Result<(), StoreError> {
    for chunk in rows.chunks(200) {
        on_conn!(tx, conn => {
        let mut q = sqlx::QueryBuilder::new(
            "INSERT INTO campaign_traffic (campaign_id, minute_us, messages, rejected, similar_numbers) ",
        );
        q.push_values(chunk, |mut b, r| {
            b.push_bind(r.campaign_id.to_string())
                .push_bind(r.minute_us)
                .push_bind(r.messages as i64)
                .push_bind(r.rejected as i64)
                .push_bind(r.similar_numbers as i64);
        });
        q.push(
            " ON CONFLICT (campaign_id, minute_us) DO UPDATE SET \
             messages = campaign_traffic.messages + excluded.messages, \
             rejected = campaign_traffic.rejected + excluded.rejected, \
             similar_numbers = CASE WHEN excluded.similar_numbers > campaign_traffic.similar_numbers \
             THEN excluded.similar_numbers ELSE campaign_traffic.similar_numbers END",
        );
        q.build().execute(&mut *conn).await.map(|r| r.rows_affected())
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use vouch_registry::{Actor, ReportId};

    use super::*;
    use crate::ReportRow;

    /// A number's reports count by reporter (whatever instants a reporter gives), while a
    /// campaign's count each reporter's minute once.
    #[tokio::test]
    async fn reports_count_by_reporter_for_a_number_and_by_reporter_minute_for_a_campaign() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("v.db")).await.unwrap();
        let (c, n) = (CampaignId::from_random(7), TelephoneNumber::from_digits(12_025_550_100).unwrap());
        let t0 = Timestamp::from_second(1_790_000_000).unwrap();
        let report = |k: u64, reporter: u64, minutes: i64| ReportRow {
            id: ReportId::from_random(k),
            reporter_id: ProviderId::from_random(reporter),
            channel: "sms".into(),
            number: n,
            at: t0.checked_add(jiff::SignedDuration::from_mins(minutes)).unwrap(),
            category: "unwanted".into(),
            campaign_id: Some(c),
            brand_id: None,
            fingerprint: None,
            content: None,
            identity: None,
            origid: None,
            created: t0,
        };
        // One reporter, five minutes, twice each; then a second reporter once.
        let mut k = 0;
        for minute in 0..5 {
            for _ in 0..2 {
                k += 1;
                store.insert_report(&report(k, 1, minute)).await.unwrap();
            }
        }
        let end = t0.checked_add(jiff::SignedDuration::from_hours(1)).unwrap();
        assert_eq!(store.count_reports_on_holding(n, c, t0, end).await.unwrap(), 1);
        assert_eq!(store.count_reports(crate::ReportsAbout::Campaign(c), t0, end).await.unwrap(), 5);
        store.insert_report(&report(99, 2, 0)).await.unwrap();
        assert_eq!(store.count_reports_on_holding(n, c, t0, end).await.unwrap(), 2);
        assert_eq!(store.count_reports(crate::ReportsAbout::Campaign(c), t0, end).await.unwrap(), 6);
    }

    /// Releases count toward the week's short holds by how long the number was held: two days
    /// is under a week and not under a day; eight days is neither.
    #[tokio::test]
    async fn releases_count_as_held_under_a_week() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("v.db")).await.unwrap();
        let c = CampaignId::from_random(7);
        let dca = ProviderId::from_random(8);
        let numbers: Vec<TelephoneNumber> =
            (0..3).map(|i| TelephoneNumber::from_digits(12_025_550_100 + i).unwrap()).collect();
        let t0 = Timestamp::from_second(1_790_000_000).unwrap();
        let at = |days: i64| t0.checked_add(jiff::SignedDuration::from_hours(24 * days)).unwrap();
        let mut tx = store.begin(t0).await.unwrap();
        let rows: Vec<_> = numbers.iter().map(|n| (*n, c, dca)).collect();
        tx.append_number_assignments(Actor::Admin, &rows).await.unwrap();
        tx.commit().await.unwrap();
        let mut tx = store.begin(at(2)).await.unwrap();
        tx.append_number_releases(Actor::Admin, c, &numbers[..2], "moved").await.unwrap();
        tx.commit().await.unwrap();
        let mut tx = store.begin(at(8)).await.unwrap();
        tx.append_number_releases(Actor::Admin, c, &numbers[2..], "moved").await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(store.held_under_week(c, t0).await.unwrap(), 2);
        assert_eq!(store.held_under_week(c, at(3)).await.unwrap(), 0, "only releases from `since` on");
        let day: u64 = store.campaign_activity(c, t0).await.unwrap().iter().map(|a| a.held_under_day).sum();
        assert_eq!(day, 0);
        // A replay of the events projects the same.
        store.rebuild_views().await.unwrap();
        assert_eq!(store.held_under_week(c, t0).await.unwrap(), 2);
    }
}
