//! `ANY /endpoints/{id}`: find the endpoint, read the body, verify, store, answer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::Json;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, Uri, header};

use super::deliveries::{Delivery, Outcome, UNKNOWN_ENDPOINT};
use super::response::{ErrorResponse, PathId};
use super::views::IngestView;
use super::{AppState, SecretState};
use crate::endpoint::{HttpEndpoint, Verifier};
use crate::error::error_chain;
use crate::job::Job;
use crate::request::{Request, RequestError};
use crate::store::{Event, Ingested, NewRun, StoreError};
use crate::time::Timestamp;
use crate::verify::Secret;
use crate::verify::{Answer, Respond, Verification};
use crate::worker::Slot;

/// How long a sender may take to send the body.
const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// Headers whose value identifies a delivery, checked in this order for deduplication.
const IDEMPOTENCY_HEADERS: &[&str] = &[
    "idempotency-key",
    "webhook-id",
    "svix-id",
    "x-github-delivery",
    "x-request-id",
];

/// Why ingest refused a request: each variant is one status and one `{"error": ...}` text.
#[derive(Debug, thiserror::Error)]
enum Rejection {
    #[error("no endpoint {0:?}")]
    UnknownEndpoint(String),
    #[error("endpoint {0:?} is disabled")]
    DisabledEndpoint(&'static str),
    #[error("request body is larger than the limit of {0} bytes")]
    TooLarge(usize),
    #[error("request body not received within {} s", BODY_TIMEOUT.as_secs())]
    BodyTimeout,
    #[error("could not read the request body: {0}")]
    BodyUnreadable(axum::Error),
    #[error(transparent)]
    BadRequest(RequestError),
    #[error("secret not configured: set {0}")]
    SecretNotConfigured(&'static str),
    #[error("{0}")]
    Unverified(String),
    #[error("the endpoint's verify fn panicked; the request is not verified")]
    VerifyPanicked,
    #[error("the endpoint's verify fn did not finish within {} ms; try again", .0.as_millis())]
    VerifyTimeout(Duration),
    #[error("the endpoint's respond_with fn panicked")]
    RespondPanicked,
    #[error("the endpoint's respond_with fn did not finish within {} ms; try again", .0.as_millis())]
    RespondTimeout(Duration),
    #[error("could not store the event: {}", error_chain(.0))]
    Store(StoreError),
}

impl Rejection {
    fn status(&self) -> StatusCode {
        match self {
            Self::UnknownEndpoint(_) | Self::DisabledEndpoint(_) => StatusCode::NOT_FOUND,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::BodyUnreadable(_) | Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::SecretNotConfigured(_) | Self::Unverified(_) | Self::VerifyPanicked => {
                StatusCode::UNAUTHORIZED
            }
            Self::RespondPanicked => StatusCode::INTERNAL_SERVER_ERROR,
            // The sender should try again: its webhook was not stored.
            Self::VerifyTimeout(_) | Self::RespondTimeout(_) | Self::Store(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let message = self.to_string();
        match &self {
            Self::Store(_) => tracing::error!("{message}"),
            Self::Unverified(_) => {
                tracing::info!(reason = %message, "rejected a request that failed verification");
            }
            Self::VerifyPanicked
            | Self::VerifyTimeout(_)
            | Self::RespondPanicked
            | Self::RespondTimeout(_) => tracing::error!("{message}"),
            _ => {}
        }
        let mut response = ErrorResponse::new(self.status(), message).into_response();
        if let Self::VerifyTimeout(_) | Self::RespondTimeout(_) | Self::Store(_) = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, http::HeaderValue::from_static("1"));
        }
        response
    }
}

pub(super) async fn ingest(
    State(state): State<Arc<AppState>>,
    PathId(id): PathId,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let at = Timestamp::now();
    let (response, outcome, event_id, reason) =
        match accept(&state, &id, method, &uri, headers, body).await {
            Ok(Accepted {
                response,
                outcome,
                event_id,
            }) => (response, outcome, event_id, None),
            Err(rejection) => {
                let outcome = if rejection.status().is_server_error() {
                    Outcome::Failed
                } else {
                    Outcome::Rejected
                };
                let reason = rejection.to_string();
                (rejection.into_response(), outcome, None, Some(reason))
            }
        };
    let endpoint = state
        .registry
        .endpoint(&id)
        .map_or(UNKNOWN_ENDPOINT, |e| e.id());
    let delivery = Delivery {
        at,
        outcome,
        status: response.status().as_u16(),
        event_id,
        reason,
        from: peer.map(|Extension(ConnectInfo(addr))| addr),
    };
    state.deliveries.record(endpoint, delivery);
    response
}

/// An answered request: the response, what became of it, and its event.
struct Accepted {
    response: Response,
    outcome: Outcome,
    event_id: Option<String>,
}

async fn accept(
    state: &Arc<AppState>,
    id: &str,
    method: Method,
    uri: &Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Accepted, Rejection> {
    let received_at = Timestamp::now();
    let endpoint = find_endpoint(state, id)?;
    let body = read_body(&headers, body, state.config.body_limit).await?;
    let url = full_url(state.config.public_url.as_deref(), &headers, uri);
    let request = Request::new(method, &url, headers, body).map_err(Rejection::BadRequest)?;
    let secrets = secrets(state, endpoint)?;
    let verification = verify(state, endpoint, &request, secrets).await?;
    let answer = handshake(state, endpoint, &request, &verification, secrets).await?;
    // An answer alone, or the refusal: a request that is not verified never starts runs.
    if let Some(answer) = answer
        .as_ref()
        .filter(|a| !a.starts_runs() || !verification.is_verified())
    {
        return Ok(Accepted {
            response: answer_response(answer),
            outcome: Outcome::Answered,
            event_id: None,
        });
    }
    if let Some(reason) = verification.reason() {
        return Err(Rejection::Unverified(reason.to_owned()));
    }

    let route = state.registry.route(endpoint.id(), &request);
    let mut runs: Vec<_> = route.matched.iter().map(|job| job.new_run()).collect();
    let slots = reserve_slots(state, &route.matched, &mut runs);
    // Why no job starts, for the log (only then).
    let reasons = (runs.is_empty() && !route.skipped.is_empty()).then(|| {
        let reasons: Vec<String> = route
            .skipped
            .iter()
            .map(|s| format!("{}: {}", s.job, s.reason))
            .collect();
        reasons.join("; ")
    });
    let mut event = Event::verified(endpoint.id(), &request, received_at);
    // The sender's own delivery id wins over generic headers.
    event.dedup_key = endpoint
        .delivery_id(&request)
        .or_else(|| dedup_key(&request));
    event.skipped = route.skipped;
    let ingested = store(state, event, runs, slots, request)
        .await
        .map_err(Rejection::Store)?;
    tracing::info!(
        endpoint = id,
        event = %ingested.event_id,
        runs = ingested.runs.len(),
        duplicate = ingested.duplicate,
        "accepted webhook"
    );
    if let Some(reasons) = reasons.filter(|_| !ingested.duplicate) {
        tracing::info!(
            endpoint = id,
            event = %ingested.event_id,
            reasons = %reasons,
            "no job's filter matched the webhook; it is stored, and can be replayed"
        );
    }
    let response = match answer {
        Some(answer) => answer_response(&answer),
        None => (StatusCode::OK, Json(IngestView::from(&ingested))).into_response(),
    };
    let outcome = if ingested.duplicate {
        Outcome::Duplicate
    } else {
        Outcome::Accepted
    };
    Ok(Accepted {
        response,
        outcome,
        event_id: Some(ingested.event_id),
    })
}

/// Free worker slots for the runs of `jobs` that can take one: those runs are created claimed
/// and handed over in memory (see [`hand_over`]), with no claim and no read of the event.
fn reserve_slots(state: &AppState, jobs: &[&Job], runs: &mut [NewRun]) -> Vec<Slot> {
    let mut slots = Vec::new();
    for (run, job) in runs.iter_mut().zip(jobs) {
        if let Some(slot) = state.worker.reserve(job) {
            run.lease = Some(state.worker.lease());
            slots.push(slot);
        }
    }
    slots
}

/// Stores `event` with `runs` and hands the worker those created claimed, in `slots`, with
/// `request`, the webhook as verified (their jobs get it rather than one rebuilt from `event`).
///
/// With slots, this runs in a task of its own that outlives the request: once stored, a run
/// created claimed starts only when handed over, or when its lease expires, and a client that
/// hangs up while its commit is on the way (`wrk` does at the end of a run) drops the request's
/// future. Without the task, its runs would sit `running` until their lease expired.
async fn store(
    state: &Arc<AppState>,
    event: Event,
    runs: Vec<NewRun>,
    slots: Vec<Slot>,
    request: Request,
) -> Result<Ingested, StoreError> {
    if slots.is_empty() {
        return store_and_hand_over(state, event, runs, slots, request).await;
    }
    let state = Arc::clone(state);
    let ingest = async move { store_and_hand_over(&state, event, runs, slots, request).await };
    tokio::spawn(ingest).await?
}

/// The ingest itself: the store write, then the handover.
async fn store_and_hand_over(
    state: &AppState,
    event: Event,
    runs: Vec<NewRun>,
    slots: Vec<Slot>,
    request: Request,
) -> Result<Ingested, StoreError> {
    let mut ingested = state.store.ingest(event, runs).await?;
    hand_over(state, &mut ingested, slots, request);
    Ok(ingested)
}

/// Gives the worker the runs `ingested` created claimed, each in its slot with `request` (a
/// duplicate created none: its slots are free again as they drop), and wakes it for queued
/// ones.
fn hand_over(state: &AppState, ingested: &mut Ingested, slots: Vec<Slot>, request: Request) {
    let queued = ingested.runs.len() > ingested.claimed.len() && !ingested.duplicate;
    let starts = ingested.claimed.drain(..).zip(slots);
    // The last run takes the request, the others a copy (its body is shared).
    let requests = std::iter::repeat_n(request, starts.len());
    for ((claim, slot), request) in starts.zip(requests) {
        state.worker.start(claim, request, slot);
    }
    if queued {
        state.worker.wake();
    }
}

/// The answer as a response.
fn answer_response(answer: &Answer) -> Response {
    let headers = [(header::CONTENT_TYPE, answer.content_type())];
    (answer.status(), headers, answer.body().clone()).into_response()
}

/// The endpoint's own answer to `request`, if it has one: its preset's handshakes, then its
/// `respond_with` fn (in its own task, like a verify fn).
async fn handshake(
    state: &AppState,
    endpoint: &'static HttpEndpoint,
    request: &Request,
    verification: &Verification,
    secrets: &[Secret],
) -> Result<Option<Answer>, Rejection> {
    if let Some(preset) = endpoint.preset() {
        let token = state.verify_tokens.get(endpoint.id());
        let now = state.config.clock.now();
        if let Some(answer) = preset.answer(request, verification, secrets, token, now) {
            return Ok(Some(answer));
        }
    }
    let Some(respond) = endpoint.respond_with() else {
        return Ok(None);
    };
    let (request, verification) = (request.clone(), verification.clone());
    let task = tokio::spawn(async move { respond(&request, &verification).await });
    let abort = task.abort_handle();
    match tokio::time::timeout(state.config.verify_timeout, task).await {
        Ok(Ok(Respond::Answer(answer))) => Ok(Some(answer)),
        Ok(Ok(Respond::Continue)) => Ok(None),
        Ok(Err(_)) => Err(Rejection::RespondPanicked),
        Err(_) => {
            abort.abort();
            Err(Rejection::RespondTimeout(state.config.verify_timeout))
        }
    }
}

/// The verdict on `request`. A custom verify fn runs in its own task, so that a panic in it or
/// a hang cannot take the request's task (or the connection) with it.
async fn verify(
    state: &AppState,
    endpoint: &'static HttpEndpoint,
    request: &Request,
    secrets: &[Secret],
) -> Result<Verification, Rejection> {
    let verification = match endpoint.verifier() {
        Verifier::Scheme(scheme) => scheme.verify_at(request, secrets, state.config.clock.now()),
        Verifier::Custom(_) => {
            let (request, secrets) = (request.clone(), secrets.to_vec());
            let task =
                tokio::spawn(async move { endpoint.verify_with_secrets(&request, &secrets).await });
            let abort = task.abort_handle();
            match tokio::time::timeout(state.config.verify_timeout, task).await {
                Ok(Ok(verification)) => verification,
                Ok(Err(_)) => return Err(Rejection::VerifyPanicked),
                Err(_) => {
                    abort.abort();
                    return Err(Rejection::VerifyTimeout(state.config.verify_timeout));
                }
            }
        }
    };
    Ok(verification)
}

/// The enabled endpoint with this id.
fn find_endpoint(state: &AppState, id: &str) -> Result<&'static HttpEndpoint, Rejection> {
    let endpoint = state
        .registry
        .endpoint(id)
        .ok_or_else(|| Rejection::UnknownEndpoint(id.to_owned()))?;
    if endpoint.is_enabled() {
        Ok(endpoint)
    } else {
        Err(Rejection::DisabledEndpoint(endpoint.id()))
    }
}

/// The whole body, refused when its declared or actual length is over `limit` or when it
/// takes longer than [`BODY_TIMEOUT`] to arrive.
async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, Rejection> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(Rejection::TooLarge(limit));
    }
    let read = tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, limit));
    read.await
        .map_err(|_| Rejection::BodyTimeout)?
        .map_err(|error| {
            let is_limit = std::error::Error::source(&error)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            if is_limit {
                Rejection::TooLarge(limit)
            } else {
                Rejection::BodyUnreadable(error)
            }
        })
}

/// The secrets requests to `endpoint` are verified with: verified when one verifies.
fn secrets<'a>(state: &'a AppState, endpoint: &HttpEndpoint) -> Result<&'a [Secret], Rejection> {
    match state.secrets.get(endpoint.id()) {
        Some(SecretState::Missing { var }) => Err(Rejection::SecretNotConfigured(var)),
        Some(state) => Ok(state.secrets()),
        // `Server::new` resolves a secret for every registered endpoint.
        None => Err(Rejection::Unverified(format!(
            "endpoint {:?} has no secret",
            endpoint.id()
        ))),
    }
}

/// The sender's idempotency key, from the first of [`IDEMPOTENCY_HEADERS`] it sent.
fn dedup_key(request: &Request) -> Option<String> {
    IDEMPOTENCY_HEADERS
        .iter()
        .find_map(|name| request.header(name))
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// The URL the sender used: the public URL when configured, else built from `Host`.
fn full_url(public_url: Option<&str>, headers: &HeaderMap, uri: &Uri) -> String {
    let path_and_query = uri.path_and_query().map_or("/", |pq| pq.as_str());
    if let Some(base) = public_url {
        return format!("{}{path_and_query}", base.trim_end_matches('/'));
    }
    match headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
        Some(host) if host.parse::<http::uri::Authority>().is_ok() => {
            format!("http://{host}{path_and_query}")
        }
        _ => path_and_query.to_owned(),
    }
}
