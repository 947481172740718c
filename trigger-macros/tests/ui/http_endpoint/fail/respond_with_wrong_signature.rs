use trigger_runtime::prelude::*;

async fn wrong_output(_request: &Request, _verification: &Verification) -> Option<Answer> {
    None
}

#[http_endpoint(id = "acme", header = "X-Signature", respond_with = wrong_output)]
fn acme();

async fn wrong_params(_request: &Request) -> Respond {
    Respond::Continue
}

#[http_endpoint(id = "beta", header = "X-Signature", respond_with = wrong_params)]
fn beta();

fn not_async(_request: &Request, _verification: &Verification) -> Respond {
    Respond::Continue
}

#[http_endpoint(id = "gamma", header = "X-Signature", respond_with = not_async)]
fn gamma();

fn main() {}
