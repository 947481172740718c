//! Row mapping and the binary header encoding.

use rusqlite::Row;

use crate::store::{NewEvent, RunRecord, RunStatus, StoreError};
use crate::time::Timestamp;

pub(super) const RUN_COLUMNS: &str = "id, job, job_version, event_id, endpoint_id, status, \
     attempts, max_attempts, created_at, run_at, started_at, finished_at, lease_until, output, error";

pub(super) const EVENT_COLUMNS: &str =
    "id, endpoint_id, method, url, headers, body, received_at, verified, dedup_key";

fn ts(value: Option<i64>) -> Option<Timestamp> {
    value.map(Timestamp::from_unix_millis)
}

fn conversion(
    index: usize,
    error: impl std::error::Error + Send + Sync + 'static,
) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, Box::new(error))
}

/// A run from a row of [`RUN_COLUMNS`], without history or logs.
pub(super) fn run(row: &Row<'_>) -> rusqlite::Result<RunRecord> {
    let status: String = row.get(5)?;
    let status = RunStatus::parse(&status).ok_or_else(|| {
        conversion(
            5,
            StoreError::Backend(format!("unknown run status {status:?}")),
        )
    })?;
    let output: Option<String> = row.get(13)?;
    let output = output
        .map(|text| serde_json::from_str(&text))
        .transpose()
        .map_err(|e| conversion(13, e))?;
    Ok(RunRecord {
        id: row.get(0)?,
        job: row.get(1)?,
        job_version: row.get(2)?,
        event_id: row.get(3)?,
        endpoint_id: row.get(4)?,
        status,
        attempts: row.get(6)?,
        max_attempts: row.get(7)?,
        created_at: Timestamp::from_unix_millis(row.get(8)?),
        run_at: Timestamp::from_unix_millis(row.get(9)?),
        started_at: ts(row.get(10)?),
        finished_at: ts(row.get(11)?),
        lease_until: ts(row.get(12)?),
        output,
        error: row.get(14)?,
        history: Vec::new(),
        logs: Vec::new(),
    })
}

/// An event from a row of [`EVENT_COLUMNS`].
pub(super) fn event(row: &Row<'_>) -> rusqlite::Result<NewEvent> {
    let headers: Vec<u8> = row.get(4)?;
    let body: Vec<u8> = row.get(5)?;
    Ok(NewEvent {
        id: row.get(0)?,
        endpoint_id: row.get(1)?,
        method: row.get(2)?,
        url: row.get(3)?,
        headers: decode_headers(&headers).ok_or_else(|| {
            conversion(
                4,
                StoreError::Backend("stored headers are corrupt".to_owned()),
            )
        })?,
        body: body.into(),
        received_at: Timestamp::from_unix_millis(row.get(6)?),
        verified: row.get(7)?,
        dedup_key: row.get(8)?,
    })
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
