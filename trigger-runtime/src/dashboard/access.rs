//! Who may see the dashboard, and which of its forms are genuine.
//!
//! The API's rules: without `TRIGGER_API_KEY`, only requests whose `Host` names loopback (a
//! page that rebound its DNS name to 127.0.0.1 gets `403`), unless `--insecure-open-api`; with
//! a key, a login form that takes it and sets an `HttpOnly; SameSite=Strict` cookie holding a
//! token derived from the key (never the key itself).
//!
//! Every `POST` carries a CSRF token in a hidden field: an HMAC of the browser's `trigger_csrf`
//! cookie (random, set on its first visit) under a server key. A `POST` whose field does not
//! match, or whose `Origin` or `Sec-Fetch-Site` says it came from another site, is refused.

use std::sync::{Arc, OnceLock};

use axum::extract::{FromRequest, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use maud::html;

use super::layout::{self, Chrome};
use crate::server::{AppState, is_loopback_authority};
use crate::verify::constant_time_eq;

/// The cookie that holds the login token.
pub(super) const SESSION_COOKIE: &str = "trigger_session";
/// The cookie whose HMAC is every form's CSRF token.
const CSRF_COOKIE: &str = "trigger_csrf";
/// The form field with the CSRF token.
pub(super) const CSRF_FIELD: &str = "csrf";

/// What the pages of one request need to know about its browser.
#[derive(Clone, Debug)]
pub(crate) struct Session {
    /// The CSRF token every form of the page carries.
    pub(super) csrf: String,
    /// Whether the dashboard needs a login (and so shows "Log out").
    pub(super) login: bool,
    /// The `Set-Cookie` for a browser that had no `trigger_csrf` cookie yet.
    new_cookie: Option<HeaderValue>,
}

impl Session {
    /// The session of a request: its `trigger_csrf` cookie, or a new one.
    fn of(state: &AppState, headers: &HeaderMap) -> Self {
        let login = state.config.api_key.is_some();
        let existing = cookie(headers, CSRF_COOKIE).filter(|v| is_token(v));
        let (value, new_cookie) = match existing {
            Some(value) => (value.to_owned(), None),
            None => {
                let value = random_token();
                let set = format!("{CSRF_COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/");
                (value, HeaderValue::from_str(&set).ok())
            }
        };
        Self {
            csrf: csrf_token(state, &value),
            login,
            new_cookie,
        }
    }

    /// Adds the session's cookie to `response`, if it is new.
    fn set_cookie(&self, response: &mut Response) {
        if let Some(cookie) = &self.new_cookie {
            response
                .headers_mut()
                .append(header::SET_COOKIE, cookie.clone());
        }
    }
}

/// What the start-up banner says about the dashboard of a server with this configuration.
pub(super) fn describe(api_key: bool, open: bool) -> &'static str {
    match (api_key, open) {
        (true, _) => "log in with TRIGGER_API_KEY",
        (false, true) => "open to anyone who can reach the server, no login (--insecure-open-api)",
        (false, false) => "loopback only, no login (set TRIGGER_API_KEY to log in from elsewhere)",
    }
}

/// Lets a request through to the dashboard when the API's rules allow it: a loopback `Host`
/// without a key, the login cookie with one. A page asked for without the cookie is sent to
/// the login form; anything else gets `401`.
pub(super) async fn guard(
    State(state): State<Arc<AppState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let session = Session::of(&state, request.headers());
    let mut response = match &state.config.api_key {
        None => {
            if !state.config.open_api && !host_is_loopback(request.headers()) {
                let message = "Without TRIGGER_API_KEY the dashboard answers only requests to \
                               localhost, 127.0.0.1 or [::1]. Set TRIGGER_API_KEY to log in from \
                               elsewhere.";
                return layout::message_page(StatusCode::FORBIDDEN, "Forbidden", message, None);
            }
            request.extensions_mut().insert(session.clone());
            next.run(request).await
        }
        Some(key) => {
            let token = session_token(key.as_bytes());
            let logged_in = cookie(request.headers(), SESSION_COOKIE)
                .is_some_and(|given| constant_time_eq(given.as_bytes(), token.as_bytes()));
            if logged_in {
                request.extensions_mut().insert(session.clone());
                next.run(request).await
            } else if request.method() == Method::GET || request.method() == Method::HEAD {
                let path = request
                    .uri()
                    .path_and_query()
                    .map_or("/", |p| p.as_str())
                    .to_owned();
                let next = form_urlencoded::byte_serialize(path.as_bytes()).collect::<String>();
                Redirect::to(&format!("/login?next={next}")).into_response()
            } else {
                let message = "Log in first: this dashboard needs TRIGGER_API_KEY.";
                layout::message_page(StatusCode::UNAUTHORIZED, "Log in", message, None)
            }
        }
    };
    session.set_cookie(&mut response);
    response
}

fn host_is_loopback(headers: &HeaderMap) -> bool {
    headers
        .get(header::HOST)
        .map(|h| h.to_str().unwrap_or(""))
        .is_none_or(is_loopback_authority)
}

/// `GET /login`: the form (or the dashboard, when it needs no login).
pub(super) async fn login_form(State(state): State<Arc<AppState>>, request: Request) -> Response {
    if state.config.api_key.is_none() {
        return Redirect::to("/").into_response();
    }
    let next = query_next(request.uri().query());
    let session = Session::of(&state, request.headers());
    let mut response = login_page(&session, &next, None, StatusCode::OK);
    session.set_cookie(&mut response);
    response
}

/// `POST /login`: the key, compared in constant time; sets the login cookie and goes on to
/// `next`.
pub(super) async fn login(State(state): State<Arc<AppState>>, form: Form) -> Response {
    let Some(key) = &state.config.api_key else {
        return Redirect::to("/").into_response();
    };
    let next = safe_next(form.get("next").unwrap_or("/"));
    let given = form.get("key").unwrap_or("").trim();
    if !constant_time_eq(given.as_bytes(), key.as_bytes()) {
        tracing::warn!("dashboard login with a wrong key");
        let message = "That is not the server's TRIGGER_API_KEY.";
        return login_page(
            &form.session,
            &next,
            Some(message),
            StatusCode::UNAUTHORIZED,
        );
    }
    let secure = state
        .config
        .public_url
        .as_deref()
        .is_some_and(|url| url.starts_with("https://"));
    let cookie = format!(
        "{SESSION_COOKIE}={}; HttpOnly; SameSite=Strict; Path=/{}",
        session_token(key.as_bytes()),
        if secure { "; Secure" } else { "" }
    );
    let mut response = Redirect::to(&next).into_response();
    if let Ok(cookie) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// `POST /logout`: forgets the login cookie.
pub(super) async fn logout(_form: Form) -> Response {
    let mut response = Redirect::to("/login").into_response();
    let clear = format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    if let Ok(clear) = HeaderValue::from_str(&clear) {
        response.headers_mut().append(header::SET_COOKIE, clear);
    }
    response
}

fn login_page(session: &Session, next: &str, error: Option<&str>, status: StatusCode) -> Response {
    let body = html! {
        section.login.card {
            h1 { "Log in" }
            p.muted { "This dashboard is guarded by the server's " code { "TRIGGER_API_KEY" } "." }
            @if let Some(error) = error { p.notice.bad { (error) } }
            form method="post" action="/login" {
                (layout::csrf_field(session))
                input type="hidden" name="next" value=(next);
                label for="key" { "API key" }
                input #key type="password" name="key" autocomplete="current-password" required autofocus;
                button.primary type="submit" { "Log in" }
            }
        }
    };
    let chrome = Chrome {
        title: "Log in",
        active: None,
        session: None,
    };
    layout::page_with_status(status, &chrome, body)
}

/// A `POST`ed form whose CSRF token and origin were checked; refused with `403` otherwise.
#[derive(Debug)]
pub(super) struct Form {
    fields: Vec<(String, String)>,
    pub(super) session: Session,
}

impl Form {
    /// The first value of field `name`.
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl FromRequest<Arc<AppState>> for Form {
    type Rejection = Response;

    async fn from_request(request: Request, state: &Arc<AppState>) -> Result<Self, Response> {
        let (parts, body) = request.into_parts();
        let session = Session::of(state, &parts.headers);
        let path = parts.uri.path().to_owned();
        let refuse = |why: &str| {
            tracing::warn!(path, "dashboard form refused: {why}");
            let message = format!("{why} Reload the page and try again.");
            layout::message_page(StatusCode::FORBIDDEN, "Refused", &message, None)
        };
        if let Err(why) = same_origin(&parts.headers, state.config.public_url.as_deref()) {
            return Err(refuse(why));
        }
        let request = Request::from_parts(parts, body);
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let fields: Vec<(String, String)> = form_urlencoded::parse(&bytes).into_owned().collect();
        let token = fields.iter().find(|(k, _)| k == CSRF_FIELD).map(|(_, v)| v);
        // A browser without the cookie has a new session, whose token no page carried.
        let genuine = session.new_cookie.is_none()
            && token.is_some_and(|t| constant_time_eq(t.as_bytes(), session.csrf.as_bytes()));
        if !genuine {
            return Err(refuse(
                "The form's CSRF token is missing or does not match.",
            ));
        }
        Ok(Self { fields, session })
    }
}

/// `Ok` unless `Sec-Fetch-Site` or `Origin` says the request came from another site.
fn same_origin(headers: &HeaderMap, public_url: Option<&str>) -> Result<(), &'static str> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site") {
        if !matches!(site, "same-origin" | "none") {
            return Err("The form was sent from another site.");
        }
    }
    let Some(origin) = text("origin") else {
        return Ok(());
    };
    let authority = origin
        .split_once("://")
        .map(|(_, rest)| rest)
        .filter(|rest| !rest.contains('/'));
    let host = text("host");
    let public = public_url
        .and_then(|url| url.split_once("://"))
        .map(|(_, rest)| rest.split('/').next().unwrap_or(rest));
    match authority {
        Some(authority) if Some(authority) == host || Some(authority) == public => Ok(()),
        _ => Err("The form's origin is not this dashboard."),
    }
}

/// The value of cookie `name`.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Whether `value` looks like a token this module makes: 32 hex digits.
fn is_token(value: &str) -> bool {
    value.len() == 32 && value.bytes().all(|b| b.is_ascii_hexdigit())
}

fn random_token() -> String {
    let mut bytes = [0u8; 16];
    // Without randomness every browser shares one token, which the origin checks still back.
    let _ = getrandom::fill(&mut bytes);
    hex::encode(bytes)
}

fn hmac_hex(key: &[u8], message: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

/// The login cookie's value: an HMAC of a fixed text under the key, so the key itself never
/// leaves the server and every server with the same key accepts it.
fn session_token(key: &[u8]) -> String {
    hmac_hex(key, b"trigger dashboard session v1")
}

/// The CSRF token of a browser whose `trigger_csrf` cookie is `cookie`: an HMAC under the API
/// key (so servers sharing it agree), or without one under a key of this process.
fn csrf_token(state: &AppState, cookie: &str) -> String {
    static PROCESS_KEY: OnceLock<[u8; 32]> = OnceLock::new();
    let key = match &state.config.api_key {
        Some(key) => key.as_bytes(),
        None => PROCESS_KEY.get_or_init(|| {
            let mut key = [0u8; 32];
            let _ = getrandom::fill(&mut key);
            key
        }),
    };
    hmac_hex(key, format!("csrf:{cookie}").as_bytes())
}

/// `next` from a query string, checked.
fn query_next(query: Option<&str>) -> String {
    let next = query
        .into_iter()
        .flat_map(|q| form_urlencoded::parse(q.as_bytes()))
        .find(|(k, _)| k == "next")
        .map(|(_, v)| v.into_owned());
    safe_next(next.as_deref().unwrap_or("/"))
}

/// A path on this server to go to after logging in: never another site (`//evil`, `https:`).
fn safe_next(next: &str) -> String {
    let local = next.starts_with('/') && !next.starts_with("//") && !next.contains('\\');
    if local {
        next.to_owned()
    } else {
        "/".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderMap;

    use super::{cookie, safe_next, same_origin};

    #[test]
    fn origins_and_next_paths() {
        let mut headers = HeaderMap::new();
        headers.insert("host", "127.0.0.1:3000".parse().unwrap());
        assert!(same_origin(&headers, None).is_ok());
        headers.insert("origin", "http://127.0.0.1:3000".parse().unwrap());
        assert!(same_origin(&headers, None).is_ok());
        headers.insert("origin", "http://evil.example".parse().unwrap());
        assert!(same_origin(&headers, None).is_err());
        assert!(same_origin(&headers, Some("https://evil.example")).is_ok());
        headers.insert("origin", "null".parse().unwrap());
        assert!(same_origin(&headers, None).is_err());
        headers.remove("origin");
        headers.insert("sec-fetch-site", "cross-site".parse().unwrap());
        assert!(same_origin(&headers, None).is_err());
        for (next, safe) in [
            ("/runs?job=a", "/runs?job=a"),
            ("//evil.example", "/"),
            ("https://evil.example", "/"),
            ("/\\evil", "/"),
        ] {
            assert_eq!(safe_next(next), safe);
        }
        headers.insert("cookie", "a=1; trigger_csrf=abc".parse().unwrap());
        assert_eq!(cookie(&headers, "trigger_csrf"), Some("abc"));
        assert_eq!(cookie(&headers, "b"), None);
    }
}
