//! Ingest with group commit: webhooks that arrive together are stored in one transaction (one
//! multi-row insert of events, one of runs, one commit), so one process is not held to one
//! round trip per webhook. A few committers take turns: while one commits, the next gathers.
//!
//! Nobody hears "stored" before the commit returned. If a batch fails (a deadlock between
//! servers, a bad row), each of its webhooks is stored again in a transaction of its own, so
//! only the failing one fails.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{GenericClient, Pool, Transaction};
use tokio::sync::{Mutex, mpsc, oneshot};

use super::read::event_runs;
use crate::store::codec::{encode_headers, encode_skipped};
use crate::store::{
    Event, FirstLease, Ingested, NewRun, Result, RunRef, RunStatus, SkippedJobs, StoreError,
};
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
    let results = match store(pool, channel, &items).await {
        Ok(results) => results,
        Err(error) if items.len() == 1 => vec![Err(error)],
        Err(error) => {
            tracing::debug!(
                error = %crate::error::error_chain(&error),
                webhooks = items.len(),
                "a batch of ingests failed; storing each on its own"
            );
            let mut results = Vec::with_capacity(items.len());
            for item in &items {
                results.push(match store(pool, channel, &[*item]).await {
                    Ok(mut one) => one.remove(0),
                    Err(error) => Err(error),
                });
            }
            results
        }
    };
    drop(items);
    for (pending, result) in batch.into_iter().zip(results) {
        let _ = pending.reply.send(result);
    }
}

/// Stores `items`: the events whose idempotency key is new, with their runs, in one statement
/// (one commit: it fails or succeeds whole); then each of the others on its own (see
/// [`settle`]). The results in the same order.
async fn store(
    pool: &Pool,
    channel: &str,
    items: &[(&Event, &[NewRun])],
) -> Result<Vec<Result<Ingested>>> {
    let mut client = pool.get().await.map_err(StoreError::Pool)?;
    let now = Timestamp::now();
    let inserted: HashSet<String> = insert_events(&client, items, true, Some(channel), now)
        .await?
        .into_iter()
        .collect();
    let mut results = Vec::with_capacity(items.len());
    for (event, runs) in items {
        if inserted.contains(&event.id) {
            results.push(Ok(Ingested::stored(Cow::Borrowed(event), runs, now)));
            continue;
        }
        // Its key was taken, by an earlier webhook or by one of this batch.
        let settled = async {
            let tx = client.transaction().await?;
            let ingested = settle(&tx, event, runs).await?;
            if !ingested.duplicate && ingested.runs.len() > ingested.claimed.len() {
                notify(&tx, channel).await?;
            }
            tx.commit().await?;
            Ok(ingested)
        };
        results.push(settled.await);
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
            let runs = event_runs(tx, &event_id).await?;
            return Ok(Ingested::duplicate(event_id, runs));
        }
        tracing::warn!(key, first = %event_id, "idempotency key reused with a different body; stored as a new event");
    }
    // Unkeyed; or keyed again when the event that held the key is gone (pruned).
    let now = Timestamp::now();
    let stored = insert_events(tx, &[(event, runs)], existing.is_none(), None, now).await?;
    if stored.is_empty() {
        return Err(StoreError::Corrupt(format!(
            "event {} was neither stored nor found by its idempotency key",
            event.id
        )));
    }
    Ok(Ingested::stored(Cow::Borrowed(event), runs, now))
}

/// Inserts the events of `items` and the runs of those inserted, in one statement: with their
/// idempotency keys when `keyed` (skipping those whose key is taken) or without; and, when
/// `announce` names a channel and queued runs were inserted, a `NOTIFY` on it. Runs are
/// created at `now`, queued or claimed (see [`NewRun::first_lease`]). Returns the ids of the
/// events inserted.
async fn insert_events(
    client: &impl GenericClient,
    items: &[(&Event, &[NewRun])],
    keyed: bool,
    announce: Option<&str>,
    now: Timestamp,
) -> Result<Vec<String>> {
    let events = EventColumns::of(items.iter().map(|(event, _)| *event), keyed);
    let runs = RunColumns::of(
        items
            .iter()
            .flat_map(|(event, runs)| runs.iter().map(move |run| (*event, run))),
        now,
    );
    let statement = client
        .prepare_cached(
            "WITH e AS ( \
                 INSERT INTO events (id, endpoint_id, method, url, headers, body, received_at, \
                 verified, dedup_key, skipped) \
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], \
                 $5::bytea[], $6::bytea[], $7::int8[], $8::bool[], $9::text[], $10::text[]) \
                 ON CONFLICT (endpoint_id, dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING \
                 RETURNING id), \
             r AS ( \
                 INSERT INTO runs (id, job, job_version, event_id, endpoint_id, status, \
                 max_attempts, created_at, run_at, attempts, lease_epoch, started_at, \
                 lease_until) \
                 SELECT id, job, job_version, event_id, endpoint_id, status, max_attempts, \
                 $17, $17, attempts, epoch, started_at, lease_until \
                 FROM UNNEST($11::text[], $12::text[], $13::text[], $14::text[], $15::text[], \
                 $16::int4[], $19::text[], $20::int4[], $21::int8[], $22::int8[], \
                 $23::int8[]) WITH ORDINALITY \
                 AS r(id, job, job_version, event_id, endpoint_id, max_attempts, status, \
                 attempts, epoch, started_at, lease_until, n) \
                 WHERE event_id IN (SELECT id FROM e) ORDER BY n \
                 RETURNING status = 'queued' AS queued), \
             n AS (SELECT pg_notify($18, '') FROM (SELECT 1 FROM r WHERE queued LIMIT 1) \
                 AS one WHERE $18 IS NOT NULL) \
             SELECT e.id FROM e CROSS JOIN (SELECT count(*) FROM n) AS announced",
        )
        .await?;
    let now = now.as_unix_millis();
    let rows = client
        .query(
            &statement,
            &[
                &events.ids,
                &events.endpoints,
                &events.methods,
                &events.urls,
                &events.headers,
                &events.bodies,
                &events.received,
                &events.verified,
                &events.keys,
                &events.skipped,
                &runs.ids,
                &runs.jobs,
                &runs.versions,
                &runs.events,
                &runs.endpoints,
                &runs.max_attempts,
                &now,
                &announce,
                &runs.statuses,
                &runs.attempts,
                &runs.epochs,
                &runs.started,
                &runs.leases,
            ],
        )
        .await?;
    rows.iter()
        .map(|row| row.try_get(0).map_err(StoreError::from))
        .collect()
}

/// Events as the arrays of an `UNNEST`: with their idempotency keys when `keyed`.
#[derive(Default)]
struct EventColumns<'a> {
    ids: Vec<&'a str>,
    endpoints: Vec<&'a str>,
    methods: Vec<&'a str>,
    urls: Vec<&'a str>,
    headers: Vec<Vec<u8>>,
    bodies: Vec<&'a [u8]>,
    received: Vec<i64>,
    verified: Vec<bool>,
    keys: Vec<Option<&'a str>>,
    skipped: Vec<Option<String>>,
}

impl<'a> EventColumns<'a> {
    fn of(events: impl Iterator<Item = &'a Event>, keyed: bool) -> Self {
        let mut columns = Self::default();
        for event in events {
            columns.ids.push(&event.id);
            columns.endpoints.push(&event.endpoint_id);
            columns.methods.push(&event.method);
            columns.urls.push(&event.url);
            columns.headers.push(encode_headers(&event.headers));
            columns.bodies.push(&event.body);
            columns.received.push(event.received_at.as_unix_millis());
            columns.verified.push(event.verified);
            columns
                .keys
                .push(event.dedup_key.as_deref().filter(|_| keyed));
            columns.skipped.push(encode_skipped(&event.skipped));
        }
        columns
    }
}

/// Runs created at one time, as the arrays of an `UNNEST`: queued, or claimed as
/// [`NewRun::first_lease`] says.
#[derive(Default)]
struct RunColumns<'a> {
    ids: Vec<&'a str>,
    jobs: Vec<&'a str>,
    versions: Vec<&'a str>,
    events: Vec<&'a str>,
    endpoints: Vec<&'a str>,
    max_attempts: Vec<i32>,
    statuses: Vec<&'static str>,
    attempts: Vec<i32>,
    epochs: Vec<i64>,
    started: Vec<Option<i64>>,
    leases: Vec<Option<i64>>,
}

impl<'a> RunColumns<'a> {
    fn of(runs: impl Iterator<Item = (&'a Event, &'a NewRun)>, now: Timestamp) -> Self {
        let mut columns = Self::default();
        let int = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
        for (event, run) in runs {
            columns.ids.push(&run.id);
            columns.jobs.push(&run.job_id);
            columns.versions.push(&run.job_version);
            columns.events.push(&event.id);
            columns.endpoints.push(&event.endpoint_id);
            columns.max_attempts.push(int(run.max_attempts));
            let first = run.first_lease(now);
            let lease = first.map(|_| FirstLease::LEASE);
            let status = first.map_or(RunStatus::Queued, |_| RunStatus::Running);
            columns.statuses.push(status.as_str());
            columns.attempts.push(lease.map_or(0, |l| int(l.attempt)));
            let epoch = lease.map_or(0, |l| l.epoch);
            columns
                .epochs
                .push(i64::try_from(epoch).unwrap_or(i64::MAX));
            columns
                .started
                .push(first.map(|f| f.started_at.as_unix_millis()));
            columns
                .leases
                .push(first.map(|f| f.lease_until.as_unix_millis()));
        }
        columns
    }
}

/// Inserts runs in one statement, in order, queued (a lease is for ingests only).
pub(super) async fn insert_runs(tx: &Transaction<'_>, runs: &[(&Event, &NewRun)]) -> Result<()> {
    if runs.is_empty() {
        return Ok(());
    }
    let now = Timestamp::now();
    let runs = RunColumns::of(runs.iter().copied(), now);
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
    tx.execute(
        &statement,
        &[
            &runs.ids,
            &runs.jobs,
            &runs.versions,
            &runs.events,
            &runs.endpoints,
            &runs.max_attempts,
            &now.as_unix_millis(),
        ],
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
