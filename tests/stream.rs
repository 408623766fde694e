//! The alert stream and the case lifecycle over HTTP (contract sections 10 and 11): dedup,
//! correlation, background recommendations, the transition table, the queue, merge and
//! split, the graph.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "support_stream/mod.rs"]
mod support_stream;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{Value, json};
use triage::store::Role;

use common::{TestApp, spawn_app};
use support_stream::Kind;

/// Posts alerts in batches; returns every result in order.
async fn stream(t: &TestApp, key: &str, alerts: &[Value], batch: usize) -> Vec<Value> {
    let mut out = Vec::new();
    for chunk in alerts.chunks(batch) {
        let (s, body) = t.post("/v1/alerts", key, &json!({"alerts": chunk})).await;
        assert_eq!(s, 200, "{body}");
        out.extend(body["results"].as_array().unwrap().iter().cloned());
    }
    out
}

/// Waits until the background queue is empty.
async fn drained(t: &TestApp) {
    for _ in 0..600 {
        if t.app.store.queue_depth().unwrap().0 == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the recommendation queue did not drain: {:?}", t.app.store.queue_depth());
}

fn alert(id: &str, time: &str, rule: &str, entities: Value, fields: Value) -> Value {
    json!({"id": id, "source": "aws-cloudtrail", "time": time, "rule": {"id": rule, "name": format!("Rule {rule}"), "severity": "high"},
           "entities": entities, "fields": fields})
}

#[tokio::test]
async fn a_thousand_mixed_alerts_end_up_in_the_expected_cases() {
    let t = spawn_app().await;
    let engine = t.key("siem", Role::CaseEngine);
    let analyst = t.key("analyst", Role::Analyst);
    let data = support_stream::mixed_thousand();
    let alerts: Vec<Value> = data.iter().map(|s| s.alert.clone()).collect();
    let results = stream(&t, &engine, &alerts, 50).await;
    assert_eq!(results.len(), 1000);

    // Every group's alerts in one case; no two groups sharing one.
    let mut case_of_group: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let mut fresh_per_case: BTreeMap<String, usize> = BTreeMap::new();
    let mut seen_per_case: BTreeMap<String, usize> = BTreeMap::new();
    for (s, r) in data.iter().zip(&results) {
        assert_eq!(r["alert_id"], s.alert["id"]);
        let case = r["case_id"].as_str().unwrap().to_string();
        case_of_group.entry(s.group.as_str()).or_default().insert(case.clone());
        let outcome = r["outcome"].as_str().unwrap();
        match s.kind {
            Kind::Fresh => {
                assert_ne!(outcome, "duplicate", "{} of {} is a new event: {r}", s.alert["id"], s.group);
                *fresh_per_case.entry(case.clone()).or_default() += 1;
            }
            Kind::ExactDuplicate | Kind::NearDuplicate => assert_eq!(outcome, "duplicate", "{:?} of {}: {r}", s.kind, s.group),
        }
        *seen_per_case.entry(case).or_default() += 1;
    }
    let mut owner: BTreeMap<String, &str> = BTreeMap::new();
    for (group, cases) in &case_of_group {
        assert_eq!(cases.len(), 1, "group {group} is split over {cases:?}");
        let case = cases.iter().next().unwrap().clone();
        if let Some(other) = owner.insert(case.clone(), group) {
            panic!("groups {other} and {group} were merged into {case}");
        }
    }
    assert_eq!(owner.len(), 4 + 1 + 50 + 25, "cases: four incidents, the scanner, 50 updated workstations, 25 anomalous users");

    // Duplicates are counted on the stored alert, not stored again.
    for (case, fresh) in &fresh_per_case {
        let (s, view) = t.get(&format!("/v1/cases/{case}"), &analyst).await;
        assert_eq!(s, 200);
        let stored = view["alerts"].as_array().unwrap();
        assert_eq!(stored.len(), *fresh, "{case} stores only new events");
        let occurrences: u64 = stored.iter().map(|a| a["occurrences"].as_u64().unwrap()).sum();
        assert_eq!(occurrences as usize, seen_per_case[case], "{case} counts every sighting");
    }

    // Each case gets a recommendation over all of its alerts, in the background.
    drained(&t).await;
    let intrusion = case_of_group["intrusion"].iter().next().unwrap();
    let (_, view) = t.get(&format!("/v1/cases/{intrusion}"), &analyst).await;
    let recs = view["recommendations"].as_array().unwrap();
    assert!(!recs.is_empty(), "{view}");
    assert!(["recommended", "awaiting_approval", "needs_review"].contains(&view["state"].as_str().unwrap()), "{}", view["state"]);
    let current = recs.last().unwrap();
    let cited: String = current.to_string();
    assert!(cited.contains("SRV-DB-02") || cited.contains("srv-db-02") || current["recommendation"]["evidence"].as_array().unwrap().len() > 1, "{current}");
    let scanner = case_of_group["scanner"].iter().next().unwrap();
    let (_, view) = t.get(&format!("/v1/cases/{scanner}"), &analyst).await;
    let note = view["recommendations"].as_array().unwrap().last().unwrap()["recommendation"]["uncertainty"].to_string();
    assert!(note.contains("were not read"), "a case beyond 100 alerts says what was left out: {note}");
}

#[tokio::test]
async fn dedup_correlation_and_closed_cases_follow_the_windows() {
    let t = spawn_app().await;
    let engine = t.key("siem", Role::CaseEngine);
    let analyst = t.key("analyst", Role::Analyst);
    let sa = json!({"service_accounts": ["svc-deploy"], "cloud_accounts": ["123456789012"]});
    let first = alert("a-1", "2026-05-01T10:00:00Z", "r1", sa.clone(), json!({"eventName": "AttachUserPolicy"}));
    let again = alert("a-2", "2026-05-01T20:00:00Z", "r1", sa.clone(), json!({"eventName": "AttachUserPolicy"}));
    let other = alert("a-3", "2026-05-01T15:00:00Z", "r2", json!({"service_accounts": ["SVC-DEPLOY"]}), json!({"eventName": "CreateAccessKey"}));
    let r = stream(&t, &engine, &[first, again, other], 10).await;
    assert_eq!(r[0]["outcome"], "new_case");
    let case = r[0]["case_id"].as_str().unwrap().to_string();
    assert_eq!((r[1]["outcome"].as_str(), r[1]["case_id"].as_str()), (Some("duplicate"), Some(case.as_str())), "{}", r[1]);
    assert_eq!(r[1]["fingerprint"], r[0]["fingerprint"]);
    assert_eq!((r[2]["outcome"].as_str(), r[2]["case_id"].as_str()), (Some("attached"), Some(case.as_str())), "pivots compare lower-cased: {}", r[2]);

    // Outside the dedup window of the last sighting (20:00 + 24 h): a new event again.
    let late = alert("a-4", "2026-05-02T21:00:00Z", "r1", sa.clone(), json!({"eventName": "AttachUserPolicy"}));
    // Outside the correlation window (6 h after 20:00 at most… the newest pivot time is 20:00).
    let r = stream(&t, &engine, &[late], 10).await;
    assert_eq!(r[0]["outcome"], "new_case", "{}", r[0]);
    let later_case = r[0]["case_id"].as_str().unwrap().to_string();

    let (_, view) = t.get(&format!("/v1/cases/{case}"), &analyst).await;
    let stored = view["alerts"].as_array().unwrap();
    assert_eq!(stored.len(), 2);
    assert_eq!((stored[0]["occurrences"].as_u64(), stored[0]["first_seen"].as_str()), (Some(2), Some("2026-05-01T10:00:00.000Z")));
    assert_eq!(stored[0]["last_seen"], "2026-05-01T20:00:00.000Z");

    // A closed case never takes new alerts: a match opens a case that lists it.
    drained(&t).await;
    let close = json!({"disposition": "true_positive", "severity": "high", "techniques": ["T1098"], "note": "confirmed"});
    let (s, _) = t.post(&format!("/v1/cases/{case}/close"), &analyst, &close).await;
    assert_eq!(s, 200);
    let r = stream(
        &t,
        &engine,
        &[alert("a-5", "2026-05-01T16:00:00Z", "r3", json!({"service_accounts": ["svc-deploy"]}), json!({"eventName": "PutRolePolicy"}))],
        10,
    )
    .await;
    assert_eq!(r[0]["outcome"], "new_case");
    assert_ne!(r[0]["case_id"], json!(case));
    assert_ne!(r[0]["case_id"], json!(later_case), "16:00 is outside the later case's window");
    assert_eq!(r[0]["related_cases"], json!([case]), "{}", r[0]);
    let (_, v) = t.get(&format!("/v1/cases/{}", r[0]["case_id"].as_str().unwrap()), &analyst).await;
    assert_eq!(v["related_cases"], json!([case]));

    // A batch with one bad alert is refused whole. The queue is drained first, so that the
    // depth compared below can only move because of the refused batch.
    drained(&t).await;
    let before = t.app.store.queue_depth().unwrap();
    let good = alert("b-1", "2026-05-03T10:00:00Z", "r9", json!({"users": ["zed"]}), json!({}));
    let (s, body) = t.post("/v1/alerts", &engine, &json!({"alerts": [good, {"id": "b-2", "source": "x"}]})).await;
    assert_eq!(s, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("alerts[1]"), "{body}");
    let (_, queue) = t.get("/v1/cases", &analyst).await;
    assert!(!queue.to_string().contains("Rule r9"), "nothing of a refused batch is kept");
    assert_eq!(t.app.store.queue_depth().unwrap().0, before.0);
    // Roles and limits.
    let (s, _) = t.post("/v1/alerts", &analyst, &json!({"alerts": [alert("c-1", "2026-05-03T10:00:00Z", "r9", json!({}), json!({}))]})).await;
    assert_eq!(s, 403);
    let many: Vec<Value> = (0..501).map(|i| alert(&format!("m-{i}"), "2026-05-03T10:00:00Z", "r9", json!({}), json!({}))).collect();
    let (s, body) = t.post("/v1/alerts", &engine, &json!({"alerts": many})).await;
    assert_eq!((s, body["error"]["code"].as_str()), (400, Some("too_many_alerts")));
}

#[tokio::test]
async fn secrets_dedup_and_pivot_by_fingerprint_never_by_placeholder() {
    let t = spawn_app().await;
    let engine = t.key("siem", Role::CaseEngine);
    let analyst = t.key("analyst", Role::Analyst);
    let tok = |id: &str, secret: &str, time: &str| {
        json!({"id": id, "source": "github-secret-scanning", "time": time, "rule": {"id": "ss", "name": "Token in public gist", "severity": "high"},
               "entities": {"tokens": [secret]}, "fields": {"secret": secret}})
    };
    let a = "ghp_AAAAbbbbCCCCdddd1111222233334444eeee";
    let b = "ghp_ZZZZyyyyXXXXwwww9999888877776666vvvv";
    let r =
        stream(&t, &engine, &[tok("t-1", a, "2026-05-01T10:00:00Z"), tok("t-2", b, "2026-05-01T10:05:00Z"), tok("t-3", a, "2026-05-01T11:00:00Z")], 1).await;
    assert_eq!(r[0]["outcome"], "new_case");
    assert_eq!(r[1]["outcome"], "new_case", "another secret is another event, though both read [REDACTED:github_token#1]: {}", r[1]);
    assert_eq!(r[2]["outcome"], "duplicate");
    assert_eq!(r[2]["case_id"], r[0]["case_id"]);
    let (_, view) = t.get(&format!("/v1/cases/{}", r[0]["case_id"].as_str().unwrap()), &analyst).await;
    assert!(!view.to_string().contains(a), "the secret is never stored");
    drained(&t).await;
    let (_, view) = t.get(&format!("/v1/cases/{}", r[0]["case_id"].as_str().unwrap()), &analyst).await;
    assert!(!view.to_string().contains(a));
}

#[tokio::test]
async fn a_token_the_sender_already_redacted_ties_no_alerts_together() {
    let t = spawn_app().await;
    let engine = t.key("siem", Role::CaseEngine);
    let analyst = t.key("analyst", Role::Analyst);
    for (i, placeholder) in ["[REDACTED]", "***", "ghp_…(redacted by the sender)", "xoxb-...(masked)", "[REDACTED:github_token#1]"].iter().enumerate() {
        let okta = json!({"id": format!("o-{i}"), "source": "okta", "time": "2026-05-02T10:00:00Z",
                          "rule": {"id": "okta-mfa", "name": "MFA fatigue", "severity": "medium"},
                          "entities": {"users": [format!("alice{i}@corp.example")], "tokens": [placeholder]}});
        let gh = json!({"id": format!("g-{i}"), "source": "github-audit", "time": "2026-05-02T10:05:00Z",
                        "rule": {"id": "gh-clone", "name": "Mass clone", "severity": "high"},
                        "entities": {"users": [format!("bob{i}")], "repositories": [format!("acme/repo-{i}")], "tokens": [placeholder]}});
        let r = stream(&t, &engine, &[okta, gh], 10).await;
        assert_eq!(r[0]["outcome"], "new_case", "{placeholder}: {}", r[0]);
        assert_eq!(r[1]["outcome"], "new_case", "{placeholder} is no shared secret: {}", r[1]);
        assert_ne!(r[0]["case_id"], r[1]["case_id"]);
        let (_, g) = t.get(&format!("/v1/cases/{}/graph", r[0]["case_id"].as_str().unwrap()), &analyst).await;
        assert!(!g["nodes"].as_array().unwrap().iter().any(|n| n["kind"] == "token"), "{placeholder} drawn as a token: {g}");
    }
    // A real secret still ties them, by its fingerprint.
    let secret = "ghp_QQQQrrrrSSSStttt5555666677778888uuuu";
    let okta = json!({"id": "o-real", "source": "okta", "time": "2026-05-02T12:00:00Z", "rule": {"id": "okta-mfa", "name": "MFA fatigue"},
                      "entities": {"users": ["carol@corp.example"], "tokens": [secret]}});
    let gh = json!({"id": "g-real", "source": "github-audit", "time": "2026-05-02T12:05:00Z", "rule": {"id": "gh-clone", "name": "Mass clone"},
                    "entities": {"users": ["dave"], "tokens": [secret]}});
    let r = stream(&t, &engine, &[okta, gh], 10).await;
    assert_eq!((r[0]["outcome"].as_str(), r[1]["outcome"].as_str()), (Some("new_case"), Some("attached")), "{r:?}");
    let (_, fp) = t.post("/v1/fingerprint", &t.key("soar", Role::Soar), &json!({"secret": secret})).await;
    let (_, g) = t.get(&format!("/v1/cases/{}/graph", r[0]["case_id"].as_str().unwrap()), &analyst).await;
    let token = format!("token:{}", fp["fingerprint"].as_str().unwrap());
    assert!(g["nodes"].as_array().unwrap().iter().any(|n| n["id"] == token.as_str()), "{token} not in {g}");
}

#[tokio::test]
async fn an_alert_sent_again_with_other_content_replaces_the_one_its_case_holds() {
    let t = spawn_app().await;
    let engine = t.key("siem", Role::CaseEngine);
    let analyst = t.key("analyst", Role::Analyst);
    let sysmon = |id: &str, time: &str, severity: &str, cmd: &str| {
        json!({"id": id, "source": "sysmon", "time": time, "rule": {"id": format!("r-{cmd}"), "name": format!("{cmd} ran"), "severity": severity},
               "entities": {"users": ["CORP\\mallory"], "hosts": ["WS-077"]}, "fields": {"CommandLine": cmd, "Image": format!("C:\\Tools\\{cmd}.exe")}})
    };
    let r =
        stream(&t, &engine, &[sysmon("s1", "2026-05-04T10:00:00Z", "medium", "net"), sysmon("s2", "2026-05-04T10:01:00Z", "critical", "mimikatz")], 10).await;
    let case = r[0]["case_id"].as_str().unwrap().to_string();
    let again = stream(&t, &engine, &[sysmon("s2", "2026-05-04T10:02:00Z", "low", "whoami")], 1).await;
    assert_eq!((again[0]["outcome"].as_str(), again[0]["case_id"].as_str()), (Some("attached"), Some(case.as_str())), "{again:?}");
    let same = stream(&t, &engine, &[sysmon("s2", "2026-05-04T10:03:00Z", "low", "whoami")], 1).await;
    assert_eq!(same[0]["outcome"], "duplicate", "the same content under the same id is counted: {same:?}");
    let stored = t.app.store.case_alerts(&case).unwrap();
    let ids: Vec<&str> = stored.iter().map(|a| a.alert_id.as_str()).collect();
    assert_eq!(ids, ["s1", "s2"], "one alert per id in a case");
    assert_eq!(stored[1].alert["fields"]["CommandLine"], "whoami", "the newest sending wins");
    assert_eq!(stored[1].occurrences, 2);
    drained(&t).await;
    let (s, view) = t.get(&format!("/v1/cases/{case}"), &analyst).await;
    assert_eq!(s, 200, "{view}");
    assert_eq!(view["alerts"].as_array().unwrap().len(), 2, "{view}");

    // Closed with a corrected verdict, its eval case holds each id once and runs.
    let close = json!({"disposition": "true_positive", "severity": "critical", "techniques": ["T1003.001"], "note": "credential dumping"});
    let (s, v) = t.post(&format!("/v1/cases/{case}/close"), &analyst, &close).await;
    assert_eq!(s, 200, "{v}");
    if let Some(task) = v["learning"].as_array().unwrap().iter().find(|t| t["kind"] == "eval_case") {
        let line: Value = serde_json::from_str(task["draft"].as_str().unwrap()).unwrap();
        let ids: Vec<&str> = line["alerts"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["s1", "s2"]);
        let (s, body) = t.post("/v1/recommend", &engine, &json!({"alerts": line["alerts"]})).await;
        assert_eq!(s, 200, "{body}");
    }
}

#[tokio::test]
async fn the_transition_table_refuses_what_it_does_not_list_and_closing_stops_the_outbox() {
    let t = common::spawn_app().await;
    let engine = t.key("siem", Role::CaseEngine);
    let analyst = t.key("analyst", Role::Analyst);
    let soar = t.key("soar", Role::Soar);
    let approver = t.key("approver", Role::Approver);
    // A production cloud alert: the baseline proposes containment, which waits on people.
    let cloud = json!({"case_id": "tt-1", "alerts": [{
        "id": "ct-1", "source": "aws-cloudtrail", "time": "2026-05-11T22:04:19Z",
        "rule": {"name": "Access key used from TOR exit node", "severity": "high"},
        "entities": {"users": ["svc-ci"], "ips": ["185.220.101.4"], "cloud_accounts": ["123456789012"]},
        "asset": {"environment": "production", "criticality": "high"},
        "fields": {"eventName": "CreateAccessKey", "sourceIPAddress": "185.220.101.4", "userIdentity": {"type": "IAMUser", "userName": "svc-ci"}}
    }]});
    let (s, rec) = t.post("/v1/recommend", &engine, &cloud).await;
    assert_eq!(s, 200, "{rec}");

    // Recovery only follows an execution.
    let (s, body) = t.post("/v1/cases/tt-1/recover", &analyst, &json!({"note": "back"})).await;
    assert_eq!((s, body["error"]["code"].as_str()), (409, Some("invalid_transition")), "{body}");

    let (_, view) = t.get("/v1/cases/tt-1", &analyst).await;
    let mut pending: Vec<String> =
        view["approvals"].as_array().unwrap().iter().filter(|a| a["status"] == "pending").map(|a| a["approval_id"].as_str().unwrap().to_string()).collect();
    assert!(pending.len() >= 2, "the production containment proposals wait on people: {view}");
    // One action approved before closure: it sits in the outbox until the case closes.
    let one = view["approvals"].as_array().unwrap().iter().find(|a| a["status"] == "pending" && a["required_approvals"] == 1 && a["kind"] == "action");
    let approved = one.unwrap_or_else(|| panic!("a one-approver action: {view}"))["approval_id"].as_str().unwrap().to_string();
    pending.retain(|p| *p != approved);
    let (s, a) = t.post(&format!("/v1/approvals/{approved}/decisions"), &approver, &json!({"decision": "approve", "rationale": "contain"})).await;
    assert_eq!(s, 200, "{a}");
    let approved_action = if a["status"] == "approved" {
        let id = a["action"]["action_id"].as_str().unwrap().to_string();
        let (_, outbox) = t.get("/v1/actions?status=approved", &soar).await;
        assert!(outbox.to_string().contains(&id), "approved before closure: in the outbox");
        Some(id)
    } else {
        None // a two-person action still waits for its second approver
    };

    // Close: pending approvals expire, nothing reaches the outbox, decisions are refused.
    let close = json!({"disposition": "false_positive", "severity": "low", "note": "pentest"});
    let (s, closed) = t.post("/v1/cases/tt-1/close", &analyst, &close).await;
    assert_eq!(s, 200, "{closed}");
    for id in &pending {
        let (s, body) = t.post(&format!("/v1/approvals/{id}/decisions"), &approver, &json!({"decision": "approve", "rationale": "ok"})).await;
        assert_eq!((s, body["error"]["code"].as_str()), (409, Some("approval_closed")), "{body}");
    }
    let (_, outbox) = t.get("/v1/actions?status=approved", &soar).await;
    assert!(!outbox.to_string().contains("tt-1"), "{outbox}");
    let (_, all) = t.get("/v1/actions", &soar).await;
    for action in all["actions"].as_array().unwrap().iter().filter(|x| x["case_id"] == "tt-1") {
        assert!(["expired", "cancelled"].contains(&action["status"].as_str().unwrap()), "{action}");
    }
    let id = approved_action.expect("a one-approver action was approved before closure");
    let action = all["actions"].as_array().unwrap().iter().find(|x| x["action_id"] == id.as_str()).unwrap();
    assert_eq!(action["status"], "cancelled", "an approved action no SOAR reported on is cancelled at closure");
    let (s, body) = t.post(&format!("/v1/actions/{id}/outcome"), &soar, &json!({"status": "executed", "detail": "late"})).await;
    assert_eq!(s, 409, "{body}");
    let (_, audit) = t.get("/v1/audit", &t.key("admin", Role::Admin)).await;
    assert!(audit.to_string().contains("case_closed"), "expiries say why");

    // A closed case takes no recommendation, no recovery, no assignment.
    let (s, body) = t.post("/v1/recommend", &engine, &cloud).await;
    assert_eq!((s, body["error"]["code"].as_str()), (409, Some("case_closed")), "{body}");
    let (s, body) = t.post("/v1/cases/tt-1/recover", &analyst, &json!({"note": "x"})).await;
    assert_eq!((s, body["error"]["code"].as_str()), (409, Some("invalid_transition")), "{body}");
    let (s, body) = t.post("/v1/cases/tt-1/assign", &analyst, &json!({"assignee": "bob"})).await;
    assert_eq!((s, body["error"]["code"].as_str()), (409, Some("case_closed")), "{body}");
    // Every transition is in the history and the audit trail.
    let (_, view) = t.get("/v1/cases/tt-1", &analyst).await;
    let history: Vec<(Value, Value)> = view["history"].as_array().unwrap().iter().map(|h| (h["from"].clone(), h["to"].clone())).collect();
    assert_eq!(history.first().unwrap(), &(Value::Null, json!("new")));
    assert_eq!(history.last().unwrap().1, json!("closed"));
    let transitions = audit["entries"].as_array().unwrap().iter().filter(|e| e["kind"] == "case.transition" && e["subject"] == "tt-1").count();
    assert_eq!(transitions, history.len() - 1, "every move after opening is audited");
}

#[tokio::test]
async fn the_queue_shows_owner_sla_freshness_and_sorts_and_analysts_merge_and_split() {
    let t = spawn_app().await;
    let engine = t.key("siem", Role::CaseEngine);
    let analyst = t.key("analyst", Role::Analyst);
    let crit = json!({"id": "q-1", "source": "edr", "time": "2026-05-01T10:00:00Z", "rule": {"id": "x1", "name": "Ransomware note written", "severity": "critical"},
                      "entities": {"hosts": ["FS-01"]}, "fields": {"TargetFilename": "C:\\Shares\\README_RESTORE.txt"}});
    let low = json!({"id": "q-2", "source": "edr", "time": "2026-05-01T09:00:00Z", "rule": {"id": "x2", "name": "Adware installer", "severity": "low"},
                     "entities": {"hosts": ["WS-77"]}, "fields": {"Image": "C:\\Users\\p\\Downloads\\free.exe"}});
    let also = json!({"id": "q-3", "source": "edr", "time": "2026-05-01T09:30:00Z", "rule": {"id": "x3", "name": "Adware persistence", "severity": "low"},
                      "entities": {"hosts": ["WS-78"]}, "fields": {"TargetObject": "HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\\free"}});
    let r = stream(&t, &engine, &[crit, low, also], 10).await;
    let (c1, c2, c3) = (r[0]["case_id"].as_str().unwrap(), r[1]["case_id"].as_str().unwrap(), r[2]["case_id"].as_str().unwrap());
    drained(&t).await;

    let (s, _) = t.post(&format!("/v1/cases/{c2}/assign"), &engine, &json!({"assignee": "alice"})).await;
    assert_eq!(s, 403);
    let (s, v) = t.post(&format!("/v1/cases/{c2}/assign"), &analyst, &json!({"assignee": "alice"})).await;
    assert_eq!((s, v["assignee"].as_str()), (200, Some("alice")), "{v}");

    let (s, q) = t.get("/v1/cases?sort=sla", &analyst).await;
    assert_eq!(s, 200, "{q}");
    let cases = q["cases"].as_array().unwrap();
    assert_eq!(cases[0]["case_id"], c1, "the critical case is due first: {q}");
    let first = &cases[0];
    assert_eq!(first["sla"]["due_at"], "2026-05-01T11:00:00.000Z");
    assert_eq!(first["sla"]["breached"], true);
    assert_eq!(first["freshness"]["newest_alert_at"], "2026-05-01T10:00:00.000Z");
    assert!(first["freshness"]["age_seconds"].as_i64().unwrap() > 0);
    assert!(first["confidence"].is_number(), "{first}");
    for key in ["assignee", "opened_at", "missing_context", "blocked_actions", "related_cases"] {
        assert!(first.get(key).is_some(), "{key} missing from {first}");
    }
    let (_, mine) = t.get("/v1/cases?assignee=alice", &analyst).await;
    assert_eq!(mine["cases"].as_array().unwrap().len(), 1);
    let (s, _) = t.get("/v1/cases?sort=mood", &analyst).await;
    assert_eq!(s, 400);
    let (s, _) = t.get("/v1/cases?state=reopened", &analyst).await;
    assert_eq!(s, 400);
    let (s, _) = t.get("/v1/cases", &engine).await;
    assert_eq!(s, 200, "case engines read the queue");

    // Merge the two adware cases; the merged one closes with merged_into.
    let (s, v) = t.post(&format!("/v1/cases/{c2}/merge"), &analyst, &json!({"from": [c3]})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["alerts"].as_array().unwrap().len(), 2);
    let (_, gone) = t.get(&format!("/v1/cases/{c3}"), &analyst).await;
    assert_eq!((gone["state"].as_str(), gone["merged_into"].as_str()), (Some("closed"), Some(c2)), "{gone}");
    let (s, body) = t.post(&format!("/v1/cases/{c2}/merge"), &analyst, &json!({"from": [c3]})).await;
    assert_eq!((s, body["error"]["code"].as_str()), (409, Some("case_closed")));
    // Split one back out.
    let (s, v) = t.post(&format!("/v1/cases/{c2}/split"), &analyst, &json!({"alert_ids": ["q-3"]})).await;
    assert_eq!(s, 201, "{v}");
    let split = v["case_id"].as_str().unwrap();
    let (_, v) = t.get(&format!("/v1/cases/{split}"), &analyst).await;
    assert_eq!(v["alerts"][0]["alert_id"], "q-3");
    let (s, _) = t.post(&format!("/v1/cases/{c2}/split"), &analyst, &json!({"alert_ids": ["q-2"]})).await;
    assert_eq!(s, 409, "a split leaves at least one alert");
    drained(&t).await;
    let (_, v) = t.get(&format!("/v1/cases/{split}"), &analyst).await;
    assert!(!v["recommendations"].as_array().unwrap().is_empty(), "a split case is recommended again");
}

#[tokio::test]
async fn the_graph_draws_what_the_alerts_name() {
    let t = spawn_app().await;
    let engine = t.key("siem", Role::CaseEngine);
    let analyst = t.key("analyst", Role::Analyst);
    let a = json!({"id": "g-1", "source": "sysmon", "time": "2026-05-01T10:00:00Z", "rule": {"id": "g", "name": "Office spawned PowerShell", "severity": "high"},
                   "entities": {"users": ["CORP\\jdoe"], "hosts": ["WS-042"]},
                   "fields": {"Image": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe", "ParentImage": "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE",
                              "CommandLine": "powershell -enc AAAA"}});
    let b = json!({"id": "g-2", "source": "sysmon", "time": "2026-05-01T10:05:00Z", "rule": {"id": "g2", "name": "Connection to rare IP", "severity": "medium"},
                   "entities": {"hosts": ["ws-042"], "ips": ["198.51.100.23"]}, "fields": {"DestinationIp": "198.51.100.23"}});
    let r = stream(&t, &engine, &[a, b], 10).await;
    assert_eq!(r[1]["outcome"], "attached");
    let case = r[0]["case_id"].as_str().unwrap();
    let (s, g) = t.get(&format!("/v1/cases/{case}/graph"), &analyst).await;
    assert_eq!(s, 200, "{g}");
    let nodes: Vec<&str> = g["nodes"].as_array().unwrap().iter().map(|n| n["id"].as_str().unwrap()).collect();
    for want in ["host:ws-042", "user:CORP\\jdoe", "ip:198.51.100.23", "alert:g-1", "alert:g-2"] {
        assert!(nodes.contains(&want), "{want} not in {nodes:?}");
    }
    let host = g["nodes"].as_array().unwrap().iter().find(|n| n["id"] == "host:ws-042").unwrap();
    assert_eq!(host["alerts"], json!(["g-1", "g-2"]), "one node however many alerts name it");
    let edges = g["edges"].as_array().unwrap();
    assert!(edges.iter().any(|e| e["relation"] == "parent_of"), "{edges:?}");
    assert!(edges.iter().any(|e| e["from"] == "user:CORP\\jdoe" && e["to"] == "host:ws-042" && e["relation"] == "acted_on"), "{edges:?}");
    let (s, _) = t.get("/v1/cases/nope/graph", &analyst).await;
    assert_eq!(s, 404);
}
