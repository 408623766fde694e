//! The alert stream on a noisy day, through the real server on loopback:
//! `cargo bench --bench stream` (or `scripts/bench`).
//!
//! `TRIAGE_BENCH_STREAM_SCALE` × 1,000 alerts (default 20: 20,000) are posted in time
//! order, 100 per request: a scanner's near-identical 404 bursts, updater noise behind one
//! update server, impossible-travel anomalies, exact and near duplicates, and four real
//! incidents in between. It prints ingest throughput beside a same-run reference (posting
//! the same bodies to an endpoint that only authenticates and parses them), the number of
//! cases against the number of alerts (target: at most 1%), whether any incident was
//! merged into noise, and how long the background queue took to recommend every case.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/support_stream/mod.rs"]
mod support_stream;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::{Value, json};
use triage::app::App;
use triage::config::SettingsArgs;
use triage::store::Role;

#[derive(Parser)]
struct Wrapper {
    #[command(flatten)]
    settings: SettingsArgs,
}

const BATCH: usize = 100;

fn main() {
    // `cargo test --all-targets` runs benchmarks too, unoptimised and without `--bench`:
    // figures only come from `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let scale: usize = std::env::var("TRIAGE_BENCH_STREAM_SCALE").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let data = support_stream::noisy_day(scale);
    let bodies: Vec<Value> = data.chunks(BATCH).map(|c| json!({"alerts": c.iter().map(|s| s.alert.clone()).collect::<Vec<_>>()})).collect();
    let dir = tempfile::tempdir().unwrap();
    let settings = Wrapper::parse_from(["triage", "--data-dir", dir.path().to_str().unwrap()]).settings.resolve().unwrap();
    let app = Arc::new(App::open(&settings, None, &|_, _| {}).unwrap());
    let key = app.store.create_key("siem", Role::CaseEngine).unwrap().1;
    println!(
        "triage stream benchmark: {} alerts in {} requests of {BATCH}, {} cores",
        data.len(),
        bodies.len(),
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );

    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(triage::http::serve(listener, app.clone(), std::future::pending()));
        let base = format!("http://{addr}");
        let client = reqwest::Client::new();

        // Reference: the same bodies to a route that authenticates, reads and parses them
        // and refuses them for their shape (`POST /v1/inventory` wants JSON lines).
        let t = Instant::now();
        for b in &bodies {
            let r = client.post(format!("{base}/v1/recommend")).bearer_auth(&key).json(&json!({"alerts": [], "pad": b})).send().await.unwrap();
            assert_eq!(r.status(), 400);
            r.bytes().await.unwrap();
        }
        let reference = t.elapsed();

        let t = Instant::now();
        let mut results: Vec<Value> = Vec::with_capacity(data.len());
        for b in &bodies {
            let r = client.post(format!("{base}/v1/alerts")).bearer_auth(&key).json(b).send().await.unwrap();
            assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
            let body: Value = r.json().await.unwrap();
            results.extend(body["results"].as_array().unwrap().iter().cloned());
        }
        let ingest = t.elapsed();
        let rate = data.len() as f64 / ingest.as_secs_f64();
        println!("ingest                             {} alerts in {:.2?}: {:.0} alerts/s (target: at least 1000)", data.len(), ingest, rate);
        println!(
            "reference: read + parse only       {:.2?} for the same bodies; ingest costs {:.1}x",
            reference,
            ingest.as_secs_f64() / reference.as_secs_f64()
        );

        let mut groups: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        let mut cases: BTreeSet<&str> = BTreeSet::new();
        let mut duplicates = 0;
        for (s, r) in data.iter().zip(&results) {
            let case = r["case_id"].as_str().unwrap();
            groups.entry(s.group.as_str()).or_default().insert(case);
            cases.insert(case);
            duplicates += usize::from(r["outcome"] == "duplicate");
        }
        let mut owners: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (g, cs) in &groups {
            for c in cs {
                owners.entry(c).or_default().push(g);
            }
        }
        let merged: Vec<String> = owners.values().filter(|gs| gs.len() > 1).map(|gs| gs.join(" + ")).collect();
        let split: Vec<&str> = groups.iter().filter(|(_, cs)| cs.len() > 1).map(|(g, _)| *g).collect();
        let share = 100.0 * cases.len() as f64 / data.len() as f64;
        println!(
            "cases                              {} for {} alerts ({:.2}%, target: at most 1%); {} duplicates counted, not stored",
            cases.len(),
            data.len(),
            share,
            duplicates
        );
        println!(
            "incidents merged into noise        {}; groups split over cases: {}",
            if merged.is_empty() { "none".to_string() } else { merged.join(", ") },
            if split.is_empty() { "none".to_string() } else { split.join(", ") }
        );

        let t = Instant::now();
        loop {
            let (depth, _) = app.store.queue_depth().unwrap();
            if depth == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        println!("background recommendations          queue drained {:.2?} after the last batch", t.elapsed());
        let met = rate >= 1000.0 && share <= 1.0 && merged.is_empty() && split.is_empty();
        println!("targets                            {}", if met { "met" } else { "NOT met" });
    });
}
