use trigger_runtime::prelude::*;

// A filter is on the request to an http endpoint: with one, the trigger must still be one.
#[job(
    id = "booking-created",
    trigger = not_an_endpoint,
    filter = { "body": { "triggerEvent": ["BOOKING_CREATED"] } }
)]
async fn booking_created(_request: Request, _io: Io, _ctx: Context) -> Result<()> {
    Ok(())
}

fn not_an_endpoint() {}

fn main() {}
