//! [`HttpEndpoint`]: what `#[http_endpoint]` declares, and the [`Trigger`] jobs attach to.
//!
//! ```ignore
//! // Verified from the arguments: HMAC of the raw body in one header.
//! #[http_endpoint(id = "cal.com", header = "X-Cal-Signature-256", secret = "CALDOTCOM_SECRET")]
//! fn caldotcom();
//!
//! // Verified by the body of the fn.
//! #[http_endpoint(id = "acme", secret = "ACME_SECRET")]
//! async fn acme(request: &Request, secret: &Secret) -> Verification {
//!     verify_request_signature(request, "X-Acme-Signature", secret, Algorithm::Sha256)
//! }
//! ```
//!
//! | argument | meaning | default |
//! | --- | --- | --- |
//! | `id` | the URL segment: `/endpoints/{id}`; unique | required |
//! | `source`, `icon`, `title` | shown in the banner and the `endpoints` command | the id |
//! | `enabled` | `false` answers 404 and jobs on it are a start-up error | `true` |
//! | `preset` | a sender's scheme: `"stripe"`, `"github"`, ... (see [`Preset`]) | — |
//! | `header` | the header that carries an HMAC of the raw body | — |
//! | `algorithm` | `"sha256"`, `"sha1"`, `"sha512"` | `"sha256"` |
//! | `encoding` | `"hex"` (either case), `"base64"` | `"hex"` |
//! | `prefix` | text before the signature, e.g. `"sha256="`, stripped at the start only | none |
//! | `signed` | what is signed: `"{timestamp}.{body}"`, with `{body}`, `{timestamp}`, `{url}`, `{header:Name}` | `"{body}"` |
//! | `timestamp_header` | the header with the signed timestamp, in seconds | none |
//! | `tolerance` | how far a signed timestamp may be from now, either way (`"0"`: not checked) | `"5m"` |
//! | `secret` | the environment variable that holds the secret, or a list of them during a rotation, `["NEW", "OLD"]` (the current one first) | a generated secret kept in the store |
//! | `respond_with` | an `async fn(&Request, &Verification) -> Respond` that may answer requests itself | none |
//! | `verify_token` | with `preset = "meta"`: the variable holding the subscription check's token | none |

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use crate::request::Request;
use crate::time::Timestamp;
use crate::verify::{HmacScheme, Preset, RespondFn, Scheme, Secret, Verification};

mod delivery;
mod trigger;

pub use self::delivery::TestDelivery;
pub use self::trigger::{IntoTrigger, Trigger};

/// A boxed, `Send` future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A custom verification: the body of an `async fn(request: &Request, secret: &Secret) ->
/// Verification` endpoint.
pub type VerifyFn = for<'a> fn(&'a Request, &'a Secret) -> BoxFuture<'a, Verification>;

/// Where an item was declared, for start-up errors that name both sides of a duplicate.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// Source file.
    pub file: &'static str,
    /// Line, from 1.
    pub line: u32,
    /// Column, from 1.
    pub column: u32,
}

impl Location {
    /// A source location.
    pub const fn new(file: &'static str, line: u32, column: u32) -> Self {
        Self { file, line, column }
    }

    /// For items built in code rather than by a macro.
    pub const fn unknown() -> Self {
        Self {
            file: "<built in code>",
            line: 0,
            column: 0,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            f.write_str(self.file)
        } else {
            write!(f, "{}:{}:{}", self.file, self.line, self.column)
        }
    }
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// How an endpoint verifies requests.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub enum Verifier {
    /// A signature scheme (a preset's, or one from the endpoint's arguments).
    Scheme(Scheme),
    /// A custom async fn.
    Custom(VerifyFn),
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Scheme(scheme) => f.debug_tuple("Scheme").field(scheme).finish(),
            Self::Custom(_) => f.write_str("Custom"),
        }
    }
}

impl fmt::Display for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Scheme(scheme) => fmt::Display::fmt(scheme, f),
            Self::Custom(_) => f.write_str("custom verify fn"),
        }
    }
}

/// The environment variables an endpoint reads its secret from.
#[derive(Clone, Copy, Debug)]
enum SecretEnvs {
    /// None: the secret is generated and kept in the store.
    None,
    /// One variable, from [`HttpEndpoint::with_secret_env`].
    One(&'static str),
    /// One or more variables, the current one first, from [`HttpEndpoint::with_secret_envs`].
    Many(&'static [&'static str]),
}

fn unverifiable<'a>(_: &'a Request, _: &'a Secret) -> BoxFuture<'a, Verification> {
    Box::pin(async { Verification::rejected("endpoint has no verification configured") })
}

/// A webhook endpoint, served at `/endpoints/{id}` for every method.
///
/// `#[http_endpoint]` declares one as a `static` named after the fn, so `caldotcom.verify(&req)`
/// and `caldotcom.on_request()` work on it.
#[derive(Clone, Copy, Debug)]
pub struct HttpEndpoint {
    id: &'static str,
    source: Option<&'static str>,
    icon: Option<&'static str>,
    title: Option<&'static str>,
    enabled: bool,
    secret_envs: SecretEnvs,
    verifier: Verifier,
    preset: Option<Preset>,
    respond_with: Option<RespondFn>,
    verify_token_env: Option<&'static str>,
    location: Location,
}

impl HttpEndpoint {
    /// An endpoint built in code. Give it a verification with [`with_hmac`](Self::with_hmac) or
    /// [`with_verify_fn`](Self::with_verify_fn); until then it rejects every request.
    pub const fn new(id: &'static str) -> Self {
        Self::declared(id, Location::unknown())
    }

    /// An endpoint declared at `location` (by `#[http_endpoint]`).
    pub(crate) const fn declared(id: &'static str, location: Location) -> Self {
        Self {
            id,
            source: None,
            icon: None,
            title: None,
            enabled: true,
            secret_envs: SecretEnvs::None,
            verifier: Verifier::Custom(unverifiable),
            preset: None,
            respond_with: None,
            verify_token_env: None,
            location,
        }
    }

    /// Sets the source shown for this endpoint (default: the id).
    #[must_use]
    pub const fn with_source(mut self, source: &'static str) -> Self {
        self.source = Some(source);
        self
    }

    /// Sets the icon name.
    #[must_use]
    pub const fn with_icon(mut self, icon: &'static str) -> Self {
        self.icon = Some(icon);
        self
    }

    /// Sets the display title.
    #[must_use]
    pub const fn with_title(mut self, title: &'static str) -> Self {
        self.title = Some(title);
        self
    }

    /// Enables or disables the endpoint; a disabled one answers 404.
    #[must_use]
    pub const fn with_enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// Reads the secret from environment variable `name`.
    #[must_use]
    pub const fn with_secret_env(mut self, name: &'static str) -> Self {
        self.secret_envs = SecretEnvs::One(name);
        self
    }

    /// Reads the secret from each of the environment variables `names` that is set, for a
    /// rotation: `&["NEW_SECRET", "OLD_SECRET"]` accepts requests signed with either while both
    /// are set. The first is the current one, and the others are older ones, kept until the
    /// sender signs with the new one. An empty list names none, like never calling this.
    #[must_use]
    pub const fn with_secret_envs(mut self, names: &'static [&'static str]) -> Self {
        self.secret_envs = if names.is_empty() {
            SecretEnvs::None
        } else {
            SecretEnvs::Many(names)
        };
        self
    }

    /// Verifies an HMAC of the raw body.
    #[must_use]
    pub const fn with_hmac(mut self, scheme: HmacScheme) -> Self {
        self.verifier = Verifier::Scheme(scheme.scheme());
        self
    }

    /// Verifies with `scheme`.
    #[must_use]
    pub const fn with_scheme(mut self, scheme: Scheme) -> Self {
        self.verifier = Verifier::Scheme(scheme);
        self
    }

    /// Verifies as `preset`'s sender signs, deduplicates by its delivery id and answers its
    /// handshakes.
    #[must_use]
    pub const fn with_preset(mut self, preset: Preset) -> Self {
        self.preset = Some(preset);
        self.verifier = Verifier::Scheme(preset.scheme());
        self
    }

    /// How far a signed timestamp may be from now, either way (default 5 minutes; zero: not
    /// checked). Call it after choosing the scheme or preset; it does nothing for a custom
    /// verify fn.
    #[must_use]
    pub const fn with_tolerance(mut self, tolerance: std::time::Duration) -> Self {
        if let Verifier::Scheme(scheme) = self.verifier {
            self.verifier = Verifier::Scheme(scheme.with_tolerance(tolerance));
        }
        self
    }

    /// Lets `respond` answer requests itself (handshakes), choosing whether they still start
    /// runs; it is called after verification, with the verdict.
    #[must_use]
    pub const fn with_respond_with(mut self, respond: RespondFn) -> Self {
        self.respond_with = Some(respond);
        self
    }

    /// Reads the verify token of Meta's subscription `GET` from environment variable `name`.
    #[must_use]
    pub const fn with_verify_token_env(mut self, name: &'static str) -> Self {
        self.verify_token_env = Some(name);
        self
    }

    /// Verifies with a custom fn.
    #[must_use]
    pub const fn with_verify_fn(mut self, verify: VerifyFn) -> Self {
        self.verifier = Verifier::Custom(verify);
        self
    }

    /// The id, as in `/endpoints/{id}`.
    pub const fn id(&self) -> &'static str {
        self.id
    }

    /// The source (default: the id).
    pub fn source(&self) -> &'static str {
        self.source.unwrap_or(self.id)
    }

    /// The icon name, if set.
    pub const fn icon(&self) -> Option<&'static str> {
        self.icon
    }

    /// The title (default: the id).
    pub fn title(&self) -> &'static str {
        self.title.unwrap_or(self.id)
    }

    /// Whether the endpoint accepts requests.
    pub const fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// The environment variable that holds the current secret, if one is named: the first of
    /// [`secret_envs`](Self::secret_envs).
    pub const fn secret_env(&self) -> Option<&'static str> {
        match self.secret_envs {
            SecretEnvs::None => None,
            SecretEnvs::One(name) => Some(name),
            SecretEnvs::Many(names) => names.first().copied(),
        }
    }

    /// Every environment variable named for the secret, the current one first (empty when the
    /// secret is generated).
    pub const fn secret_envs(&self) -> &[&'static str] {
        match &self.secret_envs {
            SecretEnvs::None => &[],
            SecretEnvs::One(name) => std::slice::from_ref(name),
            SecretEnvs::Many(names) => names,
        }
    }

    /// How requests are verified.
    pub const fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// The sender's preset, if the endpoint has one.
    pub const fn preset(&self) -> Option<Preset> {
        self.preset
    }

    /// The fn that may answer requests itself, if any.
    pub const fn respond_with(&self) -> Option<RespondFn> {
        self.respond_with
    }

    /// The environment variable that holds Meta's verify token, if one is named.
    pub const fn verify_token_env(&self) -> Option<&'static str> {
        self.verify_token_env
    }

    /// The event's deduplication key: the preset's delivery id when the sender sent one
    /// (it wins over any generic header), else `None`, for the generic headers.
    pub fn delivery_id(&self, request: &Request) -> Option<String> {
        self.preset.and_then(|preset| preset.dedup_key(request))
    }

    /// Where the endpoint was declared.
    pub const fn location(&self) -> Location {
        self.location
    }

    /// The path it is served at: `/endpoints/{id}`.
    pub fn path(&self) -> String {
        format!("/endpoints/{}", self.id)
    }

    /// A trigger for jobs: every verified request to this endpoint; narrow it with
    /// [`Trigger::filter`].
    pub const fn on_request(&'static self) -> Trigger {
        Trigger::new(self)
    }

    /// Verifies `request` with the secrets from the endpoint's environment variables: verified
    /// when one of those that are set verifies it (a `.env` file is read by [`crate::run`], not
    /// here).
    pub async fn verify(&self, request: &Request) -> Verification {
        let Some(current) = self.secret_env() else {
            return Verification::rejected(format!(
                "endpoint {:?} names no secret variable; call verify_with_secret",
                self.id
            ));
        };
        let secrets: Vec<Secret> = self
            .secret_envs()
            .iter()
            .filter_map(|name| crate::verify::env_secret(name))
            .collect();
        if secrets.is_empty() {
            return Verification::rejected(format!("secret not configured: set {current}"));
        }
        self.verify_with_secrets(request, &secrets).await
    }

    /// Verifies `request` with `secret`.
    pub async fn verify_with_secret(&self, request: &Request, secret: &Secret) -> Verification {
        self.verify_with_secrets(request, std::slice::from_ref(secret))
            .await
    }

    /// Verifies `request` with each of `secrets` in turn (during a rotation: the current one
    /// first): verified when one verifies it; otherwise rejected with the reason the first
    /// gave. An HMAC endpoint parses the signature once and compares it with each secret's.
    pub async fn verify_with_secrets(&self, request: &Request, secrets: &[Secret]) -> Verification {
        self.verify_with_secrets_at(request, secrets, Timestamp::now())
            .await
    }

    /// As [`verify_with_secrets`](Self::verify_with_secrets), with timestamps checked against
    /// `now` instead of the clock (for tests of the tolerance).
    pub async fn verify_with_secrets_at(
        &self,
        request: &Request,
        secrets: &[Secret],
        now: Timestamp,
    ) -> Verification {
        match &self.verifier {
            Verifier::Scheme(scheme) => scheme.verify_at(request, secrets, now),
            Verifier::Custom(verify) => {
                let mut first = None;
                for secret in secrets {
                    let verification = verify(request, secret).await;
                    if verification.is_verified() {
                        return verification;
                    }
                    first.get_or_insert(verification);
                }
                first.unwrap_or_else(|| Verification::rejected("no secret to verify with"))
            }
        }
    }

    /// The signature header a sender would send for `body`, for a scheme that signs the body
    /// alone (Cal.com, GitHub, Shopify, ...); `None` for others (see
    /// [`sign_request`](Self::sign_request)) and for a custom verify fn.
    pub fn sign(&self, body: &[u8], secret: &Secret) -> Option<(&'static str, String)> {
        let Verifier::Scheme(scheme) = &self.verifier else {
            return None;
        };
        if scheme.signed() != [crate::verify::Part::Body] || scheme.timestamp().is_some() {
            return None;
        }
        let request = Request::new(
            http::Method::POST,
            "/",
            http::HeaderMap::new(),
            body.to_vec(),
        );
        let headers = self.sign_request(&request.ok()?, secret, Timestamp::now());
        headers.ok()?.into_iter().next()
    }

    /// The headers a sender would add to `request` to sign it at `now` (see
    /// [`Scheme::sign`]); an error for a custom verify fn, whose scheme the runtime cannot
    /// know.
    pub fn sign_request(
        &self,
        request: &Request,
        secret: &Secret,
        now: Timestamp,
    ) -> Result<Vec<(&'static str, String)>, String> {
        match &self.verifier {
            Verifier::Scheme(scheme) => scheme.sign(request, secret, now),
            Verifier::Custom(_) => Err(format!(
                "endpoint {:?} verifies with a custom fn, whose scheme the runtime cannot sign with",
                self.id
            )),
        }
    }
}

/// What `#[http_endpoint]` expands to; reachable only through `trigger_runtime::__private`.
pub(crate) mod registration {
    use super::HttpEndpoint;

    /// A link-time registration of an endpoint, emitted by `#[http_endpoint]`.
    #[derive(Debug)]
    pub struct EndpointRegistration {
        endpoint: &'static HttpEndpoint,
    }

    impl EndpointRegistration {
        /// Registers `endpoint`.
        pub const fn new(endpoint: &'static HttpEndpoint) -> Self {
            Self { endpoint }
        }

        /// The registered endpoint.
        pub const fn endpoint(&self) -> &'static HttpEndpoint {
            self.endpoint
        }
    }

    inventory::collect!(EndpointRegistration);
}
