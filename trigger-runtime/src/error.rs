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
    /// An I/O operation failed.
    #[error("{context}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The operating system gave no randomness to generate an endpoint's secret.
    #[error("no randomness to generate the secret of endpoint {endpoint:?}")]
    Randomness {
        /// The endpoint.
        endpoint: &'static str,
        /// The cause.
        #[source]
        source: getrandom::Error,
    },
    /// The server would listen beyond loopback with an open API.
    #[error(
        "refusing to serve the API on {host} without a key: set TRIGGER_API_KEY, or pass \
         --insecure-open-api to let anyone who can reach {host} read events and replay runs"
    )]
    OpenApi {
        /// The address the server would listen on.
        host: String,
    },
    /// `TRIGGER_PUBLIC_URL` is not a URL senders could use.
    #[error(
        "invalid TRIGGER_PUBLIC_URL {url:?}: {reason}; write the URL senders use, like \
         https://hooks.example.com"
    )]
    PublicUrl {
        /// The value given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// `TOKIO_WORKER_THREADS` is not a number of threads (see [`crate::runtime`]).
    #[error("invalid TOKIO_WORKER_THREADS {value:?}; write a number of threads, like 4")]
    WorkerThreads {
        /// The value given.
        value: String,
    },
    /// The workers' task panicked.
    #[error("the workers' task failed")]
    Workers(#[source] tokio::task::JoinError),
    /// A command of the command line could not do what it was asked: no such run, the server
    /// refused the webhook, ...
    #[error("{0}")]
    Command(String),
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl fmt::Debug for Error {
    /// The message and its causes, so `fn main() -> trigger_runtime::Result<()>` prints
    /// something readable.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&error_chain(self))
    }
}

/// `outer: cause: root cause`, leaving out a cause whose text the previous one already ends
/// with.
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
