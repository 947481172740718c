use trigger_runtime::prelude::*;

#[http_endpoint(id = "github", preset = "github")]
async fn github(request: &Request, secret: &Secret) -> Verification {
    verify_request_signature(request, "X-Hub-Signature-256", secret, Algorithm::Sha256)
}

fn main() {}
