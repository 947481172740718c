use trigger_runtime::prelude::*;

#[http_endpoint(id = "acme", header = "X-Signature", tolerance = "5m")]
fn acme();

#[http_endpoint(id = "github", preset = "github", tolerance = "5m")]
fn github();

#[http_endpoint(id = "beta", tolerance = "5m")]
async fn beta(request: &Request, secret: &Secret) -> Verification {
    verify_request_signature(request, "X-Signature", secret, Algorithm::Sha256)
}

fn main() {}
