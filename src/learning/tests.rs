use std::path::Path;

use serde_json::{Value, json};

use super::*;
use crate::attack::Catalog;
use crate::corpus::sigma::parse_rule;
use crate::severity::Severity;

fn alert(v: Value) -> Alert {
    Alert::parse(0, &v).unwrap_or_else(|e| panic!("{e}: {v}"))
}

fn closed(disposition: Disposition, severity: Severity, techniques: &[&str]) -> ClosedCase {
    ClosedCase {
        disposition,
        severity,
        techniques: techniques.iter().map(|t| t.to_string()).collect(),
        note: "Bloomberg add-in refresh, deployed by IT to the whole HR floor.".into(),
        closed_by: "alice".into(),
        closed_at: "2026-03-04T09:30:00Z".into(),
    }
}

fn sysmon(id: &str, time: &str, guid: &str, pid: u32, image: &str, rule_id: &str) -> Value {
    json!({
        "id": id, "source": "sysmon", "time": time,
        "rule": { "id": rule_id, "name": "Office application spawned unusual child process", "severity": "medium" },
        "entities": { "users": ["INITECH\\wsilva"], "hosts": ["HR-LT-0657"] },
        "asset": { "environment": "production", "criticality": "high", "owner": "hr-systems" },
        "fields": {
            "EventID": 1,
            "UtcTime": time,
            "ProcessGuid": guid,
            "ProcessId": pid,
            "Image": image,
            "OriginalFileName": "bplus.exe",
            "CommandLine": format!("\"{image}\" /addin refresh /session {guid} /auth [REDACTED:api_token#{pid}]"),
            "ParentImage": "C:\\Program Files\\Microsoft Office\\root\\Office16\\EXCEL.EXE",
            "ParentProcessId": pid - 100,
            "User": "INITECH\\wsilva",
            "Computer": "HR-LT-0657",
            "Hashes": "SHA256=9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08",
            "LogonGuid": guid
        }
    })
}

const BPLUS: &str = "C:\\Program Files (x86)\\blp\\Wintrv\\bplus.exe";
const RULE: &str = "sysmon-fe059e67";

fn sysmon_alerts() -> (Alert, Vec<Alert>) {
    let this = alert(sysmon("sysm-1", "2026-03-02T10:15:00Z", "{4F1C2A3B-1111-2222-3333-444455556666}", 4242, BPLUS, RULE));
    let past = vec![
        // The alert itself, as the store would list it.
        this.clone(),
        // Near-identical: other times, GUIDs, process ids and redacted token.
        alert(sysmon("sysm-0", "2026-02-20T08:01:02Z", "{AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE}", 9001, BPLUS, RULE)),
        alert(sysmon("sysm-00", "2026-02-11T17:45:13Z", "{12345678-9ABC-DEF0-1234-56789ABCDEF0}", 777, BPLUS, RULE)),
        // Same rule, another program: must not be excluded.
        alert(sysmon(
            "sysm-x",
            "2026-02-21T08:01:02Z",
            "{AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEF}",
            9002,
            "C:\\Users\\wsilva\\AppData\\Local\\Temp\\bplus.exe",
            RULE,
        )),
        // The same pattern under another rule: the tuned rule's filter doesn't touch it.
        alert(sysmon("sysm-y", "2026-02-22T08:01:02Z", "{AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEE0}", 9003, BPLUS, "sysmon-other")),
    ];
    (this, past)
}

/// Parses like the Sigma importer and checks the keys a valid Sigma rule needs.
fn assert_valid_sigma(yaml: &str) -> serde_yaml::Value {
    let catalog = Catalog::embedded().unwrap();
    let (doc, unknown) = parse_rule(yaml, &catalog).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    assert!(unknown.is_empty());
    let v: serde_yaml::Value = serde_yaml::from_str(yaml).unwrap();
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or_else(|| panic!("no `{k}`\n{yaml}")).to_string();
    let id = uuid::Uuid::parse_str(&s("id")).unwrap();
    assert_eq!(id.get_version_num(), 8);
    assert_eq!(doc.id, id.to_string());
    assert_eq!(s("status"), "experimental");
    assert_eq!(s("level"), "informational");
    assert!(!s("title").is_empty() && s("title").len() <= 256);
    assert!(s("description").contains("not filter_"), "{yaml}");
    let fps = v.get("falsepositives").and_then(|f| f.as_sequence()).unwrap();
    assert!(!fps.is_empty());
    let det = v.get("detection").and_then(|d| d.as_mapping()).unwrap();
    let cond = det.get("condition").and_then(|c| c.as_str()).unwrap();
    assert!(cond.starts_with("filter_"), "{cond}");
    assert!(det.get(cond).and_then(|s| s.as_mapping()).is_some_and(|m| m.len() >= sigma::MIN_FIELDS));
    v
}

/// No placeholder anywhere, and no time, id or hash of the alerts in the detection.
fn assert_nothing_volatile(yaml: &str, alerts: &[&Alert]) {
    assert!(!yaml.contains("REDACTED"), "{yaml}");
    let v: serde_yaml::Value = serde_yaml::from_str(yaml).unwrap();
    let detection = serde_yaml::to_string(v.get("detection").unwrap()).unwrap();
    for a in alerts {
        assert!(!yaml.contains(&a.time.to_rfc3339()) && !yaml.contains(&a.time.format("%Y-%m-%dT%H:%M:%S").to_string()), "{yaml}");
        assert!(!detection.contains(&a.time.format("%Y-%m-%d").to_string()), "{yaml}");
        crate::jsonpath::for_each_scalar(&a.fields, "", &mut |path, text| {
            let lower = path.to_ascii_lowercase();
            // Account ids stay: they are part of the ARNs a filter names.
            let volatile = ["time", "guid", "processid", "eventid", "requestid", "hashes", "accesskeyid", "principalid", "creationdate", "published"]
                .iter()
                .any(|w| lower.ends_with(w));
            if volatile && text.len() >= 4 {
                assert!(!detection.contains(text), "{path} = {text} in\n{yaml}");
            }
        });
    }
}

#[test]
fn a_sysmon_false_positive_drafts_a_filter_that_matches_its_pattern_only() {
    let (this, past) = sysmon_alerts();
    let draft = sigma_filter(&this, &past).unwrap();
    let v = assert_valid_sigma(&draft.yaml);
    let ls = v.get("logsource").unwrap();
    assert_eq!(ls.get("product").and_then(|x| x.as_str()), Some("windows"));
    assert_eq!(ls.get("service").and_then(|x| x.as_str()), Some("sysmon"));
    let names: Vec<&str> = draft.fields.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(names, ["Image", "OriginalFileName", "ParentImage", "CommandLine", "User", "Computer"]);
    let cmd = &draft.fields.iter().find(|(f, _)| f == "CommandLine").unwrap().1;
    assert_eq!(cmd, "\"C:\\Program Files (x86)\\blp\\Wintrv\\bplus.exe\" /addin refresh /session * /auth *");

    assert_eq!(matches(&draft.yaml, &this), Ok(true));
    assert_eq!(matches(&draft.yaml, &past[1]), Ok(true));
    assert_eq!(matches(&draft.yaml, &past[2]), Ok(true));
    assert_eq!(matches(&draft.yaml, &past[3]), Ok(false));
    // The other rule's alert matches the filter but isn't counted: the filter tunes one rule.
    assert_eq!(matches(&draft.yaml, &past[4]), Ok(true));
    assert_eq!(draft.would_exclude, 2);
    assert!(draft.yaml.contains("matches 2 earlier alerts"), "{}", draft.yaml);
    assert_nothing_volatile(&draft.yaml, &past.iter().collect::<Vec<_>>());

    // The id depends on the pattern only: a near-identical alert drafts the same rule id.
    let again = sigma_filter(&past[1], &[]).unwrap();
    assert_eq!(again.fields, draft.fields);
    let id = |y: &str| serde_yaml::from_str::<serde_yaml::Value>(y).unwrap().get("id").and_then(|x| x.as_str()).map(str::to_string);
    assert_eq!(id(&again.yaml), id(&draft.yaml));
    assert_ne!(id(&sigma_filter(&past[3], &[]).unwrap().yaml), id(&draft.yaml));
}

fn cloudtrail(id: &str, time: &str, session: &str, arn_user: Option<&str>, agent: &str, request: &str) -> Value {
    let arn = match arn_user {
        Some(u) => format!("arn:aws:iam::111122223333:user/{u}"),
        None => format!("arn:aws:sts::111122223333:assumed-role/terraform-apply/{session}"),
    };
    json!({
        "id": id, "source": "aws-cloudtrail", "time": time,
        "rule": { "id": "1b4f39c1-acce-78c7-4972-68995f3d59e3", "name": "Instances launched in region with no prior footprint", "severity": "medium" },
        "entities": { "cloud_accounts": ["111122223333"] },
        "asset": { "environment": "production", "criticality": "medium", "owner": "platform-networking" },
        "fields": {
            "eventVersion": "1.09",
            "eventTime": time,
            "eventSource": "ec2.amazonaws.com",
            "eventName": "RunInstances",
            "awsRegion": "eu-central-2",
            "sourceIPAddress": "10.6.53.31",
            "userAgent": agent,
            "userIdentity": {
                "type": "AssumedRole",
                "principalId": format!("AROAEXAMPLEQXHULTDDG:{session}"),
                "arn": arn,
                "accountId": "111122223333",
                "accessKeyId": "[REDACTED:aws_access_key#1]",
                "sessionContext": {
                    "sessionIssuer": { "type": "Role", "principalId": "AROAEXAMPLEQXHULTDDG", "arn": "arn:aws:iam::111122223333:role/terraform-apply", "accountId": "111122223333", "userName": "terraform-apply" },
                    "attributes": { "creationDate": time, "mfaAuthenticated": "false" }
                }
            },
            "requestID": request,
            "eventID": format!("{request}-e"),
            "readOnly": false,
            "recipientAccountId": "111122223333"
        }
    })
}

#[test]
fn a_cloudtrail_benign_alert_drafts_a_filter_on_the_role_and_api_not_the_session() {
    let this = alert(cloudtrail("ct-1", "2026-03-02T10:15:00Z", "atlantis-3084", None, "Terraform/1.8.5", "7a1c0e0b-0f6b-4b8e-9d1e-1c2f3a4b5c6d"));
    let near = alert(cloudtrail("ct-0", "2026-02-27T22:08:53Z", "atlantis-2990", None, "Terraform/1.8.5", "0b4e7f1e-2a3c-4d5e-8f90-a1b2c3d4e5f6"));
    let other = alert(cloudtrail("ct-x", "2026-02-28T03:00:00Z", "s", Some("mallory"), "aws-cli/2.15.0", "c0ffee00-0000-4000-8000-000000000000"));
    let draft = sigma_filter(&this, &[near.clone(), other.clone()]).unwrap();
    let v = assert_valid_sigma(&draft.yaml);
    let ls = v.get("logsource").unwrap();
    assert_eq!(ls.get("product").and_then(|x| x.as_str()), Some("aws"));
    assert_eq!(ls.get("service").and_then(|x| x.as_str()), Some("cloudtrail"));
    let got: Vec<(&str, &str)> = draft.fields.iter().map(|(f, v)| (f.as_str(), v.as_str())).collect();
    assert_eq!(
        got,
        [
            ("userIdentity.arn", "arn:aws:sts::111122223333:assumed-role/terraform-apply/*"),
            ("userIdentity.sessionContext.sessionIssuer.arn", "arn:aws:iam::111122223333:role/terraform-apply"),
            ("eventSource", "ec2.amazonaws.com"),
            ("eventName", "RunInstances"),
            ("userAgent", "Terraform/1.8.5"),
        ]
    );
    assert_eq!(matches(&draft.yaml, &this), Ok(true));
    assert_eq!(matches(&draft.yaml, &near), Ok(true));
    assert_eq!(matches(&draft.yaml, &other), Ok(false));
    assert_eq!(draft.would_exclude, 1);
    assert!(!draft.yaml.contains("atlantis"), "{}", draft.yaml);
    assert_nothing_volatile(&draft.yaml, &[&this, &near, &other]);
}

#[test]
fn literal_dotted_keys_and_nested_objects_round_trip_through_the_matcher() {
    let falco = alert(json!({
        "id": "f-1", "source": "falco", "time": "2026-03-02T10:15:00Z", "rule": { "name": "Terminal shell in container" },
        "fields": { "proc.cmdline": "bash -c /opt/health/check.sh", "proc.name": "bash", "proc.pname": "runc", "container.image.repository": "registry.corp/payments/api",
                    "k8s.pod.name": "api-7d9f8c6b5-x2k4q", "evt.time": 1772446500000u64 }
    }));
    let draft = sigma_filter(&falco, &[]).unwrap();
    assert_valid_sigma(&draft.yaml);
    assert!(draft.yaml.contains("product: falco"));
    assert!(draft.fields.iter().any(|(f, _)| f == "proc.cmdline"));
    assert!(!draft.fields.iter().any(|(f, _)| f.starts_with("k8s.pod") || f.starts_with("evt")));
    assert_eq!(matches(&draft.yaml, &falco), Ok(true));

    let okta = alert(json!({
        "id": "o-1", "source": "okta", "time": "2026-03-02T10:15:00Z", "rule": { "name": "MFA push fatigue" },
        "fields": { "eventType": "user.authentication.auth_via_mfa", "actor": { "id": "00u1abcd", "alternateId": "svc-sync@corp.example", "type": "User" },
                    "client": { "userAgent": { "rawUserAgent": "okta-sync/3.2" }, "ipAddress": "198.51.100.7" }, "published": "2026-03-02T10:14:59.000Z" }
    }));
    let draft = sigma_filter(&okta, &[]).unwrap();
    assert_valid_sigma(&draft.yaml);
    assert!(draft.yaml.contains("product: okta"));
    let names: Vec<&str> = draft.fields.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(names, ["actor.alternateId", "eventType", "client.userAgent.rawUserAgent"]);
    assert_eq!(matches(&draft.yaml, &okta), Ok(true));
}

#[test]
fn an_alert_without_enough_stable_fields_drafts_no_filter() {
    let bare = alert(json!({
        "id": "b-1", "source": "app-logs", "time": "2026-03-02T10:15:00Z", "rule": { "name": "Error burst" },
        "fields": { "count_5m": 412, "date": "2026-03-02", "eventName": "Error", "request_id": "8c5e1c2a-0000-4000-8000-000000000000" }
    }));
    assert_eq!(sigma_filter(&bare, &[]), None);
}

/// Every filter drafted from the benign and false-positive samples of the gold dataset is
/// valid Sigma and matches the alert it came from, whatever the source's field shapes.
#[test]
fn every_filter_drafted_from_the_gold_set_is_valid_and_matches_its_alert() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("evals/gold.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let (samples, _) = crate::eval::dataset::parse_text(&path, &text);
    let mut redactor = crate::alert::Redactor::new();
    let (mut drafted, mut seen) = (0, 0);
    for s in samples.iter().filter(|s| matches!(s.gold.disposition, Some(Disposition::Benign | Disposition::FalsePositive))) {
        for raw in &s.alerts {
            let Ok(a) = Alert::parse(0, &redactor.redact_value(raw)) else { continue };
            seen += 1;
            let Some(d) = sigma_filter(&a, &[]) else { continue };
            drafted += 1;
            assert_valid_sigma(&d.yaml);
            assert_eq!(matches(&d.yaml, &a), Ok(true), "{}\n{}", s.id, d.yaml);
            assert_nothing_volatile(&d.yaml, &[&a]);
        }
    }
    assert!(seen > 20 && drafted * 2 > seen, "drafted {drafted} filters for {seen} benign alerts");
}

fn recommendation(severity: &str, techniques: &[&str]) -> Value {
    json!({
        "recommendation_id": "rec_1", "case_id": "c-7", "status": "ready",
        "recommendation": {
            "severity": severity, "confidence": 0.7, "hypothesis": "Office spawned encoded PowerShell",
            "attack": techniques.iter().map(|t| json!({ "technique_id": t, "name": "PowerShell", "tactics": ["execution"], "rationale": "…" })).collect::<Vec<_>>(),
            "evidence": [
                { "ref": "runbook:rb-encoded-powershell", "quote": "Encoded commands from Office are high." },
                { "ref": "alert:a-1#fields.CommandLine", "quote": "-enc" },
                { "ref": "runbook:rb-encoded-powershell", "quote": null }
            ],
            "uncertainty": [], "proposed_actions": [], "summary": "…"
        }
    })
}

fn tp_alert_json() -> Value {
    json!({
        "id": "a-1", "source": "sysmon", "time": "2026-03-02T10:15:00Z",
        "rule": { "id": "r-123", "name": "Encoded PowerShell spawned by Office", "severity": "high" },
        "entities": { "hosts": ["WS-042"] },
        "asset": { "environment": "production", "criticality": "high", "owner": "payments-team" },
        "fields": { "CommandLine": "powershell -enc SQBFAFgA", "ParentImage": "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE" }
    })
}

fn counter() -> impl FnMut() -> String {
    let mut n = 0;
    move || {
        n += 1;
        format!("lt_{n}")
    }
}

#[test]
fn a_true_positive_with_corrected_techniques_drafts_a_runbook_edit_and_an_eval_case() {
    let raw = tp_alert_json();
    let alerts = vec![alert(raw.clone())];
    let rec = recommendation("high", &["T1059.001"]);
    let verdict = closed(Disposition::TruePositive, Severity::High, &["T1059.001", "t1105"]);
    let tasks = drafts("c-7", &alerts, std::slice::from_ref(&raw), Some(&rec), &verdict, &[], counter());
    let kinds: Vec<TaskKind> = tasks.iter().map(|t| t.kind).collect();
    assert_eq!(kinds, [TaskKind::RunbookEdit, TaskKind::EvalCase]);
    assert_eq!(tasks.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), ["lt_1", "lt_2"]);
    assert!(tasks.iter().all(|t| t.status == TaskStatus::Open && t.case_id == "c-7"));

    let md = &tasks[0].draft;
    assert!(md.contains("`runbook:rb-encoded-powershell`"), "{md}");
    assert_eq!(md.matches("runbook:rb-encoded-powershell").count(), 2, "cited once, named once in the suggestion:\n{md}");
    assert!(md.contains("| ATT&CK techniques | T1059.001 (PowerShell) | T1059.001, **T1105** |"), "{md}");
    assert!(md.contains("**Techniques to add:** T1105"), "{md}");
    assert!(!md.contains("**Severity:**"), "severity was not corrected:\n{md}");
    assert!(md.contains("> Bloomberg add-in refresh"), "{md}");

    let (samples, info) = crate::eval::dataset::parse_text(Path::new("learning.jsonl"), &tasks[1].draft);
    assert!(info.skipped.is_empty(), "{:?}", info.skipped);
    let s = &samples[0];
    assert_eq!(s.id, "case-c-7");
    assert_eq!(s.gold.severity, Some(Severity::High));
    assert_eq!(s.gold.techniques, ["T1059.001", "T1105"]);
    assert_eq!(s.gold.disposition, Some(Disposition::TruePositive));
    assert_eq!(s.source.as_deref(), Some("case:c-7"));
    assert_eq!(s.license.as_deref(), Some("internal"));
    assert_eq!(s.tags, ["from_case", "true_positive", "sysmon"]);
    assert_eq!(s.alerts, vec![raw]);
}

#[test]
fn a_corrected_severity_is_named_with_its_direction() {
    let raw = tp_alert_json();
    let alerts = vec![alert(raw.clone())];
    let verdict = closed(Disposition::TruePositive, Severity::Critical, &["T1059.001"]);
    let md = runbook_edit("c-8", &alerts, &recommendation("high", &["T1059.001"]), &verdict).unwrap();
    assert!(md.contains("| Severity | high | **critical** |"), "{md}");
    assert!(md.contains("**Severity:** raise the rating from high to **critical**"), "{md}");
    assert!(md.contains("on production assets of high criticality"), "{md}");
    assert!(!md.contains("Techniques to add"), "{md}");
    // The bare recommendation object works as well as the served response.
    let bare = recommendation("high", &["T1059.001"])["recommendation"].clone();
    assert_eq!(runbook_edit("c-8", &alerts, &bare, &verdict).as_deref(), Some(md.as_str()));
}

#[test]
fn an_uncorrected_true_positive_drafts_nothing() {
    let raw = tp_alert_json();
    let alerts = vec![alert(raw.clone())];
    let rec = recommendation("high", &["T1059.001"]);
    // Same severity, same technique in another spelling.
    let verdict = closed(Disposition::TruePositive, Severity::High, &["t1059.001"]);
    assert_eq!(runbook_edit("c-9", &alerts, &rec, &verdict), None);
    assert!(drafts("c-9", &alerts, std::slice::from_ref(&raw), Some(&rec), &verdict, &[], counter()).is_empty());
    // No recommendation to correct (the model's output was rejected): nothing either.
    let corrected = closed(Disposition::TruePositive, Severity::Critical, &["T1105"]);
    assert!(drafts("c-9", &alerts, std::slice::from_ref(&raw), None, &corrected, &[], counter()).is_empty());
    assert!(drafts("c-9", &alerts, std::slice::from_ref(&raw), Some(&json!({ "recommendation": null, "review": {} })), &corrected, &[], counter()).is_empty());
}

#[test]
fn a_false_positive_drafts_one_tuning_task_per_distinct_pattern() {
    let (this, past) = sysmon_alerts();
    // Two alerts of the same pattern in the case, and one of another.
    let case_alerts = vec![this.clone(), past[1].clone(), past[3].clone()];
    let raw: Vec<Value> = case_alerts.iter().map(|a| a.raw.clone()).collect();
    let verdict = closed(Disposition::FalsePositive, Severity::Low, &[]);
    let tasks = drafts("c-1", &case_alerts, &raw, Some(&recommendation("high", &["T1059.001"])), &verdict, &past, counter());
    assert_eq!(tasks.len(), 2, "{tasks:#?}");
    assert!(tasks.iter().all(|t| t.kind == TaskKind::DetectionTuning && t.status == TaskStatus::Open));
    let first = &tasks[0];
    assert!(first.title.starts_with("Tune 'Office application spawned unusual child process': filter on Image,"), "{}", first.title);
    assert!(first.title.ends_with("(would have excluded 2 earlier alerts)"), "{}", first.title);
    let v = assert_valid_sigma(&first.draft);
    let description = v.get("description").and_then(|d| d.as_str()).unwrap();
    assert!(description.contains("case c-1 (alert sysm-1), which alice closed as false positive on 2026-03-04"), "{description}");
    assert!(description.contains("Analyst's note: Bloomberg add-in refresh"), "{description}");
    assert_eq!(v.get("date").and_then(|d| d.as_str()), Some("2026-03-04"));
    assert_eq!(matches(&first.draft, &this), Ok(true));

    let benign = closed(Disposition::Benign, Severity::Informational, &[]);
    assert_eq!(drafts("c-1", &case_alerts[..1], &raw[..1], None, &benign, &[], counter()).len(), 1);
}

#[test]
fn tasks_serialise_in_the_contract_form() {
    let t = Task { id: "lt_1".into(), kind: TaskKind::DetectionTuning, case_id: "c".into(), title: "t".into(), draft: "d".into(), status: TaskStatus::Open };
    let v = serde_json::to_value(&t).unwrap();
    assert_eq!(v, json!({ "id": "lt_1", "kind": "detection_tuning", "case_id": "c", "title": "t", "draft": "d", "status": "open" }));
    assert_eq!(serde_json::from_value::<Task>(v).unwrap(), t);
    for k in ["detection_tuning", "runbook_edit", "eval_case", "automation_test"] {
        assert_eq!(k.parse::<TaskKind>().unwrap().as_str(), k);
        assert_eq!(serde_json::to_value(k.parse::<TaskKind>().unwrap()).unwrap(), json!(k));
    }
    for s in ["open", "accepted", "dismissed"] {
        assert_eq!(s.parse::<TaskStatus>().unwrap().as_str(), s);
    }
    assert!("closed".parse::<TaskStatus>().is_err());
}
