//! Black-box test harness: the real server on port 0 with a temp data dir.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::Arc;

use clap::Parser;
use serde_json::Value;
use triage::app::App;
use triage::config::Settings;
use triage::llm::SharedEngine;
use triage::store::Role;

#[derive(Parser)]
struct Wrapper {
    #[command(flatten)]
    settings: Settings,
}

/// Settings as the CLI would parse them, with the data dir set and `extra` flags applied.
pub fn settings(data_dir: &Path, extra: &[&str]) -> Settings {
    let mut args = vec!["triage".to_string(), "--data-dir".into(), data_dir.display().to_string()];
    args.extend(extra.iter().map(|s| s.to_string()));
    Wrapper::parse_from(args).settings
}

pub struct TestApp {
    pub base: String,
    pub dir: tempfile::TempDir,
    pub app: Arc<App>,
    pub http: reqwest::Client,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[], None).await
}

/// Starts the server with extra CLI flags and, optionally, an engine swapped in.
pub async fn spawn_app_with(extra: &[&str], engine: Option<SharedEngine>) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path(), extra);
    let app = Arc::new(App::open(&s, engine, &|_, _| {}).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = app.clone();
    tokio::spawn(async move {
        triage::http::serve(listener, served, std::future::pending()).await.unwrap();
    });
    TestApp { base: format!("http://{addr}"), dir, app, http: reqwest::Client::new() }
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
