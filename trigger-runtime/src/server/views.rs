//! The JSON the API answers with: its own types, so the store's records can change (or carry
//! internal fields such as a lease) without changing the API.

use std::borrow::Cow;

use base64::Engine as _;
use serde::Serialize;

use crate::log::{LogData, LogLevel, LogLine};
use crate::store::{
    AttemptRecord, EventRecord, Ingested, LogRecord, RunPage, RunRecord, RunRef, RunStatus,
};
use crate::time::Timestamp;

/// `200` to an ingest.
#[derive(Serialize)]
pub(super) struct IngestView<'a> {
    event_id: &'a str,
    runs: &'a [RunRef],
    duplicate: bool,
}

impl<'a> From<&'a Ingested> for IngestView<'a> {
    fn from(ingested: &'a Ingested) -> Self {
        Self {
            event_id: &ingested.event_id,
            runs: &ingested.runs,
            duplicate: ingested.duplicate,
        }
    }
}

/// A run: `GET /runs/{id}`, and each run of `GET /runs`.
#[derive(Serialize)]
pub(super) struct RunView<'a> {
    id: &'a str,
    job: &'a str,
    job_version: &'a str,
    event_id: &'a str,
    endpoint_id: &'a str,
    status: RunStatus,
    attempts: u32,
    max_attempts: u32,
    created_at: Timestamp,
    /// When it may next be claimed: the next retry, or the end of a wait.
    run_at: Timestamp,
    started_at: Option<Timestamp>,
    finished_at: Option<Timestamp>,
    output: Option<&'a serde_json::Value>,
    error: Option<&'a str>,
    history: Vec<AttemptView<'a>>,
    logs: Vec<LogView<'a>>,
    /// More lines: `GET /runs/{id}/logs?cursor=` reads them.
    logs_next_cursor: Option<String>,
    tasks: Vec<TaskView<'a>>,
}

/// A task's output, with when and by which attempt it was saved.
#[derive(Serialize)]
struct TaskView<'a> {
    key: &'a str,
    output: &'a serde_json::Value,
    saved_at: Option<Timestamp>,
    attempt: Option<u32>,
}

impl<'a> From<&'a RunRecord> for RunView<'a> {
    fn from(run: &'a RunRecord) -> Self {
        Self {
            id: &run.id,
            job: &run.job,
            job_version: &run.job_version,
            event_id: &run.event_id,
            endpoint_id: &run.endpoint_id,
            status: run.status,
            attempts: run.attempts,
            max_attempts: run.max_attempts,
            created_at: run.created_at,
            run_at: run.run_at,
            started_at: run.started_at,
            finished_at: run.finished_at,
            output: run.output.as_ref(),
            error: run.error.as_deref(),
            history: run.history.iter().map(AttemptView::from).collect(),
            logs: run.logs.iter().map(LogView::from).collect(),
            logs_next_cursor: run.logs_next_cursor.map(|c| c.to_string()),
            tasks: run
                .tasks
                .iter()
                .map(|task| TaskView {
                    key: &task.key,
                    output: &task.output,
                    saved_at: task.saved_at,
                    attempt: task.attempt,
                })
                .collect(),
        }
    }
}

#[derive(Serialize)]
struct AttemptView<'a> {
    attempt: u32,
    started_at: Timestamp,
    finished_at: Timestamp,
    error: Option<&'a str>,
}

impl<'a> From<&'a AttemptRecord> for AttemptView<'a> {
    fn from(attempt: &'a AttemptRecord) -> Self {
        Self {
            attempt: attempt.attempt,
            started_at: attempt.started_at,
            finished_at: attempt.finished_at,
            error: attempt.error.as_deref(),
        }
    }
}

#[derive(Serialize)]
pub(super) struct LogView<'a> {
    level: LogLevel,
    message: &'a str,
    data: &'a LogData,
    at: Timestamp,
    attempt: u32,
}

impl<'a> From<&'a LogRecord> for LogView<'a> {
    fn from(record: &'a LogRecord) -> Self {
        let LogLine {
            level,
            message,
            data,
            at,
        } = &record.line;
        Self {
            level: *level,
            message,
            data,
            at: *at,
            attempt: record.attempt,
        }
    }
}

/// `GET /runs`.
#[derive(Serialize)]
pub(super) struct RunPageView<'a> {
    runs: Vec<RunView<'a>>,
    next_cursor: Option<&'a str>,
}

impl<'a> From<&'a RunPage> for RunPageView<'a> {
    fn from(page: &'a RunPage) -> Self {
        Self {
            runs: page.runs.iter().map(RunView::from).collect(),
            next_cursor: page.next_cursor.as_deref(),
        }
    }
}

/// `GET /events/{id}`: the request as received, the body as text when it is UTF-8, else
/// base64 (`body_encoding` says which), credential headers redacted.
#[derive(Serialize)]
pub(super) struct EventView<'a> {
    id: &'a str,
    endpoint_id: &'a str,
    method: &'a str,
    url: Cow<'a, str>,
    headers: Vec<(&'a str, std::borrow::Cow<'a, str>)>,
    body: std::borrow::Cow<'a, str>,
    body_encoding: &'static str,
    received_at: Timestamp,
    verified: bool,
    dedup_key: Option<&'a str>,
    runs: &'a [RunRef],
    /// Per job of the endpoint when the event was last dispatched: whether its filter
    /// matched, and if not, why.
    jobs: Vec<JobMatchView<'a>>,
}

#[derive(Serialize)]
struct JobMatchView<'a> {
    job: &'a str,
    matched: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
}

impl<'a> From<&'a EventRecord> for EventView<'a> {
    fn from(record: &'a EventRecord) -> Self {
        let event = &record.event;
        let (body, body_encoding) = match std::str::from_utf8(&event.body) {
            Ok(text) => (text.into(), "utf8"),
            Err(_) => (
                base64::engine::general_purpose::STANDARD
                    .encode(&event.body)
                    .into(),
                "base64",
            ),
        };
        let headers = event
            .headers
            .iter()
            .map(|(name, value)| {
                let shown = if is_credential(name) {
                    "[redacted]".into()
                } else {
                    String::from_utf8_lossy(value)
                };
                (name.as_str(), shown)
            })
            .collect();
        Self {
            id: &event.id,
            endpoint_id: &event.endpoint_id,
            method: &event.method,
            url: redact_url(&event.url),
            headers,
            body,
            body_encoding,
            received_at: event.received_at,
            verified: event.verified,
            dedup_key: event.dedup_key.as_deref(),
            runs: &record.runs,
            jobs: job_matches(record),
        }
    }
}

/// The jobs that have runs (matched), then those skipped with their reason.
fn job_matches(record: &EventRecord) -> Vec<JobMatchView<'_>> {
    let mut jobs: Vec<JobMatchView<'_>> = Vec::new();
    for run in &record.runs {
        if !jobs.iter().any(|j| j.job == run.job) {
            jobs.push(JobMatchView {
                job: &run.job,
                matched: true,
                reason: None,
            });
        }
    }
    jobs.extend(record.event.skipped.iter().map(|s| JobMatchView {
        job: s.job,
        matched: false,
        reason: Some(s.reason),
    }));
    jobs
}

/// Headers that carry credentials or signatures (which prove possession of the secret and
/// let a reader replay the request elsewhere): stored as received, for replays and
/// re-verification, never shown.
pub(crate) fn is_credential(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    matches!(
        name.as_str(),
        "authorization" | "proxy-authorization" | "cookie" | "set-cookie"
    ) || [
        "token",
        "secret",
        "password",
        "api-key",
        "apikey",
        "signature",
        "hmac",
    ]
    .iter()
    .any(|part| name.contains(part))
}

/// Query parameters that carry credentials, as some senders sign or authenticate in the URL.
fn is_credential_param(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    matches!(
        name.as_str(),
        "key" | "sig" | "auth" | "code" | "api_key" | "apikey" | "access_key"
    ) || ["token", "secret", "password", "signature"]
        .iter()
        .any(|part| name.contains(part))
}

/// `url` with the values of credential query parameters replaced by `[redacted]`, the rest
/// as received.
pub(crate) fn redact_url(url: &str) -> Cow<'_, str> {
    let Some((base, query)) = url.split_once('?') else {
        return Cow::Borrowed(url);
    };
    let mut redacted = false;
    let pairs: Vec<Cow<'_, str>> = query
        .split('&')
        .map(|pair| {
            let raw_name = pair.split_once('=').map_or(pair, |(name, _)| name);
            let name: String = form_urlencoded::parse(raw_name.as_bytes())
                .map(|(k, _)| k.into_owned())
                .next()
                .unwrap_or_default();
            if is_credential_param(&name) {
                redacted = true;
                Cow::Owned(format!("{raw_name}=[redacted]"))
            } else {
                Cow::Borrowed(pair)
            }
        })
        .collect();
    if !redacted {
        return Cow::Borrowed(url);
    }
    Cow::Owned(format!("{base}?{}", pairs.join("&")))
}

#[cfg(test)]
mod tests {
    use super::{is_credential, redact_url};

    #[test]
    fn signatures_and_credentials_are_redacted() {
        for name in [
            "Authorization",
            "Cookie",
            "X-Hub-Signature-256",
            "Stripe-Signature",
            "svix-signature",
            "webhook-signature",
            "X-Shopify-Hmac-Sha256",
            "X-Gitlab-Token",
            "X-Api-Key",
        ] {
            assert!(is_credential(name), "{name}");
        }
        for name in ["Content-Type", "X-GitHub-Event", "webhook-id", "User-Agent"] {
            assert!(!is_credential(name), "{name}");
        }
        assert_eq!(
            redact_url("https://h/endpoints/x?tenant=acme&token=abc&Signature=s%3D&key"),
            "https://h/endpoints/x?tenant=acme&token=[redacted]&Signature=[redacted]&key=[redacted]"
        );
        assert_eq!(redact_url("/endpoints/x?a=1"), "/endpoints/x?a=1");
        assert_eq!(redact_url("/endpoints/x"), "/endpoints/x");
    }
}
