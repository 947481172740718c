//! [`RunCounts`]: how many runs are in each status; [`QueueCounts`]: how many are not finished.

use serde::Serialize;

use super::RunStatus;

/// How many runs are in each status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
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
    /// Adds `n` runs with `status`.
    pub fn add(&mut self, status: RunStatus, n: u64) {
        match status {
            RunStatus::Queued => self.queued += n,
            RunStatus::Running => self.running += n,
            RunStatus::Succeeded => self.succeeded += n,
            RunStatus::Failed => self.failed += n,
            RunStatus::Canceled => self.canceled += n,
        }
    }

    /// How many runs there are in all.
    pub fn total(&self) -> u64 {
        self.queued + self.running + self.succeeded + self.failed + self.canceled
    }

    /// The count of `status`.
    pub fn get(&self, status: RunStatus) -> u64 {
        match status {
            RunStatus::Queued => self.queued,
            RunStatus::Running => self.running,
            RunStatus::Succeeded => self.succeeded,
            RunStatus::Failed => self.failed,
            RunStatus::Canceled => self.canceled,
        }
    }
}

/// How many runs are not finished: the queue a worker pool or an autoscaler watches. Counted
/// through the indexes of queued and of running runs, so it costs the same with a thousand
/// finished runs kept or millions, unlike [`RunCounts`], which reads every run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct QueueCounts {
    /// Waiting for a worker (due now or later: retries and waits included).
    pub queued: u64,
    /// Held by a worker.
    pub running: u64,
}
