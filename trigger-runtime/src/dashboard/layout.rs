//! The page around every view (head, navigation, footer) and the small pieces views share:
//! times, status badges, copy buttons, the CSRF field.

use axum::response::{Html, IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use maud::{DOCTYPE, Markup, html};

use super::access::{CSRF_FIELD, Session};
use crate::store::RunStatus;
use crate::time::Timestamp;

/// The sections of the navigation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Nav {
    Endpoints,
    Jobs,
    Runs,
    Events,
}

impl Nav {
    const ALL: [(Self, &'static str, &'static str); 4] = [
        (Self::Endpoints, "/", "Endpoints"),
        (Self::Jobs, "/jobs", "Jobs"),
        (Self::Runs, "/runs", "Runs"),
        (Self::Events, "/events", "Events"),
    ];
}

/// What the page around a view shows.
#[derive(Debug)]
pub(super) struct Chrome<'a> {
    /// The page's title, before " · trigger".
    pub(super) title: &'a str,
    /// The section to highlight.
    pub(super) active: Option<Nav>,
    /// The browser's session; `None` on pages outside the dashboard (the login form).
    pub(super) session: Option<&'a Session>,
}

/// A `200` page.
pub(super) fn page(chrome: &Chrome<'_>, body: Markup) -> Response {
    page_with_status(StatusCode::OK, chrome, body)
}

/// A page with `status`, never cached (it may show a revealed secret).
pub(super) fn page_with_status(status: StatusCode, chrome: &Chrome<'_>, body: Markup) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="same-origin";
                title { (chrome.title) " · trigger" }
                link rel="icon" type="image/svg+xml" href="/assets/favicon.svg";
                link rel="stylesheet" href=(super::assets::CSS_PATH);
                script src=(super::assets::JS_PATH) defer {}
            }
            body {
                header.top {
                    a.brand href="/" {
                        img src="/assets/favicon.svg" alt="" width="22" height="22";
                        span { "trigger" }
                    }
                    @if chrome.session.is_some() {
                        nav {
                            @for (nav, href, label) in Nav::ALL {
                                a href=(href) class=[(chrome.active == Some(nav)).then_some("active")] { (label) }
                            }
                        }
                    }
                    @if let Some(session) = chrome.session.filter(|s| s.login) {
                        form.logout method="post" action="/logout" {
                            (csrf_field(session))
                            button.link type="submit" { "Log out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    };
    let mut response = (status, Html(markup.into_string())).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A page that only says something: an error, a refusal.
pub(super) fn message_page(
    status: StatusCode,
    title: &str,
    message: &str,
    session: Option<&Session>,
) -> Response {
    let body = html! {
        section.card.message-page {
            h1 { (status.as_u16()) " " (title) }
            p { (message) }
            @if session.is_some() { p { a href="/" { "Back to the dashboard" } } }
        }
    };
    let chrome = Chrome {
        title,
        active: None,
        session,
    };
    page_with_status(status, &chrome, body)
}

/// The hidden field with the session's CSRF token, for every form that posts.
pub(super) fn csrf_field(session: &Session) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(session.csrf); }
}

/// `at` as "3 min ago", with the exact time on hover; the page's script keeps it current.
pub(super) fn ago(at: Timestamp, now: Timestamp) -> Markup {
    let exact = at.to_string();
    html! { time datetime=(exact) title=(exact) { (relative(at, now)) } }
}

/// How long before (or after) `now` `at` is, in words.
pub(super) fn relative(at: Timestamp, now: Timestamp) -> String {
    let millis = now.as_unix_millis() - at.as_unix_millis();
    let (seconds, future) = ((millis / 1000).abs(), millis < 0);
    if seconds < 5 {
        return "just now".to_owned();
    }
    let amount = match seconds {
        ..60 => format!("{seconds} s"),
        60..3600 => format!("{} min", seconds / 60),
        3600..86_400 => format!("{} h", seconds / 3600),
        _ => format!("{} d", seconds / 86_400),
    };
    if future {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}

/// A duration in milliseconds, short: `850 ms`, `2.3 s`, `4 min 5 s`.
pub(super) fn duration(millis: i64) -> String {
    match millis {
        ..1000 => format!("{millis} ms"),
        1000..60_000 => format!("{}.{} s", millis / 1000, millis % 1000 / 100),
        _ => format!("{} min {} s", millis / 60_000, millis % 60_000 / 1000),
    }
}

/// A run's status, coloured.
pub(super) fn status_badge(status: RunStatus) -> Markup {
    html! { span class={ "badge " (status.as_str()) } { (status.as_str()) } }
}

/// A badge of `class` saying `text`.
pub(super) fn badge(class: &str, text: &str) -> Markup {
    html! { span class={ "badge " (class) } { (text) } }
}

/// A button that copies `text` to the clipboard.
pub(super) fn copy_button(text: &str, what: &str) -> Markup {
    html! {
        button.copy type="button" data-copy=(text) title={ "Copy " (what) } aria-label={ "Copy " (what) } { "Copy" }
    }
}

/// `value` as indented JSON.
pub(super) fn pretty_json(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::{duration, relative};
    use crate::time::Timestamp;

    #[test]
    fn times_in_words() {
        let now = Timestamp::from_unix_millis(10_000_000);
        let before = |ms: i64| relative(Timestamp::from_unix_millis(10_000_000 - ms), now);
        assert_eq!(before(1000), "just now");
        assert_eq!(before(42_000), "42 s ago");
        assert_eq!(before(3 * 60_000 + 5000), "3 min ago");
        assert_eq!(before(2 * 3_600_000), "2 h ago");
        assert_eq!(before(-120_000), "in 2 min");
        assert_eq!(duration(850), "850 ms");
        assert_eq!(duration(2345), "2.3 s");
        assert_eq!(duration(245_000), "4 min 5 s");
    }
}
