use trigger_runtime::prelude::*;

#[http_endpoint(id = "acme", header = "X-Signature")]
fn acme();

#[job(id = "acme-job", trigger = acme, version = "1.0.0", version = "2.0.0")]
async fn acme_job(_request: Request, _io: Io, _ctx: Context) -> Result<()> {
    Ok(())
}

fn main() {}
