//! The embedded SQLite driver (`sqlite://path`), the durable default.
//!
//! WAL journal with `synchronous = FULL`: a commit returns only once it is on disk. All writes
//! go through one writer thread that commits in batches (see [`writer`]); reads use a second
//! connection. Ingest answers only after the batch holding its event and runs has committed.

mod migrate;
mod rows;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use self::rows::{EVENT_COLUMNS, RUN_COLUMNS};
use self::writer::Writer;
use super::{
    AttemptOutcome, AttemptRecord, ClaimRequest, ClaimedRun, EventRecord, Ingested, LogRecord,
    NewEvent, NewRun, Result, RunCounts, RunPage, RunQuery, RunRecord, RunRef, RunStatus,
    StoreDriver, StoreError,
};
use crate::io::{LogLevel, LogLine};
use crate::time::Timestamp;

use super::LOST_LEASE;

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        Self::Backend(format!("SQLite: {error}"))
    }
}

/// A store in one SQLite file.
pub struct SqliteStore {
    path: PathBuf,
    writer: Writer,
    reader: Arc<Mutex<Connection>>,
    expiry: Arc<ExpiryScan>,
    /// The checkpointer thread stops when this is dropped.
    _alive: Arc<()>,
}

/// When expired leases were last looked for, and the shortest lease claimed (both in ms).
struct ExpiryScan {
    last: AtomicI64,
    shortest_lease: AtomicI64,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    // Savepoints' statement journals and sorts stay in memory; 16 MiB of page cache.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "cache_size", -16_384)?;
    // Whichever connection restarts the WAL truncates the file back to this size.
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

impl SqliteStore {
    /// Opens (creating if needed, with its directory) the database at `path` and migrates it.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Backend(format!("could not create {}: {e}", dir.display()))
            })?;
        }
        let opened = |e: rusqlite::Error| {
            StoreError::Backend(format!("could not open {}: {e}", path.display()))
        };
        let mut conn = connect(&path).map_err(opened)?;
        migrate::run(&mut conn)?.map_err(StoreError::Backend)?;
        // Checkpoints run on their own thread, so the writer never stops to copy the WAL
        // into the database (that showed as 100 ms stalls in acknowledgement latency).
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        let reader = connect(&path).map_err(opened)?;
        let alive = Arc::new(());
        checkpointer(connect(&path).map_err(opened)?, Arc::downgrade(&alive)).map_err(|e| {
            StoreError::Backend(format!("could not start the SQLite checkpointer: {e}"))
        })?;
        let writer = Writer::spawn(conn)
            .map_err(|e| StoreError::Backend(format!("could not start the SQLite writer: {e}")))?;
        Ok(Self {
            path,
            writer,
            reader: Arc::new(Mutex::new(reader)),
            expiry: Arc::new(ExpiryScan {
                last: AtomicI64::new(0),
                shortest_lease: AtomicI64::new(i64::MAX),
            }),
            _alive: alive,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `(commits, writes)` since open: with concurrent writers, commits < writes (group commit).
    pub fn commit_stats(&self) -> (u64, u64) {
        let counters = &self.writer.counters;
        (
            counters.commits.load(std::sync::atomic::Ordering::Relaxed),
            counters.writes.load(std::sync::atomic::Ordering::Relaxed),
        )
    }

    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let reader = Arc::clone(&self.reader);
        tokio::task::spawn_blocking(move || {
            let conn = reader
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            f(&conn)
        })
        .await
        .map_err(|e| StoreError::Backend(format!("SQLite read task failed: {e}")))?
    }
}

/// Copies the WAL into the database every 200 ms without blocking the writer (a passive
/// checkpoint), until the store is dropped. The writer starts the WAL over once everything in
/// it is checkpointed, and `journal_size_limit` keeps the file small.
fn checkpointer(conn: Connection, alive: std::sync::Weak<()>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("trigger-sqlite-checkpoint".to_owned())
        .spawn(move || {
            while alive.upgrade().is_some() {
                std::thread::sleep(Duration::from_millis(200));
                if let Err(error) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                {
                    tracing::warn!(%error, "SQLite checkpoint failed; retrying");
                }
            }
        })?;
    Ok(())
}

fn insert_runs(
    conn: &Connection,
    event: &NewEvent,
    runs: &[NewRun],
    now: i64,
) -> Result<Vec<RunRef>> {
    let mut insert = conn.prepare_cached(
        "INSERT INTO runs (id, job, job_version, event_id, endpoint_id, status, max_attempts, \
         created_at, run_at) VALUES (?1, ?2, ?3, ?4, ?5, 'queued', ?6, ?7, ?7)",
    )?;
    for run in runs {
        insert.execute(params![
            run.id,
            run.job_id,
            run.job_version,
            event.id,
            event.endpoint_id,
            run.max_attempts,
            now
        ])?;
    }
    Ok(runs.iter().map(NewRun::to_ref).collect())
}

fn event_runs(conn: &Connection, event_id: &str) -> Result<Vec<RunRef>> {
    let mut stmt =
        conn.prepare_cached("SELECT id, job FROM runs WHERE event_id = ?1 ORDER BY rowid")?;
    let runs = stmt
        .query_map([event_id], |row| {
            Ok(RunRef {
                id: row.get(0)?,
                job: row.get(1)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(runs)
}

fn load_event(conn: &Connection, id: &str) -> Result<Option<NewEvent>> {
    let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], rows::event)
        .optional()?)
}

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
         lease_until = NULL, worker = NULL, run_at = ?1, error = ?2 \
         WHERE status = 'running' AND lease_until < ?1",
    )?
    .execute(params![now, LOST_LEASE])?;
    Ok(())
}

/// Claims due runs. Expired leases are looked for at most every tenth of the shortest lease
/// claimed so far (and at least every second), not on every claim: a busy worker claims
/// hundreds of times a second.
fn claim(conn: &Connection, claim: &ClaimRequest, expiry: &ExpiryScan) -> Result<Vec<ClaimedRun>> {
    let now = Timestamp::now().as_unix_millis();
    let lease = i64::try_from(claim.lease.as_millis()).unwrap_or(i64::MAX);
    let shortest = expiry
        .shortest_lease
        .fetch_min(lease, Ordering::Relaxed)
        .min(lease);
    if now - expiry.last.load(Ordering::Relaxed) >= (shortest / 10).min(1000) {
        requeue_expired(conn, now)?;
        expiry.last.store(now, Ordering::Relaxed);
    }
    let mut running = std::collections::HashMap::new();
    for (job, _) in claim.job_limits.iter() {
        let count: usize = conn
            .prepare_cached("SELECT COUNT(*) FROM runs WHERE status = 'running' AND job = ?1")?
            .query_row([job], |row| row.get(0))?;
        running.insert(job.clone(), count);
    }
    let lease_until = Timestamp::now()
        .saturating_add(claim.lease)
        .as_unix_millis();
    let sql = format!(
        "UPDATE runs SET status = 'running', attempts = attempts + 1, started_at = ?1, \
         lease_until = ?2, worker = ?3 WHERE id = ?4 AND status = 'queued' RETURNING {RUN_COLUMNS}"
    );
    let mut update = conn.prepare_cached(&sql)?;
    let mut events: std::collections::HashMap<String, NewEvent> = std::collections::HashMap::new();
    // Due runs in order, leaving out jobs at their limit; a job that reaches its limit during
    // a pass is left out of the next one, so a backlog of one limited job never hides others.
    let mut candidates = conn.prepare_cached(
        "SELECT id, job FROM runs INDEXED BY runs_due \
         WHERE status = 'queued' AND run_at <= ?1 \
         AND job NOT IN (SELECT value FROM json_each(?2)) ORDER BY run_at, id LIMIT ?3",
    )?;
    let mut claimed = Vec::new();
    loop {
        let capped: Vec<&String> = running
            .iter()
            .filter(|(job, count)| claim.job_limit(job).is_some_and(|limit| **count >= limit))
            .map(|(job, _)| job)
            .collect();
        let capped = serde_json::to_string(&capped).unwrap_or_else(|_| "[]".to_owned());
        let wanted = claim.limit - claimed.len();
        let page: Vec<(String, String)> = candidates
            .query_map(
                params![now, capped, i64::try_from(wanted).unwrap_or(i64::MAX)],
                |row| Ok((row.get(0)?, row.get(1)?)),
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
            let Some(run) = update
                .query_row(params![now, lease_until, claim.worker, id], rows::run)
                .optional()?
            else {
                continue;
            };
            let event = match events.get(&run.event_id) {
                Some(event) => event.clone(),
                None => {
                    let event = load_event(conn, &run.event_id)?.ok_or_else(|| {
                        StoreError::Backend(format!("run {} has no event {}", run.id, run.event_id))
                    })?;
                    events.insert(run.event_id.clone(), event.clone());
                    event
                }
            };
            claimed.push(ClaimedRun { run, event });
        }
        // Done when full, or when this pass saw every due run there is.
        if claimed.len() >= claim.limit || page.is_empty() || (page.len() < wanted && !skipped) {
            break;
        }
    }
    Ok(claimed)
}

const SUCCEED: &str = "UPDATE runs SET status = 'succeeded', output = ?3, error = NULL, \
     finished_at = ?4, lease_until = NULL, worker = NULL \
     WHERE id = ?1 AND status = 'running' AND attempts = ?2 RETURNING started_at";
const RETRY: &str = "UPDATE runs SET status = 'queued', error = ?3, run_at = ?4, \
     lease_until = NULL, worker = NULL \
     WHERE id = ?1 AND status = 'running' AND attempts = ?2 RETURNING started_at";
const FAIL: &str = "UPDATE runs SET status = 'failed', error = ?3, finished_at = ?4, \
     lease_until = NULL, worker = NULL \
     WHERE id = ?1 AND status = 'running' AND attempts = ?2 RETURNING started_at";

/// Records how attempt `attempt` ended, if it still holds the run. A successful attempt gets
/// no row in `attempts`: the run row has its times, and reads add it to the history.
fn finish(conn: &Connection, run_id: &str, attempt: u32, outcome: &AttemptOutcome) -> Result<bool> {
    let now = Timestamp::now().as_unix_millis();
    let held = |sql: &str, value: String, at: i64| -> Result<Option<Option<i64>>> {
        Ok(conn
            .prepare_cached(sql)?
            .query_row(params![run_id, attempt, value, at], |row| row.get(0))
            .optional()?)
    };
    let (started_at, error) = match outcome {
        AttemptOutcome::Succeeded(output) => (held(SUCCEED, output.to_string(), now)?, None),
        AttemptOutcome::Retry { error, at } => (
            held(RETRY, error.clone(), at.as_unix_millis())?,
            Some(error),
        ),
        AttemptOutcome::Failed { error } => (held(FAIL, error.clone(), now)?, Some(error)),
        AttemptOutcome::Suspended { until } => {
            let changed = conn
                .prepare_cached(
                    "UPDATE runs SET status = 'queued', run_at = ?3, attempts = attempts - 1, \
                     lease_until = NULL, worker = NULL \
                     WHERE id = ?1 AND status = 'running' AND attempts = ?2",
                )?
                .execute(params![run_id, attempt, until.as_unix_millis()])?;
            return Ok(changed == 1);
        }
    };
    let Some(started_at) = started_at else {
        return Ok(false);
    };
    if let Some(error) = error {
        conn.prepare_cached(
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
    Ok(true)
}

fn insert_logs(conn: &Connection, run_id: &str, attempt: u32, lines: &[LogLine]) -> Result<()> {
    let mut insert = conn.prepare_cached(
        "INSERT INTO logs (run_id, attempt, level, message, data, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for line in lines {
        insert.execute(params![
            run_id,
            attempt,
            line.level.as_str(),
            line.message,
            line.data.to_string(),
            line.at.as_unix_millis()
        ])?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl StoreDriver for SqliteStore {
    fn kind(&self) -> &'static str {
        "sqlite"
    }

    async fn ingest(&self, event: NewEvent, runs: Vec<NewRun>) -> Result<Ingested> {
        self.writer
            .write(move |conn| {
                let mut dedup_key = event.dedup_key.as_deref();
                if let Some(key) = dedup_key {
                    let existing: Option<(String, Vec<u8>)> = conn
                        .prepare_cached(
                            "SELECT id, body FROM events WHERE endpoint_id = ?1 AND dedup_key = ?2",
                        )?
                        .query_row(params![event.endpoint_id, key], |row| {
                            Ok((row.get(0)?, row.get(1)?))
                        })
                        .optional()?;
                    match existing {
                        Some((event_id, body)) if body == event.body => {
                            let runs = event_runs(conn, &event_id)?;
                            return Ok(Ingested { event_id, runs, duplicate: true });
                        }
                        // The same key with another body is another event: keep it, unkeyed.
                        Some((event_id, _)) => {
                            tracing::warn!(key, first = %event_id, "idempotency key reused with a different body; stored as a new event");
                            dedup_key = None;
                        }
                        None => {}
                    }
                }
                conn.prepare_cached(
                    "INSERT INTO events (id, endpoint_id, method, url, headers, body, received_at, \
                     verified, dedup_key) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )?
                .execute(params![
                    event.id,
                    event.endpoint_id,
                    event.method,
                    event.url,
                    rows::encode_headers(&event.headers),
                    &event.body[..],
                    event.received_at.as_unix_millis(),
                    event.verified,
                    dedup_key,
                ])?;
                let refs = insert_runs(conn, &event, &runs, Timestamp::now().as_unix_millis())?;
                Ok(Ingested {
                    event_id: event.id.clone(),
                    runs: refs,
                    duplicate: false,
                })
            })
            .await
    }

    async fn claim(&self, request: &ClaimRequest) -> Result<Vec<ClaimedRun>> {
        let request = request.clone();
        let expiry = Arc::clone(&self.expiry);
        self.writer
            .write(move |conn| claim(conn, &request, &expiry))
            .await
    }

    async fn heartbeat(&self, run_id: &str, attempt: u32, lease: Duration) -> Result<bool> {
        let run_id = run_id.to_owned();
        self.writer
            .write(move |conn| {
                let until = Timestamp::now().saturating_add(lease).as_unix_millis();
                let changed = conn
                    .prepare_cached(
                        "UPDATE runs SET lease_until = ?3 WHERE id = ?1 AND attempts = ?2 \
                         AND status = 'running'",
                    )?
                    .execute(params![run_id, attempt, until])?;
                Ok(changed == 1)
            })
            .await
    }

    async fn finish(&self, run_id: &str, attempt: u32, outcome: AttemptOutcome) -> Result<bool> {
        let run_id = run_id.to_owned();
        self.writer
            .write(move |conn| finish(conn, &run_id, attempt, &outcome))
            .await
    }

    async fn release(&self, run_id: &str, attempt: u32) -> Result<()> {
        let run_id = run_id.to_owned();
        self.writer
            .write(move |conn| {
                conn.prepare_cached(
                    "UPDATE runs SET status = 'queued', lease_until = NULL, worker = NULL, \
                     attempts = attempts - 1, run_at = ?3 \
                     WHERE id = ?1 AND attempts = ?2 AND status = 'running'",
                )?
                .execute(params![
                    run_id,
                    attempt,
                    Timestamp::now().as_unix_millis()
                ])?;
                Ok(())
            })
            .await
    }

    async fn append_logs(&self, run_id: &str, attempt: u32, lines: Vec<LogLine>) -> Result<()> {
        let run_id = run_id.to_owned();
        self.writer
            .write(move |conn| insert_logs(conn, &run_id, attempt, &lines))
            .await
    }

    async fn finish_with_logs(
        &self,
        run_id: &str,
        attempt: u32,
        lines: Vec<LogLine>,
        outcome: AttemptOutcome,
    ) -> Result<bool> {
        let run_id = run_id.to_owned();
        self.writer
            .write(move |conn| {
                // Only the attempt that still holds the run leaves its last lines.
                let held = finish(conn, &run_id, attempt, &outcome)?;
                if held {
                    insert_logs(conn, &run_id, attempt, &lines)?;
                }
                Ok(held)
            })
            .await
    }

    async fn run(&self, id: &str) -> Result<Option<RunRecord>> {
        let id = id.to_owned();
        self.read(move |conn| {
            let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1");
            let Some(mut run) = conn.prepare_cached(&sql)?.query_row([&id], rows::run).optional()? else {
                return Ok(None);
            };
            run.history = conn
                .prepare_cached(
                    "SELECT attempt, started_at, finished_at, error FROM attempts \
                     WHERE run_id = ?1 ORDER BY attempt",
                )?
                .query_map([&id], |row| {
                    Ok(AttemptRecord {
                        attempt: row.get(0)?,
                        started_at: Timestamp::from_unix_millis(row.get(1)?),
                        finished_at: Timestamp::from_unix_millis(row.get(2)?),
                        error: row.get(3)?,
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
            run.logs = conn
                .prepare_cached(
                    "SELECT attempt, level, message, data, at FROM logs WHERE run_id = ?1 ORDER BY id",
                )?
                .query_map([&id], |row| {
                    let level: String = row.get(1)?;
                    let data: String = row.get(3)?;
                    Ok(LogRecord {
                        attempt: row.get(0)?,
                        line: LogLine {
                            level: LogLevel::parse(&level).unwrap_or(LogLevel::Info),
                            message: row.get(2)?,
                            data: serde_json::from_str(&data).unwrap_or(serde_json::Value::String(data)),
                            at: Timestamp::from_unix_millis(row.get(4)?),
                        },
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            Ok(Some(run))
        })
        .await
    }

    async fn event(&self, id: &str) -> Result<Option<EventRecord>> {
        let id = id.to_owned();
        self.read(move |conn| {
            let Some(event) = load_event(conn, &id)? else {
                return Ok(None);
            };
            Ok(Some(EventRecord {
                runs: event_runs(conn, &id)?,
                event,
            }))
        })
        .await
    }

    async fn endpoint_secret(&self, endpoint_id: &str, candidate: String) -> Result<String> {
        let endpoint_id = endpoint_id.to_owned();
        self.writer
            .write(move |conn| {
                conn.prepare_cached(
                    "INSERT OR IGNORE INTO secrets (endpoint_id, secret, created_at) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![endpoint_id, candidate, Timestamp::now().as_unix_millis()])?;
                Ok(conn
                    .prepare_cached("SELECT secret FROM secrets WHERE endpoint_id = ?1")?
                    .query_row([&endpoint_id], |row| row.get(0))?)
            })
            .await
    }

    async fn next_due(&self) -> Result<Option<Timestamp>> {
        self.read(|conn| {
            let at: Option<i64> = conn
                .prepare_cached("SELECT MIN(run_at) FROM runs WHERE status = 'queued'")?
                .query_row([], |row| row.get(0))?;
            Ok(at.map(Timestamp::from_unix_millis))
        })
        .await
    }

    async fn run_counts(&self) -> Result<RunCounts> {
        self.read(|conn| {
            let mut counts = RunCounts::default();
            let mut stmt =
                conn.prepare_cached("SELECT status, COUNT(*) FROM runs GROUP BY status")?;
            let rows = stmt.query_map([], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, u64>(1)?))
            })?;
            for row in rows {
                let (status, n) = row?;
                if let Some(status) = RunStatus::parse(&status) {
                    counts.add(status, n);
                }
            }
            Ok(counts)
        })
        .await
    }

    async fn list_runs(&self, query: &RunQuery) -> Result<RunPage> {
        let query = query.clone();
        self.read(move |conn| {
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
        })
        .await
    }

    async fn cancel(&self, run_id: &str) -> Result<Option<RunStatus>> {
        let run_id = run_id.to_owned();
        self.writer
            .write(move |conn| {
                conn.prepare_cached(
                    "UPDATE runs SET status = 'canceled', finished_at = ?2, lease_until = NULL, \
                     worker = NULL WHERE id = ?1 AND status IN ('queued', 'running')",
                )?
                .execute(params![run_id, Timestamp::now().as_unix_millis()])?;
                let status: Option<String> = conn
                    .prepare_cached("SELECT status FROM runs WHERE id = ?1")?
                    .query_row([&run_id], |row| row.get(0))
                    .optional()?;
                Ok(status.as_deref().and_then(RunStatus::parse))
            })
            .await
    }

    async fn add_runs(&self, event_id: &str, runs: Vec<NewRun>) -> Result<Option<Vec<RunRef>>> {
        let event_id = event_id.to_owned();
        self.writer
            .write(move |conn| {
                let Some(event) = load_event(conn, &event_id)? else {
                    return Ok(None);
                };
                Ok(Some(insert_runs(
                    conn,
                    &event,
                    &runs,
                    Timestamp::now().as_unix_millis(),
                )?))
            })
            .await
    }

    async fn task(&self, run_id: &str, key: &str) -> Result<Option<serde_json::Value>> {
        let (run_id, key) = (run_id.to_owned(), key.to_owned());
        self.read(move |conn| {
            let output: Option<String> = conn
                .prepare_cached("SELECT output FROM tasks WHERE run_id = ?1 AND key = ?2")?
                .query_row([&run_id, &key], |row| row.get(0))
                .optional()?;
            output
                .map(|text| serde_json::from_str(&text))
                .transpose()
                .map_err(|e| StoreError::Backend(format!("stored task output is not JSON: {e}")))
        })
        .await
    }

    async fn save_task(
        &self,
        run_id: &str,
        key: &str,
        output: serde_json::Value,
    ) -> Result<serde_json::Value> {
        let (run_id, key, output) = (run_id.to_owned(), key.to_owned(), output.to_string());
        self.writer
            .write(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO tasks (run_id, key, output) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (run_id, key) DO NOTHING",
                )?
                .execute(params![run_id, key, output])?;
                let stored: String = conn
                    .prepare_cached("SELECT output FROM tasks WHERE run_id = ?1 AND key = ?2")?
                    .query_row([&run_id, &key], |row| row.get(0))?;
                serde_json::from_str(&stored).map_err(|e| {
                    StoreError::Backend(format!("stored task output is not JSON: {e}"))
                })
            })
            .await
    }
}
