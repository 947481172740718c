//! Embedded, numbered migrations, applied in one transaction at open.

use rusqlite::{Connection, TransactionBehavior};

use crate::store::{Result, StoreError};
use crate::time::Timestamp;

/// `(number, name, sql)`, numbered from 1 without gaps.
const MIGRATIONS: &[(u32, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../../../migrations/sqlite/0001_init.sql"),
    ),
    (
        2,
        "drop_runs_worker",
        include_str!("../../../migrations/sqlite/0002_drop_runs_worker.sql"),
    ),
    (
        3,
        "events_skipped",
        include_str!("../../../migrations/sqlite/0003_events_skipped.sql"),
    ),
    (
        4,
        "health",
        include_str!("../../../migrations/sqlite/0004_health.sql"),
    ),
    (
        5,
        "lease_epoch",
        include_str!("../../../migrations/sqlite/0005_lease_epoch.sql"),
    ),
    (
        6,
        "task_times",
        include_str!("../../../migrations/sqlite/0006_task_times.sql"),
    ),
    (
        7,
        "runs_status_check",
        include_str!("../../../migrations/sqlite/0007_runs_status_check.sql"),
    ),
];

/// Applies every migration the database has not seen yet, all in one transaction; refuses a
/// database that is newer than this build.
pub(super) fn run(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS trigger_migrations (
            version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL
        ) STRICT",
    )?;
    let found: u32 = tx.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM trigger_migrations",
        [],
        |row| row.get(0),
    )?;
    let latest = MIGRATIONS.last().map_or(0, |m| m.0);
    if found > latest {
        return Err(StoreError::TooNew { found, latest });
    }
    for &(version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > found) {
        let failed = |source| StoreError::Migration {
            version,
            name,
            source,
        };
        tx.execute_batch(sql).map_err(failed)?;
        tx.execute(
            "INSERT INTO trigger_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            rusqlite::params![version, name, Timestamp::now().as_unix_millis()],
        )
        .map_err(failed)?;
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::MIGRATIONS;

    #[test]
    fn migrations_are_numbered_without_gaps() {
        for (i, (version, ..)) in MIGRATIONS.iter().enumerate() {
            assert_eq!(*version as usize, i + 1);
        }
    }

    /// An in-memory database as a build that knew migrations `1..=version` left it.
    fn migrated_up_to(version: u32) -> rusqlite::Connection {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE trigger_migrations (
                version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL
            ) STRICT",
        )
        .unwrap();
        for &(number, name, sql) in MIGRATIONS.iter().filter(|m| m.0 <= version) {
            conn.execute_batch(sql).unwrap();
            conn.execute(
                "INSERT INTO trigger_migrations VALUES (?1, ?2, 0)",
                rusqlite::params![number, name],
            )
            .unwrap();
        }
        conn
    }

    /// A database left by an older build takes the later migrations, and what it held reads
    /// back: here a task saved before tasks had an order, a time and an attempt.
    #[test]
    fn an_older_database_is_brought_up_to_date() {
        let mut conn = migrated_up_to(5);
        conn.execute(
            "INSERT INTO tasks (run_id, key, output) VALUES ('run_1', 'k', '[1]')",
            [],
        )
        .unwrap();
        super::run(&mut conn).unwrap();
        let (seq, saved_at, output): (Option<i64>, Option<i64>, String) = conn
            .query_row(
                "SELECT seq, saved_at, output FROM tasks WHERE run_id = 'run_1'",
                [],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .unwrap();
        assert_eq!((seq, saved_at, output.as_str()), (None, None, "[1]"));
        let latest: u32 = conn
            .query_row("SELECT MAX(version) FROM trigger_migrations", [], |row| {
                row.get(0)
            })
            .unwrap();
        assert_eq!(latest as usize, MIGRATIONS.len());
    }

    /// Runs stored before the status check was rebuilt keep every field and their order, the
    /// check still refuses an unknown status, and writing a status builds no temporary b-tree.
    #[test]
    fn runs_survive_the_status_check_rebuild() {
        let mut conn = migrated_up_to(6);
        let runs = "SELECT rowid, id, job, job_version, event_id, endpoint_id, status, attempts, \
                    max_attempts, created_at, run_at, started_at, finished_at, lease_until, \
                    output, error, lease_epoch FROM runs ORDER BY rowid";
        // Inserted out of id order, so that the order kept is the rowid's.
        conn.execute_batch(
            "INSERT INTO events (id, endpoint_id, method, url, headers, body, received_at, \
                 verified) VALUES ('evt_1', 'ep', 'POST', 'http://h/', x'', x'', 1, 1); \
             INSERT INTO runs (id, job, job_version, event_id, endpoint_id, status, attempts, \
                 max_attempts, created_at, run_at, started_at, lease_until, lease_epoch) \
             VALUES ('run_b', 'j', '1', 'evt_1', 'ep', 'running', 1, 3, 10, 10, 11, 99, 4); \
             INSERT INTO runs (id, job, job_version, event_id, endpoint_id, status, \
                 max_attempts, created_at, run_at, finished_at, output, error) \
             VALUES ('run_a', 'j', '1', 'evt_1', 'ep', 'failed', 3, 12, 12, 13, 'null', 'e');",
        )
        .unwrap();
        let read = |conn: &rusqlite::Connection| -> Vec<String> {
            let mut stmt = conn.prepare(runs).unwrap();
            let columns = stmt.column_count();
            stmt.query_map([], |row| {
                (0..columns)
                    .map(|i| Ok(format!("{:?}", row.get_ref(i)?)))
                    .collect::<rusqlite::Result<Vec<_>>>()
                    .map(|fields| fields.join(","))
            })
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
        };
        let before = read(&conn);
        super::run(&mut conn).unwrap();
        assert_eq!(read(&conn), before);
        let bogus = conn.execute("UPDATE runs SET status = 'bogus' WHERE id = 'run_a'", []);
        assert!(bogus.is_err(), "an unknown status was stored");
        let opcodes: Vec<String> = conn
            .prepare("EXPLAIN UPDATE runs SET status = 'succeeded' WHERE id = 'run_b'")
            .unwrap()
            .query_map([], |row| row.get::<_, String>("opcode"))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert!(
            !opcodes.iter().any(|op| op == "OpenEphemeral"),
            "{opcodes:?}"
        );
    }

    #[test]
    fn a_newer_database_is_refused() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        super::run(&mut conn).unwrap();
        conn.execute(
            "INSERT INTO trigger_migrations (version, name, applied_at) VALUES (99, 'future', 0)",
            [],
        )
        .unwrap();
        let error = super::run(&mut conn).unwrap_err();
        assert!(matches!(
            error,
            crate::store::StoreError::TooNew { found: 99, .. }
        ));
    }
}
