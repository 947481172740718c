//! Not public API: what `#[http_endpoint]` and `#[job]` expand to. Only generated code uses it.

pub use inventory;
pub use serde_json;

pub use crate::endpoint::registration::EndpointRegistration;
pub use crate::endpoint::{BoxFuture, HttpEndpoint, IntoTrigger, Location, Trigger};
pub use crate::io::Io;
pub use crate::job::registration::{Example, JobContext, JobIo, JobOptions, JobRegistration};
pub use crate::job::{Context, ExtractError, FromRequest, IntoJobResult, JobOutput};
pub use crate::request::Request;
pub use crate::verify::{
    Algorithm, Encoding, HmacScheme, Part, Preset, Respond, Scheme, Secret, TimestampFrom,
    Verification,
};

/// An endpoint declared by `#[http_endpoint]` at `location`.
pub const fn endpoint(id: &'static str, location: Location) -> HttpEndpoint {
    HttpEndpoint::declared(id, location)
}

/// The placeholder static emitted beside a `#[http_endpoint]` compile error.
pub const fn fallback_endpoint() -> HttpEndpoint {
    HttpEndpoint::new("")
}

/// The boxed future of a `#[job]` fn's run: `future`, then `into_output` on its output.
///
/// Named for the error that its `Send` bound gives, on the job fn's name, when the job holds a
/// value that is not `Send` (an `Rc`, a `RefCell` borrow) across an `.await`: "required by a
/// bound in `job_future_must_be_send`". rustc shows the bound's line, comment included.
pub fn job_future_must_be_send<F>(
    future: F,
    into_output: fn(F::Output) -> JobOutput,
) -> BoxFuture<'static, JobOutput>
where
    F: Future + Send + 'static, // hold no `Rc` or `RefCell` borrow across an `.await`
{
    Box::pin(async move { into_output(future.await) })
}

/// The attempt of a job whose first parameter could not be made from the request: it fails
/// the run without retries (the request would not fit on a retry either).
pub fn request_does_not_fit(error: ExtractError) -> BoxFuture<'static, JobOutput> {
    let error = crate::job::Permanent(Box::new(error));
    Box::pin(std::future::ready(Err(error.into())))
}
