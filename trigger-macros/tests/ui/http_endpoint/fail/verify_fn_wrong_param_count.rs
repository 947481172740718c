use trigger_runtime::prelude::*;

#[http_endpoint(id = "acme")]
async fn acme(request: &Request) -> Verification {
    if request.header("X-Token").is_some() {
        Verification::Verified
    } else {
        Verification::rejected("no token")
    }
}

fn main() {}
