//! What `#[job]` expands to: the registration and the parameter checks. Reachable only through
//! `trigger_runtime::__private`.

use std::time::Duration;

use super::{Job, JobOutput, RetryPolicy};
use crate::endpoint::BoxFuture;
use crate::endpoint::{Location, Trigger};
use crate::io::Io;
use crate::job::{Context, ExtractError};
use crate::request::Request;

/// The plain fn `#[job]` generates around the user's async fn.
pub(crate) type JobFn = fn(Request, Io, Context) -> BoxFuture<'static, JobOutput>;

/// A link-time registration of a job, emitted by `#[job]`.
#[derive(Debug)]
pub struct JobRegistration {
    /// The stable id.
    pub id: &'static str,
    /// Display name.
    pub name: &'static str,
    /// `major.minor.patch`.
    pub version: &'static str,
    /// Whether the job gets runs.
    pub enabled: bool,
    /// Resolves what `trigger = ...` names (a fn, so a wrong name is a type error on that name).
    pub trigger: fn() -> Trigger,
    /// Runs one attempt.
    pub run: JobFn,
    /// Retries, timeout and concurrency.
    pub options: JobOptions,
    /// The `filter = {...}` argument, checked at compile time by the same code that compiles
    /// it at start-up.
    pub filter: Option<fn() -> serde_json::Value>,
    /// Where the job was declared.
    pub location: Location,
    /// The `example = "file.json"` argument.
    pub example: Option<Example>,
}

/// A job's example payload (`#[job(example = "file.json")]`): the file's text, read at compile
/// time and checked to be JSON there, and whether it fits the job's first parameter, checked
/// when the registry is built.
#[derive(Clone, Copy, Debug)]
pub struct Example {
    /// The file's text.
    pub body: &'static str,
    /// Whether a request with this body fits the job's first parameter.
    pub fits: fn(&Request) -> Result<(), ExtractError>,
}

/// The `retries`, `backoff`, `timeout` and `concurrency` arguments of `#[job]`, as registered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JobOptions {
    max_attempts: Option<u32>,
    backoff_ms: Option<(u64, u64)>,
    timeout_ms: Option<u64>,
    concurrency: Option<u32>,
}

impl JobOptions {
    /// No options: the defaults.
    pub const fn new() -> Self {
        Self {
            max_attempts: None,
            backoff_ms: None,
            timeout_ms: None,
            concurrency: None,
        }
    }

    /// At most `n` attempts.
    #[must_use]
    pub const fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = Some(n);
        self
    }

    /// Backoff from `min` to `max` milliseconds.
    #[must_use]
    pub const fn backoff_ms(mut self, min: u64, max: u64) -> Self {
        self.backoff_ms = Some((min, max));
        self
    }

    /// Each attempt may take at most `ms` milliseconds.
    #[must_use]
    pub const fn timeout_ms(mut self, ms: u64) -> Self {
        self.timeout_ms = Some(ms);
        self
    }

    /// At most `n` runs of the job at once.
    #[must_use]
    pub const fn concurrency(mut self, n: u32) -> Self {
        self.concurrency = Some(n);
        self
    }

    pub(super) fn apply(self, mut job: Job) -> Job {
        let mut retry = job.retry;
        if let Some(n) = self.max_attempts {
            retry = RetryPolicy::attempts(n).with_backoff(retry.min_backoff(), retry.max_backoff());
        }
        if let Some((min, max)) = self.backoff_ms {
            retry = retry.with_backoff(Duration::from_millis(min), Duration::from_millis(max));
        }
        job.retry = retry;
        job.timeout = self.timeout_ms.map(Duration::from_millis);
        job.concurrency = self.concurrency.map(|n| n as usize);
        job
    }
}

inventory::collect!(JobRegistration);

macro_rules! param {
    ($trait:ident, $ty:ty, $doc:literal, $message:literal, $label:literal) => {
        #[doc = $doc]
        #[diagnostic::on_unimplemented(
            message = $message,
            label = $label,
            note = "a job is `async fn(request: Request, io: Io, ctx: Context) -> Result<()>`, or takes `Json<T>`, `Form<T>`, `Query<T>`, `Text` or `Bytes` first"
        )]
        pub trait $trait {
            /// Takes the value the worker passes in this position.
            fn from_job(value: $ty) -> Self;
        }

        impl $trait for $ty {
            fn from_job(value: $ty) -> Self {
                value
            }
        }
    };
}

param!(
    JobIo,
    Io,
    "The second parameter of a job: [`Io`].",
    "the second parameter of a job must be `Io`, found `{Self}`",
    "expected `Io`"
);
param!(
    JobContext,
    Context,
    "The third parameter of a job: [`Context`].",
    "the third parameter of a job must be `Context`, found `{Self}`",
    "expected `Context`"
);
