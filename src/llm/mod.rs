//! Engines propose recommendations: `baseline` (deterministic, embedded default), `llm`
//! (any OpenAI-compatible endpoint) and `replay` (recorded answers, for evals). Whatever an
//! engine returns is raw text that goes through [`crate::validate::check`] like any other.

pub mod baseline;
pub mod openai;
pub mod replay;

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::alert::Alert;
use crate::attack::Catalog;
use crate::knowledge::Assessment;
use crate::policy::ActionCatalog;
use crate::policy::injection::InjectionSignal;
use crate::recommendation::ReviewReason;
use crate::retrieval::Hit;
use crate::validate::Schemas;

/// Everything an engine may look at for one request. Alerts are already redacted.
pub struct EngineRequest<'a> {
    pub case_id: &'a str,
    pub alerts: &'a [Alert],
    pub retrieved: &'a [Hit],
    pub catalog: &'a Catalog,
    pub actions: &'a ActionCatalog,
    pub schemas: &'a Schemas,
    pub injection: &'a [InjectionSignal],
    /// What the knowledge makes of the alerts: events, matched indicators, candidates.
    pub assessment: &'a Assessment<'a>,
    /// What enrichment found (inventory, intel, changes, geo); its documents are among
    /// `retrieved` already.
    pub context: &'a crate::enrich::Context,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
}

/// An engine's raw answer and how it was produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EngineAnswer {
    pub raw: String,
    pub model: String,
    pub prompt_version: String,
    pub usage: Usage,
    /// Provider calls made for this answer (retries included).
    pub calls: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The provider could not be reached or kept failing: the baseline answers instead.
    #[error("engine unavailable: {0}")]
    Unavailable(String),
    /// The provider refused the request itself (a 4xx other than 429): not retried.
    #[error("engine rejected the request: {0}")]
    Rejected(String),
    #[error("no recorded answer for this request (key {0})")]
    NotRecorded(String),
}

#[async_trait]
pub trait Engine: Send + Sync {
    /// `baseline`, `llm` or `replay`.
    fn name(&self) -> &'static str;

    /// The model it asks, for metrics and traces even when it fails to answer; engines
    /// without one are their own model.
    fn model(&self) -> &str {
        self.name()
    }

    /// Whether it answers from this process in about a millisecond (the baseline, a
    /// replay), rather than by asking a model that may take seconds. A request to such an
    /// engine is recorded with its result in one transaction; to any other, before it is
    /// sent, so that its case and alerts are there (and audited) while the model works.
    fn answers_in_process(&self) -> bool {
        false
    }

    async fn propose(&self, req: &EngineRequest<'_>) -> Result<EngineAnswer, EngineError>;

    /// One more attempt that is told exactly why the previous answer was refused. Engines
    /// that cannot do better (the baseline) return `None`.
    async fn repair(&self, _req: &EngineRequest<'_>, _previous: &EngineAnswer, _reasons: &[ReviewReason]) -> Option<Result<EngineAnswer, EngineError>> {
        None
    }

    /// A case summary written by the engine (a [`crate::recommendation::SummaryOutput`]),
    /// from the case's alerts and the documents its recommendations cited. Engines that
    /// don't write prose (the baseline) return `None`: the summary is then built from the
    /// checked recommendations alone.
    async fn summarize(&self, _req: &EngineRequest<'_>) -> Option<Result<EngineAnswer, EngineError>> {
        None
    }
}

pub type SharedEngine = Arc<dyn Engine>;
