//! [`Io`]: what a job uses to talk to the runtime: [`Logger`], durable tasks
//! ([`Io::run_task`]) and durable waits ([`Io::wait`]).

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::job::BoxError;
pub use crate::log::{LogData, LogLevel, LogLimits, LogLine};
use crate::store::{Lease, Store, StoreError};
use crate::time::Timestamp;

/// Where a [`Logger`]'s lines go: the run's record in the store, or a test's capture.
pub trait LogSink: Send + Sync + 'static {
    /// Records one line. Must not block.
    fn record(&self, line: LogLine);
}

/// Logs lines that are stored with the run and echoed, with their data, through `tracing`
/// (target `trigger::job`). A worker stores each attempt's lines within its [`LogLimits`]
/// (1,000 lines and 1 MiB by default) and counts the rest.
#[derive(Clone)]
pub struct Logger {
    sink: Arc<dyn LogSink>,
    job_id: Arc<str>,
    run_id: Arc<str>,
}

macro_rules! echo {
    ($level:expr, $job:expr, $run:expr, $message:expr, $data:expr) => {
        tracing::event!(target: "trigger::job", $level, job = %$job, run = %$run, data = %$data, "{}", $message)
    };
}

impl Logger {
    /// A logger that sends lines to `sink`, tagging the `tracing` echo with the job and run.
    pub fn new(sink: Arc<dyn LogSink>, job_id: &str, run_id: &str) -> Self {
        Self {
            sink,
            job_id: job_id.into(),
            run_id: run_id.into(),
        }
    }

    /// Logs at `level`. `data` is anything `Serialize` (`()` for none).
    pub fn log(&self, level: LogLevel, message: impl Into<String>, data: impl Serialize) {
        let message = message.into();
        let data = LogData::new(&data);
        let (job, run) = (&*self.job_id, &*self.run_id);
        match level {
            LogLevel::Debug => echo!(tracing::Level::DEBUG, job, run, message, data),
            LogLevel::Info => echo!(tracing::Level::INFO, job, run, message, data),
            LogLevel::Warn => echo!(tracing::Level::WARN, job, run, message, data),
            LogLevel::Error => echo!(tracing::Level::ERROR, job, run, message, data),
        }
        self.sink.record(LogLine {
            level,
            message,
            data,
            at: Timestamp::now(),
        });
    }

    /// Logs at debug level.
    pub fn debug(&self, message: impl Into<String>, data: impl Serialize) {
        self.log(LogLevel::Debug, message, data);
    }

    /// Logs at info level.
    pub fn info(&self, message: impl Into<String>, data: impl Serialize) {
        self.log(LogLevel::Info, message, data);
    }

    /// Logs at warn level.
    pub fn warn(&self, message: impl Into<String>, data: impl Serialize) {
        self.log(LogLevel::Warn, message, data);
    }

    /// Logs at error level.
    pub fn error(&self, message: impl Into<String>, data: impl Serialize) {
        self.log(LogLevel::Error, message, data);
    }
}

impl fmt::Debug for Logger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Logger")
            .field("job", &self.job_id)
            .field("run", &self.run_id)
            .finish()
    }
}

/// Why [`Io::run_task`] or [`Io::wait`] did not return a value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TaskError {
    /// The key was already used in this attempt; each task and wait needs its own key.
    #[error("task key {0:?} is used twice in one attempt; give each task and wait its own key")]
    DuplicateKey(String),
    /// The task's closure returned an error; nothing was stored, so a retry runs it again.
    #[error("task {key:?} failed")]
    Failed {
        /// The task's key.
        key: String,
        /// The closure's error.
        #[source]
        source: BoxError,
    },
    /// The output could not be converted to or from JSON.
    #[error("task {key:?} output does not round-trip through JSON")]
    Output {
        /// The task's key.
        key: String,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The run is waiting: return this error (`?`) so the worker can let it go; the run resumes
    /// at `until`, replaying completed tasks from the store.
    #[error("the run waits for {key:?} until {until}")]
    Suspended {
        /// The wait's key.
        key: String,
        /// When the run resumes.
        until: Timestamp,
    },
}

/// Per-attempt state behind an [`Io`] that a worker built.
struct RunState {
    /// The store and the attempt's lease, which its task outputs and waits name.
    store: Option<(Store, Lease)>,
    run_id: String,
    keys: Mutex<HashSet<String>>,
}

/// The runtime's services for one run of a job.
#[derive(Clone)]
pub struct Io {
    /// Logs lines stored with the run: `io.logger.info("Body", &body)`.
    pub logger: Logger,
    state: Arc<RunState>,
}

impl fmt::Debug for Io {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Io")
            .field("logger", &self.logger)
            .field("run", &self.state.run_id)
            .finish()
    }
}

impl Io {
    /// An `Io` with no store behind it (as in unit tests): tasks always run and waits return at
    /// once.
    pub fn new(logger: Logger) -> Self {
        Self::with_store(logger, None, "")
    }

    /// An `Io` for run `run_id`, keeping task outputs and waits in `store`.
    pub(crate) fn with_store(logger: Logger, store: Option<(Store, Lease)>, run_id: &str) -> Self {
        let state = RunState {
            store,
            run_id: run_id.to_owned(),
            keys: Mutex::default(),
        };
        Self {
            logger,
            state: Arc::new(state),
        }
    }

    fn claim_key(&self, key: &str) -> Result<(), TaskError> {
        let mut keys = self
            .state
            .keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if keys.insert(key.to_owned()) {
            Ok(())
        } else {
            Err(TaskError::DuplicateKey(key.to_owned()))
        }
    }

    /// Runs `task` once per run: its output is stored under `key`, and when the run is retried
    /// or resumed the stored output is returned without running `task` again.
    ///
    /// ```no_run
    /// # async fn job(io: trigger_runtime::io::Io) -> trigger_runtime::job::Result<()> {
    /// let invoice: u64 = io.run_task("create-invoice", || async { Ok::<_, std::io::Error>(42) }).await?;
    /// # Ok(()) }
    /// ```
    pub async fn run_task<T, E, F, Fut>(&self, key: &str, task: F) -> Result<T, TaskError>
    where
        T: Serialize + DeserializeOwned,
        E: Into<BoxError>,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.claim_key(key)?;
        let output = |source| TaskError::Output {
            key: key.to_owned(),
            source,
        };
        let store = self.state.store.as_ref();
        if let Some((store, _)) = store {
            if let Some(stored) = store.task(&self.state.run_id, key).await? {
                return serde_json::from_value(stored).map_err(output);
            }
        }
        let value = task().await.map_err(|e| TaskError::Failed {
            key: key.to_owned(),
            source: e.into(),
        })?;
        let Some((store, lease)) = store else {
            return Ok(value);
        };
        let json = serde_json::to_value(&value).map_err(output)?;
        // Refused (`StoreError::LeaseLost`) if this attempt no longer holds the run.
        let stored = store
            .save_task(&self.state.run_id, *lease, key, json.clone())
            .await?;
        if stored == json {
            return Ok(value);
        }
        // An output was stored under this key already: the first one stored wins, for every
        // attempt from now on, so this one returns it too.
        serde_json::from_value(stored).map_err(output)
    }

    /// Suspends the run for `duration` without holding a worker: the first time, it records
    /// when to resume and returns [`TaskError::Suspended`], which the job returns with `?`;
    /// the run is then re-run from the start at that time (completed tasks return their stored
    /// output) and this call returns `Ok(())`. Survives restarts.
    pub async fn wait(&self, key: &str, duration: Duration) -> Result<(), TaskError> {
        self.claim_key(key)?;
        let Some((store, lease)) = &self.state.store else {
            return Ok(());
        };
        let task_key = format!("wait:{key}");
        let now = Timestamp::now();
        let until = match store.task(&self.state.run_id, &task_key).await? {
            Some(stored) => Timestamp::from_unix_millis(stored["resume_at"].as_i64().unwrap_or(0)),
            None => {
                let until = now.saturating_add(duration);
                let record = serde_json::json!({ "resume_at": until.as_unix_millis() });
                // If this wait was recorded already, its first time wins.
                let stored = store
                    .save_task(&self.state.run_id, *lease, &task_key, record)
                    .await?;
                Timestamp::from_unix_millis(stored["resume_at"].as_i64().unwrap_or(0))
            }
        };
        if until <= now {
            return Ok(());
        }
        Err(TaskError::Suspended {
            key: key.to_owned(),
            until,
        })
    }
}
