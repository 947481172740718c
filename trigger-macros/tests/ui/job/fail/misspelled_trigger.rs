use trigger_runtime::prelude::*;

#[http_endpoint(id = "acme", header = "X-Signature")]
fn acme();

// Only the typo is reported, not also a missing `trigger`.
#[job(id = "acme-job", triger = acme)]
async fn acme_job(_request: Request, _io: Io, _ctx: Context) -> Result<()> {
    Ok(())
}

fn main() {}
