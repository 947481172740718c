//! Row mapping and the binary header encoding.

use rusqlite::Row;

use crate::store::codec::{self, decode_headers};
use crate::store::{Event, RunRecord, RunStatus, SkippedJobs, StoreError};
use crate::time::Timestamp;

/// A `SELECT` list written once: `$list` is the SQL text, `$names` the names in order, so that
/// [`col!`] can find a column's index by its name at compile time (reading by name costs a
/// scan of the statement's column names per value, which showed on the writer thread).
macro_rules! columns {
    ($names:ident, $list:ident = $first:literal $(, $rest:literal)* $(,)?) => {
        pub(super) const $names: &[&str] = &[$first $(, $rest)*];
        pub(super) const $list: &str = concat!($first $(, ", ", $rest)*);
    };
}

/// The value of column `$name` of a row read with the `SELECT` list `$names`; a name not in
/// the list is a compile error.
macro_rules! col {
    ($row:expr, $names:expr, $name:literal) => {
        $row.get(const { $crate::store::sqlite::rows::index_of($names, $name) })
    };
}

columns!(
    RUN,
    RUN_COLUMNS = "id",
    "job",
    "job_version",
    "event_id",
    "endpoint_id",
    "status",
    "attempts",
    "max_attempts",
    "created_at",
    "run_at",
    "started_at",
    "finished_at",
    "lease_until",
    "lease_epoch",
    "output",
    "error",
);

columns!(
    EVENT,
    EVENT_COLUMNS = "id",
    "endpoint_id",
    "method",
    "url",
    "headers",
    "body",
    "received_at",
    "verified",
    "dedup_key",
    "skipped",
);

/// Where `name` is in `names`; fails to compile (in a `const` block) if it is not there.
pub(crate) const fn index_of(names: &[&str], name: &str) -> usize {
    let mut i = 0;
    while i < names.len() {
        let candidate = names[i].as_bytes();
        let wanted = name.as_bytes();
        if candidate.len() == wanted.len() {
            let mut j = 0;
            while j < wanted.len() && candidate[j] == wanted[j] {
                j += 1;
            }
            if j == wanted.len() {
                return i;
            }
        }
        i += 1;
    }
    panic!("no such column in the SELECT list")
}

fn ts(value: Option<i64>) -> Option<Timestamp> {
    value.map(Timestamp::from_unix_millis)
}

fn corrupt(index: usize, error: StoreError) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, Box::new(error))
}

/// A run from a row with [`RUN_COLUMNS`], without history or logs.
pub(super) fn run(row: &Row<'_>) -> rusqlite::Result<RunRecord> {
    let status: String = col!(row, RUN, "status")?;
    let status = RunStatus::parse(&status).ok_or_else(|| {
        let error = StoreError::Corrupt(format!("unknown run status {status:?}"));
        corrupt(index_of(RUN, "status"), error)
    })?;
    let output: Option<String> = col!(row, RUN, "output")?;
    let output = output
        .map(|text| serde_json::from_str(&text))
        .transpose()
        .map_err(|e| {
            let error = StoreError::Corrupt(format!("run output is not JSON: {e}"));
            corrupt(index_of(RUN, "output"), error)
        })?;
    Ok(RunRecord {
        id: col!(row, RUN, "id")?,
        job: col!(row, RUN, "job")?,
        job_version: col!(row, RUN, "job_version")?,
        event_id: col!(row, RUN, "event_id")?,
        endpoint_id: col!(row, RUN, "endpoint_id")?,
        status,
        attempts: col!(row, RUN, "attempts")?,
        max_attempts: col!(row, RUN, "max_attempts")?,
        created_at: Timestamp::from_unix_millis(col!(row, RUN, "created_at")?),
        run_at: Timestamp::from_unix_millis(col!(row, RUN, "run_at")?),
        started_at: ts(col!(row, RUN, "started_at")?),
        finished_at: ts(col!(row, RUN, "finished_at")?),
        lease_until: ts(col!(row, RUN, "lease_until")?),
        lease_epoch: col!(row, RUN, "lease_epoch")?,
        output,
        error: col!(row, RUN, "error")?,
        history: Vec::new(),
        logs: Vec::new(),
        logs_next_cursor: None,
        tasks: Vec::new(),
    })
}

/// An event from a row with [`EVENT_COLUMNS`].
pub(super) fn event(row: &Row<'_>) -> rusqlite::Result<Event> {
    let headers: Vec<u8> = col!(row, EVENT, "headers")?;
    let body: Vec<u8> = col!(row, EVENT, "body")?;
    Ok(Event {
        id: col!(row, EVENT, "id")?,
        endpoint_id: col!(row, EVENT, "endpoint_id")?,
        method: col!(row, EVENT, "method")?,
        url: col!(row, EVENT, "url")?,
        headers: decode_headers(&headers).ok_or_else(|| {
            let error = StoreError::Corrupt("stored headers are corrupt".to_owned());
            corrupt(index_of(EVENT, "headers"), error)
        })?,
        body: body.into(),
        received_at: Timestamp::from_unix_millis(col!(row, EVENT, "received_at")?),
        verified: col!(row, EVENT, "verified")?,
        dedup_key: col!(row, EVENT, "dedup_key")?,
        skipped: skipped(col!(row, EVENT, "skipped")?)?,
    })
}

/// The `skipped` column: a JSON array, or NULL for none.
fn skipped(text: Option<String>) -> rusqlite::Result<SkippedJobs> {
    codec::decode_skipped(text).map_err(|error| corrupt(index_of(EVENT, "skipped"), error))
}
