//! The dashboard: every page's content, access (loopback without a key, a login with one),
//! CSRF on every form, the secret revealed only on `POST`, and live runs over server-sent
//! events.

mod common;

use std::time::Duration;

use axum::body::Body;
use common::{drain, secret, server, signed};
use http::{HeaderMap, StatusCode, header};
use http_body_util::BodyExt;
use tower::ServiceExt;
use trigger_runtime::endpoint::HttpEndpoint;
use trigger_runtime::job::{BoxError, Job};
use trigger_runtime::registry::Registry;
use trigger_runtime::server::{Server, ServerConfig};
use trigger_runtime::store::RunQuery;
use trigger_runtime::verify::{HmacScheme, Secret};

static HOOK: HttpEndpoint = HttpEndpoint::new("hook")
    .with_title("Hook")
    .with_hmac(HmacScheme::new("X-Sig"));

const BODY: &str = r#"{"type":"created","n":1}"#;

async fn app(config: ServerConfig) -> Server {
    let log = Job::new(
        "log-body",
        HOOK.on_request(),
        |request, io, _ctx| async move {
            let body: serde_json::Value = request.json()?;
            io.logger.info("Body logged", &body);
            let total: u64 = io
                .run_task("count-items", || async { Ok::<_, BoxError>(41 + 1) })
                .await?;
            io.logger.info("Counted", total);
            Ok::<_, BoxError>(())
        },
    )
    .with_name("Log the body")
    .with_example(BODY);
    let paid = HOOK
        .on_request()
        .filter(serde_json::json!({ "body": { "type": ["paid"] } }))
        .unwrap();
    let only_paid = Job::new("only-paid", paid, |_req, _io, _ctx| async {
        Ok::<_, BoxError>(())
    });
    server(
        Registry::from_parts([&HOOK], [log, only_paid]).unwrap(),
        config,
    )
    .await
}

/// Delivers the signed body; returns the event id and the run id.
async fn deliver(app: &Server) -> (String, String) {
    let request = signed(&HOOK, &secret(app, "hook"), BODY.as_bytes())
        .body(Body::from(BODY))
        .unwrap();
    let reply = common::send(app, request).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    let event = reply.json["event_id"].as_str().unwrap().to_owned();
    let run = reply.json["runs"][0]["id"].as_str().unwrap().to_owned();
    (event, run)
}

/// An answer: status, headers, body as text with HTML's escapes undone.
struct Page {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// The CSRF token of the page's forms.
    fn csrf(&self) -> String {
        let start = self
            .text
            .find(r#"name="csrf" value=""#)
            .expect("a form with a CSRF token")
            + r#"name="csrf" value=""#.len();
        self.text[start..].split('"').next().unwrap().to_owned()
    }

    #[track_caller]
    fn has(&self, needle: &str) -> &Self {
        assert!(
            self.text.contains(needle),
            "no {needle:?} in the page:\n{}",
            self.text
        );
        self
    }

    #[track_caller]
    fn lacks(&self, needle: &str) -> &Self {
        assert!(
            !self.text.contains(needle),
            "{needle:?} in the page:\n{}",
            self.text
        );
        self
    }
}

/// A browser: it keeps the cookies the server sets and sends them back.
#[derive(Default)]
struct Browser {
    cookies: Vec<(String, String)>,
    host: Option<&'static str>,
}

impl Browser {
    async fn request(&mut self, app: &Server, request: http::request::Builder, body: Body) -> Page {
        let mut request = request.header(header::HOST, self.host.unwrap_or("127.0.0.1:3000"));
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            request = request.header(header::COOKIE, jar.join("; "));
        }
        let response = app
            .router()
            .oneshot(request.body(body).unwrap())
            .await
            .unwrap();
        let (status, headers) = (response.status(), response.headers().clone());
        for set in headers.get_all(header::SET_COOKIE) {
            let pair = set.to_str().unwrap().split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.retain(|(k, _)| k != name);
            if !value.is_empty() {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes)
            .replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&");
        Page {
            status,
            headers,
            text,
        }
    }

    async fn get(&mut self, app: &Server, path: &str) -> Page {
        self.request(app, http::Request::get(path), Body::empty())
            .await
    }

    async fn post(&mut self, app: &Server, path: &str, form: &[(&str, &str)]) -> Page {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let request = http::Request::post(path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(
                "origin",
                format!("http://{}", self.host.unwrap_or("127.0.0.1:3000")),
            )
            .header("sec-fetch-site", "same-origin");
        self.request(app, request, Body::from(body)).await
    }
}

#[tokio::test]
async fn every_page_shows_what_it_is_for() {
    let app = app(common::config()).await;
    let (event, run) = deliver(&app).await;
    drain(&app).await;
    let generated = secret(&app, "hook");
    let mut browser = Browser::default();

    let endpoints = browser.get(&app, "/").await;
    assert_eq!(endpoints.status, StatusCode::OK);
    let content_type = endpoints.headers[header::CONTENT_TYPE].to_str().unwrap();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert_eq!(endpoints.headers[header::CACHE_CONTROL], "no-store");
    endpoints
        .has("http://127.0.0.1:3000/endpoints/hook")
        .has("HMAC-SHA256")
        .has("••••")
        .has("generated on first start")
        .has("accepted")
        .has(&event)
        .lacks(generated.expose());

    let jobs = browser.get(&app, "/jobs").await;
    assert_eq!(jobs.status, StatusCode::OK);
    jobs.has("Log the body")
        .has("log-body")
        .has("succeeded 1")
        .has("a filter built in code, on the body")
        .has("1 run in the last hour");

    let runs = browser.get(&app, "/runs?job=log-body").await;
    runs.has(&run)
        .has("succeeded")
        .has(r#"data-live="/runs/live?job=log-body""#);
    browser.get(&app, "/runs?status=failed").await.lacks(&run);

    let signature = HOOK.sign(BODY.as_bytes(), &generated).unwrap().1;
    let page = browser.get(&app, &format!("/runs/{run}")).await;
    assert_eq!(page.status, StatusCode::OK);
    page.has("Body logged")
        .has("count-items")
        .has("42")
        .has("\"type\": \"created\"")
        .has("x-sig")
        .has("[redacted]")
        .lacks(&signature)
        .has("only-paid")
        .has(r#"body.type: "created" is not one of ["paid"]"#)
        .has("Replay");

    let events = browser.get(&app, "/events").await;
    events.has(&event).has("accepted");
    let page = browser.get(&app, &format!("/events/{event}")).await;
    page.has(&run)
        .has(r#"body.type: "created" is not one of ["paid"]"#)
        .has("Replay event");

    assert_eq!(
        browser.get(&app, "/runs/run_nope").await.status,
        StatusCode::NOT_FOUND
    );
    let css = browser.get(&app, "/assets/app.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert_eq!(css.headers[header::CONTENT_TYPE], "text/css; charset=utf-8");
}

#[tokio::test]
async fn without_a_key_only_loopback_hosts_see_it() {
    let app = app(common::config()).await;
    let mut foreign = Browser {
        host: Some("evil.example:3000"),
        ..Browser::default()
    };
    for path in ["/", "/jobs", "/runs", "/events", "/runs/live"] {
        assert_eq!(
            foreign.get(&app, path).await.status,
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    for host in ["localhost:3000", "[::1]:8080", "127.0.0.1"] {
        let mut local = Browser {
            host: Some(host),
            ..Browser::default()
        };
        assert_eq!(local.get(&app, "/").await.status, StatusCode::OK, "{host}");
    }
    // `/login` needs no form without a key.
    assert_eq!(Browser::default().get(&app, "/login").await.location(), "/");

    let open = self::app(ServerConfig {
        open_api: true,
        ..common::config()
    })
    .await;
    assert_eq!(foreign.get(&open, "/").await.status, StatusCode::OK);
}

#[tokio::test]
async fn with_a_key_a_login_sets_a_cookie_that_is_not_the_key() {
    let key = "dashboard-key-123";
    let app = app(ServerConfig {
        api_key: Some(Secret::new(key)),
        ..common::config()
    })
    .await;
    let mut browser = Browser {
        host: Some("hooks.example.com"),
        ..Browser::default()
    };
    let first = browser.get(&app, "/runs?job=log-body").await;
    assert_eq!(first.status, StatusCode::SEE_OTHER);
    assert_eq!(first.location(), "/login?next=%2Fruns%3Fjob%3Dlog-body");
    let anonymous = browser.post(&app, "/runs/run_x/cancel", &[]).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);

    let form = browser.get(&app, "/login?next=%2Fjobs").await;
    assert_eq!(form.status, StatusCode::OK);
    form.has(r#"type="password""#).has(r#"value="/jobs""#);
    let csrf = form.csrf();
    let no_token = browser.post(&app, "/login", &[("key", key)]).await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    let wrong = browser
        .post(&app, "/login", &[("csrf", &csrf), ("key", "nope")])
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.headers.get(header::SET_COOKIE).is_none());

    let login = [("csrf", csrf.as_str()), ("key", key), ("next", "/jobs")];
    let ok = browser.post(&app, "/login", &login).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    assert_eq!(ok.location(), "/jobs");
    let set = ok.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(set.starts_with("trigger_session="), "{set}");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attribute), "{set}");
    }
    assert!(!set.contains(key), "the cookie holds the key: {set}");

    let jobs = browser.get(&app, "/jobs").await;
    assert_eq!(jobs.status, StatusCode::OK);
    jobs.has("Log out");
    let csrf = jobs.csrf();
    let out = browser.post(&app, "/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.location(), "/login");
    assert_eq!(
        browser.get(&app, "/jobs").await.status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn the_test_button_delivers_a_job_s_example_signed_like_its_sender() {
    let app = app(common::config()).await;
    let mut browser = Browser::default();
    let jobs = browser.get(&app, "/jobs").await;
    let page = jobs.has("Send example");
    assert_eq!(
        page.text.matches("Send example").count(),
        1,
        "only the job with an example has the button"
    );
    let csrf = page.csrf();
    let refused = browser.post(&app, "/jobs/log-body/test", &[]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    let sent = browser
        .post(&app, "/jobs/log-body/test", &[("csrf", &csrf)])
        .await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.text);
    let event = sent.location().trim_start_matches("/events/").to_owned();
    assert!(event.starts_with("evt_"), "{}", sent.location());
    let stored = app.store().event(&event).await.unwrap().unwrap();
    assert_eq!(&stored.event.body[..], BODY.as_bytes());
    assert!(stored.event.verified, "signed with the endpoint's secret");
    assert_eq!(stored.runs.len(), 1, "the filter skipped only-paid");
    drain(&app).await;
    browser.get(&app, sent.location()).await.has("log-body");

    let none = browser
        .post(&app, "/jobs/only-paid/test", &[("csrf", &csrf)])
        .await;
    none.has("has no example payload");
}

#[tokio::test]
async fn replay_and_cancel_need_the_csrf_token() {
    let app = app(common::config()).await;
    let (_, run) = deliver(&app).await;
    let mut browser = Browser::default();
    let csrf = browser
        .get(&app, &format!("/runs/{run}"))
        .await
        .has("Cancel")
        .csrf();
    let count = || async {
        let query = RunQuery {
            limit: 100,
            ..RunQuery::default()
        };
        app.store().list_runs(&query).await.unwrap().runs.len()
    };

    let replay = format!("/runs/{run}/replay");
    let refused = browser.post(&app, &replay, &[]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    refused.has("CSRF");
    let forged = browser.post(&app, &replay, &[("csrf", "0123")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let cross_site = http::Request::post(&replay)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header("origin", "http://evil.example");
    let body = Body::from(format!("csrf={csrf}"));
    let cross = browser.request(&app, cross_site, body).await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
    // A browser without the cookie presents another browser's token.
    let mut stranger = Browser::default();
    let stolen = stranger.post(&app, &replay, &[("csrf", &csrf)]).await;
    assert_eq!(stolen.status, StatusCode::FORBIDDEN);
    assert_eq!(count().await, 1);

    let replayed = browser.post(&app, &replay, &[("csrf", &csrf)]).await;
    assert_eq!(replayed.status, StatusCode::SEE_OTHER);
    let new_run = replayed
        .location()
        .trim_start_matches("/runs/")
        .split('?')
        .next()
        .unwrap();
    assert_ne!(new_run, run);
    assert_eq!(count().await, 2);
    browser
        .get(&app, replayed.location())
        .await
        .has("this is the new run");

    let cancel = format!("/runs/{new_run}/cancel");
    assert_eq!(
        browser.post(&app, &cancel, &[]).await.status,
        StatusCode::FORBIDDEN
    );
    let canceled = browser.post(&app, &cancel, &[("csrf", &csrf)]).await;
    assert_eq!(canceled.status, StatusCode::SEE_OTHER);
    let status = app.store().run(new_run).await.unwrap().unwrap().status;
    assert_eq!(status.as_str(), "canceled");
    drain(&app).await;
    let finished = format!("/runs/{run}/cancel");
    let late = browser.post(&app, &finished, &[("csrf", &csrf)]).await;
    assert_eq!(late.status, StatusCode::CONFLICT);
    late.has("already succeeded");
}

#[tokio::test]
async fn a_secret_is_shown_only_when_revealed_by_post() {
    let app = app(common::config()).await;
    let generated = secret(&app, "hook");
    let mut browser = Browser::default();
    let page = browser.get(&app, "/").await;
    page.lacks(generated.expose()).has("Reveal");
    let csrf = page.csrf();
    let shown = browser.get(&app, "/secrets/reveal?endpoint=hook").await;
    assert_eq!(shown.status, StatusCode::METHOD_NOT_ALLOWED);
    let refused = browser
        .post(&app, "/secrets/reveal", &[("endpoint", "hook")])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    refused.lacks(generated.expose());

    let revealed = browser
        .post(
            &app,
            "/secrets/reveal",
            &[("csrf", &csrf), ("endpoint", "hook")],
        )
        .await;
    assert_eq!(revealed.status, StatusCode::OK);
    assert_eq!(revealed.headers[header::CACHE_CONTROL], "no-store");
    revealed.has(generated.expose()).has("Hide");
    browser.get(&app, "/").await.lacks(generated.expose());
}

#[tokio::test]
async fn the_live_stream_sends_new_runs() {
    let app = app(common::config()).await;
    let request = http::Request::get("/runs/live?job=log-body")
        .header(header::HOST, "127.0.0.1:3000")
        .body(Body::empty())
        .unwrap();
    let response = app.router().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/event-stream"
    );
    let mut body = response.into_body();
    let (_, run) = deliver(&app).await;
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !seen.contains(&run) {
        let frame = tokio::time::timeout_at(deadline, body.frame())
            .await
            .unwrap_or_else(|_| panic!("no event with {run} within 5 s; got {seen:?}"));
        let frame = frame.expect("the stream goes on").unwrap();
        if let Some(data) = frame.data_ref() {
            seen.push_str(&String::from_utf8_lossy(data));
        }
    }
    assert!(seen.contains("event: runs"), "{seen}");
    assert!(seen.contains(&format!(r#"id=\"run-{run}\""#)), "{seen}");
    assert!(
        seen.contains("queued") || seen.contains("succeeded"),
        "{seen}"
    );
}
