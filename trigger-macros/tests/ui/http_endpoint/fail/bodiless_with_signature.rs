use trigger_runtime::prelude::*;

// A verify fn's signature, but no body: the built-in HMAC check needs none of it.
#[http_endpoint(id = "acme", header = "X-Signature")]
async fn acme(request: &Request, secret: &Secret) -> Verification;

fn main() {}
