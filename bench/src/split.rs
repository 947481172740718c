//! The split server (hidden `split-server` subcommand): the runtime's own router, SQLite store
//! and workers, assembled from the runtime's public API in a separate process, with the workers
//! started only on `POST /bench/workers`. It measures ingest alone (no claims competing for the
//! SQLite writer) and then the workers alone on the backlog, with no change to the runtime.
//!
//! The endpoint and job are the Cal.com example's, declared again here because the registry is
//! collected from the linked binary. Beside them, the filters bench's endpoint and its 20
//! filtered jobs ([`filters::ENDPOINT`]), so that the ingest the filters are part of is
//! measured on the same server.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::routing::post;
use tokio_util::sync::CancellationToken;
use trigger_runtime::cli::DEFAULT_DATABASE_URL;
use trigger_runtime::prelude::*;
use trigger_runtime::registry::Registry;
use trigger_runtime::server::{Server, ServerConfig};
use trigger_runtime::store::Store;

use crate::{BoxError, filters};

/// Cal.com signs the raw body with HMAC-SHA256 and sends it hex-encoded (as in the example).
#[http_endpoint(
    id = "cal.com",
    source = "cal.com",
    icon = "caldotcom",
    title = "Cal.com",
    header = "X-Cal-Signature-256",
    secret = "CALDOTCOM_SECRET"
)]
fn caldotcom();

/// The example's job: parses the body and logs it.
#[job(id = "http-caldotcom", name = "HTTP Cal.com", version = "1.0.0", trigger = caldotcom)]
async fn http_caldotcom(request: Request, io: Io, _ctx: Context) -> Result<()> {
    let body: serde_json::Value = request.json()?;
    io.logger.info("Body", &body);
    Ok(())
}

/// Serves ingest on `port` with the default SQLite store in the working directory; the workers
/// start on the first `POST /bench/workers` and never stop (the bench kills the process).
pub(crate) fn run_split_server(port: u16) -> Result<(), BoxError> {
    // The example's runtime: a core left to the store's writer thread.
    let runtime = trigger_runtime::runtime()?;
    runtime.block_on(async move {
        let example = Registry::from_inventory()?;
        let registry = Registry::from_parts(
            example.endpoints().chain([&filters::ENDPOINT]),
            example.jobs().cloned().chain(filters::jobs(true)?),
        )?;
        let database = DEFAULT_DATABASE_URL;
        let store = Store::open(database).await?;
        let server = Server::new(registry, store, ServerConfig::default()).await?;
        let worker = server.worker().clone();
        let started = Arc::new(AtomicBool::new(false));
        let app = server.router().route(
            "/bench/workers",
            post(move || {
                if !started.swap(true, Ordering::SeqCst) {
                    let worker = worker.clone();
                    tokio::spawn(async move { worker.run(CancellationToken::new()).await });
                }
                async { axum::Json(serde_json::json!({ "workers": "running" })) }
            }),
        );
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        println!("listening on http://{}", listener.local_addr()?);
        axum::serve(listener, app).await?;
        Ok(())
    })
}
