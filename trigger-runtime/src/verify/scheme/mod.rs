//! [`Scheme`]: how a sender signs its requests, described as data: where the signature is,
//! what is signed, with which algorithm and encoding, how the secret is decoded, and where the
//! timestamp is and how old it may be. Every preset and every `#[http_endpoint(header = ...)]`
//! is one, verified by the same code.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use super::{Algorithm, Encoding};

mod check;
mod sign;

/// The default tolerance of timestamped schemes: 5 minutes each way.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// Where the signature is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Carrier {
    /// One signature in a header, after `prefix`: `X-Hub-Signature-256: sha256=<hex>`.
    Header {
        /// The header.
        name: &'static str,
        /// Text before the signature, stripped at the start only (empty for none).
        prefix: &'static str,
    },
    /// Space-separated `version,signature` entries, any of which may verify (Standard
    /// Webhooks, during a rotation): `webhook-signature: v1,<base64> v1,<base64>`.
    Versioned {
        /// The header.
        name: &'static str,
        /// The version of the entries read (`"v1"`); others are ignored.
        version: &'static str,
    },
    /// `key=value` pairs: signatures under `signature` (any may verify), the timestamp under
    /// `timestamp`: Stripe's `t=1492774577,v1=<hex>,v1=<hex>`, Paddle's `ts=...;h1=...`.
    Pairs {
        /// The header.
        name: &'static str,
        /// Between pairs: `,` or `;`.
        separator: char,
        /// The key of signatures: `v1`, `h1`.
        signature: &'static str,
        /// The key of the timestamp: `t`, `ts`.
        timestamp: &'static str,
    },
}

impl Carrier {
    /// The header that carries the signature.
    pub const fn header(&self) -> &'static str {
        match self {
            Self::Header { name, .. } | Self::Versioned { name, .. } | Self::Pairs { name, .. } => {
                name
            }
        }
    }
}

/// How the signature is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Signer {
    /// An HMAC of the signed content under the secret.
    Hmac(Algorithm),
    /// An Ed25519 signature of the signed content; the secret is the sender's public key.
    Ed25519,
    /// No signature: the header holds the secret itself (GitLab's `X-Gitlab-Token`).
    Token,
}

impl Signer {
    /// The length of a signature in bytes, when it has one.
    const fn output_len(self) -> Option<usize> {
        match self {
            Self::Hmac(algorithm) => Some(algorithm.output_len()),
            Self::Ed25519 => Some(64),
            Self::Token => None,
        }
    }

    fn name(self) -> String {
        match self {
            Self::Hmac(algorithm) => format!("HMAC-{}", algorithm.name().to_uppercase()),
            Self::Ed25519 => "Ed25519 signature".to_owned(),
            Self::Token => "token".to_owned(),
        }
    }
}

/// One piece of the signed content, which is the pieces one after the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Part {
    /// The raw body.
    Body,
    /// The timestamp, as the sender wrote it.
    Timestamp,
    /// The URL the sender used (`TRIGGER_PUBLIC_URL` and the path, behind a proxy).
    Url,
    /// This text.
    Text(&'static str),
    /// The value of this header (a delivery id).
    Header(&'static str),
    /// For a form-encoded body, every parameter sorted by name, each name then its value
    /// (Twilio); nothing for other bodies.
    FormParams,
}

/// Where the timestamp is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimestampFrom {
    /// A header, in seconds.
    Header(&'static str),
    /// The signature header's timestamp key (see [`Carrier::Pairs`]), in seconds.
    Carrier,
    /// A top-level field of the JSON body, in milliseconds (Linear's `webhookTimestamp`).
    BodyMillis(&'static str),
}

/// How the secret's text becomes the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyFormat {
    /// Its UTF-8 bytes, as they are (Stripe's `whsec_...` too).
    Raw,
    /// Base64 after an optional `whsec_` (Standard Webhooks, Svix).
    WhsecBase64,
    /// Hexadecimal (Discord's public key).
    Hex,
}

/// How a sender signs its requests; see the module docs. Built in `const` context, so an
/// endpoint's scheme lives in its `static`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scheme {
    carrier: Carrier,
    signer: Signer,
    encoding: Encoding,
    signed: &'static [Part],
    timestamp: Option<TimestampFrom>,
    tolerance: Duration,
    key: KeyFormat,
    body_sha256_param: Option<&'static str>,
}

/// The body alone, the most common signed content.
const BODY: &[Part] = &[Part::Body];

impl Scheme {
    /// HMAC-SHA256 of the raw body, hex, in `header`: the scheme of Cal.com and many others;
    /// change it with the `with_` methods.
    pub const fn hmac(header: &'static str) -> Self {
        Self::new(
            Carrier::Header {
                name: header,
                prefix: "",
            },
            Signer::Hmac(Algorithm::Sha256),
            Encoding::Hex,
            BODY,
        )
    }

    /// A scheme: the signature in `carrier`, made by `signer` over `signed`, written in
    /// `encoding`; no timestamp, and the secret's bytes as the key.
    pub const fn new(
        carrier: Carrier,
        signer: Signer,
        encoding: Encoding,
        signed: &'static [Part],
    ) -> Self {
        Self {
            carrier,
            signer,
            encoding,
            signed,
            timestamp: None,
            tolerance: DEFAULT_TOLERANCE,
            key: KeyFormat::Raw,
            body_sha256_param: None,
        }
    }

    /// Uses `algorithm` for the HMAC.
    #[must_use]
    pub const fn with_algorithm(mut self, algorithm: Algorithm) -> Self {
        self.signer = Signer::Hmac(algorithm);
        self
    }

    /// Writes the signature in `encoding`.
    #[must_use]
    pub const fn with_encoding(mut self, encoding: Encoding) -> Self {
        self.encoding = encoding;
        self
    }

    /// Expects `prefix` before a signature in a plain header.
    #[must_use]
    pub const fn with_prefix(mut self, prefix: &'static str) -> Self {
        if let Carrier::Header { name, .. } = self.carrier {
            self.carrier = Carrier::Header { name, prefix };
        }
        self
    }

    /// Signs `signed` instead of the body.
    #[must_use]
    pub const fn with_signed(mut self, signed: &'static [Part]) -> Self {
        self.signed = signed;
        self
    }

    /// Reads the timestamp from `from`, and refuses requests older or newer than the
    /// tolerance.
    #[must_use]
    pub const fn with_timestamp(mut self, from: TimestampFrom) -> Self {
        self.timestamp = Some(from);
        self
    }

    /// How far a timestamp may be from now, either way (default 5 minutes; zero: not
    /// checked).
    #[must_use]
    pub const fn with_tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// Decodes the secret as `key`.
    #[must_use]
    pub const fn with_key(mut self, key: KeyFormat) -> Self {
        self.key = key;
        self
    }

    /// For bodies that are not forms, the URL's query parameter `param` must hold the body's
    /// SHA-256, hex (Twilio's `bodySHA256`).
    #[must_use]
    pub const fn with_body_sha256_param(mut self, param: &'static str) -> Self {
        self.body_sha256_param = Some(param);
        self
    }

    /// Where the signature is.
    pub const fn carrier(&self) -> &Carrier {
        &self.carrier
    }

    /// How it is made.
    pub const fn signer(&self) -> Signer {
        self.signer
    }

    /// How it is written.
    pub const fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// What is signed.
    pub const fn signed(&self) -> &'static [Part] {
        self.signed
    }

    /// Where the timestamp is, if the scheme has one.
    pub const fn timestamp(&self) -> Option<TimestampFrom> {
        self.timestamp
    }

    /// How far a timestamp may be from now (zero: not checked).
    pub const fn tolerance(&self) -> Duration {
        self.tolerance
    }

    /// How the secret is decoded.
    pub const fn key(&self) -> KeyFormat {
        self.key
    }

    /// The URL's query parameter that holds the SHA-256 of a body that is not a form, if the
    /// scheme signs such bodies that way.
    pub const fn body_sha256_param(&self) -> Option<&'static str> {
        self.body_sha256_param
    }

    /// The signed content as a template: `{timestamp}.{body}`.
    pub fn template(&self) -> String {
        self.signed
            .iter()
            .map(|part| match part {
                Part::Body => Cow::Borrowed("{body}"),
                Part::Timestamp => Cow::Borrowed("{timestamp}"),
                Part::Url => Cow::Borrowed("{url}"),
                Part::FormParams => Cow::Borrowed("{form}"),
                Part::Text(text) => Cow::Borrowed(*text),
                Part::Header(name) => Cow::Owned(format!("{{header:{name}}}")),
            })
            .collect()
    }
}

/// `HMAC-SHA256 hex of the body in X-Cal-Signature-256`, `... of `{timestamp}.{body}` in
/// Stripe-Signature (v1=, timestamp in t=, tolerance 300 s)`.
impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header = self.carrier.header();
        if self.signer == Signer::Token {
            return write!(f, "the secret token in {header}");
        }
        let signer = match self.signer {
            Signer::Hmac(algorithm) => format!("HMAC-{}", algorithm.name().to_uppercase()),
            _ => "Ed25519".to_owned(),
        };
        let what = if self.signed == BODY {
            "the body".to_owned()
        } else {
            format!("`{}`", self.template())
        };
        write!(f, "{signer} {} of {what} in {header}", self.encoding.name())?;
        let mut notes = Vec::new();
        match self.carrier {
            Carrier::Header { prefix, .. } if !prefix.is_empty() => {
                notes.push(format!("prefix {prefix:?}"));
            }
            Carrier::Versioned { version, .. } => notes.push(format!("{version}, entries")),
            Carrier::Pairs {
                signature,
                timestamp,
                ..
            } => {
                notes.push(format!("{signature}="));
                if self.timestamp.is_some() {
                    notes.push(format!("timestamp in {timestamp}="));
                }
            }
            Carrier::Header { .. } => {}
        }
        match self.timestamp {
            Some(TimestampFrom::Header(name)) => notes.push(format!("timestamp in {name}")),
            Some(TimestampFrom::BodyMillis(field)) => {
                notes.push(format!("timestamp in the body's {field}"));
            }
            _ => {}
        }
        if self.timestamp.is_some() {
            notes.push(if self.tolerance.is_zero() {
                "no tolerance check".to_owned()
            } else {
                format!("tolerance {} s", self.tolerance.as_secs())
            });
        }
        if !notes.is_empty() {
            write!(f, " ({})", notes.join(", "))?;
        }
        Ok(())
    }
}
