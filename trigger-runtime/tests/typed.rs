//! Typed jobs: the first parameter made from the request by `FromRequest` (each extractor,
//! success and failure, tuples, a type of the user's), and retry control from the job
//! (`Permanent`, `RetryAfter`) through real workers.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::body::Body;
use common::{drain, get, secret, send, server, signed};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use trigger_runtime::job::ExtractError;
use trigger_runtime::prelude::*;
use trigger_runtime::registry::Registry;
use trigger_runtime::testing::TestRequest;

#[derive(Debug, Deserialize, PartialEq)]
struct Booking {
    #[serde(rename = "triggerEvent")]
    trigger_event: String,
    payload: Payload,
}

#[derive(Debug, Deserialize, PartialEq)]
struct Payload {
    attendees: Vec<Attendee>,
}

#[derive(Debug, Deserialize, PartialEq)]
struct Attendee {
    email: String,
}

#[derive(Debug, Deserialize, PartialEq)]
struct Params {
    tenant: String,
}

#[derive(Debug, Deserialize, PartialEq)]
struct Signup {
    name: String,
    age: u32,
}

fn booking_json() -> Value {
    json!({ "triggerEvent": "BOOKING_CREATED", "payload": { "attendees": [{ "email": "ada@example.com" }] } })
}

#[test]
fn json_takes_the_body_as_its_type() {
    let request = TestRequest::post().json(&booking_json()).build();
    let Json(booking) = Json::<Booking>::from_request(&request).unwrap();
    assert_eq!(booking.payload.attendees[0].email, "ada@example.com");
}

#[test]
fn a_body_that_does_not_fit_says_which_field() {
    let body = json!({ "triggerEvent": "X", "payload": { "attendees": [{ "name": "Ada" }] } });
    let request = TestRequest::post().json(&body).build();
    let error = Json::<Booking>::from_request(&request).unwrap_err();
    assert_eq!(error.part(), "body");
    let text = error.to_string();
    assert!(
        text.starts_with(
            "the body does not fit the job's type: payload.attendees[0]: missing field `email`"
        ),
        "{text}"
    );
    let wrong_type = TestRequest::post()
        .json(&json!({ "triggerEvent": 7, "payload": { "attendees": [] } }))
        .build();
    let text = Json::<Booking>::from_request(&wrong_type)
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("triggerEvent: invalid type: integer `7`"),
        "{text}"
    );
    let not_json = TestRequest::post().body("{").build();
    assert!(Json::<Value>::from_request(&not_json).is_err());
    let trailing = TestRequest::post().body("{} {}").build();
    assert!(
        Json::<Value>::from_request(&trailing).is_err(),
        "trailing characters"
    );
}

#[test]
fn form_query_text_and_bytes() {
    let form = TestRequest::post().body("name=Ada&age=36").build();
    let Form(signup) = Form::<Signup>::from_request(&form).unwrap();
    assert_eq!(
        signup,
        Signup {
            name: "Ada".to_owned(),
            age: 36
        }
    );
    let bad = TestRequest::post().body("name=Ada&age=old").build();
    let text = Form::<Signup>::from_request(&bad).unwrap_err().to_string();
    assert!(
        text.starts_with("the body does not fit the job's type: age: "),
        "{text}"
    );

    let query = TestRequest::post()
        .url("http://h/endpoints/x?tenant=acme")
        .build();
    let Query(params) = Query::<Params>::from_request(&query).unwrap();
    assert_eq!(params.tenant, "acme");
    let missing = Query::<Params>::from_request(&form).unwrap_err();
    assert_eq!(missing.part(), "query string");
    assert!(
        missing.to_string().contains("missing field `tenant`"),
        "{missing}"
    );

    let Text(text) = Text::from_request(&form).unwrap();
    assert_eq!(text, "name=Ada&age=36");
    let binary = TestRequest::post().body(vec![0xff, 0x00]).build();
    assert!(Text::from_request(&binary).is_err());
    assert_eq!(&Bytes::from_request(&binary).unwrap()[..], [0xff, 0x00]);
}

#[test]
fn tuples_take_several_parts_and_fail_on_the_first_that_does_not_fit() {
    let request = TestRequest::post()
        .url("http://h/endpoints/x?tenant=acme")
        .json(&booking_json())
        .build();
    let (Json(booking), Query(params), raw) =
        <(Json<Booking>, Query<Params>, Request)>::from_request(&request).unwrap();
    assert_eq!(
        (booking.trigger_event.as_str(), params.tenant.as_str()),
        ("BOOKING_CREATED", "acme")
    );
    assert_eq!(raw.body(), request.body());
    let no_query = TestRequest::post().json(&booking_json()).build();
    let error = <(Json<Booking>, Query<Params>)>::from_request(&no_query).unwrap_err();
    assert_eq!(error.part(), "query string");
}

/// A type of the user's: the tenant from a header.
struct Tenant(String);

impl FromRequest for Tenant {
    fn from_request(request: &Request) -> std::result::Result<Self, ExtractError> {
        match request.header("x-tenant") {
            Some(tenant) => Ok(Self(tenant.to_owned())),
            None => Err(ExtractError::new("headers", "no X-Tenant header")),
        }
    }
}

#[http_endpoint(id = "typed", header = "X-Sig")]
fn typed();

#[job(
    id = "typed-booking",
    trigger = typed,
    retries = 3,
    example = "tests/payloads/booking.json"
)]
async fn typed_booking(Json(booking): Json<Booking>, io: Io, _ctx: Context) -> Result<()> {
    io.logger
        .info("attendee", &booking.payload.attendees[0].email);
    Ok(())
}

#[job(id = "tenant", trigger = typed, retries = 3)]
async fn tenant(Tenant(tenant): Tenant, io: Io, _ctx: Context) -> Result<String> {
    io.logger.info("tenant", &tenant);
    Ok(tenant)
}

static GIVE_UP: AtomicU32 = AtomicU32::new(0);

#[http_endpoint(id = "flaky", header = "X-Sig")]
fn flaky();

#[job(id = "give-up", trigger = flaky, retries = 5, backoff = "1ms..5ms")]
async fn give_up(_request: Request, _io: Io, _ctx: Context) -> Result<()> {
    GIVE_UP.fetch_add(1, Ordering::SeqCst);
    Err(Permanent("the account is closed".into()).into())
}

#[job(id = "later", trigger = flaky, retries = 2, backoff = "1ms..5ms")]
async fn later(_request: Request, _io: Io, ctx: Context) -> Result<u32> {
    if ctx.attempt() == 1 {
        return Err(RetryAfter(Duration::from_millis(300), "rate limited".into()).into());
    }
    Ok(ctx.attempt())
}

async fn deliver(
    app: &trigger_runtime::server::Server,
    endpoint: &str,
    body: &Value,
    tenant: Option<&str>,
) -> Value {
    let endpoint_static = match endpoint {
        "typed" => &typed,
        _ => &flaky,
    };
    let bytes = body.to_string();
    let mut request = signed(endpoint_static, &secret(app, endpoint), bytes.as_bytes());
    if let Some(tenant) = tenant {
        request = request.header("x-tenant", tenant);
    }
    let reply = send(app, request.body(Body::from(bytes)).unwrap()).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    reply.json
}

async fn run_of(app: &trigger_runtime::server::Server, accepted: &Value, job: &str) -> Value {
    let runs = accepted["runs"].as_array().unwrap();
    let id = runs.iter().find(|r| r["job"] == job).unwrap()["id"]
        .as_str()
        .unwrap();
    get(app, &format!("/api/v1/runs/{id}")).await.json
}

#[tokio::test]
async fn a_request_that_does_not_fit_fails_the_run_at_once_with_the_path() {
    let app = server(Registry::from_inventory().unwrap(), common::config()).await;
    let bad = json!({ "triggerEvent": "X", "payload": { "attendees": [{}] } });
    let accepted = deliver(&app, "typed", &bad, None).await;
    drain(&app).await;
    let run = run_of(&app, &accepted, "typed-booking").await;
    assert_eq!(
        (&run["status"], &run["attempts"]),
        (&json!("failed"), &json!(1)),
        "{run}"
    );
    let error = run["error"].as_str().unwrap();
    assert!(
        error.contains("payload.attendees[0]: missing field `email`")
            && error.contains("permanent"),
        "{error}"
    );
    let tenant = run_of(&app, &accepted, "tenant").await;
    assert_eq!(tenant["status"], "failed", "{tenant}");
    assert!(
        tenant["error"]
            .as_str()
            .unwrap()
            .contains("no X-Tenant header"),
        "{tenant}"
    );

    let accepted = deliver(&app, "typed", &booking_json(), Some("acme")).await;
    drain(&app).await;
    assert_eq!(
        run_of(&app, &accepted, "typed-booking").await["status"],
        "succeeded"
    );
    let tenant = run_of(&app, &accepted, "tenant").await;
    assert_eq!(
        (&tenant["status"], &tenant["output"]),
        (&json!("succeeded"), &json!("acme"))
    );
}

#[tokio::test]
async fn permanent_fails_now_and_retry_after_waits_as_asked() {
    let app = server(Registry::from_inventory().unwrap(), common::config()).await;
    let accepted = deliver(&app, "flaky", &json!({}), None).await;
    drain(&app).await;
    let gave_up = run_of(&app, &accepted, "give-up").await;
    assert_eq!(
        (&gave_up["status"], &gave_up["attempts"]),
        (&json!("failed"), &json!(1)),
        "{gave_up}"
    );
    assert_eq!(GIVE_UP.load(Ordering::SeqCst), 1, "no second attempt");
    assert_eq!(
        gave_up["history"][0]["error"],
        "the account is closed (permanent: not retried)"
    );

    let later = run_of(&app, &accepted, "later").await;
    assert_eq!(
        (&later["status"], &later["output"]),
        (&json!("succeeded"), &json!(2)),
        "{later}"
    );
    let first = &later["history"][0];
    assert_eq!(
        first["error"],
        "rate limited (retried after 300ms, as the job asked)"
    );
    let ms = |v: &Value| millis_of_day(v.as_str().unwrap());
    let waited = ms(&later["history"][1]["started_at"]) - ms(&first["finished_at"]);
    assert!(
        waited >= 290,
        "the retry waited {waited} ms, not the 1–5 ms backoff"
    );
}

/// Milliseconds of an RFC 3339 UTC time of the API (`2026-12-03T14:47:38.283Z`) within its day.
fn millis_of_day(time: &str) -> i64 {
    let clock = time.split('T').nth(1).unwrap().trim_end_matches('Z');
    let mut parts = clock.split(':');
    let (h, m, s): (i64, i64, f64) = (
        parts.next().unwrap().parse().unwrap(),
        parts.next().unwrap().parse().unwrap(),
        parts.next().unwrap().parse().unwrap(),
    );
    (h * 3600 + m * 60) * 1000 + (s * 1000.0).round() as i64
}

#[test]
fn the_example_is_the_job_s_payload_and_fits_its_type() {
    let registry = Registry::from_inventory().unwrap();
    let job = registry.job("typed-booking").unwrap();
    assert!(job.example().unwrap().contains("ada@example.com"));
    let request = TestRequest::example(job).build();
    assert_eq!(request.url(), "http://localhost/endpoints/typed");
    assert_eq!(request.header("content-type"), Some("application/json"));
    let Json(booking) = Json::<Booking>::from_request(&request).unwrap();
    assert_eq!(booking.payload.attendees[0].email, "ada@example.com");
    assert!(registry.job("tenant").unwrap().example().is_none());
}
