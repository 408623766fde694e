//! Two replicas on one PostgreSQL database (contract section 15): approvals count across
//! replicas, racing decisions count once, and a case closed on one is closed on the other
//! and retrieved there within five seconds.
//! Runs when the suite is on PostgreSQL (`TRIAGE_TEST_DATABASE_URL`); SQLite has one
//! process per data dir.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use async_trait::async_trait;
use common::{TestApp, pg, spawn_app_in};
use serde_json::{Value, json};
use triage::llm::{Engine, EngineAnswer, EngineError, EngineRequest, Usage};
use triage::store::Role;

/// An engine that proposes a containment needing two approvers.
struct Scripted;

#[async_trait]
impl Engine for Scripted {
    fn name(&self) -> &'static str {
        "llm"
    }
    async fn propose(&self, _req: &EngineRequest<'_>) -> Result<EngineAnswer, EngineError> {
        let out = json!({
            "severity": "high", "confidence": 0.7,
            "hypothesis": "A deploy key is being used from an anonymising network.",
            "attack": [{"technique_id": "T1078.004", "rationale": "valid cloud credentials used from a new location"}],
            "evidence": [{"ref": "alert:ct-1#rule.name", "quote": "Access key used from TOR exit node"}],
            "uncertainty": ["The key owner has not been reached yet."],
            "proposed_actions": [
                {"action": "contain_cloud_resource", "target": "cloud_account:123456789012", "rationale": "restrict the account pending review"},
                {"action": "isolate_host", "target": "host:WS-9", "rationale": "the workstation that held the key"}
            ],
            "summary": "Likely stolen deploy key in use; containment proposed for approval."
        });
        Ok(EngineAnswer { raw: out.to_string(), model: "scripted".into(), prompt_version: "test".into(), usage: Usage::default(), calls: 1 })
    }
}

fn cloud_alert(case_id: &str) -> Value {
    json!({"case_id": case_id, "alerts": [{
        "id": "ct-1", "source": "aws-cloudtrail", "time": "2026-05-11T22:04:19Z",
        "rule": {"name": "Access key used from TOR exit node", "severity": "high"},
        "entities": {"cloud_accounts": ["123456789012"], "hosts": ["WS-9"], "service_accounts": ["svc-deploy"]},
        "asset": {"environment": "production", "criticality": "high"},
        "fields": {"eventName": "ListBuckets", "sourceIPAddress": "198.51.100.200"}
    }]})
}

/// Two apps, each with its own data dir (index, key files), on one database.
async fn two_replicas() -> Option<(TestApp, TestApp)> {
    if pg::admin_url().is_none() {
        eprintln!("\n**************** SKIPPED: replicas share a PostgreSQL database; set TRIAGE_TEST_DATABASE_URL ****************\n");
        return None;
    }
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    pg::share_database(dir_a.path(), dir_b.path());
    let fingerprint = common::secret_file("replicas-share-this-fingerprint-key");
    let extra = ["--fingerprint-key-file", fingerprint.as_str()];
    let a = spawn_app_in(dir_a, &extra, Some(Arc::new(Scripted))).await;
    let b = spawn_app_in(dir_b, &extra, Some(Arc::new(Scripted))).await;
    Some((a, b))
}

async fn decide(t: &TestApp, approval: &str, key: &str, decision: &str) -> (u16, Value) {
    t.post(&format!("/v1/approvals/{approval}/decisions"), key, &json!({"decision": decision, "rationale": "checked with the key owner"})).await
}

#[tokio::test]
async fn approvals_count_across_replicas() {
    let Some((a, b)) = two_replicas().await else { return };
    // A key made on one replica signs in on the other.
    let requester = a.key("soc-admin", Role::Admin);
    let (alice, bob) = (a.key("alice", Role::Approver), b.key("bob", Role::Approver));
    let (s, resp) = b.post("/v1/recommend", &requester, &cloud_alert("cloud-1")).await;
    assert_eq!(s, 200, "{resp}");
    let actions = resp["recommendation"]["proposed_actions"].as_array().unwrap();
    let two = actions.iter().find(|x| x["tier"] == "two_person").unwrap()["approval_id"].as_str().unwrap().to_string();

    // Dual control with one approver on each replica.
    let (s, first) = decide(&a, &two, &alice, "approve").await;
    assert_eq!((s, first["status"].as_str()), (200, Some("pending")), "{first}");
    let (s, e) = decide(&b, &two, &alice, "approve").await;
    assert_eq!((s, e["error"]["code"].as_str()), (409, Some("already_decided")), "the other replica sees the first decision");
    let (s, second) = decide(&b, &two, &bob, "approve").await;
    assert_eq!((s, second["status"].as_str()), (200, Some("approved")), "{second}");
    let (_, seen_on_a) = a.get(&format!("/v1/approvals/{two}"), &alice).await;
    assert_eq!(seen_on_a["status"], "approved");

    // One audit chain, intact, whichever replica checks it.
    for t in [&a, &b] {
        let (_, v) = t.get("/v1/audit/verify", &requester).await;
        assert_eq!(v["ok"], true, "{v}");
    }
}

#[tokio::test]
async fn racing_decisions_on_two_replicas_count_once() {
    let Some((a, b)) = two_replicas().await else { return };
    let requester = a.key("soc-admin", Role::Admin);
    let (s, resp) = a.post("/v1/recommend", &requester, &cloud_alert("cloud-2")).await;
    assert_eq!(s, 200, "{resp}");
    let actions = resp["recommendation"]["proposed_actions"].as_array().unwrap();
    let one = actions.iter().find(|x| x["tier"] == "human_approval").unwrap()["approval_id"].as_str().unwrap().to_string();
    let (alice, bob) = (a.key("alice", Role::Approver), b.key("bob", Role::Approver));

    // One approval needed, two approvers at once on two replicas: one decides it, the
    // other is told it is closed.
    let (ra, rb) = tokio::join!(decide(&a, &one, &alice, "approve"), decide(&b, &one, &bob, "reject"));
    let mut codes = [ra.0, rb.0];
    codes.sort();
    assert_eq!(codes, [200, 409], "{ra:?} {rb:?}");
    let (_, approval) = b.get(&format!("/v1/approvals/{one}"), &bob).await;
    assert_eq!(approval["decisions"].as_array().unwrap().len(), 1, "{approval}");
    let winner = if ra.0 == 200 { "approved" } else { "rejected" };
    assert_eq!(approval["status"], winner);
    let (_, v) = a.get("/v1/audit/verify", &requester).await;
    assert_eq!(v["ok"], true, "{v}");
}

#[tokio::test]
async fn a_case_closed_on_one_replica_is_closed_on_the_other() {
    let Some((a, b)) = two_replicas().await else { return };
    let engine = a.key("engine", Role::CaseEngine);
    let analyst = b.key("analyst", Role::Analyst);
    let (s, _) = a.post("/v1/recommend", &engine, &cloud_alert("cloud-3")).await;
    assert_eq!(s, 200);
    let close = json!({"disposition": "benign", "severity": "low", "note": "the key owner was travelling"});
    let (s, closed) = a.post("/v1/cases/cloud-3/close", &b.key("analyst-a", Role::Analyst), &close).await;
    assert_eq!((s, closed["state"].as_str()), (200, Some("closed")), "{closed}");
    let (_, view) = b.get("/v1/cases/cloud-3", &analyst).await;
    assert_eq!(view["state"], "closed", "{view}");
    let (s, body) = b.post("/v1/recommend", &engine, &cloud_alert("cloud-3")).await;
    assert_eq!((s, body["error"]["code"].as_str()), (409, Some("case_closed")), "{body}");
    let (s, body) = b.post("/v1/cases/cloud-3/assign", &analyst, &json!({"assignee": "bob"})).await;
    assert_eq!((s, body["error"]["code"].as_str()), (409, Some("case_closed")), "{body}");

    // The other replica's index follows: within five seconds the closed case is a prior
    // case it retrieves, without a restart.
    let started = std::time::Instant::now();
    loop {
        let (s, doc) = b.get("/v1/documents/case:cloud-3", &analyst).await;
        if s == 200 {
            assert!(doc["text"].as_str().unwrap().contains("the key owner was travelling"), "{doc}");
            break;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "replica B never indexed the case closed on A: {s} {doc}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// The store's API is synchronous and the server calls it from async handlers: on
/// PostgreSQL that must work on a single-threaded runtime too, where a client that blocks
/// on a runtime of its own would panic or hang.
#[tokio::test(flavor = "current_thread")]
async fn the_store_answers_inside_an_async_runtime() {
    if pg::admin_url().is_none() {
        eprintln!("\n**************** SKIPPED: needs PostgreSQL; set TRIAGE_TEST_DATABASE_URL ****************\n");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let url = pg::database_for(dir.path()).unwrap();
    let store = triage::store::Store::open_backend(triage::store::Backend::Postgres { url: &url, password: None }, dir.path(), Some("shared-key")).unwrap();
    let (who, secret) = store.create_key("alice", Role::Approver).unwrap();
    assert_eq!(store.authenticate(&secret).unwrap().map(|i| i.key_id), Some(who.key_id));
    // Beside other tasks of the same runtime.
    let ticker = tokio::spawn(async { tokio::time::sleep(std::time::Duration::from_millis(10)).await });
    assert_eq!(store.audit_length().unwrap(), 1);
    ticker.await.unwrap();
    assert_eq!(store.verify_audit().unwrap(), Ok(1));
    drop(store);
    pg::drop_database(dir.path());
}
