//! The dashboard's test button: a job's example payload delivered to its endpoint, signed with
//! the endpoint's scheme and secret, through the ingest handler like a sender's webhook (so it
//! is verified, filtered, stored and listed among the endpoint's deliveries like one).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use http_body_util::BodyExt as _;

use super::response::{ErrorResponse, PathId};
use super::{AppState, SecretState, ingest};
use crate::time::Timestamp;

/// Delivers the example payload of job `job_id`; the id of the event it stored.
pub(crate) async fn deliver_example(
    state: &Arc<AppState>,
    job_id: &str,
) -> Result<String, ErrorResponse> {
    let job = state
        .registry
        .job(job_id)
        .ok_or_else(|| ErrorResponse::not_found(format!("no job {job_id:?}")))?;
    let body = job.example().ok_or_else(|| {
        ErrorResponse::new(
            StatusCode::CONFLICT,
            format!(
                "job {job_id:?} has no example payload; add `example = \"payloads/{job_id}.json\"` \
                 to its #[job]"
            ),
        )
    })?;
    let endpoint = job.trigger().endpoint();
    let secret = state
        .secrets
        .get(endpoint.id())
        .and_then(SecretState::secret)
        .ok_or_else(|| {
            let var = endpoint.secret_env().unwrap_or("the secret's variable");
            ErrorResponse::new(
                StatusCode::CONFLICT,
                format!(
                    "the secret of endpoint {:?} is not configured: set {var}",
                    endpoint.id()
                ),
            )
        })?;
    // The URL the ingest rebuilds: the public one, or this Host.
    let base = state
        .config
        .public_url
        .clone()
        .unwrap_or_else(|| "http://localhost".to_owned());
    let body = Bytes::from_static(body.as_bytes());
    let delivery = endpoint
        .test_delivery(&base, &body, "application/json", secret, Timestamp::now())
        .map_err(|why| ErrorResponse::new(StatusCode::CONFLICT, why))?;
    let mut headers = HeaderMap::new();
    headers.insert(header::HOST, HeaderValue::from_static("localhost"));
    for (name, value) in &delivery.headers {
        let value = HeaderValue::from_str(value)
            .map_err(|e| ErrorResponse::internal(format!("a signature header is invalid: {e}")))?;
        headers.insert(*name, value);
    }
    let uri: Uri = delivery
        .path
        .parse()
        .map_err(|e| ErrorResponse::internal(format!("the endpoint's path is invalid: {e}")))?;
    let id = PathId(endpoint.id().to_owned());
    let answer = ingest::ingest(
        State(Arc::clone(state)),
        id,
        None,
        Method::POST,
        uri,
        headers,
        Body::from(body),
    )
    .await;
    event_of(answer).await
}

/// The id of the event the ingest's `answer` stored, or why it refused.
async fn event_of(answer: axum::response::Response) -> Result<String, ErrorResponse> {
    let status = answer.status();
    let text = answer
        .into_body()
        .collect()
        .await
        .map(|collected| collected.to_bytes())
        .unwrap_or_default();
    let json: serde_json::Value = serde_json::from_slice(&text).unwrap_or_default();
    if status != StatusCode::OK {
        let why = json["error"].as_str().unwrap_or("no reason given");
        return Err(ErrorResponse::new(
            status,
            format!("the endpoint answered {status}: {why}"),
        ));
    }
    match json["event_id"].as_str() {
        Some(event) => Ok(event.to_owned()),
        None => Err(ErrorResponse::internal(
            "the endpoint stored no event for the example",
        )),
    }
}
