//! `jobs`, `runs`, `run <id>`, `replay <run-id>` and `cancel <run-id>`: the store read and
//! changed directly, so they work whether the server runs or not (a running server's workers
//! pick a replayed run up at their next poll).

use std::fmt::Write as _;

use crate::error::{Error, Result};
use crate::registry::Registry;
use crate::store::{LogQuery, RunQuery, RunRecord, RunStatus, Store};
use crate::time::Timestamp;

/// `jobs`: each job with its endpoint, filter, and runs by status.
pub(super) async fn jobs(registry: &Registry, store: &Store) -> Result<String> {
    let counts = store.job_run_counts().await?;
    let mut out = String::new();
    for job in registry.jobs() {
        let state = if job.is_enabled() { "" } else { " (disabled)" };
        let _ = writeln!(
            out,
            "{}@{}{state}  \"{}\"",
            job.id(),
            job.version(),
            job.name()
        );
        let trigger = job.trigger();
        let filter = if trigger.request_filter().is_some() {
            " (filtered)"
        } else {
            ""
        };
        let _ = writeln!(out, "  trigger: {}{filter}", trigger.endpoint().id());
        let runs = counts
            .iter()
            .find(|(id, _)| id == job.id())
            .map(|(_, c)| *c);
        let runs = runs.unwrap_or_default();
        let _ = writeln!(
            out,
            "  runs:    {} queued, {} running, {} succeeded, {} failed, {} canceled",
            runs.queued, runs.running, runs.succeeded, runs.failed, runs.canceled
        );
    }
    Ok(out)
}

/// `runs`: newest first, `limit` of them, of `status` and `job` when given.
pub(super) async fn runs(
    store: &Store,
    status: Option<&str>,
    job: Option<String>,
    limit: usize,
) -> Result<String> {
    let status = match status {
        None => None,
        Some(name) => Some(RunStatus::parse(name).ok_or_else(|| {
            Error::Command(format!(
                "unknown status {name:?}; expected one of queued, running, succeeded, failed, canceled"
            ))
        })?),
    };
    let query = RunQuery {
        status,
        job,
        limit: limit.clamp(1, 500),
        cursor: None,
    };
    let page = store.list_runs(&query).await?;
    if page.runs.is_empty() {
        return Ok("no runs\n".to_owned());
    }
    let mut out = String::new();
    for run in &page.runs {
        let _ = writeln!(
            out,
            "{}  {:<9}  {}  attempt {}/{}  {}",
            run.id,
            run.status.as_str(),
            run.job,
            run.attempts,
            run.max_attempts,
            run.created_at
        );
    }
    if page.next_cursor.is_some() {
        let _ = writeln!(out, "(more: raise --limit)");
    }
    Ok(out)
}

/// The run `id`, or an error naming it.
async fn load(store: &Store, id: &str) -> Result<RunRecord> {
    store
        .run(id)
        .await?
        .ok_or_else(|| Error::Command(format!("no run {id:?}")))
}

/// `run <id>`: the run, its attempts and all its log lines.
pub(super) async fn run(store: &Store, id: &str) -> Result<String> {
    let run = load(store, id).await?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}  {}  job {}@{}",
        run.id,
        run.status.as_str(),
        run.job,
        run.job_version
    );
    let _ = writeln!(
        out,
        "  event:    {} (endpoint {})",
        run.event_id, run.endpoint_id
    );
    let _ = writeln!(out, "  attempts: {}/{}", run.attempts, run.max_attempts);
    let _ = writeln!(out, "  created:  {}", run.created_at);
    let times = [
        ("started: ", run.started_at),
        ("finished:", run.finished_at),
    ];
    for (name, at) in times {
        if let Some(at) = at {
            let _ = writeln!(out, "  {name} {at}");
        }
    }
    if let Some(output) = &run.output {
        let _ = writeln!(out, "  output:   {output}");
    }
    if let Some(error) = &run.error {
        let _ = writeln!(out, "  error:    {error}");
    }
    for attempt in &run.history {
        let took = attempt.finished_at.as_unix_millis() - attempt.started_at.as_unix_millis();
        let error = attempt
            .error
            .as_deref()
            .map_or_else(String::new, |e| format!(": {e}"));
        let _ = writeln!(out, "  attempt {} ({took} ms){error}", attempt.attempt);
    }
    logs(store, &run, &mut out).await?;
    Ok(out)
}

/// Every log line of `run`, a page at a time.
async fn logs(store: &Store, run: &RunRecord, out: &mut String) -> Result<()> {
    let _ = writeln!(out, "logs:");
    let mut lines = run.logs.clone();
    let mut cursor = run.logs_next_cursor;
    while let Some(next) = cursor {
        let query = LogQuery {
            cursor: Some(next),
            limit: 1000,
        };
        let Some(page) = store.logs(&run.id, &query).await? else {
            break;
        };
        lines.extend(page.logs);
        cursor = page.next_cursor;
    }
    if lines.is_empty() {
        let _ = writeln!(out, "  (none)");
    }
    for record in lines {
        let line = &record.line;
        let data = if line.data.is_null() {
            String::new()
        } else {
            format!(" {}", line.data)
        };
        let level = format!("{:?}", line.level).to_uppercase();
        let _ = writeln!(
            out,
            "  {} #{} {level:<5} {}{data}",
            line.at, record.attempt, line.message
        );
    }
    Ok(())
}

/// `replay <run-id>`: a new run of the same job on the same event.
pub(super) async fn replay(registry: &Registry, store: &Store, id: &str) -> Result<String> {
    let run = load(store, id).await?;
    let job = registry.job(&run.job).ok_or_else(|| {
        Error::Command(format!(
            "job {:?} is not registered in this build, so it cannot run again",
            run.job
        ))
    })?;
    let runs = store
        .add_runs(&run.event_id, vec![job.new_run()], None)
        .await?
        .ok_or_else(|| {
            Error::Command(format!(
                "the event {:?} of run {id:?} is gone",
                run.event_id
            ))
        })?;
    let mut out = String::new();
    for new in runs {
        let _ = writeln!(out, "{}  queued  {} (a replay of {id})", new.id, new.job);
    }
    Ok(out)
}

/// `cancel <run-id>`: a queued run never starts; a running one stops at its next heartbeat.
pub(super) async fn cancel(store: &Store, id: &str) -> Result<String> {
    match store.cancel(id).await? {
        Some(RunStatus::Canceled) => Ok(format!("{id}  canceled\n")),
        Some(status) => Err(Error::Command(format!("run {id:?} already {status}"))),
        None => Err(Error::Command(format!("no run {id:?}"))),
    }
}

/// `1.2 s` from `from` to `to`.
pub(super) fn took(from: Timestamp, to: Timestamp) -> String {
    let millis = to
        .as_unix_millis()
        .saturating_sub(from.as_unix_millis())
        .max(0);
    #[allow(clippy::cast_precision_loss)]
    let seconds = millis as f64 / 1000.0;
    format!("{seconds:.1} s")
}
