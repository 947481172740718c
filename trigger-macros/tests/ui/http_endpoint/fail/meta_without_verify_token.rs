use trigger_runtime::prelude::*;

#[http_endpoint(id = "whatsapp", preset = "meta", secret = "META_APP_SECRET")]
fn whatsapp();

fn main() {}
