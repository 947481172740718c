//! [`TempDir`]: a fresh directory for one test or one bench server. It uses nothing but `std`,
//! because three crates compile this one file: the end-to-end tests (`tests/common/mod.rs`), the
//! runtime's tests (`trigger-runtime/tests/common/mod.rs`) and the bench (`bench/src/main.rs`),
//! the last two with `#[path]`.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A new, empty directory under the system's temporary directory, named
/// `trigger-{label}-{process id}-{counter}-{nanoseconds}`, so that no two are the same, across
/// threads, processes and runs. It is not under the workspace on purpose: the server also looks
/// for `.env` in parent directories.
///
/// Dropped, it is removed with everything in it; dropped during a panic, it is kept and its
/// path printed, so that its files can be inspected.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates a directory named after `label`; panics if it cannot.
    #[track_caller]
    pub fn new(label: &str) -> Self {
        match Self::create(label) {
            Ok(dir) => dir,
            Err(e) => panic!("could not create a temporary directory for {label:?}: {e}"),
        }
    }

    /// Creates a directory named after `label`.
    pub fn create(label: &str) -> io::Result<Self> {
        static COUNT: AtomicU64 = AtomicU64::new(0);
        let n = COUNT.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let name = format!("trigger-{label}-{}-{n}-{nanos}", std::process::id());
        let root = std::env::temp_dir();
        std::fs::create_dir_all(&root)?;
        let path = root.join(name);
        // Not `create_dir_all`: an existing directory is an error, never reused.
        std::fs::create_dir(&path)?;
        Ok(Self { path })
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path of `name` inside it.
    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("kept {} for inspection", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}
