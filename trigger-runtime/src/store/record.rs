//! The records the store keeps and the requests it takes.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde::Serialize;

use super::{LogCursor, RunRef, SkippedJobs};
use crate::log::LogLine;
use crate::request::{Request, RequestError};
use crate::time::Timestamp;

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

    /// Parses a lowercase name.
    pub fn parse(name: &str) -> Option<Self> {
        [
            Self::Queued,
            Self::Running,
            Self::Succeeded,
            Self::Failed,
            Self::Canceled,
        ]
        .into_iter()
        .find(|s| s.as_str() == name)
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

/// A request as received: what ingest stores, and what a worker rebuilds the job's
/// [`Request`] from.
#[derive(Clone, Debug)]
pub struct Event {
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
    /// The endpoint's enabled jobs whose filter did not match, each with why.
    pub skipped: SkippedJobs,
}

/// Why a stored [`Event`] cannot be turned back into a [`Request`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// The stored method is not an HTTP method.
    #[error("stored method {0:?} is not an HTTP method")]
    Method(String),
    /// A stored header name or value is not valid in HTTP.
    #[error("stored header {0:?} is not valid in HTTP")]
    Header(String),
    /// The stored URL does not parse.
    #[error(transparent)]
    Request(#[from] RequestError),
}

impl Event {
    /// The event for a verified `request` to `endpoint_id`, with a new `evt_…` id.
    pub fn verified(endpoint_id: &str, request: &Request, received_at: Timestamp) -> Self {
        Self {
            id: crate::id::new_id("evt"),
            endpoint_id: endpoint_id.to_owned(),
            method: request.method().as_str().to_owned(),
            url: request.url().to_owned(),
            headers: request
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), v.as_bytes().to_vec()))
                .collect(),
            body: request.body().clone(),
            received_at,
            verified: true,
            dedup_key: None,
            skipped: SkippedJobs::new(),
        }
    }

    /// The request this event describes, as a job receives it.
    pub fn to_request(&self) -> Result<Request, EventError> {
        let method = Method::from_bytes(self.method.as_bytes())
            .map_err(|_| EventError::Method(self.method.clone()))?;
        let mut headers = HeaderMap::with_capacity(self.headers.len());
        for (name, value) in &self.headers {
            let invalid = || EventError::Header(name.clone());
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid())?;
            let value = HeaderValue::from_bytes(value).map_err(|_| invalid())?;
            headers.append(name, value);
        }
        Ok(Request::new(method, &self.url, headers, self.body.clone())?)
    }
}

/// A stored event.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct EventRecord {
    /// The event as received.
    pub event: Event,
    /// Its runs.
    pub runs: Vec<RunRef>,
}

/// One finished attempt.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
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

/// A task's stored output (see [`Io::run_task`](crate::io::Io::run_task)).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct TaskRecord {
    /// The task's key.
    pub key: String,
    /// What it returned.
    pub output: serde_json::Value,
    /// When it was saved (unknown for tasks saved before the store's migration 6).
    pub saved_at: Option<Timestamp>,
    /// The attempt that saved it (unknown likewise).
    pub attempt: Option<u32>,
}

/// A stored log line.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct LogRecord {
    /// The attempt that logged it.
    pub attempt: u32,
    /// The line.
    pub line: LogLine,
}

/// A stored run.
#[derive(Clone, Debug)]
#[non_exhaustive]
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
    /// The epoch of the current or last lease (see [`Lease`]).
    pub lease_epoch: u64,
    /// The job's output, once succeeded.
    pub output: Option<serde_json::Value>,
    /// The last error.
    pub error: Option<String>,
    /// Every finished attempt.
    pub history: Vec<AttemptRecord>,
    /// The first log lines, oldest first: at most [`RUN_LOGS_PAGE`](super::RUN_LOGS_PAGE)
    /// ([`StoreDriver::logs`](super::StoreDriver::logs) reads the others).
    pub logs: Vec<LogRecord>,
    /// Where the next page of log lines starts, when there are more than [`Self::logs`].
    pub logs_next_cursor: Option<LogCursor>,
    /// Its tasks' outputs in the order they were saved: at most
    /// [`RUN_TASKS_SHOWN`](super::RUN_TASKS_SHOWN) (the first ones).
    pub tasks: Vec<TaskRecord>,
}

/// What a claim gives a worker, and what every write on behalf of the attempt names: the
/// attempt number (recorded with its logs and outcome) and the lease's epoch (which fences the
/// write: a worker that lost its lease writes nothing, even if the run's attempt number came
/// back to the same value after a release or a wait).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lease {
    /// The attempt, from 1.
    pub attempt: u32,
    /// Grows by one at every claim of the run; never repeats.
    pub epoch: u64,
}

/// A run a worker claimed, with its event.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ClaimedRun {
    /// The run, with `attempts` already counting this attempt.
    pub run: RunRecord,
    /// The event that started it.
    pub event: Event,
    /// The lease: what the attempt's writes name.
    pub lease: Lease,
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
    /// It called `io.wait`: it is queued again for `until` without counting the attempt.
    Suspended {
        /// When to resume.
        until: Timestamp,
    },
}

/// What a worker asks for when it claims runs.
#[derive(Clone, Debug)]
pub struct ClaimRequest {
    /// At most this many runs.
    pub limit: usize,
    /// How long the claim holds each run without a heartbeat.
    pub lease: Duration,
    /// Jobs with a limit on how many of their runs may run at once.
    pub job_limits: std::sync::Arc<[(String, usize)]>,
}

impl ClaimRequest {
    /// A claim of up to `limit` runs for `lease`, with no per-job limits.
    pub fn new(limit: usize, lease: Duration) -> Self {
        Self {
            limit,
            lease,
            job_limits: std::sync::Arc::from([]),
        }
    }

    /// The limit for `job`, if it has one.
    pub fn job_limit(&self, job: &str) -> Option<usize> {
        self.job_limits
            .iter()
            .find(|(j, _)| j == job)
            .map(|(_, n)| *n)
    }
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, HeaderValue, Method};

    use super::{Event, EventError};
    use crate::request::Request;
    use crate::time::Timestamp;

    #[test]
    fn an_event_gives_back_the_request_it_was_made_from() {
        let mut headers = HeaderMap::new();
        headers.append("x-sig", HeaderValue::from_static("abc"));
        headers.append("x-many", HeaderValue::from_static("1"));
        headers.append("x-many", HeaderValue::from_static("2"));
        let body: Vec<u8> = (0..=255u8).collect();
        let request =
            Request::new(Method::PUT, "http://h/endpoints/ep?a=1", headers, body).unwrap();
        let event = Event::verified("ep", &request, Timestamp::from_unix_millis(5));
        assert!(event.id.starts_with("evt_") && event.verified);
        let back = event.to_request().unwrap();
        assert_eq!(back.method(), Method::PUT);
        assert_eq!(back.url(), "http://h/endpoints/ep?a=1");
        assert_eq!(back.query().get("a"), Some("1"));
        assert_eq!(back.body(), request.body());
        let many: Vec<_> = back.headers().get_all("x-many").iter().collect();
        assert_eq!(many, ["1", "2"]);
    }

    #[test]
    fn a_corrupt_event_is_an_error_not_a_panic() {
        let request = Request::new(Method::POST, "/p", HeaderMap::new(), "").unwrap();
        let mut event = Event::verified("ep", &request, Timestamp::from_unix_millis(0));
        event.headers.push(("bad name".to_owned(), b"v".to_vec()));
        assert!(matches!(event.to_request(), Err(EventError::Header(n)) if n == "bad name"));
        event.headers.clear();
        event.method = "NOT A METHOD".to_owned();
        assert!(matches!(event.to_request(), Err(EventError::Method(_))));
    }
}
