//! The CLI beside a running server on one data dir: `triage recommend` works while
//! `triage serve` has the index open, and a Sigma import made by the CLI reaches the
//! running server's index without a restart.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn triage(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_triage"));
    c.args(["--data-dir", dir.to_str().unwrap()]).env_remove("TRIAGE_DATA_DIR").env("TRIAGE_ENGINE", "baseline");
    c
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const RULE: &str = r#"title: Quokka relay beacon
id: 6b0f3c1e-9a47-4f2b-8d7e-3c1a2b4d5e6f
status: experimental
description: The quokka-relay implant beacons with a fixed user agent.
logsource:
    product: windows
    category: network_connection
detection:
    selection:
        Image|endswith: '\qkrelay.exe'
    condition: selection
level: high
tags:
    - attack.command_and_control
    - attack.t1071.001
"#;

#[tokio::test]
async fn the_cli_recommends_and_imports_beside_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let out = triage(dir.path()).args(["keys", "create", "--name", "analyst", "--role", "analyst"]).output().unwrap();
    assert!(out.status.success());
    let key = String::from_utf8_lossy(&out.stdout).lines().last().unwrap().trim().to_string();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    let _server =
        Server(triage(dir.path()).args(["serve", "--addr", &format!("127.0.0.1:{port}")]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap());
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !http.get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
        assert!(Instant::now() < deadline, "the server did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A recommendation in process, on the same data dir, while the server runs.
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/alert-encoded-powershell.json");
    let out = triage(dir.path()).args(["recommend", example]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["status"], "ready", "{r}");

    // A Sigma import by the CLI is searchable by the server without a restart.
    let doc = format!("{base}/v1/documents/sigma:6b0f3c1e-9a47-4f2b-8d7e-3c1a2b4d5e6f");
    let before = http.get(&doc).bearer_auth(&key).send().await.unwrap().status().as_u16();
    assert_eq!(before, 404);
    let rules = tempfile::tempdir().unwrap();
    std::fs::write(rules.path().join("qk.yml"), RULE).unwrap();
    let out = triage(dir.path()).args(["corpus", "import-sigma", rules.path().to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = http.get(&doc).bearer_auth(&key).send().await.unwrap();
        if r.status().is_success() {
            let body: Value = r.json().await.unwrap();
            assert!(body["text"].as_str().unwrap().contains("qkrelay.exe"), "{body}");
            break;
        }
        assert!(Instant::now() < deadline, "the server never saw the CLI's import");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // And the server still writes to the index afterwards (closing a case indexes it).
    let engine_out = triage(dir.path()).args(["keys", "create", "--name", "engine", "--role", "case_engine"]).output().unwrap();
    let engine = String::from_utf8_lossy(&engine_out.stdout).lines().last().unwrap().trim().to_string();
    let body: Value = serde_json::from_str(&std::fs::read_to_string(example).unwrap()).unwrap();
    let mut body = body;
    body["case_id"] = Value::from("beside-1");
    let r = http.post(format!("{base}/v1/recommend")).bearer_auth(&engine).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let close = serde_json::json!({"disposition": "benign", "severity": "low", "note": "admin script"});
    let r = http.post(format!("{base}/v1/cases/beside-1/close")).bearer_auth(&key).json(&close).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let r = http.get(format!("{base}/v1/documents/case:beside-1")).bearer_auth(&key).send().await.unwrap();
    assert_eq!(r.status(), 200);
}
