//! Paired comparison of two runs: samples are matched by id, and for every metric the
//! difference B − A is bootstrapped over the samples the metric scored in both runs (the
//! same draw for both runs, so per-sample noise cancels).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use super::EvalError;
use super::bootstrap::{Bootstrap, Draws, Estimate};
use super::scorers::{Better, METRICS};
use super::summary::{Prepared, ScoredSample};

#[derive(Debug, Clone)]
pub struct MetricDiff {
    pub metric: &'static str,
    pub better: Better,
    pub a: Option<f64>,
    pub b: Option<f64>,
    pub diff: Estimate,
    /// Shared samples the metric scored in both runs.
    pub n: usize,
}

impl MetricDiff {
    /// `better`/`worse` when the interval excludes zero, else `~`.
    pub fn verdict(&self) -> &'static str {
        let Some([lo, hi]) = self.diff.ci else { return "" };
        let up = lo > 0.0;
        let down = hi < 0.0;
        match (up, down, self.better) {
            (true, _, Better::Higher) | (_, true, Better::Lower) => "better",
            (true, _, Better::Lower) | (_, true, Better::Higher) => "worse",
            _ => "~",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Comparison {
    pub run_a: String,
    pub run_b: String,
    pub paired: usize,
    /// Ids in both runs whose alerts or gold differ: left out of every figure.
    pub differing: Vec<String>,
    pub only_a: usize,
    pub only_b: usize,
    pub metrics: Vec<MetricDiff>,
}

/// Reads the samples of a run folder (its samples.jsonl).
pub fn read_samples(dir: &Path) -> Result<Vec<ScoredSample>, EvalError> {
    let path = dir.join("samples.jsonl");
    let text = std::fs::read_to_string(&path).map_err(|source| EvalError::Io { path: path.display().to_string(), source })?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let s: ScoredSample = serde_json::from_str(line).map_err(|e| EvalError::Usage(format!("{}:{}: {e}", path.display(), i + 1)))?;
        out.push(s);
    }
    Ok(out)
}

pub fn compare(dir_a: &Path, dir_b: &Path, b: Bootstrap) -> Result<Comparison, EvalError> {
    let a = read_samples(dir_a)?;
    let bs = read_samples(dir_b)?;
    let by_id: BTreeMap<&str, &ScoredSample> = bs.iter().map(|s| (s.id.as_str(), s)).collect();
    let same_id: Vec<(&ScoredSample, &ScoredSample)> = a.iter().filter_map(|x| by_id.get(x.id.as_str()).map(|y| (x, *y))).collect();
    // An id names a sample only within one dataset version: a sample whose alerts or gold
    // changed between the runs is another sample, and pairing it would compare unlike things.
    let (pairs, differing): (Vec<_>, Vec<_>) = same_id.into_iter().partition(|(x, y)| x.alerts == y.alerts && x.gold == y.gold);
    let a_ids: std::collections::BTreeSet<&str> = a.iter().map(|s| s.id.as_str()).collect();
    let metrics = METRICS
        .iter()
        .map(|d| {
            // Samples the metric scored in both runs (an error or a refusal on either side
            // leaves the sample out), so A and B are measured on the same samples.
            let xs: Vec<&ScoredSample> = pairs.iter().map(|(x, _)| *x).collect();
            let ys: Vec<&ScoredSample> = pairs.iter().map(|(_, y)| *y).collect();
            let (pa, pb) = (Prepared::new(d, &xs), Prepared::new(d, &ys));
            let both: Vec<usize> = (0..pairs.len()).filter(|&i| pa.applies(i) && pb.applies(i)).collect();
            let pick = |idx: &[usize]| -> Vec<usize> { idx.iter().filter_map(|&j| both.get(j).copied()).collect() };
            let draws = Draws::new(both.len(), b, &format!("compare:{}", d.name));
            let diff = draws.estimate(|idx| {
                let idx = pick(idx);
                Some(pb.stat(&idx)? - pa.stat(&idx)?)
            });
            MetricDiff { metric: d.name, better: d.better, a: pa.stat(&both), b: pb.stat(&both), diff, n: both.len() }
        })
        .collect();
    Ok(Comparison {
        run_a: dir_a.display().to_string(),
        run_b: dir_b.display().to_string(),
        paired: pairs.len(),
        differing: differing.iter().map(|(x, _)| x.id.clone()).collect(),
        only_a: a.len() - pairs.len() - differing.len(),
        only_b: bs.iter().filter(|s| !a_ids.contains(s.id.as_str())).count(),
        metrics,
    })
}

fn num(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.4}")).unwrap_or_else(|| "n/a".into())
}

pub fn table(c: &Comparison) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "A: {}\nB: {}", c.run_a, c.run_b);
    let _ = writeln!(
        s,
        "{} paired samples ({} only in A, {} only in B); differences are B − A with 95% paired bootstrap intervals\n",
        c.paired, c.only_a, c.only_b
    );
    if !c.differing.is_empty() {
        let shown: Vec<&str> = c.differing.iter().take(5).map(String::as_str).collect();
        let more = if c.differing.len() > shown.len() { format!(" and {} more", c.differing.len() - shown.len()) } else { String::new() };
        let _ = writeln!(
            s,
            "{} sample id(s) are in both runs with other alerts or gold ({}{more}): they are different samples and are left out\n",
            c.differing.len(),
            shown.join(", ")
        );
    }
    let _ = writeln!(s, "{:<26} {:>9} {:>9} {:>9} {:>21} {:>5}  verdict", "metric", "A", "B", "B − A", "95% CI", "n");
    for m in &c.metrics {
        let ci = m.diff.ci.map(|[lo, hi]| format!("[{lo:+.4}, {hi:+.4}]")).unwrap_or_else(|| "n/a".into());
        let d = m.diff.value.map(|v| format!("{v:+.4}")).unwrap_or_else(|| "n/a".into());
        let _ = writeln!(s, "{:<26} {:>9} {:>9} {:>9} {:>21} {:>5}  {}", m.metric, num(m.a), num(m.b), d, ci, m.n, m.verdict());
    }
    s
}
