use trigger_runtime::prelude::*;

#[http_endpoint(id = "acme", header = "X-Signature")]
fn acme();

struct Booking;

#[job(id = "acme-job", trigger = acme)]
async fn acme_job(_booking: Booking, _io: Io, _ctx: Context) -> Result<()> {
    Ok(())
}

fn main() {}
