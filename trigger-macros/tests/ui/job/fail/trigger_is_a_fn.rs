use trigger_runtime::prelude::*;

#[job(id = "acme-job", trigger = not_an_endpoint)]
async fn acme_job(_request: Request, _io: Io, _ctx: Context) -> Result<()> {
    Ok(())
}

fn not_an_endpoint() {}

fn main() {}
