//! The audit trail: an append-only SHA-256 hash chain. Each entry's hash covers its own
//! fields and the previous entry's hash, so editing, deleting or reordering any entry
//! breaks the chain at that entry.

use rusqlite::{OptionalExtension, Transaction, params};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{Store, StoreError, now};

pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

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

fn entry_hash(seq: i64, time: &str, actor: &str, kind: &str, subject: &str, data: &str, prev: &str) -> String {
    let mut h = Sha256::new();
    for part in [seq.to_string().as_str(), time, actor, kind, subject, data, prev] {
        h.update(part.as_bytes());
        h.update([0x1f]);
    }
    hex::encode(h.finalize())
}

/// Appends one entry inside the caller's transaction.
pub(crate) fn append(tx: &Transaction, actor: &str, kind: &str, subject: &str, data: &Value) -> Result<i64, StoreError> {
    let (last_seq, prev): (i64, String) =
        tx.query_row("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap_or((0, GENESIS.to_string()));
    let seq = last_seq + 1;
    let time = now();
    let data = serde_json::to_string(data)?;
    let hash = entry_hash(seq, &time, actor, kind, subject, &data, &prev);
    tx.execute(
        "INSERT INTO audit (seq, time, actor, kind, subject, data, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![seq, time, actor, kind, subject, data, prev, hash],
    )?;
    // The head lets verification notice entries cut off the end of the chain.
    tx.execute(
        "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?1, ?2) ON CONFLICT(id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
        params![seq, hash],
    )?;
    Ok(seq)
}

type Row = (i64, String, String, String, String, String, String, String);

impl Store {
    /// Appends one entry on its own.
    pub fn audit(&self, actor: &str, kind: &str, subject: &str, data: &Value) -> Result<i64, StoreError> {
        self.tx(|tx| append(tx, actor, kind, subject, data))
    }

    fn audit_rows(&self, after: i64, limit: Option<usize>) -> Result<Vec<Row>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare("SELECT seq, time, actor, kind, subject, data, prev_hash, hash FROM audit WHERE seq > ?1 ORDER BY seq LIMIT ?2")?;
        let limit = limit.map(|l| l as i64).unwrap_or(-1);
        let rows = stmt
            .query_map(params![after, limit], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    pub fn audit_entries(&self, after: i64, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        self.audit_rows(after, Some(limit))?
            .into_iter()
            .map(|(seq, time, actor, kind, subject, data, prev_hash, hash)| {
                Ok(AuditEntry { seq, time, actor, kind, subject, data: serde_json::from_str(&data).unwrap_or(Value::String(data)), prev_hash, hash })
            })
            .collect()
    }

    /// Walks the whole chain; returns the first broken entry, or the number of entries checked.
    pub fn verify_audit(&self) -> Result<Result<usize, ChainBreak>, StoreError> {
        let rows = self.audit_rows(0, None)?;
        let mut prev = GENESIS.to_string();
        let mut expected_seq = 1;
        for (seq, time, actor, kind, subject, data, prev_hash, hash) in &rows {
            if *seq != expected_seq {
                return Ok(Err(ChainBreak { seq: expected_seq, reason: format!("entry {expected_seq} is missing (next is {seq})") }));
            }
            if *prev_hash != prev {
                return Ok(Err(ChainBreak { seq: *seq, reason: "prev_hash does not match the previous entry's hash".into() }));
            }
            if entry_hash(*seq, time, actor, kind, subject, data, prev_hash) != *hash {
                return Ok(Err(ChainBreak { seq: *seq, reason: "hash does not match the entry's content".into() }));
            }
            prev = hash.clone();
            expected_seq += 1;
        }
        let head: Option<(i64, String)> = {
            let conn = self.conn()?;
            conn.query_row("SELECT seq, hash FROM audit_head WHERE id = 1", [], |r| Ok((r.get(0)?, r.get(1)?))).ok()
        };
        if let Some((head_seq, head_hash)) = head {
            let last = rows.last().map(|r| (r.0, r.7.clone()));
            if last.as_ref().map(|l| l.0) != Some(head_seq) || last.map(|l| l.1) != Some(head_hash) {
                return Ok(Err(ChainBreak { seq: expected_seq.min(head_seq), reason: format!("the chain ends before its recorded head (entry {head_seq})") }));
            }
        }
        Ok(Ok(rows.len()))
    }

    /// Checks at most `limit` entries after `after_seq`, the first of which must chain to
    /// `after_hash`, and, once the end is reached, that the recorded head is the last entry
    /// checked. Lets the chain be verified a batch at a time, holding the database only
    /// briefly, and resumed where the last check ended.
    pub fn verify_audit_from(&self, after_seq: i64, after_hash: &str, limit: usize) -> Result<Result<AuditProgress, ChainBreak>, StoreError> {
        let conn = self.conn()?;
        // The entry the last check ended on must still be there, unchanged: otherwise a
        // cut or rewritten end of the chain would go unseen by checks that resume after it.
        if after_seq > 0 {
            let anchor: Option<String> = conn.query_row("SELECT hash FROM audit WHERE seq = ?1", params![after_seq], |r| r.get(0)).optional()?;
            if anchor.as_deref() != Some(after_hash) {
                return Ok(Err(ChainBreak { seq: after_seq, reason: "the last verified entry was changed or removed".into() }));
            }
        }
        let mut stmt = conn.prepare("SELECT seq, time, actor, kind, subject, data, prev_hash, hash FROM audit WHERE seq > ?1 ORDER BY seq LIMIT ?2")?;
        let rows: Vec<Row> = stmt
            .query_map(params![after_seq, limit as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        let mut last = (after_seq, after_hash.to_string());
        for (seq, time, actor, kind, subject, data, prev_hash, hash) in &rows {
            let expected = last.0 + 1;
            if *seq != expected {
                return Ok(Err(ChainBreak { seq: expected, reason: format!("entry {expected} is missing (next is {seq})") }));
            }
            if *prev_hash != last.1 {
                return Ok(Err(ChainBreak { seq: *seq, reason: "prev_hash does not match the previous entry's hash".into() }));
            }
            if entry_hash(*seq, time, actor, kind, subject, data, prev_hash) != *hash {
                return Ok(Err(ChainBreak { seq: *seq, reason: "hash does not match the entry's content".into() }));
            }
            last = (*seq, hash.clone());
        }
        let at_end = rows.len() < limit;
        if at_end {
            let head: Option<(i64, String)> = conn.query_row("SELECT seq, hash FROM audit_head WHERE id = 1", [], |r| Ok((r.get(0)?, r.get(1)?))).ok();
            if let Some((head_seq, head_hash)) = head
                && (head_seq != last.0 || head_hash != last.1)
            {
                return Ok(Err(ChainBreak { seq: (last.0 + 1).min(head_seq), reason: format!("the chain ends before its recorded head (entry {head_seq})") }));
            }
        }
        Ok(Ok(AuditProgress { seq: last.0, hash: last.1, checked: rows.len(), at_end }))
    }

    /// Runs raw SQL against the database. Only for tests that tamper with the trail.
    #[doc(hidden)]
    pub fn execute_raw(&self, sql: &str) -> Result<usize, StoreError> {
        Ok(self.conn()?.execute(sql, [])?)
    }
}
