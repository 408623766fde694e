//! Approvals, the outbox and the audit trail over HTTP with real keys (contract sections 4, 6).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use async_trait::async_trait;
use common::{TestApp, spawn_app_with};
use serde_json::{Value, json};
use triage::llm::{Engine, EngineAnswer, EngineError, EngineRequest, Usage};
use triage::store::Role;

/// An engine that answers with a fixed output, to drive policy code precisely.
struct Scripted(Value);

#[async_trait]
impl Engine for Scripted {
    fn name(&self) -> &'static str {
        "llm"
    }
    async fn propose(&self, _req: &EngineRequest<'_>) -> Result<EngineAnswer, EngineError> {
        Ok(EngineAnswer { raw: self.0.to_string(), model: "scripted".into(), prompt_version: "test".into(), usage: Usage::default(), calls: 1 })
    }
}

fn cloud_alert() -> Value {
    json!({"case_id": "cloud-1", "alerts": [{
        "id": "ct-1", "source": "aws-cloudtrail", "time": "2026-05-11T22:04:19Z",
        "rule": {"name": "Access key used from TOR exit node", "severity": "high"},
        "entities": {"cloud_accounts": ["123456789012"], "hosts": ["WS-9"], "service_accounts": ["svc-deploy"]},
        "asset": {"environment": "production", "criticality": "high"},
        "fields": {"eventName": "ListBuckets", "sourceIPAddress": "198.51.100.200"}
    }]})
}

fn output(actions: Value) -> Value {
    json!({
        "severity": "high", "confidence": 0.7,
        "hypothesis": "A deploy key is being used from an anonymising network.",
        "attack": [{"technique_id": "T1078.004", "rationale": "valid cloud credentials used from a new location"}],
        "evidence": [{"ref": "alert:ct-1#rule.name", "quote": "Access key used from TOR exit node"}],
        "uncertainty": ["The key owner has not been reached yet."],
        "proposed_actions": actions,
        "summary": "Likely stolen deploy key in use; containment proposed for approval."
    })
}

async fn app_with(out: Value, extra: &[&str]) -> TestApp {
    spawn_app_with(extra, Some(Arc::new(Scripted(out)))).await
}

fn standard_actions() -> Value {
    json!([
        {"action": "contain_cloud_resource", "target": "cloud_account:123456789012", "rationale": "restrict the account pending review"},
        {"action": "isolate_host", "target": "host:WS-9", "rationale": "the workstation that held the key"},
        {"action": "create_ticket", "target": "case:cloud-1", "rationale": "track the investigation"}
    ])
}

#[tokio::test]
async fn tiers_approvals_outbox_and_outcomes_follow_the_rules() {
    let t = app_with(output(standard_actions()), &[]).await;
    let requester = t.key("soc-admin", Role::Admin);
    let (approver_a, approver_b, approver_c) = (t.key("alice", Role::Approver), t.key("bob", Role::Approver), t.key("carol", Role::Approver));
    let analyst = t.key("dana", Role::Analyst);
    let soar = t.key("soar", Role::Soar);

    let (s, resp) = t.post("/v1/recommend", &requester, &cloud_alert()).await;
    assert_eq!(s, 200, "{resp}");
    assert_eq!(resp["status"], "ready", "{resp:#}");
    let actions = resp["recommendation"]["proposed_actions"].as_array().unwrap().clone();
    let by = |name: &str| actions.iter().find(|a| a["action"] == name).unwrap().clone();
    assert_eq!(by("contain_cloud_resource")["tier"], "two_person");
    assert_eq!(by("isolate_host")["tier"], "human_approval");
    assert_eq!(by("create_ticket")["tier"], "automatic");
    assert!(by("create_ticket").get("approval_id").is_none());
    let two = by("contain_cloud_resource")["approval_id"].as_str().unwrap().to_string();
    let one = by("isolate_host")["approval_id"].as_str().unwrap().to_string();
    let (_, case) = t.get("/v1/cases/cloud-1", &analyst).await;
    assert_eq!(case["state"], "awaiting_approval");

    let decide = |id: String, key: String, decision: &'static str| {
        let t = &t;
        async move { t.post(&format!("/v1/approvals/{id}/decisions"), &key, &json!({"decision": decision, "rationale": "checked the key owner"})).await }
    };
    // The requester may not decide on its own approval; analysts and the SOAR can't decide at all.
    let (s, e) = decide(two.clone(), requester.clone(), "approve").await;
    assert_eq!((s, e["error"]["code"].as_str()), (403, Some("own_request")));
    for key in [&analyst, &soar] {
        let (s, e) = decide(two.clone(), key.clone(), "approve").await;
        assert_eq!((s, e["error"]["code"].as_str()), (403, Some("forbidden")));
    }
    // Two distinct approvers for production cloud containment; one identity counts once.
    let (s, a) = decide(two.clone(), approver_a.clone(), "approve").await;
    assert_eq!((s, a["status"].as_str()), (200, Some("pending")), "{a}");
    let (s, e) = decide(two.clone(), approver_a.clone(), "approve").await;
    assert_eq!((s, e["error"]["code"].as_str()), (409, Some("already_decided")));
    let (s, a) = decide(two.clone(), approver_b.clone(), "approve").await;
    assert_eq!((s, a["status"].as_str()), (200, Some("approved")), "{a}");
    let (s, e) = decide(two.clone(), approver_c.clone(), "reject").await;
    assert_eq!((s, e["error"]["code"].as_str()), (409, Some("approval_closed")));
    // One rejection rejects.
    let (s, a) = decide(one.clone(), approver_c.clone(), "reject").await;
    assert_eq!((s, a["status"].as_str()), (200, Some("rejected")));
    let (s, e) = decide(one.clone(), approver_a.clone(), "approve").await;
    assert_eq!((s, e["error"]["code"].as_str()), (409, Some("approval_closed")));
    let (_, listed) = t.get("/v1/approvals?status=approved", &analyst).await;
    assert_eq!(listed["approvals"].as_array().unwrap().len(), 1);

    // The outbox holds what was approved (and the automatic ticket), nothing else.
    let (s, e) = t.get("/v1/actions?status=approved", &approver_a).await;
    assert_eq!((s, e["error"]["code"].as_str()), (403, Some("forbidden")));
    let (s, outbox) = t.get("/v1/actions?status=approved", &soar).await;
    assert_eq!(s, 200);
    let names: Vec<&str> = outbox["actions"].as_array().unwrap().iter().map(|a| a["action"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains(&"contain_cloud_resource") && names.contains(&"create_ticket"));
    let contain_id =
        outbox["actions"].as_array().unwrap().iter().find(|a| a["action"] == "contain_cloud_resource").unwrap()["action_id"].as_str().unwrap().to_string();
    let (_, all) = t.get("/v1/actions", &soar).await;
    let isolate_id = all["actions"].as_array().unwrap().iter().find(|a| a["action"] == "isolate_host").unwrap()["action_id"].as_str().unwrap().to_string();

    // Only the SOAR reports outcomes, and only for approved actions.
    let (s, _) = t.post(&format!("/v1/actions/{contain_id}/outcome"), &requester, &json!({"status": "executed"})).await;
    assert_eq!(s, 403);
    let (s, e) = t.post(&format!("/v1/actions/{isolate_id}/outcome"), &soar, &json!({"status": "executed", "detail": "x"})).await;
    assert_eq!((s, e["error"]["code"].as_str()), (409, Some("action_not_approved")));
    let (s, done) = t.post(&format!("/v1/actions/{contain_id}/outcome"), &soar, &json!({"status": "executed", "detail": "SCP attached by SOAR run 77"})).await;
    assert_eq!((s, done["status"].as_str()), (200, Some("executed")), "{done}");
    let (s, _) = t.post(&format!("/v1/actions/{contain_id}/outcome"), &soar, &json!({"status": "failed"})).await;
    assert_eq!(s, 409);
    let (_, case) = t.get("/v1/cases/cloud-1", &analyst).await;
    assert_eq!(case["state"], "executed");
    let states: Vec<&str> = case["history"].as_array().unwrap().iter().map(|h| h["to"].as_str().unwrap()).collect();
    assert_eq!(states, ["new", "awaiting_approval", "approved", "executed"]);

    // Every step is in the audit trail, and the chain holds.
    let (_, audit) = t.get("/v1/audit?after=0", &requester).await;
    let kinds: Vec<&str> = audit["entries"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    for k in ["request.received", "recommendation.ready", "approval.decision", "approval.approved", "approval.rejected", "outbox.read", "action.outcome"] {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
    }
    // Refused decisions too, with why: the requester's own, a second vote, a closed approval.
    let refused: Vec<&str> =
        audit["entries"].as_array().unwrap().iter().filter(|e| e["kind"] == "approval.decision_refused").map(|e| e["data"]["code"].as_str().unwrap()).collect();
    assert_eq!(refused, ["own_request", "already_decided", "approval_closed", "approval_closed"], "{audit:#}");
    let (_, v) = t.get("/v1/audit/verify", &requester).await;
    assert_eq!(v["ok"], true, "{v}");
}

#[tokio::test]
async fn refused_output_goes_to_the_review_queue() {
    let mut out = output(json!([]));
    out["summary"] = json!("I have isolated WS-9 and disabled svc-deploy.");
    let t = app_with(out, &[]).await;
    let engine = t.key("case-engine", Role::CaseEngine);
    let approver = t.key("alice", Role::Approver);
    let (s, resp) = t.post("/v1/recommend", &engine, &cloud_alert()).await;
    assert_eq!(s, 200);
    assert_eq!(resp["status"], "needs_review");
    assert!(resp["recommendation"].is_null());
    assert_eq!(resp["review"]["reasons"][0]["code"], "direct_execution_proposed");
    let apr = resp["review"]["approval_id"].as_str().unwrap();
    let (s, a) = t.get(&format!("/v1/approvals/{apr}"), &approver).await;
    assert_eq!((s, a["kind"].as_str(), a["status"].as_str()), (200, Some("review"), Some("pending")));
    let (_, case) = t.get("/v1/cases/cloud-1", &approver).await;
    assert_eq!(case["state"], "needs_review");
    // The raw output is kept for the reviewer.
    let raw = t.app.store.raw_output(resp["recommendation_id"].as_str().unwrap()).unwrap().unwrap();
    assert!(raw.contains("I have isolated WS-9"));
}

#[tokio::test]
async fn approvals_expire_after_their_ttl() {
    let t = app_with(output(standard_actions()), &["--approval-ttl-secs", "1"]).await;
    let engine = t.key("case-engine", Role::CaseEngine);
    let approver = t.key("alice", Role::Approver);
    let (_, resp) = t.post("/v1/recommend", &engine, &cloud_alert()).await;
    let apr = resp["recommendation"]["proposed_actions"][1]["approval_id"].as_str().unwrap().to_string();
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    let (s, e) = t.post(&format!("/v1/approvals/{apr}/decisions"), &approver, &json!({"decision": "approve", "rationale": "late"})).await;
    assert_eq!((s, e["error"]["code"].as_str()), (409, Some("approval_closed")), "{e}");
    let (_, expired) = t.get("/v1/approvals?status=expired", &approver).await;
    assert_eq!(expired["approvals"].as_array().unwrap().len(), 2);
    assert!(expired["approvals"].as_array().unwrap().iter().all(|a| a["closed_reason"] == "expired"), "{expired}");
}

#[tokio::test]
async fn editing_any_audit_entry_breaks_verification_at_that_entry() {
    let t = app_with(output(standard_actions()), &[]).await;
    let admin = t.key("admin", Role::Admin);
    for i in 0..3 {
        let mut body = cloud_alert();
        body["case_id"] = json!(format!("cloud-{i}"));
        t.post("/v1/recommend", &admin, &body).await;
    }
    let (_, v) = t.get("/v1/audit/verify", &admin).await;
    assert_eq!(v["ok"], true);
    let cli = |dir: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_triage")).args(["--data-dir", dir.to_str().unwrap(), "audit", "verify"]).output().unwrap()
    };
    assert!(cli(t.dir.path()).status.success());

    let (_, entries) = t.get("/v1/audit", &admin).await;
    let n = entries["entries"].as_array().unwrap().len() as i64;
    assert!(n >= 9);
    for (seq, sql) in [
        (4, "UPDATE audit SET data = '{\"case_id\":\"forged\"}' WHERE seq = 4"),
        (2, "UPDATE audit SET actor = 'mallory' WHERE seq = 2"),
        (1, "UPDATE audit SET time = '2020-01-01T00:00:00Z' WHERE seq = 1"),
    ] {
        t.app.store.execute_raw(sql).unwrap();
        let (_, v) = t.get("/v1/audit/verify", &admin).await;
        assert_eq!((v["ok"].as_bool(), v["first_broken"].as_i64()), (Some(false), Some(seq)), "{v}");
        let out = cli(t.dir.path());
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("entry {seq}")), "{}", String::from_utf8_lossy(&out.stdout));
    }
    // Deleting an entry is caught too.
    let t2 = app_with(output(standard_actions()), &[]).await;
    let admin2 = t2.key("admin", Role::Admin);
    t2.post("/v1/recommend", &admin2, &cloud_alert()).await;
    let (_, entries) = t2.get("/v1/audit", &admin2).await;
    let last = entries["entries"].as_array().unwrap().len() as i64;
    t2.app.store.execute_raw("DELETE FROM audit WHERE seq = 2").unwrap();
    let (_, v) = t2.get("/v1/audit/verify", &admin2).await;
    assert_eq!(v["first_broken"], 2, "{v}");
    // So is cutting entries off the end.
    let t3 = app_with(output(standard_actions()), &[]).await;
    let admin3 = t3.key("admin", Role::Admin);
    t3.post("/v1/recommend", &admin3, &cloud_alert()).await;
    t3.app.store.execute_raw(&format!("DELETE FROM audit WHERE seq = {last}")).unwrap();
    let (_, v) = t3.get("/v1/audit/verify", &admin3).await;
    assert_eq!(v["first_broken"], last, "{v}");
}

/// The action of `name` among the case's actions, as the SOAR reads them.
async fn action_of(t: &TestApp, soar: &str, case_id: &str, name: &str) -> Value {
    let (_, all) = t.get("/v1/actions", soar).await;
    all["actions"].as_array().unwrap().iter().rfind(|a| a["case_id"] == case_id && a["action"] == name).unwrap().clone()
}

async fn history_of(t: &TestApp, key: &str, case_id: &str) -> (Value, Vec<String>) {
    let (_, case) = t.get(&format!("/v1/cases/{case_id}"), key).await;
    let states = case["history"].as_array().unwrap().iter().map(|h| h["to"].as_str().unwrap().to_string()).collect();
    (case, states)
}

#[tokio::test]
async fn an_approved_action_takes_its_outcome_whatever_the_case_still_waits_for() {
    // An automatic action is approved while its case is `recommended`.
    let ticket = json!([{"action": "create_ticket", "target": "case:cloud-1", "rationale": "track the investigation"}]);
    let t = app_with(output(ticket), &[]).await;
    let (engine, soar, analyst) = (t.key("case-engine", Role::CaseEngine), t.key("soar", Role::Soar), t.key("dana", Role::Analyst));
    let (s, resp) = t.post("/v1/recommend", &engine, &cloud_alert()).await;
    assert_eq!((s, resp["status"].as_str()), (200, Some("ready")), "{resp}");
    let id = action_of(&t, &soar, "cloud-1", "create_ticket").await["action_id"].as_str().unwrap().to_string();
    let (s, done) = t.post(&format!("/v1/actions/{id}/outcome"), &soar, &json!({"status": "executed", "detail": "ticket SEC-1"})).await;
    assert_eq!((s, done["status"].as_str()), (200, Some("executed")), "{done}");
    let (case, states) = history_of(&t, &analyst, "cloud-1").await;
    assert_eq!(case["state"], "executed");
    assert_eq!(states, ["new", "recommended", "executed"]);

    // One approval of two decided leaves the case `awaiting_approval`; the approved action
    // still takes its outcome, and the approval decided after it changes nothing.
    let t = app_with(output(standard_actions()), &[]).await;
    let (engine, soar, analyst) = (t.key("case-engine", Role::CaseEngine), t.key("soar", Role::Soar), t.key("dana", Role::Analyst));
    let (alice, bob) = (t.key("alice", Role::Approver), t.key("bob", Role::Approver));
    let (_, resp) = t.post("/v1/recommend", &engine, &cloud_alert()).await;
    let actions = resp["recommendation"]["proposed_actions"].as_array().unwrap().clone();
    let approval = |name: &str| actions.iter().find(|a| a["action"] == name).unwrap()["approval_id"].as_str().unwrap().to_string();
    let decide = |id: String, key: String| {
        let t = &t;
        async move { t.post(&format!("/v1/approvals/{id}/decisions"), &key, &json!({"decision": "approve", "rationale": "owner confirmed"})).await }
    };
    let (s, a) = decide(approval("isolate_host"), alice.clone()).await;
    assert_eq!((s, a["status"].as_str()), (200, Some("approved")), "{a}");
    assert_eq!(history_of(&t, &analyst, "cloud-1").await.0["state"], "awaiting_approval");
    let isolate = action_of(&t, &soar, "cloud-1", "isolate_host").await["action_id"].as_str().unwrap().to_string();
    let (s, done) = t.post(&format!("/v1/actions/{isolate}/outcome"), &soar, &json!({"status": "executed", "detail": "EDR contained WS-9"})).await;
    assert_eq!((s, done["status"].as_str()), (200, Some("executed")), "{done}");
    assert_eq!(history_of(&t, &analyst, "cloud-1").await.0["state"], "executed");

    for key in [alice, bob] {
        let (s, a) = decide(approval("contain_cloud_resource"), key).await;
        assert_eq!(s, 200, "{a}");
    }
    let contain = action_of(&t, &soar, "cloud-1", "contain_cloud_resource").await;
    assert_eq!(contain["status"], "approved");
    let contain = contain["action_id"].as_str().unwrap().to_string();
    let (s, done) = t.post(&format!("/v1/actions/{contain}/outcome"), &soar, &json!({"status": "executed", "detail": "SCP attached"})).await;
    assert_eq!((s, done["status"].as_str()), (200, Some("executed")), "{done}");
    let (case, states) = history_of(&t, &analyst, "cloud-1").await;
    assert_eq!(case["state"], "executed");
    assert_eq!(states, ["new", "awaiting_approval", "executed"], "a later approval does not move an executed case back");
    let (_, v) = t.get("/v1/audit/verify", &t.key("admin", Role::Admin)).await;
    assert_eq!(v["ok"], true, "{v}");
}

#[tokio::test]
async fn a_newer_recommendation_supersedes_the_pending_approvals_of_the_older() {
    let t = app_with(output(standard_actions()), &[]).await;
    let (engine, alice, soar, admin) =
        (t.key("case-engine", Role::CaseEngine), t.key("alice", Role::Approver), t.key("soar", Role::Soar), t.key("admin", Role::Admin));
    let (_, first) = t.post("/v1/recommend", &engine, &cloud_alert()).await;
    let approval_of = |resp: &Value, name: &str| {
        resp["recommendation"]["proposed_actions"].as_array().unwrap().iter().find(|a| a["action"] == name).unwrap()["approval_id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (old_contain, old_isolate) = (approval_of(&first, "contain_cloud_resource"), approval_of(&first, "isolate_host"));
    let (s, a) = t.post(&format!("/v1/approvals/{old_isolate}/decisions"), &alice, &json!({"decision": "approve", "rationale": "owner confirmed"})).await;
    assert_eq!((s, a["closed_reason"].clone()), (200, Value::Null), "{a}");

    let (s, second) = t.post("/v1/recommend", &engine, &cloud_alert()).await;
    assert_eq!((s, second["status"].as_str()), (200, Some("ready")), "{second}");
    assert_ne!(second["recommendation_id"], first["recommendation_id"]);

    // The older pending approval ended, with its reason; the decided one keeps its decision.
    let (_, old) = t.get(&format!("/v1/approvals/{old_contain}"), &alice).await;
    assert_eq!((old["status"].as_str(), old["closed_reason"].as_str()), (Some("expired"), Some("superseded")), "{old}");
    assert_eq!(old["action"]["status"], "expired");
    let (_, decided) = t.get(&format!("/v1/approvals/{old_isolate}"), &alice).await;
    assert_eq!((decided["status"].as_str(), decided["closed_reason"].clone()), (Some("approved"), Value::Null));
    let (s, e) = t.post(&format!("/v1/approvals/{old_contain}/decisions"), &alice, &json!({"decision": "approve", "rationale": "late"})).await;
    assert_eq!((s, e["error"]["code"].as_str()), (409, Some("approval_closed")), "{e}");

    // Only the newer recommendation's approvals are pending, in the list and the case view.
    let (_, pending) = t.get("/v1/approvals?status=pending", &alice).await;
    let pending = pending["approvals"].as_array().unwrap();
    assert_eq!(pending.len(), 2, "{pending:?}");
    assert!(pending.iter().all(|a| a["recommendation_id"] == second["recommendation_id"] && a["closed_reason"].is_null()));
    let (_, expired) = t.get("/v1/approvals?status=expired", &alice).await;
    assert_eq!(expired["approvals"][0]["closed_reason"], "superseded", "{expired}");
    let (_, case) = t.get("/v1/cases/cloud-1", &alice).await;
    assert_eq!(case["state"], "awaiting_approval");
    let in_case = case["approvals"].as_array().unwrap().iter().find(|a| a["approval_id"] == old_contain.as_str()).unwrap();
    assert_eq!(in_case["closed_reason"], "superseded");

    // The outbox never holds the superseded action; approving the newer one puts one there.
    let (_, outbox) = t.get("/v1/actions?status=approved", &soar).await;
    assert!(outbox["actions"].as_array().unwrap().iter().all(|a| a["action"] != "contain_cloud_resource"), "{outbox}");

    let (_, audit) = t.get("/v1/audit?after=0", &admin).await;
    let entry = audit["entries"].as_array().unwrap().iter().find(|e| e["kind"] == "approval.expired" && e["subject"] == old_contain.as_str()).unwrap();
    assert_eq!(entry["data"]["reason"], "superseded");
    assert_eq!(entry["data"]["superseded_by"], second["recommendation_id"]);
    let (_, v) = t.get("/v1/audit/verify", &admin).await;
    assert_eq!(v["ok"], true, "{v}");
}

#[tokio::test]
async fn the_audit_trail_verifies_after_closing_merging_and_outcomes_but_not_with_a_missing_entry() {
    let t = app_with(output(standard_actions()), &[]).await;
    let (engine, analyst, soar, admin) =
        (t.key("case-engine", Role::CaseEngine), t.key("dana", Role::Analyst), t.key("soar", Role::Soar), t.key("admin", Role::Admin));
    for case in ["cloud-1", "cloud-2", "cloud-3", "cloud-4"] {
        let mut body = cloud_alert();
        body["case_id"] = json!(case);
        let (s, resp) = t.post("/v1/recommend", &engine, &body).await;
        assert_eq!(s, 200, "{resp}");
    }
    let verify = async || t.get("/v1/audit/verify", &admin).await.1;

    // Closing expires the pending approvals and cancels the approved automatic ticket.
    let close = json!({"disposition": "true_positive", "severity": "high", "techniques": ["T1078.004"], "note": "stolen key"});
    let (s, closed) = t.post("/v1/cases/cloud-1/close", &analyst, &close).await;
    assert_eq!(s, 200, "{closed}");
    assert!(closed["approvals"].as_array().unwrap().iter().all(|a| a["closed_reason"] == "case_closed"), "{closed}");
    assert_eq!(action_of(&t, &soar, "cloud-1", "create_ticket").await["status"], "cancelled");
    let v = verify().await;
    assert_eq!(v["ok"], true, "after a close: {v}");

    // Merging closes the merged case the same way.
    let (s, merged) = t.post("/v1/cases/cloud-2/merge", &analyst, &json!({"from": ["cloud-3"]})).await;
    assert_eq!(s, 200, "{merged}");
    assert_eq!(action_of(&t, &soar, "cloud-3", "create_ticket").await["status"], "cancelled");
    let v = verify().await;
    assert_eq!(v["ok"], true, "after a merge: {v}");

    // An outcome.
    let ticket = action_of(&t, &soar, "cloud-4", "create_ticket").await["action_id"].as_str().unwrap().to_string();
    let (s, _) = t.post(&format!("/v1/actions/{ticket}/outcome"), &soar, &json!({"status": "executed", "detail": "SEC-4"})).await;
    assert_eq!(s, 200);
    let v = verify().await;
    assert_eq!(v["ok"], true, "after an outcome: {v}");

    // A cancellation no entry records is still found.
    let isolate = action_of(&t, &soar, "cloud-4", "isolate_host").await["action_id"].as_str().unwrap().to_string();
    t.app.store.execute_raw(&format!("UPDATE actions SET status = 'cancelled' WHERE id = '{isolate}'")).unwrap();
    let v = verify().await;
    assert_eq!(v["ok"], false, "{v}");
    let unexplained = v["unexplained"].to_string();
    assert!(unexplained.contains(&format!("action {isolate} is cancelled")), "{v}");
}
