//! A scripted OpenAI-compatible server on loopback (real HTTP): it records every request
//! and answers `POST /v1/chat/completions` from a script, one step per request, the last
//! step repeating. Steps see the request, so a valid answer can cite what was retrieved.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// What the server does with one request.
pub enum Reply {
    /// 200 with a chat completion whose message content is `content`.
    Chat { content: String, finish: String },
    /// Any status with an optional `Retry-After` and a body.
    Status { code: u16, retry_after: Option<String>, body: String },
    /// Never answer.
    Hang,
    /// Wait, then reply.
    After(Duration, Box<Reply>),
}

pub type Step = Box<dyn Fn(&Value) -> Reply + Send + Sync>;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub at: Instant,
    pub headers: HashMap<String, String>,
    /// The body exactly as sent.
    pub raw: String,
    pub body: Value,
}

impl Recorded {
    pub fn messages(&self) -> &Vec<Value> {
        self.body["messages"].as_array().expect("messages")
    }

    pub fn message(&self, i: usize) -> (&str, &str) {
        let m = &self.messages()[i];
        (m["role"].as_str().unwrap(), m["content"].as_str().unwrap())
    }

    pub fn system(&self) -> &str {
        self.message(0).1
    }

    pub fn user(&self) -> &str {
        self.message(1).1
    }
}

struct Inner {
    script: Mutex<VecDeque<Step>>,
    last: Mutex<Option<Arc<Step>>>,
    requests: Mutex<Vec<Recorded>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

pub struct Stub {
    /// `http://127.0.0.1:<port>/v1`
    pub base_url: String,
    inner: Arc<Inner>,
}

impl Stub {
    pub async fn start(steps: Vec<Step>) -> Stub {
        assert!(!steps.is_empty(), "a script needs at least one step");
        let inner = Arc::new(Inner {
            script: Mutex::new(steps.into()),
            last: Mutex::new(None),
            requests: Mutex::new(Vec::new()),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        });
        let router = Router::new().route("/v1/chat/completions", post(handle)).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Stub { base_url: format!("http://{addr}/v1"), inner }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.inner.requests.lock().unwrap().clone()
    }

    pub fn calls(&self) -> usize {
        self.inner.requests.lock().unwrap().len()
    }

    /// The most requests that were being answered at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.inner.max_in_flight.load(Ordering::SeqCst)
    }
}

struct InFlight(Arc<Inner>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn handle(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    let now = inner.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    inner.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let _guard = InFlight(inner.clone());
    let raw = String::from_utf8_lossy(&body).to_string();
    let value: Value = serde_json::from_str(&raw).unwrap_or(Value::Null);
    inner.requests.lock().unwrap().push(Recorded {
        at: Instant::now(),
        headers: headers.iter().map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or_default().to_string())).collect(),
        raw,
        body: value.clone(),
    });
    let step: Arc<Step> = {
        let mut script = inner.script.lock().unwrap();
        let mut last = inner.last.lock().unwrap();
        if let Some(s) = script.pop_front() {
            *last = Some(Arc::new(s));
        }
        last.clone().unwrap()
    };
    let reply = step(&value);
    respond(reply).await
}

async fn respond(mut reply: Reply) -> Response {
    loop {
        match reply {
            Reply::After(d, next) => {
                tokio::time::sleep(d).await;
                reply = *next;
            }
            Reply::Hang => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                return StatusCode::GATEWAY_TIMEOUT.into_response();
            }
            Reply::Status { code, retry_after, body } => {
                let mut resp = (StatusCode::from_u16(code).unwrap(), [("content-type", "application/json")], body).into_response();
                if let Some(ra) = retry_after {
                    resp.headers_mut().insert("retry-after", ra.parse().unwrap());
                }
                return resp;
            }
            Reply::Chat { content, finish } => {
                let body = json!({
                    "id": "chatcmpl-stub", "object": "chat.completion", "created": 1_767_225_600u32, "model": "stub-served",
                    "choices": [{"index": 0, "finish_reason": finish,
                                 "message": {"role": "assistant", "content": content}}],
                    "usage": {"prompt_tokens": 321, "completion_tokens": 54, "total_tokens": 375}
                });
                return axum::Json(body).into_response();
            }
        }
    }
}

// ---- steps ----

/// A schema-valid, grounded answer built from what the request showed.
pub fn valid() -> Step {
    Box::new(|req| Reply::Chat { content: grounded_answer(req).to_string(), finish: "stop".into() })
}

/// A fixed message content with `finish_reason: stop`.
pub fn content(text: &str) -> Step {
    let text = text.to_string();
    Box::new(move |_| Reply::Chat { content: text.clone(), finish: "stop".into() })
}

/// A grounded answer, changed by `edit` before it is sent.
pub fn edited(edit: fn(&mut Value)) -> Step {
    Box::new(move |req| {
        let mut v = grounded_answer(req);
        edit(&mut v);
        Reply::Chat { content: v.to_string(), finish: "stop".into() }
    })
}

/// A grounded (valid) answer, but with another `finish_reason`.
pub fn finished(reason: &str) -> Step {
    let reason = reason.to_string();
    Box::new(move |req| Reply::Chat { content: grounded_answer(req).to_string(), finish: reason.clone() })
}

pub fn status(code: u16) -> Step {
    Box::new(move |_| Reply::Status {
        code,
        retry_after: None,
        body: json!({"error": {"message": format!("scripted {code}"), "type": "stub", "param": null, "code": null}}).to_string(),
    })
}

pub fn status_retry_after(code: u16, retry_after: &str) -> Step {
    let ra = retry_after.to_string();
    Box::new(move |_| Reply::Status {
        code,
        retry_after: Some(ra.clone()),
        body: json!({"error": {"message": "slow down", "type": "rate_limit_error", "param": null, "code": null}}).to_string(),
    })
}

pub fn hang() -> Step {
    Box::new(|_| Reply::Hang)
}

/// A valid answer after a delay.
pub fn slow_valid(d: Duration) -> Step {
    Box::new(move |req| Reply::After(d, Box::new(Reply::Chat { content: grounded_answer(req).to_string(), finish: "stop".into() })))
}

// ---- reading the prompt back ----

/// The JSON lines between `<<<{TAG} nonce=…>>>` and `<<<END {TAG} nonce=…>>>` of a user message.
pub fn fenced(user: &str, tag: &str) -> Vec<Value> {
    let open = format!("<<<{tag} nonce=");
    let close = format!("<<<END {tag} nonce=");
    let mut out = Vec::new();
    let mut inside = false;
    for line in user.lines() {
        if line.starts_with(&open) {
            inside = true;
        } else if line.starts_with(&close) {
            inside = false;
        } else if inside && !line.trim().is_empty() {
            out.push(serde_json::from_str(line).unwrap_or_else(|e| panic!("fenced line is not JSON ({e}): {line}")));
        }
    }
    out
}

/// The nonce of the `<<<{TAG} nonce=…>>>` fence.
pub fn nonce(user: &str, tag: &str) -> Option<String> {
    let open = format!("<<<{tag} nonce=");
    user.lines().find_map(|l| l.strip_prefix(&open)).map(|rest| rest.trim_end_matches(">>>").to_string())
}

/// The action names of the `Action catalog:` line.
pub fn catalog(user: &str) -> Vec<String> {
    user.lines().find_map(|l| l.strip_prefix("Action catalog: ")).map(|l| l.split(", ").map(str::to_string).collect()).unwrap_or_default()
}

/// An answer that cites the first alert's rule name, quotes the best document, maps a
/// technique from the embedded catalog and proposes an automatic action on a named host.
pub fn grounded_answer(req: &Value) -> Value {
    let user = req["messages"][1]["content"].as_str().unwrap_or_default();
    let alerts = fenced(user, "ALERTS");
    let docs = fenced(user, "DOCUMENTS");
    let first = alerts.first().cloned().unwrap_or(Value::Null);
    let id = first["id"].as_str().unwrap_or("missing");
    let rule = first["rule"]["name"].as_str().unwrap_or_default();
    let severity = first["rule"]["severity"].as_str().unwrap_or("medium");
    let mut evidence = vec![json!({"ref": format!("alert:{id}#rule.name"), "quote": rule})];
    if let Some(d) = docs.first() {
        let excerpt = d["excerpt"].as_str().unwrap_or_default();
        let quote: String = excerpt.split(' ').take(5).collect::<Vec<_>>().join(" ");
        evidence.push(json!({"ref": d["ref"].clone(), "quote": quote}));
    }
    let mut actions = Vec::new();
    if let Some(host) = first["entities"]["hosts"][0].as_str()
        && catalog(user).iter().any(|a| a == "create_ticket")
    {
        actions.push(json!({"action": "create_ticket", "target": format!("host:{host}"), "rationale": "Track the investigation with the owning team."}));
    }
    json!({
        "severity": severity,
        "confidence": 0.6,
        "hypothesis": "The activity matches the detection rule and looks like scripted misuse of an interpreter.",
        "attack": [{"technique_id": "T1059.001", "rationale": "An encoded interpreter command line."}],
        "evidence": evidence,
        "uncertainty": ["Scripted test answer: judgement not exercised."],
        "proposed_actions": actions,
        "summary": "Likely malicious interpreter use; review the cited evidence."
    })
}
