//! vouch's event store.
//!
//! Every registry mutation is appended to the `events` table as its canonical encoding, and in
//! the same transaction the tables that are views of the events (providers, brands, campaigns,
//! sharing, number assignments) are brought up to date by [`project`]. Replaying the events
//! through the same function rebuilds those tables ([`Store::rebuild_views`]).
//!
//! The embedded store is SQLite through sqlx, in WAL mode with `synchronous=FULL`, so that a
//! committed transaction survives a crash of the process or the machine.

mod gateway;
mod log;
mod project;
mod query;
mod reports;
mod risk;
mod tx;
mod voice;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

pub use gateway::{GatewayRecord, RECORD_BATCH_SPAN, RecordFilter, SmppAccountRow};
pub use log::{CheckpointRow, LogKeys, TileRow};
pub use project::{Deferred, project};
pub use query::{ApiKeyRow, AssignmentRow, BrandRow, CampaignRow, ProviderRow, SharingRow};
pub use reports::{EventRow, ReportRow, ReportsAbout};
pub use risk::{ActivityRow, SuspendedNumber, TrafficRow, WebhookRow};
pub use tx::{Tx, encode_number_assigned};
pub use voice::{CertificateRow, NumberBlockRow, SignedCall, SigningKeyRow, SipPeerRow};

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The schema could not be brought up to date.
    #[error("migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// A stored value did not parse back (the database was edited by hand or is corrupt).
    #[error("corrupt row in {table}: {detail}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// What did not parse.
        detail: String,
    },
    /// A uniqueness rule of the registry would be broken.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The events cannot be encoded.
    #[error(transparent)]
    Registry(#[from] vouch_registry::RegistryError),
}

impl StoreError {
    pub(crate) fn corrupt(table: &'static str, detail: impl ToString) -> Self {
        Self::Corrupt { table, detail: detail.to_string() }
    }
}

/// Page cache of the writing connection (negative: KiB; readers keep 64 MiB each): a bulk
/// import touches the same index pages again and again from one transaction to the next.
const WRITER_CACHE_KIB: &str = "-262144";

/// The registry's database.
#[derive(Debug, Clone)]
pub struct Store {
    /// Readers.
    pool: SqlitePool,
    /// The one connection that writes: its page cache stays valid from one write transaction
    /// to the next (no other connection writes), and it is sized for bulk imports.
    writer: SqlitePool,
    /// Whether a [`Store::checkpoint`] is under way.
    checkpointing: Arc<AtomicBool>,
}

impl Store {
    /// Opens (creating if needed) the embedded store at `path` and applies migrations.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .page_size(16384)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .pragma("cache_size", "-65536")
            .pragma("temp_store", "memory")
            // After a checkpoint has emptied a large WAL (a bulk import), give the space back.
            .pragma("journal_size_limit", "67108864");
        let pool = SqlitePoolOptions::new().max_connections(8).min_connections(1).connect_with(options.clone()).await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .connect_with(options.pragma("cache_size", WRITER_CACHE_KIB))
            .await?;
        Ok(Self { pool, writer, checkpointing: Arc::new(AtomicBool::new(false)) })
    }

    /// The connection pool, for adapters that need raw access (tests, tools).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The writing connection's pool (for writes outside the event order, such as the signer's
    /// call records).
    pub(crate) fn writer_pool(&self) -> &SqlitePool {
        &self.writer
    }

    /// Starts a write transaction. Callers serialise writers themselves (the service holds one
    /// writer lock), so that event order, commit order and index updates agree.
    pub async fn begin(&self, now: jiff::Timestamp) -> Result<Tx, StoreError> {
        Tx::begin(&self.writer, now).await
    }

    /// Copies committed pages from the WAL into the database file, on a reader connection, so
    /// that the writer does not; returns at once if a checkpoint is already under way. Bulk
    /// imports call it (in the background) after each commit. A passive checkpoint: it never
    /// waits for readers or the writer, and copies what no reader still needs.
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        /// Clears the flag however the checkpoint ends (also if its future is dropped).
        struct Running<'a>(&'a AtomicBool);
        impl Drop for Running<'_> {
            fn drop(&mut self) {
                self.0.store(false, Ordering::Release);
            }
        }
        if self.checkpointing.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let _running = Running(&self.checkpointing);
        sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&self.pool).await?;
        Ok(())
    }

    /// Deletes every view table and replays all events into them, in one transaction.
    pub async fn rebuild_views(&self) -> Result<u64, StoreError> {
        let mut tx = self.writer.begin().await?;
        for t in [
            "providers",
            "brands",
            "campaigns",
            "campaign_sharing",
            "number_assignments",
            "certificates",
            "sip_peers",
            "number_blocks",
            "number_suspensions",
            "campaign_activity",
        ] {
            sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {t}"))).execute(&mut *tx).await?;
        }
        let mut after = 0i64;
        let mut n = 0u64;
        let mut deferred = project::Deferred::default();
        loop {
            let rows: Vec<(i64, String)> =
                sqlx::query_as("SELECT seq, canonical FROM events WHERE seq > $1 ORDER BY seq LIMIT 1000")
                    .bind(after)
                    .fetch_all(&mut *tx)
                    .await?;
            if rows.is_empty() {
                break;
            }
            for (seq, canonical) in rows {
                let event = vouch_registry::Event::from_canonical(canonical.as_bytes())?;
                project(&mut tx, &mut deferred, &event).await?;
                after = seq;
                n += 1;
            }
        }
        deferred.flush(&mut tx).await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Closes the pool, checkpointing the WAL.
    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }
}
