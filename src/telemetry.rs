//! Logs and traces: the process's `tracing` subscriber. Logs go to stderr as before; when an
//! OTLP endpoint is configured, spans also go to it over OTLP/HTTP with JSON bodies
//! (`tracing-opentelemetry` → `opentelemetry-otlp`, batched on a thread of their own).
//!
//! What is exported: the spans of this crate only (one per request, its pipeline stages,
//! the background queue's jobs), never log events. A log line may quote an error from a
//! provider or a schema error that quotes model output; a span is built from fields chosen
//! for it (routes, statuses, ids, counts, reason codes, GenAI model names and token counts),
//! so alert content, prompts and model output never leave this way. An incoming
//! `traceparent` is not honoured: a client must not decide whether its requests are traced.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The path OTLP/HTTP receivers take traces on.
const TRACES_PATH: &str = "/v1/traces";

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("--otlp-endpoint `{0}`: {1}")]
    Endpoint(String, String),
    #[error("the OTLP exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    #[error("a tracing subscriber is already installed in this process")]
    AlreadyInstalled,
}

/// Keeps the exporter alive; dropping it sends what is still buffered and stops it.
#[must_use = "spans are exported only while the guard lives"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Whether spans are exported.
    pub fn exporting(&self) -> bool {
        self.provider.is_some()
    }

    /// Exports the finished spans now instead of at the batch's next tick. Blocking.
    pub fn flush(&self) {
        if let Some(p) = &self.provider
            && let Err(e) = p.force_flush()
        {
            tracing::warn!(error = %e, "traces: flush failed");
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(p) = self.provider.take()
            && let Err(e) = p.shutdown()
        {
            eprintln!("traces: the exporter did not shut down cleanly: {e}");
        }
    }
}

/// Installs the process-wide subscriber: logs to stderr through `log_filter` and, with
/// `otlp_endpoint`, spans to that OTLP/HTTP receiver (a base URL such as
/// `http://127.0.0.1:4318`, to which `/v1/traces` is added, or the full traces URL). Once
/// per process; a second call is [`TelemetryError::AlreadyInstalled`].
pub fn init(otlp_endpoint: Option<&str>, log_filter: EnvFilter) -> Result<Telemetry, TelemetryError> {
    let provider = otlp_endpoint.map(str::trim).filter(|e| !e.is_empty()).map(tracer_provider).transpose()?;
    let spans = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer("triage"))
            // Spans of this crate, never events: see the module docs.
            .with_filter(filter_fn(|meta| meta.is_span() && (meta.target() == "triage" || meta.target().starts_with("triage::"))))
    });
    let logs = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_filter(log_filter);
    tracing_subscriber::registry().with(logs).with(spans).try_init().map_err(|_| TelemetryError::AlreadyInstalled)?;
    Ok(Telemetry { provider })
}

/// The URL traces are posted to.
pub fn traces_url(endpoint: &str) -> Result<String, TelemetryError> {
    let url = reqwest::Url::parse(endpoint).map_err(|e| TelemetryError::Endpoint(endpoint.to_string(), e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(TelemetryError::Endpoint(endpoint.to_string(), "an http:// or https:// URL is needed".into()));
    }
    let base = url.as_str().trim_end_matches('/');
    Ok(if base.ends_with(TRACES_PATH) { base.to_string() } else { format!("{base}{TRACES_PATH}") })
}

fn tracer_provider(endpoint: &str) -> Result<SdkTracerProvider, TelemetryError> {
    let exporter = opentelemetry_otlp::SpanExporter::builder().with_http().with_protocol(Protocol::HttpJson).with_endpoint(traces_url(endpoint)?).build()?;
    let resource =
        Resource::builder().with_service_name("triage").with_attribute(opentelemetry::KeyValue::new("service.version", env!("CARGO_PKG_VERSION"))).build();
    Ok(SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource).build())
}

/// `gen_ai.system` of an engine: the `llm` engine speaks OpenAI's API; the others are
/// named for themselves.
pub fn gen_ai_system(engine: &str) -> &str {
    match engine {
        "llm" => "openai",
        other => other,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_traces_path_is_added_once() {
        assert_eq!(traces_url("http://127.0.0.1:4318").unwrap(), "http://127.0.0.1:4318/v1/traces");
        assert_eq!(traces_url("http://collector:4318/").unwrap(), "http://collector:4318/v1/traces");
        assert_eq!(traces_url("https://otel.example/v1/traces").unwrap(), "https://otel.example/v1/traces");
        assert!(traces_url("collector:4318").is_err());
        assert!(traces_url("ftp://collector").is_err());
    }
}
