//! `GET /runs/live?job=&status=`: server-sent events for the runs list. Every half second the
//! first page of runs (the same filters) is read from the store, and the runs that are new or
//! changed since the last look are sent as one `runs` event: `[{"id", "html"}]`, the rows
//! rendered as the list renders them, oldest first. The first event holds the whole page, so
//! a page that changed between its rendering and the connection catches up.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream};

use super::runs::{Params, row};
use crate::server::AppState;
use crate::store::{RunQuery, RunRecord, RunStatus};
use crate::time::Timestamp;

/// How often the store is read.
const POLL: Duration = Duration::from_millis(500);

/// What of a run the list shows that can change.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Shown {
    status: RunStatus,
    attempts: u32,
    started_at: Option<Timestamp>,
    finished_at: Option<Timestamp>,
}

impl From<&RunRecord> for Shown {
    fn from(run: &RunRecord) -> Self {
        Self {
            status: run.status,
            attempts: run.attempts,
            started_at: run.started_at,
            finished_at: run.finished_at,
        }
    }
}

/// One connection's view: what it was last sent.
struct Watch {
    state: Arc<AppState>,
    query: RunQuery,
    shown: HashMap<String, Shown>,
    first: bool,
}

/// `GET /runs/live`.
pub(super) async fn live(
    State(state): State<Arc<AppState>>,
    params: Result<Query<Params>, axum::extract::rejection::QueryRejection>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let mut query = params.map(|Query(p)| p).unwrap_or_default().query();
    query.cursor = None;
    let watch = Watch {
        state,
        query,
        shown: HashMap::new(),
        first: true,
    };
    Sse::new(stream::unfold(watch, next_event)).keep_alive(KeepAlive::default())
}

/// Waits until some run of the page is new or changed, and sends those; ends when the server
/// shuts down.
async fn next_event(mut watch: Watch) -> Option<(Result<Event, Infallible>, Watch)> {
    loop {
        if !watch.first {
            tokio::select! {
                () = tokio::time::sleep(POLL) => {}
                () = watch.state.shutdown.cancelled() => return None,
            }
        }
        watch.first = false;
        let page = match watch.state.store.list_runs(&watch.query).await {
            Ok(page) => page,
            Err(error) => {
                tracing::debug!(%error, "live runs: could not list runs");
                continue;
            }
        };
        let now = Timestamp::now();
        let changed: Vec<serde_json::Value> = page
            .runs
            .iter()
            .rev()
            .filter(|run| watch.shown.get(&run.id) != Some(&Shown::from(*run)))
            .map(|run| serde_json::json!({ "id": run.id, "html": row(run, now).into_string() }))
            .collect();
        watch.shown = page
            .runs
            .iter()
            .map(|run| (run.id.clone(), Shown::from(run)))
            .collect();
        if changed.is_empty() {
            continue;
        }
        let data = serde_json::Value::Array(changed).to_string();
        return Some((Ok(Event::default().event("runs").data(data)), watch));
    }
}
