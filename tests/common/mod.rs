//! Black-box test harness: the real server on port 0 with a temp data dir.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::Arc;

use clap::Parser;
use serde_json::Value;
use triage::app::App;
use triage::config::{Settings, SettingsArgs};
use triage::llm::SharedEngine;
use triage::store::Role;

#[derive(Parser)]
struct Wrapper {
    #[command(flatten)]
    settings: SettingsArgs,
}

/// Settings as the CLI would resolve them (flags < environment < config file < defaults),
/// with the data dir set and `extra` flags applied. With `TRIAGE_TEST_DATABASE_URL` set,
/// the store is a PostgreSQL database of the data dir's own (see [`pg`]).
pub fn settings(data_dir: &Path, extra: &[&str]) -> Settings {
    let mut args = vec!["triage".to_string(), "--data-dir".into(), data_dir.display().to_string()];
    args.extend(extra.iter().map(|s| s.to_string()));
    if let Some(url) = pg::database_for(data_dir) {
        args.extend(["--database-url".to_string(), url]);
        if !extra.contains(&"--audit-key-file") {
            args.extend(["--audit-key-file".to_string(), pg::audit_key_file(data_dir)]);
        }
    }
    Wrapper::parse_from(args).settings.resolve().unwrap()
}

/// Skips a test that is about the SQLite file itself when the suite runs on PostgreSQL;
/// true when the caller should return.
pub fn sqlite_only(why: &str) -> bool {
    if pg::admin_url().is_some() {
        eprintln!("\n**************** SKIPPED on PostgreSQL: {why} ****************\n");
        return true;
    }
    false
}

/// The black-box suite on PostgreSQL: `TRIAGE_TEST_DATABASE_URL` names a database whose
/// role may create databases (scripts/pg-serve.sh starts one). Each data dir gets a fresh
/// database `triage_t_<uuid>`, reused when the same dir is opened again (a restart).
pub mod pg {
    use std::collections::HashMap;
    use std::path::{Path, PathBuf};
    use std::sync::Mutex;

    static DATABASES: Mutex<Option<HashMap<PathBuf, String>>> = Mutex::new(None);

    pub fn admin_url() -> Option<String> {
        std::env::var("TRIAGE_TEST_DATABASE_URL").ok().filter(|u| !u.trim().is_empty())
    }

    /// Runs `f` with a client on `url`, on a thread and runtime of its own: callers may be
    /// inside the test's runtime, which must not be blocked on.
    pub fn with_client<T: Send + 'static>(url: &str, f: impl AsyncFnOnce(&tokio_postgres::Client) -> T + Send + 'static) -> T {
        let url = url.to_string();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
                tokio::spawn(conn);
                f(&client).await
            })
        })
        .join()
        .unwrap()
    }

    /// The database URL of `data_dir`, created on first use; `None` on SQLite.
    pub fn database_for(data_dir: &Path) -> Option<String> {
        let admin = admin_url()?;
        let mut map = DATABASES.lock().unwrap();
        let map = map.get_or_insert_with(HashMap::new);
        if let Some(url) = map.get(data_dir) {
            return Some(url.clone());
        }
        let name = format!("triage_t_{}", uuid::Uuid::now_v7().simple());
        let create = format!("CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'");
        with_client(&admin, async move |c| c.batch_execute(&create).await.unwrap());
        let url = with_dbname(&admin, &name);
        map.insert(data_dir.to_path_buf(), url.clone());
        // The commands a test runs beside the app (`triage audit verify --data-dir …`)
        // read the data dir's config file, and so find the same database and key.
        let config = data_dir.join("triage.toml");
        if !config.exists() {
            let key = audit_key_file(data_dir);
            std::fs::write(&config, format!("[database]\nurl = \"{url}\"\n\n[audit]\nkey_file = \"{key}\"\n")).unwrap();
        }
        Some(url)
    }

    /// Makes `replica` a second data dir on the database of `first`, with its audit key:
    /// replicas share both.
    pub fn share_database(first: &Path, replica: &Path) {
        let url = database_for(first).unwrap();
        std::fs::create_dir_all(replica).unwrap();
        std::fs::copy(audit_key_file(first), replica.join("test-audit.key")).unwrap();
        DATABASES.lock().unwrap().get_or_insert_with(HashMap::new).insert(replica.to_path_buf(), url);
    }

    /// The database of `data_dir`, if the suite made one.
    pub fn database_of(data_dir: &Path) -> Option<String> {
        DATABASES.lock().unwrap().as_ref()?.get(data_dir).cloned()
    }

    /// Drops the database of `data_dir` (connections still open to it are closed).
    pub fn drop_database(data_dir: &Path) {
        let Some(admin) = admin_url() else { return };
        let Some(url) = DATABASES.lock().unwrap().as_mut().and_then(|m| m.remove(data_dir)) else { return };
        let name = url.rsplit('/').next().unwrap_or_default().split('?').next().unwrap_or_default().to_string();
        with_client(&admin, async move |c| {
            let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
        });
    }

    /// A file with the audit key replicas share: PostgreSQL needs one configured. One per
    /// data dir, in it, so a reopened dir hashes its chain under the same key.
    pub fn audit_key_file(data_dir: &Path) -> String {
        std::fs::create_dir_all(data_dir).unwrap();
        let path = data_dir.join("test-audit.key");
        if !path.exists() {
            std::fs::write(&path, format!("test-audit-key-{}", uuid::Uuid::now_v7().simple())).unwrap();
        }
        path.display().to_string()
    }

    /// `url` with another database name.
    pub fn with_dbname(url: &str, name: &str) -> String {
        let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
        let scheme_end = base.find("://").map_or(0, |i| i + 3);
        let base = match base[scheme_end..].find('/') {
            Some(i) => &base[..scheme_end + i],
            None => base,
        };
        match query {
            Some(q) => format!("{base}/{name}?{q}"),
            None => format!("{base}/{name}"),
        }
    }

    /// Every column of every row of every table, as text.
    pub fn dump(url: &str) -> String {
        with_client(url, async move |c| {
            let tables: Vec<String> = c
                .query("SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name", &[])
                .await
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect();
            assert!(tables.iter().any(|t| t == "api_keys"), "not the triage store: {tables:?}");
            let mut out = String::new();
            for table in &tables {
                let columns: Vec<String> = c
                    .query(
                        "SELECT column_name::text FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position",
                        &[table],
                    )
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| r.get(0))
                    .collect();
                let select = columns.iter().map(|c| format!("\"{c}\"::text")).collect::<Vec<_>>().join(", ");
                for row in c.query(&format!("SELECT {select} FROM \"{table}\""), &[]).await.unwrap() {
                    out.push_str(table);
                    for i in 0..columns.len() {
                        out.push('\t');
                        out.push_str(row.get::<_, Option<String>>(i).as_deref().unwrap_or_default());
                    }
                    out.push('\n');
                }
            }
            out
        })
    }
}

/// A file holding `secret`, for the `--*-file` flags (a secret is never a flag itself). It
/// lives as long as the test process.
pub fn secret_file(secret: &str) -> String {
    let dir = tempfile::tempdir().unwrap().keep();
    let path = dir.join("secret");
    std::fs::write(&path, secret).unwrap();
    path.display().to_string()
}

/// The app with the LLM engine pointed at a scripted stub on `base_url`: model
/// `stub-model`, the API key from a file, the given timeout, then `extra` flags.
pub async fn spawn_llm_app(base_url: &str, timeout_ms: &str, extra: &[&str]) -> TestApp {
    let key_file = secret_file("sk-stub-0123456789");
    let mut flags = vec![
        "--engine",
        "llm",
        "--llm-base-url",
        base_url,
        "--llm-model",
        "stub-model",
        "--llm-api-key-file",
        key_file.as_str(),
        "--llm-timeout-ms",
        timeout_ms,
    ];
    flags.extend_from_slice(extra);
    spawn_app_with(&flags, None).await
}

pub struct TestApp {
    pub base: String,
    pub dir: tempfile::TempDir,
    pub app: Arc<App>,
    pub http: reqwest::Client,
    /// Drops the app's PostgreSQL database, if it has one, when the test ends.
    pub _db: DropDatabase,
}

pub struct DropDatabase(pub std::path::PathBuf);

impl Drop for DropDatabase {
    fn drop(&mut self) {
        pg::drop_database(&self.0);
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[], None).await
}

/// Starts the server with extra CLI flags and, optionally, an engine swapped in.
pub async fn spawn_app_with(extra: &[&str], engine: Option<SharedEngine>) -> TestApp {
    spawn_app_in(tempfile::tempdir().unwrap(), extra, engine).await
}

/// [`spawn_app_with`] on a data dir the caller made (a second replica's, say).
pub async fn spawn_app_in(dir: tempfile::TempDir, extra: &[&str], engine: Option<SharedEngine>) -> TestApp {
    if let Ok(filter) = std::env::var("TRIAGE_TEST_LOG") {
        let _ = tracing_subscriber::fmt().with_test_writer().with_env_filter(filter).try_init();
    }
    let s = settings(dir.path(), extra);
    let app = Arc::new(App::open(&s, engine, &|_, _| {}).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = app.clone();
    tokio::spawn(async move {
        triage::http::serve(listener, served, std::future::pending()).await.unwrap();
    });
    let _db = DropDatabase(dir.path().to_path_buf());
    TestApp { base: format!("http://{addr}"), dir, app, http: reqwest::Client::new(), _db }
}

impl TestApp {
    /// A fresh API key with `role`.
    pub fn key(&self, name: &str, role: Role) -> String {
        self.app.store.create_key(name, role).unwrap().1
    }

    pub async fn post(&self, path: &str, key: &str, body: &Value) -> (u16, Value) {
        let r = self.http.post(format!("{}{path}", self.base)).bearer_auth(key).json(body).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str, key: &str) -> (u16, Value) {
        let r = self.http.get(format!("{}{path}", self.base)).bearer_auth(key).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

/// A native alert in the contract's form.
pub fn native_alert(id: &str, rule: &str, severity: &str, fields: Value) -> Value {
    serde_json::json!({
        "id": id, "source": "sysmon", "time": "2026-03-02T10:15:00Z",
        "rule": {"id": "r-1", "name": rule, "severity": severity},
        "entities": {"users": ["CORP\\jdoe"], "hosts": ["WS-042"]},
        "asset": {"environment": "corporate", "criticality": "medium"},
        "fields": fields
    })
}

/// Everything the store holds, read the way SQLite itself sees it: every column of every
/// row of every table, as text. The server keeps its connection open in WAL mode, so
/// committed writes live in `triage.sqlite3-wal` until a checkpoint; a second connection
/// reads them through the WAL index, where a byte search of `triage.sqlite3` would not.
pub fn storage_dump(data_dir: &Path) -> String {
    if let Some(url) = pg::database_of(data_dir) {
        return pg::dump(&url);
    }
    let db = data_dir.join("triage.sqlite3");
    let conn = rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let tables: Vec<String> = {
        let mut stmt = conn.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").unwrap();
        stmt.query_map([], |r| r.get::<_, String>(0)).unwrap().map(Result::unwrap).collect()
    };
    assert!(tables.iter().any(|t| t == "api_keys"), "not the triage store: {tables:?}");
    let mut out = String::new();
    for table in &tables {
        let mut stmt = conn.prepare(&format!("SELECT * FROM \"{table}\"")).unwrap();
        let columns = stmt.column_count();
        let mut rows = stmt.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            out.push_str(table);
            for i in 0..columns {
                out.push('\t');
                match row.get_ref(i).unwrap() {
                    rusqlite::types::ValueRef::Null => {}
                    rusqlite::types::ValueRef::Integer(n) => out.push_str(&n.to_string()),
                    rusqlite::types::ValueRef::Real(f) => out.push_str(&f.to_string()),
                    rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => out.push_str(&String::from_utf8_lossy(t)),
                }
            }
            out.push('\n');
        }
    }
    out
}

/// The raw bytes of the database, its WAL and its shared-memory index, as lossy text: what
/// a copy of the data dir (a backup, a stolen disk) would hand over, wherever SQLite put it.
pub fn storage_files(data_dir: &Path) -> String {
    let mut out = String::new();
    for name in ["triage.sqlite3", "triage.sqlite3-wal", "triage.sqlite3-shm", "triage.sqlite3-journal"] {
        if let Ok(bytes) = std::fs::read(data_dir.join(name)) {
            out.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    out
}

/// Whether a test whose inputs are missing must fail rather than skip: always in CI, and
/// wherever the operator asked for it with `var=1` (scripts/test sets
/// `TRIAGE_REQUIRE_LLM`). A developer's machine without them skips, and says so loudly.
pub fn inputs_required(var: &str) -> bool {
    let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "0" && v != "false");
    set("CI") || set(var)
}

/// Fails (CI, or `var=1`) or skips loudly when a test's input is missing.
pub fn missing_input(var: &str, what: &str) {
    if inputs_required(var) {
        panic!("{what} is missing, and this run requires it (CI or {var}=1): a test without its inputs is a failure here, not a skip");
    }
    eprintln!("\n**************** SKIPPED: {what} is missing ****************\n(set CI=1 or {var}=1 to make this a failure)\n");
}
