//! The runtime's top-level [`Error`], what [`crate::run`] returns.

use std::fmt;

use crate::registry::RegistryError;
use crate::store::StoreError;

/// A failure to start or run the server.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The registered endpoints and jobs are inconsistent.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The configuration is invalid.
    #[error("{0}")]
    Config(String),
    /// An I/O operation failed.
    #[error("{context}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl fmt::Debug for Error {
    /// The message and its causes, so `fn main() -> trigger_runtime::Result<()>` prints
    /// something readable.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::worker::error_chain(self))
    }
}
