use trigger_runtime::prelude::*;

#[http_endpoint(header = "X-Signature")]
fn webhook();

fn main() {}
