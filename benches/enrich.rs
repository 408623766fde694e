//! Cost of enrichment per alert with a large operator data set, beside references measured
//! in the same run: `cargo bench --bench enrich` (or `scripts/bench`).
//!
//! - 100,000 inventory records (every entity of the gold alerts, plus synthetic hosts,
//!   users and service accounts), 100,000 intel indicators (every public IP of the gold
//!   alerts, plus synthetic IPs, domains, URLs and hashes, with a few ranges) and 10,000
//!   change records;
//! - enrichment of each of the gold alerts on its own (inventory join, intel lookups of
//!   entities and field values, changes in the window, asset comparison, geo labels);
//! - references: the same enrichment on an empty store, and redacting plus parsing the
//!   same alert (the pipeline's first step).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use serde_json::Value;
use triage::alert::{Alert, Redactor};
use triage::enrich::changes::ChangeRecord;
use triage::enrich::intel::{Indicator, ObsKind, Observable};
use triage::enrich::inventory::InventoryRecord;
use triage::store::Store;

const INVENTORY: usize = 100_000;
const INDICATORS: usize = 100_000;
const CHANGES: usize = 10_000;

fn stats(label: &str, mut d: Vec<Duration>) -> Duration {
    d.sort();
    let mean = d.iter().sum::<Duration>() / d.len() as u32;
    let pct = |p: f64| d[((d.len() as f64 - 1.0) * p).round() as usize];
    println!("{label:<40} n={:<4} mean {:>9.3?}  p50 {:>9.3?}  p95 {:>9.3?}  max {:>9.3?}", d.len(), mean, pct(0.5), pct(0.95), d[d.len() - 1]);
    mean
}

fn record(entity: String, i: usize) -> InventoryRecord {
    let nhi = entity.starts_with("service_account:");
    let criticality = ["low", "medium", "high", "critical"][i % 4];
    serde_json::from_value(serde_json::json!({
        "entity": entity,
        "owner": format!("team-{}", i % 97),
        "criticality": criticality,
        "environment": if i.is_multiple_of(3) { "production" } else { "staging" },
        "kind": if nhi { "nhi" } else { "human" },
        "scopes": if nhi { vec!["repo:read"] } else { vec![] },
        "last_used_at": "2025-09-01T00:00:00Z",
    }))
    .unwrap()
}

fn indicator(i: usize, kind: ObsKind, value: String) -> Indicator {
    Indicator {
        id: format!("bench-{i}"),
        name: format!("bench indicator {i}"),
        pattern: format!("{} = {value}", kind.as_str()),
        source: "bench".into(),
        confidence: 50,
        description: String::new(),
        valid_from: None,
        valid_until: None,
        observables: vec![Observable { kind, value }],
    }
}

fn main() {
    // `cargo test --all-targets` runs benchmarks too, unoptimised and without `--bench`:
    // figures only come from `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let gold = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/evals/gold.jsonl")).unwrap();
    let raw_alerts: Vec<Value> = gold
        .lines()
        .filter(|l| !l.trim().is_empty())
        .flat_map(|l| serde_json::from_str::<Value>(l).unwrap()["alerts"].as_array().cloned().unwrap_or_default())
        .collect();
    let alerts: Vec<Alert> = raw_alerts.iter().enumerate().map(|(i, v)| Alert::parse(i, &Redactor::new().redact_value(v)).unwrap()).collect();
    println!(
        "triage enrichment benchmark: {} alerts from evals/gold.jsonl, {} cores",
        alerts.len(),
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );

    // The gold alerts' own entities and public IPs, so that lookups hit as well as miss.
    let mut entities: Vec<String> = Vec::new();
    let mut ips: Vec<String> = Vec::new();
    for a in &alerts {
        for (kind, value, _) in triage::enrich::entity_paths(a) {
            if !value.starts_with("[REDACTED") && !value.chars().any(char::is_whitespace) && value.len() <= 180 {
                entities.push(format!("{kind}:{value}"));
            }
        }
        ips.extend(a.entities.ips.iter().filter(|ip| ip.parse::<std::net::IpAddr>().is_ok_and(|x| triage::enrich::geo::range_of(x) != "private")).cloned());
    }
    entities.sort();
    entities.dedup();
    ips.sort();
    ips.dedup();

    let empty_dir = tempfile::tempdir().unwrap();
    let empty = Store::open(empty_dir.path()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();

    let t = Instant::now();
    let mut records: Vec<InventoryRecord> = entities.iter().enumerate().map(|(i, e)| record(e.clone(), i)).collect();
    let kinds = ["host:bench-ws-", "user:bench-user-", "service_account:bench-svc-"];
    for i in records.len()..INVENTORY {
        records.push(record(format!("{}{i}", kinds[i % 3]), i));
    }
    store.import_inventory(&records, "bench").unwrap();
    let mut indicators: Vec<Indicator> = ips.iter().enumerate().map(|(i, ip)| indicator(i, ObsKind::Ip, ip.clone())).collect();
    for i in indicators.len()..INDICATORS {
        let (kind, value) = match i % 5 {
            0 => (ObsKind::Ip, format!("{}.{}.{}.{}", 11 + i % 200, (i / 200) % 256, (i / 51_200) % 256, i % 256)),
            1 => (ObsKind::Domain, format!("bench-{i}.example")),
            2 => (ObsKind::Url, format!("http://bench-{i}.example/p")),
            3 => (ObsKind::Hash, format!("{:064x}", i)),
            _ if i % 1000 == 4 => (ObsKind::Cidr, format!("{}.{}.0.0/16", 11 + i % 200, (i / 200) % 256)),
            _ => (ObsKind::Hash, format!("{:032x}", i)),
        };
        indicators.push(indicator(i, kind, value));
    }
    store.import_intel(&indicators, "bench").unwrap();
    let changes: Vec<ChangeRecord> = (0..CHANGES)
        .map(|i| {
            let entity = if i < entities.len() { entities[i].clone() } else { format!("host:bench-ws-{i}") };
            serde_json::from_value(serde_json::json!({"id": format!("chg-{i}"), "time": "2026-01-15T00:00:00Z", "entity": entity, "kind": "deploy", "by": "team-1", "summary": "bench"})).unwrap()
        })
        .collect();
    store.import_changes(&changes, "bench").unwrap();
    let (inv, ind, chg) = store.enrichment_counts().unwrap();
    println!("{:<40} {inv} inventory records, {ind} indicators, {chg} changes in {:.3?}", "loaded", t.elapsed());

    // Warm both stores' statement caches and pages.
    for a in alerts.iter().take(20) {
        triage::enrich::build(&store, None, std::slice::from_ref(a), |_| None).unwrap();
        triage::enrich::build(&empty, None, std::slice::from_ref(a), |_| None).unwrap();
    }

    let mut reference = Vec::new();
    let mut on_empty = Vec::new();
    let mut full = Vec::new();
    let mut found = (0usize, 0usize, 0usize);
    for (i, raw) in raw_alerts.iter().enumerate() {
        let t = Instant::now();
        let parsed = Alert::parse(i, &Redactor::new().redact_value(raw)).unwrap();
        reference.push(t.elapsed());
        let one = std::slice::from_ref(&parsed);
        let t = Instant::now();
        triage::enrich::build(&empty, None, one, |_| None).unwrap();
        on_empty.push(t.elapsed());
        let t = Instant::now();
        let ctx = triage::enrich::build(&store, None, one, |_| None).unwrap();
        full.push(t.elapsed());
        found.0 += ctx.inventory.len();
        found.1 += ctx.intel.len();
        found.2 += ctx.changes.len();
    }
    let reference_mean = stats("reference: redact + parse the alert", reference);
    let empty_mean = stats("enrichment, empty store", on_empty);
    let full_mean = stats("enrichment, 100k inventory + 100k intel", full);
    println!(
        "{:<40} {:.1}x redact + parse; {:.1}x the empty store; {} inventory, {} intel, {} change matches",
        "",
        full_mean.as_secs_f64() / reference_mean.as_secs_f64(),
        full_mean.as_secs_f64() / empty_mean.as_secs_f64(),
        found.0,
        found.1,
        found.2
    );
    println!("{:<40} {}", "target: under 1 ms per alert", if full_mean < Duration::from_millis(1) { "met" } else { "NOT met" });
}
