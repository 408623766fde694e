//! The shapes that cross the service boundary: what an engine must return
//! ([`ModelOutput`], contract section 3) and what a caller receives ([`RecommendResponse`],
//! section 2). Both JSON Schemas are derived from these types.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::policy::Tier;
use crate::severity::Severity;

pub const MAX_TECHNIQUES: usize = 6;
pub const MAX_EVIDENCE: usize = 12;
pub const MAX_UNCERTAINTY: usize = 8;
pub const MAX_ACTIONS: usize = 8;

/// Exactly what the model returns. Every array and string is bounded: constrained decoding
/// on small models never ends otherwise, and an unbounded answer is an unbounded bill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "TriageModelOutput")]
pub struct ModelOutput {
    pub severity: Severity,
    #[schemars(range(min = 0.0, max = 1.0))]
    pub confidence: f64,
    #[schemars(length(min = 1, max = 600))]
    pub hypothesis: String,
    #[schemars(length(max = 6))]
    pub attack: Vec<ModelTechnique>,
    #[schemars(length(max = 12))]
    pub evidence: Vec<ModelEvidence>,
    #[schemars(length(max = 8), inner(length(min = 1, max = 300)))]
    pub uncertainty: Vec<String>,
    #[schemars(length(max = 8))]
    pub proposed_actions: Vec<ModelAction>,
    #[schemars(length(min = 1, max = 600))]
    pub summary: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelTechnique {
    #[schemars(regex(pattern = r"^T[0-9]{4}(\.[0-9]{3})?$"))]
    pub technique_id: String,
    #[schemars(length(max = 300))]
    pub rationale: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelEvidence {
    #[serde(rename = "ref")]
    #[schemars(regex(pattern = r"^(runbook|case|sigma|attack|alert|inventory|intel|change):[^ \t\r\n]{1,190}$"), length(max = 200))]
    pub doc_ref: String,
    // A verbatim excerpt of what `ref` names. The model may send `null` or leave it out
    // (contract section 3): such a citation names the whole document, kept here as `""`.
    // The strict schema lists it as required and nullable, because strict structured
    // outputs require every property; validation tolerates its absence.
    #[serde(default, deserialize_with = "nullable_string")]
    #[schemars(schema_with = "nullable_quote", required)]
    pub quote: String,
}

/// `null` reads as the empty string.
/// The schema of a citation's `quote`: a bounded string, or `null`.
fn nullable_quote(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "type": ["string", "null"], "maxLength": 300 })
}

fn nullable_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelAction {
    #[schemars(regex(pattern = r"^[a-z][a-z0-9_]{1,47}$"))]
    pub action: String,
    #[schemars(length(min = 3, max = 200))]
    pub target: String,
    #[schemars(length(max = 300))]
    pub rationale: String,
}

pub const MAX_SUMMARY_MARKDOWN: usize = 2_000;

/// What the model returns for a case summary: the prose, its citations, what is unknown.
/// Timeline, entities and ATT&CK mapping come from checked data, not from the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "TriageSummaryOutput")]
pub struct SummaryOutput {
    #[schemars(length(min = 1, max = 2000))]
    pub summary_markdown: String,
    #[schemars(length(max = 12))]
    pub evidence: Vec<ModelEvidence>,
    #[schemars(length(max = 8), inner(length(min = 1, max = 300)))]
    pub uncertainty: Vec<String>,
}

/// The JSON Schema (2020-12) of a summary answer.
pub fn summary_output_schema() -> serde_json::Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(SummaryOutput)).unwrap_or_default();
    require_quotes(&mut schema);
    schema
}

/// A checked recommendation: the model's proposal with names, tactics, tiers and approval
/// ids added by the service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Recommendation")]
pub struct Recommendation {
    pub severity: Severity,
    #[schemars(range(min = 0.0, max = 1.0))]
    pub confidence: f64,
    #[schemars(length(min = 1))]
    pub hypothesis: String,
    pub attack: Vec<AttackMapping>,
    pub evidence: Vec<Evidence>,
    pub uncertainty: Vec<String>,
    pub proposed_actions: Vec<ProposedAction>,
    pub summary: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AttackMapping {
    #[schemars(regex(pattern = r"^T[0-9]{4}(\.[0-9]{3})?$"))]
    pub technique_id: String,
    pub name: String,
    pub tactics: Vec<String>,
    pub rationale: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    #[serde(rename = "ref")]
    #[schemars(regex(pattern = r"^(runbook|case|sigma|attack|alert|inventory|intel|change):[^ \t\r\n]+$"))]
    pub doc_ref: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProposedAction {
    pub action: String,
    pub target: String,
    pub rationale: String,
    pub tier: Tier,
    /// The approval this action waits on; absent for automatic actions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_id: Option<String>,
    /// The evidence the catalog requires before this action, present or missing, decided
    /// by code from the alerts and the enrichment (contract section 12).
    #[serde(default)]
    pub evidence_status: Vec<EvidenceStatus>,
}

/// One required evidence item of a proposed action: a catalog id (`token_owner`, …),
/// whether it is there, and the ref that shows it (`null` when missing).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EvidenceStatus {
    pub item: String,
    pub present: bool,
    #[serde(rename = "ref")]
    pub doc_ref: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ready,
    NeedsReview,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EngineInfo {
    /// `baseline`, `llm` or `replay`.
    pub name: String,
    pub model: String,
    pub prompt_version: String,
    pub degraded: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReviewReason {
    pub code: String,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Review {
    pub reasons: Vec<ReviewReason>,
    pub approval_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Retrieved {
    #[serde(rename = "ref")]
    pub doc_ref: String,
    pub title: String,
    pub score: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RecommendResponse {
    pub recommendation_id: String,
    pub case_id: String,
    pub status: Status,
    pub engine: EngineInfo,
    pub recommendation: Option<Recommendation>,
    pub review: Option<Review>,
    pub retrieved: Vec<Retrieved>,
}

/// The JSON Schema (2020-12) of the model's output.
pub fn model_output_schema() -> serde_json::Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(ModelOutput)).unwrap_or_default();
    require_quotes(&mut schema);
    schema
}

/// Strict structured outputs need every property listed as required, so a citation's
/// `quote` is required and nullable in the schema, though deserialisation tolerates its
/// absence (contract section 3).
fn require_quotes(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(o) => {
            if let Some(props) = o.get_mut("properties").and_then(|p| p.as_object_mut())
                && let Some(quote) = props.get_mut("quote").and_then(|q| q.as_object_mut())
            {
                quote.remove("default");
                if let Some(req) = o.get_mut("required").and_then(|r| r.as_array_mut())
                    && !req.iter().any(|r| r == "quote")
                {
                    req.push(serde_json::Value::from("quote"));
                }
            }
            for v in o.values_mut() {
                require_quotes(v);
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(require_quotes),
        _ => {}
    }
}

/// The JSON Schema (2020-12) of `recommendation` in responses.
pub fn recommendation_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Recommendation)).unwrap_or_default()
}
