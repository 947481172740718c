//! The JSON API: listing, replaying and canceling runs.

mod common;

use axum::body::Body;
use common::{drain, get, post, secret, send, server, signed};
use http::StatusCode;
use serde_json::{Value, json};
use trigger_runtime::endpoint::HttpEndpoint;
use trigger_runtime::job::Job;
use trigger_runtime::registry::Registry;
use trigger_runtime::server::Server;
use trigger_runtime::verify::HmacScheme;

static HOOK: HttpEndpoint = HttpEndpoint::new("hook").with_hmac(HmacScheme::new("X-Sig"));

fn ok(id: &'static str) -> Job {
    Job::new(
        id,
        HOOK.on_request(),
        |_req, _io, ctx: trigger_runtime::job::Context| async move {
            Ok::<_, trigger_runtime::job::BoxError>(ctx.run_id().to_owned())
        },
    )
}

async fn app() -> Server {
    server(
        Registry::from_parts([&HOOK], [ok("first"), ok("second")]).unwrap(),
        common::config(),
    )
    .await
}

async fn deliver(app: &Server) -> Value {
    let request = signed(&HOOK, &secret(app, "hook"), b"{}")
        .body(Body::from("{}"))
        .unwrap();
    let reply = send(app, request).await;
    assert_eq!(reply.status, StatusCode::OK);
    reply.json
}

#[tokio::test]
async fn runs_are_listed_newest_first_with_filters_and_cursors() {
    let app = app().await;
    for _ in 0..3 {
        deliver(&app).await;
    }
    let all = get(&app, "/api/v1/runs").await.json;
    assert_eq!(all["runs"].as_array().unwrap().len(), 6);
    let queue = get(&app, "/api/v1/queue").await.json;
    assert_eq!(queue, json!({"runs": {"queued": 6, "running": 0}}));
    let ids: Vec<&str> = all["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(ids, sorted);

    let page = get(&app, "/api/v1/runs?job=first&limit=2").await.json;
    assert_eq!(page["runs"].as_array().unwrap().len(), 2);
    let cursor = page["next_cursor"].as_str().unwrap();
    let rest = get(
        &app,
        &format!("/api/v1/runs?job=first&limit=2&cursor={cursor}"),
    )
    .await
    .json;
    assert_eq!(rest["runs"].as_array().unwrap().len(), 1);
    assert_eq!(rest["next_cursor"], Value::Null);

    drain(&app).await;
    let stats = get(&app, "/api/v1/stats").await.json;
    assert_eq!(stats["runs"]["succeeded"], 6, "{stats}");
    let queue = get(&app, "/api/v1/queue").await.json;
    assert_eq!(queue, json!({"runs": {"queued": 0, "running": 0}}));
    let succeeded = get(&app, "/api/v1/runs?status=succeeded").await.json;
    assert_eq!(succeeded["runs"].as_array().unwrap().len(), 6);
    let bad = get(&app, "/api/v1/runs?status=done").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.error().starts_with("unknown status \"done\""));
    assert_eq!(
        get(&app, "/api/v1/runs?limit=x").await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn replaying_a_run_or_an_event_makes_new_runs_on_the_same_event() {
    let app = app().await;
    let delivered = deliver(&app).await;
    let event_id = delivered["event_id"].as_str().unwrap();
    let run_id = delivered["runs"][0]["id"].as_str().unwrap();
    drain(&app).await;

    let replay = post(&app, &format!("/api/v1/runs/{run_id}/replay")).await;
    assert_eq!(replay.status, StatusCode::OK, "{}", replay.json);
    assert_eq!(replay.json["event_id"], event_id);
    assert_eq!(replay.json["runs"][0]["job"], delivered["runs"][0]["job"]);
    assert_ne!(replay.json["runs"][0]["id"], run_id);

    let again = post(&app, &format!("/api/v1/events/{event_id}/replay")).await;
    assert_eq!(again.json["runs"].as_array().unwrap().len(), 2);
    drain(&app).await;
    let event = get(&app, &format!("/api/v1/events/{event_id}")).await.json;
    assert_eq!(event["runs"].as_array().unwrap().len(), 5);
    let new_run = replay.json["runs"][0]["id"].as_str().unwrap();
    let stored = get(&app, &format!("/api/v1/runs/{new_run}")).await.json;
    assert_eq!(stored["status"], "succeeded");
    assert_eq!(stored["output"], new_run);

    assert_eq!(
        post(&app, "/api/v1/runs/run_none/replay").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        post(&app, "/api/v1/events/evt_none/replay").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_canceled_run_never_starts_and_a_finished_one_cannot_be_canceled() {
    let app = app().await;
    let delivered = deliver(&app).await;
    let canceled = delivered["runs"][0]["id"].as_str().unwrap();
    let reply = post(&app, &format!("/api/v1/runs/{canceled}/cancel")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json["status"], "canceled");
    drain(&app).await;
    assert_eq!(
        get(&app, &format!("/api/v1/runs/{canceled}")).await.json["status"],
        "canceled"
    );
    let other = delivered["runs"][1]["id"].as_str().unwrap();
    assert_eq!(
        get(&app, &format!("/api/v1/runs/{other}")).await.json["status"],
        "succeeded"
    );
    let late = post(&app, &format!("/api/v1/runs/{other}/cancel")).await;
    assert_eq!(late.status, StatusCode::CONFLICT);
    assert_eq!(late.error(), format!("run {other:?} already succeeded"));
    assert_eq!(
        post(&app, "/api/v1/runs/run_none/cancel").await.status,
        StatusCode::NOT_FOUND
    );
}

/// The messages of a JSON array of log lines.
fn messages(logs: &Value) -> Vec<String> {
    logs.as_array()
        .unwrap_or_else(|| panic!("not an array: {logs}"))
        .iter()
        .map(|line| line["message"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_run_shows_its_first_500_log_lines_and_the_rest_are_read_a_page_at_a_time() {
    let chatty = Job::new(
        "chatty",
        HOOK.on_request(),
        |_req, io: trigger_runtime::io::Io, _ctx| async move {
            for i in 0..1200 {
                io.logger
                    .info(format!("line {i}"), serde_json::json!({ "i": i }));
            }
            Ok::<_, trigger_runtime::job::BoxError>(())
        },
    );
    let mut config = common::config();
    config.worker.log_limits.lines = 2000;
    let app = server(Registry::from_parts([&HOOK], [chatty]).unwrap(), config).await;
    let delivered = deliver(&app).await;
    let id = delivered["runs"][0]["id"].as_str().unwrap();
    drain(&app).await;

    let run = get(&app, &format!("/api/v1/runs/{id}")).await.json;
    assert_eq!(run["status"], "succeeded");
    let mut all = messages(&run["logs"]);
    assert_eq!(all.len(), 500, "the run answer holds the first page");
    assert_eq!(run["logs"][499]["data"]["i"], 499);
    let mut cursor = run["logs_next_cursor"].clone();
    while let Some(after) = cursor.as_str() {
        let page = get(
            &app,
            &format!("/api/v1/runs/{id}/logs?cursor={after}&limit=300"),
        )
        .await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.json);
        all.extend(messages(&page.json["logs"]));
        cursor = page.json["next_cursor"].clone();
    }
    assert_eq!(cursor, Value::Null);
    let expected: Vec<String> = (0..1200).map(|i| format!("line {i}")).collect();
    assert_eq!(all, expected);

    // Without a cursor: from the first line, 500 by default; at most 1000.
    let first = get(&app, &format!("/api/v1/runs/{id}/logs")).await.json;
    assert_eq!(messages(&first["logs"]), expected[..500]);
    let most = get(&app, &format!("/api/v1/runs/{id}/logs?limit=5000"))
        .await
        .json;
    assert_eq!(most["logs"].as_array().unwrap().len(), 1000);

    let bad = get(&app, &format!("/api/v1/runs/{id}/logs?cursor=abc")).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.error()
            .starts_with("cursor \"abc\" is not a log cursor"),
        "{}",
        bad.error()
    );
    let missing = get(&app, "/api/v1/runs/run_none/logs").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.error(), "no run \"run_none\"");
}

#[tokio::test]
async fn a_run_with_few_log_lines_has_no_logs_cursor() {
    let app = app().await;
    let delivered = deliver(&app).await;
    let id = delivered["runs"][0]["id"].as_str().unwrap();
    drain(&app).await;
    let run = get(&app, &format!("/api/v1/runs/{id}")).await.json;
    assert_eq!(run["logs"], serde_json::json!([]));
    assert_eq!(run["logs_next_cursor"], Value::Null);
    let page = get(&app, &format!("/api/v1/runs/{id}/logs")).await.json;
    assert_eq!(page, serde_json::json!({ "logs": [], "next_cursor": null }));
}

#[tokio::test]
async fn with_a_key_every_route_answers_401_without_it_and_200_with_it() {
    let app = server(
        Registry::from_parts([&HOOK], [ok("first"), ok("second")]).unwrap(),
        trigger_runtime::server::ServerConfig {
            api_key: Some(trigger_runtime::verify::Secret::new("k3y")),
            ..common::config()
        },
    )
    .await;
    // Ingest needs no key: the signature authenticates the sender.
    let accepted = deliver(&app).await;
    let event = accepted["event_id"].as_str().unwrap();
    let first = accepted["runs"][0]["id"].as_str().unwrap();
    let second = accepted["runs"][1]["id"].as_str().unwrap();
    let routes = [
        ("GET", "/api/v1/stats".to_owned()),
        ("GET", "/api/v1/queue".to_owned()),
        ("GET", "/api/v1/runs".to_owned()),
        ("GET", "/api/v1/runs?job=first&limit=1".to_owned()),
        ("GET", format!("/api/v1/runs/{first}")),
        ("GET", format!("/api/v1/runs/{first}/logs")),
        ("GET", format!("/api/v1/events/{event}")),
        ("POST", format!("/api/v1/runs/{first}/replay")),
        ("POST", format!("/api/v1/events/{event}/replay")),
        // Still queued: no worker ran here.
        ("POST", format!("/api/v1/runs/{second}/cancel")),
        ("GET", "/metrics".to_owned()),
    ];
    let call = |method: &'static str, path: String, auth: Option<&'static str>| {
        let mut request = http::Request::builder()
            .method(method)
            .uri(path)
            .header("host", "hooks.example.com");
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        send(&app, request.body(Body::empty()).unwrap())
    };
    for (method, path) in &routes {
        for auth in [None, Some("Bearer nope"), Some("Basic k3y"), Some("k3y")] {
            let reply = call(method, path.clone(), auth).await;
            assert_eq!(
                reply.status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} with {auth:?}"
            );
        }
    }
    for (method, path) in &routes {
        let reply = call(method, path.clone(), Some("Bearer k3y")).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "{method} {path}: {}",
            reply.json
        );
    }
    let canceled = call("GET", format!("/api/v1/runs/{second}"), Some("Bearer k3y")).await;
    assert_eq!(canceled.json["status"], "canceled", "{}", canceled.json);
    let missing = call(
        "GET",
        "/api/v1/runs/run_nope".to_owned(),
        Some("Bearer k3y"),
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_run_shows_its_tasks_outputs_in_the_order_they_ran() {
    let tasks = Job::new(
        "tasks",
        HOOK.on_request(),
        |_req, io: trigger_runtime::io::Io, _ctx| async move {
            let n: u32 = io
                .run_task("second-key-first", || async {
                    Ok::<_, trigger_runtime::job::BoxError>(1)
                })
                .await?;
            io.run_task("a-later", || async move {
                Ok::<_, trigger_runtime::job::BoxError>(serde_json::json!({"n": n + 1}))
            })
            .await?;
            Ok::<_, trigger_runtime::job::BoxError>(())
        },
    );
    let app = server(
        Registry::from_parts([&HOOK], [tasks]).unwrap(),
        common::config(),
    )
    .await;
    let accepted = deliver(&app).await;
    drain(&app).await;
    let run = accepted["runs"][0]["id"].as_str().unwrap();
    let run = get(&app, &format!("/api/v1/runs/{run}")).await.json;
    assert_eq!(run["status"], "succeeded", "{run}");
    let tasks = run["tasks"].as_array().unwrap();
    let keys: Vec<&str> = tasks.iter().map(|t| t["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["second-key-first", "a-later"], "{run}");
    assert_eq!(tasks[1]["output"], serde_json::json!({"n": 2}));
    assert_eq!(tasks[0]["attempt"], 1);
    assert!(tasks[0]["saved_at"].is_string(), "{run}");
}
