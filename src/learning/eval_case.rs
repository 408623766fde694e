//! Eval cases: a closed case as a dataset line (contract section 9) with the analyst's
//! verdict as gold, so a SOC's own corrections become its eval set.

use serde::Serialize;
use serde_json::Value;

use super::runbook::normalise;
use crate::cases::verdict::ClosedCase;
use crate::eval::dataset::Gold;

/// The licence written on lines drawn from a deployment's own cases.
pub const LICENSE: &str = "internal";

/// A dataset line as the eval loader reads it (its own line type is private to the loader).
#[derive(Debug, Serialize)]
struct DatasetLine<'a> {
    id: String,
    alerts: &'a [Value],
    gold: Gold,
    tags: Vec<String>,
    source: String,
    license: &'static str,
}

/// The case as a dataset line: `id` `case-<case id>`, the case's alerts as stored (the first
/// [`crate::alert::MAX_ALERTS`], the most a line may hold), the analyst's severity,
/// techniques and disposition as gold, tags `from_case`, the disposition and each alert
/// source, `source` `case:<case id>` and licence [`LICENSE`].
pub fn eval_case(case_id: &str, alerts_json: &[Value], closed: &ClosedCase) -> Value {
    let mut techniques: Vec<String> = Vec::new();
    for t in &closed.techniques {
        let t = normalise(t);
        if !t.is_empty() && !techniques.contains(&t) {
            techniques.push(t);
        }
    }
    let alerts = &alerts_json[..alerts_json.len().min(crate::alert::MAX_ALERTS)];
    let mut tags = vec!["from_case".to_string(), closed.disposition.as_str().to_string()];
    for source in alerts.iter().filter_map(|a| a.get("source").and_then(Value::as_str)) {
        let tag = source.trim().to_ascii_lowercase();
        if !tag.is_empty() && !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    let line = DatasetLine {
        id: format!("case-{case_id}"),
        alerts,
        gold: Gold { severity: Some(closed.severity), techniques, disposition: Some(closed.disposition), must_cite: None, forbidden_actions: None },
        tags,
        source: format!("case:{case_id}"),
        license: LICENSE,
    };
    // Strings, JSON values and plain enums only: serialising cannot fail.
    serde_json::to_value(&line).unwrap_or_default()
}
