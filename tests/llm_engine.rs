//! The `llm` engine through the real server against a scripted OpenAI-compatible endpoint
//! on loopback: what goes on the wire, retries, timeouts, the breaker, repairs and refusals.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "support_openai/mod.rs"]
mod support_openai;

use std::time::{Duration, Instant};

use common::{TestApp, native_alert, spawn_app_with};
use serde_json::{Value, json};
use support_openai::*;
use triage::store::Role;

const AWS_KEY: &str = "AKIAIOSFODNN7EXAMPLE";
const GH_TOKEN: &str = "ghp_0123456789abcdefghijABCDEFGHIJ012345";
const API_KEY: &str = "sk-stub-0123456789";
const RULE: &str = "Encoded PowerShell spawned by Office";

fn alert() -> Value {
    native_alert(
        "alrt-7f3a",
        RULE,
        "high",
        json!({
            "CommandLine": "powershell -nop -w hidden -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAKQA=",
            "ParentImage": "C:\\Program Files\\Microsoft Office\\WINWORD.EXE",
            "Env": format!("AWS_ACCESS_KEY_ID={AWS_KEY}"),
            "Note": format!("pushed with {GH_TOKEN} from the build box"),
        }),
    )
}

/// The server with the `llm` engine pointed at `stub`; `extra` flag/value pairs replace
/// the defaults below.
async fn app(stub: &Stub, extra: &[&str]) -> TestApp {
    let key_file = common::secret_file(API_KEY);
    let defaults = [
        ("--engine", "llm"),
        ("--llm-base-url", stub.base_url.as_str()),
        ("--llm-model", "stub-model"),
        ("--llm-api-key-file", key_file.as_str()),
        ("--llm-timeout-ms", "2000"),
        ("--llm-max-retries", "2"),
    ];
    let mut flags: Vec<&str> = Vec::new();
    for (flag, value) in defaults {
        if !extra.contains(&flag) {
            flags.extend([flag, value]);
        }
    }
    flags.extend_from_slice(extra);
    spawn_app_with(&flags, None).await
}

/// `POST /v1/recommend` with the test alert: (HTTP status, body, how long it took).
async fn recommend(t: &TestApp) -> (u16, Value, Duration) {
    let key = t.key("case-engine", Role::CaseEngine);
    let started = Instant::now();
    let (status, body) = t.post("/v1/recommend", &key, &json!({"alerts": [alert()]})).await;
    (status, body, started.elapsed())
}

fn assert_degraded(status: u16, body: &Value) {
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(body["engine"]["degraded"], true, "{body:#}");
    assert_eq!(body["engine"]["name"], "baseline", "{body:#}");
    assert!(body["recommendation"].is_object() || body["review"].is_object());
}

fn reason_codes(body: &Value) -> Vec<String> {
    body["review"]["reasons"].as_array().map(|a| a.iter().map(|r| r["code"].as_str().unwrap().to_string()).collect()).unwrap_or_default()
}

#[tokio::test]
async fn a_valid_answer_is_ready_and_the_wire_carries_the_schema_and_no_secrets() {
    let stub = Stub::start(vec![valid()]).await;
    let t = app(&stub, &[]).await;
    let (status, body, _) = recommend(&t).await;

    assert_eq!(status, 200, "{body:#}");
    assert_eq!(body["status"], "ready", "{body:#}");
    assert_eq!(body["engine"]["name"], "llm");
    assert_eq!(body["engine"]["model"], "stub-model");
    assert_eq!(body["engine"]["degraded"], false);
    let version = body["engine"]["prompt_version"].as_str().unwrap();
    assert_eq!(version, triage::prompt::version());
    let rec = &body["recommendation"];
    assert_eq!(rec["attack"][0]["technique_id"], "T1059.001");
    assert_eq!(rec["attack"][0]["name"], "PowerShell", "names come from the catalog, not the model");
    assert_eq!(rec["proposed_actions"][0]["tier"], "automatic");
    let retrieved: Vec<&str> = body["retrieved"].as_array().unwrap().iter().map(|r| r["ref"].as_str().unwrap()).collect();
    assert!(rec["evidence"].as_array().unwrap().iter().any(|e| retrieved.contains(&e["ref"].as_str().unwrap())), "a retrieved document is cited: {rec:#}");

    assert_eq!(stub.calls(), 1);
    let r = &stub.requests()[0];
    assert_eq!(r.headers["authorization"], format!("Bearer {API_KEY}"));
    assert_eq!(r.body["model"], "stub-model");
    assert_eq!(r.body["temperature"], 0.0);
    assert!(r.body["max_tokens"].as_u64().unwrap() > 0);
    let rf = &r.body["response_format"];
    assert_eq!(rf["type"], "json_schema");
    assert_eq!(rf["json_schema"]["strict"], true);
    assert_eq!(rf["json_schema"]["schema"], triage::recommendation::model_output_schema());
    assert!(rf["json_schema"]["name"].as_str().is_some_and(|n| !n.is_empty()));

    // Instructions in the system message, data in the user message.
    assert_eq!(r.messages().len(), 2);
    assert_eq!(r.message(0).0, "system");
    assert_eq!(r.message(1).0, "user");
    let system = r.system();
    for data in ["alrt-7f3a", RULE, "SQBFAFgA", "WINWORD", "WS-042", "REDACTED"] {
        assert!(!system.contains(data), "alert data `{data}` in the system message");
    }
    let user = r.user();
    let n = nonce(user, "ALERTS").expect("alerts fence");
    assert!(n.len() >= 16, "nonce `{n}` is too guessable");
    assert!(!system.contains(&n), "the system message is the same for every request");
    assert!(user.contains(&format!("<<<END ALERTS nonce={n}>>>")));
    assert!(user.contains("untrusted"));
    let alerts = fenced(user, "ALERTS");
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["id"], "alrt-7f3a");
    let docs = fenced(user, "DOCUMENTS");
    assert!(!docs.is_empty(), "retrieved documents are listed");
    for d in &docs {
        assert!(retrieved.contains(&d["ref"].as_str().unwrap()), "{d} was not retrieved");
    }
    assert!(catalog(user).iter().any(|a| a == "isolate_host"));

    // Secrets were redacted before the engine saw the alert; nothing of them is on the wire.
    for secret in [AWS_KEY, GH_TOKEN, "0123456789abcdefghij", API_KEY] {
        assert!(!r.raw.contains(secret), "`{secret}` was sent to the provider");
    }
    assert!(r.raw.contains("REDACTED"));
}

#[tokio::test]
async fn a_429_is_retried_after_retry_after() {
    let stub = Stub::start(vec![status_retry_after(429, "1"), valid()]).await;
    let t = app(&stub, &[]).await;
    let (status, body, _) = recommend(&t).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ready", "{body:#}");
    assert_eq!(body["engine"]["degraded"], false);
    let reqs = stub.requests();
    assert_eq!(reqs.len(), 2);
    let gap = reqs[1].at - reqs[0].at;
    assert!(gap >= Duration::from_secs(1), "retried after {gap:?}, before Retry-After");
    assert!(gap < Duration::from_secs(3), "waited {gap:?}");
    assert_eq!(reqs[0].raw, reqs[1].raw.replace(&nonce(reqs[1].user(), "ALERTS").unwrap(), &nonce(reqs[0].user(), "ALERTS").unwrap()));
}

#[tokio::test]
async fn retry_after_is_capped() {
    let stub = Stub::start(vec![status_retry_after(503, "120"), valid()]).await;
    let t = app(&stub, &["--llm-max-retry-after-ms", "300"]).await;
    let (_, body, took) = recommend(&t).await;
    assert_eq!(body["status"], "ready", "{body:#}");
    assert_eq!(stub.calls(), 2);
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[tokio::test]
async fn a_400_is_not_retried_and_the_baseline_answers() {
    let stub = Stub::start(vec![status(400)]).await;
    let t = app(&stub, &[]).await;
    let (status, body, _) = recommend(&t).await;
    assert_degraded(status, &body);
    assert_eq!(stub.calls(), 1);
}

#[tokio::test]
async fn server_errors_degrade_within_bounded_time() {
    let stub = Stub::start(vec![status(500)]).await;
    let t = app(&stub, &[]).await;
    let (status, body, took) = recommend(&t).await;
    assert_degraded(status, &body);
    assert_eq!(stub.calls(), 3, "the first call and two retries");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    // The trail says the baseline stood in, and why.
    let entry = audit_entry(&t, "recommendation.ready", body["recommendation_id"].as_str().unwrap()).await;
    assert_eq!(entry["data"]["engine"], "baseline", "{entry}");
    assert_eq!(entry["data"]["degraded"]["engine"], "llm", "{entry}");
    assert!(entry["data"]["degraded"]["error"].as_str().is_some_and(|e| e.contains("500")), "{entry}");
}

/// The audit entry of `kind` about `subject`.
async fn audit_entry(t: &TestApp, kind: &str, subject: &str) -> Value {
    let (_, audit) = t.get("/v1/audit?after=0", &t.key("auditor", Role::Admin)).await;
    let entries = audit["entries"].as_array().cloned().unwrap_or_default();
    entries.into_iter().find(|e| e["kind"] == kind && e["subject"] == subject).unwrap_or_else(|| panic!("no {kind} entry for {subject} in {audit}"))
}

#[tokio::test]
async fn a_hanging_provider_times_out_and_degrades() {
    let stub = Stub::start(vec![hang()]).await;
    let t = app(&stub, &["--llm-timeout-ms", "400", "--llm-max-retries", "1"]).await;
    let (status, body, took) = recommend(&t).await;
    assert_degraded(status, &body);
    assert_eq!(stub.calls(), 2, "a timeout is retried");
    assert!(took >= Duration::from_millis(800), "took {took:?}");
    assert!(took < Duration::from_secs(4), "took {took:?}");
}

#[tokio::test]
async fn the_total_budget_bounds_all_retries() {
    let stub = Stub::start(vec![hang()]).await;
    let t = app(&stub, &["--llm-timeout-ms", "600", "--llm-max-retries", "10", "--llm-total-timeout-ms", "1000"]).await;
    let (status, body, took) = recommend(&t).await;
    assert_degraded(status, &body);
    assert!(took < Duration::from_millis(2_500), "took {took:?}");
    assert!(stub.calls() <= 2, "{} calls within a 1 s budget of 600 ms calls", stub.calls());
}

#[tokio::test]
async fn invalid_json_once_is_repaired_with_the_reasons() {
    let stub = Stub::start(vec![content("Sure! Here is the triage: severity high"), valid()]).await;
    let t = app(&stub, &[]).await;
    let (_, body, _) = recommend(&t).await;
    assert_eq!(body["status"], "ready", "{body:#}");
    assert_eq!(body["engine"]["name"], "llm");
    assert_eq!(stub.calls(), 2, "exactly one repair");
    let repair = &stub.requests()[1];
    let roles: Vec<&str> = repair.messages().iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["system", "user", "assistant", "user"]);
    assert_eq!(repair.message(2).1, "Sure! Here is the triage: severity high");
    let reasons = repair.message(3).1;
    assert!(reasons.contains("invalid_output"), "{reasons}");
    assert!(reasons.contains("not JSON"), "{reasons}");
    assert_eq!(repair.body["response_format"], stub.requests()[0].body["response_format"], "same schema");
    // The answer the repair replaced was a rejection, and the trail keeps it.
    let entry = audit_entry(&t, "recommendation.ready", body["recommendation_id"].as_str().unwrap()).await;
    assert!(entry["data"]["refused_before_repair"].to_string().contains("invalid_output"), "{entry}");
}

#[tokio::test]
async fn invalid_twice_needs_review() {
    let stub = Stub::start(vec![content("not json"), content("still {not json")]).await;
    let t = app(&stub, &[]).await;
    let (status, body, _) = recommend(&t).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "needs_review", "{body:#}");
    assert!(body["recommendation"].is_null());
    assert_eq!(reason_codes(&body), ["invalid_output"]);
    assert!(body["review"]["approval_id"].as_str().is_some());
    assert_eq!(body["engine"]["name"], "llm");
    assert_eq!(body["engine"]["degraded"], false);
    assert_eq!(stub.calls(), 2);
}

#[tokio::test]
async fn a_schema_violation_is_repaired() {
    let stub = Stub::start(vec![edited(|v| v["severity"] = json!("severe")), valid()]).await;
    let t = app(&stub, &[]).await;
    let (_, body, _) = recommend(&t).await;
    assert_eq!(body["status"], "ready", "{body:#}");
    assert_eq!(stub.calls(), 2);
    let reasons = stub.requests()[1].message(3).1.to_string();
    assert!(reasons.contains("invalid_output") && reasons.contains("severity"), "{reasons}");
}

#[tokio::test]
async fn an_unretrieved_citation_is_repaired() {
    let stub = Stub::start(vec![edited(|v| v["evidence"][0]["ref"] = json!("runbook:rb-not-retrieved")), valid()]).await;
    let t = app(&stub, &[]).await;
    let (_, body, _) = recommend(&t).await;
    assert_eq!(body["status"], "ready", "{body:#}");
    assert_eq!(stub.calls(), 2);
    assert!(stub.requests()[1].message(3).1.contains("unsupported_citation"));
}

#[tokio::test]
async fn finish_reason_length_is_invalid_even_when_the_content_parses() {
    let stub = Stub::start(vec![finished("length"), valid()]).await;
    let t = app(&stub, &[]).await;
    let (_, body, _) = recommend(&t).await;
    assert_eq!(body["status"], "ready", "{body:#}");
    assert_eq!(stub.calls(), 2, "the cut-off answer was refused and repaired");
    let repair = stub.requests()[1].message(3).1.to_string();
    assert!(repair.contains("invalid_output") && repair.contains("cut off"), "{repair}");

    let stub = Stub::start(vec![finished("length")]).await;
    let t = app(&stub, &[]).await;
    let (_, body, _) = recommend(&t).await;
    assert_eq!(body["status"], "needs_review", "{body:#}");
    assert_eq!(reason_codes(&body), ["invalid_output"]);
    assert_eq!(stub.calls(), 2);
}

#[tokio::test]
async fn the_breaker_opens_after_consecutive_failures() {
    let stub = Stub::start(vec![status(503)]).await;
    let t = app(&stub, &["--llm-max-retries", "0", "--llm-breaker-threshold", "2", "--llm-breaker-cooldown-ms", "60000"]).await;
    for _ in 0..2 {
        let (status, body, _) = recommend(&t).await;
        assert_degraded(status, &body);
    }
    assert_eq!(stub.calls(), 2);
    let (status, body, took) = recommend(&t).await;
    assert_degraded(status, &body);
    assert_eq!(stub.calls(), 2, "an open breaker does not call the provider");
    assert!(took < Duration::from_secs(2));
}

#[tokio::test]
async fn the_breaker_lets_a_probe_through_after_the_cooldown() {
    let stub = Stub::start(vec![status(503), valid()]).await;
    let t = app(&stub, &["--llm-max-retries", "0", "--llm-breaker-threshold", "1", "--llm-breaker-cooldown-ms", "300"]).await;
    let (status, body, _) = recommend(&t).await;
    assert_degraded(status, &body);
    let (status, body, _) = recommend(&t).await;
    assert_degraded(status, &body);
    assert_eq!(stub.calls(), 1);
    tokio::time::sleep(Duration::from_millis(350)).await;
    let (_, body, _) = recommend(&t).await;
    assert_eq!(body["status"], "ready", "{body:#}");
    assert_eq!(stub.calls(), 2);
}

#[tokio::test]
async fn provider_calls_are_limited_to_the_concurrency() {
    let stub = Stub::start(vec![slow_valid(Duration::from_millis(300))]).await;
    let t = app(&stub, &["--llm-concurrency", "1"]).await;
    let key = t.key("case-engine", Role::CaseEngine);
    let body = json!({"alerts": [alert()]});
    let (a, b, c) = tokio::join!(t.post("/v1/recommend", &key, &body), t.post("/v1/recommend", &key, &body), t.post("/v1/recommend", &key, &body));
    for (_, r) in [a, b, c] {
        assert_eq!(r["status"], "ready", "{r:#}");
    }
    assert_eq!(stub.calls(), 3);
    assert_eq!(stub.max_in_flight(), 1);
}

#[tokio::test]
async fn json_object_mode_puts_the_schema_in_the_system_message() {
    let stub = Stub::start(vec![valid()]).await;
    let t = app(&stub, &["--llm-response-format", "json-object"]).await;
    let (_, body, _) = recommend(&t).await;
    assert_eq!(body["status"], "ready", "{body:#}");
    let r = &stub.requests()[0];
    assert_eq!(r.body["response_format"], json!({"type": "json_object"}));
    assert!(r.system().contains("\"maxItems\""), "the schema is in the system message");
    assert!(!r.system().contains("alrt-7f3a"));
}

#[tokio::test]
async fn a_long_alert_is_trimmed_to_the_prompt_budget() {
    let stub = Stub::start(vec![valid()]).await;
    let t = app(&stub, &["--llm-max-prompt-chars", "6000"]).await;
    let key = t.key("case-engine", Role::CaseEngine);
    let mut a = alert();
    a["fields"]["ScriptBlockText"] = json!(format!("Write-Output {}", "x".repeat(20_000)));
    let (_, body) = t.post("/v1/recommend", &key, &json!({"alerts": [a]})).await;
    assert_eq!(body["status"], "ready", "{body:#}");
    let r = &stub.requests()[0];
    let chars = r.system().chars().count() + r.user().chars().count();
    assert!(chars <= 6000, "prompt of {chars} chars");
    assert!(r.user().contains("…[trimmed "));
    assert_eq!(fenced(r.user(), "ALERTS")[0]["rule"]["name"], RULE, "short fields survive");
}

#[tokio::test]
async fn an_idempotent_repeat_does_not_call_the_model_again() {
    let stub = Stub::start(vec![valid()]).await;
    let t = app(&stub, &[]).await;
    let key = t.key("case-engine", Role::CaseEngine);
    let body = json!({"alerts": [alert()]});
    let mut ids = Vec::new();
    for _ in 0..2 {
        let r = t.http.post(format!("{}/v1/recommend", t.base)).bearer_auth(&key).header("Idempotency-Key", "k-1").json(&body).send().await.unwrap();
        let v: Value = r.json().await.unwrap();
        ids.push(v["recommendation_id"].clone());
    }
    assert_eq!(ids[0], ids[1]);
    assert_eq!(stub.calls(), 1);
}

/// Answers recommendations with a grounded answer and summaries with `summary(req)`.
fn with_summary(summary: fn(&Value) -> Value) -> Step {
    Box::new(move |req| {
        let content = if req["response_format"]["json_schema"]["name"] == "triage_case_summary" { summary(req) } else { grounded_answer(req) };
        Reply::Chat { content: content.to_string(), finish: "stop".into() }
    })
}

fn cited_summary(req: &Value) -> Value {
    let user = req["messages"][1]["content"].as_str().unwrap_or_default();
    let first = fenced(user, "ALERTS").first().cloned().unwrap_or(Value::Null);
    let id = first["id"].as_str().unwrap_or("missing");
    json!({
        "summary_markdown": "## What happened\nOn WS-042, CORP\\jdoe opened a document and Word started an encoded PowerShell command (model-written).",
        "evidence": [{"ref": format!("alert:{id}#rule.name"), "quote": first["rule"]["name"]}],
        "uncertainty": ["Whether the payload ran to completion is unknown."]
    })
}

fn acting_summary(_req: &Value) -> Value {
    json!({"summary_markdown": "I have isolated WS-042 and reset the password.", "evidence": [], "uncertainty": []})
}

#[tokio::test]
async fn the_llm_writes_case_summaries_that_are_checked_like_recommendations() {
    let stub = Stub::start(vec![with_summary(cited_summary), with_summary(cited_summary)]).await;
    let t = app(&stub, &[]).await;
    let (status, body, _) = recommend(&t).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ready")), "{body}");
    let analyst = t.key("analyst", Role::Analyst);
    let (s, summary) = t.get(&format!("/v1/cases/{}/summary", body["case_id"].as_str().unwrap()), &analyst).await;
    assert_eq!(s, 200, "{summary}");
    assert_eq!(summary["engine"]["name"], "llm", "{summary:#}");
    assert!(summary["summary_markdown"].as_str().unwrap().contains("(model-written)"));
    assert_eq!(summary["evidence"][0]["ref"], "alert:alrt-7f3a#rule.name");
    assert_eq!(summary["timeline"].as_array().unwrap().iter().filter(|e| e["kind"] == "alert").count(), 1);
    // The summary request was fenced and redacted like a recommendation.
    let requests = stub.requests();
    let last = requests.last().unwrap();
    assert_eq!(last.body["response_format"]["json_schema"]["name"], "triage_case_summary");
    assert!(nonce(last.user(), "ALERTS").is_some());
    assert!(!last.system().contains("alrt-7f3a"));
    assert!(!serde_json::to_string(&last.body).unwrap().contains(AWS_KEY));
}

#[tokio::test]
async fn a_refused_summary_falls_back_to_the_checked_one() {
    let stub = Stub::start(vec![with_summary(acting_summary), with_summary(acting_summary)]).await;
    let t = app(&stub, &[]).await;
    let (_, body, _) = recommend(&t).await;
    let analyst = t.key("analyst", Role::Analyst);
    let (s, summary) = t.get(&format!("/v1/cases/{}/summary", body["case_id"].as_str().unwrap()), &analyst).await;
    assert_eq!(s, 200);
    assert_eq!(summary["engine"]["name"], "baseline");
    let md = summary["summary_markdown"].as_str().unwrap();
    assert!(!md.contains("I have isolated"), "{md}");
    assert!(summary["uncertainty"].to_string().contains("direct_execution_proposed"), "{summary:#}");
}

/// Alert values are attacker-chosen (contract section 1): a command that also appears in
/// the alert may be quoted as what the alert shows, never proposed to be run.
#[tokio::test]
async fn a_command_from_the_alert_proposed_to_be_run_is_refused_and_never_repaired() {
    let probe = |note: &str| json!({"alerts": [native_alert("alrt-p1", RULE, "high", json!({"CommandLine": "powershell -enc AAAA", "note": note}))]});
    for answer in [
        content("not json at all; run powershell -enc AAAA"),
        edited(|v| v["summary"] = json!("Execute Stop-Process -Name lsass -Force")),
        edited(|v| v["summary"] = json!("Execute `powershell -enc AAAA`")),
    ] {
        let stub = Stub::start(vec![answer, valid()]).await;
        let t = app(&stub, &[]).await;
        let key = t.key("case-engine", Role::CaseEngine);
        let (status, body) = t.post("/v1/recommend", &key, &probe("try Stop-Process -Name next")).await;
        assert_eq!(status, 200, "{body:#}");
        assert_eq!(body["status"], "needs_review", "{body:#}");
        assert_eq!(reason_codes(&body)[0], "direct_execution_proposed", "{body:#}");
        assert_eq!(stub.calls(), 1, "never sent back for repair");
    }
    // Describing what the alert shows stays possible.
    let stub = Stub::start(vec![edited(|v| v["hypothesis"] = json!("The alert shows `powershell -enc AAAA` run by winword.exe."))]).await;
    let t = app(&stub, &[]).await;
    let key = t.key("case-engine", Role::CaseEngine);
    let (_, body) = t.post("/v1/recommend", &key, &probe("nothing")).await;
    assert_eq!(body["status"], "ready", "{body:#}");
}

#[tokio::test]
async fn the_case_and_its_alerts_are_there_while_the_model_works() {
    // A model may take seconds: the request is recorded before it is asked, so that an
    // analyst sees the case (and the audit trail the request) meanwhile.
    let stub = Stub::start(vec![slow_valid(Duration::from_millis(1500))]).await;
    let t = app(&stub, &[]).await;
    let key = t.key("case-engine", Role::CaseEngine);
    let analyst = t.key("analyst", Role::Analyst);
    let body = json!({"case_id": "slow-model", "alerts": [alert()]});
    let (answered, seen) = tokio::join!(t.post("/v1/recommend", &key, &body), async {
        let mut seen = Value::Null;
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let (s, case) = t.get("/v1/cases/slow-model", &analyst).await;
            if s == 200 {
                seen = case;
                break;
            }
        }
        seen
    });
    assert_eq!(seen["alerts"].as_array().map(Vec::len), Some(1), "no case while the model worked: {seen}");
    assert_eq!(seen["recommendations"].as_array().map(Vec::len), Some(0), "{seen}");
    assert_eq!(answered.1["status"], "ready", "{}", answered.1);
}
