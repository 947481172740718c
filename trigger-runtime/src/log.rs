//! Log lines as jobs write them and the store keeps them; re-exported by [`crate::io`].

use std::fmt;

use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

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
    /// The data logged with it (`null` for none), as JSON text.
    pub data: LogData,
    /// When it was logged.
    pub at: Timestamp,
}

/// A log line's data as JSON text: rendered once, when the job logs it, then measured against
/// the [`LogLimits`], stored and sent as it is. Compare it with a [`serde_json::Value`]
/// (`assert_eq!(line.data, json!({"id": 1}))`), or parse it with [`LogData::value`].
#[derive(Clone)]
pub struct LogData(Box<RawValue>);

impl LogData {
    /// `data` as JSON; data that cannot be serialized (a map with non-string keys, a failing
    /// `Serialize` impl) becomes a string saying why.
    pub fn new(data: &impl Serialize) -> Self {
        serde_json::value::to_raw_value(data).map_or_else(
            |error| {
                Self::from(serde_json::Value::String(format!(
                    "<data could not be serialized: {error}>"
                )))
            },
            Self,
        )
    }

    /// Data as stored: JSON text, or a string holding the text when it is not JSON.
    pub(crate) fn stored(text: String) -> Self {
        match serde_json::from_str::<Box<RawValue>>(&text) {
            Ok(raw) => Self(raw),
            Err(_) => Self::from(serde_json::Value::String(text)),
        }
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        self.0.get()
    }

    /// Whether there is no data (`null`); JSON text is never empty.
    pub fn is_null(&self) -> bool {
        self.as_str() == "null"
    }

    /// The data parsed.
    pub fn value(&self) -> serde_json::Value {
        // Text made by `new` or checked by `stored` always parses.
        serde_json::from_str(self.as_str()).unwrap_or(serde_json::Value::Null)
    }
}

impl Default for LogData {
    /// No data: `null`.
    fn default() -> Self {
        Self::from(serde_json::Value::Null)
    }
}

impl From<serde_json::Value> for LogData {
    fn from(value: serde_json::Value) -> Self {
        Self::new(&value)
    }
}

impl PartialEq for LogData {
    /// Equal as JSON values: a store may give the text back with other spacing.
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str() || self.value() == other.value()
    }
}

impl PartialEq<serde_json::Value> for LogData {
    fn eq(&self, other: &serde_json::Value) -> bool {
        self.value() == *other
    }
}

impl fmt::Debug for LogData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for LogData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for LogData {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

/// How much of one attempt's logging is stored with the run. Lines past a limit are counted,
/// not kept, and one summary line says how many were dropped; so a job that logs in a loop
/// cannot fill the worker's memory or the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogLimits {
    /// The most lines stored per attempt.
    pub lines: usize,
    /// The most bytes stored per attempt, counting each line's message and its data as JSON.
    pub bytes: usize,
    /// The most bytes of one line's message, and of its data as JSON: a longer message is
    /// cut with a marker, larger data is replaced by a note.
    pub line_bytes: usize,
}

impl Default for LogLimits {
    /// 1,000 lines and 1 MiB per attempt; 64 KiB per message and per line's data.
    fn default() -> Self {
        Self {
            lines: 1000,
            bytes: 1024 * 1024,
            line_bytes: 64 * 1024,
        }
    }
}

impl fmt::Display for LogLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} lines and {}", self.lines, Bytes(self.bytes))
    }
}

/// A byte count as people write it: `1 MiB`, `64 KiB`, `1 byte`, `300 bytes`.
struct Bytes(usize);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const KIB: usize = 1024;
        match self.0 {
            1 => f.write_str("1 byte"),
            n if n >= KIB * KIB && n % (KIB * KIB) == 0 => write!(f, "{} MiB", n / (KIB * KIB)),
            n if n >= KIB && n % KIB == 0 => write!(f, "{} KiB", n / KIB),
            n => write!(f, "{n} bytes"),
        }
    }
}

/// `line` with its message cut to `limit` bytes (on a character boundary, with a marker) and
/// its data replaced by a note when its JSON is longer than `limit`.
fn clip(mut line: LogLine, limit: usize) -> LogLine {
    let len = line.message.len();
    if len > limit {
        let mut end = limit;
        while !line.message.is_char_boundary(end) {
            end -= 1;
        }
        line.message.truncate(end);
        line.message
            .push_str(&format!("… [cut at {} of {}]", Bytes(end), Bytes(len)));
    }
    let data_len = line.data.as_str().len();
    if data_len > limit {
        line.data = LogData::from(serde_json::Value::String(format!(
            "[data dropped: {} of JSON, over the line limit of {}]",
            Bytes(data_len),
            Bytes(limit)
        )));
    }
    line
}

/// The lines of one attempt, buffered until they are stored (at a heartbeat and at the end),
/// within its [`LogLimits`].
#[derive(Debug, Default)]
pub(crate) struct LogBuffer {
    limits: LogLimits,
    state: std::sync::Mutex<BufferState>,
}

#[derive(Debug, Default)]
struct BufferState {
    /// Lines not yet taken.
    lines: Vec<LogLine>,
    /// Lines kept in this attempt, and their bytes.
    kept: usize,
    kept_bytes: usize,
    /// Lines dropped, and their bytes as they were logged.
    dropped: u64,
    dropped_bytes: u64,
}

impl LogBuffer {
    /// An empty buffer that keeps to `limits`.
    pub(crate) fn new(limits: LogLimits) -> Self {
        Self {
            limits,
            state: std::sync::Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BufferState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The lines logged since the last call, to store now.
    pub(crate) fn take(&self) -> Vec<LogLine> {
        std::mem::take(&mut self.lock().lines)
    }

    /// The last lines of the attempt, with the summary of the dropped ones if any.
    pub(crate) fn finish(&self) -> Vec<LogLine> {
        let mut state = self.lock();
        let mut lines = std::mem::take(&mut state.lines);
        if state.dropped > 0 {
            lines.push(LogLine {
                level: LogLevel::Warn,
                message: format!(
                    "{} more lines ({}) were dropped: the attempt's log limit is {}",
                    state.dropped,
                    Bytes(usize::try_from(state.dropped_bytes).unwrap_or(usize::MAX)),
                    self.limits
                ),
                data: LogData::from(serde_json::json!({
                    "dropped_lines": state.dropped,
                    "dropped_bytes": state.dropped_bytes,
                })),
                at: Timestamp::now(),
            });
        }
        lines
    }
}

impl crate::io::LogSink for LogBuffer {
    fn record(&self, line: LogLine) {
        let limits = self.limits;
        let logged = line.message.len() + line.data.as_str().len();
        let mut state = self.lock();
        // Once a line is dropped, every later one is too: what is stored is a prefix.
        if state.dropped == 0 && state.kept < limits.lines {
            let line = clip(line, limits.line_bytes);
            let size = line.message.len() + line.data.as_str().len();
            if state.kept_bytes + size <= limits.bytes {
                state.kept += 1;
                state.kept_bytes += size;
                state.lines.push(line);
                return;
            }
        }
        state.dropped += 1;
        state.dropped_bytes += logged as u64;
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{LogBuffer, LogData, LogLevel, LogLimits, LogLine};
    use crate::io::LogSink;
    use crate::time::Timestamp;

    fn line(message: &str, data: serde_json::Value) -> LogLine {
        LogLine {
            level: LogLevel::Info,
            message: message.to_owned(),
            data: data.into(),
            at: Timestamp::now(),
        }
    }

    #[test]
    fn lines_past_the_limit_are_counted_and_summarised() {
        let limits = LogLimits {
            lines: 3,
            ..LogLimits::default()
        };
        let buffer = LogBuffer::new(limits);
        for i in 0..10 {
            buffer.record(line(&format!("line {i}"), json!(null)));
        }
        assert_eq!(buffer.take().len(), 3);
        let last = buffer.finish();
        assert_eq!(last.len(), 1);
        assert_eq!(
            last[0].message,
            "7 more lines (70 bytes) were dropped: the attempt's log limit is 3 lines and 1 MiB"
        );
        assert_eq!(last[0].level, LogLevel::Warn);
        assert_eq!(
            last[0].data,
            json!({"dropped_lines": 7, "dropped_bytes": 70})
        );
    }

    #[test]
    fn bytes_past_the_limit_drop_that_line_and_every_later_one() {
        let limits = LogLimits {
            lines: 100,
            bytes: 10,
            line_bytes: 10,
        };
        let buffer = LogBuffer::new(limits);
        buffer.record(line("12345", json!(1)));
        buffer.record(line("12345", json!(1)));
        buffer.record(line("1", json!(null)));
        let lines = buffer.finish();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines[0].message, "12345");
        assert!(lines[1].message.starts_with("2 more lines (11 bytes)"));
    }

    #[test]
    fn long_messages_are_cut_on_a_character_boundary_and_large_data_replaced() {
        let limits = LogLimits {
            line_bytes: 4,
            ..LogLimits::default()
        };
        let buffer = LogBuffer::new(limits);
        buffer.record(line("abcdé", json!("0123456789")));
        let lines = buffer.finish();
        assert_eq!(lines.len(), 1, "no summary: nothing was dropped");
        assert_eq!(lines[0].message, "abcd… [cut at 4 bytes of 6 bytes]");
        assert_eq!(
            lines[0].data,
            json!("[data dropped: 12 bytes of JSON, over the line limit of 4 bytes]")
        );
        let buffer = LogBuffer::new(LogLimits {
            line_bytes: 3,
            ..limits
        });
        buffer.record(line("éé", json!(null)));
        assert_eq!(buffer.take()[0].message, "é… [cut at 2 bytes of 4 bytes]");
    }

    #[test]
    fn data_is_json_text_from_logging_to_the_api() {
        let data = LogData::new(&json!({"b": [1, "two"], "a": null}));
        assert_eq!(data.as_str(), r#"{"a":null,"b":[1,"two"]}"#);
        assert_eq!(data, json!({"a": null, "b": [1, "two"]}));
        assert_ne!(data, json!({"a": 1}));
        assert!(LogData::default().is_null() && !data.is_null());
        // Sent as it is, not as a string holding it.
        let line = line("m", json!([1]));
        let sent = serde_json::to_value(&line).unwrap();
        assert_eq!(sent["data"], json!([1]));
        // A store's spacing does not make it another value.
        assert_eq!(
            LogData::stored(r#"{ "a" : 1 }"#.to_owned()),
            LogData::new(&json!({"a": 1}))
        );
    }

    #[test]
    fn data_that_is_not_json_becomes_a_string_saying_so() {
        let mut keys = std::collections::BTreeMap::new();
        keys.insert((1, 2), "a tuple key is no JSON object key");
        let data = LogData::new(&keys);
        let text = data.value();
        assert!(
            text.as_str()
                .is_some_and(|t| t.starts_with("<data could not be serialized: ")),
            "{text}"
        );
        assert_eq!(LogData::stored("not json".to_owned()), json!("not json"));
    }
}
