//! How attempts end: finished (succeeded, retried, failed, suspended), released, canceled;
//! and the log lines they leave. Every write names its lease's epoch, so a worker that lost its
//! lease changes nothing.

use rusqlite::{Connection, OptionalExtension, Statement, params};

use super::held::{Held, Tx};

use crate::log::LogLine;
use crate::store::{AttemptOutcome, Lease, Result, RunStatus};
use crate::time::Timestamp;

// No `RETURNING`: SQLite keeps what it returns in a temporary b-tree that it opens, pages and
// closes on every execution, which made these updates cost about twice as many instructions
// (measured with `trigger-bench store` under callgrind).
pub(super) const SUCCEED: &str = "UPDATE runs SET status = 'succeeded', output = ?3, error = NULL, \
     finished_at = ?4, lease_until = NULL \
     WHERE id = ?1 AND status = 'running' AND lease_epoch = ?2";
const RETRY: &str = "UPDATE runs SET status = 'queued', error = ?3, run_at = ?4, \
     lease_until = NULL \
     WHERE id = ?1 AND status = 'running' AND lease_epoch = ?2";
const FAIL: &str = "UPDATE runs SET status = 'failed', error = ?3, finished_at = ?4, \
     lease_until = NULL \
     WHERE id = ?1 AND status = 'running' AND lease_epoch = ?2";

/// A log line's row (see [`insert_logs`]).
pub(super) const INSERT_LOG: &str = "INSERT INTO logs (run_id, attempt, level, message, data, at) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

/// Records how the attempt of `lease` ended and stores its last log lines, if it still holds
/// the run;
/// `false` and no change otherwise. A successful attempt gets no row in `attempts`: the run
/// row has its times, and reads add it to the history.
pub(super) fn finish(
    tx: &Tx<'_>,
    run_id: &str,
    lease: Lease,
    lines: &[LogLine],
    outcome: &AttemptOutcome,
) -> Result<bool> {
    let (attempt, epoch) = (lease.attempt, lease.epoch);
    let now = Timestamp::now().as_unix_millis();
    // Whether the attempt still held the run (and now has ended it).
    let held = |update: &mut Statement<'_>, value: String, at: i64| -> Result<bool> {
        let changed = update.execute(params![run_id, epoch, value, at])?;
        Ok(changed == 1)
    };
    let (held, error) = match outcome {
        AttemptOutcome::Succeeded(output) => {
            let mut succeed = tx.statement(Held::Succeed)?;
            (held(&mut succeed, output.to_string(), now)?, None)
        }
        AttemptOutcome::Retry { error, at } => {
            let mut retry = tx.prepare_cached(RETRY)?;
            let at = at.as_unix_millis();
            (held(&mut retry, error.clone(), at)?, Some(error))
        }
        AttemptOutcome::Failed { error } => {
            let mut fail = tx.prepare_cached(FAIL)?;
            (held(&mut fail, error.clone(), now)?, Some(error))
        }
        AttemptOutcome::Suspended { until } => {
            let requeued = requeue(tx, run_id, lease, *until)?;
            if requeued {
                insert_logs(tx, run_id, attempt, lines)?;
            }
            return Ok(requeued);
        }
    };
    if !held {
        return Ok(false);
    }
    if let Some(error) = error {
        // The update left `started_at` as the claim set it.
        let started_at: Option<i64> = tx
            .prepare_cached("SELECT started_at FROM runs WHERE id = ?1")?
            .query_row([run_id], |row| row.get(0))?;
        tx.prepare_cached(
            "INSERT OR REPLACE INTO attempts (run_id, attempt, started_at, finished_at, error) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![
            run_id,
            attempt,
            started_at.unwrap_or(now),
            now,
            error
        ])?;
    }
    insert_logs(tx, run_id, attempt, lines)?;
    Ok(true)
}

/// Queues the run again at `at` without counting the attempt (a wait, or a shutdown), if
/// `lease` still holds the run.
fn requeue(conn: &Connection, run_id: &str, lease: Lease, at: Timestamp) -> Result<bool> {
    let changed = conn
        .prepare_cached(
            "UPDATE runs SET status = 'queued', run_at = ?3, attempts = attempts - 1, \
             lease_until = NULL WHERE id = ?1 AND status = 'running' AND lease_epoch = ?2",
        )?
        .execute(params![run_id, lease.epoch, at.as_unix_millis()])?;
    Ok(changed == 1)
}

/// Gives an unfinished attempt back for the next start.
pub(super) fn release(conn: &Connection, run_id: &str, lease: Lease) -> Result<()> {
    requeue(conn, run_id, lease, Timestamp::now()).map(drop)
}

/// Whether `lease` still holds the run.
pub(super) fn holds(conn: &Connection, run_id: &str, lease: Lease) -> Result<bool> {
    let held: Option<i64> = conn
        .prepare_cached(
            "SELECT 1 FROM runs WHERE id = ?1 AND lease_epoch = ?2 AND status = 'running'",
        )?
        .query_row(params![run_id, lease.epoch], |row| row.get(0))
        .optional()?;
    Ok(held.is_some())
}

/// Cancels a queued or running run; its status afterwards, `None` if there is no such run.
pub(super) fn cancel(conn: &Connection, run_id: &str) -> Result<Option<RunStatus>> {
    conn.prepare_cached(
        "UPDATE runs SET status = 'canceled', finished_at = ?2, lease_until = NULL \
         WHERE id = ?1 AND status IN ('queued', 'running')",
    )?
    .execute(params![run_id, Timestamp::now().as_unix_millis()])?;
    let status: Option<String> = conn
        .prepare_cached("SELECT status FROM runs WHERE id = ?1")?
        .query_row([run_id], |row| row.get(0))
        .optional()?;
    Ok(status.as_deref().and_then(RunStatus::parse))
}

/// Appends log lines while the attempt still holds the run: a stale attempt's lines are
/// dropped, like everything else it writes.
pub(super) fn append_logs(
    tx: &Tx<'_>,
    run_id: &str,
    lease: Lease,
    lines: &[LogLine],
) -> Result<()> {
    if holds(tx, run_id, lease)? {
        insert_logs(tx, run_id, lease.attempt, lines)?;
    }
    Ok(())
}

fn insert_logs(tx: &Tx<'_>, run_id: &str, attempt: u32, lines: &[LogLine]) -> Result<()> {
    let mut insert = tx.statement(Held::InsertLog)?;
    for line in lines {
        insert.execute(params![
            run_id,
            attempt,
            line.level.as_str(),
            line.message,
            line.data.as_str(),
            line.at.as_unix_millis()
        ])?;
    }
    Ok(())
}
