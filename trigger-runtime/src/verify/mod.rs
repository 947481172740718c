//! Signature verification: [`Secret`], [`Verification`], [`Scheme`] (how a sender signs, as
//! data), the senders' [`Preset`]s, and the handshakes some senders need answered.
//!
//! Signatures are compared in constant time over the decoded bytes, never as text.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use hmac::{Hmac, Mac};

use crate::request::Request;
use crate::time::Timestamp;

mod handshake;
mod preset;
mod scheme;

pub use self::handshake::{Answer, Respond, RespondFn};
pub use self::preset::{DedupFrom, Preset};
pub use self::scheme::{
    Carrier, DEFAULT_TOLERANCE, KeyFormat, Part, Scheme, Signer, TimestampFrom,
};

/// A signing secret. Its `Debug` never shows the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Arc<str>);

impl Secret {
    /// Wraps a secret as the sender knows it; its UTF-8 bytes are the HMAC key.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into().into())
    }

    /// The secret itself. Do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The key bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(****)")
    }
}

/// The secret in environment variable `var`, with surrounding whitespace (a newline pasted with
/// it) trimmed and a warning logged; `None` when it is unset or blank.
pub(crate) fn env_secret(var: &str) -> Option<Secret> {
    let value = std::env::var(var).ok()?;
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return None;
    }
    if trimmed.len() != value.len() {
        tracing::warn!("{var} has whitespace around it; it is used without it");
    }
    Some(Secret::new(trimmed))
}

/// The verdict on a request: verified, or rejected with a reason that the sender sees in the
/// `401` answer.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub enum Verification {
    /// The request is authentic.
    Verified,
    /// The request is rejected; the reason is sent back with the `401`.
    Rejected(String),
}

impl Verification {
    /// The request is rejected for `reason`.
    pub fn rejected(reason: impl Into<String>) -> Self {
        Self::Rejected(reason.into())
    }

    /// Whether the request was verified.
    pub const fn is_verified(&self) -> bool {
        matches!(self, Self::Verified)
    }

    /// The rejection reason, if rejected.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::Verified => None,
            Self::Rejected(reason) => Some(reason),
        }
    }
}

/// An HMAC hash function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Algorithm {
    /// HMAC-SHA1 (older senders, e.g. Twilio).
    Sha1,
    /// HMAC-SHA256, the most common.
    Sha256,
    /// HMAC-SHA512.
    Sha512,
}

impl Algorithm {
    /// The name used in arguments (`"sha256"`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Sha1 => "sha1",
            Self::Sha256 => "sha256",
            Self::Sha512 => "sha512",
        }
    }

    /// The length of its HMAC in bytes: 20, 32 or 64. A signature of another length never
    /// verifies.
    pub const fn output_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
            Self::Sha512 => 64,
        }
    }
}

/// How a signature is written in its header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Encoding {
    /// Hexadecimal, upper- or lowercase.
    Hex,
    /// Standard base64, with or without padding.
    Base64,
}

impl Encoding {
    /// The name used in arguments (`"hex"`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Hex => "hex",
            Self::Base64 => "base64",
        }
    }

    /// Encodes signature bytes.
    pub fn encode(self, bytes: &[u8]) -> String {
        match self {
            Self::Hex => hex::encode(bytes),
            Self::Base64 => base64::engine::general_purpose::STANDARD.encode(bytes),
        }
    }

    /// Decodes signature text, or `None` if it is not in this encoding.
    pub fn decode(self, text: &str) -> Option<Vec<u8>> {
        match self {
            Self::Hex => hex::decode(text).ok(),
            Self::Base64 => base64::engine::general_purpose::STANDARD
                .decode(text)
                .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text))
                .ok(),
        }
    }
}

/// The HMAC of `message` under `key`.
pub(crate) fn hmac(algorithm: Algorithm, key: &[u8], message: &[u8]) -> Vec<u8> {
    fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], message: &[u8]) -> Vec<u8> {
        // HMAC accepts keys of any length, so this cannot fail.
        let Ok(mut mac) = <M as hmac::digest::KeyInit>::new_from_slice(key) else {
            return Vec::new();
        };
        mac.update(message);
        mac.finalize().into_bytes().to_vec()
    }
    match algorithm {
        Algorithm::Sha1 => run::<Hmac<sha1::Sha1>>(key, message),
        Algorithm::Sha256 => run::<Hmac<sha2::Sha256>>(key, message),
        Algorithm::Sha512 => run::<Hmac<sha2::Sha512>>(key, message),
    }
}

/// The HMAC of the concatenation of `pieces` under `key`.
pub(crate) fn hmac_parts(algorithm: Algorithm, key: &[u8], pieces: &[Cow<'_, [u8]>]) -> Vec<u8> {
    fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], pieces: &[Cow<'_, [u8]>]) -> Vec<u8> {
        // HMAC accepts keys of any length, so this cannot fail.
        let Ok(mut mac) = <M as hmac::digest::KeyInit>::new_from_slice(key) else {
            return Vec::new();
        };
        for piece in pieces {
            mac.update(piece);
        }
        mac.finalize().into_bytes().to_vec()
    }
    match algorithm {
        Algorithm::Sha1 => run::<Hmac<sha1::Sha1>>(key, pieces),
        Algorithm::Sha256 => run::<Hmac<sha2::Sha256>>(key, pieces),
        Algorithm::Sha512 => run::<Hmac<sha2::Sha512>>(key, pieces),
    }
}

/// Whether `a` and `b` are equal, in time that does not depend on where they differ: for verify
/// fns that compare a token or a signature they computed themselves. (A signature of the raw
/// body is better checked with [`verify_request_signature`] or an [`HmacScheme`].)
///
/// ```
/// use trigger_runtime::verify::constant_time_eq;
/// assert!(constant_time_eq(b"s3cret", b"s3cret"));
/// assert!(!constant_time_eq(b"s3cret", b"s3creT"));
/// assert!(!constant_time_eq(b"s3cret", b"s3cret-and-more"));
/// ```
#[must_use]
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let (x, y) = (
            a.get(i).copied().unwrap_or(0),
            b.get(i).copied().unwrap_or(0),
        );
        diff |= usize::from(x ^ y);
    }
    std::hint::black_box(diff) == 0
}

/// An HMAC of the raw body, sent in one header: the scheme of Cal.com, GitHub
/// (`prefix = "sha256="`), Shopify (`base64`) and many others.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HmacScheme {
    header: &'static str,
    algorithm: Algorithm,
    encoding: Encoding,
    prefix: &'static str,
}

impl HmacScheme {
    /// HMAC-SHA256, hex, no prefix, in `header`.
    pub const fn new(header: &'static str) -> Self {
        Self {
            header,
            algorithm: Algorithm::Sha256,
            encoding: Encoding::Hex,
            prefix: "",
        }
    }

    /// Uses `algorithm`.
    #[must_use]
    pub const fn with_algorithm(mut self, algorithm: Algorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

    /// Uses `encoding`.
    #[must_use]
    pub const fn with_encoding(mut self, encoding: Encoding) -> Self {
        self.encoding = encoding;
        self
    }

    /// Expects `prefix` (like `"sha256="`) before the signature; it is stripped only at the start.
    #[must_use]
    pub const fn with_prefix(mut self, prefix: &'static str) -> Self {
        self.prefix = prefix;
        self
    }

    /// The header that carries the signature.
    pub const fn header(&self) -> &'static str {
        self.header
    }

    /// The hash function.
    pub const fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The signature's encoding.
    pub const fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// The prefix before the signature (empty for none).
    pub const fn prefix(&self) -> &'static str {
        self.prefix
    }

    /// The header value a sender would send for `body`.
    pub fn sign(&self, body: &[u8], secret: &Secret) -> String {
        let mac = hmac(self.algorithm, secret.as_bytes(), body);
        format!("{}{}", self.prefix, self.encoding.encode(&mac))
    }

    /// Checks the request's signature header against the HMAC of its raw body.
    pub fn verify(&self, request: &Request, secret: &Secret) -> Verification {
        self.verify_any(request, std::slice::from_ref(secret))
    }

    /// Checks the request's signature header against the HMAC of its raw body under each of
    /// `secrets` (during a rotation: the current secret first, then the older ones); verified
    /// when one matches. The header is parsed once, and each comparison is in constant time.
    pub fn verify_any(&self, request: &Request, secrets: &[Secret]) -> Verification {
        // No timestamp is signed, so the time does not matter.
        self.scheme().verify_at(request, secrets, Timestamp::now())
    }

    /// The same as a [`Scheme`].
    pub const fn scheme(&self) -> Scheme {
        Scheme::hmac(self.header)
            .with_algorithm(self.algorithm)
            .with_encoding(self.encoding)
            .with_prefix(self.prefix)
    }
}

/// Verifies an HMAC of the raw body sent hex-encoded in `header`: Trigger.dev's
/// `verifyRequestSignature`, but over the raw bytes, in constant time, accepting upper- or
/// lowercase hex.
pub fn verify_request_signature(
    request: &Request,
    header: &str,
    secret: &Secret,
    algorithm: Algorithm,
) -> Verification {
    let scheme = Scheme::hmac("").with_algorithm(algorithm);
    // No timestamp is signed, so the time does not matter.
    scheme.verify_in(
        header,
        request,
        std::slice::from_ref(secret),
        Timestamp::now(),
    )
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod fuzz;
