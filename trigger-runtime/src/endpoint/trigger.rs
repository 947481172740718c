//! [`Trigger`]: what starts a job, an endpoint's requests or those its filter matches.

use std::sync::Arc;

use super::HttpEndpoint;
use crate::filter::{Filter, FilterError};

/// What starts a job: every verified request to an endpoint, or those its filter matches.
#[derive(Clone, Debug)]
pub struct Trigger {
    endpoint: &'static HttpEndpoint,
    filter: Option<Arc<Filter>>,
}

impl Trigger {
    /// Every verified request to `endpoint`.
    pub(super) const fn new(endpoint: &'static HttpEndpoint) -> Self {
        Self {
            endpoint,
            filter: None,
        }
    }

    /// The endpoint whose requests start the job.
    pub const fn endpoint(&self) -> &'static HttpEndpoint {
        self.endpoint
    }

    /// Only requests that match `filter` (JSON with any of `method`, `headers`, `query` and
    /// `body`; see [`crate::filter`]) start the job. The filter is compiled here, once; a
    /// mistake in it is an error, never a filter that silently matches nothing.
    ///
    /// ```
    /// # use trigger_runtime::endpoint::HttpEndpoint;
    /// static CALDOTCOM: HttpEndpoint = HttpEndpoint::new("cal.com");
    /// let created = CALDOTCOM
    ///     .on_request()
    ///     .filter(serde_json::json!({ "body": { "triggerEvent": ["BOOKING_CREATED"] } }))?;
    /// assert!(created.request_filter().is_some());
    /// let typo = CALDOTCOM.on_request().filter(serde_json::json!({ "bodyy": {} }));
    /// assert_eq!(typo.unwrap_err().to_string(), "invalid filter at `bodyy`: unknown key `bodyy`; did you mean `body`?");
    /// # Ok::<(), trigger_runtime::filter::FilterError>(())
    /// ```
    pub fn filter(self, filter: serde_json::Value) -> Result<Self, FilterError> {
        Ok(self.with_filter(Filter::from_json(&filter)?))
    }

    /// Only requests that match an already compiled `filter` start the job.
    #[must_use]
    pub fn with_filter(mut self, filter: Filter) -> Self {
        self.filter = Some(Arc::new(filter));
        self
    }

    /// The filter, if the trigger has one.
    pub fn request_filter(&self) -> Option<&Filter> {
        self.filter.as_deref()
    }
}

/// Turns what `#[job(trigger = ...)]` names into a [`Trigger`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an http endpoint",
    label = "expected an item declared with `#[http_endpoint]`",
    note = "declare the endpoint with `#[http_endpoint(id = \"...\", ...)] fn my_endpoint();` and write `#[job(trigger = my_endpoint)]`"
)]
pub trait IntoTrigger {
    /// The trigger.
    #[allow(clippy::wrong_self_convention)] // endpoints are statics: `&'static self` is the point
    fn into_trigger(&'static self) -> Trigger;
}

impl IntoTrigger for HttpEndpoint {
    fn into_trigger(&'static self) -> Trigger {
        self.on_request()
    }
}

impl IntoTrigger for Trigger {
    fn into_trigger(&'static self) -> Trigger {
        self.clone()
    }
}
