//! Log lines as jobs write them and the store keeps them; re-exported by [`crate::io`].

use std::fmt;

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
