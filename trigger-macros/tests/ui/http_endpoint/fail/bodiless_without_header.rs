use trigger_runtime::prelude::*;

#[http_endpoint(id = "acme", secret = "ACME_SECRET")]
fn acme();

fn main() {}
