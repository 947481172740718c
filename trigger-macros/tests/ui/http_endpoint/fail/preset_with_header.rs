use trigger_runtime::prelude::*;

#[http_endpoint(
    id = "stripe",
    preset = "stripe",
    header = "Stripe-Signature",
    algorithm = "sha256",
    signed = "{timestamp}.{body}",
    timestamp_header = "X-Timestamp"
)]
fn stripe();

fn main() {}
