//! The transparency log's tables: keys, hash tiles, checkpoints.

use crate::{Store, StoreError};
use crate::{on, on_conn};

/// The log's stored keys.
#[derive(Clone)]
pub struct LogKeys {
    /// The origin line (and note key name).
    pub origin: String,
    /// Ed25519 PKCS#8 of the checkpoint key.
    pub signing: Vec<u8>,
    /// The commitment salt secret.
    pub sealing: Vec<u8>,
}

impl std::fmt::Debug for LogKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogKeys").field("origin", &self.origin).finish_non_exhaustive()
    }
}

/// A stored checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointRow {
    /// Tree size.
    pub size: u64,
    /// Tree head.
    pub root: Vec<u8>,
    /// The signed note.
    pub note: String,
    /// When it was signed (unix microseconds).
    pub ts_us: i64,
}

/// A hash tile to write.
#[derive(Debug, Clone)]
pub struct TileRow {
    /// Tile level.
    pub level: u8,
    /// Tile index.
    pub index: u64,
    /// The hashes, concatenated.
    pub hashes: Vec<u8>,
}

impl Store {
    /// The log's keys, if it has been created.
    pub async fn log_keys(&self) -> Result<Option<LogKeys>, StoreError> {
        let r = on!(self.writer_pool(), db => sqlx::query("SELECT origin, signing, sealing FROM log_keys WHERE id = 1")
            .fetch_optional(db)
            .await.map(|r| r.map(crate::DbRow::from)))?;
        r.map(|r| {
            Ok(LogKeys { origin: r.try_get("origin")?, signing: r.try_get("signing")?, sealing: r.try_get("sealing")? })
        })
        .transpose()
    }

    /// Stores `fresh` as the log's keys unless there are keys already, and returns what is
    /// stored (so every node of one database agrees).
    pub async fn create_log_keys(&self, fresh: LogKeys, now_us: i64) -> Result<LogKeys, StoreError> {
        on!(self.writer_pool(), db => sqlx::query(
            "INSERT INTO log_keys (id, origin, signing, sealing, created_us) VALUES (1, $1, $2, $3, $4) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(&fresh.origin)
        .bind(&fresh.signing)
        .bind(&fresh.sealing)
        .bind(now_us)
        .execute(db)
        .await.map(|r| r.rows_affected()))?;
        self.log_keys().await?.ok_or_else(|| StoreError::corrupt("log_keys", "the keys just stored are missing"))
    }

    /// The newest checkpoint.
    pub async fn log_head(&self) -> Result<Option<CheckpointRow>, StoreError> {
        let r = on!(&self.pool, db => sqlx::query("SELECT size, root, note, ts_us FROM log_checkpoints ORDER BY size DESC LIMIT 1")
            .fetch_optional(db)
            .await.map(|r| r.map(crate::DbRow::from)))?;
        r.map(|r| checkpoint_row(&r)).transpose()
    }

    /// Checkpoints, newest first, at most `limit`, below `before` when given.
    pub async fn log_checkpoints(&self, before: Option<u64>, limit: u32) -> Result<Vec<CheckpointRow>, StoreError> {
        let rows = on!(&self.pool, db => sqlx::query(
            "SELECT size, root, note, ts_us FROM log_checkpoints WHERE size < $1 ORDER BY size DESC LIMIT $2",
        )
        .bind(before.map_or(i64::MAX, |b| b.min(i64::MAX as u64) as i64))
        .bind(i64::from(limit))
        .fetch_all(db)
        .await.map(|v| v.into_iter().map(crate::DbRow::from).collect::<Vec<_>>()))?;
        rows.iter().map(checkpoint_row).collect()
    }

    /// A hash tile's stored bytes.
    pub async fn log_tile(&self, level: u8, index: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let Ok(idx) = i64::try_from(index) else { return Ok(None) };
        Ok(on!(&self.pool, db => sqlx::query_scalar("SELECT hashes FROM log_tiles WHERE level = $1 AND idx = $2")
            .bind(i64::from(level))
            .bind(idx)
            .fetch_optional(db)
            .await)?)
    }

    /// Takes or renews the sequencer lease for `node` until `now_us + ttl_us`: `true` if
    /// `node` holds it now (it held it, or its holder let it expire).
    pub async fn log_lease(&self, node: &str, now_us: i64, ttl_us: i64) -> Result<bool, StoreError> {
        let held: Option<String> = on!(self.writer_pool(), db => sqlx::query_scalar(
            "UPDATE log_lease SET holder = $1, expires_us = $2 WHERE id = 1 AND (holder = $1 OR expires_us < $3) \
             RETURNING holder",
        )
        .bind(node)
        .bind(now_us.saturating_add(ttl_us))
        .bind(now_us)
        .fetch_optional(db)
        .await)
        .map_err(crate::retryable)?;
        Ok(held.is_some())
    }

    /// Gives the sequencer lease up, if `node` holds it (a node that stops), so that another
    /// node takes over at once.
    pub async fn log_release(&self, node: &str) -> Result<(), StoreError> {
        on!(self.writer_pool(), db => sqlx::query("UPDATE log_lease SET expires_us = 0 WHERE id = 1 AND holder = $1")
            .bind(node)
            .execute(db)
            .await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// The sequencer lease: its holder and when it expires (unix microseconds).
    pub async fn log_lease_holder(&self) -> Result<(String, i64), StoreError> {
        Ok(on!(self.pool(), db => sqlx::query_as("SELECT holder, expires_us FROM log_lease WHERE id = 1")
            .fetch_one(db)
            .await)?)
    }

    /// Writes tiles and the checkpoint that covers them, in one transaction: a crash leaves
    /// the log at the previous checkpoint or at this one, never between. The transaction
    /// first renews `node`'s sequencer lease, and fails with [`StoreError::Conflict`] if
    /// `node` no longer holds it: a node that lost the lease (paused past its expiry) can
    /// never write over its successor's tree.
    pub async fn log_commit(
        &self,
        tiles: &[TileRow],
        checkpoint: &CheckpointRow,
        node: &str,
        now_us: i64,
        ttl_us: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.writer_pool().begin().await?;
        let held = on_conn!(&mut tx, db => sqlx::query(
            "UPDATE log_lease SET expires_us = $1 WHERE id = 1 AND holder = $2 AND expires_us >= $3",
        )
        .bind(now_us.saturating_add(ttl_us))
        .bind(node)
        .bind(now_us)
        .execute(&mut *db)
        .await.map(|r| r.rows_affected()))
        .map_err(crate::retryable)?;
        if held != 1 {
            return Err(StoreError::Conflict(format!("node {node} no longer holds the log's sequencer lease")));
        }
        for t in tiles {
            on_conn!(&mut tx, db => sqlx::query(
                "INSERT INTO log_tiles (level, idx, hashes) VALUES ($1, $2, $3) \
                 ON CONFLICT (level, idx) DO UPDATE SET hashes = excluded.hashes",
            )
            .bind(i64::from(t.level))
            .bind(t.index as i64)
            .bind(&t.hashes)
            .execute(&mut *db)
            .await.map(|r| r.rows_affected()))?;
        }
        on_conn!(&mut tx, db => sqlx::query("INSERT INTO log_checkpoints (size, root, note, ts_us) VALUES ($1, $2, $3, $4)")
            .bind(checkpoint.size as i64)
            .bind(&checkpoint.root)
            .bind(&checkpoint.note)
            .bind(checkpoint.ts_us)
            .execute(&mut *db)
            .await.map(|r| r.rows_affected()))
            .map_err(crate::tx::map_unique)?;
        tx.commit().await.map_err(crate::retryable)?;
        Ok(())
    }

    /// The events `first..=last` (sequence number, kind, canonical text), in order.
    pub async fn events_between(&self, first: u64, last: u64) -> Result<Vec<(u64, String, String)>, StoreError> {
        let rows: Vec<(i64, String, String)> = on!(&self.pool, db => sqlx::query_as("SELECT seq, kind, canonical FROM events WHERE seq >= $1 AND seq <= $2 ORDER BY seq")
                .bind(first.min(i64::MAX as u64) as i64)
                .bind(last.min(i64::MAX as u64) as i64)
                .fetch_all(db)
                .await)?;
        Ok(rows.into_iter().map(|(s, k, c)| (s as u64, k, c)).collect())
    }

    /// The event that registered a certificate, by fingerprint.
    pub async fn certificate_event(&self, fingerprint: &str) -> Result<Option<u64>, StoreError> {
        let seq: Option<i64> = on!(&self.pool, db => sqlx::query_scalar(
            "SELECT seq FROM events WHERE kind = 'certificate.registered' AND subject = $1 ORDER BY seq LIMIT 1",
        )
        .bind(fingerprint)
        .fetch_optional(db)
        .await)?;
        Ok(seq.map(|s| s as u64))
    }
}

fn checkpoint_row(r: &crate::DbRow) -> Result<CheckpointRow, StoreError> {
    let size: i64 = r.try_get("size")?;
    Ok(CheckpointRow {
        size: size as u64,
        root: r.try_get("root")?,
        note: r.try_get("note")?,
        ts_us: r.try_get("ts_us")?,
    })
}
