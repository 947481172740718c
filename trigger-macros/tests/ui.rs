//! Compile-time diagnostics of `#[http_endpoint]` and `#[job]`, checked against `.stderr`
//! snapshots. Regenerate them with `TRYBUILD=overwrite cargo test -p trigger-macros --test ui`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/*/pass/*.rs");
    t.compile_fail("tests/ui/*/fail/*.rs");
}
