use trigger_runtime::prelude::*;

#[http_endpoint(id = "stripe", preset = "stripe", tolerance = "10")]
fn stripe();

#[http_endpoint(id = "svix", preset = "svix", tolerance = "five minutes")]
fn svix();

fn main() {}
