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

/// The macros check `preset = "..."` against their own table, since they cannot depend on the
/// runtime: it must list exactly the runtime's presets, with their variants, and say which
/// sign a timestamp (for `tolerance`).
#[test]
fn the_macros_know_exactly_the_runtimes_presets() {
    use trigger_runtime::verify::Preset;
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../trigger-macros/src/endpoint/scheme.rs");
    let source =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let table = source
        .split_once("const PRESETS: &[(&str, &str, bool)] = &[")
        .and_then(|(_, rest)| rest.split_once("];"))
        .map(|(table, _)| table)
        .unwrap_or_else(|| panic!("no PRESETS table in {}", path.display()));
    let rows: Vec<(String, String, bool)> = table
        .lines()
        .filter_map(|line| {
            let row = line.trim().strip_prefix('(')?.strip_suffix("),")?;
            let mut cells = row.split(", ");
            let text = |cell: Option<&str>| cell.map(|c| c.trim_matches('"').to_owned());
            Some((
                text(cells.next())?,
                text(cells.next())?,
                cells.next()? == "true",
            ))
        })
        .collect();
    let expected: Vec<(String, String, bool)> = Preset::ALL
        .iter()
        .map(|p| {
            (
                p.name().to_owned(),
                format!("{p:?}"),
                p.scheme().timestamp().is_some(),
            )
        })
        .collect();
    assert_eq!(
        rows, expected,
        "trigger-macros/src/endpoint/scheme.rs and verify::Preset differ"
    );
}
