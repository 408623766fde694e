//! SQLite in the data dir: API keys (hashed), requests, cases and their history,
//! recommendations, approvals, the action outbox and the audit chain.
//!
//! Every change and its audit entry are written in one transaction, so the trail can't
//! miss what happened. The store writes what it is given: ids and times come from callers.

mod approvals;
mod audit;
mod cases;
mod enrich;
mod keys;
mod learning;
mod stream;

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::Connection;

use crate::error_code::{Coded, ErrorCode};

pub use approvals::{ActionRecord, ActionStatus, ApprovalKind, ApprovalRecord, ApprovalStatus, Decision, DecisionError};
pub use approvals::{NewAction, NewApproval, PendingTier, PolicyApproval, binding_hash};
pub use audit::{AuditEntry, AuditProgress, ChainBreak, Checkpoint, GENESIS, Verification};
pub use cases::{CaseRecord, CaseState, Claim, ClosedCase, HistoryEntry, NewRecommendation, RecommendationMeta, StoredAlert};
pub use keys::{Identity, KeyRecord, NewKey, Role, SignIn};
pub use stream::{IngestResult, Outcome, StreamAlert, Windows};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("stored JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("creating {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("database lock poisoned")]
    Poisoned,
    #[error("{0} not found")]
    NotFound(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Key(String),
    #[error(transparent)]
    InvalidTransition(#[from] crate::cases::lifecycle::InvalidTransition),
    #[error("case {0} is closed; a new alert opens a new case that lists it as related")]
    CaseClosed(String),
    #[error("the Idempotency-Key was already used with a different body")]
    IdempotencyKeyReused,
    #[error("action {action_id} is {status}, not approved")]
    ActionNotApproved { action_id: String, status: &'static str },
    #[error("key {0} is already revoked")]
    KeyAlreadyRevoked(String),
    #[error("learning task {id} is already {status}")]
    TaskAlreadyDecided { id: String, status: &'static str },
    #[error("a decision on a learning task accepts or dismisses it")]
    TaskDecisionOpen,
    #[error("case {0} cannot be merged into itself")]
    MergeIntoItself(String),
    #[error("a split must leave at least one alert in case {0}")]
    SplitEmptiesCase(String),
    #[error("{0}")]
    InvalidEntity(String),
    /// A pre-approved emergency rule that the approval rules refused: policy code let
    /// through a rule it should not have, which is the service's fault, not the caller's.
    #[error("emergency rule {rule_id} on approval {approval_id}: {reason}")]
    EmergencyRuleRefused { rule_id: String, approval_id: String, reason: String },
}

impl Coded for StoreError {
    fn code(&self) -> ErrorCode {
        match self {
            StoreError::NotFound(_) => ErrorCode::NotFound,
            StoreError::InvalidTransition(_) => ErrorCode::InvalidTransition,
            StoreError::CaseClosed(_) => ErrorCode::CaseClosed,
            StoreError::IdempotencyKeyReused => ErrorCode::IdempotencyKeyReused,
            StoreError::ActionNotApproved { .. } => ErrorCode::ActionNotApproved,
            StoreError::KeyAlreadyRevoked(_) | StoreError::TaskAlreadyDecided { .. } | StoreError::MergeIntoItself(_) | StoreError::SplitEmptiesCase(_) => {
                ErrorCode::Conflict
            }
            StoreError::TaskDecisionOpen | StoreError::InvalidEntity(_) => ErrorCode::InvalidField,
            StoreError::Sql(_)
            | StoreError::Json(_)
            | StoreError::Io { .. }
            | StoreError::Poisoned
            | StoreError::Corrupt(_)
            | StoreError::Key(_)
            | StoreError::EmergencyRuleRefused { .. } => ErrorCode::Internal,
        }
    }
}

pub struct Store {
    conn: Mutex<Connection>,
    /// The audit chain's HMAC key: outside the database, so that whoever can write the
    /// SQLite file still can't rewrite the chain.
    audit_key: audit::AuditKey,
    data_dir: std::path::PathBuf,
}

/// A transaction with what appending to the audit chain needs.
pub(crate) struct Tx<'a> {
    tx: rusqlite::Transaction<'a>,
    pub(crate) audit_key: &'a audit::AuditKey,
}

impl<'a> std::ops::Deref for Tx<'a> {
    type Target = rusqlite::Transaction<'a>;
    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

const SCHEMA: &str = r#"
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
PRAGMA foreign_keys = ON;
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL, revoked_at TEXT
);
CREATE TABLE IF NOT EXISTS cases (
    id TEXT PRIMARY KEY, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    state TEXT NOT NULL, severity TEXT, title TEXT NOT NULL, created_by TEXT NOT NULL,
    closed TEXT
);
CREATE TABLE IF NOT EXISTS case_alerts (
    case_id TEXT NOT NULL REFERENCES cases(id), seq INTEGER NOT NULL, alert_id TEXT NOT NULL,
    alert TEXT NOT NULL, received_at TEXT NOT NULL, request_id TEXT NOT NULL,
    PRIMARY KEY (case_id, seq)
);
CREATE TABLE IF NOT EXISTS case_history (
    case_id TEXT NOT NULL REFERENCES cases(id), seq INTEGER NOT NULL, at TEXT NOT NULL,
    from_state TEXT, to_state TEXT NOT NULL, actor TEXT NOT NULL, reason TEXT NOT NULL,
    PRIMARY KEY (case_id, seq)
);
CREATE TABLE IF NOT EXISTS requests (
    id TEXT PRIMARY KEY, received_at TEXT NOT NULL, actor TEXT NOT NULL, case_id TEXT NOT NULL,
    body_hash TEXT NOT NULL, alert_count INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS recommendations (
    id TEXT PRIMARY KEY, case_id TEXT NOT NULL REFERENCES cases(id), request_id TEXT NOT NULL,
    created_at TEXT NOT NULL, actor TEXT NOT NULL, status TEXT NOT NULL, response TEXT NOT NULL,
    raw_output TEXT, engine TEXT NOT NULL, prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0, latency_ms INTEGER NOT NULL DEFAULT 0,
    injection TEXT
);
CREATE TABLE IF NOT EXISTS idempotency (
    actor TEXT NOT NULL, key TEXT NOT NULL, body_hash TEXT NOT NULL,
    recommendation_id TEXT NOT NULL, PRIMARY KEY (actor, key)
);
CREATE TABLE IF NOT EXISTS approvals (
    id TEXT PRIMARY KEY, case_id TEXT NOT NULL REFERENCES cases(id), recommendation_id TEXT NOT NULL,
    kind TEXT NOT NULL, action_id TEXT, binding_hash TEXT NOT NULL, tier TEXT NOT NULL,
    required_approvals INTEGER NOT NULL, status TEXT NOT NULL, requested_by TEXT NOT NULL,
    created_at TEXT NOT NULL, expires_at TEXT NOT NULL, decided_at TEXT, summary TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS approval_decisions (
    approval_id TEXT NOT NULL REFERENCES approvals(id), actor TEXT NOT NULL, decision TEXT NOT NULL,
    rationale TEXT NOT NULL, at TEXT NOT NULL, PRIMARY KEY (approval_id, actor)
);
CREATE TABLE IF NOT EXISTS actions (
    id TEXT PRIMARY KEY, case_id TEXT NOT NULL REFERENCES cases(id), recommendation_id TEXT NOT NULL,
    approval_id TEXT, action TEXT NOT NULL, target TEXT NOT NULL, tier TEXT NOT NULL,
    rationale TEXT NOT NULL, status TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    outcome TEXT
);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY, time TEXT NOT NULL, actor TEXT NOT NULL, kind TEXT NOT NULL,
    subject TEXT NOT NULL, data TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS approvals_status ON approvals(status);
CREATE INDEX IF NOT EXISTS actions_status ON actions(status);
CREATE INDEX IF NOT EXISTS recommendations_case ON recommendations(case_id);
"#;

impl Store {
    /// Opens the store with the audit key from `TRIAGE_AUDIT_KEY`, else the key file in
    /// the data dir.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        Self::open_with_key(data_dir, None)
    }

    /// Opens the store; `audit_key` is the configured audit key (`[audit] key_file`,
    /// `TRIAGE_AUDIT_KEY`), and without one the key file in the data dir is used.
    pub fn open_with_key(data_dir: &Path, audit_key: Option<&str>) -> Result<Store, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::Io { path: data_dir.display().to_string(), source })?;
        let conn = Connection::open(data_dir.join("triage.sqlite3"))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        conn.execute_batch(enrich::SCHEMA)?;
        conn.execute_batch(stream::SCHEMA)?;
        conn.execute_batch(learning::SCHEMA)?;
        migrate(&conn)?;
        conn.execute_batch(stream::INDEXES)?;
        let audit_key = match audit_key.map(str::trim).filter(|k| !k.is_empty()) {
            Some(k) => audit::AuditKey::from_text(k),
            None => audit::AuditKey::load(data_dir)?,
        };
        let store = Store { conn: Mutex::new(conn), audit_key, data_dir: data_dir.to_path_buf() };
        store.upgrade_audit_scheme()?;
        Ok(store)
    }

    /// Whether the database answers: a trivial query, for readiness checks.
    pub fn ping(&self) -> Result<(), StoreError> {
        Ok(self.conn()?.query_row("SELECT 1", [], |r| r.get::<_, i64>(0)).map(|_| ())?)
    }

    fn conn(&self) -> Result<MutexGuard<'_, Connection>, StoreError> {
        self.conn.lock().map_err(|_| StoreError::Poisoned)
    }

    /// Runs `f` in one transaction.
    pub(crate) fn tx<T>(&self, f: impl FnOnce(&Tx) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let mut conn = self.conn()?;
        let tx = Tx { tx: conn.transaction()?, audit_key: &self.audit_key };
        let out = f(&tx)?;
        tx.tx.commit()?;
        Ok(out)
    }
}

/// Columns added since the first schema, for databases made before them.
const ADDED_COLUMNS: [(&str, &str, &str); 16] = [
    ("idempotency", "claimed_at", "TEXT"),
    // Keys made before principals keep their name as principal (read with COALESCE).
    ("api_keys", "principal", "TEXT"),
    ("api_keys", "expires_at", "TEXT"),
    ("approvals", "requested_principal", "TEXT"),
    ("approval_decisions", "principal", "TEXT"),
    // Entries written before the keyed chain have no scheme: plain SHA-256.
    ("audit", "scheme", "TEXT"),
    // The alert stream (contract section 10): dedup counts, pivots, alert times.
    ("case_alerts", "fingerprint", "TEXT"),
    ("case_alerts", "occurrences", "INTEGER NOT NULL DEFAULT 1"),
    ("case_alerts", "first_seen", "TEXT"),
    ("case_alerts", "last_seen", "TEXT"),
    ("case_alerts", "alert_time", "TEXT"),
    ("case_alerts", "pivots", "TEXT"),
    // The queue's view of a case (contract section 11).
    ("cases", "assignee", "TEXT"),
    ("cases", "first_alert_at", "TEXT"),
    ("cases", "newest_alert_at", "TEXT"),
    ("cases", "merged_into", "TEXT"),
];

fn migrate(conn: &Connection) -> Result<(), StoreError> {
    for (table, column, decl) in ADDED_COLUMNS {
        let present: i64 = conn.query_row(&format!("SELECT COUNT(*) FROM pragma_table_info('{table}') WHERE name = ?1"), [column], |r| r.get(0))?;
        if present == 0 {
            conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {decl}"))?;
        }
    }
    Ok(())
}

/// Now, as stored: RFC 3339 with milliseconds, UTC.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A new id with a readable prefix (`rec_`, `apr_`, `case_`…), time-ordered.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}
