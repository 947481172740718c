//! What a job's first parameter can be: any type that implements [`FromRequest`], as axum's
//! handlers take extractors. The runtime implements it for [`Request`] (the request as
//! received), [`Json<T>`], [`Form<T>`] and [`Query<T>`] (any `T: DeserializeOwned`),
//! [`Text`], [`Bytes`](bytes::Bytes), and tuples of up to four of them.
//!
//! ```ignore
//! #[derive(Deserialize)]
//! struct Booking { #[serde(rename = "triggerEvent")] trigger_event: String }
//!
//! #[job(id = "booking-created", trigger = caldotcom)]
//! async fn booking_created(Json(booking): Json<Booking>, io: Io, ctx: Context) -> Result<()> {
//!     io.logger.info("Booking", &booking.trigger_event);
//!     Ok(())
//! }
//! ```
//!
//! A request that does not fit fails the run at once, without retries (it would not fit on a
//! retry either), with the path to the field that did not fit in the run's error:
//! `the body does not fit the job's type: payload.attendees[0].email: missing field`. The event
//! stays stored, so once the type is fixed it can be replayed.

use serde::de::DeserializeOwned;

use crate::request::Request;

/// A value a job takes as its first parameter, made from the request that started the run.
/// Implement it for your own types to take them directly.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the first parameter of a job",
    label = "does not implement `FromRequest`",
    note = "the first parameter of a job is `Request`, `Json<T>`, `Form<T>`, `Query<T>`, `Text`, \
            `Bytes`, a tuple of them, or a type of yours that implements \
            `trigger_runtime::job::FromRequest`"
)]
pub trait FromRequest: Sized + Send + 'static {
    /// Makes the value, or says why the request does not fit.
    fn from_request(request: &Request) -> Result<Self, ExtractError>;
}

/// Why a request does not fit a job's first parameter: the run fails without retries.
#[derive(Debug, thiserror::Error)]
#[error("the {part} does not fit the job's type: {message}")]
pub struct ExtractError {
    part: &'static str,
    message: String,
}

impl ExtractError {
    /// The `part` of the request (`body`, `query string`) does not fit, because `message`.
    pub fn new(part: &'static str, message: impl Into<String>) -> Self {
        Self {
            part,
            message: message.into(),
        }
    }

    /// The part of the request that did not fit.
    pub fn part(&self) -> &'static str {
        self.part
    }
}

impl FromRequest for Request {
    fn from_request(request: &Request) -> Result<Self, ExtractError> {
        Ok(request.clone())
    }
}

/// The body as JSON, deserialized into `T`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Json<T>(pub T);

/// The body as a form (`application/x-www-form-urlencoded`), deserialized into `T`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Form<T>(pub T);

/// The query string, deserialized into `T`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query<T>(pub T);

/// The body as UTF-8 text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Text(pub String);

/// `where: why`, or `why` when the failure is at the top.
fn at_path(path: &serde_path_to_error::Path, why: impl std::fmt::Display) -> String {
    let path = path.to_string();
    if path == "." {
        why.to_string()
    } else {
        format!("{path}: {why}")
    }
}

impl<T: DeserializeOwned + Send + 'static> FromRequest for Json<T> {
    fn from_request(request: &Request) -> Result<Self, ExtractError> {
        let mut body = serde_json::Deserializer::from_slice(request.body());
        let value = serde_path_to_error::deserialize(&mut body)
            .map_err(|error| ExtractError::new("body", at_path(error.path(), error.inner())))?;
        body.end()
            .map_err(|error| ExtractError::new("body", error.to_string()))?;
        Ok(Self(value))
    }
}

/// Deserializes form-encoded `bytes` into `T`, with the failing field's name.
fn form_value<T: DeserializeOwned>(bytes: &[u8], part: &'static str) -> Result<T, ExtractError> {
    let pairs = form_urlencoded::parse(bytes);
    let deserializer = serde_urlencoded::Deserializer::new(pairs);
    serde_path_to_error::deserialize(deserializer)
        .map_err(|error| ExtractError::new(part, at_path(error.path(), error.inner())))
}

impl<T: DeserializeOwned + Send + 'static> FromRequest for Form<T> {
    fn from_request(request: &Request) -> Result<Self, ExtractError> {
        form_value(request.body(), "body").map(Self)
    }
}

impl<T: DeserializeOwned + Send + 'static> FromRequest for Query<T> {
    fn from_request(request: &Request) -> Result<Self, ExtractError> {
        form_value(request.query().as_str().as_bytes(), "query string").map(Self)
    }
}

impl FromRequest for Text {
    fn from_request(request: &Request) -> Result<Self, ExtractError> {
        match request.text() {
            Ok(text) => Ok(Self(text.to_owned())),
            Err(error) => Err(ExtractError::new("body", error.to_string())),
        }
    }
}

impl FromRequest for bytes::Bytes {
    fn from_request(request: &Request) -> Result<Self, ExtractError> {
        Ok(request.body().clone())
    }
}

macro_rules! tuple {
    ($($name:ident),+) => {
        impl<$($name: FromRequest),+> FromRequest for ($($name,)+) {
            fn from_request(request: &Request) -> Result<Self, ExtractError> {
                Ok(($($name::from_request(request)?,)+))
            }
        }
    };
}

tuple!(A, B);
tuple!(A, B, C);
tuple!(A, B, C, D);
