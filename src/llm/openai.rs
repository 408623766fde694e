//! The `llm` engine: any OpenAI-compatible chat-completions endpoint.

use async_trait::async_trait;

use super::{Engine, EngineAnswer, EngineError, EngineRequest};
use crate::config::LlmSettings;

pub struct OpenAiEngine {
    settings: LlmSettings,
}

impl OpenAiEngine {
    pub fn new(settings: &LlmSettings) -> Result<Self, EngineError> {
        Ok(OpenAiEngine { settings: settings.clone() })
    }
}

#[async_trait]
impl Engine for OpenAiEngine {
    fn name(&self) -> &'static str {
        "llm"
    }

    async fn propose(&self, _req: &EngineRequest<'_>) -> Result<EngineAnswer, EngineError> {
        Err(EngineError::Unavailable(format!("{} is not wired yet", self.settings.base_url)))
    }
}
