use trigger_runtime::prelude::*;

#[http_endpoint(id = "acme", header = "X-Signature", timestamp_header = "X-Timestamp")]
fn acme();

#[http_endpoint(
    id = "beta",
    header = "X-Signature",
    signed = "v1:{body}",
    timestamp_header = "X-Timestamp"
)]
fn beta();

fn main() {}
