//! vouch's event store.
//!
//! Every registry mutation is appended to the `events` table as its canonical encoding, and in
//! the same transaction the tables that are views of the events (providers, brands, campaigns,
//! sharing, number assignments) are brought up to date by [`project`]. Replaying the events
//! through the same function rebuilds those tables ([`Store::rebuild_views`]).
//!
//! Two engines run the same SQL through sqlx: the embedded store, SQLite in WAL mode with
//! `synchronous=FULL` (a committed transaction survives a crash of the process or the machine),
//! and PostgreSQL (or an engine that speaks its protocol), which several vouch nodes share. Each
//! query is written once and compiled for both engines by [`on!`] and [`on_conn!`]; the few
//! statements that differ (bulk paths, maintenance) say so where they are.

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
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgConnection, PgPool, Postgres, Sqlite, SqliteConnection, SqlitePool, Transaction};

/// One value per database engine: the embedded store's or PostgreSQL's.
#[derive(Debug, Clone)]
pub enum Engine<S, P> {
    /// The embedded store (SQLite).
    Sqlite(S),
    /// PostgreSQL.
    Postgres(P),
}

/// A connection pool of either engine.
pub(crate) type Pool = Engine<SqlitePool, PgPool>;
/// An open transaction of either engine.
pub(crate) type DbTx = Engine<Transaction<'static, Sqlite>, Transaction<'static, Postgres>>;
/// A borrowed connection of either engine.
pub type DbConn<'a> = Engine<&'a mut SqliteConnection, &'a mut PgConnection>;

/// Runs `$body` with `$c` bound to the engine's own value (`&SqlitePool` or `&PgPool`, ...): the
/// body is written once and compiled once per engine.
macro_rules! on {
    ($e:expr, $c:ident => $body:expr) => {
        match $e {
            $crate::Engine::Sqlite($c) => $body,
            $crate::Engine::Postgres($c) => $body,
        }
    };
}
pub(crate) use on;

/// Like [`on!`] for a `&mut` transaction ([`DbTx`]) or connection ([`DbConn`]): `$c` is the
/// engine's `&mut …Connection`.
macro_rules! on_conn {
    ($e:expr, $c:ident => $body:expr) => {
        match $e {
            $crate::Engine::Sqlite(inner) => {
                let $c = &mut **inner;
                $body
            }
            $crate::Engine::Postgres(inner) => {
                let $c = &mut **inner;
                $body
            }
        }
    };
}
pub(crate) use on_conn;

/// A result row of either engine.
pub(crate) type DbRow = Engine<sqlx::sqlite::SqliteRow, sqlx::postgres::PgRow>;

impl From<sqlx::sqlite::SqliteRow> for DbRow {
    fn from(r: sqlx::sqlite::SqliteRow) -> Self {
        Engine::Sqlite(r)
    }
}

impl From<sqlx::postgres::PgRow> for DbRow {
    fn from(r: sqlx::postgres::PgRow) -> Self {
        Engine::Postgres(r)
    }
}

impl DbRow {
    /// A column's value, decoded the same way on both engines.
    pub(crate) fn try_get<'r, T, I>(&'r self, index: I) -> Result<T, sqlx::Error>
    where
        T: sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite> + sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
        I: sqlx::ColumnIndex<sqlx::sqlite::SqliteRow> + sqlx::ColumnIndex<sqlx::postgres::PgRow>,
    {
        match self {
            Engine::Sqlite(r) => sqlx::Row::try_get(r, index),
            Engine::Postgres(r) => sqlx::Row::try_get(r, index),
        }
    }
}

impl DbTx {
    /// The transaction's connection.
    pub(crate) fn conn(&mut self) -> DbConn<'_> {
        match self {
            Engine::Sqlite(t) => Engine::Sqlite(&mut **t),
            Engine::Postgres(t) => Engine::Postgres(&mut **t),
        }
    }

    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        on!(self, t => t.commit().await)
    }
}

impl Pool {
    pub(crate) async fn begin(&self) -> Result<DbTx, sqlx::Error> {
        Ok(match self {
            Engine::Sqlite(p) => Engine::Sqlite(p.begin().await?),
            Engine::Postgres(p) => Engine::Postgres(p.begin().await?),
        })
    }

    async fn close(&self) {
        on!(self, p => p.close().await)
    }
}

pub use gateway::{
    AccountVerdictCount, GatewayMinute, GatewayRecord, OptOutChange, RECORD_BATCH_SPAN, RecordFilter, SmppAccountRow,
    UsageRow,
};
pub use log::{CheckpointRow, LogKeys, TileRow};
pub use project::{Deferred, project};
pub use query::{ApiKeyRow, AssignmentRow, BrandRow, CampaignRow, ProviderRow, SharingRow};
pub use reports::{EventRow, ReportRow, ReportsAbout, SuspensionEvent};
pub use risk::{ActivityRow, SuspendedNumber, TrafficRow, WebhookRow};
pub use tx::{Tx, encode_number_assigned};
pub use voice::{CertificateRow, CpsKeyRow, NumberBlockRow, SignedCall, SigningKeyRow, SipPeerRow};

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
    /// Another node has written to the shared database since this process last read its
    /// events: the caller catches up and tries again.
    #[error("the registry has moved on to event {latest} since this node read event {applied}; try again")]
    Behind {
        /// What this process has applied.
        applied: u64,
        /// What the database holds.
        latest: u64,
    },
    /// The database aborted the transaction so that concurrent writers stay serialisable.
    #[error("the database aborted a transaction that raced another ({0}); try again")]
    Serialization(String),
    /// A uniqueness rule of the registry would be broken.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The change's event would be larger than a transparency-log entry may be.
    #[error("the change is too large to record ({bytes} bytes as an event; at most {max})")]
    TooLarge {
        /// The canonical event's size.
        bytes: usize,
        /// The most an event may take.
        max: usize,
    },
    /// The events cannot be encoded.
    #[error(transparent)]
    Registry(#[from] vouch_registry::RegistryError),
}

impl StoreError {
    /// Whether trying the same operation again may succeed: another node wrote first
    /// ([`StoreError::Behind`]), or the database aborted the transaction to keep concurrent
    /// writers serialisable (SQLSTATE 40001, or a deadlock, 40P01).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Behind { .. } | Self::Serialization(_))
    }

    pub(crate) fn corrupt(table: &'static str, detail: impl ToString) -> Self {
        Self::Corrupt { table, detail: detail.to_string() }
    }
}

/// Maps a serialisation failure or deadlock to [`StoreError::Serialization`].
pub(crate) fn retryable(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("40001" | "40P01")) => {
            StoreError::Serialization(db.message().to_owned())
        }
        _ => StoreError::Database(e),
    }
}

/// Page cache of the writing connection (negative: KiB; readers keep 64 MiB each): a bulk
/// import touches the same index pages again and again from one transaction to the next.
const WRITER_CACHE_KIB: &str = "-262144";

/// The registry's database.
#[derive(Debug, Clone)]
pub struct Store {
    /// Readers.
    pool: Pool,
    /// The embedded store: the one connection that writes, whose page cache stays valid from
    /// one write transaction to the next (no other connection writes), sized for bulk imports.
    /// PostgreSQL: the same pool as the readers (writers are serialised by the database).
    writer: Pool,
    /// Whether a [`Store::checkpoint`] is under way.
    checkpointing: Arc<AtomicBool>,
    /// The highest event sequence number this process has taken into its in-memory state. On a
    /// shared database, a write transaction that finds the registry further along fails with
    /// [`StoreError::Behind`] instead of deciding on stale state.
    applied: Arc<AtomicU64>,
}

/// Connections to PostgreSQL per node, unless `VOUCH_DATABASE_CONNECTIONS` says otherwise.
const PG_CONNECTIONS: u32 = 16;

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
        Self::with_pools(Engine::Sqlite(pool), Engine::Sqlite(writer)).await
    }

    /// Connects to PostgreSQL at `url` (`postgres://user:password@host:port/database`) and
    /// brings its schema up to date. Several nodes may do so at once: the migrator takes no
    /// advisory lock (distributed engines lack them), so a node that loses the race to apply
    /// a migration tries again and finds it applied.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)?.application_name("vouch");
        let connections = std::env::var("VOUCH_DATABASE_CONNECTIONS")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|&n: &u32| n >= 2)
            .unwrap_or(PG_CONNECTIONS);
        let pool = PgPoolOptions::new()
            .max_connections(connections)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        let mut migrator = sqlx::migrate!("./migrations/postgres");
        migrator.set_locking(false);
        let mut attempt = 0;
        loop {
            match migrator.run(&pool).await {
                Ok(()) => break,
                Err(e) if attempt < 5 => {
                    attempt += 1;
                    tracing::info!(error = %e, attempt, "schema migration raced another node; trying again");
                    tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
        let (collation,): (String,) =
            sqlx::query_as("SELECT datcollate::text FROM pg_database WHERE datname = current_database()")
                .fetch_one(&pool)
                .await?;
        if collation != "C" && collation != "POSIX" {
            tracing::warn!(
                collation,
                "the database does not sort text bytewise (LC_COLLATE C): listings may order differently \
                 from the embedded store; see docs/DEPLOYMENT.md"
            );
        }
        Self::with_pools(Engine::Postgres(pool.clone()), Engine::Postgres(pool)).await
    }

    async fn with_pools(pool: Pool, writer: Pool) -> Result<Self, StoreError> {
        let store = Self {
            pool,
            writer,
            checkpointing: Arc::new(AtomicBool::new(false)),
            applied: Arc::new(AtomicU64::new(0)),
        };
        store.applied.store(store.last_seq().await?, Ordering::Release);
        Ok(store)
    }

    /// Whether this is a database that other vouch nodes may write too (PostgreSQL).
    pub fn is_shared(&self) -> bool {
        matches!(self.pool, Engine::Postgres(_))
    }

    /// The engine's name, for logs and health: `sqlite` or `postgres`.
    pub fn engine(&self) -> &'static str {
        match self.pool {
            Engine::Sqlite(_) => "sqlite",
            Engine::Postgres(_) => "postgres",
        }
    }

    /// The highest event sequence number this process has applied to its in-memory state.
    pub fn applied(&self) -> u64 {
        self.applied.load(Ordering::Acquire)
    }

    /// Records that this process has applied every event up to `seq` (events other nodes
    /// wrote, read back by the caller).
    pub fn set_applied(&self, seq: u64) {
        self.applied.fetch_max(seq, Ordering::AcqRel);
    }

    /// The embedded store's reading pool, for tests and tools that inspect its tables; `None`
    /// on PostgreSQL.
    pub fn sqlite_pool(&self) -> Option<&SqlitePool> {
        match &self.pool {
            Engine::Sqlite(p) => Some(p),
            Engine::Postgres(_) => None,
        }
    }

    /// The reading pool.
    pub(crate) fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The writing pool (for writes outside the event order, such as the signer's call
    /// records).
    pub(crate) fn writer_pool(&self) -> &Pool {
        &self.writer
    }

    /// Starts a write transaction. Callers serialise writers themselves (the service holds one
    /// writer lock), so that event order, commit order and index updates agree; on a shared
    /// database the transaction also holds the registry's row lock until it ends, which orders
    /// the writers of all nodes.
    pub async fn begin(&self, now: jiff::Timestamp) -> Result<Tx, StoreError> {
        Tx::begin(&self.writer, now, self.applied.clone(), true).await
    }

    /// Like [`Store::begin`], without failing when other nodes have written since this process
    /// last read the events: the caller reads them next, while the transaction's lock keeps
    /// any other writer out, and checks [`Tx::last_seq`] against [`Store::applied`].
    pub async fn begin_locked(&self, now: jiff::Timestamp) -> Result<Tx, StoreError> {
        Tx::begin(&self.writer, now, self.applied.clone(), false).await
    }

    /// Copies committed pages from the WAL into the database file, on a reader connection, so
    /// that the writer does not; returns at once if a checkpoint is already under way. Bulk
    /// imports call it (in the background) after each commit. A passive checkpoint: it never
    /// waits for readers or the writer, and copies what no reader still needs. Nothing to do
    /// on PostgreSQL.
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        /// Clears the flag however the checkpoint ends (also if its future is dropped).
        struct Running<'a>(&'a AtomicBool);
        impl Drop for Running<'_> {
            fn drop(&mut self) {
                self.0.store(false, Ordering::Release);
            }
        }
        let Engine::Sqlite(pool) = &self.pool else { return Ok(()) };
        if self.checkpointing.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let _running = Running(&self.checkpointing);
        sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(pool).await?;
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
            "cps_keys",
            "number_blocks",
            "number_suspensions",
            "campaign_activity",
        ] {
            let sql = format!("DELETE FROM {t}");
            on_conn!(&mut tx, c => sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut *c).await.map(|r| r.rows_affected()))?;
        }
        let mut after = 0i64;
        let mut n = 0u64;
        let mut deferred = project::Deferred::default();
        loop {
            let rows: Vec<(i64, String)> = on_conn!(&mut tx, c => {
                sqlx::query_as("SELECT seq, canonical FROM events WHERE seq > $1 ORDER BY seq LIMIT 1000")
                    .bind(after)
                    .fetch_all(&mut *c)
                    .await
            })?;
            if rows.is_empty() {
                break;
            }
            for (seq, canonical) in rows {
                let event = vouch_registry::Event::from_canonical(canonical.as_bytes())?;
                project(&mut tx.conn(), &mut deferred, &event).await?;
                after = seq;
                n += 1;
            }
        }
        deferred.flush(&mut tx.conn()).await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Closes the pool, checkpointing the WAL.
    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }
}
