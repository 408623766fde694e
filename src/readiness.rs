//! Readiness: what `/readyz` reports, cheaply.
//!
//! `/readyz` is unauthenticated and polled by load balancers, so it must cost next to
//! nothing: it checks that the store answers and the index opens, and reports the last
//! result of the audit-chain check instead of walking the chain itself. That check runs in
//! the background ([`AuditWatch::run`]): it remembers the last verified entry (seq and
//! hash), verifies only what was appended since, a batch at a time so the database is held
//! briefly, and starts again from the first entry every `full_check` so that an edit to
//! an already-verified entry is caught too.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

use crate::app::App;
use crate::store::{ChainBreak, GENESIS, Store, StoreError};

/// Entries verified per hold of the database.
const BATCH: usize = 2_000;

/// The last result of the background audit check.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AuditStatus {
    /// `pending` (not checked yet), `ok` or `broken`.
    pub state: &'static str,
    /// The last entry verified to chain correctly.
    pub verified_seq: i64,
    pub first_broken: Option<i64>,
    pub reason: Option<String>,
    /// When the check last finished (RFC 3339).
    pub checked_at: Option<String>,
}

struct Cursor {
    seq: i64,
    hash: String,
    full_pass_started: std::time::Instant,
}

pub struct AuditWatch {
    status: Mutex<AuditStatus>,
    cursor: Mutex<Cursor>,
}

impl Default for AuditWatch {
    fn default() -> Self {
        AuditWatch {
            status: Mutex::new(AuditStatus { state: "pending", verified_seq: 0, first_broken: None, reason: None, checked_at: None }),
            cursor: Mutex::new(Cursor { seq: 0, hash: GENESIS.to_string(), full_pass_started: std::time::Instant::now() }),
        }
    }
}

impl AuditWatch {
    pub fn status(&self) -> AuditStatus {
        match self.status.lock() {
            Ok(s) => s.clone(),
            Err(_) => AuditStatus { state: "broken", verified_seq: 0, first_broken: None, reason: Some("audit watch poisoned".into()), checked_at: None },
        }
    }

    /// Verifies what was appended since the last check, to the end of the chain. Blocking:
    /// call it off the async runtime. With `restart`, starts again from the first entry.
    pub fn check_now(&self, store: &Store, restart: bool) -> Result<AuditStatus, StoreError> {
        let mut cursor = self.cursor.lock().map_err(|_| StoreError::Poisoned)?;
        if restart {
            *cursor = Cursor { seq: 0, hash: GENESIS.to_string(), full_pass_started: std::time::Instant::now() };
        }
        let outcome = loop {
            match store.verify_audit_from(cursor.seq, &cursor.hash, BATCH)? {
                Ok(progress) => {
                    cursor.seq = progress.seq;
                    cursor.hash = progress.hash;
                    if progress.at_end {
                        break Ok(());
                    }
                }
                Err(b) => break Err(b),
            }
        };
        let status = match outcome {
            Ok(()) => AuditStatus { state: "ok", verified_seq: cursor.seq, first_broken: None, reason: None, checked_at: Some(crate::store::now()) },
            Err(ChainBreak { seq, reason }) => {
                // Next time, look again from the start: a repaired database must clear it.
                let verified = cursor.seq;
                *cursor = Cursor { seq: 0, hash: GENESIS.to_string(), full_pass_started: std::time::Instant::now() };
                AuditStatus { state: "broken", verified_seq: verified, first_broken: Some(seq), reason: Some(reason), checked_at: Some(crate::store::now()) }
            }
        };
        if let Ok(mut s) = self.status.lock() {
            *s = status.clone();
        }
        Ok(status)
    }

    fn due_for_full_pass(&self, full_check: Duration) -> bool {
        self.cursor.lock().map(|c| c.full_pass_started.elapsed() >= full_check).unwrap_or(true)
    }

    /// The background loop of `triage serve`: a check every `interval`, from the first
    /// entry every `full_check`.
    pub async fn run(app: Arc<App>, interval: Duration, full_check: Duration) {
        loop {
            let restart = app.audit_watch.due_for_full_pass(full_check);
            let worker = app.clone();
            match tokio::task::spawn_blocking(move || worker.audit_watch.check_now(&worker.store, restart)).await {
                Ok(Ok(s)) if s.state == "broken" => tracing::error!(first_broken = ?s.first_broken, reason = ?s.reason, "audit chain broken"),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "audit check could not run"),
                Err(e) => tracing::warn!(error = %e, "audit check task failed"),
            }
            tokio::time::sleep(interval).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn checks_only_what_was_appended_and_catches_a_break() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let watch = AuditWatch::default();
        assert_eq!(watch.status().state, "pending");
        for i in 0..5 {
            store.audit("test", "t", "s", &json!({"i": i})).unwrap();
        }
        let s = watch.check_now(&store, false).unwrap();
        assert_eq!((s.state, s.verified_seq), ("ok", 5));
        store.audit("test", "t", "s", &json!({"i": 5})).unwrap();
        assert_eq!(watch.check_now(&store, false).unwrap().verified_seq, 6);
        // An edit to a verified entry is only seen by a pass from the start.
        store.execute_raw("UPDATE audit SET data = '{\"i\":99}' WHERE seq = 2").unwrap();
        assert_eq!(watch.check_now(&store, false).unwrap().state, "ok");
        let s = watch.check_now(&store, true).unwrap();
        assert_eq!((s.state, s.first_broken), ("broken", Some(2)));
        assert_eq!(watch.status(), s);
        // Entries cut off the end break at the head.
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        for i in 0..3 {
            store.audit("test", "t", "s", &json!({"i": i})).unwrap();
        }
        store.execute_raw("DELETE FROM audit WHERE seq = 3").unwrap();
        assert_eq!(AuditWatch::default().check_now(&store, false).unwrap().state, "broken");
    }
}
