//! The in-memory driver: for tests and for trying things out. Nothing survives the process.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use super::{
    AttemptOutcome, AttemptRecord, ClaimedRun, EventRecord, Ingested, LogRecord, NewEvent, NewRun,
    Result, RunRecord, RunRef, RunStatus, StoreDriver,
};
use crate::io::LogLine;
use crate::time::Timestamp;

#[derive(Default)]
struct State {
    events: HashMap<String, EventRecord>,
    runs: HashMap<String, RunRecord>,
    /// Queued runs by `(run_at, sequence)`.
    queue: BTreeSet<(Timestamp, u64, String)>,
    /// Running runs (their leases are checked on claim).
    running: BTreeSet<String>,
    dedup: HashMap<(String, String), String>,
    secrets: HashMap<String, String>,
    sequence: u64,
}

impl State {
    fn enqueue(&mut self, run_id: &str, at: Timestamp) {
        self.sequence += 1;
        self.queue.insert((at, self.sequence, run_id.to_owned()));
    }

    fn held(&mut self, run_id: &str, attempt: u32) -> Option<&mut RunRecord> {
        self.runs
            .get_mut(run_id)
            .filter(|run| run.status == RunStatus::Running && run.attempts == attempt)
    }
}

/// Stores everything in process memory, behind one mutex.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore").finish_non_exhaustive()
    }
}

impl MemoryStore {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent data (every update is a few field
        // writes), so a poisoned lock is still usable.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait::async_trait]
impl StoreDriver for MemoryStore {
    fn kind(&self) -> &'static str {
        "memory"
    }

    async fn ingest(&self, event: NewEvent, runs: Vec<NewRun>) -> Result<Ingested> {
        let mut state = self.lock();
        if let Some(key) = &event.dedup_key {
            let dedup_key = (event.endpoint_id.clone(), key.clone());
            if let Some(existing) = state.dedup.get(&dedup_key) {
                let original = &state.events[existing];
                return Ok(Ingested {
                    event_id: original.event.id.clone(),
                    runs: original.runs.clone(),
                    duplicate: true,
                });
            }
            state.dedup.insert(dedup_key, event.id.clone());
        }
        let now = Timestamp::now();
        let refs: Vec<RunRef> = runs
            .iter()
            .map(|r| RunRef {
                id: r.id.clone(),
                job: r.job_id.clone(),
            })
            .collect();
        for run in runs {
            state.enqueue(&run.id, now);
            state.runs.insert(
                run.id.clone(),
                RunRecord {
                    id: run.id,
                    job: run.job_id,
                    job_version: run.job_version,
                    event_id: event.id.clone(),
                    endpoint_id: event.endpoint_id.clone(),
                    status: RunStatus::Queued,
                    attempts: 0,
                    max_attempts: run.max_attempts,
                    created_at: now,
                    run_at: now,
                    started_at: None,
                    finished_at: None,
                    lease_until: None,
                    output: None,
                    error: None,
                    history: Vec::new(),
                    logs: Vec::new(),
                },
            );
        }
        let event_id = event.id.clone();
        state.events.insert(
            event_id.clone(),
            EventRecord {
                event,
                runs: refs.clone(),
            },
        );
        Ok(Ingested {
            event_id,
            runs: refs,
            duplicate: false,
        })
    }

    async fn claim(&self, worker: &str, limit: usize, lease: Duration) -> Result<Vec<ClaimedRun>> {
        let _ = worker;
        let mut state = self.lock();
        let now = Timestamp::now();
        // Runs whose worker stopped renewing its lease are due again.
        let expired: Vec<String> = state
            .running
            .iter()
            .filter(|id| state.runs[*id].lease_until.is_some_and(|until| until < now))
            .cloned()
            .collect();
        for id in expired {
            state.running.remove(&id);
            if let Some(run) = state.runs.get_mut(&id) {
                run.status = RunStatus::Queued;
                run.lease_until = None;
                run.error = Some(format!("attempt {} lost its lease", run.attempts));
            }
            state.enqueue(&id, now);
        }
        let mut claimed = Vec::new();
        while claimed.len() < limit {
            let Some(first) = state.queue.first().cloned() else {
                break;
            };
            if first.0 > now {
                break;
            }
            state.queue.pop_first();
            let id = first.2;
            let Some(run) = state.runs.get_mut(&id) else {
                continue;
            };
            if run.status != RunStatus::Queued {
                continue;
            }
            run.status = RunStatus::Running;
            run.attempts += 1;
            run.started_at = Some(now);
            run.lease_until = Some(now.saturating_add(lease));
            let mut run = run.clone();
            run.logs.clear();
            let event = state.events[&run.event_id].event.clone();
            state.running.insert(id);
            claimed.push(ClaimedRun { run, event });
        }
        Ok(claimed)
    }

    async fn heartbeat(&self, run_id: &str, attempt: u32, lease: Duration) -> Result<bool> {
        let mut state = self.lock();
        Ok(match state.held(run_id, attempt) {
            Some(run) => {
                run.lease_until = Some(Timestamp::now().saturating_add(lease));
                true
            }
            None => false,
        })
    }

    async fn finish(&self, run_id: &str, attempt: u32, outcome: AttemptOutcome) -> Result<bool> {
        let mut state = self.lock();
        let now = Timestamp::now();
        let Some(run) = state.held(run_id, attempt) else {
            return Ok(false);
        };
        let started_at = run.started_at.unwrap_or(now);
        run.lease_until = None;
        let (error, retry_at) = match outcome {
            AttemptOutcome::Succeeded(output) => {
                run.status = RunStatus::Succeeded;
                run.output = Some(output);
                run.error = None;
                run.finished_at = Some(now);
                (None, None)
            }
            AttemptOutcome::Retry { error, at } => {
                run.status = RunStatus::Queued;
                run.run_at = at;
                run.error = Some(error.clone());
                (Some(error), Some(at))
            }
            AttemptOutcome::Failed { error } => {
                run.status = RunStatus::Failed;
                run.error = Some(error.clone());
                run.finished_at = Some(now);
                (Some(error), None)
            }
        };
        run.history.push(AttemptRecord {
            attempt,
            started_at,
            finished_at: now,
            error,
        });
        state.running.remove(run_id);
        if let Some(at) = retry_at {
            state.enqueue(run_id, at);
        }
        Ok(true)
    }

    async fn release(&self, run_id: &str, attempt: u32) -> Result<()> {
        let mut state = self.lock();
        let Some(run) = state.held(run_id, attempt) else {
            return Ok(());
        };
        run.status = RunStatus::Queued;
        run.lease_until = None;
        // The interrupted attempt does not count against the run's attempts.
        run.attempts = run.attempts.saturating_sub(1);
        state.running.remove(run_id);
        state.enqueue(run_id, Timestamp::now());
        Ok(())
    }

    async fn append_logs(&self, run_id: &str, attempt: u32, lines: Vec<LogLine>) -> Result<()> {
        let mut state = self.lock();
        if let Some(run) = state.runs.get_mut(run_id) {
            run.logs
                .extend(lines.into_iter().map(|line| LogRecord { attempt, line }));
        }
        Ok(())
    }

    async fn run(&self, id: &str) -> Result<Option<RunRecord>> {
        Ok(self.lock().runs.get(id).cloned())
    }

    async fn event(&self, id: &str) -> Result<Option<EventRecord>> {
        Ok(self.lock().events.get(id).cloned())
    }

    async fn endpoint_secret(&self, endpoint_id: &str, candidate: String) -> Result<String> {
        Ok(self
            .lock()
            .secrets
            .entry(endpoint_id.to_owned())
            .or_insert(candidate)
            .clone())
    }

    async fn next_due(&self) -> Result<Option<Timestamp>> {
        Ok(self.lock().queue.first().map(|(at, ..)| *at))
    }
}
