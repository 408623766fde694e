//! Gates: thresholds on a run's metrics, from TOML, and exact outcomes for deterministic
//! engines.
//!
//! ```toml
//! [min]
//! severity_within_one = 0.7
//! "adversarial_resilience@injection" = 0.9       # metric@tag: the metric on one tag's samples
//! attack_parent_f1 = "best_trivial + 0.05"        # above the best trivial baseline of the run
//! severity_ranking_auc = "best_trivial + 0.10"
//! [max]
//! under_triage_rate = "best_trivial"              # at it: a trivial baseline reaches the floor
//! [exact]
//! baseline = "baseline-outcomes.jsonl"            # per deterministic engine, next to the gate file
//! [shortfalls]
//! baseline = ["severity_ranking_auc"]             # lines this engine is known to miss today
//! ```
//!
//! A line listed under `[shortfalls]` for the run's engine is still checked and printed;
//! missing it does not fail the gate, but passing it does, until it is taken off the list,
//! so the list only shrinks and never hides an improvement.
//!
//! The point estimate is compared. A relative threshold is the best value any trivial
//! baseline of the same run reached (the highest for a metric where higher is better, the
//! lowest otherwise) moved by the margin, and never past the metric's range: where a
//! trivial baseline is already at the ceiling, the gate sits at it. A margin that would put
//! the threshold on the trivial side of the best baseline is refused: such a gate passes an
//! engine that a constant beats.
//!
//! A metric name the harness does not know is an error when the gate is loaded (a typo
//! must not pass silently), and a gated metric with no applicable sample in the run fails.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::EvalError;
use super::scorers::{Better, MetricDef, metric};
use super::summary::{MetricSummary, Summary};
use super::trivial::TrivialKind;

/// What a threshold is measured from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Threshold {
    Fixed(f64),
    /// The best trivial baseline of the run, plus `margin` (signed: positive in `[min]`,
    /// negative or zero in `[max]`).
    BestTrivial {
        margin: f64,
    },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum RawThreshold {
    Number(f64),
    Text(String),
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGate {
    #[serde(default)]
    min: BTreeMap<String, RawThreshold>,
    #[serde(default)]
    max: BTreeMap<String, RawThreshold>,
    #[serde(default)]
    exact: BTreeMap<String, PathBuf>,
    #[serde(default)]
    shortfalls: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Gate {
    pub min: BTreeMap<String, Threshold>,
    pub max: BTreeMap<String, Threshold>,
    /// Outcome files per deterministic engine, resolved against the gate file's folder.
    pub exact: BTreeMap<String, PathBuf>,
    /// Gate keys each engine is known to miss (see the module docs).
    pub shortfalls: BTreeMap<String, Vec<String>>,
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
    /// `None` when a relative threshold had no trivial baseline to stand on.
    pub threshold: Option<f64>,
    /// How a relative threshold was reached, e.g. `best trivial rule-severity 0.812 + 0.05`.
    pub basis: Option<String>,
    pub value: Option<f64>,
    pub passed: bool,
    /// Listed under `[shortfalls]` for the run's engine.
    pub shortfall: bool,
}

impl Check {
    /// Whether this line fails the gate: a miss, or a listed shortfall that no longer misses.
    pub fn fails(&self) -> bool {
        self.passed == self.shortfall
    }

    pub fn message(&self) -> String {
        let basis = self.basis.as_ref().map(|b| format!(" ({b})")).unwrap_or_default();
        if self.passed && self.shortfall {
            return format!("{} is listed under [shortfalls] but now passes{basis}: take it off the list", self.key);
        }
        match (self.value, self.threshold, self.bound) {
            (_, None, _) => format!("{}: no trivial baseline in this run has a value to stand on{basis}", self.key),
            (None, Some(t), _) => format!("{} has no applicable samples in this run (threshold {t}{basis})", self.key),
            (Some(v), Some(t), Bound::Min) => format!("{} = {v:.4} is below the minimum {t:.4}{basis}", self.key),
            (Some(v), Some(t), Bound::Max) => format!("{} = {v:.4} is above the maximum {t:.4}{basis}", self.key),
        }
    }
}

fn split(key: &str) -> (&str, Option<&str>) {
    match key.split_once('@') {
        Some((m, t)) => (m, Some(t)),
        None => (key, None),
    }
}

/// `best_trivial`, `best_trivial + 0.05`, `best_trivial - 0.02`.
fn parse_relative(text: &str) -> Result<f64, String> {
    let rest = text.trim().strip_prefix("best_trivial").ok_or_else(|| format!("`{text}`: a threshold is a number or `best_trivial [+|- margin]`"))?;
    let rest = rest.trim();
    if rest.is_empty() {
        return Ok(0.0);
    }
    let (sign, number) = match rest.split_at(1) {
        ("+", n) => (1.0, n),
        ("-", n) => (-1.0, n),
        _ => return Err(format!("`{text}`: expected `+` or `-` after best_trivial")),
    };
    let m: f64 = number.trim().parse().map_err(|_| format!("`{text}`: `{}` is not a number", number.trim()))?;
    if !m.is_finite() || m < 0.0 {
        return Err(format!("`{text}`: the margin must be a non-negative number"));
    }
    Ok(sign * m)
}

fn threshold(key: &str, bound: Bound, raw: &RawThreshold) -> Result<Threshold, String> {
    let (name, _) = split(key);
    let def = metric(name).ok_or_else(|| {
        let known: Vec<&str> = super::scorers::METRICS.iter().map(|d| d.name).collect();
        format!("unknown metric `{name}`; known: {}", known.join(", "))
    })?;
    match raw {
        RawThreshold::Number(n) => {
            // A line that no value of the metric can miss would pass a run it should stop.
            let (lo, hi) = def.range();
            let can_fail = match bound {
                Bound::Min => *n > lo,
                Bound::Max => *n < hi,
            };
            if !n.is_finite() || !can_fail {
                let (side, edge) = if bound == Bound::Min { ("above", lo) } else { ("below", hi) };
                return Err(format!("{key}: {n} can never fail: {name} lies in [{lo}, {hi}], so the threshold must be {side} {edge}"));
            }
            Ok(Threshold::Fixed(*n))
        }
        RawThreshold::Text(t) => {
            let margin = parse_relative(t).map_err(|e| format!("{key}: {e}"))?;
            match (bound, def.better) {
                (Bound::Min, Better::Higher) if margin >= 0.0 => Ok(Threshold::BestTrivial { margin }),
                (Bound::Max, Better::Lower) if margin <= 0.0 => Ok(Threshold::BestTrivial { margin }),
                (Bound::Min, Better::Higher) | (Bound::Max, Better::Lower) => {
                    Err(format!("{key}: `{t}` puts the threshold on the trivial side of the best trivial baseline, so an engine a constant beats would pass"))
                }
                (Bound::Min, Better::Lower) => Err(format!("{key}: lower is better, so a relative threshold belongs in [max]")),
                (Bound::Max, Better::Higher) => Err(format!("{key}: higher is better, so a relative threshold belongs in [min]")),
            }
        }
    }
}

/// Parses a gate; `dir` is where relative outcome files are found.
pub fn parse(text: &str, origin: &str, dir: &Path) -> Result<Gate, EvalError> {
    let err = |message: String| EvalError::Gate { path: origin.to_string(), message };
    let raw: RawGate = toml::from_str(text).map_err(|e| err(e.to_string()))?;
    let mut gate = Gate::default();
    for (bound, table, out) in [(Bound::Min, &raw.min, &mut gate.min), (Bound::Max, &raw.max, &mut gate.max)] {
        for (key, t) in table {
            out.insert(key.clone(), threshold(key, bound, t).map_err(err)?);
        }
    }
    for (engine, file) in raw.exact {
        if !TrivialKind::is_deterministic(&engine) {
            return Err(err(format!("[exact] {engine}: only deterministic engines (baseline, replay, trivial baselines) have exact outcomes")));
        }
        gate.exact.insert(engine, if file.is_absolute() { file } else { dir.join(file) });
    }
    for (engine, keys) in raw.shortfalls {
        if let Some(k) = keys.iter().find(|k| !gate.min.contains_key(*k) && !gate.max.contains_key(*k)) {
            return Err(err(format!("[shortfalls] {engine}: `{k}` is not a line of [min] or [max]")));
        }
        gate.shortfalls.insert(engine, keys);
    }
    if gate.min.is_empty() && gate.max.is_empty() && gate.exact.is_empty() {
        return Err(err("no thresholds: add a [min], [max] or [exact] table".into()));
    }
    Ok(gate)
}

pub fn load(path: &Path) -> Result<Gate, EvalError> {
    let text = std::fs::read_to_string(path).map_err(|source| EvalError::Io { path: path.display().to_string(), source })?;
    parse(&text, &path.display().to_string(), path.parent().unwrap_or(Path::new("")))
}

fn lookup(metrics: &BTreeMap<String, MetricSummary>, by_tag: &BTreeMap<String, super::summary::GroupSummary>, key: &str) -> Option<f64> {
    let (name, tag) = split(key);
    let metrics = match tag {
        Some(t) => &by_tag.get(t)?.metrics,
        None => metrics,
    };
    metrics.get(name)?.value
}

fn value(summary: &Summary, key: &str) -> Option<f64> {
    lookup(&summary.metrics, &summary.by_tag, key)
}

/// The best value a trivial baseline of the run reached on `key`, and which one.
pub fn best_trivial<'a>(summary: &'a Summary, key: &str, def: &MetricDef) -> Option<(f64, &'a str)> {
    let values = summary.trivial.iter().filter_map(|t| lookup(&t.metrics, &t.by_tag, key).map(|v| (v, t.engine.as_str())));
    match def.better {
        Better::Higher => values.max_by(|a, b| a.0.total_cmp(&b.0)),
        Better::Lower => values.min_by(|a, b| a.0.total_cmp(&b.0)),
    }
}

fn resolve(summary: &Summary, key: &str, t: Threshold) -> (Option<f64>, Option<String>) {
    let margin = match t {
        Threshold::Fixed(v) => return (Some(v), None),
        Threshold::BestTrivial { margin } => margin,
    };
    let Some(def) = metric(split(key).0) else { return (None, None) };
    let Some((best, engine)) = best_trivial(summary, key, def) else {
        return (None, Some(if summary.trivial.is_empty() { "the run has no trivial baselines".into() } else { "no trivial baseline has a value".into() }));
    };
    let (lo, hi) = def.range();
    let at = (best + margin).clamp(lo, hi);
    let mut basis = format!("best trivial {engine} {best:.4}");
    if margin != 0.0 {
        let _ = write!(basis, " {} {}", if margin > 0.0 { "+" } else { "−" }, margin.abs());
    }
    if at != best + margin {
        basis.push_str(", held at the metric's bound");
    }
    (Some(at), Some(basis))
}

pub fn check(gate: &Gate, summary: &Summary) -> Vec<Check> {
    let mut out = Vec::new();
    let shortfalls = gate.shortfalls.get(&summary.engine.kind);
    for (bound, table) in [(Bound::Min, &gate.min), (Bound::Max, &gate.max)] {
        for (key, &t) in table {
            let v = value(summary, key);
            let (threshold, basis) = resolve(summary, key, t);
            let passed = match (v, threshold, bound) {
                (Some(v), Some(t), Bound::Min) => v >= t,
                (Some(v), Some(t), Bound::Max) => v <= t,
                _ => false,
            };
            let shortfall = shortfalls.is_some_and(|s| s.contains(key));
            out.push(Check { key: key.clone(), bound, threshold, basis, value: v, passed, shortfall });
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
        let t = c.threshold.map(|t| format!("{t:.4}")).unwrap_or_else(|| "n/a".into());
        let basis = c.basis.as_ref().map(|b| format!("  ({b})")).unwrap_or_default();
        let status = match (c.passed, c.shortfall) {
            (true, false) => "pass",
            (false, false) => "FAIL",
            (false, true) => "miss (listed shortfall)",
            (true, true) => "FAIL (listed shortfall now passes: take it off the list)",
        };
        let _ = writeln!(s, "  {status} {:<40} {:>8} {op} {t}{basis}", c.key, v);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<Gate, EvalError> {
        parse(text, "g", Path::new("evals"))
    }

    #[test]
    fn unknown_metrics_and_keys_are_refused() {
        assert!(p("[min]\nseverity_exact = 0.5\n[max]\n\"under_triage_rate@cloud\" = 0.1\n").is_ok());
        let e = p("[min]\nseverity_exactt = 0.5\n").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("severity_exactt"), "{e}");
        assert!(p("[minimum]\nseverity_exact = 0.5\n").is_err());
        assert!(p("").is_err());
    }

    #[test]
    fn relative_thresholds_parse_and_may_not_point_below_the_trivial_baselines() {
        let g = p("[min]\nattack_f1 = \"best_trivial + 0.05\"\nready_rate = \"best_trivial\"\n[max]\nunder_triage_rate = \"best_trivial - 0.01\"\n")
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(g.min.get("attack_f1"), Some(&Threshold::BestTrivial { margin: 0.05 }));
        assert_eq!(g.min.get("ready_rate"), Some(&Threshold::BestTrivial { margin: 0.0 }));
        assert_eq!(g.max.get("under_triage_rate"), Some(&Threshold::BestTrivial { margin: -0.01 }));
        for bad in [
            "[min]\nattack_f1 = \"best_trivial - 0.05\"\n",
            "[max]\nunder_triage_rate = \"best_trivial + 0.05\"\n",
            "[min]\nunder_triage_rate = \"best_trivial\"\n",
            "[min]\nattack_f1 = \"best_of_all + 1\"\n",
            // Fixed thresholds no value can miss.
            "[min]\nready_rate = -5\n",
            "[min]\nready_rate = 0.0\n",
            "[max]\nunder_triage_rate = inf\n",
            "[max]\nunder_triage_rate = 1.0\n",
            "[max]\nlatency_ms_mean = nan\n",
            "[min]\nattack_f1 = \"best_trivial * 2\"\n",
        ] {
            assert!(p(bad).is_err(), "accepted {bad}");
        }
    }

    #[test]
    fn exact_outcomes_are_for_deterministic_engines_and_sit_next_to_the_gate() {
        let g = p("[exact]\nbaseline = \"baseline-outcomes.jsonl\"\n").unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(g.exact.get("baseline"), Some(&Path::new("evals").join("baseline-outcomes.jsonl")));
        assert!(p("[exact]\nllm = \"x.jsonl\"\n").is_err());
    }

    #[test]
    fn a_shortfall_names_a_gate_line_and_fails_once_it_passes() {
        assert!(p("[min]\nattack_f1 = 0.5\n[shortfalls]\nbaseline = [\"attack_f1\"]\n").is_ok());
        assert!(p("[min]\nattack_f1 = 0.5\n[shortfalls]\nbaseline = [\"attack_recall\"]\n").is_err());
        let c = |passed, shortfall| Check { key: "k".into(), bound: Bound::Min, threshold: Some(0.5), basis: None, value: Some(0.4), passed, shortfall };
        assert!(!c(true, false).fails());
        assert!(c(false, false).fails());
        assert!(!c(false, true).fails(), "a listed miss is known");
        assert!(c(true, true).fails(), "a listed line that passes must come off the list");
        assert!(c(true, true).message().contains("take it off the list"));
    }
}
