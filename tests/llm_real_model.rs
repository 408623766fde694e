//! The `llm` engine against a real model (llama-server with SmolLM2-135M-Instruct, see
//! scripts/llm-serve.sh). Runs when `TRIAGE_TEST_LLM_BASE_URL` is set, e.g.
//!
//! ```sh
//! TRIAGE_TEST_LLM_BASE_URL=$(scripts/llm-serve.sh) cargo test --test llm_real_model -- --nocapture
//! ```
//!
//! Without it the test fails in CI and wherever `TRIAGE_REQUIRE_LLM=1` (scripts/test sets
//! it unless `TRIAGE_SKIP_LLM=1`): a run that was meant to exercise a real model must not
//! pass because none was there. Elsewhere it skips, loudly.
//!
//! A model this small has poor judgement, so this proves the wire path, the schema
//! constraints and the checks on a real model's output — not recommendation quality: the
//! answer is ready (and then checked here again) or needs review with a contract reason
//! code; never an error, never degraded. A recording proxy between the service and the
//! model shows what went on the wire.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use common::{native_alert, spawn_app_with};
use serde_json::{Value, json};
use triage::corpus::fold_whitespace;
use triage::store::Role;

/// Reason codes the contract names (section 2), plus `invalid_target` which the service
/// adds for a proposal aimed at something that is not `<kind>:<value>`.
const REASON_CODES: [&str; 7] =
    ["direct_execution_proposed", "invalid_output", "unknown_technique", "unsupported_citation", "unknown_action", "severity_downgrade", "invalid_target"];

/// One call through the proxy: the request, and the status and body of the answer once
/// it came (none while it is pending or when the service gave up on it).
#[derive(Debug, Clone)]
struct Call {
    request: Value,
    answer: Option<(u16, Value)>,
}

#[derive(Clone)]
struct Proxy {
    upstream: String,
    http: reqwest::Client,
    seen: Arc<Mutex<Vec<Call>>>,
}

async fn forward(State(p): State<Proxy>, Path(rest): Path<String>, body: Bytes) -> impl IntoResponse {
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let index = {
        let mut seen = p.seen.lock().unwrap();
        seen.push(Call { request, answer: None });
        seen.len() - 1
    };
    let resp = p.http.post(format!("{}/{rest}", p.upstream.trim_end_matches('/'))).header("content-type", "application/json").body(body).send().await;
    let (status, text) = match resp {
        Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
        Err(e) => (502, json!({"error": {"message": e.to_string()}}).to_string()),
    };
    p.seen.lock().unwrap()[index].answer = Some((status, serde_json::from_str(&text).unwrap_or(Value::Null)));
    (StatusCode::from_u16(status).unwrap(), [("content-type", "application/json")], text)
}

async fn start_proxy(upstream: &str) -> (String, Arc<Mutex<Vec<Call>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let proxy = Proxy { upstream: upstream.to_string(), http: reqwest::Client::new(), seen: seen.clone() };
    let router = Router::new().route("/v1/{*rest}", post(forward)).with_state(proxy);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    (format!("http://{addr}/v1"), seen)
}

#[tokio::test]
async fn a_real_model_answers_through_the_whole_pipeline() {
    let Some(upstream) = std::env::var("TRIAGE_TEST_LLM_BASE_URL").ok().filter(|u| !u.trim().is_empty()) else {
        common::missing_input("TRIAGE_REQUIRE_LLM", "a real model (TRIAGE_TEST_LLM_BASE_URL, e.g. $(scripts/llm-serve.sh))");
        return;
    };
    let (proxy_url, seen) = start_proxy(&upstream).await;
    // Small prompt and answer, so that on 2 busy cores (prompt ~130 tokens/s, constrained
    // generation down to ~4 tokens/s) the answer and its repair fit in 3 minutes. The
    // first call may use most of the budget: a repair that runs out of it leaves the first
    // answer's reasons standing (needs_review), while only a first call that fails would
    // degrade. An answer cut off at max_tokens is refused as invalid_output, an outcome
    // this test accepts. No retries: a slow call is not an outage.
    let t = spawn_app_with(
        &[
            "--engine",
            "llm",
            "--llm-base-url",
            &proxy_url,
            "--llm-model",
            "smollm2-135m-instruct",
            "--llm-max-prompt-chars",
            "5000",
            "--llm-max-tokens",
            "256",
            "--llm-timeout-ms",
            "150000",
            "--llm-total-timeout-ms",
            "170000",
            "--llm-max-retries",
            "0",
        ],
        None,
    )
    .await;
    let key = t.key("case-engine", Role::CaseEngine);
    let request = json!({"alerts": [native_alert(
        "alrt-real-1",
        "Encoded PowerShell spawned by Office",
        "high",
        json!({"CommandLine": "powershell.exe -nop -w hidden -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAKQA=",
               "ParentImage": "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE"}),
    )]});

    let started = Instant::now();
    let (status, body) = t.post("/v1/recommend", &key, &request).await;
    let took = started.elapsed();
    let seen = seen.lock().unwrap().clone();
    eprintln!("real model: HTTP {status} in {took:?}, {} provider call(s)", seen.len());
    for (i, call) in seen.iter().enumerate() {
        match &call.answer {
            Some((code, answer)) => {
                eprintln!("call {i}: HTTP {code}, finish_reason {}, usage {}", answer["choices"][0]["finish_reason"], answer["usage"]);
                eprintln!("call {i} content: {}", answer["choices"][0]["message"]["content"].as_str().unwrap_or("<none>"));
            }
            None => eprintln!("call {i}: no answer before the service gave up"),
        }
    }
    eprintln!("response: {body:#}");

    assert_eq!(status, 200, "{body:#}");
    assert!(took < Duration::from_secs(180), "took {took:?}");
    assert_eq!(body["engine"]["name"], "llm", "{body:#}");
    assert_eq!(body["engine"]["degraded"], false, "{body:#}");
    assert_eq!(body["engine"]["prompt_version"], triage::prompt::version());

    // The wire: schema-constrained decoding was asked for on every call.
    assert!(!seen.is_empty() && seen.len() <= 2, "{} calls", seen.len());
    assert!(matches!(seen[0].answer, Some((200, _))), "the first call was not answered: {:?}", seen[0].answer);
    for call in &seen {
        let req = &call.request;
        // A repair may be cut short by the total budget; whatever was answered was a 200.
        assert!(matches!(call.answer, None | Some((200, _))), "the model server refused: {:?}", call.answer);
        assert_eq!(req["response_format"]["type"], "json_schema");
        assert_eq!(req["response_format"]["json_schema"]["strict"], true);
        assert_eq!(req["response_format"]["json_schema"]["schema"], triage::recommendation::model_output_schema());
        assert_eq!(req["temperature"], 0.0);
        let chars: usize = req["messages"].as_array().unwrap()[..2].iter().map(|m| m["content"].as_str().unwrap().chars().count()).sum();
        assert!(chars <= 5000, "prompt of {chars} chars");
    }

    match body["status"].as_str().unwrap() {
        "ready" => {
            let rec = &body["recommendation"];
            let (_, schema) = t.get("/v1/schema/recommendation", &key).await;
            let validator = jsonschema::validator_for(&schema).unwrap();
            let errors: Vec<String> = validator.iter_errors(rec).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{errors:?}");
            let retrieved: Vec<&str> = body["retrieved"].as_array().unwrap().iter().map(|r| r["ref"].as_str().unwrap()).collect();
            for e in rec["evidence"].as_array().unwrap() {
                let r = e["ref"].as_str().unwrap();
                let text = if let Some(rest) = r.strip_prefix("alert:") {
                    let (id, path) = rest.split_once('#').unwrap();
                    assert_eq!(id, "alrt-real-1");
                    triage::jsonpath::text_of(triage::jsonpath::resolve(&request["alerts"][0], path).unwrap())
                } else {
                    assert!(retrieved.contains(&r), "{r} was not retrieved");
                    let (_, doc) = t.get(&format!("/v1/documents/{r}"), &key).await;
                    doc["text"].as_str().unwrap().to_string()
                };
                if let Some(q) = e["quote"].as_str() {
                    assert!(fold_whitespace(&text).contains(&fold_whitespace(q)), "quote not verbatim in {r}: {q}");
                }
            }
            for a in rec["proposed_actions"].as_array().unwrap() {
                assert!(a["tier"].is_string());
            }
        }
        "needs_review" => {
            assert!(body["recommendation"].is_null());
            let reasons = body["review"]["reasons"].as_array().unwrap();
            assert!(!reasons.is_empty());
            for r in reasons {
                let code = r["code"].as_str().unwrap();
                assert!(REASON_CODES.contains(&code), "reason code `{code}` is not in the contract");
            }
            assert!(body["review"]["approval_id"].as_str().is_some());
        }
        other => panic!("status `{other}`"),
    }
}
