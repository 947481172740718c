use trigger_runtime::prelude::*;

// The lifetime is fine; the type and the const parameters are not, nor is the where clause that
// needs the type (which is not reported on its own).
#[http_endpoint(id = "acme")]
async fn acme<'a, T, const N: usize>(request: &'a Request, secret: &'a Secret) -> Verification
where
    T: Default,
{
    verify_request_signature(request, "X-Signature", secret, Algorithm::Sha256)
}

fn main() {}
