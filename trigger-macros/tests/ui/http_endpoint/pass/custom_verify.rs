use trigger_runtime::prelude::*;

/// Verified by the fn's own body.
#[http_endpoint(id = "acme", secret = "ACME_SECRET")]
async fn acme(request: &Request, secret: &Secret) -> Verification {
    if request.header("X-Acme-Token").is_none() {
        return Verification::rejected("missing X-Acme-Token");
    }
    verify_request_signature(request, "X-Acme-Signature", secret, Algorithm::Sha256)
}

#[job(id = "acme-job", trigger = acme)]
async fn acme_job(request: Request, io: Io, _ctx: Context) -> Result<()> {
    io.logger.info("Body", request.text()?);
    Ok(())
}

fn main() {
    assert_eq!(acme.id(), "acme");
}
