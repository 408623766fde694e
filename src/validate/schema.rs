//! The two JSON Schemas, derived from the Rust types and compiled once at startup.

use serde_json::Value;

use crate::recommendation::{model_output_schema, recommendation_schema, summary_output_schema};

pub struct Schemas {
    pub model_output: Value,
    pub recommendation: Value,
    model_output_validator: jsonschema::Validator,
    recommendation_validator: jsonschema::Validator,
    summary_validator: jsonschema::Validator,
}

#[derive(Debug, thiserror::Error)]
#[error("a derived JSON Schema does not compile: {0}")]
pub struct SchemaError(String);

impl Schemas {
    pub fn compile() -> Result<Schemas, SchemaError> {
        let model_output = model_output_schema();
        let recommendation = recommendation_schema();
        let model_output_validator = jsonschema::validator_for(&model_output).map_err(|e| SchemaError(e.to_string()))?;
        let recommendation_validator = jsonschema::validator_for(&recommendation).map_err(|e| SchemaError(e.to_string()))?;
        let summary_validator = jsonschema::validator_for(&summary_output_schema()).map_err(|e| SchemaError(e.to_string()))?;
        Ok(Schemas { model_output, recommendation, model_output_validator, recommendation_validator, summary_validator })
    }

    /// Errors of a model output against its schema, as `path: message` (at most 10).
    pub fn model_output_errors(&self, value: &Value) -> Vec<String> {
        errors(&self.model_output_validator, value)
    }

    /// Errors of a summary answer against its schema.
    pub fn summary_errors(&self, value: &Value) -> Vec<String> {
        errors(&self.summary_validator, value)
    }

    /// Errors of a served recommendation against the schema `GET /v1/schema/recommendation` serves.
    pub fn recommendation_errors(&self, value: &Value) -> Vec<String> {
        errors(&self.recommendation_validator, value)
    }
}

fn errors(v: &jsonschema::Validator, value: &Value) -> Vec<String> {
    v.iter_errors(value)
        .take(10)
        .map(|e| {
            let path = e.instance_path().to_string();
            let msg: String = e.to_string().chars().take(200).collect();
            if path.is_empty() { msg } else { format!("{path}: {msg}") }
        })
        .collect()
}
