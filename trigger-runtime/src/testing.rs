//! Helpers to unit-test jobs and endpoints without a server: build a [`Request`], an [`Io`]
//! that captures log lines, a [`Context`], and sign bodies the way a sender would.
//!
//! ```
//! use trigger_runtime::testing::{TestContext, TestRequest, test_io};
//!
//! let request = TestRequest::post().json(&serde_json::json!({"triggerEvent": "PING"})).build();
//! let (io, logs) = test_io();
//! let ctx = TestContext::new("http-caldotcom").build();
//! io.logger.info("Body", &request.json::<serde_json::Value>().unwrap());
//! assert_eq!(logs.messages(), ["Body"]);
//! assert_eq!(ctx.attempt(), 1);
//! ```

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use serde::Serialize;

use crate::endpoint::{HttpEndpoint, Verifier};
use crate::io::{Io, LogLevel, LogLine, LogSink, Logger};
use crate::job::Context;
use crate::request::Request;
use crate::time::Timestamp;
use crate::verify::{Part, Scheme, Secret, Signer, TimestampFrom};

/// Builds a [`Request`]. Invalid header names or values panic: this is for tests.
#[derive(Clone, Debug)]
pub struct TestRequest {
    method: Method,
    url: String,
    headers: HeaderMap,
    body: Bytes,
}

impl TestRequest {
    /// A request with `method` to `/endpoints/test`.
    pub fn new(method: Method) -> Self {
        Self {
            method,
            url: "http://localhost/endpoints/test".to_owned(),
            headers: HeaderMap::new(),
            body: Bytes::new(),
        }
    }

    /// A `POST`.
    pub fn post() -> Self {
        Self::new(Method::POST)
    }

    /// A `GET`.
    pub fn get() -> Self {
        Self::new(Method::GET)
    }

    /// The request of `job`'s example payload (`#[job(example = "file.json")]`): a JSON `POST`
    /// to its endpoint. Panics, naming the job, if it has none.
    pub fn example(job: &crate::job::Job) -> Self {
        let Some(request) = job.example_request() else {
            panic!(
                "job {:?} has no example; add `example = \"examples/{}.json\"` to its #[job]",
                job.id(),
                job.id()
            );
        };
        Self {
            method: request.method().clone(),
            url: request.url().to_owned(),
            headers: request.headers().clone(),
            body: request.body().clone(),
        }
    }

    /// Sets the URL (absolute, or a path with a query).
    #[must_use]
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = url.into();
        self
    }

    /// Appends a header.
    ///
    /// # Panics
    /// If the name or value is not valid in HTTP.
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Self {
        let name = HeaderName::from_bytes(name.as_bytes())
            .unwrap_or_else(|e| panic!("invalid header name {name:?}: {e}"));
        let value = HeaderValue::from_str(value)
            .unwrap_or_else(|e| panic!("invalid value for header {name}: {e}"));
        self.headers.append(name, value);
        self
    }

    /// Sets the raw body.
    #[must_use]
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets a JSON body and `Content-Type: application/json`.
    ///
    /// # Panics
    /// If `value` does not serialize.
    #[must_use]
    pub fn json(mut self, value: &impl Serialize) -> Self {
        let body =
            serde_json::to_vec(value).unwrap_or_else(|e| panic!("body does not serialize: {e}"));
        self.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        self.body = body.into();
        self
    }

    /// Sets a form body and `Content-Type: application/x-www-form-urlencoded`.
    ///
    /// # Panics
    /// If `value` does not serialize as a form.
    #[must_use]
    pub fn form(mut self, value: &impl Serialize) -> Self {
        let body = serde_urlencoded::to_string(value)
            .unwrap_or_else(|e| panic!("form does not serialize: {e}"));
        self.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        self.body = body.into();
        self
    }

    /// Signs the request with `secret` the way `endpoint`'s sender would, now: adds its
    /// signature header and, for a timestamped scheme, its timestamp header (and a delivery id
    /// header such as `webhook-id` when the scheme signs one and it is not set). Call it after
    /// setting the body and URL.
    ///
    /// # Panics
    /// If the endpoint verifies with a custom fn, whose scheme the runtime cannot know, or by
    /// an Ed25519 signature (use [`sign_ed25519`]).
    #[must_use]
    pub fn signed(self, endpoint: &HttpEndpoint, secret: &str) -> Self {
        self.signed_at(endpoint, secret, Timestamp::now())
    }

    /// As [`signed`](Self::signed), at `now` (for tests of the tolerance).
    ///
    /// # Panics
    /// As [`signed`](Self::signed).
    #[must_use]
    pub fn signed_at(mut self, endpoint: &HttpEndpoint, secret: &str, now: Timestamp) -> Self {
        if let Verifier::Scheme(scheme) = endpoint.verifier() {
            for part in scheme.signed() {
                if let Part::Header(name) = part {
                    if !self.headers.contains_key(*name) {
                        self = self.header(name, &delivery_id());
                    }
                }
            }
        }
        let request = self.clone().build();
        let headers = endpoint
            .sign_request(&request, &Secret::new(secret), now)
            .unwrap_or_else(|e| panic!("{e}"));
        for (name, value) in headers {
            self.headers.remove(name);
            self = self.header(name, &value);
        }
        self
    }

    /// The request.
    ///
    /// # Panics
    /// If the URL is invalid.
    pub fn build(self) -> Request {
        Request::new(self.method, &self.url, self.headers, self.body)
            .unwrap_or_else(|e| panic!("{e}"))
    }
}

/// The signature header `(name, value)` a sender would send with `body`, for an endpoint
/// whose scheme signs the body alone (Cal.com, GitHub, Shopify, ...); `None` for others (use
/// [`TestRequest::signed`]) and for a custom verify fn.
pub fn sign(endpoint: &HttpEndpoint, secret: &str, body: &[u8]) -> Option<(&'static str, String)> {
    endpoint.sign(body, &Secret::new(secret))
}

/// The Ed25519 public key (hex, as Discord shows it) of the key pair made from `seed`.
pub fn ed25519_public_key(seed: [u8; 32]) -> String {
    let pair = ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new(seed));
    hex::encode(*pair.pk)
}

/// The headers an Ed25519 sender with the key pair made from `seed` adds to `request` at
/// `now`, for `scheme` (Discord's: `X-Signature-Ed25519` over the timestamp then the body).
///
/// # Panics
/// If the scheme does not sign with Ed25519 or its signed content cannot be built.
pub fn sign_ed25519(
    scheme: &Scheme,
    request: &Request,
    seed: [u8; 32],
    now: Timestamp,
) -> Vec<(&'static str, String)> {
    assert_eq!(scheme.signer(), Signer::Ed25519, "not an Ed25519 scheme");
    let seconds = now.as_unix_millis().div_euclid(1000).to_string();
    let mut message = Vec::new();
    for part in scheme.signed() {
        match part {
            Part::Timestamp => message.extend_from_slice(seconds.as_bytes()),
            Part::Body => message.extend_from_slice(request.body()),
            Part::Text(text) => message.extend_from_slice(text.as_bytes()),
            other => panic!("sign_ed25519 does not sign {other:?}"),
        }
    }
    let pair = ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new(seed));
    let signature = pair.sk.sign(&message, None);
    let mut headers = vec![(scheme.carrier().header(), hex::encode(*signature))];
    if let Some(TimestampFrom::Header(name)) = scheme.timestamp() {
        headers.push((name, seconds));
    }
    headers
}

/// A fresh delivery id, `msg_` and 24 hex digits.
fn delivery_id() -> String {
    let mut bytes = [0u8; 12];
    // Unique enough for a test when the system has no randomness.
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        bytes.copy_from_slice(&nanos.to_le_bytes()[..12]);
    }
    format!("msg_{}", hex::encode(bytes))
}

/// The log lines an [`Io`] from [`test_io`] captured.
#[derive(Clone, Debug, Default)]
pub struct Logs(Arc<Mutex<Vec<LogLine>>>);

impl LogSink for Logs {
    fn record(&self, line: LogLine) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(line);
    }
}

impl Logs {
    /// Every line so far.
    pub fn lines(&self) -> Vec<LogLine> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Every message so far.
    pub fn messages(&self) -> Vec<String> {
        self.lines().into_iter().map(|l| l.message).collect()
    }

    /// The first line with `message`, if any.
    pub fn find(&self, message: &str) -> Option<LogLine> {
        self.lines().into_iter().find(|l| l.message == message)
    }

    /// Whether a line with `level` and `message` was logged.
    pub fn contains(&self, level: LogLevel, message: &str) -> bool {
        self.lines()
            .iter()
            .any(|l| l.level == level && l.message == message)
    }
}

/// An [`Io`] whose log lines are captured in the returned [`Logs`].
pub fn test_io() -> (Io, Logs) {
    let logs = Logs::default();
    let io = Io::new(Logger::new(Arc::new(logs.clone()), "test", "run_test"));
    (io, logs)
}

/// Builds a [`Context`] for a job under test.
#[derive(Clone, Debug)]
pub struct TestContext {
    job_id: String,
    job_name: Option<String>,
    job_version: String,
    run_id: String,
    attempt: u32,
    endpoint_id: String,
    event_id: String,
    environment: String,
    received_at: Timestamp,
}

impl TestContext {
    /// A first attempt of job `job_id`, in environment `test`.
    pub fn new(job_id: impl Into<String>) -> Self {
        Self {
            job_id: job_id.into(),
            job_name: None,
            job_version: "0.0.0".to_owned(),
            run_id: "run_test".to_owned(),
            attempt: 1,
            endpoint_id: "test".to_owned(),
            event_id: "evt_test".to_owned(),
            environment: "test".to_owned(),
            received_at: Timestamp::now(),
        }
    }

    /// Sets the attempt number.
    #[must_use]
    pub fn attempt(mut self, attempt: u32) -> Self {
        self.attempt = attempt;
        self
    }

    /// Sets the job's name.
    #[must_use]
    pub fn job_name(mut self, name: impl Into<String>) -> Self {
        self.job_name = Some(name.into());
        self
    }

    /// Sets the job's version.
    #[must_use]
    pub fn job_version(mut self, version: impl Into<String>) -> Self {
        self.job_version = version.into();
        self
    }

    /// Sets the run id.
    #[must_use]
    pub fn run_id(mut self, id: impl Into<String>) -> Self {
        self.run_id = id.into();
        self
    }

    /// Sets the endpoint id.
    #[must_use]
    pub fn endpoint_id(mut self, id: impl Into<String>) -> Self {
        self.endpoint_id = id.into();
        self
    }

    /// Sets the event id.
    #[must_use]
    pub fn event_id(mut self, id: impl Into<String>) -> Self {
        self.event_id = id.into();
        self
    }

    /// Sets the environment.
    #[must_use]
    pub fn environment(mut self, environment: impl Into<String>) -> Self {
        self.environment = environment.into();
        self
    }

    /// The context.
    pub fn build(self) -> Context {
        let name = self.job_name.as_deref().unwrap_or(&self.job_id);
        Context::new(
            self.run_id,
            self.attempt,
            (&self.job_id, name, &self.job_version),
            self.endpoint_id,
            self.event_id,
            self.environment,
            self.received_at,
        )
    }
}
