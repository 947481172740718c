//! [`Worker`]: claims due runs with a lease and executes them, at most `concurrency` at once.
//!
//! The loop waits on shutdown, a run an ingest created claimed for one of its free slots
//! (see [`NewRun::lease`](crate::store::NewRun::lease)), a wake-up from ingest, a poll tick
//! or a finished run; each attempt runs in its own task so that a panic is caught, renews its
//! lease while it runs and records its outcome with its lease's epoch as a fencing token. On
//! shutdown the worker stops claiming, gives running attempts a grace period, then releases the
//! rest for the next start.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::{JoinError, JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

mod attempt;
mod backoff;
mod handoff;

use self::backoff::{ClaimBackoff, jitter};
use self::handoff::Handoff;
pub(crate) use self::handoff::Slot;
use crate::error::error_chain;
use crate::io::{Io, LogLimits, LogLine, LogSink, Logger};
use crate::job::{Context, Job, JobOutput};
use crate::log::LogBuffer;
use crate::metrics::AttemptMetrics;
use crate::registry::Registry;
use crate::request::Request;
use crate::store::{AttemptOutcome, ClaimRequest, ClaimedRun, Lease, RunRecord, Store};
use crate::time::Timestamp;

/// How a worker runs.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// Attempts that run at once (256 by default).
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
            concurrency: 256,
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
    handoff: Arc<Handoff>,
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
            handoff: Arc::default(),
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
        self.handoff.mark();
        self.wake.notify_one();
    }

    /// A free slot of the running worker for a run of `job` that ingest is about to create:
    /// the run is then created claimed for [`lease`](Self::lease) and handed over with
    /// [`start`](Self::start), without a claim. `None` when the worker loop is not running,
    /// has no free slot, or may have due runs queued while slots are scarce (they go first; see
    /// [`Handoff`]), or when `job` has a concurrency limit (which claims keep).
    pub(crate) fn reserve(&self, job: &Job) -> Option<Slot> {
        if job.concurrency().is_some() {
            return None;
        }
        self.handoff.reserve()
    }

    /// How long a claim holds a run.
    pub(crate) fn lease(&self) -> Duration {
        self.config.lease
    }

    /// Executes `claim`, a run created claimed for `slot` from the webhook `request`. If the
    /// loop stopped since the slot was taken, the run is released for the next start instead.
    pub(crate) fn start(&self, claim: ClaimedRun, request: Request, slot: Slot) {
        if let Some(claim) = self.handoff.hand(claim, request, slot) {
            let store = self.store.clone();
            tokio::spawn(async move {
                if let Err(error) = store.release(&claim.run.id, claim.lease).await {
                    tracing::error!(run = %claim.run.id, error = %error_chain(&error), "could not release a run created while the worker stopped; it is claimed again when its lease expires");
                }
            });
        }
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
        let slots = self.config.concurrency.max(1);
        let semaphore = Arc::new(Semaphore::new(slots));
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
        let mut handed = self.handoff.open(Arc::clone(&semaphore), slots);
        loop {
            // A tick claims whatever is free; other wake-ups claim in batches (see `fill`).
            let force = tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                Some(run) = handed.recv() => {
                    self.spawn(run.claim, Some(run.request), run.permit, &mut tasks, "ingest");
                    join_ended(&mut tasks);
                    continue;
                }
                () = self.wake.notified() => false,
                () = announcement() => {
                    self.handoff.mark();
                    false
                }
                _ = tick.tick() => {
                    // Retries may have become due.
                    self.handoff.mark();
                    true
                }
                Some(_) = tasks.join_next(), if !tasks.is_empty() => false,
            };
            join_ended(&mut tasks);
            self.fill(&semaphore, &mut tasks, force).await;
        }
        // Runs committed claimed before the handoff closed run like the others.
        self.handoff.close();
        handed.close();
        while let Ok(run) = handed.try_recv() {
            self.spawn(
                run.claim,
                Some(run.request),
                run.permit,
                &mut tasks,
                "ingest",
            );
        }
        self.drain(tasks).await;
    }

    /// Claims as many due runs as there are free permits and spawns them; returns how many.
    ///
    /// While runs are in flight and `force` is false, it waits until half the permits are free,
    /// so that a busy worker claims many runs per store write rather than one per finished run,
    /// and it claims nothing while no run may have become due since a claim found the queue
    /// empty (see [`Handoff`]); the poll tick forces a claim, so a free permit waits at most one
    /// tick.
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
            // Unforced, a claim is skipped when it would find nothing: runs handed over at
            // ingest end without one claim each.
            let wait = self.handoff.quiet() || (busy > 0 && available < batch);
            if available == 0 || (!force && wait) {
                break;
            }
            let seen = self.handoff.seen();
            let claimed = match self.store.claim(&self.claim_request(available)).await {
                Ok(claimed) => {
                    let mut backoff = self.lock_backoff();
                    if backoff.failures > 0 {
                        tracing::info!(failures = backoff.failures, "claiming runs again");
                        *backoff = ClaimBackoff::default();
                    }
                    if claimed.len() < available {
                        self.handoff.drained(seen);
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
                    // An ingest took the permit meanwhile (see `reserve`): give the run back,
                    // for the next claim to find.
                    let _ = self.store.release(&claim.run.id, claim.lease).await;
                    self.handoff.mark();
                    continue;
                };
                self.spawn(claim, None, permit, tasks, "claim");
                spawned += 1;
            }
            if count < available {
                break;
            }
        }
        spawned
    }

    /// Executes `claim`, got `via` (see [`STARTED_VIA`](crate::metrics::STARTED_VIA)), in its
    /// own task, holding `permit`; its job gets `request`, the one its ingest verified, when
    /// it was handed over, else one rebuilt from its stored event.
    fn spawn(
        &self,
        claim: ClaimedRun,
        request: Option<Request>,
        permit: OwnedSemaphorePermit,
        tasks: &mut JoinSet<()>,
        via: &str,
    ) {
        self.metrics.started(via);
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
        let attempt = async move { worker.execute(claim, request, permit).await };
        tasks.spawn(attempt.instrument(span));
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
}

/// Joins the attempts that have ended. An ended attempt keeps its task's memory until joined,
/// and under load the loop's other branches are always ready before `join_next`: thousands of
/// ended attempts piled up, tens of MB, while runs were handed over.
fn join_ended(tasks: &mut JoinSet<()>) {
    while tasks.try_join_next().is_some() {}
}
