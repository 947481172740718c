//! Rows to records. Columns are read by position in the `SELECT` lists below.

use tokio_postgres::Row;

use crate::store::codec::{decode_headers, decode_skipped};
use crate::store::{Event, Result, RunRecord, RunStatus, StoreError};
use crate::time::Timestamp;

/// A run's columns, in the order [`run`] reads them.
pub(super) const RUN_COLUMNS: &str = "id, job, job_version, event_id, endpoint_id, status, \
     attempts, max_attempts, created_at, run_at, started_at, finished_at, lease_until, \
     lease_epoch, output, error";

/// How many columns [`RUN_COLUMNS`] has.
pub(super) const RUN_COLUMN_COUNT: usize = 16;

/// `columns` (a list like [`RUN_COLUMNS`]) each qualified with `table.`.
pub(super) fn qualified(columns: &str, table: &str) -> String {
    columns
        .split(", ")
        .map(|column| format!("{table}.{column}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// An event's columns, in the order [`event`] reads them.
pub(super) const EVENT_COLUMNS: &str =
    "id, endpoint_id, method, url, headers, body, received_at, verified, dedup_key, skipped";

fn ts(value: Option<i64>) -> Option<Timestamp> {
    value.map(Timestamp::from_unix_millis)
}

/// An `INTEGER` column that holds a count from 0.
pub(super) fn count(value: i32) -> u32 {
    u32::try_from(value).unwrap_or(0)
}

/// A run from a row of [`RUN_COLUMNS`], without history, logs or tasks.
pub(super) fn run(row: &Row) -> Result<RunRecord> {
    let status: &str = row.try_get(5)?;
    let status = RunStatus::parse(status)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown run status {status:?}")))?;
    let output: Option<String> = row.try_get(14)?;
    let output = output
        .map(|text| serde_json::from_str(&text))
        .transpose()
        .map_err(|e| StoreError::Corrupt(format!("run output is not JSON: {e}")))?;
    let epoch: i64 = row.try_get(13)?;
    Ok(RunRecord {
        id: row.try_get(0)?,
        job: row.try_get(1)?,
        job_version: row.try_get(2)?,
        event_id: row.try_get(3)?,
        endpoint_id: row.try_get(4)?,
        status,
        attempts: count(row.try_get(6)?),
        max_attempts: count(row.try_get(7)?),
        created_at: Timestamp::from_unix_millis(row.try_get(8)?),
        run_at: Timestamp::from_unix_millis(row.try_get(9)?),
        started_at: ts(row.try_get(10)?),
        finished_at: ts(row.try_get(11)?),
        lease_until: ts(row.try_get(12)?),
        lease_epoch: u64::try_from(epoch).unwrap_or(0),
        output,
        error: row.try_get(15)?,
        history: Vec::new(),
        logs: Vec::new(),
        logs_next_cursor: None,
        tasks: Vec::new(),
    })
}

/// An event from a row of [`EVENT_COLUMNS`].
pub(super) fn event(row: &Row) -> Result<Event> {
    event_at(row, 0)
}

/// An event from a row whose columns from `at` are [`EVENT_COLUMNS`].
pub(super) fn event_at(row: &Row, at: usize) -> Result<Event> {
    let headers: &[u8] = row.try_get(at + 4)?;
    let body: Vec<u8> = row.try_get(at + 5)?;
    Ok(Event {
        id: row.try_get(at)?,
        endpoint_id: row.try_get(at + 1)?,
        method: row.try_get(at + 2)?,
        url: row.try_get(at + 3)?,
        headers: decode_headers(headers)
            .ok_or_else(|| StoreError::Corrupt("stored headers are corrupt".to_owned()))?,
        body: body.into(),
        received_at: Timestamp::from_unix_millis(row.try_get(at + 6)?),
        verified: row.try_get(at + 7)?,
        dedup_key: row.try_get(at + 8)?,
        skipped: decode_skipped(row.try_get(at + 9)?)?,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_run_column_count_is_the_list_s() {
        assert_eq!(
            super::RUN_COLUMNS.split(", ").count(),
            super::RUN_COLUMN_COUNT
        );
        assert_eq!(super::qualified("a, b", "t"), "t.a, t.b");
    }
}
