use trigger_runtime::prelude::*;

#[http_endpoint(id = "acme", header = "X-Signature")]
async fn acme();

fn main() {}
