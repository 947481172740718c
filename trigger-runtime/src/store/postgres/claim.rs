//! Claiming due runs with `FOR UPDATE SKIP LOCKED` (servers claiming at once take different
//! runs and never wait for each other), renewing leases, and taking back runs whose lease
//! expired. The same state machine as SQLite's `claim`, and the same conformance suite.

use std::collections::HashMap;
use std::time::Duration;

use deadpool_postgres::{GenericClient, Object, Transaction};

use super::read::{execute, query};
use super::rows::{self, EVENT_COLUMNS, RUN_COLUMNS};
use crate::store::codec::ExpiryScan;
use crate::store::{
    ClaimRequest, ClaimedRun, Event, LOST_LEASE, Lease, Result, RunRecord, StoreError,
};
use crate::time::Timestamp;

/// Serializes the claims that count running runs of limited jobs, across servers: without it
/// two servers could each see a job one below its limit and both start a run.
const LIMITS_LOCK: &str = "trigger-runtime job limits";

/// Runs whose lease expired lost their worker: the lost attempt is recorded and counts, and
/// the run is queued again, or failed when it is out of attempts. Each run is taken back once,
/// whichever server gets to it first.
async fn requeue_expired(tx: &impl GenericClient, now: i64) -> Result<()> {
    execute(
        tx,
        "WITH lost AS ( \
             UPDATE runs SET \
             status = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'queued' END, \
             finished_at = CASE WHEN attempts >= max_attempts THEN $1 END, \
             lease_until = NULL, run_at = $1, error = $2 \
             WHERE status = 'running' AND lease_until < $1 \
             RETURNING id, attempts, started_at) \
         INSERT INTO attempts (run_id, attempt, started_at, finished_at, error) \
         SELECT id, attempts, COALESCE(started_at, $1), $1, $2 FROM lost \
         ON CONFLICT (run_id, attempt) DO UPDATE SET started_at = EXCLUDED.started_at, \
         finished_at = EXCLUDED.finished_at, error = EXCLUDED.error",
        &[&now, &LOST_LEASE],
    )
    .await?;
    Ok(())
}

/// How many runs of each limited job are running.
async fn running_counts(
    tx: &Transaction<'_>,
    claim: &ClaimRequest,
) -> Result<HashMap<String, usize>> {
    let jobs: Vec<&str> = claim
        .job_limits
        .iter()
        .map(|(job, _)| job.as_str())
        .collect();
    let mut running: HashMap<String, usize> = jobs.iter().map(|j| ((*j).to_owned(), 0)).collect();
    if jobs.is_empty() {
        return Ok(running);
    }
    let rows = query(
        tx,
        "SELECT job, COUNT(*) FROM runs WHERE status = 'running' AND job = ANY($1) GROUP BY job",
        &[&jobs],
    )
    .await?;
    for row in &rows {
        let (job, n): (String, i64) = (row.try_get(0)?, row.try_get(1)?);
        running.insert(job, usize::try_from(n).unwrap_or(0));
    }
    Ok(running)
}

/// The limited jobs at their limit.
fn capped_jobs<'a>(running: &'a HashMap<String, usize>, claim: &ClaimRequest) -> Vec<&'a str> {
    running
        .iter()
        .filter(|(job, count)| claim.job_limit(job).is_some_and(|limit| **count >= limit))
        .map(|(job, _)| job.as_str())
        .collect()
}

/// Claims due runs, first taking back runs whose lease expired (see [`ExpiryScan`]). Without
/// job limits it is one statement (choose, mark running, read the events); with them, a
/// transaction that counts running runs under [`LIMITS_LOCK`].
pub(super) async fn claim(
    client: &mut Object,
    claim: &ClaimRequest,
    expiry: &ExpiryScan,
) -> Result<Vec<ClaimedRun>> {
    let now = Timestamp::now().as_unix_millis();
    if expiry.due(now, claim.lease) {
        requeue_expired(&*client, now).await?;
        expiry.scanned(now);
    }
    let lease_until = Timestamp::now()
        .saturating_add(claim.lease)
        .as_unix_millis();
    if claim.job_limits.is_empty() {
        let (runs, events) = claim_due(&*client, claim.limit, now, lease_until).await?;
        return hand_out(&*client, runs, &events, now).await;
    }
    let tx = client.transaction().await?;
    execute(
        &tx,
        "SELECT pg_advisory_xact_lock(hashtext($1))",
        &[&LIMITS_LOCK],
    )
    .await?;
    let chosen = choose_within_limits(&tx, claim, now).await?;
    let runs = mark_running(&tx, &chosen, now, lease_until).await?;
    let events = load_events(&tx, &runs).await?;
    let claimed = hand_out(&tx, runs, &events, now).await?;
    tx.commit().await?;
    Ok(claimed)
}

/// The due runs to claim, in order, keeping each limited job under its limit.
async fn choose_within_limits(
    tx: &Transaction<'_>,
    claim: &ClaimRequest,
    now: i64,
) -> Result<Vec<String>> {
    let mut running = running_counts(tx, claim).await?;
    let mut chosen: Vec<String> = Vec::new();
    // Due runs in order, leaving out jobs at their limit; a job that reaches its limit during
    // a pass is left out of the next one, so a backlog of one limited job never hides others.
    loop {
        let wanted = claim.limit - chosen.len();
        let capped = capped_jobs(&running, claim);
        let page = query(
            tx,
            "SELECT id, job FROM runs WHERE status = 'queued' AND run_at <= $1 \
             AND NOT (job = ANY($2)) AND NOT (id = ANY($3)) \
             ORDER BY run_at, id LIMIT $4 FOR UPDATE SKIP LOCKED",
            &[
                &now,
                &capped,
                &chosen,
                &i64::try_from(wanted).unwrap_or(i64::MAX),
            ],
        )
        .await?;
        let mut skipped = false;
        let mut taken = Vec::new();
        for row in &page {
            let (id, job): (String, &str) = (row.try_get(0)?, row.try_get(1)?);
            if let (Some(limit), Some(count)) = (claim.job_limit(job), running.get_mut(job)) {
                if *count >= limit {
                    skipped = true;
                    continue;
                }
                *count += 1;
            }
            taken.push(id);
        }
        let full = chosen.len() + taken.len() >= claim.limit;
        chosen.extend(taken);
        // Done when full, or when this pass saw every due run there is.
        if full || page.is_empty() || (page.len() < wanted && !skipped) {
            return Ok(chosen);
        }
    }
}

/// The `SET` of a claim: running, with a new attempt and a new lease epoch.
const TAKE: &str = "status = 'running', attempts = r.attempts + 1, \
     lease_epoch = r.lease_epoch + 1, started_at = $1, lease_until = $2";

/// Events read with claimed runs: by id, or why one cannot be read.
type Events = HashMap<String, std::result::Result<Event, String>>;

/// The event of a row whose columns from `offset` are [`EVENT_COLUMNS`].
fn event_of(row: &tokio_postgres::Row, offset: usize, events: &mut Events) -> Result<()> {
    let Some(id) = row.try_get::<_, Option<String>>(offset)? else {
        return Ok(());
    };
    let event = rows::event_at(row, offset).map_err(|error| match error {
        StoreError::Corrupt(why) => format!("its event {id} cannot be read: {why}"),
        other => format!("its event {id} cannot be read: {other}"),
    });
    events.insert(id, event);
    Ok(())
}

/// Claims up to `limit` due runs in one statement, with their events.
async fn claim_due(
    client: &impl GenericClient,
    limit: usize,
    now: i64,
    lease_until: i64,
) -> Result<(Vec<RunRecord>, Events)> {
    let returned = rows::qualified(RUN_COLUMNS, "r");
    let events = rows::qualified(EVENT_COLUMNS, "e");
    let sql = format!(
        "WITH due AS (SELECT id FROM runs WHERE status = 'queued' AND run_at <= $1 \
             ORDER BY run_at, id LIMIT $3 FOR UPDATE SKIP LOCKED), \
         taken AS (UPDATE runs r SET {TAKE} FROM due WHERE r.id = due.id RETURNING {returned}) \
         SELECT taken.*, {events} FROM taken LEFT JOIN events e ON e.id = taken.event_id"
    );
    let found = query(
        client,
        &sql,
        &[
            &now,
            &lease_until,
            &i64::try_from(limit).unwrap_or(i64::MAX),
        ],
    )
    .await?;
    let mut runs = Vec::with_capacity(found.len());
    let mut events = Events::new();
    for row in &found {
        runs.push(rows::run(row)?);
        event_of(row, rows::RUN_COLUMN_COUNT, &mut events)?;
    }
    // Due order: the claim does not change `run_at`.
    runs.sort_by(|a, b| (a.run_at, &a.id).cmp(&(b.run_at, &b.id)));
    Ok((runs, events))
}

/// Marks the chosen runs running with a new attempt, in the order they were chosen.
async fn mark_running(
    tx: &Transaction<'_>,
    ids: &[String],
    now: i64,
    lease_until: i64,
) -> Result<Vec<RunRecord>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let returned = rows::qualified(RUN_COLUMNS, "r");
    let sql = format!(
        "UPDATE runs r SET {TAKE} WHERE r.id = ANY($3) AND r.status = 'queued' RETURNING {returned}"
    );
    let updated = query(tx, &sql, &[&now, &lease_until, &ids]).await?;
    let mut runs = updated.iter().map(rows::run).collect::<Result<Vec<_>>>()?;
    let order: HashMap<&str, usize> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    runs.sort_by_key(|run| order.get(run.id.as_str()).copied().unwrap_or(usize::MAX));
    Ok(runs)
}

/// The events of `runs`.
async fn load_events(tx: &Transaction<'_>, runs: &[RunRecord]) -> Result<Events> {
    let mut ids: Vec<&str> = runs.iter().map(|r| r.event_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = ANY($1)");
    let mut events = Events::new();
    for row in query(tx, &sql, &[&ids]).await? {
        event_of(&row, 0, &mut events)?;
    }
    Ok(events)
}

/// Pairs each claimed run with its event; a run whose event is missing or unreadable is
/// failed with why, and the others go on.
async fn hand_out(
    client: &impl GenericClient,
    runs: Vec<RunRecord>,
    events: &Events,
    now: i64,
) -> Result<Vec<ClaimedRun>> {
    let mut claimed = Vec::with_capacity(runs.len());
    for run in runs {
        let lease = Lease {
            attempt: run.attempts,
            epoch: run.lease_epoch,
        };
        let why = match events.get(&run.event_id) {
            Some(Ok(event)) => {
                let event = event.clone();
                claimed.push(ClaimedRun { run, event, lease });
                continue;
            }
            Some(Err(why)) => why.clone(),
            None => format!("its event {} is missing from the store", run.event_id),
        };
        tracing::error!(run = %run.id, "failing a run that cannot start: {why}");
        fail(client, &run.id, run.attempts, now, &why).await?;
    }
    Ok(claimed)
}

/// Fails attempt `attempt` of run `id` for good, recording `why`.
async fn fail(tx: &impl GenericClient, id: &str, attempt: u32, now: i64, why: &str) -> Result<()> {
    let error = format!("the run cannot start: {why}");
    execute(
        tx,
        "UPDATE runs SET status = 'failed', finished_at = $2, lease_until = NULL, error = $3 \
         WHERE id = $1",
        &[&id, &now, &error],
    )
    .await?;
    execute(
        tx,
        "INSERT INTO attempts (run_id, attempt, started_at, finished_at, error) \
         VALUES ($1, $2, $3, $3, $4) ON CONFLICT (run_id, attempt) DO UPDATE SET \
         started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at, error = EXCLUDED.error",
        &[&id, &i32::try_from(attempt).unwrap_or(i32::MAX), &now, &error],
    )
    .await?;
    Ok(())
}

/// Extends `lease` by `duration`; `false` if it no longer holds the run.
pub(super) async fn heartbeat(
    client: &impl deadpool_postgres::GenericClient,
    run_id: &str,
    lease: Lease,
    duration: Duration,
) -> Result<bool> {
    let until = Timestamp::now().saturating_add(duration).as_unix_millis();
    let changed = execute(
        client,
        "UPDATE runs SET lease_until = $3 WHERE id = $1 AND lease_epoch = $2 \
         AND status = 'running'",
        &[&run_id, &epoch(lease), &until],
    )
    .await?;
    Ok(changed == 1)
}

/// A lease's epoch as stored.
pub(super) fn epoch(lease: Lease) -> i64 {
    i64::try_from(lease.epoch).unwrap_or(i64::MAX)
}
