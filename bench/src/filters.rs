//! The cost of filters: 20 filtered jobs on one endpoint, against a typical 2 KiB Cal.com
//! webhook, through `Registry::route` (what ingest calls): turning the request into what
//! filters see, parsing its body once, and checking every filter.

use std::hint::black_box;
use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderValue, Method};
use serde_json::{Value, json};
use trigger_runtime::endpoint::HttpEndpoint;
use trigger_runtime::filter::{Filter, Reads, RequestParts};
use trigger_runtime::job::{BoxError as JobError, Job};
use trigger_runtime::registry::Registry;
use trigger_runtime::request::Request;
use trigger_runtime::verify::HmacScheme;

use crate::client::{SIGNATURE_HEADER, Workload};
use crate::servers::SECRET_VAR;
use crate::{BoxError, proc};

/// The endpoint of the 20 filtered jobs: Cal.com's signature, with the example's secret. The
/// split server serves it beside the example's `cal.com`, so that the ingest the filters are
/// part of can be measured too.
pub(crate) static ENDPOINT: HttpEndpoint = HttpEndpoint::new("cal.com-filters")
    .with_hmac(HmacScheme::new(SIGNATURE_HEADER))
    .with_secret_env(SECRET_VAR);

/// The 2 KiB webhook sent to the example's endpoint, whose one job has no filter: the
/// cheapest ingest of that body.
pub(crate) const LARGE: Workload = Workload {
    path: Workload::BOOKING.path,
    body: large_booking_body,
};

/// The 2 KiB webhook sent to [`ENDPOINT`], through the 20 filtered jobs.
pub(crate) const FILTERED: Workload = Workload {
    path: "/endpoints/cal.com-filters",
    body: large_booking_body,
};

/// How long one request takes through the filters of 20 jobs (and, to compare, through 20
/// jobs without filters), averaged over `iterations`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FilterCost {
    pub(crate) filtered: Duration,
    pub(crate) unfiltered: Duration,
    pub(crate) body_bytes: usize,
    /// Where the time goes, each part measured alone.
    pub(crate) parts: Parts,
}

/// The parts of the filters' cost: scanning the body as JSON and keeping nothing (the floor
/// of any JSON reading), reading the fields the filters reach, and checking the 20 filters on
/// what was read (with the reasons of those that do not match).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Parts {
    pub(crate) scan: Duration,
    pub(crate) read: Duration,
    pub(crate) check: Duration,
    pub(crate) mismatches: usize,
}

/// Twenty filters of the kinds users write: event types, nested fields, operators, headers.
fn filters() -> Vec<Value> {
    let events = [
        "BOOKING_CREATED",
        "BOOKING_CANCELLED",
        "BOOKING_RESCHEDULED",
        "BOOKING_REQUESTED",
        "BOOKING_REJECTED",
        "BOOKING_PAID",
        "MEETING_ENDED",
        "MEETING_STARTED",
        "RECORDING_READY",
        "FORM_SUBMITTED",
    ];
    let mut filters: Vec<Value> = events
        .iter()
        .map(|e| json!({ "body": { "triggerEvent": [e] } }))
        .collect();
    filters.extend([
        json!({ "body": { "payload": { "length": [{ "$gte": 30 }] } } }),
        json!({ "body": { "payload": { "organizer": { "email": [{ "$endsWith": "@example.com" }] } } } }),
        json!({ "body": { "payload": { "attendees": { "email": [{ "$startsWith": "ada" }] } } } }),
        json!({ "body": { "payload": { "status": [{ "$anythingBut": ["REJECTED", "CANCELLED"] }] } } }),
        json!({ "method": ["POST"], "headers": { "Content-Type": [{ "$startsWith": "application/json" }] } }),
        json!({ "body": { "payload": { "price": [{ "$between": [0, 100] }], "currency": ["usd"] } } }),
        json!({ "query": { "tenant": ["acme"] } }),
        json!({ "body": { "payload": { "metadata": { "videoCallUrl": [{ "$exists": true }] } } } }),
        json!({ "body": { "payload": { "responses": { "name": { "value": [{ "$ignoreCaseEquals": "ADA" }] } } } } }),
        json!({ "body": { "triggerEvent": [{ "$startsWith": "BOOKING_" }], "payload": { "location": [{ "$isNull": false }] } } }),
    ]);
    filters
}

/// A Cal.com `BOOKING_CREATED` webhook of about 2 KiB, unique per `n`: the request the filters
/// are routed against, and (signed) the one whose durable ingest they are compared with.
pub(crate) fn large_booking_body(n: u64) -> String {
    let attendees: Vec<Value> = (0..6)
        .map(|i| json!({ "name": format!("Attendee {i}"), "email": format!("attendee{i}@example.com"), "timeZone": "Europe/Berlin", "language": { "locale": "en" } }))
        .collect();
    json!({
        "triggerEvent": "BOOKING_CREATED",
        "createdAt": "2024-05-01T09:00:00.000Z",
        "payload": {
            "type": "30min", "title": "30 min meeting between Ada and Bench", "description": "Quarterly planning: roadmap review, hiring plan and the budget for next year.",
            "startTime": "2024-05-02T09:00:00Z", "endTime": "2024-05-02T09:30:00Z", "length": 30,
            "organizer": { "id": 5, "name": "Bench", "email": "organizer@example.com", "username": "bench", "timeZone": "Europe/Berlin", "language": { "locale": "en" }, "timeFormat": "h:mma" },
            "attendees": attendees,
            "location": "integrations:daily", "destinationCalendar": { "id": 1, "integration": "google_calendar", "externalId": "primary" },
            "uid": format!("bookingUid-{n:010}"), "bookingId": n, "status": "ACCEPTED", "price": 0, "currency": "usd",
            "metadata": { "videoCallUrl": "https://app.cal.com/video/bookingUid-0123456789" },
            "responses": { "name": { "label": "your_name", "value": "Ada" }, "email": { "label": "email_address", "value": "ada@example.com" }, "notes": { "label": "additional_notes", "value": "Agenda: roadmap, hiring, budget for the next quarter, and anything else that comes up." } },
            "bookerUrl": "https://cal.com/bench/30min?date=2024-05-02&month=2024-05",
            "cancellationReason": null, "iCalUID": "bookingUid-0123456789@Cal.com", "iCalSequence": 0,
            "eventTypeId": 7, "seatsShowAttendees": true, "seatsPerTimeSlot": null, "team": null, "recurringEvent": null,
            "smsReminderNumber": null, "rescheduleUid": null, "hideCalendarNotes": false, "requiresConfirmation": false
        }
    })
    .to_string()
}

fn request(body: Vec<u8>) -> Result<Request, BoxError> {
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("host", "hooks.example.com"),
        ("user-agent", "Cal.com Webhooks"),
        ("content-type", "application/json"),
        ("accept", "*/*"),
        ("accept-encoding", "gzip, deflate"),
        (
            "x-cal-signature-256",
            "9f2a6c1e0b7d4a8f3e5c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e",
        ),
        ("x-forwarded-for", "203.0.113.7"),
        ("x-forwarded-proto", "https"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    Ok(Request::new(
        Method::POST,
        "https://hooks.example.com/endpoints/cal.com-filters",
        headers,
        body,
    )?)
}

/// Twenty jobs on [`ENDPOINT`] that do nothing, with the filters of [`filters`] or with none.
pub(crate) fn jobs(filtered: bool) -> Result<Vec<Job>, BoxError> {
    let mut jobs = Vec::new();
    for (i, filter) in filters().into_iter().enumerate() {
        let id: &'static str = Box::leak(format!("filtered-{i:02}").into_boxed_str());
        let trigger = if filtered {
            ENDPOINT.on_request().filter(filter)?
        } else {
            ENDPOINT.on_request()
        };
        jobs.push(Job::new(id, trigger, |_req, _io, _ctx| async {
            Ok::<_, JobError>(())
        }));
    }
    Ok(jobs)
}

fn registry(filtered: bool) -> Result<Registry, BoxError> {
    Ok(Registry::from_parts([&ENDPOINT], jobs(filtered)?)?)
}

/// The 2 KiB request and the two registries it is routed through.
pub(crate) struct Routing {
    request: Request,
    filtered: Registry,
    unfiltered: Registry,
}

impl Routing {
    pub(crate) fn new() -> Result<Self, BoxError> {
        let request = request(large_booking_body(0).into_bytes())?;
        let filtered = registry(true)?;
        if filtered.route(ENDPOINT.id(), &request).matched.is_empty() {
            return Err(
                "the sample webhook matches no filter; the benchmark would not be typical".into(),
            );
        }
        Ok(Self {
            request,
            filtered,
            unfiltered: registry(false)?,
        })
    }

    fn route(&self, filtered: bool) -> usize {
        let registry = if filtered {
            &self.filtered
        } else {
            &self.unfiltered
        };
        registry
            .route(ENDPOINT.id(), black_box(&self.request))
            .matched
            .len()
    }

    /// The filters' CPU time per request (this thread's, so that time the machine gives to
    /// others does not count): routing through the filtered jobs for about `budget` of CPU,
    /// less routing through the unfiltered ones.
    pub(crate) fn cpu_cost(&self, budget: Duration) -> Result<Duration, BoxError> {
        let per_call = |filtered: bool| -> Result<Duration, BoxError> {
            let start = proc::thread_cpu()?;
            let mut calls = 0u32;
            // Batches of 1,000 between readings: a reading costs about a microsecond.
            while proc::thread_cpu()? - start < budget {
                for _ in 0..1000 {
                    black_box(self.route(filtered));
                }
                calls += 1000;
            }
            Ok((proc::thread_cpu()? - start) / calls.max(1))
        };
        let filtered = per_call(true)?;
        Ok(filtered.saturating_sub(per_call(false)?))
    }
}

/// Measures both registries on the same request.
pub(crate) fn measure(iterations: u32) -> Result<FilterCost, BoxError> {
    let routing = Routing::new()?;
    Ok(FilterCost {
        filtered: mean(iterations, || routing.route(true)),
        unfiltered: mean(iterations, || routing.route(false)),
        body_bytes: routing.request.body().len(),
        parts: parts(routing.request.body(), iterations)?,
    })
}

/// How many rounds a measurement is split into.
const ROUNDS: u32 = 9;

/// Times `f` `iterations` times, after a tenth as many to warm up, in [`ROUNDS`] rounds; the
/// median round's time per call, so that a round slowed by the machine's other work does not
/// count.
fn mean<T>(iterations: u32, mut f: impl FnMut() -> T) -> Duration {
    for _ in 0..iterations / 10 {
        black_box(f());
    }
    let per_round = (iterations / ROUNDS).max(1);
    let mut rounds: Vec<Duration> = (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..per_round {
                black_box(f());
            }
            start.elapsed() / per_round
        })
        .collect();
    rounds.sort();
    rounds[rounds.len() / 2]
}

/// Measures the parts of [`FilterCost`] apart, with the same filters and body.
fn parts(body: &[u8], iterations: u32) -> Result<Parts, BoxError> {
    let filters = filters()
        .iter()
        .map(Filter::from_json)
        .collect::<Result<Vec<_>, _>>()?;
    let reads = Reads::of(&filters);
    let parsed = reads.parse_body(body)?;
    let headers = json!({ "content-type": "application/json" });
    let query = json!({});
    let request = RequestParts::with_parsed_body("POST", &headers, &query, Ok(&parsed));
    let check = || {
        filters
            .iter()
            .filter_map(|f| f.check(&request).err())
            .count()
    };
    Ok(Parts {
        scan: mean(iterations, || {
            serde_json::from_slice::<serde::de::IgnoredAny>(black_box(body)).is_ok()
        }),
        read: mean(iterations, || reads.parse_body(black_box(body)).is_ok()),
        mismatches: check(),
        check: mean(iterations, check),
    })
}
