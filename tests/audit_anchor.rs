//! The keyed, anchored audit (contract section 14): every tamper of the issue is caught by
//! `triage audit verify --checkpoint`, which names what broke.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use async_trait::async_trait;
use common::{TestApp, spawn_app_with};
use rusqlite::{Connection, params};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use triage::llm::{Engine, EngineAnswer, EngineError, EngineRequest, Usage};
use triage::store::{Role, Store};

struct Scripted(Value);

#[async_trait]
impl Engine for Scripted {
    fn name(&self) -> &'static str {
        "llm"
    }
    async fn propose(&self, _req: &EngineRequest<'_>) -> Result<EngineAnswer, EngineError> {
        Ok(EngineAnswer { raw: self.0.to_string(), model: "scripted".into(), prompt_version: "test".into(), usage: Usage::default(), calls: 1 })
    }
}

/// A case with two approvals: one approved by a person, one left pending.
async fn app_with_history() -> (TestApp, String) {
    let out = json!({
        "severity": "high", "confidence": 0.7, "hypothesis": "A deploy key is used from an anonymising network.",
        "attack": [], "evidence": [{"ref": "alert:ct-1#rule.name", "quote": null}], "uncertainty": [],
        "proposed_actions": [
            {"action": "isolate_host", "target": "host:WS-9", "rationale": "the workstation that held the key"},
            {"action": "rotate_secret", "target": "service_account:svc-deploy", "rationale": "the key leaked"}
        ],
        "summary": "Containment proposed."
    });
    let t = spawn_app_with(&[], Some(Arc::new(Scripted(out)))).await;
    let engine = t.key("case-engine", Role::CaseEngine);
    let alice = t.key("alice", Role::Approver);
    let req = json!({"case_id": "cloud-1", "alerts": [{
        "id": "ct-1", "source": "aws-cloudtrail", "time": "2026-05-11T22:04:19Z",
        "rule": {"name": "Access key used from TOR exit node", "severity": "high"},
        "entities": {"hosts": ["WS-9"], "service_accounts": ["svc-deploy"]}, "asset": {"environment": "corporate"}, "fields": {}
    }]});
    let (s, resp) = t.post("/v1/recommend", &engine, &req).await;
    assert_eq!(s, 200, "{resp}");
    let first = resp["recommendation"]["proposed_actions"][0]["approval_id"].as_str().unwrap().to_string();
    let pending = resp["recommendation"]["proposed_actions"][1]["approval_id"].as_str().unwrap().to_string();
    let (s, a) = t.post(&format!("/v1/approvals/{first}/decisions"), &alice, &json!({"decision": "approve", "rationale": "owner confirmed"})).await;
    assert_eq!((s, a["status"].as_str()), (200, Some("approved")), "{a}");
    (t, pending)
}

fn triage(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_triage")).arg("--data-dir").arg(dir).args(args).env_remove("TRIAGE_AUDIT_KEY").output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// `triage audit checkpoint`, kept outside the data dir as an operator would.
fn checkpoint(dir: &Path, keep: &Path) -> String {
    let (ok, out) = triage(dir, &["audit", "checkpoint"]);
    assert!(ok, "{out}");
    let cp: Value = serde_json::from_str(&out).unwrap();
    assert!(cp["seq"].as_i64().unwrap() > 0 && cp["signature"].as_str().unwrap().len() == 128, "{cp}");
    let path = keep.join("checkpoint.json");
    std::fs::write(&path, &out).unwrap();
    path.display().to_string()
}

fn db(dir: &Path) -> Connection {
    Connection::open(dir.join("triage.sqlite3")).unwrap()
}

/// What an attacker with the SQLite file but not the audit key can do: recompute the
/// chain from `from` on as plain SHA-256, the head record included.
fn rehash_plain(conn: &Connection, from: i64) {
    let rows: Vec<(i64, String, String, String, String, String)> = conn
        .prepare("SELECT seq, time, actor, kind, subject, data FROM audit ORDER BY seq")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut prev = "0".repeat(64);
    for (seq, time, actor, kind, subject, data) in rows {
        if seq >= from {
            let mut h = Sha256::new();
            for part in [seq.to_string().as_str(), &time, &actor, &kind, &subject, &data, &prev] {
                h.update(part.as_bytes());
                h.update([0x1f]);
            }
            let hash = hex::encode(h.finalize());
            conn.execute("UPDATE audit SET prev_hash = ?1, hash = ?2, scheme = 'sha256' WHERE seq = ?3", params![prev, hash, seq]).unwrap();
        }
        prev = conn.query_row("SELECT hash FROM audit WHERE seq = ?1", [seq], |r| r.get(0)).unwrap();
    }
    conn.execute("UPDATE audit_head SET seq = (SELECT MAX(seq) FROM audit), hash = (SELECT hash FROM audit ORDER BY seq DESC LIMIT 1)", []).unwrap();
}

#[tokio::test]
async fn an_intact_chain_verifies_against_its_checkpoint_and_the_key_files_are_private() {
    if common::sqlite_only("checks the audit key file SQLite creates in the data dir; PostgreSQL requires a configured key") {
        return;
    }
    let (t, _) = app_with_history().await;
    let keep = tempfile::tempdir().unwrap();
    let cp = checkpoint(t.dir.path(), keep.path());
    let (ok, out) = triage(t.dir.path(), &["audit", "verify", "--checkpoint", &cp]);
    assert!(ok, "{out}");
    assert!(out.contains("intact") && out.contains("extends checkpoint"), "{out}");
    #[cfg(unix)]
    for f in ["audit.key", "audit-signing.key"] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(t.dir.path().join(f)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{f}");
    }
    // A checkpoint signed by another key is refused.
    let mut forged: Value = serde_json::from_str(&std::fs::read_to_string(&cp).unwrap()).unwrap();
    forged["seq"] = json!(1);
    std::fs::write(keep.path().join("forged.json"), forged.to_string()).unwrap();
    let (ok, out) = triage(t.dir.path(), &["audit", "verify", "--checkpoint", keep.path().join("forged.json").to_str().unwrap()]);
    assert!(!ok && out.contains("signature"), "{out}");
}

#[tokio::test]
async fn an_entry_edited_and_rehashed_without_the_key_is_caught_at_that_entry() {
    if common::sqlite_only("tampers with the SQLite file directly, behind the store") {
        return;
    }
    let (t, _) = app_with_history().await;
    let keep = tempfile::tempdir().unwrap();
    let cp = checkpoint(t.dir.path(), keep.path());
    let conn = db(t.dir.path());
    let seq: i64 = conn.query_row("SELECT seq FROM audit WHERE kind = 'approval.decision' LIMIT 1", [], |r| r.get(0)).unwrap();
    conn.execute("UPDATE audit SET data = '{\"decision\":\"reject\"}' WHERE seq = ?1", [seq]).unwrap();
    rehash_plain(&conn, seq);
    let (ok, out) = triage(t.dir.path(), &["audit", "verify", "--checkpoint", &cp]);
    assert!(!ok, "{out}");
    assert!(out.contains(&format!("broken at entry {seq}")) && out.contains("without the audit key"), "{out}");
    // Keeping the keyed label doesn't help either: the MAC can't be made without the key.
    conn.execute("UPDATE audit SET scheme = 'hmac-sha256' WHERE seq >= ?1", [seq]).unwrap();
    let (ok, out) = triage(t.dir.path(), &["audit", "verify"]);
    assert!(!ok && out.contains(&format!("broken at entry {seq}")), "{out}");
}

#[tokio::test]
async fn a_tail_dropped_with_its_head_record_is_caught_by_the_checkpoint() {
    if common::sqlite_only("tampers with the SQLite file directly, behind the store") {
        return;
    }
    let (t, _) = app_with_history().await;
    let soar = t.key("soar", Role::Soar);
    for _ in 0..3 {
        t.get("/v1/actions?status=approved", &soar).await;
    }
    let keep = tempfile::tempdir().unwrap();
    let cp = checkpoint(t.dir.path(), keep.path());
    let head: i64 = serde_json::from_str::<Value>(&std::fs::read_to_string(&cp).unwrap()).unwrap()["seq"].as_i64().unwrap();
    let conn = db(t.dir.path());
    conn.execute("DELETE FROM audit WHERE seq > ?1", [head - 3]).unwrap();
    conn.execute("UPDATE audit_head SET seq = (SELECT MAX(seq) FROM audit), hash = (SELECT hash FROM audit ORDER BY seq DESC LIMIT 1)", []).unwrap();
    // The chain alone can't tell (the outbox reads left nothing in the tables)...
    let (ok, out) = triage(t.dir.path(), &["audit", "verify"]);
    assert!(ok, "{out}");
    // ...the checkpoint can.
    let (ok, out) = triage(t.dir.path(), &["audit", "verify", "--checkpoint", &cp]);
    assert!(!ok, "{out}");
    assert!(out.contains(&format!("entry {head} is missing")), "{out}");
}

#[tokio::test]
async fn an_approval_flipped_in_the_tables_is_reported() {
    if common::sqlite_only("tampers with the SQLite file directly, behind the store") {
        return;
    }
    let (t, pending) = app_with_history().await;
    let keep = tempfile::tempdir().unwrap();
    let cp = checkpoint(t.dir.path(), keep.path());
    let conn = db(t.dir.path());
    conn.execute("UPDATE approvals SET status = 'approved' WHERE id = ?1", [&pending]).unwrap();
    conn.execute("UPDATE actions SET status = 'approved' WHERE approval_id = ?1", [&pending]).unwrap();
    let (ok, out) = triage(t.dir.path(), &["audit", "verify", "--checkpoint", &cp]);
    assert!(!ok, "{out}");
    assert!(out.contains(&format!("approval {pending} is approved in the tables, but no audit entry records it")), "{out}");
    assert!(out.contains("action act_") && out.contains("is approved in the tables"), "{out}");
    let admin = t.key("admin", Role::Admin);
    let (_, v) = t.get("/v1/audit/verify", &admin).await;
    assert_eq!(v["ok"], false, "{v}");
    // A decision inserted by hand and a case moved by hand are reported too.
    conn.execute("INSERT INTO approval_decisions (approval_id, actor, decision, rationale, at) VALUES (?1, 'key_x', 'approve', 'x', '2026-01-01')", [&pending])
        .unwrap();
    conn.execute("UPDATE cases SET state = 'executed' WHERE id = 'cloud-1'", []).unwrap();
    let (_, out) = triage(t.dir.path(), &["audit", "verify"]);
    assert!(out.contains("by key_x on approval") && out.contains("case cloud-1 is executed in the tables"), "{out}");
}

#[tokio::test]
async fn a_whole_database_rewritten_with_rehashed_entries_is_caught_by_the_checkpoint() {
    if common::sqlite_only("tampers with the SQLite file directly, behind the store") {
        return;
    }
    let (t, _) = app_with_history().await;
    let keep = tempfile::tempdir().unwrap();
    let cp = checkpoint(t.dir.path(), keep.path());
    let conn = db(t.dir.path());
    conn.execute("UPDATE audit SET actor = 'mallory' WHERE kind = 'approval.decision'", []).unwrap();
    rehash_plain(&conn, 1);
    drop(conn);
    let (ok, out) = triage(t.dir.path(), &["audit", "verify", "--checkpoint", &cp]);
    assert!(!ok, "{out}");
    assert!(out.contains("no longer extends the checkpoint") && out.contains("rewritten"), "{out}");
}

#[test]
fn plain_entries_written_before_the_key_keep_verifying_and_the_upgrade_is_an_entry() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        for i in 0..3 {
            store.audit("system", "test.event", &format!("s{i}"), &json!({"i": i})).unwrap();
        }
    }
    // As a database of the unkeyed version: plain SHA-256, no scheme recorded.
    let conn = db(dir.path());
    rehash_plain(&conn, 1);
    conn.execute("UPDATE audit SET scheme = NULL", []).unwrap();
    drop(conn);
    let store = Store::open(dir.path()).unwrap();
    let entries = store.audit_entries(0, 100).unwrap();
    assert_eq!(entries.len(), 4);
    assert!(entries[..3].iter().all(|e| e.scheme == "sha256"));
    assert_eq!((entries[3].kind.as_str(), entries[3].scheme), ("audit.scheme_upgraded", "hmac-sha256"));
    store.audit("system", "test.event", "after", &json!({})).unwrap();
    assert_eq!(store.verify_audit().unwrap(), Ok(5));
    // Opening again adds nothing: the chain is keyed already.
    drop(store);
    assert_eq!(Store::open(dir.path()).unwrap().audit_entries(0, 100).unwrap().len(), 5);
}

#[test]
fn verification_while_entries_are_written_reads_one_snapshot() {
    // Chain, head and tables were read one after another: an entry written in between
    // made an intact chain "end before its recorded head".
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (store, stop) = (store.clone(), stop.clone());
        std::thread::spawn(move || {
            // Bounded: reads no longer wait for writes, and an unbounded writer beside 200
            // full verifications of the growing chain would run for as long as it can write.
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && i < 3_000 {
                store.audit("system", "test.event", &format!("s{i}"), &json!({"i": i})).unwrap();
                i += 1;
            }
            i
        })
    };
    for _ in 0..200 {
        let v = store.verify_full(None).unwrap();
        assert!(v.first_broken.is_none() && v.unexplained.is_empty(), "an intact chain reported broken under writes: {v:?}");
        let from = store.verify_audit_from(0, &"0".repeat(64), 1_000_000).unwrap();
        assert!(from.is_ok(), "{from:?}");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(writer.join().unwrap() > 0);
}

#[test]
fn a_case_the_stream_opened_and_queued_is_explained_by_its_audit_entries() {
    // It waits in the queue as `new` without any recommend request naming it.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let alert = triage::store::StreamAlert {
        alert_id: "s-1".into(),
        time: chrono::Utc::now(),
        fingerprint: "fp_1".into(),
        pivots: vec!["host:ws-042".into()],
        title: "Encoded PowerShell".into(),
        severity: None,
        raw: json!({"id": "s-1", "source": "edr", "time": "2026-03-02T10:15:00Z", "rule": {"name": "Encoded PowerShell"}}),
    };
    let windows = triage::store::Windows { dedup: chrono::Duration::hours(24), correlation: chrono::Duration::hours(6), max_open_cases_per_pivot: 20 };
    let results = store.ingest("req-1", "siem:k1", &[alert], &windows).unwrap();
    let case_id = results[0].case_id.clone();
    assert_eq!(store.case(&case_id).unwrap().unwrap().state.as_str(), "new");
    let v = store.verify_full(None).unwrap();
    assert!(v.first_broken.is_none() && v.unexplained.is_empty(), "{v:?}");
}
