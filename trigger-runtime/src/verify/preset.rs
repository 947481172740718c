//! [`Preset`]: the signature schemes of common senders, each as its documentation describes
//! it, with the delivery id that deduplicates its retries and replays.

use sha2::Digest as _;

use super::scheme::{Carrier, KeyFormat, Part, Scheme, Signer, TimestampFrom};
use super::{Algorithm, Encoding};
use crate::request::Request;

/// A sender whose scheme the runtime knows: `#[http_endpoint(preset = "stripe", ...)]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Preset {
    /// [Standard Webhooks](https://www.standardwebhooks.com/): `webhook-id`,
    /// `webhook-timestamp`, `webhook-signature: v1,<base64>`; HMAC-SHA256 of
    /// `{id}.{timestamp}.{body}` under the base64 key after `whsec_`.
    StandardWebhooks,
    /// Svix: Standard Webhooks with `svix-` headers.
    Svix,
    /// Stripe: `Stripe-Signature: t=<seconds>,v1=<hex>`; HMAC-SHA256 of `{t}.{body}` under the
    /// `whsec_...` secret as it is.
    Stripe,
    /// GitHub: `X-Hub-Signature-256: sha256=<hex>`, HMAC-SHA256 of the body.
    Github,
    /// GitLab: `X-Gitlab-Token` holds the secret token itself.
    Gitlab,
    /// Slack: `X-Slack-Signature: v0=<hex>`, HMAC-SHA256 of `v0:{timestamp}:{body}`, the
    /// timestamp in `X-Slack-Request-Timestamp`.
    Slack,
    /// Shopify: `X-Shopify-Hmac-Sha256: <base64>`, HMAC-SHA256 of the body.
    Shopify,
    /// Twilio: `X-Twilio-Signature: <base64>`, HMAC-SHA1 of the URL then, for a form, every
    /// parameter sorted by name (a JSON body is bound by the URL's `bodySHA256`).
    Twilio,
    /// Discord: `X-Signature-Ed25519: <hex>`, an Ed25519 signature of `{timestamp}{body}` with
    /// the application's public key, the timestamp in `X-Signature-Timestamp`.
    Discord,
    /// Linear: `Linear-Signature: <hex>`, HMAC-SHA256 of the body, whose `webhookTimestamp`
    /// (milliseconds) is the timestamp.
    Linear,
    /// Paddle Billing: `Paddle-Signature: ts=<seconds>;h1=<hex>`, HMAC-SHA256 of
    /// `{ts}:{body}`.
    Paddle,
    /// Cal.com: `X-Cal-Signature-256: <hex>`, HMAC-SHA256 of the body.
    Calcom,
    /// Zoom: `x-zm-signature: v0=<hex>`, HMAC-SHA256 of `v0:{timestamp}:{body}`, the timestamp
    /// in `x-zm-request-timestamp`.
    Zoom,
    /// Square: `x-square-hmacsha256-signature: <base64>`, HMAC-SHA256 of the notification URL
    /// then the body.
    Square,
    /// Meta (WhatsApp, Messenger, Instagram): `X-Hub-Signature-256: sha256=<hex>`, HMAC-SHA256
    /// of the body under the app secret; the subscription `GET` is answered with its
    /// `hub.challenge` when its `hub.verify_token` is the endpoint's verify token.
    Meta,
}

/// Where a sender puts the id of a delivery, the same in its retries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DedupFrom {
    /// The first of these headers that is present.
    Headers(&'static [&'static str]),
    /// A top-level string field of the JSON body (signed with it).
    BodyField(&'static str),
    /// A top-level string field of the JSON body when there is one, else the timestamp header
    /// and a digest of the body, both signed.
    FieldOrTimestampAndBody {
        /// The field.
        field: &'static str,
        /// The timestamp header.
        timestamp: &'static str,
    },
    /// The timestamp header and a digest of the body, both signed.
    TimestampAndBody(&'static str),
    /// A digest of the body (signed, and with no id nor timestamp beside it).
    BodyDigest,
}

const fn header(name: &'static str, prefix: &'static str) -> Carrier {
    Carrier::Header { name, prefix }
}

const SHA256: Signer = Signer::Hmac(Algorithm::Sha256);

const ID_TIMESTAMP_BODY: &[Part] = &[
    Part::Header("webhook-id"),
    Part::Text("."),
    Part::Timestamp,
    Part::Text("."),
    Part::Body,
];
const SVIX_ID_TIMESTAMP_BODY: &[Part] = &[
    Part::Header("svix-id"),
    Part::Text("."),
    Part::Timestamp,
    Part::Text("."),
    Part::Body,
];
const V0_TIMESTAMP_BODY: &[Part] = &[
    Part::Text("v0:"),
    Part::Timestamp,
    Part::Text(":"),
    Part::Body,
];
const BODY: &[Part] = &[Part::Body];
const TIMESTAMP_DOT_BODY: &[Part] = &[Part::Timestamp, Part::Text("."), Part::Body];
const TIMESTAMP_COLON_BODY: &[Part] = &[Part::Timestamp, Part::Text(":"), Part::Body];

/// HMAC-SHA256 of the body in `name` after `prefix`.
const fn body(name: &'static str, prefix: &'static str, encoding: Encoding) -> Scheme {
    Scheme::new(header(name, prefix), SHA256, encoding, BODY)
}

/// Standard Webhooks' scheme, with its header names.
const fn versioned(
    signature: &'static str,
    timestamp: &'static str,
    signed: &'static [Part],
) -> Scheme {
    let carrier = Carrier::Versioned {
        name: signature,
        version: "v1",
    };
    Scheme::new(carrier, SHA256, Encoding::Base64, signed)
        .with_timestamp(TimestampFrom::Header(timestamp))
        .with_key(KeyFormat::WhsecBase64)
}

/// A `t=...,v1=...` header (Stripe, Paddle): HMAC-SHA256, hex.
const fn pairs(
    name: &'static str,
    separator: char,
    signature: &'static str,
    timestamp: &'static str,
    signed: &'static [Part],
) -> Scheme {
    let carrier = Carrier::Pairs {
        name,
        separator,
        signature,
        timestamp,
    };
    Scheme::new(carrier, SHA256, Encoding::Hex, signed).with_timestamp(TimestampFrom::Carrier)
}

/// `v0=<hex>` of `v0:{timestamp}:{body}` (Slack, Zoom).
const fn v0(signature: &'static str, timestamp: &'static str) -> Scheme {
    Scheme::new(
        header(signature, "v0="),
        SHA256,
        Encoding::Hex,
        V0_TIMESTAMP_BODY,
    )
    .with_timestamp(TimestampFrom::Header(timestamp))
}

impl Preset {
    /// Every preset.
    pub const ALL: &'static [Self] = &[
        Self::StandardWebhooks,
        Self::Svix,
        Self::Stripe,
        Self::Github,
        Self::Gitlab,
        Self::Slack,
        Self::Shopify,
        Self::Twilio,
        Self::Discord,
        Self::Linear,
        Self::Paddle,
        Self::Calcom,
        Self::Zoom,
        Self::Square,
        Self::Meta,
    ];

    /// Its name, as in `preset = "standard-webhooks"`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::StandardWebhooks => "standard-webhooks",
            Self::Svix => "svix",
            Self::Stripe => "stripe",
            Self::Github => "github",
            Self::Gitlab => "gitlab",
            Self::Slack => "slack",
            Self::Shopify => "shopify",
            Self::Twilio => "twilio",
            Self::Discord => "discord",
            Self::Linear => "linear",
            Self::Paddle => "paddle",
            Self::Calcom => "calcom",
            Self::Zoom => "zoom",
            Self::Square => "square",
            Self::Meta => "meta",
        }
    }

    /// The preset called `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|preset| preset.name() == name)
    }

    /// Its signature scheme, with the default tolerance of 5 minutes where it has a
    /// timestamp.
    pub const fn scheme(self) -> Scheme {
        match self {
            Self::StandardWebhooks => {
                versioned("webhook-signature", "webhook-timestamp", ID_TIMESTAMP_BODY)
            }
            Self::Svix => versioned("svix-signature", "svix-timestamp", SVIX_ID_TIMESTAMP_BODY),
            Self::Stripe => pairs("Stripe-Signature", ',', "v1", "t", TIMESTAMP_DOT_BODY),
            Self::Paddle => pairs("Paddle-Signature", ';', "h1", "ts", TIMESTAMP_COLON_BODY),
            Self::Github | Self::Meta => body("X-Hub-Signature-256", "sha256=", Encoding::Hex),
            Self::Calcom => body("X-Cal-Signature-256", "", Encoding::Hex),
            Self::Shopify => body("X-Shopify-Hmac-Sha256", "", Encoding::Base64),
            Self::Linear => body("Linear-Signature", "", Encoding::Hex)
                .with_timestamp(TimestampFrom::BodyMillis("webhookTimestamp")),
            Self::Slack => v0("X-Slack-Signature", "X-Slack-Request-Timestamp"),
            Self::Zoom => v0("x-zm-signature", "x-zm-request-timestamp"),
            Self::Gitlab => Scheme::new(
                header("X-Gitlab-Token", ""),
                Signer::Token,
                Encoding::Hex,
                BODY,
            ),
            Self::Twilio => {
                let signer = Signer::Hmac(Algorithm::Sha1);
                let carrier = header("X-Twilio-Signature", "");
                Scheme::new(
                    carrier,
                    signer,
                    Encoding::Base64,
                    &[Part::Url, Part::FormParams],
                )
                .with_body_sha256_param("bodySHA256")
            }
            Self::Discord => {
                let carrier = header("X-Signature-Ed25519", "");
                let signed = &[Part::Timestamp, Part::Body];
                Scheme::new(carrier, Signer::Ed25519, Encoding::Hex, signed)
                    .with_timestamp(TimestampFrom::Header("X-Signature-Timestamp"))
                    .with_key(KeyFormat::Hex)
            }
            Self::Square => {
                let carrier = header("x-square-hmacsha256-signature", "");
                Scheme::new(carrier, SHA256, Encoding::Base64, &[Part::Url, Part::Body])
            }
        }
    }

    /// Where its delivery id is.
    pub const fn dedup(self) -> DedupFrom {
        match self {
            Self::StandardWebhooks => DedupFrom::Headers(&["webhook-id"]),
            Self::Svix => DedupFrom::Headers(&["svix-id"]),
            Self::Stripe | Self::Discord => DedupFrom::BodyField("id"),
            Self::Github => DedupFrom::Headers(&["X-GitHub-Delivery"]),
            Self::Gitlab => DedupFrom::Headers(&["Idempotency-Key", "X-Gitlab-Event-UUID"]),
            Self::Slack => DedupFrom::FieldOrTimestampAndBody {
                field: "event_id",
                timestamp: "X-Slack-Request-Timestamp",
            },
            Self::Zoom => DedupFrom::TimestampAndBody("x-zm-request-timestamp"),
            Self::Shopify => DedupFrom::Headers(&["X-Shopify-Event-Id", "X-Shopify-Webhook-Id"]),
            Self::Twilio => DedupFrom::Headers(&["I-Twilio-Idempotency-Token"]),
            Self::Linear => DedupFrom::Headers(&["Linear-Delivery"]),
            Self::Paddle => DedupFrom::BodyField("notification_id"),
            Self::Square => DedupFrom::BodyField("event_id"),
            Self::Calcom | Self::Meta => DedupFrom::BodyDigest,
        }
    }

    /// The request's delivery id, if the sender sent one: the event's deduplication key,
    /// before any generic header (`Idempotency-Key`, ...).
    pub fn dedup_key(self, request: &Request) -> Option<String> {
        let body_field = |field: &str| -> Option<String> {
            let body: serde_json::Value = serde_json::from_slice(request.body()).ok()?;
            let value = body.get(field)?.as_str()?.trim();
            (!value.is_empty()).then(|| value.to_owned())
        };
        let digest = || hex::encode(sha2::Sha256::digest(request.body()));
        let timestamp_and_body = |timestamp: &str| {
            let at = request.header(timestamp)?.trim();
            Some(format!("{at}:sha256:{}", digest()))
        };
        match self.dedup() {
            DedupFrom::Headers(names) => names.iter().find_map(|name| {
                let value = request.header(name)?.trim();
                (!value.is_empty()).then(|| value.to_owned())
            }),
            DedupFrom::BodyField(field) => body_field(field),
            DedupFrom::FieldOrTimestampAndBody { field, timestamp } => {
                body_field(field).or_else(|| timestamp_and_body(timestamp))
            }
            DedupFrom::TimestampAndBody(timestamp) => timestamp_and_body(timestamp),
            DedupFrom::BodyDigest => Some(format!("sha256:{}", digest())),
        }
    }

    /// What the preset answers by itself, for the README and `endpoints`.
    pub const fn handshake(self) -> Option<&'static str> {
        match self {
            Self::Slack => Some("`url_verification`: answers its `challenge`"),
            Self::Discord => Some("PING (`type` 1): answers `{\"type\":1}`"),
            Self::Zoom => Some("`endpoint.url_validation`: answers the HMAC of its `plainToken`"),
            Self::Meta => Some("`GET ?hub.mode=subscribe`: answers `hub.challenge`"),
            _ => None,
        }
    }
}

impl std::fmt::Display for Preset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
