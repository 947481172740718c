//! `/`: each endpoint with its URL, how it verifies, its secret (masked until revealed by a
//! `POST`) and what it received lately.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use http::HeaderMap;
use maud::{Markup, html};

use super::access::{Form, Session};
use super::layout::{self, Chrome, Nav, ago, badge, copy_button};
use crate::endpoint::HttpEndpoint;
use crate::server::deliveries::{Delivery, Outcome, UNKNOWN_ENDPOINT};
use crate::server::{AppState, SecretState};
use crate::time::Timestamp;
use crate::verify::Secret;

/// Deliveries shown per endpoint; the ring keeps more.
const SHOWN: usize = 15;

/// What a masked secret looks like.
const MASK: &str = "••••••••••••••••••••••••";

/// `GET /`.
pub(super) async fn page(
    State(state): State<Arc<AppState>>,
    Extension(session): Extension<Session>,
    headers: HeaderMap,
) -> Response {
    render(&state, &session, &headers, None)
}

/// `POST /secrets/reveal` (`endpoint=<id>`): the same page, with that endpoint's secrets shown.
pub(super) async fn reveal(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    form: Form,
) -> Response {
    let id = form.get("endpoint").unwrap_or_default();
    let Some(endpoint) = state.registry.endpoint(id) else {
        return super::not_found(&format!("There is no endpoint {id:?}."), &form.session);
    };
    tracing::info!(endpoint = endpoint.id(), "secret revealed in the dashboard");
    render(&state, &form.session, &headers, Some(endpoint.id()))
}

fn render(
    state: &AppState,
    session: &Session,
    headers: &HeaderMap,
    revealed: Option<&str>,
) -> Response {
    let base = super::base_url(state, headers);
    let now = Timestamp::now();
    let unknown = state.deliveries.recent(UNKNOWN_ENDPOINT);
    let body = html! {
        div.page-head {
            h1 { "Endpoints" }
            span.muted { "Point each sender at its URL, with its secret." }
        }
        @if state.registry.endpoints().next().is_none() {
            section.card { p.muted { "No endpoints are registered." } }
        }
        @for endpoint in state.registry.endpoints() {
            (card(state, session, endpoint, &base, revealed == Some(endpoint.id()), now))
        }
        @if !unknown.is_empty() {
            section.card {
                h2 { "Requests to unknown endpoints" }
                (deliveries(&unknown, now))
            }
        }
    };
    let chrome = Chrome {
        title: "Endpoints",
        active: Some(Nav::Endpoints),
        session: Some(session),
    };
    layout::page(&chrome, body)
}

fn card(
    state: &AppState,
    session: &Session,
    endpoint: &HttpEndpoint,
    base: &str,
    revealed: bool,
    now: Timestamp,
) -> Markup {
    let url = format!("{base}{}", endpoint.path());
    let recent = state.deliveries.recent(endpoint.id());
    let initial = endpoint
        .icon()
        .unwrap_or(endpoint.id())
        .chars()
        .next()
        .unwrap_or('?');
    let verification = match endpoint.preset() {
        Some(preset) => format!("preset {preset}: {}", endpoint.verifier()),
        None => endpoint.verifier().to_string(),
    };
    let jobs: Vec<&str> = state
        .registry
        .jobs_for(endpoint.id())
        .map(|j| j.id())
        .collect();
    html! {
        section.card.endpoint id={ "endpoint-" (endpoint.id()) } {
            div.endpoint-head {
                span.icon title=[endpoint.icon()] { (initial) }
                div {
                    h2 { (endpoint.title()) }
                    div.muted.small { code { (endpoint.id()) } " · source " (endpoint.source()) }
                }
                @if !endpoint.is_enabled() { (badge("off", "disabled: answers 404")) }
            }
            dl.facts {
                dt { "URL" }
                dd.row { code.url { (url) } (copy_button(&url, "URL")) }
                dt { "Verification" }
                dd { (verification) }
                dt { "Secret" }
                dd { (secret(state.secrets.get(endpoint.id()), endpoint.id(), revealed, session)) }
                dt { "Icon" }
                dd { (endpoint.icon().unwrap_or("none")) }
                dt { "Jobs" }
                dd {
                    @if jobs.is_empty() { span.muted { "none" } }
                    @for (i, job) in jobs.iter().enumerate() {
                        @if i > 0 { ", " }
                        a href={ "/runs?job=" (url_encode(job)) } { (job) }
                    }
                }
            }
            h3 { "Recent deliveries" }
            (deliveries(&recent, now))
        }
    }
}

/// Where the secret comes from, masked, with the reveal form; or, once revealed, shown with
/// copy buttons.
fn secret(state: Option<&SecretState>, id: &str, revealed: bool, session: &Session) -> Markup {
    let shown = |secret: &Secret, what: &str| {
        html! {
            @if revealed {
                span.secret { (secret.expose()) } " " (copy_button(secret.expose(), what))
            } @else {
                span.secret.masked { (MASK) }
            }
        }
    };
    let reveal = html! {
        @if revealed {
            a.button href={ "/#endpoint-" (id) } { "Hide" }
        } @else {
            form.inline method="post" action="/secrets/reveal" {
                (layout::csrf_field(session))
                input type="hidden" name="endpoint" value=(id);
                button.reveal type="submit" { "Reveal" }
            }
        }
    };
    html! {
        @match state {
            None | Some(SecretState::Missing { .. }) => {
                @let var = match state { Some(SecretState::Missing { var }) => *var, _ => "its variable" };
                (badge("bad", "not configured")) " requests get 401 until you set " code { (var) }
            }
            Some(SecretState::Generated { secret }) => {
                div.row { (shown(secret, "secret")) (reveal) }
                div.muted.small { "generated on first start and kept in the store" }
            }
            Some(SecretState::Env { vars, secrets, unset }) => {
                @for (var, secret) in vars.iter().zip(secrets) {
                    div.row { (shown(secret, var)) span.muted.small { "from " code { (var) } } }
                }
                div.row { (reveal) }
                @for var in unset {
                    div.muted.small { code { (var) } " is not set" }
                }
            }
        }
    }
}

/// The newest deliveries of a ring.
fn deliveries(recent: &[Delivery], now: Timestamp) -> Markup {
    html! {
        @if recent.is_empty() {
            p.muted { "Nothing received since the server started." }
        } @else {
            div.table-wrap {
                table.deliveries {
                    thead { tr { th { "When" } th { "Outcome" } th { "Status" } th { "Event" } th { "Reason" } th { "From" } } }
                    tbody {
                        @for delivery in recent.iter().take(SHOWN) {
                            tr {
                                td.nowrap { (ago(delivery.at, now)) }
                                td { (outcome(delivery.outcome)) }
                                td.mono { (delivery.status) }
                                td.mono {
                                    @if let Some(id) = &delivery.event_id {
                                        a href={ "/events/" (id) } { (id) }
                                    }
                                }
                                td.reason { (delivery.reason.as_deref().unwrap_or("")) }
                                td.mono.nowrap { @if let Some(from) = delivery.from { (from.ip()) } }
                            }
                        }
                    }
                }
            }
            @if recent.len() > SHOWN {
                p.muted.small { (recent.len() - SHOWN) " older in " a href="/events" { "Events" } }
            }
        }
    }
}

/// A delivery's outcome, coloured.
pub(super) fn outcome(outcome: Outcome) -> Markup {
    let class = match outcome {
        Outcome::Failed => "failed-delivery",
        other => other.name(),
    };
    badge(class, outcome.name())
}

/// `text` for a query string.
pub(super) fn url_encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}
