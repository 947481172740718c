use trigger_runtime::prelude::*;

#[http_endpoint(id = "acme", header = "X-Signature", encoding = "base32")]
fn acme();

fn main() {}
