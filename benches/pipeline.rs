//! Speed and memory of the pipeline on the gold alerts, with references measured in the
//! same run: `cargo bench --bench pipeline` (or `scripts/bench`).
//!
//! - index build vs. parsing the same corpus (the floor any index must pay);
//! - retrieval (`search_alerts`: weighted terms across four kinds plus ATT&CK expansion)
//!   vs. a plain tantivy query of the rule name;
//! - a whole baseline recommendation (retrieve, engine, validate, policy, SQLite writes)
//!   vs. retrieval alone;
//! - peak resident memory.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::Value;
use triage::alert::Alert;
use triage::app::App;
use triage::config::SettingsArgs;
use triage::corpus::Corpus;
use triage::pipeline::{self, RecommendRequest};
use triage::retrieval::{AlertQuery, Limits, SearchIndex};
use triage::store::Identity;

#[derive(Parser)]
struct Wrapper {
    #[command(flatten)]
    settings: SettingsArgs,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn stats(label: &str, mut d: Vec<Duration>) -> Duration {
    d.sort();
    let mean = d.iter().sum::<Duration>() / d.len() as u32;
    println!(
        "{label:<34} n={:<4} mean {:>9.3?}  p50 {:>9.3?}  p95 {:>9.3?}  p99 {:>9.3?}  max {:>9.3?}",
        d.len(),
        mean,
        percentile(&d, 0.5),
        percentile(&d, 0.95),
        percentile(&d, 0.99),
        d[d.len() - 1]
    );
    mean
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(|l| l.split_whitespace().nth(1).unwrap_or("0").parse::<f64>().unwrap_or(0.0)))
        .unwrap_or(0.0)
        / 1024.0
}

fn main() {
    // `cargo test --all-targets` runs benchmarks too, unoptimised and without `--bench`:
    // figures only come from `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let gold = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/evals/gold.jsonl")).unwrap();
    let requests: Vec<Value> = gold
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|v| serde_json::json!({"alerts": v["alerts"]}))
        .collect();
    let alert_sets: Vec<Vec<Alert>> = requests.iter().map(|r| triage::alert::parse_all(r["alerts"].as_array().unwrap()).unwrap()).collect();
    println!(
        "triage pipeline benchmark: {} requests from evals/gold.jsonl, {} cores",
        requests.len(),
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );

    // Index build vs. corpus parsing.
    let t = Instant::now();
    let corpus = Corpus::load(None).unwrap();
    let parse = t.elapsed();
    let dir = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let (index, report) = SearchIndex::open_or_build(&dir.path().join("index"), &corpus.documents, &|_, _| {}).unwrap();
    let build = t.elapsed();
    println!(
        "{:<34} {} documents in {:.3?} (parsing the corpus: {:.3?}; ratio {:.1}x)",
        "index build",
        report.documents,
        build,
        parse,
        build.as_secs_f64() / parse.as_secs_f64()
    );

    // Retrieval vs. a plain query of the rule name.
    let mut full = Vec::new();
    let mut plain = Vec::new();
    for alerts in &alert_sets {
        let t = Instant::now();
        let hits = index.search_alerts(alerts, Limits::default()).unwrap();
        full.push(t.elapsed());
        assert!(!hits.is_empty());
        let q = AlertQuery::from_text(&alerts[0].rule.name);
        let t = Instant::now();
        index.search(&q, Limits { runbooks: 3, cases: 0, sigma: 0, attack: 0 }).unwrap();
        plain.push(t.elapsed());
    }
    let plain_mean = stats("reference: rule-name query, 1 kind", plain);
    let full_mean = stats("retrieval (search_alerts)", full);
    println!("{:<34} {:.1}x the reference", "", full_mean.as_secs_f64() / plain_mean.as_secs_f64());

    // Whole recommendations on the baseline.
    let data = tempfile::tempdir().unwrap();
    let settings = Wrapper::parse_from(["triage", "--data-dir", data.path().to_str().unwrap()]).settings.resolve().unwrap();
    let app = std::sync::Arc::new(App::open(&settings, None, &|_, _| {}).unwrap());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let who = Identity::local("bench");
    let mut e2e = Vec::new();
    let wall = Instant::now();
    for r in &requests {
        let req: RecommendRequest = serde_json::from_value(r.clone()).unwrap();
        let t = Instant::now();
        rt.block_on(pipeline::recommend(&app, &who, req, "bench", None)).unwrap();
        e2e.push(t.elapsed());
    }
    let wall = wall.elapsed();
    let e2e_mean = stats("recommend (baseline, end to end)", e2e);
    println!(
        "{:<34} {:.1}x retrieval alone; {:.0} recommendations/s on one thread",
        "",
        e2e_mean.as_secs_f64() / full_mean.as_secs_f64(),
        requests.len() as f64 / wall.as_secs_f64()
    );

    // A request at the contract's bound: 100 alerts of the gold set, ids made unique.
    let alerts: Vec<serde_json::Value> = requests
        .iter()
        .flat_map(|r| r["alerts"].as_array().cloned().unwrap_or_default())
        .take(100)
        .enumerate()
        .map(|(i, mut a)| {
            a["id"] = serde_json::json!(format!("bench-{i}"));
            a
        })
        .collect();
    let mut big = Vec::new();
    for _ in 0..20 {
        let req: RecommendRequest = serde_json::from_value(serde_json::json!({"alerts": alerts})).unwrap();
        let t = Instant::now();
        rt.block_on(pipeline::recommend(&app, &who, req, "bench", None)).unwrap();
        big.push(t.elapsed());
    }
    let big_mean = stats(&format!("recommend, {} alerts at once", alerts.len()), big);
    println!("{:<34} {:.1}x one request of the gold set (target: under 100 ms)", "", big_mean.as_secs_f64() / e2e_mean.as_secs_f64());
    println!("{:<34} {:.0} MiB", "peak resident memory", peak_rss_mib());
}
