//! Errors a job returns to say what to do with its run: [`Permanent`] (retrying is pointless:
//! the run fails now) and [`RetryAfter`] (the next attempt waits this long).
//!
//! ```ignore
//! if booking.uid.is_empty() {
//!     return Err(Permanent("a booking without a uid".into()).into());
//! }
//! let reply = client.post(url).send().await?;
//! if reply.status() == 429 {
//!     return Err(RetryAfter(Duration::from_secs(30), "rate limited".into()).into());
//! }
//! ```
//!
//! The worker finds them anywhere in the error's chain of sources, so they may be wrapped.

use std::fmt;
use std::time::Duration;

use super::BoxError;
use crate::io::TaskError;
use crate::time::Timestamp;

/// The run fails now, whatever attempts are left, with this error (as Oban's cancel or
/// BullMQ's unrecoverable error): retrying would fail the same way.
#[derive(Debug)]
pub struct Permanent(pub BoxError);

/// The next attempt waits this long instead of the job's backoff, within its attempt limit
/// (as a sender's `Retry-After` would ask), because of this error.
#[derive(Debug)]
pub struct RetryAfter(pub Duration, pub BoxError);

impl fmt::Display for Permanent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for Permanent {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl fmt::Display for RetryAfter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.1, f)
    }
}

impl std::error::Error for RetryAfter {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.1.source()
    }
}

/// What a job's error asks of its run, found in its chain of sources.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Asked {
    /// Nothing: the job's retry policy decides.
    Nothing,
    /// Fail now.
    Permanent,
    /// Retry after this long.
    RetryAfter(Duration),
    /// Wait until then: the error of `io.wait` ([`TaskError::Suspended`]), returned with `?`.
    Suspended(Timestamp),
}

impl Asked {
    /// What `error` (or one of its sources) asks.
    pub(crate) fn of(error: &(dyn std::error::Error + 'static)) -> Self {
        let mut current = Some(error);
        while let Some(error) = current {
            if let Some(TaskError::Suspended { until, .. }) = error.downcast_ref::<TaskError>() {
                return Self::Suspended(*until);
            }
            if error.is::<Permanent>() {
                return Self::Permanent;
            }
            if let Some(RetryAfter(delay, _)) = error.downcast_ref::<RetryAfter>() {
                return Self::RetryAfter(*delay);
            }
            current = error.source();
        }
        Self::Nothing
    }
}
