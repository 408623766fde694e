//! Cases: the alerts they group, their recommendations, their state and its history.

use super::db::{Row, params};
use serde::Serialize;
use serde_json::{Value, json};

use super::approvals::{DecisionError, NewAction, NewApproval, insert_action, insert_approval, pre_approve, supersede_older};
use super::audit::append;
use super::{Store, StoreError, Tx, now};
use crate::alert::Alert;
use crate::cases::lifecycle;
use crate::severity::Severity;

pub use crate::cases::lifecycle::CaseState;
pub use crate::cases::verdict::ClosedCase;

#[derive(Debug, Clone, Serialize)]
pub struct HistoryEntry {
    pub at: String,
    pub from: Option<CaseState>,
    pub to: CaseState,
    pub actor: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct StoredAlert {
    pub alert_id: String,
    pub received_at: String,
    pub request_id: String,
    pub alert: Value,
    /// The stream's fingerprint (contract section 10); absent for `POST /v1/recommend`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// How many times the stream saw this event (1 + its duplicates).
    pub occurrences: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CaseRecord {
    pub case_id: String,
    pub title: String,
    pub state: CaseState,
    pub severity: Option<Severity>,
    pub created_at: String,
    pub updated_at: String,
    pub created_by: String,
    pub closed: Option<ClosedCase>,
    pub assignee: Option<String>,
    /// Alert time of the case's first and newest alerts (the stream's cases).
    #[serde(skip)]
    pub first_alert_at: Option<String>,
    #[serde(skip)]
    pub newest_alert_at: Option<String>,
    /// The case this one was merged into, when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecommendationMeta {
    /// Every raw answer, separated by `\n---\n` when a repair was asked for.
    pub raw_output: Option<String>,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub latency_ms: u64,
    pub engine: String,
}

/// Everything one pipeline run writes, in one transaction.
pub struct NewRecommendation<'a> {
    pub id: &'a str,
    pub case_id: &'a str,
    pub request_id: &'a str,
    pub actor: &'a str,
    pub ready: bool,
    pub severity: Option<Severity>,
    pub response: &'a Value,
    pub raw_output: Option<&'a str>,
    pub engine: &'a str,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub latency_ms: u64,
    pub injection: &'a Value,
    pub approvals: Vec<NewApproval>,
    pub actions: Vec<NewAction>,
    pub review_reasons: Option<&'a Value>,
    /// `(actor, key)` of the idempotency claim this response completes.
    pub idempotency: Option<(&'a str, &'a str)>,
    /// Whether context the alerts don't carry (inventory, intel, changes) was joined: a
    /// new case records it as `enriched` on its way.
    pub enriched: bool,
    /// Why the configured engine did not answer and the baseline did (`engine`, `model`,
    /// `error`), when it did not.
    pub fallback: Option<&'a Value>,
    /// The review reasons of a first answer that was sent back for repair.
    pub refused_before_repair: Option<&'a Value>,
    /// The request behind it, recorded here in the same transaction when it was not
    /// recorded before the analysis.
    pub request: Option<RequestRecord<'a>>,
}

/// An accepted request: who sent which alerts for which case.
#[derive(Debug, Clone, Copy)]
pub struct RequestRecord<'a> {
    pub request_id: &'a str,
    pub actor: &'a str,
    pub case_id: &'a str,
    pub body_hash: &'a str,
    pub alerts: &'a [Alert],
}

/// Opens the case when new (refusing a closed one) and stores the request's alerts, in
/// the transaction `tx`.
fn record_request_in(tx: &Tx, r: &RequestRecord<'_>) -> Result<(), StoreError> {
    let RequestRecord { request_id, actor, case_id, body_hash, alerts } = *r;
    let at = now();
    let state: Option<String> = tx.query_opt("SELECT state FROM cases WHERE id = ?1", params![case_id], |r| r.get(0))?;
    if let Some(state) = &state
        && !lifecycle::is_open(parse_state(state)?)
    {
        return Err(StoreError::CaseClosed(case_id.to_string()));
    }
    if state.is_none() {
        let title = alerts.first().map(|a| a.rule.name.clone()).unwrap_or_default();
        tx.execute(
            "INSERT INTO cases (id, created_at, updated_at, state, title, created_by) VALUES (?1, ?2, ?2, 'new', ?3, ?4)",
            params![case_id, at, title, actor],
        )?;
        tx.execute(
            "INSERT INTO case_history (case_id, seq, at, from_state, to_state, actor, reason) VALUES (?1, 1, ?2, NULL, 'new', ?3, 'case opened')",
            params![case_id, at, actor],
        )?;
    }
    tx.execute(
        "INSERT INTO requests (id, received_at, actor, case_id, body_hash, alert_count) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![request_id, at, actor, case_id, body_hash, alerts.len() as i64],
    )?;
    let mut seq: i64 = tx.query_row("SELECT COALESCE(MAX(seq), 0) FROM case_alerts WHERE case_id = ?1", params![case_id], |r| r.get(0))?;
    for a in alerts {
        seq += 1;
        tx.execute(
            "INSERT INTO case_alerts (case_id, seq, alert_id, alert, received_at, request_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![case_id, seq, a.id, serde_json::to_string(&a.raw)?, at, request_id],
        )?;
    }
    let ids: Vec<&str> = alerts.iter().map(|a| a.id.as_str()).collect();
    append(tx, actor, "request.received", request_id, &json!({"case_id": case_id, "alerts": ids, "body_sha256": body_hash}))?;
    Ok(())
}

/// What claiming an idempotency key found.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// This request owns the key and does the work.
    Owned,
    /// Another request with the key and body is still working.
    InFlight,
    /// The stored response of the first request.
    Done(Value),
}

/// Moves a case to `to` under the transition table, with its history and audit entries.
/// Staying in a state records nothing.
pub(crate) fn set_state(tx: &Tx, case_id: &str, to: CaseState, actor: &str, reason: &str) -> Result<(), StoreError> {
    let from = case_state(tx, case_id)?;
    if !lifecycle::check(from, to)? {
        return Ok(());
    }
    let at = now();
    tx.execute("UPDATE cases SET state = ?1, updated_at = ?2 WHERE id = ?3", params![to.as_str(), at, case_id])?;
    let seq: i64 = tx.query_row("SELECT COALESCE(MAX(seq), 0) + 1 FROM case_history WHERE case_id = ?1", params![case_id], |r| r.get(0))?;
    tx.execute(
        "INSERT INTO case_history (case_id, seq, at, from_state, to_state, actor, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![case_id, seq, at, from.as_str(), to.as_str(), actor, reason],
    )?;
    append(tx, actor, "case.transition", case_id, &json!({"from": from.as_str(), "to": to.as_str(), "reason": reason}))?;
    Ok(())
}

/// A case's state as stored; an unknown name is corruption, not `new`.
pub(crate) fn case_state(tx: &Tx, case_id: &str) -> Result<CaseState, StoreError> {
    let state: Option<String> = tx.query_opt("SELECT state FROM cases WHERE id = ?1", params![case_id], |r| r.get(0))?;
    let state = state.ok_or_else(|| StoreError::NotFound(format!("case {case_id}")))?;
    parse_state(&state)
}

pub(crate) fn parse_state(s: &str) -> Result<CaseState, StoreError> {
    s.parse().map_err(|e: lifecycle::UnknownState| StoreError::Corrupt(e.to_string()))
}

impl Store {
    /// Records an accepted request on its own, before its analysis: opens the case when new
    /// and stores its (redacted) alerts.
    pub fn record_request(&self, r: &RequestRecord<'_>) -> Result<(), StoreError> {
        self.tx(|tx| record_request_in(tx, r))
    }

    /// Stores a pipeline result with its approvals and actions and moves the case on.
    pub fn save_recommendation(&self, r: NewRecommendation<'_>) -> Result<(), StoreError> {
        self.tx(|tx| {
            if let Some(request) = &r.request {
                record_request_in(tx, request)?;
            }
            let at = now();
            tx.execute(
                "INSERT INTO recommendations (id, case_id, request_id, created_at, actor, status, response, raw_output, engine, prompt_tokens, completion_tokens, latency_ms, injection)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                params![
                    r.id, r.case_id, r.request_id, at, r.actor, if r.ready { "ready" } else { "needs_review" },
                    serde_json::to_string(r.response)?, r.raw_output, r.engine, r.prompt_tokens, r.completion_tokens,
                    r.latency_ms as i64, serde_json::to_string(r.injection)?
                ],
            )?;
            if let Some(sev) = r.severity {
                tx.execute("UPDATE cases SET severity = ?1 WHERE id = ?2", params![sev.as_str(), r.case_id])?;
            }
            supersede_older(tx, r.case_id, r.id, r.actor)?;
            for a in &r.actions {
                insert_action(tx, a)?;
            }
            for a in &r.approvals {
                insert_approval(tx, a)?;
            }
            let (kind, mut data) = match r.review_reasons {
                Some(reasons) => ("recommendation.rejected", json!({"case_id": r.case_id, "engine": r.engine, "reasons": reasons})),
                None => ("recommendation.ready", json!({"case_id": r.case_id, "engine": r.engine, "severity": r.severity, "actions": r.actions.len()})),
            };
            if let Some(f) = r.fallback {
                data["degraded"] = json!(f);
            }
            if let Some(first) = r.refused_before_repair {
                data["refused_before_repair"] = json!(first);
            }
            append(tx, r.actor, kind, r.id, &data)?;
            if r.enriched && case_state(tx, r.case_id)? == CaseState::New {
                set_state(tx, r.case_id, CaseState::Enriched, r.actor, "context joined: inventory, intel or changes")?;
            }
            let pending = r.approvals.iter().any(|a| a.required_approvals > 0);
            let state = match (r.ready, pending) {
                (false, _) => CaseState::NeedsReview,
                (true, true) => CaseState::AwaitingApproval,
                (true, false) => CaseState::Recommended,
            };
            set_state(tx, r.case_id, state, r.actor, &format!("recommendation {}", r.id))?;
            // Pre-approved emergency rules decide after the approval exists, like a person.
            for a in r.approvals.iter() {
                if let Some(p) = &a.pre_approved {
                    pre_approve(tx, &a.id, p, chrono::Utc::now()).map_err(|e| match e {
                        DecisionError::Store(s) => s,
                        other => StoreError::EmergencyRuleRefused { rule_id: p.rule_id.clone(), approval_id: a.id.clone(), reason: other.to_string() },
                    })?;
                }
            }
            if let Some((actor, key)) = r.idempotency {
                tx.execute("UPDATE idempotency SET recommendation_id = ?1 WHERE actor = ?2 AND key = ?3", params![r.id, actor, key])?;
            }
            Ok(())
        })
    }

    /// Claims an idempotency key before any work is done, in one transaction: the first
    /// request with a key owns it (`Claim::Owned`) until its response is stored with
    /// [`NewRecommendation::idempotency`] or the claim is released; a repeat with the same
    /// body gets the stored response, or `Claim::InFlight` while the first is still
    /// working; a different body is `Err(IdempotencyKeyReused)`. A claim older than `stale_after` was
    /// left by a process that died, and is taken over.
    pub fn claim_idempotency(&self, actor: &str, key: &str, body_hash: &str, now: &str, stale_after: &str) -> Result<Claim, StoreError> {
        let done = self.tx(|tx| {
            let inserted = tx.execute(
                "INSERT INTO idempotency (actor, key, body_hash, recommendation_id, claimed_at) VALUES (?1, ?2, ?3, '', ?4) ON CONFLICT (actor, key) DO NOTHING",
                params![actor, key, body_hash, now],
            )?;
            if inserted == 1 {
                return Ok(Err(Claim::Owned));
            }
            let (hash, rec_id, claimed_at): (String, String, Option<String>) = tx.query_row(
                "SELECT body_hash, recommendation_id, claimed_at FROM idempotency WHERE actor = ?1 AND key = ?2",
                params![actor, key],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?;
            if hash != body_hash {
                return Err(StoreError::IdempotencyKeyReused);
            }
            if !rec_id.is_empty() {
                return Ok(Ok(rec_id));
            }
            if claimed_at.as_deref().is_none_or(|at| at < stale_after) {
                tx.execute("UPDATE idempotency SET claimed_at = ?1 WHERE actor = ?2 AND key = ?3", params![now, actor, key])?;
                return Ok(Err(Claim::Owned));
            }
            Ok(Err(Claim::InFlight))
        })?;
        match done {
            Err(claim) => Ok(claim),
            Ok(rec_id) => Ok(match self.recommendation(&rec_id)? {
                Some(v) => Claim::Done(v),
                None => Claim::InFlight,
            }),
        }
    }

    /// Gives up a claim whose request failed, so a repeat may try again.
    pub fn release_idempotency(&self, actor: &str, key: &str) -> Result<(), StoreError> {
        self.tx(|tx| {
            tx.execute("DELETE FROM idempotency WHERE actor = ?1 AND key = ?2 AND recommendation_id = ''", params![actor, key])?;
            Ok(())
        })
    }

    pub fn recommendation(&self, id: &str) -> Result<Option<Value>, StoreError> {
        let conn = self.read()?;
        let text: Option<String> = conn.query_opt("SELECT response FROM recommendations WHERE id = ?1", params![id], |r| r.get(0))?;
        Ok(match text {
            Some(t) => Some(serde_json::from_str(&t)?),
            None => None,
        })
    }

    /// What producing a recommendation cost: raw output(s), tokens and latency.
    pub fn recommendation_meta(&self, id: &str) -> Result<Option<RecommendationMeta>, StoreError> {
        let conn = self.read()?;
        conn.query_opt("SELECT raw_output, prompt_tokens, completion_tokens, latency_ms, engine FROM recommendations WHERE id = ?1", params![id], |r| {
            Ok(RecommendationMeta { raw_output: r.get(0)?, prompt_tokens: r.get(1)?, completion_tokens: r.get(2)?, latency_ms: r.get(3)?, engine: r.get(4)? })
        })
    }

    /// Raw model output kept with a recommendation (for reviewers), if any.
    pub fn raw_output(&self, id: &str) -> Result<Option<String>, StoreError> {
        let conn = self.read()?;
        Ok(conn.query_opt("SELECT raw_output FROM recommendations WHERE id = ?1", params![id], |r| r.get(0))?.flatten())
    }

    /// A case's newest recommendation response: its current one.
    pub fn latest_recommendation(&self, case_id: &str) -> Result<Option<Value>, StoreError> {
        let conn = self.read()?;
        let text: Option<String> =
            conn.query_opt("SELECT response FROM recommendations WHERE case_id = ?1 ORDER BY created_at DESC, id DESC LIMIT 1", params![case_id], |r| {
                r.get(0)
            })?;
        text.map(|t| serde_json::from_str(&t)).transpose().map_err(StoreError::from)
    }

    /// Gives a case to an analyst (or takes it back with `None`).
    pub fn assign_case(&self, case_id: &str, assignee: Option<&str>, actor: &str) -> Result<(), StoreError> {
        self.tx(|tx| {
            if !lifecycle::is_open(case_state(tx, case_id)?) {
                return Err(StoreError::CaseClosed(case_id.to_string()));
            }
            tx.execute("UPDATE cases SET assignee = ?1, updated_at = ?2 WHERE id = ?3", params![assignee, now(), case_id])?;
            append(tx, actor, "case.assigned", case_id, &json!({"assignee": assignee}))?;
            Ok(())
        })
    }

    /// The affected service is back after an executed action.
    pub fn recover_case(&self, case_id: &str, note: &str, actor: &str) -> Result<(), StoreError> {
        self.tx(|tx| {
            let from = case_state(tx, case_id)?;
            lifecycle::check(from, CaseState::Recovered)
                .and_then(|moved| if moved { Ok(()) } else { Err(lifecycle::InvalidTransition { from, to: CaseState::Recovered }) })?;
            append(tx, actor, "case.recovered", case_id, &json!({"note": note}))?;
            set_state(tx, case_id, CaseState::Recovered, actor, &format!("recovered: {note}"))
        })
    }

    pub fn recommendations_of(&self, case_id: &str) -> Result<Vec<Value>, StoreError> {
        let conn = self.read()?;
        let rows =
            conn.query_map("SELECT response FROM recommendations WHERE case_id = ?1 ORDER BY created_at, id", params![case_id], |r| r.get::<String>(0))?;
        rows.iter().map(|t| Ok(serde_json::from_str(t)?)).collect()
    }

    pub fn case(&self, case_id: &str) -> Result<Option<CaseRecord>, StoreError> {
        let conn = self.read()?;
        conn.query_opt(&format!("SELECT {CASE_COLUMNS} FROM cases WHERE id = ?1"), params![case_id], case_row)
    }

    /// Cases, most severe and oldest first, optionally in one state.
    pub fn cases(&self, state: Option<CaseState>, limit: usize) -> Result<Vec<CaseRecord>, StoreError> {
        let conn = self.read()?;
        let rows = conn.query_map(&format!(
            "SELECT {CASE_COLUMNS} FROM cases
             WHERE (CAST(?1 AS TEXT) IS NULL OR state = ?1)
             ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 WHEN 'low' THEN 3 WHEN 'informational' THEN 4 ELSE 5 END, created_at
             LIMIT ?2"
        ), params![state.map(|s| s.as_str()), limit as i64], case_row)?;
        Ok(rows)
    }

    pub fn case_alerts(&self, case_id: &str) -> Result<Vec<StoredAlert>, StoreError> {
        let conn = self.read()?;
        let rows = conn.query_map(
            "SELECT alert_id, received_at, request_id, alert, fingerprint, occurrences, first_seen, last_seen FROM case_alerts WHERE case_id = ?1 ORDER BY seq",
            params![case_id],
            |r| {
                Ok((
                    StoredAlert {
                        alert_id: r.get(0)?,
                        received_at: r.get(1)?,
                        request_id: r.get(2)?,
                        alert: Value::Null,
                        fingerprint: r.get(4)?,
                        occurrences: r.get(5)?,
                        first_seen: r.get(6)?,
                        last_seen: r.get(7)?,
                    },
                    r.get::<String>(3)?,
                ))
            },
        )?;
        let all: Vec<StoredAlert> =
            rows.into_iter().map(|(stored, alert)| Ok(StoredAlert { alert: serde_json::from_str(&alert)?, ..stored })).collect::<Result<_, StoreError>>()?;
        Ok(one_per_id(all))
    }

    pub fn case_history(&self, case_id: &str) -> Result<Vec<HistoryEntry>, StoreError> {
        let conn = self.read()?;
        let rows =
            conn.query_map("SELECT at, from_state, to_state, actor, reason FROM case_history WHERE case_id = ?1 ORDER BY seq", params![case_id], |r| {
                Ok(HistoryEntry {
                    at: r.get(0)?,
                    from: r.get::<Option<String>>(1)?.map(|s| state_column(1, &s)).transpose()?,
                    to: state_column(2, &r.get::<String>(2)?)?,
                    actor: r.get(3)?,
                    reason: r.get(4)?,
                })
            })?;
        Ok(rows)
    }

    /// Closes (or re-closes) a case with the analyst's verdict.
    pub fn close_case(&self, case_id: &str, closed: &ClosedCase, tasks: &[crate::learning::Task]) -> Result<(), StoreError> {
        self.tx(|tx| {
            // Re-closing amends the verdict; a learned case is final.
            lifecycle::check(case_state(tx, case_id)?, CaseState::Closed)?;
            let n = tx.execute(
                "UPDATE cases SET closed = ?1, severity = ?2, updated_at = ?3 WHERE id = ?4",
                params![serde_json::to_string(closed)?, closed.severity.as_str(), now(), case_id],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("case {case_id}")));
            }
            append(tx, &closed.closed_by, "case.closed", case_id, &serde_json::to_value(closed)?)?;
            set_state(tx, case_id, CaseState::Closed, &closed.closed_by, &format!("closed as {}", closed.disposition.as_str()))?;
            super::approvals::settle_for_closure(tx, case_id, &closed.closed_by)?;
            super::learning::replace_open_tasks(tx, case_id, tasks, &closed.closed_by)
        })
    }

    /// The newest stored alerts of other cases, up to `limit`: what a tuning draft counts
    /// the alerts it would have excluded in.
    pub fn recent_alerts_except(&self, case_id: &str, limit: usize) -> Result<Vec<Value>, StoreError> {
        let conn = self.read()?;
        let rows =
            conn.query_map("SELECT alert FROM case_alerts WHERE case_id != ?1 ORDER BY received_at DESC LIMIT ?2", params![case_id, limit as i64], |r| {
                r.get::<String>(0)
            })?;
        rows.iter().map(|t| Ok(serde_json::from_str(t)?)).collect()
    }

    /// Every closed case, for rebuilding the index.
    /// Closed cases changed after `since` (RFC 3339, as stored), with the time of their
    /// last change, oldest first: the change feed every replica's index follows.
    pub fn cases_closed_since(&self, since: &str) -> Result<Vec<(String, String)>, StoreError> {
        let conn = self.read()?;
        conn.query_map("SELECT id, updated_at FROM cases WHERE closed IS NOT NULL AND updated_at > ?1 ORDER BY updated_at", params![since], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
    }

    pub fn closed_cases(&self) -> Result<Vec<(CaseRecord, Vec<StoredAlert>)>, StoreError> {
        let ids: Vec<String> = {
            let conn = self.read()?;
            conn.query_map("SELECT id FROM cases WHERE closed IS NOT NULL ORDER BY created_at", params![], |r| r.get(0))?
        };
        let mut out = Vec::new();
        for id in ids {
            if let Some(c) = self.case(&id)? {
                out.push((c, self.case_alerts(&id)?));
            }
        }
        Ok(out)
    }
}

/// One alert per id, in the order ids first appear, each as last stored: an id names one
/// alert of a case (evidence refs, recommendations and exported dataset lines read alerts
/// by id), and a case engine may send an id again through `POST /v1/recommend`, or a
/// merge may bring one in twice. The stream replaces instead of adding (contract
/// section 10); this keeps every reader right for what was stored before or otherwise.
fn one_per_id(alerts: Vec<StoredAlert>) -> Vec<StoredAlert> {
    let mut out: Vec<StoredAlert> = Vec::with_capacity(alerts.len());
    let mut at: std::collections::HashMap<String, usize> = std::collections::HashMap::with_capacity(alerts.len());
    for a in alerts {
        match at.get(&a.alert_id) {
            Some(&i) => out[i] = a,
            None => {
                at.insert(a.alert_id.clone(), out.len());
                out.push(a);
            }
        }
    }
    out
}

const CASE_COLUMNS: &str = "id, title, state, severity, created_at, updated_at, created_by, closed, assignee, first_alert_at, newest_alert_at, merged_into";

fn case_row(r: &Row) -> Result<CaseRecord, StoreError> {
    let closed: Option<String> = r.get(7)?;
    Ok(CaseRecord {
        case_id: r.get(0)?,
        title: r.get(1)?,
        state: state_column(2, &r.get::<String>(2)?)?,
        severity: r.get::<Option<String>>(3)?.and_then(|s| s.parse().ok()),
        created_at: r.get(4)?,
        updated_at: r.get(5)?,
        created_by: r.get(6)?,
        closed: closed.and_then(|c| serde_json::from_str(&c).ok()),
        assignee: r.get(8)?,
        first_alert_at: r.get(9)?,
        newest_alert_at: r.get(10)?,
        merged_into: r.get(11)?,
    })
}

/// A state column read in a row mapper: an unknown name fails the read.
fn state_column(idx: usize, s: &str) -> Result<CaseState, StoreError> {
    s.parse().map_err(|e: lifecycle::UnknownState| StoreError::Corrupt(format!("column {idx}: {e}")))
}
