//! What `GET /metrics` serves, kept in a [`prometheus_client`] registry: request latency per
//! route, engine latency and outcomes, provider calls, retries, breaker state and tokens,
//! retrieval latency, and gauges read from the store at scrape time (the background queue,
//! pending approvals, the audit chain).
//!
//! Labels are bounded: a route is the router's template (`/v1/cases/{id}`), never the raw
//! path; a method outside the standard ones is `other`; engines, models and review reason
//! codes come from configuration and the validator, not from requests.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::llm::Usage;
use crate::policy::Tier;
use crate::recommendation::{RecommendResponse, Status};
use crate::store::Store;

/// Buckets of request and engine latency, in seconds: a cached lookup to a slow model.
const LATENCY_BUCKETS: [f64; 15] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0];
/// Buckets of retrieval latency, in seconds: an in-process index search.
const RETRIEVAL_BUCKETS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

type FloatGauge = Gauge<f64, AtomicU64>;
type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    /// The matched route template, or `unmatched`.
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EngineLabels {
    engine: String,
    model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    engine: String,
    model: String,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    engine: String,
    model: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabels {
    model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    model: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    model: String,
    r#type: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BreakerLabels {
    model: String,
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TierLabels {
    tier: &'static str,
}

/// How one provider call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    /// An answer came back (whatever its finish reason).
    Ok,
    /// A 429, a 5xx or a transport error: retried while the budget allows.
    Error,
    /// No answer within the per-call timeout.
    Timeout,
    /// A 4xx other than 429, or an answer too large to read: not retried.
    Rejected,
}

impl CallOutcome {
    fn as_str(self) -> &'static str {
        match self {
            CallOutcome::Ok => "ok",
            CallOutcome::Error => "error",
            CallOutcome::Timeout => "timeout",
            CallOutcome::Rejected => "rejected",
        }
    }
}

/// The circuit breaker in front of the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Circuit {
    Closed,
    /// Requests go straight to the baseline until the cooldown passes and one probes.
    Open,
    /// One probe is on its way to the provider.
    HalfOpen,
}

impl Circuit {
    const ALL: [Circuit; 3] = [Circuit::Closed, Circuit::Open, Circuit::HalfOpen];

    fn as_str(self) -> &'static str {
        match self {
            Circuit::Closed => "closed",
            Circuit::Open => "open",
            Circuit::HalfOpen => "half_open",
        }
    }
}

/// The provider's figures, per model. A clone shares the same series: the `llm` engine
/// holds one and the registry the other.
#[derive(Clone, Default, Debug)]
pub struct LlmMetrics {
    calls: Family<CallLabels, Counter>,
    retries: Family<ModelLabels, Counter>,
    tokens: Family<TokenLabels, Counter>,
    breaker: Family<BreakerLabels, Gauge>,
}

impl LlmMetrics {
    pub fn call(&self, model: &str, outcome: CallOutcome) {
        self.calls.get_or_create(&CallLabels { model: model.to_string(), outcome: outcome.as_str() }).inc();
    }

    pub fn retry(&self, model: &str) {
        self.retries.get_or_create(&ModelLabels { model: model.to_string() }).inc();
    }

    pub fn tokens(&self, model: &str, usage: &Usage) {
        for (kind, n) in [("prompt", usage.prompt_tokens), ("completion", usage.completion_tokens)] {
            self.tokens.get_or_create(&TokenLabels { model: model.to_string(), r#type: kind }).inc_by(u64::from(n));
        }
    }

    /// One series per state, 1 for the current one.
    pub fn breaker(&self, model: &str, state: Circuit) {
        for s in Circuit::ALL {
            self.breaker.get_or_create(&BreakerLabels { model: model.to_string(), state: s.as_str() }).set(i64::from(s == state));
        }
    }
}

/// The text formats `/metrics` can answer in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `text/plain; version=0.0.4`: what `curl` and older scrapers get.
    Prometheus,
    /// OpenMetrics 1.0: what Prometheus asks for in its `Accept` header.
    OpenMetrics,
}

impl Format {
    /// OpenMetrics when the client's `Accept` names it, else the Prometheus text format.
    pub fn negotiate(accept: Option<&str>) -> Format {
        if accept.is_some_and(|a| a.contains("application/openmetrics-text")) { Format::OpenMetrics } else { Format::Prometheus }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Prometheus => prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

pub struct Metrics {
    registry: Registry,
    http: HistogramFamily<HttpLabels>,
    engine_duration: HistogramFamily<EngineLabels>,
    recommendations: Family<OutcomeLabels, Counter>,
    review_reasons: Family<ReasonLabels, Counter>,
    degraded: Family<EngineLabels, Counter>,
    recommendation_duration: Histogram,
    retrieval_duration: Histogram,
    llm: LlmMetrics,
    queue_depth: Gauge,
    queue_oldest_age: FloatGauge,
    approvals_pending: Family<TierLabels, Gauge>,
    approvals_oldest_age: Family<TierLabels, FloatGauge>,
    audit_entries: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let m = Metrics {
            registry: Registry::default(),
            http: Family::new_with_constructor(latency_histogram),
            engine_duration: Family::new_with_constructor(latency_histogram),
            recommendations: Family::default(),
            review_reasons: Family::default(),
            degraded: Family::default(),
            recommendation_duration: latency_histogram(),
            retrieval_duration: Histogram::new(RETRIEVAL_BUCKETS),
            llm: LlmMetrics::default(),
            queue_depth: Gauge::default(),
            queue_oldest_age: FloatGauge::default(),
            approvals_pending: Family::default(),
            approvals_oldest_age: Family::default(),
            audit_entries: Gauge::default(),
        };
        m.register()
    }
}

impl Metrics {
    fn register(mut self) -> Self {
        let r = &mut self.registry;
        let s = Unit::Seconds;
        r.register_with_unit("triage_http_request_duration", "HTTP requests by method, route template and status", s.clone(), self.http.clone());
        r.register_with_unit(
            "triage_engine_duration",
            "Engine calls (proposals and repairs), by engine and model, including the provider's retries",
            s.clone(),
            self.engine_duration.clone(),
        );
        r.register(
            "triage_recommendations",
            "Recommendations by the engine and model that answered, and status (ready, needs_review)",
            self.recommendations.clone(),
        );
        r.register(
            "triage_recommendation_review_reasons",
            "Reason codes of recommendations that need review, by engine and model",
            self.review_reasons.clone(),
        );
        r.register(
            "triage_engine_degraded",
            "Recommendations the baseline answered because the configured engine failed, by that engine and model",
            self.degraded.clone(),
        );
        r.register_with_unit(
            "triage_recommendation_duration",
            "Whole recommendations, from parsed alerts to the stored response",
            s.clone(),
            self.recommendation_duration.clone(),
        );
        r.register_with_unit("triage_retrieval_duration", "Searches of the knowledge index", s.clone(), self.retrieval_duration.clone());
        r.register(
            "triage_llm_calls",
            "Calls to the LLM provider by model and outcome (ok, error, timeout, rejected), retries included",
            self.llm.calls.clone(),
        );
        r.register("triage_llm_retries", "Provider calls retried after a 429, a 5xx, a timeout or a transport error", self.llm.retries.clone());
        r.register("triage_llm_tokens", "Tokens the provider reported, by model and type (prompt, completion)", self.llm.tokens.clone());
        r.register("triage_llm_breaker_state", "The provider's circuit breaker: 1 for its current state (closed, open, half_open)", self.llm.breaker.clone());
        r.register("triage_queue_depth", "Case recommendations queued or running", self.queue_depth.clone());
        r.register_with_unit("triage_queue_oldest_age", "Age of the oldest queued case recommendation (0 when none)", s.clone(), self.queue_oldest_age.clone());
        r.register("triage_approvals_pending", "Approvals waiting for a decision, not yet expired, by tier", self.approvals_pending.clone());
        r.register_with_unit(
            "triage_approvals_pending_oldest_age",
            "Age of the oldest approval waiting for a decision, by tier (0 when none)",
            s,
            self.approvals_oldest_age.clone(),
        );
        r.register("triage_audit_chain_entries", "Entries in the audit hash chain", self.audit_entries.clone());
        self
    }

    /// The provider's series, for the `llm` engine to fill.
    pub fn llm(&self) -> LlmMetrics {
        self.llm.clone()
    }

    pub fn http_request(&self, labels: HttpLabels, elapsed: Duration) {
        self.http.get_or_create(&labels).observe(elapsed.as_secs_f64());
    }

    pub fn engine_call(&self, engine: &str, model: &str, elapsed: Duration) {
        self.engine_duration.get_or_create(&EngineLabels { engine: engine.into(), model: model.into() }).observe(elapsed.as_secs_f64());
    }

    pub fn retrieval(&self, elapsed: Duration) {
        self.retrieval_duration.observe(elapsed.as_secs_f64());
    }

    /// The configured engine failed and the baseline answered in its place.
    pub fn degraded(&self, engine: &str, model: &str) {
        self.degraded.get_or_create(&EngineLabels { engine: engine.into(), model: model.into() }).inc();
    }

    /// A stored recommendation, by the engine and model that answered it.
    pub fn recommendation(&self, r: &RecommendResponse, elapsed: Duration) {
        let (engine, model) = (r.engine.name.clone(), r.engine.model.clone());
        let status = if r.status == Status::Ready { "ready" } else { "needs_review" };
        self.recommendations.get_or_create(&OutcomeLabels { engine: engine.clone(), model: model.clone(), status }).inc();
        for reason in r.review.iter().flat_map(|review| &review.reasons) {
            self.review_reasons.get_or_create(&ReasonLabels { engine: engine.clone(), model: model.clone(), reason: reason.code.clone() }).inc();
        }
        self.recommendation_duration.observe(elapsed.as_secs_f64());
    }

    /// Reads the gauges that live in the store: the queue, pending approvals, the audit
    /// chain. A gauge the store can't answer for keeps its last value; the failure is logged.
    pub fn observe_store(&self, store: &Store) {
        let now = chrono::Utc::now();
        let age = |t: Option<&str>| {
            t.and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(|t| (now - t.with_timezone(&chrono::Utc)).num_milliseconds().max(0) as f64 / 1000.0)
                .unwrap_or(0.0)
        };
        match store.queue_depth() {
            Ok((depth, oldest)) => {
                self.queue_depth.set(depth as i64);
                self.queue_oldest_age.set(age(oldest.as_deref()));
            }
            Err(e) => tracing::warn!(error = %e, "metrics: queue depth unavailable"),
        }
        match store.pending_approvals(&crate::store::now()) {
            Ok(pending) => {
                for tier in [Tier::HumanApproval, Tier::TwoPerson] {
                    let (count, oldest) = pending.iter().find(|p| p.tier == tier).map(|p| (p.count, p.oldest.as_deref())).unwrap_or((0, None));
                    let labels = TierLabels { tier: tier.as_str() };
                    self.approvals_pending.get_or_create(&labels).set(count as i64);
                    self.approvals_oldest_age.get_or_create(&labels).set(age(oldest));
                }
            }
            Err(e) => tracing::warn!(error = %e, "metrics: pending approvals unavailable"),
        }
        match store.audit_length() {
            Ok(n) => {
                self.audit_entries.set(n);
            }
            Err(e) => tracing::warn!(error = %e, "metrics: audit chain length unavailable"),
        }
    }

    pub fn render(&self, format: Format) -> String {
        let mut out = String::new();
        let encoded = match format {
            Format::Prometheus => prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry),
            Format::OpenMetrics => prometheus_client::encoding::text::encode(&mut out, &self.registry),
        };
        // Writing into a String can't fail; a metric that failed to encode is a bug.
        if let Err(e) = encoded {
            tracing::error!(error = %e, "metrics: encoding failed");
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn both_formats_name_the_same_series() {
        let m = Metrics::default();
        m.http_request(HttpLabels { method: "GET".into(), route: "/v1/cases/{id}".into(), status: 200 }, Duration::from_millis(3));
        m.llm().call("m", CallOutcome::Ok);
        m.llm().breaker("m", Circuit::Open);
        let text = m.render(Format::Prometheus);
        assert!(text.contains(r#"triage_http_request_duration_seconds_count{method="GET",route="/v1/cases/{id}",status="200"} 1"#), "{text}");
        assert!(text.contains(r#"triage_llm_calls_total{model="m",outcome="ok"} 1"#), "{text}");
        assert!(text.contains(r#"triage_llm_breaker_state{model="m",state="open"} 1"#), "{text}");
        assert!(text.contains(r#"triage_llm_breaker_state{model="m",state="closed"} 0"#), "{text}");
        let open = m.render(Format::OpenMetrics);
        assert!(open.ends_with("# EOF\n"), "{open}");
        assert!(open.contains(r#"triage_llm_calls_total{model="m",outcome="ok"} 1"#), "{open}");
    }

    #[test]
    fn openmetrics_only_when_asked_for() {
        assert_eq!(Format::negotiate(None), Format::Prometheus);
        assert_eq!(Format::negotiate(Some("*/*")), Format::Prometheus);
        let prometheus = "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.1";
        assert_eq!(Format::negotiate(Some(prometheus)), Format::OpenMetrics);
    }
}
