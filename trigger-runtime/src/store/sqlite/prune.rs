//! Retention: deleting old events with everything of theirs, oldest first, in small batches.

use rusqlite::{Connection, params};

use crate::store::{Pruned, Result};
use crate::time::Timestamp;

/// How many events a call looks at for each one it may delete: old events kept because a run
/// of theirs is unfinished are passed over, up to this many times `limit`.
const SCAN_FACTOR: usize = 10;

/// Deletes up to `limit` prunable events received before `before`, in insertion (`rowid`)
/// order, which is the order they were received in; stops at the first newer one.
pub(super) fn prune(conn: &Connection, before: Timestamp, limit: usize) -> Result<Pruned> {
    let before = before.as_unix_millis();
    let scan = i64::try_from(limit.saturating_mul(SCAN_FACTOR)).unwrap_or(i64::MAX);
    let oldest: Vec<(String, i64)> = conn
        .prepare_cached("SELECT id, received_at FROM events ORDER BY rowid LIMIT ?1")?
        .query_map([scan], |row| Ok((row.get("id")?, row.get("received_at")?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut keep = conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM runs WHERE event_id = ?1 \
         AND (status IN ('queued', 'running') OR created_at >= ?2))",
    )?;
    let mut pruned = Pruned::default();
    for (id, received_at) in &oldest {
        if *received_at >= before || pruned.events >= limit {
            return Ok(pruned_with(pruned, *received_at < before));
        }
        if keep.query_row(params![id, before], |row| row.get::<_, bool>(0))? {
            continue;
        }
        delete_event(conn, id)?;
        pruned.events += 1;
    }
    // Every row looked at was old: there may be more past them.
    Ok(pruned_with(
        pruned,
        oldest.len() as u64 == scan.unsigned_abs(),
    ))
}

fn pruned_with(mut pruned: Pruned, more: bool) -> Pruned {
    pruned.more = more && pruned.events > 0;
    pruned
}

/// Deletes an event, its runs and their attempts, logs and task outputs.
fn delete_event(conn: &Connection, id: &str) -> Result<()> {
    for sql in [
        "DELETE FROM logs WHERE run_id IN (SELECT id FROM runs WHERE event_id = ?1)",
        "DELETE FROM attempts WHERE run_id IN (SELECT id FROM runs WHERE event_id = ?1)",
        "DELETE FROM tasks WHERE run_id IN (SELECT id FROM runs WHERE event_id = ?1)",
        "DELETE FROM runs WHERE event_id = ?1",
        "DELETE FROM events WHERE id = ?1",
    ] {
        conn.prepare_cached(sql)?.execute([id])?;
    }
    Ok(())
}
