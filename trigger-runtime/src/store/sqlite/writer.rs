//! The single writer thread and its group commit.
//!
//! Every write is a closure sent to one thread that owns the write connection. The thread
//! takes everything waiting in its queue (up to [`MAX_BATCH`]), applies the closures in one
//! transaction, commits once (one fsync for the whole batch) and only then answers each
//! caller. While it syncs, new writes queue up and form the next batch, so concurrent ingests
//! share commits instead of paying one fsync each, and nobody hears "done" before the data is
//! on disk.
//!
//! Writes fail only when SQLite does (a full disk, an I/O error) or on a bug, so the fast path
//! has no per-write savepoint. If any write of a batch fails or panics, the whole transaction
//! is rolled back and every write of the batch runs again in a transaction of its own: the
//! failing one fails alone, the others commit, and nothing is ever half written.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::store::{Result, StoreError};

/// The most writes committed together.
const MAX_BATCH: usize = 512;

/// A queued write. It may be applied twice (see the module docs), so it must not consume what
/// it writes.
trait Op: Send {
    /// Applies the write; `false` if it failed or panicked.
    fn apply(&mut self, conn: &Connection) -> bool;
    /// Answers the caller once its transaction has ended: `commit_error` is why the commit
    /// failed, if it did.
    fn answer(self: Box<Self>, commit_error: Option<rusqlite::Error>);
}

struct Pending<T, F> {
    f: F,
    result: Option<Result<T>>,
    reply: oneshot::Sender<Result<T>>,
}

impl<T, F> Op for Pending<T, F>
where
    T: Send,
    F: FnMut(&Connection) -> Result<T> + Send,
{
    fn apply(&mut self, conn: &Connection) -> bool {
        self.result = catch_unwind(AssertUnwindSafe(|| (self.f)(conn))).ok();
        matches!(self.result, Some(Ok(_)))
    }

    fn answer(self: Box<Self>, commit_error: Option<rusqlite::Error>) {
        let result = match (self.result, commit_error) {
            (None, _) => Err(StoreError::WritePanicked),
            (Some(Err(error)), _) => Err(error),
            (Some(Ok(value)), None) => Ok(value),
            (Some(Ok(_)), Some(error)) => Err(StoreError::Sqlite(error)),
        };
        let _ = self.reply.send(result);
    }
}

/// Commits and writes so far, to show that writes share commits.
#[derive(Debug, Default)]
pub(super) struct Counters {
    commits: AtomicU64,
    writes: AtomicU64,
}

impl Counters {
    /// `(commits, writes)`.
    pub(super) fn snapshot(&self) -> (u64, u64) {
        (
            self.commits.load(Ordering::Relaxed),
            self.writes.load(Ordering::Relaxed),
        )
    }
}

/// The handle to the writer thread; the thread stops when the last handle is dropped.
#[derive(Clone)]
pub(super) struct Writer {
    queue: mpsc::Sender<Box<dyn Op>>,
    pub(super) counters: Arc<Counters>,
}

impl Writer {
    pub(super) fn spawn(conn: Connection) -> std::io::Result<Self> {
        let (queue, rx) = mpsc::channel(8 * MAX_BATCH);
        let counters = Arc::new(Counters::default());
        let thread_counters = Arc::clone(&counters);
        std::thread::Builder::new()
            .name("trigger-sqlite-writer".to_owned())
            .spawn(move || run(&conn, rx, &thread_counters))?;
        Ok(Self { queue, counters })
    }

    /// Applies `f` in the next batch and returns its result once the batch is durable.
    pub(super) async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnMut(&Connection) -> Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let op = Box::new(Pending {
            f,
            result: None,
            reply,
        });
        self.queue
            .send(op)
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        answer.await.map_err(|_| StoreError::WriterStopped)?
    }
}

fn run(conn: &Connection, mut rx: mpsc::Receiver<Box<dyn Op>>, counters: &Counters) {
    let mut batch: Vec<Box<dyn Op>> = Vec::with_capacity(MAX_BATCH);
    while let Some(op) = rx.blocking_recv() {
        batch.push(op);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        counters
            .writes
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        counters.commits.fetch_add(1, Ordering::Relaxed);
        match transaction(conn, &mut batch) {
            Ok(()) => {
                for op in batch.drain(..) {
                    op.answer(None);
                }
            }
            Err(error) => {
                if batch.len() > 1 {
                    tracing::warn!(error = %Failure(error.as_ref()), writes = batch.len(), "a SQLite batch failed; retrying its writes one by one");
                }
                for mut op in batch.drain(..) {
                    counters.commits.fetch_add(1, Ordering::Relaxed);
                    let commit_error = match transaction(conn, std::slice::from_mut(&mut op)) {
                        Ok(()) => None,
                        Err(error) => {
                            tracing::error!(error = %Failure(error.as_ref()), "a SQLite write failed and was refused");
                            error
                        }
                    };
                    op.answer(commit_error);
                }
            }
        }
    }
}

/// Applies `ops` in one transaction and commits; on any failure rolls everything back. The
/// error is SQLite's, or `None` when a write failed (it keeps its own error).
fn transaction(conn: &Connection, ops: &mut [Box<dyn Op>]) -> Result<(), Option<rusqlite::Error>> {
    // Cached statements: parsing them for every batch showed in profiles.
    let run = |sql: &str| conn.prepare_cached(sql)?.execute([]).map(drop);
    run("BEGIN IMMEDIATE").map_err(Some)?;
    let result = if ops.iter_mut().all(|op| op.apply(conn)) {
        run("COMMIT").map_err(Some)
    } else {
        Err(None)
    };
    if result.is_err() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    result
}

/// Shows why a transaction failed.
struct Failure<'a>(Option<&'a rusqlite::Error>);

impl std::fmt::Display for Failure<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(error) => write!(f, "{error}"),
            None => f.write_str("a write in the transaction failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::Writer;
    use crate::store::StoreError;

    #[tokio::test]
    async fn a_failing_or_panicking_write_fails_alone() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (n INTEGER PRIMARY KEY)")
            .unwrap();
        let writer = Writer::spawn(conn).unwrap();
        let insert = |n: i64| {
            let writer = writer.clone();
            async move {
                writer
                    .write(move |c| Ok(c.execute("INSERT INTO t VALUES (?1)", [n])?))
                    .await
            }
        };
        let fail = writer.write(|c| {
            c.execute("INSERT INTO t VALUES (100)", [])?;
            Err::<(), _>(StoreError::Corrupt("refused".to_owned()))
        });
        let panics = writer.write(|c| -> crate::store::Result<()> {
            c.execute("INSERT INTO t VALUES (200)", [])?;
            panic!("bug in a write")
        });
        let (a, b, c, d) = tokio::join!(insert(1), fail, insert(2), panics);
        assert_eq!((a.unwrap(), c.unwrap()), (1, 1));
        assert!(matches!(b, Err(StoreError::Corrupt(m)) if m == "refused"));
        assert!(matches!(d, Err(StoreError::WritePanicked)));
        let rows: Vec<i64> = writer
            .write(|c| {
                let mut stmt = c.prepare("SELECT n FROM t ORDER BY n")?;
                let rows = stmt
                    .query_map([], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?;
                Ok(rows)
            })
            .await
            .unwrap();
        assert_eq!(rows, [1, 2], "nothing of the failed writes was committed");
    }
}
