//! How values are written to a database, the same for every driver: headers in a compact
//! binary form, skipped jobs and outputs as JSON text; and when drivers look for expired
//! leases.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use crate::store::{Result, SkippedJobs, StoreError};

/// The `skipped` column: a JSON array, or NULL for none.
pub(crate) fn decode_skipped(text: Option<String>) -> Result<SkippedJobs> {
    let Some(text) = text else {
        return Ok(SkippedJobs::new());
    };
    serde_json::from_str(&text)
        .map_err(|e| StoreError::Corrupt(format!("stored skipped jobs are not JSON: {e}")))
}

/// The `skipped` column for `jobs`: NULL for none, so the common case costs nothing.
pub(crate) fn encode_skipped(jobs: &SkippedJobs) -> Option<String> {
    if jobs.is_empty() {
        return None;
    }
    serde_json::to_string(jobs).ok()
}

/// Headers as `(u32 name length, name, u32 value length, value)*`, little-endian: exact for
/// any bytes, and cheaper than JSON.
pub(crate) fn encode_headers(headers: &[(String, Vec<u8>)]) -> Vec<u8> {
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

pub(crate) fn decode_headers(mut bytes: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
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

/// When expired leases were last looked for, and the shortest lease claimed (both in ms).
#[derive(Debug)]
pub(crate) struct ExpiryScan {
    last: AtomicI64,
    shortest_lease: AtomicI64,
}

impl Default for ExpiryScan {
    fn default() -> Self {
        Self {
            last: AtomicI64::new(0),
            shortest_lease: AtomicI64::new(i64::MAX),
        }
    }
}

impl ExpiryScan {
    /// Whether to look for expired leases now: at most every tenth of the shortest lease
    /// claimed so far, and at least every second; a busy worker claims hundreds of times a
    /// second.
    pub(crate) fn due(&self, now: i64, lease: Duration) -> bool {
        let lease = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
        let shortest = self
            .shortest_lease
            .fetch_min(lease, Ordering::Relaxed)
            .min(lease);
        now - self.last.load(Ordering::Relaxed) >= (shortest / 10).min(1000)
    }

    /// Records that expired leases were looked for at `now`.
    pub(crate) fn scanned(&self, now: i64) {
        self.last.store(now, Ordering::Relaxed);
    }
}

/// A task's output as stored (JSON text), read back.
pub(crate) fn task_output(run_id: &str, key: &str, text: &str) -> Result<serde_json::Value> {
    serde_json::from_str(text).map_err(|e| {
        StoreError::Corrupt(format!(
            "output of task {key:?} of run {run_id} is not JSON: {e}"
        ))
    })
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
