use trigger_runtime::prelude::*;

#[http_endpoint(id = "acme")]
async fn acme(request: &Request, _secret: &Secret) -> Option<bool> {
    Some(request.header("X-Token").is_some())
}

fn main() {}
