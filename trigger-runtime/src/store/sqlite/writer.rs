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
//!
//! Between batches the writer also finishes the checkpointer's work when it asks (see
//! [`super::checkpointer`]): a passive checkpoint run by the one connection that writes, while
//! it writes nothing, copies the whole WAL unless a reader still reads old frames, so the next
//! batch starts the WAL over.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::held::{Held, Tx};
use crate::store::{Result, StoreError};

/// The most writes committed together.
const MAX_BATCH: usize = 512;

/// The longest a caller waits for its write: queued, applied and committed. Past it the caller
/// hears [`StoreError::Timeout`] (ingest answers `503`), though the write may still commit
/// later; it never hears "done" for a write that did not commit.
const WRITE_DEADLINE: Duration = Duration::from_secs(5);

/// A queued write. It may be applied twice (see the module docs), so it must not consume what
/// it writes.
trait Op: Send {
    /// Applies the write; `false` if it failed or panicked.
    fn apply(&mut self, tx: &Tx<'_>) -> bool;
    /// Answers the caller once its transaction has ended: `failure` is why the transaction
    /// failed when the write itself did not.
    fn answer(self: Box<Self>, failure: Option<StoreError>);
}

/// A write waiting for its batch: `f` applied to `data`, which goes back to the caller with the
/// result.
struct Pending<T, D, F> {
    data: D,
    f: F,
    result: Option<Result<T>>,
    reply: oneshot::Sender<(Result<T>, D)>,
}

impl<T, D, F> Op for Pending<T, D, F>
where
    T: Send,
    D: Send,
    F: FnMut(&Tx<'_>, &mut D) -> Result<T> + Send,
{
    fn apply(&mut self, tx: &Tx<'_>) -> bool {
        let (f, data) = (&mut self.f, &mut self.data);
        self.result = catch_unwind(AssertUnwindSafe(|| f(tx, data))).ok();
        matches!(self.result, Some(Ok(_)))
    }

    fn answer(self: Box<Self>, failure: Option<StoreError>) {
        let Self {
            data,
            result,
            reply,
            ..
        } = *self;
        let result = match (result, failure) {
            (_, Some(error)) => Err(error),
            (None, None) => Err(StoreError::WritePanicked),
            (Some(result), None) => result,
        };
        // What the write wrote (an ingest's event, a finish's log lines) goes back with its
        // result, to be freed by the caller's thread, which allocated it. Freed here, it took
        // about 8 % of the writer thread's time under load, mostly in mimalloc's cross-thread
        // frees, and the Tokio threads paid again to collect those frees: the writer's CPU per
        // webhook and its run went from 26.2 to 22.5 µs (README, Performance).
        let _ = reply.send((result, data));
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
    /// Starts the writer thread on `conn`; it checkpoints between batches whenever
    /// `checkpoint` is set, and clears it.
    pub(super) fn spawn(conn: Connection, checkpoint: Arc<AtomicBool>) -> std::io::Result<Self> {
        let (queue, rx) = mpsc::channel(8 * MAX_BATCH);
        let counters = Arc::new(Counters::default());
        let thread_counters = Arc::clone(&counters);
        std::thread::Builder::new()
            .name("sqlite-writer".to_owned())
            .spawn(move || run(&Tx::new(&conn), rx, &thread_counters, &checkpoint))?;
        Ok(Self { queue, counters })
    }

    /// Applies `f` in the next batch and returns its result once the batch is durable.
    pub(super) async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnMut(&Tx<'_>) -> Result<T> + Send + 'static,
    {
        let (result, _f) = self.write_with(f, |tx, f| f(tx)).await?;
        Ok(result)
    }

    /// Applies `f` to `data` in the next batch and returns its result once the batch is
    /// durable, with `data` back: what a caller builds from what it wrote is then built on its
    /// own thread, not the writer's, which every write waits for.
    pub(super) async fn write_with<T, D, F>(&self, data: D, f: F) -> Result<(T, D)>
    where
        T: Send + 'static,
        D: Send + 'static,
        F: FnMut(&Tx<'_>, &mut D) -> Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let op = Box::new(Pending {
            data,
            f,
            result: None,
            reply,
        });
        let written = async {
            self.queue
                .send(op)
                .await
                .map_err(|_| StoreError::WriterStopped)?;
            let (result, data) = answer.await.map_err(|_| StoreError::WriterStopped)?;
            Ok((result?, data))
        };
        tokio::time::timeout(WRITE_DEADLINE, written)
            .await
            .map_err(|_| StoreError::Timeout(WRITE_DEADLINE))?
    }
}

fn run(
    tx: &Tx<'_>,
    mut rx: mpsc::Receiver<Box<dyn Op>>,
    counters: &Counters,
    checkpoint: &AtomicBool,
) {
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
        match transaction(tx, &mut batch) {
            Ok(()) => {
                for op in batch.drain(..) {
                    op.answer(None);
                }
            }
            // The database refused the transaction itself (locked by another process, disk
            // full, read-only): every write would fail the same way, so none is retried.
            Err(Some(error)) => {
                tracing::error!(%error, writes = batch.len(), "the database cannot take writes; answering them with an error");
                let error = Arc::new(error);
                for op in batch.drain(..) {
                    op.answer(Some(StoreError::Unavailable(Arc::clone(&error))));
                }
            }
            // A write failed: the others are retried one by one, so it fails alone.
            Err(None) => retry_one_by_one(tx, &mut batch, counters),
        }
        if checkpoint.swap(false, Ordering::Relaxed) {
            // Passive: a reader still on old frames makes it stop short, and the checkpointer
            // asks again.
            if let Err(error) = tx.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                tracing::warn!(%error, "SQLite checkpoint by the writer failed");
            }
        }
    }
}

fn retry_one_by_one(tx: &Tx<'_>, batch: &mut Vec<Box<dyn Op>>, counters: &Counters) {
    if batch.len() > 1 {
        tracing::warn!(
            writes = batch.len(),
            "a write of a SQLite batch failed; retrying the batch's writes one by one"
        );
    }
    for mut op in batch.drain(..) {
        counters.commits.fetch_add(1, Ordering::Relaxed);
        let failure = match transaction(tx, std::slice::from_mut(&mut op)) {
            Ok(()) | Err(None) => None,
            Err(Some(error)) => {
                tracing::error!(%error, "a SQLite write failed and was refused");
                Some(StoreError::Unavailable(Arc::new(error)))
            }
        };
        op.answer(failure);
    }
}

/// Applies `ops` in one transaction and commits; on any failure rolls everything back. The
/// error is SQLite's, or `None` when a write failed (it keeps its own error).
fn transaction(tx: &Tx<'_>, ops: &mut [Box<dyn Op>]) -> Result<(), Option<rusqlite::Error>> {
    // Held statements: parsing them for every batch showed in profiles.
    let run = |held| tx.statement(held)?.execute([]).map(drop);
    run(Held::Begin).map_err(Some)?;
    let result = if ops.iter_mut().all(|op| op.apply(tx)) {
        run(Held::Commit).map_err(Some)
    } else {
        Err(None)
    };
    if result.is_err() {
        let _ = tx.execute_batch("ROLLBACK");
    }
    result
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rusqlite::Connection;

    use super::Writer;
    use crate::store::StoreError;

    #[tokio::test]
    async fn a_failing_or_panicking_write_fails_alone() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (n INTEGER PRIMARY KEY)")
            .unwrap();
        let writer = Writer::spawn(conn, Arc::default()).unwrap();
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
