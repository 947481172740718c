//! [`StoreError`]: what can go wrong in storage.

use std::path::PathBuf;

/// A store failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database URL names a driver this build does not have.
    #[error(
        "unsupported database URL {url:?}; expected `sqlite://path/to/file.db`, `memory://` or \
         `postgres://user@host:5432/database`"
    )]
    UnsupportedUrl {
        /// The URL, without credentials.
        url: String,
    },
    /// A `postgres://` URL that does not parse, or names a schema that is not a plain
    /// identifier.
    #[error("invalid database URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL, without credentials.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The database's directory could not be created.
    #[error("could not create {}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The database file could not be created.
    #[error("could not create {}", path.display())]
    CreateFile {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The database could not be opened or configured.
    #[error("could not open the database {}", path.display())]
    Open {
        /// The database file (`:memory:` for an in-memory one).
        path: PathBuf,
        /// The cause.
        #[source]
        source: rusqlite::Error,
    },
    /// The database was written by a newer build.
    #[error(
        "the database is at migration {found}, newer than this build's {latest}; \
         run a newer build or point TRIGGER_DATABASE_URL elsewhere"
    )]
    TooNew {
        /// The database's latest migration.
        found: u32,
        /// This build's latest migration.
        latest: u32,
    },
    /// A migration failed; the database is left as it was.
    #[error("migration {version} ({name}) failed")]
    Migration {
        /// Its number.
        version: u32,
        /// Its name.
        name: &'static str,
        /// The cause.
        #[source]
        source: rusqlite::Error,
    },
    /// A PostgreSQL migration failed; the schema is left as it was.
    #[error("PostgreSQL migration {version} ({name}) failed")]
    PostgresMigration {
        /// Its number.
        version: u32,
        /// Its name.
        name: &'static str,
        /// The cause.
        #[source]
        source: tokio_postgres::Error,
    },
    /// PostgreSQL failed, or the connection to it did.
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// No connection to PostgreSQL could be had in time (it is down, unreachable, or every
    /// connection is busy).
    #[error("could not get a PostgreSQL connection")]
    Pool(#[source] deadpool_postgres::PoolError),
    /// A thread the driver needs could not be started.
    #[error("could not start the {name} thread")]
    Thread {
        /// Which thread.
        name: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// SQLite failed.
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The database refused a transaction: another process holds its write lock, the disk is
    /// full, the file became read-only.
    #[error("the database cannot take writes now")]
    Unavailable(#[source] std::sync::Arc<rusqlite::Error>),
    /// A write did not finish within its deadline.
    #[error("the database did not finish the write within {} s", .0.as_secs())]
    Timeout(std::time::Duration),
    /// The attempt's lease was lost (it expired, or the run was canceled): the write is refused.
    #[error("run {run_id} is no longer held by this attempt; its write is refused")]
    LeaseLost {
        /// The run.
        run_id: String,
    },
    /// The writer thread has stopped (the store is being dropped, or the thread died).
    #[error("the database writer has stopped")]
    WriterStopped,
    /// A write panicked (a bug); its transaction was rolled back.
    #[error("a database write panicked and was rolled back")]
    WritePanicked,
    /// A blocking database task panicked or was cancelled.
    #[error("a database task failed")]
    Task(#[from] tokio::task::JoinError),
    /// Stored data does not read back as what was written.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// `Result` with [`StoreError`].
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
