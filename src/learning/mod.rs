//! Learning after closure (contract section 13): pure functions that draft tasks for people
//! from a closed case. Nothing here is applied by the service, reads the store or speaks
//! HTTP; the caller stores the tasks and shows them.
//!
//! - a false positive or benign verdict drafts detection tuning: a Sigma rule matching the
//!   benign pattern, with how many past alerts it would have excluded ([`sigma_filter`]);
//! - a true positive whose recommendation the analyst corrected (severity, techniques)
//!   drafts a runbook edit ([`runbook_edit`]) and an eval case ([`eval_case`]);
//! - [`matcher`] evaluates Sigma rules against alerts, to count those past alerts.

pub mod eval_case;
pub mod matcher;
mod rule_id;
pub mod runbook;
pub mod sigma;

use std::str::FromStr;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::alert::Alert;
use crate::cases::verdict::ClosedCase;
use crate::corpus::Disposition;

pub use eval_case::eval_case;
pub use matcher::{SigmaMatcher, matches};
pub use runbook::runbook_edit;
pub use sigma::{SigmaDraft, sigma_filter};

/// The most detection-tuning tasks one case drafts (one per distinct benign pattern).
pub const MAX_TUNING_TASKS: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    DetectionTuning,
    RunbookEdit,
    EvalCase,
    AutomationTest,
}

impl TaskKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskKind::DetectionTuning => "detection_tuning",
            TaskKind::RunbookEdit => "runbook_edit",
            TaskKind::EvalCase => "eval_case",
            TaskKind::AutomationTest => "automation_test",
        }
    }
}

impl FromStr for TaskKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        [TaskKind::DetectionTuning, TaskKind::RunbookEdit, TaskKind::EvalCase, TaskKind::AutomationTest]
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("`{s}` is not a task kind (detection_tuning, runbook_edit, eval_case, automation_test)"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Open,
    Accepted,
    Dismissed,
}

impl TaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Open => "open",
            TaskStatus::Accepted => "accepted",
            TaskStatus::Dismissed => "dismissed",
        }
    }
}

impl FromStr for TaskStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        [TaskStatus::Open, TaskStatus::Accepted, TaskStatus::Dismissed]
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("`{s}` is not a task status (open, accepted, dismissed)"))
    }
}

/// A learning task: a draft for a person to accept or dismiss. `draft` is Sigma YAML
/// (detection tuning), Markdown (runbook edit) or one dataset line of JSON (eval case).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    pub id: String,
    pub kind: TaskKind,
    pub case_id: String,
    pub title: String,
    pub draft: String,
    pub status: TaskStatus,
}

/// The learning tasks closing a case creates, all `open`, each with an id from `new_id`:
/// - false positive or benign: one detection-tuning task per rule and distinct benign
///   pattern among `alerts` (at most [`MAX_TUNING_TASKS`]), counted against `past`; an
///   alert with too few stable identifying fields drafts none (see [`sigma_filter`]);
/// - true positive whose `last_recommendation` the analyst corrected (severity or
///   techniques): a runbook edit and an eval case built from `alerts_json`;
/// - anything else (an uncorrected true positive, no recommendation to correct): none.
pub fn drafts(
    case_id: &str,
    alerts: &[Alert],
    alerts_json: &[Value],
    last_recommendation: Option<&Value>,
    closed: &ClosedCase,
    past: &[Alert],
    mut new_id: impl FnMut() -> String,
) -> Vec<Task> {
    let mut tasks = Vec::new();
    let mut task =
        |kind: TaskKind, title: String, draft: String| Task { id: new_id(), kind, case_id: case_id.to_string(), title, draft, status: TaskStatus::Open };
    match closed.disposition {
        Disposition::FalsePositive | Disposition::Benign => {
            let ctx = sigma::CaseContext { case_id, closed };
            // One task per rule and pattern: the same fields under another rule tune that rule.
            let mut seen: Vec<String> = Vec::new();
            for alert in alerts {
                if seen.len() == MAX_TUNING_TASKS {
                    break;
                }
                let Some(draft) = sigma::build(alert, past, Some(ctx)) else { continue };
                let key = format!("{}\n{:?}\n{}\n{:?}", alert.source, alert.rule.id, alert.rule.name, draft.fields);
                if seen.contains(&key) {
                    continue;
                }
                seen.push(key);
                let names: Vec<&str> = draft.fields.iter().map(|(f, _)| f.as_str()).collect();
                let n = draft.would_exclude;
                let title = format!(
                    "Tune '{}': filter on {} (would have excluded {n} earlier alert{})",
                    one_line(&alert.rule.name, 100),
                    names.join(", "),
                    if n == 1 { "" } else { "s" }
                );
                tasks.push(task(TaskKind::DetectionTuning, title, draft.yaml));
            }
        }
        Disposition::TruePositive => {
            let Some(rec) = last_recommendation else { return tasks };
            let Some(markdown) = runbook_edit(case_id, alerts, rec, closed) else { return tasks };
            let subject = alerts.first().map_or_else(|| format!("case {case_id}"), |a| format!("'{}'", one_line(&a.rule.name, 100)));
            tasks.push(task(TaskKind::RunbookEdit, format!("Runbook edit for {subject}: the analyst corrected the recommendation"), markdown));
            let line = eval_case(case_id, alerts_json, closed);
            let techniques: Vec<String> = line["gold"]["techniques"].as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect();
            let gold_techniques = if techniques.is_empty() { "none".to_string() } else { techniques.join(", ") };
            tasks.push(task(TaskKind::EvalCase, format!("Eval case from case {case_id}: gold {} / {gold_techniques}", closed.severity), line.to_string()));
        }
    }
    tasks
}

/// Free text as one line of at most `max` characters, with redaction placeholders shown as `…`.
pub(crate) fn one_line(text: &str, max: usize) -> String {
    let text = PLACEHOLDER.replace_all(text, "…");
    let folded = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if folded.chars().count() <= max {
        return folded;
    }
    let mut cut: String = folded.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

static PLACEHOLDER: LazyLock<Regex> = LazyLock::new(|| re(r"\[REDACTED[^\]]*\]"));

pub(crate) fn re(pattern: &str) -> Regex {
    // The patterns are constants exercised by the tests; an invalid one fails there.
    Regex::new(pattern).unwrap_or_else(|e| invalid_pattern(pattern, &e))
}

#[allow(clippy::panic)]
fn invalid_pattern(pattern: &str, e: &regex::Error) -> Regex {
    panic!("invalid built-in pattern {pattern}: {e}")
}

#[cfg(test)]
mod tests;
