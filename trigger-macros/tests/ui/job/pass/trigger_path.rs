use trigger_runtime::prelude::*;

mod endpoints {
    use trigger_runtime::prelude::*;

    #[http_endpoint(id = "linear", header = "Linear-Signature")]
    pub fn linear();
}

/// `trigger` may be a path, and a job may return any serializable value.
#[job(id = "linear-issue", trigger = endpoints::linear)]
async fn linear_issue(request: Request, _io: Io, _ctx: Context) -> Result<usize> {
    Ok(request.body().len())
}

fn main() {}
