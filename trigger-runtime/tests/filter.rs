//! Filters end to end in process: several jobs on one endpoint, signed requests, and the runs
//! each request starts; reasons stored with the event; replays evaluate today's filters.

mod common;

use axum::body::Body;
use common::{Reply, get, post, secret, send, server};
use http::Method;
use serde_json::{Value, json};
use trigger_runtime::endpoint::HttpEndpoint;
use trigger_runtime::job::{BoxError, Job};
use trigger_runtime::registry::Registry;
use trigger_runtime::server::Server;
use trigger_runtime::verify::HmacScheme;

static CAL: HttpEndpoint =
    HttpEndpoint::new("cal.com").with_hmac(HmacScheme::new("X-Cal-Signature-256"));

fn job(id: &'static str, filter: Option<Value>) -> Job {
    let trigger = match filter {
        Some(filter) => CAL
            .on_request()
            .filter(filter)
            .expect("the filter compiles"),
        None => CAL.on_request(),
    };
    Job::new(id, trigger, |_req, _io, _ctx| async {
        Ok::<_, BoxError>(())
    })
}

async fn app(jobs: Vec<Job>) -> Server {
    server(
        Registry::from_parts([&CAL], jobs).unwrap(),
        common::config(),
    )
    .await
}

/// A signed request to the endpoint: `method`, `?query`, extra headers and a raw body.
async fn deliver(
    app: &Server,
    method: Method,
    query: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let (name, value) = CAL.sign(body, &secret(app, "cal.com")).unwrap();
    let mut request = http::Request::builder()
        .method(method)
        .uri(format!("/endpoints/cal.com{query}"))
        .header(name, value);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    send(app, request.body(Body::from(body.to_vec())).unwrap()).await
}

async fn post_json(app: &Server, body: &Value) -> Reply {
    let headers = [("content-type", "application/json")];
    deliver(app, Method::POST, "", &headers, body.to_string().as_bytes()).await
}

fn jobs_started(reply: &Reply) -> Vec<String> {
    assert_eq!(reply.status, 200, "{}", reply.json);
    let mut jobs: Vec<String> = reply.json["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["job"].as_str().unwrap().to_owned())
        .collect();
    jobs.sort();
    jobs
}

fn booking_jobs() -> Vec<Job> {
    vec![
        job(
            "created",
            Some(json!({"body": {"triggerEvent": ["BOOKING_CREATED"]}})),
        ),
        job(
            "cancelled",
            Some(json!({"body": {"triggerEvent": ["BOOKING_CANCELLED"]}})),
        ),
        job(
            "long",
            Some(json!({"body": {"payload": {"length": [{"$gte": 60}]}}})),
        ),
        job("every", None),
    ]
}

#[tokio::test]
async fn each_request_starts_exactly_the_jobs_whose_filter_matches() {
    let app = app(booking_jobs()).await;
    let created = json!({"triggerEvent": "BOOKING_CREATED", "payload": {"length": 30}});
    assert_eq!(
        jobs_started(&post_json(&app, &created).await),
        ["created", "every"]
    );
    let cancelled = json!({"triggerEvent": "BOOKING_CANCELLED", "payload": {"length": 90}});
    assert_eq!(
        jobs_started(&post_json(&app, &cancelled).await),
        ["cancelled", "every", "long"]
    );
    let other = json!({"triggerEvent": "MEETING_ENDED"});
    assert_eq!(jobs_started(&post_json(&app, &other).await), ["every"]);
}

#[tokio::test]
async fn the_event_shows_why_each_job_did_not_match() {
    let app = app(booking_jobs()).await;
    let reply = post_json(&app, &json!({"triggerEvent": "BOOKING_CANCELLED"})).await;
    let event = common::event_of(&app, &reply).await;
    let jobs = event["jobs"].as_array().unwrap();
    let find = |id: &str| jobs.iter().find(|j| j["job"] == id).unwrap().clone();
    assert_eq!(
        find("cancelled"),
        json!({"job": "cancelled", "matched": true})
    );
    assert_eq!(
        find("created"),
        json!({
            "job": "created",
            "matched": false,
            "reason": "body.triggerEvent: \"BOOKING_CANCELLED\" is not one of [\"BOOKING_CREATED\"]"
        })
    );
    assert_eq!(
        find("long")["reason"],
        "body.payload: missing, expected an object"
    );
}

#[tokio::test]
async fn an_event_that_matches_no_job_is_stored_and_can_be_replayed_after_a_fix() {
    let before = app(vec![job(
        "created",
        Some(json!({"body": {"triggerEvent": ["BOOKING_CREATED"]}})),
    )])
    .await;
    let reply = post_json(&before, &json!({"triggerEvent": "BOOKING_RESCHEDULED"})).await;
    assert_eq!(reply.json["runs"], json!([]));
    assert_eq!(reply.json["duplicate"], false);
    let id = reply.json["event_id"].as_str().unwrap().to_owned();
    let stored = get(&before, &format!("/api/v1/events/{id}")).await;
    assert_eq!(stored.json["jobs"][0]["matched"], false);

    // The same store, with the filter fixed: replaying evaluates today's filters.
    let fixed = job(
        "created",
        Some(json!({"body": {"triggerEvent": ["BOOKING_CREATED", "BOOKING_RESCHEDULED"]}})),
    );
    let after = Server::new(
        Registry::from_parts([&CAL], [fixed]).unwrap(),
        before.store().clone(),
        common::config(),
    )
    .await
    .unwrap();
    let replayed = post(&after, &format!("/api/v1/events/{id}/replay")).await;
    assert_eq!(replayed.status, 200, "{}", replayed.json);
    assert_eq!(replayed.json["runs"][0]["job"], "created");
    let event = get(&after, &format!("/api/v1/events/{id}")).await;
    assert_eq!(
        event.json["jobs"],
        json!([{"job": "created", "matched": true}])
    );
}

#[tokio::test]
async fn method_query_headers_and_form_bodies_match() {
    let app = app(vec![
        job("puts", Some(json!({"method": ["PUT"]}))),
        job("eu", Some(json!({"query": {"region": ["eu"]}}))),
        job(
            "push",
            Some(json!({"headers": {"X-GitHub-Event": ["push"]}})),
        ),
        job("form", Some(json!({"body": {"status": ["paid"]}}))),
    ])
    .await;
    let form = [("content-type", "application/x-www-form-urlencoded")];
    let reply = deliver(
        &app,
        Method::POST,
        "?region=eu&region=us",
        &form,
        b"status=paid&x=1",
    )
    .await;
    assert_eq!(
        jobs_started(&reply),
        ["form"],
        "the last of a repeated query value counts"
    );
    let reply = deliver(
        &app,
        Method::PUT,
        "?region=eu",
        &[("x-github-event", "push")],
        b"",
    )
    .await;
    assert_eq!(jobs_started(&reply), ["eu", "push", "puts"]);
}

#[tokio::test]
async fn a_body_that_is_neither_json_nor_a_form_fails_only_body_filters() {
    let app = app(vec![
        job("body", Some(json!({"body": {"a": [{"$exists": false}]}}))),
        job("header", Some(json!({"headers": {"x-kind": ["raw"]}}))),
        job("any", None),
    ])
    .await;
    let reply = deliver(
        &app,
        Method::POST,
        "",
        &[("x-kind", "raw")],
        b"\xff\xfe not json",
    )
    .await;
    assert_eq!(jobs_started(&reply), ["any", "header"]);
    let event = common::event_of(&app, &reply).await;
    let reason = event["jobs"][2]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("body: the body is neither JSON nor a form (no content type)"),
        "{reason}"
    );
}

#[test]
fn a_wrong_filter_in_code_is_an_error_value() {
    let error = CAL
        .on_request()
        .filter(json!({"body": {"amount": [{"$gt": "5"}]}}))
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid filter at `body.amount[0].$gt`: `$gt` takes a number, like 5"
    );
}
