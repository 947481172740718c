use trigger_runtime::prelude::*;

#[http_endpoint(id = "acme", header = "X-Signature")]
fn acme();

#[job(id = "acme-job", trigger = acme)]
async fn acme_job<T: Default>(_request: Request, _io: Io, _ctx: Context) -> Result<()> {
    let _ = T::default();
    Ok(())
}

fn main() {}
