//! Jobs: what `#[job]` registers, and the types a job fn takes and returns.
//!
//! ```ignore
//! #[job(id = "http-caldotcom", name = "HTTP Cal.com", version = "1.0.0", trigger = caldotcom)]
//! async fn http_caldotcom(request: Request, io: Io, ctx: Context) -> Result<()> {
//!     let body: serde_json::Value = request.json()?;
//!     io.logger.info("Body", &body);
//!     Ok(())
//! }
//! ```
//!
//! | argument | meaning | default |
//! | --- | --- | --- |
//! | `id` | the stable key of the job's runs; unique | required |
//! | `trigger` | the `#[http_endpoint]` item whose requests start the job | required |
//! | `name` | display name | the id |
//! | `version` | `major.minor.patch`, checked at compile time | the package version |
//! | `enabled` | `false`: the job gets no runs | `true` |
//!
//! The fn stays a plain async fn: unit-test it by calling it with values from
//! [`crate::testing`].

mod context;
mod retry;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

pub use self::context::Context;
pub use self::retry::RetryPolicy;
use crate::endpoint::{BoxFuture, Location, Trigger};
use crate::io::Io;
use crate::request::Request;

/// Any error a job returns, boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What a job fn returns: `Result<()>` or `Result<T>` for any `T: Serialize`; `?` works on any
/// error type.
pub type Result<T = (), E = BoxError> = std::result::Result<T, E>;

/// A finished attempt: the output as JSON, or the error.
pub type JobOutput = std::result::Result<serde_json::Value, BoxError>;

/// The plain fn `#[job]` generates around the user's async fn.
pub type JobFn = fn(Request, Io, Context) -> BoxFuture<'static, JobOutput>;

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
    /// Where the job was declared.
    pub location: Location,
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

    fn apply(self, mut job: Job) -> Job {
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

type Handler = Arc<dyn Fn(Request, Io, Context) -> BoxFuture<'static, JobOutput> + Send + Sync>;

/// A job as the runtime runs it: from a `#[job]` registration or built in code.
#[derive(Clone)]
pub struct Job {
    id: &'static str,
    name: &'static str,
    version: &'static str,
    enabled: bool,
    trigger: Trigger,
    location: Location,
    retry: RetryPolicy,
    timeout: Option<Duration>,
    concurrency: Option<usize>,
    handler: Handler,
}

impl Job {
    /// A job built in code, run by `f` for every verified request to `trigger`'s endpoint.
    pub fn new<F, Fut, R>(id: &'static str, trigger: Trigger, f: F) -> Self
    where
        F: Fn(Request, Io, Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: IntoJobResult,
    {
        let f = Arc::new(f);
        Self {
            id,
            name: id,
            version: "0.0.0",
            enabled: true,
            trigger,
            location: Location::unknown(),
            retry: RetryPolicy::default(),
            timeout: None,
            concurrency: None,
            handler: Arc::new(move |request, io, ctx| {
                let f = Arc::clone(&f);
                Box::pin(async move { f(request, io, ctx).await.into_job_result() })
            }),
        }
    }

    /// The job a `#[job]` registration describes.
    pub fn from_registration(registration: &'static JobRegistration) -> Self {
        let run = registration.run;
        let job = Self {
            id: registration.id,
            name: registration.name,
            version: registration.version,
            enabled: registration.enabled,
            trigger: (registration.trigger)(),
            location: registration.location,
            retry: RetryPolicy::default(),
            timeout: None,
            concurrency: None,
            handler: Arc::new(run),
        };
        registration.options.apply(job)
    }

    /// Sets the display name.
    #[must_use]
    pub fn with_name(mut self, name: &'static str) -> Self {
        self.name = name;
        self
    }

    /// Sets the version.
    #[must_use]
    pub fn with_version(mut self, version: &'static str) -> Self {
        self.version = version;
        self
    }

    /// Enables or disables the job.
    #[must_use]
    pub fn with_enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// Sets how failed attempts are retried.
    #[must_use]
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Limits each attempt to `timeout`.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Allows at most `limit` runs of this job at once, across all workers of the store.
    #[must_use]
    pub fn with_concurrency(mut self, limit: usize) -> Self {
        self.concurrency = Some(limit.max(1));
        self
    }

    /// The stable id.
    pub fn id(&self) -> &'static str {
        self.id
    }

    /// The display name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The version.
    pub fn version(&self) -> &'static str {
        self.version
    }

    /// Whether the job gets runs.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// What starts it.
    pub fn trigger(&self) -> &Trigger {
        &self.trigger
    }

    /// Where it was declared.
    pub fn location(&self) -> Location {
        self.location
    }

    /// Its retry policy.
    pub fn retry(&self) -> &RetryPolicy {
        &self.retry
    }

    /// Its per-attempt timeout.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// Its limit of runs at once.
    pub fn concurrency(&self) -> Option<usize> {
        self.concurrency
    }

    /// Runs one attempt.
    pub fn call(&self, request: Request, io: Io, ctx: Context) -> BoxFuture<'static, JobOutput> {
        (self.handler)(request, io, ctx)
    }
}

impl fmt::Debug for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Job")
            .field("id", &self.id)
            .field("version", &self.version)
            .field("enabled", &self.enabled)
            .field("endpoint", &self.trigger.endpoint().id())
            .finish_non_exhaustive()
    }
}

/// What a job fn may return: `Result<T, E>` with `T: Serialize` and `E` convertible into
/// [`BoxError`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a job's return type",
    label = "a job returns `Result<T, E>`",
    note = "write `-> Result<()>` (from the prelude) or any `Result<T, E>` where `T: Serialize` and `E: std::error::Error + Send + Sync + 'static`"
)]
pub trait IntoJobResult {
    /// Converts into the stored output or the error.
    fn into_job_result(self) -> JobOutput;
}

impl<T: Serialize, E: Into<BoxError>> IntoJobResult for std::result::Result<T, E> {
    fn into_job_result(self) -> JobOutput {
        match self {
            Ok(value) => serde_json::to_value(value)
                .map_err(|e| format!("the job's output could not be serialized: {e}").into()),
            Err(error) => Err(error.into()),
        }
    }
}

macro_rules! param {
    ($trait:ident, $ty:ty, $doc:literal, $message:literal, $label:literal) => {
        #[doc = $doc]
        #[diagnostic::on_unimplemented(
            message = $message,
            label = $label,
            note = "a job is `async fn(request: Request, io: Io, ctx: Context) -> Result<()>`"
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
    JobRequest,
    Request,
    "The first parameter of a job: [`Request`].",
    "the first parameter of a job must be `Request`, found `{Self}`",
    "expected `Request`"
);
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
