//! Reads: runs with their history, logs and tasks, events with their runs, lists, counts; and
//! the small writes that go with them (secrets, readiness, retention).

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::rows::{self, EVENT_COLUMNS, RUN_COLUMNS, count};
use crate::log::{LogData, LogLevel, LogLine};
use crate::store::codec::task_output;
use crate::store::{
    AttemptRecord, Event, EventRecord, LogCursor, LogPage, LogQuery, LogRecord, Pruned,
    QueueCounts, RUN_LOGS_PAGE, RUN_TASKS_SHOWN, Result, RunCounts, RunPage, RunQuery, RunRecord,
    RunRef, RunStatus, StoreError, TaskRecord,
};
use crate::time::Timestamp;

/// Runs `sql` (prepared once per connection) and returns its rows.
pub(super) async fn query(
    client: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Row>> {
    let statement = client.prepare_cached(sql).await?;
    Ok(client.query(&statement, params).await?)
}

/// Runs `sql` (prepared once per connection) and returns how many rows it changed.
pub(super) async fn execute(
    client: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64> {
    let statement = client.prepare_cached(sql).await?;
    Ok(client.execute(&statement, params).await?)
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(super) async fn load_event(client: &impl GenericClient, id: &str) -> Result<Option<Event>> {
    let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = $1");
    query(client, &sql, &[&id])
        .await?
        .first()
        .map(rows::event)
        .transpose()
}

pub(super) async fn event_runs(client: &impl GenericClient, event_id: &str) -> Result<Vec<RunRef>> {
    let rows = query(
        client,
        "SELECT id, job FROM runs WHERE event_id = $1 ORDER BY seq",
        &[&event_id],
    )
    .await?;
    rows.iter()
        .map(|row| {
            Ok(RunRef {
                id: row.try_get(0)?,
                job: row.try_get(1)?,
            })
        })
        .collect()
}

pub(super) async fn event(client: &impl GenericClient, id: &str) -> Result<Option<EventRecord>> {
    let Some(event) = load_event(client, id).await? else {
        return Ok(None);
    };
    Ok(Some(EventRecord {
        runs: event_runs(client, id).await?,
        event,
    }))
}

/// A run with its history (a successful attempt is added from the run row), its first page of
/// log lines and its first tasks.
pub(super) async fn run(client: &impl GenericClient, id: &str) -> Result<Option<RunRecord>> {
    let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = $1");
    let Some(row) = query(client, &sql, &[&id]).await?.into_iter().next() else {
        return Ok(None);
    };
    let mut run = rows::run(&row)?;
    let history = query(
        client,
        "SELECT attempt, started_at, finished_at, error FROM attempts \
         WHERE run_id = $1 ORDER BY attempt",
        &[&id],
    )
    .await?;
    for row in &history {
        run.history.push(AttemptRecord {
            attempt: count(row.try_get(0)?),
            started_at: Timestamp::from_unix_millis(row.try_get(1)?),
            finished_at: Timestamp::from_unix_millis(row.try_get(2)?),
            error: row.try_get(3)?,
        });
    }
    if let (RunStatus::Succeeded, Some(started_at), Some(finished_at)) =
        (run.status, run.started_at, run.finished_at)
    {
        run.history.push(AttemptRecord {
            attempt: run.attempts,
            started_at,
            finished_at,
            error: None,
        });
    }
    let first = LogQuery {
        cursor: None,
        limit: RUN_LOGS_PAGE,
    };
    let page = logs(client, id, &first).await?;
    run.logs = page.logs;
    run.logs_next_cursor = page.next_cursor;
    run.tasks = tasks(client, id).await?;
    Ok(Some(run))
}

async fn tasks(client: &impl GenericClient, run_id: &str) -> Result<Vec<TaskRecord>> {
    let rows = query(
        client,
        "SELECT key, output, saved_at, attempt FROM tasks WHERE run_id = $1 \
         ORDER BY seq NULLS FIRST, key LIMIT $2",
        &[&run_id, &limit(RUN_TASKS_SHOWN)],
    )
    .await?;
    rows.iter()
        .map(|row| {
            let key: String = row.try_get(0)?;
            let text: &str = row.try_get(1)?;
            let saved_at: Option<i64> = row.try_get(2)?;
            let attempt: Option<i32> = row.try_get(3)?;
            Ok(TaskRecord {
                output: task_output(run_id, &key, text)?,
                key,
                saved_at: saved_at.map(Timestamp::from_unix_millis),
                attempt: attempt.map(count),
            })
        })
        .collect()
}

/// A page of a run's log lines, `None` if there is no such run.
pub(super) async fn run_logs(
    client: &impl GenericClient,
    run_id: &str,
    page: &LogQuery,
) -> Result<Option<LogPage>> {
    let exists = query(client, "SELECT 1 FROM runs WHERE id = $1", &[&run_id]).await?;
    if exists.is_empty() {
        return Ok(None);
    }
    logs(client, run_id, page).await.map(Some)
}

/// Up to `page.limit` (at least 1) lines after `page.cursor`, by the `logs_run` index.
async fn logs(client: &impl GenericClient, run_id: &str, page: &LogQuery) -> Result<LogPage> {
    let wanted = page.limit.max(1);
    let after = page.cursor.map_or(i64::MIN, |c| c.0);
    let rows = query(
        client,
        "SELECT id, attempt, level, message, data, at FROM logs \
         WHERE run_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        &[&run_id, &after, &limit(wanted.saturating_add(1))],
    )
    .await?;
    let mut lines = Vec::with_capacity(rows.len());
    for row in &rows {
        let level: &str = row.try_get(2)?;
        let data: String = row.try_get(4)?;
        let id: i64 = row.try_get(0)?;
        lines.push((
            id,
            LogRecord {
                attempt: count(row.try_get(1)?),
                line: LogLine {
                    level: LogLevel::parse(level).unwrap_or(LogLevel::Info),
                    message: row.try_get(3)?,
                    data: LogData::stored(data),
                    at: Timestamp::from_unix_millis(row.try_get(5)?),
                },
            },
        ));
    }
    let more = lines.len() > wanted;
    lines.truncate(wanted);
    let next_cursor = if more {
        lines.last().map(|(id, _)| LogCursor(*id))
    } else {
        None
    };
    let logs = lines.into_iter().map(|(_, record)| record).collect();
    Ok(LogPage { logs, next_cursor })
}

pub(super) async fn next_due(client: &impl GenericClient) -> Result<Option<Timestamp>> {
    let rows = query(
        client,
        "SELECT MIN(run_at) FROM runs WHERE status = 'queued'",
        &[],
    )
    .await?;
    let at: Option<i64> = match rows.first() {
        Some(row) => row.try_get(0)?,
        None => None,
    };
    Ok(at.map(Timestamp::from_unix_millis))
}

fn status_of(text: &str) -> Result<RunStatus> {
    RunStatus::parse(text)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown run status {text:?}")))
}

fn tally(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

pub(super) async fn run_counts(client: &impl GenericClient) -> Result<RunCounts> {
    let rows = query(
        client,
        "SELECT status, COUNT(*) FROM runs GROUP BY status",
        &[],
    )
    .await?;
    let mut counts = RunCounts::default();
    for row in &rows {
        counts.add(status_of(row.try_get(0)?)?, tally(row.try_get(1)?));
    }
    Ok(counts)
}

/// Queued and running runs: each count's condition is that of a partial index (`runs_due`,
/// `runs_leased`), so PostgreSQL reads only the runs not finished.
pub(super) async fn queue_counts(client: &impl GenericClient) -> Result<QueueCounts> {
    let rows = query(
        client,
        "SELECT (SELECT COUNT(*) FROM runs WHERE status = 'queued'), \
         (SELECT COUNT(*) FROM runs WHERE status = 'running')",
        &[],
    )
    .await?;
    let row = rows
        .first()
        .ok_or_else(|| StoreError::Corrupt("counting the queue returned no row".to_owned()))?;
    Ok(QueueCounts {
        queued: tally(row.try_get(0)?),
        running: tally(row.try_get(1)?),
    })
}

pub(super) async fn job_run_counts(
    client: &impl GenericClient,
) -> Result<Vec<(String, RunCounts)>> {
    let rows = query(
        client,
        "SELECT job, status, COUNT(*) FROM runs GROUP BY job, status ORDER BY job",
        &[],
    )
    .await?;
    let mut counts: Vec<(String, RunCounts)> = Vec::new();
    for row in &rows {
        let job: String = row.try_get(0)?;
        let status = status_of(row.try_get(1)?)?;
        let n = tally(row.try_get(2)?);
        match counts.last_mut() {
            Some((last, job_counts)) if *last == job => job_counts.add(status, n),
            _ => {
                let mut job_counts = RunCounts::default();
                job_counts.add(status, n);
                counts.push((job, job_counts));
            }
        }
    }
    Ok(counts)
}

pub(super) async fn list_runs(client: &impl GenericClient, page: &RunQuery) -> Result<RunPage> {
    let sql = format!(
        "SELECT {RUN_COLUMNS} FROM runs WHERE ($1::text IS NULL OR status = $1) \
         AND ($2::text IS NULL OR job = $2) AND ($3::text IS NULL OR id < $3) \
         ORDER BY id DESC LIMIT $4"
    );
    let status = page.status.map(RunStatus::as_str);
    let rows = query(
        client,
        &sql,
        &[
            &status,
            &page.job,
            &page.cursor,
            &limit(page.limit.saturating_add(1)),
        ],
    )
    .await?;
    let mut runs = rows.iter().map(rows::run).collect::<Result<Vec<_>>>()?;
    let more = runs.len() > page.limit;
    runs.truncate(page.limit);
    let next_cursor = if more {
        runs.last().map(|r| r.id.clone())
    } else {
        None
    };
    Ok(RunPage { runs, next_cursor })
}

pub(super) async fn task(
    client: &impl GenericClient,
    run_id: &str,
    key: &str,
) -> Result<Option<serde_json::Value>> {
    let rows = query(
        client,
        "SELECT output FROM tasks WHERE run_id = $1 AND key = $2",
        &[&run_id, &key],
    )
    .await?;
    match rows.first() {
        Some(row) => Ok(Some(task_output(run_id, key, row.try_get(0)?)?)),
        None => Ok(None),
    }
}

/// The endpoint's stored secret, storing `candidate` first if it has none: the first server
/// to store one wins, and every server then uses it.
pub(super) async fn endpoint_secret(
    client: &impl GenericClient,
    endpoint_id: &str,
    candidate: &str,
) -> Result<String> {
    execute(
        client,
        "INSERT INTO secrets (endpoint_id, secret, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (endpoint_id) DO NOTHING",
        &[&endpoint_id, &candidate, &Timestamp::now().as_unix_millis()],
    )
    .await?;
    let rows = query(
        client,
        "SELECT secret FROM secrets WHERE endpoint_id = $1",
        &[&endpoint_id],
    )
    .await?;
    let row = rows
        .first()
        .ok_or_else(|| StoreError::Corrupt(format!("the secret of {endpoint_id:?} vanished")))?;
    Ok(row.try_get(0)?)
}

/// The readiness write.
pub(super) async fn health(client: &impl GenericClient) -> Result<()> {
    execute(
        client,
        "INSERT INTO health (id, checked_at) VALUES (1, $1) \
         ON CONFLICT (id) DO UPDATE SET checked_at = EXCLUDED.checked_at",
        &[&Timestamp::now().as_unix_millis()],
    )
    .await?;
    Ok(())
}

/// How many events a call looks at for each one it may delete (see SQLite's `prune`).
const SCAN_FACTOR: usize = 10;

/// Deletes up to `most` prunable events received before `before`, in the order they were
/// received (their ids sort by it); stops at the first newer one.
pub(super) async fn prune(
    client: &impl GenericClient,
    before: Timestamp,
    most: usize,
) -> Result<Pruned> {
    let before = before.as_unix_millis();
    let scan = most.saturating_mul(SCAN_FACTOR);
    let oldest = query(
        client,
        "SELECT id, received_at FROM events ORDER BY id LIMIT $1",
        &[&limit(scan)],
    )
    .await?;
    let mut pruned = Pruned::default();
    for row in &oldest {
        let (id, received_at): (&str, i64) = (row.try_get(0)?, row.try_get(1)?);
        if received_at >= before || pruned.events >= most {
            pruned.more = received_at < before && pruned.events > 0;
            return Ok(pruned);
        }
        // One statement: the event and everything of its, unless a run of its is unfinished
        // or newer than the cut-off (a replay).
        let deleted = query(
            client,
            "WITH doomed AS ( \
                 SELECT $1::text AS id WHERE NOT EXISTS (SELECT 1 FROM runs WHERE event_id = $1 \
                 AND (status IN ('queued', 'running') OR created_at >= $2))), \
             gone_runs AS (DELETE FROM runs WHERE event_id IN (SELECT id FROM doomed) RETURNING id), \
             gone_logs AS (DELETE FROM logs WHERE run_id IN (SELECT id FROM gone_runs)), \
             gone_attempts AS (DELETE FROM attempts WHERE run_id IN (SELECT id FROM gone_runs)), \
             gone_tasks AS (DELETE FROM tasks WHERE run_id IN (SELECT id FROM gone_runs)) \
             SELECT id FROM doomed",
            &[&id, &before],
        )
        .await?;
        if !deleted.is_empty() {
            execute(client, "DELETE FROM events WHERE id = $1", &[&id]).await?;
            pruned.events += 1;
        }
    }
    pruned.more = oldest.len() == scan && pruned.events > 0;
    Ok(pruned)
}
