//! Turn webhooks from any API into durable background jobs.
//!
//! Declare an endpoint and a job; [`run`] serves them:
//!
//! ```no_run
//! use trigger_runtime::prelude::*;
//!
//! #[http_endpoint(id = "cal.com", header = "X-Cal-Signature-256", secret = "CALDOTCOM_SECRET")]
//! fn caldotcom();
//!
//! #[job(id = "http-caldotcom", name = "HTTP Cal.com", version = "1.0.0", trigger = caldotcom)]
//! async fn http_caldotcom(request: Request, io: Io, ctx: Context) -> Result<()> {
//!     let body: serde_json::Value = request.json()?;
//!     io.logger.info("Body", &body);
//!     Ok(())
//! }
//!
//! #[tokio::main]
//! async fn main() -> trigger_runtime::Result<()> {
//!     trigger_runtime::run().await
//! }
//! ```
//!
//! The server answers `POST /endpoints/cal.com`: `401` when the signature is wrong, `200` with
//! the event id and one run per matching job once they are stored; workers then run the jobs.
//! Jobs are plain async fns: unit-test them with [`testing`].
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

// Lets the runtime's own tests and docs use the macros, which name `::trigger_runtime`.
#[allow(unused_extern_crates)]
extern crate self as trigger_runtime;

pub mod cli;
pub mod dashboard;
pub mod endpoint;
pub mod error;
pub mod filter;
pub mod io;
pub mod job;
pub mod metrics;
pub mod registry;
pub mod request;
pub mod server;
pub mod store;
pub mod testing;
pub mod time;
pub mod verify;
pub mod worker;

mod id;
mod log;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use cli::{run, runtime};
#[doc(inline)]
pub use error::{Error, Result};
#[cfg(feature = "macros")]
#[cfg_attr(docsrs, doc(cfg(feature = "macros")))]
pub use trigger_macros::{http_endpoint, job};

/// `use trigger_runtime::prelude::*;` brings what endpoints and jobs are written with.
///
/// Its `Result` is [`job::Result`] (`Result<T = (), E = BoxError>`), so `?` works on any error
/// in a job.
pub mod prelude {
    #[doc(no_inline)]
    pub use crate::endpoint::HttpEndpoint;
    #[doc(no_inline)]
    pub use crate::io::Io;
    #[doc(no_inline)]
    pub use crate::job::{
        BoxError, Context, Form, FromRequest, Json, Permanent, Query, Result, RetryAfter, Text,
    };
    #[doc(no_inline)]
    pub use crate::request::Request;
    #[doc(no_inline)]
    pub use crate::verify::{
        Algorithm, Answer, Respond, Secret, Verification, constant_time_eq,
        verify_request_signature,
    };
    #[cfg(feature = "macros")]
    #[doc(no_inline)]
    pub use crate::{http_endpoint, job};
    #[doc(no_inline)]
    pub use bytes::Bytes;
}
