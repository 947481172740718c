use trigger_runtime::prelude::*;

#[http_endpoint(id = "cal com/v2", header = "X-Signature")]
fn caldotcom();

fn main() {}
