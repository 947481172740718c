//! `GET /api/v1/runs/{id}/logs?cursor=&limit=`: a run's log lines, a page at a time, after
//! the first page that `GET /api/v1/runs/{id}` includes.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::Serialize;

use super::AppState;
use super::response::{ErrorResponse, PathId};
use super::views::LogView;
use crate::error::error_chain;
use crate::store::{LogCursor, LogPage, LogQuery, RUN_LOGS_PAGE};

/// The most lines a page holds.
const MAX_PAGE: usize = 1000;

#[derive(serde::Deserialize)]
pub(super) struct LogParams {
    cursor: Option<String>,
    limit: Option<usize>,
}

/// A page of log lines.
#[derive(Serialize)]
struct LogPageView<'a> {
    logs: Vec<LogView<'a>>,
    next_cursor: Option<String>,
}

impl<'a> From<&'a LogPage> for LogPageView<'a> {
    fn from(page: &'a LogPage) -> Self {
        Self {
            logs: page.logs.iter().map(LogView::from).collect(),
            next_cursor: page.next_cursor.map(|c| c.to_string()),
        }
    }
}

/// `GET /runs/{id}/logs`: up to `limit` lines (1–1000, default 500) after `cursor` (a
/// `logs_next_cursor` or `next_cursor`; none: from the first line).
pub(super) async fn run_logs(
    State(state): State<Arc<AppState>>,
    PathId(id): PathId,
    params: Result<Query<LogParams>, QueryRejection>,
) -> Result<Response, ErrorResponse> {
    let Query(params) = params
        .map_err(|rejection| ErrorResponse::new(StatusCode::BAD_REQUEST, rejection.body_text()))?;
    let cursor = match params.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(text) => Some(text.parse::<LogCursor>().map_err(|_| {
            ErrorResponse::new(
                StatusCode::BAD_REQUEST,
                format!(
                    "cursor {text:?} is not a log cursor; pass the `logs_next_cursor` or \
                     `next_cursor` of the previous page"
                ),
            )
        })?),
    };
    let query = LogQuery {
        cursor,
        limit: params.limit.unwrap_or(RUN_LOGS_PAGE).clamp(1, MAX_PAGE),
    };
    match state.store.logs(&id, &query).await {
        Ok(Some(page)) => Ok(Json(LogPageView::from(&page)).into_response()),
        Ok(None) => Err(ErrorResponse::not_found(format!("no run {id:?}"))),
        Err(e) => Err(ErrorResponse::internal(format!(
            "could not read the logs of run {id:?}: {}",
            error_chain(&e)
        ))),
    }
}
