use trigger_runtime::prelude::*;

#[http_endpoint(id = "caldotcom", header = "X-Cal-Signature-256")]
fn caldotcom();

// Every syntax mistake is reported at once, each on its token; the commas after the last
// entries are mistakes too.
#[job(
    id = "booking-created",
    trigger = caldotcom,
    filter = {
        body: {
            "triggerEvent": ["BOOKING_CREATED", BOOKING_RESCHEDULED,],
            "payload" { "length": [15] },
            "attendees": [{ "name": 'x' }],
            "price": [5u8, 0x10, -"x"],
            "status": ["ACCEPTED" "PENDING"],
            "paid": [True],
            "length": [{ $gt: 15 }, { "$lt" = 60 }],
            "tags": [, "vip"],
        },
    }
)]
async fn booking_created(_request: Request, _io: Io, _ctx: Context) -> Result<()> {
    Ok(())
}

// Not JSON in braces.
#[job(id = "quoted", trigger = caldotcom, filter = "{ \"body\": {} }")]
async fn quoted(_request: Request, _io: Io, _ctx: Context) -> Result<()> {
    Ok(())
}

// A duplicate key, and a missing `:` with nothing after the key.
#[job(id = "duplicate-key", trigger = caldotcom, filter = { "method": ["POST"], "method": ["PUT"], "body" })]
async fn duplicate_key(_request: Request, _io: Io, _ctx: Context) -> Result<()> {
    Ok(())
}

fn main() {}
