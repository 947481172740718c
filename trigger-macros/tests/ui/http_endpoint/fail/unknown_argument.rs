use trigger_runtime::prelude::*;

#[http_endpoint(id = "acme", header = "X-Signature", path = "/acme")]
fn acme();

fn main() {}
