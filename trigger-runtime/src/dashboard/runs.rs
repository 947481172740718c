//! `/runs`: runs newest first, filtered by job and status, a page at a time; the first page
//! updates live (see [`super::live`]).

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Query, State};
use axum::response::Response;
use maud::{Markup, html};

use super::access::Session;
use super::endpoints::url_encode;
use super::layout::{self, Chrome, Nav, ago, status_badge};
use crate::error::error_chain;
use crate::server::{AppState, ErrorResponse};
use crate::store::{RunQuery, RunRecord, RunStatus};
use crate::time::Timestamp;

/// Runs per page.
pub(super) const PAGE: usize = 50;

const STATUSES: [RunStatus; 5] = [
    RunStatus::Queued,
    RunStatus::Running,
    RunStatus::Succeeded,
    RunStatus::Failed,
    RunStatus::Canceled,
];

/// `?job=&status=&cursor=`, as the API takes them.
#[derive(Debug, Default, serde::Deserialize)]
pub(super) struct Params {
    job: Option<String>,
    status: Option<String>,
    cursor: Option<String>,
}

impl Params {
    /// The store's query for the page these parameters name; unknown statuses are ignored.
    pub(super) fn query(&self) -> RunQuery {
        RunQuery {
            status: self.status.as_deref().and_then(RunStatus::parse),
            job: self.job.clone().filter(|j| !j.is_empty()),
            limit: PAGE,
            cursor: self.cursor.clone().filter(|c| !c.is_empty()),
        }
    }
}

/// `query` (without its cursor) as a query string: `job=x&status=failed`.
fn filters(query: &RunQuery) -> String {
    let mut parts = Vec::new();
    if let Some(job) = &query.job {
        parts.push(format!("job={}", url_encode(job)));
    }
    if let Some(status) = query.status {
        parts.push(format!("status={status}"));
    }
    parts.join("&")
}

/// `GET /runs`.
pub(super) async fn page(
    State(state): State<Arc<AppState>>,
    Extension(session): Extension<Session>,
    params: Result<Query<Params>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let query = params.map(|Query(p)| p).unwrap_or_default().query();
    let page = match state.store.list_runs(&query).await {
        Ok(page) => page,
        Err(e) => {
            let error =
                ErrorResponse::internal(format!("could not list runs: {}", error_chain(&e)));
            return super::error_page(&error, &session);
        }
    };
    let now = Timestamp::now();
    let filter = filters(&query);
    let live = query
        .cursor
        .is_none()
        .then(|| format!("/runs/live?{filter}"));
    let body = html! {
        div.page-head {
            h1 { "Runs" }
            @if live.is_some() { span.live title="Updates as runs change" { "live" } }
        }
        section.card {
            (filter_form(&state, &query))
            div.table-wrap {
                table.runs data-live=[live.as_deref()] {
                    thead { (header()) }
                    tbody {
                        @if page.runs.is_empty() {
                            tr.empty { td colspan="7" { "No runs yet. Send a webhook to one of the endpoints." } }
                        }
                        @for run in &page.runs { (row(run, now)) }
                    }
                }
            }
            div.pager {
                @if query.cursor.is_some() {
                    a.button href={ "/runs?" (filter) } { "← Newest" }
                } @else { span {} }
                @if let Some(next) = &page.next_cursor {
                    a.button href={ "/runs?" (filter) "&cursor=" (url_encode(next)) } { "Older →" }
                }
            }
        }
    };
    let chrome = Chrome {
        title: "Runs",
        active: Some(Nav::Runs),
        session: Some(&session),
    };
    layout::page(&chrome, body)
}

fn filter_form(state: &AppState, query: &RunQuery) -> Markup {
    html! {
        form.filters method="get" action="/runs" {
            label {
                "Job"
                select name="job" {
                    option value="" { "All jobs" }
                    @for job in state.registry.jobs() {
                        option value=(job.id()) selected[query.job.as_deref() == Some(job.id())] { (job.id()) }
                    }
                }
            }
            label {
                "Status"
                select name="status" {
                    option value="" { "Any status" }
                    @for status in STATUSES {
                        option value=(status.as_str()) selected[query.status == Some(status)] { (status.as_str()) }
                    }
                }
            }
            button type="submit" { "Filter" }
            @if query.job.is_some() || query.status.is_some() {
                a.button href="/runs" { "Clear" }
            }
        }
    }
}

fn header() -> Markup {
    html! {
        tr {
            th { "Run" } th { "Job" } th { "Status" } th { "Attempts" }
            th { "Created" } th { "Duration" } th { "Event" }
        }
    }
}

/// One run's row, as the list renders it and the live updates send it.
pub(super) fn row(run: &RunRecord, now: Timestamp) -> Markup {
    let took = match (run.started_at, run.finished_at) {
        (Some(start), Some(end)) => layout::duration(end.as_unix_millis() - start.as_unix_millis()),
        (Some(_), None) if run.status == RunStatus::Running => "running".to_owned(),
        _ => String::new(),
    };
    html! {
        tr id={ "run-" (run.id) } data-status=(run.status.as_str()) {
            td.mono.nowrap { a href={ "/runs/" (run.id) } { (run.id) } }
            td { (run.job) }
            td { (status_badge(run.status)) }
            td { (run.attempts) " / " (run.max_attempts) }
            td.nowrap { (ago(run.created_at, now)) }
            td.nowrap { (took) }
            td.mono.nowrap { a href={ "/events/" (run.event_id) } { (run.event_id) } }
        }
    }
}
