use trigger_runtime::prelude::*;

#[http_endpoint(id = "stripe", header = "Stripe-Signature")]
fn stripe();

/// No `version`: the job gets the package version.
#[job(id = "stripe-charge", trigger = stripe)]
async fn stripe_charge(_request: Request, _io: Io, ctx: Context) -> Result<()> {
    let _version: &str = ctx.job_version();
    Ok(())
}

fn main() {}
