//! Storage: one object-safe [`StoreDriver`] trait behind the cloneable [`Store`] handle.
//!
//! An ingest is one call ([`StoreDriver::ingest`]) that stores the event and all its runs
//! together, so a durable driver commits them in one transaction before the `200`. Workers
//! claim runs with a lease ([`StoreDriver::claim`]) and finish them with the attempt number as
//! a fencing token, so a worker whose lease expired cannot overwrite a newer attempt.

mod memory;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;

pub use self::memory::MemoryStore;
use crate::io::LogLine;
use crate::time::Timestamp;

/// A store failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database URL names a driver this build does not have.
    #[error("unsupported database URL {url:?}; expected `memory://`")]
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

/// A run's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Waiting for a worker (first attempt or a retry).
    Queued,
    /// Held by a worker.
    Running,
    /// Finished successfully.
    Succeeded,
    /// Out of attempts.
    Failed,
    /// Canceled.
    Canceled,
}

impl RunStatus {
    /// The lowercase name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Canceled => "canceled",
        }
    }

    /// Whether the run will not change any more.
    pub const fn is_final(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Canceled)
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request as received, to be stored.
#[derive(Clone, Debug)]
pub struct NewEvent {
    /// `evt_…`.
    pub id: String,
    /// The endpoint that received it.
    pub endpoint_id: String,
    /// The HTTP method.
    pub method: String,
    /// The URL as received.
    pub url: String,
    /// Every header, in order, values as raw bytes.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The raw body.
    pub body: Bytes,
    /// When it arrived.
    pub received_at: Timestamp,
    /// Whether its signature was verified.
    pub verified: bool,
    /// The sender's idempotency key, if it sent one.
    pub dedup_key: Option<String>,
}

/// A stored event.
#[derive(Clone, Debug)]
pub struct EventRecord {
    /// The event as received.
    pub event: NewEvent,
    /// Its runs.
    pub runs: Vec<RunRef>,
}

/// A run to create with an event.
#[derive(Clone, Debug)]
pub struct NewRun {
    /// `run_…`.
    pub id: String,
    /// The job's id.
    pub job_id: String,
    /// The job's version when the run was created.
    pub job_version: String,
    /// Attempts allowed.
    pub max_attempts: u32,
}

/// A run's id and job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RunRef {
    /// `run_…`.
    pub id: String,
    /// The job's id.
    pub job: String,
}

/// The result of an ingest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Ingested {
    /// The stored event (the original one for a duplicate).
    pub event_id: String,
    /// The event's runs.
    pub runs: Vec<RunRef>,
    /// Whether the delivery repeated an idempotency key already seen for this endpoint.
    pub duplicate: bool,
}

/// One finished attempt.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AttemptRecord {
    /// From 1.
    pub attempt: u32,
    /// When it started.
    pub started_at: Timestamp,
    /// When it ended.
    pub finished_at: Timestamp,
    /// Why it failed, if it did.
    pub error: Option<String>,
}

/// A stored log line.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LogRecord {
    /// The attempt that logged it.
    pub attempt: u32,
    /// The line.
    #[serde(flatten)]
    pub line: LogLine,
}

/// A stored run.
#[derive(Clone, Debug, Serialize)]
pub struct RunRecord {
    /// `run_…`.
    pub id: String,
    /// The job's id.
    pub job: String,
    /// The job's version when the run was created.
    pub job_version: String,
    /// The event that started it.
    pub event_id: String,
    /// The endpoint that received the event.
    pub endpoint_id: String,
    /// Its status.
    pub status: RunStatus,
    /// Attempts started so far.
    pub attempts: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it may next be claimed.
    pub run_at: Timestamp,
    /// When the current or last attempt started.
    pub started_at: Option<Timestamp>,
    /// When it reached a final status.
    pub finished_at: Option<Timestamp>,
    /// Until when the current worker holds it.
    pub lease_until: Option<Timestamp>,
    /// The job's output, once succeeded.
    pub output: Option<serde_json::Value>,
    /// The last error.
    pub error: Option<String>,
    /// Every finished attempt.
    pub history: Vec<AttemptRecord>,
    /// Every log line.
    pub logs: Vec<LogRecord>,
}

/// A run a worker claimed, with its event.
#[derive(Clone, Debug)]
pub struct ClaimedRun {
    /// The run, with `attempts` already counting this attempt.
    pub run: RunRecord,
    /// The event that started it.
    pub event: NewEvent,
}

/// How an attempt ended.
#[derive(Clone, Debug)]
pub enum AttemptOutcome {
    /// The job returned `Ok`.
    Succeeded(serde_json::Value),
    /// It failed and is retried at `at`.
    Retry {
        /// The error text.
        error: String,
        /// When to try again.
        at: Timestamp,
    },
    /// It failed for the last time.
    Failed {
        /// The error text.
        error: String,
    },
}

/// A storage backend. Object-safe: the runtime holds it as `Arc<dyn StoreDriver>`.
#[async_trait::async_trait]
pub trait StoreDriver: Send + Sync + 'static {
    /// A short name (`"memory"`).
    fn kind(&self) -> &'static str;

    /// Stores the event and its runs together, or, when `event.dedup_key` was seen before for
    /// the endpoint, stores nothing and returns the original event with `duplicate: true`.
    /// Returns only once both are durable.
    async fn ingest(&self, event: NewEvent, runs: Vec<NewRun>) -> Result<Ingested>;

    /// Claims up to `limit` runs that are due (queued with `run_at` passed, or running with an
    /// expired lease) for `lease`, counting a new attempt on each.
    async fn claim(&self, worker: &str, limit: usize, lease: Duration) -> Result<Vec<ClaimedRun>>;

    /// Extends the lease of attempt `attempt`; `false` if the run is no longer held by it.
    async fn heartbeat(&self, run_id: &str, attempt: u32, lease: Duration) -> Result<bool>;

    /// Records how attempt `attempt` ended; `false` (and no change) if it no longer holds the run.
    async fn finish(&self, run_id: &str, attempt: u32, outcome: AttemptOutcome) -> Result<bool>;

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

    /// Opens the store a URL names: `memory://`.
    pub async fn open(url: &str) -> Result<Self> {
        match url.split_once("://") {
            Some(("memory", _)) => Ok(Self::memory()),
            _ => Err(StoreError::UnsupportedUrl {
                url: redact_url(url),
            }),
        }
    }

    /// The driver.
    pub fn driver(&self) -> &dyn StoreDriver {
        &*self.inner
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
