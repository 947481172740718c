//! Handshakes and delivery ids through the router: the presets answer their senders'
//! handshakes only once verified, a `respond_with` fn answers others and chooses whether runs
//! start, a sender's signed delivery id makes a replay a duplicate, and a replay outside the
//! tolerance is refused; the clock is set, not slept on.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::body::Body;
use common::{Reply, get, post_request, secret, send, server};
use hmac::{Hmac, Mac};
use http::Method;
use serde_json::json;
use trigger_runtime::endpoint::{BoxFuture, HttpEndpoint};
use trigger_runtime::job::{BoxError, Job};
use trigger_runtime::prelude::*;
use trigger_runtime::registry::Registry;
use trigger_runtime::server::deliveries::Outcome;
use trigger_runtime::server::{Server, ServerConfig};
use trigger_runtime::time::{Clock, Timestamp};
use trigger_runtime::verify::{HmacScheme, Preset};

static SLACK: HttpEndpoint = HttpEndpoint::new("slack").with_preset(Preset::Slack);
static ZOOM: HttpEndpoint = HttpEndpoint::new("zoom").with_preset(Preset::Zoom);
static STANDARD: HttpEndpoint = HttpEndpoint::new("standard").with_preset(Preset::StandardWebhooks);
static CUSTOM: HttpEndpoint = HttpEndpoint::new("custom")
    .with_hmac(HmacScheme::new("X-Sig"))
    .with_respond_with(respond);
static PANICS: HttpEndpoint = HttpEndpoint::new("panics")
    .with_hmac(HmacScheme::new("X-Sig"))
    .with_respond_with(panics);

/// Answers `GET ?challenge=` with the challenge (signed or not: the fn's choice), and a
/// verified `ping` with `pong`, starting its runs too.
fn respond<'a>(request: &'a Request, verification: &'a Verification) -> BoxFuture<'a, Respond> {
    Box::pin(async move {
        let challenge = request
            .query()
            .pairs()
            .iter()
            .find(|(k, _)| k == "challenge");
        if let (&Method::GET, Some((_, challenge))) = (request.method(), challenge) {
            return Respond::Answer(Answer::text(challenge.clone()));
        }
        if request.body().as_ref() == b"ping" && verification.is_verified() {
            return Respond::Answer(Answer::json(&json!({ "pong": true })).with_runs());
        }
        Respond::Continue
    })
}

fn panics<'a>(_: &'a Request, _: &'a Verification) -> BoxFuture<'a, Respond> {
    Box::pin(async { panic!("a respond_with fn that panics") })
}

/// The server's clock, in seconds, which the tests move.
struct Now(Arc<AtomicI64>);

impl Now {
    fn set(&self, seconds: i64) {
        self.0.store(seconds, Ordering::SeqCst);
    }

    fn get(&self) -> Timestamp {
        Timestamp::from_unix_millis(self.0.load(Ordering::SeqCst) * 1000)
    }
}

async fn app() -> (Server, Now) {
    let seconds = Arc::new(AtomicI64::new(1_700_000_000));
    let clock = {
        let seconds = Arc::clone(&seconds);
        Clock::from_fn(move || Timestamp::from_unix_millis(seconds.load(Ordering::SeqCst) * 1000))
    };
    let jobs = [&SLACK, &ZOOM, &STANDARD, &CUSTOM, &PANICS].map(|endpoint| {
        let id: &'static str = Box::leak(format!("{}-job", endpoint.id()).into_boxed_str());
        Job::new(id, endpoint.on_request(), |_req, _io, _ctx| async {
            Ok::<_, BoxError>(())
        })
    });
    let registry = Registry::from_parts([&SLACK, &ZOOM, &STANDARD, &CUSTOM, &PANICS], jobs);
    let config = ServerConfig {
        clock,
        ..common::config()
    };
    (server(registry.unwrap(), config).await, Now(seconds))
}

/// `method /endpoints/{id}` with `headers` and `body`.
async fn deliver(
    app: &Server,
    method: Method,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> Reply {
    let mut request = http::Request::builder().method(method).uri(path);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    send(app, request.body(Body::from(body.to_vec())).unwrap()).await
}

/// The headers `endpoint`'s sender adds to `body` at `now`, with `extra` set before signing.
fn signed(
    app: &Server,
    endpoint: &HttpEndpoint,
    body: &[u8],
    extra: &[(&'static str, &str)],
    now: Timestamp,
) -> Vec<(&'static str, String)> {
    let mut headers = http::HeaderMap::new();
    for (name, value) in extra {
        headers.insert(*name, value.parse().unwrap());
    }
    let request = Request::new(Method::POST, "/", headers, body.to_vec()).unwrap();
    let secret = secret(app, endpoint.id());
    let mut all: Vec<(&'static str, String)> =
        extra.iter().map(|(n, v)| (*n, (*v).to_owned())).collect();
    all.extend(endpoint.sign_request(&request, &secret, now).unwrap());
    all
}

async fn runs(app: &Server) -> u64 {
    let stats = get(app, "/api/v1/stats").await.json;
    ["queued", "running", "succeeded", "failed", "canceled"]
        .iter()
        .map(|status| stats["runs"][status].as_u64().unwrap_or(0))
        .sum()
}

#[tokio::test]
async fn slack_url_verification_is_answered_once_verified_and_starts_nothing() {
    let (app, now) = app().await;
    let body = br#"{"token":"t","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    let headers = signed(&app, &SLACK, body, &[], now.get());
    let reply = deliver(&app, Method::POST, "/endpoints/slack", &headers, body).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.json,
        json!({ "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" })
    );
    assert_eq!(runs(&app).await, 0, "a handshake stores nothing");
    // Unsigned, it is refused like any request.
    let unsigned = deliver(&app, Method::POST, "/endpoints/slack", &[], body).await;
    assert_eq!(unsigned.status, 401);
    assert_eq!(
        unsigned.error(),
        "missing signature header X-Slack-Signature"
    );
    // An ordinary event is stored and starts its job.
    let event = br#"{"type":"event_callback","event_id":"Ev1"}"#;
    let headers = signed(&app, &SLACK, event, &[], now.get());
    let reply = deliver(&app, Method::POST, "/endpoints/slack", &headers, event).await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    assert_eq!(reply.json["runs"][0]["job"], "slack-job");

    // Each is a delivery the server remembers in memory, newest first.
    let recent: Vec<(Outcome, u16)> = app
        .deliveries()
        .recent("slack")
        .iter()
        .map(|d| (d.outcome, d.status))
        .collect();
    assert_eq!(
        recent,
        [
            (Outcome::Accepted, 200),
            (Outcome::Rejected, 401),
            (Outcome::Answered, 200)
        ]
    );
    let rejected = &app.deliveries().recent("slack")[1];
    assert_eq!(
        rejected.reason.as_deref(),
        Some("missing signature header X-Slack-Signature")
    );
}

#[tokio::test]
async fn zoom_url_validation_answers_the_hmac_of_the_plain_token() {
    let (app, now) = app().await;
    let body = br#"{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,"event":"endpoint.url_validation"}"#;
    let headers = signed(&app, &ZOOM, body, &[], now.get());
    let reply = deliver(&app, Method::POST, "/endpoints/zoom", &headers, body).await;
    assert_eq!(reply.status, 200, "{}", reply.json);
    let secret = secret(&app, "zoom");
    let mut mac =
        <Hmac<sha2::Sha256> as hmac::digest::KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(b"qgg8vlvZRS6UYooatFL8Aw");
    let expected = hex::encode(mac.finalize().into_bytes());
    assert_eq!(
        reply.json,
        json!({ "plainToken": "qgg8vlvZRS6UYooatFL8Aw", "encryptedToken": expected })
    );
    // Unsigned, the HMAC of a token the request chooses is never given out.
    let forged = deliver(&app, Method::POST, "/endpoints/zoom", &[], body).await;
    assert_eq!(forged.status, 401);
    assert_eq!(runs(&app).await, 0);
}

#[tokio::test]
async fn a_signed_delivery_id_makes_a_replay_a_duplicate_and_the_tolerance_ends_it() {
    let (app, now) = app().await;
    let body = br#"{"type":"invoice.paid"}"#;
    let headers = signed(&app, &STANDARD, body, &[("webhook-id", "msg_1")], now.get());
    let first = deliver(&app, Method::POST, "/endpoints/standard", &headers, body).await;
    assert_eq!(first.status, 200, "{}", first.json);
    assert_eq!(first.json["duplicate"], false);

    // Replayed a minute later with a fresh Idempotency-Key: the signed id wins.
    now.set(1_700_000_060);
    let mut replay = headers.clone();
    replay.push(("Idempotency-Key", "fresh-key".to_owned()));
    let second = deliver(&app, Method::POST, "/endpoints/standard", &replay, body).await;
    assert_eq!(second.status, 200);
    assert_eq!(second.json["duplicate"], true);
    assert_eq!(second.json["event_id"], first.json["event_id"]);
    assert_eq!(runs(&app).await, 1);

    // Outside the tolerance, the same delivery is refused.
    now.set(1_700_000_000 + 301);
    let late = deliver(&app, Method::POST, "/endpoints/standard", &headers, body).await;
    assert_eq!(late.status, 401);
    assert!(
        late.error().starts_with("timestamp too old"),
        "{}",
        late.error()
    );
    // A new delivery, signed now, is a new event.
    let fresh = signed(&app, &STANDARD, body, &[("webhook-id", "msg_2")], now.get());
    let reply = deliver(&app, Method::POST, "/endpoints/standard", &fresh, body).await;
    assert_eq!(
        (reply.status.as_u16(), &reply.json["duplicate"]),
        (200, &json!(false))
    );
}

#[tokio::test]
async fn respond_with_answers_and_chooses_whether_runs_start() {
    let (app, now) = app().await;
    // Its own answer, signed or not: here an unsigned GET.
    let reply = send(
        &app,
        http::Request::get("/endpoints/custom?challenge=abc")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(runs(&app).await, 0);

    // A verified ping: answered with pong, and its runs started.
    let headers = signed(&app, &CUSTOM, b"ping", &[], now.get());
    let reply = deliver(&app, Method::POST, "/endpoints/custom", &headers, b"ping").await;
    assert_eq!(
        (reply.status.as_u16(), &reply.json),
        (200, &json!({ "pong": true }))
    );
    assert_eq!(runs(&app).await, 1);

    // Unsigned, the fn continues and the request is refused.
    let reply = deliver(&app, Method::POST, "/endpoints/custom", &[], b"ping").await;
    assert_eq!(reply.status, 401);
    assert_eq!(runs(&app).await, 1);

    // A respond_with fn that panics costs its request a 500, not the server.
    let headers = signed(&app, &PANICS, b"x", &[], now.get());
    let reply = deliver(&app, Method::POST, "/endpoints/panics", &headers, b"x").await;
    assert_eq!(reply.status, 500);
    assert_eq!(reply.error(), "the endpoint's respond_with fn panicked");
}

#[test]
fn discord_pings_and_meta_subscriptions_are_answered_by_the_preset() {
    let verified = Verification::Verified;
    let unverified = Verification::rejected("no");
    let now = Timestamp::now();
    let ping = post_request(&[], br#"{"id":"1","type":1}"#);
    let pong = Preset::Discord
        .answer(&ping, &verified, &[], None, now)
        .unwrap();
    assert_eq!(
        (pong.status().as_u16(), pong.body().as_ref()),
        (200, &br#"{"type":1}"#[..])
    );
    assert_eq!(
        Preset::Discord.answer(&ping, &unverified, &[], None, now),
        None,
        "signed: only once verified"
    );
    let command = post_request(&[], br#"{"id":"2","type":2}"#);
    assert_eq!(
        Preset::Discord.answer(&command, &verified, &[], None, now),
        None
    );

    let token = Secret::new("my-verify-token");
    let subscribe = |token: &str| {
        let url = format!(
            "https://h/endpoints/meta?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444"
        );
        common::request(Method::GET, &url, &[], b"")
    };
    // Meta's check is a GET it does not sign: the token is what proves it.
    let answer = Preset::Meta
        .answer(
            &subscribe("my-verify-token"),
            &unverified,
            &[],
            Some(&token),
            now,
        )
        .unwrap();
    assert_eq!(
        (answer.status().as_u16(), answer.body().as_ref()),
        (200, &b"1158201444"[..])
    );
    assert!(!answer.starts_runs());
    let wrong = Preset::Meta
        .answer(&subscribe("guess"), &unverified, &[], Some(&token), now)
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 403);
    let unset = Preset::Meta
        .answer(&subscribe(""), &unverified, &[], None, now)
        .unwrap();
    assert_eq!(
        unset.status().as_u16(),
        403,
        "no token configured: refused, never matched by an empty one"
    );
    let event = post_request(&[("X-Hub-Signature-256", "sha256=00")], b"{}");
    assert_eq!(
        Preset::Meta.answer(&event, &verified, &[], Some(&token), now),
        None
    );
}
