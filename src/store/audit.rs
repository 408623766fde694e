//! The audit trail: an append-only hash chain, keyed and anchored (contract sections 6, 14).
//!
//! Each entry's hash covers its own fields and the previous entry's hash, so editing,
//! deleting or reordering any entry breaks the chain at that entry. Entries are
//! HMAC-SHA-256 under a key kept outside the database (`audit.key` in the data dir, or
//! `TRIAGE_AUDIT_KEY`), so whoever can write the SQLite file can't rehash what they edit.
//! Entries written before the key keep verifying as plain SHA-256; the switch is itself an
//! entry, and no plain entry may follow a keyed one. A signed checkpoint (Ed25519, key in
//! `audit-signing.key`) that the operator keeps elsewhere catches what no chain can: the
//! tail cut off with its head record, or the whole database replaced.
//!
//! Verification also reconciles the tables with the chain: a decided approval, a decision,
//! an action's status or a case's state that no entry explains is reported.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::db::{Conn, params};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use hmac::{Hmac, Mac};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{Store, StoreError, Tx, now};

pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// How an entry's hash is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Entries written before the chain was keyed.
    Sha256,
    HmacSha256,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Sha256 => "sha256",
            Scheme::HmacSha256 => "hmac-sha256",
        }
    }

    fn parse(s: Option<&str>) -> Option<Scheme> {
        match s {
            None | Some("sha256") => Some(Scheme::Sha256),
            Some("hmac-sha256") => Some(Scheme::HmacSha256),
            Some(_) => None,
        }
    }
}

/// The kind of the entry that switches a chain from plain SHA-256 to HMAC.
pub const UPGRADE_KIND: &str = "audit.scheme_upgraded";

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    pub seq: i64,
    pub time: String,
    pub actor: String,
    pub kind: String,
    pub subject: String,
    pub data: Value,
    pub prev_hash: String,
    pub hash: String,
    pub scheme: &'static str,
}

/// Where a walk of the chain ended: the next entry expected, and the last one checked.
struct WalkEnd {
    next_seq: i64,
    last: Option<(i64, String)>,
}

/// The chain must end at its recorded head: a cut tail is otherwise invisible.
fn check_head(head: Option<(i64, String)>, end: &WalkEnd) -> Result<(), ChainBreak> {
    // A head at 0 is an empty chain's (PostgreSQL keeps the row from the start).
    if let Some((head_seq, head_hash)) = head.filter(|(seq, _)| *seq > 0)
        && end.last.as_ref() != Some(&(head_seq, head_hash))
    {
        return Err(ChainBreak { seq: end.next_seq.min(head_seq), reason: format!("the chain ends before its recorded head (entry {head_seq})") });
    }
    Ok(())
}

/// Where an incremental check of the chain got to: the last entry verified.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditProgress {
    pub seq: i64,
    pub hash: String,
    /// Entries checked by this call.
    pub checked: usize,
    /// Whether the end of the chain was reached (and the head matched it).
    pub at_end: bool,
}

/// The first entry whose chain does not hold, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChainBreak {
    pub seq: i64,
    pub reason: String,
}

/// The HMAC key of the chain.
pub struct AuditKey(Vec<u8>);

const KEY_FILE: &str = "audit.key";
const SIGNING_KEY_FILE: &str = "audit-signing.key";

/// Writes a new secret file readable by its owner only; never overwrites one.
fn create_secret_file(path: &Path, contents: &str) -> Result<(), StoreError> {
    let io = |source| StoreError::Io { path: path.display().to_string(), source };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(path).map_err(io)?;
    f.write_all(contents.as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)
}

/// 32 bytes from the file, created on first use.
fn load_or_create_secret(path: &Path) -> Result<[u8; 32], StoreError> {
    if !path.exists() {
        let bytes: [u8; 32] = rand::rng().random();
        create_secret_file(path, &format!("{}\n", hex::encode(bytes)))?;
    }
    let text = std::fs::read_to_string(path).map_err(|source| StoreError::Io { path: path.display().to_string(), source })?;
    let bytes = hex::decode(text.trim()).map_err(|e| StoreError::Key(format!("{}: not hex ({e})", path.display())))?;
    bytes.try_into().map_err(|_| StoreError::Key(format!("{}: a key is 32 bytes", path.display())))
}

impl AuditKey {
    /// A key given as text (the configured key).
    pub fn from_text(text: &str) -> AuditKey {
        AuditKey(text.trim().as_bytes().to_vec())
    }

    /// `TRIAGE_AUDIT_KEY` (which every replica on one database must share), else the key
    /// file in the data dir, created 0600 on first start.
    pub fn load(data_dir: &Path) -> Result<AuditKey, StoreError> {
        if let Ok(k) = std::env::var("TRIAGE_AUDIT_KEY")
            && !k.trim().is_empty()
        {
            return Ok(AuditKey(k.trim().as_bytes().to_vec()));
        }
        Ok(AuditKey(load_or_create_secret(&data_dir.join(KEY_FILE))?.to_vec()))
    }
}

type HmacSha256 = Hmac<Sha256>;

fn entry_hash(scheme: Scheme, key: &AuditKey, fields: [&str; 7]) -> String {
    let mut bytes = Vec::new();
    for part in fields {
        bytes.extend_from_slice(part.as_bytes());
        bytes.push(0x1f);
    }
    match scheme {
        Scheme::Sha256 => hex::encode(Sha256::digest(&bytes)),
        Scheme::HmacSha256 => {
            // The scheme is under the MAC too, so an entry can't be relabelled.
            bytes.extend_from_slice(scheme.as_str().as_bytes());
            match HmacSha256::new_from_slice(&key.0) {
                Ok(mut mac) => {
                    mac.update(&bytes);
                    hex::encode(mac.finalize().into_bytes())
                }
                // HMAC takes keys of any length; this arm is unreachable.
                Err(_) => String::new(),
            }
        }
    }
}

/// Appends one keyed entry inside the caller's transaction.
pub(crate) fn append(tx: &Tx, actor: &str, kind: &str, subject: &str, data: &Value) -> Result<i64, StoreError> {
    let (last_seq, prev): (i64, String) =
        tx.query_opt("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", params![], |r| Ok((r.get(0)?, r.get(1)?)))?.unwrap_or((0, GENESIS.to_string()));
    let seq = last_seq + 1;
    let time = now();
    let data = serde_json::to_string(data)?;
    let scheme = Scheme::HmacSha256;
    let hash = entry_hash(scheme, tx.audit_key, [&seq.to_string(), &time, actor, kind, subject, &data, &prev]);
    tx.execute(
        "INSERT INTO audit (seq, time, actor, kind, subject, data, prev_hash, hash, scheme) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![seq, time, actor, kind, subject, data, prev, hash, scheme.as_str()],
    )?;
    // The head lets verification notice entries cut off the end of the chain.
    tx.execute(
        "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?1, ?2) ON CONFLICT(id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
        params![seq, hash],
    )?;
    Ok(seq)
}

struct Row {
    seq: i64,
    time: String,
    actor: String,
    kind: String,
    subject: String,
    data: String,
    prev_hash: String,
    hash: String,
    scheme: Option<String>,
}

/// A signed head of the chain, for the operator to keep elsewhere.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub seq: i64,
    pub hash: String,
    pub time: String,
    /// Ed25519 public key, hex.
    pub public_key: String,
    /// Ed25519 signature of [`Checkpoint::message`], hex.
    pub signature: String,
}

impl Checkpoint {
    fn message(seq: i64, hash: &str, time: &str) -> String {
        format!("triage-audit-checkpoint/v1\n{seq}\n{hash}\n{time}")
    }

    /// Whether the signature holds under `key`.
    fn signed_by(&self, key: &VerifyingKey) -> bool {
        let Ok(sig) = hex::decode(&self.signature) else { return false };
        let Ok(sig) = Signature::from_slice(&sig) else { return false };
        hex::encode(key.as_bytes()) == self.public_key && key.verify(Self::message(self.seq, &self.hash, &self.time).as_bytes(), &sig).is_ok()
    }
}

/// What `audit verify` found.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    pub entries: usize,
    pub first_broken: Option<ChainBreak>,
    /// Problems with the checkpoint given, if one was.
    pub checkpoint: Option<String>,
    /// States in the tables that no audit entry explains.
    pub unexplained: Vec<String>,
}

impl Verification {
    pub fn ok(&self) -> bool {
        self.first_broken.is_none() && self.checkpoint.is_none() && self.unexplained.is_empty()
    }
}

impl Store {
    /// Appends one entry on its own.
    pub fn audit(&self, actor: &str, kind: &str, subject: &str, data: &Value) -> Result<i64, StoreError> {
        self.tx(|tx| append(tx, actor, kind, subject, data))
    }

    /// A chain whose last entry is plain SHA-256 (written before the key) gets the entry
    /// that switches it to HMAC, so that the upgrade is on the record.
    pub(crate) fn upgrade_audit_scheme(&self) -> Result<(), StoreError> {
        self.tx(|tx| {
            let last: Option<(i64, Option<String>)> =
                tx.query_opt("SELECT seq, scheme FROM audit ORDER BY seq DESC LIMIT 1", params![], |r| Ok((r.get(0)?, r.get(1)?)))?;
            if let Some((seq, scheme)) = last
                && Scheme::parse(scheme.as_deref()) == Some(Scheme::Sha256)
            {
                append(
                    tx,
                    "system",
                    UPGRADE_KIND,
                    "audit",
                    &json!({"from": Scheme::Sha256.as_str(), "to": Scheme::HmacSha256.as_str(), "plain_entries": seq}),
                )?;
            }
            Ok(())
        })
    }

    fn audit_rows(&self, after: i64, limit: Option<usize>) -> Result<Vec<Row>, StoreError> {
        audit_rows_in(&self.read()?, after, limit)
    }

    /// How many entries the chain holds: the sequence number of its last entry.
    pub fn audit_length(&self) -> Result<i64, StoreError> {
        let conn = self.read()?;
        conn.query_row("SELECT COALESCE(MAX(seq), 0) FROM audit", params![], |r| r.get(0))
    }

    pub fn audit_entries(&self, after: i64, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        Ok(self
            .audit_rows(after, Some(limit))?
            .into_iter()
            .map(|r| AuditEntry {
                seq: r.seq,
                time: r.time,
                actor: r.actor,
                kind: r.kind,
                subject: r.subject,
                data: serde_json::from_str(&r.data).unwrap_or(Value::String(r.data)),
                prev_hash: r.prev_hash,
                hash: r.hash,
                scheme: Scheme::parse(r.scheme.as_deref()).map(Scheme::as_str).unwrap_or("unknown"),
            })
            .collect())
    }

    /// Walks the whole chain; returns the first broken entry, or the number of entries checked.
    pub fn verify_audit(&self) -> Result<Result<usize, ChainBreak>, StoreError> {
        self.snapshot(|conn| {
            let rows = audit_rows_in(conn, 0, None)?;
            Ok(self.walk_chain(conn, &rows).map(|()| rows.len()))
        })
    }

    /// The chain `rows` (read in `conn`'s snapshot) from its first entry, and the head
    /// recorded in the same snapshot.
    fn walk_chain(&self, conn: &Conn, rows: &[Row]) -> Result<(), ChainBreak> {
        let end = self.walk(rows, 1, GENESIS, None)?;
        let head: Option<(i64, String)> = conn.query_row("SELECT seq, hash FROM audit_head WHERE id = 1", params![], |r| Ok((r.get(0)?, r.get(1)?))).ok();
        check_head(head, &end)
    }

    /// Walks `rows`, which must start at `expected_seq` and chain to `prev`; `keyed_since`
    /// is the entry the chain was keyed at, if before these rows. Returns where it ended.
    fn walk(&self, rows: &[Row], mut expected_seq: i64, prev: &str, mut keyed_since: Option<i64>) -> Result<WalkEnd, ChainBreak> {
        let mut prev = prev.to_string();
        for r in rows {
            let seq = r.seq;
            if seq != expected_seq {
                return Err(ChainBreak { seq: expected_seq, reason: format!("entry {expected_seq} is missing (next is {seq})") });
            }
            if r.prev_hash != prev {
                return Err(ChainBreak { seq, reason: "prev_hash does not match the previous entry's hash".into() });
            }
            let Some(scheme) = Scheme::parse(r.scheme.as_deref()) else {
                return Err(ChainBreak { seq, reason: format!("unknown hash scheme `{}`", r.scheme.as_deref().unwrap_or_default()) });
            };
            match (scheme, keyed_since) {
                (Scheme::Sha256, Some(from)) => {
                    return Err(ChainBreak {
                        seq,
                        reason: format!("entry is plain sha256 after the chain was keyed at entry {from}: rewritten without the audit key"),
                    });
                }
                (Scheme::HmacSha256, None) if seq > 1 && r.kind != UPGRADE_KIND => {
                    return Err(ChainBreak { seq, reason: "the keyed chain starts without its upgrade entry".into() });
                }
                (Scheme::HmacSha256, None) => keyed_since = Some(seq),
                _ => {}
            }
            let fields = [seq.to_string(), r.time.clone(), r.actor.clone(), r.kind.clone(), r.subject.clone(), r.data.clone(), r.prev_hash.clone()];
            let fields: [&str; 7] = [&fields[0], &fields[1], &fields[2], &fields[3], &fields[4], &fields[5], &fields[6]];
            if entry_hash(scheme, &self.audit_key, fields) != r.hash {
                let why = match scheme {
                    Scheme::HmacSha256 => "hash does not match the entry's content under the audit key (edited, or rehashed without the key)",
                    Scheme::Sha256 => "hash does not match the entry's content",
                };
                return Err(ChainBreak { seq, reason: why.into() });
            }
            prev = r.hash.clone();
            expected_seq += 1;
        }
        Ok(WalkEnd { next_seq: expected_seq, last: rows.last().map(|r| (r.seq, r.hash.clone())) })
    }

    fn signing_key(&self) -> Result<SigningKey, StoreError> {
        Ok(SigningKey::from_bytes(&load_or_create_secret(&self.signing_key_path())?))
    }

    fn signing_key_path(&self) -> PathBuf {
        self.data_dir.join(SIGNING_KEY_FILE)
    }

    /// A signed head of the chain as it is now.
    pub fn checkpoint(&self) -> Result<Checkpoint, StoreError> {
        let (seq, hash) = {
            let conn = self.read()?;
            conn.query_opt("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", params![], |r| Ok((r.get::<i64>(0)?, r.get::<String>(1)?)))?
                .unwrap_or((0, GENESIS.to_string()))
        };
        let key = self.signing_key()?;
        let time = now();
        let signature = key.sign(Checkpoint::message(seq, &hash, &time).as_bytes());
        Ok(Checkpoint { seq, hash, time, public_key: hex::encode(key.verifying_key().as_bytes()), signature: hex::encode(signature.to_bytes()) })
    }

    /// The chain, the checkpoint it must extend (if given), and the tables against the chain.
    pub fn verify_full(&self, checkpoint: Option<&Checkpoint>) -> Result<Verification, StoreError> {
        // Chain, head and tables from one snapshot: read one after another while requests
        // write, they disagree (a head past the rows read, an approval whose entry came
        // after the chain was read) and an intact trail would look tampered with.
        self.snapshot(|conn| self.verify_in(conn, checkpoint))
    }

    fn verify_in(&self, conn: &Conn, checkpoint: Option<&Checkpoint>) -> Result<Verification, StoreError> {
        let rows = audit_rows_in(conn, 0, None)?;
        let first_broken = self.walk_chain(conn, &rows).err();
        let checkpoint = match checkpoint {
            None => None,
            Some(cp) => {
                let key = self.signing_key()?.verifying_key();
                if !cp.signed_by(&key) {
                    Some(format!("the checkpoint's signature does not verify under this data dir's signing key ({})", self.signing_key_path().display()))
                } else {
                    match rows.iter().find(|r| r.seq == cp.seq) {
                        _ if cp.seq == 0 => None,
                        None => Some(format!(
                            "the chain no longer extends the checkpoint: entry {} is missing (the chain ends at {})",
                            cp.seq,
                            rows.last().map(|r| r.seq).unwrap_or(0)
                        )),
                        Some(r) if r.hash != cp.hash => {
                            Some(format!("the chain no longer extends the checkpoint: entry {} has another hash than the checkpoint's (rewritten)", cp.seq))
                        }
                        Some(_) => None,
                    }
                }
            }
        };
        let unexplained = reconcile(conn, &rows)?;
        Ok(Verification { entries: rows.len(), first_broken, checkpoint, unexplained })
    }

    /// Checks at most `limit` entries after `after_seq`, the first of which must chain to
    /// `after_hash`, and, once the end is reached, that the recorded head is the last entry
    /// checked. Lets the chain be verified a batch at a time, holding the database only
    /// briefly, and resumed where the last check ended.
    pub fn verify_audit_from(&self, after_seq: i64, after_hash: &str, limit: usize) -> Result<Result<AuditProgress, ChainBreak>, StoreError> {
        self.snapshot(|conn| self.verify_from_in(conn, after_seq, after_hash, limit))
    }

    fn verify_from_in(&self, conn: &Conn, after_seq: i64, after_hash: &str, limit: usize) -> Result<Result<AuditProgress, ChainBreak>, StoreError> {
        let (keyed_since, head) = {
            // The entry the last check ended on must still be there, unchanged: otherwise a
            // cut or rewritten end of the chain would go unseen by checks that resume after it.
            if after_seq > 0 {
                let anchor: Option<String> = conn.query_opt("SELECT hash FROM audit WHERE seq = ?1", params![after_seq], |r| r.get(0))?;
                if anchor.as_deref() != Some(after_hash) {
                    return Ok(Err(ChainBreak { seq: after_seq, reason: "the last verified entry was changed or removed".into() }));
                }
            }
            let keyed_since: Option<i64> = conn
                .query_opt("SELECT MIN(seq) FROM audit WHERE seq <= ?1 AND scheme = ?2", params![after_seq, Scheme::HmacSha256.as_str()], |r| r.get(0))?
                .flatten();
            let head: Option<(i64, String)> = conn.query_row("SELECT seq, hash FROM audit_head WHERE id = 1", params![], |r| Ok((r.get(0)?, r.get(1)?))).ok();
            (keyed_since, head)
        };
        let rows = audit_rows_in(conn, after_seq, Some(limit))?;
        let end = match self.walk(&rows, after_seq + 1, after_hash, keyed_since) {
            Ok(end) => end,
            Err(b) => return Ok(Err(b)),
        };
        let last = end.last.clone().unwrap_or((after_seq, after_hash.to_string()));
        let at_end = rows.len() < limit;
        if at_end && let Err(b) = check_head(head, &WalkEnd { next_seq: end.next_seq, last: Some(last.clone()) }) {
            return Ok(Err(b));
        }
        Ok(Ok(AuditProgress { seq: last.0, hash: last.1, checked: rows.len(), at_end }))
    }

    /// Runs raw SQL against the database. Only for tests that tamper with the trail.
    #[doc(hidden)]
    pub fn execute_raw(&self, sql: &str) -> Result<usize, StoreError> {
        self.db.conn()?.execute(sql, params![])
    }

    /// Every row of a raw query, each column as text (`None` for NULL). Only for tests that
    /// look at what the database holds.
    #[doc(hidden)]
    pub fn query_raw(&self, sql: &str) -> Result<Vec<Vec<Option<String>>>, StoreError> {
        use super::db::Value;
        let rows = self.read()?.query(sql, params![])?;
        Ok(rows
            .iter()
            .map(|r| {
                r.values()
                    .iter()
                    .map(|v| match v {
                        Value::Null => None,
                        Value::Int(n) => Some(n.to_string()),
                        Value::Real(f) => Some(f.to_string()),
                        Value::Text(t) => Some(t.clone()),
                    })
                    .collect()
            })
            .collect())
    }
}

fn audit_rows_in(conn: &Conn, after: i64, limit: Option<usize>) -> Result<Vec<Row>, StoreError> {
    let limit = limit.map_or(i64::MAX, |l| i64::try_from(l).unwrap_or(i64::MAX));
    let rows = conn.query_map(
        "SELECT seq, time, actor, kind, subject, data, prev_hash, hash, scheme FROM audit WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        params![after, limit],
        |r| {
            Ok(Row {
                seq: r.get(0)?,
                time: r.get(1)?,
                actor: r.get(2)?,
                kind: r.get(3)?,
                subject: r.get(4)?,
                data: r.get(5)?,
                prev_hash: r.get(6)?,
                hash: r.get(7)?,
                scheme: r.get(8)?,
            })
        },
    )?;
    Ok(rows)
}

/// Every approval, decision, action and case state in the tables must have the audit
/// entry that produced it.
fn reconcile(conn: &Conn, rows: &[Row]) -> Result<Vec<String>, StoreError> {
    let mut kinds_by_subject: HashMap<&str, HashSet<&str>> = HashMap::new();
    let mut decisions: HashSet<(String, String, String)> = HashSet::new();
    let mut last_case_state: HashMap<String, String> = HashMap::new();
    let mut outcomes: HashMap<&str, String> = HashMap::new();
    let mut requested_cases: HashSet<String> = HashSet::new();
    // Why each approval ended undecided; TTL expiry wrote no reason before reasons were kept.
    let mut expiry_reasons: HashMap<&str, String> = HashMap::new();
    for r in rows {
        kinds_by_subject.entry(r.subject.as_str()).or_default().insert(r.kind.as_str());
        let data: Value = serde_json::from_str(&r.data).unwrap_or(Value::Null);
        match r.kind.as_str() {
            "approval.decision" => {
                // Actors are `<name>:<key id>`, or `policy:<rule id>`.
                let key_id = if r.actor.starts_with("policy:") { r.actor.clone() } else { r.actor.rsplit(':').next().unwrap_or_default().to_string() };
                decisions.insert((r.subject.clone(), key_id, data["decision"].as_str().unwrap_or_default().to_string()));
            }
            "case.transition" => {
                last_case_state.insert(r.subject.clone(), data["to"].as_str().unwrap_or_default().to_string());
            }
            "action.outcome" => {
                outcomes.insert(r.subject.as_str(), data["status"].as_str().unwrap_or_default().to_string());
            }
            "request.received" => {
                requested_cases.insert(data["case_id"].as_str().unwrap_or_default().to_string());
            }
            "approval.expired" => {
                expiry_reasons.insert(r.subject.as_str(), data["reason"].as_str().unwrap_or("expired").to_string());
            }
            _ => {}
        }
    }
    let has = |subject: &str, kind: &str| kinds_by_subject.get(subject).is_some_and(|k| k.contains(kind));
    let mut out = Vec::new();

    let approvals = conn.query_map("SELECT id, recommendation_id, status, closed_reason FROM approvals ORDER BY created_at, id", params![], |r| {
        Ok((r.get::<String>(0)?, r.get::<String>(1)?, r.get::<String>(2)?, r.get::<Option<String>>(3)?))
    })?;
    for (id, rec, status, reason) in &approvals {
        if !has(rec, "recommendation.ready") && !has(rec, "recommendation.rejected") {
            out.push(format!("approval {id}: no audit entry records the recommendation {rec} that asked for it"));
        }
        if status != "pending" && !has(id, &format!("approval.{status}")) {
            out.push(format!("approval {id} is {status} in the tables, but no audit entry records it"));
        }
        if let (Some(reason), Some(audited)) = (reason, expiry_reasons.get(id.as_str()))
            && reason != audited
        {
            out.push(format!("approval {id} ended as {reason} in the tables, but its audit entry says {audited}"));
        }
    }
    let rows_d = conn.query_map("SELECT approval_id, actor, decision FROM approval_decisions ORDER BY at", params![], |r| {
        Ok((r.get::<String>(0)?, r.get::<String>(1)?, r.get::<String>(2)?))
    })?;
    for (apr, actor, decision) in rows_d {
        if !decisions.contains(&(apr.clone(), actor.clone(), decision.clone())) {
            out.push(format!("decision `{decision}` by {actor} on approval {apr} has no audit entry"));
        }
    }
    let actions = conn.query_map("SELECT id, recommendation_id, approval_id, status FROM actions ORDER BY created_at, id", params![], |r| {
        Ok((r.get::<String>(0)?, r.get::<String>(1)?, r.get::<Option<String>>(2)?, r.get::<String>(3)?))
    })?;
    for (id, rec, approval, status) in actions {
        // Each status is explained by the entry that set it, under the subject that
        // entry names: an outcome and a cancellation name the action, a decision or an
        // expiry its approval, an automatic approval the recommendation.
        let explained = match (status.as_str(), &approval) {
            ("executed" | "failed", _) => outcomes.get(id.as_str()).is_some_and(|s| *s == status),
            ("cancelled", _) => has(&id, "action.cancelled"),
            ("approved", None) | ("pending_approval", _) => has(&rec, "recommendation.ready"),
            ("approved" | "rejected" | "expired", Some(apr)) => has(apr, &format!("approval.{status}")),
            _ => false,
        };
        if !explained {
            out.push(format!("action {id} is {status} in the tables, but no audit entry records it"));
        }
    }
    let cases = conn.query_map("SELECT id, state FROM cases ORDER BY created_at, id", params![], |r| Ok((r.get::<String>(0)?, r.get::<String>(1)?)))?;
    for (id, state) in cases {
        match last_case_state.get(&id) {
            Some(to) if *to == state => {}
            // A case opens as `new` from a recommend request or from the alert stream.
            None if state == "new" && (requested_cases.contains(&id) || has(&id, "case.opened")) => {}
            Some(to) => out.push(format!("case {id} is {state} in the tables, but its last audited transition is to {to}")),
            None => out.push(format!("case {id} is {state} in the tables, but no audit entry opened or moved it")),
        }
    }
    for id in conn.query_map("SELECT id FROM api_keys WHERE revoked_at IS NOT NULL", params![], |r| r.get::<String>(0))? {
        if !has(&id, "key.revoked") {
            out.push(format!("key {id} is revoked in the tables, but no audit entry records it"));
        }
    }
    Ok(out)
}
