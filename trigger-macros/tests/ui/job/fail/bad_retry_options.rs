use trigger_runtime::prelude::*;

#[http_endpoint(id = "acme", header = "X-Signature")]
fn acme();

#[job(id = "zero", trigger = acme, retries = 0, concurrency = 0)]
async fn zero(_request: Request, _io: Io, _ctx: Context) -> Result<()> {
    Ok(())
}

#[job(id = "units", trigger = acme, timeout = "30", backoff = "5m..1s")]
async fn units(_request: Request, _io: Io, _ctx: Context) -> Result<()> {
    Ok(())
}

#[job(id = "range", trigger = acme, backoff = "1s")]
async fn range(_request: Request, _io: Io, _ctx: Context) -> Result<()> {
    Ok(())
}

#[job(id = "bare", trigger = acme, timeout = "0s", backoff = "1..60")]
async fn bare(_request: Request, _io: Io, _ctx: Context) -> Result<()> {
    Ok(())
}

fn main() {}
