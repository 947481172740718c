use trigger_runtime::prelude::*;

/// Cal.com signs the raw body with HMAC-SHA256 and sends it hex-encoded.
#[http_endpoint(
    id = "cal.com",
    source = "cal.com",
    icon = "caldotcom",
    title = "Cal.com",
    header = "X-Cal-Signature-256",
    secret = "CALDOTCOM_SECRET"
)]
fn caldotcom();

/// Logs every booking event's body.
#[job(id = "http-caldotcom", name = "HTTP Cal.com", version = "1.0.0", trigger = caldotcom)]
async fn http_caldotcom(request: Request, io: Io, ctx: Context) -> Result<()> {
    let body = request.text()?;
    io.logger.info("Body", body);
    io.logger.debug("Attempt", ctx.attempt());
    Ok(())
}

fn main() {
    let _: &HttpEndpoint = &caldotcom;
    assert_eq!(caldotcom.id(), "cal.com");
    assert_eq!(caldotcom.path(), "/endpoints/cal.com");
}
