//! `/runs/{id}`: a run's status, attempts with their errors, output, logs (a page at a time),
//! the request that started it and why each job did or did not match; with Replay and Cancel.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

use super::access::{Form, Session};
use super::endpoints::url_encode;
use super::layout::{self, Chrome, Nav, ago, status_badge};
use super::request;
use crate::error::error_chain;
use crate::server::{AppState, ErrorResponse, cancel_run_of, replay_run_of};
use crate::store::{
    EventRecord, LogCursor, LogQuery, LogRecord, RUN_LOGS_PAGE, RUN_TASKS_SHOWN, RunRecord,
};
use crate::time::Timestamp;

/// `?logs=<cursor>` (a later page of log lines) and `?done=` (what a button just did).
#[derive(Debug, Default, serde::Deserialize)]
pub(super) struct Params {
    logs: Option<String>,
    done: Option<String>,
}

/// `GET /runs/{id}`.
pub(super) async fn page(
    State(state): State<Arc<AppState>>,
    Extension(session): Extension<Session>,
    axum::extract::Path(id): axum::extract::Path<String>,
    params: Result<Query<Params>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let params = params.map(|Query(p)| p).unwrap_or_default();
    let run = match state.store.run(&id).await {
        Ok(Some(run)) => run,
        Ok(None) => return super::not_found(&format!("There is no run {id:?}."), &session),
        Err(e) => return store_error(&format!("could not read run {id:?}"), &e, &session),
    };
    let event = match state.store.event(&run.event_id).await {
        Ok(event) => event,
        Err(e) => return store_error("could not read the run's event", &e, &session),
    };
    let cursor = params
        .logs
        .as_deref()
        .and_then(|c| c.parse::<LogCursor>().ok());
    let (logs, next) = match cursor {
        None => (run.logs.clone(), run.logs_next_cursor),
        Some(cursor) => {
            let query = LogQuery {
                cursor: Some(cursor),
                limit: RUN_LOGS_PAGE,
            };
            match state.store.logs(&id, &query).await {
                Ok(Some(page)) => (page.logs, page.next_cursor),
                Ok(None) => (Vec::new(), None),
                Err(e) => return store_error("could not read the run's logs", &e, &session),
            }
        }
    };
    let now = Timestamp::now();
    let body = html! {
        (head(&run, &session, params.done.as_deref()))
        (facts(&run, now))
        (attempts(&run, now))
        (tasks(&run, now))
        section.card #logs {
            h2 { "Logs" }
            (log_lines(&logs, now))
            div.pager {
                @if cursor.is_some() { a.button href={ "/runs/" (run.id) "#logs" } { "← First lines" } } @else { span {} }
                @if let Some(next) = next { a.button href={ "/runs/" (run.id) "?logs=" (next) "#logs" } { "More lines →" } }
            }
        }
        (request_sections(&state, event.as_ref(), &run, now))
    };
    let chrome = Chrome {
        title: &run.id,
        active: Some(Nav::Runs),
        session: Some(&session),
    };
    layout::page(&chrome, body)
}

fn store_error(what: &str, error: &crate::store::StoreError, session: &Session) -> Response {
    let error = ErrorResponse::internal(format!("{what}: {}", error_chain(error)));
    super::error_page(&error, session)
}

fn head(run: &RunRecord, session: &Session, done: Option<&str>) -> Markup {
    html! {
        div.page-head {
            h1.mono { (run.id) }
            (status_badge(run.status))
            div.actions {
                form.inline method="post" action={ "/runs/" (run.id) "/replay" } {
                    (layout::csrf_field(session))
                    button.primary.replay type="submit" title="A new run of this job on the same event" { "Replay" }
                }
                @if !run.status.is_final() {
                    form.inline method="post" action={ "/runs/" (run.id) "/cancel" } {
                        (layout::csrf_field(session))
                        button.danger.cancel type="submit" { "Cancel" }
                    }
                }
            }
        }
        @match done {
            Some("replayed") => p.notice { "A replay of the run: this is the new run." },
            Some("canceled") => p.notice { "The run was canceled." },
            _ => {}
        }
    }
}

fn facts(run: &RunRecord, now: Timestamp) -> Markup {
    html! {
        section.card {
            dl.facts {
                dt { "Job" }
                dd { a href={ "/runs?job=" (url_encode(&run.job)) } { (run.job) } " " span.muted { "v" (run.job_version) } }
                dt { "Event" }
                dd.mono { a href={ "/events/" (run.event_id) } { (run.event_id) } }
                dt { "Attempts" }
                dd { (run.attempts) " of at most " (run.max_attempts) }
                dt { "Created" }
                dd { (ago(run.created_at, now)) }
                @if !run.status.is_final() && run.run_at > now {
                    dt { "Next attempt" }
                    dd { (ago(run.run_at, now)) }
                }
                @if let Some(started) = run.started_at { dt { "Started" } dd { (ago(started, now)) } }
                @if let Some(finished) = run.finished_at {
                    dt { "Finished" }
                    dd {
                        (ago(finished, now))
                        @if let Some(started) = run.started_at {
                            span.muted { " · took " (layout::duration(finished.as_unix_millis() - started.as_unix_millis())) }
                        }
                    }
                }
                @if let Some(error) = &run.error { dt { "Error" } dd.error-text { (error) } }
            }
            @if let Some(output) = run.output.as_ref().filter(|o| !o.is_null()) {
                h3 { "Output" }
                pre.output { (layout::pretty_json(output)) }
            }
        }
    }
}

fn attempts(run: &RunRecord, now: Timestamp) -> Markup {
    html! {
        section.card {
            h2 { "Attempts" }
            @if run.history.is_empty() {
                p.muted { "No attempt has finished yet." }
            } @else {
                div.table-wrap {
                    table.attempts {
                        thead { tr { th { "#" } th { "Started" } th { "Took" } th { "Result" } } }
                        tbody {
                            @for attempt in &run.history {
                                tr {
                                    td { (attempt.attempt) }
                                    td.nowrap { (ago(attempt.started_at, now)) }
                                    td.nowrap { (layout::duration(attempt.finished_at.as_unix_millis() - attempt.started_at.as_unix_millis())) }
                                    td.reason {
                                        @match &attempt.error {
                                            Some(error) => span.error-text { (error) },
                                            None => span.badge.succeeded { "ok" },
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn tasks(run: &RunRecord, now: Timestamp) -> Markup {
    html! {
        section.card #tasks {
            h2 { "Tasks" }
            @if run.tasks.is_empty() {
                p.muted { "No task has saved an output." }
            } @else {
                div.table-wrap {
                    table.tasks {
                        thead { tr { th { "Key" } th { "Saved" } th { "Attempt" } th { "Output" } } }
                        tbody {
                            @for task in &run.tasks {
                                tr {
                                    td.mono.nowrap { (task.key) }
                                    td.nowrap { @if let Some(at) = task.saved_at { (ago(at, now)) } }
                                    td { @if let Some(attempt) = task.attempt { (attempt) } }
                                    td.reason { pre.data { (layout::pretty_json(&task.output)) } }
                                }
                            }
                        }
                    }
                }
                @if run.tasks.len() == RUN_TASKS_SHOWN {
                    p.muted.small { "Only the first " (RUN_TASKS_SHOWN) " tasks are shown." }
                }
            }
        }
    }
}

fn log_lines(logs: &[LogRecord], now: Timestamp) -> Markup {
    html! {
        @if logs.is_empty() {
            p.muted { "No log lines." }
        } @else {
            div.table-wrap {
                table.logs {
                    thead { tr { th { "When" } th { "Level" } th { "Attempt" } th { "Message" } } }
                    tbody {
                        @for log in logs {
                            tr {
                                td.nowrap { (ago(log.line.at, now)) }
                                td { span class={ "level " (log.line.level) } { (log.line.level) } }
                                td { (log.attempt) }
                                td.reason {
                                    div.message { (log.line.message) }
                                    @if !log.line.data.is_null() {
                                        pre.data { (layout::pretty_json(&log.line.data.value())) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn request_sections(
    state: &AppState,
    event: Option<&EventRecord>,
    run: &RunRecord,
    now: Timestamp,
) -> Markup {
    html! {
        @match event {
            None => section.card { p.muted { "The event " (run.event_id) " is no longer stored." } },
            Some(record) => {
                section.card #request {
                    h2 { "Request" }
                    (request::request(state, &record.event, now))
                }
                section.card #jobs {
                    h2 { "Jobs of this event" }
                    (request::matches(record))
                }
            }
        }
    }
}

/// `POST /runs/{id}/replay`: a new run of the job on the same event; then its page.
pub(super) async fn replay(
    State(state): State<Arc<AppState>>,
    axum::extract::Path(id): axum::extract::Path<String>,
    form: Form,
) -> Response {
    match replay_run_of(&state, &id).await {
        Ok(replayed) => match replayed.runs.first() {
            Some(new) => Redirect::to(&format!("/runs/{}?done=replayed", new.id)).into_response(),
            None => Redirect::to(&format!("/runs/{id}")).into_response(),
        },
        Err(error) => super::error_page(&error, &form.session),
    }
}

/// `POST /runs/{id}/cancel`: cancels the run; then its page.
pub(super) async fn cancel(
    State(state): State<Arc<AppState>>,
    axum::extract::Path(id): axum::extract::Path<String>,
    form: Form,
) -> Response {
    match cancel_run_of(&state, &id).await {
        Ok(()) => Redirect::to(&format!("/runs/{}?done=canceled", url_encode(&id))).into_response(),
        Err(error) => super::error_page(&error, &form.session),
    }
}
