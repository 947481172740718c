use trigger_runtime::prelude::*;

#[http_endpoint(id = "acme", header = "X-Signature", secret = ["ACME_SECRET", "ACME_SECRET"])]
fn acme();

fn main() {}
