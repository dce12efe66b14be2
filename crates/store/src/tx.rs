//! Write transactions: events appended in order, views projected in the same transaction.

use jiff::Timestamp;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::FutureExt as _;
use vouch_registry::{Actor, CampaignId, Event, EventBody, ProviderId, Seq, TelephoneNumber};

use crate::{DbTx, Engine, Pool, StoreError, on_conn, project};

/// A write transaction on the registry.
pub struct Tx {
    pub(crate) tx: DbTx,
    /// The writer's pool (the embedded store: one connection), to reset it after a bulk commit.
    pool: Pool,
    /// The store's record of the last event this process has applied (advanced by the commit).
    applied: Arc<AtomicU64>,
    next_seq: u64,
    now: Timestamp,
    events: Vec<Event>,
    /// Whether bulk rows were appended: the commit then leaves checkpointing to
    /// [`crate::Store::checkpoint`], off the writer.
    bulk: bool,
    /// Projection work left to the commit.
    deferred: crate::Deferred,
}

impl std::fmt::Debug for Tx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tx").field("next_seq", &self.next_seq).field("now", &self.now).finish()
    }
}

/// Rows per multi-row INSERT in the bulk path (4 parameters each, well under SQLite's limit).
const BULK_CHUNK: usize = 1000;

/// The WAL size, in pages, at which a commit of the writer copies the WAL into the database
/// (SQLite's default).
const AUTOCHECKPOINT_PAGES: &str = "1000";

/// A multi-row INSERT of `rows` `number.assigned` events by `actor`, whose text is an id or a
/// fixed word (checked by the caller), so it is written as a literal. Parameters per row: the
/// sequence number, the time, the number's digits and the canonical text; every parameter is
/// anonymous, which SQLite binds in constant time (named ones cost a scan each).
fn bulk_events_sql(rows: usize, actor: &str) -> String {
    let mut sql = String::from("INSERT OR FAIL INTO events (seq, ts_us, actor, kind, subject, canonical) VALUES ");
    for i in 0..rows {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str("(?,?,'");
        sql.push_str(actor);
        sql.push_str("','number.assigned','+'||?,?)");
    }
    sql
}

pub(crate) fn map_unique(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(db.message().to_owned()),
        _ => StoreError::from(e),
    }
}

/// Appends `text` to a COPY text-format row, escaping what the format reserves.
fn copy_escape(buf: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\\' => buf.push_str("\\\\"),
            '\t' => buf.push_str("\\t"),
            '\n' => buf.push_str("\\n"),
            '\r' => buf.push_str("\\r"),
            c => buf.push(c),
        }
    }
}

/// The longest canonical event the store accepts.
pub const MAX_EVENT_BYTES: usize = 60_000;

impl Tx {
    pub(crate) async fn begin(
        pool: &Pool,
        now: Timestamp,
        applied: Arc<AtomicU64>,
        check: bool,
    ) -> Result<Self, StoreError> {
        let mut tx = pool.begin().await?;
        // PostgreSQL: the no-op UPDATE takes the registry's row lock for the whole transaction,
        // so the writers of every node queue here and each reads what the one before committed.
        // The embedded store has one writing connection, and a plain read keeps a transaction
        // that ends up writing nothing a read transaction.
        let sql = match tx {
            Engine::Sqlite(_) => "SELECT next_seq, last_us FROM registry_state WHERE id = 1",
            Engine::Postgres(_) => {
                "UPDATE registry_state SET next_seq = next_seq WHERE id = 1 RETURNING next_seq, last_us"
            }
        };
        let (next_seq, last_us): (i64, i64) = on_conn!(&mut tx, db => sqlx::query_as(sql).fetch_one(&mut *db).await)?;
        let latest = next_seq.max(1) as u64 - 1;
        if let (Engine::Postgres(_), true) = (&tx, check) {
            let seen = applied.load(Ordering::Acquire);
            if latest != seen {
                return Err(StoreError::Behind { applied: seen, latest });
            }
        }
        // Event time never goes backwards, even if the wall clock does; and it is kept to the
        // microsecond, the precision the store and the canonical encoding carry.
        let now_us = now.as_microsecond().max(last_us);
        let now = Timestamp::from_microsecond(now_us).map_err(|e| StoreError::corrupt("registry_state", e))?;
        Ok(Self {
            tx,
            pool: pool.clone(),
            applied,
            next_seq: next_seq as u64,
            now,
            events: Vec::new(),
            bulk: false,
            deferred: Default::default(),
        })
    }

    /// `INSERT OR FAIL` on the embedded store (no statement journal: a failure fails the
    /// transaction, which the caller drops), a plain `INSERT` elsewhere (the same effect).
    fn insert_or_fail(&self) -> &'static str {
        match self.tx {
            Engine::Sqlite(_) => "INSERT OR FAIL",
            Engine::Postgres(_) => "INSERT",
        }
    }

    /// The sequence number of the last event committed before this transaction.
    pub fn last_seq(&self) -> u64 {
        self.next_seq.saturating_sub(1)
    }

    /// The time every event of this transaction carries.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Appends an event and projects it onto the view tables. A uniqueness violation in a view
    /// comes back as [`StoreError::Conflict`], and the transaction should then be dropped.
    pub async fn append(&mut self, actor: Actor, body: EventBody) -> Result<Event, StoreError> {
        let event = Event { seq: Seq(self.next_seq), time: self.now, actor, body };
        let canonical = event.to_canonical()?;
        let canonical = String::from_utf8(canonical).map_err(|e| StoreError::corrupt("events", e))?;
        // Every event is a transparency-log entry, and a C2SP entry bundle carries at most
        // 65,535 bytes per entry (the log form of a brand event is at most ~2 KiB longer).
        if canonical.len() > MAX_EVENT_BYTES {
            return Err(StoreError::TooLarge { bytes: canonical.len(), max: MAX_EVENT_BYTES });
        }
        on_conn!(&mut self.tx, db => sqlx::query("INSERT INTO events (seq, ts_us, actor, kind, subject, canonical) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(event.seq.0 as i64)
            .bind(self.now.as_microsecond())
            .bind(actor.to_string())
            .bind(event.body.kind())
            .bind(event.body.subject())
            .bind(canonical)
            .execute(&mut *db)
            .await.map(|r| r.rows_affected()))?;
        project(&mut self.tx.conn(), &mut self.deferred, &event).await?;
        self.next_seq += 1;
        self.events.push(event.clone());
        Ok(event)
    }

    /// Appends one `number.assigned` event per row (the bulk import path), in the order given,
    /// and projects them onto `number_assignments`. The caller has checked that no number is
    /// currently held and none repeats. These events are not returned by [`Tx::commit`]; the
    /// caller knows the rows.
    ///
    /// The events go in with multi-row inserts of anonymous parameters (sequence number, time,
    /// number, canonical text), the next statement's canonical texts being encoded while SQLite
    /// runs the current one; the assignment rows are then projected from those events by one
    /// `INSERT … SELECT` inside SQLite. `OR FAIL` spares SQLite a statement journal: a
    /// uniqueness violation still fails the call, and the caller drops the transaction.
    pub async fn append_number_assignments(
        &mut self,
        actor: Actor,
        rows: &[(TelephoneNumber, CampaignId, ProviderId)],
    ) -> Result<(), StoreError> {
        let Some(&(n0, c0, d0)) = rows.first() else { return Ok(()) };
        let time = Event::time_text(self.now);
        let actor_text = actor.to_string();
        let us = self.now.as_microsecond();
        let first = self.next_seq;
        // Where the campaign and DCA ids sit in the canonical text (they are fixed-width).
        let sample = encode_number_assigned(Seq(first), &time, actor, n0, c0, d0);
        let at = |key: &str, id: &str| {
            sample
                .find(key)
                .map(|i| i + key.len())
                .filter(|&i| sample.get(i..i + id.len()) == Some(id))
                .ok_or_else(|| StoreError::corrupt("events", format!("no {key} in the canonical encoding")))
        };
        let campaign_at = at(r#""campaignId":""#, c0.as_str())?;
        let dca_at = at(r#""dcaId":""#, d0.as_str())?;
        if !actor_text.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(StoreError::corrupt("events", format!("unexpected actor {actor_text:?}")));
        }
        match &mut self.tx {
            Engine::Sqlite(tx) => {
                let full: std::sync::Arc<str> = bulk_events_sql(BULK_CHUNK.min(rows.len()), &actor_text).into();
                // One multi-row INSERT per chunk; the next chunk's canonical texts are encoded on
                // this thread while SQLite, on the connection's own thread, inserts the current one.
                let build = |seq: u64, chunk: &[(TelephoneNumber, CampaignId, ProviderId)]| {
                    let sql = if chunk.len() == BULK_CHUNK.min(rows.len()) {
                        full.clone()
                    } else {
                        bulk_events_sql(chunk.len(), &actor_text).into()
                    };
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                    for (i, (number, campaign, dca)) in chunk.iter().enumerate() {
                        let seq = seq + i as u64;
                        q = q.bind(seq as i64).bind(us).bind(number.digits() as i64).bind(encode_number_assigned(
                            Seq(seq),
                            &time,
                            actor,
                            *number,
                            *campaign,
                            *dca,
                        ));
                    }
                    (q, chunk.len() as u64)
                };
                let mut chunks = rows.chunks(BULK_CHUNK);
                let mut next = chunks.next().map(|c| build(first, c));
                while let Some((q, len)) = next.take() {
                    let following = self.next_seq + len;
                    let (done, built) = futures_util::future::join(q.execute(&mut **tx), async {
                        chunks.next().map(|c| build(following, c))
                    })
                    .await;
                    done.map_err(map_unique)?;
                    self.next_seq = following;
                    next = built;
                }
            }
            Engine::Postgres(tx) => {
                // PostgreSQL's bulk path: COPY in text format, a chunk of rows per message, the
                // next chunk encoded while the server takes the current one.
                let mut copy = tx
                    .copy_in_raw("COPY events (seq, ts_us, actor, kind, subject, canonical) FROM STDIN")
                    .await
                    .map_err(map_unique)?;
                let build = |seq: u64, chunk: &[(TelephoneNumber, CampaignId, ProviderId)]| {
                    let mut buf = String::with_capacity(chunk.len() * 240);
                    for (i, (number, campaign, dca)) in chunk.iter().enumerate() {
                        let seq = seq + i as u64;
                        let canonical = encode_number_assigned(Seq(seq), &time, actor, *number, *campaign, *dca);
                        // COPY's text format: tab-separated, backslash escapes.
                        use std::fmt::Write as _;
                        let _ = write!(buf, "{seq}\t{us}\t{actor_text}\tnumber.assigned\t+{}\t", number.digits());
                        copy_escape(&mut buf, &canonical);
                        buf.push('\n');
                    }
                    (buf, chunk.len() as u64)
                };
                let mut chunks = rows.chunks(BULK_CHUNK);
                let mut next = chunks.next().map(|c| build(first, c));
                while let Some((buf, len)) = next.take() {
                    let following = self.next_seq + len;
                    let (done, built) = futures_util::future::join(copy.send(buf.into_bytes()), async {
                        chunks.next().map(|c| build(following, c))
                    })
                    .await;
                    done.map_err(map_unique)?;
                    self.next_seq = following;
                    next = built;
                }
                copy.finish().await.map_err(map_unique)?;
            }
        }
        let sql = format!(
            "{} INTO number_assignments (assigned_seq, number, campaign_id, dca_id, assigned_us) \
             SELECT seq, CAST(substr(subject, 2) AS BIGINT), substr(canonical, CAST($1 AS INTEGER), 8), \
             substr(canonical, CAST($2 AS INTEGER), 8), ts_us FROM events WHERE seq >= $3 AND seq < $4",
            self.insert_or_fail()
        );
        on_conn!(&mut self.tx, db => sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(campaign_at as i64 + 1)
        .bind(dca_at as i64 + 1)
        .bind(first as i64)
        .bind(self.next_seq as i64)
        .execute(&mut *db)
        .await.map(|r| r.rows_affected()))
        .map_err(map_unique)?;
        on_conn!(&mut self.tx, db => sqlx::query(
            "INSERT INTO campaign_activity (campaign_id, minute_us, assigned) \
             SELECT substr(canonical, CAST($1 AS INTEGER), 8), ts_us - ts_us % $2, count(*) \
             FROM events WHERE seq >= $3 AND seq < $4 GROUP BY 1, 2 \
             ON CONFLICT (campaign_id, minute_us) DO UPDATE SET assigned = campaign_activity.assigned + excluded.assigned",
        )
        .bind(campaign_at as i64 + 1)
        .bind(crate::project::MINUTE_US)
        .bind(first as i64)
        .bind(self.next_seq as i64)
        .execute(&mut *db)
        .await.map(|r| r.rows_affected()))?;
        self.bulk = true;
        Ok(())
    }

    /// Appends one `number.released` event per number (a campaign's expiry), in the order
    /// given, and projects them: each number's open history row is closed by its event, churn
    /// is counted, and any suspension of the number ends. The caller has checked, under the
    /// writer lock, that `campaign` holds every number and none repeats; a number it does not
    /// hold fails the call with [`StoreError::Conflict`], and the caller drops the transaction.
    /// These events are not returned by [`Tx::commit`]; the caller knows the numbers.
    ///
    /// Per chunk: one multi-row INSERT of the events (encoded by the generic encoder), then one
    /// `UPDATE … FROM events` closing the chunk's history rows inside SQLite, the next chunk's
    /// events being encoded meanwhile. Byte for byte, and view for view, the same as appending
    /// the events one by one.
    pub async fn append_number_releases(
        &mut self,
        actor: Actor,
        campaign: CampaignId,
        numbers: &[TelephoneNumber],
        reason: &str,
    ) -> Result<(), StoreError> {
        if numbers.is_empty() {
            return Ok(());
        }
        let us = self.now.as_microsecond();
        let (now, actor_text) = (self.now, actor.to_string());
        let insert = format!("{} INTO events (seq, ts_us, actor, kind, subject, canonical) ", self.insert_or_fail());
        let build = |seq: u64, chunk: &[TelephoneNumber]| -> Result<_, StoreError> {
            let mut rows = Vec::with_capacity(chunk.len());
            for (i, number) in chunk.iter().enumerate() {
                let body = EventBody::NumberReleased {
                    number: *number,
                    campaign_id: campaign,
                    reason: Some(reason.to_owned()),
                };
                let event = Event { seq: Seq(seq + i as u64), time: now, actor, body };
                let canonical =
                    String::from_utf8(event.to_canonical()?).map_err(|e| StoreError::corrupt("events", e))?;
                rows.push((event.seq.0 as i64, event.body.subject(), canonical));
            }
            Ok((rows, chunk.len() as u64))
        };
        // 6 parameters per row: stay under SQLite's default limit of 32,766.
        const CHUNK: usize = 1000;
        let mut chunks = numbers.chunks(CHUNK);
        let mut next = chunks.next().map(|c| build(self.next_seq, c)).transpose()?;
        let campaign_text = campaign.to_string();
        while let Some((rows, len)) = next.take() {
            let (first, following) = (self.next_seq, self.next_seq + len);
            let insert_rows = on_conn!(&mut self.tx, db => async {
                let mut q = sqlx::QueryBuilder::new(insert.as_str());
                q.push_values(rows, |mut b, (seq, subject, canonical)| {
                    b.push_bind(seq)
                        .push_bind(us)
                        .push_bind(actor_text.clone())
                        .push_bind("number.released")
                        .push_bind(subject)
                        .push_bind(canonical);
                });
                q.build().execute(&mut *db).await.map(|_| ())
            }.boxed());
            let (done, built) = futures_util::future::join(insert_rows, async {
                chunks.next().map(|c| build(following, c)).transpose()
            })
            .await;
            done.map_err(map_unique)?;
            let held: Vec<(String, i64)> = on_conn!(&mut self.tx, db => sqlx::query_as(
                "UPDATE number_assignments SET released_seq = e.seq, released_us = e.ts_us, release_reason = $1 \
                 FROM events AS e WHERE e.seq >= $2 AND e.seq < $3 \
                 AND number_assignments.number = CAST(substr(e.subject, 2) AS BIGINT) \
                 AND number_assignments.released_us IS NULL \
                 RETURNING number_assignments.campaign_id, number_assignments.assigned_us",
            )
            .bind(reason)
            .bind(first as i64)
            .bind(following as i64)
            .fetch_all(&mut *db)
            .await)?;
            if held.len() as u64 != len || held.iter().any(|(c, _)| *c != campaign_text) {
                return Err(StoreError::Conflict(format!(
                    "{} of {len} numbers released were not held by campaign {campaign}",
                    len as usize - held.iter().filter(|(c, _)| *c == campaign_text).count()
                )));
            }
            for (c, assigned_us) in held {
                self.deferred.count(c, us, 0, Some(us - assigned_us));
            }
            self.next_seq = following;
            next = built?;
        }
        self.deferred.released.extend(numbers.iter().map(|n| n.digits() as i64));
        self.bulk = true;
        Ok(())
    }

    /// Stores a new API key's hash (secrets are not events; the `apikey.issued` event names
    /// the key by its id only).
    pub async fn insert_api_key(
        &mut self,
        key_hash: &str,
        key_id: &str,
        provider: Option<ProviderId>,
    ) -> Result<(), StoreError> {
        on_conn!(&mut self.tx, db => sqlx::query("INSERT INTO api_keys (key_hash, key_id, provider_id, created_us) VALUES ($1, $2, $3, $4)")
            .bind(key_hash)
            .bind(key_id)
            .bind(provider.map(|p| p.to_string()))
            .bind(self.now.as_microsecond())
            .execute(&mut *db)
            .await.map(|r| r.rows_affected()))
            .map_err(map_unique)?;
        Ok(())
    }

    /// Marks an API key revoked.
    pub async fn revoke_api_key(&mut self, key_id: &str) -> Result<bool, StoreError> {
        let r = on_conn!(&mut self.tx, db => sqlx::query("UPDATE api_keys SET revoked_us = $1 WHERE key_id = $2 AND revoked_us IS NULL")
            .bind(self.now.as_microsecond())
            .bind(key_id)
            .execute(&mut *db)
            .await.map(|r| r.rows_affected()))?;
        Ok(r == 1)
    }

    /// Stores an imported sanctions list (the `sanctions.imported` event carries its hash).
    pub async fn insert_sanctions_list(
        &mut self,
        sha256: &str,
        entries: u64,
        content: &[u8],
    ) -> Result<(), StoreError> {
        on_conn!(&mut self.tx, db => sqlx::query(
            "INSERT INTO sanctions_lists (sha256, imported_us, entries, content) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (sha256) DO UPDATE SET imported_us = excluded.imported_us",
        )
        .bind(sha256)
        .bind(self.now.as_microsecond())
        .bind(entries as i64)
        .bind(content)
        .execute(&mut *db)
        .await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Commits, returning the events appended one by one (not the bulk ones).
    ///
    /// A transaction with bulk rows commits without copying the WAL into the database file
    /// (SQLite's automatic checkpoint would do so on this connection, in the commit): the
    /// caller runs [`crate::Store::checkpoint`] next, off the writer. Durability is the WAL's.
    pub async fn commit(mut self) -> Result<Vec<Event>, StoreError> {
        self.deferred.flush(&mut self.tx.conn()).await?;
        on_conn!(&mut self.tx, db => sqlx::query("UPDATE registry_state SET next_seq = $1, last_us = $2 WHERE id = 1")
            .bind(self.next_seq as i64)
            .bind(self.now.as_microsecond())
            .execute(&mut *db)
            .await.map(|r| r.rows_affected()))?;
        let sqlite_bulk = self.bulk && matches!(self.tx, Engine::Sqlite(_));
        if let (true, Engine::Sqlite(t)) = (sqlite_bulk, &mut self.tx) {
            sqlx::query("PRAGMA wal_autocheckpoint = 0").execute(&mut **t).await?;
        }
        let committed = self.tx.commit().await;
        if let (true, Engine::Sqlite(pool)) = (sqlite_bulk, &self.pool) {
            // The pool's one connection is the one that just committed. A failure here must not
            // turn a commit into an error: the rows are durable and the caller must index them.
            let restore = format!("PRAGMA wal_autocheckpoint = {AUTOCHECKPOINT_PAGES}");
            if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(restore)).execute(pool).await {
                tracing::warn!(error = %e, "cannot restore the writer's automatic checkpoint");
            }
        }
        committed.map_err(crate::commit_error)?;
        self.applied.fetch_max(self.next_seq - 1, Ordering::AcqRel);
        Ok(self.events)
    }
}

/// The canonical encoding of a `number.assigned` event, written directly (the bulk path);
/// byte-identical to [`Event::to_canonical`].
pub fn encode_number_assigned(
    seq: Seq,
    time_text: &str,
    actor: Actor,
    number: TelephoneNumber,
    campaign: CampaignId,
    dca: ProviderId,
) -> String {
    // Every part is ASCII without characters JSON escapes, so no escaping is needed.
    format!(
        r#"{{"actor":"{actor}","body":{{"campaignId":"{campaign}","dcaId":"{dca}","number":"{number}"}},"kind":"number.assigned","seq":{},"time":"{time_text}","v":1}}"#,
        seq.0
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn assignments(store: &crate::Store) -> Vec<(i64, i64, String, String, i64)> {
        sqlx::query_as(
            "SELECT assigned_seq, number, campaign_id, dca_id, assigned_us FROM number_assignments ORDER BY assigned_seq",
        )
        .fetch_all(store.sqlite_pool().unwrap())
        .await
        .unwrap()
    }

    /// The bulk path writes exactly what appending the events one by one would: the same
    /// canonical events, in the order given, and the same projected rows (checked by replaying
    /// the events through the generic projection), across full and partial statement chunks.
    #[tokio::test]
    async fn bulk_assignments_match_the_generic_path() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::Store::open(&dir.path().join("v.db")).await.unwrap();
        let (c1, c2) = (CampaignId::from_random(11), CampaignId::from_random(12));
        let (d1, d2) = (ProviderId::from_random(21), ProviderId::from_random(22));
        let rows = |base: u64, n: u64| -> Vec<(TelephoneNumber, CampaignId, ProviderId)> {
            (0..n)
                .map(|i| {
                    let number = TelephoneNumber::from_digits(base + i * 7919 % 100_003 + i).unwrap();
                    if i % 3 == 0 { (number, c2, d2) } else { (number, c1, d1) }
                })
                .collect()
        };
        let batches = [
            (Actor::Provider(d1), rows(12_025_550_000, BULK_CHUNK as u64 * 2 + 17)),
            (Actor::Admin, rows(13_035_550_000, 5)),
            (Actor::System, rows(14_045_550_000, BULK_CHUNK as u64)),
        ];
        let mut expected = Vec::new();
        for (i, (actor, batch)) in batches.iter().enumerate() {
            let mut tx = store.begin(Timestamp::from_second(1_790_000_000 + i as i64).unwrap()).await.unwrap();
            let first = tx.next_seq;
            let now = tx.now();
            tx.append_number_assignments(*actor, batch).await.unwrap();
            tx.commit().await.unwrap();
            for (j, (number, campaign, dca)) in batch.iter().enumerate() {
                let body = EventBody::NumberAssigned { number: *number, campaign_id: *campaign, dca_id: *dca };
                let event = Event { seq: Seq(first + j as u64), time: now, actor: *actor, body };
                expected.push((event.seq.0, String::from_utf8(event.to_canonical().unwrap()).unwrap()));
            }
        }
        let n = expected.len() as u32;
        let first = expected[0].0 - 1;
        let stored = store.events_after(first, n).await.unwrap();
        assert_eq!(stored.len(), expected.len());
        assert!(stored == expected, "the bulk path wrote other events than the generic encoder");
        let bulk = assignments(&store).await;
        assert_eq!(bulk.len(), expected.len());
        store.rebuild_views().await.unwrap();
        assert_eq!(assignments(&store).await, bulk, "projection differs from a replay of the events");
    }

    async fn activity(store: &crate::Store) -> Vec<(String, i64, i64, i64, i64, i64)> {
        sqlx::query_as(
            "SELECT campaign_id, minute_us, assigned, released, held_under_hour, held_under_day \
             FROM campaign_activity ORDER BY 1, 2",
        )
        .fetch_all(store.sqlite_pool().unwrap())
        .await
        .unwrap()
    }

    /// A campaign's releases in bulk write the events the generic encoder would, close exactly
    /// the campaign's history rows, and leave views a replay of the events reproduces; a number
    /// the campaign does not hold fails the call.
    #[tokio::test]
    async fn bulk_releases_match_the_generic_path() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::Store::open(&dir.path().join("v.db")).await.unwrap();
        let (c1, c2) = (CampaignId::from_random(11), CampaignId::from_random(12));
        let dca = ProviderId::from_random(21);
        let numbers: Vec<TelephoneNumber> =
            (0..BULK_CHUNK as u64 * 2 + 3).map(|i| TelephoneNumber::from_digits(12_025_550_000 + i).unwrap()).collect();
        let rows: Vec<_> =
            numbers.iter().enumerate().map(|(i, n)| (*n, if i % 4 == 0 { c2 } else { c1 }, dca)).collect();
        let t0 = Timestamp::from_second(1_790_000_000).unwrap();
        let mut tx = store.begin(t0).await.unwrap();
        tx.append_number_assignments(Actor::Admin, &rows).await.unwrap();
        tx.commit().await.unwrap();

        let of_c1: Vec<TelephoneNumber> = rows.iter().filter(|r| r.1 == c1).map(|r| r.0).collect();
        let actor = Actor::Provider(ProviderId::from_random(3));
        // Not held by c1: the whole call fails.
        let mut tx = store.begin(t0.checked_add(jiff::SignedDuration::from_secs(60)).unwrap()).await.unwrap();
        let err = tx.append_number_releases(actor, c1, &[of_c1[0], numbers[0]], "campaign expired").await;
        assert!(matches!(err, Err(StoreError::Conflict(_))), "{err:?}");
        drop(tx);

        let mut tx = store.begin(t0.checked_add(jiff::SignedDuration::from_secs(1800)).unwrap()).await.unwrap();
        let (first, now) = (tx.next_seq, tx.now());
        tx.append_number_releases(actor, c1, &of_c1, "campaign expired").await.unwrap();
        tx.commit().await.unwrap();
        let expected: Vec<(u64, String)> = of_c1
            .iter()
            .enumerate()
            .map(|(j, n)| {
                let body =
                    EventBody::NumberReleased { number: *n, campaign_id: c1, reason: Some("campaign expired".into()) };
                let event = Event { seq: Seq(first + j as u64), time: now, actor, body };
                (event.seq.0, String::from_utf8(event.to_canonical().unwrap()).unwrap())
            })
            .collect();
        let stored = store.events_after(first - 1, expected.len() as u32 + 1).await.unwrap();
        assert!(stored == expected, "the bulk path wrote other events than the generic encoder");

        let views = assignments(&store).await;
        let closed: Vec<_> = views.iter().filter(|r| r.2 == c1.as_str()).collect();
        assert_eq!(closed.len(), of_c1.len());
        let released: Vec<(i64, Option<i64>, Option<String>)> = sqlx::query_as(
            "SELECT number, released_seq, release_reason FROM number_assignments WHERE campaign_id = $1 ORDER BY number",
        )
        .bind(c1.as_str())
        .fetch_all(store.sqlite_pool().unwrap())
        .await
        .unwrap();
        for (j, (number, seq, reason)) in released.iter().enumerate() {
            assert_eq!(*number, of_c1[j].digits() as i64);
            assert_eq!(*seq, Some((first + j as u64) as i64));
            assert_eq!(reason.as_deref(), Some("campaign expired"));
        }
        let open: (i64,) = sqlx::query_as("SELECT count(*) FROM number_assignments WHERE released_us IS NULL")
            .fetch_one(store.sqlite_pool().unwrap())
            .await
            .unwrap();
        assert_eq!(open.0 as usize, numbers.len() - of_c1.len(), "c2's numbers stay held");
        let counts = activity(&store).await;
        let released_30min: i64 = counts.iter().filter(|r| r.0 == c1.as_str()).map(|r| r.3 + r.4 * 1000).sum();
        assert_eq!(released_30min, of_c1.len() as i64 * 1001, "each release counted, held under an hour");

        store.rebuild_views().await.unwrap();
        assert_eq!(assignments(&store).await, views, "history differs from a replay of the events");
        assert_eq!(activity(&store).await, counts, "churn counts differ from a replay of the events");
    }

    #[test]
    fn fast_encoding_matches_generic() {
        let time = Timestamp::from_microsecond(1_790_000_000_000_001).unwrap();
        let number: TelephoneNumber = "+447700900123".parse().unwrap();
        let campaign = CampaignId::from_random(99);
        let dca = ProviderId::from_random(7);
        for actor in [Actor::Admin, Actor::System, Actor::Provider(ProviderId::from_random(3))] {
            let generic = Event {
                seq: Seq(9),
                time,
                actor,
                body: EventBody::NumberAssigned { number, campaign_id: campaign, dca_id: dca },
            }
            .to_canonical()
            .unwrap();
            assert_eq!(
                encode_number_assigned(Seq(9), &Event::time_text(time), actor, number, campaign, dca).as_bytes(),
                &generic[..]
            );
        }
    }
}
