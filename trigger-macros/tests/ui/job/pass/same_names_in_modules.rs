mod endpoints {
    use trigger_runtime::prelude::*;

    #[http_endpoint(id = "acme", header = "X-Signature")]
    pub fn acme();
}

use trigger_runtime::prelude::*;

/// Named like the endpoint that triggers it, a static in another module.
#[job(id = "acme", trigger = endpoints::acme)]
async fn acme(_request: Request, _io: Io, _ctx: Context) -> Result<()> {
    Ok(())
}

/// Two jobs with the same fn name, in different modules.
mod first {
    use trigger_runtime::prelude::*;

    #[job(id = "first-sync", trigger = crate::endpoints::acme)]
    pub async fn sync(_request: Request, _io: Io, _ctx: Context) -> Result<()> {
        Ok(())
    }
}

mod second {
    use trigger_runtime::prelude::*;

    #[job(id = "second-sync", trigger = crate::endpoints::acme)]
    pub async fn sync(_request: Request, _io: Io, _ctx: Context) -> Result<()> {
        Ok(())
    }
}

fn main() {
    let _ = (acme, first::sync, second::sync);
}
