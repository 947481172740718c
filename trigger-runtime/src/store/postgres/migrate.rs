//! The schema's migrations, embedded and numbered like SQLite's, applied at start-up in one
//! transaction; servers that start together take turns.

use deadpool_postgres::Client;

use crate::store::{Result, StoreError};
use crate::time::Timestamp;

/// `(version, name, SQL)`, numbered from 1 without gaps.
const MIGRATIONS: &[(u32, &str, &str)] = &[(
    1,
    "init",
    include_str!("../../../migrations/postgres/0001_init.sql"),
)];

/// Creates the schema if needed and applies every migration it has not seen; refuses a schema
/// that is newer than this build.
pub(super) async fn run(client: &mut Client, schema: &str) -> Result<()> {
    let tx = client.transaction().await?;
    // One server migrates at a time; the others then find nothing left to do.
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtext($1))",
        &[&format!("trigger-runtime migrate {schema}")],
    )
    .await?;
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS {schema};
         CREATE TABLE IF NOT EXISTS trigger_migrations (
             version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL
         );"
    ))
    .await?;
    let found: i32 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM trigger_migrations",
            &[],
        )
        .await?
        .get(0);
    let found = u32::try_from(found).unwrap_or(0);
    let latest = MIGRATIONS.last().map_or(0, |m| m.0);
    if found > latest {
        return Err(StoreError::TooNew { found, latest });
    }
    for &(version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > found) {
        let failed = |source| StoreError::PostgresMigration {
            version,
            name,
            source,
        };
        tx.batch_execute(sql).await.map_err(failed)?;
        tx.execute(
            "INSERT INTO trigger_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
            &[
                &i32::try_from(version).unwrap_or(i32::MAX),
                &name,
                &Timestamp::now().as_unix_millis(),
            ],
        )
        .await
        .map_err(failed)?;
    }
    tx.commit().await?;
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
}
