//! PostgreSQL, shared by replicas. The store's API is synchronous and is called from
//! inside the server's async runtime, where a client that starts its own runtime (the
//! `postgres` crate) panics. So the connections' I/O tasks run on a small runtime of the
//! store's own, on its own thread, and callers wait for a client's answers with a plain
//! executor that works on any thread, inside a runtime or not.

use std::cell::RefCell;
use std::collections::HashMap;
use std::error::Error as StdError;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use futures_executor::block_on;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{Client, NoTls, Statement};

use super::{Conn, DbError, Row, Value, params};
use crate::store::StoreError;

/// Numbered migrations, applied in order, each once.
const MIGRATIONS: [(i64, &str); 6] = [
    (1, include_str!("../../../migrations/postgres/0001_initial.sql")),
    (2, include_str!("../../../migrations/postgres/0002_approval_closed_reason.sql")),
    (3, include_str!("../../../migrations/postgres/0003_case_alerts_by_id.sql")),
    (4, include_str!("../../../migrations/postgres/0004_queue_claimed_by.sql")),
    (5, include_str!("../../../migrations/postgres/0005_case_indexes.sql")),
    (6, include_str!("../../../migrations/postgres/0006_write_only_indexes.sql")),
];

/// Connections per store: requests wait for one when all are busy.
const POOL_SIZE: usize = 6;

/// Any constant both replicas agree on: the advisory lock migrations run under.
const MIGRATION_LOCK: i64 = 0x7472_6961_6765;

impl From<tokio_postgres::Error> for DbError {
    fn from(e: tokio_postgres::Error) -> Self {
        let message = match e.as_db_error() {
            Some(db) => format!("{}: {}", db.severity(), db.message()),
            None => e.to_string(),
        };
        let code = e.code().map(|c| c.code().to_string());
        // Class 08 is a connection exception; 57P01-57P03 a server shutting down or starting.
        let unavailable = e.is_closed()
            || std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>())
            || code.as_deref().is_some_and(|c| c.starts_with("08") || matches!(c, "57P01" | "57P02" | "57P03"));
        DbError { message, code, unavailable }
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        StoreError::Database(e.into())
    }
}

/// The runtime the connections' I/O runs on; it stops when the pool is dropped.
struct Runtime {
    handle: tokio::runtime::Handle,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Runtime {
    fn start() -> Result<Runtime, StoreError> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| DbError::new(format!("starting the database runtime: {e}")))?;
        let handle = rt.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("triage-postgres".into())
            .spawn(move || {
                // Runs the connection tasks until the store is dropped.
                let _ = rt.block_on(stopped);
            })
            .map_err(|e| DbError::new(format!("starting the database thread: {e}")))?;
        Ok(Runtime { handle, _stop: stop })
    }
}

/// A client and the statements it prepared: each statement is parsed once per connection.
pub(crate) struct PgConn {
    client: Client,
    statements: RefCell<HashMap<String, Statement>>,
}

pub(crate) struct Pool {
    config: tokio_postgres::Config,
    idle: Mutex<Vec<PgConn>>,
    /// How many connections exist, idle or lent.
    open: Mutex<usize>,
    returned: Condvar,
    runtime: Runtime,
}

/// A connection lent by the pool, back in it when dropped.
pub(crate) struct Pooled<'a> {
    conn: Option<PgConn>,
    pool: &'a Pool,
}

impl Pool {
    pub(super) fn connect(url: &str, password: Option<&str>) -> Result<Pool, StoreError> {
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| DbError::new(format!("database url: {e}")))?;
        if config.get_password().is_none()
            && let Some(p) = password
        {
            config.password(p);
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        let pool = Pool { config, idle: Mutex::new(Vec::new()), open: Mutex::new(0), returned: Condvar::new(), runtime: Runtime::start()? };
        // One connection now, so that a wrong URL or password fails the start.
        let first = pool.new_conn()?;
        pool.idle.lock().map_err(|_| StoreError::Poisoned)?.push(first);
        *pool.open.lock().map_err(|_| StoreError::Poisoned)? = 1;
        Ok(pool)
    }

    fn new_conn(&self) -> Result<PgConn, StoreError> {
        let config = self.config.clone();
        let task = self.runtime.handle.spawn(async move {
            let (client, connection) = config.connect(NoTls).await?;
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::warn!(error = %e, "database connection ended");
                }
            });
            Ok::<Client, tokio_postgres::Error>(client)
        });
        let client = block_on(task).map_err(|e| DbError::new(format!("connecting to the database: {e}")))??;
        Ok(PgConn { client, statements: RefCell::new(HashMap::new()) })
    }

    /// An idle connection, a new one while fewer than [`POOL_SIZE`] exist, or the next one
    /// returned. A connection the server closed is replaced.
    pub(super) fn get(&self) -> Result<Pooled<'_>, StoreError> {
        let mut idle = self.idle.lock().map_err(|_| StoreError::Poisoned)?;
        loop {
            if let Some(conn) = idle.pop() {
                if conn.client.is_closed() {
                    self.forget_one()?;
                    continue;
                }
                return Ok(Pooled { conn: Some(conn), pool: self });
            }
            {
                let mut open = self.open.lock().map_err(|_| StoreError::Poisoned)?;
                if *open < POOL_SIZE {
                    *open += 1;
                    drop(open);
                    drop(idle);
                    return match self.new_conn() {
                        Ok(conn) => Ok(Pooled { conn: Some(conn), pool: self }),
                        Err(e) => {
                            self.forget_one()?;
                            Err(e)
                        }
                    };
                }
            }
            idle = self.returned.wait(idle).map_err(|_| StoreError::Poisoned)?;
        }
    }

    fn forget_one(&self) -> Result<(), StoreError> {
        let mut open = self.open.lock().map_err(|_| StoreError::Poisoned)?;
        *open = open.saturating_sub(1);
        self.returned.notify_one();
        Ok(())
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        // A connection left mid-transaction by a panic is not lent again.
        if std::thread::panicking() || conn.client.is_closed() {
            let _ = self.pool.forget_one();
            return;
        }
        if let Ok(mut idle) = self.pool.idle.lock() {
            idle.push(conn);
            self.pool.returned.notify_one();
        }
    }
}

/// `?1` placeholders as PostgreSQL writes them (`$1`); quoted text is left alone.
fn dialect(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                quoted = !quoted;
                out.push(c);
            }
            '?' if !quoted && chars.peek().is_some_and(char::is_ascii_digit) => out.push('$'),
            c => out.push(c),
        }
    }
    out
}

impl ToSql for Value {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(n) => match *ty {
                Type::INT8 => n.to_sql(ty, out),
                Type::INT4 => i32::try_from(*n)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*n)?.to_sql(ty, out),
                Type::FLOAT8 => (*n as f64).to_sql(ty, out),
                Type::BOOL => (*n != 0).to_sql(ty, out),
                _ => n.to_string().to_sql(ty, out),
            },
            Value::Real(f) => match *ty {
                Type::FLOAT4 => (*f as f32).to_sql(ty, out),
                _ => f.to_sql(ty, out),
            },
            Value::Text(s) => s.as_str().to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        // Each variant writes itself as the type the statement wants, or fails saying so.
        true
    }

    to_sql_checked!();
}

fn row_of(r: &tokio_postgres::Row) -> Result<Row, StoreError> {
    let mut values = Vec::with_capacity(r.len());
    for (i, column) in r.columns().iter().enumerate() {
        let v = match *column.type_() {
            Type::INT8 => r.try_get::<_, Option<i64>>(i)?.map(Value::Int),
            Type::INT4 => r.try_get::<_, Option<i32>>(i)?.map(|n| Value::Int(n.into())),
            Type::INT2 => r.try_get::<_, Option<i16>>(i)?.map(|n| Value::Int(n.into())),
            Type::BOOL => r.try_get::<_, Option<bool>>(i)?.map(|b| Value::Int(b.into())),
            Type::FLOAT8 => r.try_get::<_, Option<f64>>(i)?.map(Value::Real),
            Type::FLOAT4 => r.try_get::<_, Option<f32>>(i)?.map(|f| Value::Real(f.into())),
            _ => r.try_get::<_, Option<String>>(i)?.map(Value::Text),
        };
        values.push(v.unwrap_or(Value::Null));
    }
    Ok(Row { values })
}

impl Pooled<'_> {
    fn conn(&self) -> Result<&PgConn, StoreError> {
        self.conn.as_ref().ok_or_else(|| DbError::new("the connection was returned").into())
    }

    fn statement(&self, sql: &str) -> Result<Statement, StoreError> {
        let conn = self.conn()?;
        if let Some(s) = conn.statements.borrow().get(sql) {
            return Ok(s.clone());
        }
        let statement = block_on(conn.client.prepare(&dialect(sql)))?;
        conn.statements.borrow_mut().insert(sql.to_string(), statement.clone());
        Ok(statement)
    }

    pub(super) fn execute(&self, sql: &str, params: &[Value]) -> Result<usize, StoreError> {
        let statement = self.statement(sql)?;
        let params: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        let n = block_on(self.conn()?.client.execute(&statement, &params))?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    pub(super) fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        let statement = self.statement(sql)?;
        let params: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        block_on(self.conn()?.client.query(&statement, &params))?.iter().map(row_of).collect()
    }

    pub(super) fn execute_batch(&self, sql: &str) -> Result<(), StoreError> {
        Ok(block_on(self.conn()?.client.batch_execute(sql))?)
    }
}

/// Applies the migrations not yet recorded, in one transaction, under an advisory lock so
/// that replicas starting together take turns.
pub(super) fn migrate(conn: &Conn) -> Result<(), StoreError> {
    conn.execute_batch("BEGIN")?;
    let out = (|| {
        conn.execute("SELECT pg_advisory_xact_lock(?1)", params![MIGRATION_LOCK])?;
        conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at TEXT NOT NULL)")?;
        for (version, sql) in MIGRATIONS {
            let applied: i64 = conn.query_row("SELECT COUNT(*) FROM schema_migrations WHERE version = ?1", params![version], |r| r.get(0))?;
            if applied == 0 {
                conn.execute_batch(sql)?;
                conn.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)", params![version, crate::store::now()])?;
            }
        }
        conn.execute_batch("COMMIT")
    })();
    if out.is_err() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::dialect;

    #[test]
    fn placeholders_become_dollars_outside_quotes() {
        assert_eq!(dialect("SELECT a FROM t WHERE b = ?1 AND c = ?12 AND d = '?3'"), "SELECT a FROM t WHERE b = $1 AND c = $12 AND d = '?3'");
        assert_eq!(dialect("SELECT '' || ?2"), "SELECT '' || $2");
    }

    #[test]
    fn a_database_that_does_not_answer_is_unavailable_not_an_internal_error() {
        use crate::error_code::{Coded, ErrorCode};
        // Nothing listens on port 1: the connection is refused, as when the server is down.
        let err = super::Pool::connect("postgres://triage@127.0.0.1:1/triage", None).err();
        let Some(crate::store::StoreError::Database(e)) = err else { panic!("connecting to a closed port: {err:?}") };
        assert!(e.is_unavailable(), "{e}");
        assert_eq!(crate::store::StoreError::Database(e).code(), ErrorCode::NotReady);
    }
}
