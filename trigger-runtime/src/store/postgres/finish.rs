//! How attempts end (finished, released, canceled), the log lines and task outputs they
//! leave. Every write names its lease's epoch, and the ones that check before writing hold the
//! run's row (`FOR SHARE`) until they commit, so a claim by another server waits for them: a
//! worker whose lease expired can no longer write over the run's new owner.

use deadpool_postgres::{GenericClient, Transaction};

use super::claim::epoch;
use super::read::{execute, query};
use crate::log::LogLine;
use crate::store::codec::task_output;
use crate::store::{AttemptOutcome, Lease, Result, RunStatus, StoreError};
use crate::time::Timestamp;

const SUCCEED: &str = "UPDATE runs SET status = 'succeeded', output = $3, error = NULL, \
     finished_at = $4, lease_until = NULL \
     WHERE id = $1 AND status = 'running' AND lease_epoch = $2 RETURNING started_at";
const RETRY: &str = "UPDATE runs SET status = 'queued', error = $3, run_at = $4, \
     lease_until = NULL \
     WHERE id = $1 AND status = 'running' AND lease_epoch = $2 RETURNING started_at";
const FAIL: &str = "UPDATE runs SET status = 'failed', error = $3, finished_at = $4, \
     lease_until = NULL \
     WHERE id = $1 AND status = 'running' AND lease_epoch = $2 RETURNING started_at";

fn attempt_number(lease: Lease) -> i32 {
    i32::try_from(lease.attempt).unwrap_or(i32::MAX)
}

/// Records how the attempt of `lease` ended and stores its last log lines, if it still holds
/// the run; `false` and no change otherwise.
pub(super) async fn finish(
    tx: &Transaction<'_>,
    run_id: &str,
    lease: Lease,
    lines: &[LogLine],
    outcome: &AttemptOutcome,
) -> Result<bool> {
    let now = Timestamp::now().as_unix_millis();
    let held = |sql: &'static str, value: String, at: i64| async move {
        let rows = query(tx, sql, &[&run_id, &epoch(lease), &value, &at]).await?;
        match rows.first() {
            Some(row) => {
                Ok::<_, StoreError>(Some(row.try_get::<_, Option<i64>>(0)?.unwrap_or(now)))
            }
            None => Ok(None),
        }
    };
    let (started_at, error) = match outcome {
        AttemptOutcome::Succeeded(output) => (held(SUCCEED, output.to_string(), now).await?, None),
        AttemptOutcome::Retry { error, at } => (
            held(RETRY, error.clone(), at.as_unix_millis()).await?,
            Some(error),
        ),
        AttemptOutcome::Failed { error } => (held(FAIL, error.clone(), now).await?, Some(error)),
        AttemptOutcome::Suspended { until } => {
            let requeued = requeue(tx, run_id, lease, *until).await?;
            if requeued {
                insert_logs(tx, run_id, lease, lines).await?;
            }
            return Ok(requeued);
        }
    };
    let Some(started_at) = started_at else {
        return Ok(false);
    };
    if let Some(error) = error {
        execute(
            tx,
            "INSERT INTO attempts (run_id, attempt, started_at, finished_at, error) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (run_id, attempt) DO UPDATE SET \
             started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at, \
             error = EXCLUDED.error",
            &[&run_id, &attempt_number(lease), &started_at, &now, error],
        )
        .await?;
    }
    insert_logs(tx, run_id, lease, lines).await?;
    Ok(true)
}

/// Queues the run again at `at` without counting the attempt (a wait, or a shutdown), if
/// `lease` still holds the run.
pub(super) async fn requeue(
    client: &impl GenericClient,
    run_id: &str,
    lease: Lease,
    at: Timestamp,
) -> Result<bool> {
    let changed = execute(
        client,
        "UPDATE runs SET status = 'queued', run_at = $3, attempts = attempts - 1, \
         lease_until = NULL WHERE id = $1 AND status = 'running' AND lease_epoch = $2",
        &[&run_id, &epoch(lease), &at.as_unix_millis()],
    )
    .await?;
    Ok(changed == 1)
}

/// Whether `lease` still holds the run; the row stays locked against claims until the
/// transaction ends.
pub(super) async fn holds(tx: &Transaction<'_>, run_id: &str, lease: Lease) -> Result<bool> {
    let rows = query(
        tx,
        "SELECT 1 FROM runs WHERE id = $1 AND lease_epoch = $2 AND status = 'running' FOR SHARE",
        &[&run_id, &epoch(lease)],
    )
    .await?;
    Ok(!rows.is_empty())
}

/// Cancels a queued or running run; its status afterwards, `None` if there is no such run.
pub(super) async fn cancel(client: &impl GenericClient, run_id: &str) -> Result<Option<RunStatus>> {
    execute(
        client,
        "UPDATE runs SET status = 'canceled', finished_at = $2, lease_until = NULL \
         WHERE id = $1 AND status IN ('queued', 'running')",
        &[&run_id, &Timestamp::now().as_unix_millis()],
    )
    .await?;
    let rows = query(client, "SELECT status FROM runs WHERE id = $1", &[&run_id]).await?;
    match rows.first() {
        Some(row) => Ok(RunStatus::parse(row.try_get(0)?)),
        None => Ok(None),
    }
}

/// Appends log lines while the attempt still holds the run: a stale attempt's lines are
/// dropped, like everything else it writes.
pub(super) async fn append_logs(
    tx: &Transaction<'_>,
    run_id: &str,
    lease: Lease,
    lines: &[LogLine],
) -> Result<()> {
    if holds(tx, run_id, lease).await? {
        insert_logs(tx, run_id, lease, lines).await?;
    }
    Ok(())
}

/// The lines in one statement, in order.
async fn insert_logs(
    client: &impl GenericClient,
    run_id: &str,
    lease: Lease,
    lines: &[LogLine],
) -> Result<()> {
    if lines.is_empty() {
        return Ok(());
    }
    let levels: Vec<&str> = lines.iter().map(|l| l.level.as_str()).collect();
    let messages: Vec<&str> = lines.iter().map(|l| l.message.as_str()).collect();
    let data: Vec<String> = lines.iter().map(|l| l.data.to_string()).collect();
    let at: Vec<i64> = lines.iter().map(|l| l.at.as_unix_millis()).collect();
    execute(
        client,
        "INSERT INTO logs (run_id, attempt, level, message, data, at) \
         SELECT $1, $2, level, message, data, at \
         FROM UNNEST($3::text[], $4::text[], $5::text[], $6::int8[]) \
         WITH ORDINALITY AS l(level, message, data, at, n) ORDER BY n",
        &[
            &run_id,
            &attempt_number(lease),
            &levels,
            &messages,
            &data,
            &at,
        ],
    )
    .await?;
    Ok(())
}

/// Stores a task's output unless one is stored already; returns the stored one. Refused when
/// `lease` no longer holds the run.
pub(super) async fn save_task(
    tx: &Transaction<'_>,
    run_id: &str,
    lease: Lease,
    key: &str,
    output: &str,
) -> Result<serde_json::Value> {
    if !holds(tx, run_id, lease).await? {
        return Err(StoreError::LeaseLost {
            run_id: run_id.to_owned(),
        });
    }
    execute(
        tx,
        "INSERT INTO tasks (run_id, key, output, seq, saved_at, attempt) \
         VALUES ($1, $2, $3, (SELECT COALESCE(MAX(seq), 0) + 1 FROM tasks WHERE run_id = $1), \
         $4, $5) ON CONFLICT (run_id, key) DO NOTHING",
        &[
            &run_id,
            &key,
            &output,
            &Timestamp::now().as_unix_millis(),
            &attempt_number(lease),
        ],
    )
    .await?;
    let rows = query(
        tx,
        "SELECT output FROM tasks WHERE run_id = $1 AND key = $2",
        &[&run_id, &key],
    )
    .await?;
    let row = rows
        .first()
        .ok_or_else(|| StoreError::Corrupt(format!("task {key:?} of run {run_id} vanished")))?;
    task_output(run_id, key, row.try_get(0)?)
}
