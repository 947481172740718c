//! The dashboard at `/`: server-rendered HTML of the endpoints, jobs, runs and events, guarded
//! like the API.
//!
//! Pages are [maud] templates, checked at compile time; the stylesheet, a small script (copy
//! buttons, relative times, live runs) and the icon are embedded in the binary. Without
//! `TRIGGER_API_KEY` it answers only loopback `Host`s; with one, `/login` takes the key and
//! sets an `HttpOnly; SameSite=Strict` cookie. Every `POST` (replay, cancel, send example,
//! reveal, login, logout) carries a CSRF token and is refused from another origin. [`access`] says which
//! applies, for the start-up banner.

mod access;
mod assets;
mod endpoints;
mod events;
mod jobs;
mod layout;
mod live;
mod request;
mod run;
mod runs;

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use http::{HeaderMap, HeaderValue, StatusCode, header};

pub(crate) use self::access::Session;
use crate::server::{AppState, ErrorResponse, Server};

/// How a server's dashboard may be reached, in the words of its start-up banner: `"log in
/// with TRIGGER_API_KEY"`, or loopback only without a login, or open to anyone
/// (`--insecure-open-api`).
///
/// ```
/// # async fn banner() -> trigger_runtime::Result<()> {
/// use trigger_runtime::{registry::Registry, server::{Server, ServerConfig}, store::Store};
/// let server = Server::new(Registry::from_parts([], [])?, Store::memory()?, ServerConfig::default()).await?;
/// assert_eq!(
///     trigger_runtime::dashboard::access(&server),
///     "loopback only, no login (set TRIGGER_API_KEY to log in from elsewhere)"
/// );
/// # Ok(()) }
/// ```
pub fn access(server: &Server) -> &'static str {
    let config = server.config();
    access::describe(config.api_key.is_some(), config.open_api)
}

/// The dashboard's routes, merged into the server's router.
pub(crate) fn router(state: Arc<AppState>) -> Router<Arc<AppState>> {
    let guarded = Router::new()
        .route("/", get(endpoints::page))
        .route("/secrets/reveal", post(endpoints::reveal))
        .route("/jobs", get(jobs::page))
        .route("/jobs/{id}/test", post(jobs::test))
        .route("/runs", get(runs::page))
        .route("/runs/live", get(live::live))
        .route("/runs/{id}", get(run::page))
        .route("/runs/{id}/replay", post(run::replay))
        .route("/runs/{id}/cancel", post(run::cancel))
        .route("/events", get(events::list))
        .route("/events/{id}", get(events::page))
        .route("/events/{id}/replay", post(events::replay))
        .route("/logout", post(access::logout))
        .layer(middleware::from_fn_with_state(state, access::guard));
    Router::new()
        .merge(guarded)
        .route("/login", get(access::login_form).post(access::login))
        .route("/assets/{file}", get(assets::asset))
        .layer(middleware::from_fn(security_headers))
}

/// Keeps the dashboard out of frames and its pages from loading anything from elsewhere.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
             frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// The URL senders use for the server: `TRIGGER_PUBLIC_URL`, else `http://` and the `Host`
/// the browser used.
fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(url) = &state.config.public_url {
        return url.trim_end_matches('/').to_owned();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| h.parse::<http::uri::Authority>().is_ok())
        .unwrap_or("127.0.0.1");
    format!("http://{host}")
}

/// An API error as a page.
fn error_page(error: &ErrorResponse, session: &Session) -> Response {
    let status = error.status();
    let title = status.canonical_reason().unwrap_or("Error");
    layout::message_page(status, title, error.message(), Some(session))
}

/// `404` as a page.
fn not_found(what: &str, session: &Session) -> Response {
    layout::message_page(StatusCode::NOT_FOUND, "Not found", what, Some(session))
}
