use trigger_runtime::prelude::*;

#[http_endpoint(id = "acme")]
async fn acme(body: &Vec<u8>, _secret: &Secret) -> Verification {
    Verification::rejected(format!("{} bytes", body.len()))
}

fn main() {}
