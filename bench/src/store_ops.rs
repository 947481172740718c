//! `trigger-bench store`: the SQLite store alone, without HTTP or workers, doing the three
//! writes a webhook and its run make in the example: the ingest (the event and its run), the
//! claim, and the finish (success, with the job's one log line). Concurrent callers, so that
//! the writes share commits as they do in the server.
//!
//! It prints each phase's rate and CPU time per webhook: of the writer thread (the number to
//! watch when changing the schema or the writer: every write waits for it), of the store's
//! threads, and of the whole process. Under callgrind, one phase at a time, or with
//! `--separate-threads=yes` for the writer's own count:
//!
//! ```sh
//! valgrind --tool=callgrind --toggle-collect='*sqlite::write::ingest*' \
//!     target/release/trigger-bench store --webhooks 5000
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use trigger_runtime::io::{LogData, LogLevel, LogLine};
use trigger_runtime::store::{
    AttemptOutcome, ClaimRequest, Event, NewRun, SkippedJobs, SqliteStore, StoreDriver,
};
use trigger_runtime::time::Timestamp;

use crate::temp_dir::TempDir;
use crate::{BoxError, client, proc};

/// Concurrent ingests, as many as the bench's connections.
const INGESTERS: usize = 64;

/// Runs claimed at once: half of a worker's default concurrency, as the worker claims.
const CLAIM_BATCH: usize = 32;

fn event(n: u64) -> Event {
    let body = client::booking_body(n);
    Event {
        id: format!("evt_bench_{n:020}"),
        endpoint_id: "cal.com".to_owned(),
        method: "POST".to_owned(),
        url: "http://127.0.0.1/endpoints/cal.com".to_owned(),
        headers: vec![
            ("content-type".to_owned(), b"application/json".to_vec()),
            ("user-agent".to_owned(), b"trigger-bench".to_vec()),
            ("x-cal-signature-256".to_owned(), [b'a'; 64].to_vec()),
        ],
        body: body.into_bytes().into(),
        received_at: Timestamp::now(),
        verified: true,
        dedup_key: None,
        skipped: SkippedJobs::new(),
    }
}

fn new_run(n: u64) -> NewRun {
    NewRun {
        id: format!("run_bench_{n:020}"),
        job_id: "http-caldotcom".to_owned(),
        job_version: "1.0.0".to_owned(),
        max_attempts: 3,
        lease: None,
    }
}

/// Measures `webhooks` ingests, then their claims and finishes, on a fresh database.
pub(crate) fn measure(webhooks: u64) -> Result<(), BoxError> {
    let dir = TempDir::create("bench-store")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let store = Arc::new(SqliteStore::open(dir.join("trigger.db"))?);
    println!("  {webhooks} webhooks, {INGESTERS} concurrent ingests, claims of {CLAIM_BATCH}");
    let ingest = phase("ingest (event + run)", webhooks, || {
        rt.block_on(ingest_all(&store, webhooks))
    })?;
    let claim = phase("claim + finish (one log line)", webhooks, || {
        rt.block_on(claim_and_finish_all(&store, webhooks))
    })?;
    let both = ingest + claim;
    println!(
        "  per webhook and its run: writer {}, store threads {}, process {}",
        per(both.writer, webhooks),
        per(both.store, webhooks),
        per(both.process, webhooks),
    );
    Ok(())
}

/// CPU time of one phase: the store's own threads (its writer, which every write waits for,
/// and its checkpointer), the writer alone, and the whole process (what is done before a write
/// reaches the writer, such as a log line's JSON text, runs on tokio's threads).
#[derive(Clone, Copy, Debug)]
struct Cpu {
    store: Duration,
    writer: Duration,
    process: Duration,
}

impl std::ops::Add for Cpu {
    type Output = Self;

    fn add(self, other: Self) -> Self {
        Self {
            store: self.store + other.store,
            writer: self.writer + other.writer,
            process: self.process + other.process,
        }
    }
}

/// Runs `f` and prints its rate and its CPU time per webhook.
fn phase(
    name: &str,
    webhooks: u64,
    f: impl FnOnce() -> Result<(), BoxError>,
) -> Result<Cpu, BoxError> {
    let pid = std::process::id();
    let before = proc::cpu(pid)?;
    let started = Instant::now();
    f()?;
    let took = started.elapsed();
    let usage = proc::usage(&before, &proc::cpu(pid)?);
    let cores = |prefix: &str| -> f64 {
        let named = usage
            .threads
            .iter()
            .filter(|(name, _, _)| name.starts_with(prefix));
        named.map(|(_, cores, _)| cores).sum()
    };
    let cpu = Cpu {
        store: took.mul_f64(cores("sqlite-")),
        writer: took.mul_f64(cores("sqlite-writer")),
        process: took.mul_f64(usage.cores),
    };
    println!(
        "  {name}: {:.0}/s; per webhook: writer {}, store threads {}, process {}",
        webhooks as f64 / took.as_secs_f64().max(1e-9),
        per(cpu.writer, webhooks),
        per(cpu.store, webhooks),
        per(cpu.process, webhooks),
    );
    Ok(cpu)
}

fn per(cpu: Duration, webhooks: u64) -> String {
    format!("{:.1} µs", cpu.as_secs_f64() * 1e6 / webhooks as f64)
}

async fn ingest_all(store: &Arc<SqliteStore>, webhooks: u64) -> Result<(), BoxError> {
    let mut tasks = tokio::task::JoinSet::new();
    for first in 0..INGESTERS as u64 {
        let store = Arc::clone(store);
        tasks.spawn(async move {
            for n in (first..webhooks).step_by(INGESTERS) {
                store.ingest(event(n), vec![new_run(n)]).await?;
            }
            Ok::<_, trigger_runtime::store::StoreError>(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}

async fn claim_and_finish_all(store: &Arc<SqliteStore>, webhooks: u64) -> Result<(), BoxError> {
    let request = ClaimRequest::new(CLAIM_BATCH, Duration::from_secs(300));
    let mut finished = 0;
    while finished < webhooks {
        let claimed = store.claim(&request).await?;
        if claimed.is_empty() {
            return Err(
                format!("{finished} of {webhooks} runs finished, none left to claim").into(),
            );
        }
        let mut tasks = tokio::task::JoinSet::new();
        for run in claimed {
            let store = Arc::clone(store);
            tasks.spawn(async move {
                let body: Value = serde_json::from_slice(&run.event.body).unwrap_or(Value::Null);
                let line = LogLine {
                    level: LogLevel::Info,
                    message: "Body".to_owned(),
                    data: LogData::new(&body),
                    at: Timestamp::now(),
                };
                let outcome = AttemptOutcome::Succeeded(Value::Null);
                store
                    .finish(&run.run.id, run.lease, vec![line], outcome)
                    .await
            });
        }
        while let Some(done) = tasks.join_next().await {
            if !done?? {
                return Err("a finish lost its lease".into());
            }
            finished += 1;
        }
    }
    Ok(())
}
