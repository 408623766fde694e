//! The alert stream in the store (contract section 10): dedup by fingerprint, correlation
//! by pivot into open cases, and the queue of case recommendations that survives a
//! restart. One batch is one transaction: a refused batch leaves nothing behind.

use super::db::params;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use super::approvals::stamp;
use super::audit::append;
use super::cases::{CaseState, case_state, set_state};
use super::{Store, StoreError, Tx, new_id, now};
use crate::cases::lifecycle;
use crate::severity::Severity;

/// One valid, redacted alert of a batch, with what the stream rules made of it.
pub struct StreamAlert {
    pub alert_id: String,
    pub time: DateTime<Utc>,
    pub fingerprint: String,
    pub pivots: Vec<String>,
    pub title: String,
    pub severity: Option<Severity>,
    /// The alert as stored: redacted, placeholders pinned to fingerprints.
    pub raw: Value,
}

/// How a window reads: the policy's dedup and correlation windows, and the pivot bound.
pub struct Windows {
    pub dedup: Duration,
    pub correlation: Duration,
    pub max_open_cases_per_pivot: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    NewCase,
    Attached,
    Duplicate,
}

#[derive(Debug, Clone, Serialize)]
pub struct IngestResult {
    pub alert_id: String,
    pub fingerprint: String,
    pub outcome: Outcome,
    pub case_id: String,
    pub related_cases: Vec<String>,
}

const OPEN: &str = "c.state NOT IN ('closed', 'learned')";

impl Store {
    /// Takes a batch in order, in one transaction: each alert is a duplicate of one an
    /// open case holds, joins the most recently active open case sharing a pivot, or
    /// opens a case. Every case whose alerts changed is queued for a recommendation.
    pub fn ingest(&self, request_id: &str, actor: &str, batch: &[StreamAlert], w: &Windows) -> Result<Vec<IngestResult>, StoreError> {
        self.tx(|tx| {
            let received = now();
            let mut out = Vec::with_capacity(batch.len());
            for a in batch {
                out.push(ingest_one(tx, request_id, actor, &received, a, w)?);
            }
            for r in &out {
                if r.outcome != Outcome::Duplicate {
                    enqueue(tx, &r.case_id, &received)?;
                }
            }
            Ok(out)
        })
    }

    /// Queues a fresh recommendation of `case_id` (after a merge, a split, a new alert).
    pub fn enqueue_recommendation(&self, case_id: &str) -> Result<(), StoreError> {
        self.tx(|tx| enqueue(tx, case_id, &now()))
    }

    /// Claims the oldest queued case no worker holds, for worker `by`: one in flight per
    /// case. A claim not renewed since `stale_before` was left by a process that died and
    /// is taken over.
    pub fn claim_queued(&self, at: &str, stale_before: &str, by: &str) -> Result<Option<(String, i64)>, StoreError> {
        // Replicas share the queue: a row another worker is claiming is skipped, not waited on.
        self.row_locked_tx(|tx| {
            let next: Option<(String, i64)> = tx
                .query_opt(
                    "SELECT case_id, generation FROM recommendation_queue WHERE claimed_at IS NULL OR claimed_at < ?1 ORDER BY queued_at, case_id LIMIT 1 FOR UPDATE SKIP LOCKED",
                    params![stale_before],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?;
            if let Some((case_id, generation)) = &next {
                tx.execute(
                    "UPDATE recommendation_queue SET claimed_at = ?1, claimed_generation = ?2, claimed_by = ?3 WHERE case_id = ?4",
                    params![at, generation, by, case_id],
                )?;
            }
            Ok(next)
        })
    }

    /// Ends a claim: the entry goes when nothing changed since it was claimed; otherwise
    /// it waits for the next worker, which reads the newer alerts.
    pub fn finish_queued(&self, case_id: &str, generation: i64) -> Result<(), StoreError> {
        self.row_locked_tx(|tx| {
            let gone = tx.execute("DELETE FROM recommendation_queue WHERE case_id = ?1 AND generation = ?2", params![case_id, generation])?;
            if gone == 0 {
                tx.execute(
                    "UPDATE recommendation_queue SET claimed_at = NULL, claimed_generation = NULL, claimed_by = NULL WHERE case_id = ?1",
                    params![case_id],
                )?;
            }
            Ok(())
        })
    }

    /// Keeps a running claim of worker `by` from going stale.
    pub fn renew_claim(&self, case_id: &str, at: &str, by: &str) -> Result<(), StoreError> {
        self.row_locked_tx(|tx| {
            tx.execute("UPDATE recommendation_queue SET claimed_at = ?1 WHERE case_id = ?2 AND claimed_by = ?3", params![at, case_id, by]).map(drop)
        })
    }

    /// Claims left by a process that stopped: free again for this one. On a shared
    /// database the other replicas' claims are live, so only this worker's own (`by`, made
    /// by its previous process) are released; a replica that never comes back has its
    /// claims taken over once they go stale, by [`Store::claim_queued`].
    pub fn release_claims(&self, by: &str) -> Result<usize, StoreError> {
        let (sql, params) = if self.is_shared() {
            ("UPDATE recommendation_queue SET claimed_at = NULL, claimed_generation = NULL, claimed_by = NULL WHERE claimed_by = ?1", params![by])
        } else {
            ("UPDATE recommendation_queue SET claimed_at = NULL, claimed_generation = NULL, claimed_by = NULL WHERE claimed_at IS NOT NULL", params![])
        };
        self.tx(|tx| tx.execute(sql, params))
    }

    /// The name this data dir's queue worker claims work under, the same across restarts
    /// (kept in `queue-worker.id`), so that a restarted replica knows its own old claims.
    pub fn queue_worker(&self) -> Result<String, StoreError> {
        let path = self.data_dir.join("queue-worker.id");
        let io = |source| StoreError::Io { path: path.display().to_string(), source };
        match std::fs::read_to_string(&path) {
            Ok(id) if !id.trim().is_empty() => Ok(id.trim().to_string()),
            // Missing, or left empty by a process that died while writing it: a new name.
            // No claim was made under a name that was never read back, so none is orphaned.
            Ok(_) => Self::new_queue_worker(&path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Self::new_queue_worker(&path),
            Err(e) => Err(io(e)),
        }
    }

    fn new_queue_worker(path: &std::path::Path) -> Result<String, StoreError> {
        let id = super::new_id("wkr");
        std::fs::write(path, format!("{id}\n")).map_err(|source| StoreError::Io { path: path.display().to_string(), source })?;
        Ok(id)
    }

    /// Queued case recommendations (waiting or running) and the oldest one's queue time.
    pub fn queue_depth(&self) -> Result<(usize, Option<String>), StoreError> {
        let conn = self.read()?;
        conn.query_row("SELECT COUNT(*), MIN(queued_at) FROM recommendation_queue", params![], |r| Ok((r.get::<i64>(0)? as usize, r.get(1)?)))
    }

    /// Cases related to `case_id` (a closed case an alert matched, a merge).
    pub fn related_cases(&self, case_id: &str) -> Result<Vec<String>, StoreError> {
        let conn = self.read()?;
        let rows = conn.query_map("SELECT related_id FROM case_relations WHERE case_id = ?1 ORDER BY related_id", params![case_id], |r| r.get(0))?;
        Ok(rows)
    }

    /// Moves the alerts of the open cases `from` into `into`; each of them closes with
    /// `merged_into`. Both are open, or nothing moves.
    pub fn merge_cases(&self, into: &str, from: &[String], actor: &str) -> Result<(), StoreError> {
        self.tx(|tx| {
            require_open(tx, into)?;
            for other in from {
                if other == into {
                    return Err(StoreError::MergeIntoItself(into.to_string()));
                }
                require_open(tx, other)?;
                move_alerts(tx, other, into, None)?;
                tx.execute("UPDATE cases SET merged_into = ?1 WHERE id = ?2", params![into, other])?;
                relate(tx, into, other, "merged")?;
                super::approvals::settle_for_closure(tx, other, actor)?;
                set_state(tx, other, CaseState::Closed, actor, &format!("merged into {into}"))?;
                tx.execute("DELETE FROM recommendation_queue WHERE case_id = ?1", params![other])?;
                append(tx, actor, "case.merged", other, &json!({"into": into}))?;
            }
            refresh_case_times(tx, into)?;
            set_state(tx, into, CaseState::Correlated, actor, &format!("merged {}", from.join(", ")))?;
            enqueue(tx, into, &now())
        })
    }

    /// Moves `alert_ids` of an open case into a new case, and returns its id.
    pub fn split_case(&self, case_id: &str, alert_ids: &[String], actor: &str) -> Result<String, StoreError> {
        self.tx(|tx| {
            require_open(tx, case_id)?;
            let total: i64 = tx.query_row("SELECT COUNT(*) FROM case_alerts WHERE case_id = ?1", params![case_id], |r| r.get(0))?;
            let mut found = 0;
            for id in alert_ids {
                found += tx.query_row("SELECT COUNT(*) FROM case_alerts WHERE case_id = ?1 AND alert_id = ?2", params![case_id, id], |r| r.get::<i64>(0))?;
            }
            if found < alert_ids.len() as i64 {
                return Err(StoreError::NotFound(format!("one of {} in case {case_id}", alert_ids.join(", "))));
            }
            if found >= total {
                return Err(StoreError::SplitEmptiesCase(case_id.to_string()));
            }
            let title: String = tx.query_row("SELECT title FROM cases WHERE id = ?1", params![case_id], |r| r.get(0))?;
            let new = new_id("case");
            open_case(tx, &new, &title, actor, &format!("split from {case_id}"))?;
            move_alerts(tx, case_id, &new, Some(alert_ids))?;
            relate(tx, &new, case_id, "split")?;
            refresh_case_times(tx, case_id)?;
            refresh_case_times(tx, &new)?;
            append(tx, actor, "case.split", case_id, &json!({"into": new, "alerts": alert_ids}))?;
            set_state(tx, case_id, CaseState::Correlated, actor, &format!("alerts split into {new}"))?;
            let at = now();
            enqueue(tx, case_id, &at)?;
            enqueue(tx, &new, &at)?;
            Ok(new)
        })
    }
}

fn require_open(tx: &Tx, case_id: &str) -> Result<(), StoreError> {
    if lifecycle::is_open(case_state(tx, case_id)?) { Ok(()) } else { Err(StoreError::CaseClosed(case_id.to_string())) }
}

fn ingest_one(tx: &Tx, request_id: &str, actor: &str, received: &str, a: &StreamAlert, w: &Windows) -> Result<IngestResult, StoreError> {
    let t = stamp(a.time);
    let result = |outcome, case_id: String, related_cases| IngestResult {
        alert_id: a.alert_id.clone(),
        fingerprint: a.fingerprint.clone(),
        outcome,
        case_id,
        related_cases,
    };

    // An id names one alert: sent again while a case holds it, it is that alert again.
    if let Some(held) = held_alert(tx, &a.alert_id)? {
        if held.fingerprint.as_deref() == Some(a.fingerprint.as_str()) && within(&held.last_seen, a.time, w.dedup) {
            count_sighting(tx, request_id, actor, a, &held)?;
            return Ok(result(Outcome::Duplicate, held.case_id, Vec::new()));
        }
        replace_alert(tx, request_id, actor, received, a, &held)?;
        return Ok(result(Outcome::Attached, held.case_id, Vec::new()));
    }

    // Dedup: the same event in an open case, seen within the window of its last sighting.
    let seen: Option<Held> = tx.query_opt(
        &format!(
            "SELECT ca.case_id, ca.seq, ca.fingerprint, ca.first_seen, ca.last_seen FROM case_alerts ca JOIN cases c ON c.id = ca.case_id
                 WHERE ca.fingerprint = ?1 AND {OPEN} ORDER BY ca.last_seen DESC LIMIT 1"
        ),
        params![a.fingerprint],
        held_row,
    )?;
    if let Some(held) = seen
        && within(&held.last_seen, a.time, w.dedup)
    {
        count_sighting(tx, request_id, actor, a, &held)?;
        return Ok(result(Outcome::Duplicate, held.case_id, Vec::new()));
    }

    // Correlation: pivots that still tell cases apart, then the most recently active open
    // case that saw one of them within the window.
    let (lo, hi) = (stamp(a.time - w.correlation), stamp(a.time + w.correlation));
    let mut usable = Vec::new();
    for p in &a.pivots {
        let open_cases: i64 =
            tx.query_row(&format!("SELECT COUNT(*) FROM case_pivots cp JOIN cases c ON c.id = cp.case_id WHERE cp.pivot = ?1 AND {OPEN}"), params![p], |r| {
                r.get(0)
            })?;
        if open_cases as usize <= w.max_open_cases_per_pivot {
            usable.push(p.as_str());
        }
    }
    let mut target: Option<(String, String)> = None;
    let mut related: Vec<String> = Vec::new();
    for p in &usable {
        let rows = tx.query_map(
            "SELECT cp.case_id, c.state, COALESCE(c.newest_alert_at, c.created_at) FROM case_pivots cp JOIN cases c ON c.id = cp.case_id
             WHERE cp.pivot = ?1 AND cp.last_time >= ?2 AND cp.first_time <= ?3",
            params![p, lo, hi],
            |r| Ok((r.get::<String>(0)?, r.get::<String>(1)?, r.get::<String>(2)?)),
        )?;
        for row in rows {
            let (case_id, state, active) = row;
            if lifecycle::is_open(super::cases::parse_state(&state)?) {
                if target.as_ref().is_none_or(|(_, best)| active > *best) {
                    target = Some((case_id, active));
                }
            } else if !related.contains(&case_id) {
                related.push(case_id);
            }
        }
    }
    related.sort();

    let (outcome, case_id) = match target {
        Some((case_id, _)) => (Outcome::Attached, case_id),
        None => {
            let case_id = new_id("case");
            open_case(tx, &case_id, &a.title, actor, "opened by the alert stream")?;
            for r in &related {
                relate(tx, &case_id, r, "shares a pivot with this closed case")?;
            }
            (Outcome::NewCase, case_id)
        }
    };
    let seq: i64 = tx.query_row("SELECT COALESCE(MAX(seq), 0) + 1 FROM case_alerts WHERE case_id = ?1", params![case_id], |r| r.get(0))?;
    tx.execute(
        "INSERT INTO case_alerts (case_id, seq, alert_id, alert, received_at, request_id, fingerprint, occurrences, first_seen, last_seen, alert_time, pivots)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, ?8, ?8, ?8, ?9)",
        params![case_id, seq, a.alert_id, serde_json::to_string(&a.raw)?, received, request_id, a.fingerprint, t, serde_json::to_string(&a.pivots)?],
    )?;
    touch_pivots(tx, &case_id, &a.pivots, &t)?;
    tx.execute(
        "UPDATE cases SET newest_alert_at = CASE WHEN newest_alert_at IS NULL OR newest_alert_at < ?1 THEN ?1 ELSE newest_alert_at END,
                          first_alert_at = CASE WHEN first_alert_at IS NULL OR first_alert_at > ?1 THEN ?1 ELSE first_alert_at END,
         severity = CASE WHEN severity IS NULL THEN ?2 ELSE severity END WHERE id = ?3",
        params![t, a.severity.map(|s| s.as_str()), case_id],
    )?;
    let kind = if outcome == Outcome::Attached { "alert.attached" } else { "alert.new_case" };
    append(tx, actor, kind, &a.alert_id, &json!({"case_id": case_id, "fingerprint": a.fingerprint, "request_id": request_id, "related_cases": related}))?;
    if outcome == Outcome::Attached {
        set_state(tx, &case_id, CaseState::Correlated, actor, &format!("alert {} attached", a.alert_id))?;
    }
    let related = if outcome == Outcome::Attached { Vec::new() } else { related };
    Ok(result(outcome, case_id, related))
}

/// A stored alert an open case holds, found by its id.
struct Held {
    case_id: String,
    seq: i64,
    fingerprint: Option<String>,
    first_seen: String,
    last_seen: String,
}

/// The open case's alert of this id, its newest row when an older version left two
/// (alerts recorded by `POST /v1/recommend` have no fingerprint or sightings).
fn held_alert(tx: &Tx, alert_id: &str) -> Result<Option<Held>, StoreError> {
    tx.query_opt(
        &format!(
            "SELECT ca.case_id, ca.seq, ca.fingerprint, COALESCE(ca.first_seen, ca.received_at), COALESCE(ca.last_seen, ca.received_at)
             FROM case_alerts ca JOIN cases c ON c.id = ca.case_id WHERE ca.alert_id = ?1 AND {OPEN} ORDER BY ca.seq DESC LIMIT 1"
        ),
        params![alert_id],
        held_row,
    )
}

fn held_row(r: &super::db::Row) -> Result<Held, StoreError> {
    Ok(Held { case_id: r.get(0)?, seq: r.get(1)?, fingerprint: r.get(2)?, first_seen: r.get(3)?, last_seen: r.get(4)? })
}

/// The same event seen again: counted on the stored alert and audited, not stored.
fn count_sighting(tx: &Tx, request_id: &str, actor: &str, a: &StreamAlert, held: &Held) -> Result<(), StoreError> {
    let t = stamp(a.time);
    let (first, last) = (held.first_seen.as_str().min(t.as_str()), held.last_seen.as_str().max(t.as_str()));
    let (case_id, seq) = (held.case_id.as_str(), held.seq);
    tx.execute(
        "UPDATE case_alerts SET occurrences = occurrences + 1, first_seen = ?1, last_seen = ?2 WHERE case_id = ?3 AND seq = ?4",
        params![first, last, case_id, seq],
    )?;
    touch_pivots(tx, case_id, &a.pivots, &t)?;
    append(tx, actor, "alert.duplicate", &a.alert_id, &json!({"case_id": case_id, "fingerprint": a.fingerprint, "request_id": request_id}))?;
    Ok(())
}

/// An alert id sent again with other content: the newest sending replaces the stored
/// alert in its case, so a case never holds two alerts of one id (evidence refs
/// `alert:<id>#…`, the recommendation and the dataset lines a closure exports name
/// alerts by id). What it replaced is audited (`alert.replaced`, both fingerprints); the
/// case's pivots and times follow the new content, and the case is queued for a fresh
/// recommendation like any change to its alerts.
fn replace_alert(tx: &Tx, request_id: &str, actor: &str, received: &str, a: &StreamAlert, held: &Held) -> Result<(), StoreError> {
    let t = stamp(a.time);
    tx.execute(
        "UPDATE case_alerts SET alert = ?1, received_at = ?2, request_id = ?3, fingerprint = ?4, occurrences = 1, first_seen = ?5, last_seen = ?5,
                                alert_time = ?5, pivots = ?6 WHERE case_id = ?7 AND seq = ?8",
        params![serde_json::to_string(&a.raw)?, received, request_id, a.fingerprint, t, serde_json::to_string(&a.pivots)?, held.case_id, held.seq],
    )?;
    // Older rows of the id, left before ids were kept unique in a case.
    tx.execute("DELETE FROM case_alerts WHERE case_id = ?1 AND alert_id = ?2 AND seq <> ?3", params![held.case_id, a.alert_id, held.seq])?;
    rebuild_pivots(tx, &held.case_id)?;
    refresh_case_times(tx, &held.case_id)?;
    append(
        tx,
        actor,
        "alert.replaced",
        &a.alert_id,
        &json!({"case_id": held.case_id, "fingerprint": a.fingerprint, "replaced_fingerprint": held.fingerprint, "request_id": request_id}),
    )?;
    set_state(tx, &held.case_id, CaseState::Correlated, actor, &format!("alert {} replaced by a newer sending of the same id", a.alert_id))
}

/// Whether `t` is within `window` of the stored time `at`.
fn within(at: &str, t: DateTime<Utc>, window: Duration) -> bool {
    DateTime::parse_from_rfc3339(at).is_ok_and(|at| (t - at.with_timezone(&Utc)).abs() <= window)
}

fn open_case(tx: &Tx, case_id: &str, title: &str, actor: &str, reason: &str) -> Result<(), StoreError> {
    let at = now();
    tx.execute(
        "INSERT INTO cases (id, created_at, updated_at, state, title, created_by) VALUES (?1, ?2, ?2, 'new', ?3, ?4)",
        params![case_id, at, title, actor],
    )?;
    tx.execute(
        "INSERT INTO case_history (case_id, seq, at, from_state, to_state, actor, reason) VALUES (?1, 1, ?2, NULL, 'new', ?3, ?4)",
        params![case_id, at, actor, reason],
    )?;
    append(tx, actor, "case.opened", case_id, &json!({"reason": reason}))?;
    Ok(())
}

fn touch_pivots(tx: &Tx, case_id: &str, pivots: &[String], t: &str) -> Result<(), StoreError> {
    for p in pivots {
        tx.execute(
            "INSERT INTO case_pivots (pivot, case_id, first_time, last_time) VALUES (?1, ?2, ?3, ?3)
         ON CONFLICT (pivot, case_id) DO UPDATE SET
           first_time = CASE WHEN excluded.first_time < case_pivots.first_time THEN excluded.first_time ELSE case_pivots.first_time END,
           last_time = CASE WHEN excluded.last_time > case_pivots.last_time THEN excluded.last_time ELSE case_pivots.last_time END",
            params![p, case_id, t],
        )?;
    }
    Ok(())
}

fn relate(tx: &Tx, case_id: &str, other: &str, why: &str) -> Result<(), StoreError> {
    tx.execute("INSERT INTO case_relations (case_id, related_id, why) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING", params![case_id, other, why])?;
    tx.execute("INSERT INTO case_relations (case_id, related_id, why) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING", params![other, case_id, why])?;
    Ok(())
}

pub(crate) fn enqueue(tx: &Tx, case_id: &str, at: &str) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO recommendation_queue (case_id, queued_at, generation) VALUES (?1, ?2, 1)
         ON CONFLICT (case_id) DO UPDATE SET generation = recommendation_queue.generation + 1",
        params![case_id, at],
    )?;
    Ok(())
}

/// Moves alerts (all, or those with `ids`) and their pivots from one case to another.
fn move_alerts(tx: &Tx, from: &str, to: &str, ids: Option<&[String]>) -> Result<(), StoreError> {
    let rows: Vec<(i64, String)> =
        { tx.query_map("SELECT seq, alert_id FROM case_alerts WHERE case_id = ?1 ORDER BY seq", params![from], |r| Ok((r.get(0)?, r.get(1)?)))? };
    let mut next: i64 = tx.query_row("SELECT COALESCE(MAX(seq), 0) FROM case_alerts WHERE case_id = ?1", params![to], |r| r.get(0))?;
    for (seq, _) in rows.iter().filter(|(_, id)| ids.is_none_or(|ids| ids.contains(id))) {
        next += 1;
        tx.execute("UPDATE case_alerts SET case_id = ?1, seq = ?2 WHERE case_id = ?3 AND seq = ?4", params![to, next, from, seq])?;
    }
    // Pivots follow the alerts: rebuilt for both cases from what each now holds.
    for case_id in [from, to] {
        rebuild_pivots(tx, case_id)?;
    }
    Ok(())
}

/// A case's pivots from its stored alerts (after alerts moved between cases): the pivots
/// each alert had when it arrived, at its time.
fn rebuild_pivots(tx: &Tx, case_id: &str) -> Result<(), StoreError> {
    tx.execute("DELETE FROM case_pivots WHERE case_id = ?1", params![case_id])?;
    let alerts: Vec<(Option<String>, Option<String>, Option<String>)> = {
        tx.query_map("SELECT pivots, first_seen, last_seen FROM case_alerts WHERE case_id = ?1", params![case_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
    };
    for (pivots, first, last) in alerts {
        let (Some(pivots), Some(first), Some(last)) = (pivots, first, last) else { continue };
        let pivots: Vec<String> = serde_json::from_str(&pivots)?;
        touch_pivots(tx, case_id, &pivots, &first)?;
        touch_pivots(tx, case_id, &pivots, &last)?;
    }
    Ok(())
}

/// A case's first and newest alert times, from what it holds.
fn refresh_case_times(tx: &Tx, case_id: &str) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE cases SET first_alert_at = (SELECT MIN(COALESCE(first_seen, received_at)) FROM case_alerts WHERE case_id = ?1),
                          newest_alert_at = (SELECT MAX(COALESCE(last_seen, received_at)) FROM case_alerts WHERE case_id = ?1) WHERE id = ?1",
        params![case_id],
    )?;
    Ok(())
}
