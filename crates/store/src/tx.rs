//! Write transactions: events appended in order, views projected in the same transaction.

use jiff::Timestamp;
use sqlx::{Sqlite, SqliteConnection, Transaction};
use vouch_registry::{Actor, CampaignId, Event, EventBody, ProviderId, Seq, TelephoneNumber};

use crate::{StoreError, project};

/// A write transaction on the registry.
pub struct Tx {
    tx: Transaction<'static, Sqlite>,
    /// The writer's pool (one connection), to reset it after a bulk commit.
    pool: sqlx::SqlitePool,
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
        _ => StoreError::Database(e),
    }
}

/// The longest canonical event the store accepts.
pub const MAX_EVENT_BYTES: usize = 60_000;

impl Tx {
    pub(crate) async fn begin(pool: &sqlx::SqlitePool, now: Timestamp) -> Result<Self, StoreError> {
        let mut tx = pool.begin().await?;
        let (next_seq, last_us): (i64, i64) =
            sqlx::query_as("SELECT next_seq, last_us FROM registry_state WHERE id = 1").fetch_one(&mut *tx).await?;
        // Event time never goes backwards, even if the wall clock does; and it is kept to the
        // microsecond, the precision the store and the canonical encoding carry.
        let now_us = now.as_microsecond().max(last_us);
        let now = Timestamp::from_microsecond(now_us).map_err(|e| StoreError::corrupt("registry_state", e))?;
        Ok(Self {
            tx,
            pool: pool.clone(),
            next_seq: next_seq as u64,
            now,
            events: Vec::new(),
            bulk: false,
            deferred: Default::default(),
        })
    }

    /// The time every event of this transaction carries.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// The connection, for reads inside the transaction.
    pub fn conn(&mut self) -> &mut SqliteConnection {
        &mut self.tx
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
            return Err(StoreError::Conflict(format!(
                "the change is too large to record ({} bytes; at most {MAX_EVENT_BYTES})",
                canonical.len()
            )));
        }
        sqlx::query("INSERT INTO events (seq, ts_us, actor, kind, subject, canonical) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(event.seq.0 as i64)
            .bind(self.now.as_microsecond())
            .bind(actor.to_string())
            .bind(event.body.kind())
            .bind(event.body.subject())
            .bind(canonical)
            .execute(&mut *self.tx)
            .await?;
        project(&mut self.tx, &mut self.deferred, &event).await?;
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
        let full: std::sync::Arc<str> = bulk_events_sql(BULK_CHUNK.min(rows.len()), &actor_text).into();
        // One multi-row INSERT per chunk; the next chunk's canonical texts are encoded on this
        // thread while SQLite, on the connection's own thread, inserts the current one.
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
            let (done, built) = futures_util::future::join(q.execute(&mut *self.tx), async {
                chunks.next().map(|c| build(following, c))
            })
            .await;
            done.map_err(map_unique)?;
            self.next_seq = following;
            next = built;
        }
        sqlx::query(
            "INSERT OR FAIL INTO number_assignments (assigned_seq, number, campaign_id, dca_id, assigned_us) \
             SELECT seq, CAST(substr(subject, 2) AS INTEGER), substr(canonical, $1, 8), substr(canonical, $2, 8), ts_us \
             FROM events WHERE seq >= $3 AND seq < $4",
        )
        .bind(campaign_at as i64 + 1)
        .bind(dca_at as i64 + 1)
        .bind(first as i64)
        .bind(self.next_seq as i64)
        .execute(&mut *self.tx)
        .await
        .map_err(map_unique)?;
        sqlx::query(
            "INSERT INTO campaign_activity (campaign_id, minute_us, assigned) \
             SELECT substr(canonical, $1, 8), ts_us - ts_us % $2, count(*) \
             FROM events WHERE seq >= $3 AND seq < $4 GROUP BY 1, 2 \
             ON CONFLICT (campaign_id, minute_us) DO UPDATE SET assigned = campaign_activity.assigned + excluded.assigned",
        )
        .bind(campaign_at as i64 + 1)
        .bind(crate::project::MINUTE_US)
        .bind(first as i64)
        .bind(self.next_seq as i64)
        .execute(&mut *self.tx)
        .await?;
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
        sqlx::query("INSERT INTO api_keys (key_hash, key_id, provider_id, created_us) VALUES ($1, $2, $3, $4)")
            .bind(key_hash)
            .bind(key_id)
            .bind(provider.map(|p| p.to_string()))
            .bind(self.now.as_microsecond())
            .execute(&mut *self.tx)
            .await
            .map_err(map_unique)?;
        Ok(())
    }

    /// Marks an API key revoked.
    pub async fn revoke_api_key(&mut self, key_id: &str) -> Result<bool, StoreError> {
        let r = sqlx::query("UPDATE api_keys SET revoked_us = $1 WHERE key_id = $2 AND revoked_us IS NULL")
            .bind(self.now.as_microsecond())
            .bind(key_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Stores an imported sanctions list (the `sanctions.imported` event carries its hash).
    pub async fn insert_sanctions_list(
        &mut self,
        sha256: &str,
        entries: u64,
        content: &[u8],
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sanctions_lists (sha256, imported_us, entries, content) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (sha256) DO UPDATE SET imported_us = excluded.imported_us",
        )
        .bind(sha256)
        .bind(self.now.as_microsecond())
        .bind(entries as i64)
        .bind(content)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Commits, returning the events appended one by one (not the bulk ones).
    ///
    /// A transaction with bulk rows commits without copying the WAL into the database file
    /// (SQLite's automatic checkpoint would do so on this connection, in the commit): the
    /// caller runs [`crate::Store::checkpoint`] next, off the writer. Durability is the WAL's.
    pub async fn commit(mut self) -> Result<Vec<Event>, StoreError> {
        self.deferred.flush(&mut self.tx).await?;
        sqlx::query("UPDATE registry_state SET next_seq = $1, last_us = $2 WHERE id = 1")
            .bind(self.next_seq as i64)
            .bind(self.now.as_microsecond())
            .execute(&mut *self.tx)
            .await?;
        if self.bulk {
            sqlx::query("PRAGMA wal_autocheckpoint = 0").execute(&mut *self.tx).await?;
        }
        let committed = self.tx.commit().await;
        if self.bulk {
            // The pool's one connection is the one that just committed. A failure here must not
            // turn a commit into an error: the rows are durable and the caller must index them.
            let restore = format!("PRAGMA wal_autocheckpoint = {AUTOCHECKPOINT_PAGES}");
            if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(restore)).execute(&self.pool).await {
                tracing::warn!(error = %e, "cannot restore the writer's automatic checkpoint");
            }
        }
        committed?;
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
        .fetch_all(store.pool())
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
