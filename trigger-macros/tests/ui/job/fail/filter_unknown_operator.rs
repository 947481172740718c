use trigger_runtime::prelude::*;

#[http_endpoint(id = "caldotcom", header = "X-Cal-Signature-256")]
fn caldotcom();

#[job(
    id = "booking-created",
    trigger = caldotcom,
    filter = { "body": { "triggerEvent": [{ "$regex": "^BOOKING_" }] } }
)]
async fn booking_created(_request: Request, _io: Io, _ctx: Context) -> Result<()> {
    Ok(())
}

// A near miss gets a suggestion.
#[job(
    id = "booking-prefix",
    trigger = caldotcom,
    filter = { "body": { "triggerEvent": [{ "$startswith": "BOOKING_" }] } }
)]
async fn booking_prefix(_request: Request, _io: Io, _ctx: Context) -> Result<()> {
    Ok(())
}

fn main() {}
