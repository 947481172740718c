use trigger_runtime::prelude::*;

/// An endpoint named like a parameter of the generated runner: a binding cannot shadow a static.
#[http_endpoint(id = "io", header = "X-Signature")]
fn io();

/// A job named like its third parameter.
#[job(id = "ctx", trigger = io)]
async fn ctx(request: Request, _io: Io, ctx: Context) -> Result<usize> {
    let _ = ctx.attempt();
    Ok(request.body().len())
}

/// A job named like its first parameter.
#[job(id = "request", trigger = io)]
async fn request(request: Request, _io: Io, _ctx: Context) -> Result<String> {
    Ok(request.text()?.to_owned())
}

/// A job named like the runner's output.
#[job(id = "output", trigger = io)]
async fn output(_request: Request, _io: Io, _ctx: Context) -> Result<()> {
    Ok(())
}

fn main() {
    assert_eq!(io.id(), "io");
}
