//! The JSON API under `/api/v1`, guarded by `TRIGGER_API_KEY` when it is set.

use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use serde_json::{Value, json};

use super::AppState;
use super::response::ErrorResponse;
use crate::store::EventRecord;

pub(super) fn router(state: Arc<AppState>) -> Router<Arc<AppState>> {
    Router::new()
        .route("/runs/{id}", get(run))
        .route("/events/{id}", get(event))
        .layer(middleware::from_fn_with_state(state, require_api_key))
}

async fn require_api_key(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(key) = &state.config.api_key else {
        return next.run(request).await;
    };
    let given = request
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .or_else(|| {
            request
                .headers()
                .get("x-api-key")
                .and_then(|v| v.to_str().ok())
        });
    let matches = given.is_some_and(|given| {
        // Compare digests so the time taken does not depend on how much of the key matched.
        let digest =
            |s: &[u8]| crate::verify::hmac(crate::verify::Algorithm::Sha256, b"api-key", s);
        crate::verify::hmac_matches(
            crate::verify::Algorithm::Sha256,
            b"api-key",
            key.as_bytes(),
            &digest(given.as_bytes()),
        )
    });
    if matches {
        next.run(request).await
    } else {
        ErrorResponse::unauthorized(
            "missing or wrong API key; send `Authorization: Bearer $TRIGGER_API_KEY`",
        )
        .into_response()
    }
}

async fn run(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    match state.store.run(&id).await {
        Ok(Some(run)) => Json(run).into_response(),
        Ok(None) => ErrorResponse::not_found(format!("no run {id:?}")).into_response(),
        Err(e) => {
            ErrorResponse::internal(format!("could not read run {id:?}: {e}")).into_response()
        }
    }
}

async fn event(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    match state.store.event(&id).await {
        Ok(Some(event)) => Json(event_json(&event)).into_response(),
        Ok(None) => ErrorResponse::not_found(format!("no event {id:?}")).into_response(),
        Err(e) => {
            ErrorResponse::internal(format!("could not read event {id:?}: {e}")).into_response()
        }
    }
}

/// An event as JSON: the body as text when it is UTF-8, else base64 (`body_encoding` says which).
pub(crate) fn event_json(record: &EventRecord) -> Value {
    let event = &record.event;
    let (body, encoding) = match std::str::from_utf8(&event.body) {
        Ok(text) => (Value::String(text.to_owned()), "utf8"),
        Err(_) => (
            Value::String(base64::engine::general_purpose::STANDARD.encode(&event.body)),
            "base64",
        ),
    };
    let headers: Vec<Value> = event
        .headers
        .iter()
        .map(|(name, value)| json!([name, String::from_utf8_lossy(value)]))
        .collect();
    json!({
        "id": event.id,
        "endpoint_id": event.endpoint_id,
        "method": event.method,
        "url": event.url,
        "headers": headers,
        "body": body,
        "body_encoding": encoding,
        "received_at": event.received_at,
        "verified": event.verified,
        "dedup_key": event.dedup_key,
        "runs": record.runs,
    })
}
