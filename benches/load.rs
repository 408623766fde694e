//! Recommend latency under hostile load, through the real server on loopback:
//! `cargo bench --bench load` (or `scripts/bench`).
//!
//! The audit trail is first filled with `TRIAGE_BENCH_AUDIT_ENTRIES` entries (default
//! 100 000), so a readiness check that walked the chain would be expensive. Then the p50
//! and p99 of `POST /v1/recommend` (baseline engine, gold alerts) are measured unloaded,
//! and again while four clients call `/readyz` in a loop and 300 connections sit half
//! open (half a header sent, reopened whenever the server cuts them off). Both are
//! printed with their ratio; the service should keep loaded p99 within 2x of unloaded.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use triage::app::App;
use triage::config::SettingsArgs;
use triage::store::Role;

#[derive(Parser)]
struct Wrapper {
    #[command(flatten)]
    settings: SettingsArgs,
}

const HALF_OPEN: usize = 300;
const READYZ_CALLERS: usize = 4;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn measure(client: &reqwest::Client, url: &str, key: &str, bodies: &[Value]) -> (Duration, Duration) {
    let mut times = Vec::with_capacity(bodies.len());
    for b in bodies {
        let t = Instant::now();
        let r = client.post(url).bearer_auth(key).json(b).send().await.unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
        r.bytes().await.unwrap();
        times.push(t.elapsed());
    }
    times.sort();
    (percentile(&times, 0.5), percentile(&times, 0.99))
}

fn main() {
    // `cargo test --all-targets` runs benchmarks too, unoptimised and without `--bench`:
    // figures only come from `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let entries: usize = std::env::var("TRIAGE_BENCH_AUDIT_ENTRIES").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let gold = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/evals/gold.jsonl")).unwrap();
    let bodies: Vec<Value> =
        gold.lines().filter(|l| !l.trim().is_empty()).map(|l| json!({"alerts": serde_json::from_str::<Value>(l).unwrap()["alerts"]})).collect();
    let data = tempfile::tempdir().unwrap();
    let settings = Wrapper::parse_from(["triage", "--data-dir", data.path().to_str().unwrap(), "--audit-check-interval-secs", "1"]).settings.resolve().unwrap();
    let app = Arc::new(App::open(&settings, None, &|_, _| {}).unwrap());

    let t = Instant::now();
    app.store.execute_raw("PRAGMA synchronous = OFF").unwrap();
    for i in 0..entries {
        app.store.audit("bench", "bench.fill", "audit", &json!({"i": i})).unwrap();
    }
    app.store.execute_raw("PRAGMA synchronous = FULL").unwrap();
    let key = app.store.create_key("bench", Role::CaseEngine).unwrap().1;
    println!(
        "triage load benchmark: {} recommend requests from evals/gold.jsonl per phase, audit trail of {} entries (filled in {:.1?}), {} cores",
        bodies.len(),
        entries,
        t.elapsed(),
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );

    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(triage::http::serve(listener, app.clone(), std::future::pending()));
        let base = format!("http://{addr}");
        let client = reqwest::Client::new();
        // The background check reaches the end of the chain before anything is measured.
        let t = Instant::now();
        loop {
            let r: Value = client.get(format!("{base}/readyz")).send().await.unwrap().json().await.unwrap();
            if r["audit"]["state"] == "ok" && r["audit"]["verified_seq"].as_u64().unwrap_or(0) >= entries as u64 {
                println!("{:<34} {:.1?} for the first background check of the chain", "audit check", t.elapsed());
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let url = format!("{base}/v1/recommend");
        // Warm caches and the connection pool.
        measure(&client, &url, &key, &bodies[..20]).await;
        let (p50, p99) = measure(&client, &url, &key, &bodies).await;
        println!("{:<34} p50 {:>9.3?}  p99 {:>9.3?}", "recommend, unloaded", p50, p99);

        let stop = Arc::new(AtomicBool::new(false));
        let readyz_calls = Arc::new(AtomicUsize::new(0));
        let reopened = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..READYZ_CALLERS {
            let (stop, calls, client, base) = (stop.clone(), readyz_calls.clone(), client.clone(), base.clone());
            tasks.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(r) = client.get(format!("{base}/readyz")).send().await {
                        let _ = r.bytes().await;
                        calls.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
        for _ in 0..HALF_OPEN {
            let (stop, reopened) = (stop.clone(), reopened.clone());
            tasks.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    };
                    if s.write_all(b"POST /v1/recommend HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n").await.is_err() {
                        continue;
                    }
                    // Held until the server's header timeout cuts it off, then reopened.
                    let mut buf = [0u8; 256];
                    let _ = tokio::time::timeout(Duration::from_secs(120), s.read(&mut buf)).await;
                    reopened.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let t = Instant::now();
        let (lp50, lp99) = measure(&client, &url, &key, &bodies).await;
        let loaded_for = t.elapsed();
        stop.store(true, Ordering::Relaxed);
        println!(
            "{:<34} p50 {:>9.3?}  p99 {:>9.3?}  ({} readyz calls, {:.0}/s; {} half-open connections, {} cut off by the header timeout)",
            "recommend, loaded",
            lp50,
            lp99,
            readyz_calls.load(Ordering::Relaxed),
            readyz_calls.load(Ordering::Relaxed) as f64 / loaded_for.as_secs_f64(),
            HALF_OPEN,
            reopened.load(Ordering::Relaxed)
        );
        let ratio = lp99.as_secs_f64() / p99.as_secs_f64();
        println!("{:<34} {:.2}x unloaded p99 (target: within 2x)", "", ratio);
        for t in tasks {
            t.abort();
        }
    });
}
