//! The store: API keys (hashed), requests, cases and their history,
//! recommendations, approvals, the action outbox and the audit chain, in SQLite in the
//! data dir or in PostgreSQL shared by replicas (`db`).
//!
//! Every change and its audit entry are written in one transaction, so the trail can't
//! miss what happened. The store writes what it is given: ids and times come from callers.

mod approvals;
mod audit;
mod cases;
mod db;
mod enrich;
mod keys;
mod learning;
mod stream;

use std::path::Path;

use db::params;

use crate::error_code::{Coded, ErrorCode};

pub use approvals::{ActionRecord, ActionStatus, ApprovalKind, ApprovalRecord, ApprovalStatus, Decision, DecisionError};
pub use approvals::{NewAction, NewApproval, PendingTier, PolicyApproval, binding_hash};
pub use audit::{AuditEntry, AuditProgress, ChainBreak, Checkpoint, GENESIS, Verification};
pub use cases::{CaseRecord, CaseState, Claim, ClosedCase, HistoryEntry, NewRecommendation, RecommendationMeta, RequestRecord, StoredAlert};
pub use keys::{Identity, KeyRecord, NewKey, Role, SignIn};
pub use stream::{IngestResult, Outcome, StreamAlert, Windows};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Database(#[from] db::DbError),
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
            StoreError::Database(e) if e.is_unavailable() => ErrorCode::NotReady,
            StoreError::Database(_)
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
    db: db::Database,
    /// The audit chain's HMAC key: outside the database, so that whoever can write the
    /// database still can't rewrite the chain.
    audit_key: audit::AuditKey,
    data_dir: std::path::PathBuf,
}

/// Where the store keeps its tables.
#[derive(Debug, Clone, Copy)]
pub enum Backend<'a> {
    /// `triage.sqlite3` in the data dir.
    Sqlite,
    /// A PostgreSQL database shared by replicas; `password` when the URL has none.
    Postgres { url: &'a str, password: Option<&'a str> },
}

/// A transaction with what appending to the audit chain needs.
pub(crate) struct Tx<'a> {
    conn: &'a db::Conn<'a>,
    pub(crate) audit_key: &'a audit::AuditKey,
}

impl<'a> std::ops::Deref for Tx<'a> {
    type Target = db::Conn<'a>;
    fn deref(&self) -> &Self::Target {
        self.conn
    }
}

impl Store {
    /// Opens the SQLite store in `data_dir` with the audit key from `TRIAGE_AUDIT_KEY`,
    /// else the key file in the data dir.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        Self::open_with_key(data_dir, None)
    }

    /// Opens the SQLite store; `audit_key` is the configured audit key (`[audit] key_file`,
    /// `TRIAGE_AUDIT_KEY`), and without one the key file in the data dir is used.
    pub fn open_with_key(data_dir: &Path, audit_key: Option<&str>) -> Result<Store, StoreError> {
        Self::open_backend(Backend::Sqlite, data_dir, audit_key)
    }

    /// Opens the store on `backend`, migrated to the current schema. The data dir keeps
    /// the key files either way. With PostgreSQL the audit key must be configured: every
    /// replica must hash the shared chain under the same key, and a key file each replica
    /// made for itself would break it.
    pub fn open_backend(backend: Backend<'_>, data_dir: &Path, audit_key: Option<&str>) -> Result<Store, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::Io { path: data_dir.display().to_string(), source })?;
        let configured = audit_key.map(str::trim).filter(|k| !k.is_empty());
        let db = match backend {
            Backend::Sqlite => db::Database::open_sqlite(&data_dir.join("triage.sqlite3"))?,
            Backend::Postgres { url, password } => {
                if configured.is_none() && std::env::var("TRIAGE_AUDIT_KEY").map_or(true, |k| k.trim().is_empty()) {
                    return Err(StoreError::Key(AUDIT_KEY_REQUIRED.into()));
                }
                db::Database::open_postgres(url, password)?
            }
        };
        let audit_key = match configured {
            Some(k) => audit::AuditKey::from_text(k),
            None => audit::AuditKey::load(data_dir)?,
        };
        let store = Store { db, audit_key, data_dir: data_dir.to_path_buf() };
        store.upgrade_audit_scheme()?;
        Ok(store)
    }

    /// Whether the store is on PostgreSQL (shared by replicas) rather than SQLite.
    pub fn is_shared(&self) -> bool {
        self.db.is_postgres()
    }

    /// Whether the database answers: a trivial query, for readiness checks.
    pub fn ping(&self) -> Result<(), StoreError> {
        self.read()?.query_row("SELECT 1", params![], |r| r.get::<i64>(0)).map(|_| ())
    }

    /// A connection for reads (on SQLite, beside the writer rather than behind it).
    fn read(&self) -> Result<db::Conn<'_>, StoreError> {
        self.db.read()
    }

    /// Runs `f` in one transaction; writers take turns (see [`db::Locking::Writers`]). `f`
    /// may run more than once when the database asks for the transaction to be retried.
    pub(crate) fn tx<T>(&self, mut f: impl FnMut(&Tx) -> Result<T, StoreError>) -> Result<T, StoreError> {
        self.db.transaction(db::Locking::Writers, |conn| f(&Tx { conn, audit_key: &self.audit_key }))
    }

    /// Reads that must agree with each other, in one snapshot (see [`db::Locking::Snapshot`]).
    pub(crate) fn snapshot<T>(&self, f: impl FnMut(&db::Conn) -> Result<T, StoreError>) -> Result<T, StoreError> {
        self.db.transaction(db::Locking::Snapshot, f)
    }

    /// A transaction that locks only the rows it names (the work queue's claims).
    pub(crate) fn row_locked_tx<T>(&self, mut f: impl FnMut(&Tx) -> Result<T, StoreError>) -> Result<T, StoreError> {
        self.db.transaction(db::Locking::Rows, |conn| f(&Tx { conn, audit_key: &self.audit_key }))
    }
}

const AUDIT_KEY_REQUIRED: &str = "PostgreSQL is configured but no audit key is: every replica must hash the shared audit chain under one key, so set `TRIAGE_AUDIT_KEY` or `[audit] key_file` (the same on every replica)";

/// Now, as stored: RFC 3339 with milliseconds, UTC.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A new id with a readable prefix (`rec_`, `apr_`, `case_`…), time-ordered.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}
