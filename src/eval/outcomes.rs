//! Exact outcomes of deterministic engines (the baseline, replays, trivial baselines): what
//! each sample got — status, severity, techniques, derived disposition, actions — one JSON
//! line per sample. A committed outcome file turns the gate into an exact check: any sample
//! whose outcome differs from the file is printed (id, before → after) and fails the gate,
//! so a change is accepted only by writing the file again (`--write-outcomes`) in the same
//! commit. Aggregate thresholds, which tolerate noise, stay for engines that have none.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::recommendation::Status;
use crate::severity::Severity;

use super::EvalError;
use super::run::SampleRecord;
use super::scorers::derived_disposition;

/// What one sample got, with nothing that changes from run to run (ids, times, latency).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampleOutcome {
    pub id: String,
    /// `ready`, `needs_review`, or `error` when the pipeline gave no response.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    /// Technique IDs, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub techniques: Vec<String>,
    /// `true_positive` or `not_true_positive`, as the harness derives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disposition: Option<String>,
    /// `action target (tier)`, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
    /// Review reason codes of a refused output, sorted and de-duplicated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub review: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl SampleOutcome {
    pub fn of(r: &SampleRecord) -> SampleOutcome {
        let mut o = SampleOutcome {
            id: r.id.clone(),
            status: "error".into(),
            severity: None,
            techniques: Vec::new(),
            disposition: None,
            actions: Vec::new(),
            review: Vec::new(),
            error: r.error.clone(),
        };
        let Some(resp) = r.response.as_ref().filter(|_| r.error.is_none()) else { return o };
        o.status = match resp.status {
            Status::Ready => "ready",
            Status::NeedsReview => "needs_review",
        }
        .into();
        if let Some(rec) = resp.recommendation.as_ref().filter(|_| resp.status == Status::Ready) {
            o.severity = Some(rec.severity);
            o.techniques = rec.attack.iter().map(|a| a.technique_id.clone()).collect();
            o.techniques.sort();
            o.disposition = Some(if derived_disposition(rec).0 { "true_positive" } else { "not_true_positive" }.into());
            o.actions = rec
                .proposed_actions
                .iter()
                .map(|a| {
                    // A ticket targets the request's own case, whose id is new on every run; a
                    // secret's fingerprint depends on the deployment's key, new in every data dir.
                    let target = if a.target.starts_with("case:") {
                        "case:<this case>"
                    } else if a.target.starts_with("token:fp_") {
                        "token:<fingerprint>"
                    } else {
                        a.target.as_str()
                    };
                    format!("{} {target} ({})", a.action, a.tier)
                })
                .collect();
            o.actions.sort();
        }
        if let Some(review) = &resp.review {
            o.review = review.reasons.iter().map(|x| x.code.clone()).collect();
            o.review.sort();
            o.review.dedup();
        }
        o
    }
}

/// Writes every record's outcome, in run order.
pub fn write(path: &Path, records: &[SampleRecord]) -> Result<usize, EvalError> {
    let mut text = String::new();
    for r in records {
        text.push_str(&serde_json::to_string(&SampleOutcome::of(r))?);
        text.push('\n');
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| EvalError::Io { path: parent.display().to_string(), source })?;
    }
    std::fs::write(path, text).map_err(|source| EvalError::Io { path: path.display().to_string(), source })?;
    Ok(records.len())
}

/// Reads an outcome file; a line that does not parse is an error naming it.
pub fn read(path: &Path) -> Result<BTreeMap<String, SampleOutcome>, EvalError> {
    let text = std::fs::read_to_string(path).map_err(|source| EvalError::Io { path: path.display().to_string(), source })?;
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let o: SampleOutcome = serde_json::from_str(line).map_err(|e| EvalError::Usage(format!("{}:{}: not an outcome line: {e}", path.display(), i + 1)))?;
        out.insert(o.id.clone(), o);
    }
    Ok(out)
}

/// One sample whose outcome is not the recorded one.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub id: String,
    /// `None`: the sample has no recorded outcome.
    pub before: Option<SampleOutcome>,
    pub after: SampleOutcome,
}

impl Change {
    /// `id: field before → after; …`
    pub fn describe(&self) -> String {
        let Some(b) = &self.before else {
            return format!("{}: new sample, no recorded outcome (now {})", self.id, brief(&self.after));
        };
        let a = &self.after;
        let mut parts = Vec::new();
        let mut field = |name: &str, x: String, y: String| {
            if x != y {
                parts.push(format!("{name} {x} → {y}"));
            }
        };
        field("status", b.status.clone(), a.status.clone());
        field("severity", opt(b.severity.map(Severity::as_str)), opt(a.severity.map(Severity::as_str)));
        field("techniques", list(&b.techniques), list(&a.techniques));
        field("disposition", opt(b.disposition.as_deref()), opt(a.disposition.as_deref()));
        field("actions", list(&b.actions), list(&a.actions));
        field("review", list(&b.review), list(&a.review));
        field("error", opt(b.error.as_deref()), opt(a.error.as_deref()));
        format!("{}: {}", self.id, parts.join("; "))
    }
}

fn opt(v: Option<&str>) -> String {
    v.unwrap_or("none").to_string()
}

fn list(v: &[String]) -> String {
    format!("[{}]", v.join(", "))
}

fn brief(o: &SampleOutcome) -> String {
    format!("{}, severity {}, techniques {}", o.status, opt(o.severity.map(Severity::as_str)), list(&o.techniques))
}

/// A run's outcomes against an outcome file.
#[derive(Debug, Clone, PartialEq)]
pub struct ExactCheck {
    pub file: String,
    /// Samples of the run found in the file.
    pub compared: usize,
    pub changes: Vec<Change>,
    /// Samples of the file the run did not have (a subset or `--limit` run); not a failure.
    pub not_run: usize,
}

impl ExactCheck {
    pub fn passed(&self) -> bool {
        self.changes.is_empty()
    }
}

pub fn compare(file: &str, recorded: &BTreeMap<String, SampleOutcome>, records: &[SampleRecord]) -> ExactCheck {
    let mut changes = Vec::new();
    let mut compared = 0;
    for r in records {
        let after = SampleOutcome::of(r);
        match recorded.get(&r.id) {
            Some(before) => {
                compared += 1;
                if *before != after {
                    changes.push(Change { id: r.id.clone(), before: Some(before.clone()), after });
                }
            }
            None => changes.push(Change { id: r.id.clone(), before: None, after }),
        }
    }
    let run: std::collections::HashSet<&str> = records.iter().map(|r| r.id.as_str()).collect();
    let not_run = recorded.keys().filter(|id| !run.contains(id.as_str())).count();
    ExactCheck { file: file.to_string(), compared, changes, not_run }
}

/// The console lines of an exact check.
pub fn table(c: &ExactCheck) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "  {} exact outcomes {}: {} samples compared, {} changed{}",
        if c.passed() { "pass" } else { "FAIL" },
        c.file,
        c.compared,
        c.changes.len(),
        if c.not_run > 0 { format!(", {} in the file not in this run", c.not_run) } else { String::new() }
    );
    for ch in &c.changes {
        let _ = writeln!(s, "    changed {}", ch.describe());
    }
    s
}
