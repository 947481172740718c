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
