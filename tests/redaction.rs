//! Secret redaction measured on corpora, not a list of cases.
//!
//! `tests/fixtures/redaction/positive.jsonl`: secret shapes as they appear in real alerts
//! (`fields` of an alert, and the `secrets` in it). `negative.jsonl`: look-alikes that are
//! evidence and must come through unchanged. Prints recall and the false-redaction rate;
//! then sends the whole positive corpus through `POST /v1/recommend` against a scripted
//! model and looks for every secret in the response, the case view, the prompt and the
//! database (through SQLite, WAL included, and in the raw files).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "support_openai/mod.rs"]
mod support_openai;

use std::collections::BTreeSet;

use serde_json::{Value, json};
use support_openai::*;
use triage::alert::Redactor;
use triage::store::Role;

const POSITIVE: &str = include_str!("fixtures/redaction/positive.jsonl");
const NEGATIVE: &str = include_str!("fixtures/redaction/negative.jsonl");

fn lines(text: &str) -> Vec<Value> {
    text.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn secrets_of(line: &Value) -> Vec<String> {
    line["secrets"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect()
}

/// The ways a secret can show up in serialized text: as is, and JSON-escaped.
fn forms(secret: &str) -> Vec<String> {
    let escaped = serde_json::to_string(secret).unwrap();
    let escaped = escaped[1..escaped.len() - 1].to_string();
    let mut out = vec![secret.to_string()];
    if escaped != secret {
        out.push(escaped);
    }
    out
}

fn leaked<'a>(text: &str, secrets: &'a [String]) -> Vec<&'a str> {
    secrets.iter().filter(|s| forms(s).iter().any(|f| text.contains(f.as_str()))).map(String::as_str).collect()
}

#[test]
fn recall_is_total_and_false_redactions_are_rare() {
    let positive = lines(POSITIVE);
    let negative = lines(NEGATIVE);
    assert!(positive.len() >= 150, "the positive corpus has {} lines", positive.len());
    let shapes: BTreeSet<&str> = positive.iter().map(|l| l["shape"].as_str().unwrap().split(':').next().unwrap()).collect();
    for family in ["name", "nested", "text", "cli", "conn", "http", "cloud", "jwt", "pem", "token", "entropy", "jsonkey"] {
        assert!(shapes.contains(family), "no `{family}` shapes in the positive corpus");
    }

    let mut missed = Vec::new();
    let (mut secrets_total, mut secrets_caught) = (0, 0);
    for line in &positive {
        let secrets = secrets_of(line);
        let out = Redactor::new().redact_value(&json!({"fields": line["fields"]})).to_string();
        let leaks = leaked(&out, &secrets);
        secrets_total += secrets.len();
        secrets_caught += secrets.len() - leaks.len();
        if !leaks.is_empty() {
            missed.push(format!("{} ({}): {leaks:?} in {out}", line["id"], line["shape"]));
        }
    }
    let mut false_redactions = Vec::new();
    for line in &negative {
        let input = json!({"fields": line["fields"]});
        let out = Redactor::new().redact_value(&input);
        if out != input {
            false_redactions.push(format!("{} ({}): {out}", line["id"], line["shape"]));
        }
    }
    let recall = (positive.len() - missed.len()) as f64 / positive.len() as f64;
    let false_rate = false_redactions.len() as f64 / negative.len() as f64;
    println!(
        "redaction: recall {:.3} ({}/{} lines, {secrets_caught}/{secrets_total} secrets), false redactions {:.3} ({}/{} look-alikes changed)",
        recall,
        positive.len() - missed.len(),
        positive.len(),
        false_rate,
        false_redactions.len(),
        negative.len()
    );
    for m in &missed {
        println!("  missed {m}");
    }
    for f in &false_redactions {
        println!("  false redaction {f}");
    }
    assert!(missed.is_empty(), "recall {recall:.3}: {} lines leak a secret", missed.len());
    assert!(false_rate <= 0.02, "false redactions {false_rate:.3} > 0.02");
}

#[test]
fn redaction_is_stable_when_applied_twice() {
    for line in lines(POSITIVE).iter().chain(lines(NEGATIVE).iter()) {
        let once = Redactor::new().redact_value(&line["fields"]);
        let twice = Redactor::new().redact_value(&once);
        assert_eq!(once, twice, "{}", line["id"]);
    }
}

/// Every table of the database, every column, as text: read through SQLite, so what sits
/// in the WAL and not yet in the main file is included.
fn dump_database(path: &std::path::Path) -> String {
    let conn = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let tables: Vec<String> =
        conn.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").unwrap().query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap();
    let mut out = String::new();
    for table in tables {
        let mut stmt = conn.prepare(&format!("SELECT * FROM \"{table}\"")).unwrap();
        let columns = stmt.column_count();
        let mut rows = stmt.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            for i in 0..columns {
                match row.get_ref(i).unwrap() {
                    rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => out.push_str(&String::from_utf8_lossy(t)),
                    other => out.push_str(&format!("{other:?}")),
                }
                out.push('\u{1f}');
            }
            out.push('\n');
        }
    }
    out
}

#[tokio::test]
async fn no_secret_of_the_corpus_reaches_the_prompt_the_store_or_a_response() {
    let stub = Stub::start(vec![valid()]).await;
    // A prompt budget large enough that no alert is trimmed away unseen.
    let t = common::spawn_llm_app(&stub.base_url, "10000", &["--llm-max-prompt-chars", "4000000"]).await;
    let key = t.key("case-engine", Role::CaseEngine);
    let positive = lines(POSITIVE);
    let all_secrets: Vec<String> = positive.iter().flat_map(secrets_of).collect();
    let mut responses = String::new();
    for (n, chunk) in positive.chunks(triage::alert::MAX_ALERTS).enumerate() {
        let alerts: Vec<Value> = chunk
            .iter()
            .map(|l| {
                json!({
                    "id": l["id"], "source": "corpus", "time": "2026-03-02T10:15:00Z",
                    "rule": {"name": format!("Secret exposure: {}", l["shape"].as_str().unwrap()), "severity": "high"},
                    "entities": {"hosts": ["WS-042"]},
                    "asset": {"environment": "production"},
                    "fields": l["fields"]
                })
            })
            .collect();
        let case_id = format!("redaction-{n}");
        let (s, resp) = t.post("/v1/recommend", &key, &json!({"case_id": case_id, "alerts": alerts})).await;
        assert_eq!(s, 200, "{resp}");
        assert_eq!(resp["engine"]["degraded"], false, "{resp}");
        responses.push_str(&resp.to_string());
        let (s, case) = t.get(&format!("/v1/cases/{case_id}"), &key).await;
        assert_eq!(s, 200);
        responses.push_str(&case.to_string());
        let (_, summary) = t.get(&format!("/v1/cases/{case_id}/summary"), &key).await;
        responses.push_str(&summary.to_string());
    }
    let prompts: String = stub.requests().iter().map(|r| r.raw.clone()).collect();
    assert!(prompts.contains("[REDACTED:"), "the prompt shows no placeholder at all");
    let db = match common::pg::database_of(t.dir.path()) {
        Some(_) => common::storage_dump(t.dir.path()),
        None => dump_database(&t.dir.path().join("triage.sqlite3")),
    };
    assert!(db.contains("[REDACTED:"), "the stored alerts show no placeholder at all");
    let mut files = String::new();
    for name in ["triage.sqlite3", "triage.sqlite3-wal"] {
        if let Ok(bytes) = std::fs::read(t.dir.path().join(name)) {
            files.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    for (place, text) in [("a response", &responses), ("the prompt", &prompts), ("the database", &db), ("the database files", &files)] {
        let leaks = leaked(text, &all_secrets);
        assert!(leaks.is_empty(), "{} secrets reached {place}: {leaks:?}", leaks.len());
    }
}
