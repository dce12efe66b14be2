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

    /// How many reports there are about a number, or against a campaign or a brand, for
    /// instants in `[since, until]`.
    pub async fn count_reports(
        &self,
        about: ReportsAbout,
        since: Timestamp,
        until: Timestamp,
    ) -> Result<u64, StoreError> {
        let (column, value) = about.column();
        let q = sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM reports WHERE {column} = $1 AND at_us BETWEEN $2 AND $3"
        ));
        let row = value
            .bind_to(sqlx::query(q))
            .bind(since.as_microsecond())
            .bind(until.as_microsecond())
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get::<i64, _>(0)?.max(0) as u64)
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
        let mut q = sqlx::QueryBuilder::new("SELECT seq, subject FROM events WHERE ts_us <= ");
        q.push_bind(until.as_microsecond());
        q.push(" AND kind NOT IN ('number.assigned', 'number.released') AND subject IN (");
        let mut list = q.separated(", ");
        for s in subjects {
            list.push_bind(s);
        }
        q.push(")");
        let rows: Vec<(i64, String)> = q.build_query_as().fetch_all(self.pool()).await?;
        Ok(rows.into_iter().map(|(seq, subject)| (seq.max(0) as u64, subject)).collect())
    }

    /// The events with these sequence numbers, in order.
    pub async fn events_by_seq(&self, seqs: &[u64]) -> Result<Vec<EventRow>, StoreError> {
        if seqs.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = sqlx::QueryBuilder::new("SELECT seq, ts_us, kind FROM events WHERE seq IN (");
        let mut list = q.separated(", ");
        for s in seqs {
            list.push_bind(i64::try_from(*s).unwrap_or(i64::MAX));
        }
        q.push(") ORDER BY seq");
        let rows = q.build().fetch_all(self.pool()).await?;
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

impl AboutValue {
    fn bind_to<'q>(
        self,
        q: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments> {
        match self {
            Self::Int(n) => q.bind(n),
            Self::Text(t) => q.bind(t),
        }
    }
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
