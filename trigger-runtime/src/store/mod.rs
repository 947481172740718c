//! Storage: one object-safe [`StoreDriver`] trait behind the cloneable [`Store`] handle.
//!
//! An ingest is one call ([`StoreDriver::ingest`]) that stores the event and all its runs
//! together, so a durable driver commits them in one transaction before the `200`. Workers
//! claim runs with a lease ([`StoreDriver::claim`]) and finish them with the attempt number as
//! a fencing token, so a worker whose lease expired cannot overwrite a newer attempt.

mod memory;
mod record;
#[cfg(feature = "sqlite")]
mod sqlite;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub use self::memory::MemoryStore;
pub use self::record::{
    AttemptOutcome, AttemptRecord, ClaimRequest, ClaimedRun, EventRecord, Ingested, LogRecord,
    NewEvent, NewRun, RunCounts, RunPage, RunQuery, RunRecord, RunRef, RunStatus,
};
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use self::sqlite::SqliteStore;
use crate::io::LogLine;
use crate::time::Timestamp;

/// The error recorded for an attempt whose worker stopped renewing its lease.
pub const LOST_LEASE: &str =
    "the attempt lost its lease: its worker stopped (crashed, was killed or hung)";

/// A store failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database URL names a driver this build does not have.
    #[error("unsupported database URL {url:?}; expected `sqlite://path/to/file.db` or `memory://`")]
    UnsupportedUrl {
        /// The URL, without credentials.
        url: String,
    },
    /// The driver failed.
    #[error("store failure: {0}")]
    Backend(String),
}

/// `Result` with [`StoreError`].
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A storage backend. Object-safe: the runtime holds it as `Arc<dyn StoreDriver>`.
#[async_trait::async_trait]
pub trait StoreDriver: Send + Sync + 'static {
    /// A short name (`"memory"`).
    fn kind(&self) -> &'static str;

    /// Stores the event and its runs together, or, when `event.dedup_key` was seen before for
    /// the endpoint, stores nothing and returns the original event with `duplicate: true`.
    /// Returns only once both are durable.
    async fn ingest(&self, event: NewEvent, runs: Vec<NewRun>) -> Result<Ingested>;

    /// Claims up to `claim.limit` runs that are due (queued with `run_at` passed, or running
    /// with an expired lease) for `claim.lease`, counting a new attempt on each, and keeping
    /// each job of `claim.job_limits` under its limit of running runs.
    async fn claim(&self, claim: &ClaimRequest) -> Result<Vec<ClaimedRun>>;

    /// Extends the lease of attempt `attempt`; `false` if the run is no longer held by it.
    async fn heartbeat(&self, run_id: &str, attempt: u32, lease: Duration) -> Result<bool>;

    /// Records how attempt `attempt` ended; `false` (and no change) if it no longer holds the run.
    async fn finish(&self, run_id: &str, attempt: u32, outcome: AttemptOutcome) -> Result<bool>;

    /// Appends an attempt's last log lines and records how it ended, in one write where the
    /// driver can (the default calls [`append_logs`](Self::append_logs) then
    /// [`finish`](Self::finish)).
    async fn finish_with_logs(
        &self,
        run_id: &str,
        attempt: u32,
        lines: Vec<LogLine>,
        outcome: AttemptOutcome,
    ) -> Result<bool> {
        if !lines.is_empty() {
            self.append_logs(run_id, attempt, lines).await?;
        }
        self.finish(run_id, attempt, outcome).await
    }

    /// Gives an unfinished attempt back (shutdown): the run is queued again without counting
    /// the attempt as failed.
    async fn release(&self, run_id: &str, attempt: u32) -> Result<()>;

    /// Appends log lines to a run.
    async fn append_logs(&self, run_id: &str, attempt: u32, lines: Vec<LogLine>) -> Result<()>;

    /// A run, with its history and logs.
    async fn run(&self, id: &str) -> Result<Option<RunRecord>>;

    /// An event, with its runs.
    async fn event(&self, id: &str) -> Result<Option<EventRecord>>;

    /// The stored secret of an endpoint, storing `candidate` first if it has none.
    async fn endpoint_secret(&self, endpoint_id: &str, candidate: String) -> Result<String>;

    /// When the earliest queued run becomes due, if any run is queued.
    async fn next_due(&self) -> Result<Option<Timestamp>>;

    /// How many runs are in each status.
    async fn run_counts(&self) -> Result<RunCounts>;

    /// Runs, newest first, filtered, one page at a time.
    async fn list_runs(&self, query: &RunQuery) -> Result<RunPage>;

    /// Cancels a queued or running run; returns its status afterwards (`None`: no such run).
    /// A running attempt notices at its next heartbeat and stops.
    async fn cancel(&self, run_id: &str) -> Result<Option<RunStatus>>;

    /// Adds runs to a stored event (replays); `None` if there is no such event.
    async fn add_runs(&self, event_id: &str, runs: Vec<NewRun>) -> Result<Option<Vec<RunRef>>>;

    /// The stored output of task `key` of a run.
    async fn task(&self, run_id: &str, key: &str) -> Result<Option<serde_json::Value>>;

    /// Stores the output of task `key` of a run, durably, before the task's caller goes on,
    /// unless one is stored already; returns the stored output (the first one wins).
    async fn save_task(
        &self,
        run_id: &str,
        key: &str,
        output: serde_json::Value,
    ) -> Result<serde_json::Value>;
}

/// The store handle: cheap to clone, shared by ingest, workers and the API.
#[derive(Clone)]
pub struct Store {
    inner: Arc<dyn StoreDriver>,
}

impl Store {
    /// Wraps a driver.
    pub fn new(driver: impl StoreDriver) -> Self {
        Self {
            inner: Arc::new(driver),
        }
    }

    /// A fresh in-memory store (nothing survives the process).
    pub fn memory() -> Self {
        Self::new(MemoryStore::default())
    }

    /// Opens the store a URL names: `sqlite://relative/path.db`, `sqlite:///absolute/path.db`
    /// or `memory://`.
    pub async fn open(url: &str) -> Result<Self> {
        match url.split_once("://") {
            Some(("memory", _)) => Ok(Self::memory()),
            #[cfg(feature = "sqlite")]
            Some(("sqlite", path)) if !path.is_empty() => {
                let path = path.to_owned();
                let store = tokio::task::spawn_blocking(move || SqliteStore::open(path))
                    .await
                    .map_err(|e| StoreError::Backend(format!("opening SQLite failed: {e}")))??;
                Ok(Self::new(store))
            }
            _ => Err(StoreError::UnsupportedUrl {
                url: redact_url(url),
            }),
        }
    }
}

impl std::ops::Deref for Store {
    type Target = dyn StoreDriver;

    fn deref(&self) -> &Self::Target {
        &*self.inner
    }
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("kind", &self.inner.kind())
            .finish_non_exhaustive()
    }
}

/// A database URL with any password replaced by `****`, safe to show.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:****@{host}{path}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:pw@h:5432/db"),
            "postgres://u:****@h:5432/db"
        );
        assert_eq!(
            redact_url("sqlite://.trigger/t.db"),
            "sqlite://.trigger/t.db"
        );
    }
}
