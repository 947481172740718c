use trigger_runtime::prelude::*;

#[http_endpoint(id = "acme", header = "X-Signature", id = "acme-2")]
fn acme();

fn main() {}
