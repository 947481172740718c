//! Reading runs and log lines a page at a time: what to read, and the pages.

use std::fmt;

use super::{LogRecord, RunRecord, RunStatus};

/// A filter over runs, and where a page starts.
#[derive(Clone, Debug, Default)]
pub struct RunQuery {
    /// Only runs with this status.
    pub status: Option<RunStatus>,
    /// Only runs of this job.
    pub job: Option<String>,
    /// At most this many.
    pub limit: usize,
    /// Only runs older than this run id (the previous page's `next_cursor`).
    pub cursor: Option<String>,
}

/// Where a page of log lines starts: after the line with this id. Shown and read as a
/// decimal number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogCursor(pub i64);

impl fmt::Display for LogCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::str::FromStr for LogCursor {
    type Err = std::num::ParseIntError;

    fn from_str(text: &str) -> std::result::Result<Self, Self::Err> {
        text.parse().map(Self)
    }
}

/// Which log lines of a run to read.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogQuery {
    /// Only lines after this one (the previous page's `next_cursor`); `None`: from the first.
    pub cursor: Option<LogCursor>,
    /// At most this many (at least 1 is read).
    pub limit: usize,
}

/// A page of a run's log lines.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct LogPage {
    /// The lines, oldest first.
    pub logs: Vec<LogRecord>,
    /// Pass as `cursor` for the next page; `None` on the last page.
    pub next_cursor: Option<LogCursor>,
}

/// A page of runs (without their logs).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RunPage {
    /// The runs, newest first.
    pub runs: Vec<RunRecord>,
    /// Pass as `cursor` for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}
