//! Claiming due runs with a lease, renewing leases, and taking back runs whose lease expired.

use std::collections::HashMap;
use std::time::Duration;

use crate::store::codec::ExpiryScan;

use rusqlite::{Connection, params};

use super::read::load_event;
use super::rows::{self, RUN_COLUMNS, col};

/// The claim's candidates: `SELECT id, job`.
const CANDIDATE: &[&str] = &["id", "job"];
use crate::store::{ClaimRequest, ClaimedRun, Event, LOST_LEASE, Lease, Result, StoreError};
use crate::time::Timestamp;

/// Runs whose lease expired lost their worker (it crashed or hung): the lost attempt is
/// recorded and counts, so a job that kills its process cannot crash-loop the server; the run
/// is queued again, or failed when it is out of attempts.
fn requeue_expired(conn: &Connection, now: i64) -> Result<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO attempts (run_id, attempt, started_at, finished_at, error) \
         SELECT id, attempts, COALESCE(started_at, ?1), ?1, ?2 FROM runs \
         WHERE status = 'running' AND lease_until < ?1",
    )?
    .execute(params![now, LOST_LEASE])?;
    conn.prepare_cached(
        "UPDATE runs SET status = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'queued' END, \
         finished_at = CASE WHEN attempts >= max_attempts THEN ?1 END, \
         lease_until = NULL, run_at = ?1, error = ?2 \
         WHERE status = 'running' AND lease_until < ?1",
    )?
    .execute(params![now, LOST_LEASE])?;
    Ok(())
}

/// How many runs of each limited job are running.
fn running_counts(conn: &Connection, claim: &ClaimRequest) -> Result<HashMap<String, usize>> {
    let mut count =
        conn.prepare_cached("SELECT COUNT(*) FROM runs WHERE status = 'running' AND job = ?1")?;
    let mut running = HashMap::new();
    for (job, _) in claim.job_limits.iter() {
        running.insert(job.clone(), count.query_row([job], |row| row.get(0))?);
    }
    Ok(running)
}

/// Takes queued runs one by one, loading each event once.
struct Taker<'c> {
    conn: &'c Connection,
    update: rusqlite::CachedStatement<'c>,
    read: rusqlite::CachedStatement<'c>,
    events: HashMap<String, Event>,
    now: i64,
    lease_until: i64,
}

impl Taker<'_> {
    /// Marks run `id` running with a new attempt; `None` if it is no longer queued, or if its
    /// event is missing or unreadable (the run is then failed with why, and the queue goes on).
    fn take(&mut self, id: &str) -> Result<Option<ClaimedRun>> {
        if self
            .update
            .execute(params![self.now, self.lease_until, id])?
            == 0
        {
            return Ok(None);
        }
        let run = self.read.query_row([id], rows::run)?;
        let lease = Lease {
            attempt: run.attempts,
            epoch: run.lease_epoch,
        };
        if let Some(event) = self.events.get(&run.event_id) {
            let event = event.clone();
            return Ok(Some(ClaimedRun { run, event, lease }));
        }
        let why = match load_event(self.conn, &run.event_id) {
            Ok(Some(event)) => {
                self.events.insert(run.event_id.clone(), event.clone());
                return Ok(Some(ClaimedRun { run, event, lease }));
            }
            Ok(None) => format!("its event {} is missing from the store", run.event_id),
            Err(StoreError::Sqlite(error)) if is_decode_error(&error) => {
                format!("its event {} cannot be read: {error}", run.event_id)
            }
            Err(error) => return Err(error),
        };
        tracing::error!(run = %run.id, "failing a run that cannot start: {why}");
        self.fail(&run.id, run.attempts, &why)?;
        Ok(None)
    }

    /// Fails attempt `attempt` of run `id` for good, recording `why`.
    fn fail(&self, id: &str, attempt: u32, why: &str) -> Result<()> {
        let error = format!("the run cannot start: {why}");
        self.conn
            .prepare_cached(
                "UPDATE runs SET status = 'failed', finished_at = ?2, lease_until = NULL, \
                 error = ?3 WHERE id = ?1",
            )?
            .execute(params![id, self.now, error])?;
        self.conn
            .prepare_cached(
                "INSERT OR REPLACE INTO attempts (run_id, attempt, started_at, finished_at, error) \
                 VALUES (?1, ?2, ?3, ?3, ?4)",
            )?
            .execute(params![id, attempt, self.now, error])?;
        Ok(())
    }
}

/// Whether `error` is a stored value that does not read back as its type.
fn is_decode_error(error: &rusqlite::Error) -> bool {
    matches!(
        error,
        rusqlite::Error::FromSqlConversionFailure(..)
            | rusqlite::Error::InvalidColumnType(..)
            | rusqlite::Error::IntegralValueOutOfRange(..)
    )
}

/// The limited jobs that are at their limit, as a JSON array for `json_each`.
fn capped_jobs(running: &HashMap<String, usize>, claim: &ClaimRequest) -> String {
    let capped: Vec<&String> = running
        .iter()
        .filter(|(job, count)| claim.job_limit(job).is_some_and(|limit| **count >= limit))
        .map(|(job, _)| job)
        .collect();
    serde_json::to_string(&capped).unwrap_or_else(|_| "[]".to_owned())
}

/// Claims due runs, first taking back runs whose lease expired (see [`ExpiryScan`]).
pub(super) fn claim(
    conn: &Connection,
    claim: &ClaimRequest,
    expiry: &ExpiryScan,
) -> Result<Vec<ClaimedRun>> {
    let now = Timestamp::now().as_unix_millis();
    if expiry.due(now, claim.lease) {
        requeue_expired(conn, now)?;
        expiry.scanned(now);
    }
    let mut running = running_counts(conn, claim)?;
    // An update, then a read, not `UPDATE ... RETURNING`: see `finish::SUCCEED`.
    let mut taker = Taker {
        conn,
        update: conn.prepare_cached(
            "UPDATE runs SET status = 'running', attempts = attempts + 1, \
             lease_epoch = lease_epoch + 1, started_at = ?1, lease_until = ?2 \
             WHERE id = ?3 AND status = 'queued'",
        )?,
        read: conn.prepare_cached(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"))?,
        events: HashMap::new(),
        now,
        lease_until: Timestamp::now()
            .saturating_add(claim.lease)
            .as_unix_millis(),
    };
    // Due runs in order, leaving out jobs at their limit; a job that reaches its limit during
    // a pass is left out of the next one, so a backlog of one limited job never hides others.
    let mut candidates = conn.prepare_cached(
        "SELECT id, job FROM runs INDEXED BY runs_due \
         WHERE status = 'queued' AND run_at <= ?1 \
         AND job NOT IN (SELECT value FROM json_each(?2)) ORDER BY run_at, id LIMIT ?3",
    )?;
    let mut claimed = Vec::new();
    loop {
        let wanted = claim.limit - claimed.len();
        let page: Vec<(String, String)> = candidates
            .query_map(
                params![
                    now,
                    capped_jobs(&running, claim),
                    i64::try_from(wanted).unwrap_or(i64::MAX)
                ],
                |row| Ok((col!(row, CANDIDATE, "id")?, col!(row, CANDIDATE, "job")?)),
            )?
            .collect::<rusqlite::Result<_>>()?;
        let mut skipped = false;
        for (id, job) in &page {
            if let (Some(limit), Some(count)) = (claim.job_limit(job), running.get_mut(job)) {
                if *count >= limit {
                    skipped = true;
                    continue;
                }
                *count += 1;
            }
            claimed.extend(taker.take(id)?);
        }
        // Done when full, or when this pass saw every due run there is.
        if claimed.len() >= claim.limit || page.is_empty() || (page.len() < wanted && !skipped) {
            break;
        }
    }
    Ok(claimed)
}

/// Extends `lease` by `duration`; `false` if it no longer holds the run.
pub(super) fn heartbeat(
    conn: &Connection,
    run_id: &str,
    lease: Lease,
    duration: Duration,
) -> Result<bool> {
    let until = Timestamp::now().saturating_add(duration).as_unix_millis();
    let changed = conn
        .prepare_cached(
            "UPDATE runs SET lease_until = ?3 WHERE id = ?1 AND lease_epoch = ?2 \
             AND status = 'running'",
        )?
        .execute(params![run_id, lease.epoch, until])?;
    Ok(changed == 1)
}
