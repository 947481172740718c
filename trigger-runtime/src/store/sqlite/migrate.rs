//! Embedded, numbered migrations, applied in one transaction at open.

use rusqlite::Connection;

/// `(number, name, sql)`, numbered from 1 without gaps.
const MIGRATIONS: &[(u32, &str, &str)] = &[(
    1,
    "init",
    include_str!("../../../migrations/sqlite/0001_init.sql"),
)];

/// Applies every migration the database has not seen yet; refuses a database that is newer
/// than this build.
pub(super) fn run(conn: &mut Connection) -> rusqlite::Result<Result<(), String>> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS trigger_migrations (
            version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL
        ) STRICT",
    )?;
    let current: u32 = tx.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM trigger_migrations",
        [],
        |row| row.get(0),
    )?;
    let latest = MIGRATIONS.last().map_or(0, |m| m.0);
    if current > latest {
        return Ok(Err(format!(
            "the database is at migration {current}, newer than this build's {latest}; \
             run a newer build or point TRIGGER_DATABASE_URL elsewhere"
        )));
    }
    for (version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO trigger_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            rusqlite::params![
                version,
                name,
                crate::time::Timestamp::now().as_unix_millis()
            ],
        )?;
    }
    tx.commit()?;
    Ok(Ok(()))
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
}
