use trigger_runtime::prelude::*;

#[http_endpoint(id = "acme", header = "X-Signature")]
fn acme();

/// Five attempts, waiting 1 s then doubling up to 5 min, 30 s per attempt, two at once.
#[job(id = "acme-job", trigger = acme, retries = 5, backoff = "1s..5m", timeout = "30s", concurrency = 2)]
async fn acme_job(_request: Request, _io: Io, _ctx: Context) -> Result<()> {
    Ok(())
}

fn main() {}
