//! Waiting for a server: [`poll_until`], the deadline loop behind every `wait_*` helper, and
//! [`RunCounts`], the run counts of `GET /api/v1/stats`. The end-to-end tests
//! (`tests/common/mod.rs`) and the bench (`bench/src/main.rs`, with `#[path]`) compile this one
//! file, so it uses nothing but `std` and `serde_json`.

use std::fmt;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

/// How often [`poll_until`] looks again. Each `GET /api/v1/stats` counts every run, so polling
/// much faster would itself load the server.
pub const POLL: Duration = Duration::from_millis(50);

/// Calls `look` every [`POLL`] until it returns `Some`, and returns that value; `None` once
/// `timeout` has passed. `look` runs at least once, the last time at or after the deadline.
pub fn poll_until<T>(timeout: Duration, mut look: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        // The clock is read before looking, so that a slow last look still counts.
        let last = Instant::now() >= deadline;
        if let Some(found) = look() {
            return Some(found);
        }
        if last {
            return None;
        }
        thread::sleep(POLL);
    }
}

/// How many runs are in each status: the `runs` object of a `GET /api/v1/stats` answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunCounts {
    /// Waiting for a worker.
    pub queued: u64,
    /// Held by a worker.
    pub running: u64,
    /// Finished successfully.
    pub succeeded: u64,
    /// Out of attempts.
    pub failed: u64,
    /// Canceled.
    pub canceled: u64,
}

impl RunCounts {
    /// Reads the counts of a `GET /api/v1/stats` answer; `None` unless it has every status.
    pub fn from_stats(stats: &Value) -> Option<Self> {
        let count = |status: &str| stats["runs"][status].as_u64();
        Some(Self {
            queued: count("queued")?,
            running: count("running")?,
            succeeded: count("succeeded")?,
            failed: count("failed")?,
            canceled: count("canceled")?,
        })
    }

    /// Every run.
    pub fn total(&self) -> u64 {
        self.queued + self.running + self.succeeded + self.failed + self.canceled
    }

    /// The runs not finished yet: queued or running.
    pub fn unfinished(&self) -> u64 {
        self.queued + self.running
    }

    /// The runs that finished without succeeding: failed or canceled.
    pub fn unsuccessful(&self) -> u64 {
        self.failed + self.canceled
    }
}

impl fmt::Display for RunCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            queued,
            running,
            succeeded,
            failed,
            canceled,
        } = self;
        write!(
            f,
            "{queued} queued, {running} running, {succeeded} succeeded, {failed} failed, \
             {canceled} canceled"
        )
    }
}
