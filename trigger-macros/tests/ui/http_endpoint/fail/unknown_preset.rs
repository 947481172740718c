use trigger_runtime::prelude::*;

#[http_endpoint(id = "stripe", preset = "strpe", secret = "STRIPE_WEBHOOK_SECRET")]
fn stripe();

#[http_endpoint(id = "paypal", preset = "paypal")]
fn paypal();

fn main() {}
