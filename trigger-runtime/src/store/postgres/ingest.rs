//! Ingest with group commit: webhooks that arrive together are stored in one transaction (one
//! multi-row insert of events, one of runs, one commit), so one process is not held to one
//! round trip per webhook. A few committers take turns: while one commits, the next gathers.
//!
//! Nobody hears "stored" before the commit returned. If a batch fails (a deadlock between
//! servers, a bad row), each of its webhooks is stored again in a transaction of its own, so
//! only the failing one fails.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Pool, Transaction};
use tokio::sync::{Mutex, mpsc, oneshot};

use super::read::event_runs;
use crate::store::codec::{encode_headers, encode_skipped};
use crate::store::{Event, Ingested, NewRun, Result, RunRef, SkippedJobs, StoreError};
use crate::time::Timestamp;

/// The most webhooks stored in one transaction.
const MAX_BATCH: usize = 256;

/// Committers per store: transactions in flight at once.
const COMMITTERS: usize = 4;

/// The longest an ingest waits for its commit before hearing [`StoreError::Timeout`] (the
/// server answers `503`); it may still commit later, and is then a duplicate of the retry.
const DEADLINE: Duration = Duration::from_secs(10);

struct Pending {
    event: Event,
    runs: Vec<NewRun>,
    reply: oneshot::Sender<Result<Ingested>>,
}

/// The queue of ingests and the committers that drain it; they stop when it is dropped.
pub(super) struct Ingests {
    queue: mpsc::Sender<Pending>,
}

impl Ingests {
    pub(super) fn spawn(pool: &Pool, channel: &str) -> Self {
        let (queue, receiver) = mpsc::channel(MAX_BATCH * COMMITTERS);
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..COMMITTERS {
            tokio::spawn(commit_loop(
                pool.clone(),
                channel.to_owned(),
                Arc::clone(&receiver),
            ));
        }
        Self { queue }
    }

    /// Stores `event` and `runs` (see [`StoreDriver::ingest`](crate::store::StoreDriver::ingest)).
    pub(super) async fn ingest(&self, event: Event, runs: Vec<NewRun>) -> Result<Ingested> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Pending { event, runs, reply })
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        match tokio::time::timeout(DEADLINE, answer).await {
            Err(_) => Err(StoreError::Timeout(DEADLINE)),
            Ok(Err(_)) => Err(StoreError::WriterStopped),
            Ok(Ok(result)) => result,
        }
    }
}

async fn commit_loop(pool: Pool, channel: String, receiver: Arc<Mutex<mpsc::Receiver<Pending>>>) {
    loop {
        let batch = {
            let mut receiver = receiver.lock().await;
            let Some(first) = receiver.recv().await else {
                return;
            };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match receiver.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            batch
        };
        commit(&pool, &channel, batch).await;
    }
}

/// Stores a batch and answers each of its callers.
async fn commit(pool: &Pool, channel: &str, batch: Vec<Pending>) {
    let items: Vec<(&Event, &[NewRun])> = batch
        .iter()
        .map(|p| (&p.event, p.runs.as_slice()))
        .collect();
    let stored = store(pool, channel, &items).await;
    drop(items);
    match stored {
        Ok(results) => {
            for (pending, result) in batch.into_iter().zip(results) {
                let _ = pending.reply.send(Ok(result));
            }
        }
        Err(error) if batch.len() == 1 => {
            if let Some(pending) = batch.into_iter().next() {
                let _ = pending.reply.send(Err(error));
            }
        }
        Err(error) => {
            tracing::debug!(
                error = %crate::error::error_chain(&error),
                webhooks = batch.len(),
                "a batch of ingests failed; storing each on its own"
            );
            for pending in batch {
                let one = [(&pending.event, pending.runs.as_slice())];
                let result = store(pool, channel, &one)
                    .await
                    .map(|mut results| results.remove(0));
                let _ = pending.reply.send(result);
            }
        }
    }
}

/// Stores `items` in one transaction; the results in the same order.
async fn store(pool: &Pool, channel: &str, items: &[(&Event, &[NewRun])]) -> Result<Vec<Ingested>> {
    let mut client = pool.get().await.map_err(StoreError::Pool)?;
    let tx = client.transaction().await?;
    let results = insert(&tx, channel, items).await?;
    tx.commit().await?;
    Ok(results)
}

/// Inserts the events whose idempotency key is new (one statement), their runs (one more),
/// then settles the others one by one: the same body is a duplicate of the stored event,
/// another body a new unkeyed event.
async fn insert(
    tx: &Transaction<'_>,
    channel: &str,
    items: &[(&Event, &[NewRun])],
) -> Result<Vec<Ingested>> {
    let events: Vec<&Event> = items.iter().map(|(event, _)| *event).collect();
    let inserted: HashSet<String> = insert_events(tx, &events, true)
        .await?
        .into_iter()
        .collect();
    let mut runs: Vec<(&Event, &NewRun)> = Vec::new();
    for (event, event_runs) in items {
        if inserted.contains(&event.id) {
            runs.extend(event_runs.iter().map(|run| (*event, run)));
        }
    }
    let mut results = Vec::with_capacity(items.len());
    for (event, event_runs) in items {
        if inserted.contains(&event.id) {
            results.push(Ingested {
                event_id: event.id.clone(),
                runs: event_runs.iter().map(NewRun::to_ref).collect(),
                duplicate: false,
            });
            continue;
        }
        // Its key was taken, by an earlier webhook or by one of this batch.
        insert_runs(tx, &std::mem::take(&mut runs)).await?;
        results.push(settle(tx, event, event_runs).await?);
    }
    let announced = results.iter().any(|r| !r.duplicate && !r.runs.is_empty());
    insert_runs(tx, &runs).await?;
    if announced {
        notify(tx, channel).await?;
    }
    Ok(results)
}

/// An event whose idempotency key is already stored.
async fn settle(tx: &Transaction<'_>, event: &Event, runs: &[NewRun]) -> Result<Ingested> {
    let key = event.dedup_key.as_deref();
    let existing = tx
        .query_opt(
            &tx.prepare_cached(
                "SELECT id, body FROM events WHERE endpoint_id = $1 AND dedup_key = $2",
            )
            .await?,
            &[&event.endpoint_id, &key],
        )
        .await?;
    if let Some(row) = &existing {
        let (event_id, body): (String, &[u8]) = (row.try_get(0)?, row.try_get(1)?);
        if body == event.body.as_ref() {
            return Ok(Ingested {
                runs: event_runs(tx, &event_id).await?,
                event_id,
                duplicate: true,
            });
        }
        tracing::warn!(key, first = %event_id, "idempotency key reused with a different body; stored as a new event");
    }
    insert_events(tx, &[event], existing.is_none()).await?;
    let pairs: Vec<(&Event, &NewRun)> = runs.iter().map(|run| (event, run)).collect();
    insert_runs(tx, &pairs).await?;
    Ok(Ingested {
        event_id: event.id.clone(),
        runs: runs.iter().map(NewRun::to_ref).collect(),
        duplicate: false,
    })
}

/// Inserts `events` in one statement, with their idempotency keys when `keyed` (skipping
/// those whose key is taken) or without; returns the ids inserted.
async fn insert_events(
    tx: &Transaction<'_>,
    events: &[&Event],
    keyed: bool,
) -> Result<Vec<String>> {
    let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
    let endpoints: Vec<&str> = events.iter().map(|e| e.endpoint_id.as_str()).collect();
    let methods: Vec<&str> = events.iter().map(|e| e.method.as_str()).collect();
    let urls: Vec<&str> = events.iter().map(|e| e.url.as_str()).collect();
    let headers: Vec<Vec<u8>> = events.iter().map(|e| encode_headers(&e.headers)).collect();
    let bodies: Vec<&[u8]> = events.iter().map(|e| e.body.as_ref()).collect();
    let received: Vec<i64> = events
        .iter()
        .map(|e| e.received_at.as_unix_millis())
        .collect();
    let verified: Vec<bool> = events.iter().map(|e| e.verified).collect();
    let keys: Vec<Option<&str>> = events
        .iter()
        .map(|e| e.dedup_key.as_deref().filter(|_| keyed))
        .collect();
    let skipped: Vec<Option<String>> = events.iter().map(|e| encode_skipped(&e.skipped)).collect();
    let statement = tx
        .prepare_cached(
            "INSERT INTO events (id, endpoint_id, method, url, headers, body, received_at, \
             verified, dedup_key, skipped) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::bytea[], \
             $6::bytea[], $7::int8[], $8::bool[], $9::text[], $10::text[]) \
             ON CONFLICT (endpoint_id, dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING \
             RETURNING id",
        )
        .await?;
    let rows = tx
        .query(
            &statement,
            &[
                &ids, &endpoints, &methods, &urls, &headers, &bodies, &received, &verified, &keys,
                &skipped,
            ],
        )
        .await?;
    rows.iter()
        .map(|row| row.try_get(0).map_err(StoreError::from))
        .collect()
}

/// Inserts runs in one statement, in order.
pub(super) async fn insert_runs(tx: &Transaction<'_>, runs: &[(&Event, &NewRun)]) -> Result<()> {
    if runs.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = runs.iter().map(|(_, r)| r.id.as_str()).collect();
    let jobs: Vec<&str> = runs.iter().map(|(_, r)| r.job_id.as_str()).collect();
    let versions: Vec<&str> = runs.iter().map(|(_, r)| r.job_version.as_str()).collect();
    let events: Vec<&str> = runs.iter().map(|(e, _)| e.id.as_str()).collect();
    let endpoints: Vec<&str> = runs.iter().map(|(e, _)| e.endpoint_id.as_str()).collect();
    let attempts: Vec<i32> = runs
        .iter()
        .map(|(_, r)| i32::try_from(r.max_attempts).unwrap_or(i32::MAX))
        .collect();
    let statement = tx
        .prepare_cached(
            "INSERT INTO runs (id, job, job_version, event_id, endpoint_id, status, \
             max_attempts, created_at, run_at) \
             SELECT id, job, job_version, event_id, endpoint_id, 'queued', max_attempts, $7, $7 \
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int4[]) \
             WITH ORDINALITY AS r(id, job, job_version, event_id, endpoint_id, max_attempts, n) \
             ORDER BY n",
        )
        .await?;
    let now = Timestamp::now().as_unix_millis();
    tx.execute(
        &statement,
        &[&ids, &jobs, &versions, &events, &endpoints, &attempts, &now],
    )
    .await?;
    Ok(())
}

/// Announces due runs to every server's listener, when the transaction commits.
pub(super) async fn notify(tx: &Transaction<'_>, channel: &str) -> Result<()> {
    tx.execute("SELECT pg_notify($1, '')", &[&channel]).await?;
    Ok(())
}

/// Adds runs to a stored event, replacing its skipped jobs if given; `None` if there is no
/// such event.
pub(super) async fn add_runs(
    pool: &Pool,
    channel: &str,
    event_id: &str,
    runs: &[NewRun],
    skipped: Option<&SkippedJobs>,
) -> Result<Option<Vec<RunRef>>> {
    let mut client = pool.get().await.map_err(StoreError::Pool)?;
    let tx = client.transaction().await?;
    let Some(event) = super::read::load_event(&tx, event_id).await? else {
        return Ok(None);
    };
    if let Some(skipped) = skipped {
        tx.execute(
            "UPDATE events SET skipped = $2 WHERE id = $1",
            &[&event_id, &encode_skipped(skipped)],
        )
        .await?;
    }
    let pairs: Vec<(&Event, &NewRun)> = runs.iter().map(|run| (&event, run)).collect();
    insert_runs(&tx, &pairs).await?;
    if !runs.is_empty() {
        notify(&tx, channel).await?;
    }
    tx.commit().await?;
    Ok(Some(runs.iter().map(NewRun::to_ref).collect()))
}
