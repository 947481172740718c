//! Reads: runs with their history and logs, events with their runs, lists, counts, tasks.

use std::collections::{BTreeMap, HashMap};

use rusqlite::{Connection, OptionalExtension, params};

use super::rows::{self, EVENT_COLUMNS, RUN_COLUMNS};
use crate::log::{LogData, LogLevel, LogLine};
use crate::store::codec::task_output;
use crate::store::{
    AttemptRecord, Event, EventRecord, LogCursor, LogPage, LogQuery, LogRecord, QueueCounts,
    RUN_LOGS_PAGE, RUN_TASKS_SHOWN, Result, RunCounts, RunPage, RunQuery, RunRecord, RunRef,
    RunStatus, StoreError, TaskRecord,
};
use crate::time::Timestamp;

pub(super) fn load_event(conn: &Connection, id: &str) -> Result<Option<Event>> {
    let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], rows::event)
        .optional()?)
}

/// The events `ids` name (each once), each read or why it cannot be: missing from the store,
/// or stored in a form that does not read back; an error only when the database fails.
pub(super) fn load_events(conn: &Connection, ids: &[String]) -> Result<HashMap<String, Loaded>> {
    let mut events = HashMap::with_capacity(ids.len());
    for id in ids {
        if events.contains_key(id) {
            continue;
        }
        let event = match load_event(conn, id) {
            Ok(Some(event)) => Ok(event),
            Ok(None) => Err(format!("its event {id} is missing from the store")),
            Err(StoreError::Sqlite(error)) if is_decode_error(&error) => {
                Err(format!("its event {id} cannot be read: {error}"))
            }
            Err(error) => return Err(error),
        };
        events.insert(id.clone(), event);
    }
    Ok(events)
}

/// An event read for a claimed run, or why it cannot start.
pub(super) type Loaded = std::result::Result<Event, String>;

/// Whether `error` is a stored value that does not read back as its type.
fn is_decode_error(error: &rusqlite::Error) -> bool {
    matches!(
        error,
        rusqlite::Error::FromSqlConversionFailure(..)
            | rusqlite::Error::InvalidColumnType(..)
            | rusqlite::Error::IntegralValueOutOfRange(..)
    )
}

pub(super) fn event_runs(conn: &Connection, event_id: &str) -> Result<Vec<RunRef>> {
    let mut stmt =
        conn.prepare_cached("SELECT id, job FROM runs WHERE event_id = ?1 ORDER BY rowid")?;
    let runs = stmt
        .query_map([event_id], |row| {
            Ok(RunRef {
                id: row.get("id")?,
                job: row.get("job")?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(runs)
}

pub(super) fn event(conn: &Connection, id: &str) -> Result<Option<EventRecord>> {
    let Some(event) = load_event(conn, id)? else {
        return Ok(None);
    };
    Ok(Some(EventRecord {
        runs: event_runs(conn, id)?,
        event,
    }))
}

/// A run with its history (a successful attempt is added from the run row) and the first page
/// of its logs.
pub(super) fn run(conn: &Connection, id: &str) -> Result<Option<RunRecord>> {
    let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1");
    let Some(mut run) = conn
        .prepare_cached(&sql)?
        .query_row([id], rows::run)
        .optional()?
    else {
        return Ok(None);
    };
    run.history = conn
        .prepare_cached(
            "SELECT attempt, started_at, finished_at, error FROM attempts \
             WHERE run_id = ?1 ORDER BY attempt",
        )?
        .query_map([id], |row| {
            Ok(AttemptRecord {
                attempt: row.get("attempt")?,
                started_at: Timestamp::from_unix_millis(row.get("started_at")?),
                finished_at: Timestamp::from_unix_millis(row.get("finished_at")?),
                error: row.get("error")?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
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
    let page = logs(conn, id, &first)?;
    run.logs = page.logs;
    run.logs_next_cursor = page.next_cursor;
    run.tasks = tasks(conn, id)?;
    Ok(Some(run))
}

/// The first [`RUN_TASKS_SHOWN`] tasks of a run, in the order they were saved (those saved
/// before migration 6 kept the order come first, by key).
fn tasks(conn: &Connection, run_id: &str) -> Result<Vec<TaskRecord>> {
    let rows = conn
        .prepare_cached(
            "SELECT key, output, saved_at, attempt FROM tasks WHERE run_id = ?1 \
             ORDER BY seq, key LIMIT ?2",
        )?
        .query_map(params![run_id, RUN_TASKS_SHOWN as i64], |row| {
            let saved_at: Option<i64> = row.get("saved_at")?;
            Ok((
                row.get::<_, String>("key")?,
                row.get::<_, String>("output")?,
                saved_at.map(Timestamp::from_unix_millis),
                row.get::<_, Option<u32>>("attempt")?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter()
        .map(|(key, text, saved_at, attempt)| {
            Ok(TaskRecord {
                output: task_output(run_id, &key, &text)?,
                key,
                saved_at,
                attempt,
            })
        })
        .collect()
}

/// A page of a run's log lines, `None` if there is no such run.
pub(super) fn run_logs(
    conn: &Connection,
    run_id: &str,
    query: &LogQuery,
) -> Result<Option<LogPage>> {
    let exists = conn
        .prepare_cached("SELECT 1 FROM runs WHERE id = ?1")?
        .exists([run_id])?;
    if !exists {
        return Ok(None);
    }
    logs(conn, run_id, query).map(Some)
}

/// Up to `query.limit` (at least 1) lines after `query.cursor`, by the `logs_run` index.
fn logs(conn: &Connection, run_id: &str, query: &LogQuery) -> Result<LogPage> {
    let limit = query.limit.max(1);
    let mut stmt = conn.prepare_cached(
        "SELECT id, attempt, level, message, data, at FROM logs \
         WHERE run_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
    )?;
    let after = query.cursor.map_or(i64::MIN, |c| c.0);
    let fetch = i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX);
    let mut lines: Vec<(i64, LogRecord)> = stmt
        .query_map(params![run_id, after, fetch], |row| {
            let level: String = row.get("level")?;
            let data: String = row.get("data")?;
            let record = LogRecord {
                attempt: row.get("attempt")?,
                line: LogLine {
                    level: LogLevel::parse(&level).unwrap_or(LogLevel::Info),
                    message: row.get("message")?,
                    data: LogData::stored(data),
                    at: Timestamp::from_unix_millis(row.get("at")?),
                },
            };
            Ok((row.get("id")?, record))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let more = lines.len() > limit;
    lines.truncate(limit);
    let next_cursor = if more {
        lines.last().map(|(id, _)| LogCursor(*id))
    } else {
        None
    };
    let logs = lines.into_iter().map(|(_, record)| record).collect();
    Ok(LogPage { logs, next_cursor })
}

/// When the earliest queued run is due.
pub(super) fn next_due(conn: &Connection) -> Result<Option<Timestamp>> {
    let at: Option<i64> = conn
        .prepare_cached("SELECT MIN(run_at) FROM runs WHERE status = 'queued'")?
        .query_row([], |row| row.get(0))?;
    Ok(at.map(Timestamp::from_unix_millis))
}

/// The runs of each status, counted in one pass. Not `GROUP BY status`: without an index on
/// `status` SQLite sorts every row first, in memory (`temp_store = MEMORY`), so each count of a
/// million runs held about 45 MB, and the server's memory grew with its database.
const RUN_COUNTS: &str = "SELECT COUNT(*), \
     COUNT(*) FILTER (WHERE status = 'queued'), COUNT(*) FILTER (WHERE status = 'running'), \
     COUNT(*) FILTER (WHERE status = 'succeeded'), COUNT(*) FILTER (WHERE status = 'failed'), \
     COUNT(*) FILTER (WHERE status = 'canceled') FROM runs";

pub(super) fn run_counts(conn: &Connection) -> Result<RunCounts> {
    let (all, counts) = conn.prepare_cached(RUN_COUNTS)?.query_row([], |row| {
        Ok((
            row.get::<_, u64>(0)?,
            RunCounts {
                queued: row.get(1)?,
                running: row.get(2)?,
                succeeded: row.get(3)?,
                failed: row.get(4)?,
                canceled: row.get(5)?,
            },
        ))
    })?;
    if all != counts.total() {
        return Err(StoreError::Corrupt(format!(
            "{} runs have an unknown status",
            all - counts.total().min(all)
        )));
    }
    Ok(counts)
}

/// Queued and running runs, each counted from its partial index (`runs_due`, `runs_leased`)
/// without reading the table.
const QUEUE_COUNTS: &str = "SELECT (SELECT COUNT(*) FROM runs WHERE status = 'queued'), \
     (SELECT COUNT(*) FROM runs WHERE status = 'running')";

pub(super) fn queue_counts(conn: &Connection) -> Result<QueueCounts> {
    Ok(conn.prepare_cached(QUEUE_COUNTS)?.query_row([], |row| {
        Ok(QueueCounts {
            queued: row.get(0)?,
            running: row.get(1)?,
        })
    })?)
}

/// Every run's job and status, counted here rather than by `GROUP BY` (see [`RUN_COUNTS`]):
/// memory for each job, not for each run.
const JOB_RUNS: &str = "SELECT job, status FROM runs";

pub(super) fn job_run_counts(conn: &Connection) -> Result<Vec<(String, RunCounts)>> {
    let mut stmt = conn.prepare_cached(JOB_RUNS)?;
    let mut rows = stmt.query([])?;
    let mut counts: BTreeMap<String, RunCounts> = BTreeMap::new();
    while let Some(row) = rows.next()? {
        let text = |i: usize| -> rusqlite::Result<&str> {
            let value = row.get_ref(i)?;
            value.as_str().map_err(|error| {
                rusqlite::Error::FromSqlConversionFailure(i, value.data_type(), Box::new(error))
            })
        };
        let (job, status) = (text(0)?, text(1)?);
        let status = RunStatus::parse(status)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown run status {status:?}")))?;
        match counts.get_mut(job) {
            Some(job_counts) => job_counts.add(status, 1),
            None => counts.entry(job.to_owned()).or_default().add(status, 1),
        }
    }
    Ok(counts.into_iter().collect())
}

pub(super) fn list_runs(conn: &Connection, query: &RunQuery) -> Result<RunPage> {
    let sql = format!(
        "SELECT {RUN_COLUMNS} FROM runs WHERE (?1 IS NULL OR status = ?1) \
         AND (?2 IS NULL OR job = ?2) AND (?3 IS NULL OR id < ?3) ORDER BY id DESC LIMIT ?4"
    );
    let limit = i64::try_from(query.limit.saturating_add(1)).unwrap_or(i64::MAX);
    let mut runs: Vec<RunRecord> = conn
        .prepare_cached(&sql)?
        .query_map(
            params![
                query.status.map(RunStatus::as_str),
                query.job,
                query.cursor,
                limit
            ],
            rows::run,
        )?
        .collect::<rusqlite::Result<_>>()?;
    let more = runs.len() > query.limit;
    runs.truncate(query.limit);
    let next_cursor = if more {
        runs.last().map(|r| r.id.clone())
    } else {
        None
    };
    Ok(RunPage { runs, next_cursor })
}

/// The stored output of task `key` of a run.
pub(super) fn task(
    conn: &Connection,
    run_id: &str,
    key: &str,
) -> Result<Option<serde_json::Value>> {
    let output: Option<String> = conn
        .prepare_cached("SELECT output FROM tasks WHERE run_id = ?1 AND key = ?2")?
        .query_row([run_id, key], |row| row.get(0))
        .optional()?;
    output
        .map(|text| task_output(run_id, key, &text))
        .transpose()
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::{JOB_RUNS, QUEUE_COUNTS, RUN_COUNTS};

    fn plan(conn: &Connection, sql: &str) -> Vec<String> {
        conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap()
            .query_map([], |row| row.get::<_, String>("detail"))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    #[test]
    fn counting_runs_sorts_nothing() {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::migrate::run(&mut conn).unwrap();
        for sql in [RUN_COUNTS, JOB_RUNS] {
            let plan = plan(&conn, sql);
            assert!(
                plan.iter().all(|step| !step.contains("TEMP B-TREE")),
                "{sql}: {plan:?}"
            );
        }
    }

    #[test]
    fn the_queue_is_counted_from_its_indexes_alone() {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::migrate::run(&mut conn).unwrap();
        let plan = plan(&conn, QUEUE_COUNTS);
        let scans: Vec<&String> = plan.iter().filter(|s| s.contains("runs")).collect();
        assert_eq!(scans.len(), 2, "{plan:?}");
        for (scan, index) in scans.into_iter().zip(["runs_due", "runs_leased"]) {
            assert!(
                scan.contains(&format!("USING COVERING INDEX {index}")),
                "{plan:?}"
            );
        }
    }
}
