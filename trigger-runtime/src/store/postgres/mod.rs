//! The PostgreSQL driver (`postgres://…`): several servers share one queue in one database.
//!
//! The tables live in one schema (`?schema=`, default `trigger`), migrated at start-up.
//! Ingests share commits ([`ingest`]); runs are claimed with `FOR UPDATE SKIP LOCKED` and
//! fenced by their lease's epoch ([`claim`], [`finish`]); a `LISTEN` connection wakes this
//! server's worker when any server commits new runs ([`listen`]). Every other write is one
//! short transaction on a pooled connection. While the database is away, each call fails
//! within seconds ([`StoreError::Pool`]: ingest answers `503` with `Retry-After`, workers
//! back off) and the pool reconnects once it is back; nothing acknowledged is lost, since
//! nothing is acknowledged before its commit.

mod claim;
mod config;
mod finish;
mod ingest;
mod listen;
mod migrate;
mod read;
mod rows;

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Object, Pool};
use tokio::sync::Notify;

pub use self::config::DEFAULT_SCHEMA;
use self::config::Settings;
use self::ingest::Ingests;
use super::codec::ExpiryScan;
use super::{
    AttemptOutcome, ClaimRequest, ClaimedRun, Event, EventRecord, Ingested, Lease, LogPage,
    LogQuery, NewRun, Pruned, QueueCounts, Result, RunCounts, RunPage, RunQuery, RunRecord, RunRef,
    RunStatus, SkippedJobs, StoreDriver, StoreError, StoreKind,
};
use crate::log::LogLine;
use crate::time::Timestamp;

/// A store in a PostgreSQL schema, shared by every server pointed at it.
pub struct PostgresStore {
    pool: Pool,
    settings: Settings,
    ingests: Ingests,
    expiry: ExpiryScan,
    wake: Arc<Notify>,
    listener: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("url", &self.settings.shown)
            .field("schema", &self.settings.schema)
            .finish_non_exhaustive()
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

impl PostgresStore {
    /// Connects to the database `url` names, creates the schema if needed and migrates it.
    /// Must be called within a Tokio runtime.
    ///
    /// `url` is libpq's URL form, `postgres://user:password@host:5432/database`, with its
    /// parameters (`sslmode=require`, `connect_timeout=10`, `application_name`, ...) and this
    /// driver's: `schema` (default `trigger`), `sslrootcert` (a PEM file of the certificates
    /// to trust instead of the public roots) and `pool_size` (default 16). With `sslmode`
    /// `require` or `prefer` the connection uses TLS and verifies the server's certificate
    /// and name; without `sslmode` it is plain.
    pub async fn connect(url: &str) -> Result<Self> {
        let settings = Settings::parse(url)?;
        let pool = settings.pool()?;
        let mut client = pool.get().await.map_err(StoreError::Pool)?;
        migrate::run(&mut client, &settings.schema).await?;
        drop(client);
        let wake = Arc::new(Notify::new());
        let listener = tokio::spawn(listen::listen(settings.clone(), Arc::clone(&wake)));
        Ok(Self {
            ingests: Ingests::spawn(&pool, &settings.channel()),
            pool,
            settings,
            expiry: ExpiryScan::default(),
            wake,
            listener,
        })
    }

    /// The schema the tables are in.
    pub fn schema(&self) -> &str {
        &self.settings.schema
    }

    async fn client(&self) -> Result<Object> {
        self.pool.get().await.map_err(StoreError::Pool)
    }
}

/// Runs `$body` with `$tx`, a transaction on a pooled connection, and commits it.
macro_rules! in_transaction {
    ($store:expr, |$tx:ident| $body:expr) => {{
        let mut client = $store.client().await?;
        let $tx = client.transaction().await?;
        let result = $body;
        $tx.commit().await?;
        Ok(result)
    }};
}

#[async_trait::async_trait]
impl StoreDriver for PostgresStore {
    fn kind(&self) -> StoreKind {
        StoreKind::Postgres
    }

    fn wakeups(&self) -> Option<Arc<Notify>> {
        Some(Arc::clone(&self.wake))
    }

    async fn ready(&self) -> Result<()> {
        read::health(&self.client().await?).await
    }

    async fn ingest(&self, event: Event, runs: Vec<NewRun>) -> Result<Ingested> {
        self.ingests.ingest(event, runs).await
    }

    async fn claim(&self, request: &ClaimRequest) -> Result<Vec<ClaimedRun>> {
        claim::claim(&mut self.client().await?, request, &self.expiry).await
    }

    async fn heartbeat(&self, run_id: &str, lease: Lease, duration: Duration) -> Result<bool> {
        claim::heartbeat(&self.client().await?, run_id, lease, duration).await
    }

    async fn finish(
        &self,
        run_id: &str,
        lease: Lease,
        lines: Vec<LogLine>,
        outcome: AttemptOutcome,
    ) -> Result<bool> {
        finish::finish(&self.client().await?, run_id, lease, &lines, &outcome).await
    }

    async fn release(&self, run_id: &str, lease: Lease) -> Result<()> {
        in_transaction!(self, |tx| {
            if finish::requeue(&tx, run_id, lease, Timestamp::now()).await? {
                ingest::notify(&tx, &self.settings.channel()).await?;
            }
        })
    }

    async fn append_logs(&self, run_id: &str, lease: Lease, lines: Vec<LogLine>) -> Result<()> {
        finish::append_logs(&self.client().await?, run_id, lease, &lines).await
    }

    async fn run(&self, id: &str) -> Result<Option<RunRecord>> {
        // One snapshot for the run, its history, logs and tasks.
        in_transaction!(self, |tx| read::run(&tx, id).await?)
    }

    async fn logs(&self, run_id: &str, query: &LogQuery) -> Result<Option<LogPage>> {
        read::run_logs(&self.client().await?, run_id, query).await
    }

    async fn event(&self, id: &str) -> Result<Option<EventRecord>> {
        in_transaction!(self, |tx| read::event(&tx, id).await?)
    }

    async fn endpoint_secret(&self, endpoint_id: &str, candidate: String) -> Result<String> {
        read::endpoint_secret(&self.client().await?, endpoint_id, &candidate).await
    }

    async fn next_due(&self) -> Result<Option<Timestamp>> {
        read::next_due(&self.client().await?).await
    }

    async fn run_counts(&self) -> Result<RunCounts> {
        read::run_counts(&self.client().await?).await
    }

    async fn queue_counts(&self) -> Result<QueueCounts> {
        read::queue_counts(&self.client().await?).await
    }

    async fn job_run_counts(&self) -> Result<Vec<(String, RunCounts)>> {
        read::job_run_counts(&self.client().await?).await
    }

    async fn list_runs(&self, query: &RunQuery) -> Result<RunPage> {
        read::list_runs(&self.client().await?, query).await
    }

    async fn cancel(&self, run_id: &str) -> Result<Option<RunStatus>> {
        in_transaction!(self, |tx| finish::cancel(&tx, run_id).await?)
    }

    async fn add_runs(
        &self,
        event_id: &str,
        runs: Vec<NewRun>,
        skipped: Option<SkippedJobs>,
    ) -> Result<Option<Vec<RunRef>>> {
        ingest::add_runs(
            &self.pool,
            &self.settings.channel(),
            event_id,
            &runs,
            skipped.as_ref(),
        )
        .await
    }

    async fn prune(&self, before: Timestamp, limit: usize) -> Result<Pruned> {
        in_transaction!(self, |tx| read::prune(&tx, before, limit).await?)
    }

    async fn task(&self, run_id: &str, key: &str) -> Result<Option<serde_json::Value>> {
        read::task(&self.client().await?, run_id, key).await
    }

    async fn save_task(
        &self,
        run_id: &str,
        lease: Lease,
        key: &str,
        output: serde_json::Value,
    ) -> Result<serde_json::Value> {
        let output = output.to_string();
        in_transaction!(self, |tx| finish::save_task(
            &tx, run_id, lease, key, &output
        )
        .await?)
    }
}
