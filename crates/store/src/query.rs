//! Reads: rows of the view tables, parsed back into domain types.

use jiff::Timestamp;
use vouch_registry::{
    BrandId, BrandRequest, CampaignId, CampaignRequest, CampaignStatus, EinHolder, IdentityStatus, ProviderId,
    ProviderRegistration, SharingStatus, TelephoneNumber, VettingOutcome,
};

use crate::on;
use crate::{Store, StoreError};

/// Whose listing a page is for: every row (the administrator), or what one provider may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// Every row.
    All,
    /// A provider's own rows (as CSP) and, when `dca` holds, those shared with it and not
    /// declined (as DCA).
    Provider {
        /// The provider.
        id: ProviderId,
        /// Whether it acts as a DCA.
        dca: bool,
    },
}

impl Visibility {
    /// (CSP bind, DCA bind): both NULL for everything.
    fn binds(self) -> (Option<String>, Option<String>) {
        match self {
            Self::All => (None, None),
            Self::Provider { id, dca } => (Some(id.to_string()), dca.then(|| id.to_string())),
        }
    }
}

/// Which brands a listing asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BrandFilter {
    /// Only brands in this vetting state.
    pub identity_status: Option<IdentityStatus>,
    /// Only brands after this one (its id and creation time) in the listing's order.
    pub after: Option<(BrandId, Timestamp)>,
}

/// Which campaigns a listing asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CampaignFilter {
    /// Only campaigns in this state.
    pub status: Option<CampaignStatus>,
    /// Only campaigns of this brand.
    pub brand: Option<BrandId>,
    /// Only campaigns after this one (its id and creation time) in the listing's order.
    pub after: Option<(CampaignId, Timestamp)>,
}

/// A cursor's binds: its id and its creation instant in microseconds.
fn cursor(after: Option<(String, Timestamp)>) -> (Option<String>, Option<i64>) {
    match after {
        Some((id, t)) => (Some(id), Some(t.as_microsecond())),
        None => (None, None),
    }
}

/// A LIMIT bind (SQLite and PostgreSQL both take a large one as none).
fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// A registered provider.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderRow {
    /// Its id.
    pub id: ProviderId,
    /// What it registered with.
    pub registration: ProviderRegistration,
    /// When.
    pub created: Timestamp,
}

/// An API key, without its secret.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiKeyRow {
    /// Public id of the key.
    pub key_id: String,
    /// The provider it acts as; `None` for the administrator.
    pub provider_id: Option<ProviderId>,
    /// When it was issued.
    pub created: Timestamp,
    /// When it was revoked.
    pub revoked: Option<Timestamp>,
}

/// A brand with its latest vetting.
#[derive(Debug, Clone, PartialEq)]
pub struct BrandRow {
    /// Its id.
    pub id: BrandId,
    /// Its CSP.
    pub csp_id: ProviderId,
    /// Its fields.
    pub details: BrandRequest,
    /// The latest vetting outcome.
    pub vetting: Option<VettingOutcome>,
    /// Score of the latest vetting.
    pub score: u8,
    /// Status of the latest vetting.
    pub identity_status: IdentityStatus,
    /// Incremented on every update.
    pub version: i64,
    /// When it was registered.
    pub created: Timestamp,
    /// When it last changed.
    pub updated: Timestamp,
}

/// A campaign's sharing with one DCA.
#[derive(Debug, Clone, PartialEq)]
pub struct SharingRow {
    /// The DCA.
    pub dca_id: ProviderId,
    /// Pending, accepted or declined.
    pub status: SharingStatus,
    /// The DCA's reason, for a decline.
    pub reason: Option<String>,
    /// When it was shared.
    pub shared: Timestamp,
    /// When the status last changed.
    pub status_time: Timestamp,
}

/// A campaign with its sharing.
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignRow {
    /// Its id.
    pub id: CampaignId,
    /// Its brand.
    pub brand_id: BrandId,
    /// Its CSP.
    pub csp_id: ProviderId,
    /// Its fields.
    pub details: CampaignRequest,
    /// Active, suspended or expired.
    pub status: CampaignStatus,
    /// Reason of the last status change.
    pub status_reason: Option<String>,
    /// The DCA that accepted it.
    pub dca_id: Option<ProviderId>,
    /// Every sharing, oldest first.
    pub sharing: Vec<SharingRow>,
    /// Incremented on every update.
    pub version: i64,
    /// When it was created.
    pub created: Timestamp,
    /// When it last changed.
    pub updated: Timestamp,
}

/// One interval during which a campaign held a number.
#[derive(Debug, Clone, PartialEq)]
pub struct AssignmentRow {
    /// The number.
    pub number: TelephoneNumber,
    /// The campaign that held it.
    pub campaign_id: CampaignId,
    /// The DCA at the time.
    pub dca_id: ProviderId,
    /// Start of the interval (inclusive).
    pub assigned: Timestamp,
    /// The `number.assigned` event.
    pub assigned_seq: u64,
    /// End of the interval (exclusive); `None` while held.
    pub released: Option<Timestamp>,
    /// The `number.released` event.
    pub released_seq: Option<u64>,
    /// Why it was released.
    pub release_reason: Option<String>,
}

pub(crate) fn ts(table: &'static str, us: i64) -> Result<Timestamp, StoreError> {
    Timestamp::from_microsecond(us).map_err(|e| StoreError::corrupt(table, e))
}

/// Current assignments per batch of [`Store::for_each_current_assignment`].
pub const LOAD_BATCH: usize = 65_536;

pub(crate) fn parse<T: std::str::FromStr>(table: &'static str, s: &str) -> Result<T, StoreError>
where
    T::Err: std::fmt::Debug,
{
    s.parse().map_err(|e| StoreError::corrupt(table, format!("`{s}`: {e:?}")))
}

fn from_json<T: serde::de::DeserializeOwned>(table: &'static str, s: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::corrupt(table, e))
}

fn brand_row(r: &crate::DbRow) -> Result<BrandRow, StoreError> {
    const T: &str = "brands";
    let vetting: Option<String> = r.try_get("vetting")?;
    Ok(BrandRow {
        id: parse(T, r.try_get("id")?)?,
        csp_id: parse(T, r.try_get("csp_id")?)?,
        details: from_json(T, r.try_get("details")?)?,
        vetting: vetting.as_deref().map(|v| from_json(T, v)).transpose()?,
        score: u8::try_from(r.try_get::<i64, _>("score")?).map_err(|e| StoreError::corrupt(T, e))?,
        identity_status: parse(T, r.try_get("identity_status")?)?,
        version: r.try_get("version")?,
        created: ts(T, r.try_get("created_us")?)?,
        updated: ts(T, r.try_get("updated_us")?)?,
    })
}

fn assignment_row(r: &crate::DbRow) -> Result<AssignmentRow, StoreError> {
    const T: &str = "number_assignments";
    let number = TelephoneNumber::from_digits(r.try_get::<i64, _>("number")? as u64)
        .ok_or_else(|| StoreError::corrupt(T, "number"))?;
    let released: Option<i64> = r.try_get("released_us")?;
    Ok(AssignmentRow {
        number,
        campaign_id: parse(T, r.try_get("campaign_id")?)?,
        dca_id: parse(T, r.try_get("dca_id")?)?,
        assigned: ts(T, r.try_get("assigned_us")?)?,
        assigned_seq: r.try_get::<i64, _>("assigned_seq")? as u64,
        released: released.map(|u| ts(T, u)).transpose()?,
        released_seq: r.try_get::<Option<i64>, _>("released_seq")?.map(|s| s as u64),
        release_reason: r.try_get("release_reason")?,
    })
}

const ASSIGNMENT_COLUMNS: &str =
    "number, campaign_id, dca_id, assigned_us, assigned_seq, released_us, released_seq, release_reason";

impl Store {
    /// The key with this hash.
    pub async fn api_key_by_hash(&self, hash: &str) -> Result<Option<ApiKeyRow>, StoreError> {
        let row = on!(&self.pool, db => sqlx::query("SELECT key_id, provider_id, created_us, revoked_us FROM api_keys WHERE key_hash = $1")
            .bind(hash)
            .fetch_optional(db)
            .await.map(|r| r.map(crate::DbRow::from)))?;
        row.map(|r| api_key_row(&r)).transpose()
    }

    /// The keys of a provider (`None`: the administrator's).
    pub async fn api_keys_of(&self, provider: Option<ProviderId>) -> Result<Vec<ApiKeyRow>, StoreError> {
        let rows = on!(&self.pool, db => sqlx::query(
            "SELECT key_id, provider_id, created_us, revoked_us FROM api_keys WHERE provider_id IS NOT DISTINCT FROM $1 ORDER BY created_us, key_id",
        )
        .bind(provider.map(|p| p.to_string()))
        .fetch_all(db)
        .await.map(|v| v.into_iter().map(crate::DbRow::from).collect::<Vec<_>>()))?;
        rows.iter().map(api_key_row).collect()
    }

    /// Whether any administrator key exists.
    pub async fn has_admin_key(&self) -> Result<bool, StoreError> {
        let n: i64 = on!(&self.pool, db => sqlx::query_scalar("SELECT COUNT(*) FROM api_keys WHERE provider_id IS NULL").fetch_one(db).await)?;
        Ok(n > 0)
    }

    /// A provider.
    pub async fn provider(&self, id: ProviderId) -> Result<Option<ProviderRow>, StoreError> {
        let row = on!(&self.pool, db => sqlx::query("SELECT id, registration, created_us FROM providers WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(db)
            .await.map(|r| r.map(crate::DbRow::from)))?;
        row.map(|r| provider_row(&r)).transpose()
    }

    /// Every provider, oldest first.
    pub async fn providers(&self) -> Result<Vec<ProviderRow>, StoreError> {
        let rows = on!(&self.pool, db => sqlx::query("SELECT id, registration, created_us FROM providers ORDER BY created_us, id")
            .fetch_all(db)
            .await.map(|v| v.into_iter().map(crate::DbRow::from).collect::<Vec<_>>()))?;
        rows.iter().map(provider_row).collect()
    }

    /// A brand.
    pub async fn brand(&self, id: BrandId) -> Result<Option<BrandRow>, StoreError> {
        let row = on!(&self.pool, db => sqlx::query("SELECT * FROM brands WHERE id = $1").bind(id.to_string()).fetch_optional(db).await.map(|r| r.map(crate::DbRow::from)))?;
        row.map(|r| brand_row(&r)).transpose()
    }

    /// Brands of a CSP, or every brand with `None`; oldest first.
    pub async fn brands(&self, csp: Option<ProviderId>) -> Result<Vec<BrandRow>, StoreError> {
        let rows = on!(&self.pool, db => sqlx::query("SELECT * FROM brands WHERE $1 IS NULL OR csp_id = $1 ORDER BY created_us, id")
            .bind(csp.map(|c| c.to_string()))
            .fetch_all(db)
            .await.map(|v| v.into_iter().map(crate::DbRow::from).collect::<Vec<_>>()))?;
        rows.iter().map(brand_row).collect()
    }

    /// A page of the brands `seen` may see, oldest first: those matching the filter and
    /// created after the cursor brand, at most `limit`.
    pub async fn brand_page(
        &self,
        seen: Visibility,
        filter: &BrandFilter,
        limit: usize,
    ) -> Result<Vec<BrandRow>, StoreError> {
        let (csp, dca) = seen.binds();
        let (after_id, after_us) = cursor(filter.after.as_ref().map(|(id, t)| (id.to_string(), *t)));
        let rows = on!(&self.pool, db => sqlx::query(
            "SELECT * FROM brands WHERE ($1 IS NULL OR csp_id = $1 OR id IN (SELECT brand_id FROM campaigns WHERE id IN \
             (SELECT campaign_id FROM campaign_sharing WHERE dca_id = $2 AND status <> 'DECLINED'))) \
             AND ($3 IS NULL OR identity_status = $3) \
             AND ($4 IS NULL OR created_us > $5 OR (created_us = $5 AND id > $4)) \
             ORDER BY created_us, id LIMIT $6",
        )
        .bind(csp)
        .bind(dca)
        .bind(filter.identity_status.map(|s| s.as_str()))
        .bind(after_id)
        .bind(after_us)
        .bind(sql_limit(limit))
        .fetch_all(db)
        .await.map(|v| v.into_iter().map(crate::DbRow::from).collect::<Vec<_>>()))?;
        rows.iter().map(brand_row).collect()
    }

    /// A page of the campaigns `seen` may see, oldest first: those matching the filter and
    /// created after the cursor campaign, at most `limit`.
    pub async fn campaign_page(
        &self,
        seen: Visibility,
        filter: &CampaignFilter,
        limit: usize,
    ) -> Result<Vec<CampaignRow>, StoreError> {
        let (csp, dca) = seen.binds();
        let (after_id, after_us) = cursor(filter.after.as_ref().map(|(id, t)| (id.to_string(), *t)));
        let rows = on!(&self.pool, db => sqlx::query(
            "SELECT * FROM campaigns WHERE ($1 IS NULL OR csp_id = $1 OR id IN \
             (SELECT campaign_id FROM campaign_sharing WHERE dca_id = $2 AND status <> 'DECLINED')) \
             AND ($3 IS NULL OR status = $3) AND ($4 IS NULL OR brand_id = $4) \
             AND ($5 IS NULL OR created_us > $6 OR (created_us = $6 AND id > $5)) \
             ORDER BY created_us, id LIMIT $7",
        )
        .bind(csp)
        .bind(dca)
        .bind(filter.status.map(|s| s.as_str()))
        .bind(filter.brand.map(|b| b.to_string()))
        .bind(after_id)
        .bind(after_us)
        .bind(sql_limit(limit))
        .fetch_all(db)
        .await.map(|v| v.into_iter().map(crate::DbRow::from).collect::<Vec<_>>()))?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(self.campaign_row(r).await?);
        }
        Ok(out)
    }

    /// The brand a CSP registered under `reference_id`.
    pub async fn brand_by_reference(&self, csp: ProviderId, reference_id: &str) -> Result<Option<BrandId>, StoreError> {
        let id: Option<String> = on!(&self.pool, db => sqlx::query_scalar("SELECT id FROM brands WHERE csp_id = $1 AND reference_id = $2")
            .bind(csp.to_string())
            .bind(reference_id)
            .fetch_optional(db)
            .await)?;
        id.map(|i| parse("brands", &i)).transpose()
    }

    /// Other *verified* brands registered with this US EIN. A brand that failed vetting holds
    /// nothing: otherwise anyone could squat a company's EIN under a made-up name and block the
    /// company's own registration.
    pub async fn ein_holders(&self, ein: &str, except: Option<BrandId>) -> Result<Vec<EinHolder>, StoreError> {
        let rows = on!(&self.pool, db => sqlx::query(
            "SELECT id, csp_id, details FROM brands WHERE ein = $1 AND id IS DISTINCT FROM $2 \
             AND identity_status IN ('VERIFIED', 'VETTED_VERIFIED') ORDER BY created_us",
        )
        .bind(ein)
        .bind(except.map(|b| b.to_string()))
        .fetch_all(db)
        .await.map(|v| v.into_iter().map(crate::DbRow::from).collect::<Vec<_>>()))?;
        rows.iter()
            .map(|r| {
                let details: BrandRequest = from_json("brands", r.try_get("details")?)?;
                Ok(EinHolder {
                    brand_id: parse("brands", r.try_get("id")?)?,
                    csp_id: parse("brands", r.try_get("csp_id")?)?,
                    company_name: details.company_name.unwrap_or_default(),
                })
            })
            .collect()
    }

    /// A campaign with its sharing.
    pub async fn campaign(&self, id: CampaignId) -> Result<Option<CampaignRow>, StoreError> {
        let row = on!(&self.pool, db => sqlx::query("SELECT * FROM campaigns WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(db)
            .await.map(|r| r.map(crate::DbRow::from)))?;
        match row {
            Some(r) => Ok(Some(self.campaign_row(&r).await?)),
            None => Ok(None),
        }
    }

    /// Campaigns of a CSP (`csp`), shared with a DCA (`dca`, in any sharing status), or all.
    pub async fn campaigns(
        &self,
        csp: Option<ProviderId>,
        dca: Option<ProviderId>,
    ) -> Result<Vec<CampaignRow>, StoreError> {
        let rows = on!(&self.pool, db => sqlx::query(
            "SELECT * FROM campaigns WHERE ($1 IS NULL OR csp_id = $1) AND ($2 IS NULL OR id IN \
             (SELECT campaign_id FROM campaign_sharing WHERE dca_id = $2)) ORDER BY created_us, id",
        )
        .bind(csp.map(|c| c.to_string()))
        .bind(dca.map(|d| d.to_string()))
        .fetch_all(db)
        .await.map(|v| v.into_iter().map(crate::DbRow::from).collect::<Vec<_>>()))?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(self.campaign_row(r).await?);
        }
        Ok(out)
    }

    /// The campaign a CSP created under `reference_id`.
    pub async fn campaign_by_reference(
        &self,
        csp: ProviderId,
        reference_id: &str,
    ) -> Result<Option<CampaignId>, StoreError> {
        let id: Option<String> = on!(&self.pool, db => sqlx::query_scalar("SELECT id FROM campaigns WHERE csp_id = $1 AND reference_id = $2")
            .bind(csp.to_string())
            .bind(reference_id)
            .fetch_optional(db)
            .await)?;
        id.map(|i| parse("campaigns", &i)).transpose()
    }

    async fn campaign_row(&self, r: &crate::DbRow) -> Result<CampaignRow, StoreError> {
        const T: &str = "campaigns";
        let id: String = r.try_get("id")?;
        let sharing = on!(&self.pool, db => sqlx::query("SELECT * FROM campaign_sharing WHERE campaign_id = $1 ORDER BY shared_us, dca_id")
            .bind(&id)
            .fetch_all(db)
            .await.map(|v| v.into_iter().map(crate::DbRow::from).collect::<Vec<_>>()))?
            .iter()
            .map(|s| {
                Ok(SharingRow {
                    dca_id: parse("campaign_sharing", s.try_get("dca_id")?)?,
                    status: parse("campaign_sharing", s.try_get("status")?)?,
                    reason: s.try_get("reason")?,
                    shared: ts("campaign_sharing", s.try_get("shared_us")?)?,
                    status_time: ts("campaign_sharing", s.try_get("status_us")?)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let dca: Option<String> = r.try_get("dca_id")?;
        Ok(CampaignRow {
            id: parse(T, &id)?,
            brand_id: parse(T, r.try_get("brand_id")?)?,
            csp_id: parse(T, r.try_get("csp_id")?)?,
            details: from_json(T, r.try_get("details")?)?,
            status: parse(T, r.try_get("status")?)?,
            status_reason: r.try_get("status_reason")?,
            dca_id: dca.as_deref().map(|d| parse(T, d)).transpose()?,
            sharing,
            version: r.try_get("version")?,
            created: ts(T, r.try_get("created_us")?)?,
            updated: ts(T, r.try_get("updated_us")?)?,
        })
    }

    /// The current holder of `number`, from the tables.
    pub async fn current_assignment(&self, number: TelephoneNumber) -> Result<Option<AssignmentRow>, StoreError> {
        let row = on!(&self.pool, db => sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ASSIGNMENT_COLUMNS} FROM number_assignments WHERE number = $1 AND released_us IS NULL"
        )))
        .bind(number.digits() as i64)
        .fetch_optional(db)
        .await.map(|r| r.map(crate::DbRow::from)))?;
        row.map(|r| assignment_row(&r)).transpose()
    }

    /// The holder of `number` at instant `at`: the interval with `assigned <= at < released`.
    pub async fn assignment_at(
        &self,
        number: TelephoneNumber,
        at: Timestamp,
    ) -> Result<Option<AssignmentRow>, StoreError> {
        let row = on!(&self.pool, db => sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ASSIGNMENT_COLUMNS} FROM number_assignments WHERE number = $1 AND assigned_us <= $2 \
             AND (released_us IS NULL OR released_us > $2) ORDER BY assigned_seq DESC LIMIT 1"
        )))
        .bind(number.digits() as i64)
        .bind(at.as_microsecond())
        .fetch_optional(db)
        .await.map(|r| r.map(crate::DbRow::from)))?;
        row.map(|r| assignment_row(&r)).transpose()
    }

    /// A campaign's status at instant `at`, from its status events (ACTIVE if none came before).
    pub async fn campaign_status_at(&self, campaign: CampaignId, at: Timestamp) -> Result<CampaignStatus, StoreError> {
        let kind: Option<String> = on!(&self.pool, db => sqlx::query_scalar(
            "SELECT kind FROM events WHERE subject = $1 AND kind IN ('campaign.suspended', 'campaign.resumed', 'campaign.expired') \
             AND ts_us <= $2 ORDER BY seq DESC LIMIT 1",
        )
        .bind(campaign.to_string())
        .bind(at.as_microsecond())
        .fetch_optional(db)
        .await)?;
        Ok(match kind.as_deref() {
            Some("campaign.suspended") => CampaignStatus::Suspended,
            Some("campaign.expired") => CampaignStatus::Expired,
            _ => CampaignStatus::Active,
        })
    }

    /// Every interval of `number`, oldest first.
    pub async fn number_history(&self, number: TelephoneNumber) -> Result<Vec<AssignmentRow>, StoreError> {
        let rows = on!(&self.pool, db => sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ASSIGNMENT_COLUMNS} FROM number_assignments WHERE number = $1 ORDER BY assigned_seq"
        )))
        .bind(number.digits() as i64)
        .fetch_all(db)
        .await.map(|v| v.into_iter().map(crate::DbRow::from).collect::<Vec<_>>()))?;
        rows.iter().map(assignment_row).collect()
    }

    /// How many numbers are held now.
    pub async fn count_current_numbers(&self) -> Result<u64, StoreError> {
        let n: i64 = on!(&self.pool, db => sqlx::query_scalar("SELECT COUNT(*) FROM number_assignments WHERE released_us IS NULL")
            .fetch_one(db)
            .await)?;
        Ok(n as u64)
    }

    /// Calls `f` with every current assignment, in batches of up to [`LOAD_BATCH`] in number
    /// order, for building the in-memory index at start.
    ///
    /// Each batch is one row (`number:campaign` pairs joined by commas, aggregated inside
    /// SQLite): handing ten million rows one by one from SQLite's thread to the caller's costs
    /// a thread wake-up each, and made a start on ten million numbers take half a minute.
    pub async fn for_each_current_assignment(
        &self,
        mut f: impl FnMut(&[(TelephoneNumber, CampaignId)]),
    ) -> Result<u64, StoreError> {
        const T: &str = "number_assignments";
        // PostgreSQL plans the page query from the table's statistics: without them (right after
        // a bulk import, before autovacuum's analyze) it sorts every current row for each page,
        // which took 8 s for 2 M numbers instead of 1 s. Gathering them samples the table.
        if let crate::Engine::Postgres(pool) = &self.pool {
            sqlx::query("ANALYZE number_assignments").execute(pool).await?;
        }
        let mut after: i64 = 0;
        let mut total = 0u64;
        let mut batch = Vec::with_capacity(LOAD_BATCH);
        loop {
            let text: Option<String> = on!(&self.pool, db => sqlx::query_scalar(
                "SELECT string_agg(number || ':' || campaign_id, ',') FROM (SELECT number, campaign_id \
                 FROM number_assignments WHERE number > $1 AND released_us IS NULL ORDER BY number LIMIT $2) AS page",
            )
            .bind(after)
            .bind(LOAD_BATCH as i64)
            .fetch_one(db)
            .await)?;
            let Some(text) = text else { return Ok(total) };
            batch.clear();
            for pair in text.split(',') {
                let (digits, campaign) =
                    pair.split_once(':').ok_or_else(|| StoreError::corrupt(T, format!("`{pair}`")))?;
                let digits: i64 = parse(T, digits)?;
                let number = TelephoneNumber::from_digits(digits as u64)
                    .ok_or_else(|| StoreError::corrupt(T, format!("number {digits}")))?;
                after = after.max(digits);
                batch.push((number, parse(T, campaign)?));
            }
            total += batch.len() as u64;
            f(&batch);
            if batch.len() < LOAD_BATCH {
                return Ok(total);
            }
        }
    }

    /// The most recently imported sanctions list, as imported.
    pub async fn latest_sanctions_list(&self) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(
            on!(&self.pool, db => sqlx::query_scalar("SELECT content FROM sanctions_lists ORDER BY imported_us DESC LIMIT 1")
            .fetch_optional(db)
            .await)?,
        )
    }

    /// The sequence number of the last event (0 when there is none).
    pub async fn last_seq(&self) -> Result<u64, StoreError> {
        let n: i64 = on!(&self.pool, db => sqlx::query_scalar("SELECT next_seq FROM registry_state WHERE id = 1").fetch_one(db).await)?;
        Ok((n - 1) as u64)
    }

    /// Canonical events with `seq > after`, at most `limit`, in order. Sequence numbers are
    /// stored as `i64`: an `after` above `i64::MAX` has no event after it, so the answer is empty
    /// (as it is for `limit` 0).
    pub async fn events_after(&self, after: u64, limit: u32) -> Result<Vec<(u64, String)>, StoreError> {
        let Ok(after) = i64::try_from(after) else { return Ok(Vec::new()) };
        if limit == 0 {
            return Ok(Vec::new());
        }
        // Gated: the service reads other nodes' events holding its writer lock.
        let rows: Vec<(i64, String)> = self.gated(async {
            Ok(on!(&self.pool, db => sqlx::query_as("SELECT seq, canonical FROM events WHERE seq > $1 ORDER BY seq LIMIT $2")
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(db)
                .await)?)
        })
        .await?;
        Ok(rows.into_iter().map(|(s, c)| (s as u64, c)).collect())
    }
}

fn api_key_row(r: &crate::DbRow) -> Result<ApiKeyRow, StoreError> {
    const T: &str = "api_keys";
    let provider: Option<String> = r.try_get("provider_id")?;
    let revoked: Option<i64> = r.try_get("revoked_us")?;
    Ok(ApiKeyRow {
        key_id: r.try_get("key_id")?,
        provider_id: provider.as_deref().map(|p| parse(T, p)).transpose()?,
        created: ts(T, r.try_get("created_us")?)?,
        revoked: revoked.map(|u| ts(T, u)).transpose()?,
    })
}

fn provider_row(r: &crate::DbRow) -> Result<ProviderRow, StoreError> {
    const T: &str = "providers";
    Ok(ProviderRow {
        id: parse(T, r.try_get("id")?)?,
        registration: from_json(T, r.try_get("registration")?)?,
        created: ts(T, r.try_get("created_us")?)?,
    })
}

#[cfg(test)]
mod tests {
    use jiff::Timestamp;
    use vouch_registry::{Actor, CampaignId, ProviderId, TelephoneNumber};

    /// `after` past `i64::MAX` is after every event (it once wrapped to -1: the whole stream),
    /// and a page of 0 events is empty (not 1 event, nor all of them).
    #[tokio::test]
    async fn events_after_the_largest_sequence_number_are_none() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::Store::open(&dir.path().join("v.db")).await.unwrap();
        let mut tx = store.begin(Timestamp::from_second(1_790_000_000).unwrap()).await.unwrap();
        let rows: Vec<_> = (0..3)
            .map(|i| {
                let number = TelephoneNumber::from_digits(12_025_550_100 + i).unwrap();
                (number, CampaignId::from_random(1), ProviderId::from_random(2))
            })
            .collect();
        tx.append_number_assignments(Actor::Admin, &rows).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(store.events_after(0, 10).await.unwrap().len(), 3);
        assert_eq!(store.events_after(1, 10).await.unwrap().len(), 2);
        assert_eq!(store.events_after(0, 1).await.unwrap().len(), 1);
        for after in [i64::MAX as u64, i64::MAX as u64 + 1, u64::MAX] {
            assert!(store.events_after(after, 10).await.unwrap().is_empty(), "after {after}");
        }
        assert!(store.events_after(0, 0).await.unwrap().is_empty());
    }
}
