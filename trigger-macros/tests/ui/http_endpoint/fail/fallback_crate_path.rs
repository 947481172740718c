// After an error, the placeholder static is still declared through `crate = path`: here a
// stand-in runtime whose `HttpEndpoint` differs from the real one, so that `main` fails to
// compile (a second error below) if the placeholder names `::trigger_runtime` instead.
mod runtime {
    pub mod __private {
        pub struct HttpEndpoint;

        impl HttpEndpoint {
            pub const fn __fallback() -> Self {
                Self
            }
        }
    }
}

#[trigger_runtime::http_endpoint(id = "not an id", header = "X-Signature", crate = runtime)]
fn acme();

fn main() {
    let _: &runtime::__private::HttpEndpoint = &acme;
}
