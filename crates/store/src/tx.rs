//! Write transactions: events appended in order, views projected in the same transaction.

use jiff::Timestamp;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection, Transaction};
use vouch_registry::{Actor, CampaignId, Event, EventBody, ProviderId, Seq, TelephoneNumber};

use crate::{StoreError, project};

/// A write transaction on the registry.
pub struct Tx {
    tx: Transaction<'static, Sqlite>,
    next_seq: u64,
    now: Timestamp,
    events: Vec<Event>,
}

impl std::fmt::Debug for Tx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tx").field("next_seq", &self.next_seq).field("now", &self.now).finish()
    }
}

/// Rows per multi-row INSERT in bulk paths (6 parameters each, well under SQLite's limit).
const BULK_CHUNK: usize = 1000;

pub(crate) fn map_unique(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(db.message().to_owned()),
        _ => StoreError::Database(e),
    }
}

impl Tx {
    pub(crate) async fn begin(pool: &sqlx::SqlitePool, now: Timestamp) -> Result<Self, StoreError> {
        let mut tx = pool.begin().await?;
        let (next_seq, last_us): (i64, i64) =
            sqlx::query_as("SELECT next_seq, last_us FROM registry_state WHERE id = 1").fetch_one(&mut *tx).await?;
        // Event time never goes backwards, even if the wall clock does; and it is kept to the
        // microsecond, the precision the store and the canonical encoding carry.
        let now_us = now.as_microsecond().max(last_us);
        let now = Timestamp::from_microsecond(now_us).map_err(|e| StoreError::corrupt("registry_state", e))?;
        Ok(Self { tx, next_seq: next_seq as u64, now, events: Vec::new() })
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
        sqlx::query("INSERT INTO events (seq, ts_us, actor, kind, subject, canonical) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(event.seq.0 as i64)
            .bind(self.now.as_microsecond())
            .bind(actor.to_string())
            .bind(event.body.kind())
            .bind(event.body.subject())
            .bind(canonical)
            .execute(&mut *self.tx)
            .await?;
        project(&mut self.tx, &event).await?;
        self.next_seq += 1;
        self.events.push(event.clone());
        Ok(event)
    }

    /// Appends one `number.assigned` event per row, with multi-row inserts (the bulk import
    /// path). The caller has checked that no number is currently held and none repeats.
    /// These events are not returned by [`Tx::commit`]; the caller knows the rows.
    pub async fn append_number_assignments(
        &mut self,
        actor: Actor,
        rows: &[(TelephoneNumber, CampaignId, ProviderId)],
    ) -> Result<(), StoreError> {
        let time = Event::time_text(self.now);
        let actor_text = actor.to_string();
        let us = self.now.as_microsecond();
        for chunk in rows.chunks(BULK_CHUNK) {
            let first = self.next_seq;
            let mut events =
                QueryBuilder::<Sqlite>::new("INSERT INTO events (seq, ts_us, actor, kind, subject, canonical) ");
            events.push_values(chunk.iter().enumerate(), |mut b, (i, (number, campaign, dca))| {
                let seq = first + i as u64;
                b.push_bind(seq as i64)
                    .push_bind(us)
                    .push_bind(actor_text.clone())
                    .push_bind("number.assigned")
                    .push_bind(number.to_string())
                    .push_bind(encode_number_assigned(Seq(seq), &time, actor, *number, *campaign, *dca));
            });
            events.build().execute(&mut *self.tx).await?;
            let mut assignments = QueryBuilder::<Sqlite>::new(
                "INSERT INTO number_assignments (assigned_seq, number, campaign_id, dca_id, assigned_us) ",
            );
            assignments.push_values(chunk.iter().enumerate(), |mut b, (i, (number, campaign, dca))| {
                b.push_bind((first + i as u64) as i64)
                    .push_bind(number.digits() as i64)
                    .push_bind(campaign.to_string())
                    .push_bind(dca.to_string())
                    .push_bind(us);
            });
            assignments.build().execute(&mut *self.tx).await.map_err(map_unique)?;
            self.next_seq += chunk.len() as u64;
        }
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
    pub async fn commit(mut self) -> Result<Vec<Event>, StoreError> {
        sqlx::query("UPDATE registry_state SET next_seq = $1, last_us = $2 WHERE id = 1")
            .bind(self.next_seq as i64)
            .bind(self.now.as_microsecond())
            .execute(&mut *self.tx)
            .await?;
        self.tx.commit().await?;
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
