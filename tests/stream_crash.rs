//! Kill -9 during an alert stream: after a restart, every alert the server acknowledged is
//! in a case and every queued recommendation runs (contract section 10); with two replicas
//! on PostgreSQL, killing one loses nothing either of them acknowledged (section 15).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

#[path = "support_stream/mod.rs"]
mod support_stream;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

fn triage(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_triage"));
    c.args(["--data-dir", dir.to_str().unwrap()]).env_remove("TRIAGE_DATA_DIR");
    c
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn start(dir: &Path, port: u16) -> Child {
    let mut child = triage(dir)
        .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
        // Replicas fingerprint secrets under one key.
        .env("TRIAGE_FINGERPRINT_KEY", "stream-crash-shared-fingerprint-key")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if http.get(format!("http://127.0.0.1:{port}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
            return child;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    panic!("the server did not come up");
}

async fn queue_depth(http: &reqwest::Client, base: &str) -> Option<u64> {
    let text = http.get(format!("{base}/metrics")).send().await.ok()?.text().await.ok()?;
    text.lines().find_map(|l| l.strip_prefix("triage_queue_depth ")).and_then(|v| v.trim().parse().ok())
}

/// Waits until the server's queue is empty; panics with `why` after `within`.
async fn wait_until_drained(http: &reqwest::Client, base: &str, within: Duration, why: &str) {
    let deadline = Instant::now() + within;
    loop {
        match queue_depth(http, base).await {
            Some(0) => return,
            _ if Instant::now() > deadline => panic!("{why}"),
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

#[tokio::test]
async fn kill_9_during_a_stream_loses_nothing_accepted_and_queued_work_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let key = create_key(dir.path(), "siem", "case_engine");
    let analyst = create_key(dir.path(), "dana", "analyst");

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = start(dir.path(), port).await;
    let http = reqwest::Client::new();
    let alerts: Vec<Value> = support_stream::mixed_thousand().into_iter().map(|s| s.alert).collect();

    // Stream in small batches from another task; kill the server while it works.
    let progress = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let sender = {
        let (http, base, key, alerts, progress) = (http.clone(), base.clone(), key.clone(), alerts.clone(), progress.clone());
        tokio::spawn(async move {
            let mut acknowledged: Vec<Value> = Vec::new();
            for chunk in alerts.chunks(10) {
                match http.post(format!("{base}/v1/alerts")).bearer_auth(&key).json(&json!({"alerts": chunk})).send().await {
                    Ok(r) if r.status().is_success() => {
                        let body: Value = r.json().await.unwrap();
                        acknowledged.extend(body["results"].as_array().unwrap().iter().cloned());
                        progress.store(acknowledged.len(), std::sync::atomic::Ordering::SeqCst);
                    }
                    _ => break,
                }
            }
            acknowledged
        })
    };
    // Once a fifth of the stream is in: later batches are still in flight when the kill lands.
    while progress.load(std::sync::atomic::Ordering::SeqCst) < 200 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.kill().unwrap(); // SIGKILL
    server.wait().unwrap();
    let acknowledged = sender.await.unwrap();
    assert!(!acknowledged.is_empty() && acknowledged.len() < alerts.len(), "the kill must land mid-stream ({} acknowledged)", acknowledged.len());

    // Restart on the same data dir.
    let mut server = start(dir.path(), port).await;
    wait_until_drained(&http, &base, Duration::from_secs(300), "the queue did not drain after the restart").await;
    let mut by_case: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in &acknowledged {
        if r["outcome"] != "duplicate" {
            by_case.entry(r["case_id"].as_str().unwrap().to_string()).or_default().push(r["alert_id"].as_str().unwrap().to_string());
        }
    }
    for (case, ids) in &by_case {
        let view: Value = http.get(format!("{base}/v1/cases/{case}")).bearer_auth(&analyst).send().await.unwrap().json().await.unwrap();
        let stored: Vec<&str> = view["alerts"].as_array().unwrap_or_else(|| panic!("{case}: {view}")).iter().map(|a| a["alert_id"].as_str().unwrap()).collect();
        for id in ids {
            assert!(stored.contains(&id.as_str()), "acknowledged alert {id} is not in {case}");
        }
        // The queue ran for every case after its last alert: a case moves to `correlated`
        // when an alert joins and on only when a recommendation over it is stored.
        assert!(!view["recommendations"].as_array().unwrap().is_empty(), "{case} was never recommended");
        let state = view["state"].as_str().unwrap();
        assert!(!["new", "correlated"].contains(&state), "{case} is still {state}: its queued recommendation never ran");
    }
    server.kill().unwrap();
    server.wait().unwrap();
}

/// The last line a CLI command printed: the key `triage keys create` makes.
fn create_key(dir: &Path, name: &str, role: &str) -> String {
    let out = triage(dir).args(["keys", "create", "--name", name, "--role", role]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().last().unwrap().trim().to_string()
}

#[tokio::test]
async fn kill_9_of_one_replica_loses_nothing_either_replica_acknowledged() {
    if common::pg::admin_url().is_none() {
        eprintln!("\n**************** SKIPPED: replicas share a PostgreSQL database; set TRIAGE_TEST_DATABASE_URL ****************\n");
        return;
    }
    // Two data dirs (each replica's own index) on one database, through the config file
    // both binaries read.
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    common::pg::database_for(dir_a.path()).unwrap();
    std::fs::copy(dir_a.path().join("triage.toml"), dir_b.path().join("triage.toml")).unwrap();
    let key = create_key(dir_a.path(), "siem", "case_engine");
    let analyst = create_key(dir_b.path(), "dana", "analyst");

    let (port_a, port_b) = (free_port(), free_port());
    let (base_a, base_b) = (format!("http://127.0.0.1:{port_a}"), format!("http://127.0.0.1:{port_b}"));
    let mut replica_a = start(dir_a.path(), port_a).await;
    let mut replica_b = start(dir_b.path(), port_b).await;
    let http = reqwest::Client::new();
    let alerts: Vec<Value> = support_stream::mixed_thousand().into_iter().map(|s| s.alert).collect();

    // Batches alternate between the replicas, as behind a load balancer; once A is gone,
    // the balancer sends what A refused to B.
    let progress = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let sender = {
        let (http, key, alerts, progress) = (http.clone(), key.clone(), alerts.clone(), progress.clone());
        let (base_a, base_b) = (base_a.clone(), base_b.clone());
        tokio::spawn(async move {
            let mut acknowledged: Vec<Value> = Vec::new();
            let mut a_alive = true;
            for (i, chunk) in alerts.chunks(10).enumerate() {
                let body = json!({"alerts": chunk});
                let mut targets = vec![];
                if a_alive && i % 2 == 0 {
                    targets.push(&base_a);
                }
                targets.push(&base_b);
                let mut answered = false;
                for base in targets {
                    match http.post(format!("{base}/v1/alerts")).bearer_auth(&key).json(&body).send().await {
                        Ok(r) if r.status().is_success() => {
                            let body: Value = r.json().await.unwrap();
                            acknowledged.extend(body["results"].as_array().unwrap().iter().cloned());
                            progress.store(acknowledged.len(), std::sync::atomic::Ordering::SeqCst);
                            answered = true;
                            break;
                        }
                        _ if *base == base_a => a_alive = false,
                        Ok(r) => panic!("replica B refused a batch: {}", r.status()),
                        Err(e) => panic!("replica B failed: {e}"),
                    }
                }
                assert!(answered);
            }
            acknowledged
        })
    };
    while progress.load(std::sync::atomic::Ordering::SeqCst) < 200 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    replica_a.kill().unwrap(); // SIGKILL
    replica_a.wait().unwrap();
    let acknowledged = sender.await.unwrap();
    assert!(acknowledged.len() >= alerts.len(), "every batch was acknowledged by one replica or the other ({})", acknowledged.len());

    // Everything either replica acknowledged is there, read through the survivor.
    let mut by_case: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in &acknowledged {
        if r["outcome"] != "duplicate" {
            by_case.entry(r["case_id"].as_str().unwrap().to_string()).or_default().push(r["alert_id"].as_str().unwrap().to_string());
        }
    }
    assert!(by_case.len() > 1, "{by_case:?}");
    for (case, ids) in &by_case {
        let view: Value = http.get(format!("{base_b}/v1/cases/{case}")).bearer_auth(&analyst).send().await.unwrap().json().await.unwrap();
        let stored: Vec<&str> = view["alerts"].as_array().unwrap_or_else(|| panic!("{case}: {view}")).iter().map(|a| a["alert_id"].as_str().unwrap()).collect();
        for id in ids {
            assert!(stored.contains(&id.as_str()), "acknowledged alert {id} is not in {case}");
        }
    }

    // A restarts on its data dir: the work it had claimed when it died runs now, not once
    // its claims go stale, and every case gets its recommendation.
    let mut replica_a = start(dir_a.path(), port_a).await;
    wait_until_drained(&http, &base_a, Duration::from_secs(60), "the queue did not drain within a minute of the restart").await;
    for case in by_case.keys() {
        let view: Value = http.get(format!("{base_a}/v1/cases/{case}")).bearer_auth(&analyst).send().await.unwrap().json().await.unwrap();
        let state = view["state"].as_str().unwrap();
        assert!(!["new", "correlated"].contains(&state), "{case} is still {state}: its queued recommendation never ran");
    }
    replica_a.kill().unwrap();
    replica_a.wait().unwrap();
    replica_b.kill().unwrap();
    replica_b.wait().unwrap();
    common::pg::drop_database(dir_a.path());
}
