//! Learning after closure over HTTP and the CLI (contract section 13): a false positive
//! drafts a Sigma filter that parses as Sigma and matches its alert; a corrected true
//! positive drafts a runbook edit and an eval case that `triage eval` runs; deciding every
//! task makes the case `learned`; `triage eval export-cases` writes a dataset.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use serde_json::{Value, json};
use triage::store::Role;

use common::spawn_app;

fn updater_alert(id: &str, host: &str, time: &str) -> Value {
    json!({"id": id, "source": "sysmon", "time": time,
           "rule": {"id": "proc-unsigned-svc", "name": "Unsigned binary spawned by service host", "severity": "medium"},
           "entities": {"users": ["NT AUTHORITY\\SYSTEM"], "hosts": [host]},
           "fields": {"Image": "C:\\Program Files\\Contoso\\Agent\\ctagent-update.exe",
                      "ParentImage": "C:\\Windows\\System32\\services.exe",
                      "CommandLine": "\"C:\\Program Files\\Contoso\\Agent\\ctagent-update.exe\" --channel stable --quiet",
                      "User": "NT AUTHORITY\\SYSTEM", "ProcessGuid": format!("{{{id}-0000-0000-0000-000000000000}}")}})
}

fn triage(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_triage"))
        .args(["--data-dir", dir.to_str().unwrap()])
        .args(args)
        .env_remove("TRIAGE_DATA_DIR")
        .output()
        .unwrap()
}

#[tokio::test]
async fn a_false_positive_drafts_a_sigma_filter_that_parses_and_matches_its_alert() {
    let t = spawn_app().await;
    let engine = t.key("siem", Role::CaseEngine);
    let analyst = t.key("analyst", Role::Analyst);
    // Two earlier sightings on other hosts, each its own case.
    for (i, host) in ["WS-501", "WS-502"].iter().enumerate() {
        let (s, _) = t
            .post("/v1/recommend", &engine, &json!({"case_id": format!("upd-{i}"), "alerts": [updater_alert(&format!("u-{i}"), host, "2026-06-01T03:00:00Z")]}))
            .await;
        assert_eq!(s, 200);
    }
    let (s, _) = t.post("/v1/recommend", &engine, &json!({"case_id": "upd-9", "alerts": [updater_alert("u-9", "WS-509", "2026-06-02T03:00:00Z")]})).await;
    assert_eq!(s, 200);
    let close =
        json!({"disposition": "false_positive", "severity": "informational", "note": "Contoso agent self-update, signed by the vendor's updater; IT-4411"});
    let (s, v) = t.post("/v1/cases/upd-9/close", &analyst, &close).await;
    assert_eq!(s, 200, "{v}");
    let tasks = v["learning"].as_array().unwrap();
    let tuning = tasks.iter().find(|t| t["kind"] == "detection_tuning").unwrap_or_else(|| panic!("{tasks:?}"));
    assert_eq!((tuning["status"].as_str(), tuning["case_id"].as_str()), (Some("open"), Some("upd-9")));
    assert!(tuning["title"].as_str().unwrap().contains("would have excluded 2 earlier alerts"), "{}", tuning["title"]);
    let yaml = tuning["draft"].as_str().unwrap();
    assert!(!yaml.contains("u-9-0000") && !yaml.contains("2026-06-02T03"), "ids and times stay out of a filter:\n{yaml}");

    // It parses as Sigma: the service's own importer takes it as a rule.
    let rules = tempfile::tempdir().unwrap();
    std::fs::write(rules.path().join("draft.yml"), yaml).unwrap();
    let out = triage(t.dir.path(), &["corpus", "import-sigma", rules.path().to_str().unwrap()]);
    let report = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && report.contains("1 rules imported, 0 skipped"), "{report}");
    // And matches the alert it came from, and not an alert of another program.
    let parsed = triage::alert::parse_all(&[updater_alert("u-9", "WS-509", "2026-06-02T03:00:00Z")]).unwrap();
    assert_eq!(triage::learning::matches(yaml, &parsed[0]), Ok(true));
    let mut other = updater_alert("x-1", "WS-509", "2026-06-02T03:00:00Z");
    other["fields"]["Image"] = json!("C:\\Users\\Public\\ctagent-update.exe");
    let other = triage::alert::parse_all(&[other]).unwrap();
    assert_eq!(triage::learning::matches(yaml, &other[0]), Ok(false));

    // Deciding every task makes the case learned; a decided task can't be decided again.
    let (s, open) = t.get("/v1/learning?status=open", &analyst).await;
    assert_eq!(s, 200);
    assert!(open["tasks"].as_array().unwrap().iter().any(|x| x["id"] == tuning["id"]));
    let (s, _) = t.get("/v1/learning", &engine).await;
    assert_eq!(s, 403);
    for task in tasks {
        let (s, d) =
            t.post(&format!("/v1/learning/{}", task["id"].as_str().unwrap()), &analyst, &json!({"status": "accepted", "note": "merged as SIG-88"})).await;
        assert_eq!((s, d["status"].as_str()), (200, Some("accepted")), "{d}");
    }
    let (s, again) = t.post(&format!("/v1/learning/{}", tuning["id"].as_str().unwrap()), &analyst, &json!({"status": "dismissed"})).await;
    assert_eq!(s, 409, "{again}");
    let (_, case) = t.get("/v1/cases/upd-9", &analyst).await;
    assert_eq!(case["state"], "learned");
    let (s, body) = t.post("/v1/cases/upd-9/close", &analyst, &close).await;
    assert_eq!((s, body["error"]["code"].as_str()), (409, Some("invalid_transition")), "a learned case is final");
}

#[tokio::test]
async fn an_alert_id_sent_twice_to_a_case_is_exported_once_as_last_sent() {
    let t = spawn_app().await;
    let engine = t.key("siem", Role::CaseEngine);
    let analyst = t.key("analyst", Role::Analyst);
    let alert = |severity: &str, cmd: &str| {
        json!({"id": "s2", "source": "sysmon", "time": "2026-06-05T10:00:00Z", "rule": {"id": format!("r-{cmd}"), "name": format!("{cmd} ran"), "severity": severity},
               "entities": {"hosts": ["WS-078"]}, "fields": {"CommandLine": cmd}})
    };
    for a in [alert("critical", "mimikatz"), alert("low", "whoami")] {
        let (s, body) = t.post("/v1/recommend", &engine, &json!({"case_id": "dup-1", "alerts": [a]})).await;
        assert_eq!(s, 200, "{body}");
    }
    let close = json!({"disposition": "true_positive", "severity": "critical", "techniques": ["T1003.001"], "note": "credential dumping"});
    let (s, v) = t.post("/v1/cases/dup-1/close", &analyst, &close).await;
    assert_eq!(s, 200, "{v}");
    let exported = t.dir.path().join("exported.jsonl");
    let out = triage(t.dir.path(), &["eval", "export-cases", "--out", exported.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let line: Value = serde_json::from_str(std::fs::read_to_string(&exported).unwrap().lines().next().unwrap()).unwrap();
    let alerts = line["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1, "a dataset line refuses duplicate alert ids: {line}");
    assert_eq!(alerts[0]["fields"]["CommandLine"], "whoami");
    let (s, body) = t.post("/v1/recommend", &engine, &json!({"alerts": alerts})).await;
    assert_eq!(s, 200, "{body}");
}

#[tokio::test]
async fn a_corrected_true_positive_drafts_a_runbook_edit_and_an_eval_case_that_runs() {
    let t = spawn_app().await;
    let engine = t.key("siem", Role::CaseEngine);
    let analyst = t.key("analyst", Role::Analyst);
    let alert = json!({"id": "ct-9", "source": "aws-cloudtrail", "time": "2026-06-03T11:00:00Z",
        "rule": {"id": "ct-policy", "name": "IAM policy attached to user outside change window", "severity": "medium"},
        "entities": {"users": ["ops-temp"], "cloud_accounts": ["210987654321"], "ips": ["198.51.100.77"]},
        "asset": {"environment": "production"},
        "fields": {"eventName": "AttachUserPolicy", "eventSource": "iam.amazonaws.com", "sourceIPAddress": "198.51.100.77",
                   "requestParameters": {"userName": "ops-temp", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}}});
    let (s, rec) = t.post("/v1/recommend", &engine, &json!({"case_id": "iam-1", "alerts": [alert]})).await;
    assert_eq!(s, 200, "{rec}");
    let close = json!({"disposition": "true_positive", "severity": "critical", "techniques": ["T1098.003", "T1078.004"],
                       "note": "Contractor key stolen; admin policy attached from a VPS."});
    let (s, v) = t.post("/v1/cases/iam-1/close", &analyst, &close).await;
    assert_eq!(s, 200, "{v}");
    let tasks = v["learning"].as_array().unwrap();
    let kinds: Vec<&str> = tasks.iter().map(|t| t["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"runbook_edit") && kinds.contains(&"eval_case"), "{kinds:?}");
    let edit = tasks.iter().find(|t| t["kind"] == "runbook_edit").unwrap()["draft"].as_str().unwrap();
    assert!(edit.contains("critical"), "{edit}");

    // The drafted eval case and the exported history both run through `triage eval`.
    let line = tasks.iter().find(|t| t["kind"] == "eval_case").unwrap()["draft"].as_str().unwrap().to_string();
    let sets = tempfile::tempdir().unwrap();
    let drafted = sets.path().join("drafted.jsonl");
    std::fs::write(&drafted, format!("{line}\n")).unwrap();
    let exported = sets.path().join("exported.jsonl");
    let out = triage(t.dir.path(), &["eval", "export-cases", "--out", exported.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&exported).unwrap();
    let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["gold"]["severity"], "critical");
    assert_eq!(first["source"], "case:iam-1");
    for set in [&drafted, &exported] {
        let run = sets.path().join(format!("run-{}", set.file_stem().unwrap().to_str().unwrap()));
        let eval_dir = tempfile::tempdir().unwrap();
        let out = triage(eval_dir.path(), &["eval", "--dataset", set.to_str().unwrap(), "--out", run.to_str().unwrap()]);
        assert!(out.status.success(), "{}: {}", set.display(), String::from_utf8_lossy(&out.stderr));
        assert!(run.join("summary.json").exists());
    }

    // A true positive the recommendation got right drafts nothing.
    let (_, rec) = t
        .post(
            "/v1/recommend",
            &engine,
            &json!({"case_id": "iam-2", "alerts": [{"id": "ct-10", "source": "aws-cloudtrail", "time": "2026-06-04T11:00:00Z",
        "rule": {"id": "ct-policy", "name": "IAM policy attached to user outside change window", "severity": "medium"},
        "entities": {"users": ["ops-temp2"]}, "fields": {"eventName": "AttachUserPolicy"}}]}),
        )
        .await;
    let r = &rec["recommendation"];
    let techniques: Vec<Value> = r["attack"].as_array().unwrap().iter().map(|a| a["technique_id"].clone()).collect();
    let (_, v) = t
        .post(
            "/v1/cases/iam-2/close",
            &analyst,
            &json!({"disposition": "true_positive", "severity": r["severity"], "techniques": techniques, "note": "as recommended"}),
        )
        .await;
    assert_eq!(v["learning"], json!([]), "{v}");
}
