//! SQLite in the data dir: the embedded default. One writing connection behind a mutex, a
//! few read-only ones beside it, WAL so that readers (in this process or another, such as
//! `triage audit verify` beside a server) neither block the writer nor wait for it, and a
//! thread of its own that checkpoints the WAL into the database file.

use std::borrow::Cow;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, mpsc};
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags};

use super::{Row, Value};
use crate::store::StoreError;

/// More than the distinct statements the store has (about 120).
const STATEMENT_CACHE: usize = 256;

/// Numbered migrations, applied in order, each once.
const MIGRATIONS: [(i64, &str); 6] = [
    (1, include_str!("../../../migrations/sqlite/0001_initial.sql")),
    (2, include_str!("../../../migrations/sqlite/0002_approval_closed_reason.sql")),
    (3, include_str!("../../../migrations/sqlite/0003_case_alerts_by_id.sql")),
    (4, include_str!("../../../migrations/sqlite/0004_queue_claimed_by.sql")),
    (5, include_str!("../../../migrations/sqlite/0005_case_indexes.sql")),
    (6, include_str!("../../../migrations/sqlite/0006_write_only_indexes.sql")),
];

/// The least time between two checkpoints: commits within it are copied together.
///
/// Measured at 500 recommendations/s (about 36 WAL pages each) on 2 cores: every 250 ms,
/// recommend p99 was 16-26 ms; every 20 ms, 8 ms. A checkpoint syncs the WAL and the
/// database file, and writes to the WAL wait behind a large sync; many small ones keep
/// each wait short.
const CHECKPOINT_GAP: Duration = Duration::from_millis(20);

/// WAL pages (4 KiB each) after which a commit checkpoints inline (SQLite's default is
/// 1 000). Under steady writes a passive checkpoint never catches the WAL's last frame, and
/// only a checkpoint with no writer beside it lets the next commit start the WAL over; the
/// committing connection is the only writer of its process, so this bounds the WAL at
/// about 40 MB, and what it copies inline is only what the checkpointer has not.
const INLINE_CHECKPOINT_PAGES: u32 = 10_000;

pub(super) fn open(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    // Every statement the store runs stays prepared: rusqlite's default of 16 is fewer
    // than one recommendation uses, and re-preparing was a tenth of its cost.
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")?;
    conn.pragma_update(None, "wal_autocheckpoint", INLINE_CHECKPOINT_PAGES)?;
    migrate(&conn)?;
    Ok(conn)
}

/// Read-only connections beside the writer. A read on the writer's connection waited for
/// every write before it, and a write for every read (a request's key check and
/// enrichment, the audit watch's batches); with WAL a reader sees the last commit while
/// the writer goes on.
pub(crate) struct Readers {
    conns: Vec<Mutex<Connection>>,
    next: AtomicUsize,
}

/// As many as the blocking threads that read at once, about; each keeps its own cache.
const READERS: usize = 4;

pub(super) fn readers(path: &Path) -> Result<Readers, StoreError> {
    let conns = (0..READERS)
        .map(|_| {
            // Read-only: a write here is a bug, refused by SQLite rather than racing the writer.
            let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
            conn.busy_timeout(Duration::from_secs(5))?;
            conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
            Ok(Mutex::new(conn))
        })
        .collect::<Result<_, StoreError>>()?;
    Ok(Readers { conns, next: AtomicUsize::new(0) })
}

impl Readers {
    /// A free reader, or the next in turn to wait for when all are busy.
    pub(super) fn get(&self) -> Result<MutexGuard<'_, Connection>, StoreError> {
        for conn in &self.conns {
            if let Ok(guard) = conn.try_lock() {
                return Ok(guard);
            }
        }
        let turn = self.next.fetch_add(1, Ordering::Relaxed) % self.conns.len();
        self.conns[turn].lock().map_err(|_| StoreError::Poisoned)
    }
}

/// Checkpoints the WAL from a connection and thread of its own, after commits, until
/// dropped.
///
/// Left to SQLite, the commit that takes the WAL past 1 000 pages copies them into the
/// database file and syncs it, holding the store's writing connection, so that every request
/// behind it waits for an fsync; and a page rewritten by every commit (a table's last leaf,
/// the audit chain's head) is copied once per 1 000 pages. A passive checkpoint here takes
/// no lock that writers wait on. An idle database is not polled: the thread sleeps until
/// a commit nudges it.
pub(crate) struct Checkpointer {
    nudge: Option<mpsc::SyncSender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    /// Tells the thread the WAL has new frames. Never blocks: a nudge already pending
    /// covers this commit too.
    pub(crate) fn committed(&self) {
        if let Some(nudge) = &self.nudge {
            let _ = nudge.try_send(());
        }
    }
}

impl Drop for Checkpointer {
    /// Ends the thread and waits for it: its connection closes last, and the last
    /// connection to close checkpoints the whole WAL and removes it. Left to end on its
    /// own, a CLI command's process could exit first (the thread may be in its gap) and
    /// leave the WAL holding commits the database file alone lacks.
    fn drop(&mut self) {
        drop(self.nudge.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

pub(super) fn checkpointer(path: &Path) -> Result<Checkpointer, StoreError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    let (nudge, nudged) = mpsc::sync_channel::<()>(1);
    let thread = std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            while nudged.recv().is_ok() {
                // Busy (another checkpoint, a writer resetting the WAL) is retried at the
                // next nudge.
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    tracing::debug!(error = %e, "WAL checkpoint");
                }
                std::thread::sleep(CHECKPOINT_GAP);
            }
        })
        .map_err(|source| StoreError::Io { path: "the WAL checkpoint thread".into(), source })?;
    Ok(Checkpointer { nudge: Some(nudge), thread: Some(thread) })
}

/// Columns that data dirs made before numbered migrations may lack: their tables were
/// created by an older schema and grew with `ALTER TABLE` at each start since.
const LEGACY_COLUMNS: [(&str, &str, &str); 16] = [
    ("idempotency", "claimed_at", "TEXT"),
    ("api_keys", "principal", "TEXT"),
    ("api_keys", "expires_at", "TEXT"),
    ("approvals", "requested_principal", "TEXT"),
    ("approval_decisions", "principal", "TEXT"),
    ("audit", "scheme", "TEXT"),
    ("case_alerts", "fingerprint", "TEXT"),
    ("case_alerts", "occurrences", "INTEGER NOT NULL DEFAULT 1"),
    ("case_alerts", "first_seen", "TEXT"),
    ("case_alerts", "last_seen", "TEXT"),
    ("case_alerts", "alert_time", "TEXT"),
    ("case_alerts", "pivots", "TEXT"),
    ("cases", "assignee", "TEXT"),
    ("cases", "first_alert_at", "TEXT"),
    ("cases", "newest_alert_at", "TEXT"),
    ("cases", "merged_into", "TEXT"),
];

fn migrate(conn: &Connection) -> Result<(), StoreError> {
    let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
    let tracked: i64 = tx.query_row("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'", [], |r| r.get(0))?;
    if tracked == 0 {
        // A data dir from before numbered migrations (or a new one, where this finds no
        // table): its tables get the columns migration 1 has, so that it can be recorded
        // as applied; its `IF NOT EXISTS` adds whatever tables are missing.
        for (table, column, decl) in LEGACY_COLUMNS {
            let exists: i64 = tx.query_row("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?1", [table], |r| r.get(0))?;
            let present: i64 = tx.query_row(&format!("SELECT COUNT(*) FROM pragma_table_info('{table}') WHERE name = ?1"), [column], |r| r.get(0))?;
            if exists == 1 && present == 0 {
                tx.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {decl}"))?;
            }
        }
        tx.execute_batch("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")?;
    }
    for (version, sql) in MIGRATIONS {
        let applied: i64 = tx.query_row("SELECT COUNT(*) FROM schema_migrations WHERE version = ?1", [version], |r| r.get(0))?;
        if applied == 0 {
            tx.execute_batch(sql)?;
            tx.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)", rusqlite::params![version, crate::store::now()])?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// The statement as SQLite takes it: without row locks, which it has no use for.
fn dialect(sql: &str) -> Cow<'_, str> {
    let trimmed = sql.trim_end();
    for suffix in [" FOR UPDATE SKIP LOCKED", " FOR UPDATE"] {
        if let Some(rest) = trimmed.strip_suffix(suffix) {
            return Cow::Owned(rest.to_string());
        }
    }
    Cow::Borrowed(sql)
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Int(n) => ValueRef::Integer(*n),
            Value::Real(f) => ValueRef::Real(*f),
            Value::Text(s) => ValueRef::Text(s.as_bytes()),
        }))
    }
}

pub(super) fn execute(conn: &Connection, sql: &str, params: &[Value]) -> Result<usize, StoreError> {
    let mut stmt = conn.prepare_cached(&dialect(sql))?;
    Ok(stmt.execute(rusqlite::params_from_iter(params))?)
}

pub(super) fn query(conn: &Connection, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
    let mut stmt = conn.prepare_cached(&dialect(sql))?;
    let columns = stmt.column_count();
    let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let values = (0..columns)
            .map(|i| {
                Ok(match r.get_ref(i)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(n) => Value::Int(n),
                    ValueRef::Real(f) => Value::Real(f),
                    ValueRef::Text(t) | ValueRef::Blob(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                })
            })
            .collect::<Result<Vec<_>, rusqlite::Error>>()?;
        out.push(Row { values });
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::{MIGRATIONS, dialect};
    use crate::store::{Role, Store};

    /// A data dir made before numbered migrations: the first tables without the columns
    /// added since, the later tables missing, no `schema_migrations`.
    const LEGACY: &str = "
        CREATE TABLE api_keys (id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL,
            key_hash TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL, revoked_at TEXT);
        CREATE TABLE cases (id TEXT PRIMARY KEY, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
            state TEXT NOT NULL, severity TEXT, title TEXT NOT NULL, created_by TEXT NOT NULL, closed TEXT);
        CREATE TABLE audit (seq INTEGER PRIMARY KEY, time TEXT NOT NULL, actor TEXT NOT NULL, kind TEXT NOT NULL,
            subject TEXT NOT NULL, data TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
        INSERT INTO api_keys VALUES ('key_old', 'old', 'analyst', 'h', '2026-01-01T00:00:00.000Z', NULL);
    ";

    #[test]
    fn a_data_dir_from_before_migrations_opens_and_is_recorded_at_every_version() {
        let dir = tempfile::tempdir().unwrap();
        rusqlite::Connection::open(dir.path().join("triage.sqlite3")).unwrap().execute_batch(LEGACY).unwrap();
        let store = Store::open(dir.path()).unwrap();
        // The old key reads with its name as principal; new keys use the added columns.
        store.create_key("new", Role::Approver).unwrap();
        let keys = store.keys("2026-06-01T00:00:00.000Z").unwrap();
        assert!(keys.iter().any(|k| k.key_id == "key_old" && k.principal == "old"), "{keys:?}");
        assert_eq!(keys.len(), 2);
        assert_eq!(store.learning_tasks(None, None).unwrap().len(), 0, "the missing tables were created");
        drop(store);
        let conn = rusqlite::Connection::open(dir.path().join("triage.sqlite3")).unwrap();
        let versions: Vec<i64> =
            conn.prepare("SELECT version FROM schema_migrations").unwrap().query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
        assert_eq!(versions, MIGRATIONS.iter().map(|(v, _)| *v).collect::<Vec<_>>(), "every migration, once");
        // Opening again changes nothing.
        drop(conn);
        assert_eq!(Store::open(dir.path()).unwrap().keys("2026-06-01T00:00:00.000Z").unwrap().len(), 2);
    }

    #[test]
    fn commits_reach_the_database_file_without_waiting_for_the_wal_to_fill() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let file = dir.path().join("triage.sqlite3");
        // Let the checkpoint of opening (migrations) land, then write after it.
        std::thread::sleep(std::time::Duration::from_millis(200));
        let before = std::fs::metadata(&file).unwrap().len();
        for i in 0..200 {
            store.create_key(&format!("key-{i}"), Role::Analyst).unwrap();
        }
        // Far fewer pages than the inline checkpoint's threshold: only the thread copies them.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::fs::metadata(&file).unwrap().len() <= before {
            assert!(std::time::Instant::now() < deadline, "the database file stayed at {before} bytes");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    #[test]
    fn closing_the_store_leaves_every_commit_in_the_database_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.create_key("kept", Role::Analyst).unwrap();
        drop(store);
        // Right after the drop, as a CLI command's process would exit: no WAL beside it.
        assert!(!dir.path().join("triage.sqlite3-wal").exists(), "the WAL outlived the store");
    }

    #[test]
    fn reads_go_on_while_a_write_transaction_is_open() {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(Store::open(dir.path()).unwrap());
        store.create_key("before", Role::Analyst).unwrap();
        let (opened, open) = std::sync::mpsc::channel::<()>();
        let (done_reading, read) = std::sync::mpsc::channel::<()>();
        let writer = {
            let store = store.clone();
            std::thread::spawn(move || {
                store
                    .tx(|tx| {
                        tx.execute("UPDATE api_keys SET name = 'during' WHERE name = 'before'", crate::store::db::params![])?;
                        opened.send(()).unwrap();
                        // Held until the read below is done: a read behind the writer never is.
                        assert!(read.recv_timeout(std::time::Duration::from_secs(10)).is_ok(), "the read waited for the write transaction");
                        Ok(())
                    })
                    .unwrap();
            })
        };
        open.recv().unwrap();
        // The last commit, not the open transaction's change.
        let names: Vec<String> = store.keys("2026-06-01T00:00:00.000Z").unwrap().into_iter().map(|k| k.name).collect();
        assert_eq!(names, ["before"]);
        done_reading.send(()).unwrap();
        writer.join().unwrap();
        assert_eq!(store.keys("2026-06-01T00:00:00.000Z").unwrap()[0].name, "during");
    }

    #[test]
    fn row_locks_are_dropped() {
        assert_eq!(dialect("SELECT a FROM q LIMIT 1 FOR UPDATE SKIP LOCKED"), "SELECT a FROM q LIMIT 1");
        assert_eq!(dialect("SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE"), "SELECT seq FROM audit_head WHERE id = 1");
        assert_eq!(dialect("SELECT 1"), "SELECT 1");
    }
}
