//! Spam reports, and the events a trace cites as its evidence.

use jiff::Timestamp;
use vouch_registry::{BrandId, CampaignId, ProviderId, ReportId, TelephoneNumber};

use crate::on;
use crate::query::{parse, ts};
use crate::tx::map_unique;
use crate::{Store, StoreError};

/// A filed report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRow {
    /// Its id.
    pub id: ReportId,
    /// Who filed it.
    pub reporter_id: ProviderId,
    /// `sms` or `voice`.
    pub channel: String,
    /// The offending number.
    pub number: TelephoneNumber,
    /// When the message or call happened.
    pub at: Timestamp,
    /// What kind of abuse (`spam`, `phishing`, …).
    pub category: String,
    /// The campaign that held the number at `at`.
    pub campaign_id: Option<CampaignId>,
    /// Its brand.
    pub brand_id: Option<BrandId>,
    /// SimHash of the content (16 hex digits), when content was given.
    pub fingerprint: Option<String>,
    /// The content, only when the reporter opted in to keeping it.
    pub content: Option<String>,
    /// The Identity header or PASSporT of a call.
    pub identity: Option<String>,
    /// Its `origid`.
    pub origid: Option<String>,
    /// When it was filed.
    pub created: Timestamp,
}

/// One registry event: its place, time and kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    /// Sequence number.
    pub seq: u64,
    /// Commit time.
    pub at: Timestamp,
    /// Its kind (`campaign.created`, …).
    pub kind: String,
}

/// A number's suspension or reinstatement, as a trace cites it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SuspensionEvent {
    /// Its sequence number.
    pub seq: u64,
    /// Its commit time.
    pub at: Timestamp,
    /// `number.suspended` (true) or `number.reinstated` (false).
    pub suspended: bool,
}

fn report_row(r: &crate::DbRow) -> Result<ReportRow, StoreError> {
    const T: &str = "reports";
    let number: i64 = r.try_get("number")?;
    Ok(ReportRow {
        id: parse(T, r.try_get("id")?)?,
        reporter_id: parse(T, r.try_get("reporter_id")?)?,
        channel: r.try_get("channel")?,
        number: TelephoneNumber::from_digits(number as u64)
            .ok_or_else(|| StoreError::corrupt(T, format!("number {number}")))?,
        at: ts(T, r.try_get("at_us")?)?,
        category: r.try_get("category")?,
        campaign_id: r.try_get::<Option<String>, _>("campaign_id")?.map(|c| parse(T, &c)).transpose()?,
        brand_id: r.try_get::<Option<String>, _>("brand_id")?.map(|c| parse(T, &c)).transpose()?,
        fingerprint: r.try_get("fingerprint")?,
        content: r.try_get("content")?,
        identity: r.try_get("identity")?,
        origid: r.try_get("origid")?,
        created: ts(T, r.try_get("created_us")?)?,
    })
}

impl Store {
    /// Files a report; `Err(StoreError::Conflict)` if its id is taken.
    pub async fn insert_report(&self, r: &ReportRow) -> Result<(), StoreError> {
        on!(self.writer_pool(), db => sqlx::query(
            "INSERT INTO reports (id, reporter_id, channel, number, at_us, category, campaign_id, brand_id, \
             fingerprint, content, identity, origid, created_us) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(r.id.to_string())
        .bind(r.reporter_id.to_string())
        .bind(&r.channel)
        .bind(r.number.digits() as i64)
        .bind(r.at.as_microsecond())
        .bind(&r.category)
        .bind(r.campaign_id.map(|c| c.to_string()))
        .bind(r.brand_id.map(|b| b.to_string()))
        .bind(&r.fingerprint)
        .bind(&r.content)
        .bind(&r.identity)
        .bind(&r.origid)
        .bind(r.created.as_microsecond())
        .execute(db)
        .await.map(|r| r.rows_affected()))
        .map_err(map_unique)?;
        Ok(())
    }

    /// The reports against `campaign` for instants from `since` on, newest first, at most
    /// `limit`.
    pub async fn reports_against(
        &self,
        campaign: CampaignId,
        since: Timestamp,
        limit: u32,
    ) -> Result<Vec<ReportRow>, StoreError> {
        let rows = on!(self.pool(), db => sqlx::query(
            "SELECT * FROM reports WHERE campaign_id = $1 AND at_us >= $2 ORDER BY at_us DESC LIMIT $3",
        )
        .bind(campaign.to_string())
        .bind(since.as_microsecond())
        .bind(i64::from(limit))
        .fetch_all(db)
        .await
        .map(|v| v.into_iter().map(crate::DbRow::from).collect::<Vec<_>>()))?;
        rows.iter().map(report_row).collect()
    }

    /// One report.
    pub async fn report(&self, id: ReportId) -> Result<Option<ReportRow>, StoreError> {
        let row = on!(self.pool(), db => sqlx::query("SELECT * FROM reports WHERE id = $1").bind(id.to_string()).fetch_optional(db).await.map(|r| r.map(crate::DbRow::from)))?;
        row.map(|r| report_row(&r)).transpose()
    }

    /// How many reports there are about a number, or against a campaign or a brand, for
    /// instants in `[since, until]`. One reporter's reports about instants of the same minute
    /// count once: a carrier filing the same complaint again (or five times in a second) does
    /// not reach an enforcement threshold alone.
    pub async fn count_reports(
        &self,
        about: ReportsAbout,
        since: Timestamp,
        until: Timestamp,
    ) -> Result<u64, StoreError> {
        let (column, value) = about.column();
        let q = sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM (SELECT DISTINCT reporter_id, at_us / 60000000 FROM reports \
             WHERE {column} = $1 AND at_us BETWEEN $2 AND $3) AS r"
        ));
        let n: i64 = on!(self.pool(), db => {
            let q = sqlx::query_scalar(q);
            let q = match value {
                AboutValue::Int(n) => q.bind(n),
                AboutValue::Text(t) => q.bind(t),
            };
            q.bind(since.as_microsecond()).bind(until.as_microsecond()).fetch_one(db).await
        })?;
        Ok(n.max(0) as u64)
    }

    /// The events about any of `subjects` (brand, campaign or provider ids) committed at or
    /// before `until`: their sequence numbers and subjects.
    pub async fn subject_event_seqs(
        &self,
        subjects: &[String],
        until: Timestamp,
    ) -> Result<Vec<(u64, String)>, StoreError> {
        if subjects.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<(i64, String)> = on!(self.pool(), db => {
            let mut q = sqlx::QueryBuilder::new("SELECT seq, subject FROM events WHERE ts_us <= ");
            q.push_bind(until.as_microsecond());
            q.push(" AND kind NOT IN ('number.assigned', 'number.released') AND subject IN (");
            let mut list = q.separated(", ");
            for s in subjects {
                list.push_bind(s);
            }
            q.push(")");
            q.build_query_as().fetch_all(db).await
        })?;
        Ok(rows.into_iter().map(|(seq, subject)| (seq.max(0) as u64, subject)).collect())
    }

    /// The latest event about `subject` of one of `kinds` committed at or before `until`: its
    /// sequence number and canonical encoding (what a trace rebuilds a brand or campaign from,
    /// as it stood at an instant).
    pub async fn latest_subject_event(
        &self,
        subject: &str,
        kinds: &[&str],
        until: Timestamp,
    ) -> Result<Option<(u64, String)>, StoreError> {
        if kinds.is_empty() {
            return Ok(None);
        }
        let row: Option<(i64, String)> = on!(self.pool(), db => {
            // The kind filter repeats the partial index's condition, so that `events_subject`
            // serves the query on both engines.
            let mut q = sqlx::QueryBuilder::new("SELECT seq, canonical FROM events WHERE subject = ");
            q.push_bind(subject);
            q.push(" AND kind NOT IN ('number.assigned', 'number.released') AND ts_us <= ");
            q.push_bind(until.as_microsecond());
            q.push(" AND kind IN (");
            let mut list = q.separated(", ");
            for k in kinds {
                list.push_bind(*k);
            }
            q.push(") ORDER BY seq DESC LIMIT 1");
            q.build_query_as().fetch_optional(db).await
        })?;
        Ok(row.map(|(seq, canonical)| (seq.max(0) as u64, canonical)))
    }

    /// The `number.suspended` and `number.reinstated` events of `number` after event `after` and
    /// before event `before` (to the end when `None`), oldest first: within one holding of the
    /// number, when `after` and `before` are its `number.assigned` and `number.released`.
    pub async fn number_suspension_events(
        &self,
        number: TelephoneNumber,
        after: u64,
        before: Option<u64>,
    ) -> Result<Vec<SuspensionEvent>, StoreError> {
        const T: &str = "events";
        let before = before.map_or(i64::MAX, |b| i64::try_from(b).unwrap_or(i64::MAX));
        let rows: Vec<(i64, i64, String)> = on!(self.pool(), db => sqlx::query_as(
            "SELECT seq, ts_us, kind FROM events WHERE subject = $1 \
             AND kind NOT IN ('number.assigned', 'number.released') \
             AND kind IN ('number.suspended', 'number.reinstated') AND seq > $2 AND seq < $3 ORDER BY seq",
        )
        .bind(number.to_string())
        .bind(i64::try_from(after).unwrap_or(i64::MAX))
        .bind(before)
        .fetch_all(db)
        .await)?;
        rows.into_iter()
            .map(|(seq, at, kind)| {
                Ok(SuspensionEvent { seq: seq.max(0) as u64, at: ts(T, at)?, suspended: kind == "number.suspended" })
            })
            .collect()
    }

    /// The events with these sequence numbers, in order.
    pub async fn events_by_seq(&self, seqs: &[u64]) -> Result<Vec<EventRow>, StoreError> {
        if seqs.is_empty() {
            return Ok(Vec::new());
        }
        let rows = on!(self.pool(), db => {
            let mut q = sqlx::QueryBuilder::new("SELECT seq, ts_us, kind FROM events WHERE seq IN (");
            let mut list = q.separated(", ");
            for s in seqs {
                list.push_bind(i64::try_from(*s).unwrap_or(i64::MAX));
            }
            q.push(") ORDER BY seq");
            q.build().fetch_all(db).await.map(|v| v.into_iter().map(crate::DbRow::from).collect::<Vec<_>>())
        })?;
        rows.iter()
            .map(|r| {
                const T: &str = "events";
                Ok(EventRow {
                    seq: r.try_get::<i64, _>("seq")?.max(0) as u64,
                    at: ts(T, r.try_get("ts_us")?)?,
                    kind: r.try_get("kind")?,
                })
            })
            .collect()
    }
}

/// Whose reports to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportsAbout {
    /// About one number.
    Number(TelephoneNumber),
    /// Against one campaign.
    Campaign(CampaignId),
    /// Against one brand.
    Brand(BrandId),
}

/// The value a [`ReportsAbout`] compares: `number` is an integer column, bound as one so that
/// its index is used.
enum AboutValue {
    Int(i64),
    Text(String),
}

impl ReportsAbout {
    fn column(self) -> (&'static str, AboutValue) {
        match self {
            Self::Number(n) => ("number", AboutValue::Int(n.digits() as i64)),
            Self::Campaign(c) => ("campaign_id", AboutValue::Text(c.to_string())),
            Self::Brand(b) => ("brand_id", AboutValue::Text(b.to_string())),
        }
    }
}
