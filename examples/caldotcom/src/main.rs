//! Cal.com webhooks, verified and logged by a job; cancellations also start a second job,
//! through a filter.
//!
//! Run with `cargo run -p example-caldotcom`, with the webhook secret in `CALDOTCOM_SECRET`
//! (or in a `.env` file), and point Cal.com's webhook at `/endpoints/cal.com`.

use trigger_runtime::prelude::*;

/// mimalloc instead of the system's malloc: a webhook and its run cost 12-16 % less server CPU
/// than with glibc's (see the README's Performance section). Any allocator works; this is the
/// binary's choice, not the runtime's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Cal.com signs the raw body with HMAC-SHA256 and sends it hex-encoded.
#[http_endpoint(
    id = "cal.com",
    source = "cal.com",
    icon = "caldotcom",
    title = "Cal.com",
    header = "X-Cal-Signature-256",
    secret = "CALDOTCOM_SECRET"
)]
fn caldotcom();

/// Logs every booking event's body.
#[job(id = "http-caldotcom", name = "HTTP Cal.com", version = "1.0.0", trigger = caldotcom)]
async fn http_caldotcom(request: Request, io: Io, _ctx: Context) -> Result<()> {
    let body: serde_json::Value = request.json()?;
    io.logger.info("Body", &body);
    Ok(())
}

/// A Cal.com booking webhook, as much of it as the cancellation job reads.
#[derive(Debug, serde::Deserialize)]
struct Booking {
    payload: Payload,
}

#[derive(Debug, serde::Deserialize)]
struct Payload {
    uid: String,
    #[serde(rename = "cancellationReason", default)]
    cancellation_reason: Option<String>,
}

/// Only for cancelled bookings (through its filter): logs which booking was cancelled, and
/// why. Its body arrives typed: a booking without a `payload.uid` fails the run at once, with
/// that path in its error.
#[job(
    id = "booking-cancelled",
    name = "Booking cancelled",
    version = "1.0.0",
    trigger = caldotcom,
    filter = { "body": { "triggerEvent": ["BOOKING_CANCELLED"] } },
    example = "payloads/booking_cancelled.json"
)]
async fn booking_cancelled(Json(booking): Json<Booking>, io: Io, _ctx: Context) -> Result<()> {
    let Payload {
        uid,
        cancellation_reason,
    } = booking.payload;
    io.logger.info(
        "Cancelled",
        serde_json::json!({ "uid": uid, "reason": cancellation_reason }),
    );
    Ok(())
}

/// `#[tokio::main]` works too; this runtime leaves a core to the SQLite store's writer thread.
fn main() -> trigger_runtime::Result<()> {
    trigger_runtime::runtime()?.block_on(trigger_runtime::run())
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use trigger_runtime::io::LogLevel;
    use trigger_runtime::testing::{TestContext, TestRequest, test_io};

    use super::*;

    fn booking() -> serde_json::Value {
        json!({
            "triggerEvent": "BOOKING_CREATED",
            "payload": { "title": "30 min meeting", "attendees": [{ "name": "Ada" }] }
        })
    }

    #[tokio::test]
    async fn logs_the_body() {
        let request = TestRequest::post().json(&booking()).build();
        let (io, logs) = test_io();
        http_caldotcom(request, io, TestContext::new("http-caldotcom").build())
            .await
            .unwrap();
        assert!(logs.contains(LogLevel::Info, "Body"));
        assert_eq!(logs.find("Body").unwrap().data, booking());
    }

    #[tokio::test]
    async fn a_cancellation_logs_its_booking_and_reason() {
        // A typed job is called with the typed value.
        let booking = Booking {
            payload: Payload {
                uid: "bk_1".to_owned(),
                cancellation_reason: Some("double-booked".to_owned()),
            },
        };
        let (io, logs) = test_io();
        booking_cancelled(
            Json(booking),
            io,
            TestContext::new("booking-cancelled").build(),
        )
        .await
        .unwrap();
        assert_eq!(
            logs.find("Cancelled").unwrap().data,
            json!({ "uid": "bk_1", "reason": "double-booked" })
        );
    }

    #[test]
    fn a_cancellation_without_a_uid_does_not_fit_and_says_where() {
        let body = json!({ "triggerEvent": "BOOKING_CANCELLED", "payload": { "reason": "x" } });
        let error =
            Json::<Booking>::from_request(&TestRequest::post().json(&body).build()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the body does not fit the job's type: payload: missing field `uid` at line 1 column 25"
        );
    }

    #[tokio::test]
    async fn the_example_payload_is_a_cancellation_the_job_takes() {
        let registry = trigger_runtime::registry::Registry::from_inventory().unwrap();
        let job = registry.job("booking-cancelled").unwrap();
        let request = TestRequest::example(job).build();
        let route = registry.route("cal.com", &request);
        assert!(route.matched.iter().any(|j| j.id() == "booking-cancelled"));
        let booking = Json::<Booking>::from_request(&request).unwrap();
        let (io, logs) = test_io();
        booking_cancelled(booking, io, TestContext::new("booking-cancelled").build())
            .await
            .unwrap();
        assert_eq!(
            logs.find("Cancelled").unwrap().data,
            json!({ "uid": "bk_8a7d", "reason": "double-booked" })
        );
    }

    #[test]
    fn only_cancellations_start_the_cancellation_job() {
        let registry = trigger_runtime::registry::Registry::from_inventory().unwrap();
        let route = |event: &str| {
            let request = TestRequest::post()
                .json(&json!({ "triggerEvent": event }))
                .build();
            let route = registry.route("cal.com", &request);
            let mut jobs: Vec<&str> = route.matched.iter().map(|job| job.id()).collect();
            jobs.sort_unstable();
            jobs
        };
        assert_eq!(route("BOOKING_CREATED"), ["http-caldotcom"]);
        assert_eq!(
            route("BOOKING_CANCELLED"),
            ["booking-cancelled", "http-caldotcom"]
        );
    }

    #[tokio::test]
    async fn rejects_a_body_that_is_not_json() {
        let request = TestRequest::post().body("not json").build();
        let (io, logs) = test_io();
        let error = http_caldotcom(request, io, TestContext::new("http-caldotcom").build())
            .await
            .unwrap_err();
        assert!(error.to_string().contains("not valid JSON"), "{error}");
        assert!(logs.lines().is_empty());
    }

    #[tokio::test]
    async fn a_signed_request_verifies_and_a_tampered_one_does_not() {
        let secret = Secret::new("whsec_test");
        let signed = TestRequest::post()
            .json(&booking())
            .signed(&caldotcom, "whsec_test")
            .build();
        assert_eq!(
            caldotcom.verify_with_secret(&signed, &secret).await,
            Verification::Verified
        );

        let signature = signed.header("x-cal-signature-256").unwrap().to_owned();
        let tampered = TestRequest::post()
            .json(&json!({ "triggerEvent": "BOOKING_CANCELLED" }))
            .header("X-Cal-Signature-256", &signature)
            .build();
        let verdict = caldotcom.verify_with_secret(&tampered, &secret).await;
        assert_eq!(
            verdict.reason(),
            Some("signature in X-Cal-Signature-256 does not match the body")
        );

        let wrong_secret = caldotcom
            .verify_with_secret(&signed, &Secret::new("other"))
            .await;
        assert!(!wrong_secret.is_verified());
    }
}
