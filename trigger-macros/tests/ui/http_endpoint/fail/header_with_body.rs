use trigger_runtime::prelude::*;

#[http_endpoint(id = "acme", header = "X-Signature")]
async fn acme(request: &Request, secret: &Secret) -> Verification {
    verify_request_signature(request, "X-Signature", secret, Algorithm::Sha256)
}

fn main() {}
