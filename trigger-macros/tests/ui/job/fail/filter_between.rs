use trigger_runtime::prelude::*;

#[http_endpoint(id = "caldotcom", header = "X-Cal-Signature-256")]
fn caldotcom();

#[job(
    id = "one-number",
    trigger = caldotcom,
    filter = { "body": { "length": [{ "$between": [15] }] } }
)]
async fn one_number(_request: Request, _io: Io, _ctx: Context) -> Result<()> {
    Ok(())
}

#[job(
    id = "three-numbers",
    trigger = caldotcom,
    filter = { "body": { "length": [{ "$between": [15, 30, 60] }] } }
)]
async fn three_numbers(_request: Request, _io: Io, _ctx: Context) -> Result<()> {
    Ok(())
}

#[job(
    id = "higher-first",
    trigger = caldotcom,
    filter = { "body": { "length": [{ "$between": [60, -15.5] }] } }
)]
async fn higher_first(_request: Request, _io: Io, _ctx: Context) -> Result<()> {
    Ok(())
}

fn main() {}
