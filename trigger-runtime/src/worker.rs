//! [`Worker`]: claims due runs with a lease and executes them, at most `concurrency` at once.
//!
//! The loop waits on shutdown, a wake-up from ingest, a poll tick or a finished run; each
//! attempt runs in its own task so that a panic is caught, renews its lease while it runs and
//! records its outcome with its lease's epoch as a fencing token. On shutdown the worker stops
//! claiming, gives running attempts a grace period, then releases the rest for the next start.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::{JoinError, JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

mod backoff;

use self::backoff::{ClaimBackoff, jitter};
use crate::error::error_chain;
use crate::io::{Io, LogLimits, LogLine, LogSink, Logger, TaskError};
use crate::job::{Context, Job, JobOutput};
use crate::log::LogBuffer;
use crate::metrics::AttemptMetrics;
use crate::registry::Registry;
use crate::store::{AttemptOutcome, ClaimRequest, ClaimedRun, Lease, RunRecord, Store};
use crate::time::Timestamp;

/// How a worker runs.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// Attempts that run at once.
    pub concurrency: usize,
    /// How often to look for due runs without a wake-up (retries that became due).
    pub poll_interval: Duration,
    /// How long a claim holds a run without a heartbeat.
    pub lease: Duration,
    /// How long running attempts may finish after shutdown begins.
    pub shutdown_grace: Duration,
    /// The environment name given to jobs.
    pub environment: String,
    /// How many log lines and bytes of each attempt are stored.
    pub log_limits: LogLimits,
    /// How long a run of a job this build does not have (during a rolling deploy) waits for a
    /// server that has it, counted from the run's creation; then it fails.
    pub unknown_job_wait: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            concurrency: 64,
            poll_interval: Duration::from_millis(500),
            lease: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(30),
            environment: "dev".to_owned(),
            log_limits: LogLimits::default(),
            unknown_job_wait: Duration::from_secs(600),
        }
    }
}

/// Executes runs from a store.
#[derive(Clone, Debug)]
pub struct Worker {
    store: Store,
    registry: Arc<Registry>,
    config: WorkerConfig,
    wake: Arc<Notify>,
    in_flight: Arc<Mutex<HashMap<String, Lease>>>,
    /// The jobs with a concurrency limit, computed once: every claim sends them.
    job_limits: Arc<[(String, usize)]>,
    metrics: Arc<AttemptMetrics>,
    backoff: Arc<Mutex<ClaimBackoff>>,
}

impl Worker {
    /// A worker for the jobs of `registry`.
    pub fn new(store: Store, registry: Arc<Registry>, config: WorkerConfig) -> Self {
        Self {
            store,
            config,
            wake: Arc::new(Notify::new()),
            in_flight: Arc::default(),
            metrics: Arc::default(),
            backoff: Arc::default(),
            job_limits: registry
                .jobs()
                .filter_map(|job| job.concurrency().map(|n| (job.id().to_owned(), n)))
                .collect(),
            registry,
        }
    }

    /// What the attempts of this worker did, for `/metrics`.
    pub fn metrics(&self) -> &AttemptMetrics {
        &self.metrics
    }

    /// Wakes the worker to look for runs now (ingest calls this after a commit).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Executes every run that is due now, up to `concurrency` at a time, and returns how many
    /// attempts it executed. For tests that want no background task.
    pub async fn run_once(&self) -> usize {
        let semaphore = Arc::new(Semaphore::new(self.config.concurrency.max(1)));
        let mut tasks = JoinSet::new();
        let mut executed = 0;
        loop {
            executed += self.fill(&semaphore, &mut tasks, true).await;
            if tasks.join_next().await.is_none() {
                break;
            }
        }
        executed
    }

    /// Runs until `shutdown` is cancelled, then drains within the grace period.
    pub async fn run(&self, shutdown: CancellationToken) {
        let semaphore = Arc::new(Semaphore::new(self.config.concurrency.max(1)));
        let mut tasks = JoinSet::new();
        let mut tick = tokio::time::interval(
            self.config
                .poll_interval
                .max(std::time::Duration::from_millis(1)),
        );
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Runs committed by other servers (a shared store announces them).
        let announced = self.store.wakeups();
        let announcement = || async {
            match &announced {
                Some(notify) => notify.notified().await,
                None => std::future::pending().await,
            }
        };
        loop {
            // A tick claims whatever is free; other wake-ups claim in batches (see `fill`).
            let force = tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                () = self.wake.notified() => false,
                () = announcement() => false,
                _ = tick.tick() => true,
                Some(_) = tasks.join_next(), if !tasks.is_empty() => false,
            };
            self.fill(&semaphore, &mut tasks, force).await;
        }
        self.drain(tasks).await;
    }

    /// Claims as many due runs as there are free permits and spawns them; returns how many.
    ///
    /// While runs are in flight and `force` is false, it waits until half the permits are free,
    /// so that a busy worker claims many runs per store write rather than one per finished run;
    /// the poll tick forces a claim, so a free permit waits at most one tick.
    async fn fill(
        &self,
        semaphore: &Arc<Semaphore>,
        tasks: &mut JoinSet<()>,
        force: bool,
    ) -> usize {
        let concurrency = self.config.concurrency.max(1);
        let batch = (concurrency / 2).max(1);
        let mut spawned = 0;
        if self.lock_backoff().waiting() {
            return 0;
        }
        loop {
            let available = semaphore.available_permits();
            let busy = concurrency.saturating_sub(available);
            if available == 0 || (!force && busy > 0 && available < batch) {
                break;
            }
            let claimed = match self.store.claim(&self.claim_request(available)).await {
                Ok(claimed) => {
                    let mut backoff = self.lock_backoff();
                    if backoff.failures > 0 {
                        tracing::info!(failures = backoff.failures, "claiming runs again");
                        *backoff = ClaimBackoff::default();
                    }
                    claimed
                }
                Err(error) => {
                    let delay = self.lock_backoff().failed();
                    tracing::warn!(error = %error_chain(&error), "could not claim runs; trying again in {delay:?}");
                    break;
                }
            };
            let count = claimed.len();
            for claim in claimed {
                let Ok(permit) = Arc::clone(semaphore).try_acquire_owned() else {
                    // Only this loop takes permits, so this does not happen; give the run back.
                    let _ = self.store.release(&claim.run.id, claim.lease).await;
                    continue;
                };
                self.lock_in_flight()
                    .insert(claim.run.id.clone(), claim.lease);
                let worker = self.clone();
                let span = tracing::info_span!(
                    "run",
                    run = %claim.run.id,
                    job = %claim.run.job,
                    attempt = claim.lease.attempt,
                    event = %claim.event.id,
                );
                tasks.spawn(async move { worker.execute(claim, permit).await }.instrument(span));
                spawned += 1;
            }
            if count < available {
                break;
            }
        }
        spawned
    }

    async fn drain(&self, mut tasks: JoinSet<()>) {
        let grace = self.config.shutdown_grace;
        let drained =
            tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
        }
        let unfinished: Vec<(String, Lease)> = self.lock_in_flight().drain().collect();
        for (run_id, lease) in unfinished {
            tracing::warn!(run = %run_id, attempt = lease.attempt, "run did not finish within the shutdown grace; released for the next start");
            if let Err(error) = self.store.release(&run_id, lease).await {
                tracing::error!(run = %run_id, error = %error_chain(&error), "could not release run; it is claimed again when its lease expires");
            }
        }
    }

    fn claim_request(&self, limit: usize) -> ClaimRequest {
        let mut claim = ClaimRequest::new(limit, self.config.lease);
        claim.job_limits = Arc::clone(&self.job_limits);
        claim
    }

    fn lock_backoff(&self) -> std::sync::MutexGuard<'_, ClaimBackoff> {
        self.backoff
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lock_in_flight(&self) -> std::sync::MutexGuard<'_, HashMap<String, Lease>> {
        self.in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn execute(&self, claim: ClaimedRun, permit: OwnedSemaphorePermit) {
        let run_id = claim.run.id.clone();
        let lease = claim.lease;
        let logs = Arc::new(LogBuffer::new(self.config.log_limits));
        let started = std::time::Instant::now();
        let outcome = match self.registry.job(&claim.run.job) {
            Some(job) => self.attempt(job, &claim, &logs).await,
            None => Some(self.unknown_job(&claim.run)),
        };
        let took = started.elapsed();
        let name = outcome.as_ref().map_or("lost", outcome_name);
        if let Some(outcome) = outcome {
            self.record(&run_id, lease, logs.finish(), outcome).await;
        }
        self.metrics.record(&claim.run.job, name, took);
        let mut in_flight = self.lock_in_flight();
        // The same worker may have claimed the run again (this attempt lost its lease): leave
        // the newer attempt's entry alone.
        if in_flight.get(&run_id) == Some(&lease) {
            in_flight.remove(&run_id);
        }
        drop(in_flight);
        drop(permit);
    }

    /// A run of a job this build does not have: given back, uncounted, for a server that has
    /// it (a rolling deploy), until [`WorkerConfig::unknown_job_wait`] has passed since the run
    /// was created; then failed.
    fn unknown_job(&self, run: &RunRecord) -> AttemptOutcome {
        let wait = self.config.unknown_job_wait;
        let now = Timestamp::now();
        if now >= run.created_at.saturating_add(wait) {
            tracing::error!(run = %run.id, job = %run.job, "no server ran this job within {wait:?}; the run fails");
            return AttemptOutcome::Failed {
                error: format!(
                    "job {:?} is not registered in this build, and no server that has it ran it within {wait:?}",
                    run.job
                ),
            };
        }
        tracing::warn!(run = %run.id, job = %run.job, "job not registered in this build; leaving the run to a server that has it");
        let again = (wait / 10).clamp(Duration::from_millis(10), Duration::from_secs(5));
        AttemptOutcome::Suspended {
            until: now.saturating_add(again),
        }
    }

    /// Stores the attempt's last log lines and its outcome together.
    async fn record(
        &self,
        run_id: &str,
        lease: Lease,
        lines: Vec<LogLine>,
        outcome: AttemptOutcome,
    ) {
        let attempt = lease.attempt;
        let status = outcome_name(&outcome);
        match self.store.finish(run_id, lease, lines, outcome).await {
            Ok(true) => tracing::debug!(run = %run_id, attempt, status, "attempt finished"),
            Ok(false) => {
                tracing::warn!(run = %run_id, attempt, "attempt finished after losing its lease; result discarded")
            }
            Err(error) => {
                tracing::error!(run = %run_id, attempt, error = %error_chain(&error), "could not record the attempt; it runs again when its lease expires")
            }
        }
    }

    /// Runs one attempt; `None` when the attempt lost its lease and must not record anything.
    async fn attempt(
        &self,
        job: &Job,
        claim: &ClaimedRun,
        logs: &Arc<LogBuffer>,
    ) -> Option<AttemptOutcome> {
        let run = &claim.run;
        let request = match claim.event.to_request() {
            Ok(request) => request,
            Err(error) => {
                return Some(AttemptOutcome::Failed {
                    error: format!("stored event is unreadable: {error}"),
                });
            }
        };
        let logger = Logger::new(Arc::clone(logs) as Arc<dyn LogSink>, job.id(), &run.id);
        let io = Io::with_store(logger, Some((self.store.clone(), claim.lease)), &run.id);
        let ctx = Context::new(
            run.id.as_str(),
            run.attempts,
            (job.id(), job.name(), run.job_version.as_str()),
            claim.event.endpoint_id.as_str(),
            claim.event.id.as_str(),
            self.config.environment.as_str(),
            claim.event.received_at,
        );
        tracing::debug!(run = %run.id, job = job.id(), attempt = run.attempts, "attempt started");
        let task = AbortOnDrop(tokio::spawn(job.call(request, io, ctx).in_current_span()));
        let ended = self.supervise(job, claim, task, logs).await?;
        Some(judge(job, run, ended))
    }

    /// Waits for the attempt to end, renewing its lease and flushing its log lines every
    /// third of the lease; `None` when the lease was lost (the task is then aborted).
    async fn supervise(
        &self,
        job: &Job,
        claim: &ClaimedRun,
        mut task: AbortOnDrop<JobOutput>,
        logs: &LogBuffer,
    ) -> Option<Ended> {
        let (run, lease) = (&claim.run, claim.lease);
        let deadline = job.timeout().map(|t| tokio::time::Instant::now() + t);
        let every = (self.config.lease / 3).max(Duration::from_millis(10));
        let mut heartbeat = tokio::time::interval(every);
        let mut renewed = tokio::time::Instant::now();
        heartbeat.tick().await;
        loop {
            tokio::select! {
                joined = &mut task.0 => return Some(Ended::Joined(joined)),
                () = sleep_until(deadline) => return Some(Ended::TimedOut),
                _ = heartbeat.tick() => {
                    self.flush(&run.id, lease, logs).await;
                    match self.store.heartbeat(&run.id, lease, self.config.lease).await {
                        Ok(true) => renewed = tokio::time::Instant::now(),
                        Ok(false) => {
                            tracing::warn!(run = %run.id, "lost the lease; abandoning the attempt");
                            return None;
                        }
                        Err(error) => {
                            tracing::warn!(run = %run.id, error = %error_chain(&error), "heartbeat failed");
                            if renewed.elapsed() >= self.config.lease {
                                tracing::warn!(run = %run.id, "lease expired without a heartbeat; abandoning the attempt");
                                return None;
                            }
                        }
                    }
                }
            }
        }
    }

    async fn flush(&self, run_id: &str, lease: Lease, logs: &LogBuffer) {
        let lines = logs.take();
        if lines.is_empty() {
            return;
        }
        if let Err(error) = self.store.append_logs(run_id, lease, lines).await {
            tracing::warn!(run = %run_id, error = %error_chain(&error), "could not store log lines");
        }
    }
}

/// How an attempt ended, as logs and metrics name it.
fn outcome_name(outcome: &AttemptOutcome) -> &'static str {
    match outcome {
        AttemptOutcome::Succeeded(_) => "succeeded",
        AttemptOutcome::Retry { .. } => "retrying",
        AttemptOutcome::Failed { .. } => "failed",
        AttemptOutcome::Suspended { .. } => "suspended",
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How an attempt's task ended.
enum Ended {
    /// It returned, panicked or was cancelled.
    Joined(Result<JobOutput, JoinError>),
    /// It ran past the job's timeout.
    TimedOut,
}

/// What an ended attempt means for its run: success, a wait, a retry with backoff, or the
/// final failure.
fn judge(job: &Job, run: &RunRecord, ended: Ended) -> AttemptOutcome {
    let error = match ended {
        Ended::Joined(Ok(Ok(output))) => return AttemptOutcome::Succeeded(output),
        Ended::Joined(Ok(Err(error))) => {
            // A job that returns the error of `io.wait` (with `?`) waits; one that handled it
            // and went on is judged by what it returned.
            if let Some(until) = suspension(&*error) {
                tracing::debug!(run = %run.id, %until, "run waits");
                return AttemptOutcome::Suspended { until };
            }
            error_chain(&*error)
        }
        Ended::Joined(Err(join)) if join.is_panic() => {
            format!("job panicked: {}", panic_message(join.into_panic()))
        }
        Ended::Joined(Err(_)) => "job task was cancelled".to_owned(),
        Ended::TimedOut => format!(
            "attempt timed out after {:?}",
            job.timeout().unwrap_or_default()
        ),
    };
    tracing::warn!(run = %run.id, job = job.id(), attempt = run.attempts, %error, "attempt failed");
    let policy = job.retry();
    if run.attempts >= run.max_attempts.min(policy.max_attempts()) {
        AttemptOutcome::Failed { error }
    } else {
        let delay = policy.backoff(run.attempts, jitter());
        AttemptOutcome::Retry {
            error,
            at: Timestamp::now().saturating_add(delay),
        }
    }
}

/// When the run asked to resume, if `error` is (or wraps) [`TaskError::Suspended`].
fn suspension(error: &(dyn std::error::Error + 'static)) -> Option<Timestamp> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(TaskError::Suspended { until, .. }) = error.downcast_ref::<TaskError>() {
            return Some(*until);
        }
        current = error.source();
    }
    None
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned())
}
