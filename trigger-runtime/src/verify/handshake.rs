//! Handshakes: requests a sender needs answered by the endpoint itself (Slack's
//! `url_verification`, Discord's PING, Zoom's `endpoint.url_validation`, Meta's subscription
//! `GET`). The presets answer theirs; `#[http_endpoint(respond_with = my_fn)]` answers any
//! other.
//!
//! A signed handshake is answered only once it is verified: an answer is never a way around
//! verification (Zoom's, an HMAC under the secret of a token the request chooses, would
//! otherwise sign anything for anyone).

use bytes::Bytes;
use http::StatusCode;
use serde::Serialize;

use super::{Algorithm, Preset, Secret, Verification, constant_time_eq};
use crate::endpoint::BoxFuture;
use crate::request::Request;
use crate::time::Timestamp;

/// What a `respond_with` fn decides for a request, given the verdict on its signature.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub enum Respond {
    /// Nothing special: a verified request is stored and starts runs, answered as usual; an
    /// unverified one is refused with `401`.
    Continue,
    /// Answer with this, now.
    Answer(Answer),
}

/// The body of a `respond_with` endpoint argument: `async fn(request: &Request, verification:
/// &Verification) -> Respond`.
pub type RespondFn = for<'a> fn(&'a Request, &'a Verification) -> BoxFuture<'a, Respond>;

/// An answer to a request from the endpoint itself: by default it creates no event and no
/// runs (Trigger.dev's `skipTriggeringRuns`); [`with_runs`](Self::with_runs) stores the event
/// and starts its runs too, when the request is verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    status: StatusCode,
    content_type: &'static str,
    body: Bytes,
    runs: bool,
}

impl Answer {
    /// `200` with `value` as JSON.
    pub fn json(value: &impl Serialize) -> Self {
        let body = serde_json::to_vec(value).unwrap_or_default();
        Self::new(StatusCode::OK, "application/json", body)
    }

    /// `200` with `text`, as `text/plain`.
    pub fn text(text: impl Into<String>) -> Self {
        Self::new(StatusCode::OK, "text/plain; charset=utf-8", text.into())
    }

    /// `status` with `body` of `content_type`.
    pub fn new(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Self {
        Self {
            status,
            content_type,
            body: body.into(),
            runs: false,
        }
    }

    /// With `status` instead.
    #[must_use]
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// Also stores the event and starts its runs, as for any verified request (an
    /// unverified request never starts runs).
    #[must_use]
    pub fn with_runs(mut self) -> Self {
        self.runs = true;
        self
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The content type.
    pub fn content_type(&self) -> &'static str {
        self.content_type
    }

    /// The body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// Whether the event is stored and its runs started as well.
    pub fn starts_runs(&self) -> bool {
        self.runs
    }
}

impl Preset {
    /// The preset's own answer to `request`, if it is one of its sender's handshakes: a
    /// signed handshake only once `verification` says it is verified (`secrets` are the
    /// endpoint's and `now` the time it was verified at, for Zoom's answer), Meta's
    /// subscription `GET` when its token is `verify_token`.
    pub fn answer(
        self,
        request: &Request,
        verification: &Verification,
        secrets: &[Secret],
        verify_token: Option<&Secret>,
        now: Timestamp,
    ) -> Option<Answer> {
        if self == Self::Meta {
            return meta_subscription(request, verify_token);
        }
        if !verification.is_verified() {
            return None;
        }
        let body: serde_json::Value = serde_json::from_slice(request.body()).ok()?;
        match self {
            Self::Slack if body.get("type")? == "url_verification" => {
                let challenge = body.get("challenge")?.as_str()?;
                Some(Answer::json(&serde_json::json!({ "challenge": challenge })))
            }
            Self::Discord if body.get("type")? == 1 => {
                Some(Answer::json(&serde_json::json!({ "type": 1 })))
            }
            Self::Zoom if body.get("event")? == "endpoint.url_validation" => {
                let token = body.get("payload")?.get("plainToken")?.as_str()?;
                // The secret that verified the request (the current one, in a rotation).
                let secret = secrets.iter().find(|secret| {
                    let one = std::slice::from_ref(*secret);
                    self.scheme().verify_at(request, one, now).is_verified()
                })?;
                let mac = super::hmac(Algorithm::Sha256, secret.as_bytes(), token.as_bytes());
                Some(Answer::json(&serde_json::json!({
                    "plainToken": token,
                    "encryptedToken": hex::encode(mac),
                })))
            }
            _ => None,
        }
    }
}

/// Meta's subscription check: `GET ?hub.mode=subscribe&hub.verify_token=...&hub.challenge=...`
/// is answered with the challenge when the token is the endpoint's, `403` otherwise.
fn meta_subscription(request: &Request, verify_token: Option<&Secret>) -> Option<Answer> {
    if request.method() != http::Method::GET {
        return None;
    }
    let query = request.query();
    let param = |name: &str| {
        let pairs = query.pairs().iter();
        pairs
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    if param("hub.mode")? != "subscribe" {
        return None;
    }
    let refuse = |why: &str| {
        let error = serde_json::json!({ "error": why });
        Answer::json(&error).with_status(StatusCode::FORBIDDEN)
    };
    let Some(expected) = verify_token.filter(|t| !t.as_bytes().is_empty()) else {
        return Some(refuse("the endpoint has no verify token configured"));
    };
    let given = param("hub.verify_token").unwrap_or_default();
    if !constant_time_eq(given.as_bytes(), expected.as_bytes()) {
        return Some(refuse(
            "hub.verify_token is not the endpoint's verify token",
        ));
    }
    Some(Answer::text(param("hub.challenge").unwrap_or_default()))
}
