use trigger_runtime::prelude::*;

#[http_endpoint(id = "github", preset = "github", verify_token = "GITHUB_VERIFY_TOKEN")]
fn github();

#[http_endpoint(id = "acme", header = "X-Signature", verify_token = "ACME_VERIFY_TOKEN")]
fn acme();

#[http_endpoint(id = "meta", preset = "meta", verify_token = "META VERIFY TOKEN")]
fn meta();

fn main() {}
