//! Expansions of both macros must not trip lints in the user's crate: this file denies a strict
//! set over them, so that `cargo clippy --all-targets -- -D warnings` fails on any warning in
//! generated code (rustc ignores the clippy lints under plain `cargo test`).

#![deny(
    warnings,
    rust_2018_idioms,
    unused_qualifications,
    unreachable_pub,
    missing_docs,
    single_use_lifetimes,
    trivial_casts,
    trivial_numeric_casts,
    unused_results,
    clippy::all,
    clippy::pedantic
)]

use trigger_runtime::prelude::*;

/// Verified from the arguments.
#[http_endpoint(
    id = "cal.com",
    source = "cal.com",
    icon = "caldotcom",
    title = "Cal.com",
    header = "X-Cal-Signature-256",
    algorithm = "sha256",
    encoding = "hex",
    prefix = "sha256=",
    secret = "CALDOTCOM_SECRET"
)]
pub fn caldotcom();

/// Verified by its body.
#[http_endpoint(id = "acme", secret = "ACME_SECRET", enabled = false)]
pub async fn acme(request: &Request, secret: &Secret) -> Verification {
    verify_request_signature(request, "X-Acme-Signature", secret, Algorithm::Sha256)
}

/// Verified by its body, with an explicit lifetime.
#[http_endpoint(id = "beta", enabled = false)]
pub async fn beta<'a>(request: &'a Request, secret: &'a Secret) -> Verification {
    verify_request_signature(request, "X-Beta-Signature", secret, Algorithm::Sha1)
}

/// Verified as Stripe signs, with a wider tolerance.
#[http_endpoint(
    id = "stripe",
    preset = "stripe",
    tolerance = "10m",
    secret = "STRIPE_SECRET"
)]
pub fn stripe();

/// Meta, with the token of its subscription check.
#[http_endpoint(
    id = "meta",
    preset = "meta",
    secret = "META_SECRET",
    verify_token = "META_VERIFY_TOKEN"
)]
pub fn meta();

/// A signed timestamp, and a handshake answered by a fn.
#[http_endpoint(
    id = "acme-timed",
    header = "X-Acme-Signature",
    encoding = "base64",
    signed = "{header:X-Acme-Id}.{timestamp}.{url}.{body}",
    timestamp_header = "X-Acme-Timestamp",
    tolerance = "0",
    respond_with = acme_handshake
)]
pub fn acme_timed();

/// Answers the sender's challenge.
#[allow(clippy::unused_async)] // a respond_with fn is async, whether it awaits or not
pub async fn acme_handshake(request: &Request, verification: &Verification) -> Respond {
    match request.header("x-acme-challenge") {
        Some(challenge) if verification.is_verified() => {
            Respond::Answer(Answer::text(challenge.to_owned()))
        }
        _ => Respond::Continue,
    }
}

/// Logs the body.
///
/// # Errors
///
/// When the body is not UTF-8.
#[job(id = "http-caldotcom", name = "HTTP Cal.com", version = "1.0.0", trigger = caldotcom)]
pub async fn http_caldotcom(request: Request, io: Io, ctx: Context) -> Result<()> {
    io.logger.info("Body", request.text()?);
    io.logger.debug("Attempt", ctx.attempt());
    Ok(())
}

/// Returns a value, with the package version.
///
/// # Errors
///
/// Never.
#[job(id = "acme-length", enabled = false, trigger = acme)]
pub async fn acme_length(request: Request, _io: Io, _ctx: Context) -> Result<usize> {
    Ok(request.body().len())
}

/// Runs for some requests only: every kind of JSON value in a filter.
///
/// # Errors
///
/// Never.
#[job(
    id = "caldotcom-created",
    trigger = caldotcom,
    filter = {
        "method": ["POST"],
        "headers": { "X-Cal-Event": [{ "$startsWith": "BOOKING_" }] },
        "query": {},
        "body": {
            "triggerEvent": ["BOOKING_CREATED", "BOOKING_RESCHEDULED"],
            "payload": {
                "length": [{ "$between": [-15, 120.5] }, { "$lt": 1e6 }],
                "price": [0, 10_000_000_000, -9_223_372_036_854_775_808, 3.14],
                "title": [{ "$not": null }, { "$anythingBut": [true, false, "a \"quoted\"\n"] }],
                "metadata": []
            }
        }
    }
)]
pub async fn caldotcom_created(_request: Request, _io: Io, _ctx: Context) -> Result<()> {
    Ok(())
}

/// Polls a future that never waits, such as these jobs and verify fns, to completion.
fn ready<F: Future>(future: F) -> F::Output {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match std::pin::pin!(future).poll(&mut cx) {
        std::task::Poll::Ready(output) => output,
        std::task::Poll::Pending => panic!("the future waited"),
    }
}

#[test]
fn expansions_compile_without_warnings() {
    use trigger_runtime::testing::{TestContext, TestRequest, test_io};

    assert_eq!(caldotcom.id(), "cal.com");
    assert_eq!(acme.id(), "acme");
    assert!(!acme.is_enabled());
    assert_eq!(beta.id(), "beta");

    let request = TestRequest::post().body("hello").build();
    let verdict = ready(acme.verify_with_secret(&request, &Secret::new("s")));
    assert!(!verdict.is_verified());

    let (io, logs) = test_io();
    ready(http_caldotcom(
        request.clone(),
        io,
        TestContext::new("http-caldotcom").build(),
    ))
    .unwrap();
    assert!(logs.find("Body").is_some());

    let (io, _) = test_io();
    let length = ready(acme_length(
        request.clone(),
        io,
        TestContext::new("acme-length").build(),
    ));
    assert_eq!(length.unwrap(), 5);

    let (io, _) = test_io();
    let run = ready(caldotcom_created(
        request,
        io,
        TestContext::new("caldotcom-created").build(),
    ));
    assert!(run.is_ok());
}

#[test]
fn filter_compiles_at_start_up() {
    let registry = trigger_runtime::registry::Registry::from_inventory().unwrap();
    let job = registry.job("caldotcom-created").unwrap();
    assert!(job.trigger().request_filter().is_some());
}
