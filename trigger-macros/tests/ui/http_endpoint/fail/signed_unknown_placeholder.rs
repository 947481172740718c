use trigger_runtime::prelude::*;

#[http_endpoint(id = "acme", header = "X-Signature", signed = "{timestamp}.{payload}")]
fn acme();

#[http_endpoint(id = "beta", header = "X-Signature", signed = "{body")]
fn beta();

#[http_endpoint(id = "gamma", header = "X-Signature", signed = "body}")]
fn gamma();

#[http_endpoint(id = "delta", header = "X-Signature", signed = "{header:X Id}.{body}")]
fn delta();

fn main() {}
