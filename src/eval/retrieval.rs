//! Retrieval quality: for each labelled alert set, the documents
//! [`crate::retrieval::SearchIndex::search_alerts`] returns (the query the pipeline uses)
//! are ranked by BM25 score — runbooks only by default, or every kind together — and scored
//! against the relevant refs: recall@1/3/5/10, MRR and nDCG@10.
//!
//! A dataset line is `{"id", "alerts", "relevant": [ "runbook:…" | {"ref", "grade"} ],
//! "tags"}`; a plain string ref has grade 1. nDCG uses the gain 2^grade − 1 and the
//! log2(rank + 1) discount; its ideal ranking sorts the relevant grades.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::alert::{self, Redactor};
use crate::app::App;
use crate::corpus::Corpus;
use crate::retrieval::Limits;

use super::bootstrap::{Bootstrap, Draws, Estimate, Part, ratio};
use super::dataset::BadLine;
use super::{EvalError, RankedKinds};

/// How deep the ranking goes.
pub const DEPTH: usize = 10;
/// The cut-offs recall is reported at.
pub const RECALL_AT: [usize; 4] = [1, 3, 5, 10];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Relevant {
    Plain(String),
    Graded {
        #[serde(rename = "ref")]
        doc_ref: String,
        grade: u32,
    },
}

impl Relevant {
    fn parts(&self) -> (&str, u32) {
        match self {
            Relevant::Plain(r) => (r, 1),
            Relevant::Graded { doc_ref, grade } => (doc_ref, *grade),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
struct Line {
    id: String,
    alerts: Vec<Value>,
    relevant: Vec<Relevant>,
    #[serde(default)]
    tags: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ranked {
    #[serde(rename = "ref")]
    pub doc_ref: String,
    pub score: f32,
    pub grade: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SampleResult {
    pub id: String,
    pub tags: Vec<String>,
    pub relevant: Vec<Relevant>,
    pub ranked: Vec<Ranked>,
    /// 1-based rank of the first relevant document, if any came back.
    pub first_relevant: Option<usize>,
    pub metrics: BTreeMap<String, Part>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MetricResult {
    #[serde(flatten)]
    pub estimate: Estimate,
    pub n: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RetrievalReport {
    pub created_at: String,
    pub triage_version: String,
    pub datasets: Vec<String>,
    pub ranked: RankedKinds,
    pub depth: usize,
    pub index_content_hash: String,
    pub index_documents: usize,
    pub corpus_hash: String,
    pub bootstrap: Bootstrap,
    pub samples: usize,
    pub skipped: Vec<BadLine>,
    pub metrics: BTreeMap<String, MetricResult>,
    pub by_tag: BTreeMap<String, BTreeMap<String, MetricResult>>,
    pub results: Vec<SampleResult>,
}

fn metric_names() -> Vec<String> {
    let mut v: Vec<String> = RECALL_AT.iter().map(|k| format!("recall@{k}")).collect();
    v.push("mrr".into());
    v.push(format!("ndcg@{DEPTH}"));
    v
}

/// Scores one ranking against graded relevance.
pub fn score(ranked: &[(String, f32)], relevant: &[Relevant]) -> (Vec<Ranked>, Option<usize>, BTreeMap<String, Part>) {
    let grade_of = |r: &str| relevant.iter().map(Relevant::parts).filter(|(x, _)| *x == r).map(|(_, g)| g).max().unwrap_or(0);
    let ranked: Vec<Ranked> = ranked.iter().take(DEPTH).map(|(r, s)| Ranked { doc_ref: r.clone(), score: *s, grade: grade_of(r) }).collect();
    let relevant_refs: Vec<(&str, u32)> = relevant.iter().map(Relevant::parts).filter(|(_, g)| *g > 0).collect();
    let mut metrics = BTreeMap::new();
    let first = ranked.iter().position(|r| r.grade > 0).map(|i| i + 1);
    if relevant_refs.is_empty() {
        return (ranked, first, metrics);
    }
    let total = relevant_refs.len() as f64;
    for k in RECALL_AT {
        let found = ranked.iter().take(k).filter(|r| r.grade > 0).count() as f64;
        metrics.insert(format!("recall@{k}"), Part::new(found, total));
    }
    metrics.insert("mrr".into(), Part::new(first.map(|r| 1.0 / r as f64).unwrap_or(0.0), 1.0));
    let gain = |g: u32| 2f64.powi(g as i32) - 1.0;
    let discount = |i: usize| (i as f64 + 2.0).log2();
    let dcg: f64 = ranked.iter().enumerate().map(|(i, r)| gain(r.grade) / discount(i)).sum();
    let mut ideal: Vec<u32> = relevant_refs.iter().map(|(_, g)| *g).collect();
    ideal.sort_by(|a, b| b.cmp(a));
    let idcg: f64 = ideal.iter().take(DEPTH).enumerate().map(|(i, g)| gain(*g) / discount(i)).sum();
    metrics.insert(format!("ndcg@{DEPTH}"), Part::new(if idcg > 0.0 { dcg / idcg } else { 0.0 }, 1.0));
    (ranked, first, metrics)
}

fn table_of(results: &[&SampleResult], b: Bootstrap, stream: &str) -> BTreeMap<String, MetricResult> {
    let draws = Draws::new(results.len(), b, stream);
    metric_names()
        .into_iter()
        .map(|name| {
            let parts: Vec<Option<Part>> = results.iter().map(|r| r.metrics.get(&name).copied()).collect();
            let n = parts.iter().flatten().count();
            (name, MetricResult { estimate: draws.estimate(|idx| ratio(&parts, idx)), n })
        })
        .collect()
}

pub fn run(settings: &crate::config::Settings, datasets: &[PathBuf], kinds: RankedKinds, b: Bootstrap, progress: bool) -> Result<RetrievalReport, EvalError> {
    let mut lines: Vec<(Line, String, usize)> = Vec::new();
    let mut skipped = Vec::new();
    for path in datasets {
        let text = std::fs::read_to_string(path).map_err(|source| EvalError::Io { path: path.display().to_string(), source })?;
        for (i, raw) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let bad = |error: String| BadLine { dataset: path.display().to_string(), line: i + 1, error };
            match serde_json::from_str::<Line>(raw) {
                Ok(l) if l.relevant.is_empty() => skipped.push(bad("`relevant` is empty".into())),
                Ok(l) => lines.push((l, path.display().to_string(), i + 1)),
                Err(e) => skipped.push(bad(format!("not a retrieval line: {e}"))),
            }
        }
    }
    for s in &skipped {
        eprintln!("skipped {}:{}: {}", s.dataset, s.line, s.error);
    }
    let dispatch = super::run::quiet_logging();
    let (scratch_settings, _scratch) = super::run::scratch_settings(settings)?;
    let app =
        tracing::dispatcher::with_default(&dispatch, || App::open(&scratch_settings, Some(std::sync::Arc::new(crate::llm::baseline::Baseline)), &|_, _| {}))?;
    let limits = match kinds {
        RankedKinds::Runbook => Limits { runbooks: DEPTH, cases: 0, sigma: 0, attack: 0 },
        RankedKinds::All => Limits { runbooks: DEPTH, cases: DEPTH, sigma: DEPTH, attack: DEPTH },
    };
    let bar = super::run::progress_bar(lines.len() as u64, "retrieval", progress);
    let mut results = Vec::new();
    for (line, dataset, line_no) in lines {
        bar.inc(1);
        let mut redactor = Redactor::new();
        let redacted: Vec<Value> = line.alerts.iter().map(|a| redactor.redact_value(a)).collect();
        let alerts = match alert::parse_all(&redacted) {
            Ok(a) => a,
            Err(e) => {
                let b = BadLine { dataset, line: line_no, error: format!("alerts: {e}") };
                eprintln!("skipped {}:{}: {}", b.dataset, b.line, b.error);
                skipped.push(b);
                continue;
            }
        };
        let mut hits: Vec<(String, f32)> = app.index.search_alerts(&alerts, limits)?.iter().map(|h| (h.doc_ref(), h.score)).collect();
        hits.sort_by(|x, y| y.1.total_cmp(&x.1).then_with(|| x.0.cmp(&y.0)));
        let (ranked, first_relevant, metrics) = score(&hits, &line.relevant);
        results.push(SampleResult { id: line.id, tags: line.tags, relevant: line.relevant, ranked, first_relevant, metrics });
    }
    bar.finish_and_clear();

    let all: Vec<&SampleResult> = results.iter().collect();
    let metrics = table_of(&all, b, "all");
    let mut tags: BTreeMap<String, Vec<&SampleResult>> = BTreeMap::new();
    for r in &results {
        for t in &r.tags {
            tags.entry(t.clone()).or_default().push(r);
        }
    }
    let by_tag = tags
        .into_iter()
        .map(|(t, g)| {
            let m = table_of(&g, b, &format!("tag:{t}"));
            (t, m)
        })
        .collect();
    Ok(RetrievalReport {
        created_at: crate::store::now(),
        triage_version: env!("CARGO_PKG_VERSION").to_string(),
        datasets: datasets.iter().map(|p| p.display().to_string()).collect(),
        ranked: kinds,
        depth: DEPTH,
        index_content_hash: app.index_report.content_hash.clone(),
        index_documents: app.index_report.documents,
        corpus_hash: Corpus::load(settings.corpus_dir.as_deref())?.hash,
        bootstrap: b,
        samples: results.len(),
        skipped,
        metrics,
        by_tag,
        results,
    })
}

fn row(s: &mut String, label: &str, m: &BTreeMap<String, MetricResult>, n: usize) {
    let _ = write!(s, "{label:<28} {n:>5}");
    for name in metric_names() {
        let cell = match m.get(&name) {
            Some(MetricResult { estimate: Estimate { value: Some(v), ci: Some([lo, hi]) }, .. }) => format!("{v:.3} [{lo:.2},{hi:.2}]"),
            Some(MetricResult { estimate: Estimate { value: Some(v), .. }, .. }) => format!("{v:.3}"),
            _ => "n/a".into(),
        };
        let _ = write!(s, " {cell:>19}");
    }
    s.push('\n');
}

pub fn table(r: &RetrievalReport) -> String {
    let mut s = String::new();
    let ranked = match r.ranked {
        RankedKinds::Runbook => "runbooks only",
        RankedKinds::All => "all kinds together",
    };
    let _ = writeln!(
        s,
        "retrieval: {} samples ({} skipped), ranked {ranked} by BM25, depth {}; index {} ({} documents), corpus {}",
        r.samples,
        r.skipped.len(),
        r.depth,
        &r.index_content_hash[..r.index_content_hash.len().min(12)],
        r.index_documents,
        &r.corpus_hash[..r.corpus_hash.len().min(12)],
    );
    let _ = write!(s, "{:<28} {:>5}", "group", "n");
    for name in metric_names() {
        let _ = write!(s, " {name:>19}");
    }
    s.push('\n');
    row(&mut s, "all", &r.metrics, r.samples);
    let counts: BTreeMap<&str, usize> = r.by_tag.keys().map(|t| (t.as_str(), r.results.iter().filter(|x| x.tags.contains(t)).count())).collect();
    for (t, m) in &r.by_tag {
        row(&mut s, &format!("tag:{t}"), m, counts.get(t.as_str()).copied().unwrap_or(0));
    }
    s
}

/// Writes the report to `out` (a .json file, or a folder that gets retrieval.json).
pub fn write(out: &Path, r: &RetrievalReport) -> Result<PathBuf, EvalError> {
    let path = if out.extension().is_some_and(|e| e == "json") { out.to_path_buf() } else { out.join("retrieval.json") };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| EvalError::Io { path: dir.display().to_string(), source })?;
    }
    let json = serde_json::to_string_pretty(r)?;
    std::fs::write(&path, format!("{json}\n")).map_err(|source| EvalError::Io { path: path.display().to_string(), source })?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graded_ranking_metrics() {
        let ranked: Vec<(String, f32)> = ["runbook:a", "runbook:b", "runbook:c"].iter().map(|r| (r.to_string(), 1.0)).collect();
        let relevant = vec![Relevant::Graded { doc_ref: "runbook:b".into(), grade: 2 }, Relevant::Plain("runbook:z".into())];
        let (_, first, m) = score(&ranked, &relevant);
        assert_eq!(first, Some(2));
        assert_eq!(m.get("recall@1"), Some(&Part::new(0.0, 2.0)));
        assert_eq!(m.get("recall@3"), Some(&Part::new(1.0, 2.0)));
        assert_eq!(m.get("mrr"), Some(&Part::new(0.5, 1.0)));
        // DCG = 3/log2(3); IDCG = 3/1 + 1/log2(3).
        let expected = (3.0 / 3f64.log2()) / (3.0 + 1.0 / 3f64.log2());
        let got = m.get("ndcg@10").map(|p| p.num).unwrap_or(-1.0);
        assert!((got - expected).abs() < 1e-9, "{got} vs {expected}");
    }
}
