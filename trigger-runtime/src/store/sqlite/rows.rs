//! Row mapping and the binary header encoding.

use rusqlite::Row;

use crate::store::{Event, RunRecord, RunStatus, SkippedJob, StoreError};
use crate::time::Timestamp;

/// The columns [`run`] reads, for `SELECT` and `RETURNING` lists.
pub(super) const RUN_COLUMNS: &str = "id, job, job_version, event_id, endpoint_id, status, \
     attempts, max_attempts, created_at, run_at, started_at, finished_at, lease_until, output, error";

/// The columns [`event`] reads.
pub(super) const EVENT_COLUMNS: &str =
    "id, endpoint_id, method, url, headers, body, received_at, verified, dedup_key, skipped";

fn ts(row: &Row<'_>, column: &str) -> rusqlite::Result<Option<Timestamp>> {
    Ok(row
        .get::<_, Option<i64>>(column)?
        .map(Timestamp::from_unix_millis))
}

fn corrupt(row: &Row<'_>, column: &str, error: StoreError) -> rusqlite::Error {
    let index = row.as_ref().column_index(column).unwrap_or_default();
    rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, Box::new(error))
}

/// A run from a row with [`RUN_COLUMNS`], without history or logs.
pub(super) fn run(row: &Row<'_>) -> rusqlite::Result<RunRecord> {
    let status: String = row.get("status")?;
    let status = RunStatus::parse(&status).ok_or_else(|| {
        let error = StoreError::Corrupt(format!("unknown run status {status:?}"));
        corrupt(row, "status", error)
    })?;
    let output: Option<String> = row.get("output")?;
    let output = output
        .map(|text| serde_json::from_str(&text))
        .transpose()
        .map_err(|e| {
            let error = StoreError::Corrupt(format!("run output is not JSON: {e}"));
            corrupt(row, "output", error)
        })?;
    Ok(RunRecord {
        id: row.get("id")?,
        job: row.get("job")?,
        job_version: row.get("job_version")?,
        event_id: row.get("event_id")?,
        endpoint_id: row.get("endpoint_id")?,
        status,
        attempts: row.get("attempts")?,
        max_attempts: row.get("max_attempts")?,
        created_at: Timestamp::from_unix_millis(row.get("created_at")?),
        run_at: Timestamp::from_unix_millis(row.get("run_at")?),
        started_at: ts(row, "started_at")?,
        finished_at: ts(row, "finished_at")?,
        lease_until: ts(row, "lease_until")?,
        output,
        error: row.get("error")?,
        history: Vec::new(),
        logs: Vec::new(),
    })
}

/// An event from a row with [`EVENT_COLUMNS`].
pub(super) fn event(row: &Row<'_>) -> rusqlite::Result<Event> {
    let headers: Vec<u8> = row.get("headers")?;
    let body: Vec<u8> = row.get("body")?;
    Ok(Event {
        id: row.get("id")?,
        endpoint_id: row.get("endpoint_id")?,
        method: row.get("method")?,
        url: row.get("url")?,
        headers: decode_headers(&headers).ok_or_else(|| {
            let error = StoreError::Corrupt("stored headers are corrupt".to_owned());
            corrupt(row, "headers", error)
        })?,
        body: body.into(),
        received_at: Timestamp::from_unix_millis(row.get("received_at")?),
        verified: row.get("verified")?,
        dedup_key: row.get("dedup_key")?,
        skipped: skipped(row)?,
    })
}

/// The `skipped` column: a JSON array, or NULL for none.
fn skipped(row: &Row<'_>) -> rusqlite::Result<Vec<SkippedJob>> {
    let Some(text) = row.get::<_, Option<String>>("skipped")? else {
        return Ok(Vec::new());
    };
    serde_json::from_str(&text).map_err(|e| {
        let error = StoreError::Corrupt(format!("stored skipped jobs are not JSON: {e}"));
        corrupt(row, "skipped", error)
    })
}

/// The `skipped` column for `jobs`: NULL for none, so the common case costs nothing.
pub(super) fn encode_skipped(jobs: &[SkippedJob]) -> Option<String> {
    if jobs.is_empty() {
        return None;
    }
    serde_json::to_string(jobs).ok()
}

/// Headers as `(u32 name length, name, u32 value length, value)*`, little-endian: exact for
/// any bytes, and cheaper than JSON.
pub(super) fn encode_headers(headers: &[(String, Vec<u8>)]) -> Vec<u8> {
    let size = headers.iter().map(|(n, v)| 8 + n.len() + v.len()).sum();
    let mut out = Vec::with_capacity(size);
    for (name, value) in headers {
        for part in [name.as_bytes(), value.as_slice()] {
            out.extend_from_slice(&u32::try_from(part.len()).unwrap_or(u32::MAX).to_le_bytes());
            out.extend_from_slice(part);
        }
    }
    out
}

pub(super) fn decode_headers(mut bytes: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    fn take<'a>(bytes: &mut &'a [u8]) -> Option<&'a [u8]> {
        let (len, rest) = bytes.split_first_chunk::<4>()?;
        let len = usize::try_from(u32::from_le_bytes(*len)).ok()?;
        let (part, rest) = (rest.get(..len)?, rest.get(len..)?);
        *bytes = rest;
        Some(part)
    }
    let mut headers = Vec::new();
    while !bytes.is_empty() {
        let name = String::from_utf8(take(&mut bytes)?.to_vec()).ok()?;
        headers.push((name, take(&mut bytes)?.to_vec()));
    }
    Some(headers)
}

#[cfg(test)]
mod tests {
    use super::{decode_headers, encode_headers};

    #[test]
    fn headers_round_trip_exactly() {
        let headers = vec![
            ("x-a".to_owned(), b"1".to_vec()),
            ("x-bin".to_owned(), vec![0xff, 0, 0x80]),
            ("x-empty".to_owned(), Vec::new()),
        ];
        assert_eq!(decode_headers(&encode_headers(&headers)), Some(headers));
        assert_eq!(decode_headers(&[1, 0, 0]), None);
    }
}
