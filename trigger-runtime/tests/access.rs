//! Who may reach what: the API key, the `Host` check of a keyless loopback API, redaction of
//! signatures, custom verify fns that panic or hang, and the public URL checked at start-up.

mod common;

use std::time::Duration;

use axum::body::Body;
use common::{TempDir, get, secret, send, server, signed};
use http::StatusCode;
use serde_json::json;
use trigger_runtime::endpoint::HttpEndpoint;
use trigger_runtime::registry::Registry;
use trigger_runtime::server::{Server, ServerConfig};
use trigger_runtime::store::{SqliteStore, Store};
use trigger_runtime::verify::{HmacScheme, Secret, Verification};

static HOOK: HttpEndpoint = HttpEndpoint::new("hook")
    .with_hmac(HmacScheme::new("X-Hub-Signature-256").with_prefix("sha256="));

fn panics<'a>(
    _: &'a trigger_runtime::request::Request,
    _: &'a Secret,
) -> trigger_runtime::endpoint::BoxFuture<'a, Verification> {
    Box::pin(async { panic!("a bug in a verify fn") })
}

fn hangs<'a>(
    _: &'a trigger_runtime::request::Request,
    _: &'a Secret,
) -> trigger_runtime::endpoint::BoxFuture<'a, Verification> {
    Box::pin(async {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Verification::Verified
    })
}

static PANICS: HttpEndpoint = HttpEndpoint::new("panics").with_verify_fn(panics);
static HANGS: HttpEndpoint = HttpEndpoint::new("hangs").with_verify_fn(hangs);

async fn app(config: ServerConfig) -> Server {
    let registry = Registry::from_parts([&HOOK, &PANICS, &HANGS], []).unwrap();
    server(registry, config).await
}

async fn stats_with_host(app: &Server, host: Option<&str>) -> StatusCode {
    let mut request = http::Request::get("/api/v1/stats");
    if let Some(host) = host {
        request = request.header("host", host);
    }
    send(app, request.body(Body::empty()).unwrap()).await.status
}

#[tokio::test]
async fn a_keyless_api_answers_only_loopback_hosts() {
    let app = app(ServerConfig::default()).await;
    for host in ["localhost:3000", "127.0.0.1", "[::1]:8080", "LOCALHOST"] {
        assert_eq!(
            stats_with_host(&app, Some(host)).await,
            StatusCode::OK,
            "{host}"
        );
    }
    assert_eq!(
        stats_with_host(&app, None).await,
        StatusCode::OK,
        "no Host: not a browser"
    );
    for host in [
        "evil.example",
        "evil.example:3000",
        "localhost.evil.example",
        "10.0.0.2",
    ] {
        let request = http::Request::get("/api/v1/stats").header("host", host);
        let reply = send(&app, request.body(Body::empty()).unwrap()).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{host}");
        assert!(reply.error().contains("localhost"), "{}", reply.error());
    }
    // Ingest never needs the key nor a loopback Host: signatures authenticate senders.
    let request = signed(&HOOK, &secret(&app, "hook"), b"{}")
        .header("host", "hooks.example.com")
        .body(Body::from("{}"))
        .unwrap();
    assert_eq!(send(&app, request).await.status, StatusCode::OK);
}

#[tokio::test]
async fn with_a_key_or_an_open_api_the_host_is_not_checked() {
    let open = app(ServerConfig {
        open_api: true,
        ..ServerConfig::default()
    })
    .await;
    assert_eq!(
        stats_with_host(&open, Some("hooks.example.com")).await,
        StatusCode::OK
    );
    let keyed = app(ServerConfig {
        api_key: Some(Secret::new("k3y")),
        ..ServerConfig::default()
    })
    .await;
    let request = http::Request::get("/api/v1/stats")
        .header("host", "hooks.example.com")
        .header("authorization", "Bearer k3y");
    assert_eq!(
        send(&keyed, request.body(Body::empty()).unwrap())
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        stats_with_host(&keyed, Some("localhost")).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn signatures_and_credential_query_parameters_are_never_shown() {
    let app = app(ServerConfig::default()).await;
    let secret = secret(&app, "hook");
    let (_, signature) = HOOK.sign(b"{}", &secret).unwrap();
    let request = signed(&HOOK, &secret, b"{}")
        .uri("/endpoints/hook?tenant=acme&token=t0ps3cret")
        .header("Stripe-Signature", "t=1,v1=abc")
        .body(Body::from("{}"))
        .unwrap();
    let reply = send(&app, request).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    let event = common::event_of(&app, &reply).await;
    let shown = event.to_string();
    for hidden in [signature.as_str(), "t0ps3cret", "v1=abc"] {
        assert!(!shown.contains(hidden), "{hidden} shown in {shown}");
    }
    let headers = event["headers"].as_array().unwrap();
    assert!(headers.contains(&json!(["x-hub-signature-256", "[redacted]"])));
    assert!(headers.contains(&json!(["stripe-signature", "[redacted]"])));
    assert!(
        event["url"]
            .as_str()
            .unwrap()
            .ends_with("?tenant=acme&token=[redacted]")
    );
}

#[tokio::test]
async fn a_verify_fn_that_panics_or_hangs_is_refused_and_the_server_goes_on() {
    let app = app(ServerConfig {
        verify_timeout: Duration::from_millis(100),
        ..ServerConfig::default()
    })
    .await;
    let post = |path: &str| http::Request::post(path).body(Body::from("{}")).unwrap();
    let reply = send(&app, post("/endpoints/panics")).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert!(reply.error().contains("panicked"), "{}", reply.error());
    let response = tower::ServiceExt::oneshot(app.router(), post("/endpoints/hangs"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "1");
    assert_eq!(get(&app, "/healthz").await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_public_url_without_a_scheme_or_a_host_is_refused_at_start_up() {
    for url in [
        "hooks.example.com",
        "https://",
        "ftp://hooks.example.com",
        "https://a b",
        "",
    ] {
        let config = ServerConfig {
            public_url: Some(url.to_owned()),
            ..ServerConfig::default()
        };
        let registry = Registry::from_parts([&HOOK], []).unwrap();
        let error = Server::new(registry, Store::memory().unwrap(), config)
            .await
            .expect_err(url);
        assert!(
            error.to_string().starts_with("invalid TRIGGER_PUBLIC_URL"),
            "{url}: {error}"
        );
    }
}

#[cfg(unix)]
#[test]
fn the_database_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("private");
    let path = dir.join("new/folder/t.db");
    let store = SqliteStore::open(&path).unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(path.parent().unwrap()), 0o700);
    assert_eq!(mode(&dir.join("new/folder/t.db-wal")), 0o600);
    drop(store);
}
