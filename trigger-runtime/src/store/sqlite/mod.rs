//! The SQLite driver: a file (`sqlite://path`, the durable default) or memory (`memory://`).
//!
//! On a file, the WAL journal runs with `synchronous = FULL`: a commit returns only once it is
//! on disk. All writes go through one writer thread that commits in batches (see [`writer`]);
//! reads use a second connection, and a third copies the WAL into the database. In memory,
//! one connection does everything through the writer thread: same SQL, same state machine.
//!
//! The run state machine is this driver's SQL, split by what it does: [`claim`] (claims,
//! leases and their expiry), [`finish`] (how attempts end), [`write`] (events, runs, tasks,
//! secrets) and [`read`].

mod claim;
mod finish;
mod held;
mod migrate;
mod prune;
mod read;
mod rows;
mod vfs;
mod write;
mod writer;

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::Connection;

use self::writer::Writer;
use super::codec::ExpiryScan;
use super::{
    AttemptOutcome, ClaimRequest, ClaimedRun, Event, EventRecord, Ingested, Lease, NewRun, Pruned,
    QueueCounts, Result, RunCounts, RunPage, RunQuery, RunRecord, RunRef, RunStatus, SkippedJobs,
    StoreDriver, StoreError, StoreKind,
};
use super::{LogPage, LogQuery};
use crate::log::LogLine;
use crate::time::Timestamp;

/// A store in one SQLite database: a file, or memory.
pub struct SqliteStore {
    path: Option<PathBuf>,
    writer: Writer,
    /// `None` in memory, where reads go through the writer's connection.
    reader: Option<Arc<Mutex<Connection>>>,
    expiry: Arc<ExpiryScan>,
    /// The checkpointer thread stops when this is dropped.
    _alive: Arc<()>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// The longest a read may take before its caller hears [`StoreError::Timeout`].
const READ_DEADLINE: Duration = Duration::from_secs(10);

/// How long the writer waits for a write lock another process holds.
const WRITER_BUSY_TIMEOUT: Duration = Duration::from_secs(2);

/// Settings every connection gets.
fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(Duration::from_secs(10))?;
    // Savepoints' statement journals and sorts stay in memory. The page cache is what grows
    // with the database: under a steady load SQLite's own count of the writer's cache
    // (`SQLITE_DBSTATUS_CACHE_USED`) levelled off at about three times this setting (6.5 MB
    // at 2 MiB, 26 MB at 8 MiB), and at 16 MiB the server passed 100 MB of RSS within a
    // minute of a soak; with 4 MiB each it stayed near 50 MB through ten-minute ones.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "cache_size", -4_096)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

/// Which of the store's connections to open: the writer's goes through [`vfs`].
#[derive(Clone, Copy)]
enum Role {
    Writer,
    Other,
}

fn connect(path: &Path, role: Role) -> Result<Connection> {
    let opened = |source| StoreError::Open {
        path: path.to_owned(),
        source,
    };
    let conn = match role {
        Role::Writer => {
            let vfs = vfs::register().map_err(|code| {
                let message = "could not register the writer's SQLite VFS".to_owned();
                opened(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(code),
                    Some(message),
                ))
            })?;
            Connection::open_with_flags_and_vfs(path, rusqlite::OpenFlags::default(), vfs)
        }
        Role::Other => Connection::open(path),
    }
    .map_err(opened)?;
    configure(&conn).map_err(opened)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(opened)?;
    // Durable commits; the writer's VFS also relies on it (see its docs).
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(opened)?;
    // Whichever connection restarts the WAL truncates the file back to this size: twice what
    // it holds when it restarts (see `RESTART_FRAMES`).
    conn.pragma_update(None, "journal_size_limit", 256 * 1024 * 1024)
        .map_err(opened)?;
    Ok(conn)
}

/// Creates the database's folder (`0700`) and an empty file (`0600`) unless they exist.
fn create_private(path: &Path) -> Result<()> {
    if let Some(dir) = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty() && !d.exists())
    {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(dir)
            .map_err(|source| StoreError::CreateDir {
                path: dir.to_owned(),
                source,
            })?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(StoreError::CreateFile {
            path: path.to_owned(),
            source,
        }),
    }
}

fn thread(name: &'static str) -> impl FnOnce(std::io::Error) -> StoreError {
    move |source| StoreError::Thread { name, source }
}

impl SqliteStore {
    /// Opens (creating if needed, with its directory) the database at `path` and migrates it.
    ///
    /// What it creates is readable by the owner only (the folder `0700`, the file `0600`, and
    /// SQLite gives its `-wal` and `-shm` files the file's mode): it holds raw requests, their
    /// signatures and generated secrets. An existing file keeps its mode.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        create_private(&path)?;
        let mut conn = connect(&path, Role::Writer)?;
        migrate::run(&mut conn)?;
        // While another process holds the write lock, a batch waits this long, then fails
        // and its callers hear so (ingest answers 503), rather than queueing behind it.
        conn.busy_timeout(WRITER_BUSY_TIMEOUT)?;
        // Checkpoints run on their own thread, so the writer never stops to copy the WAL
        // into the database (that showed as 100 ms stalls in acknowledgement latency).
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        let reader = connect(&path, Role::Other)?;
        let alive = Arc::new(());
        let wanted = Arc::new(AtomicBool::new(false));
        checkpointer(
            connect(&path, Role::Other)?,
            Arc::downgrade(&alive),
            Arc::clone(&wanted),
        )
        .map_err(thread("checkpointer"))?;
        Ok(Self {
            writer: Writer::spawn(conn, wanted).map_err(thread("writer"))?,
            path: Some(path),
            reader: Some(Arc::new(Mutex::new(reader))),
            expiry: Arc::default(),
            _alive: alive,
        })
    }

    /// A fresh, migrated in-memory database: nothing survives the store.
    pub fn memory() -> Result<Self> {
        let opened = |source| StoreError::Open {
            path: PathBuf::from(":memory:"),
            source,
        };
        let mut conn = Connection::open_in_memory().map_err(opened)?;
        configure(&conn).map_err(opened)?;
        migrate::run(&mut conn)?;
        Ok(Self {
            writer: Writer::spawn(conn, Arc::default()).map_err(thread("writer"))?,
            path: None,
            reader: None,
            expiry: Arc::default(),
            _alive: Arc::new(()),
        })
    }

    /// The database file; `None` in memory.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// `(commits, writes)` since open: with concurrent writers, commits < writes (group commit).
    pub fn commit_stats(&self) -> (u64, u64) {
        self.writer.counters.snapshot()
    }

    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(&Connection) -> Result<T> + Send + 'static,
    {
        let Some(reader) = &self.reader else {
            return self.writer.write(move |tx| f(tx)).await;
        };
        let reader = Arc::clone(reader);
        let read = tokio::task::spawn_blocking(move || {
            let conn = reader
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            f(&conn)
        });
        // The blocking read goes on if the deadline passes; its caller hears so at once.
        tokio::time::timeout(READ_DEADLINE, read)
            .await
            .map_err(|_| StoreError::Timeout(READ_DEADLINE))??
    }
}

/// How often the checkpointer copies the WAL into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(50);

/// Frames in the WAL (4 KiB each) past which the checkpointer asks the writer to catch up, so
/// that the WAL starts over: 128 MiB, half of `journal_size_limit`. The catch-up stops commits
/// for a few milliseconds, mostly its `fsync` of the pages it copied (on this project's machine
/// 3 ms for 100 scattered pages); at 16 MiB that came about every 130 ms under load and took
/// the p99 of acknowledgements past 10 ms.
const RESTART_FRAMES: i64 = 32_768;

/// Copies the WAL into the database every [`CHECKPOINT_EVERY`] without blocking the writer (a
/// passive checkpoint), until the store is dropped.
///
/// A passive checkpoint copies the frames committed when it started; while ingests go on, the
/// writer has always committed more by the time it ends, so it never sees the whole WAL copied
/// and the WAL never starts over: it grew past a gigabyte in a minute, and cutting it back to
/// `journal_size_limit` then stalled a commit for 400 ms. So once the WAL holds more than
/// [`RESTART_FRAMES`], this thread copies once more what came during its pass, sets `wanted`,
/// and the writer runs the last passive checkpoint itself between two batches: only the frames
/// since this thread's last pass are left to copy, nothing is committed meanwhile, and the next
/// batch starts the WAL over.
fn checkpointer(
    conn: Connection,
    alive: std::sync::Weak<()>,
    wanted: Arc<AtomicBool>,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("sqlite-checkpoint".to_owned())
        .spawn(move || {
            while alive.upgrade().is_some() {
                std::thread::sleep(CHECKPOINT_EVERY);
                // (busy, frames in the WAL, frames copied); -1 and -1 when not in WAL mode.
                let pass = || {
                    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
                        row.get::<_, i64>(1)
                    })
                };
                match pass() {
                    Ok(frames) if frames > RESTART_FRAMES => {
                        // What came during that pass, so the writer's own copies less (its
                        // median stop went from 5.1 to 1.8 ms); a failure here is the
                        // writer's to copy.
                        let _ = pass();
                        wanted.store(true, Ordering::Relaxed);
                    }
                    Ok(_) => {}
                    Err(error) => tracing::warn!(%error, "SQLite checkpoint failed; retrying"),
                }
            }
        })?;
    Ok(())
}

#[async_trait::async_trait]
impl StoreDriver for SqliteStore {
    fn kind(&self) -> StoreKind {
        if self.path.is_some() {
            StoreKind::Sqlite
        } else {
            StoreKind::Memory
        }
    }

    async fn ready(&self) -> Result<()> {
        self.writer.write(|tx| write::health(tx)).await
    }

    async fn ingest(&self, event: Event, runs: Vec<NewRun>) -> Result<Ingested> {
        let (stored, (event, runs)) = self
            .writer
            .write_with((event, runs), |conn, (event, runs)| {
                write::ingest(conn, event, runs)
            })
            .await?;
        Ok(match stored {
            write::Stored::New(now) => Ingested::stored(Cow::Owned(event), &runs, now),
            write::Stored::Duplicate(ingested) => ingested,
        })
    }

    async fn claim(&self, request: &ClaimRequest) -> Result<Vec<ClaimedRun>> {
        let request = request.clone();
        let expiry = Arc::clone(&self.expiry);
        self.writer
            .write(move |conn| {
                let taken = claim::claim(conn, &request, &expiry)?;
                claim::with_events(conn, taken)
            })
            .await
    }

    async fn heartbeat(&self, run_id: &str, lease: Lease, duration: Duration) -> Result<bool> {
        let run_id = run_id.to_owned();
        self.writer
            .write(move |conn| claim::heartbeat(conn, &run_id, lease, duration))
            .await
    }

    async fn finish(
        &self,
        run_id: &str,
        lease: Lease,
        lines: Vec<LogLine>,
        outcome: AttemptOutcome,
    ) -> Result<bool> {
        let run_id = run_id.to_owned();
        self.writer
            .write(move |conn| finish::finish(conn, &run_id, lease, &lines, &outcome))
            .await
    }

    async fn release(&self, run_id: &str, lease: Lease) -> Result<()> {
        let run_id = run_id.to_owned();
        self.writer
            .write(move |conn| finish::release(conn, &run_id, lease))
            .await
    }

    async fn append_logs(&self, run_id: &str, lease: Lease, lines: Vec<LogLine>) -> Result<()> {
        let run_id = run_id.to_owned();
        self.writer
            .write(move |conn| finish::append_logs(conn, &run_id, lease, &lines))
            .await
    }

    async fn run(&self, id: &str) -> Result<Option<RunRecord>> {
        let id = id.to_owned();
        self.read(move |conn| read::run(conn, &id)).await
    }

    async fn logs(&self, run_id: &str, query: &LogQuery) -> Result<Option<LogPage>> {
        let (run_id, query) = (run_id.to_owned(), *query);
        self.read(move |conn| read::run_logs(conn, &run_id, &query))
            .await
    }

    async fn event(&self, id: &str) -> Result<Option<EventRecord>> {
        let id = id.to_owned();
        self.read(move |conn| read::event(conn, &id)).await
    }

    async fn endpoint_secret(&self, endpoint_id: &str, candidate: String) -> Result<String> {
        let endpoint_id = endpoint_id.to_owned();
        self.writer
            .write(move |conn| write::endpoint_secret(conn, &endpoint_id, &candidate))
            .await
    }

    async fn next_due(&self) -> Result<Option<Timestamp>> {
        self.read(read::next_due).await
    }

    async fn run_counts(&self) -> Result<RunCounts> {
        self.read(read::run_counts).await
    }

    async fn queue_counts(&self) -> Result<QueueCounts> {
        self.read(read::queue_counts).await
    }

    async fn job_run_counts(&self) -> Result<Vec<(String, RunCounts)>> {
        self.read(read::job_run_counts).await
    }

    async fn list_runs(&self, query: &RunQuery) -> Result<RunPage> {
        let query = query.clone();
        self.read(move |conn| read::list_runs(conn, &query)).await
    }

    async fn cancel(&self, run_id: &str) -> Result<Option<RunStatus>> {
        let run_id = run_id.to_owned();
        self.writer
            .write(move |conn| finish::cancel(conn, &run_id))
            .await
    }

    async fn add_runs(
        &self,
        event_id: &str,
        runs: Vec<NewRun>,
        skipped: Option<SkippedJobs>,
    ) -> Result<Option<Vec<RunRef>>> {
        let event_id = event_id.to_owned();
        self.writer
            .write(move |conn| write::add_runs(conn, &event_id, &runs, skipped.as_ref()))
            .await
    }

    async fn prune(&self, before: Timestamp, limit: usize) -> Result<Pruned> {
        self.writer
            .write(move |conn| prune::prune(conn, before, limit))
            .await
    }

    async fn task(&self, run_id: &str, key: &str) -> Result<Option<serde_json::Value>> {
        let (run_id, key) = (run_id.to_owned(), key.to_owned());
        self.read(move |conn| read::task(conn, &run_id, &key)).await
    }

    async fn save_task(
        &self,
        run_id: &str,
        lease: Lease,
        key: &str,
        output: serde_json::Value,
    ) -> Result<serde_json::Value> {
        let (run_id, key, output) = (run_id.to_owned(), key.to_owned(), output.to_string());
        self.writer
            .write(move |conn| write::save_task(conn, &run_id, lease, &key, &output))
            .await
    }
}
