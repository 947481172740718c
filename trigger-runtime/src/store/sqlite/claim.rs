//! Claiming due runs with a lease, renewing leases, and taking back runs whose lease expired.

use std::cell::RefMut;
use std::collections::HashMap;
use std::time::Duration;

use rusqlite::{Connection, Statement, params};

use crate::store::codec::ExpiryScan;

use super::finish;
use super::held::{Held, Tx};
use super::read::load_events;
use super::rows::{self, RUN, RUN_COLUMNS};

use crate::store::{
    AttemptOutcome, ClaimRequest, ClaimedRun, LOST_LEASE, Lease, Result, RunRecord, RunStatus,
};
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

/// Marks a queued run, read as a claim's candidate at `rowid`, running with a new attempt.
pub(super) const TAKE: &str = "UPDATE runs SET status = 'running', attempts = attempts + 1, \
     lease_epoch = lease_epoch + 1, started_at = ?1, lease_until = ?2 \
     WHERE rowid = ?3 AND status = 'queued'";

/// Takes queued runs one by one.
struct Taker<'t, 'c> {
    update: RefMut<'t, Statement<'c>>,
    now: i64,
    lease_until: i64,
}

impl Taker<'_, '_> {
    /// Marks `run`, read as a candidate at `rowid`, running with a new attempt; `None` if it
    /// is no longer queued. The record is changed as the row was, so it is not read again.
    fn take(&mut self, mut run: RunRecord, rowid: i64) -> Result<Option<(RunRecord, Lease)>> {
        let changed = self
            .update
            .execute(params![self.now, self.lease_until, rowid])?;
        if changed == 0 {
            return Ok(None);
        }
        run.status = RunStatus::Running;
        run.attempts += 1;
        run.lease_epoch += 1;
        run.started_at = Some(Timestamp::from_unix_millis(self.now));
        run.lease_until = Some(Timestamp::from_unix_millis(self.lease_until));
        let lease = Lease {
            attempt: run.attempts,
            epoch: run.lease_epoch,
        };
        Ok(Some((run, lease)))
    }
}

/// Claimed runs with their events, each read once; a run whose event is missing or unreadable
/// is failed with why, and the others go on.
pub(super) fn with_events(tx: &Tx<'_>, taken: Vec<(RunRecord, Lease)>) -> Result<Vec<ClaimedRun>> {
    let ids: Vec<String> = taken.iter().map(|(run, _)| run.event_id.clone()).collect();
    let mut events = load_events(tx, &ids)?;
    // How many of the runs still to come start from each event: the last one takes it.
    let mut uses: HashMap<&str, usize> = HashMap::with_capacity(events.len());
    for id in &ids {
        *uses.entry(id).or_default() += 1;
    }
    let mut claimed = Vec::with_capacity(taken.len());
    for (run, lease) in taken {
        let left = uses.get_mut(run.event_id.as_str()).map_or(0, |n| {
            *n -= 1;
            *n
        });
        let event = if left == 0 {
            events.remove(&run.event_id)
        } else {
            events.get(&run.event_id).cloned()
        };
        let event =
            event.unwrap_or_else(|| Err(format!("its event {} was not read", run.event_id)));
        match event {
            Ok(event) => claimed.push(ClaimedRun { run, event, lease }),
            // The attempt fails for good, as a job's permanent error does.
            Err(why) => {
                tracing::error!(run = %run.id, "failing a run that cannot start: {why}");
                let error = format!("the run cannot start: {why}");
                let outcome = AttemptOutcome::Failed { error };
                finish::finish(tx, &run.id, lease, &[], &outcome)?;
            }
        }
    }
    Ok(claimed)
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

/// Claims due runs, first taking back runs whose lease expired (see [`ExpiryScan`]): each
/// with its lease (see [`with_events`] for their events).
pub(super) fn claim(
    tx: &Tx<'_>,
    claim: &ClaimRequest,
    expiry: &ExpiryScan,
) -> Result<Vec<(RunRecord, Lease)>> {
    let now = Timestamp::now().as_unix_millis();
    if expiry.due(now, claim.lease) {
        requeue_expired(tx, now)?;
        expiry.scanned(now);
    }
    let mut running = running_counts(tx, claim)?;
    // Not `UPDATE ... RETURNING`: see `finish::SUCCEED`. The candidates are read whole, with
    // their rowids, so that each is updated by rowid and not read again.
    let mut taker = Taker {
        update: tx.statement(Held::Take)?,
        now,
        lease_until: Timestamp::now()
            .saturating_add(claim.lease)
            .as_unix_millis(),
    };
    // Due runs in order, leaving out jobs at their limit; a job that reaches its limit during
    // a pass is left out of the next one, so a backlog of one limited job never hides others.
    let mut candidates = tx.prepare_cached(&candidates_sql())?;
    let mut claimed = Vec::new();
    loop {
        let wanted = claim.limit - claimed.len();
        // As many rows as wanted are read, and no more: the index gives them in order.
        let page: Vec<(RunRecord, i64)> = candidates
            .query_map(params![now, capped_jobs(&running, claim)], |row| {
                Ok((rows::run(row)?, row.get(RUN.len())?))
            })?
            .take(wanted)
            .collect::<rusqlite::Result<_>>()?;
        let (seen, mut skipped) = (page.len(), false);
        for (run, rowid) in page {
            if let (Some(limit), Some(count)) =
                (claim.job_limit(&run.job), running.get_mut(&run.job))
            {
                if *count >= limit {
                    skipped = true;
                    continue;
                }
                *count += 1;
            }
            claimed.extend(taker.take(run, rowid)?);
        }
        // Done when full, or when this pass saw every due run there is.
        if claimed.len() >= claim.limit || seen == 0 || (seen < wanted && !skipped) {
            break;
        }
    }
    Ok(claimed)
}

/// The claim's candidates: due runs whole, with their rowids, in order. No `LIMIT ?`: SQLite
/// (3.50) reads a bound `LIMIT` while planning, so every new binding of it prepares the
/// statement again, and the parse took a fifth of a million instructions per claim; the caller
/// stops reading instead.
fn candidates_sql() -> String {
    format!(
        "SELECT {RUN_COLUMNS}, rowid FROM runs INDEXED BY runs_due \
         WHERE status = 'queued' AND run_at <= ?1 \
         AND job NOT IN (SELECT value FROM json_each(?2)) ORDER BY run_at, id"
    )
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rusqlite::{Connection, StatementStatus, params};

    use super::Tx;
    use crate::store::ClaimRequest;
    use crate::store::codec::ExpiryScan;

    /// Claims of any size run the statements they were prepared with: none is parsed again
    /// because a value bound to it changed.
    #[test]
    fn claims_are_never_prepared_again() {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::migrate::run(&mut conn).unwrap();
        conn.execute(
            "INSERT INTO events (id, endpoint_id, method, url, headers, body, received_at, \
             verified) VALUES ('evt_1', 'ep', 'POST', 'http://h/', x'', x'', 0, 1)",
            [],
        )
        .unwrap();
        for n in 0..20 {
            conn.execute(
                "INSERT INTO runs (id, job, job_version, event_id, endpoint_id, status, \
                 max_attempts, created_at, run_at) VALUES (?1, 'a', '1', 'evt_1', 'ep', \
                 'queued', 3, 0, 0)",
                params![format!("run_{n:02}")],
            )
            .unwrap();
        }
        let expiry = ExpiryScan::default();
        for limit in [1, 2, 3, 4, 5] {
            let request = ClaimRequest::new(limit, Duration::from_secs(30));
            let taken = super::claim(&Tx::new(&conn), &request, &expiry).unwrap();
            assert_eq!(taken.len(), limit);
        }
        let candidates = conn.prepare_cached(&super::candidates_sql()).unwrap();
        assert_eq!(candidates.get_status(StatementStatus::RePrepare), 0);
        assert!(
            candidates.get_status(StatementStatus::VmStep) > 0,
            "the claims ran it"
        );
    }
}
