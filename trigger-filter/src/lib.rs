//! Request filters: which requests to an endpoint start a job. Implementation detail of
//! `trigger-runtime`, which re-exports it as `trigger_runtime::filter`; `trigger-macros` uses
//! the same code to check `#[job(filter = {...})]` at compile time, so a filter that compiles
//! is exactly one the runtime accepts.
//!
//! A filter is Trigger.dev v2's `EventFilter` applied to four parts of a request:
//!
//! ```
//! use trigger_filter::{Filter, RequestParts};
//! use serde_json::json;
//!
//! let filter = Filter::from_json(&json!({
//!     "method": ["POST"],
//!     "headers": { "X-Cal-Event": [{ "$startsWith": "BOOKING_" }] },
//!     "body": { "triggerEvent": ["BOOKING_CREATED"], "payload": { "length": [{ "$gte": 15 }] } }
//! }))?;
//! let headers = json!({ "x-cal-event": "BOOKING_CREATED" });
//! let query = json!({});
//! let body = json!({ "triggerEvent": "BOOKING_CANCELLED", "payload": { "length": 30 } });
//! let parts = RequestParts::new("POST", &headers, &query, Ok(&body));
//! let reason = filter.check(&parts).unwrap_err();
//! assert_eq!(
//!     reason.to_string(),
//!     r#"body.triggerEvent: "BOOKING_CANCELLED" is not one of ["BOOKING_CREATED"]"#
//! );
//! # Ok::<(), trigger_filter::FilterError>(())
//! ```

mod compile;
mod error;
mod matching;
mod names;
mod node;
mod path;
mod reads;
mod scan;

pub use self::compile::{Filter, Pattern};
pub use self::error::{ErrorKind, FilterError, Target, closest};
pub use self::matching::{Mismatch, RequestParts};
pub use self::node::ParsedBody;
pub use self::path::Segment;
pub use self::reads::Reads;
pub use self::scan::BodyError;

/// The operators, as written in filters.
pub const OPERATORS: &[&str] = &[
    "$endsWith",
    "$startsWith",
    "$ignoreCaseEquals",
    "$exists",
    "$isNull",
    "$anythingBut",
    "$gt",
    "$lt",
    "$gte",
    "$lte",
    "$between",
    "$includes",
    "$not",
];

/// The top-level keys of a request filter.
pub const SECTIONS: &[&str] = &["method", "headers", "query", "body"];
