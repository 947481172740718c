//! One endpoint per signature preset: the endpoint's id is the preset's name, its secret comes
//! from `<ID>_SECRET` (`STANDARD_WEBHOOKS_SECRET`, ...; Discord's public key, hex, from
//! `DISCORD_PUBLIC_KEY`; Meta's verify token from `META_VERIFY_TOKEN`), and each endpoint has
//! one job that logs the body. The README's "Presets" section sends each a signed request with
//! curl.
//!
//! Run with `cargo run -p example-presets`.

use trigger_runtime::prelude::*;

#[http_endpoint(
    id = "standard-webhooks",
    preset = "standard-webhooks",
    secret = "STANDARD_WEBHOOKS_SECRET"
)]
fn standard_webhooks();

#[job(id = "log-standard-webhooks", trigger = standard_webhooks)]
async fn log_standard_webhooks(request: Request, io: Io, _ctx: Context) -> Result<()> {
    log_body(&request, &io);
    Ok(())
}

#[http_endpoint(id = "svix", preset = "svix", secret = "SVIX_SECRET")]
fn svix();

#[job(id = "log-svix", trigger = svix)]
async fn log_svix(request: Request, io: Io, _ctx: Context) -> Result<()> {
    log_body(&request, &io);
    Ok(())
}

#[http_endpoint(id = "stripe", preset = "stripe", secret = "STRIPE_SECRET")]
fn stripe();

#[job(id = "log-stripe", trigger = stripe)]
async fn log_stripe(request: Request, io: Io, _ctx: Context) -> Result<()> {
    log_body(&request, &io);
    Ok(())
}

#[http_endpoint(id = "github", preset = "github", secret = "GITHUB_SECRET")]
fn github();

#[job(id = "log-github", trigger = github)]
async fn log_github(request: Request, io: Io, _ctx: Context) -> Result<()> {
    log_body(&request, &io);
    Ok(())
}

#[http_endpoint(id = "gitlab", preset = "gitlab", secret = "GITLAB_SECRET")]
fn gitlab();

#[job(id = "log-gitlab", trigger = gitlab)]
async fn log_gitlab(request: Request, io: Io, _ctx: Context) -> Result<()> {
    log_body(&request, &io);
    Ok(())
}

#[http_endpoint(id = "slack", preset = "slack", secret = "SLACK_SECRET")]
fn slack();

#[job(id = "log-slack", trigger = slack)]
async fn log_slack(request: Request, io: Io, _ctx: Context) -> Result<()> {
    log_body(&request, &io);
    Ok(())
}

#[http_endpoint(id = "shopify", preset = "shopify", secret = "SHOPIFY_SECRET")]
fn shopify();

#[job(id = "log-shopify", trigger = shopify)]
async fn log_shopify(request: Request, io: Io, _ctx: Context) -> Result<()> {
    log_body(&request, &io);
    Ok(())
}

#[http_endpoint(id = "twilio", preset = "twilio", secret = "TWILIO_SECRET")]
fn twilio();

#[job(id = "log-twilio", trigger = twilio)]
async fn log_twilio(request: Request, io: Io, _ctx: Context) -> Result<()> {
    log_body(&request, &io);
    Ok(())
}

#[http_endpoint(id = "discord", preset = "discord", secret = "DISCORD_PUBLIC_KEY")]
fn discord();

#[job(id = "log-discord", trigger = discord)]
async fn log_discord(request: Request, io: Io, _ctx: Context) -> Result<()> {
    log_body(&request, &io);
    Ok(())
}

#[http_endpoint(id = "linear", preset = "linear", secret = "LINEAR_SECRET")]
fn linear();

#[job(id = "log-linear", trigger = linear)]
async fn log_linear(request: Request, io: Io, _ctx: Context) -> Result<()> {
    log_body(&request, &io);
    Ok(())
}

#[http_endpoint(id = "paddle", preset = "paddle", secret = "PADDLE_SECRET")]
fn paddle();

#[job(id = "log-paddle", trigger = paddle)]
async fn log_paddle(request: Request, io: Io, _ctx: Context) -> Result<()> {
    log_body(&request, &io);
    Ok(())
}

#[http_endpoint(id = "calcom", preset = "calcom", secret = "CALCOM_SECRET")]
fn calcom();

#[job(id = "log-calcom", trigger = calcom)]
async fn log_calcom(request: Request, io: Io, _ctx: Context) -> Result<()> {
    log_body(&request, &io);
    Ok(())
}

#[http_endpoint(id = "zoom", preset = "zoom", secret = "ZOOM_SECRET")]
fn zoom();

#[job(id = "log-zoom", trigger = zoom)]
async fn log_zoom(request: Request, io: Io, _ctx: Context) -> Result<()> {
    log_body(&request, &io);
    Ok(())
}

#[http_endpoint(id = "square", preset = "square", secret = "SQUARE_SECRET")]
fn square();

#[job(id = "log-square", trigger = square)]
async fn log_square(request: Request, io: Io, _ctx: Context) -> Result<()> {
    log_body(&request, &io);
    Ok(())
}

#[http_endpoint(
    id = "meta",
    preset = "meta",
    secret = "META_SECRET",
    verify_token = "META_VERIFY_TOKEN"
)]
fn meta();

#[job(id = "log-meta", trigger = meta)]
async fn log_meta(request: Request, io: Io, _ctx: Context) -> Result<()> {
    log_body(&request, &io);
    Ok(())
}

/// Logs the body: as JSON when it is JSON, else as text.
fn log_body(request: &Request, io: &Io) {
    match request.json::<serde_json::Value>() {
        Ok(body) => io.logger.info("Body", &body),
        Err(_) => io
            .logger
            .info("Body", String::from_utf8_lossy(request.body())),
    }
}

#[tokio::main]
async fn main() -> trigger_runtime::Result<()> {
    trigger_runtime::run().await
}
