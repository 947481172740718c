//! One attempt of a run: executed in its own task, supervised (lease renewals, timeout,
//! cancellation), judged, and recorded with its lease's epoch.

use super::*;
use crate::job::outcome::Asked;

impl Worker {
    pub(super) async fn execute(
        &self,
        claim: ClaimedRun,
        request: Option<Request>,
        permit: OwnedSemaphorePermit,
    ) {
        let run_id = claim.run.id.clone();
        let lease = claim.lease;
        let logs = Arc::new(LogBuffer::new(self.config.log_limits));
        let started = std::time::Instant::now();
        let outcome = match self.registry.job(&claim.run.job) {
            Some(job) => self.attempt(job, &claim, request, &logs).await,
            None => Some(self.unknown_job(&claim.run)),
        };
        let took = started.elapsed();
        let name = outcome.as_ref().map_or("lost", outcome_name);
        // The job is done: its slot goes to the next run now, not once the outcome is
        // committed. Held through that commit (a group commit's wait, a millisecond or more
        // under load), the slots ran out sooner, and the runs after went through the queue and
        // a claim instead of being handed over at ingest (see the README's Performance).
        drop(permit);
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

    /// Runs one attempt with `request`, or the one its stored event gives; `None` when the
    /// attempt lost its lease and must not record anything.
    async fn attempt(
        &self,
        job: &Job,
        claim: &ClaimedRun,
        request: Option<Request>,
        logs: &Arc<LogBuffer>,
    ) -> Option<AttemptOutcome> {
        let run = &claim.run;
        let request = match request.map_or_else(|| claim.event.to_request(), Ok) {
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
    let mut asked = Asked::Nothing;
    let error = match ended {
        Ended::Joined(Ok(Ok(output))) => return AttemptOutcome::Succeeded(output),
        Ended::Joined(Ok(Err(error))) => {
            asked = Asked::of(&*error);
            // A job that returns the error of `io.wait` (with `?`) waits; one that handled it
            // and went on is judged by what it returned.
            if let Asked::Suspended(until) = asked {
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
    let out_of_attempts = run.attempts >= run.max_attempts.min(policy.max_attempts());
    let delay = match asked {
        Asked::Permanent => {
            let error = format!("{error} (permanent: not retried)");
            return AttemptOutcome::Failed { error };
        }
        _ if out_of_attempts => return AttemptOutcome::Failed { error },
        Asked::RetryAfter(delay) => delay,
        Asked::Nothing | Asked::Suspended(_) => policy.backoff(run.attempts, jitter()),
    };
    let error = match asked {
        Asked::RetryAfter(delay) => format!("{error} (retried after {delay:?}, as the job asked)"),
        _ => error,
    };
    AttemptOutcome::Retry {
        error,
        at: Timestamp::now().saturating_add(delay),
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned())
}
