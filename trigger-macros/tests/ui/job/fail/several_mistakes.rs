use trigger_runtime::prelude::*;

#[http_endpoint(id = "acme", header = "X-Signature")]
fn acme();

// Every mistake is reported at once, each on its own token.
#[job(id = "acme-job", retry = 3, version = "1", trigger = acme, id = "again")]
fn acme_job(_request: Request, _io: Io) {}

fn main() {}
