//! Not public API: what `#[http_endpoint]` and `#[job]` expand to. Only generated code uses it.

pub use inventory;

pub use crate::endpoint::{
    BoxFuture, EndpointRegistration, HttpEndpoint, IntoTrigger, Location, Trigger,
};
pub use crate::io::Io;
pub use crate::job::{
    Context, IntoJobResult, JobContext, JobIo, JobOptions, JobOutput, JobRegistration, JobRequest,
};
pub use crate::request::Request;
pub use crate::verify::{Algorithm, Encoding, HmacScheme, Secret, Verification};

/// An endpoint declared by `#[http_endpoint]` at `location`.
pub const fn endpoint(id: &'static str, location: Location) -> HttpEndpoint {
    HttpEndpoint::__new(id, location)
}

/// The placeholder static emitted beside a `#[http_endpoint]` compile error.
pub const fn fallback_endpoint() -> HttpEndpoint {
    HttpEndpoint::__fallback()
}
