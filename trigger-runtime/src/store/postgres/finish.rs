//! How attempts end (finished, released, canceled), the log lines and task outputs they
//! leave. Every write names its lease's epoch, and the ones that check before writing hold the
//! run's row (`FOR SHARE`) until they commit, so a claim by another server waits for them: a
//! worker whose lease expired can no longer write over the run's new owner.

use deadpool_postgres::{GenericClient, Transaction};
use tokio_postgres::types::Type;

use super::claim::epoch;
use super::read::{execute, query};
use crate::log::LogLine;
use crate::store::codec::task_output;
use crate::store::{AttemptOutcome, Lease, Result, RunStatus, StoreError};
use crate::time::Timestamp;

/// What each outcome changes in the run, with `$8` now, `$9` the output or error and `$10`
/// when to run again.
const SUCCEED: &str =
    "status = 'succeeded', output = $9, error = NULL, finished_at = $8, lease_until = NULL";
const RETRY: &str = "status = 'queued', error = $9, run_at = $10, lease_until = NULL";
const FAIL: &str = "status = 'failed', error = $9, finished_at = $8, lease_until = NULL";
const SUSPEND: &str =
    "status = 'queued', run_at = $10, attempts = attempts - 1, lease_until = NULL";

/// The types of the parameters of [`end_statement`].
const END_TYPES: &[Type] = &[
    Type::TEXT,
    Type::INT8,
    Type::INT4,
    Type::TEXT_ARRAY,
    Type::TEXT_ARRAY,
    Type::TEXT_ARRAY,
    Type::INT8_ARRAY,
    Type::INT8,
    Type::TEXT,
    Type::INT8,
];

/// One statement that ends an attempt, if its lease (`$1` the run, `$2` the epoch) still holds
/// the run: the run's change (`set`), its failed attempt's row when `recorded`, and its log
/// lines (`$3` the attempt, `$4`..`$7` levels, messages, data and times); it returns a row
/// only when the lease held. Its commit does not wait for the disk.
fn end_statement(set: &str, recorded: bool) -> String {
    let attempt = if recorded {
        ", tried AS (INSERT INTO attempts (run_id, attempt, started_at, finished_at, error) \
         SELECT $1, $3, COALESCE(started_at, $8), $8, $9 FROM run \
         ON CONFLICT (run_id, attempt) DO UPDATE SET started_at = EXCLUDED.started_at, \
         finished_at = EXCLUDED.finished_at, error = EXCLUDED.error)"
    } else {
        ""
    };
    format!(
        "WITH run AS (UPDATE runs SET {set} \
             WHERE id = $1 AND status = 'running' AND lease_epoch = $2 RETURNING started_at), \
         lines AS (INSERT INTO logs (run_id, attempt, level, message, data, at) \
             SELECT $1, $3, l.level, l.message, l.data, l.at \
             FROM UNNEST($4::text[], $5::text[], $6::text[], $7::int8[]) WITH ORDINALITY \
             AS l(level, message, data, at, n) WHERE EXISTS (SELECT 1 FROM run) ORDER BY l.n)\
         {attempt} \
         SELECT set_config('synchronous_commit', 'off', true) FROM run"
    )
}

fn attempt_number(lease: Lease) -> i32 {
    i32::try_from(lease.attempt).unwrap_or(i32::MAX)
}

/// The columns of log lines, for an `UNNEST`.
struct LineColumns<'a> {
    levels: Vec<&'a str>,
    messages: Vec<&'a str>,
    data: Vec<&'a str>,
    at: Vec<i64>,
}

impl<'a> LineColumns<'a> {
    fn of(lines: &'a [LogLine]) -> Self {
        Self {
            levels: lines.iter().map(|l| l.level.as_str()).collect(),
            messages: lines.iter().map(|l| l.message.as_str()).collect(),
            data: lines.iter().map(|l| l.data.as_str()).collect(),
            at: lines.iter().map(|l| l.at.as_unix_millis()).collect(),
        }
    }
}

/// Records how the attempt of `lease` ended and stores its last log lines, in one statement,
/// if it still holds the run; `false` and no change otherwise.
///
/// The commit does not wait for the disk (`synchronous_commit = off`; PostgreSQL flushes it
/// within `wal_writer_delay`, 200 ms by default): only a crash of PostgreSQL itself in that
/// window loses the outcome, and the run then executes again when its lease expires, as after
/// a worker's crash. Ingests, claims and task outputs always wait for the disk.
pub(super) async fn finish(
    client: &impl GenericClient,
    run_id: &str,
    lease: Lease,
    lines: &[LogLine],
    outcome: &AttemptOutcome,
) -> Result<bool> {
    let now = Timestamp::now().as_unix_millis();
    let (set, recorded, value, at) = match outcome {
        AttemptOutcome::Succeeded(output) => (SUCCEED, false, Some(output.to_string()), now),
        AttemptOutcome::Retry { error, at } => {
            (RETRY, true, Some(error.clone()), at.as_unix_millis())
        }
        AttemptOutcome::Failed { error } => (FAIL, true, Some(error.clone()), now),
        AttemptOutcome::Suspended { until } => (SUSPEND, false, None, until.as_unix_millis()),
    };
    let statement = client
        .prepare_typed_cached(&end_statement(set, recorded), END_TYPES)
        .await?;
    let columns = LineColumns::of(lines);
    let rows = client
        .query(
            &statement,
            &[
                &run_id,
                &epoch(lease),
                &attempt_number(lease),
                &columns.levels,
                &columns.messages,
                &columns.data,
                &columns.at,
                &now,
                &value,
                &at,
            ],
        )
        .await?;
    Ok(!rows.is_empty())
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

/// Appends log lines while the attempt still holds the run (its row held against claims
/// meanwhile), in one statement: a stale attempt's lines are dropped, like everything else it
/// writes. Committed without waiting for the disk, like [`finish`].
pub(super) async fn append_logs(
    client: &impl GenericClient,
    run_id: &str,
    lease: Lease,
    lines: &[LogLine],
) -> Result<()> {
    if lines.is_empty() {
        return Ok(());
    }
    let columns = LineColumns::of(lines);
    query(
        client,
        "WITH held AS (SELECT 1 FROM runs WHERE id = $1 AND lease_epoch = $2 \
             AND status = 'running' FOR SHARE), \
         lines AS (INSERT INTO logs (run_id, attempt, level, message, data, at) \
             SELECT $1, $3, l.level, l.message, l.data, l.at \
             FROM UNNEST($4::text[], $5::text[], $6::text[], $7::int8[]) WITH ORDINALITY \
             AS l(level, message, data, at, n) WHERE EXISTS (SELECT 1 FROM held) \
             ORDER BY l.n) \
         SELECT set_config('synchronous_commit', 'off', true) FROM held",
        &[
            &run_id,
            &epoch(lease),
            &attempt_number(lease),
            &columns.levels,
            &columns.messages,
            &columns.data,
            &columns.at,
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
