//! The SQL seam under the store: one dialect for the store modules, two databases under it.
//!
//! Store code writes each statement once: `?1`-style placeholders, `INSERT … ON CONFLICT`,
//! no scalar `MIN(a, b)`/`MAX(a, b)`, no pragmas, and `FOR UPDATE [SKIP LOCKED]` where a
//! row lock matters on a shared database (SQLite, whose transactions lock the whole file,
//! drops it). Values cross the seam as [`Value`], rows come back as [`Row`]s with typed
//! getters, and each backend turns its own errors into [`DbError`].

mod postgres;
mod sqlite;

use std::fmt;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use super::StoreError;

/// A parameter or a column value, in the few types the store uses.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

/// Turns a Rust value into a parameter (what [`params!`] calls on each argument).
pub(crate) trait ToValue {
    fn to_value(&self) -> Value;
}

impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}

impl ToValue for str {
    fn to_value(&self) -> Value {
        Value::Text(self.to_string())
    }
}

impl ToValue for String {
    fn to_value(&self) -> Value {
        Value::Text(self.clone())
    }
}

impl ToValue for i64 {
    fn to_value(&self) -> Value {
        Value::Int(*self)
    }
}

impl ToValue for i32 {
    fn to_value(&self) -> Value {
        Value::Int(i64::from(*self))
    }
}

impl ToValue for u32 {
    fn to_value(&self) -> Value {
        Value::Int(i64::from(*self))
    }
}

impl ToValue for u64 {
    fn to_value(&self) -> Value {
        Value::Int(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}

impl ToValue for usize {
    fn to_value(&self) -> Value {
        Value::Int(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}

impl ToValue for f64 {
    fn to_value(&self) -> Value {
        Value::Real(*self)
    }
}

impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Value {
        self.as_ref().map_or(Value::Null, ToValue::to_value)
    }
}

/// The parameters of one statement: `params![id, name, 3]`.
macro_rules! params {
    ($($x:expr),* $(,)?) => {
        &[$($crate::store::db::ToValue::to_value(&$x)),*] as &[$crate::store::db::Value]
    };
}
pub(crate) use params;

/// Reads a column value as a Rust type. Integers are read tolerantly: a count is BIGINT in
/// PostgreSQL and INTEGER in SQLite, and both arrive as `Int`.
pub(crate) trait FromValue: Sized {
    fn from_value(v: &Value) -> Result<Self, String>;
}

impl FromValue for String {
    fn from_value(v: &Value) -> Result<Self, String> {
        match v {
            Value::Text(s) => Ok(s.clone()),
            other => Err(format!("expected text, found {other:?}")),
        }
    }
}

impl FromValue for i64 {
    fn from_value(v: &Value) -> Result<Self, String> {
        match v {
            Value::Int(n) => Ok(*n),
            other => Err(format!("expected an integer, found {other:?}")),
        }
    }
}

impl FromValue for u32 {
    fn from_value(v: &Value) -> Result<Self, String> {
        u32::try_from(i64::from_value(v)?).map_err(|e| e.to_string())
    }
}

impl FromValue for u64 {
    fn from_value(v: &Value) -> Result<Self, String> {
        u64::try_from(i64::from_value(v)?).map_err(|e| e.to_string())
    }
}

impl FromValue for f64 {
    fn from_value(v: &Value) -> Result<Self, String> {
        match v {
            Value::Real(f) => Ok(*f),
            Value::Int(n) => Ok(*n as f64),
            other => Err(format!("expected a number, found {other:?}")),
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: &Value) -> Result<Self, String> {
        match v {
            Value::Null => Ok(None),
            v => T::from_value(v).map(Some),
        }
    }
}

/// One result row.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    values: Vec<Value>,
}

impl Row {
    /// Column `i` as `T`; a value of another type is corrupt data, not a default.
    pub(crate) fn get<T: FromValue>(&self, i: usize) -> Result<T, StoreError> {
        let v = self.values.get(i).ok_or_else(|| StoreError::Corrupt(format!("column {i} is missing from the row")))?;
        T::from_value(v).map_err(|e| StoreError::Corrupt(format!("column {i}: {e}")))
    }

    /// Every column, for tests that look at what is stored.
    pub(crate) fn values(&self) -> &[Value] {
        &self.values
    }
}

/// What the database answered instead of a result: its message, and the SQLSTATE when
/// the database has one (PostgreSQL).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct DbError {
    message: String,
    code: Option<String>,
    /// The database could not be reached (connection refused or lost, server shutting down).
    unavailable: bool,
}

impl DbError {
    pub(crate) fn new(message: impl Into<String>) -> DbError {
        DbError { message: message.into(), code: None, unavailable: false }
    }

    /// The database did not answer, as opposed to answering with an error: the request may
    /// succeed once it is back, so callers are told to retry (503), not that it failed.
    pub(crate) fn is_unavailable(&self) -> bool {
        self.unavailable
    }

    /// A serialization failure or a deadlock: the transaction may succeed when run again.
    pub(crate) fn is_retryable(&self) -> bool {
        matches!(self.code.as_deref(), Some("40001" | "40P01"))
    }
}

/// The database the store runs on.
pub(crate) enum Database {
    /// The connection writers take turns on, read-only connections beside it, and the
    /// thread that checkpoints the WAL while the database is open. Fields drop in order:
    /// the checkpointer's connection closes last, and the last connection to close
    /// checkpoints the whole WAL and removes it (a read-only one could not).
    Sqlite {
        readers: sqlite::Readers,
        conn: Mutex<rusqlite::Connection>,
        checkpointer: sqlite::Checkpointer,
    },
    Postgres(Box<postgres::Pool>),
}

/// One connection, held for a statement or a transaction.
#[allow(clippy::large_enum_variant, reason = "one lives on the stack per store call; boxing it would allocate on every checkout")]
pub(crate) enum Conn<'a> {
    Sqlite(MutexGuard<'a, rusqlite::Connection>),
    Postgres(postgres::Pooled<'a>),
}

/// What a transaction locks before it runs (PostgreSQL; SQLite locks the file for writers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Locking {
    /// Writers take turns: the transaction first locks the audit chain's head row, which
    /// nearly every write ends up appending to anyway. Each then reads everything the
    /// writer before it committed, as on a single SQLite file, so the store's rules
    /// (approvals counted, cases closed, the chain's order) hold across replicas.
    Writers,
    /// Only the rows the statements lock themselves (`FOR UPDATE SKIP LOCKED`): for the
    /// work queue, whose claims must not wait behind every other write.
    Rows,
    /// Reads only, every statement seeing the database as it was at the first one, while
    /// writers go on: for checks that compare several tables with each other (the audit
    /// chain, its head and the rows it explains), which would otherwise see half a write.
    Snapshot,
}

/// How many times a transaction that hit a serialization failure or deadlock is run again.
const RETRIES: u32 = 8;

impl Database {
    /// The SQLite file at `path`, migrated.
    pub(crate) fn open_sqlite(path: &Path) -> Result<Database, StoreError> {
        let conn = sqlite::open(path)?;
        let readers = sqlite::readers(path)?;
        let checkpointer = sqlite::checkpointer(path)?;
        Ok(Database::Sqlite { readers, conn: Mutex::new(conn), checkpointer })
    }

    /// The PostgreSQL database at `url` (`password` when the URL has none), migrated.
    pub(crate) fn open_postgres(url: &str, password: Option<&str>) -> Result<Database, StoreError> {
        let pool = postgres::Pool::connect(url, password)?;
        let db = Database::Postgres(Box::new(pool));
        postgres::migrate(&db.conn()?)?;
        Ok(db)
    }

    pub(crate) fn is_postgres(&self) -> bool {
        matches!(self, Database::Postgres(_))
    }

    /// A connection for reads: on SQLite one of the read-only connections, which see the
    /// last commit without waiting for the writer.
    pub(crate) fn read(&self) -> Result<Conn<'_>, StoreError> {
        match self {
            Database::Sqlite { readers, .. } => Ok(Conn::Sqlite(readers.get()?)),
            Database::Postgres(pool) => Ok(Conn::Postgres(pool.get()?)),
        }
    }

    /// A connection that may write: on SQLite the one writers take turns on.
    pub(crate) fn conn(&self) -> Result<Conn<'_>, StoreError> {
        match self {
            Database::Sqlite { conn, .. } => Ok(Conn::Sqlite(conn.lock().map_err(|_| StoreError::Poisoned)?)),
            Database::Postgres(pool) => Ok(Conn::Postgres(pool.get()?)),
        }
    }

    /// Runs `f` in one transaction, committed when it returns `Ok`. A transaction that the
    /// database aborted as a serialization failure or deadlock is run again from the start.
    pub(crate) fn transaction<T>(&self, locking: Locking, mut f: impl FnMut(&Conn) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let conn = if locking == Locking::Snapshot { self.read()? } else { self.conn()? };
            match conn.run_transaction(locking, &mut f) {
                Err(StoreError::Database(e)) if e.is_retryable() && attempt < RETRIES => {
                    drop(conn);
                    std::thread::sleep(std::time::Duration::from_millis(u64::from(attempt) * 5));
                }
                out => {
                    if let (Database::Sqlite { checkpointer, .. }, Ok(_), Locking::Writers | Locking::Rows) = (self, &out, locking) {
                        checkpointer.committed();
                    }
                    return out;
                }
            }
        }
    }
}

impl Conn<'_> {
    fn run_transaction<T>(&self, locking: Locking, f: &mut impl FnMut(&Conn) -> Result<T, StoreError>) -> Result<T, StoreError> {
        // SQLite's read transaction reads one snapshot of the WAL from its first statement.
        let begin = match (locking, self) {
            (Locking::Snapshot, Conn::Postgres(_)) => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
            _ => "BEGIN",
        };
        self.control(begin)?;
        let out = (|| {
            if locking == Locking::Writers && matches!(self, Conn::Postgres(_)) {
                self.execute("SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE", params![])?;
            }
            let out = f(self)?;
            self.control("COMMIT")?;
            Ok(out)
        })();
        if out.is_err() {
            // The error that matters is the one that ended the transaction; a failed
            // rollback leaves nothing committed either.
            let _ = self.control("ROLLBACK");
        }
        out
    }

    /// Runs one statement; returns how many rows it changed.
    pub(crate) fn execute(&self, sql: &str, params: &[Value]) -> Result<usize, StoreError> {
        match self {
            Conn::Sqlite(c) => sqlite::execute(c, sql, params),
            Conn::Postgres(c) => c.execute(sql, params),
        }
    }

    /// Transaction control. SQLite keeps the statement prepared, as it does every other.
    fn control(&self, sql: &str) -> Result<(), StoreError> {
        match self {
            Conn::Sqlite(c) => sqlite::execute(c, sql, &[]).map(drop),
            Conn::Postgres(c) => c.execute_batch(sql),
        }
    }

    /// Runs statements without parameters (migrations).
    pub(crate) fn execute_batch(&self, sql: &str) -> Result<(), StoreError> {
        match self {
            Conn::Sqlite(c) => c.execute_batch(sql).map_err(StoreError::from),
            Conn::Postgres(c) => c.execute_batch(sql),
        }
    }

    /// Every row of a query.
    pub(crate) fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        match self {
            Conn::Sqlite(c) => sqlite::query(c, sql, params),
            Conn::Postgres(c) => c.query(sql, params),
        }
    }

    /// Every row of a query, each read by `f`.
    pub(crate) fn query_map<T>(&self, sql: &str, params: &[Value], f: impl FnMut(&Row) -> Result<T, StoreError>) -> Result<Vec<T>, StoreError> {
        self.query(sql, params)?.iter().map(f).collect()
    }

    /// The first row of a query, if there is one.
    pub(crate) fn query_opt<T>(&self, sql: &str, params: &[Value], f: impl FnOnce(&Row) -> Result<T, StoreError>) -> Result<Option<T>, StoreError> {
        self.query(sql, params)?.first().map(f).transpose()
    }

    /// The first row of a query that always has one (a count, an aggregate).
    pub(crate) fn query_row<T>(&self, sql: &str, params: &[Value], f: impl FnOnce(&Row) -> Result<T, StoreError>) -> Result<T, StoreError> {
        self.query_opt(sql, params, f)?.ok_or_else(|| StoreError::Database(DbError::new(format!("no row from `{sql}`"))))
    }
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_postgres() { "Database::Postgres" } else { "Database::Sqlite" })
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Database(DbError::new(e.to_string()))
    }
}
