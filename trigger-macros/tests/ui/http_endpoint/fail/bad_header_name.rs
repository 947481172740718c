use trigger_runtime::prelude::*;

#[http_endpoint(id = "acme", header = "X Signature")]
fn acme();

fn main() {}
