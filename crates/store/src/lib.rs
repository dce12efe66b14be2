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
mod webhooks;

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
    AccountVerdictCount, GatewayMinute, GatewayRecord, OptOutChange, RECORD_BATCH_SPAN, ReceiptIdRow, RecordFilter,
    SmppAccountRow, UsageRow,
};
pub use log::{CheckpointRow, LogKeys, TileRow};
pub use project::{Deferred, project};
pub use query::{
    ApiKeyRow, AssignmentRow, BrandFilter, BrandRow, CampaignFilter, CampaignRow, ProviderRow, SharingRow, Visibility,
};
pub use reports::{EventRow, ReportRow, ReportsAbout, SuspensionEvent};
pub use risk::{ActivityRow, SuspendedNumber, TrafficRow, WebhookRow};
pub use tx::{Tx, encode_number_assigned};
pub use voice::{CertificateRow, CpsKeyRow, NumberBlockRow, SignedCall, SigningKeyRow, SipPeerRow};
pub use webhooks::{AttemptOutcome, DeliveryStatus, NOTIFIED_KINDS, NewDelivery, WebhookDelivery};

/// Everything that can go wrong in the store.
///
/// A variant that wraps a lower error shows it in its message and does not also return it as
/// its `source()`: a chain printed cause by cause (`anyhow`'s `{:#}`) then says it once.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database failed.
    #[error("database: {0}")]
    Database(sqlx::Error),
    /// The database cannot be reached now: no connection within the pool's wait
    /// ([`ACQUIRE_TIMEOUT`]: it is down, unreachable, or every connection is busy), or the
    /// connection broke. Nothing was applied; trying again later may succeed.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// The schema could not be brought up to date.
    #[error("migration: {0}")]
    Migration(sqlx::migrate::MigrateError),
    /// The database's schema is newer than this program: another node, of a later version,
    /// migrated it.
    #[error(
        "the database's schema (migration {database}) is newer than this vouch (knows up to migration {known}): \
         upgrade this node (docs/DEPLOYMENT.md, \"Upgrades\")"
    )]
    SchemaTooNew {
        /// The newest migration applied to the database.
        database: i64,
        /// The newest migration this program has.
        known: i64,
    },
    /// A setting of the store has a value it cannot use.
    #[error("{name}={value:?}: {expected}")]
    Setting {
        /// The environment variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// What it may be.
        expected: &'static str,
    },
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
    /// Another writer held a lock this transaction needed (the registry's row lock, on a
    /// shared database) for longer than [`LOCK_TIMEOUT`]: a slow or stalled node.
    #[error("another writer held the registry's lock for more than {secs} s ({0}); try again", secs = LOCK_TIMEOUT.as_secs())]
    LockTimeout(String),
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
    /// ([`StoreError::Behind`]), the database aborted the transaction to keep concurrent
    /// writers serialisable (SQLSTATE 40001, or a deadlock, 40P01), or another writer held the
    /// registry's lock too long (55P03, [`StoreError::LockTimeout`]).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Behind { .. } | Self::Serialization(_) | Self::LockTimeout(_))
    }

    /// Whether the database could not be reached ([`StoreError::Unavailable`]).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }

    pub(crate) fn corrupt(table: &'static str, detail: impl ToString) -> Self {
        Self::Corrupt { table, detail: detail.to_string() }
    }
}

/// Errors from the database, sorted: a serialisation failure or deadlock is
/// [`StoreError::Serialization`], a lock wait past [`LOCK_TIMEOUT`] is
/// [`StoreError::LockTimeout`], a database that cannot be reached (the pool's wait ran out,
/// the connection broke, the server is shutting down) is [`StoreError::Unavailable`]; the rest
/// stays [`StoreError::Database`]. The outcome of a failed COMMIT is not sorted this way
/// ([`commit_error`]).
impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) => match db.code().as_deref() {
                Some("40001" | "40P01") => Self::Serialization(db.message().to_owned()),
                Some("55P03") => Self::LockTimeout(db.message().to_owned()),
                // Class 08: connection exceptions; 57P01-57P03: the server is shutting down
                // or starting; 25P03: this session sat idle in a transaction past the
                // server's limit and was ended (the transaction rolled back).
                Some(c) if c.starts_with("08") || matches!(c, "57P01" | "57P02" | "57P03" | "25P03") => {
                    Self::Unavailable(e.to_string())
                }
                _ => Self::Database(e),
            },
            sqlx::Error::PoolTimedOut => Self::Unavailable(format!(
                "no connection to the database within {} s (it is down or unreachable, or every connection \
                 of this node is busy)",
                ACQUIRE_TIMEOUT.as_secs()
            )),
            sqlx::Error::Io(_) | sqlx::Error::PoolClosed | sqlx::Error::Tls(_) | sqlx::Error::WorkerCrashed => {
                Self::Unavailable(e.to_string())
            }
            _ => Self::Database(e),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        Self::Migration(e)
    }
}

/// Kept for the call sites that name it: every `sqlx::Error` is sorted by
/// `From<sqlx::Error> for StoreError`.
pub(crate) fn retryable(e: sqlx::Error) -> StoreError {
    StoreError::from(e)
}

/// A failed COMMIT: a serialisation failure or deadlock means the transaction was rolled back
/// ([`StoreError::Serialization`]); any other failure, a broken connection included, leaves
/// its outcome unknown, so it is never reported as retryable or as "nothing applied"
/// ([`StoreError::Database`]).
pub(crate) fn commit_error(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("40001" | "40P01")) => {
            StoreError::Serialization(db.message().to_owned())
        }
        _ => StoreError::Database(e),
    }
}

/// How long a statement waits for a lock on PostgreSQL (`lock_timeout`) before it fails with
/// [`StoreError::LockTimeout`]: a node stalled inside its write transaction holds the
/// registry's row lock, and every other writer would otherwise wait for it indefinitely.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a PostgreSQL session may sit idle inside a transaction before the server ends it
/// (`idle_in_transaction_session_timeout`), rolling the transaction back and releasing its
/// locks: a node frozen in the middle of a write lets the others write again after this.
pub const IDLE_IN_TRANSACTION_TIMEOUT: Duration = Duration::from_secs(15);

/// How long a caller waits for a connection from the pool before [`StoreError::Unavailable`].
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the first connection at start may take (a server that drops packets never
/// refuses).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// After the pool's wait ran out ([`ACQUIRE_TIMEOUT`]), the operations of [`Store::gated`]
/// fail at once for this long instead of waiting as long again (the HTTP adapter runs a failed
/// write again at once, and the service's writers queue behind one another).
const UNAVAILABLE_HOLD: Duration = Duration::from_secs(2);

/// The fewest and most connections `VOUCH_DATABASE_CONNECTIONS` may ask for: a write
/// transaction holds one while the node reads what other nodes wrote on another.
const PG_CONNECTIONS_RANGE: std::ops::RangeInclusive<u32> = 2..=1000;

/// `VOUCH_DATABASE_CONNECTIONS`, checked: [`PG_CONNECTIONS`] when unset or empty.
pub fn pg_connections(value: Option<&str>) -> Result<u32, StoreError> {
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else { return Ok(PG_CONNECTIONS) };
    v.parse::<u32>().ok().filter(|n| PG_CONNECTIONS_RANGE.contains(n)).ok_or_else(|| StoreError::Setting {
        name: "VOUCH_DATABASE_CONNECTIONS",
        value: v.to_owned(),
        expected: "expected a whole number of connections per node from 2 to 1000",
    })
}

/// Whether a failed migration lost a race with another node applying the same one (with no
/// migration lock, both try): the table or row it creates exists already, the transaction
/// was aborted, or it waited on the other's lock.
fn migration_raced(e: &sqlx::migrate::MigrateError) -> bool {
    use sqlx::migrate::MigrateError;
    let db = match e {
        MigrateError::Execute(e) | MigrateError::ExecuteMigration(e, _) => e,
        _ => return false,
    };
    match db {
        sqlx::Error::Database(d) => matches!(
            d.code().as_deref(),
            // unique_violation (the migrations table's row, or a catalog row of a table created
            // at the same time), duplicate_table, duplicate_object, serialization_failure,
            // deadlock_detected, lock_not_available
            Some("23505" | "42P07" | "42710" | "40001" | "40P01" | "55P03")
        ),
        _ => false,
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
    /// When an operation of [`Store::gated`] last found no connection within
    /// [`ACQUIRE_TIMEOUT`] (`None` once one has succeeded since).
    unavailable_since: Arc<std::sync::Mutex<Option<std::time::Instant>>>,
}

/// Connections to PostgreSQL per node, unless `VOUCH_DATABASE_CONNECTIONS` says otherwise.
const PG_CONNECTIONS: u32 = 16;

/// The connection options for `url`, with the session settings every connection carries:
/// [`LOCK_TIMEOUT`] and [`IDLE_IN_TRANSACTION_TIMEOUT`] (sent at connection start, so they
/// hold from the first statement).
fn pg_options(url: &str) -> Result<PgConnectOptions, StoreError> {
    Ok(PgConnectOptions::from_str(url)?.application_name("vouch").options([
        ("lock_timeout", format!("{}ms", LOCK_TIMEOUT.as_millis())),
        ("idle_in_transaction_session_timeout", format!("{}ms", IDLE_IN_TRANSACTION_TIMEOUT.as_millis())),
    ]))
}

/// Asks the server to probe this connection with TCP keepalives (after 30 s idle, every 10 s,
/// 3 times), so it ends the session of a node whose machine has gone. sqlx sets none on its
/// own side. An engine without these settings keeps its defaults.
async fn keepalives(conn: &mut PgConnection) {
    for sql in ["SET tcp_keepalives_idle = 30", "SET tcp_keepalives_interval = 10", "SET tcp_keepalives_count = 3"] {
        if let Err(e) = sqlx::query(sql).execute(&mut *conn).await {
            tracing::debug!(error = %e, sql, "the database does not take a keepalive setting");
        }
    }
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
        let migrator = sqlx::migrate!("./migrations/sqlite");
        let known = migrator.iter().map(|m| m.version).max().unwrap_or(0);
        match migrator.run(&pool).await {
            Ok(()) => {}
            // A store migrated by a later vouch (an upgrade rolled back without restoring the
            // backup taken before it): said as on PostgreSQL, naming both versions.
            Err(sqlx::migrate::MigrateError::VersionMissing(_)) => {
                let database: i64 =
                    sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success")
                        .fetch_one(&pool)
                        .await?;
                pool.close().await;
                return Err(if database > known {
                    StoreError::SchemaTooNew { database, known }
                } else {
                    StoreError::Migration(sqlx::migrate::MigrateError::VersionMissing(database))
                });
            }
            Err(e) => return Err(e.into()),
        }
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
    /// a migration tries again and finds it applied. A schema newer than this program's
    /// migrations fails with [`StoreError::SchemaTooNew`].
    ///
    /// Every connection waits at most [`LOCK_TIMEOUT`] for a lock and may sit idle in a
    /// transaction for at most [`IDLE_IN_TRANSACTION_TIMEOUT`]; the server probes idle
    /// connections with TCP keepalives where it supports them.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let connections = pg_connections(std::env::var("VOUCH_DATABASE_CONNECTIONS").ok().as_deref())?;
        let options = pg_options(url)?;
        // One connection first, without the pool's retries: the error that stops the start is
        // the database's own (refused, wrong password, no such database), said once.
        let mut first = match tokio::time::timeout(CONNECT_TIMEOUT, sqlx::ConnectOptions::connect(&options)).await {
            Ok(c) => c.map_err(StoreError::Database)?,
            Err(_) => {
                return Err(StoreError::Unavailable(format!(
                    "no answer from the database within {} s",
                    CONNECT_TIMEOUT.as_secs()
                )));
            }
        };
        let mut migrator = sqlx::migrate!("./migrations/postgres");
        migrator.set_locking(false);
        let known = migrator.iter().map(|m| m.version).max().unwrap_or(0);
        let mut attempt = 0;
        loop {
            match migrator.run(&mut first).await {
                Ok(()) => break,
                Err(sqlx::migrate::MigrateError::VersionMissing(_)) => {
                    let database: i64 =
                        sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success")
                            .fetch_one(&mut first)
                            .await?;
                    return Err(if database > known {
                        StoreError::SchemaTooNew { database, known }
                    } else {
                        StoreError::Migration(sqlx::migrate::MigrateError::VersionMissing(database))
                    });
                }
                Err(e) if attempt < 5 && migration_raced(&e) => {
                    attempt += 1;
                    tracing::info!(error = %e, attempt, "schema migration raced another node; trying again");
                    tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
        let (collation,): (String,) =
            sqlx::query_as("SELECT datcollate::text FROM pg_database WHERE datname = current_database()")
                .fetch_one(&mut first)
                .await?;
        if collation != "C" && collation != "POSIX" {
            tracing::warn!(
                collation,
                "the database does not sort text bytewise (LC_COLLATE C): listings may order differently \
                 from the embedded store; see docs/DEPLOYMENT.md"
            );
        }
        let _ = sqlx::Connection::close(first).await;
        let pool = PgPoolOptions::new()
            .max_connections(connections)
            .min_connections(1)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    keepalives(conn).await;
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        Self::with_pools(Engine::Postgres(pool.clone()), Engine::Postgres(pool)).await
    }

    async fn with_pools(pool: Pool, writer: Pool) -> Result<Self, StoreError> {
        let store = Self {
            pool,
            writer,
            checkpointing: Arc::new(AtomicBool::new(false)),
            applied: Arc::new(AtomicU64::new(0)),
            unavailable_since: Arc::default(),
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
        self.begin_write(now, true).await
    }

    /// Like [`Store::begin`], without failing when other nodes have written since this process
    /// last read the events: the caller reads them next, while the transaction's lock keeps
    /// any other writer out, and checks [`Tx::last_seq`] against [`Store::applied`].
    pub async fn begin_locked(&self, now: jiff::Timestamp) -> Result<Tx, StoreError> {
        self.begin_write(now, false).await
    }

    /// Begins a write transaction through [`Store::gated`].
    async fn begin_write(&self, now: jiff::Timestamp, check: bool) -> Result<Tx, StoreError> {
        self.gated(Tx::begin(&self.writer, now, self.applied.clone(), check)).await
    }

    /// Runs `op`, unless an operation through here found no connection within
    /// [`ACQUIRE_TIMEOUT`] less than [`UNAVAILABLE_HOLD`] ago: then it fails at once with
    /// [`StoreError::Unavailable`]. The paths that hold the service's writer lock go through
    /// here (beginning a write, reading other nodes' events), so that while the database is
    /// unreachable one of them waits out the pool's timeout, not each in turn.
    pub(crate) async fn gated<T>(
        &self,
        op: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let since = *self.unavailable_since.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(at) = since.filter(|at| at.elapsed() < UNAVAILABLE_HOLD) {
            return Err(StoreError::Unavailable(format!(
                "no connection to the database within {} s, {} ms ago; not waiting again yet",
                ACQUIRE_TIMEOUT.as_secs(),
                at.elapsed().as_millis()
            )));
        }
        let started = std::time::Instant::now();
        let result = op.await;
        let mut since = self.unavailable_since.lock().unwrap_or_else(|p| p.into_inner());
        match &result {
            Err(StoreError::Unavailable(_)) if started.elapsed() >= ACQUIRE_TIMEOUT => {
                *since = Some(std::time::Instant::now());
            }
            Ok(_) => *since = None,
            Err(_) => {}
        }
        result
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
        for t in VIEW_TABLES {
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

/// The registry's view tables: projections of the events, which
/// [`Store::rebuild_views`] deletes and replays.
pub const VIEW_TABLES: &[&str] = &[
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
];

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    #[test]
    fn the_connection_count_is_checked_and_named() {
        assert_eq!(pg_connections(None).unwrap(), PG_CONNECTIONS);
        assert_eq!(pg_connections(Some("")).unwrap(), PG_CONNECTIONS);
        assert_eq!(pg_connections(Some("2")).unwrap(), 2);
        assert_eq!(pg_connections(Some("64")).unwrap(), 64);
        for bad in ["abc", "1", "0", "-3", "1001", "16.5"] {
            let e = pg_connections(Some(bad)).expect_err(bad).to_string();
            assert!(e.contains("VOUCH_DATABASE_CONNECTIONS") && e.contains("from 2 to 1000"), "{bad}: {e}");
            assert!(e.contains(bad), "{bad}: {e}");
        }
    }

    #[test]
    fn an_unreachable_database_is_unavailable_not_internal() {
        assert!(StoreError::from(sqlx::Error::PoolTimedOut).is_unavailable());
        assert!(StoreError::from(sqlx::Error::PoolClosed).is_unavailable());
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(StoreError::from(sqlx::Error::Io(refused)).is_unavailable());
        let other = StoreError::from(sqlx::Error::RowNotFound);
        assert!(!other.is_unavailable() && !other.is_retryable());
        // A broken COMMIT may have committed: never "unavailable, nothing applied".
        let io = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        assert!(matches!(commit_error(sqlx::Error::Io(io)), StoreError::Database(_)));
    }

    #[test]
    fn a_wrapped_error_is_said_once_in_a_printed_chain() {
        let e = StoreError::from(sqlx::Error::Protocol("bad bytes".into()));
        assert!(std::error::Error::source(&e).is_none());
        assert_eq!(e.to_string(), "database: encountered unexpected or invalid data: bad bytes");
    }

    /// The PostgreSQL server of the tests that need one (`VOUCH_TEST_PG`, as
    /// `scripts/pg-cluster start` prints it); they pass without one.
    fn pg_server() -> Option<String> {
        std::env::var("VOUCH_TEST_PG").ok().filter(|s| !s.is_empty()).map(|s| s.trim_end_matches('/').to_owned())
    }

    /// A new empty database on the test server; its URL.
    async fn fresh_database(server: &str, tag: &str) -> String {
        let name = format!("store_{tag}_{}_{}", std::process::id(), Instant::now().elapsed().as_nanos());
        let mut admin =
            sqlx::ConnectOptions::connect(&PgConnectOptions::from_str(&format!("{server}/postgres")).unwrap())
                .await
                .expect("postgres");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut admin).await.expect("create");
        format!("{server}/{name}")
    }

    #[tokio::test]
    async fn a_writer_behind_a_stalled_lock_holder_gets_a_retryable_error_within_the_lock_timeout() {
        let Some(server) = pg_server() else { return };
        let url = fresh_database(&server, "lock").await;
        let store = Store::connect(&url).await.expect("connect");
        // Another node, stalled inside its write transaction, holding the registry's row.
        let mut stalled = sqlx::ConnectOptions::connect(&PgConnectOptions::from_str(&url).unwrap()).await.unwrap();
        sqlx::query("BEGIN").execute(&mut stalled).await.unwrap();
        sqlx::query("SELECT next_seq FROM registry_state FOR UPDATE").execute(&mut stalled).await.unwrap();
        let start = Instant::now();
        let Err(e) = store.begin_locked(jiff::Timestamp::now()).await else { panic!("the lock is held") };
        let took = start.elapsed();
        assert!(matches!(e, StoreError::LockTimeout(_)) && e.is_retryable(), "{e}");
        assert!(took >= LOCK_TIMEOUT - Duration::from_millis(500) && took < LOCK_TIMEOUT * 2, "{took:?}");
        sqlx::query("ROLLBACK").execute(&mut stalled).await.unwrap();
        store.begin_locked(jiff::Timestamp::now()).await.expect("free again");
        // The server ends a session left idle in a transaction, and with it the lock.
        let (timeout,): (String,) =
            sqlx::query_as("SHOW idle_in_transaction_session_timeout").fetch_one(&mut stalled).await.unwrap();
        assert_eq!(timeout, "0", "a psql-like session has no limit of its own");
        let Engine::Postgres(conn) = &store.pool else { unreachable!() };
        let (timeout,): (String,) =
            sqlx::query_as("SHOW idle_in_transaction_session_timeout").fetch_one(conn).await.unwrap();
        assert_eq!(timeout, "15s");
    }

    #[tokio::test]
    async fn a_schema_newer_than_this_vouch_is_named_and_not_retried() {
        let Some(server) = pg_server() else { return };
        let url = fresh_database(&server, "newer").await;
        Store::connect(&url).await.expect("first start").close().await;
        let mut c = sqlx::ConnectOptions::connect(&PgConnectOptions::from_str(&url).unwrap()).await.unwrap();
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (9999, 'from a later vouch', true, '\\x00', 1)",
        )
        .execute(&mut c)
        .await
        .unwrap();
        let start = Instant::now();
        let Err(e) = Store::connect(&url).await else { panic!("a newer schema must be refused") };
        assert!(start.elapsed() < Duration::from_secs(2), "retried: {:?}", start.elapsed());
        let known = sqlx::migrate!("./migrations/postgres").iter().map(|m| m.version).max().unwrap();
        assert!(matches!(e, StoreError::SchemaTooNew { database: 9999, known: k } if k == known), "{e}");
        let text = e.to_string();
        assert!(text.contains("migration 9999") && text.contains("upgrade this node"), "{text}");
    }

    #[tokio::test]
    async fn a_refused_connection_fails_the_start_at_once_with_its_cause() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let start = Instant::now();
        let Err(e) = Store::connect(&format!("postgres://vouch:secret@127.0.0.1:{port}/vouch")).await else {
            panic!("nothing listens there")
        };
        assert!(start.elapsed() < Duration::from_secs(3), "{:?}", start.elapsed());
        let text = e.to_string();
        assert!(text.to_lowercase().contains("refused"), "{text}");
        assert!(!text.contains("pool timed out"), "{text}");
        assert!(!text.contains("secret"), "{text}");
    }
}
