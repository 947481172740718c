use trigger_runtime::prelude::*;

#[http_endpoint(id = "caldotcom", header = "X-Cal-Signature-256")]
fn caldotcom();

#[job(
    id = "long-bookings",
    trigger = caldotcom,
    filter = { "body": { "payload": { "length": [{ "$gt": "5" }] } } }
)]
async fn long_bookings(_request: Request, _io: Io, _ctx: Context) -> Result<()> {
    Ok(())
}

#[job(
    id = "booking-events",
    trigger = caldotcom,
    filter = { "body": { "triggerEvent": [{ "$startsWith": 1 }] } }
)]
async fn booking_events(_request: Request, _io: Io, _ctx: Context) -> Result<()> {
    Ok(())
}

fn main() {}
