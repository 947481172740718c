//! `GET /metrics`, in Prometheus text format: webhooks by endpoint and outcome, runs by status
//! and by job, the queue's depth, and the workers' attempts with their durations. Guarded like
//! the API.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::header;

use super::AppState;
use super::deliveries::Outcome;
use super::response::ErrorResponse;
use crate::error::error_chain;
use crate::metrics::label;
use crate::store::RunStatus;

const STATUSES: [RunStatus; 5] = [
    RunStatus::Queued,
    RunStatus::Running,
    RunStatus::Succeeded,
    RunStatus::Failed,
    RunStatus::Canceled,
];

pub(super) async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let (counts, by_job) =
        match tokio::try_join!(state.store.run_counts(), state.store.job_run_counts()) {
            Ok(counts) => counts,
            Err(e) => {
                let why = format!("could not count runs: {}", error_chain(&e));
                return ErrorResponse::internal(why).into_response();
            }
        };
    let mut out = String::new();
    out.push_str("# HELP trigger_webhooks_total Requests to /endpoints/{id} since the start, by endpoint and outcome.\n");
    out.push_str("# TYPE trigger_webhooks_total counter\n");
    let received = state.deliveries.counts();
    for endpoint in state.registry.endpoints() {
        for outcome in Outcome::ALL {
            let n = received
                .iter()
                .find(|(e, o, _)| e == endpoint.id() && *o == outcome)
                .map_or(0, |(_, _, n)| *n);
            let (id, outcome) = (label(endpoint.id()), outcome.name());
            let _ = writeln!(
                out,
                "trigger_webhooks_total{{endpoint=\"{id}\",outcome=\"{outcome}\"}} {n}"
            );
        }
    }
    for (endpoint, outcome, n) in &received {
        if state.registry.endpoint(endpoint).is_none() {
            let (id, outcome) = (label(endpoint), outcome.name());
            let _ = writeln!(
                out,
                "trigger_webhooks_total{{endpoint=\"{id}\",outcome=\"{outcome}\"}} {n}"
            );
        }
    }
    out.push_str("# HELP trigger_runs Runs in the store, by status.\n# TYPE trigger_runs gauge\n");
    for status in STATUSES {
        let _ = writeln!(
            out,
            "trigger_runs{{status=\"{status}\"}} {}",
            counts.get(status)
        );
    }
    out.push_str("# HELP trigger_queue_depth Runs waiting for a worker (due or not).\n");
    out.push_str("# TYPE trigger_queue_depth gauge\n");
    let _ = writeln!(out, "trigger_queue_depth {}", counts.queued);
    out.push_str("# HELP trigger_job_runs Runs in the store, by job and status.\n# TYPE trigger_job_runs gauge\n");
    for (job, counts) in &by_job {
        for status in STATUSES {
            let job = label(job);
            let _ = writeln!(
                out,
                "trigger_job_runs{{job=\"{job}\",status=\"{status}\"}} {}",
                counts.get(status)
            );
        }
    }
    state.worker.metrics().render(&mut out);
    let content_type = "text/plain; version=0.0.4; charset=utf-8";
    ([(header::CONTENT_TYPE, content_type)], out).into_response()
}
