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
pub use trigger_filter::{ErrorKind, Filter, FilterError, Mismatch, Pattern, Segment, Target};

use crate::request::Request;

/// A request as filters see it: each part turned into JSON once, whatever the number of jobs.
#[derive(Debug)]
pub(crate) struct RequestView {
    method: String,
    headers: Value,
    query: Value,
    body: Result<Value, String>,
}

impl RequestView {
    /// The view of `request`; its body is parsed only when `read_body` is set.
    pub(crate) fn new(request: &Request, read_body: bool) -> Self {
        let mut headers = Map::new();
        for name in request.headers().keys() {
            let values: Vec<String> = request
                .headers()
                .get_all(name)
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .collect();
            headers.insert(name.as_str().to_owned(), Value::String(values.join(", ")));
        }
        let query = pairs(request.query().pairs().iter().cloned());
        let body = if read_body {
            parse_body(request)
        } else {
            Err("the body was not read".to_owned())
        };
        Self {
            method: request.method().as_str().to_owned(),
            headers: Value::Object(headers),
            query,
            body,
        }
    }

    /// The parts a [`Filter`] checks.
    pub(crate) fn parts(&self) -> trigger_filter::RequestParts<'_> {
        trigger_filter::RequestParts::new(
            &self.method,
            &self.headers,
            &self.query,
            self.body.as_ref().map_err(String::as_str),
        )
    }
}

/// Name/value pairs as an object; a repeated name keeps its last value (as v2 did).
fn pairs(pairs: impl Iterator<Item = (String, String)>) -> Value {
    Value::Object(pairs.map(|(k, v)| (k, Value::String(v))).collect())
}

/// A form-encoded body as an object, anything else as JSON.
fn parse_body(request: &Request) -> Result<Value, String> {
    let content_type = request
        .header(header::CONTENT_TYPE.as_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let body: &Bytes = request.body();
    if content_type.starts_with("application/x-www-form-urlencoded") {
        return Ok(pairs(form_urlencoded::parse(body).into_owned()));
    }
    serde_json::from_slice(body).map_err(|error| {
        let shown = if content_type.is_empty() {
            "no content type".to_owned()
        } else {
            format!("content type {content_type}")
        };
        format!("the body is neither JSON nor a form ({shown}): {error}")
    })
}
