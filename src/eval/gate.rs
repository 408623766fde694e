//! Gates: thresholds on a run's metrics, from TOML.
//!
//! ```toml
//! [min]
//! severity_within_one = 0.7
//! "adversarial_resilience@injection" = 0.9   # metric@tag: the metric on one tag's samples
//! [max]
//! under_triage_rate = 0.1
//! ```
//!
//! The point estimate is compared. A metric name the harness does not know is an error when
//! the gate is loaded (a typo must not pass silently), and a gated metric with no applicable
//! sample in the run fails.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use serde::Deserialize;

use super::EvalError;
use super::scorers::metric;
use super::summary::Summary;

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gate {
    #[serde(default)]
    pub min: BTreeMap<String, f64>,
    #[serde(default)]
    pub max: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    Min,
    Max,
}

/// One threshold against a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub key: String,
    pub bound: Bound,
    pub threshold: f64,
    pub value: Option<f64>,
    pub passed: bool,
}

impl Check {
    pub fn message(&self) -> String {
        match (self.value, self.bound) {
            (None, _) => format!("{} has no applicable samples in this run (threshold {})", self.key, self.threshold),
            (Some(v), Bound::Min) => format!("{} = {v:.4} is below the minimum {}", self.key, self.threshold),
            (Some(v), Bound::Max) => format!("{} = {v:.4} is above the maximum {}", self.key, self.threshold),
        }
    }
}

fn split(key: &str) -> (&str, Option<&str>) {
    match key.split_once('@') {
        Some((m, t)) => (m, Some(t)),
        None => (key, None),
    }
}

pub fn parse(text: &str, origin: &str) -> Result<Gate, EvalError> {
    let err = |message: String| EvalError::Gate { path: origin.to_string(), message };
    let gate: Gate = toml::from_str(text).map_err(|e| err(e.to_string()))?;
    for key in gate.min.keys().chain(gate.max.keys()) {
        let (name, _) = split(key);
        if metric(name).is_none() {
            let known: Vec<&str> = super::scorers::METRICS.iter().map(|d| d.name).collect();
            return Err(err(format!("unknown metric `{name}`; known: {}", known.join(", "))));
        }
    }
    if gate.min.is_empty() && gate.max.is_empty() {
        return Err(err("no thresholds: add a [min] or [max] table".into()));
    }
    Ok(gate)
}

pub fn load(path: &Path) -> Result<Gate, EvalError> {
    let text = std::fs::read_to_string(path).map_err(|source| EvalError::Io { path: path.display().to_string(), source })?;
    parse(&text, &path.display().to_string())
}

fn value(summary: &Summary, key: &str) -> Option<f64> {
    let (name, tag) = split(key);
    let metrics = match tag {
        Some(t) => &summary.by_tag.get(t)?.metrics,
        None => &summary.metrics,
    };
    metrics.get(name)?.value
}

pub fn check(gate: &Gate, summary: &Summary) -> Vec<Check> {
    let mut out = Vec::new();
    for (bound, table) in [(Bound::Min, &gate.min), (Bound::Max, &gate.max)] {
        for (key, &threshold) in table {
            let v = value(summary, key);
            let passed = match (v, bound) {
                (None, _) => false,
                (Some(v), Bound::Min) => v >= threshold,
                (Some(v), Bound::Max) => v <= threshold,
            };
            out.push(Check { key: key.clone(), bound, threshold, value: v, passed });
        }
    }
    out
}

pub fn table(checks: &[Check]) -> String {
    let mut s = String::new();
    for c in checks {
        let op = match c.bound {
            Bound::Min => "≥",
            Bound::Max => "≤",
        };
        let v = c.value.map(|v| format!("{v:.4}")).unwrap_or_else(|| "n/a".into());
        let _ = writeln!(s, "  {} {:<40} {:>8} {op} {}", if c.passed { "pass" } else { "FAIL" }, c.key, v, c.threshold);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_metrics_and_keys_are_refused() {
        assert!(parse("[min]\nseverity_exact = 0.5\n[max]\n\"under_triage_rate@cloud\" = 0.1\n", "g").is_ok());
        let e = parse("[min]\nseverity_exactt = 0.5\n", "g").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("severity_exactt"), "{e}");
        assert!(parse("[minimum]\nseverity_exact = 0.5\n", "g").is_err());
        assert!(parse("", "g").is_err());
    }
}
