//! `GET /metrics`: Prometheus text of webhooks by endpoint and outcome, runs by status and by
//! job, the queue's depth and the workers' attempts, guarded like the API.

mod common;

use axum::body::Body;
use common::{secret, send, server, signed};
use http_body_util::BodyExt;
use tower::ServiceExt;
use trigger_runtime::endpoint::HttpEndpoint;
use trigger_runtime::job::{BoxError, Job};
use trigger_runtime::registry::Registry;
use trigger_runtime::server::{Server, ServerConfig};
use trigger_runtime::verify::{HmacScheme, Secret};

static HOOK: HttpEndpoint = HttpEndpoint::new("hook").with_hmac(HmacScheme::new("X-Sig"));

async fn app(config: ServerConfig) -> Server {
    let job = Job::new("count", HOOK.on_request(), |_req, _io, _ctx| async {
        Ok::<_, BoxError>(())
    });
    server(Registry::from_parts([&HOOK], [job]).unwrap(), config).await
}

async fn metrics(app: &Server, auth: Option<&str>) -> (u16, String) {
    let mut request = http::Request::get("/metrics");
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    let response = app
        .router()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn metrics_count_webhooks_runs_and_attempts() {
    let app = app(common::config()).await;
    let secret = secret(&app, "hook");
    let ok = signed(&HOOK, &secret, b"{}")
        .body(Body::from("{}"))
        .unwrap();
    assert_eq!(send(&app, ok).await.status, 200);
    let forged = http::Request::post("/endpoints/hook")
        .body(Body::from("{}"))
        .unwrap();
    assert_eq!(send(&app, forged).await.status, 401);
    let unknown = http::Request::post("/endpoints/nope")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, unknown).await.status, 404);

    let (status, text) = metrics(&app, None).await;
    assert_eq!(status, 200, "{text}");
    for line in [
        "trigger_webhooks_total{endpoint=\"hook\",outcome=\"accepted\"} 1",
        "trigger_webhooks_total{endpoint=\"hook\",outcome=\"rejected\"} 1",
        "trigger_webhooks_total{endpoint=\"hook\",outcome=\"duplicate\"} 0",
        "trigger_webhooks_total{endpoint=\"(unknown)\",outcome=\"rejected\"} 1",
        "trigger_runs{status=\"queued\"} 1",
        "trigger_queue_depth 1",
        "trigger_job_runs{job=\"count\",status=\"queued\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
    }

    assert_eq!(app.worker().run_once().await, 1);
    let (_, text) = metrics(&app, None).await;
    for line in [
        "trigger_runs{status=\"succeeded\"} 1",
        "trigger_queue_depth 0",
        "trigger_attempts_total{job=\"count\",outcome=\"succeeded\"} 1",
        "trigger_attempt_duration_seconds_count{job=\"count\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
    }
    assert!(text.contains("# TYPE trigger_attempt_duration_seconds histogram"));
}

#[tokio::test]
async fn metrics_need_the_api_key_when_there_is_one() {
    let config = ServerConfig {
        api_key: Some(Secret::new("k3y")),
        ..common::config()
    };
    let app = app(config).await;
    assert_eq!(metrics(&app, None).await.0, 401);
    assert_eq!(metrics(&app, Some("Bearer wrong")).await.0, 401);
    assert_eq!(metrics(&app, Some("Bearer k3y")).await.0, 200);
}
