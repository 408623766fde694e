//! Runbook edits: when an analyst closes a true positive with a different severity or
//! different techniques than the recommendation, a Markdown draft of what to change in the
//! runbook the recommendation leaned on.

use std::collections::BTreeSet;

use serde_json::Value;

use super::one_line;
use crate::alert::Alert;
use crate::attack::TechniqueId;
use crate::cases::verdict::ClosedCase;
use crate::corpus::Disposition;
use crate::severity::Severity;

/// What a recommendation said, read leniently from its JSON: the `recommendation` object of
/// a served response, or that object itself.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Recommended {
    pub severity: Option<Severity>,
    /// Technique id and, when the recommendation named it, its name.
    pub techniques: Vec<(String, Option<String>)>,
    /// `runbook:<id>` refs among its evidence, in order, once each.
    pub runbooks: Vec<String>,
}

impl Recommended {
    pub(crate) fn read(v: &Value) -> Option<Recommended> {
        let v = v.get("recommendation").filter(|r| r.is_object()).unwrap_or(v);
        let obj = v.as_object()?;
        let severity = obj.get("severity").and_then(Value::as_str).and_then(|s| s.parse().ok());
        let mut techniques: Vec<(String, Option<String>)> = Vec::new();
        for a in obj.get("attack").and_then(Value::as_array).into_iter().flatten() {
            let Some(id) = a.get("technique_id").and_then(Value::as_str) else { continue };
            let id = normalise(id);
            if !techniques.iter().any(|(t, _)| *t == id) {
                techniques.push((id, a.get("name").and_then(Value::as_str).map(|n| one_line(n, 80))));
            }
        }
        let mut runbooks: Vec<String> = Vec::new();
        for e in obj.get("evidence").and_then(Value::as_array).into_iter().flatten() {
            let Some(r) = e.get("ref").and_then(Value::as_str) else { continue };
            if r.starts_with("runbook:") && !runbooks.iter().any(|x| x == r) {
                runbooks.push(r.to_string());
            }
        }
        Some(Recommended { severity, techniques, runbooks })
    }
}

/// `T1059.001` for `t1059.001` or `attack.t1059.001`; other text trimmed and upper-cased.
pub(crate) fn normalise(technique: &str) -> String {
    TechniqueId::parse_lenient(technique).map(|t| t.to_string()).unwrap_or_else(|_| technique.trim().to_ascii_uppercase())
}

/// What the analyst changed on a true positive.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Corrections {
    /// Recommended → decided, when they differ.
    pub severity: Option<(Severity, Severity)>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

/// The analyst's corrections of a true positive's recommendation; `None` for another
/// verdict, a recommendation without a severity, or nothing changed.
pub(crate) fn corrections(rec: &Recommended, closed: &ClosedCase) -> Option<Corrections> {
    if closed.disposition != Disposition::TruePositive {
        return None;
    }
    let recommended_severity = rec.severity?;
    let severity = (recommended_severity != closed.severity).then_some((recommended_severity, closed.severity));
    let said: BTreeSet<String> = rec.techniques.iter().map(|(t, _)| t.clone()).collect();
    let decided: BTreeSet<String> = closed.techniques.iter().map(|t| normalise(t)).collect();
    let added: Vec<String> = decided.difference(&said).cloned().collect();
    let removed: Vec<String> = said.difference(&decided).cloned().collect();
    (severity.is_some() || !added.is_empty() || !removed.is_empty()).then_some(Corrections { severity, added, removed })
}

/// A Markdown draft of a runbook edit, when the analyst corrected the severity or the
/// techniques of a true positive's recommendation; `None` otherwise.
pub fn runbook_edit(case_id: &str, alerts: &[Alert], recommended: &Value, closed: &ClosedCase) -> Option<String> {
    let rec = Recommended::read(recommended)?;
    let fix = corrections(&rec, closed)?;
    let rules = rule_names(alerts);
    let mut md = String::new();
    md.push_str(&format!(
        "## Runbook edit: {} (case {})\n\n",
        if rules.is_empty() { "unnamed detection".to_string() } else { rules.join("; ") },
        cell(case_id)
    ));
    md.push_str(&format!(
        "{} closed case `{}`{} as a **true positive** and corrected the recommendation.\n\n",
        cell(&closed.closed_by),
        cell(case_id),
        if closed.closed_at.trim().is_empty() { String::new() } else { format!(" on {}", cell(&closed.closed_at)) }
    ));

    md.push_str("| | Recommended | Analyst's verdict |\n|---|---|---|\n");
    let sev_rec = rec.severity.map_or("—".to_string(), |s| s.to_string());
    let sev_dec = if fix.severity.is_some() { format!("**{}**", closed.severity) } else { closed.severity.to_string() };
    md.push_str(&format!("| Severity | {sev_rec} | {sev_dec} |\n"));
    let said: Vec<String> = rec.techniques.iter().map(|(t, n)| n.as_ref().map_or(t.clone(), |n| format!("{t} ({})", cell(n)))).collect();
    let mut decided: Vec<String> = closed.techniques.iter().map(|t| normalise(t)).collect();
    decided.dedup();
    let decided: Vec<String> = decided.into_iter().map(|t| if fix.added.contains(&t) { format!("**{}**", cell(&t)) } else { cell(&t) }).collect();
    md.push_str(&format!("| ATT&CK techniques | {} | {} |\n\n", list_or_none(&said), list_or_none(&decided)));

    if rec.runbooks.is_empty() {
        md.push_str("**Runbook cited:** none — the recommendation cited no runbook.\n\n");
    } else {
        let refs: Vec<String> = rec.runbooks.iter().map(|r| format!("`{}`", cell(r))).collect();
        md.push_str(&format!("**Runbook cited:** {}\n\n", refs.join(", ")));
    }

    if !alerts.is_empty() {
        md.push_str("**Alerts:**\n\n");
        for a in alerts.iter().take(10) {
            let mut context = Vec::new();
            if let Some(s) = a.rule.severity {
                context.push(format!("rule severity {s}"));
            }
            if let Some(e) = &a.asset.environment {
                context.push(format!("environment {}", one_line(e, 40)));
            }
            if let Some(c) = &a.asset.criticality {
                context.push(format!("criticality {}", one_line(c, 40)));
            }
            let context = if context.is_empty() { String::new() } else { format!(" ({})", context.join(", ")) };
            md.push_str(&format!("- `{}` {}: {}{context}\n", cell(&a.id), cell(&a.source), cell(&a.rule.name)));
        }
        if alerts.len() > 10 {
            md.push_str(&format!("- … and {} more\n", alerts.len() - 10));
        }
        md.push('\n');
    }

    let note = closed.note.trim();
    if !note.is_empty() {
        md.push_str("**Analyst's note:**\n\n");
        for line in note.lines() {
            md.push_str(&format!("> {line}\n"));
        }
        md.push('\n');
    }

    md.push_str("### Suggested edit\n\n");
    let target = match rec.runbooks.as_slice() {
        [] => format!(
            "No runbook was cited: write one for {}, or add the rule to the scope of the runbook that should cover it, with:",
            if rules.is_empty() { "this detection".to_string() } else { rules.join("; ") }
        ),
        [one] => format!("In `{}`:", cell(one)),
        many => format!("In the runbook that covers this case (cited: {}):", many.iter().map(|r| format!("`{}`", cell(r))).collect::<Vec<_>>().join(", ")),
    };
    md.push_str(&format!("{target}\n\n"));
    if let Some((said, decided)) = fix.severity {
        let direction = if decided > said { "raise" } else { "lower" };
        let when = asset_context(alerts);
        let subject = if rules.is_empty() { "these alerts".to_string() } else { format!("alerts of {}", rules.join("; ")) };
        md.push_str(&format!(
            "- **Severity:** {direction} the rating from {said} to **{decided}**. Suggested text for the severity guidance: \
             \"Rate {subject} {decided}{when}\", followed by the condition from the analyst's note that makes it so.\n"
        ));
    }
    if !fix.added.is_empty() {
        md.push_str(&format!(
            "- **Techniques to add:** {} — list {} in the runbook's ATT&CK mapping, with the evidence in these alerts that shows {}.\n",
            fix.added.iter().map(|t| cell(t)).collect::<Vec<_>>().join(", "),
            if fix.added.len() == 1 { "it" } else { "them" },
            if fix.added.len() == 1 { "it" } else { "each" }
        ));
    }
    if !fix.removed.is_empty() {
        md.push_str(&format!(
            "- **Techniques the analyst did not confirm:** {} — remove {} from the mapping, or state when {} apply{}.\n",
            fix.removed.iter().map(|t| cell(t)).collect::<Vec<_>>().join(", "),
            if fix.removed.len() == 1 { "it" } else { "them" },
            if fix.removed.len() == 1 { "it does" } else { "they do" },
            if fix.removed.len() == 1 { "" } else { " each" },
        ));
    }
    Some(md)
}

/// The distinct rule names of `alerts`, quoted, at most five.
fn rule_names(alerts: &[Alert]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for a in alerts {
        let n = format!("'{}'", cell(&a.rule.name));
        if !names.contains(&n) {
            names.push(n);
        }
    }
    names.truncate(5);
    names
}

/// ` on production assets of high criticality`, from what the alerts say of their assets.
fn asset_context(alerts: &[Alert]) -> String {
    let envs: BTreeSet<String> = alerts.iter().filter_map(|a| a.asset.environment.as_deref()).map(|e| one_line(e, 40)).collect();
    let crit: BTreeSet<String> = alerts.iter().filter_map(|a| a.asset.criticality.as_deref()).map(|c| one_line(c, 40)).collect();
    let join = |s: &BTreeSet<String>| s.iter().map(|x| cell(x)).collect::<Vec<_>>().join("/");
    match (envs.is_empty(), crit.is_empty()) {
        (true, true) => String::new(),
        (false, true) => format!(" on {} assets", join(&envs)),
        (true, false) => format!(" on assets of {} criticality", join(&crit)),
        (false, false) => format!(" on {} assets of {} criticality", join(&envs), join(&crit)),
    }
}

/// Text safe inside a Markdown table cell or inline code: one line, no `|` or backticks.
fn cell(text: &str) -> String {
    one_line(text, 200).replace('|', "/").replace('`', "'")
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() { "none".to_string() } else { items.join(", ") }
}
