//! [`Context`]: who and where a run is.

use std::sync::Arc;

use crate::time::Timestamp;

#[derive(Debug)]
struct Inner {
    run_id: String,
    attempt: u32,
    job_id: String,
    job_name: String,
    job_version: String,
    endpoint_id: String,
    event_id: String,
    environment: String,
    received_at: Timestamp,
}

/// Facts about the current run: its id and attempt, the job, the endpoint and event that
/// started it, and the environment (`TRIGGER_ENV`, default `dev`).
#[derive(Clone, Debug)]
pub struct Context(Arc<Inner>);

impl Context {
    /// Builds a context; the worker does this for every attempt, tests use
    /// [`crate::testing::TestContext`].
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        run_id: impl Into<String>,
        attempt: u32,
        job: (&str, &str, &str),
        endpoint_id: impl Into<String>,
        event_id: impl Into<String>,
        environment: impl Into<String>,
        received_at: Timestamp,
    ) -> Self {
        let (job_id, job_name, job_version) = job;
        Self(Arc::new(Inner {
            run_id: run_id.into(),
            attempt,
            job_id: job_id.to_owned(),
            job_name: job_name.to_owned(),
            job_version: job_version.to_owned(),
            endpoint_id: endpoint_id.into(),
            event_id: event_id.into(),
            environment: environment.into(),
            received_at,
        }))
    }

    /// The run's id (`run_…`).
    pub fn run_id(&self) -> &str {
        &self.0.run_id
    }

    /// The attempt number, from 1.
    pub fn attempt(&self) -> u32 {
        self.0.attempt
    }

    /// The job's stable id.
    pub fn job_id(&self) -> &str {
        &self.0.job_id
    }

    /// The job's display name.
    pub fn job_name(&self) -> &str {
        &self.0.job_name
    }

    /// The job's version.
    pub fn job_version(&self) -> &str {
        &self.0.job_version
    }

    /// The endpoint that received the request.
    pub fn endpoint_id(&self) -> &str {
        &self.0.endpoint_id
    }

    /// The stored event's id (`evt_…`).
    pub fn event_id(&self) -> &str {
        &self.0.event_id
    }

    /// The environment name (`TRIGGER_ENV`, default `dev`).
    pub fn environment(&self) -> &str {
        &self.0.environment
    }

    /// When the request was received.
    pub fn received_at(&self) -> Timestamp {
        self.0.received_at
    }
}
