//! The webhook outbox (migration 0016 / PostgreSQL 0009): deliveries written once per event
//! and receiver, in the transaction that moves the notifier's cursor past the event, and
//! claimed, retried and closed by the sender.

use jiff::Timestamp;
use vouch_registry::ProviderId;

use crate::{Store, StoreError, on, on_conn};

/// The event kinds providers are notified of.
pub const NOTIFIED_KINDS: [&str; 6] = [
    "campaign.suspended",
    "campaign.resumed",
    "number.suspended",
    "number.reinstated",
    "campaign.updated",
    "campaign.shared",
];

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Not yet answered 2xx; tried again at `next_attempt`.
    Pending,
    /// Answered 2xx.
    Delivered,
    /// Given up (too old, or the receiver removed its webhook); may be retried by hand.
    Failed,
}

impl DeliveryStatus {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "pending" => Ok(Self::Pending),
            "delivered" => Ok(Self::Delivered),
            "failed" => Ok(Self::Failed),
            other => Err(StoreError::corrupt("webhook_deliveries", format!("status {other:?}"))),
        }
    }
}

/// A delivery to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    /// Its id (`Vouch-Delivery`).
    pub id: String,
    /// The receiver.
    pub provider_id: ProviderId,
    /// The event.
    pub seq: u64,
    /// The event's kind.
    pub kind: String,
    /// The JSON to POST.
    pub body: String,
}

/// A delivery as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDelivery {
    /// Its id (`Vouch-Delivery`).
    pub id: String,
    /// The receiver.
    pub provider_id: ProviderId,
    /// The event.
    pub seq: u64,
    /// The event's kind (`Vouch-Event`).
    pub kind: String,
    /// The JSON POSTed.
    pub body: String,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts so far (a claimed delivery counts the attempt under way).
    pub attempts: u32,
    /// Pending: when it is tried next.
    pub next_attempt: Timestamp,
    /// When it was written.
    pub created: Timestamp,
    /// The last attempt.
    pub last_attempt: Option<Timestamp>,
    /// What the last attempt got, when it failed.
    pub last_error: Option<String>,
}

/// What an attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// Answered 2xx.
    Delivered,
    /// Failed; try again at the instant given.
    RetryAt(Timestamp, String),
    /// Failed for good.
    GaveUp(String),
}

/// The columns a [`DeliveryTuple`] reads, in its order.
macro_rules! columns {
    () => {
        "id, provider_id, seq, kind, body, status, attempts, next_us, created_us, last_us, last_error"
    };
}

type DeliveryTuple = (String, String, i64, String, String, String, i64, i64, i64, Option<i64>, Option<String>);

fn delivery(t: DeliveryTuple) -> Result<WebhookDelivery, StoreError> {
    const T: &str = "webhook_deliveries";
    let (id, provider, seq, kind, body, status, attempts, next_us, created_us, last_us, last_error) = t;
    let at = |us: i64| Timestamp::from_microsecond(us).map_err(|e| StoreError::corrupt(T, e.to_string()));
    Ok(WebhookDelivery {
        id,
        provider_id: provider.parse().map_err(|_| StoreError::corrupt(T, format!("provider {provider:?}")))?,
        seq: u64::try_from(seq).map_err(|_| StoreError::corrupt(T, format!("seq {seq}")))?,
        kind,
        body,
        status: DeliveryStatus::parse(&status)?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        next_attempt: at(next_us)?,
        created: at(created_us)?,
        last_attempt: last_us.map(at).transpose()?,
        last_error,
    })
}

impl Store {
    /// The last event the notifier has turned into deliveries.
    pub async fn webhook_cursor(&self) -> Result<u64, StoreError> {
        let seq: i64 = on!(self.pool(), db => sqlx::query_scalar("SELECT seq FROM webhook_cursor WHERE id = 1")
            .fetch_one(db)
            .await)?;
        Ok(u64::try_from(seq).unwrap_or(0))
    }

    /// Events of the notified kinds after `after`, at most `limit`, and how far they go: the
    /// last event read when the page is full, else the last event there was before the read
    /// (so a page of nothing still moves the cursor past events of other kinds).
    pub async fn notified_events(&self, after: u64, limit: u32) -> Result<(Vec<(u64, String)>, u64), StoreError> {
        let Ok(after) = i64::try_from(after) else { return Ok((Vec::new(), after)) };
        let last: Option<i64> = on!(self.pool(), db => sqlx::query_scalar("SELECT MAX(seq) FROM events")
            .fetch_one(db)
            .await)?;
        let last = last.unwrap_or(0).max(after);
        let rows: Vec<(i64, String)> = on!(self.pool(), db => sqlx::query_as(
            "SELECT seq, canonical FROM events WHERE seq > $1 AND seq <= $2 \
             AND kind IN ($3, $4, $5, $6, $7, $8) ORDER BY seq LIMIT $9",
        )
        .bind(after)
        .bind(last)
        .bind(NOTIFIED_KINDS[0])
        .bind(NOTIFIED_KINDS[1])
        .bind(NOTIFIED_KINDS[2])
        .bind(NOTIFIED_KINDS[3])
        .bind(NOTIFIED_KINDS[4])
        .bind(NOTIFIED_KINDS[5])
        .bind(i64::from(limit))
        .fetch_all(db)
        .await)?;
        let upto = match rows.last() {
            Some((seq, _)) if rows.len() >= limit as usize => *seq,
            _ => last,
        };
        Ok((rows.into_iter().map(|(s, c)| (s as u64, c)).collect(), upto as u64))
    }

    /// Moves the notifier's cursor from `from` to `to` and writes `deliveries`, in one
    /// transaction; `false` (nothing written) when the cursor is no longer at `from` (another
    /// node wrote them).
    pub async fn advance_webhook_cursor(
        &self,
        from: u64,
        to: u64,
        deliveries: &[NewDelivery],
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let (Ok(from), Ok(to)) = (i64::try_from(from), i64::try_from(to)) else { return Ok(false) };
        let mut tx = self.writer_pool().begin().await?;
        let moved = on_conn!(&mut tx, db => sqlx::query("UPDATE webhook_cursor SET seq = $2 WHERE id = 1 AND seq = $1")
            .bind(from)
            .bind(to)
            .execute(&mut *db)
            .await.map(|r| r.rows_affected()))?;
        if moved != 1 {
            return Ok(false);
        }
        let now = now.as_microsecond();
        for d in deliveries {
            on_conn!(&mut tx, db => sqlx::query(
                "INSERT INTO webhook_deliveries (id, provider_id, seq, kind, body, status, attempts, next_us, created_us) \
                 VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6)",
            )
            .bind(&d.id)
            .bind(d.provider_id.to_string())
            .bind(i64::try_from(d.seq).unwrap_or(i64::MAX))
            .bind(&d.kind)
            .bind(&d.body)
            .bind(now)
            .execute(&mut *db)
            .await.map(|r| r.rows_affected()))?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Claims up to `limit` pending deliveries due at `now` for one attempt each: they count
    /// the attempt and are not due again before `hold_until` (so another sender, or this one
    /// after a crash, takes them again only once that passes).
    pub async fn claim_webhook_deliveries(
        &self,
        now: Timestamp,
        hold_until: Timestamp,
        limit: u32,
    ) -> Result<Vec<WebhookDelivery>, StoreError> {
        let rows: Vec<DeliveryTuple> = on!(self.writer_pool(), db => sqlx::query_as(concat!(
            "UPDATE webhook_deliveries SET next_us = $1, attempts = attempts + 1, last_us = $2 \
             WHERE id IN (SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_us <= $2 \
             ORDER BY next_us LIMIT $3) AND status = 'pending' AND next_us <= $2 RETURNING ",
            columns!()
        ))
        .bind(hold_until.as_microsecond())
        .bind(now.as_microsecond())
        .bind(i64::from(limit))
        .fetch_all(db)
        .await)?;
        rows.into_iter().map(delivery).collect()
    }

    /// Records what the attempt on a claimed delivery came to.
    pub async fn finish_webhook_attempt(&self, id: &str, outcome: &AttemptOutcome) -> Result<(), StoreError> {
        let (status, next_us, error) = match outcome {
            AttemptOutcome::Delivered => ("delivered", None, None),
            AttemptOutcome::RetryAt(at, e) => ("pending", Some(at.as_microsecond()), Some(e.as_str())),
            AttemptOutcome::GaveUp(e) => ("failed", None, Some(e.as_str())),
        };
        on!(self.writer_pool(), db => sqlx::query(
            "UPDATE webhook_deliveries SET status = $2, next_us = COALESCE($3, next_us), last_error = $4 \
             WHERE id = $1 AND status = 'pending'",
        )
        .bind(id)
        .bind(status)
        .bind(next_us)
        .bind(error)
        .execute(db)
        .await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// A receiver's deliveries, newest first, at most `limit`; only those in `status` if given.
    pub async fn webhook_deliveries(
        &self,
        provider: ProviderId,
        status: Option<DeliveryStatus>,
        limit: u32,
    ) -> Result<Vec<WebhookDelivery>, StoreError> {
        let rows: Vec<DeliveryTuple> = on!(self.pool(), db => sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM webhook_deliveries WHERE provider_id = $1 AND ($2 IS NULL OR status = $2) \
             ORDER BY created_us DESC, seq DESC LIMIT $3"
        ))
        .bind(provider.to_string())
        .bind(status.map(DeliveryStatus::as_str))
        .bind(i64::from(limit))
        .fetch_all(db)
        .await)?;
        rows.into_iter().map(delivery).collect()
    }

    /// Makes a receiver's delivery due again at `now` (pending, its error kept until the next
    /// attempt); `None` when the receiver has no such delivery.
    pub async fn retry_webhook_delivery(
        &self,
        provider: ProviderId,
        id: &str,
        now: Timestamp,
    ) -> Result<Option<WebhookDelivery>, StoreError> {
        let rows: Vec<DeliveryTuple> = on!(self.writer_pool(), db => sqlx::query_as(concat!(
            "UPDATE webhook_deliveries SET status = 'pending', next_us = $3 WHERE provider_id = $1 AND id = $2 \
             RETURNING ",
            columns!()
        ))
        .bind(provider.to_string())
        .bind(id)
        .bind(now.as_microsecond())
        .fetch_all(db)
        .await)?;
        rows.into_iter().next().map(delivery).transpose()
    }

    /// Deletes delivered and failed deliveries written before `before`; how many.
    pub async fn prune_webhook_deliveries(&self, before: Timestamp) -> Result<u64, StoreError> {
        Ok(on!(self.writer_pool(), db => sqlx::query(
            "DELETE FROM webhook_deliveries WHERE status <> 'pending' AND created_us < $1",
        )
        .bind(before.as_microsecond())
        .execute(db)
        .await.map(|r| r.rows_affected()))?)
    }
}
