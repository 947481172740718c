use trigger_runtime::prelude::*;

#[http_endpoint(id = "acme")]
async fn acme(request: &Request, secret: &Secret) {
    verify_request_signature(request, "X-Signature", secret, Algorithm::Sha256);
}

fn main() {}
