//! The `llm` engine: any OpenAI-compatible chat-completions endpoint.
//!
//! One request per answer, asking for the model output schema with `response_format:
//! json_schema` and `strict: true` (or `json_object`, with the schema in the system
//! message), at temperature 0. What comes back is raw text for the validator; an answer
//! whose `finish_reason` is not `stop` is turned into text that fails as `invalid_output`.
//!
//! Resilience, all from [`LlmSettings`]:
//! - each call has its own timeout and all calls of one recommendation (retries and the
//!   repair included) share a total budget;
//! - 429, 5xx, timeouts and transport errors are retried up to `max_retries` times,
//!   honouring `Retry-After` (seconds) up to `max_retry_after`, else with exponential
//!   backoff; any other 4xx is [`EngineError::Rejected`] at once; exhausted retries are
//!   [`EngineError::Unavailable`] — both make the baseline answer, marked degraded;
//! - a circuit breaker: after `breaker_threshold` consecutive failures every request is
//!   `Unavailable` at once until `breaker_cooldown` passes, then one probe is let through;
//! - a semaphore bounds the provider calls in flight (`concurrency`);
//! - an answer is read up to `max_answer_bytes`; a bigger one is [`EngineError::Rejected`]
//!   without being read further, let alone stored.
//!
//! Transport: the HTTP call is made with `reqwest` directly, while the request and response
//! bodies are async-openai's chat types. async-openai 0.43's `Client` wraps every call in
//! its own retry layer (three retries of 429/5xx, `Retry-After` uncapped) and its errors
//! drop the response headers, so the retry count, the `Retry-After` cap and the budget
//! asked for here could not be enforced through it.
//!
//! Prompts and keys are never logged; the prompt's size and trim are, at debug level.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_openai::types::chat::{
    ChatCompletionRequestAssistantMessage, ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage, ChatCompletionRequestUserMessage,
    CreateChatCompletionRequest, CreateChatCompletionResponse, FinishReason, ResponseFormat, ResponseFormatJsonSchema,
};
use async_trait::async_trait;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde_json::Value;
use tokio::sync::Semaphore;

use super::{Engine, EngineAnswer, EngineError, EngineRequest, Usage};
use crate::config::{LlmSettings, ResponseFormatKind};
use crate::metrics::{CallOutcome, Circuit, LlmMetrics};
use crate::prompt::{Prompts, cut};
use crate::recommendation::{ReviewReason, model_output_schema, summary_output_schema};

/// The `json_schema.name` sent with every request.
pub const SCHEMA_NAME: &str = "triage_model_output";
pub const SUMMARY_SCHEMA_NAME: &str = "triage_case_summary";
/// How an answer that did not finish normally starts. It is not JSON, so the validator
/// refuses it as `invalid_output`, and a reviewer reading the raw output sees why.
pub const INCOMPLETE_PREFIX: &str = "incomplete answer: finish_reason=";
/// Backoff without `Retry-After`: this, doubled per retry, up to [`BACKOFF_MAX`].
const BACKOFF_BASE: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(8);
/// How much of a provider's error body goes into an error message.
const ERROR_BODY_MAX: usize = 300;
/// How much of the previous answer a repair request repeats.
const PREVIOUS_MAX: usize = 8_000;

pub struct OpenAiEngine {
    settings: LlmSettings,
    api_key: Option<String>,
    endpoint: String,
    http: reqwest::Client,
    prompts: Prompts,
    limiter: Semaphore,
    breaker: Breaker,
    /// Calls, retries, tokens and the breaker's state, per model.
    metrics: LlmMetrics,
    /// When the recommendation an answer belongs to started, so its repair shares the
    /// total budget. Keyed by a hash of (case id, raw answer).
    started: Mutex<HashMap<u64, Instant>>,
}

impl OpenAiEngine {
    pub fn new(settings: &LlmSettings) -> Result<Self, EngineError> {
        let base =
            reqwest::Url::parse(settings.base_url.trim()).map_err(|e| EngineError::Unavailable(format!("--llm-base-url `{}`: {e}", settings.base_url)))?;
        let endpoint = format!("{}/chat/completions", base.as_str().trim_end_matches('/'));
        let schema = match settings.response_format {
            ResponseFormatKind::JsonSchema => None,
            ResponseFormatKind::JsonObject => Some(model_output_schema()),
        };
        let prompts = Prompts::load(schema.as_ref()).map_err(|e| EngineError::Unavailable(e.to_string()))?;
        let http = reqwest::Client::builder().connect_timeout(settings.timeout).build().map_err(|e| EngineError::Unavailable(format!("http client: {e}")))?;
        tracing::info!(
            endpoint = %endpoint,
            model = %settings.model,
            prompt_version = %prompts.version(),
            response_format = ?settings.response_format,
            "llm engine ready"
        );
        Ok(OpenAiEngine {
            api_key: settings.resolved_api_key(),
            endpoint,
            http,
            prompts,
            limiter: Semaphore::new(settings.concurrency.max(1)),
            breaker: Breaker::new(settings.breaker_threshold, settings.breaker_cooldown),
            metrics: LlmMetrics::default(),
            started: Mutex::new(HashMap::new()),
            settings: settings.clone(),
        })
    }

    /// Reports calls, retries, tokens and the breaker's state into `metrics`.
    pub fn with_metrics(mut self, metrics: LlmMetrics) -> Self {
        metrics.breaker(&self.settings.model, self.breaker.circuit());
        self.metrics = metrics;
        self
    }

    fn observe_breaker(&self) {
        self.metrics.breaker(&self.settings.model, self.breaker.circuit());
    }

    fn total_budget(&self) -> Duration {
        self.settings.total_timeout
    }

    fn response_format(&self) -> ResponseFormat {
        match self.settings.response_format {
            ResponseFormatKind::JsonSchema => ResponseFormat::JsonSchema {
                json_schema: ResponseFormatJsonSchema {
                    description: Some("A triage recommendation for the alerts, to be checked and reviewed by people.".into()),
                    name: SCHEMA_NAME.into(),
                    schema: model_output_schema(),
                    strict: Some(true),
                },
            },
            ResponseFormatKind::JsonObject => ResponseFormat::JsonObject,
        }
    }

    fn chat_request(&self, messages: Vec<ChatCompletionRequestMessage>) -> CreateChatCompletionRequest {
        // `max_tokens` rather than `max_completion_tokens`: it is what OpenAI-compatible
        // servers (llama.cpp, vLLM, Ollama) all understand.
        #[allow(deprecated)]
        CreateChatCompletionRequest {
            model: self.settings.model.clone(),
            messages,
            temperature: Some(0.0),
            max_tokens: Some(self.settings.max_tokens),
            response_format: Some(self.response_format()),
            ..Default::default()
        }
    }

    /// The system and user messages of a request.
    fn messages(&self, req: &EngineRequest<'_>) -> Result<Vec<ChatCompletionRequestMessage>, EngineError> {
        let rendered = self.prompts.render(req, self.settings.max_prompt_chars).map_err(|e| EngineError::Unavailable(e.to_string()))?;
        let t = &rendered.trim;
        if t.over_budget {
            tracing::warn!(case_id = %req.case_id, chars = t.chars, max = self.settings.max_prompt_chars, "prompt still over budget after trimming");
        }
        tracing::debug!(
            case_id = %req.case_id,
            chars = t.chars,
            excerpt_cap = t.excerpt_cap,
            string_cap = ?t.string_cap,
            documents_omitted = t.documents_omitted,
            alerts_omitted = t.alerts_omitted,
            "prompt rendered"
        );
        Ok(vec![ChatCompletionRequestSystemMessage::from(rendered.system).into(), ChatCompletionRequestUserMessage::from(rendered.user).into()])
    }

    fn answer(&self, done: Completed) -> EngineAnswer {
        // The engine span the pipeline opened declares these (GenAI semantic conventions).
        let span = tracing::Span::current();
        if let Some(finish) = &done.finish {
            span.record("gen_ai.response.finish_reasons", finish.as_str());
        }
        if let Some(model) = &done.response_model {
            span.record("gen_ai.response.model", model.as_str());
        }
        EngineAnswer {
            raw: done.raw,
            model: self.settings.model.clone(),
            prompt_version: self.prompts.version().to_string(),
            usage: done.usage,
            calls: done.calls,
        }
    }

    fn remember_start(&self, case_id: &str, raw: &str, started: Instant) {
        let budget = self.total_budget();
        if let Ok(mut m) = self.started.lock() {
            m.retain(|_, t| t.elapsed() < budget * 2);
            m.insert(answer_key(case_id, raw), started);
        }
    }

    fn take_start(&self, case_id: &str, raw: &str) -> Option<Instant> {
        self.started.lock().ok()?.remove(&answer_key(case_id, raw))
    }

    /// One chat completion, retried as configured, within `deadline`.
    async fn complete(&self, body: &CreateChatCompletionRequest, deadline: Instant) -> Result<Completed, EngineError> {
        let admitted = self.breaker.admit();
        self.observe_breaker();
        admitted?;
        let result = self.complete_with_retries(body, deadline).await;
        match &result {
            Ok(_) => self.breaker.success(),
            Err(EngineError::Unavailable(_)) => self.breaker.failure(),
            Err(_) => {}
        }
        self.observe_breaker();
        result
    }

    async fn complete_with_retries(&self, body: &CreateChatCompletionRequest, deadline: Instant) -> Result<Completed, EngineError> {
        let mut calls = 0u32;
        let mut retries = 0u32;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(EngineError::Unavailable(format!(
                    "the total budget of {} ms ran out after {calls} calls",
                    self.settings.total_timeout.as_millis()
                )));
            }
            let Ok(Ok(permit)) = tokio::time::timeout(remaining, self.limiter.acquire()).await else {
                return Err(EngineError::Unavailable(format!("no provider slot free within the budget after {calls} calls")));
            };
            let remaining = deadline.saturating_duration_since(Instant::now());
            let per_call = self.settings.timeout.min(remaining);
            calls += 1;
            let model = &self.settings.model;
            let attempt = match tokio::time::timeout(per_call, self.send_once(body)).await {
                Ok(a) => a,
                Err(_) => {
                    self.metrics.call(model, CallOutcome::Timeout);
                    Attempt::Retry { why: format!("no answer within {} ms", per_call.as_millis()), retry_after: None }
                }
            };
            drop(permit);
            let (why, retry_after) = match attempt {
                Attempt::Done(c) => {
                    self.metrics.call(model, CallOutcome::Ok);
                    self.metrics.tokens(model, &c.usage);
                    return Ok(Completed { raw: c.raw, usage: c.usage, finish: c.finish, response_model: c.response_model, calls });
                }
                Attempt::Refused(why) => {
                    self.metrics.call(model, CallOutcome::Rejected);
                    return Err(EngineError::Rejected(why));
                }
                Attempt::Retry { why, retry_after } => {
                    if !why.starts_with("no answer within") {
                        self.metrics.call(model, CallOutcome::Error);
                    }
                    (why, retry_after)
                }
            };
            if retries >= self.settings.max_retries {
                return Err(EngineError::Unavailable(format!("{why} (after {calls} calls)")));
            }
            let delay = match retry_after {
                Some(d) => d.min(self.settings.max_retry_after),
                None => backoff(retries),
            };
            if Instant::now() + delay >= deadline {
                return Err(EngineError::Unavailable(format!("{why}; the next try would pass the total budget (after {calls} calls)")));
            }
            tracing::warn!(attempt = calls, error = %why, delay_ms = delay.as_millis() as u64, "provider call failed; retrying");
            self.metrics.retry(model);
            tokio::time::sleep(delay).await;
            retries += 1;
        }
    }

    async fn send_once(&self, body: &CreateChatCompletionRequest) -> Attempt {
        let mut rb = self.http.post(&self.endpoint).json(body);
        if let Some(key) = &self.api_key {
            rb = rb.bearer_auth(key);
        }
        let resp = match rb.send().await {
            Ok(r) => r,
            Err(e) => return Attempt::Retry { why: format!("provider unreachable: {}", without_url(&e)), retry_after: None },
        };
        let status = resp.status();
        if status.is_success() {
            return match read_bounded(resp, self.settings.max_answer_bytes).await {
                Ok(bytes) => Attempt::Done(read_completion(&bytes)),
                // An answer far beyond what max_tokens allows is a broken or hostile
                // provider: refused at once, never stored.
                Err(Bounded::TooLarge) => Attempt::Refused(format!("the answer is larger than {} bytes", self.settings.max_answer_bytes)),
                Err(Bounded::Read(e)) => Attempt::Retry { why: format!("reading the answer: {}", without_url(&e)), retry_after: None },
            };
        }
        let retry_after = retry_after(resp.headers());
        let text = match read_bounded(resp, ERROR_BODY_MAX * 4).await {
            Ok(b) => String::from_utf8_lossy(&b).to_string(),
            Err(Bounded::TooLarge) => "(an error body too large to read)".to_string(),
            Err(Bounded::Read(_)) => String::new(),
        };
        let why = format!("HTTP {status}: {}", cut(text.trim(), ERROR_BODY_MAX));
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() { Attempt::Retry { why, retry_after } } else { Attempt::Refused(why) }
    }
}

#[async_trait]
impl Engine for OpenAiEngine {
    fn name(&self) -> &'static str {
        "llm"
    }

    fn model(&self) -> &str {
        &self.settings.model
    }

    async fn propose(&self, req: &EngineRequest<'_>) -> Result<EngineAnswer, EngineError> {
        let started = Instant::now();
        let body = self.chat_request(self.messages(req)?);
        let done = self.complete(&body, started + self.total_budget()).await?;
        self.remember_start(req.case_id, &done.raw, started);
        Ok(self.answer(done))
    }

    async fn repair(&self, req: &EngineRequest<'_>, previous: &EngineAnswer, reasons: &[ReviewReason]) -> Option<Result<EngineAnswer, EngineError>> {
        let started = self.take_start(req.case_id, &previous.raw).unwrap_or_else(Instant::now);
        let deadline = started + self.total_budget();
        let result = async {
            let repair = self.prompts.repair(reasons, previous.raw.starts_with(INCOMPLETE_PREFIX)).map_err(|e| EngineError::Unavailable(e.to_string()))?;
            let mut messages = self.messages(req)?;
            messages.push(ChatCompletionRequestAssistantMessage::from(cut(&previous.raw, PREVIOUS_MAX)).into());
            messages.push(ChatCompletionRequestUserMessage::from(repair).into());
            let done = self.complete(&self.chat_request(messages), deadline).await?;
            Ok(self.answer(done))
        };
        Some(result.await)
    }

    async fn summarize(&self, req: &EngineRequest<'_>) -> Option<Result<EngineAnswer, EngineError>> {
        let result = async {
            let mut messages = self.messages(req)?;
            messages[0] = ChatCompletionRequestSystemMessage::from(self.prompts.summary_system().to_string()).into();
            let mut body = self.chat_request(messages);
            body.response_format = Some(match self.settings.response_format {
                ResponseFormatKind::JsonSchema => ResponseFormat::JsonSchema {
                    json_schema: ResponseFormatJsonSchema {
                        description: Some("A case summary for analysts, to be checked before it is shown.".into()),
                        name: SUMMARY_SCHEMA_NAME.into(),
                        schema: summary_output_schema(),
                        strict: Some(true),
                    },
                },
                ResponseFormatKind::JsonObject => ResponseFormat::JsonObject,
            });
            let done = self.complete(&body, Instant::now() + self.total_budget()).await?;
            Ok(self.answer(done))
        };
        Some(result.await)
    }
}

fn answer_key(case_id: &str, raw: &str) -> u64 {
    let mut h = DefaultHasher::new();
    case_id.hash(&mut h);
    raw.hash(&mut h);
    h.finish()
}

enum Bounded {
    TooLarge,
    Read(reqwest::Error),
}

/// The body of `resp`, read a chunk at a time and abandoned as soon as it passes `max`
/// bytes (a `Content-Length` above `max` is refused before reading anything).
async fn read_bounded(mut resp: reqwest::Response, max: usize) -> Result<Vec<u8>, Bounded> {
    if resp.content_length().is_some_and(|n| n > max as u64) {
        return Err(Bounded::TooLarge);
    }
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(Bounded::Read)? {
        if out.len() + chunk.len() > max {
            return Err(Bounded::TooLarge);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// The outcome of one HTTP exchange.
enum Attempt {
    Done(Completion),
    Retry { why: String, retry_after: Option<Duration> },
    Refused(String),
}

/// What one successful exchange yielded.
struct Completion {
    raw: String,
    usage: Usage,
    /// The choice's `finish_reason`, as the provider named it.
    finish: Option<String>,
    /// The model the provider says answered.
    response_model: Option<String>,
}

/// What a completed call (retries included) yielded.
struct Completed {
    raw: String,
    usage: Usage,
    finish: Option<String>,
    response_model: Option<String>,
    calls: u32,
}

/// The raw answer of a 200 response: the message content when the model stopped
/// normally, else text the validator refuses as `invalid_output`.
fn read_completion(body: &[u8]) -> Completion {
    let (content, refusal, finish, usage, response_model) = match serde_json::from_slice::<CreateChatCompletionResponse>(body) {
        Ok(r) => {
            let usage = r.usage.map(|u| Usage { prompt_tokens: u.prompt_tokens, completion_tokens: u.completion_tokens }).unwrap_or_default();
            let model = Some(r.model);
            match r.choices.into_iter().next() {
                Some(c) => (c.message.content, c.message.refusal, c.finish_reason.map(finish_name), usage, model),
                None => (None, None, None, usage, model),
            }
        }
        // A server may add a finish reason or leave out a field the typed response
        // requires; read the few fields we need from the plain JSON instead.
        Err(_) => match serde_json::from_slice::<Value>(body) {
            Ok(v) => {
                let choice = &v["choices"][0];
                let usage = Usage {
                    prompt_tokens: v["usage"]["prompt_tokens"].as_u64().unwrap_or(0) as u32,
                    completion_tokens: v["usage"]["completion_tokens"].as_u64().unwrap_or(0) as u32,
                };
                (
                    choice["message"]["content"].as_str().map(str::to_string),
                    choice["message"]["refusal"].as_str().map(str::to_string),
                    choice["finish_reason"].as_str().map(str::to_string),
                    usage,
                    v["model"].as_str().map(str::to_string),
                )
            }
            Err(e) => {
                let raw = format!("{INCOMPLETE_PREFIX}none: the provider's answer is not a chat completion ({e})");
                return Completion { raw, usage: Usage::default(), finish: None, response_model: None };
            }
        },
    };
    let raw = match (finish.as_deref(), content, refusal) {
        (_, _, Some(refusal)) if !refusal.is_empty() => format!("{INCOMPLETE_PREFIX}refusal: the model refused: {}", cut(&refusal, ERROR_BODY_MAX)),
        (Some("stop"), Some(content), _) => content,
        (Some("stop"), None, _) => String::new(),
        (reason, content, _) => format!(
            "{INCOMPLETE_PREFIX}{}: the answer did not finish normally; partial output follows\n{}",
            reason.unwrap_or("none"),
            content.unwrap_or_default()
        ),
    };
    Completion { raw, usage, finish: finish.map(|f| telemetry_name(&f)), response_model: response_model.map(|m| telemetry_name(&m)) }
}

/// A provider-chosen name (finish reason, model) as it may go into a trace: short and
/// plain, or `other`. The provider is not trusted to keep it to a name.
fn telemetry_name(s: &str) -> String {
    let plain = !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '/'));
    if plain { s.to_string() } else { "other".to_string() }
}

fn finish_name(f: FinishReason) -> String {
    match f {
        FinishReason::Stop => "stop",
        FinishReason::Length => "length",
        FinishReason::ToolCalls => "tool_calls",
        FinishReason::ContentFilter => "content_filter",
        FinishReason::FunctionCall => "function_call",
    }
    .to_string()
}

/// `Retry-After` in (possibly fractional) seconds. An HTTP date is ignored: backoff applies.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim().parse::<f64>().ok()?;
    (v.is_finite() && v >= 0.0).then(|| Duration::from_secs_f64(v.min(86_400.0)))
}

/// Exponential backoff with up to 20% jitter.
fn backoff(retries: u32) -> Duration {
    let base = BACKOFF_BASE.saturating_mul(2u32.saturating_pow(retries)).min(BACKOFF_MAX);
    let jitter = base.mul_f64(rand::random::<f64>() * 0.2);
    base + jitter
}

/// A reqwest error's message without its URL (the base URL is configuration, but the
/// message stays short).
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else if e.is_body() || e.is_decode() {
        "body"
    } else {
        "request"
    };
    let mut msg = format!("{kind} error");
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

/// Consecutive failures open the breaker for a cooldown; then one probe goes through and
/// either closes it (success) or opens it again (failure).
struct Breaker {
    threshold: u32,
    cooldown: Duration,
    state: Mutex<BreakerState>,
}

#[derive(Default)]
struct BreakerState {
    consecutive: u32,
    open_until: Option<Instant>,
    /// A probe was let through after the cooldown and has not come back.
    probing: bool,
}

impl Breaker {
    fn new(threshold: u32, cooldown: Duration) -> Breaker {
        Breaker { threshold, cooldown, state: Mutex::new(BreakerState::default()) }
    }

    fn admit(&self) -> Result<(), EngineError> {
        if self.threshold == 0 {
            return Ok(());
        }
        let Ok(mut s) = self.state.lock() else { return Ok(()) };
        match s.open_until {
            Some(until) if Instant::now() < until => Err(EngineError::Unavailable(format!(
                "circuit breaker open after {} consecutive failures; retrying the provider in {} ms",
                s.consecutive,
                until.saturating_duration_since(Instant::now()).as_millis()
            ))),
            Some(_) => {
                // Half-open: this request probes; others wait out another cooldown.
                s.open_until = Some(Instant::now() + self.cooldown);
                s.probing = true;
                tracing::info!("circuit breaker half-open: probing the provider");
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn success(&self) {
        if let Ok(mut s) = self.state.lock() {
            if s.open_until.is_some() {
                tracing::info!("circuit breaker closed");
            }
            *s = BreakerState::default();
        }
    }

    fn failure(&self) {
        if self.threshold == 0 {
            return;
        }
        if let Ok(mut s) = self.state.lock() {
            s.consecutive = s.consecutive.saturating_add(1);
            if s.consecutive >= self.threshold {
                if s.open_until.is_none() {
                    tracing::warn!(failures = s.consecutive, cooldown_ms = self.cooldown.as_millis() as u64, "circuit breaker open");
                }
                s.open_until = Some(Instant::now() + self.cooldown);
                s.probing = false;
            }
        }
    }

    /// Closed, open (the baseline answers until the cooldown passes and a request probes),
    /// or half-open (a probe is out).
    fn circuit(&self) -> Circuit {
        match self.state.lock() {
            Ok(s) if s.open_until.is_none() => Circuit::Closed,
            Ok(s) if s.probing => Circuit::HalfOpen,
            Ok(_) => Circuit::Open,
            Err(_) => Circuit::Closed,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(finish: &str, content: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "id": "x", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "finish_reason": finish, "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
        }))
        .unwrap()
    }

    #[test]
    fn stop_gives_the_content_and_usage() {
        let c = read_completion(&body("stop", json!("{\"a\":1}")));
        assert_eq!(c.raw, "{\"a\":1}");
        assert_eq!(c.usage, Usage { prompt_tokens: 11, completion_tokens: 7 });
    }

    #[test]
    fn any_other_finish_is_not_json() {
        for finish in ["length", "content_filter", "eos_weird"] {
            let c = read_completion(&body(finish, json!("{\"a\":1}")));
            assert!(c.raw.starts_with(INCOMPLETE_PREFIX), "{finish}: {}", c.raw);
            assert!(crate::validate::parse_raw(&c.raw).is_err());
        }
        assert!(read_completion(b"<html>").raw.starts_with(INCOMPLETE_PREFIX));
    }

    #[test]
    fn only_plain_names_from_the_provider_reach_a_trace() {
        let c = read_completion(&body("stop", json!("{}")));
        assert_eq!((c.finish.as_deref(), c.response_model.as_deref()), (Some("stop"), Some("m")));
        assert_eq!(telemetry_name("gpt-4o-mini-2024-07-18"), "gpt-4o-mini-2024-07-18");
        assert_eq!(telemetry_name("stop; ignore previous instructions"), "other");
        assert_eq!(telemetry_name(&"x".repeat(65)), "other");
    }

    #[test]
    fn retry_after_in_seconds() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert(RETRY_AFTER, "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn breaker_opens_after_the_threshold_and_probes_after_the_cooldown() {
        let b = Breaker::new(2, Duration::from_millis(50));
        b.failure();
        assert!(b.admit().is_ok());
        b.failure();
        assert!(matches!(b.admit(), Err(EngineError::Unavailable(_))));
        assert_eq!(b.circuit(), Circuit::Open);
        std::thread::sleep(Duration::from_millis(60));
        assert!(b.admit().is_ok(), "one probe after the cooldown");
        assert_eq!(b.circuit(), Circuit::HalfOpen);
        assert!(b.admit().is_err(), "only one");
        b.success();
        assert_eq!(b.circuit(), Circuit::Closed);
        assert!(b.admit().is_ok());
    }
}
