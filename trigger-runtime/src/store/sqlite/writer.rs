//! The single writer thread and its group commit.
//!
//! Every write is a closure sent to one thread that owns the write connection. The thread
//! takes everything waiting in its queue (up to [`MAX_BATCH`]), applies each closure inside its
//! own savepoint, commits once (one fsync for the whole batch) and only then answers each
//! caller. While it syncs, new writes queue up and form the next batch, so concurrent ingests
//! share commits instead of paying one fsync each, and nobody hears "done" before the data is
//! on disk.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::store::{Result, StoreError};

/// The most writes committed together.
const MAX_BATCH: usize = 512;

/// A queued write: applied inside the batch's transaction, answered after the commit.
trait Op: Send {
    /// Applies the write; `false` if it failed (its savepoint is then rolled back).
    fn apply(&mut self, conn: &Connection) -> bool;
    /// Answers the caller once the batch's commit has succeeded or failed.
    fn answer(self: Box<Self>, commit: Result<(), String>);
}

struct Pending<T, F> {
    f: Option<F>,
    result: Option<Result<T>>,
    reply: oneshot::Sender<Result<T>>,
}

impl<T, F> Op for Pending<T, F>
where
    T: Send,
    F: FnOnce(&Connection) -> Result<T> + Send,
{
    fn apply(&mut self, conn: &Connection) -> bool {
        let Some(f) = self.f.take() else { return false };
        let result = f(conn);
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn answer(self: Box<Self>, commit: Result<(), String>) {
        let result = match (commit, self.result) {
            (_, Some(Err(error))) => Err(error),
            (Ok(()), Some(Ok(value))) => Ok(value),
            (Err(error), _) => Err(StoreError::Backend(format!("commit failed: {error}"))),
            (Ok(()), None) => Err(StoreError::Backend(
                "the write panicked and was rolled back".to_owned(),
            )),
        };
        let _ = self.reply.send(result);
    }
}

/// Commits and writes so far, to show that writes share commits.
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) commits: AtomicU64,
    pub(super) writes: AtomicU64,
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
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let op = Box::new(Pending {
            f: Some(f),
            result: None,
            reply,
        });
        self.queue
            .send(op)
            .await
            .map_err(|_| StoreError::Backend("the SQLite writer has stopped".to_owned()))?;
        answer
            .await
            .map_err(|_| StoreError::Backend("the SQLite writer stopped mid-write".to_owned()))?
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
        let commit = apply(conn, &mut batch).map_err(|e| e.to_string());
        counters.commits.fetch_add(1, Ordering::Relaxed);
        counters
            .writes
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        if let Err(error) = &commit {
            tracing::error!(%error, writes = batch.len(), "SQLite commit failed; the writes are refused");
        }
        for op in batch.drain(..) {
            op.answer(commit.clone());
        }
    }
}

fn apply(conn: &Connection, batch: &mut [Box<dyn Op>]) -> rusqlite::Result<()> {
    // Cached statements: these run several times per batch and parsing them showed in profiles.
    let run = |sql: &str| conn.prepare_cached(sql)?.execute([]).map(drop);
    run("BEGIN IMMEDIATE")?;
    let result = (|| {
        for op in batch.iter_mut() {
            run("SAVEPOINT op")?;
            // A panicking write fails alone instead of stopping the writer thread.
            let applied = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| op.apply(conn)));
            if applied.unwrap_or(false) {
                run("RELEASE op")?;
            } else {
                run("ROLLBACK TO op")?;
                run("RELEASE op")?;
            }
        }
        run("COMMIT")
    })();
    if result.is_err() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    result
}
