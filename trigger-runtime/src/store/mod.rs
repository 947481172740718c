//! Storage: one object-safe [`StoreDriver`] trait behind the cloneable [`Store`] handle.
//!
//! An ingest is one call ([`StoreDriver::ingest`]) that stores the event and all its runs
//! together, so a durable driver commits them in one transaction before the `200`. Workers
//! claim runs with a lease ([`StoreDriver::claim`]) and finish them with the attempt number as
//! a fencing token, so a worker whose lease expired cannot overwrite a newer attempt.
//!
//! The run state machine is written once, in SQL, in the SQLite driver; `memory://` is the
//! same driver on an in-memory database, so tests exercise exactly what production runs.

mod codec;
mod counts;
mod error;
mod ingested;
mod postgres;
mod query;
mod record;
mod skipped;
mod sqlite;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub use self::counts::{QueueCounts, RunCounts};
pub use self::error::{Result, StoreError};
pub(crate) use self::ingested::FirstLease;
pub use self::ingested::{Ingested, NewRun, RunRef};
pub use self::postgres::{DEFAULT_SCHEMA, PostgresStore};
pub use self::query::{LogCursor, LogPage, LogQuery, RunPage, RunQuery};
pub use self::record::{
    AttemptOutcome, AttemptRecord, ClaimRequest, ClaimedRun, Event, EventError, EventRecord, Lease,
    LogRecord, RunRecord, RunStatus, TaskRecord,
};
pub use self::skipped::{SkippedJob, SkippedJobs};
pub use self::sqlite::SqliteStore;
use crate::log::LogLine;
use crate::time::Timestamp;

/// What one [`StoreDriver::prune`] call did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Pruned {
    /// Events deleted, with everything of theirs.
    pub events: usize,
    /// Whether there may be more to delete now: call again.
    pub more: bool,
}

/// The error recorded for an attempt whose worker stopped renewing its lease.
pub const LOST_LEASE: &str =
    "the attempt lost its lease: its worker stopped (crashed, was killed or hung)";

/// The most log lines [`StoreDriver::run`] returns with a run; the others are read a page at a
/// time with [`StoreDriver::logs`].
pub const RUN_LOGS_PAGE: usize = 500;

/// The most task outputs [`StoreDriver::run`] returns with a run (the first saved).
pub const RUN_TASKS_SHOWN: usize = 500;

/// What kind of storage a driver keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreKind {
    /// In memory: nothing survives the process.
    Memory,
    /// One SQLite file.
    Sqlite,
    /// A PostgreSQL schema, which several servers may share.
    Postgres,
}

impl StoreKind {
    /// Whether what is stored survives a restart.
    pub const fn is_persistent(self) -> bool {
        !matches!(self, Self::Memory)
    }
}

/// A storage backend. Object-safe: the runtime holds it as `Arc<dyn StoreDriver>`.
#[async_trait::async_trait]
pub trait StoreDriver: Send + Sync + 'static {
    /// What kind of storage this is.
    fn kind(&self) -> StoreKind;

    /// Notified when another server (or this one) committed runs that are due: the worker
    /// claims at once instead of at its next poll. `None` (the default) for a store only this
    /// process writes, whose ingests wake the worker directly.
    fn wakeups(&self) -> Option<Arc<tokio::sync::Notify>> {
        None
    }

    /// `Ok` when the store can take a write now (a small durable write, through the same path
    /// as ingests): what `/readyz` answers.
    async fn ready(&self) -> Result<()>;

    /// Stores the event and its runs together, or, when `event.dedup_key` was seen before for
    /// the endpoint with the same body, stores nothing and returns the original event with
    /// `duplicate: true`. A known key with another body is stored as a new, unkeyed event (and
    /// a warning is logged). Returns only once both are durable.
    async fn ingest(&self, event: Event, runs: Vec<NewRun>) -> Result<Ingested>;

    /// Claims up to `claim.limit` runs that are due (queued with `run_at` passed, or running
    /// with an expired lease) for `claim.lease`, counting a new attempt on each, and keeping
    /// each job of `claim.job_limits` under its limit of running runs.
    async fn claim(&self, claim: &ClaimRequest) -> Result<Vec<ClaimedRun>>;

    /// Extends `lease` by `duration`; `false` if the run is no longer held by it.
    async fn heartbeat(&self, run_id: &str, lease: Lease, duration: Duration) -> Result<bool>;

    /// Records how the attempt of `lease` ended, with its last log lines, in one write; `false`
    /// (and no change, not even the lines) if the attempt no longer holds the run.
    async fn finish(
        &self,
        run_id: &str,
        lease: Lease,
        lines: Vec<LogLine>,
        outcome: AttemptOutcome,
    ) -> Result<bool>;

    /// Gives an unfinished attempt back (shutdown): the run is queued again without counting
    /// the attempt as failed.
    async fn release(&self, run_id: &str, lease: Lease) -> Result<()>;

    /// Appends log lines of attempt `attempt` while it runs.
    async fn append_logs(&self, run_id: &str, lease: Lease, lines: Vec<LogLine>) -> Result<()>;

    /// A run, with its history, its first [`RUN_LOGS_PAGE`] log lines (and where the next
    /// page starts, if there are more) and its first [`RUN_TASKS_SHOWN`] task outputs in the
    /// order they were saved.
    async fn run(&self, id: &str) -> Result<Option<RunRecord>>;

    /// A page of a run's log lines, oldest first: up to `query.limit` (at least 1) after
    /// `query.cursor`; `None` if there is no such run.
    async fn logs(&self, run_id: &str, query: &LogQuery) -> Result<Option<LogPage>>;

    /// An event, with its runs.
    async fn event(&self, id: &str) -> Result<Option<EventRecord>>;

    /// The stored secret of an endpoint, storing `candidate` first if it has none.
    async fn endpoint_secret(&self, endpoint_id: &str, candidate: String) -> Result<String>;

    /// When the earliest queued run becomes due, if any run is queued.
    async fn next_due(&self) -> Result<Option<Timestamp>>;

    /// How many runs are in each status: a pass over every run.
    async fn run_counts(&self) -> Result<RunCounts>;

    /// How many runs are queued and running, through their indexes: cheap at any size.
    async fn queue_counts(&self) -> Result<QueueCounts>;

    /// How many runs each job has in each status, by job id (jobs with no runs are absent).
    async fn job_run_counts(&self) -> Result<Vec<(String, RunCounts)>>;

    /// Runs, newest first, filtered, one page at a time.
    async fn list_runs(&self, query: &RunQuery) -> Result<RunPage>;

    /// Cancels a queued or running run; returns its status afterwards (`None`: no such run).
    /// A running attempt notices at its next heartbeat and stops.
    async fn cancel(&self, run_id: &str) -> Result<Option<RunStatus>>;

    /// Adds runs to a stored event (replays), replacing its skipped jobs when `skipped` is
    /// given (the filters were evaluated again); `None` if there is no such event.
    async fn add_runs(
        &self,
        event_id: &str,
        runs: Vec<NewRun>,
        skipped: Option<SkippedJobs>,
    ) -> Result<Option<Vec<RunRef>>>;

    /// Deletes up to `limit` events received before `before`, oldest first, with their runs,
    /// attempts, logs and task outputs; an event with a run that is queued (or waiting) or
    /// running, or that was created at or after `before` (a replay), is kept.
    async fn prune(&self, before: Timestamp, limit: usize) -> Result<Pruned>;

    /// The stored output of task `key` of a run.
    async fn task(&self, run_id: &str, key: &str) -> Result<Option<serde_json::Value>>;

    /// Stores the output of task `key` of a run, durably, before the task's caller goes on,
    /// unless one is stored already; returns the stored output (the first one wins). Refused
    /// with [`StoreError::LeaseLost`] when `lease` no longer holds the run.
    async fn save_task(
        &self,
        run_id: &str,
        lease: Lease,
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

    /// A fresh in-memory store (SQLite in memory; nothing survives the process).
    pub fn memory() -> Result<Self> {
        Ok(Self::new(SqliteStore::memory()?))
    }

    /// Opens the store a URL names: `sqlite://relative/path.db`, `sqlite:///absolute/path.db`,
    /// `memory://` (`sqlite://:memory:` is the same) or `postgres://user@host:5432/database`
    /// (`postgresql://` too; see [`PostgresStore::connect`] for its parameters).
    pub async fn open(url: &str) -> Result<Self> {
        match url.split_once("://") {
            Some(("memory", _) | ("sqlite", ":memory:")) => Self::memory(),
            Some(("postgres" | "postgresql", _)) => {
                Ok(Self::new(PostgresStore::connect(url).await?))
            }
            Some(("sqlite", path)) if !path.is_empty() => {
                let path = path.to_owned();
                let store = tokio::task::spawn_blocking(move || SqliteStore::open(path)).await??;
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
