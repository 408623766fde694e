//! Prior cases: closed cases with the analyst's verdict, one JSON object a line.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{CorpusError, Disposition, DocKind, Document, RunbookAction};
use crate::severity::Severity;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriorCase {
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub opened: Option<String>,
    pub alerts: Vec<Value>,
    pub disposition: Disposition,
    pub severity: Severity,
    #[serde(default)]
    pub techniques: Vec<String>,
    #[serde(default)]
    pub notes: String,
    #[serde(default)]
    pub actions_taken: Vec<String>,
    #[serde(default)]
    pub runbook: Option<String>,
}

pub fn is_valid_case_id(id: &str) -> bool {
    let b = id.as_bytes();
    (3..=64).contains(&b.len()) && b[0].is_ascii_alphanumeric() && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-' || *c == b'_')
}

pub fn parse_jsonl(path: &str, text: &str) -> Result<Vec<Document>, CorpusError> {
    text.lines().enumerate().filter_map(|(i, line)| parse_line(path, i + 1, line).transpose()).collect()
}

/// Line `number` (from 1) of the prior-cases file `path` as a document; `None` when blank.
pub fn parse_line(path: &str, number: usize, line: &str) -> Result<Option<Document>, CorpusError> {
    if line.trim().is_empty() {
        return Ok(None);
    }
    let at = || format!("{path}:{number}");
    let case: PriorCase = serde_json::from_str(line).map_err(|e| CorpusError::Invalid { path: at(), message: e.to_string() })?;
    if !is_valid_case_id(&case.id) {
        return Err(CorpusError::Invalid { path: at(), message: format!("bad case id `{}`", case.id) });
    }
    Ok(Some(to_document(&case)))
}

/// A case as a document: the verdict and note first (what a citation usually quotes), then
/// the alerts' rule names and salient field values.
pub fn to_document(case: &PriorCase) -> Document {
    let mut text = format!("{}\nDisposition: {}. Severity: {}.\n{}\n", case.title, case.disposition.as_str(), case.severity, case.notes);
    if !case.actions_taken.is_empty() {
        text.push_str(&format!("Actions taken: {}.\n", case.actions_taken.join(", ")));
    }
    let mut keywords = String::new();
    for alert in &case.alerts {
        if let Some(name) = crate::jsonpath::resolve(alert, "rule.name").and_then(Value::as_str) {
            text.push_str(&format!("Alert: {name}\n"));
        }
        if let Some(src) = alert.get("source").and_then(Value::as_str) {
            keywords.push_str(src);
            keywords.push(' ');
        }
        for key in ["fields", "entities"] {
            if let Some(v) = alert.get(key) {
                crate::jsonpath::for_each_scalar(v, key, &mut |path, value| {
                    if value.len() <= 400 {
                        text.push_str(&format!("{path}: {value}\n"));
                    }
                });
            }
        }
    }
    Document {
        kind: DocKind::Case,
        id: case.id.clone(),
        title: case.title.clone(),
        text,
        techniques: case.techniques.clone(),
        actions: case.actions_taken.iter().map(|a| RunbookAction { action: a.clone(), when: "taken in this case".into() }).collect(),
        severity: Some(case.severity),
        disposition: Some(case.disposition),
        keywords: format!("{keywords}{}", case.runbook.clone().unwrap_or_default()),
    }
}
