use trigger_runtime::prelude::*;

#[http_endpoint(id = "caldotcom", header = "X-Cal-Signature-256")]
fn caldotcom();

#[job(
    id = "booking-created",
    trigger = caldotcom,
    filter = { "bodyy": { "triggerEvent": ["BOOKING_CREATED"] } }
)]
async fn booking_created(_request: Request, _io: Io, _ctx: Context) -> Result<()> {
    Ok(())
}

fn main() {}
