//! Building the binaries the tests run, with a nested `cargo build`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Mutex;

use serde_json::Value;

use crate::lock;

/// The workspace root, where the nested `cargo build` runs.
const WORKSPACE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// Builds `package`'s binaries with `cargo build` (once per test process) and returns the
/// path of its binary, taken from cargo's `compiler-artifact` message. A failed build panics
/// with cargo's diagnostics, here and in every later call.
///
/// The nested build uses the workspace's normal target directory: `cargo test` releases its
/// build lock before running tests, and `cargo nextest` builds before running anything, so it
/// does not wait on the outer build and is a quick no-op when the binary is up to date.
pub fn example_binary(package: &str) -> PathBuf {
    binary(package, None)
}

/// Like [`example_binary`], for the binary called `bin` of `package` (built with `--bin`).
pub fn package_binary(package: &str, bin: &str) -> PathBuf {
    binary(package, Some(bin))
}

fn binary(package: &str, bin: Option<&str>) -> PathBuf {
    static BUILT: Mutex<BTreeMap<(String, Option<String>), Result<PathBuf, String>>> =
        Mutex::new(BTreeMap::new());
    let mut built = lock(&BUILT);
    let key = (package.to_owned(), bin.map(str::to_owned));
    let built = built.entry(key).or_insert_with(|| build(package, bin));
    built.clone().unwrap_or_else(|error| panic!("{error}"))
}

/// Whether cargo sets the variable `key` for the crate it runs (rather than for every build).
fn set_by_cargo_for_this_test(key: &str) -> bool {
    const EXACT: [&str; 9] = [
        "CARGO_MANIFEST_DIR",
        "CARGO_MANIFEST_PATH",
        "CARGO_MANIFEST_LINKS",
        "CARGO_CRATE_NAME",
        "CARGO_BIN_NAME",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_TARGET_TMPDIR",
        "CARGO_RUSTC_CURRENT_DIR",
        "OUT_DIR",
    ];
    EXACT.contains(&key) || key.starts_with("CARGO_PKG_") || key.starts_with("CARGO_BIN_EXE_")
}

fn build(package: &str, bin: Option<&str>) -> Result<PathBuf, String> {
    let mut command = Command::new(env!("CARGO"));
    command.args([
        "build",
        "--message-format=json-render-diagnostics",
        "-p",
        package,
    ]);
    match bin {
        Some(bin) => command.args(["--bin", bin]),
        None => command.arg("--bins"),
    };
    // What cargo set for this test binary describes this package, not the build's: build
    // scripts that watch these variables (ring's watches `CARGO_MANIFEST_DIR` and
    // `CARGO_PKG_NAME`) would run again, rebuild their crates under the outer build's feet, and
    // make the next outer build rebuild them once more.
    for (key, _) in std::env::vars_os() {
        if key.to_str().is_some_and(set_by_cargo_for_this_test) {
            command.env_remove(key);
        }
    }
    let output = command
        .current_dir(WORKSPACE)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("could not run `{} build`: {e}", env!("CARGO")))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(format!("`cargo build -p {package}` failed:\n{stderr}"));
    }
    let binaries: Vec<(String, PathBuf)> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .filter(|m| {
            m["target"]["kind"]
                .as_array()
                .is_some_and(|k| k.contains(&"bin".into()))
        })
        .filter_map(|m| {
            let path = PathBuf::from(m["executable"].as_str()?);
            Some((m["target"]["name"].as_str()?.to_owned(), path))
        })
        .collect();
    let wanted = bin.unwrap_or(package);
    let path = match binaries.as_slice() {
        [(_, only)] => Some(only.clone()),
        all => all
            .iter()
            .find(|(name, _)| name == wanted)
            .map(|(_, p)| p.clone()),
    };
    path.ok_or_else(|| format!("which binary of {package}? {binaries:?}\n{stderr}"))
}
