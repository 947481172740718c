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
mod extract;
pub(crate) mod outcome;
pub(crate) mod registration;
mod retry;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

pub use self::context::Context;
pub use self::extract::{ExtractError, Form, FromRequest, Json, Query, Text};
pub use self::outcome::{Permanent, RetryAfter};
pub use self::retry::RetryPolicy;
use crate::endpoint::{BoxFuture, Location, Trigger};
use crate::filter::FilterError;
use crate::io::Io;
use crate::request::Request;
use crate::store::NewRun;

/// Any error a job returns, boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What a job fn returns: `Result<()>` or `Result<T>` for any `T: Serialize`; `?` works on any
/// error type.
pub type Result<T = (), E = BoxError> = std::result::Result<T, E>;

/// A finished attempt: the output as JSON, or the error.
pub type JobOutput = std::result::Result<serde_json::Value, BoxError>;

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
    example: Option<registration::Example>,
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
            example: None,
            handler: Arc::new(move |request, io, ctx| {
                let f = Arc::clone(&f);
                Box::pin(async move { f(request, io, ctx).await.into_job_result() })
            }),
        }
    }

    /// The job a `#[job]` registration describes; an error if its filter does not compile
    /// (the macro checks it, so this happens only if the two crates disagree).
    pub(crate) fn from_registration(
        registration: &'static registration::JobRegistration,
    ) -> Result<Self, FilterError> {
        let run = registration.run;
        let mut trigger = (registration.trigger)();
        if let Some(filter) = registration.filter {
            trigger = trigger.filter(filter())?;
        }
        let job = Self {
            id: registration.id,
            name: registration.name,
            version: registration.version,
            enabled: registration.enabled,
            trigger,
            location: registration.location,
            retry: RetryPolicy::default(),
            timeout: None,
            concurrency: None,
            handler: Arc::new(run),
            example: registration.example,
        };
        Ok(registration.options.apply(job))
    }

    /// Gives a job built in code an example payload (what `#[job(example = ...)]` gives a
    /// declared one); its first parameter is the whole request, so any body fits.
    #[must_use]
    pub fn with_example(mut self, body: &'static str) -> Self {
        self.example = Some(registration::Example {
            body,
            fits: |_| Ok(()),
        });
        self
    }

    /// The example payload of `#[job(example = "file.json")]`: what `send --job` and the
    /// dashboard's test button send, and what `TestRequest::example` builds.
    pub fn example(&self) -> Option<&'static str> {
        self.example.map(|example| example.body)
    }

    /// The request the example stands for: a JSON `POST` to the job's endpoint.
    pub fn example_request(&self) -> Option<Request> {
        let body = self.example()?;
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        let url = format!(
            "http://localhost/endpoints/{}",
            self.trigger.endpoint().id()
        );
        Request::new(
            http::Method::POST,
            &url,
            headers,
            bytes::Bytes::from_static(body.as_bytes()),
        )
        .ok()
    }

    /// Whether the example fits the job's first parameter; `Ok` without an example.
    pub(crate) fn check_example(&self) -> Result<(), ExtractError> {
        match (self.example, self.example_request()) {
            (Some(example), Some(request)) => (example.fits)(&request),
            _ => Ok(()),
        }
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

    /// A new queued run of this job.
    pub(crate) fn new_run(&self) -> NewRun {
        NewRun {
            id: crate::id::new_id("run"),
            job_id: self.id.to_owned(),
            job_version: self.version.to_owned(),
            max_attempts: self.retry.max_attempts(),
            lease: None,
        }
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
