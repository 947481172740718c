//! Filters in a user-style crate run as a real process (`trigger-fixture`'s `routed` endpoint,
//! four filtered jobs): real signed requests, and the runs each creates are exactly the
//! expected ones; the others are explained in the event.

use std::time::Duration;

use serde_json::{Value, json};
use trigger_tests::fixture::{Fixture, ROUTED, post, wait_until_settled};
use trigger_tests::{Response, Server};

const WAIT: Duration = Duration::from_secs(30);

/// The jobs of an accepted request's runs, sorted.
#[track_caller]
fn jobs(response: &Response) -> Vec<String> {
    assert_eq!(response.status, 200, "not accepted: {response}");
    let json = response.json();
    let mut jobs: Vec<String> = json["runs"]
        .as_array()
        .unwrap_or_else(|| panic!("no runs in {json}"))
        .iter()
        .filter_map(|run| run["job"].as_str().map(str::to_owned))
        .collect();
    jobs.sort();
    jobs
}

fn send(server: &Server, path: &str, body: &Value, headers: &[(&str, &str)]) -> Response {
    let body = serde_json::to_vec(body).expect("JSON");
    post(server.port(), path, &body, headers).expect("the server answers")
}

#[test]
fn each_request_starts_exactly_the_jobs_whose_filter_matches() {
    let fixture = Fixture::new();
    let server = fixture.server().start();
    let cases: [(&str, Value, &[(&str, &str)], &[&str]); 6] = [
        (
            ROUTED,
            json!({"type": "order.paid", "livemode": true, "data": {"amount": 250}}),
            &[],
            &["large-order-paid", "orders"],
        ),
        (
            ROUTED,
            json!({"type": "order.paid", "livemode": false, "data": {"amount": 99.5}}),
            &[],
            &[],
        ),
        (
            ROUTED,
            json!({"type": "order.created", "data": {"lines": [{"tags": ["gift"]}, {"tags": ["urgent", "fragile"]}]}}),
            &[],
            &["orders", "urgent-lines"],
        ),
        (
            "/endpoints/routed?tenant=acme",
            json!({"type": "customer.created"}),
            &[("X-REGION", "eu")],
            &["acme-eu"],
        ),
        (
            "/endpoints/routed?tenant=globex",
            json!({"type": "customer.created"}),
            &[("x-region", "eu")],
            &[],
        ),
        (ROUTED, json!({"type": "refund.created"}), &[], &[]),
    ];
    for (path, body, headers, expected) in cases {
        let response = send(&server, path, &body, headers);
        assert_eq!(jobs(&response), expected, "{path} {body}: {response}");
    }
    let counts = wait_until_settled(&server, WAIT);
    assert_eq!((counts.succeeded, counts.failed), (5, 0), "{counts}");
}

#[test]
fn an_event_no_job_matches_is_stored_with_every_reason() {
    let fixture = Fixture::new();
    let server = fixture.server().start();
    let response = send(
        &server,
        ROUTED,
        &json!({"type": "order.paid", "livemode": false}),
        &[],
    );
    assert_eq!(jobs(&response), Vec::<String>::new());
    let event_id = response.json()["event_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let event = server.get(&format!("/api/v1/events/{event_id}"));
    assert_eq!(event.status, 200, "{event}");
    let reasons: Vec<(String, String)> = event.json()["jobs"]
        .as_array()
        .unwrap_or_else(|| panic!("no jobs in {event}"))
        .iter()
        .map(|j| {
            assert_eq!(j["matched"], false, "{j}");
            (
                j["job"].as_str().unwrap_or_default().to_owned(),
                j["reason"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let reason = |job: &str| {
        reasons
            .iter()
            .find(|(j, _)| j == job)
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| panic!("no reason for {job} in {reasons:?}"))
    };
    assert_eq!(
        reason("large-order-paid"),
        "body.data: missing, expected an object"
    );
    assert_eq!(
        reason("orders"),
        "body.livemode: false does not satisfy {\"$anythingBut\":false}"
    );
    assert_eq!(
        reason("acme-eu"),
        "headers.X-Region: missing is not one of [\"eu\"]"
    );
    assert_eq!(
        reason("urgent-lines"),
        "body.data: missing, expected an object"
    );
    server.wait_for_log("no job's filter matched the webhook", WAIT);
}
