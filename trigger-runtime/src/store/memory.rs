//! The in-memory driver: for tests and for trying things out. Nothing survives the process.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use super::LOST_LEASE;
use super::{
    AttemptOutcome, AttemptRecord, ClaimRequest, ClaimedRun, EventRecord, Ingested, LogRecord,
    NewEvent, NewRun, Result, RunCounts, RunPage, RunQuery, RunRecord, RunRef, RunStatus,
    StoreDriver,
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
    tasks: HashMap<(String, String), serde_json::Value>,
    sequence: u64,
}

impl State {
    fn enqueue(&mut self, run_id: &str, at: Timestamp) {
        self.sequence += 1;
        self.queue.insert((at, self.sequence, run_id.to_owned()));
    }

    fn new_runs(&mut self, runs: Vec<NewRun>, event: &NewEvent, now: Timestamp) -> Vec<RunRef> {
        let refs = runs.iter().map(NewRun::to_ref).collect();
        for run in runs {
            self.new_run(run, event, now);
        }
        refs
    }

    fn new_run(&mut self, run: NewRun, event: &NewEvent, now: Timestamp) {
        self.enqueue(&run.id, now);
        self.runs.insert(
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

    async fn ingest(&self, mut event: NewEvent, runs: Vec<NewRun>) -> Result<Ingested> {
        let mut state = self.lock();
        if let Some(key) = event.dedup_key.clone() {
            let dedup_key = (event.endpoint_id.clone(), key);
            match state.dedup.get(&dedup_key).map(|id| &state.events[id]) {
                Some(original) if original.event.body == event.body => {
                    return Ok(Ingested {
                        event_id: original.event.id.clone(),
                        runs: original.runs.clone(),
                        duplicate: true,
                    });
                }
                // The same key with another body is another event: keep it, unkeyed.
                Some(_) => event.dedup_key = None,
                None => {
                    state.dedup.insert(dedup_key, event.id.clone());
                }
            }
        }
        let now = Timestamp::now();
        let refs = state.new_runs(runs, &event, now);
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

    async fn claim(&self, claim: &ClaimRequest) -> Result<Vec<ClaimedRun>> {
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
            let Some(run) = state.runs.get_mut(&id) else {
                continue;
            };
            let started_at = run.started_at.unwrap_or(now);
            run.history.push(AttemptRecord {
                attempt: run.attempts,
                started_at,
                finished_at: now,
                error: Some(LOST_LEASE.to_owned()),
            });
            run.lease_until = None;
            run.error = Some(LOST_LEASE.to_owned());
            if run.attempts >= run.max_attempts {
                run.status = RunStatus::Failed;
                run.finished_at = Some(now);
            } else {
                run.status = RunStatus::Queued;
                run.run_at = now;
                state.enqueue(&id, now);
            }
        }
        let mut running: HashMap<String, usize> = HashMap::new();
        for id in &state.running {
            *running.entry(state.runs[id].job.clone()).or_default() += 1;
        }
        let mut claimed = Vec::new();
        let mut skipped = Vec::new();
        while claimed.len() < claim.limit {
            let Some(first) = state.queue.first().cloned() else {
                break;
            };
            if first.0 > now {
                break;
            }
            state.queue.pop_first();
            let id = first.2.clone();
            let Some(run) = state.runs.get_mut(&id) else {
                continue;
            };
            if run.status != RunStatus::Queued {
                continue;
            }
            let count = running.entry(run.job.clone()).or_default();
            if claim
                .job_limit(&run.job)
                .is_some_and(|limit| *count >= limit)
            {
                skipped.push(first);
                continue;
            }
            *count += 1;
            run.status = RunStatus::Running;
            run.attempts += 1;
            run.started_at = Some(now);
            run.lease_until = Some(now.saturating_add(claim.lease));
            let mut run = run.clone();
            run.logs.clear();
            let event = state.events[&run.event_id].event.clone();
            state.running.insert(id);
            claimed.push(ClaimedRun { run, event });
        }
        state.queue.extend(skipped);
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
            AttemptOutcome::Suspended { until } => {
                run.status = RunStatus::Queued;
                run.run_at = until;
                run.attempts = run.attempts.saturating_sub(1);
                state.running.remove(run_id);
                state.enqueue(run_id, until);
                return Ok(true);
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

    async fn run_counts(&self) -> Result<RunCounts> {
        let mut counts = RunCounts::default();
        for run in self.lock().runs.values() {
            counts.add(run.status, 1);
        }
        Ok(counts)
    }

    async fn list_runs(&self, query: &RunQuery) -> Result<RunPage> {
        let state = self.lock();
        let mut runs: Vec<&RunRecord> = state
            .runs
            .values()
            .filter(|r| query.status.is_none_or(|s| r.status == s))
            .filter(|r| query.job.as_deref().is_none_or(|j| r.job == j))
            .filter(|r| query.cursor.as_deref().is_none_or(|c| r.id.as_str() < c))
            .collect();
        runs.sort_by(|a, b| b.id.cmp(&a.id));
        let more = runs.len() > query.limit;
        let runs: Vec<RunRecord> = runs
            .into_iter()
            .take(query.limit)
            .map(|r| RunRecord {
                logs: Vec::new(),
                history: Vec::new(),
                ..r.clone()
            })
            .collect();
        let next_cursor = if more {
            runs.last().map(|r| r.id.clone())
        } else {
            None
        };
        Ok(RunPage { runs, next_cursor })
    }

    async fn cancel(&self, run_id: &str) -> Result<Option<RunStatus>> {
        let mut state = self.lock();
        let now = Timestamp::now();
        let Some(run) = state.runs.get_mut(run_id) else {
            return Ok(None);
        };
        if !run.status.is_final() {
            run.status = RunStatus::Canceled;
            run.lease_until = None;
            run.finished_at = Some(now);
        }
        let status = run.status;
        state.running.remove(run_id);
        Ok(Some(status))
    }

    async fn add_runs(&self, event_id: &str, runs: Vec<NewRun>) -> Result<Option<Vec<RunRef>>> {
        let mut state = self.lock();
        let Some(record) = state.events.get(event_id) else {
            return Ok(None);
        };
        let event = record.event.clone();
        let now = Timestamp::now();
        let refs = state.new_runs(runs, &event, now);
        if let Some(record) = state.events.get_mut(event_id) {
            record.runs.extend(refs.iter().cloned());
        }
        Ok(Some(refs))
    }

    async fn task(&self, run_id: &str, key: &str) -> Result<Option<serde_json::Value>> {
        Ok(self
            .lock()
            .tasks
            .get(&(run_id.to_owned(), key.to_owned()))
            .cloned())
    }

    async fn save_task(
        &self,
        run_id: &str,
        key: &str,
        output: serde_json::Value,
    ) -> Result<serde_json::Value> {
        let mut state = self.lock();
        let stored = state
            .tasks
            .entry((run_id.to_owned(), key.to_owned()))
            .or_insert(output);
        Ok(stored.clone())
    }
}
