//! Persistence through diesel: embedded SQLite by default, PostgreSQL when the database URL is a
//! `postgres://` URL. One schema for both (see `migrations/`), applied at start and by
//! `adforge migrate`.
//!
//! Handlers never hold a connection across an `.await`: they run a closure on the blocking pool
//! with [`Store::run`].

pub mod advertisers;
pub mod brand_kits;
pub mod campaigns;
pub mod columns;
pub mod creatives;
pub mod crud;
pub mod leases;
pub mod placements;
pub mod product_images;
pub mod schema;
pub mod segments;

use std::path::Path;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

/// The migrations in `migrations/`, compiled into the binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations");

/// A connection to either supported database.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    /// PostgreSQL, for production and shared deployments.
    Postgresql(diesel::PgConnection),
    /// Embedded SQLite, the zero-configuration default.
    Sqlite(diesel::SqliteConnection),
}

/// A pooled connection handed to store closures.
pub type Conn = PooledConnection<ConnectionManager<DbConnection>>;

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A query failed.
    #[error("database error: {0}")]
    Query(#[from] diesel::result::Error),
    /// No connection could be had from the pool.
    #[error("database connection error: {0}")]
    Pool(#[from] diesel::r2d2::PoolError),
    /// Migrations could not be applied.
    #[error("migration error: {0}")]
    Migration(String),
    /// The data directory could not be created.
    #[error("data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The blocking task running the query was cancelled.
    #[error("database task cancelled")]
    Cancelled,
    /// The tenant has no such row (or another tenant owns it).
    #[error("{what} {id} not found")]
    NotFound {
        /// What was looked for, e.g. `campaign`.
        what: &'static str,
        /// The id asked for.
        id: String,
    },
    /// A field of the input refers to something the tenant does not have.
    #[error("{field}: {message}")]
    MissingReference {
        /// Path of the referring field, e.g. `brand_kit_id`.
        field: String,
        /// What is missing, e.g. `no brand kit 42`.
        message: String,
    },
    /// The input breaks a domain rule found while building the row.
    #[error(transparent)]
    Invalid(#[from] crate::domain::FieldError),
    /// A stored value could not be read back.
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

/// A handle on the database: a connection pool plus the kind of backend behind it.
#[derive(Clone)]
pub struct Store {
    pool: Pool<ConnectionManager<DbConnection>>,
    backend: Backend,
}

/// Which database a [`Store`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

/// Sets per-connection SQLite options: foreign keys, WAL and a busy timeout so that concurrent
/// writers wait instead of failing.
#[derive(Debug)]
struct SqliteOptions;

impl CustomizeConnection<DbConnection, diesel::r2d2::Error> for SqliteOptions {
    fn on_acquire(&self, conn: &mut DbConnection) -> Result<(), diesel::r2d2::Error> {
        if let DbConnection::Sqlite(conn) = conn {
            conn.batch_execute(
                "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; \
                 PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;",
            )
            .map_err(diesel::r2d2::Error::QueryError)?;
        }
        Ok(())
    }
}

impl Store {
    /// Opens the database named by `database_url`, or the default SQLite file under `data_dir`
    /// when it is `None`, and applies pending migrations.
    pub fn open(database_url: Option<&str>, data_dir: &Path) -> Result<Self, StoreError> {
        let (url, backend) = match database_url {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                (url.to_string(), Backend::Postgres)
            }
            Some(url) => {
                let path = url.strip_prefix("sqlite://").unwrap_or(url).to_string();
                make_private_database(Path::new(&path))?;
                (path, Backend::Sqlite)
            }
            None => {
                let data_dir_error = |source| StoreError::DataDir {
                    path: data_dir.display().to_string(),
                    source,
                };
                create_private_dir(data_dir).map_err(data_dir_error)?;
                let path = data_dir.join("adforge.sqlite3");
                make_private_database(&path)?;
                (path.display().to_string(), Backend::Sqlite)
            }
        };
        let manager = ConnectionManager::<DbConnection>::new(url);
        let builder = Pool::builder().connection_timeout(Duration::from_secs(10));
        let pool = match backend {
            Backend::Sqlite => builder
                .max_size(8)
                .connection_customizer(Box::new(SqliteOptions))
                .build(manager)?,
            // Connections open on demand: many replicas and workers share one server.
            Backend::Postgres => builder.max_size(16).min_idle(Some(1)).build(manager)?,
        };
        let store = Store { pool, backend };
        store.migrate()?;
        Ok(store)
    }

    /// Applies every pending migration; returns how many ran.
    pub fn migrate(&self) -> Result<usize, StoreError> {
        let mut conn = self.pool.get()?;
        let applied = conn
            .run_pending_migrations(MIGRATIONS)
            .map_err(|e| StoreError::Migration(e.to_string()))?;
        Ok(applied.len())
    }

    /// The backend behind this store.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Takes a connection from the pool, for synchronous callers (CLI, workers).
    pub fn conn(&self) -> Result<Conn, StoreError> {
        Ok(self.pool.get()?)
    }

    /// Runs `f` with a pooled connection on the blocking thread pool.
    pub async fn run<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Conn) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get().map_err(StoreError::from)?;
            f(&mut conn)
        })
        .await
        .map_err(|_| StoreError::Cancelled)?
    }

    /// Checks that the database answers a trivial query.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.run(|conn| {
            conn.batch_execute("SELECT 1")?;
            Ok::<_, StoreError>(())
        })
        .await
    }
}

/// Creates `dir` and its missing parents with mode 0700 (on Unix); an existing directory keeps
/// the mode its operator gave it.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Makes the SQLite file at `path` readable by the server's user only: creates it empty with
/// mode 0600 when missing (SQLite gives its `-wal` and `-shm` files the database file's mode),
/// and narrows an existing file that others could read. URIs and `:memory:` are left alone.
fn make_private_database(path: &Path) -> Result<(), StoreError> {
    let text = path.to_string_lossy();
    if text.is_empty() || text.starts_with(':') || text.starts_with("file:") {
        return Ok(());
    }
    let error = |source| StoreError::DataDir {
        path: path.display().to_string(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(path).map_err(error)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = file.metadata().map_err(error)?.permissions().mode();
        if mode & 0o077 != 0 {
            file.set_permissions(std::fs::Permissions::from_mode(mode & 0o700))
                .map_err(error)?;
        }
    }
    drop(file);
    Ok(())
}

/// The current time in Unix milliseconds, the unit of every time column.
pub fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A new random identifier for a row.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
