//! `ANY /endpoints/{id}`: check, verify, store, answer.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method, StatusCode, Uri, header};

use super::response::{ErrorResponse, PathId};
use super::{AppState, SecretState};
use crate::id::new_id;
use crate::request::Request;
use crate::store::{NewEvent, NewRun};
use crate::time::Timestamp;

/// How long a sender may take to send the body.
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Headers whose value identifies a delivery, checked in this order for deduplication.
pub(crate) const IDEMPOTENCY_HEADERS: &[&str] = &[
    "idempotency-key",
    "webhook-id",
    "svix-id",
    "x-github-delivery",
    "x-request-id",
];

pub(crate) async fn ingest(
    State(state): State<Arc<AppState>>,
    PathId(id): PathId,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match accept(&state, &id, method, &uri, headers, body).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn accept(
    state: &AppState,
    id: &str,
    method: Method,
    uri: &Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ErrorResponse> {
    let received_at = Timestamp::now();
    let endpoint = state
        .registry
        .endpoint(id)
        .ok_or_else(|| ErrorResponse::not_found(format!("no endpoint {id:?}")))?;
    if !endpoint.is_enabled() {
        return Err(ErrorResponse::not_found(format!(
            "endpoint {id:?} is disabled"
        )));
    }

    let limit = state.config.body_limit;
    let too_large = || {
        ErrorResponse::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body is larger than the limit of {limit} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(too_large());
    }
    let read = tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, limit));
    let read = read.await.map_err(|_| {
        ErrorResponse::new(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "request body not received within {} s",
                BODY_TIMEOUT.as_secs()
            ),
        )
    })?;
    let body = read.map_err(|error| {
        let is_limit = std::error::Error::source(&error)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
        if is_limit {
            too_large()
        } else {
            ErrorResponse::new(
                StatusCode::BAD_REQUEST,
                format!("could not read the request body: {error}"),
            )
        }
    })?;

    let url = full_url(state.config.public_url.as_deref(), &headers, uri);
    let request = Request::new(method.clone(), &url, headers, body.clone())
        .map_err(|e| ErrorResponse::new(StatusCode::BAD_REQUEST, e.to_string()))?;

    let secret = match state.secrets.get(endpoint.id()) {
        Some(SecretState::Missing { var }) => {
            return Err(ErrorResponse::unauthorized(format!(
                "secret not configured: set {var}"
            )));
        }
        Some(secret_state) => secret_state.secret().cloned(),
        None => None,
    };
    let Some(secret) = secret else {
        return Err(ErrorResponse::internal(format!(
            "endpoint {id:?} has no secret"
        )));
    };
    let verification = endpoint.verify_with_secret(&request, &secret).await;
    if let Some(reason) = verification.reason() {
        tracing::info!(
            endpoint = id,
            reason,
            "rejected a request that failed verification"
        );
        return Err(ErrorResponse::unauthorized(reason));
    }

    let dedup_key = IDEMPOTENCY_HEADERS
        .iter()
        .find_map(|name| request.header(name))
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty());
    let runs: Vec<NewRun> = state
        .registry
        .jobs_for(endpoint.id())
        .filter(|job| job.is_enabled())
        .map(super::new_run)
        .collect();
    let event = NewEvent {
        id: new_id("evt"),
        endpoint_id: endpoint.id().to_owned(),
        method: method.as_str().to_owned(),
        url,
        headers: request
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.as_bytes().to_vec()))
            .collect(),
        body,
        received_at,
        verified: true,
        dedup_key,
    };
    let ingested = state
        .store
        .ingest(event, runs)
        .await
        .map_err(|e| ErrorResponse::internal(format!("could not store the event: {e}")))?;
    if !ingested.runs.is_empty() && !ingested.duplicate {
        state.worker.wake();
    }
    tracing::info!(
        endpoint = id,
        event = %ingested.event_id,
        runs = ingested.runs.len(),
        duplicate = ingested.duplicate,
        "accepted webhook"
    );
    Ok((StatusCode::OK, Json(ingested)).into_response())
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
