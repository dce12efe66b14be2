//! Spam reports, and the events a trace cites as its evidence.

use jiff::Timestamp;
use sqlx::Row;
use vouch_registry::{BrandId, CampaignId, ProviderId, ReportId, TelephoneNumber};

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

/// One registry event: its place, time, kind and canonical text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    /// Sequence number.
    pub seq: u64,
    /// Commit time.
    pub at: Timestamp,
    /// Its kind (`campaign.created`, …).
    pub kind: String,
    /// The canonical encoding (docs/EVENTS.md).
    pub canonical: String,
}

fn report_row(r: &sqlx::sqlite::SqliteRow) -> Result<ReportRow, StoreError> {
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
        sqlx::query(
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
        .execute(self.writer_pool())
        .await
        .map_err(map_unique)?;
        Ok(())
    }

    /// One report.
    pub async fn report(&self, id: ReportId) -> Result<Option<ReportRow>, StoreError> {
        let row =
            sqlx::query("SELECT * FROM reports WHERE id = $1").bind(id.to_string()).fetch_optional(self.pool()).await?;
        row.map(|r| report_row(&r)).transpose()
    }

    /// Reports about a number, or against a campaign or a brand, filed for instants in
    /// `[since, until]`, newest first, at most `limit`.
    pub async fn reports(
        &self,
        about: ReportsAbout,
        since: Timestamp,
        until: Timestamp,
        limit: u32,
    ) -> Result<Vec<ReportRow>, StoreError> {
        let (column, value) = match about {
            ReportsAbout::Number(n) => ("number", (n.digits() as i64).to_string()),
            ReportsAbout::Campaign(c) => ("campaign_id", c.to_string()),
            ReportsAbout::Brand(b) => ("brand_id", b.to_string()),
        };
        // `number` is an integer column: bind it as one so that its index is used.
        let q = sqlx::AssertSqlSafe(format!(
            "SELECT * FROM reports WHERE {column} = $1 AND at_us BETWEEN $2 AND $3 ORDER BY at_us DESC LIMIT $4"
        ));
        let q = match about {
            ReportsAbout::Number(n) => sqlx::query(q).bind(n.digits() as i64),
            _ => sqlx::query(q).bind(value),
        };
        let rows = q
            .bind(since.as_microsecond())
            .bind(until.as_microsecond())
            .bind(i64::from(limit))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(report_row).collect()
    }

    /// The events about `subject` (a brand, campaign or provider id) committed at or before
    /// `until`, oldest first.
    pub async fn subject_events(&self, subject: &str, until: Timestamp) -> Result<Vec<EventRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, ts_us, kind, canonical FROM events WHERE subject = $1 AND ts_us <= $2 \
             AND kind NOT IN ('number.assigned', 'number.released') ORDER BY seq",
        )
        .bind(subject)
        .bind(until.as_microsecond())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(event_row).collect()
    }

    /// One event.
    pub async fn event(&self, seq: u64) -> Result<Option<EventRow>, StoreError> {
        let row = sqlx::query("SELECT seq, ts_us, kind, canonical FROM events WHERE seq = $1")
            .bind(i64::try_from(seq).unwrap_or(i64::MAX))
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| event_row(&r)).transpose()
    }
}

fn event_row(r: &sqlx::sqlite::SqliteRow) -> Result<EventRow, StoreError> {
    const T: &str = "events";
    Ok(EventRow {
        seq: r.try_get::<i64, _>("seq")?.max(0) as u64,
        at: ts(T, r.try_get("ts_us")?)?,
        kind: r.try_get("kind")?,
        canonical: r.try_get("canonical")?,
    })
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
