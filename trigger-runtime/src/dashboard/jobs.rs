//! `/jobs`: each job with its trigger, filter, counts by status and a chart of its runs over
//! the last hour.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

use super::access::{Form, Session};
use super::endpoints::url_encode;
use super::layout::{self, Chrome, Nav, badge};
use crate::error::error_chain;
use crate::filter::Reads;
use crate::job::Job;
use crate::server::{AppState, ErrorResponse, deliver_example};
use crate::store::{RunCounts, RunQuery, RunStatus};
use crate::time::Timestamp;

/// The chart's span, in minutes, one bar each.
const MINUTES: usize = 60;
/// The most runs read for the chart (pages of 500, newest first).
const CHART_RUNS: usize = 5000;

/// Runs per minute of the last hour, oldest minute first: succeeded, failed, the others.
type Chart = [[u32; 3]; MINUTES];

/// `GET /jobs`.
pub(super) async fn page(
    State(state): State<Arc<AppState>>,
    Extension(session): Extension<Session>,
) -> Response {
    let counts: HashMap<String, RunCounts> = match state.store.job_run_counts().await {
        Ok(counts) => counts.into_iter().collect(),
        Err(e) => {
            let error =
                ErrorResponse::internal(format!("could not count runs: {}", error_chain(&e)));
            return super::error_page(&error, &session);
        }
    };
    let now = Timestamp::now();
    let charts = last_hour(&state, now).await;
    let body = html! {
        div.page-head { h1 { "Jobs" } }
        @if state.registry.jobs().next().is_none() {
            section.card { p.muted { "No jobs are registered." } }
        }
        div.grid {
            @for job in state.registry.jobs() {
                (card(job, counts.get(job.id()).copied().unwrap_or_default(), charts.get(job.id()), &session))
            }
        }
    };
    let chrome = Chrome {
        title: "Jobs",
        active: Some(Nav::Jobs),
        session: Some(&session),
    };
    layout::page(&chrome, body)
}

fn card(job: &Job, counts: RunCounts, chart: Option<&Chart>, session: &Session) -> Markup {
    let endpoint = job.trigger().endpoint();
    let runs = format!("/runs?job={}", url_encode(job.id()));
    html! {
        section.card.job id={ "job-" (job.id()) } {
            h2 {
                a href=(runs) { (job.name()) }
                @if !job.is_enabled() { (badge("off", "disabled")) }
            }
            dl.facts {
                dt { "Id" } dd { code { (job.id()) } }
                dt { "Version" } dd { (job.version()) }
                dt { "Trigger" } dd { a href={ "/#endpoint-" (endpoint.id()) } { (endpoint.id()) } }
                dt { "Filter" } dd { (filter(job)) }
                dt { "Enabled" } dd { @if job.is_enabled() { "yes" } @else { "no: it gets no runs" } }
            }
            h3 { "Runs " span.muted { "(" (counts.total()) ")" } }
            div.counts {
                @for status in [RunStatus::Queued, RunStatus::Running, RunStatus::Succeeded, RunStatus::Failed, RunStatus::Canceled] {
                    a.count href={ (runs) "&status=" (status) } {
                        span class={ "badge " (status.as_str()) } { (status.as_str()) " " (counts.get(status)) }
                    }
                }
            }
            h3 { "Last hour" }
            (svg(chart.unwrap_or(&[[0; 3]; MINUTES])))
            @if job.example().is_some() {
                form.inline method="post" action={ "/jobs/" (job.id()) "/test" } {
                    (layout::csrf_field(session))
                    button.primary.test type="submit"
                        title="Deliver the job's example payload to its endpoint, signed with its secret" {
                        "Send example"
                    }
                }
            }
        }
    }
}

/// The filter as written in `#[job(filter = ...)]`, or what a filter built in code reads.
fn filter(job: &Job) -> Markup {
    let Some(compiled) = job.trigger().request_filter() else {
        return html! { span.muted { "none: every verified request" } };
    };
    let written = inventory::iter::<crate::job::registration::JobRegistration>
        .into_iter()
        .find(|r| r.id == job.id() && r.location == job.location())
        .and_then(|r| r.filter)
        .map(|json| layout::pretty_json(&json()));
    match written {
        Some(json) => html! { pre.filter { (json) } },
        None => {
            let reads = Reads::of([compiled]);
            let mut parts: Vec<String> = Vec::new();
            if !reads.headers().is_empty() {
                parts.push(format!("headers {}", reads.headers().join(", ")));
            }
            if !reads.query().is_empty() {
                parts.push(format!("query {}", reads.query().join(", ")));
            }
            if reads.reads_body() {
                parts.push("the body".to_owned());
            }
            html! { "a filter built in code" @if !parts.is_empty() { ", on " (parts.join("; ")) } }
        }
    }
}

/// Each job's runs per minute over the last hour, from the newest runs.
async fn last_hour(state: &AppState, now: Timestamp) -> HashMap<String, Chart> {
    let since = now.saturating_sub(std::time::Duration::from_secs(60 * MINUTES as u64));
    let mut charts: HashMap<String, Chart> = HashMap::new();
    let mut query = RunQuery {
        limit: 500,
        ..RunQuery::default()
    };
    let mut read = 0;
    while read < CHART_RUNS {
        let Ok(page) = state.store.list_runs(&query).await else {
            break;
        };
        read += page.runs.len();
        for run in &page.runs {
            if run.created_at < since {
                return charts;
            }
            let ago = (now.as_unix_millis() - run.created_at.as_unix_millis()).max(0) / 60_000;
            let minute = MINUTES - 1 - usize::try_from(ago).unwrap_or(0).min(MINUTES - 1);
            let kind = match run.status {
                RunStatus::Succeeded => 0,
                RunStatus::Failed => 1,
                _ => 2,
            };
            charts.entry(run.job.clone()).or_insert([[0; 3]; MINUTES])[minute][kind] += 1;
        }
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => break,
        }
    }
    charts
}

/// Bars of runs per minute: succeeded at the bottom, then failed, then the rest.
fn svg(chart: &Chart) -> Markup {
    const HEIGHT: f64 = 56.0;
    let most = chart
        .iter()
        .map(|m| m.iter().sum::<u32>())
        .max()
        .unwrap_or(0)
        .max(1);
    let total: u32 = chart.iter().flatten().sum();
    let mut bars = Vec::new();
    for (i, minute) in chart.iter().enumerate() {
        let mut top = HEIGHT;
        for (kind, class) in ["succeeded", "failed", "other"].into_iter().enumerate() {
            if minute[kind] > 0 {
                let height = f64::from(minute[kind]) / f64::from(most) * (HEIGHT - 4.0);
                top -= height;
                let tip = format!("{} {class}, {} min ago", minute[kind], MINUTES - i - 1);
                bars.push((
                    i * 10 + 1,
                    format!("{top:.1}"),
                    format!("{height:.1}"),
                    class,
                    tip,
                ));
            }
        }
    }
    let label = match total {
        1 => "1 run in the last hour".to_owned(),
        n => format!("{n} runs in the last hour"),
    };
    html! {
        svg.chart viewBox={ "0 0 " (MINUTES * 10) " " (HEIGHT) } preserveAspectRatio="none" role="img" aria-label=(label) {
            title { (label) }
            @for i in 0..MINUTES { rect.base x=(i * 10 + 1) y=(HEIGHT - 1.0) width="8" height="1" {} }
            @for (x, y, height, class, tip) in &bars {
                rect class=(class) x=(x) y=(y) width="8" height=(height) { title { (tip) } }
            }
        }
        div.chart-axis { span { "60 min ago" } span { (label) } span { "now" } }
    }
}

/// `POST /jobs/{id}/test`: the job's example payload delivered to its endpoint, signed with
/// the endpoint's scheme and secret, like a sender's webhook; then the event's page.
pub(super) async fn test(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    form: Form,
) -> Response {
    match deliver_example(&state, &id).await {
        Ok(event) => Redirect::to(&format!("/events/{event}")).into_response(),
        Err(error) => super::error_page(&error, &form.session),
    }
}
