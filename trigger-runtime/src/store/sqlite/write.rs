//! Writes that create: events and their runs (ingest, replays), task outputs, secrets.

use rusqlite::{Connection, OptionalExtension, params};

use super::held::{Held, Tx};
use super::read::{event_runs, load_event};
use crate::store::codec::{encode_headers, encode_skipped, task_output};
use crate::store::{
    Event, FirstLease, Ingested, Lease, NewRun, Result, RunRef, RunStatus, SkippedJobs, StoreError,
};
use crate::time::Timestamp;

/// An event's row (see [`ingest`]).
pub(super) const INSERT_EVENT: &str = "INSERT INTO events (id, endpoint_id, method, url, \
     headers, body, received_at, verified, dedup_key, skipped) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

/// A run's row (see [`insert_runs`]).
pub(super) const INSERT_RUN: &str = "INSERT INTO runs (id, job, job_version, event_id, \
     endpoint_id, status, max_attempts, created_at, run_at, attempts, lease_epoch, started_at, \
     lease_until) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10, ?11, ?12)";

/// What an ingest did.
pub(super) enum Stored {
    /// Stored the event and its runs at this time: the caller builds the [`Ingested`] from
    /// what it asked to store, on its own thread rather than the writer's (a run created
    /// claimed carries a copy of the whole event).
    New(Timestamp),
    /// Found the event the delivery's idempotency key names.
    Duplicate(Ingested),
}

/// Stores `event` with `runs`, or finds the event its idempotency key already names.
pub(super) fn ingest(tx: &Tx<'_>, event: &Event, runs: &[NewRun]) -> Result<Stored> {
    let mut dedup_key = event.dedup_key.as_deref();
    if let Some(key) = dedup_key {
        let existing: Option<(String, Vec<u8>)> = tx
            .prepare_cached(
                "SELECT id, body FROM events WHERE endpoint_id = ?1 AND dedup_key = ?2",
            )?
            .query_row(params![event.endpoint_id, key], |row| {
                Ok((row.get("id")?, row.get("body")?))
            })
            .optional()?;
        match existing {
            Some((event_id, body)) if body == event.body => {
                let runs = event_runs(tx, &event_id)?;
                return Ok(Stored::Duplicate(Ingested::duplicate(event_id, runs)));
            }
            // The same key with another body is another event: keep it, unkeyed.
            Some((event_id, _)) => {
                tracing::warn!(key, first = %event_id, "idempotency key reused with a different body; stored as a new event");
                dedup_key = None;
            }
            None => {}
        }
    }
    tx.statement(Held::InsertEvent)?.execute(params![
        event.id,
        event.endpoint_id,
        event.method,
        event.url,
        encode_headers(&event.headers),
        &event.body[..],
        event.received_at.as_unix_millis(),
        event.verified,
        dedup_key,
        encode_skipped(&event.skipped),
    ])?;
    let now = Timestamp::now();
    insert_runs(tx, event, runs, now, true)?;
    Ok(Stored::New(now))
}

/// Inserts `runs` created at `now`: queued, or when `leased`, claimed as
/// [`NewRun::first_lease`] says for those with a lease.
fn insert_runs(
    tx: &Tx<'_>,
    event: &Event,
    runs: &[NewRun],
    now: Timestamp,
    leased: bool,
) -> Result<()> {
    let mut insert = tx.statement(Held::InsertRun)?;
    for run in runs {
        let first = run.first_lease(now).filter(|_| leased);
        let (attempts, epoch) = first.map_or((0, 0), |_| {
            let lease = FirstLease::LEASE;
            (lease.attempt, lease.epoch)
        });
        let status = first.map_or(RunStatus::Queued, |_| RunStatus::Running);
        insert.execute(params![
            run.id,
            run.job_id,
            run.job_version,
            event.id,
            event.endpoint_id,
            status.as_str(),
            run.max_attempts,
            now.as_unix_millis(),
            attempts,
            epoch,
            first.map(|f| f.started_at.as_unix_millis()),
            first.map(|f| f.lease_until.as_unix_millis()),
        ])?;
    }
    Ok(())
}

/// Adds runs to a stored event, replacing its skipped jobs if given; `None` if there is no
/// such event.
pub(super) fn add_runs(
    tx: &Tx<'_>,
    event_id: &str,
    runs: &[NewRun],
    skipped: Option<&SkippedJobs>,
) -> Result<Option<Vec<RunRef>>> {
    let Some(event) = load_event(tx, event_id)? else {
        return Ok(None);
    };
    if let Some(skipped) = skipped {
        tx.prepare_cached("UPDATE events SET skipped = ?2 WHERE id = ?1")?
            .execute(params![event_id, encode_skipped(skipped)])?;
    }
    insert_runs(tx, &event, runs, Timestamp::now(), false)?;
    Ok(Some(runs.iter().map(NewRun::to_ref).collect()))
}

/// Stores a task's output unless one is stored already; returns the stored one. Refused when
/// `lease` no longer holds the run.
pub(super) fn save_task(
    conn: &Connection,
    run_id: &str,
    lease: Lease,
    key: &str,
    output: &str,
) -> Result<serde_json::Value> {
    if !super::finish::holds(conn, run_id, lease)? {
        return Err(StoreError::LeaseLost {
            run_id: run_id.to_owned(),
        });
    }
    conn.prepare_cached(
        "INSERT INTO tasks (run_id, key, output, seq, saved_at, attempt) \
         VALUES (?1, ?2, ?3, (SELECT COALESCE(MAX(seq), 0) + 1 FROM tasks WHERE run_id = ?1), ?4, ?5) \
         ON CONFLICT (run_id, key) DO NOTHING",
    )?
    .execute(params![
        run_id,
        key,
        output,
        Timestamp::now().as_unix_millis(),
        lease.attempt
    ])?;
    let stored: String = conn
        .prepare_cached("SELECT output FROM tasks WHERE run_id = ?1 AND key = ?2")?
        .query_row([run_id, key], |row| row.get(0))?;
    task_output(run_id, key, &stored)
}

/// The endpoint's stored secret, storing `candidate` first if it has none.
pub(super) fn endpoint_secret(
    conn: &Connection,
    endpoint_id: &str,
    candidate: &str,
) -> Result<String> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO secrets (endpoint_id, secret, created_at) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![
        endpoint_id,
        candidate,
        Timestamp::now().as_unix_millis()
    ])?;
    Ok(conn
        .prepare_cached("SELECT secret FROM secrets WHERE endpoint_id = ?1")?
        .query_row([endpoint_id], |row| row.get(0))?)
}

/// Records that the store could write now: the readiness check.
pub(super) fn health(conn: &Connection) -> Result<()> {
    conn.prepare_cached("INSERT OR REPLACE INTO health (id, checked_at) VALUES (1, ?1)")?
        .execute([Timestamp::now().as_unix_millis()])?;
    Ok(())
}
