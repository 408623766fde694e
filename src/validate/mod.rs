//! Where every engine's output is checked before anything leaves the service.
//!
//! [`check`] runs, in order: the execution check on the raw answer (keys and text, whatever
//! its shape) → JSON parse → JSON Schema → deserialize → techniques → citations and quotes
//! → actions and tiers → severity floor. It either returns a [`Checked`] recommendation or
//! every reason it was refused, `direct_execution_proposed` first; an answer that breaks the
//! schema still has its well-formed techniques, citations, actions and severity checked.

mod raw;
pub mod schema;

use std::collections::HashMap;

use serde_json::Value;

use crate::alert::Alert;
use crate::attack::{Catalog, Lookup, TechniqueId};
use crate::corpus::{Disposition, DocKind, Document, fold_whitespace};
use crate::policy::{ActionCatalog, ActionError, Target, Tier};
use crate::recommendation::{
    AttackMapping, Evidence, ModelAction, ModelEvidence, ModelOutput, ModelTechnique, ProposedAction, Recommendation, ReviewReason, SummaryOutput,
};
use crate::severity::Severity;

pub use schema::Schemas;

/// Stable reason codes (contract section 2).
pub mod reason {
    pub const DIRECT_EXECUTION: &str = "direct_execution_proposed";
    pub const INVALID_OUTPUT: &str = "invalid_output";
    pub const UNKNOWN_TECHNIQUE: &str = "unknown_technique";
    pub const UNSUPPORTED_CITATION: &str = "unsupported_citation";
    pub const UNKNOWN_ACTION: &str = "unknown_action";
    pub const INVALID_TARGET: &str = "invalid_target";
    pub const SEVERITY_DOWNGRADE: &str = "severity_downgrade";
}

/// What an output is checked against: the request's alerts and what was retrieved for it.
pub struct Context<'a> {
    pub alerts: &'a [Alert],
    pub retrieved: &'a [Document],
    pub catalog: &'a Catalog,
    pub actions: &'a ActionCatalog,
    pub schemas: &'a Schemas,
}

/// A recommendation that passed every check; approval ids are not assigned yet.
#[derive(Debug, Clone)]
pub struct Checked {
    pub recommendation: Recommendation,
}

fn reason(code: &str, detail: impl Into<String>) -> ReviewReason {
    ReviewReason { code: code.to_string(), detail: detail.into() }
}

/// Parses the raw text an engine returned, tolerating one fenced ```json wrapper.
pub fn parse_raw(raw: &str) -> Result<Value, ReviewReason> {
    let t = unfenced(raw);
    serde_json::from_str(t.trim()).map_err(|e| {
        // Say what came back: an engine's own note (a cut-off answer) or the start of the text.
        let start: String = t.chars().take(160).collect();
        reason(reason::INVALID_OUTPUT, format!("not JSON ({e}): {start}"))
    })
}

/// The execution check on the raw answer, whatever its shape, then JSON, the JSON Schema
/// and the Rust type. Execution findings come first and never stop the other checks, so a
/// review lists every reason. `Ok` carries the typed answer and the execution findings.
fn parse_typed<T: serde::de::DeserializeOwned>(
    raw: &str,
    alerts: &[Alert],
    schema_errors: impl Fn(&Value) -> Vec<String>,
) -> Result<(T, Vec<ReviewReason>), Refused> {
    let alert_text = alerts_text(alerts);
    let parsed = parse_raw(raw);
    let findings = match &parsed {
        Ok(value) => raw::scan_value(value, &alert_text),
        Err(_) => raw::scan_text(unfenced(raw), &alert_text),
    };
    let mut reasons: Vec<ReviewReason> = findings.into_iter().map(|f| reason(reason::DIRECT_EXECUTION, format!("{}: {}", f.path, f.detail))).collect();
    let mut value = match parsed {
        Ok(v) => v,
        Err(r) => {
            reasons.push(r);
            return Err(Refused { reasons, value: None });
        }
    };
    tolerate_absent_quotes(&mut value);
    let errors = schema_errors(&value);
    if !errors.is_empty() {
        reasons.extend(errors.into_iter().map(|e| reason(reason::INVALID_OUTPUT, e)));
        return Err(Refused { reasons, value: Some(value) });
    }
    match serde_json::from_value(value.clone()) {
        Ok(typed) => Ok((typed, reasons)),
        Err(e) => {
            reasons.push(reason(reason::INVALID_OUTPUT, e.to_string()));
            Err(Refused { reasons, value: Some(value) })
        }
    }
}

/// An answer refused before it could be typed: the reasons so far, and the JSON when it
/// parsed, so the semantic checks can still read the parts that are well formed.
struct Refused {
    reasons: Vec<ReviewReason>,
    value: Option<Value>,
}

/// The items of `value[key]` that read as `T`; the rest were reported by the schema.
fn items<T: serde::de::DeserializeOwned>(value: &Value, key: &str) -> Vec<T> {
    let all = value.get(key).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    all.iter().filter_map(|v| serde_json::from_value(v.clone()).ok()).collect()
}

/// The semantic checks on an answer that broke the schema, on whatever parts of it are
/// well formed: a review lists every reason found (contract section 3), so an unknown
/// technique beside an `execute` key is reported too.
fn check_parts(value: &Value, ctx: &Context, reasons: &mut Vec<ReviewReason>) {
    check_techniques(&items(value, "attack"), ctx.catalog, reasons, &mut Vec::new());
    check_evidence(&items(value, "evidence"), ctx, reasons);
    check_actions(&items(value, "proposed_actions"), ctx, reasons);
    if let Some(severity) = value.get("severity").and_then(|s| serde_json::from_value::<Severity>(s.clone()).ok()) {
        check_severity(severity, ctx, reasons);
    }
}

/// The text inside one fenced ```json wrapper, as [`parse_raw`] reads it.
fn unfenced(raw: &str) -> &str {
    let t = raw.trim();
    t.strip_prefix("```json").or_else(|| t.strip_prefix("```")).and_then(|s| s.strip_suffix("```")).unwrap_or(t)
}

/// `evidence[].quote` may be `null` or left out (contract section 3): such a citation
/// names the whole document. Both are read here as the empty quote before the schema
/// check, so the check doesn't depend on how the derived schema spells "nullable" (a
/// serde default makes the field optional and non-null in it) and the typed answer
/// reads it the same way (`""`: no quote).
fn tolerate_absent_quotes(value: &mut Value) {
    if let Some(items) = value.get_mut("evidence").and_then(Value::as_array_mut) {
        for item in items.iter_mut().filter_map(Value::as_object_mut) {
            let quote = item.entry("quote").or_insert(Value::Null);
            if quote.is_null() {
                *quote = Value::String(String::new());
            }
        }
    }
}

/// `direct_execution_proposed` first, the rest in the order found.
fn execution_first(mut reasons: Vec<ReviewReason>) -> Vec<ReviewReason> {
    reasons.sort_by_key(|r| r.code != reason::DIRECT_EXECUTION);
    reasons
}

pub fn check(raw: &str, ctx: &Context) -> Result<Checked, Vec<ReviewReason>> {
    let (output, mut reasons): (ModelOutput, _) = match parse_typed(raw, ctx.alerts, |v| ctx.schemas.model_output_errors(v)) {
        Ok(typed) => typed,
        Err(Refused { mut reasons, value }) => {
            if let Some(value) = value {
                check_parts(&value, ctx, &mut reasons);
            }
            return Err(execution_first(reasons));
        }
    };
    let mut uncertainty = output.uncertainty.clone();
    let attack = check_techniques(&output.attack, ctx.catalog, &mut reasons, &mut uncertainty);
    let evidence = check_evidence(&output.evidence, ctx, &mut reasons);
    let proposed_actions = check_actions(&output.proposed_actions, ctx, &mut reasons);
    check_severity(output.severity, ctx, &mut reasons);
    if !reasons.is_empty() {
        return Err(execution_first(reasons));
    }
    Ok(Checked {
        recommendation: Recommendation {
            severity: output.severity,
            confidence: output.confidence,
            hypothesis: output.hypothesis,
            attack,
            evidence,
            uncertainty,
            proposed_actions,
            summary: output.summary,
        },
    })
}

/// An answer two or more levels below the evidence's floor is a downgrade a human must confirm.
fn check_severity(severity: Severity, ctx: &Context, reasons: &mut Vec<ReviewReason>) {
    if let Some(floor) = severity_floor(ctx.alerts, ctx.retrieved)
        && severity.rank() + 2 <= floor.severity.rank()
    {
        reasons.push(reason(reason::SEVERITY_DOWNGRADE, format!("severity {severity} is two or more levels below {} ({})", floor.severity, floor.why)));
    }
}

/// A checked case summary from an engine.
#[derive(Debug, Clone)]
pub struct CheckedSummary {
    pub markdown: String,
    pub evidence: Vec<Evidence>,
    pub uncertainty: Vec<String>,
}

/// Checks a summary answer the way a recommendation is checked: JSON, execution keys,
/// schema, commands and execution wording in the prose, citations and quotes. Markdown
/// images and links are refused too: a summary is pasted into tickets, where they would
/// load or lead somewhere.
pub fn check_summary(raw: &str, ctx: &Context) -> Result<CheckedSummary, Vec<ReviewReason>> {
    let (out, mut reasons): (SummaryOutput, _) = parse_typed(raw, ctx.alerts, |v| ctx.schemas.summary_errors(v)).map_err(|r| execution_first(r.reasons))?;
    if out.summary_markdown.contains("](") {
        reasons.push(reason(reason::INVALID_OUTPUT, "summary_markdown: links and images are not allowed"));
    }
    let evidence = check_evidence(&out.evidence, ctx, &mut reasons);
    if !reasons.is_empty() {
        return Err(execution_first(reasons));
    }
    Ok(CheckedSummary { markdown: out.summary_markdown, evidence, uncertainty: out.uncertainty })
}

/// The folded text of every alert in a request, for telling quotes from proposals.
pub fn alerts_text(alerts: &[Alert]) -> String {
    let mut s = String::new();
    for a in alerts {
        s.push_str(&crate::jsonpath::text_of(&a.raw));
        s.push('\n');
    }
    fold_whitespace(&s)
}

fn check_techniques(techniques: &[ModelTechnique], catalog: &Catalog, reasons: &mut Vec<ReviewReason>, notes: &mut Vec<String>) -> Vec<AttackMapping> {
    let mut out: Vec<AttackMapping> = Vec::new();
    for t in techniques {
        let id = match TechniqueId::parse(&t.technique_id) {
            Ok(id) => id,
            Err(e) => {
                reasons.push(reason(reason::INVALID_OUTPUT, e.to_string()));
                continue;
            }
        };
        let technique = match catalog.lookup(&id) {
            Lookup::Active(t) => t,
            Lookup::Replaced { revoked, by } => {
                notes.push(format!("{} ({}) is revoked in ATT&CK; mapped to {} ({}).", revoked.id, revoked.name, by.id, by.name));
                by
            }
            Lookup::Inactive(t) => {
                reasons.push(reason(reason::UNKNOWN_TECHNIQUE, format!("{id} ({}) is deprecated with no replacement", t.name)));
                continue;
            }
            Lookup::Unknown => {
                reasons.push(reason(reason::UNKNOWN_TECHNIQUE, format!("{id} is not an ATT&CK technique")));
                continue;
            }
        };
        if out.iter().any(|m| m.technique_id == technique.id.as_str()) {
            continue;
        }
        out.push(AttackMapping {
            technique_id: technique.id.to_string(),
            name: technique.name.clone(),
            tactics: technique.tactics.clone(),
            rationale: t.rationale.clone(),
        });
    }
    out
}

/// What a ref names, as quotable text, or why it names nothing in this request.
pub fn cited_text(doc_ref: &str, alerts: &[Alert], retrieved: &[Document]) -> Result<String, String> {
    if let Some(rest) = doc_ref.strip_prefix("alert:") {
        let (alert_id, path) = rest.split_once('#').ok_or_else(|| format!("`{doc_ref}` has no `#<path>`"))?;
        let alert = alerts.iter().find(|a| a.id == alert_id).ok_or_else(|| format!("no alert `{alert_id}` in this request"))?;
        let value = alert.value_at(path).ok_or_else(|| format!("alert `{alert_id}` has no `{path}`"))?;
        return Ok(crate::jsonpath::text_of(value));
    }
    retrieved.iter().find(|d| d.doc_ref() == doc_ref).map(|d| d.text.clone()).ok_or_else(|| format!("`{doc_ref}` was not retrieved for this request"))
}

fn check_evidence(items: &[ModelEvidence], ctx: &Context, reasons: &mut Vec<ReviewReason>) -> Vec<Evidence> {
    let mut out = Vec::new();
    for (i, e) in items.iter().enumerate() {
        match cited_text(&e.doc_ref, ctx.alerts, ctx.retrieved) {
            Err(why) => reasons.push(reason(reason::UNSUPPORTED_CITATION, format!("evidence[{i}]: {why}"))),
            Ok(text) => {
                let quote = fold_whitespace(&e.quote);
                if !quote.is_empty() && !fold_whitespace(&text).contains(&quote) {
                    reasons.push(reason(reason::UNSUPPORTED_CITATION, format!("evidence[{i}]: the quote does not appear verbatim in `{}`", e.doc_ref)));
                    continue;
                }
                out.push(Evidence { doc_ref: e.doc_ref.clone(), quote: (!quote.is_empty()).then(|| e.quote.clone()) });
            }
        }
    }
    out
}

fn check_actions(proposed: &[ModelAction], ctx: &Context, reasons: &mut Vec<ReviewReason>) -> Vec<ProposedAction> {
    let mut out = Vec::new();
    for (i, a) in proposed.iter().enumerate() {
        if !ctx.actions.contains(&a.action) {
            reasons.push(reason(reason::UNKNOWN_ACTION, format!("proposed_actions[{i}]: `{}` is not in the action catalog", a.action)));
            continue;
        }
        let tier = Target::parse(&a.target).and_then(|t| Ok((ctx.actions.tier_for(&a.action, &t, ctx.alerts)?, t)));
        match tier {
            // A provider's own identifier is served as `resource:<identifier>`.
            Ok((tier, target)) => out.push(ProposedAction {
                action: a.action.clone(),
                target: target.canonical(),
                rationale: a.rationale.clone(),
                tier,
                approval_id: None,
                evidence_status: Vec::new(),
            }),
            Err(ActionError::UnknownAction(x)) => reasons.push(reason(reason::UNKNOWN_ACTION, format!("proposed_actions[{i}]: `{x}`"))),
            Err(e) => reasons.push(reason(reason::INVALID_TARGET, format!("proposed_actions[{i}]: {e}"))),
        }
    }
    out
}

/// The lowest severity the evidence supports, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct SeverityFloor {
    pub severity: Severity,
    pub why: String,
}

/// The highest of: the alerts' rule severities, and the severities of retrieved prior
/// true-positive cases of the same detection (a case whose alerts include one of these
/// rule names). An answer two or more levels below it is a downgrade a human must confirm.
/// A case that merely resembles the alert sets no floor: on real telemetry retrieval often
/// finds a neighbour, and its severity is not evidence about this alert.
///
/// One narrow exception lowers the rules' floor by one level: when every alert's own
/// recorded values decisively read against what its rule describes (an operation of the
/// opposite kind, a read-only call, an error code, the rule's property set to false; see
/// `knowledge::consistency::decisively_against`). That reading is done here, by code, on
/// the log source's structured fields; nothing an engine writes (its severity, its
/// uncertainty, its quotes) and no free text of the alert can lower the floor.
pub fn severity_floor<'d>(alerts: &[Alert], retrieved: impl IntoIterator<Item = &'d Document>) -> Option<SeverityFloor> {
    let contradicted = alerts.iter().any(|a| a.rule.severity.is_some()) && crate::knowledge::consistency::decisively_against(alerts);
    let rule = alerts.iter().filter_map(|a| a.rule.severity.map(|s| (s, a))).max_by_key(|(s, _)| *s).map(|(s, a)| {
        if contradicted {
            SeverityFloor {
                severity: s.shifted(-1),
                why: format!("rule severity of alert `{}`, one level under it because every event reads against its rule", a.id),
            }
        } else {
            SeverityFloor { severity: s, why: format!("rule severity of alert `{}`", a.id) }
        }
    });
    let case = retrieved
        .into_iter()
        .filter(|d| d.kind == DocKind::Case && d.disposition == Some(Disposition::TruePositive))
        .filter(|d| same_detection(d, alerts))
        .filter_map(|d| d.severity.map(|s| (s, d)))
        .max_by_key(|(s, _)| *s)
        .map(|(s, d)| SeverityFloor { severity: s, why: format!("true-positive prior case {}", d.doc_ref()) });
    match (rule, case) {
        (Some(r), Some(c)) => Some(if c.severity > r.severity { c } else { r }),
        (r, c) => r.or(c),
    }
}

/// Whether a prior case was about the same detection as one of the alerts: one of its
/// alerts carried the same rule name.
pub fn same_detection(case: &Document, alerts: &[Alert]) -> bool {
    alerts.iter().any(|a| case.text.lines().any(|l| l.strip_prefix("Alert: ").is_some_and(|n| n.trim().eq_ignore_ascii_case(a.rule.name.trim()))))
}

/// Tiers of the actions in a checked recommendation, for callers that count approvals.
pub fn tiers(rec: &Recommendation) -> HashMap<String, Tier> {
    rec.proposed_actions.iter().map(|a| (format!("{} {}", a.action, a.target), a.tier)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn alert(name: &str, severity: &str, fields: Value) -> Alert {
        Alert::parse(
            0,
            &json!({"id": "a1", "source": "aws-cloudtrail", "time": "2026-01-01T00:00:00Z", "rule": {"name": name, "severity": severity}, "fields": fields}),
        )
        .unwrap()
    }

    #[test]
    fn the_rule_floor_drops_one_level_only_when_every_event_decisively_reads_against_its_rule() {
        // The operation the rule describes: the floor is the rule's severity.
        let real = alert("AWS WAF Web ACL Disassociated", "critical", json!({"eventSource": "wafv2.amazonaws.com", "eventName": "DisassociateWebACL"}));
        assert_eq!(severity_floor(std::slice::from_ref(&real), &[]).unwrap().severity, Severity::Critical);
        // A read under a rule about a change: one level under it, and no further.
        let read =
            alert("AWS WAF Web ACL Disassociated", "critical", json!({"eventSource": "wafv2.amazonaws.com", "eventName": "ListWebACLs", "readOnly": true}));
        assert_eq!(severity_floor(std::slice::from_ref(&read), &[]).unwrap().severity, Severity::High);
        // An operation that only shares no word with the rule is not decisive.
        let other = alert("Slack App Added", "high", json!({"action": "user_channel_join"}));
        assert_eq!(severity_floor(std::slice::from_ref(&other), &[]).unwrap().severity, Severity::High);
        // One alert that is what its rule describes keeps the whole request's floor.
        assert_eq!(severity_floor(&[read, real], &[]).unwrap().severity, Severity::Critical);
    }
}
