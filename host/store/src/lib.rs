//! Durable storage over sqlx: one [`Store`] for SQLite (the embedded default) and
//! PostgreSQL (several host nodes sharing one database).
//!
//! Both backends go through sqlx's `Any` driver, so each domain function is written
//! once. The SQL is the common subset: `$1` placeholders (SQLite accepts them as
//! numbered parameters), `RETURNING`, `ON CONFLICT`, integer millisecond timestamps.
//! Only the schema differs, in `migrations/sqlite` and `migrations/postgres`.

mod acd_groups;
pub mod agents;
mod connectors;
mod conversations;
mod emails;
pub mod external;
mod interactions;
pub mod messages;
pub mod offering;
mod plugins;
pub mod queue;
mod settings;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// How long a SQLite connection waits for another writer before giving up. Writes
/// here are short transactions; five seconds only runs out when something is stuck.
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// An error from the store. `Duplicate` and `NotFound` are the caller's doing; the
/// rest are the database's.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write, e.g. a second group with the same name.
    #[error("{0} already exists")]
    Duplicate(String),
    #[error("{0} not found")]
    NotFound(String),
    /// The write contradicts what is stored, e.g. deleting a group a connector uses;
    /// the message says what and why in full.
    #[error("{0}")]
    Conflict(String),
    /// A field refers to something that does not exist, e.g. an unknown ACD group id.
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// A stored value that the host cannot read back: a bug or a hand-edited database.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    #[error("unsupported database URL `{0}`: expected sqlite: or postgres://")]
    UnsupportedUrl(String),
    #[error("cannot migrate the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl StoreError {
    /// Maps a unique-constraint violation to [`StoreError::Duplicate`] naming `what`.
    fn unique(what: impl FnOnce() -> String) -> impl FnOnce(sqlx::Error) -> StoreError {
        move |e| match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Duplicate(what()),
            _ => StoreError::Database(e),
        }
    }
}

/// Whether the database refused a write for a foreign key. SQLite reports `ON DELETE
/// RESTRICT` as a constraint raised by a trigger (extended code 1811), which sqlx does
/// not classify as a foreign-key violation; its message still says what it is.
/// A JSON text column read into `T`; a value that does not decode is
/// [`StoreError::Corrupt`] naming `table.column`.
fn decode_json<T: serde::de::DeserializeOwned>(
    row: &sqlx::any::AnyRow,
    table: &str,
    column: &str,
) -> Result<T, StoreError> {
    use sqlx::Row;
    let text: String = row.try_get(column)?;
    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("{table}.{column}: {e}")))
}

/// PostgreSQL chose this transaction as the victim of a deadlock (SQLSTATE 40P01): the
/// same statement, tried again, normally goes through.
fn is_deadlock(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.code().as_deref() == Some("40P01"))
}

fn is_foreign_key_violation(db: &dyn sqlx::error::DatabaseError) -> bool {
    db.is_foreign_key_violation() || db.message().contains("FOREIGN KEY constraint failed")
}

/// A pool of connections to the database, cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    /// Where every write runs, transactions and single statements alike, so that no
    /// write bypasses it. On SQLite, one connection: SQLite has one writer
    /// at a time anyway, and writers queued here wake as soon as the previous commit
    /// is done, where writers on separate connections would sleep in SQLite's busy
    /// handler (1, 2, 5, ... 100 ms steps). On PostgreSQL, the same pool as reads.
    writer: AnyPool,
    backend: Backend,
}

impl Store {
    /// Connects to `url`. A SQLite file is created if it does not exist yet, in WAL
    /// mode so that readers never wait for the writer.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with_busy_timeout(url, SQLITE_BUSY_TIMEOUT).await
    }

    /// [`Store::connect`] with another SQLite busy timeout. A timeout of zero makes a
    /// write that would have waited in SQLite's busy handler fail at once, which is
    /// how the tests prove that no write bypasses the single writer.
    pub(crate) async fn connect_with_busy_timeout(
        url: &str,
        busy_timeout: Duration,
    ) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let (backend, url) = if url.starts_with("sqlite:") {
            (Backend::Sqlite, sqlite_url(url))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, url.to_owned())
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_owned()));
        };
        let options = AnyConnectOptions::from_str(&url)?;
        let pool = pool_options(backend, busy_timeout)
            .connect_with(options.clone())
            .await?;
        if backend == Backend::Sqlite {
            // The journal mode is stored in the file, so setting it once per start is
            // enough; it needs a moment without other connections, which is now.
            pool.execute("PRAGMA journal_mode = WAL").await?;
        }
        let writer = match backend {
            Backend::Sqlite => {
                pool_options(backend, busy_timeout)
                    .max_connections(1)
                    .connect_with(options)
                    .await?
            }
            Backend::Postgres => pool.clone(),
        };
        Ok(Self {
            pool,
            writer,
            backend,
        })
    }

    /// Applies the migrations this database has not seen yet. On PostgreSQL sqlx takes
    /// an advisory lock, so nodes starting together migrate once.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&self.pool).await?;
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Waits for connections in use to be returned, then closes them all.
    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }

    /// Begins a transaction that will write. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`): a transaction that reads first and writes later cannot
    /// upgrade its lock while the ingest writer or the router commits, and would fail
    /// with "database is locked" instead of waiting its turn.
    pub(crate) async fn begin_write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.writer.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }

    /// The connection pools' use, as (pool, open connections, idle connections): the
    /// main pool and, on SQLite, the single writer connection.
    pub fn pool_use(&self) -> Vec<(&'static str, u32, usize)> {
        let mut pools = vec![("main", self.pool.size(), self.pool.num_idle())];
        if self.backend == Backend::Sqlite {
            pools.push(("writer", self.writer.size(), self.writer.num_idle()));
        }
        pools
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

/// Connection settings of either pool.
fn pool_options(backend: Backend, busy_timeout: Duration) -> AnyPoolOptions {
    let options = AnyPoolOptions::new();
    if backend != Backend::Sqlite {
        return options;
    }
    // sqlx already turns foreign keys on and sets a busy timeout for SQLite; stating
    // both here keeps them true if its defaults ever change, as the schema relies on
    // them.
    options.after_connect(move |conn, _| {
        Box::pin(async move {
            conn.execute("PRAGMA foreign_keys = ON").await?;
            conn.execute(sqlx::AssertSqlSafe(format!(
                "PRAGMA busy_timeout = {}",
                busy_timeout.as_millis()
            )))
            .await?;
            Ok(())
        })
    })
}

/// sqlx opens a missing SQLite file only with `mode=rwc`; a first start should create
/// it, so that mode is added unless the URL chooses one.
fn sqlite_url(url: &str) -> String {
    if url.contains("mode=") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

/// Milliseconds since the Unix epoch: the stored form of every timestamp.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_create_the_file_unless_they_choose_a_mode() {
        assert_eq!(sqlite_url("sqlite://a.db"), "sqlite://a.db?mode=rwc");
        assert_eq!(
            sqlite_url("sqlite://a.db?cache=shared"),
            "sqlite://a.db?cache=shared&mode=rwc"
        );
        assert_eq!(sqlite_url("sqlite://a.db?mode=ro"), "sqlite://a.db?mode=ro");
    }

    /// Every write of the store, each run while another write transaction holds the
    /// single writer. With a busy timeout of zero, a write on any other connection
    /// would fail at once with "database is locked"; through the writer, each waits
    /// its turn and succeeds when the transaction commits.
    #[tokio::test]
    async fn every_write_waits_for_the_single_sqlite_writer_not_in_the_busy_handler() {
        use switchyard_domain::acd_groups::{AcdGroupChanges, GroupName, NewAcdGroup};

        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("w.db").display());
        let store = Store::connect_with_busy_timeout(&url, Duration::ZERO)
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let group = |name: &str| NewAcdGroup {
            name: GroupName::parse(name).unwrap(),
            description: String::new(),
            offer_timeout_ms: None,
        };
        let doomed = store.create_acd_group(&group("doomed")).await.unwrap();
        let renamed = store.create_acd_group(&group("renamed")).await.unwrap();

        let held = store.begin_write().await.unwrap();
        let writes = {
            let store = store.clone();
            tokio::spawn(async move {
                let changes = AcdGroupChanges {
                    name: Some(GroupName::parse("renamed-2").unwrap()),
                    description: None,
                    offer_timeout_ms: None,
                };
                vec![
                    store.create_acd_group(&group("new")).await.map(|_| ()),
                    store
                        .update_acd_group(renamed.id, &changes)
                        .await
                        .map(|_| ()),
                    store.delete_acd_group(doomed.id).await,
                    store.claim_unrouted(None, 10).await.map(|_| ()),
                    store.setting_or_insert("test.key", "v").await.map(|_| ()),
                    match store
                        .delete_connector(switchyard_domain::channel::Channel::Sms, 999)
                        .await
                    {
                        Err(StoreError::NotFound(_)) => Ok(()),
                        other => other,
                    },
                ]
            })
        };
        // While the transaction holds the writer, the writes wait for it; on a
        // connection of their own they would have failed by now.
        // (Nothing signals "waiting for the writer", so this bounded wait is the
        // assertion: without the fix the first write fails within microseconds.)
        let mut writes = writes;
        if let Ok(done) = tokio::time::timeout(Duration::from_millis(300), &mut writes).await {
            panic!(
                "the writes did not wait for the writer: {:?}",
                done.unwrap()
            );
        }
        held.commit().await.unwrap();
        for (i, result) in writes.await.unwrap().into_iter().enumerate() {
            assert!(result.is_ok(), "write {i} failed: {result:?}");
        }
    }
}
