//! SMPP gateway tables: accounts, the gateway's secret, opt-outs and decision records.

use jiff::Timestamp;
use vouch_registry::{CampaignId, ProviderId};

use crate::query::{parse, ts};
use crate::tx::map_unique;
use crate::{Store, StoreError, Tx};
use crate::{on, on_conn};

/// An SMPP account, without its password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmppAccountRow {
    /// `system_id`.
    pub system_id: String,
    /// The CSP it binds as.
    pub provider_id: ProviderId,
    /// When it was issued.
    pub created: Timestamp,
    /// When it was revoked.
    pub revoked: Option<Timestamp>,
}

/// One gateway decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayRecord {
    /// When.
    pub at: Timestamp,
    /// The bound account.
    pub system_id: String,
    /// Its CSP.
    pub provider_id: ProviderId,
    /// The source address as sent (E.164 when it parsed).
    pub source: String,
    /// The campaign holding the source number then.
    pub campaign_id: Option<CampaignId>,
    /// Keyed hash of the destination (hex).
    pub dest_key: String,
    /// SimHash of the content (hex).
    pub fingerprint: String,
    /// SMS parts.
    pub parts: u32,
    /// `accepted`, `rejected` or `flagged`.
    pub verdict: String,
    /// The command_status given (or, flagged, the one that would have been).
    pub status: u32,
    /// Why.
    pub detail: String,
    /// The message id given to the ESME (first part), when forwarded.
    pub message_id: Option<String>,
}

/// A message an SMSC took whose delivery receipt may still come: where that receipt goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptIdRow {
    /// The SMSC account that took it (`SYSTEM_ID@HOST:PORT`).
    pub smsc: String,
    /// The SMSC's message id.
    pub upstream_id: String,
    /// The message id the ESME was given.
    pub our_id: String,
    /// The ESME account that sent it.
    pub system_id: String,
    /// When the SMSC took it.
    pub at: Timestamp,
}

/// An opt-out or opt-in as stored, for the nodes that did not write it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptOutChange {
    /// The campaign the subscriber opted out of (or back into).
    pub campaign: CampaignId,
    /// Keyed hash of the subscriber's number (hex).
    pub dest_key: String,
    /// Opted out (STOP) or back in (START).
    pub opted_out: bool,
    /// When the writing node recorded it.
    pub at: Timestamp,
}

/// The gateway's decisions of one minute, verdict and command_status (of one CSP, or summed
/// over all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayMinute {
    /// Start of the minute.
    pub minute: Timestamp,
    /// `accepted`, `rejected` or `flagged`.
    pub verdict: String,
    /// The command_status given (or, flagged, the one that would have been).
    pub status: u32,
    /// Decisions (one per message, whatever its parts).
    pub messages: u64,
}

/// What one node took under one throughput key in one period (a campaign's minute or a brand's
/// Pacific day), as a running total; the gateway crate's `Usage`, in the store's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRow {
    /// `m` (a campaign's minute) or `d` (a brand's day).
    pub scope: String,
    /// `campaign:number` for `m`, the brand for `d`.
    pub key: String,
    /// The minute since 1970 or the Pacific day number.
    pub period: i64,
    /// Messages taken in it (summed over the other nodes when read).
    pub count: u64,
}

/// How far apart the first and last records of one batch may be (the writer starts a batch
/// about once a second); a search by time widens its window by this much to find the batches
/// that may hold records in it.
pub const RECORD_BATCH_SPAN: std::time::Duration = std::time::Duration::from_secs(10);
const SPAN_US: i64 = RECORD_BATCH_SPAN.as_micros() as i64;

/// Which decision records to read.
#[derive(Debug, Clone, Copy)]
pub struct RecordFilter<'a> {
    /// Only this source (as recorded: E.164 for numbers).
    pub source: Option<&'a str>,
    /// Only those of this CSP's accounts.
    pub provider: Option<ProviderId>,
    /// From this instant.
    pub since: Timestamp,
    /// To this instant (inclusive).
    pub until: Timestamp,
}

/// How many decisions one account's messages got of one verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountVerdictCount {
    /// The bound account's `system_id`.
    pub system_id: String,
    /// Its CSP.
    pub provider_id: ProviderId,
    /// `accepted`, `rejected` or `flagged`.
    pub verdict: String,
    /// Decisions.
    pub messages: u64,
}

fn record_row(r: &crate::DbRow) -> Result<GatewayRecord, StoreError> {
    const T: &str = "gateway_records";
    Ok(GatewayRecord {
        at: ts(T, r.try_get("at_us")?)?,
        system_id: r.try_get("system_id")?,
        provider_id: parse(T, r.try_get("provider_id")?)?,
        source: r.try_get("source")?,
        campaign_id: r.try_get::<Option<String>, _>("campaign_id")?.map(|c| parse(T, &c)).transpose()?,
        dest_key: r.try_get("dest_key")?,
        fingerprint: r.try_get("fingerprint")?,
        parts: u32::try_from(r.try_get::<i64, _>("parts")?).unwrap_or(0),
        verdict: r.try_get("verdict")?,
        status: u32::try_from(r.try_get::<i64, _>("status")?).unwrap_or(0),
        detail: r.try_get("detail")?,
        message_id: r.try_get("message_id")?,
    })
}

fn account_row(r: &crate::DbRow) -> Result<SmppAccountRow, StoreError> {
    const T: &str = "smpp_accounts";
    Ok(SmppAccountRow {
        system_id: r.try_get("system_id")?,
        provider_id: parse(T, r.try_get("provider_id")?)?,
        created: ts(T, r.try_get("created_us")?)?,
        revoked: r.try_get::<Option<i64>, _>("revoked_us")?.map(|us| ts(T, us)).transpose()?,
    })
}

impl Tx {
    /// Stores a new SMPP account (conflict if the system_id is taken).
    pub async fn insert_smpp_account(
        &mut self,
        system_id: &str,
        provider: ProviderId,
        password_hash: &str,
    ) -> Result<(), StoreError> {
        let now = self.now().as_microsecond();
        on_conn!(&mut self.tx, db => sqlx::query(
            "INSERT INTO smpp_accounts (system_id, provider_id, password_hash, created_us) VALUES ($1, $2, $3, $4)",
        )
        .bind(system_id)
        .bind(provider.to_string())
        .bind(password_hash)
        .bind(now)
        .execute(&mut *db)
        .await.map(|r| r.rows_affected()))
        .map_err(map_unique)?;
        Ok(())
    }

    /// The `system_id` of an account, revoked ones included, equal to `system_id` ignoring
    /// ASCII case (read in the write transaction, so that no other writer can issue one
    /// between this check and the insert).
    pub async fn smpp_account_ignoring_case(&mut self, system_id: &str) -> Result<Option<String>, StoreError> {
        Ok(on_conn!(&mut self.tx, db => sqlx::query_scalar(
            "SELECT system_id FROM smpp_accounts WHERE lower(system_id) = lower($1) ORDER BY created_us LIMIT 1",
        )
        .bind(system_id)
        .fetch_optional(&mut *db)
        .await)?)
    }

    /// Replaces an active SMPP account's password hash; `false` if the account is not active.
    pub async fn set_smpp_password(&mut self, system_id: &str, password_hash: &str) -> Result<bool, StoreError> {
        let r = on_conn!(&mut self.tx, db => sqlx::query(
            "UPDATE smpp_accounts SET password_hash = $1 WHERE system_id = $2 AND revoked_us IS NULL",
        )
        .bind(password_hash)
        .bind(system_id)
        .execute(&mut *db)
        .await.map(|r| r.rows_affected()))?;
        Ok(r == 1)
    }

    /// Marks an SMPP account revoked; `false` if it was not active.
    pub async fn revoke_smpp_account(&mut self, system_id: &str) -> Result<bool, StoreError> {
        let now = self.now().as_microsecond();
        let r = on_conn!(&mut self.tx, db => sqlx::query("UPDATE smpp_accounts SET revoked_us = $1 WHERE system_id = $2 AND revoked_us IS NULL")
            .bind(now)
            .bind(system_id)
            .execute(&mut *db)
            .await.map(|r| r.rows_affected()))?;
        Ok(r == 1)
    }
}

impl Store {
    /// SMPP accounts of a provider, or all.
    pub async fn smpp_accounts(&self, provider: Option<ProviderId>) -> Result<Vec<SmppAccountRow>, StoreError> {
        let rows = on!(self.pool(), db => sqlx::query(
            "SELECT system_id, provider_id, created_us, revoked_us FROM smpp_accounts \
             WHERE $1 IS NULL OR provider_id = $1 ORDER BY created_us, system_id",
        )
        .bind(provider.map(|p| p.to_string()))
        .fetch_all(db)
        .await.map(|v| v.into_iter().map(crate::DbRow::from).collect::<Vec<_>>()))?;
        rows.iter().map(account_row).collect()
    }

    /// An account and its password hash, for a bind.
    pub async fn smpp_account_secret(&self, system_id: &str) -> Result<Option<(SmppAccountRow, String)>, StoreError> {
        let row = on!(self.pool(), db => sqlx::query(
            "SELECT system_id, provider_id, created_us, revoked_us, password_hash FROM smpp_accounts WHERE system_id = $1",
        )
        .bind(system_id)
        .fetch_optional(db)
        .await.map(|r| r.map(crate::DbRow::from)))?;
        row.map(|r| Ok((account_row(&r)?, r.try_get("password_hash")?))).transpose()
    }

    /// The gateway's destination-hash secret, made (from `fresh`) at first call.
    pub async fn gateway_secret(&self, fresh: &[u8]) -> Result<Vec<u8>, StoreError> {
        on!(self.writer_pool(), db => sqlx::query(
            "INSERT INTO gateway_keys (id, destination, created_us) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING",
        )
        .bind(fresh)
        .bind(Timestamp::now().as_microsecond())
        .execute(db)
        .await.map(|r| r.rows_affected()))?;
        Ok(on!(self.writer_pool(), db => sqlx::query_scalar("SELECT destination FROM gateway_keys WHERE id = 1")
            .fetch_one(db)
            .await)?)
    }

    /// Every opt-out in force: (campaign, destination key hex).
    pub async fn opt_outs(&self) -> Result<Vec<(CampaignId, String)>, StoreError> {
        let rows = on!(self.pool(), db => sqlx::query("SELECT campaign_id, dest_key FROM gateway_opt_outs WHERE opted_out = 1").fetch_all(db).await.map(|v| v.into_iter().map(crate::DbRow::from).collect::<Vec<_>>()))?;
        rows.iter()
            .map(|r| Ok((parse("gateway_opt_outs", r.try_get("campaign_id")?)?, r.try_get("dest_key")?)))
            .collect()
    }

    /// Opt-outs and opt-ins written at `since` or later, on any node, oldest first: what a
    /// node reads to learn of the others' (a START is kept as a row with `opted_out` false
    /// until [`Store::purge_opt_ins`]).
    pub async fn opt_out_changes(&self, since: Timestamp) -> Result<Vec<OptOutChange>, StoreError> {
        let rows = on!(self.pool(), db => sqlx::query(
            "SELECT campaign_id, dest_key, opted_out, at_us FROM gateway_opt_outs WHERE at_us >= $1 ORDER BY at_us",
        )
        .bind(since.as_microsecond())
        .fetch_all(db)
        .await
        .map(|v| v.into_iter().map(crate::DbRow::from).collect::<Vec<_>>()))?;
        rows.iter()
            .map(|r| {
                Ok(OptOutChange {
                    campaign: parse("gateway_opt_outs", r.try_get("campaign_id")?)?,
                    dest_key: r.try_get("dest_key")?,
                    opted_out: r.try_get::<i64, _>("opted_out")? != 0,
                    at: ts("gateway_opt_outs", r.try_get("at_us")?)?,
                })
            })
            .collect()
    }

    /// Records an opt-out (`true`) or an opt-in (`false`, kept as a row that says so, for the
    /// other nodes to read).
    pub async fn set_opt_out(
        &self,
        campaign: CampaignId,
        dest_key: &str,
        out: bool,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        on!(self.writer_pool(), db => sqlx::query(
            "INSERT INTO gateway_opt_outs (campaign_id, dest_key, at_us, opted_out) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (campaign_id, dest_key) DO UPDATE SET at_us = excluded.at_us, opted_out = excluded.opted_out",
        )
            .bind(campaign.to_string())
            .bind(dest_key)
            .bind(at.as_microsecond())
            .bind(i64::from(out))
            .execute(db)
            .await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// The decisions per minute, verdict and command_status since `since` (the minute it falls
    /// in included), newest minute first: of one CSP's accounts if given, else of all.
    pub async fn gateway_minutes(
        &self,
        since: Timestamp,
        provider: Option<ProviderId>,
    ) -> Result<Vec<GatewayMinute>, StoreError> {
        let from = crate::TrafficRow::minute_of(since);
        // One CSP's rows, or (with '' bound, which no provider id is) all of them.
        let q = "SELECT minute_us, verdict, status, CAST(SUM(messages) AS BIGINT) AS messages FROM gateway_minutes \
                 WHERE minute_us >= $1 AND ($2 = '' OR provider_id = $2) GROUP BY minute_us, verdict, status \
                 ORDER BY minute_us DESC, verdict, status";
        let provider = provider.map_or_else(String::new, |p| p.to_string());
        let rows: Vec<(i64, String, i64, i64)> = on!(self.pool(), db => sqlx::query_as(q)
            .bind(from)
            .bind(provider)
            .fetch_all(db)
            .await)?;
        rows.into_iter()
            .map(|(minute_us, verdict, status, messages)| {
                Ok(GatewayMinute {
                    minute: ts("gateway_minutes", minute_us)?,
                    verdict,
                    status: u32::try_from(status).map_err(|_| StoreError::corrupt("gateway_minutes", "status"))?,
                    messages: u64::try_from(messages).unwrap_or(0),
                })
            })
            .collect()
    }

    /// Writes this node's running totals (each replaces the node's earlier figure for its key and
    /// period).
    pub async fn put_gateway_usage(&self, node: &str, rows: &[UsageRow]) -> Result<(), StoreError> {
        let mut sorted: Vec<&UsageRow> = rows.iter().collect();
        sorted.sort_by(|a, b| (&a.scope, &a.key, a.period).cmp(&(&b.scope, &b.key, b.period)));
        for chunk in sorted.chunks(500) {
            on!(self.writer_pool(), db => {
                let mut q = sqlx::QueryBuilder::new("INSERT INTO gateway_usage (node_id, scope, key, period, count) ");
                q.push_values(chunk, |mut b, r| {
                    b.push_bind(node.to_owned()).push_bind(r.scope.clone()).push_bind(r.key.clone()).push_bind(r.period).push_bind(i64::try_from(r.count).unwrap_or(i64::MAX));
                });
                q.push(" ON CONFLICT (node_id, scope, key, period) DO UPDATE SET count = excluded.count");
                q.build().execute(db).await.map(|r| r.rows_affected())
            })?;
        }
        Ok(())
    }

    /// The other nodes' totals (summed) for minutes from `minute` on and days from `day` on.
    pub async fn others_gateway_usage(&self, node: &str, minute: i64, day: i64) -> Result<Vec<UsageRow>, StoreError> {
        let rows: Vec<(String, String, i64, i64)> = on!(self.pool(), db => sqlx::query_as(
            "SELECT scope, key, period, CAST(SUM(count) AS BIGINT) AS count FROM gateway_usage \
             WHERE node_id <> $1 AND ((scope = 'm' AND period >= $2) OR (scope = 'd' AND period >= $3)) \
             GROUP BY scope, key, period",
        )
        .bind(node)
        .bind(minute)
        .bind(day)
        .fetch_all(db)
        .await)?;
        Ok(rows
            .into_iter()
            .map(|(scope, key, period, count)| UsageRow {
                scope,
                key,
                period,
                count: u64::try_from(count).unwrap_or(0),
            })
            .collect())
    }

    /// Deletes the totals of minutes before `minute` and days before `day`; returns how many.
    pub async fn purge_gateway_usage(&self, minute: i64, day: i64) -> Result<u64, StoreError> {
        Ok(on!(self.writer_pool(), db => sqlx::query(
            "DELETE FROM gateway_usage WHERE (scope = 'm' AND period < $1) OR (scope = 'd' AND period < $2)",
        )
        .bind(minute)
        .bind(day)
        .execute(db)
        .await.map(|r| r.rows_affected()))?)
    }

    /// Writes message ids awaiting receipts, in one transaction (an id an SMSC gives again
    /// replaces the earlier row).
    pub async fn put_receipt_ids(&self, rows: &[ReceiptIdRow]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut tx = self.writer_pool().begin().await?;
        for chunk in rows.chunks(500) {
            on_conn!(&mut tx, db => {
                let mut q = sqlx::QueryBuilder::new(
                    "INSERT INTO smpp_receipt_ids (smsc, upstream_id, our_id, system_id, at_us) ",
                );
                q.push_values(chunk, |mut b, r| {
                    b.push_bind(r.smsc.as_str())
                        .push_bind(r.upstream_id.as_str())
                        .push_bind(r.our_id.as_str())
                        .push_bind(r.system_id.as_str())
                        .push_bind(r.at.as_microsecond());
                });
                q.push(
                    " ON CONFLICT (smsc, upstream_id) DO UPDATE SET our_id = excluded.our_id, \
                     system_id = excluded.system_id, at_us = excluded.at_us",
                );
                q.build().execute(&mut *db).await.map(|r| r.rows_affected())
            })?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The row for the SMSC account `smsc`'s message id `upstream_id`, if kept.
    pub async fn receipt_id(&self, smsc: &str, upstream_id: &str) -> Result<Option<ReceiptIdRow>, StoreError> {
        let row: Option<(String, String, i64)> = on!(self.pool(), db => sqlx::query_as(
            "SELECT our_id, system_id, at_us FROM smpp_receipt_ids WHERE smsc = $1 AND upstream_id = $2",
        )
        .bind(smsc)
        .bind(upstream_id)
        .fetch_optional(db)
        .await)?;
        row.map(|(our_id, system_id, at)| {
            Ok(ReceiptIdRow {
                smsc: smsc.to_owned(),
                upstream_id: upstream_id.to_owned(),
                our_id,
                system_id,
                at: ts("smpp_receipt_ids", at)?,
            })
        })
        .transpose()
    }

    /// Deletes the message ids of messages taken before `before` (their receipt window is
    /// over); returns how many.
    pub async fn purge_receipt_ids(&self, before: Timestamp) -> Result<u64, StoreError> {
        Ok(on!(self.writer_pool(), db => sqlx::query("DELETE FROM smpp_receipt_ids WHERE at_us < $1")
            .bind(before.as_microsecond())
            .execute(db)
            .await.map(|r| r.rows_affected()))?)
    }

    /// Deletes the opt-ins written before `before` (every node has read them by then); returns
    /// how many.
    pub async fn purge_opt_ins(&self, before: Timestamp) -> Result<u64, StoreError> {
        Ok(on!(self.writer_pool(), db => sqlx::query("DELETE FROM gateway_opt_outs WHERE opted_out = 0 AND at_us < $1")
            .bind(before.as_microsecond())
            .execute(db)
            .await.map(|r| r.rows_affected()))?)
    }

    /// Writes decision records (one transaction), in arrival order, as batches that each span
    /// at most [`RECORD_BATCH_SPAN`]: a record earlier than its batch's first, or later than
    /// the span, starts the next batch. Within a batch rows are keyed by source number, so
    /// that a write appends at the end of the table (see migration 0005). `traffic` (the same
    /// records counted per campaign and minute) is added in the same transaction.
    pub async fn insert_gateway_records(
        &self,
        records: &[GatewayRecord],
        traffic: &[crate::TrafficRow],
    ) -> Result<(), StoreError> {
        let mut tx = self.writer_pool().begin().await?;
        crate::risk::add_traffic(&mut tx, traffic).await?;
        add_minutes(&mut tx, records).await?;
        let mut rest = records;
        while let Some(first) = rest.first() {
            let batch_us = first.at.as_microsecond();
            let len = rest
                .iter()
                .position(|r| !(batch_us..=batch_us + SPAN_US).contains(&r.at.as_microsecond()))
                .unwrap_or(rest.len());
            let (batch, tail) = rest.split_at(len);
            rest = tail;
            let batch_key = rand::random::<i64>();
            let last_us = batch.iter().map(|r| r.at.as_microsecond()).max().unwrap_or(batch_us);
            on_conn!(&mut tx, db => sqlx::query(
                "INSERT INTO gateway_record_batches (batch_us, batch_key, last_us, records) VALUES ($1, $2, $3, $4)",
            )
            .bind(batch_us)
            .bind(batch_key)
            .bind(last_us)
            .bind(batch.len() as i64)
            .execute(&mut *db)
            .await.map(|r| r.rows_affected()))?;
            let mut rows: Vec<(usize, &GatewayRecord)> = batch.iter().enumerate().collect();
            rows.sort_by(|a, b| a.1.source.cmp(&b.1.source).then(a.0.cmp(&b.0)));
            let insert = match tx {
                crate::Engine::Sqlite(_) => "INSERT OR FAIL",
                crate::Engine::Postgres(_) => "INSERT",
            };
            for chunk in rows.chunks(500) {
                on_conn!(&mut tx, db => {
                let mut q = sqlx::QueryBuilder::new(insert);
                q.push(
                    " INTO gateway_records (batch_us, batch_key, source, ord, at_us, system_id, \
                     provider_id, campaign_id, dest_key, fingerprint, parts, verdict, status, detail, message_id) ",
                );
                q.push_values(chunk, |mut b, (ord, r)| {
                    b.push_bind(batch_us)
                        .push_bind(batch_key)
                        .push_bind(&r.source)
                        .push_bind(*ord as i64)
                        .push_bind(r.at.as_microsecond())
                        .push_bind(&r.system_id)
                        .push_bind(r.provider_id.to_string())
                        .push_bind(r.campaign_id.map(|c| c.to_string()))
                        .push_bind(&r.dest_key)
                        .push_bind(&r.fingerprint)
                        .push_bind(i64::from(r.parts))
                        .push_bind(&r.verdict)
                        .push_bind(i64::from(r.status))
                        .push_bind(&r.detail)
                        .push_bind(&r.message_id);
                });
                q.build().execute(&mut *db).await.map(|r| r.rows_affected())
                })?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Decision records in `[since, until]`, newest first, at most `limit`: of one source number
    /// and of one CSP's accounts if given. With a source number the search seeks once per
    /// batch in the window (about one a second), so its cost grows with the window.
    pub async fn gateway_records(
        &self,
        filter: &RecordFilter<'_>,
        limit: u32,
    ) -> Result<Vec<GatewayRecord>, StoreError> {
        let from = filter.since.as_microsecond();
        let to = filter.until.as_microsecond();
        let first_batch = from.saturating_sub(SPAN_US);
        let provider = filter.provider.map(|p| p.to_string());
        let q = if filter.source.is_some() {
            // Batches newest first, one seek for the number in each: no sort, and the LIMIT
            // stops the walk.
            "SELECT r.* FROM gateway_record_batches b JOIN gateway_records r \
               ON r.batch_us = b.batch_us AND r.batch_key = b.batch_key AND r.source = $1 \
             WHERE b.batch_us BETWEEN $2 AND $4 AND b.last_us >= $3 \
               AND r.at_us BETWEEN $3 AND $4 AND ($5 IS NULL OR r.provider_id = $5) \
             ORDER BY b.batch_us DESC, b.batch_key DESC, r.ord DESC LIMIT $6"
        } else {
            "SELECT r.* FROM gateway_records r \
             WHERE ($1 IS NULL OR r.source = $1) AND r.batch_us BETWEEN $2 AND $4 \
               AND r.at_us BETWEEN $3 AND $4 AND ($5 IS NULL OR r.provider_id = $5) \
             ORDER BY r.batch_us DESC, r.at_us DESC, r.ord DESC LIMIT $6"
        };
        let rows = on!(self.pool(), db => sqlx::query(q)
            .bind(filter.source)
            .bind(first_batch)
            .bind(from)
            .bind(to)
            .bind(provider)
            .bind(i64::from(limit))
            .fetch_all(db)
            .await.map(|v| v.into_iter().map(crate::DbRow::from).collect::<Vec<_>>()))?;
        rows.iter().map(record_row).collect()
    }

    /// The decisions for `source` in `[since, until]` nearest `at`, read outward from it: at
    /// most `each` at or before `at` and at most `each` after it, each list nearest first. A
    /// trace lists these; its counts come from [`Store::gateway_record_counts`].
    pub async fn gateway_records_around(
        &self,
        source: &str,
        at: Timestamp,
        since: Timestamp,
        until: Timestamp,
        each: u32,
    ) -> Result<(Vec<GatewayRecord>, Vec<GatewayRecord>), StoreError> {
        let (from, to, at) = (since.as_microsecond(), until.as_microsecond(), at.as_microsecond());
        // Both halves walk the source's rows of the batches that may hold records in their
        // half (one seek per batch) and keep the `each` nearest.
        const BEFORE: &str = "SELECT r.* FROM gateway_record_batches b JOIN gateway_records r \
               ON r.batch_us = b.batch_us AND r.batch_key = b.batch_key AND r.source = $1 \
             WHERE b.batch_us BETWEEN $2 AND $4 AND b.last_us >= $3 AND r.at_us BETWEEN $3 AND $4 \
             ORDER BY r.at_us DESC, b.batch_us DESC, b.batch_key DESC, r.ord DESC LIMIT $5";
        const AFTER: &str = "SELECT r.* FROM gateway_record_batches b JOIN gateway_records r \
               ON r.batch_us = b.batch_us AND r.batch_key = b.batch_key AND r.source = $1 \
             WHERE b.batch_us BETWEEN $2 AND $4 AND b.last_us >= $3 AND r.at_us BETWEEN $3 AND $4 \
             ORDER BY r.at_us, b.batch_us, b.batch_key, r.ord LIMIT $5";
        let mut halves = Vec::with_capacity(2);
        for (q, lo, hi) in [(BEFORE, from, at.min(to)), (AFTER, from.max(at.saturating_add(1)), to)] {
            if lo > hi || each == 0 {
                halves.push(Vec::new());
                continue;
            }
            let rows = on!(self.pool(), db => sqlx::query(q)
                .bind(source)
                .bind(lo.saturating_sub(SPAN_US))
                .bind(lo)
                .bind(hi)
                .bind(i64::from(each))
                .fetch_all(db)
                .await.map(|v| v.into_iter().map(crate::DbRow::from).collect::<Vec<_>>()))?;
            halves.push(rows.iter().map(record_row).collect::<Result<Vec<_>, _>>()?);
        }
        let after = halves.pop().unwrap_or_default();
        let before = halves.pop().unwrap_or_default();
        Ok((before, after))
    }

    /// Every decision for `source` in `[since, until]`, counted per account and verdict (in
    /// SQL: the counts are complete however many records the window holds).
    pub async fn gateway_record_counts(
        &self,
        source: &str,
        since: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<AccountVerdictCount>, StoreError> {
        const T: &str = "gateway_records";
        let (from, to) = (since.as_microsecond(), until.as_microsecond());
        let rows: Vec<(String, String, String, i64)> = on!(self.pool(), db => sqlx::query_as(
            "SELECT r.system_id, r.provider_id, r.verdict, count(*) AS messages \
             FROM gateway_record_batches b JOIN gateway_records r \
               ON r.batch_us = b.batch_us AND r.batch_key = b.batch_key AND r.source = $1 \
             WHERE b.batch_us BETWEEN $2 AND $4 AND b.last_us >= $3 AND r.at_us BETWEEN $3 AND $4 \
             GROUP BY r.system_id, r.provider_id, r.verdict ORDER BY r.system_id, r.provider_id, r.verdict",
        )
        .bind(source)
        .bind(from.saturating_sub(SPAN_US))
        .bind(from)
        .bind(to)
        .fetch_all(db)
        .await)?;
        rows.into_iter()
            .map(|(system_id, provider, verdict, messages)| {
                Ok(AccountVerdictCount {
                    system_id,
                    provider_id: parse(T, &provider)?,
                    verdict,
                    messages: u64::try_from(messages).unwrap_or(0),
                })
            })
            .collect()
    }

    /// The decisions for `source` in `[since, until]` counted per content fingerprint (hex), so
    /// that near-identical messages can be counted over the whole window.
    pub async fn gateway_fingerprint_counts(
        &self,
        source: &str,
        since: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        let (from, to) = (since.as_microsecond(), until.as_microsecond());
        let rows: Vec<(String, i64)> = on!(self.pool(), db => sqlx::query_as(
            "SELECT r.fingerprint, count(*) AS messages \
             FROM gateway_record_batches b JOIN gateway_records r \
               ON r.batch_us = b.batch_us AND r.batch_key = b.batch_key AND r.source = $1 \
             WHERE b.batch_us BETWEEN $2 AND $4 AND b.last_us >= $3 AND r.at_us BETWEEN $3 AND $4 \
             GROUP BY r.fingerprint",
        )
        .bind(source)
        .bind(from.saturating_sub(SPAN_US))
        .bind(from)
        .bind(to)
        .fetch_all(db)
        .await)?;
        Ok(rows.into_iter().map(|(f, n)| (f, u64::try_from(n).unwrap_or(0))).collect())
    }

    /// Deletes the batches of records that all fall before `before` (a batch spans at most
    /// [`RECORD_BATCH_SPAN`]); returns how many records.
    pub async fn purge_gateway_records(&self, before: Timestamp) -> Result<u64, StoreError> {
        let before = before.as_microsecond().saturating_sub(SPAN_US);
        let mut tx = self.writer_pool().begin().await?;
        let r = on_conn!(&mut tx, db => {
            sqlx::query("DELETE FROM gateway_records WHERE batch_us < $1").bind(before).execute(&mut *db).await.map(|r| r.rows_affected())
        })?;
        on_conn!(&mut tx, db => {
            sqlx::query("DELETE FROM gateway_record_batches WHERE batch_us < $1").bind(before).execute(&mut *db).await.map(|r| r.rows_affected())
        })?;
        on_conn!(&mut tx, db => {
            sqlx::query("DELETE FROM gateway_minutes WHERE minute_us < $1").bind(before).execute(&mut *db).await.map(|r| r.rows_affected())
        })?;
        tx.commit().await?;
        Ok(r)
    }
}

/// Adds `records` to the per-minute counts, in key order (two nodes adding to the same rows
/// lock them in the same order).
async fn add_minutes(tx: &mut crate::DbTx, records: &[GatewayRecord]) -> Result<(), StoreError> {
    let mut counts: std::collections::BTreeMap<(i64, ProviderId, &str, u32), i64> = std::collections::BTreeMap::new();
    for r in records {
        let key = (crate::TrafficRow::minute_of(r.at), r.provider_id, r.verdict.as_str(), r.status);
        *counts.entry(key).or_default() += 1;
    }
    let rows: Vec<_> = counts.into_iter().collect();
    for chunk in rows.chunks(200) {
        on_conn!(tx, conn => {
        let mut q = sqlx::QueryBuilder::new("INSERT INTO gateway_minutes (minute_us, provider_id, verdict, status, messages) ");
        q.push_values(chunk, |mut b, ((minute, provider, verdict, status), n)| {
            b.push_bind(*minute).push_bind(provider.to_string()).push_bind(verdict.to_string()).push_bind(i64::from(*status)).push_bind(*n);
        });
        q.push(
            " ON CONFLICT (minute_us, provider_id, verdict, status) DO UPDATE SET \
             messages = gateway_minutes.messages + excluded.messages",
        );
        q.build().execute(&mut *conn).await.map(|r| r.rows_affected())
        })?;
    }
    Ok(())
}
