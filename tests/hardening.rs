//! Hostile and careless clients through the real server: environment spellings and
//! missing context (the tier fails closed), JSON errors on every path, content types,
//! duplicate keys, alert ids, framing, slow and half-open connections, the connection cap,
//! readiness and the size of a provider's answer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "support_openai/mod.rs"]
mod support_openai;

use std::time::{Duration, Instant};

use common::{TestApp, native_alert, spawn_app, spawn_app_with};
use serde_json::{Value, json};
use support_openai::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use triage::store::Role;

const ACCOUNT: &str = "123456789012";

async fn llm_app(stub: &Stub, extra: &[&str]) -> TestApp {
    common::spawn_llm_app(&stub.base_url, "5000", extra).await
}

fn propose_containment(v: &mut Value) {
    v["proposed_actions"] = json!([{"action": "contain_cloud_resource", "target": format!("cloud_account:{ACCOUNT}"), "rationale": "Restrict the account while the key is investigated."}]);
}

fn cloud_alert(asset: Option<Value>) -> Value {
    let mut a = json!({
        "id": "ct-1", "source": "aws-cloudtrail", "time": "2026-05-11T22:04:19Z",
        "rule": {"name": "Access key used from an anonymising network", "severity": "high"},
        "entities": {"cloud_accounts": [ACCOUNT]},
        "fields": {"eventName": "ListBuckets", "sourceIPAddress": "198.51.100.200"}
    });
    if let Some(asset) = asset {
        a["asset"] = asset;
    }
    a
}

#[tokio::test]
async fn every_spelling_of_production_and_every_unknown_gets_two_people() {
    let stub = Stub::start(vec![edited(propose_containment)]).await;
    let t = llm_app(&stub, &[]).await;
    let key = t.key("case-engine", Role::CaseEngine);
    // Approvals are read by the queue's roles (contract section 4), not the case engine.
    let analyst = t.key("analyst", Role::Analyst);
    let table: Vec<(&str, Option<Value>, Result<&str, &str>)> = vec![
        ("production", Some(json!({"environment": "production"})), Ok("two_person")),
        ("trailing space", Some(json!({"environment": "production "})), Ok("two_person")),
        ("region suffix", Some(json!({"environment": "prod-us-east-1"})), Ok("two_person")),
        ("live", Some(json!({"environment": "live"})), Ok("two_person")),
        ("upper PRD", Some(json!({"environment": "PRD"})), Ok("two_person")),
        ("prod", Some(json!({"environment": "prod"})), Ok("two_person")),
        ("unknown word", Some(json!({"environment": "mars"})), Ok("two_person")),
        ("empty", Some(json!({"environment": ""})), Ok("two_person")),
        ("null", Some(json!({"environment": null})), Ok("two_person")),
        ("asset without environment", Some(json!({"criticality": "high"})), Ok("two_person")),
        ("no asset", None, Ok("two_person")),
        ("staging", Some(json!({"environment": "staging"})), Ok("human_approval")),
        ("dev", Some(json!({"environment": "dev"})), Ok("human_approval")),
        ("misspelt key", Some(json!({"enviroment": "staging"})), Err("unknown_field")),
        ("unknown rule key", None, Err("unknown_field")),
    ];
    for (label, asset, want) in table {
        let mut alert = cloud_alert(asset);
        if label == "unknown rule key" {
            alert["rule"]["sevrity"] = json!("low");
        }
        let (status, resp) = t.post("/v1/recommend", &key, &json!({"alerts": [alert]})).await;
        match want {
            Ok(tier) => {
                assert_eq!(status, 200, "{label}: {resp}");
                assert_eq!(resp["status"], "ready", "{label}: {resp:#}");
                let action = &resp["recommendation"]["proposed_actions"][0];
                assert_eq!(action["action"], "contain_cloud_resource", "{label}");
                assert_eq!(action["tier"], tier, "{label}");
                let approval_id = action["approval_id"].as_str().unwrap_or_else(|| panic!("{label}: no approval id in {action}"));
                let (status, approval) = t.get(&format!("/v1/approvals/{approval_id}"), &analyst).await;
                assert_eq!(status, 200, "{label}: {approval}");
                assert_eq!(approval["approval_id"], approval_id, "{label}: {approval}");
                let needed = if tier == "two_person" { 2 } else { 1 };
                assert_eq!(approval["required_approvals"], needed, "{label}: {approval}");
            }
            Err(code) => assert_eq!((status, resp["error"]["code"].as_str()), (400, Some(code)), "{label}: {resp}"),
        }
    }
}

/// One raw request; the whole answer as (status, headers, body).
async fn raw(t: &TestApp, request: &[u8]) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(t.base.trim_start_matches("http://")).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await.unwrap().unwrap();
    let text = String::from_utf8_lossy(&out).to_string();
    let (head, _) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body_at = out.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4).unwrap_or(out.len());
    (status, head.to_ascii_lowercase(), out[body_at..].to_vec())
}

#[tokio::test]
async fn every_error_is_a_json_body_with_a_stable_code() {
    let t = spawn_app().await;
    let admin = t.key("admin", Role::Admin);
    let engine = t.key("case-engine", Role::CaseEngine);
    let alert = native_alert("a-1", "Encoded PowerShell spawned by Office", "high", json!({"CommandLine": "powershell -enc SQBFAFgA"}));
    let good = json!({"alerts": [alert]}).to_string();
    let post = |path: &str, key: &str, ctype: Option<&str>, body: &str| {
        let ct = ctype.map(|c| format!("Content-Type: {c}\r\n")).unwrap_or_default();
        format!("POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n{ct}Content-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
            .into_bytes()
    };
    let get = |path: &str, key: &str| format!("GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\r\n").into_bytes();
    let long_id = json!({"alerts": [alert_with_id(&"x".repeat(129))]});
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("invalid UTF-8 in a path parameter", get("/v1/cases/%FF%FE", &admin), 400, "invalid_path"),
        ("invalid UTF-8 in a recommendation id", get("/v1/recommendations/%C0%AF", &admin), 400, "invalid_path"),
        ("invalid UTF-8 in an unknown route", get("/v1/%FF", &admin), 404, "not_found"),
        ("audit after not a number", get("/v1/audit?after=x", &admin), 400, "invalid_query"),
        ("audit after too big", get("/v1/audit?after=99999999999999999999", &admin), 400, "invalid_query"),
        ("audit after float", get("/v1/audit?after=1.5", &admin), 400, "invalid_query"),
        ("audit limit negative", get("/v1/audit?limit=-1", &admin), 400, "invalid_query"),
        ("audit limit text", get("/v1/audit?limit=all", &admin), 400, "invalid_query"),
        ("audit query invalid UTF-8", get("/v1/audit?after=%FF", &admin), 400, "invalid_query"),
        ("approval status unknown", get("/v1/approvals?status=bogus", &admin), 400, "invalid_query"),
        ("unknown route", get("/v2/anything", &admin), 404, "not_found"),
        ("wrong method", b"DELETE /v1/recommend HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(), 405, "method_not_allowed"),
        ("post to a get route", post("/healthz", &admin, Some("application/json"), "{}"), 405, "method_not_allowed"),
        ("post to the page", post("/ui", &admin, Some("application/json"), "{}"), 405, "method_not_allowed"),
        ("text/plain body", post("/v1/recommend", &engine, Some("text/plain"), &good), 415, "unsupported_media_type"),
        ("form body", post("/v1/recommend", &engine, Some("application/x-www-form-urlencoded"), &good), 415, "unsupported_media_type"),
        ("no content type", post("/v1/recommend", &engine, None, &good), 415, "unsupported_media_type"),
        (
            "duplicate alerts key",
            post("/v1/recommend", &engine, Some("application/json"), &format!(r#"{{"alerts": [], "alerts": {}}}"#, json!([alert_with_id("a-2")]))),
            400,
            "duplicate_key",
        ),
        (
            "duplicate nested key",
            post("/v1/recommend", &engine, Some("application/json; charset=utf-8"), r#"{"alerts": [{"id": "a", "id": "b"}]}"#),
            400,
            "duplicate_key",
        ),
        ("not JSON", post("/v1/recommend", &engine, Some("application/json"), "{not json"), 400, "invalid_json"),
        ("trailing garbage", post("/v1/recommend", &engine, Some("application/json"), &format!("{good} x")), 400, "invalid_json"),
        (
            "invalid UTF-8 body",
            post("/v1/recommend", &engine, Some("application/json"), "{\"alerts\": \"\u{fffd}\"}")
                .into_iter()
                .map(|b| if b == 0xEF { 0xFF } else { b })
                .collect(),
            400,
            "invalid_json",
        ),
        (
            "alert id with a space",
            post("/v1/recommend", &engine, Some("application/json"), &json!({"alerts": [alert_with_id("has space")]}).to_string()),
            400,
            "invalid_alert_id",
        ),
        ("alert id of 129 characters", post("/v1/recommend", &engine, Some("application/json"), &long_id.to_string()), 400, "invalid_alert_id"),
        (
            "alert id with a hash",
            post("/v1/recommend", &engine, Some("application/json"), &json!({"alerts": [alert_with_id("a#b")]}).to_string()),
            400,
            "invalid_alert_id",
        ),
        ("no key", get("/v1/cases", ""), 401, "unauthorized"),
    ];
    for (label, request, status, code) in cases {
        let (got, head, body) = raw(&t, &request).await;
        assert_eq!(got, status, "{label}: {head}\n{}", String::from_utf8_lossy(&body));
        assert!(head.contains("content-type: application/json"), "{label}: {head}");
        let v: Value = serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{label}: body is not JSON ({e}): {}", String::from_utf8_lossy(&body)));
        assert_eq!(v["error"]["code"], code, "{label}: {v}");
        assert!(v["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{label}: {v}");
    }
    // A 128-character id is fine.
    let (s, resp) = t.post("/v1/recommend", &engine, &json!({"alerts": [alert_with_id(&"x".repeat(128))]})).await;
    assert_eq!(s, 200, "{resp}");
}

fn alert_with_id(id: &str) -> Value {
    native_alert(id, "Encoded PowerShell spawned by Office", "high", json!({"CommandLine": "powershell -enc SQBFAFgA"}))
}

/// Sends a request's head, waits for the server to have read it, then streams the body
/// and reads the answer: what a client uploading a large body does.
async fn upload(t: &TestApp, head: String, body: &[u8]) -> Result<String, std::io::Error> {
    let mut s = TcpStream::connect(t.base.trim_start_matches("http://")).await?;
    s.write_all(head.as_bytes()).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    for piece in body.chunks(64 << 10) {
        s.write_all(piece).await?;
    }
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await.map_err(std::io::Error::other)??;
    Ok(String::from_utf8_lossy(&out).to_string())
}

#[tokio::test]
async fn a_body_over_the_limit_gets_its_413_while_it_is_still_being_sent() {
    let t = spawn_app().await;
    let engine = t.key("case-engine", Role::CaseEngine);
    let big = json!({"alerts": [native_alert("a-2", "Big", "high", json!({"blob": "x".repeat(2 << 20)}))]}).to_string();
    let declared = format!(
        "POST /v1/recommend HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {engine}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        big.len()
    );
    let answer = upload(&t, declared, big.as_bytes()).await.expect("the 413, not a reset connection");
    assert!(answer.starts_with("HTTP/1.1 413") && answer.contains("payload_too_large"), "{answer}");
    let mut chunked = Vec::new();
    for piece in big.as_bytes().chunks(64 << 10) {
        chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        chunked.extend_from_slice(piece);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let head = format!(
        "POST /v1/recommend HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {engine}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    let answer = upload(&t, head, &chunked).await.expect("the 413, not a reset connection");
    assert!(answer.starts_with("HTTP/1.1 413") && answer.contains("payload_too_large"), "{answer}");
}

#[tokio::test]
async fn the_page_cannot_be_framed_or_sniffed() {
    let t = spawn_app().await;
    let r = t.http.get(format!("{}/ui", t.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let h = r.headers();
    assert_eq!(h["x-frame-options"], "DENY");
    assert!(h["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "no-referrer");
    // JSON answers are never sniffed either.
    let r = t.http.get(format!("{}/healthz", t.base)).send().await.unwrap();
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
}

/// Whether the server closed `s` within `within`.
async fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

#[tokio::test]
async fn slow_and_half_open_clients_are_cut_off() {
    let t = spawn_app_with(&["--http-header-timeout-ms", "400", "--http-body-timeout-ms", "400"], None).await;
    let addr = t.base.trim_start_matches("http://").to_string();
    let key = t.key("case-engine", Role::CaseEngine);

    // Half a header, then nothing.
    let mut half = TcpStream::connect(&addr).await.unwrap();
    half.write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    // Nothing at all.
    let mut silent = TcpStream::connect(&addr).await.unwrap();
    let started = Instant::now();
    assert!(closed_within(&mut half, Duration::from_secs(5)).await, "a half-open connection is held");
    assert!(closed_within(&mut silent, Duration::from_secs(5)).await, "a silent connection is held");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());

    // A body that never finishes: 408 with the JSON error.
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /v1/recommend HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{{\"alerts\": ["
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        let mut buf = [0u8; 4096];
        loop {
            match slow.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    out.extend_from_slice(&buf[..n]);
                    if out.windows(4).any(|w| w == b"\r\n\r\n") && out.ends_with(b"}}") {
                        break;
                    }
                }
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no answer to a stalled body");
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("\"request_timeout\""), "{text}");

    // And the service still answers.
    let (s, _) = t.get("/healthz", "").await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_for_a_free_slot() {
    let t = spawn_app_with(&["--http-max-connections", "3"], None).await;
    let addr = t.base.trim_start_matches("http://").to_string();
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut s = TcpStream::connect(&addr).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.unwrap();
        held.push(s);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let client = reqwest::Client::builder().timeout(Duration::from_millis(500)).build().unwrap();
    assert!(client.get(format!("{}/healthz", t.base)).send().await.is_err(), "a fourth connection was served past the cap");
    drop(held);
    let r = reqwest::Client::new().get(format!("{}/healthz", t.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn readyz_reports_the_background_audit_check() {
    let t = spawn_app_with(&["--audit-check-interval-secs", "1"], None).await;
    let key = t.key("case-engine", Role::CaseEngine);
    let (s, _) = t.post("/v1/recommend", &key, &json!({"alerts": [alert_with_id("a-1")]})).await;
    assert_eq!(s, 200);
    let wait_for = |want: &'static str| {
        let t = &t;
        async move {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let (s, r) = t.get("/readyz", "").await;
                if r["audit"]["state"] == want {
                    return (s, r);
                }
                assert!(Instant::now() < deadline, "readyz never reported {want}: {r}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    let (s, r) = wait_for("ok").await;
    assert_eq!((s, r["status"].as_str(), r["store"].as_str()), (200, Some("ready"), Some("ok")), "{r}");
    assert!(r["audit"]["verified_seq"].as_i64().unwrap() > 0, "{r}");
    // Cut the last entry off the chain: the next check sees the head is missing.
    t.app.store.execute_raw("DELETE FROM audit WHERE seq = (SELECT MAX(seq) FROM audit)").unwrap();
    let (s, r) = wait_for("broken").await;
    assert_eq!((s, r["status"].as_str()), (503, Some("not_ready")), "{r}");
    assert!(r["audit"]["first_broken"].as_i64().is_some(), "{r}");
}

#[tokio::test]
async fn a_provider_answer_over_the_cap_is_refused_unread() {
    let huge = format!("{{\"summary\": \"{}\"}}", "x".repeat(3 * 1024 * 1024));
    let stub = Stub::start(vec![content(&huge)]).await;
    let t = llm_app(&stub, &["--llm-max-answer-bytes", "65536"]).await;
    let key = t.key("case-engine", Role::CaseEngine);
    let (s, resp) = t.post("/v1/recommend", &key, &json!({"alerts": [alert_with_id("a-1")]})).await;
    assert_eq!(s, 200, "{resp}");
    assert_eq!(resp["engine"]["degraded"], true, "the baseline answers when the provider misbehaves: {resp}");
    assert_eq!(stub.calls(), 1, "an oversized answer is not retried");
    let db = match common::pg::database_of(t.dir.path()) {
        Some(_) => common::storage_dump(t.dir.path()).len() as u64,
        None => {
            std::fs::metadata(t.dir.path().join("triage.sqlite3")).unwrap().len()
                + std::fs::metadata(t.dir.path().join("triage.sqlite3-wal")).map(|m| m.len()).unwrap_or(0)
        }
    };
    assert!(db < 3 * 1024 * 1024, "the oversized answer was stored ({db} bytes)");
}
