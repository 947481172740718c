//! A PostgreSQL schema of its own for one test, in the database `TRIGGER_TEST_DATABASE_URL`
//! names (`.cargo/config.toml` points it at the local server); dropped with everything in it
//! at the end of the test. Without the variable (or with it empty) PostgreSQL tests are
//! skipped, and each skip is printed. One file for the runtime's tests, the end-to-end tests
//! and the bench.

use std::io::Write as _;
use std::sync::atomic::{AtomicU32, Ordering};

/// The variable that names the test database.
pub const DATABASE_URL_VAR: &str = "TRIGGER_TEST_DATABASE_URL";

/// A fresh schema in the test database.
#[derive(Debug)]
pub struct TestSchema {
    base: String,
    name: String,
}

impl TestSchema {
    /// A new, empty schema name (the store creates the schema); `None`, printed, when no
    /// database URL is given.
    pub fn new(test: &str) -> Option<Self> {
        let base = std::env::var(DATABASE_URL_VAR).unwrap_or_default();
        if base.trim().is_empty() {
            // Straight to stderr: the test harness captures `eprintln!`, not this.
            let _ = writeln!(
                std::io::stderr(),
                "skipped {test} on PostgreSQL: {DATABASE_URL_VAR} is not set"
            );
            return None;
        }
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "t_{}_{}_{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        Some(Self {
            base: base.trim().to_owned(),
            name,
        })
    }

    /// The schema's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The database URL with `schema=` naming this schema.
    pub fn url(&self) -> String {
        let separator = if self.base.contains('?') { '&' } else { '?' };
        format!("{}{separator}schema={}", self.base, self.name)
    }

    /// Runs `sql` on the database, outside the schema (for tests that reach under the store).
    pub async fn execute(&self, sql: &str) {
        let (client, connection) = tokio_postgres::connect(&self.base, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("could not connect to {DATABASE_URL_VAR}: {e}"));
        let driver = tokio::spawn(connection);
        client
            .batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        drop(client);
        let _ = driver.await;
    }

    /// Drops the schema with everything in it.
    pub async fn drop_schema(self) {
        self.execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name))
            .await;
    }
}
