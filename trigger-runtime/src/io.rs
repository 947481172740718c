//! [`Io`]: what a job uses to talk to the runtime, starting with [`Logger`].

use std::fmt;
use std::sync::Arc;

use serde::{Serialize, Serializer};

use crate::time::Timestamp;

/// A log level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// Detail for debugging.
    Debug,
    /// Normal progress.
    Info,
    /// Something unexpected that the job handled.
    Warn,
    /// A failure.
    Error,
}

impl LogLevel {
    /// The lowercase name (`"info"`), as stored and sent in JSON.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }

    /// Parses a lowercase name.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Debug, Self::Info, Self::Warn, Self::Error]
            .into_iter()
            .find(|l| l.as_str() == name)
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for LogLevel {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// One line a job logged.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LogLine {
    /// Its level.
    pub level: LogLevel,
    /// The message.
    pub message: String,
    /// The data logged with it (`null` for none).
    pub data: serde_json::Value,
    /// When it was logged.
    pub at: Timestamp,
}

/// Where a [`Logger`]'s lines go: the run's record in the store, or a test's capture.
pub trait LogSink: Send + Sync + 'static {
    /// Records one line. Must not block.
    fn record(&self, line: LogLine);
}

/// Logs lines that are stored with the run and echoed, with their data, through `tracing`
/// (target `trigger::job`).
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
        let data = serde_json::to_value(data).unwrap_or_else(|error| {
            serde_json::Value::String(format!("<data could not be serialized: {error}>"))
        });
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

/// The runtime's services for one run of a job.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Io {
    /// Logs lines stored with the run: `io.logger.info("Body", &body)`.
    pub logger: Logger,
}

impl Io {
    /// An `Io` whose log lines go to `logger`.
    pub fn new(logger: Logger) -> Self {
        Self { logger }
    }
}
