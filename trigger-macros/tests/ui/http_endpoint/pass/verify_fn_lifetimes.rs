use trigger_runtime::prelude::*;

/// Explicit lifetimes on a verify fn are fine.
#[http_endpoint(id = "acme", secret = "ACME_SECRET")]
async fn acme<'a>(request: &'a Request, secret: &'a Secret) -> Verification {
    verify_request_signature(request, "X-Acme-Signature", secret, Algorithm::Sha256)
}

/// Two lifetimes, one bounded by the other in a where clause.
#[http_endpoint(id = "beta")]
async fn beta<'r, 's>(request: &'r Request, secret: &'s Secret) -> Verification
where
    'r: 's,
{
    verify_request_signature(request, "X-Beta-Signature", secret, Algorithm::Sha1)
}

#[job(id = "acme-job", trigger = acme)]
async fn acme_job(_request: Request, _io: Io, _ctx: Context) -> Result<()> {
    Ok(())
}

fn main() {
    assert_eq!(acme.id(), "acme");
    assert_eq!(beta.id(), "beta");
}
