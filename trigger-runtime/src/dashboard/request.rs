//! A stored request as received, for the run and event pages: credential headers and query
//! parameters redacted as the API does, the body pretty-printed when it is JSON, as text when
//! it is other text, else in base64; and which jobs it started and why the others did not.

use base64::Engine as _;
use maud::{Markup, html};

use super::layout::{self, ago, badge};
use crate::endpoint::Verifier;
use crate::server::AppState;
use crate::store::{Event, EventRecord};
use crate::time::Timestamp;

/// The most of a body shown; the rest is cut with a note.
const BODY_SHOWN: usize = 256 * 1024;

/// The request: method, URL, time, headers and body. The headers the API redacts are
/// redacted, and so is the one that carries the endpoint's signature, whatever its name.
pub(super) fn request(state: &AppState, event: &Event, now: Timestamp) -> Markup {
    let signature = match state
        .registry
        .endpoint(&event.endpoint_id)
        .map(|e| e.verifier())
    {
        Some(Verifier::Scheme(scheme)) => Some(scheme.carrier().header()),
        _ => None,
    };
    let redacted = |name: &str| {
        crate::server::is_credential(name)
            || signature.is_some_and(|s| s.eq_ignore_ascii_case(name))
    };
    html! {
        dl.facts {
            dt { "Request" }
            dd.mono { (event.method) " " (crate::server::redact_url(&event.url)) }
            dt { "Received" }
            dd { (ago(event.received_at, now)) }
            dt { "Endpoint" }
            dd { a href={ "/#endpoint-" (event.endpoint_id) } { (event.endpoint_id) } }
            dt { "Signature" }
            dd {
                @if event.verified { (badge("ok", "verified")) } @else { (badge("warn", "not verified")) }
            }
            @if let Some(key) = &event.dedup_key {
                dt { "Delivery id" }
                dd.mono { (key) }
            }
        }
        h3 { "Headers" }
        div.table-wrap {
            table.headers {
                tbody {
                    @for (name, value) in &event.headers {
                        tr {
                            td.mono.nowrap { (name) }
                            td.mono.reason {
                                @if redacted(name) {
                                    span.muted { "[redacted]" }
                                } @else {
                                    (String::from_utf8_lossy(value))
                                }
                            }
                        }
                    }
                }
            }
        }
        h3 { "Body " span.muted.small { "(" (event.body.len()) " bytes" (body_kind(&event.body)) ")" } }
        (body(&event.body))
    }
}

fn body_kind(body: &[u8]) -> &'static str {
    if body.is_empty() {
        ""
    } else if serde_json::from_slice::<serde_json::Value>(body).is_ok() {
        ", JSON"
    } else if std::str::from_utf8(body).is_ok() {
        ", text"
    } else {
        ", binary, shown in base64"
    }
}

fn body(body: &[u8]) -> Markup {
    if body.is_empty() {
        return html! { p.muted { "No body." } };
    }
    let (shown, cut) = if body.len() > BODY_SHOWN {
        (&body[..BODY_SHOWN], true)
    } else {
        (body, false)
    };
    let text = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(json) if !cut => layout::pretty_json(&json),
        _ => match std::str::from_utf8(shown) {
            Ok(text) => text.to_owned(),
            // Cut inside a character, or not text at all.
            Err(e) if cut && e.error_len().is_none() => {
                String::from_utf8_lossy(&shown[..e.valid_up_to()]).into_owned()
            }
            Err(_) => base64::engine::general_purpose::STANDARD.encode(shown),
        },
    };
    html! {
        pre.body { (text) }
        @if cut { p.muted.small { "The first " (BODY_SHOWN / 1024) " KiB of " (body.len()) " bytes." } }
    }
}

/// The jobs the event started, then those its filters skipped, with the reason.
pub(super) fn matches(record: &EventRecord) -> Markup {
    let mut matched: Vec<&str> = Vec::new();
    for run in &record.runs {
        if !matched.contains(&run.job.as_str()) {
            matched.push(&run.job);
        }
    }
    let skipped = &record.event.skipped;
    html! {
        @if matched.is_empty() && skipped.is_empty() {
            p.muted { "No enabled job listens to this endpoint." }
        } @else {
            div.table-wrap {
                table.matches {
                    thead { tr { th { "Job" } th { "Filter" } th { "Why" } } }
                    tbody {
                        @for job in &matched {
                            tr {
                                td { a href={ "/runs?job=" (super::endpoints::url_encode(job)) } { (job) } }
                                td { (badge("matched", "matched")) }
                                td.muted { "started a run" }
                            }
                        }
                        @for job in skipped.iter() {
                            tr {
                                td { (job.job) }
                                td { (badge("skipped", "skipped")) }
                                td.mono.reason { (job.reason) }
                            }
                        }
                    }
                }
            }
        }
    }
}
