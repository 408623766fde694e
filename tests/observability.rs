//! What an operator scrapes and traces: `/metrics` read back through a strict text-format
//! parser, and the spans of one recommendation exported over OTLP/HTTP to a receiver on
//! loopback, with nothing of the alert in them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "support_openai/mod.rs"]
mod support_openai;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::{TestApp, native_alert};
use openmetrics_parser::{MetricsExposition, PrometheusType, PrometheusValue};
use serde_json::{Value, json};
use support_openai::*;
use triage::store::Role;

const RULE: &str = "Encoded PowerShell spawned by Office";
/// Appears in the alert's command line and so in the prompt; must appear in no span.
const CANARY: &str = "zq-canary-7f41c2-exfil";

fn alert(id: &str) -> Value {
    native_alert(
        id,
        RULE,
        "high",
        json!({
            "CommandLine": format!("powershell -nop -w hidden -enc SQBFAFgA {CANARY}"),
            "ParentImage": "C:\\Program Files\\Microsoft Office\\WINWORD.EXE",
        }),
    )
}

async fn llm_app(stub: &Stub) -> TestApp {
    common::spawn_llm_app(&stub.base_url, "2000", &["--llm-max-retries", "2"]).await
}

// ---- metrics ----

type Exposition = MetricsExposition<PrometheusType, PrometheusValue>;

/// `/metrics` in both formats, each parsed whole by a strict parser; the Prometheus one is returned.
async fn scrape(t: &TestApp) -> Exposition {
    let get = |accept: &'static str| {
        let req = t.http.get(format!("{}/metrics", t.base)).header("accept", accept);
        async move {
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), 200);
            let content_type = r.headers()["content-type"].to_str().unwrap().to_string();
            (content_type, r.text().await.unwrap())
        }
    };
    let (content_type, open) = get("application/openmetrics-text;version=1.0.0;q=0.9,text/plain;version=0.0.4;q=0.5").await;
    assert_eq!(content_type, "application/openmetrics-text; version=1.0.0; charset=utf-8");
    assert!(open.contains("# UNIT triage_http_request_duration_seconds seconds\n"), "{open}");
    // The parser takes `# UNIT` for counters and gauges only, where OpenMetrics 1.0 (and its
    // reference parser, Python's prometheus_client) allow it on histograms too: it checks
    // everything else of the exposition.
    let checkable: String = open.lines().filter(|l| !l.starts_with("# UNIT ")).map(|l| format!("{l}\n")).collect();
    openmetrics_parser::openmetrics::parse_openmetrics(&checkable).unwrap_or_else(|e| panic!("OpenMetrics output refused: {e:?}\n{open}"));
    let (content_type, text) = get("text/plain").await;
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    openmetrics_parser::prometheus::parse_prometheus(&text).unwrap_or_else(|e| panic!("Prometheus text output refused: {e:?}\n{text}"))
}

/// The series of `family` whose labels include all of `labels`: (their labels, value), with
/// a histogram's value its count.
fn series(m: &Exposition, family: &str, labels: &[(&str, &str)]) -> Vec<(HashMap<String, String>, f64)> {
    let Some(f) = m.families.get(family) else { return Vec::new() };
    f.iter_samples()
        .filter_map(|s| {
            let set = s.get_labelset().unwrap();
            let all: HashMap<String, String> = set.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            if !labels.iter().all(|(k, v)| all.get(*k).map(String::as_str) == Some(*v)) {
                return None;
            }
            let v = match &s.value {
                PrometheusValue::Counter(c) => c.value.as_f64(),
                PrometheusValue::Gauge(g) | PrometheusValue::Unknown(g) => g.as_f64(),
                PrometheusValue::Histogram(h) => h.count.unwrap() as f64,
                PrometheusValue::Summary(_) => panic!("no summaries here"),
            };
            Some((all, v))
        })
        .collect()
}

/// The sum over the matching series.
fn value(m: &Exposition, family: &str, labels: &[(&str, &str)]) -> f64 {
    series(m, family, labels).iter().map(|(_, v)| v).sum()
}

/// Ready answers to pass, and how many.
const N: usize = 3;

#[tokio::test]
async fn metrics_count_requests_by_route_template_and_outcomes_by_engine_and_model() {
    // The provider: one 500 (retried), N valid answers, two answers that aren't JSON (the
    // proposal and its repair: needs review), then a 400 (the baseline answers, degraded).
    let mut steps = vec![status(500)];
    steps.extend((0..N).map(|_| valid()));
    steps.extend([content("not json"), content("not json"), status(400)]);
    let stub = Stub::start(steps).await;
    let t = llm_app(&stub).await;
    let key = t.key("case-engine", Role::CaseEngine);

    let mut recommendation_ids = Vec::new();
    for i in 0..N {
        let (s, body) = t.post("/v1/recommend", &key, &json!({"alerts": [alert(&format!("alrt-{i}"))]})).await;
        assert_eq!((s, body["status"].as_str(), body["engine"]["degraded"].as_bool()), (200, Some("ready"), Some(false)), "{body}");
        recommendation_ids.push(body["recommendation_id"].as_str().unwrap().to_string());
    }
    let (s, body) = t.post("/v1/recommend", &key, &json!({"alerts": [alert("alrt-junk")]})).await;
    assert_eq!((s, body["status"].as_str()), (200, Some("needs_review")), "{body}");
    let (s, body) = t.post("/v1/recommend", &key, &json!({"alerts": [alert("alrt-down")]})).await;
    assert_eq!((s, body["engine"]["name"].as_str(), body["engine"]["degraded"].as_bool()), (200, Some("baseline"), Some(true)), "{body}");
    // Errors: a body that is not a recommend request, no key, a route that does not exist.
    let (s, _) = t.post("/v1/recommend", &key, &json!({"alert": []})).await;
    assert_eq!(s, 400);
    let (s, _) = t.post("/v1/recommend", "", &json!({"alerts": [alert("alrt-anon")]})).await;
    assert_eq!(s, 401);
    let (s, _) = t.get("/v1/no-such-route/4711", &key).await;
    assert_eq!(s, 404);
    // A route with a parameter.
    let (s, _) = t.get(&format!("/v1/recommendations/{}", recommendation_ids[0]), &key).await;
    assert_eq!(s, 200);

    let m = scrape(&t).await;
    let http = "triage_http_request_duration_seconds";
    let recommend = [("method", "POST"), ("route", "/v1/recommend")];
    let answered = N + 2;
    assert_eq!(value(&m, http, &[recommend[0], recommend[1], ("status", "200")]), answered as f64);
    assert_eq!(value(&m, http, &[recommend[0], recommend[1], ("status", "400")]), 1.0);
    assert_eq!(value(&m, http, &[recommend[0], recommend[1], ("status", "401")]), 1.0);
    assert_eq!(value(&m, http, &recommend), (answered + 2) as f64, "every POST /v1/recommend, whatever its status");
    assert_eq!(value(&m, http, &[("route", "/v1/recommendations/{id}"), ("status", "200")]), 1.0);
    assert_eq!(value(&m, http, &[("route", "unmatched"), ("status", "404")]), 1.0);
    for (labels, _) in series(&m, http, &[]) {
        let route = &labels["route"];
        assert!(!route.contains("rec_") && !route.contains("4711") && !route.contains("no-such-route"), "a raw path became a label: {route}");
    }

    // Engines and models: what answered, what failed, what the provider was asked.
    let llm = [("engine", "llm"), ("model", "stub-model")];
    let baseline = [("engine", "baseline"), ("model", "baseline")];
    let recs = "triage_recommendations_total";
    assert_eq!(value(&m, recs, &[llm[0], llm[1], ("status", "ready")]), N as f64);
    assert_eq!(value(&m, recs, &[llm[0], llm[1], ("status", "needs_review")]), 1.0);
    assert_eq!(value(&m, recs, &baseline), 1.0);
    assert_eq!(value(&m, "triage_recommendation_review_reasons_total", &[llm[0], llm[1], ("reason", "invalid_output")]), 1.0);
    assert_eq!(value(&m, "triage_engine_degraded_total", &llm), 1.0);
    // N proposals, the junk proposal and its repair, the refused one; then the baseline once.
    assert_eq!(value(&m, "triage_engine_duration_seconds", &llm), (N + 3) as f64);
    assert_eq!(value(&m, "triage_engine_duration_seconds", &baseline), 1.0);
    assert_eq!(value(&m, "triage_recommendation_duration_seconds", &[]), answered as f64);
    assert_eq!(value(&m, "triage_retrieval_duration_seconds", &[]), answered as f64);

    // The provider: every call, the retry, tokens as reported (321 + 54 per answer), the breaker.
    let model = ("model", "stub-model");
    let calls = "triage_llm_calls_total";
    assert_eq!(value(&m, calls, &[model, ("outcome", "ok")]), (N + 2) as f64);
    assert_eq!(value(&m, calls, &[model, ("outcome", "error")]), 1.0);
    assert_eq!(value(&m, calls, &[model, ("outcome", "rejected")]), 1.0);
    assert_eq!(stub.calls(), N + 4, "the provider saw exactly the calls counted");
    assert_eq!(value(&m, "triage_llm_retries_total", &[model]), 1.0);
    assert_eq!(value(&m, "triage_llm_tokens_total", &[model, ("type", "prompt")]), (321 * (N + 2)) as f64);
    assert_eq!(value(&m, "triage_llm_tokens_total", &[model, ("type", "completion")]), (54 * (N + 2)) as f64);
    assert_eq!(value(&m, "triage_llm_breaker_state", &[model, ("state", "closed")]), 1.0);
    assert_eq!(value(&m, "triage_llm_breaker_state", &[model, ("state", "open")]), 0.0);

    // Read from the store at scrape time.
    let pending = t.app.store.approvals(Some(triage::store::ApprovalStatus::Pending), None, 500).unwrap();
    let human = pending.iter().filter(|a| a.tier == triage::policy::Tier::HumanApproval).count();
    assert!(human >= 1, "the review of the junk answer waits for a person");
    assert_eq!(value(&m, "triage_approvals_pending", &[("tier", "human_approval")]), human as f64);
    assert!(value(&m, "triage_approvals_pending_oldest_age_seconds", &[("tier", "human_approval")]) >= 0.0);
    assert_eq!(series(&m, "triage_approvals_pending", &[]).len(), 2, "both tiers that wait for people, even at 0");
    let audit = t.app.store.audit_entries(0, 100_000).unwrap();
    assert_eq!(value(&m, "triage_audit_chain_entries", &[]), audit.last().unwrap().seq as f64);
    assert_eq!(value(&m, "triage_queue_depth", &[]), 0.0);
    assert_eq!(value(&m, "triage_queue_oldest_age_seconds", &[]), 0.0);
}

// ---- traces ----

/// A tiny OTLP/HTTP receiver: every body posted to `/v1/traces`, as received.
async fn receiver() -> (String, Arc<Mutex<Vec<String>>>) {
    use axum::routing::post;
    let bodies: Arc<Mutex<Vec<String>>> = Arc::default();
    let kept = bodies.clone();
    let router = axum::Router::new().route(
        "/v1/traces",
        post(move |headers: axum::http::HeaderMap, body: String| {
            let kept = kept.clone();
            async move {
                assert_eq!(headers["content-type"], "application/json", "OTLP/HTTP with JSON bodies");
                kept.lock().unwrap().push(body);
                ([("content-type", "application/json")], "{}")
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (format!("http://{addr}"), bodies)
}

/// The process's subscriber, installed once with an exporter to `endpoint`.
static TELEMETRY: OnceLock<triage::telemetry::Telemetry> = OnceLock::new();

#[derive(Debug, Clone)]
struct Span {
    trace: String,
    id: String,
    parent: String,
    name: String,
    attributes: HashMap<String, Value>,
}

impl Span {
    fn attr(&self, key: &str) -> Option<&Value> {
        self.attributes.get(key)
    }

    fn str(&self, key: &str) -> Option<&str> {
        self.attr(key)?.get("stringValue")?.as_str()
    }

    /// OTLP JSON carries 64-bit integers as strings; accept numbers too.
    fn int(&self, key: &str) -> Option<i64> {
        let v = self.attr(key)?.get("intValue")?;
        v.as_i64().or_else(|| v.as_str()?.parse().ok())
    }
}

fn spans(bodies: &[String]) -> Vec<Span> {
    let mut out = Vec::new();
    for body in bodies {
        let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("an export that is not JSON ({e}): {body}"));
        for rs in v["resourceSpans"].as_array().into_iter().flatten() {
            for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                for s in ss["spans"].as_array().into_iter().flatten() {
                    let attributes =
                        s["attributes"].as_array().into_iter().flatten().map(|a| (a["key"].as_str().unwrap().to_string(), a["value"].clone())).collect();
                    out.push(Span {
                        trace: s["traceId"].as_str().unwrap_or_default().to_string(),
                        id: s["spanId"].as_str().unwrap_or_default().to_string(),
                        parent: s["parentSpanId"].as_str().unwrap_or_default().to_string(),
                        name: s["name"].as_str().unwrap_or_default().to_string(),
                        attributes,
                    });
                }
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_recommendation_is_one_trace_of_its_stages_without_alert_content() {
    let (endpoint, bodies) = receiver().await;
    let telemetry = triage::telemetry::init(Some(&endpoint), tracing_subscriber::EnvFilter::new("error")).unwrap();
    assert!(telemetry.exporting());
    assert!(TELEMETRY.set(telemetry).is_ok());

    let stub = Stub::start(vec![valid()]).await;
    let t = llm_app(&stub).await;
    let key = t.key("case-engine", Role::CaseEngine);
    let case_id = "case-otlp-1";
    let (s, body) = t.post("/v1/recommend", &key, &json!({"case_id": case_id, "alerts": [alert("alrt-otlp")]})).await;
    assert_eq!((s, body["status"].as_str()), (200, Some("ready")), "{body}");
    assert!(stub.requests()[0].user().contains(CANARY), "the canary reached the prompt, so its absence below means something");

    // Export until the request's span (closed once the response is sent) has arrived.
    let deadline = Instant::now() + Duration::from_secs(20);
    let trace = loop {
        tokio::task::spawn_blocking(|| TELEMETRY.get().unwrap().flush()).await.unwrap();
        let all = spans(&bodies.lock().unwrap());
        let ours = all.iter().find(|s| s.str("triage.case_id") == Some(case_id)).map(|s| s.trace.clone());
        if let Some(trace) = ours
            && all.iter().any(|s| s.trace == trace && s.name == "POST /v1/recommend")
        {
            break all.into_iter().filter(|s| s.trace == trace).collect::<Vec<_>>();
        }
        assert!(Instant::now() < deadline, "no complete trace exported: {:?}", all.iter().map(|s| &s.name).collect::<Vec<_>>());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    // One request span at the root; every stage its child, in the same trace.
    let roots: Vec<&Span> = trace.iter().filter(|s| s.parent.is_empty()).collect();
    assert_eq!(roots.len(), 1, "{trace:#?}");
    let root = roots[0];
    assert_eq!(root.name, "POST /v1/recommend");
    assert_eq!(root.str("http.route"), Some("/v1/recommend"));
    assert_eq!(root.str("http.request.method"), Some("POST"));
    assert_eq!(root.int("http.response.status_code"), Some(200), "{root:#?}");
    for stage in ["redact", "record", "enrich", "retrieve", "engine", "validate", "policy", "store"] {
        let found: Vec<&Span> = trace.iter().filter(|s| s.name == stage).collect();
        assert_eq!(found.len(), 1, "one `{stage}` span: {:?}", trace.iter().map(|s| &s.name).collect::<Vec<_>>());
        assert_eq!(found[0].parent, root.id, "`{stage}` is a child of the request");
    }

    // The engine span speaks the GenAI conventions.
    let engine = trace.iter().find(|s| s.name == "engine").unwrap();
    assert_eq!(engine.str("gen_ai.system"), Some("openai"));
    assert_eq!(engine.str("gen_ai.operation.name"), Some("chat"));
    assert_eq!(engine.str("gen_ai.request.model"), Some("stub-model"));
    assert_eq!(engine.str("gen_ai.response.model"), Some("stub-served"));
    assert_eq!(engine.int("gen_ai.usage.input_tokens"), Some(321));
    assert_eq!(engine.int("gen_ai.usage.output_tokens"), Some(54));
    assert_eq!(engine.str("gen_ai.response.finish_reasons"), Some("stop"));
    assert_eq!(trace.iter().find(|s| s.name == "validate").unwrap().attr("triage.valid").and_then(|v| v["boolValue"].as_bool()), Some(true));

    // Nothing of the alert, the prompt or the answer left in any export.
    let exported = bodies.lock().unwrap().join("\n");
    let hypothesis = body["recommendation"]["hypothesis"].as_str().unwrap();
    for text in [CANARY, RULE, "WINWORD.EXE", "powershell", hypothesis, "sk-stub-0123456789"] {
        assert!(!exported.contains(text), "`{text}` was exported in a span");
    }
}
