//! `example = "examples/booking.json"`: a JSON file read at compile time, relative to the
//! crate's manifest directory, checked to be JSON here; whether it fits the job's first
//! parameter is checked when the registry is built.

use std::path::Path;

use syn::LitStr;

use crate::diag::Errors;

/// The file's absolute path (for `include_str!`, so that a change rebuilds the crate), once it
/// is read and parsed as JSON; errors on the literal otherwise.
pub(super) fn check(lit: &LitStr, errors: &mut Errors) -> Option<String> {
    let written = lit.value();
    let Some(dir) = std::env::var_os("CARGO_MANIFEST_DIR") else {
        errors.spanned(lit, "cannot find the crate's directory (`CARGO_MANIFEST_DIR` is not set) to read the example from");
        return None;
    };
    let path = Path::new(&dir).join(&written);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) => {
            errors.spanned(
                lit,
                format!(
                    "cannot read the example `{written}` (relative to the crate's Cargo.toml): {error}"
                ),
            );
            return None;
        }
    };
    if let Err(error) = serde_json::from_str::<serde_json::Value>(&text) {
        errors.spanned(
            lit,
            format!("the example `{written}` is not JSON: {error}; write the body the job expects"),
        );
        return None;
    }
    match path.to_str() {
        Some(path) => Some(path.to_owned()),
        None => {
            errors.spanned(
                lit,
                format!("the path of the example `{written}` is not UTF-8"),
            );
            None
        }
    }
}
