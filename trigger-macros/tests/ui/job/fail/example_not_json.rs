use trigger_runtime::prelude::*;

#[http_endpoint(id = "acme", header = "X-Signature")]
fn acme();

// trybuild builds this case in a crate of its own, whose only file beside the sources is its
// Cargo.toml: TOML, not JSON.
#[job(id = "acme-job", trigger = acme, example = "Cargo.toml")]
async fn acme_job(_request: Request, _io: Io, _ctx: Context) -> Result<()> {
    Ok(())
}

fn main() {}
