use trigger_runtime::prelude::*;

#[http_endpoint(
    id = "acme",
    header = "X-Signature",
    signed = "{timestamp}.{url}",
    timestamp_header = "X-Timestamp"
)]
fn acme();

fn main() {}
