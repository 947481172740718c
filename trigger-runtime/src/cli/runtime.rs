//! [`runtime`]: a Tokio runtime sized for the store's writer thread.

use crate::error::{Error, Result};

/// The variable that sets the number of worker threads, as it does for `#[tokio::main]`.
const WORKER_THREADS_VAR: &str = "TOKIO_WORKER_THREADS";

/// A multi-threaded Tokio runtime for [`run`](crate::run), with one worker thread fewer than the
/// machine has cores (at least one).
///
/// The SQLite store commits every write on a thread of its own, which is busy whenever webhooks
/// arrive; `#[tokio::main]` starts a worker per core beside it, so the threads that have work
/// outnumber the cores and take turns. On a 2-core machine, one worker instead of two made
/// the example acknowledge 2–9 % more webhooks for 3–6 % less CPU each (see the README's
/// Performance section). `TOKIO_WORKER_THREADS` sets the count, as it does for
/// `#[tokio::main]`; with PostgreSQL, which has no such thread, set it to the number of cores.
///
/// ```no_run
/// fn main() -> trigger_runtime::Result<()> {
///     trigger_runtime::runtime()?.block_on(trigger_runtime::run())
/// }
/// ```
///
/// # Errors
///
/// [`Error::WorkerThreads`] when `TOKIO_WORKER_THREADS` is not a positive number, and
/// [`Error::Io`] when the operating system refuses the threads.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let set = std::env::var(WORKER_THREADS_VAR).ok();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(worker_threads(cores, set.as_deref())?)
        .enable_all()
        .build()
        .map_err(|source| Error::Io {
            context: "could not start the Tokio runtime".to_owned(),
            source,
        })
}

/// The worker threads for a machine of `cores`, unless `set` (the variable's value) says.
fn worker_threads(cores: usize, set: Option<&str>) -> Result<usize> {
    match set {
        None => Ok(cores.saturating_sub(1).max(1)),
        Some(value) => match value.trim().parse::<usize>() {
            Ok(threads) if threads > 0 => Ok(threads),
            _ => Err(Error::WorkerThreads {
                value: value.to_owned(),
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::worker_threads;
    use crate::error::Error;

    #[test]
    fn one_core_is_left_to_the_writer() {
        assert_eq!(worker_threads(1, None).unwrap(), 1);
        assert_eq!(worker_threads(2, None).unwrap(), 1);
        assert_eq!(worker_threads(8, None).unwrap(), 7);
    }

    #[test]
    fn the_variable_sets_the_count_or_is_refused() {
        assert_eq!(worker_threads(2, Some("3")).unwrap(), 3);
        assert_eq!(worker_threads(2, Some(" 2 ")).unwrap(), 2);
        for bad in ["0", "two", "", "-1"] {
            let error = worker_threads(2, Some(bad)).unwrap_err();
            assert!(
                matches!(&error, Error::WorkerThreads { value } if value == bad),
                "{bad:?}"
            );
            assert_eq!(
                error.to_string(),
                format!("invalid TOKIO_WORKER_THREADS {bad:?}; write a number of threads, like 4")
            );
        }
    }
}
