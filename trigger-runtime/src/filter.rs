//! Filters: which requests to an endpoint start a job.
//!
//! ```ignore
//! #[job(id = "booking-created", trigger = caldotcom,
//!       filter = { "body": { "triggerEvent": ["BOOKING_CREATED"] } })]
//! async fn booking_created(request: Request, io: Io, ctx: Context) -> Result<()> { ... }
//!
//! // The same in code; a mistake is an `Err(FilterError)`:
//! let trigger = caldotcom.on_request().filter(json!({ "body": { "triggerEvent": ["BOOKING_CREATED"] } }))?;
//! ```
//!
//! A filter has up to four keys, all of which must match: `method` (an array of methods),
//! `headers` (names in any case), `query` (the parsed query string) and `body` (the JSON body,
//! or a form-encoded one as an object). Under `headers`, `query` and `body`, each field is
//! Trigger.dev v2's `EventFilter`: an array of values (equal to one of them, no type
//! coercion), an array of operators (all hold), or an object for nested fields (which, against
//! an array, matches when some element does). See the README for every operator.

use bytes::Bytes;
use http::header;
use serde_json::{Map, Value};

#[doc(inline)]
pub use trigger_filter::{
    BodyError, ErrorKind, Filter, FilterError, Mismatch, ParsedBody, Pattern, Reads, RequestParts,
    Segment, Target,
};

use crate::request::Request;

/// A request as filters see it: the parts they read (see [`Reads`]) turned into JSON once,
/// whatever the number of jobs.
#[derive(Debug)]
pub(crate) struct RequestView<'a> {
    method: &'a str,
    headers: Value,
    query: Value,
    body: Result<Body<'a>, String>,
}

/// A body as filters read it.
#[derive(Debug)]
enum Body<'a> {
    /// A form, as an object.
    Form(Value),
    /// JSON, only what filters read, borrowing from the request.
    Json(ParsedBody<'a>),
}

impl<'a> RequestView<'a> {
    /// The view of `request` for filters that read `reads`.
    pub(crate) fn new(request: &'a Request, reads: &Reads) -> Self {
        let mut headers = Map::new();
        for name in reads.headers() {
            let mut values = request.headers().get_all(name.as_str()).iter();
            let Some(first) = values.next() else { continue };
            let mut text = String::from_utf8_lossy(first.as_bytes()).into_owned();
            for value in values {
                text.push_str(", ");
                text.push_str(&String::from_utf8_lossy(value.as_bytes()));
            }
            headers.insert(name.clone(), Value::String(text));
        }
        // A repeated name keeps its last value, as in v2.
        let mut query = Map::new();
        for (name, value) in request.query().pairs() {
            if reads.query().contains(name) {
                query.insert(name.clone(), Value::String(value.clone()));
            }
        }
        let body = if reads.reads_body() {
            parse_body(request, reads)
        } else {
            Err("the body was not read".to_owned())
        };
        Self {
            method: request.method().as_str(),
            headers: Value::Object(headers),
            query: Value::Object(query),
            body,
        }
    }

    /// The parts a [`Filter`] checks.
    pub(crate) fn parts(&self) -> RequestParts<'_> {
        let (method, headers, query) = (self.method, &self.headers, &self.query);
        match &self.body {
            Ok(Body::Form(form)) => RequestParts::new(method, headers, query, Ok(form)),
            Ok(Body::Json(json)) => {
                RequestParts::with_parsed_body(method, headers, query, Ok(json))
            }
            Err(why) => RequestParts::new(method, headers, query, Err(why)),
        }
    }
}

/// A form-encoded body as an object (a repeated name keeps its last value), anything else as
/// JSON, keeping only what filters read.
fn parse_body<'a>(request: &'a Request, reads: &Reads) -> Result<Body<'a>, String> {
    let content_type = request
        .header(header::CONTENT_TYPE.as_str())
        .unwrap_or_default();
    let body: &Bytes = request.body();
    let form = "application/x-www-form-urlencoded";
    if content_type
        .get(..form.len())
        .is_some_and(|start| start.eq_ignore_ascii_case(form))
    {
        let pairs = form_urlencoded::parse(body).into_owned();
        let form = pairs.map(|(k, v)| (k, Value::String(v))).collect();
        return Ok(Body::Form(Value::Object(form)));
    }
    reads.parse_body(body).map(Body::Json).map_err(|error| {
        let shown = if content_type.is_empty() {
            "no content type".to_owned()
        } else {
            format!("content type {content_type}")
        };
        format!("the body is neither JSON nor a form ({shown}): {error}")
    })
}
