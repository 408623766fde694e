//! The execution check on the raw text of an answer, before and regardless of its shape
//! (contract section 3): an output that proposes to act is reported as such even when it
//! is not JSON, is cut off, or breaks the schema — and is then never sent back for repair.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Value, json};

use crate::policy::execution::{self, AlertText, Finding};

/// A JSON string literal, escapes included; the last one may be cut off.
static STRING_LITERAL: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r#""(?:[^"\\]|\\.)*(?:"|\z)"#).ok());

/// Findings in an answer that parsed as JSON: keys that ask for execution anywhere, and
/// commands or execution wording in every string value. `evidence[i].quote` is exempt:
/// it must match its source verbatim, and a quoted attacker command is evidence.
pub fn scan_value(value: &Value, alert_text: &AlertText) -> Vec<Finding> {
    let mut out = execution::scan_keys(value);
    walk_strings(value, "", alert_text, &mut out);
    out
}

fn walk_strings(value: &Value, path: &str, alert_text: &AlertText, out: &mut Vec<Finding>) {
    match value {
        Value::String(s) if !is_quote_path(path) => out.extend(execution::scan_text(path, s, alert_text)),
        Value::Object(o) => {
            for (k, v) in o {
                let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                walk_strings(v, &p, alert_text, out);
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                walk_strings(v, &format!("{path}[{i}]"), alert_text, out);
            }
        }
        _ => {}
    }
}

fn is_quote_path(path: &str) -> bool {
    path.strip_prefix("evidence[").and_then(|rest| rest.split_once("].")).is_some_and(|(i, field)| i.parse::<usize>().is_ok() && field == "quote")
}

/// Findings in an answer that is not JSON (prose, a cut-off object): every string literal
/// is read as JSON would read it and scanned like a value (keys as keys, `quote` values
/// exempt), and the text between literals is scanned as prose.
pub fn scan_text(raw: &str, alert_text: &AlertText) -> Vec<Finding> {
    let Some(literal) = STRING_LITERAL.as_ref() else { return execution::scan_text("output", raw, alert_text) };
    let mut out = Vec::new();
    let mut prose = String::new();
    let mut last_end = 0;
    let mut key: Option<String> = None;
    for m in literal.find_iter(raw) {
        prose.push_str(&raw[last_end..m.start()]);
        prose.push(' ');
        last_end = m.end();
        let text = read_literal(m.as_str());
        let is_key = raw[m.end()..].trim_start().starts_with(':');
        if is_key {
            out.extend(execution::scan_keys(&json!({ text.clone(): Value::Null })));
            key = Some(text);
            continue;
        }
        let path = key.take().unwrap_or_else(|| "output".to_string());
        if path == "status" {
            out.extend(execution::scan_keys(&json!({ "status": text })));
        }
        if path != "quote" {
            out.extend(execution::scan_text(&path, &text, alert_text));
        }
    }
    prose.push_str(&raw[last_end..]);
    out.extend(execution::scan_text("output", &prose, alert_text));
    out
}

/// A literal as JSON reads it; a cut-off one is closed first.
fn read_literal(lit: &str) -> String {
    serde_json::from_str(lit)
        .or_else(|_| serde_json::from_str(&format!("{lit}\"")))
        .unwrap_or_else(|_| lit.trim_start_matches('"').trim_end_matches('"').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_are_exempt_only_at_their_own_path() {
        assert!(is_quote_path("evidence[3].quote"));
        assert!(!is_quote_path("evidence[x].quote"));
        assert!(!is_quote_path("proposed_actions[0].quote"));
        let v = json!({"evidence": [{"ref": "runbook:x", "quote": "sudo rm -rf /"}], "summary": "fine"});
        assert!(scan_value(&v, &AlertText::default()).is_empty());
        let v = json!({"evidence": [{"ref": "runbook:x", "quote": "ok"}], "summary": "sudo rm -rf / now"});
        assert_eq!(scan_value(&v, &AlertText::default())[0].path, "summary");
    }

    #[test]
    fn cut_off_and_prose_answers_are_scanned() {
        let cut = r#"{"severity": "high", "hypothesis": "We have isolated WS-042", "evidence": [{"ref": "x", "quote": "kubectl delete pod a"#;
        let f = scan_text(cut, &AlertText::default());
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].path, "hypothesis");
        assert!(!scan_text(r#"{"command": "whoami""#, &AlertText::default()).is_empty());
        assert!(!scan_text(r#"{"status": "executed""#, &AlertText::default()).is_empty());
        assert!(!scan_text("Sure! Run aws iam delete-access-key --access-key-id AKIA to stop it.", &AlertText::default()).is_empty());
        assert!(scan_text(r#"{"severity": "high", "summary": "Approval needed before isolating WS-042."#, &AlertText::default()).is_empty());
    }
}
