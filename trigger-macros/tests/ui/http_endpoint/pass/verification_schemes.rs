// Presets, a custom sender's timestamped scheme and a `respond_with` fn; the expansion is
// checked against strict lints too.
#![deny(
    warnings,
    rust_2018_idioms,
    unused_qualifications,
    single_use_lifetimes,
    trivial_casts,
    trivial_numeric_casts,
    unused_results
)]

use std::time::Duration;

use trigger_runtime::endpoint::Verifier;
use trigger_runtime::prelude::*;
use trigger_runtime::verify::Preset;

/// Stripe: `Stripe-Signature: t=...,v1=...`.
#[http_endpoint(id = "stripe", preset = "stripe", secret = "STRIPE_WEBHOOK_SECRET")]
fn stripe();

/// Standard Webhooks, with a wider tolerance.
#[http_endpoint(id = "standard", preset = "standard-webhooks", tolerance = "10m")]
fn standard();

/// Discord interactions: an Ed25519 signature; the preset answers its PING.
#[http_endpoint(id = "discord", preset = "discord", secret = "DISCORD_PUBLIC_KEY")]
fn discord();

/// WhatsApp: the subscription `GET` is answered with the token in `META_VERIFY_TOKEN`.
#[http_endpoint(
    id = "whatsapp",
    preset = "meta",
    verify_token = "META_VERIFY_TOKEN",
    secret = "META_APP_SECRET"
)]
fn whatsapp();

/// A sender that signs `{timestamp}.{body}` and sends the timestamp in its own header.
#[http_endpoint(
    id = "acme",
    header = "X-Acme-Signature",
    algorithm = "sha512",
    encoding = "base64",
    prefix = "v1=",
    signed = "{timestamp}.{header:X-Acme-Id}.{url}:{body}",
    timestamp_header = "X-Acme-Timestamp",
    tolerance = "30s",
    secret = "ACME_SECRET"
)]
fn acme();

/// A timestamp that is signed but whose age is not checked.
#[http_endpoint(
    id = "beta",
    header = "X-Beta-Signature",
    signed = "{timestamp}{body}",
    timestamp_header = "X-Beta-Timestamp",
    tolerance = "0"
)]
fn beta();

/// Answers the sender's handshake itself.
#[http_endpoint(
    id = "handshake",
    header = "X-Signature",
    secret = "HANDSHAKE_SECRET",
    respond_with = answer_handshake
)]
fn handshake();

async fn answer_handshake(request: &Request, verification: &Verification) -> Respond {
    if !verification.is_verified() {
        return Respond::Continue;
    }
    match request.query().get("challenge") {
        Some(challenge) => Respond::Answer(Answer::text(challenge)),
        None if request.method() == "GET" => {
            Respond::Answer(Answer::json(&serde_json::json!({ "ok": true })))
        }
        None => Respond::Continue,
    }
}

mod handshakes {
    use trigger_runtime::prelude::*;

    pub(crate) async fn ping(_request: &Request, _verification: &Verification) -> Respond {
        Respond::Continue
    }
}

/// A `respond_with` fn named by a path, beside a preset.
#[http_endpoint(id = "zoom", preset = "zoom", respond_with = handshakes::ping)]
fn zoom();

#[job(id = "stripe-job", trigger = stripe)]
async fn stripe_job(request: Request, io: Io, _ctx: Context) -> Result<()> {
    io.logger.info("Body", request.text()?);
    Ok(())
}

fn tolerance(endpoint: &HttpEndpoint) -> Duration {
    match endpoint.verifier() {
        Verifier::Scheme(scheme) => scheme.tolerance(),
        other => panic!("{} is verified by {other}", endpoint.id()),
    }
}

fn main() {
    assert_eq!(stripe.preset(), Some(Preset::Stripe));
    assert_eq!(standard.preset(), Some(Preset::StandardWebhooks));
    assert_eq!(discord.preset(), Some(Preset::Discord));
    assert_eq!(whatsapp.preset(), Some(Preset::Meta));
    assert_eq!(whatsapp.verify_token_env(), Some("META_VERIFY_TOKEN"));
    assert_eq!(tolerance(&standard), Duration::from_secs(600));
    assert_eq!(tolerance(&stripe), Duration::from_secs(300));

    let scheme = acme.verifier().to_string();
    assert!(scheme.contains("`{timestamp}.{header:X-Acme-Id}.{url}:{body}`"), "{scheme}");
    assert!(scheme.contains("timestamp in X-Acme-Timestamp"), "{scheme}");
    assert!(scheme.starts_with("HMAC-SHA512 base64"), "{scheme}");
    assert_eq!(acme.preset(), None);
    assert_eq!(tolerance(&acme), Duration::from_secs(30));
    assert_eq!(tolerance(&beta), Duration::ZERO);

    assert!(handshake.respond_with().is_some());
    assert!(zoom.respond_with().is_some());
    assert!(stripe.respond_with().is_none());
}
