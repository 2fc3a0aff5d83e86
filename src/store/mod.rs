//! The only place with SQL. One `Store` over SQLite (the embedded default) or PostgreSQL.
//!
//! Every query is written once with `$n` placeholders and runs on both backends through
//! `with_pool!`, which expands the same code for each pool type. Times are unix milliseconds
//! (BIGINT). Each change writes its audit entry in the same transaction, so the audit log never
//! disagrees with the data. Must not know about HTTP, the CLI, key material or plaintext secrets.

mod access;
mod aliases;
mod audit;
mod cases;
mod credentials;
mod exceptions;
mod missing;
mod oauth_apps;
mod originals;
mod reference;
mod rows;
mod schema;
mod sessions;
mod sign_ins;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

pub use access::{TokenRow, UserRow};
pub use aliases::AliasRow;
pub use audit::{AuditEntry, AuditRow};
pub use cases::{
    AttachmentRow, Batch, BatchItem, BatchOutcome, CaseFilter, CaseRow, ExceptionMessage,
    ItemOutcome, NewAttachment, NewCase, TOO_LARGE_KEY_PREFIX,
};
pub use credentials::{
    CredentialRow, Health, LastTest, client_secret_ad, password_ad, refresh_token_ad,
    sign_in_verifier_ad,
};
pub use exceptions::{ExceptionEntry, ExceptionRow, RetryOf};
pub use missing::{MissingMessage, MissingUid, PendingMissing};
pub use oauth_apps::OAuthAppRow;
pub use originals::{CaseContent, NewOriginal, OriginalStats, StoredOriginal};
pub use reference::{ClientRow, ContactRow, NamedKind, NamedRow, RecordRow, Stamps};
pub use sessions::SessionRow;
pub use sign_ins::PendingSignIn;

/// Errors a caller branches on; everything else is `Other`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{message}")]
    Conflict {
        field: &'static str,
        message: String,
    },
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        Self::Other(anyhow::Error::new(e).context("database error"))
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Clone)]
enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// A handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
}

/// Runs `$body` with `$pool` bound to the concrete pool, for either backend:
/// `with_pool!(self, |pool| { … })`. Written like a closure so that rustfmt formats the bodies;
/// the body is expanded once per backend, so one SQL text serves both (`$1` placeholders, which
/// SQLite also reads). SQL that differs between the dialects branches on `self.is_postgres()`.
macro_rules! with_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.backend {
            $crate::store::Backend::Sqlite($pool) => {
                #[allow(unused_imports)]
                use $crate::store::BeginWrite as _;
                $body
            }
            $crate::store::Backend::Postgres($pool) => {
                #[allow(unused_imports)]
                use $crate::store::BeginWrite as _;
                $body
            }
        }
    };
}
pub(crate) use with_pool;

/// Every transaction of the store starts with `begin_write`. On SQLite that is `BEGIN
/// IMMEDIATE`: the write lock is taken first, waiting up to the busy timeout, because a deferred
/// transaction that reads and then writes is refused at once ("database is locked") when another
/// connection writes meanwhile, without waiting.
pub(crate) trait BeginWrite {
    type Db: sqlx::Database;
    fn begin_write(
        &self,
    ) -> impl Future<Output = Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>> + Send;
}

impl BeginWrite for SqlitePool {
    type Db = sqlx::Sqlite;
    fn begin_write(
        &self,
    ) -> impl Future<Output = Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>> + Send
    {
        self.begin_with("BEGIN IMMEDIATE")
    }
}

impl BeginWrite for PgPool {
    type Db = sqlx::Postgres;
    fn begin_write(
        &self,
    ) -> impl Future<Output = Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>> + Send
    {
        self.begin()
    }
}

/// Now, in unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The database holds sealed passwords, cases and mail: its file is created readable by its
/// owner only (SQLite gives the -wal and -shm files the database file's mode), and existing
/// files are tightened to that.
fn owner_only_database_files(path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        if !path.exists() {
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .with_context(|| format!("creating the SQLite database {}", path.display()))?;
        }
        for suffix in ["", "-wal", "-shm"] {
            let file = PathBuf::from(format!("{}{suffix}", path.display()));
            if let Ok(meta) = std::fs::metadata(&file)
                && meta.permissions().mode() & 0o077 != 0
            {
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                    .with_context(|| {
                        format!("making {} readable by its owner only", file.display())
                    })?;
            }
        }
    }
    Ok(())
}

impl Store {
    /// Whether this store is PostgreSQL (for the few statements whose SQL differs).
    pub(crate) fn is_postgres(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }

    /// Opens (creating if needed) the SQLite database at `path`, in WAL mode.
    pub async fn open_sqlite(path: &Path) -> anyhow::Result<Self> {
        owner_only_database_files(path)?;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        // No liveness check before each use: the database is a local file, and the check
        // cost a round trip to the connection's thread for every query.
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .with_context(|| format!("opening the SQLite database {}", path.display()))?;
        let store = Self {
            backend: Backend::Sqlite(pool),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Connects to PostgreSQL (`postgres://…`) or SQLite (`sqlite://path`).
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            return Self::open_sqlite(Path::new(path)).await;
        }
        let options = PgConnectOptions::from_str(url)
            .context("MAILROOM_DATABASE_URL is not a valid postgres:// URL")?;
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .context("connecting to PostgreSQL")?;
        let store = Self {
            backend: Backend::Postgres(pool),
        };
        store.migrate().await?;
        Ok(store)
    }

    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Applies the schema steps not applied yet, each in its own transaction.
    async fn migrate(&self) -> anyhow::Result<()> {
        let dialect = match self.backend {
            Backend::Sqlite(_) => schema::Dialect::Sqlite,
            Backend::Postgres(_) => schema::Dialect::Postgres,
        };
        with_pool!(self, |pool| {
            sqlx::query(
                "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)",
            )
            .execute(pool)
            .await
            .context("creating schema_migrations")?;
            for (name, sql) in schema::MIGRATIONS {
                let done: Option<String> =
                    sqlx::query_scalar("SELECT name FROM schema_migrations WHERE name = $1")
                        .bind(*name)
                        .fetch_optional(pool)
                        .await?;
                if done.is_some() {
                    continue;
                }
                let mut tx = pool.begin_write().await?;
                for statement in schema::statements(sql, dialect) {
                    sqlx::query(sqlx::AssertSqlSafe(statement.as_str()))
                        .execute(&mut *tx)
                        .await
                        .with_context(|| format!("schema step {name}: {statement}"))?;
                }
                sqlx::query("INSERT INTO schema_migrations (name, applied_at) VALUES ($1, $2)")
                    .bind(*name)
                    .bind(now_ms())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
            }
            anyhow::Ok(())
        })
    }

    /// Closes the pool (flushes the SQLite WAL on the last connection).
    pub async fn close(&self) {
        with_pool!(self, |pool| pool.close().await)
    }

    /// For readiness checks.
    pub async fn ping(&self) -> anyhow::Result<()> {
        with_pool!(self, |pool| {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }
}

/// Maps a unique-index violation to a conflict on the field whose key column it names.
fn unique_conflict(e: sqlx::Error, rules: &[(&str, &'static str, &str)]) -> StoreError {
    if let sqlx::Error::Database(db) = &e
        && db.is_unique_violation()
    {
        let text = format!("{} {}", db.message(), db.constraint().unwrap_or(""));
        for (column, field, message) in rules {
            if text.contains(column) {
                return StoreError::Conflict {
                    field,
                    message: (*message).to_string(),
                };
            }
        }
    }
    e.into()
}
