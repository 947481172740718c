//! The ingest route: every answer it gives, and what it stores.

mod common;

use axum::body::Body;
use common::{Reply, drain, get, post, secret, send, server, signed};
use http::StatusCode;
use serde_json::json;
use trigger_runtime::prelude::*;
use trigger_runtime::registry::Registry;
use trigger_runtime::server::ServerConfig;

#[http_endpoint(id = "cal.com", header = "X-Cal-Signature-256")]
fn caldotcom();

#[http_endpoint(id = "github", header = "X-Hub-Signature-256", prefix = "sha256=")]
fn github();

#[http_endpoint(id = "off", header = "X-Sig", enabled = false)]
fn disabled_endpoint();

#[http_endpoint(
    id = "unset",
    header = "X-Sig",
    secret = "TRIGGER_TEST_VARIABLE_NEVER_SET"
)]
fn unset_secret();

#[http_endpoint(id = "token")]
async fn token(request: &Request, secret: &Secret) -> Verification {
    match request.header("authorization") {
        Some(value) if value.strip_prefix("Bearer ") == Some(secret.expose()) => {
            Verification::Verified
        }
        Some(_) => Verification::rejected("wrong token"),
        None => Verification::rejected("missing Authorization header"),
    }
}

#[job(id = "log-body", version = "1.0.0", trigger = caldotcom)]
async fn log_body(request: Request, io: Io, _ctx: Context) -> Result<()> {
    io.logger.info("Body", request.json::<serde_json::Value>()?);
    Ok(())
}

#[job(id = "count-bytes", trigger = caldotcom)]
async fn count_bytes(request: Request, _io: Io, _ctx: Context) -> Result<usize> {
    Ok(request.body().len())
}

#[job(id = "never", trigger = caldotcom, enabled = false)]
async fn never(_request: Request, _io: Io, _ctx: Context) -> Result<()> {
    Err("a disabled job must not run".into())
}

#[job(id = "on-disabled", trigger = disabled_endpoint, enabled = false)]
async fn on_disabled(_request: Request, _io: Io, _ctx: Context) -> Result<()> {
    Ok(())
}

#[job(id = "github-push", trigger = github)]
async fn github_push(request: Request, io: Io, ctx: Context) -> Result<()> {
    io.logger.info("method", request.method().as_str());
    io.logger.info("query", request.query().get("ref"));
    io.logger.info(
        "context",
        json!({ "endpoint": ctx.endpoint_id(), "event": ctx.event_id() }),
    );
    Ok(())
}

async fn app() -> trigger_runtime::server::Server {
    server(
        Registry::from_inventory().expect("registry is valid"),
        common::config(),
    )
    .await
}

fn jobs(reply: &Reply) -> Vec<&str> {
    let mut jobs: Vec<&str> = reply.json["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["job"].as_str().unwrap())
        .collect();
    jobs.sort_unstable();
    jobs
}

#[tokio::test]
async fn signed_request_is_stored_with_one_run_per_enabled_job() {
    let app = app().await;
    let body = br#"{"triggerEvent":"BOOKING_CREATED"}"#;
    let request = signed(&caldotcom, &secret(&app, "cal.com"), body)
        .body(Body::from(&body[..]))
        .unwrap();
    let reply = send(&app, request).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    assert_eq!(reply.json["duplicate"], false);
    assert_eq!(jobs(&reply), ["count-bytes", "log-body", "tuned"]);

    drain(&app).await;
    for run in reply.json["runs"].as_array().unwrap() {
        let stored = get(
            &app,
            &format!("/api/v1/runs/{}", run["id"].as_str().unwrap()),
        )
        .await;
        assert_eq!(stored.json["status"], "succeeded", "{}", stored.json);
        assert_eq!(stored.json["event_id"], reply.json["event_id"]);
        assert_eq!(stored.json["attempts"], 1);
        if run["job"] == "log-body" {
            assert_eq!(stored.json["logs"][0]["message"], "Body");
            assert_eq!(stored.json["logs"][0]["level"], "info");
            assert_eq!(
                stored.json["logs"][0]["data"],
                json!({"triggerEvent": "BOOKING_CREATED"})
            );
        } else if run["job"] == "count-bytes" {
            assert_eq!(stored.json["output"], body.len());
        }
    }
}

#[tokio::test]
async fn bad_or_missing_signature_is_rejected_at_the_door() {
    let app = app().await;
    let tampered = signed(&caldotcom, &secret(&app, "cal.com"), b"{\"a\":1}")
        .body(Body::from("{\"a\":2}"))
        .unwrap();
    let reply = send(&app, tampered).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        reply.error(),
        "signature in X-Cal-Signature-256 does not match the body"
    );

    let unsigned = http::Request::post("/endpoints/cal.com")
        .body(Body::from("{}"))
        .unwrap();
    let reply = send(&app, unsigned).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        reply.error(),
        "missing signature header X-Cal-Signature-256"
    );

    let wrong_key = signed(&caldotcom, &Secret::new("guess"), b"{}")
        .body(Body::from("{}"))
        .unwrap();
    assert_eq!(send(&app, wrong_key).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn unknown_and_disabled_endpoints_are_404() {
    let app = app().await;
    let reply = post(&app, "/endpoints/nope").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.error(), "no endpoint \"nope\"");
    let reply = post(&app, "/endpoints/off").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.error(), "endpoint \"off\" is disabled");
    let reply = get(&app, "/nothing/here").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(get(&app, "/healthz").await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_named_but_unset_secret_is_never_an_empty_secret() {
    let app = app().await;
    // Signed with the empty key: must still be refused.
    let request = signed(&unset_secret, &Secret::new(""), b"{}")
        .body(Body::from("{}"))
        .unwrap();
    let reply = send(&app, request).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        reply.error(),
        "secret not configured: set TRIGGER_TEST_VARIABLE_NEVER_SET"
    );
}

#[tokio::test]
async fn bodies_over_the_limit_are_413_with_or_without_content_length() {
    let config = ServerConfig {
        body_limit: 1024,
        ..common::config()
    };
    let app = server(Registry::from_inventory().unwrap(), config).await;
    let secret = secret(&app, "cal.com");
    let big = vec![b'x'; 1025];
    let declared = signed(&caldotcom, &secret, &big)
        .body(Body::from(big.clone()))
        .unwrap();
    let reply = send(&app, declared).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        reply.error(),
        "request body is larger than the limit of 1024 bytes"
    );

    // A streamed body has no Content-Length: the limit applies while reading.
    let streamed = http::Request::post("/endpoints/cal.com")
        .body(common::chunked(vec![vec![b'x'; 600], vec![b'x'; 600]]))
        .unwrap();
    assert_eq!(
        send(&app, streamed).await.status,
        StatusCode::PAYLOAD_TOO_LARGE
    );

    let fits = br#"{"pad":""}"#.to_vec();
    let ok = signed(&caldotcom, &secret, &fits)
        .body(Body::from(fits.clone()))
        .unwrap();
    assert_eq!(send(&app, ok).await.status, StatusCode::OK);
}

#[tokio::test]
async fn binary_bodies_methods_headers_and_query_are_stored_exactly() {
    let app = app().await;
    let body: Vec<u8> = (0..=255u8).collect();
    let secret = secret(&app, "github");
    let (name, value) = github.sign(&body, &secret).unwrap();
    assert!(value.starts_with("sha256="));
    let request = http::Request::put("/endpoints/github?ref=main&x=%20y")
        .header(name, value)
        .header("X-Custom", "Mixed-Case")
        .body(Body::from(body.clone()))
        .unwrap();
    let reply = send(&app, request).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    let event = common::event_of(&app, &reply).await;
    assert_eq!(event["method"], "PUT");
    assert_eq!(event["body_encoding"], "base64");
    assert_eq!(event["verified"], true);
    assert!(
        event["url"]
            .as_str()
            .unwrap()
            .ends_with("/endpoints/github?ref=main&x=%20y")
    );
    assert!(
        event["headers"]
            .as_array()
            .unwrap()
            .contains(&json!(["x-custom", "Mixed-Case"]))
    );
    use base64::Engine as _;
    let stored = base64::engine::general_purpose::STANDARD
        .decode(event["body"].as_str().unwrap())
        .unwrap();
    assert_eq!(stored, body);

    drain(&app).await;
    let run = get(
        &app,
        &format!(
            "/api/v1/runs/{}",
            reply.json["runs"][0]["id"].as_str().unwrap()
        ),
    )
    .await;
    let logs = run.json["logs"].as_array().unwrap();
    assert_eq!(logs[0]["data"], "PUT");
    assert_eq!(logs[1]["data"], "main");
    assert_eq!(logs[2]["data"]["endpoint"], "github");
    assert_eq!(logs[2]["data"]["event"], reply.json["event_id"]);
}

#[tokio::test]
async fn custom_verify_fn_decides() {
    let app = app().await;
    let secret = secret(&app, "token");
    let ok = http::Request::post("/endpoints/token")
        .header("Authorization", format!("Bearer {}", secret.expose()))
        .body(Body::from("hello"))
        .unwrap();
    let reply = send(&app, ok).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json["runs"], json!([]));
    let bad = http::Request::post("/endpoints/token")
        .header("Authorization", "Bearer no")
        .body(Body::empty())
        .unwrap();
    let reply = send(&app, bad).await;
    assert_eq!(
        (reply.status, reply.error()),
        (StatusCode::UNAUTHORIZED, "wrong token")
    );
}

#[tokio::test]
async fn a_repeated_idempotency_key_returns_the_first_event() {
    let app = app().await;
    let secret = secret(&app, "cal.com");
    let send_once = || async {
        let request = signed(&caldotcom, &secret, b"{}")
            .header("Idempotency-Key", "delivery-1")
            .body(Body::from("{}"))
            .unwrap();
        send(&app, request).await
    };
    let first = send_once().await;
    let second = send_once().await;
    assert_eq!(second.status, StatusCode::OK);
    assert_eq!(second.json["duplicate"], true);
    assert_eq!(second.json["event_id"], first.json["event_id"]);
    assert_eq!(second.json["runs"], first.json["runs"]);
}

#[tokio::test]
async fn the_api_key_guards_the_api_but_not_ingest_or_health() {
    let config = ServerConfig {
        api_key: Some(Secret::new("k3y")),
        ..common::config()
    };
    let app = server(Registry::from_inventory().unwrap(), config).await;
    let reply = get(&app, "/api/v1/runs/run_x").await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    let authorized = http::Request::get("/api/v1/runs/run_x")
        .header("Authorization", "Bearer k3y")
        .body(Body::empty())
        .unwrap();
    let reply = send(&app, authorized).await;
    assert_eq!(
        (reply.status, reply.error()),
        (StatusCode::NOT_FOUND, "no run \"run_x\"")
    );
    assert_eq!(get(&app, "/healthz").await.status, StatusCode::OK);
}

#[job(id = "tuned", trigger = caldotcom, retries = 5, backoff = "2s..1m", timeout = "250ms", concurrency = 2)]
async fn tuned(_request: Request, _io: Io, _ctx: Context) -> Result<()> {
    Ok(())
}

#[tokio::test]
async fn job_arguments_set_retries_backoff_timeout_and_concurrency() {
    let registry = Registry::from_inventory().unwrap();
    let job = registry.job("tuned").unwrap();
    assert_eq!(job.retry().max_attempts(), 5);
    assert_eq!(job.retry().min_backoff(), std::time::Duration::from_secs(2));
    assert_eq!(
        job.retry().max_backoff(),
        std::time::Duration::from_secs(60)
    );
    assert_eq!(job.timeout(), Some(std::time::Duration::from_millis(250)));
    assert_eq!(job.concurrency(), Some(2));
    assert_eq!(
        job.version(),
        env!("CARGO_PKG_VERSION"),
        "no `version`: the package version"
    );
    let plain = registry.job("log-body").unwrap();
    assert_eq!(
        (
            plain.retry().max_attempts(),
            plain.timeout(),
            plain.concurrency()
        ),
        (3, None, None)
    );
}

#[tokio::test]
async fn bad_paths_and_methods_answer_json_errors() {
    let app = app().await;
    let reply = post(&app, "/endpoints/%FF").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(!reply.error().is_empty(), "{}", reply.json);
    let reply = send(
        &app,
        http::Request::delete("/api/v1/runs/run_x")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(
        (reply.status, reply.error()),
        (
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed on this route"
        )
    );
    let reply = post(&app, "/healthz").await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(!reply.error().is_empty());
}

#[tokio::test]
async fn credentials_in_headers_are_stored_but_never_shown() {
    let app = app().await;
    let secret = secret(&app, "token");
    let request = http::Request::post("/endpoints/token")
        .header("Authorization", format!("Bearer {}", secret.expose()))
        .header("X-Gitlab-Token", "glpat-secret")
        .header("X-Plain", "visible")
        .body(Body::from("{}"))
        .unwrap();
    let reply = send(&app, request).await;
    let event = common::event_of(&app, &reply).await;
    let headers = event["headers"].as_array().unwrap();
    assert!(headers.contains(&json!(["authorization", "[redacted]"])));
    assert!(headers.contains(&json!(["x-gitlab-token", "[redacted]"])));
    assert!(headers.contains(&json!(["x-plain", "visible"])));
    assert!(!event.to_string().contains(secret.expose()));
}

#[tokio::test]
async fn the_api_key_scheme_is_case_insensitive() {
    let config = ServerConfig {
        api_key: Some(Secret::new("k3y")),
        ..common::config()
    };
    let app = server(Registry::from_inventory().unwrap(), config).await;
    for header in ["bearer k3y", "BEARER k3y", "Bearer k3y"] {
        let request = http::Request::get("/api/v1/stats")
            .header("Authorization", header)
            .body(Body::empty())
            .unwrap();
        assert_eq!(send(&app, request).await.status, StatusCode::OK, "{header}");
    }
    let wrong = http::Request::get("/api/v1/stats")
        .header("Authorization", "Basic k3y")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, wrong).await.status, StatusCode::UNAUTHORIZED);
}
