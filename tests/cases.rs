//! Cases and summaries through the API (contract section 5).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::spawn_app;
use serde_json::{Value, json};
use triage::corpus::fold_whitespace;
use triage::store::Role;

fn three_alerts() -> Value {
    json!({"case_id": "phish-to-cloud", "alerts": [
        {"id": "m-1", "source": "o365", "time": "2026-04-02T08:01:00Z",
         "rule": {"name": "User clicked a credential-harvesting link", "severity": "medium"},
         "entities": {"users": ["mlopez@corp.example"], "urls": ["https://login-corp.example.net/o365"], "ips": ["198.51.100.40"]},
         "fields": {"Subject": "Payroll update required", "ClickAction": "allowed"}},
        {"id": "m-2", "source": "entra-id", "time": "2026-04-02T08:09:00Z",
         "rule": {"name": "Sign-in from a new country right after a phishing click", "severity": "high"},
         "entities": {"users": ["mlopez@corp.example"], "hosts": ["LT-ML-07"], "ips": ["203.0.113.99"]},
         "fields": {"ResultType": 0, "AppDisplayName": "Azure Portal", "Location": "NL"}},
        {"id": "m-3", "source": "aws-cloudtrail", "time": "2026-04-02T08:20:00Z",
         "rule": {"name": "Access key created for a service account from the same IP", "severity": "high"},
         "entities": {"service_accounts": ["svc-etl"], "cloud_accounts": ["111122223333"], "tokens": ["AKIA****REDACTED"], "ips": ["203.0.113.99"]},
         "asset": {"environment": "production", "criticality": "high"},
         "fields": {"eventName": "CreateAccessKey", "requestParameters": {"userName": "svc-etl"}}}
    ]})
}

#[tokio::test]
async fn a_three_alert_case_gets_a_grounded_summary() {
    let t = spawn_app().await;
    let engine = t.key("case-engine", Role::CaseEngine);
    let analyst = t.key("analyst", Role::Analyst);
    let (s, resp) = t.post("/v1/recommend", &engine, &three_alerts()).await;
    assert_eq!((s, resp["status"].as_str()), (200, Some("ready")), "{resp}");
    let (s, summary) = t.get("/v1/cases/phish-to-cloud/summary", &analyst).await;
    assert_eq!(s, 200, "{summary}");
    let md = summary["summary_markdown"].as_str().unwrap();
    for entity in ["mlopez@corp.example", "LT-ML-07", "svc-etl", "111122223333", "203.0.113.99", "198.51.100.40", "AKIA****REDACTED"] {
        assert!(md.contains(entity), "{entity} missing from the summary");
        assert!(summary["entities"].to_string().contains(entity), "{entity} missing from entities");
    }
    let alerts_in_timeline = summary["timeline"].as_array().unwrap().iter().filter(|e| e["kind"] == "alert").count();
    assert_eq!(alerts_in_timeline, 3);
    assert!(!summary["attack"].as_array().unwrap().is_empty());
    // Every citation names something real, and its quote is verbatim.
    let request = three_alerts();
    assert!(!summary["evidence"].as_array().unwrap().is_empty(), "the summary cites nothing: {summary:#}");
    for e in summary["evidence"].as_array().unwrap() {
        let r = e["ref"].as_str().unwrap();
        let text = if let Some(rest) = r.strip_prefix("alert:") {
            let (id, path) = rest.split_once('#').unwrap();
            let alert = request["alerts"].as_array().unwrap().iter().find(|a| a["id"] == id).unwrap();
            triage::jsonpath::text_of(triage::jsonpath::resolve(alert, path).unwrap())
        } else {
            let (s, doc) = t.get(&format!("/v1/documents/{r}"), &analyst).await;
            assert_eq!(s, 200, "{r}");
            doc["text"].as_str().unwrap().to_string()
        };
        if let Some(q) = e["quote"].as_str() {
            assert!(fold_whitespace(&text).contains(&fold_whitespace(q)), "{r}: {q}");
        }
    }
    // Contract section 11: case engines read summaries beside cases and graphs; a SOAR
    // key reads none of them.
    let (s, _) = t.get("/v1/cases/phish-to-cloud/summary", &engine).await;
    assert_eq!(s, 200, "case engines read summaries");
    let (s, _) = t.get("/v1/cases/phish-to-cloud/summary", &t.key("soar", Role::Soar)).await;
    assert_eq!(s, 403, "a SOAR key reads no case");
    let (s, _) = t.get("/v1/cases/nope/summary", &analyst).await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn a_closed_case_is_retrieved_and_cited_for_the_next_similar_alert() {
    let t = spawn_app().await;
    let engine = t.key("case-engine", Role::CaseEngine);
    let analyst = t.key("analyst", Role::Analyst);
    let alert = |id: &str, host: &str| {
        json!({
            "id": id, "source": "crowdstrike", "time": "2026-04-03T09:00:00Z",
            "rule": {"name": "Quokka updater wrote unsigned driver qkdrv.sys", "severity": "high"},
            "entities": {"hosts": [host]},
            "fields": {"ImageFileName": "C:\\Program Files\\Quokka\\qkupdate.exe", "TargetFileName": "C:\\Windows\\System32\\drivers\\qkdrv.sys", "SignatureStatus": "unsigned"}
        })
    };
    let (_, first) = t.post("/v1/recommend", &engine, &json!({"case_id": "quokka-1", "alerts": [alert("q-1", "WS-100")]})).await;
    assert!(!first["retrieved"].to_string().contains("case:quokka-1"));

    let close = json!({"disposition": "benign", "severity": "low", "techniques": ["T1543.003"],
                       "note": "Quokka's vendor updater ships an unsigned test driver on canary builds; confirmed with the vendor (ticket VND-4471)."});
    let (s, _) = t.post("/v1/cases/quokka-1/close", &engine, &close).await;
    assert_eq!(s, 403, "closing is for analysts");
    let (s, closed) = t.post("/v1/cases/quokka-1/close", &analyst, &close).await;
    assert_eq!((s, closed["state"].as_str()), (200, Some("closed")), "{closed}");
    let (s, bad) = t.post("/v1/cases/quokka-1/close", &analyst, &json!({"disposition": "maybe", "severity": "low"})).await;
    assert_eq!((s, bad["error"]["code"].as_str()), (400, Some("invalid_field")));

    // No restart: the next similar alert retrieves the analyst's verdict and cites it.
    let (_, next) = t.post("/v1/recommend", &engine, &json!({"alerts": [alert("q-2", "WS-311")]})).await;
    let retrieved: Vec<&str> = next["retrieved"].as_array().unwrap().iter().map(|r| r["ref"].as_str().unwrap()).collect();
    assert_eq!(retrieved.iter().find(|r| r.starts_with("case:")), Some(&"case:quokka-1"), "{retrieved:?}");
    let evidence = &next["recommendation"]["evidence"];
    let cited = evidence.as_array().unwrap().iter().find(|e| e["ref"] == "case:quokka-1").unwrap_or_else(|| panic!("{evidence:#}"));
    assert!(cited["quote"].as_str().unwrap().contains("Disposition: benign"));

    // Re-closing updates the indexed document.
    let reclose =
        json!({"disposition": "true_positive", "severity": "high", "techniques": ["T1543.003"], "note": "Vendor denied shipping it: a trojanised updater."});
    t.post("/v1/cases/quokka-1/close", &analyst, &reclose).await;
    let (_, doc) = t.get("/v1/documents/case:quokka-1", &analyst).await;
    assert!(doc["text"].as_str().unwrap().contains("trojanised updater"));
    assert!(!doc["text"].as_str().unwrap().contains("VND-4471"));
    // And a rebuilt index (after a restart or a corpus change) keeps it.
    let settings = common::settings(t.dir.path(), &[]);
    let docs = triage::app::all_documents(&settings, &t.app.store).unwrap();
    let doc = docs.iter().find(|d| d.doc_ref() == "case:quokka-1").unwrap();
    assert!(doc.text.contains("trojanised"));
}

#[tokio::test]
async fn a_merge_naming_a_case_twice_is_a_bad_request() {
    let t = spawn_app().await;
    let engine = t.key("case-engine", Role::CaseEngine);
    let analyst = t.key("analyst", Role::Analyst);
    for case in ["merge-a", "merge-b"] {
        let mut body = three_alerts();
        body["case_id"] = json!(case);
        let (s, resp) = t.post("/v1/recommend", &engine, &body).await;
        assert_eq!(s, 200, "{resp}");
    }
    let (s, e) = t.post("/v1/cases/merge-a/merge", &analyst, &json!({"from": ["merge-b", "merge-b"]})).await;
    assert_eq!((s, e["error"]["code"].as_str()), (400, Some("invalid_field")), "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains("merge-b"), "{e}");
    let (_, b) = t.get("/v1/cases/merge-b", &analyst).await;
    assert_ne!(b["state"], "closed", "nothing was merged");
    // Named once, it merges; the audit trail still verifies.
    let (s, merged) = t.post("/v1/cases/merge-a/merge", &analyst, &json!({"from": ["merge-b"]})).await;
    assert_eq!(s, 200, "{merged}");
    let (_, v) = t.get("/v1/audit/verify", &t.key("admin", Role::Admin)).await;
    assert_eq!(v["ok"], true, "{v}");
}

#[tokio::test]
async fn a_request_to_a_closed_case_is_refused_and_stores_nothing() {
    // The baseline's request is recorded with its result, in one transaction: the refusal
    // at its end leaves nothing of the request behind.
    let t = spawn_app().await;
    let engine = t.key("case-engine", Role::CaseEngine);
    let analyst = t.key("analyst", Role::Analyst);
    let (s, first) = t.post("/v1/recommend", &engine, &three_alerts()).await;
    assert_eq!((s, first["status"].as_str()), (200, Some("ready")), "{first}");
    let close = json!({"disposition": "true_positive", "severity": "high", "note": "contained: key revoked, password reset"});
    let (s, closed) = t.post("/v1/cases/phish-to-cloud/close", &analyst, &close).await;
    assert_eq!((s, closed["state"].as_str()), (200, Some("closed")), "{closed}");
    let (_, before) = t.get("/v1/cases/phish-to-cloud", &analyst).await;

    let mut again = three_alerts();
    again["alerts"][0]["id"] = json!("m-4");
    let (s, body) = t.post("/v1/recommend", &engine, &again).await;
    assert_eq!((s, body["error"]["code"].as_str()), (409, Some("case_closed")), "{body}");
    let (_, after) = t.get("/v1/cases/phish-to-cloud", &analyst).await;
    assert_eq!(after["alerts"], before["alerts"], "the refused request's alerts were stored");
    assert_eq!(after["recommendations"], before["recommendations"]);
    let admin = t.key("admin", Role::Admin);
    let (_, audit) = t.get("/v1/audit?after=0", &admin).await;
    let received = audit["entries"].as_array().unwrap().iter().filter(|e| e["kind"] == "request.received").count();
    assert_eq!(received, 1, "only the accepted request is in the audit trail");
}
