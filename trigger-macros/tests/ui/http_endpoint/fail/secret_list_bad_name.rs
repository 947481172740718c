use trigger_runtime::prelude::*;

#[http_endpoint(id = "acme", header = "X-Signature", secret = ["ACME_SECRET", "bad name"])]
fn acme();

fn main() {}
