//! The writer's VFS: SQLite's own file layer, with a commit's writes to the WAL sent to the
//! operating system together.
//!
//! SQLite appends each WAL frame in two `pwrite`s, its 24-byte header and then its 4 KiB page,
//! so a commit of 36 pages (a batch of about 18 webhooks and their runs) made 72 system calls
//! before its `fsync`. On this project's 2-core virtual machine a `pwrite` costs about 1.4 µs
//! whatever its size: in a C program, 72 of them took 104 µs of CPU against 12 µs for one
//! `pwritev` of the same bytes. This layer wraps the default VFS and changes one thing, for
//! WAL files only: a write that continues the previous one is appended to a buffer, and the
//! buffer goes out, in pieces of [`MAX_WRITE`], before anything that needs the file as SQLite
//! believes it is (a read, a sync, its size, a truncation, a file control, a write elsewhere,
//! closing it), or when it would pass [`MAX_PENDING`]. Every other file, and every other call,
//! goes to the default VFS unchanged.
//!
//! Why this is safe for the store:
//! - **Durability.** A commit is durable once SQLite has synced the WAL, and the sync writes
//!   the buffer first. A crash before it loses only frames SQLite had not yet committed, as a
//!   crash between its `pwrite`s and its `fsync` always could.
//! - **Other connections.** The checkpointer and the readers open the WAL through the default
//!   VFS and read only frames the writer committed. With `synchronous = FULL` (which
//!   [`super::connect`] sets, and which the store's durability needs anyway) the writer syncs
//!   the WAL before it publishes a commit in the WAL index, so those frames were written
//!   first. Under `synchronous = NORMAL` a commit is published without a sync, and frames could
//!   still be here: so only a connection that keeps `FULL` may use this VFS.
//! - **Its own connection** reads the file only after the buffer went out, so it reads back
//!   what it wrote, including frames a large transaction spilled before it committed.
//!
//! A write the buffer has taken cannot fail; a failure of the delayed `pwrite` is reported by
//! the call that flushed it (the sync, for a commit), and SQLite rolls that commit back.
#![allow(unsafe_code)]

use std::ffi::{CStr, c_int, c_void};
use std::mem::size_of;
use std::ptr;
use std::sync::OnceLock;

use rusqlite::ffi;

/// The name the writer's connection opens its database with.
pub(super) const NAME: &CStr = c"trigger-wal-buffer";

/// A buffer this large is written out before it grows further (a commit of 18 webhooks and
/// their runs writes about 150 KiB, one of 512 about 4 MiB). Allocated once, at its full size.
const MAX_PENDING: usize = 1 << 20;

/// The default VFS this one wraps, found when it was registered.
struct Inner(*mut ffi::sqlite3_vfs);

// SAFETY: a registered VFS is immutable and lives as long as the process; SQLite calls it from
// any thread.
unsafe impl Send for Inner {}
// SAFETY: as for `Send`.
unsafe impl Sync for Inner {}

static REGISTERED: OnceLock<Result<Inner, c_int>> = OnceLock::new();

/// Registers the VFS (once; not as the default) and returns its name, or SQLite's error code.
pub(super) fn register() -> Result<&'static CStr, c_int> {
    let registered = REGISTERED.get_or_init(|| {
        // SAFETY: `sqlite3_vfs_find` and `sqlite3_vfs_register` are thread-safe; the new VFS
        // is leaked, so it outlives every connection that uses it.
        unsafe {
            let inner = ffi::sqlite3_vfs_find(ptr::null());
            if inner.is_null() {
                return Err(ffi::SQLITE_ERROR);
            }
            let inner_size = usize::try_from((*inner).szOsFile).map_err(|_| ffi::SQLITE_ERROR)?;
            let mut vfs = *inner;
            vfs.szOsFile =
                c_int::try_from(INNER_OFFSET + inner_size).map_err(|_| ffi::SQLITE_ERROR)?;
            vfs.pNext = ptr::null_mut();
            vfs.zName = NAME.as_ptr();
            vfs.xOpen = Some(open);
            // The default VFS's other functions are kept: they are handed this VFS, which is a
            // copy of theirs but for the name, the file size and `xOpen`.
            let rc = ffi::sqlite3_vfs_register(Box::into_raw(Box::new(vfs)), 0);
            if rc == ffi::SQLITE_OK {
                Ok(Inner(inner))
            } else {
                Err(rc)
            }
        }
    });
    registered.as_ref().map(|_| NAME).map_err(|rc| *rc)
}

fn inner_vfs() -> *mut ffi::sqlite3_vfs {
    match REGISTERED.get() {
        Some(Ok(inner)) => inner.0,
        _ => ptr::null_mut(),
    }
}

/// A WAL file opened through this VFS: SQLite's handle, then the writes not yet sent, then
/// the default VFS's own handle for the same file, at [`INNER_OFFSET`].
#[repr(C)]
struct WalFile {
    base: ffi::sqlite3_file,
    pending: *mut Pending,
}

/// Where the default VFS's handle starts in the block SQLite allocates (8-byte aligned).
const INNER_OFFSET: usize = size_of::<WalFile>().next_multiple_of(8);

/// Bytes written by SQLite but not yet by the operating system, from `start` on.
struct Pending {
    start: i64,
    bytes: Vec<u8>,
}

impl Default for Pending {
    fn default() -> Self {
        Self {
            start: 0,
            bytes: Vec::with_capacity(MAX_PENDING),
        }
    }
}

#[cfg(test)]
thread_local! {
    /// Writes SQLite made to WAL files on this thread, and writes sent on.
    static COUNTS: std::cell::Cell<(u64, u64)> = const { std::cell::Cell::new((0, 0)) };
}

fn count(taken: u64, sent: u64) {
    #[cfg(test)]
    COUNTS.with(|counts| {
        let (t, s) = counts.get();
        counts.set((t + taken, s + sent));
    });
    let _ = (taken, sent);
}

/// Opens a file with the default VFS; a WAL file gets this VFS's methods around it.
unsafe extern "C" fn open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let inner_vfs = inner_vfs();
    // SAFETY: SQLite passes a zeroed block of this VFS's `szOsFile` bytes, which holds a
    // `WalFile` followed by the default VFS's handle; `inner_vfs` is the registered default.
    unsafe {
        let Some(inner_open) = inner_vfs.as_ref().and_then(|vfs| vfs.xOpen) else {
            return ffi::SQLITE_CANTOPEN;
        };
        if flags & ffi::SQLITE_OPEN_WAL == 0 {
            // The whole block is the default VFS's handle, with its methods.
            return inner_open(inner_vfs, name, file, flags, out_flags);
        }
        let inner = inner_file(file);
        let rc = inner_open(inner_vfs, name, inner, flags, out_flags);
        let wal = file.cast::<WalFile>();
        if rc != ffi::SQLITE_OK {
            if let Some(close) = (*inner).pMethods.as_ref().and_then(|m| m.xClose) {
                close(inner);
            }
            (*wal).base.pMethods = ptr::null();
            return rc;
        }
        (*wal).pending = Box::into_raw(Box::default());
        (*wal).base.pMethods = &METHODS;
        ffi::SQLITE_OK
    }
}

/// The methods of a WAL file. Version 1: SQLite maps memory and shares locks through the
/// database file, never through its WAL.
static METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 1,
    xClose: Some(close),
    xRead: Some(read),
    xWrite: Some(write),
    xTruncate: Some(truncate),
    xSync: Some(sync),
    xFileSize: Some(file_size),
    xLock: Some(lock),
    xUnlock: Some(unlock),
    xCheckReservedLock: Some(check_reserved_lock),
    xFileControl: Some(file_control),
    xSectorSize: Some(sector_size),
    xDeviceCharacteristics: Some(device_characteristics),
    xShmMap: None,
    xShmLock: None,
    xShmBarrier: None,
    xShmUnmap: None,
    xFetch: None,
    xUnfetch: None,
};

/// The default VFS's handle inside `file`.
///
/// # Safety
/// `file` is a block this VFS's `xOpen` was given.
unsafe fn inner_file(file: *mut ffi::sqlite3_file) -> *mut ffi::sqlite3_file {
    // SAFETY: the block is `INNER_OFFSET` plus the default VFS's handle long.
    unsafe { file.cast::<u8>().add(INNER_OFFSET).cast() }
}

/// Calls the default VFS's method `$method` on the handle inside `$file`, or answers
/// `SQLITE_IOERR` if it has none.
macro_rules! forward {
    ($file:expr, $method:ident $(, $arg:expr)*) => {{
        let inner = inner_file($file);
        match (*inner).pMethods.as_ref().and_then(|methods| methods.$method) {
            Some(method) => method(inner $(, $arg)*),
            None => ffi::SQLITE_IOERR,
        }
    }};
}

/// The most the default VFS writes in one call: the unix VFS keeps the low 17 bits of a
/// write's length (it expects pages), so a buffer goes out in pieces of this size.
const MAX_WRITE: usize = 120 << 10;

/// Writes `bytes` at `offset` with the default VFS, in as few calls as it allows.
///
/// # Safety
/// `file` is an open WAL file of this VFS.
unsafe fn write_out(file: *mut ffi::sqlite3_file, bytes: &[u8], offset: i64) -> c_int {
    let mut offset = offset;
    for piece in bytes.chunks(MAX_WRITE) {
        count(0, 1);
        let Ok(amount) = c_int::try_from(piece.len()) else {
            return ffi::SQLITE_IOERR_WRITE;
        };
        // SAFETY: as the function's.
        let rc = unsafe { forward!(file, xWrite, piece.as_ptr().cast(), amount, offset) };
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        offset += i64::from(amount);
    }
    ffi::SQLITE_OK
}

/// Writes the buffer, if anything is in it; empties it either way.
///
/// # Safety
/// `file` is an open WAL file of this VFS.
unsafe fn flush(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: an open WAL file's `pending` is its own, and SQLite uses a file from one thread
    // at a time. The buffer is taken out while it is written, so nothing else refers to it.
    unsafe {
        let pending = (*file.cast::<WalFile>()).pending;
        let mut bytes = std::mem::take(&mut (*pending).bytes);
        let rc = write_out(file, &bytes, (*pending).start);
        bytes.clear();
        (*pending).bytes = bytes;
        rc
    }
}

unsafe extern "C" fn write(
    file: *mut ffi::sqlite3_file,
    data: *const c_void,
    amount: c_int,
    offset: ffi::sqlite3_int64,
) -> c_int {
    count(1, 0);
    let Ok(len) = usize::try_from(amount) else {
        return ffi::SQLITE_IOERR_WRITE;
    };
    // SAFETY: `file` is an open WAL file of this VFS and `data` holds `amount` bytes.
    unsafe {
        let data = std::slice::from_raw_parts(data.cast::<u8>(), len);
        let pending = (*file.cast::<WalFile>()).pending;
        let (start, buffered) = ((*pending).start, (*pending).bytes.len());
        let continues = buffered > 0
            && i64::try_from(buffered)
                .ok()
                .and_then(|n| start.checked_add(n))
                == Some(offset);
        if !(continues && buffered + len <= MAX_PENDING) {
            let rc = flush(file);
            if rc != ffi::SQLITE_OK {
                return rc;
            }
            if len > MAX_PENDING {
                return write_out(file, data, offset);
            }
            (*pending).start = offset;
        }
        (*pending).bytes.extend_from_slice(data);
        ffi::SQLITE_OK
    }
}

unsafe extern "C" fn close(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: SQLite closes an open WAL file of this VFS once, and never uses it after.
    unsafe {
        let flushed = flush(file);
        let closed = forward!(file, xClose);
        let wal = file.cast::<WalFile>();
        drop(Box::from_raw((*wal).pending));
        (*wal).pending = ptr::null_mut();
        if flushed == ffi::SQLITE_OK {
            closed
        } else {
            flushed
        }
    }
}

/// Methods that need the file as SQLite believes it is: the buffer goes out first.
macro_rules! after_flush {
    ($name:ident ( $($arg:ident : $ty:ty),* ) => $method:ident) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file $(, $arg: $ty)*) -> c_int {
            // SAFETY: `file` is an open WAL file of this VFS; the arguments are SQLite's.
            unsafe {
                let rc = flush(file);
                if rc != ffi::SQLITE_OK {
                    return rc;
                }
                forward!(file, $method $(, $arg)*)
            }
        }
    };
}

/// Methods that do not touch the file's bytes.
macro_rules! passed_on {
    ($name:ident ( $($arg:ident : $ty:ty),* ) => $method:ident) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file $(, $arg: $ty)*) -> c_int {
            // SAFETY: `file` is an open WAL file of this VFS; the arguments are SQLite's.
            unsafe { forward!(file, $method $(, $arg)*) }
        }
    };
}

after_flush!(read(data: *mut c_void, amount: c_int, offset: ffi::sqlite3_int64) => xRead);
after_flush!(truncate(size: ffi::sqlite3_int64) => xTruncate);
after_flush!(sync(flags: c_int) => xSync);
after_flush!(file_size(size: *mut ffi::sqlite3_int64) => xFileSize);
after_flush!(file_control(op: c_int, arg: *mut c_void) => xFileControl);
passed_on!(lock(level: c_int) => xLock);
passed_on!(unlock(level: c_int) => xUnlock);
passed_on!(check_reserved_lock(out: *mut c_int) => xCheckReservedLock);
passed_on!(sector_size() => xSectorSize);
passed_on!(device_characteristics() => xDeviceCharacteristics);

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use rusqlite::{Connection, OpenFlags, params};

    use super::COUNTS;

    /// A fresh folder under the system's temporary one.
    fn folder(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "trigger-vfs-{name}-{}-{}",
            std::process::id(),
            crate::id::new_id("t")
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn open(path: &std::path::Path, buffered: bool) -> Connection {
        let conn = if buffered {
            let vfs = super::register().unwrap();
            Connection::open_with_flags_and_vfs(path, OpenFlags::default(), vfs).unwrap()
        } else {
            Connection::open(path).unwrap()
        };
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.pragma_update(None, "synchronous", "FULL").unwrap();
        // A small cache, so that large transactions spill frames before they commit and read
        // them back.
        conn.pragma_update(None, "cache_size", 8).unwrap();
        conn.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        conn
    }

    /// The rows as a reader sees them.
    fn rows(conn: &Connection) -> Vec<(i64, Vec<u8>)> {
        let mut stmt = conn.prepare("SELECT k, v FROM t ORDER BY k").unwrap();
        stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    /// The same transactions through this VFS and through the default one leave the same
    /// rows, seen by a reader on the default VFS after every commit, by the writer itself, and
    /// after reopening; with spills, updates in place, deletes, checkpoints and WAL restarts.
    #[test]
    fn a_buffered_wal_reads_back_as_written() {
        let dir = folder("same");
        let (buffered_path, plain_path) = (dir.join("buffered.db"), dir.join("plain.db"));
        let (buffered, plain) = (open(&buffered_path, true), open(&plain_path, false));
        let reader = Connection::open(&buffered_path).unwrap();
        for conn in [&buffered, &plain] {
            conn.execute_batch("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB NOT NULL)")
                .unwrap();
        }
        let mut seed = 7_u64;
        let mut next = move |below: u64| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) % below
        };
        for round in 0..60 {
            let statements: Vec<(u64, i64, usize)> = (0..1 + next(200))
                .map(|_| {
                    let size = usize::try_from(next(9000)).unwrap();
                    (next(10), i64::try_from(next(500)).unwrap(), size)
                })
                .collect();
            for conn in [&buffered, &plain] {
                conn.execute_batch("BEGIN IMMEDIATE").unwrap();
                for &(kind, key, size) in &statements {
                    let value = vec![u8::try_from(key % 251).unwrap(); size];
                    match kind {
                        0 => conn.execute("DELETE FROM t WHERE k = ?1", [key]),
                        1..=3 => {
                            conn.execute("UPDATE t SET v = ?2 WHERE k = ?1", params![key, value])
                        }
                        _ => conn.execute(
                            "INSERT OR REPLACE INTO t VALUES (?1, ?2)",
                            params![key, value],
                        ),
                    }
                    .unwrap();
                }
                conn.execute_batch("COMMIT").unwrap();
                if round % 7 == 6 {
                    conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()))
                        .unwrap();
                }
            }
            let expected = rows(&plain);
            assert_eq!(rows(&reader), expected, "a reader after round {round}");
            assert_eq!(rows(&buffered), expected, "the writer after round {round}");
        }
        let check: String = buffered
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .unwrap();
        assert_eq!(check, "ok");
        let expected = rows(&plain);
        drop((buffered, reader));
        assert_eq!(rows(&Connection::open(&buffered_path).unwrap()), expected);
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// A commit's frames reach the operating system in one write.
    #[test]
    fn a_commit_writes_its_frames_at_once() {
        let dir = folder("once");
        let conn = open(&dir.join("db"), true);
        conn.pragma_update(None, "cache_size", -4096).unwrap();
        conn.execute_batch("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB NOT NULL)")
            .unwrap();
        let before = COUNTS.with(std::cell::Cell::get);
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        for key in 0..200 {
            conn.execute("INSERT INTO t VALUES (?1, zeroblob(1000))", [key])
                .unwrap();
        }
        conn.execute_batch("COMMIT").unwrap();
        let after = COUNTS.with(std::cell::Cell::get);
        let (taken, sent) = (after.0 - before.0, after.1 - before.1);
        assert!(taken >= 100, "SQLite wrote {taken} times: two per frame");
        assert!(
            sent <= 2,
            "{taken} writes went out in {sent} (200 KiB, 120 KiB at most each)"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
