//! Shared fixtures: a server on a fresh in-memory store, and one-shot requests to its router.
#![allow(dead_code, unreachable_pub, missing_docs)]

use axum::body::Body;
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;
use trigger_runtime::endpoint::HttpEndpoint;
use trigger_runtime::registry::Registry;
use trigger_runtime::server::{Server, ServerConfig};
use trigger_runtime::store::Store;
use trigger_runtime::verify::Secret;
use trigger_runtime::worker::WorkerConfig;

// `TempDir`: a fresh directory under the system's temporary one, removed (with everything in
// it) when dropped, kept during a panic. One file for these tests, the end-to-end tests and the
// bench.
#[path = "../../../tests/common/temp_dir.rs"]
mod temp_dir;
#[allow(unused_imports)] // not every test file uses it
pub use temp_dir::TempDir;

// `TestSchema`: a PostgreSQL schema of one test's own, or a printed skip.
#[path = "../../../tests/common/database.rs"]
mod database;
#[allow(unused_imports)]
pub use database::TestSchema;

/// Everything logged through `tracing` in this test binary, from any thread, from the first
/// call on.
pub struct CapturedLogs(&'static std::sync::Mutex<Vec<u8>>);

impl CapturedLogs {
    pub fn text(&self) -> String {
        let bytes = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).into_owned()
    }

    pub fn contains(&self, needle: &str) -> bool {
        self.text().contains(needle)
    }

    pub fn line_with(&self, needle: &str) -> Option<String> {
        self.text()
            .lines()
            .find(|line| line.contains(needle))
            .map(str::to_owned)
    }
}

/// Installs (once) a global subscriber that keeps every line, and returns a view of them.
pub fn capture_logs() -> CapturedLogs {
    static LOGS: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());
    static INSTALL: std::sync::Once = std::sync::Once::new();
    struct Writer;
    impl std::io::Write for Writer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            LOGS.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    INSTALL.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .with_writer(|| Writer)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber");
    });
    CapturedLogs(&LOGS)
}

/// Polls the run through the API until it has `status`, for at most 5 s.
pub async fn wait_for_status(server: &Server, id: &str, status: &str) -> Value {
    for _ in 0..500 {
        let run = get(server, &format!("/api/v1/runs/{id}")).await.json;
        if run["status"] == status {
            return run;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let run = get(server, &format!("/api/v1/runs/{id}")).await.json;
    panic!("run {id} never became {status}: {run}");
}

tokio::task_local! {
    /// The database URL of the test running on PostgreSQL (see [`on_postgres`]).
    static POSTGRES_URL: String;
}

/// Runs `test` with [`test_store`] giving stores in a PostgreSQL schema of its own, dropped
/// afterwards; a printed skip without a test database (see [`TestSchema`]).
pub async fn on_postgres(name: &str, test: impl std::future::Future<Output = ()>) {
    let Some(schema) = TestSchema::new(name) else {
        return;
    };
    POSTGRES_URL.scope(schema.url(), test).await;
    schema.drop_schema().await;
}

/// A fresh store for the running test: in memory, or in its PostgreSQL schema under
/// [`on_postgres`] (each call opens one more store on the same schema: another server).
pub async fn test_store() -> Store {
    match POSTGRES_URL.try_with(Clone::clone) {
        Ok(url) => Store::open(&url).await.expect("PostgreSQL store"),
        Err(_) => Store::memory().expect("memory store"),
    }
}

/// Runs each listed `async fn` as two tests, `memory::<name>` and `postgres::<name>`: a
/// behaviour that holds on every driver (the worker and API suites; the store's own suite is
/// `for_each_driver!` in `tests/store.rs`).
#[macro_export]
macro_rules! on_every_driver {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(#[tokio::test] async fn $name() {
                super::$name().await;
            })*
        }
        mod postgres {
            $(#[tokio::test] async fn $name() {
                super::common::on_postgres(stringify!($name), super::$name()).await;
            })*
        }
    };
}

/// A server over a fresh [`test_store`], with fast retries and polling for tests.
pub async fn server(registry: Registry, config: ServerConfig) -> Server {
    Server::new(registry, test_store().await, config)
        .await
        .expect("server starts")
}

pub fn config() -> ServerConfig {
    ServerConfig {
        worker: WorkerConfig {
            poll_interval: std::time::Duration::from_millis(20),
            ..WorkerConfig::default()
        },
        ..ServerConfig::default()
    }
}

/// The secret the server resolved for `endpoint`.
pub fn secret(server: &Server, endpoint: &str) -> Secret {
    server
        .secret_state(endpoint)
        .and_then(|s| s.secret())
        .cloned()
        .expect("endpoint has a secret")
}

/// A response: status, JSON body (`Null` if empty or not JSON).
pub struct Reply {
    pub status: StatusCode,
    pub json: Value,
}

impl Reply {
    pub fn error(&self) -> &str {
        self.json["error"].as_str().unwrap_or_default()
    }
}

pub async fn send(server: &Server, request: http::Request<Body>) -> Reply {
    let response = server
        .router()
        .oneshot(request)
        .await
        .expect("router is infallible");
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    Reply {
        status,
        json: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

/// A request to `/endpoints/{id}` with `body`, signed for `endpoint` with `secret`.
pub fn signed(endpoint: &HttpEndpoint, secret: &Secret, body: &[u8]) -> http::request::Builder {
    let (name, value) = endpoint.sign(body, secret).expect("HMAC endpoint");
    http::Request::builder()
        .method(Method::POST)
        .uri(format!("/endpoints/{}", endpoint.id()))
        .header("content-type", "application/json")
        .header(name, value)
}

/// `POST path` with an empty body.
pub async fn post(server: &Server, path: &str) -> Reply {
    send(
        server,
        http::Request::post(path).body(Body::empty()).unwrap(),
    )
    .await
}

pub async fn get(server: &Server, path: &str) -> Reply {
    send(
        server,
        http::Request::get(path).body(Body::empty()).unwrap(),
    )
    .await
}

/// The stored event an ingest answer names, as `GET /api/v1/events/{id}` shows it.
pub async fn event_of(server: &Server, accepted: &Reply) -> Value {
    let id = accepted.json["event_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no event_id in {}", accepted.json));
    get(server, &format!("/api/v1/events/{id}")).await.json
}

/// Runs due runs until none is left (retries included), or panics after `limit` rounds.
pub async fn drain(server: &Server) {
    for _ in 0..200 {
        if server.worker().run_once().await == 0
            && server.store().next_due().await.unwrap().is_none()
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    panic!("runs did not settle");
}

/// A body sent in chunks, with no Content-Length.
pub fn chunked(chunks: Vec<Vec<u8>>) -> Body {
    struct Chunks(std::collections::VecDeque<bytes::Bytes>);
    impl http_body::Body for Chunks {
        type Data = bytes::Bytes;
        type Error = std::convert::Infallible;
        fn poll_frame(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, Self::Error>>> {
            std::task::Poll::Ready(self.0.pop_front().map(|b| Ok(http_body::Frame::data(b))))
        }
    }
    Body::new(Chunks(chunks.into_iter().map(bytes::Bytes::from).collect()))
}

/// A request as a verifier sees it: `method` to `url` with `headers` and `body`.
pub fn request(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> trigger_runtime::request::Request {
    let mut map = http::HeaderMap::new();
    for (name, value) in headers {
        map.append(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            http::HeaderValue::from_str(value).unwrap(),
        );
    }
    trigger_runtime::request::Request::new(method, url, map, body.to_vec()).unwrap()
}

/// A `POST` of `body` to `https://hooks.example.com/endpoints/x` with `headers`.
pub fn post_request(headers: &[(&str, &str)], body: &[u8]) -> trigger_runtime::request::Request {
    request(
        Method::POST,
        "https://hooks.example.com/endpoints/x",
        headers,
        body,
    )
}
