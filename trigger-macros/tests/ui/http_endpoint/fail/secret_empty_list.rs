use trigger_runtime::prelude::*;

#[http_endpoint(id = "acme", header = "X-Signature", secret = [])]
fn acme();

fn main() {}
