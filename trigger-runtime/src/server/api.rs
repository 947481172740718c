//! The JSON API under `/api/v1`, guarded by `TRIGGER_API_KEY` when it is set.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http::StatusCode;
use serde_json::json;

use super::response::{ErrorResponse, PathId};
use super::views::{EventView, RunPageView, RunView};
use super::{AppState, access};
use crate::error::error_chain;
use crate::store::{EventRecord, NewRun, RunQuery, RunRecord, RunRef, RunStatus, SkippedJobs};

type ApiResult = Result<Response, ErrorResponse>;

/// Runs per page when `limit` is not given, and the most a page holds.
const DEFAULT_PAGE: usize = 50;
const MAX_PAGE: usize = 500;

pub(super) fn router(state: Arc<AppState>) -> Router<Arc<AppState>> {
    Router::new()
        .route("/stats", get(stats))
        .route("/queue", get(queue))
        .route("/runs", get(list_runs))
        .route("/runs/{id}", get(run))
        .route("/runs/{id}/logs", get(super::logs::run_logs))
        .route("/runs/{id}/replay", post(replay_run))
        .route("/runs/{id}/cancel", post(cancel_run))
        .route("/events/{id}", get(event))
        .route("/events/{id}/replay", post(replay_event))
        .layer(middleware::from_fn_with_state(
            state,
            access::require_api_key,
        ))
}

async fn load_run(state: &AppState, id: &str) -> Result<RunRecord, ErrorResponse> {
    match state.store.run(id).await {
        Ok(Some(run)) => Ok(run),
        Ok(None) => Err(ErrorResponse::not_found(format!("no run {id:?}"))),
        Err(e) => Err(ErrorResponse::internal(format!(
            "could not read run {id:?}: {}",
            error_chain(&e)
        ))),
    }
}

async fn load_event(state: &AppState, id: &str) -> Result<EventRecord, ErrorResponse> {
    match state.store.event(id).await {
        Ok(Some(event)) => Ok(event),
        Ok(None) => Err(ErrorResponse::not_found(format!("no event {id:?}"))),
        Err(e) => Err(ErrorResponse::internal(format!(
            "could not read event {id:?}: {}",
            error_chain(&e)
        ))),
    }
}

async fn run(State(state): State<Arc<AppState>>, PathId(id): PathId) -> ApiResult {
    let run = load_run(&state, &id).await?;
    Ok(Json(RunView::from(&run)).into_response())
}

async fn event(State(state): State<Arc<AppState>>, PathId(id): PathId) -> ApiResult {
    let event = load_event(&state, &id).await?;
    Ok(Json(EventView::from(&event)).into_response())
}

/// `GET /stats`: run counts by status.
async fn stats(State(state): State<Arc<AppState>>) -> Response {
    match state.store.run_counts().await {
        Ok(counts) => Json(json!({ "runs": counts })).into_response(),
        Err(e) => ErrorResponse::internal(format!("could not count runs: {}", error_chain(&e)))
            .into_response(),
    }
}

/// `GET /queue`: the runs queued and running, counted cheaply (for pollers and autoscalers).
async fn queue(State(state): State<Arc<AppState>>) -> Response {
    match state.store.queue_counts().await {
        Ok(counts) => Json(json!({ "runs": counts })).into_response(),
        Err(e) => ErrorResponse::internal(format!("could not count runs: {}", error_chain(&e)))
            .into_response(),
    }
}

#[derive(serde::Deserialize)]
struct ListParams {
    status: Option<String>,
    job: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

async fn list_runs(
    State(state): State<Arc<AppState>>,
    params: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Query(params) = match params {
        Ok(params) => params,
        Err(rejection) => {
            return ErrorResponse::new(StatusCode::BAD_REQUEST, rejection.body_text())
                .into_response();
        }
    };
    let status = match params.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(name) => match RunStatus::parse(name) {
            Some(status) => Some(status),
            None => {
                return ErrorResponse::new(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "unknown status {name:?}; expected one of queued, running, succeeded, failed, canceled"
                    ),
                )
                .into_response();
            }
        },
    };
    let query = RunQuery {
        status,
        job: params.job.filter(|j| !j.is_empty()),
        limit: params.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE),
        cursor: params.cursor.filter(|c| !c.is_empty()),
    };
    match state.store.list_runs(&query).await {
        Ok(page) => Json(RunPageView::from(&page)).into_response(),
        Err(e) => ErrorResponse::internal(format!("could not list runs: {}", error_chain(&e)))
            .into_response(),
    }
}

/// `POST /runs/{id}/replay`: a new run of the same job on the same event, filters skipped.
async fn replay_run(State(state): State<Arc<AppState>>, PathId(id): PathId) -> ApiResult {
    Ok(Json(replay_run_of(&state, &id).await?).into_response())
}

/// A new run of run `id`'s job on the same event, filters skipped (the API's and the
/// dashboard's replay).
pub(crate) async fn replay_run_of(state: &AppState, id: &str) -> Result<Replayed, ErrorResponse> {
    let run = load_run(state, id).await?;
    let Some(job) = state.registry.job(&run.job) else {
        return Err(ErrorResponse::new(
            StatusCode::CONFLICT,
            format!(
                "job {:?} is not registered in this build, so it cannot run again",
                run.job
            ),
        ));
    };
    add_runs(state, &run.event_id, vec![job.new_run()], None).await
}

/// `POST /events/{id}/replay`: the event dispatched again to every enabled job of its
/// endpoint whose filter matches it today; the skipped jobs and their reasons are replaced.
async fn replay_event(State(state): State<Arc<AppState>>, PathId(id): PathId) -> ApiResult {
    Ok(Json(replay_event_of(&state, &id).await?).into_response())
}

/// Event `id` dispatched again to the enabled jobs whose filter matches it today (the API's
/// and the dashboard's replay).
pub(crate) async fn replay_event_of(state: &AppState, id: &str) -> Result<Replayed, ErrorResponse> {
    let event = load_event(state, id).await?.event;
    let request = event
        .to_request()
        .map_err(|e| ErrorResponse::internal(format!("stored event {id:?} is unreadable: {e}")))?;
    let route = state.registry.route(&event.endpoint_id, &request);
    let runs = route.matched.iter().map(|job| job.new_run()).collect();
    add_runs(state, id, runs, Some(route.skipped)).await
}

/// What a replay added: `{"event_id", "runs", "skipped"}`.
#[derive(serde::Serialize)]
pub(crate) struct Replayed {
    pub(crate) event_id: String,
    pub(crate) runs: Vec<RunRef>,
    pub(crate) skipped: SkippedJobs,
}

async fn add_runs(
    state: &AppState,
    event_id: &str,
    runs: Vec<NewRun>,
    skipped: Option<SkippedJobs>,
) -> Result<Replayed, ErrorResponse> {
    let skipped_now = skipped.clone().unwrap_or_default();
    match state.store.add_runs(event_id, runs, skipped).await {
        Ok(Some(runs)) => {
            state.worker.wake();
            Ok(Replayed {
                event_id: event_id.to_owned(),
                runs,
                skipped: skipped_now,
            })
        }
        Ok(None) => Err(ErrorResponse::not_found(format!("no event {event_id:?}"))),
        Err(e) => Err(ErrorResponse::internal(format!(
            "could not add runs: {}",
            error_chain(&e)
        ))),
    }
}

/// `POST /runs/{id}/cancel`: a queued run never starts; a running one stops at its next
/// heartbeat. `409` if the run had already finished.
async fn cancel_run(State(state): State<Arc<AppState>>, PathId(id): PathId) -> ApiResult {
    cancel_run_of(&state, &id).await?;
    Ok(Json(json!({ "id": id, "status": RunStatus::Canceled })).into_response())
}

/// Cancels run `id` (the API's and the dashboard's cancel): `409` if it had already finished.
pub(crate) async fn cancel_run_of(state: &AppState, id: &str) -> Result<(), ErrorResponse> {
    match state.store.cancel(id).await {
        Ok(Some(RunStatus::Canceled)) => Ok(()),
        Ok(Some(status)) => Err(ErrorResponse::new(
            StatusCode::CONFLICT,
            format!("run {id:?} already {status}"),
        )),
        Ok(None) => Err(ErrorResponse::not_found(format!("no run {id:?}"))),
        Err(e) => Err(ErrorResponse::internal(format!(
            "could not cancel run {id:?}: {}",
            error_chain(&e)
        ))),
    }
}
