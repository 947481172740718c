use std::cell::RefCell;
use std::rc::Rc;

use trigger_runtime::prelude::*;

#[http_endpoint(id = "acme", header = "X-Signature")]
fn acme();

async fn save(_text: &str) {}

// An `Rc` held across an `.await`: the job's future is not `Send`.
#[job(id = "rc-across-await", trigger = acme)]
async fn rc_across_await(request: Request, _io: Io, _ctx: Context) -> Result<()> {
    let body = Rc::new(request.text()?.to_owned());
    save(&body).await;
    Ok(())
}

// A `RefCell` borrow held across an `.await`.
#[job(id = "borrow-across-await", trigger = acme)]
async fn borrow_across_await(request: Request, _io: Io, _ctx: Context) -> Result<()> {
    let cell = RefCell::new(request.text()?.to_owned());
    let text = cell.borrow();
    save(&text).await;
    Ok(())
}

fn main() {}
