use trigger_runtime::prelude::*;

#[http_endpoint(id = "acme", header = "X-Signature")]
fn acme();

#[job(id = "acme-job", trigger = acme, example = "payloads/missing.json")]
async fn acme_job(_request: Request, _io: Io, _ctx: Context) -> Result<()> {
    Ok(())
}

fn main() {}
