use trigger_runtime::prelude::*;

#[http_endpoint(id = "acme", header = "X-Signature")]
fn acme();

#[job(id = "acme-job", trigger = acme, version = "1.0")]
async fn acme_job(_request: Request, _io: Io, _ctx: Context) -> Result<()> {
    Ok(())
}

#[job(id = "acme-job-2", trigger = acme, version = "v1.0.0")]
async fn acme_job_2(_request: Request, _io: Io, _ctx: Context) -> Result<()> {
    Ok(())
}

fn main() {}
