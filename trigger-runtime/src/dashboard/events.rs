//! `/events`: every delivery, accepted or not, including the events that matched no job; and
//! `/events/{id}`: one event as received, its runs and why each job did or did not match.
//!
//! The store has no list of events, so the list is the deliveries of this process (the
//! in-memory rings: every outcome, with the reasons of refusals) followed by the events of the
//! newest runs that are older than the rings.

use std::collections::HashSet;
use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

use super::access::{Form, Session};
use super::endpoints::outcome;
use super::layout::{self, Chrome, Nav, ago, badge, status_badge};
use super::request;
use crate::error::error_chain;
use crate::server::deliveries::{Delivery, UNKNOWN_ENDPOINT};
use crate::server::{AppState, ErrorResponse, replay_event_of};
use crate::store::{EventRecord, RunQuery};
use crate::time::Timestamp;

/// The most rows the list shows.
const SHOWN: usize = 200;
/// How many of the newest runs are read for the events older than the rings.
const RUNS_READ: usize = 200;

/// One row: a delivery of this process, or an event known from its runs.
struct Row {
    at: Timestamp,
    endpoint: String,
    delivery: Option<Delivery>,
    event_id: Option<String>,
    runs: Option<usize>,
}

/// `GET /events`.
pub(super) async fn list(
    State(state): State<Arc<AppState>>,
    Extension(session): Extension<Session>,
) -> Response {
    let mut rows = Vec::new();
    let endpoints = state.registry.endpoints().map(|e| e.id());
    for endpoint in endpoints.chain([UNKNOWN_ENDPOINT]) {
        rows.extend(state.deliveries.recent(endpoint).into_iter().map(|d| Row {
            at: d.at,
            endpoint: endpoint.to_owned(),
            event_id: d.event_id.clone(),
            delivery: Some(d),
            runs: None,
        }));
    }
    let oldest = rows.iter().map(|r| r.at).min();
    let seen: HashSet<String> = rows.iter().filter_map(|r| r.event_id.clone()).collect();
    let query = RunQuery {
        limit: RUNS_READ,
        ..RunQuery::default()
    };
    let runs = match state.store.list_runs(&query).await {
        Ok(page) => page.runs,
        Err(e) => {
            let error =
                ErrorResponse::internal(format!("could not list runs: {}", error_chain(&e)));
            return super::error_page(&error, &session);
        }
    };
    let mut older: Vec<Row> = Vec::new();
    for run in runs.iter().filter(|r| !seen.contains(&r.event_id)) {
        match older
            .iter_mut()
            .find(|row| row.event_id.as_ref() == Some(&run.event_id))
        {
            Some(row) => *row.runs.get_or_insert(0) += 1,
            None => older.push(Row {
                at: run.created_at,
                endpoint: run.endpoint_id.clone(),
                delivery: None,
                event_id: Some(run.event_id.clone()),
                runs: Some(1),
            }),
        }
    }
    rows.sort_by_key(|row| std::cmp::Reverse(row.at));
    rows.extend(
        older
            .into_iter()
            .filter(|r| oldest.is_none_or(|o| r.at <= o)),
    );
    rows.truncate(SHOWN);
    let body = html! {
        div.page-head {
            h1 { "Events" }
            span.muted { "Every delivery since the server started, then older events by their runs." }
        }
        section.card { (table(&rows, Timestamp::now())) }
    };
    let chrome = Chrome {
        title: "Events",
        active: Some(Nav::Events),
        session: Some(&session),
    };
    layout::page(&chrome, body)
}

fn table(rows: &[Row], now: Timestamp) -> Markup {
    html! {
        div.table-wrap {
            table.events {
                thead { tr { th { "When" } th { "Endpoint" } th { "Outcome" } th { "Status" } th { "Event" } th { "Reason" } } }
                tbody {
                    @if rows.is_empty() {
                        tr.empty { td colspan="6" { "Nothing received yet." } }
                    }
                    @for row in rows {
                        tr {
                            td.nowrap { (ago(row.at, now)) }
                            td { (row.endpoint) }
                            td {
                                @match &row.delivery {
                                    Some(delivery) => (outcome(delivery.outcome)),
                                    None => (badge("accepted", "stored")),
                                }
                            }
                            td.mono { @if let Some(d) = &row.delivery { (d.status) } }
                            td.mono.nowrap {
                                @if let Some(id) = &row.event_id { a href={ "/events/" (id) } { (id) } }
                            }
                            td.reason {
                                @if let Some(reason) = row.delivery.as_ref().and_then(|d| d.reason.as_deref()) {
                                    (reason)
                                } @else if let Some(n) = row.runs {
                                    span.muted { (n) @if n == 1 { " run" } @else { " runs" } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /events/{id}`.
pub(super) async fn page(
    State(state): State<Arc<AppState>>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
) -> Response {
    let record = match state.store.event(&id).await {
        Ok(Some(record)) => record,
        Ok(None) => return super::not_found(&format!("There is no event {id:?}."), &session),
        Err(e) => {
            let error = ErrorResponse::internal(format!(
                "could not read event {id:?}: {}",
                error_chain(&e)
            ));
            return super::error_page(&error, &session);
        }
    };
    let body = view(&state, &record, &session).await;
    let chrome = Chrome {
        title: &id,
        active: Some(Nav::Events),
        session: Some(&session),
    };
    layout::page(&chrome, body)
}

async fn view(state: &AppState, record: &EventRecord, session: &Session) -> Markup {
    let now = Timestamp::now();
    let mut runs = Vec::new();
    for run in &record.runs {
        if let Ok(Some(run)) = state.store.run(&run.id).await {
            runs.push(run);
        }
    }
    html! {
        div.page-head {
            h1.mono { (record.event.id) }
            div.actions {
                form.inline method="post" action={ "/events/" (record.event.id) "/replay" } {
                    (layout::csrf_field(session))
                    button.primary type="submit" title="Dispatch again to the jobs whose filter matches today" { "Replay event" }
                }
            }
        }
        section.card {
            h2 { "Runs" }
            @if runs.is_empty() { p.muted { "This event started no run." } }
            @for run in &runs {
                div.row {
                    a.mono href={ "/runs/" (run.id) } { (run.id) }
                    (run.job) (status_badge(run.status)) span.muted { (ago(run.created_at, now)) }
                }
            }
        }
        section.card #jobs { h2 { "Jobs" } (request::matches(record)) }
        section.card #request { h2 { "Request" } (request::request(state, &record.event, now)) }
    }
}

/// `POST /events/{id}/replay`: the event dispatched again to the jobs whose filter matches it
/// today; then its page.
pub(super) async fn replay(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    form: Form,
) -> Response {
    match replay_event_of(&state, &id).await {
        Ok(replayed) => Redirect::to(&format!("/events/{}", replayed.event_id)).into_response(),
        Err(error) => super::error_page(&error, &form.session),
    }
}
