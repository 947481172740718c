//! [`Server`]: the HTTP side (ingest, health, JSON API) and the in-process workers.

mod access;
mod api;
mod conn;
pub mod deliveries;
mod example;
mod ingest;
mod listen;
mod logs;
mod metrics;
mod response;
mod retention;
mod views;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{any, get};
use http::StatusCode;
use tokio_util::sync::CancellationToken;

pub(crate) use self::access::{is_loopback_address, is_loopback_authority};
pub(crate) use self::api::{cancel_run_of, replay_event_of, replay_run_of};
use self::deliveries::Deliveries;
pub(crate) use self::example::deliver_example;
pub(crate) use self::response::ErrorResponse;
pub(crate) use self::views::{is_credential, redact_url};
use crate::endpoint::HttpEndpoint;
use crate::error::{Error, Result};
use crate::registry::Registry;
use crate::store::Store;
use crate::time::Clock;
use crate::verify::Secret;
use crate::worker::{Worker, WorkerConfig};

/// How long events are kept by default: 30 days.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

/// How long a custom verify fn may take by default.
pub const DEFAULT_VERIFY_TIMEOUT: Duration = Duration::from_secs(5);

/// The default body limit: 5 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 5 * 1024 * 1024;
/// The default time a connection has to send a request's headers: 10 s.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// The default time a keep-alive connection may wait between requests: 60 s.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// The default number of connections open at once: 1024.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// The most connections that may be open at once, whatever is configured.
pub const MAX_CONNECTIONS: usize = 1 << 24;

/// How the server behaves.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// The base URL senders use (`TRIGGER_PUBLIC_URL`), for URLs shown and given to jobs.
    pub public_url: Option<String>,
    /// The largest body accepted; larger ones get `413`.
    pub body_limit: usize,
    /// When set, `/api` requires `Authorization: Bearer <key>`. When not, `/api` answers only
    /// requests whose `Host` names loopback, unless `open_api` is set.
    pub api_key: Option<Secret>,
    /// Serve `/api` without a key to any `Host` (`--insecure-open-api`).
    pub open_api: bool,
    /// How long a custom verify fn may take before the request gets `503`.
    pub verify_timeout: Duration,
    /// Events (with runs, logs and task outputs) older than this are deleted once none of
    /// their runs is unfinished; `None` keeps everything.
    pub retention: Option<Duration>,
    /// How long a connection has to send a request's headers, from its start or from the
    /// first byte of the request; then it is closed.
    pub header_timeout: Duration,
    /// How long a keep-alive connection may wait for its next request; then it is closed.
    pub idle_timeout: Duration,
    /// The most connections open at once (at least 1); beyond it, new connections wait until
    /// one closes.
    pub max_connections: usize,
    /// The workers.
    pub worker: WorkerConfig,
    /// The time signed timestamps are checked against (the system's; a test may fix it).
    pub clock: Clock,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            public_url: None,
            body_limit: DEFAULT_BODY_LIMIT,
            api_key: None,
            open_api: false,
            verify_timeout: DEFAULT_VERIFY_TIMEOUT,
            retention: Some(DEFAULT_RETENTION),
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            worker: WorkerConfig::default(),
            clock: Clock::system(),
        }
    }
}

/// Where an endpoint's secret comes from.
#[derive(Clone, Debug)]
pub enum SecretState {
    /// Read from the named environment variables that are set: a request verifies when one of
    /// them verifies it (a rotation: the new secret and the old one, both accepted).
    Env {
        /// The variables that are set, in the order named (the current one first, when set).
        vars: Vec<&'static str>,
        /// Their secrets, in the same order.
        secrets: Vec<Secret>,
        /// The variables named but unset or empty.
        unset: Vec<&'static str>,
    },
    /// Every variable named is unset or empty: requests get `401`.
    Missing {
        /// The current variable (the first named), the one to set.
        var: &'static str,
    },
    /// No variable is named: generated on first start and kept in the store.
    Generated {
        /// The secret.
        secret: Secret,
    },
}

impl SecretState {
    /// The secret requests are signed with, unless it is missing: the first that is set.
    pub fn secret(&self) -> Option<&Secret> {
        self.secrets().first()
    }

    /// Every secret a request may be signed with, the current one first; empty when missing.
    pub fn secrets(&self) -> &[Secret] {
        match self {
            Self::Env { secrets, .. } => secrets,
            Self::Generated { secret } => std::slice::from_ref(secret),
            Self::Missing { .. } => &[],
        }
    }
}

/// What every handler shares.
pub(crate) struct AppState {
    pub(crate) registry: Arc<Registry>,
    pub(crate) store: Store,
    pub(crate) secrets: HashMap<&'static str, SecretState>,
    /// The verify tokens of endpoints that name one (Meta's subscription check).
    pub(crate) verify_tokens: HashMap<&'static str, Secret>,
    /// What each endpoint received lately, in memory.
    pub(crate) deliveries: Deliveries,
    pub(crate) config: ServerConfig,
    pub(crate) worker: Worker,
    /// Cancelled when [`Server::serve`] stops, so that endless answers (the dashboard's live
    /// updates) end and do not hold the shutdown.
    pub(crate) shutdown: CancellationToken,
}

/// Runs each request inside a `request` span (method and path; never the query, which may
/// carry a credential), and logs its status and duration at `debug` when it is answered.
async fn request_span(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use tracing::Instrument as _;
    let span =
        tracing::info_span!("request", method = %request.method(), path = request.uri().path());
    let started = std::time::Instant::now();
    async move {
        let response = next.run(request).await;
        tracing::debug!(status = response.status().as_u16(), took = ?started.elapsed(), "answered");
        response
    }
    .instrument(span)
    .await
}

/// The ingest server and its workers.
#[derive(Clone)]
pub struct Server {
    state: Arc<AppState>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("registry", &self.state.registry)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Resolves every endpoint's secret (reading environment variables, or generating and
    /// storing one) and prepares the workers.
    pub async fn new(registry: Registry, store: Store, config: ServerConfig) -> Result<Self> {
        if let Some(url) = &config.public_url {
            check_public_url(url)?;
        }
        let mut secrets = HashMap::new();
        let mut verify_tokens = HashMap::new();
        for endpoint in registry.endpoints() {
            secrets.insert(endpoint.id(), resolve_secret(endpoint, &store).await?);
            if let Some(var) = endpoint.verify_token_env() {
                match crate::verify::env_secret(var) {
                    Some(token) => {
                        verify_tokens.insert(endpoint.id(), token);
                    }
                    None => tracing::warn!(
                        endpoint = endpoint.id(),
                        "{var} is not set: subscription checks of this endpoint are refused"
                    ),
                }
            }
        }
        let registry = Arc::new(registry);
        let worker = Worker::new(store.clone(), Arc::clone(&registry), config.worker.clone());
        Ok(Self {
            state: Arc::new(AppState {
                registry,
                store,
                secrets,
                verify_tokens,
                deliveries: Deliveries::default(),
                config,
                worker,
                shutdown: CancellationToken::new(),
            }),
        })
    }

    /// The HTTP routes: `/endpoints/{id}` (every method), `/healthz` and `/api/v1/...`.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/endpoints/{id}", any(ingest::ingest))
            .route(
                "/healthz",
                get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }),
            )
            .route("/readyz", get(ready))
            .nest("/api/v1", api::router(Arc::clone(&self.state)))
            .route(
                "/metrics",
                get(metrics::metrics).layer(axum::middleware::from_fn_with_state(
                    Arc::clone(&self.state),
                    access::require_api_key,
                )),
            )
            .merge(crate::dashboard::router(Arc::clone(&self.state)))
            .fallback(|| async { ErrorResponse::not_found("no such route") })
            .method_not_allowed_fallback(|| async {
                ErrorResponse::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method not allowed on this route",
                )
            })
            .layer(axum::middleware::from_fn(request_span))
            .with_state(Arc::clone(&self.state))
    }

    /// The workers that execute runs.
    pub fn worker(&self) -> &Worker {
        &self.state.worker
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.state.store
    }

    /// The registry.
    pub fn registry(&self) -> &Registry {
        &self.state.registry
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.state.config
    }

    /// Where each endpoint's secret comes from.
    pub fn secret_state(&self, endpoint_id: &str) -> Option<&SecretState> {
        self.state.secrets.get(endpoint_id)
    }

    /// What each endpoint received lately, accepted or not (kept in memory only).
    pub fn deliveries(&self) -> &Deliveries {
        &self.state.deliveries
    }

    /// Serves on `listener` and runs the workers until `shutdown` completes; then stops
    /// accepting, finishes open requests, and drains the workers within the grace period.
    ///
    /// Each connection has `header_timeout` to send a request's headers and `idle_timeout`
    /// between requests; at most `max_connections` are open at once.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        let stop = CancellationToken::new();
        let worker = self.state.worker.clone();
        let worker_stop = stop.clone();
        let workers = tokio::spawn(async move { worker.run(worker_stop).await });
        if let Some(retention) = self.state.config.retention {
            let (store, retention_stop) = (self.state.store.clone(), stop.clone());
            tokio::spawn(retention::run(store, retention, retention_stop));
        }
        let config = &self.state.config;
        let limits = conn::Limits {
            header_timeout: config.header_timeout,
            idle_timeout: config.idle_timeout,
        };
        let connections = listen::Connections::new(self.router(), limits, config.max_connections);
        tokio::select! {
            () = connections.accept(listener) => {}
            () = shutdown => {}
        }
        stop.cancel();
        self.state.shutdown.cancel();
        // Open requests get the grace period too; a sender that trickles its body does not
        // hold the shutdown.
        connections.drain(config.worker.shutdown_grace).await;
        workers.await.map_err(Error::Workers)?;
        Ok(())
    }
}

/// How long `/readyz` waits for its probe write.
const READY_DEADLINE: Duration = Duration::from_secs(3);

/// `GET /readyz`: `200` while the store takes writes, else `503` with why; for load balancers
/// and orchestrators (`/healthz` is the cheap liveness check).
async fn ready(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let probe = tokio::time::timeout(READY_DEADLINE, state.store.ready()).await;
    let reason = match probe {
        Ok(Ok(())) => return axum::Json(serde_json::json!({"status": "ready"})).into_response(),
        Ok(Err(error)) => crate::error::error_chain(&error),
        Err(_) => format!(
            "the store did not take a write within {} s",
            READY_DEADLINE.as_secs()
        ),
    };
    let mut response = ErrorResponse::new(StatusCode::SERVICE_UNAVAILABLE, reason).into_response();
    response.headers_mut().insert(
        http::header::RETRY_AFTER,
        http::HeaderValue::from_static("1"),
    );
    response
}

/// A public URL needs a scheme and a host, and no whitespace.
fn check_public_url(url: &str) -> Result<()> {
    let invalid = |reason| Error::PublicUrl {
        url: url.to_owned(),
        reason,
    };
    if url.is_empty() || url.chars().any(char::is_whitespace) {
        return Err(invalid("it is empty or has whitespace"));
    }
    let uri: http::Uri = url.parse().map_err(|_| invalid("it is not a URL"))?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http" | "https"), Some(host)) if !host.is_empty() => Ok(()),
        (Some("http" | "https"), _) => Err(invalid("it has no host")),
        _ => Err(invalid("it does not start with http:// or https://")),
    }
}

async fn resolve_secret(endpoint: &HttpEndpoint, store: &Store) -> Result<SecretState> {
    if let Some(current) = endpoint.secret_env() {
        return Ok(env_secrets(endpoint, current));
    }
    let candidate = crate::id::secret_hex().map_err(|source| Error::Randomness {
        endpoint: endpoint.id(),
        source,
    })?;
    let secret = store.endpoint_secret(endpoint.id(), candidate).await?;
    Ok(SecretState::Generated {
        secret: Secret::new(secret),
    })
}

/// The secrets of the variables `endpoint` names (`current` is the first) that are set, with a
/// warning for each one that is not.
fn env_secrets(endpoint: &HttpEndpoint, current: &'static str) -> SecretState {
    let (mut vars, mut secrets, mut unset) = (Vec::new(), Vec::new(), Vec::new());
    for &var in endpoint.secret_envs() {
        match crate::verify::env_secret(var) {
            Some(secret) => {
                vars.push(var);
                secrets.push(secret);
            }
            None => unset.push(var),
        }
    }
    if secrets.is_empty() {
        tracing::warn!(
            endpoint = endpoint.id(),
            "secret not configured: set {current}; requests to this endpoint get 401 until then"
        );
        return SecretState::Missing { var: current };
    }
    for var in &unset {
        if *var == current {
            tracing::warn!(
                endpoint = endpoint.id(),
                "{var}, the current secret, is not set; requests are verified with {} until it is",
                vars.join(", ")
            );
        } else {
            tracing::warn!(
                endpoint = endpoint.id(),
                "{var} is not set; requests signed with it get 401"
            );
        }
    }
    SecretState::Env {
        vars,
        secrets,
        unset,
    }
}
