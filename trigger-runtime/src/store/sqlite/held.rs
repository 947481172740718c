//! The writer's connection as every write gets it: a [`Tx`], which derefs to the
//! [`Connection`] and holds the statements of the writes made for every webhook prepared for
//! the writer's whole life.
//!
//! `prepare_cached` looks a statement up by its SQL text: it trims the text, hashes it, compares
//! it with the cached key, copies it into a new `Arc<str>` for the statement to carry, and on
//! drop hashes it again to put the statement back. Under callgrind (`trigger-bench store`) that
//! was 7 % of the writer thread's instructions, about 8,500 per webhook and its run, more than
//! some of the statements it looked up. A held statement is found by its [`Held`] index.

use std::cell::{OnceCell, RefCell, RefMut};
use std::ops::Deref;

use rusqlite::{Connection, PrepFlags, Statement};

use super::{claim, finish, write};

/// The statements a [`Tx`] holds prepared: those of every batch, every ingest, every run a
/// claim takes and every successful attempt.
#[derive(Clone, Copy, Debug)]
pub(super) enum Held {
    /// Opens a batch's transaction.
    Begin,
    /// Commits it.
    Commit,
    /// An ingest's event.
    InsertEvent,
    /// Each of its runs.
    InsertRun,
    /// A successful attempt's end.
    Succeed,
    /// Each log line an attempt leaves.
    InsertLog,
    /// Each run a claim takes.
    Take,
}

impl Held {
    const COUNT: usize = 7;

    fn sql(self) -> &'static str {
        match self {
            Self::Begin => "BEGIN IMMEDIATE",
            Self::Commit => "COMMIT",
            Self::InsertEvent => write::INSERT_EVENT,
            Self::InsertRun => write::INSERT_RUN,
            Self::Succeed => finish::SUCCEED,
            Self::InsertLog => finish::INSERT_LOG,
            Self::Take => claim::TAKE,
        }
    }
}

/// The writer's connection with its [`Held`] statements.
pub(super) struct Tx<'c> {
    conn: &'c Connection,
    held: [OnceCell<RefCell<Statement<'c>>>; Held::COUNT],
}

impl<'c> Tx<'c> {
    pub(super) fn new(conn: &'c Connection) -> Self {
        Self {
            conn,
            held: Default::default(),
        }
    }

    /// The statement `held`, prepared on its first use. A statement serves one caller at a
    /// time: asking for it again while the first caller holds it is a bug in this driver,
    /// answered with SQLite's own error for misuse.
    pub(super) fn statement(&self, held: Held) -> rusqlite::Result<RefMut<'_, Statement<'c>>> {
        let cell = &self.held[held as usize];
        let statement = match cell.get() {
            Some(statement) => statement,
            None => {
                let prepared = self
                    .conn
                    .prepare_with_flags(held.sql(), PrepFlags::SQLITE_PREPARE_PERSISTENT)?;
                cell.get_or_init(|| RefCell::new(prepared))
            }
        };
        statement.try_borrow_mut().map_err(|_| {
            let misuse = rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_MISUSE);
            rusqlite::Error::SqliteFailure(misuse, Some(format!("{held:?} used twice at once")))
        })
    }
}

impl Deref for Tx<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.conn
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::{Connection, ErrorCode, StatementStatus};

    use super::{Held, Tx};

    #[test]
    fn a_held_statement_is_prepared_once_and_serves_one_caller_at_a_time() {
        let conn = Connection::open_in_memory().unwrap();
        let tx = Tx::new(&conn);
        for _ in 0..3 {
            tx.statement(Held::Begin).unwrap().execute([]).unwrap();
            tx.statement(Held::Commit).unwrap().execute([]).unwrap();
        }
        let begin = tx.statement(Held::Begin).unwrap();
        assert_eq!(
            begin.get_status(StatementStatus::Run),
            3,
            "one statement ran thrice"
        );
        let again = tx.statement(Held::Begin);
        assert!(
            matches!(&again, Err(rusqlite::Error::SqliteFailure(e, Some(why)))
                if e.code == ErrorCode::ApiMisuse && why == "Begin used twice at once"),
            "{again:?}"
        );
        drop(again);
        drop(begin);
        assert!(
            tx.statement(Held::Begin).is_ok(),
            "free again once its caller is done"
        );
    }
}
