//! Procedural macros for [`trigger-runtime`](https://docs.rs/trigger-runtime).
//!
//! This crate is an implementation detail: depend on `trigger-runtime`, which re-exports
//! [`macro@http_endpoint`] and [`macro@job`]. Generated code only names
//! `::trigger_runtime::__private`, so the two crates are released in lockstep.

mod diag;
mod endpoint;
mod job;
mod json;
mod kw;
mod lit;

use proc_macro::TokenStream;

/// Declares a webhook endpoint served at `/endpoints/{id}`.
///
/// See the `trigger_runtime::endpoint` module for the arguments and the two forms (a bodiless
/// `fn name();` verified from the arguments, or an `async fn` that is the verification).
#[proc_macro_attribute]
pub fn http_endpoint(args: TokenStream, item: TokenStream) -> TokenStream {
    endpoint::expand(args.into(), item.into()).into()
}

/// Registers an `async fn(request: Request, io: Io, ctx: Context) -> Result<T, E>` as a job
/// that runs for every matching request to its `trigger` endpoint.
///
/// See the `trigger_runtime::job` module for the arguments.
///
/// `filter = { ... }` runs the job only for the requests that match it: JSON written as is in
/// the attribute, an object with any of the keys `method`, `headers`, `query` and `body` (see
/// the `trigger_runtime::filter` module for the operators). A mistake in it, in JSON syntax or
/// in the filter, is a compile error on its token, found by the very code that compiles the
/// filter at start-up.
///
/// ```
/// use trigger_runtime::prelude::*;
///
/// #[http_endpoint(id = "cal.com", header = "X-Cal-Signature-256", secret = "CALDOTCOM_SECRET")]
/// fn caldotcom();
///
/// #[job(
///     id = "long-booking-created",
///     trigger = caldotcom,
///     filter = {
///         "headers": { "X-Cal-Event": ["BOOKING_CREATED"] },
///         "body": { "payload": { "length": [{ "$gte": 30 }] } }
///     }
/// )]
/// async fn long_booking_created(request: Request, io: Io, _ctx: Context) -> Result<()> {
///     io.logger.info("Booking", request.text()?);
///     Ok(())
/// }
/// # fn main() {}
/// ```
#[proc_macro_attribute]
pub fn job(args: TokenStream, item: TokenStream) -> TokenStream {
    job::expand(args.into(), item.into()).into()
}
