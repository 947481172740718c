//! Workspace hygiene: no source file of the published crates (`trigger-runtime/src`,
//! `trigger-macros/src`) is longer than 500 lines. A longer file is split by what it does.

use std::path::{Path, PathBuf};

/// The most lines a source file may have.
const MAX_LINES: usize = 500;
/// The source directories checked, relative to the workspace root.
const SOURCES: [&str; 2] = ["trigger-runtime/src", "trigger-macros/src"];

/// Adds every `.rs` file under `dir`, at any depth, to `files`.
#[track_caller]
fn rust_files(dir: &Path, files: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
    for entry in entries {
        let path = entry
            .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
            .path();
        if path.is_dir() {
            rust_files(&path, files);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
}

#[test]
fn no_source_file_is_longer_than_500_lines() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for source in SOURCES {
        rust_files(&workspace.join(source), &mut files);
    }
    assert!(!files.is_empty(), "no .rs files under {SOURCES:?}");
    let mut offenders: Vec<String> = files
        .iter()
        .filter_map(|path| {
            let text = std::fs::read_to_string(path)
                .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
            let lines = text.lines().count();
            let name = path.strip_prefix(&workspace).unwrap_or(path);
            (lines > MAX_LINES).then(|| format!("{}: {lines} lines", name.display()))
        })
        .collect();
    offenders.sort();
    assert!(
        offenders.is_empty(),
        "{} files longer than {MAX_LINES} lines; split them by what they do:\n  {}",
        offenders.len(),
        offenders.join("\n  ")
    );
}
