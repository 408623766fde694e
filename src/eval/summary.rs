//! From scored samples to `summary.json`: every metric with its bootstrap interval, overall
//! and per tag; the severity confusion matrix; per-tactic ATT&CK scores; reliability bins;
//! latency and token quantiles. Everything here is a function of the samples' scores, so
//! `samples.jsonl` alone reproduces it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::severity::Severity;

use super::bootstrap::{Bootstrap, Draws, Estimate, Part, Ranked, Verdict, auc, balanced_accuracy, quantile, ratio};
use super::dataset::DatasetInfo;
use super::scorers::{Better, METRICS, MetricDef, Score, Stat};

/// What the summary needs of a sample: its id, tags and scores (a line of samples.jsonl
/// has more; the rest is ignored).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScoredSample {
    pub id: String,
    #[serde(default)]
    pub tags: Vec<String>,
    /// The sample's input and labels, so that two runs pair only samples that are the same.
    #[serde(default)]
    pub alerts: serde_json::Value,
    #[serde(default)]
    pub gold: serde_json::Value,
    #[serde(default)]
    pub scores: BTreeMap<String, Score>,
}

impl ScoredSample {
    /// This sample's contribution to a metric, from whichever scorer feeds it.
    pub fn part(&self, metric: &str) -> Option<Part> {
        self.scores.values().find_map(|s| s.metrics.get(metric).copied())
    }
}

/// One metric's per-sample inputs, ready to be computed on any multiset of sample indices
/// (all samples, a bootstrap draw, a paired subset).
pub enum Prepared {
    Ratio(Vec<Option<Part>>),
    BalancedAccuracy(Vec<Option<Verdict>>),
    RankingAuc(Vec<Option<Ranked>>),
}

impl Prepared {
    pub fn new(def: &MetricDef, samples: &[&ScoredSample]) -> Prepared {
        match def.stat {
            Stat::Ratio => Prepared::Ratio(samples.iter().map(|s| s.part(def.name)).collect()),
            Stat::BalancedAccuracy => Prepared::BalancedAccuracy(samples.iter().map(|s| verdict(s)).collect()),
            Stat::RankingAuc => Prepared::RankingAuc(samples.iter().map(|s| ranked(s)).collect()),
        }
    }

    /// Whether the metric applies to sample `i`.
    pub fn applies(&self, i: usize) -> bool {
        match self {
            Prepared::Ratio(p) => p.get(i).copied().flatten().is_some_and(|p| p.den > 0.0),
            Prepared::BalancedAccuracy(v) => v.get(i).is_some_and(Option::is_some),
            Prepared::RankingAuc(v) => v.get(i).is_some_and(Option::is_some),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Prepared::Ratio(p) => p.len(),
            Prepared::BalancedAccuracy(v) => v.len(),
            Prepared::RankingAuc(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Samples the metric applies to.
    pub fn n(&self) -> usize {
        (0..self.len()).filter(|&i| self.applies(i)).count()
    }

    /// The metric over a multiset of sample indices.
    pub fn stat(&self, idx: &[usize]) -> Option<f64> {
        match self {
            Prepared::Ratio(p) => ratio(p, idx),
            Prepared::BalancedAccuracy(v) => balanced_accuracy(v, idx),
            Prepared::RankingAuc(v) => auc(v, idx),
        }
    }
}

/// Gold true positive or not, and the derived verdict, from the disposition scorer.
fn verdict(s: &ScoredSample) -> Option<Verdict> {
    let d = detail(s, "disposition")?;
    let gold = d.get("gold")?.as_str()?;
    Some(Verdict { gold_positive: gold == "true_positive", predicted_positive: d.get("predicted_true_positive")?.as_bool()? })
}

/// Predicted severity rank and gold true positive or not, from the disposition scorer.
fn ranked(s: &ScoredSample) -> Option<Ranked> {
    let d = detail(s, "disposition")?;
    let gold = d.get("gold")?.as_str()?;
    let sev: Severity = serde_json::from_value(d.get("predicted_severity")?.clone()).ok()?;
    Some(Ranked { score: sev.rank(), positive: gold == "true_positive" })
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MetricSummary {
    pub value: Option<f64>,
    pub ci: Option<[f64; 2]>,
    /// Samples the metric applies to.
    pub n: usize,
    pub better: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GroupSummary {
    pub samples: usize,
    pub metrics: BTreeMap<String, MetricSummary>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Confusion {
    /// Gold severities (rows).
    pub rows: Vec<String>,
    /// Predicted severities, then `needs_review` (columns).
    pub columns: Vec<String>,
    pub matrix: Vec<Vec<usize>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TacticSummary {
    /// Gold techniques with this tactic.
    pub support: usize,
    pub precision: Estimate,
    pub recall: Estimate,
    pub f1: Estimate,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Bin {
    pub lo: f64,
    pub hi: f64,
    pub count: usize,
    pub mean_confidence: Option<f64>,
    pub observed: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Calibration {
    pub event: String,
    pub brier: Estimate,
    /// Expected calibration error over the bins (count-weighted |confidence − observed|).
    pub ece: Estimate,
    pub bins: Vec<Bin>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Quantiles {
    pub mean: Estimate,
    pub p50: Estimate,
    pub p95: Estimate,
    pub max: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EngineSummary {
    /// baseline, llm or replay, as asked.
    pub kind: String,
    /// Engine names, models and prompt versions seen in the responses, with counts.
    pub names: BTreeMap<String, usize>,
    pub models: BTreeMap<String, usize>,
    pub prompt_versions: BTreeMap<String, usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IndexSummary {
    pub content_hash: String,
    pub documents: usize,
    pub corpus_hash: String,
}

/// A trivial baseline's figures on the same samples, through the same pipeline.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrivialSummary {
    /// The engine's name, as `--engine` takes it.
    pub engine: String,
    /// What it answers.
    pub what: String,
    pub metrics: BTreeMap<String, MetricSummary>,
    pub by_tag: BTreeMap<String, GroupSummary>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub triage_version: String,
    pub created_at: String,
    pub engine: EngineSummary,
    pub datasets: Vec<DatasetInfo>,
    pub index: IndexSummary,
    pub bootstrap: Bootstrap,
    pub samples: usize,
    /// Samples whose gold has no severity: the severity metrics skip them, the rest score them.
    #[serde(default)]
    pub severity_unlabelled: usize,
    pub metrics: BTreeMap<String, MetricSummary>,
    pub by_tag: BTreeMap<String, GroupSummary>,
    /// Trivial baselines on the same samples (empty with `--no-trivial`).
    #[serde(default)]
    pub trivial: Vec<TrivialSummary>,
    pub confusion: Confusion,
    pub by_tactic: BTreeMap<String, TacticSummary>,
    pub calibration: Calibration,
    pub latency_ms: Quantiles,
    pub tokens: Quantiles,
}

/// Every metric of METRICS over a group of samples, with intervals from `draws`.
pub fn metric_table(samples: &[&ScoredSample], draws: &Draws) -> BTreeMap<String, MetricSummary> {
    METRICS
        .iter()
        .map(|d| {
            let prepared = Prepared::new(d, samples);
            let n = prepared.n();
            let e = draws.estimate(|idx| prepared.stat(idx));
            let better = match d.better {
                Better::Higher => "higher",
                Better::Lower => "lower",
            };
            (d.name.to_string(), MetricSummary { value: e.value, ci: e.ci, n, better: better.into() })
        })
        .collect()
}

/// The parts of everything that is not engine- or dataset-specific: metrics, groups, charts.
pub struct Computed {
    pub metrics: BTreeMap<String, MetricSummary>,
    pub by_tag: BTreeMap<String, GroupSummary>,
    pub confusion: Confusion,
    pub by_tactic: BTreeMap<String, TacticSummary>,
    pub calibration: Calibration,
    pub latency_ms: Quantiles,
    pub tokens: Quantiles,
}

pub fn compute(samples: &[ScoredSample], b: Bootstrap) -> Computed {
    let all: Vec<&ScoredSample> = samples.iter().collect();
    let draws = Draws::new(all.len(), b, "all");
    let metrics = metric_table(&all, &draws);

    let mut tags: BTreeMap<&str, Vec<&ScoredSample>> = BTreeMap::new();
    for s in samples {
        for t in &s.tags {
            tags.entry(t.as_str()).or_default().push(s);
        }
    }
    let by_tag = tags
        .into_iter()
        .map(|(t, group)| {
            let d = Draws::new(group.len(), b, &format!("tag:{t}"));
            (t.to_string(), GroupSummary { samples: group.len(), metrics: metric_table(&group, &d) })
        })
        .collect();

    Computed {
        metrics,
        by_tag,
        confusion: confusion(samples),
        by_tactic: by_tactic(samples, &draws),
        calibration: calibration(samples, &draws),
        latency_ms: quantiles(samples, "latency_ms", &draws),
        tokens: quantiles(samples, "tokens", &draws),
    }
}

fn detail<'a>(s: &'a ScoredSample, scorer: &str) -> Option<&'a serde_json::Value> {
    s.scores.get(scorer).map(|x| &x.detail).filter(|d| !d.is_null())
}

pub fn confusion(samples: &[ScoredSample]) -> Confusion {
    let mut matrix = vec![vec![0usize; 6]; 5];
    for s in samples {
        let Some(d) = detail(s, "severity") else { continue };
        let Some(gold) = d.get("gold").and_then(|g| serde_json::from_value::<Severity>(g.clone()).ok()) else { continue };
        let col = match d.get("predicted").and_then(|p| serde_json::from_value::<Severity>(p.clone()).ok()) {
            Some(p) => p.rank() as usize,
            None => 5,
        };
        matrix[gold.rank() as usize][col] += 1;
    }
    let rows: Vec<String> = Severity::ALL.iter().map(|s| s.as_str().to_string()).collect();
    let mut columns = rows.clone();
    columns.push("needs_review".into());
    Confusion { rows, columns, matrix }
}

fn by_tactic(samples: &[ScoredSample], draws: &Draws) -> BTreeMap<String, TacticSummary> {
    let per_sample: Vec<BTreeMap<String, [f64; 3]>> = samples
        .iter()
        .map(|s| detail(s, "attack").and_then(|d| d.get("by_tactic")).and_then(|v| serde_json::from_value(v.clone()).ok()).unwrap_or_default())
        .collect();
    let mut tactics: Vec<String> = per_sample.iter().flat_map(|m| m.keys().cloned()).collect();
    tactics.sort();
    tactics.dedup();
    tactics
        .into_iter()
        .map(|t| {
            let c: Vec<Option<[f64; 3]>> = per_sample.iter().map(|m| m.get(&t).copied()).collect();
            let part = |f: fn(&[f64; 3]) -> Part| -> Vec<Option<Part>> { c.iter().map(|x| x.as_ref().map(f)).collect() };
            let p = part(|x| Part::new(x[0], x[0] + x[1]));
            let r = part(|x| Part::new(x[0], x[0] + x[2]));
            let f = part(|x| Part::new(2.0 * x[0], 2.0 * x[0] + x[1] + x[2]));
            let support = c.iter().flatten().map(|x| (x[0] + x[2]) as usize).sum();
            let summary = TacticSummary {
                support,
                precision: draws.estimate(|idx| ratio(&p, idx)),
                recall: draws.estimate(|idx| ratio(&r, idx)),
                f1: draws.estimate(|idx| ratio(&f, idx)),
            };
            (t, summary)
        })
        .collect()
}

const BINS: usize = 10;

fn bin_of(c: f64) -> usize {
    ((c * BINS as f64).floor() as usize).min(BINS - 1)
}

fn ece(points: &[Option<(f64, f64)>], idx: &[usize]) -> Option<f64> {
    let mut sums = [(0.0f64, 0.0f64, 0usize); BINS];
    let mut n = 0usize;
    for &i in idx {
        if let Some(Some((c, y))) = points.get(i) {
            let b = &mut sums[bin_of(*c)];
            b.0 += c;
            b.1 += y;
            b.2 += 1;
            n += 1;
        }
    }
    if n == 0 {
        return None;
    }
    Some(sums.iter().filter(|b| b.2 > 0).map(|b| (b.2 as f64 / n as f64) * ((b.0 - b.1) / b.2 as f64).abs()).sum())
}

fn calibration(samples: &[ScoredSample], draws: &Draws) -> Calibration {
    let points: Vec<Option<(f64, f64)>> = samples
        .iter()
        .map(|s| {
            let d = detail(s, "calibration")?;
            let c = d.get("confidence")?.as_f64()?;
            let y = if d.get("correct")?.as_bool()? { 1.0 } else { 0.0 };
            Some((c, y))
        })
        .collect();
    let brier_parts: Vec<Option<Part>> = samples.iter().map(|s| s.part("calibration_brier")).collect();
    let bins = (0..BINS)
        .map(|b| {
            let inside: Vec<(f64, f64)> = points.iter().flatten().copied().filter(|(c, _)| bin_of(*c) == b).collect();
            let count = inside.len();
            let mean = |f: fn(&(f64, f64)) -> f64| (count > 0).then(|| inside.iter().map(f).sum::<f64>() / count as f64);
            Bin { lo: b as f64 / BINS as f64, hi: (b + 1) as f64 / BINS as f64, count, mean_confidence: mean(|p| p.0), observed: mean(|p| p.1) }
        })
        .collect();
    Calibration {
        event: "severity within one level of gold".into(),
        brier: draws.estimate(|idx| ratio(&brier_parts, idx)),
        ece: draws.estimate(|idx| ece(&points, idx)),
        bins,
    }
}

fn quantiles(samples: &[ScoredSample], key: &str, draws: &Draws) -> Quantiles {
    let values: Vec<Option<f64>> = samples.iter().map(|s| detail(s, "run").and_then(|d| d.get(key)).and_then(|v| v.as_f64())).collect();
    let pick = |idx: &[usize]| -> Vec<f64> { idx.iter().filter_map(|&i| values.get(i).copied().flatten()).collect() };
    let mean = |v: Vec<f64>| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    Quantiles {
        mean: draws.estimate(|idx| mean(pick(idx))),
        p50: draws.estimate(|idx| quantile(&pick(idx), 0.5)),
        p95: draws.estimate(|idx| quantile(&pick(idx), 0.95)),
        max: values.iter().flatten().copied().reduce(f64::max),
    }
}
