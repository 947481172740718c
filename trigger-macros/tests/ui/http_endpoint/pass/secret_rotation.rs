use trigger_runtime::prelude::*;

// During a rotation: requests signed with either secret verify while both variables are set.
#[http_endpoint(
    id = "github",
    header = "X-Hub-Signature-256",
    prefix = "sha256=",
    secret = ["GITHUB_SECRET_NEW", "GITHUB_SECRET_OLD"],
)]
fn github();

// A list of one is a single variable; a trailing comma is fine.
#[http_endpoint(id = "acme", secret = ["ACME_SECRET",])]
async fn acme(request: &Request, secret: &Secret) -> Verification {
    verify_request_signature(request, "X-Acme-Signature", secret, Algorithm::Sha256)
}

fn main() {
    assert_eq!(github.secret_env(), Some("GITHUB_SECRET_NEW"));
    assert_eq!(github.secret_envs(), ["GITHUB_SECRET_NEW", "GITHUB_SECRET_OLD"]);
    assert_eq!(acme.secret_envs(), ["ACME_SECRET"]);
}
