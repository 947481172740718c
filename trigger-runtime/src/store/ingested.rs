//! What an ingest writes and answers: the runs to create with an event, and the result.

use std::borrow::Cow;
use std::time::Duration;

use serde::Serialize;

use super::{ClaimedRun, Event, Lease, RunRecord, RunStatus};
use crate::time::Timestamp;

/// A run to create with an event.
#[derive(Clone, Debug)]
pub struct NewRun {
    /// `run_…`.
    pub id: String,
    /// The job's id.
    pub job_id: String,
    /// The job's version when the run was created.
    pub job_version: String,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// `Some`: an ingest creates the run already claimed for this long, its first attempt
    /// started, and gives it back in [`Ingested::claimed`] for a worker of this process that
    /// has a free slot, which needs no claim. `None`: it is created queued, as runs added to a
    /// stored event (a replay) always are.
    pub lease: Option<Duration>,
}

impl NewRun {
    /// Its id and job.
    pub fn to_ref(&self) -> RunRef {
        RunRef {
            id: self.id.clone(),
            job: self.job_id.clone(),
        }
    }

    /// How the run is stored when created at `now` with a lease: `None` when it is queued.
    /// Every driver stores a leased run as this says, and [`claimed`](Self::claimed) gives it
    /// back the same way.
    pub(crate) fn first_lease(&self, now: Timestamp) -> Option<FirstLease> {
        let lease = self.lease?;
        Some(FirstLease {
            started_at: now,
            lease_until: now.saturating_add(lease),
        })
    }

    /// When the run is created leased with `event` at `now`: the claim its worker executes,
    /// exactly the run as stored (see [`first_lease`](Self::first_lease)).
    pub(crate) fn claimed(&self, event: Event, now: Timestamp) -> Option<ClaimedRun> {
        let first = self.first_lease(now)?;
        let run = RunRecord {
            id: self.id.clone(),
            job: self.job_id.clone(),
            job_version: self.job_version.clone(),
            event_id: event.id.clone(),
            endpoint_id: event.endpoint_id.clone(),
            status: RunStatus::Running,
            attempts: FirstLease::LEASE.attempt,
            max_attempts: self.max_attempts,
            created_at: now,
            run_at: now,
            started_at: Some(first.started_at),
            finished_at: None,
            lease_until: Some(first.lease_until),
            lease_epoch: FirstLease::LEASE.epoch,
            output: None,
            error: None,
            history: Vec::new(),
            logs: Vec::new(),
            logs_next_cursor: None,
            tasks: Vec::new(),
        };
        Some(ClaimedRun {
            run,
            event,
            lease: FirstLease::LEASE,
        })
    }
}

/// A run created claimed: `running`, its first attempt started at creation under its first
/// lease.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FirstLease {
    pub(crate) started_at: Timestamp,
    pub(crate) lease_until: Timestamp,
}

impl FirstLease {
    /// The attempt and epoch of a run's first claim.
    pub(crate) const LEASE: Lease = Lease {
        attempt: 1,
        epoch: 1,
    };
}

/// A run's id and job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RunRef {
    /// `run_…`.
    pub id: String,
    /// The job's id.
    pub job: String,
}

/// The result of an ingest.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Ingested {
    /// The stored event (the original one for a duplicate).
    pub event_id: String,
    /// The event's runs.
    pub runs: Vec<RunRef>,
    /// Whether the delivery repeated an idempotency key already seen for this endpoint.
    pub duplicate: bool,
    /// The runs created already claimed (those with a [`NewRun::lease`]), in order: for the
    /// worker that asked for them. Empty for a duplicate, which creates no run.
    pub claimed: Vec<ClaimedRun>,
}

impl Ingested {
    /// A new event `event` stored with `runs` at `now`. Each run created claimed carries the
    /// event: the last one takes it when it is owned, the others a copy (an ingest's one run
    /// copies nothing).
    pub(crate) fn stored(event: Cow<'_, Event>, runs: &[NewRun], now: Timestamp) -> Self {
        let event_id = event.id.clone();
        let leased: Vec<&NewRun> = runs.iter().filter(|run| run.lease.is_some()).collect();
        let mut claimed = Vec::with_capacity(leased.len());
        if let Some((last, others)) = leased.split_last() {
            claimed.extend(
                others
                    .iter()
                    .filter_map(|run| run.claimed(event.as_ref().clone(), now)),
            );
            claimed.extend(last.claimed(event.into_owned(), now));
        }
        Self {
            event_id,
            runs: runs.iter().map(NewRun::to_ref).collect(),
            duplicate: false,
            claimed,
        }
    }

    /// A delivery of the event `event_id` stored before, with its runs.
    pub(crate) fn duplicate(event_id: String, runs: Vec<RunRef>) -> Self {
        Self {
            event_id,
            runs,
            duplicate: true,
            claimed: Vec::new(),
        }
    }
}
