use trigger_runtime::prelude::*;

#[http_endpoint(id = "acme", header = "X-Signature", algorithm = "md5")]
fn acme();

fn main() {}
