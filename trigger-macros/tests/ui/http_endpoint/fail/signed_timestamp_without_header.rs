use trigger_runtime::prelude::*;

#[http_endpoint(id = "acme", header = "X-Signature", signed = "{timestamp}.{body}")]
fn acme();

fn main() {}
