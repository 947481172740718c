// Each endpoint in its own module: a static named `request` or `secret` would forbid the user's
// own parameters of that name elsewhere in its module.

mod secret {
    use trigger_runtime::prelude::*;

    /// A verify fn named like its second parameter.
    #[http_endpoint(id = "secret")]
    pub async fn secret(request: &Request, secret: &Secret) -> Verification {
        verify_request_signature(request, "X-Signature", secret, Algorithm::Sha256)
    }

    #[job(id = "secret-job", trigger = secret)]
    async fn secret_job(_request: Request, _io: Io, _ctx: Context) -> Result<()> {
        Ok(())
    }
}

mod request {
    use trigger_runtime::prelude::*;

    /// A verify fn named like its first parameter.
    #[http_endpoint(id = "request")]
    pub async fn request(request: &Request, _secret: &Secret) -> Verification {
        if request.header("X-Token").is_some() {
            Verification::Verified
        } else {
            Verification::rejected("missing X-Token")
        }
    }
}

mod verdict {
    use trigger_runtime::prelude::*;

    /// A verify fn named like the wrapper's verdict.
    #[http_endpoint(id = "verdict")]
    pub async fn verdict(_request: &Request, _secret: &Secret) -> Verification {
        Verification::rejected("never")
    }
}

fn main() {
    assert_eq!(secret::secret.id(), "secret");
    assert_eq!(request::request.id(), "request");
    assert_eq!(verdict::verdict.id(), "verdict");
}
