//! Counters exposed at `GET /metrics` in the Prometheus text format.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::llm::Usage;
use crate::recommendation::{RecommendResponse, Status};

#[derive(Default)]
pub struct Metrics {
    ready: AtomicU64,
    needs_review: AtomicU64,
    degraded: AtomicU64,
    provider_calls: AtomicU64,
    prompt_tokens: AtomicU64,
    completion_tokens: AtomicU64,
    latency_ms_sum: AtomicU64,
    http_errors: AtomicU64,
}

impl Metrics {
    pub fn recommendation(&self, r: &RecommendResponse, calls: u32, usage: &Usage, latency_ms: u64) {
        let counter = if r.status == Status::Ready { &self.ready } else { &self.needs_review };
        counter.fetch_add(1, Ordering::Relaxed);
        self.provider_calls.fetch_add(u64::from(calls), Ordering::Relaxed);
        self.prompt_tokens.fetch_add(u64::from(usage.prompt_tokens), Ordering::Relaxed);
        self.completion_tokens.fetch_add(u64::from(usage.completion_tokens), Ordering::Relaxed);
        self.latency_ms_sum.fetch_add(latency_ms, Ordering::Relaxed);
    }

    pub fn degraded(&self) {
        self.degraded.fetch_add(1, Ordering::Relaxed);
    }

    pub fn http_error(&self) {
        self.http_errors.fetch_add(1, Ordering::Relaxed);
    }

    pub fn render(&self) -> String {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut s = String::new();
        let _ = writeln!(s, "# HELP triage_recommendations_total Recommendations by status.\n# TYPE triage_recommendations_total counter");
        let _ = writeln!(s, "triage_recommendations_total{{status=\"ready\"}} {}", g(&self.ready));
        let _ = writeln!(s, "triage_recommendations_total{{status=\"needs_review\"}} {}", g(&self.needs_review));
        for (name, help, v) in [
            ("triage_degraded_total", "Recommendations answered by the baseline because the LLM was unavailable.", g(&self.degraded)),
            ("triage_llm_calls_total", "Calls made to the LLM provider, retries included.", g(&self.provider_calls)),
            ("triage_llm_prompt_tokens_total", "Prompt tokens reported by the provider.", g(&self.prompt_tokens)),
            ("triage_llm_completion_tokens_total", "Completion tokens reported by the provider.", g(&self.completion_tokens)),
            ("triage_recommendation_latency_ms_sum", "Total time spent producing recommendations, in milliseconds.", g(&self.latency_ms_sum)),
            ("triage_http_errors_total", "HTTP requests answered with an error.", g(&self.http_errors)),
        ] {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
        }
        s
    }
}
