//! End-to-end tests of `example-caldotcom`: each test starts the binary as a real process on a
//! free port, with its own environment, and talks HTTP to it.
//!
//! A failing test prints the server's stdout and stderr (see [`Server`]'s `Drop`).

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use trigger_tests::http::chunked;
use trigger_tests::{Response, Server, ServerBuilder, sign};

const PACKAGE: &str = "example-caldotcom";
const SECRET: &str = "whsec_e2e_test";
const ENDPOINT: &str = "/endpoints/cal.com";
const SIGNATURE: &str = "X-Cal-Signature-256";
const JOB: &str = "http-caldotcom";
/// How long a run may take to succeed, or a log line to appear.
const WAIT: Duration = Duration::from_secs(15);

// ---- helpers ----------------------------------------------------------------------------------

/// The example with `CALDOTCOM_SECRET` set.
fn caldotcom() -> ServerBuilder {
    Server::builder(PACKAGE).env("CALDOTCOM_SECRET", SECRET)
}

fn booking_bytes() -> Vec<u8> {
    serde_json::to_vec(&booking()).expect("JSON")
}

fn booking() -> Value {
    json!({
        "triggerEvent": "BOOKING_CREATED",
        "createdAt": "2024-05-01T10:00:00.000Z",
        "payload": {
            "title": "30 min meeting between Ada and Grace",
            "startTime": "2024-05-02T09:00:00Z",
            "attendees": [{ "name": "Ada", "email": "ada@example.com", "timeZone": "Europe/London" }],
            "uid": "bk_e2e_1"
        }
    })
}

/// JSON of exactly `len` bytes: `{"pad":"xxx…"}`.
fn json_of_len(len: usize) -> Vec<u8> {
    let body = format!(r#"{{"pad":"{}"}}"#, "x".repeat(len - r#"{"pad":""}"#.len()));
    assert_eq!(body.len(), len);
    body.into_bytes()
}

/// POSTs `body` to the Cal.com endpoint with `signature` (if any) and `extra` headers.
fn post(server: &Server, body: &[u8], signature: Option<&str>, extra: &[(&str, &str)]) -> Response {
    let mut headers = vec![("Content-Type", "application/json")];
    headers.extend(signature.map(|s| (SIGNATURE, s)));
    headers.extend_from_slice(extra);
    server.send("POST", ENDPOINT, &headers, body)
}

/// POSTs `body` signed with the server's secret.
fn post_signed(server: &Server, body: &[u8], extra: &[(&str, &str)]) -> Response {
    post(server, body, Some(&sign(SECRET, body)), extra)
}

/// Asserts `response` has `status` and returns its JSON body.
#[track_caller]
fn expect(response: &Response, status: u16) -> Value {
    assert_eq!(response.status, status, "unexpected answer: {response}");
    let content_type = response.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "not JSON ({content_type:?}): {response}"
    );
    response.json()
}

/// Asserts `response` is `status` with `{"error": …}` containing `needle`; returns the error.
#[track_caller]
fn expect_error(response: &Response, status: u16, needle: &str) -> String {
    let json = expect(response, status);
    let error = json["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no \"error\" string in {json}"));
    assert!(
        error.contains(needle),
        "error {error:?} does not mention {needle:?}"
    );
    error.to_owned()
}

/// The run ids in an ingest answer, checking each run is of the Cal.com job.
#[track_caller]
fn run_ids(accepted: &Value) -> Vec<String> {
    let runs = accepted["runs"]
        .as_array()
        .unwrap_or_else(|| panic!("no runs in {accepted}"));
    runs.iter()
        .map(|run| {
            assert_eq!(run["job"], JOB, "a run of another job in {accepted}");
            run["id"]
                .as_str()
                .unwrap_or_else(|| panic!("a run without id in {accepted}"))
                .to_owned()
        })
        .collect()
}

// ---- tests ------------------------------------------------------------------------------------

#[test]
fn signed_booking_runs_the_job_which_logs_the_body() {
    let server = caldotcom().start();
    let body = booking_bytes();

    let accepted = expect(&post_signed(&server, &body, &[]), 200);
    assert_eq!(accepted["duplicate"], false, "{accepted}");
    let event_id = accepted["event_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no event_id in {accepted}"));
    let runs = run_ids(&accepted);
    assert_eq!(runs.len(), 1, "expected exactly one run: {accepted}");

    let run = server.wait_for_run_status(&runs[0], "succeeded", WAIT);
    assert_eq!(run["id"], runs[0].as_str(), "{run}");
    assert_eq!(run["job"], JOB, "{run}");
    assert_eq!(run["event_id"], event_id, "{run}");
    assert_eq!(run["attempts"], 1, "{run}");
    let logs = run["logs"]
        .as_array()
        .unwrap_or_else(|| panic!("no logs in {run}"));
    let body_line = logs
        .iter()
        .find(|l| l["message"] == "Body")
        .unwrap_or_else(|| panic!("no \"Body\" line in {run}"));
    assert_eq!(body_line["level"], "info", "{body_line}");
    assert_eq!(
        body_line["data"],
        booking(),
        "the logged body differs from the one sent"
    );

    // The job's log line is echoed on stderr with its job, run and data.
    let line = server.wait_for_log(&format!("run={}", runs[0]), WAIT);
    assert!(
        line.contains("Body") && line.contains(&format!("job={JOB}")),
        "unexpected echo: {line}"
    );
    let echoed = line.split_once("data=").map(|(_, data)| data.trim());
    let echoed: Value = echoed
        .and_then(|d| serde_json::from_str(d).ok())
        .unwrap_or_else(|| panic!("no JSON data in {line:?}"));
    assert_eq!(
        echoed,
        booking(),
        "the echoed data differs from the body sent: {line}"
    );
}

#[test]
fn signatures_are_verified() {
    let server = caldotcom().start();
    let body = booking_bytes();

    let wrong_key = sign("not-the-secret", &body);
    expect_error(&post(&server, &body, Some(&wrong_key), &[]), 401, SIGNATURE);

    let tampered = serde_json::to_vec(&json!({ "triggerEvent": "BOOKING_CANCELLED" })).unwrap();
    expect_error(
        &post(&server, &tampered, Some(&sign(SECRET, &body)), &[]),
        401,
        SIGNATURE,
    );

    expect_error(
        &post(&server, &body, Some("not hex at all"), &[]),
        401,
        SIGNATURE,
    );

    let missing = expect_error(&post(&server, &body, None, &[]), 401, SIGNATURE);
    assert_eq!(missing, "missing signature header X-Cal-Signature-256");

    let upper = sign(SECRET, &body).to_uppercase();
    let accepted = expect(&post(&server, &body, Some(&upper), &[]), 200);
    assert_eq!(run_ids(&accepted).len(), 1, "{accepted}");
}

#[test]
fn unknown_endpoints_are_404_and_health_is_ok() {
    let server = caldotcom().start();
    let body = booking_bytes();

    let signature = sign(SECRET, &body);
    let unknown = server.send(
        "POST",
        "/endpoints/no-such-endpoint",
        &[(SIGNATURE, &signature)],
        &body,
    );
    expect_error(&unknown, 404, "no-such-endpoint");
    expect_error(&server.get("/no/such/route"), 404, "no such route");

    assert_eq!(
        expect(&server.get("/healthz"), 200),
        json!({ "status": "ok" })
    );
}

#[test]
fn bodies_over_the_limit_are_413() {
    let server = caldotcom().env("TRIGGER_BODY_LIMIT", "1KiB").start();

    // Declared too large by Content-Length: rejected before the body is read.
    let over = json_of_len(1025);
    expect_error(&post_signed(&server, &over, &[]), 413, "1024 bytes");

    // No Content-Length (chunked): rejected while reading.
    let big = json_of_len(4000);
    let signature = sign(SECRET, &big);
    let headers = [
        ("Transfer-Encoding", "chunked"),
        (SIGNATURE, signature.as_str()),
    ];
    expect_error(
        &post(&server, &chunked(&big), None, &headers),
        413,
        "1024 bytes",
    );

    // Exactly at the limit, either way: accepted.
    let at_limit = json_of_len(1024);
    let accepted = expect(&post_signed(&server, &at_limit, &[]), 200);
    assert_eq!(run_ids(&accepted).len(), 1, "{accepted}");
    let signature = sign(SECRET, &at_limit);
    let headers = [
        ("Transfer-Encoding", "chunked"),
        (SIGNATURE, signature.as_str()),
    ];
    expect(&post(&server, &chunked(&at_limit), None, &headers), 200);

    let run = server.wait_for_run_status(&run_ids(&accepted)[0], "succeeded", WAIT);
    let logged = run["logs"]
        .as_array()
        .and_then(|l| l.iter().find(|l| l["message"] == "Body").cloned());
    assert_eq!(
        logged.map(|l| l["data"].clone()),
        Some(serde_json::from_slice(&at_limit).unwrap()),
        "{run}"
    );
}

#[test]
fn without_the_secret_the_server_starts_and_rejects_every_request() {
    let server = Server::builder(PACKAGE)
        .env_remove("CALDOTCOM_SECRET")
        .start();
    server.wait_for_stdout("secret: NOT SET: set CALDOTCOM_SECRET", WAIT);
    server.wait_for_log("secret not configured: set CALDOTCOM_SECRET", WAIT);

    let body = booking_bytes();
    for signature in [Some(sign(SECRET, &body)), Some(sign("", &body)), None] {
        let error = expect_error(
            &post(&server, &body, signature.as_deref(), &[]),
            401,
            "CALDOTCOM_SECRET",
        );
        assert_eq!(error, "secret not configured: set CALDOTCOM_SECRET");
    }
}

#[test]
fn a_repeated_idempotency_key_is_a_duplicate_with_the_same_runs() {
    let server = caldotcom().start();
    let body = booking_bytes();
    let key = [("Idempotency-Key", "delivery-e2e-1")];

    let first = expect(&post_signed(&server, &body, &key), 200);
    assert_eq!(first["duplicate"], false, "{first}");
    assert_eq!(run_ids(&first).len(), 1, "{first}");

    let second = expect(&post_signed(&server, &body, &key), 200);
    assert_eq!(second["duplicate"], true, "{second}");
    assert_eq!(
        second["event_id"], first["event_id"],
        "a duplicate must name the original event"
    );
    assert_eq!(
        run_ids(&second),
        run_ids(&first),
        "a duplicate must not create runs"
    );

    // The event still has its one run, which runs once.
    let event_id = first["event_id"].as_str().unwrap();
    let event = expect(&server.get(&format!("/api/v1/events/{event_id}")), 200);
    assert_eq!(event["runs"].as_array().map(Vec::len), Some(1), "{event}");
    let run = server.wait_for_run_status(&run_ids(&first)[0], "succeeded", WAIT);
    assert_eq!(run["attempts"], 1, "{run}");

    // Another key is another delivery.
    let other = expect(
        &post_signed(&server, &body, &[("Idempotency-Key", "delivery-e2e-2")]),
        200,
    );
    assert_eq!(other["duplicate"], false, "{other}");
    assert_ne!(other["event_id"], first["event_id"], "{other}");
    assert_ne!(run_ids(&other), run_ids(&first), "{other}");
}

#[test]
fn the_api_key_guards_the_api_but_not_ingest() {
    let server = caldotcom().env("TRIGGER_API_KEY", "e2e-api-key").start();

    expect_error(
        &server.send("GET", "/api/v1/runs/x", &[], b""),
        401,
        "API key",
    );
    let wrong = [("Authorization", "Bearer not-the-key")];
    expect_error(
        &server.send("GET", "/api/v1/runs/x", &wrong, b""),
        401,
        "API key",
    );
    let right = [("Authorization", "Bearer e2e-api-key")];
    expect_error(
        &server.send("GET", "/api/v1/runs/x", &right, b""),
        404,
        "no run",
    );

    // Ingest is guarded by the signature, not the API key; `get` sends the key.
    let body = booking_bytes();
    let accepted = expect(&post_signed(&server, &body, &[]), 200);
    server.wait_for_run_status(&run_ids(&accepted)[0], "succeeded", WAIT);
}

#[test]
fn sigterm_shuts_down_cleanly() {
    let mut server = caldotcom().start();
    let body = booking_bytes();
    let accepted = expect(&post_signed(&server, &body, &[]), 200);
    server.wait_for_run_status(&run_ids(&accepted)[0], "succeeded", WAIT);

    let kill = Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .expect("run `kill`");
    assert!(
        kill.success(),
        "`kill -TERM {}` failed: {kill}",
        server.pid()
    );
    let status = server.wait_for_exit(Duration::from_secs(10));
    let status = status.unwrap_or_else(|| panic!("the server did not exit within 10 s of SIGTERM"));
    assert!(
        status.success(),
        "the server exited with {status} after SIGTERM"
    );
    server.wait_for_log("shutting down", WAIT);
    server.wait_for_log("stopped", WAIT);
}

/// The jobs of an ingest answer's runs, sorted, with their run ids.
fn jobs_of(accepted: &Value) -> Vec<(String, String)> {
    let mut jobs: Vec<(String, String)> = accepted["runs"]
        .as_array()
        .unwrap_or_else(|| panic!("no runs in {accepted}"))
        .iter()
        .map(|run| {
            (
                run["job"].as_str().unwrap_or_default().to_owned(),
                run["id"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    jobs.sort();
    jobs
}

#[test]
fn filters_start_exactly_the_matching_jobs_and_explain_the_others() {
    let server = caldotcom().start();
    let cancelled = json!({
        "triggerEvent": "BOOKING_CANCELLED",
        "payload": { "uid": "bk_e2e_2", "cancellationReason": "double-booked" }
    });
    let body = serde_json::to_vec(&cancelled).expect("JSON");
    let accepted = expect(&post_signed(&server, &body, &[]), 200);
    let jobs = jobs_of(&accepted);
    let names: Vec<&str> = jobs.iter().map(|(job, _)| job.as_str()).collect();
    assert_eq!(names, ["booking-cancelled", JOB], "{accepted}");
    for (_, run) in &jobs {
        server.wait_for_run_status(run, "succeeded", WAIT);
    }
    let cancelled_run = server.wait_for_run_status(&jobs[0].1, "succeeded", WAIT);
    assert_eq!(
        cancelled_run["logs"][0]["message"], "Cancelled",
        "{cancelled_run}"
    );
    assert_eq!(
        cancelled_run["logs"][0]["data"],
        json!({ "uid": "bk_e2e_2", "reason": "double-booked" })
    );

    let created = expect(&post_signed(&server, &booking_bytes(), &[]), 200);
    let names: Vec<String> = jobs_of(&created).into_iter().map(|(job, _)| job).collect();
    assert_eq!(names, [JOB], "{created}");
    let event = expect(
        &server.get(&format!(
            "/api/v1/events/{}",
            created["event_id"].as_str().unwrap_or_default()
        )),
        200,
    );
    assert_eq!(
        event["jobs"],
        json!([
            { "job": JOB, "matched": true },
            {
                "job": "booking-cancelled",
                "matched": false,
                "reason": "body.triggerEvent: \"BOOKING_CREATED\" is not one of [\"BOOKING_CANCELLED\"]"
            }
        ]),
        "{event}"
    );
}

#[test]
fn without_an_api_key_it_refuses_to_listen_beyond_loopback() {
    let binary = trigger_tests::package_binary(PACKAGE, PACKAGE);
    let mut command = trigger_tests::clean_command(&binary);
    command
        .args(["--host", "0.0.0.0", "--port", "0"])
        .env("CALDOTCOM_SECRET", SECRET)
        .current_dir(std::env::temp_dir());
    let finished = trigger_tests::run_to_exit(&mut command, WAIT);
    assert!(!finished.status.success(), "{}", finished.output());
    assert!(
        finished.stderr.contains("set TRIGGER_API_KEY")
            && finished.stderr.contains("--insecure-open-api"),
        "{}",
        finished.output()
    );
}

#[test]
fn the_keyless_api_refuses_a_foreign_host_and_never_shows_a_signature() {
    // The secret is pasted with a newline, as from a file: it is used without it.
    let server = Server::builder(PACKAGE)
        .env("CALDOTCOM_SECRET", &format!(" {SECRET}\n"))
        .start();
    let body = booking_bytes();
    let signature = sign(SECRET, &body);
    let accepted = expect(&post(&server, &body, Some(&signature), &[]), 200);
    let path = format!(
        "/api/v1/events/{}",
        accepted["event_id"].as_str().unwrap_or_default()
    );

    let rebound = server.send("GET", &path, &[("Host", "attacker.example:3000")], b"");
    expect_error(&rebound, 403, "localhost");

    let event = expect(
        &server.send("GET", &path, &[("Host", "localhost:3000")], b""),
        200,
    );
    let shown = event.to_string();
    assert!(
        !shown.contains(&signature),
        "the signature is shown: {shown}"
    );
    let headers = event["headers"].as_array().cloned().unwrap_or_default();
    assert!(
        headers.contains(&json!(["x-cal-signature-256", "[redacted]"])),
        "{event}"
    );
}

#[test]
fn a_database_locked_by_another_process_answers_503_then_recovers() {
    let dir = trigger_tests::TempDir::new("locked");
    let server = caldotcom().current_dir(dir.path()).start();
    let first = booking_bytes();
    let accepted = expect(&post_signed(&server, &first, &[]), 200);

    let locker = rusqlite::Connection::open(dir.join(".trigger/trigger.db")).expect("open");
    locker
        .execute_batch("BEGIN IMMEDIATE")
        .expect("take the write lock");
    let started = std::time::Instant::now();
    let body = json_of_len(64);
    let refused = post_signed(&server, &body, &[]);
    let waited = started.elapsed();
    expect_error(&refused, 503, "cannot take writes");
    assert_eq!(refused.header("retry-after"), Some("1"), "{refused}");
    assert!(waited < Duration::from_secs(6), "answered after {waited:?}");
    expect_error(&server.get("/readyz"), 503, "");

    locker.execute_batch("ROLLBACK").expect("release the lock");
    drop(locker);
    assert_eq!(server.get("/readyz").status, 200);
    let again = expect(&post_signed(&server, &body, &[]), 200);
    for accepted in [&accepted, &again] {
        let id = accepted["event_id"].as_str().unwrap_or_default();
        expect(&server.get(&format!("/api/v1/events/{id}")), 200);
    }
}

#[test]
fn events_older_than_the_retention_are_pruned_once_their_runs_finish() {
    let server = caldotcom().args(&["--retention", "1s"]).start();
    let accepted = expect(&post_signed(&server, &booking_bytes(), &[]), 200);
    let runs = run_ids(&accepted);
    server.wait_for_run_status(&runs[0], "succeeded", WAIT);
    let path = format!(
        "/api/v1/events/{}",
        accepted["event_id"].as_str().unwrap_or_default()
    );
    let gone = trigger_tests::poll_until(WAIT, || (server.get(&path).status == 404).then_some(()));
    assert!(gone.is_some(), "the event is still there after {WAIT:?}");
    assert_eq!(server.get(&format!("/api/v1/runs/{}", runs[0])).status, 404);
}
