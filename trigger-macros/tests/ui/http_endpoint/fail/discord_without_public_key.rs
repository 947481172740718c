use trigger_runtime::prelude::*;

#[http_endpoint(id = "discord", preset = "discord")]
fn discord();

fn main() {}
