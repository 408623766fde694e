//! Approvals and the action outbox. An approval is bound to a hash of the exact action and
//! target it covers; N distinct approvers approve, one rejection rejects, the requester
//! can't decide, and nothing is decided after it expired. Approved actions wait in the
//! outbox for a SOAR; the service itself never executes anything.

use super::db::{Row, ToValue, params};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::audit::append;
use super::cases::{CaseState, set_state};
use super::{Identity, Store, StoreError, Tx, now};
use crate::approval::{self, Ballot, DecideError, Transition, Who};
pub use crate::approval::{ApprovalStatus, ClosedReason, Decision};
use crate::error_code::{Coded, ErrorCode};
use crate::policy::Tier;

/// An approval covers one proposed action, or a rejected output awaiting human review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalKind {
    Action,
    Review,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionStatus {
    PendingApproval,
    Approved,
    Rejected,
    Expired,
    Executed,
    Failed,
    /// Approved, but its case closed before a SOAR reported on it: it never leaves again.
    Cancelled,
}

impl ActionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionStatus::PendingApproval => "pending_approval",
            ActionStatus::Approved => "approved",
            ActionStatus::Rejected => "rejected",
            ActionStatus::Expired => "expired",
            ActionStatus::Executed => "executed",
            ActionStatus::Failed => "failed",
            ActionStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<ActionStatus> {
        [
            ActionStatus::PendingApproval,
            ActionStatus::Approved,
            ActionStatus::Rejected,
            ActionStatus::Expired,
            ActionStatus::Executed,
            ActionStatus::Failed,
            ActionStatus::Cancelled,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DecisionRecord {
    /// Key id of the approver, or `policy:<rule id>` for a pre-approved emergency rule.
    pub actor: String,
    /// The approver's key name, for people to read.
    pub actor_name: Option<String>,
    /// The person or system that decided; dual control counts these.
    pub principal: String,
    pub decision: Decision,
    pub rationale: String,
    pub at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ActionRecord {
    pub action_id: String,
    pub case_id: String,
    pub recommendation_id: String,
    pub approval_id: Option<String>,
    pub action: String,
    pub target: String,
    pub tier: Tier,
    pub rationale: String,
    pub status: ActionStatus,
    pub created_at: String,
    pub updated_at: String,
    pub outcome: Option<Value>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ApprovalRecord {
    pub approval_id: String,
    pub case_id: String,
    pub recommendation_id: String,
    pub kind: ApprovalKind,
    pub status: ApprovalStatus,
    pub tier: Tier,
    pub required_approvals: u32,
    pub summary: String,
    pub binding_hash: String,
    pub requested_by: String,
    /// The principal of the key that asked; it can't decide.
    pub requested_principal: String,
    pub created_at: String,
    pub expires_at: String,
    pub decided_at: Option<String>,
    /// Why it ended without a decision (status `expired`); `null` while pending and once
    /// decided.
    pub closed_reason: Option<ClosedReason>,
    pub decisions: Vec<DecisionRecord>,
    pub action: Option<ActionRecord>,
}

pub struct NewApproval {
    pub id: String,
    pub case_id: String,
    pub recommendation_id: String,
    pub kind: ApprovalKind,
    pub action_id: Option<String>,
    pub binding_hash: String,
    pub tier: Tier,
    pub required_approvals: u32,
    /// Key id of the identity that asked for the recommendation.
    pub requested_by: String,
    /// Its principal.
    pub requested_principal: String,
    pub expires_at: String,
    pub summary: String,
    /// A pre-approved emergency rule that approves this action at once.
    pub pre_approved: Option<PolicyApproval>,
}

/// The decision of an emergency rule (contract section 4), recorded as principal
/// `policy:<rule id>`.
#[derive(Debug, Clone)]
pub struct PolicyApproval {
    pub rule_id: String,
    pub rationale: String,
}

pub struct NewAction {
    pub id: String,
    pub case_id: String,
    pub recommendation_id: String,
    pub approval_id: Option<String>,
    pub action: String,
    pub target: String,
    pub tier: Tier,
    pub rationale: String,
}

/// Binds an approval to exactly one action on one target from one recommendation.
pub fn binding_hash(recommendation_id: &str, action: &str, target: &str, tier: Tier) -> String {
    hex::encode(Sha256::digest(format!("{recommendation_id}\n{action}\n{target}\n{}", tier.as_str()).as_bytes()))
}

#[derive(Debug, thiserror::Error)]
pub enum DecisionError {
    #[error("approval {0} not found")]
    NotFound(String),
    #[error(transparent)]
    Rule(#[from] DecideError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Coded for DecisionError {
    fn code(&self) -> ErrorCode {
        match self {
            DecisionError::NotFound(_) => ErrorCode::NotFound,
            DecisionError::Rule(r) => r.code(),
            DecisionError::Store(s) => s.code(),
        }
    }
}

/// The `WHERE` of a listing by status, case, both or neither, and its parameter, in the
/// form an index answers: written as one statement with optional filters
/// (`?1 IS NULL OR status = ?1`), SQLite scanned the whole table, on every case view. The
/// status (one of a closed set of names) is a literal, so that the outbox's partial index
/// of approved actions serves `status = 'approved'`.
fn listing_filter(status: Option<&'static str>, case_id: Option<&str>) -> (String, Vec<super::db::Value>) {
    match (status, case_id) {
        (Some(s), Some(c)) => (format!("WHERE case_id = ?1 AND status = '{s}'"), vec![ToValue::to_value(&c)]),
        (Some(s), None) => (format!("WHERE status = '{s}'"), Vec::new()),
        (None, Some(c)) => ("WHERE case_id = ?1".to_string(), vec![ToValue::to_value(&c)]),
        (None, None) => (String::new(), Vec::new()),
    }
}

pub(crate) fn insert_action(tx: &Tx, a: &NewAction) -> Result<(), StoreError> {
    let at = now();
    let status = if a.tier == Tier::Automatic { ActionStatus::Approved } else { ActionStatus::PendingApproval };
    tx.execute(
        "INSERT INTO actions (id, case_id, recommendation_id, approval_id, action, target, tier, rationale, status, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
        params![a.id, a.case_id, a.recommendation_id, a.approval_id, a.action, a.target, a.tier.as_str(), a.rationale, status.as_str(), at],
    )?;
    Ok(())
}

pub(crate) fn insert_approval(tx: &Tx, a: &NewApproval) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO approvals (id, case_id, recommendation_id, kind, action_id, binding_hash, tier, required_approvals, status, requested_by, created_at, expires_at, summary, requested_principal)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending', ?9, ?10, ?11, ?12, ?13)",
        params![
            a.id, a.case_id, a.recommendation_id, if a.kind == ApprovalKind::Action { "action" } else { "review" }, a.action_id,
            a.binding_hash, a.tier.as_str(), a.required_approvals, a.requested_by, now(), a.expires_at, a.summary, a.requested_principal
        ],
    )?;
    Ok(())
}

fn tier_of(s: &str) -> Tier {
    match s {
        "automatic" => Tier::Automatic,
        "two_person" => Tier::TwoPerson,
        _ => Tier::HumanApproval,
    }
}

const ACTION_COLUMNS: &str = "id, case_id, recommendation_id, approval_id, action, target, tier, rationale, status, created_at, updated_at, outcome";

fn action_row(r: &Row) -> Result<ActionRecord, StoreError> {
    let outcome: Option<String> = r.get(11)?;
    Ok(ActionRecord {
        action_id: r.get(0)?,
        case_id: r.get(1)?,
        recommendation_id: r.get(2)?,
        approval_id: r.get(3)?,
        action: r.get(4)?,
        target: r.get(5)?,
        tier: tier_of(&r.get::<String>(6)?),
        rationale: r.get(7)?,
        status: ActionStatus::parse(&r.get::<String>(8)?).unwrap_or(ActionStatus::PendingApproval),
        created_at: r.get(9)?,
        updated_at: r.get(10)?,
        outcome: outcome.and_then(|o| serde_json::from_str(&o).ok()),
    })
}

/// The requester's principal falls back to its key's (approvals made before principals).
const APPROVAL_COLUMNS: &str = "id, case_id, recommendation_id, kind, action_id, binding_hash, tier, required_approvals, status, requested_by, created_at, expires_at, decided_at, summary,
    COALESCE(requested_principal, (SELECT COALESCE(k.principal, k.name) FROM api_keys k WHERE k.id = approvals.requested_by), requested_by), closed_reason";

struct ApprovalRow {
    record: ApprovalRecord,
    action_id: Option<String>,
}

fn approval_row(r: &Row) -> Result<ApprovalRow, StoreError> {
    Ok(ApprovalRow {
        action_id: r.get(4)?,
        record: ApprovalRecord {
            approval_id: r.get(0)?,
            case_id: r.get(1)?,
            recommendation_id: r.get(2)?,
            kind: if r.get::<String>(3)? == "review" { ApprovalKind::Review } else { ApprovalKind::Action },
            binding_hash: r.get(5)?,
            tier: tier_of(&r.get::<String>(6)?),
            required_approvals: r.get(7)?,
            status: ApprovalStatus::parse(&r.get::<String>(8)?).unwrap_or(ApprovalStatus::Pending),
            requested_by: r.get(9)?,
            created_at: r.get(10)?,
            expires_at: r.get(11)?,
            decided_at: r.get(12)?,
            summary: r.get(13)?,
            requested_principal: r.get(14)?,
            closed_reason: r.get::<Option<String>>(15)?.as_deref().and_then(ClosedReason::parse),
            decisions: Vec::new(),
            action: None,
        },
    })
}

fn load_approval(tx: &Tx, id: &str) -> Result<Option<ApprovalRecord>, StoreError> {
    let row = tx.query_opt(&format!("SELECT {APPROVAL_COLUMNS} FROM approvals WHERE id = ?1"), params![id], approval_row)?;
    let Some(ApprovalRow { mut record, action_id }) = row else { return Ok(None) };
    record.decisions = tx.query_map(
        "SELECT d.actor, d.decision, d.rationale, d.at, k.name, COALESCE(d.principal, k.principal, k.name, d.actor)
         FROM approval_decisions d LEFT JOIN api_keys k ON k.id = d.actor WHERE d.approval_id = ?1 ORDER BY d.at",
        params![id],
        |r| {
            Ok(DecisionRecord {
                actor: r.get(0)?,
                decision: if r.get::<String>(1)? == "approve" { Decision::Approve } else { Decision::Reject },
                rationale: r.get(2)?,
                at: r.get(3)?,
                actor_name: r.get(4)?,
                principal: r.get(5)?,
            })
        },
    )?;
    if let Some(aid) = action_id {
        record.action = tx.query_opt(&format!("SELECT {ACTION_COLUMNS} FROM actions WHERE id = ?1"), params![aid], action_row)?;
    }
    Ok(Some(record))
}

/// A pending approval that ends without a decision.
struct Undecided {
    id: String,
    action_id: Option<String>,
    case_id: String,
}

fn undecided_row(r: &Row) -> Result<Undecided, StoreError> {
    Ok(Undecided { id: r.get(0)?, action_id: r.get(1)?, case_id: r.get(2)? })
}

/// Ends a pending approval without a decision: it and its action become `expired`, the
/// approval keeps `reason`, and the audit entry says the same, so the tables and the chain
/// agree on why (contract section 4). `superseded_by` names the newer recommendation.
fn end_undecided(tx: &Tx, a: &Undecided, reason: ClosedReason, actor: &str, at: &str, superseded_by: Option<&str>) -> Result<(), StoreError> {
    tx.execute("UPDATE approvals SET status = 'expired', decided_at = ?1, closed_reason = ?2 WHERE id = ?3", params![at, reason.as_str(), a.id])?;
    if let Some(aid) = &a.action_id {
        tx.execute("UPDATE actions SET status = 'expired', updated_at = ?1 WHERE id = ?2", params![at, aid])?;
    }
    let mut data = json!({"case_id": a.case_id, "reason": reason.as_str()});
    if let Some(rec) = superseded_by {
        data["superseded_by"] = json!(rec);
    }
    append(tx, actor, "approval.expired", &a.id, &data)?;
    Ok(())
}

/// Marks pending approvals past their expiry as expired (with their actions), auditing each.
fn expire_due(tx: &Tx, at: &str) -> Result<(), StoreError> {
    let due = tx.query_map("SELECT id, action_id, case_id FROM approvals WHERE status = 'pending' AND expires_at <= ?1", params![at], undecided_row)?;
    for a in due {
        end_undecided(tx, &a, ClosedReason::Expired, "system", at, None)?;
        settle_case(tx, &a.case_id, "system")?;
    }
    Ok(())
}

/// A newer recommendation for a case supersedes the pending approvals of its older ones
/// (contract section 4): otherwise both would be approvable, and the outbox could hold the
/// same action twice. The case's state is left to the new recommendation, which sets it
/// in the same transaction; approved actions of the older ones stay in the outbox.
pub(crate) fn supersede_older(tx: &Tx, case_id: &str, recommendation_id: &str, actor: &str) -> Result<(), StoreError> {
    let at = now();
    let older = tx.query_map(
        "SELECT id, action_id, case_id FROM approvals WHERE case_id = ?1 AND status = 'pending' AND recommendation_id != ?2 ORDER BY created_at, id",
        params![case_id, recommendation_id],
        undecided_row,
    )?;
    for a in older {
        end_undecided(tx, &a, ClosedReason::Superseded, actor, &at, Some(recommendation_id))?;
    }
    Ok(())
}

/// Closing a case: its pending approvals expire (reason `case_closed`) and its approved
/// actions that no SOAR reported on are cancelled, so nothing of it reaches the outbox.
pub(crate) fn settle_for_closure(tx: &Tx, case_id: &str, actor: &str) -> Result<(), StoreError> {
    let at = now();
    let pending = tx.query_map("SELECT id, action_id, case_id FROM approvals WHERE case_id = ?1 AND status = 'pending'", params![case_id], undecided_row)?;
    for a in pending {
        end_undecided(tx, &a, ClosedReason::CaseClosed, actor, &at, None)?;
    }
    let approved: Vec<String> = { tx.query_map("SELECT id FROM actions WHERE case_id = ?1 AND status = 'approved'", params![case_id], |r| r.get(0))? };
    for id in approved {
        tx.execute("UPDATE actions SET status = 'cancelled', updated_at = ?1 WHERE id = ?2", params![at, id])?;
        append(tx, actor, "action.cancelled", &id, &json!({"case_id": case_id, "reason": "case_closed"}))?;
    }
    Ok(())
}

/// When a case has no pending approvals left, moves it to `approved` (something was
/// approved) or back to `recommended`.
fn settle_case(tx: &Tx, case_id: &str, actor: &str) -> Result<(), StoreError> {
    let state: String = tx.query_row("SELECT state FROM cases WHERE id = ?1", params![case_id], |r| r.get(0))?;
    if state != CaseState::AwaitingApproval.as_str() {
        return Ok(());
    }
    let pending: i64 =
        tx.query_row("SELECT COUNT(*) FROM approvals WHERE case_id = ?1 AND status = 'pending' AND kind = 'action'", params![case_id], |r| r.get(0))?;
    if pending > 0 {
        return Ok(());
    }
    let approved: i64 =
        tx.query_row("SELECT COUNT(*) FROM approvals WHERE case_id = ?1 AND status = 'approved' AND kind = 'action'", params![case_id], |r| r.get(0))?;
    let (to, why) = if approved > 0 { (CaseState::Approved, "all approvals decided") } else { (CaseState::Recommended, "no proposed action was approved") };
    set_state(tx, case_id, to, actor, why)
}

/// Approvals of one tier waiting for a decision.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingTier {
    pub tier: Tier,
    pub count: u64,
    /// When the oldest of them was requested (RFC 3339).
    pub oldest: Option<String>,
}

impl Store {
    pub fn approval(&self, id: &str) -> Result<Option<ApprovalRecord>, StoreError> {
        self.tx(|tx| {
            expire_due(tx, &now())?;
            load_approval(tx, id)
        })
    }

    pub fn approvals(&self, status: Option<ApprovalStatus>, case_id: Option<&str>, limit: usize) -> Result<Vec<ApprovalRecord>, StoreError> {
        self.tx(|tx| {
            expire_due(tx, &now())?;
            let (filter, mut values) = listing_filter(status.map(|s| s.as_str()), case_id);
            // The limit is the parameter after the filter's.
            values.push(ToValue::to_value(&(limit as i64)));
            let sql = format!("SELECT id FROM approvals {filter} ORDER BY created_at DESC, id LIMIT ?{}", values.len());
            let ids: Vec<String> = tx.query_map(&sql, &values, |r| r.get(0))?;
            let mut out = Vec::new();
            for id in ids {
                out.extend(load_approval(tx, &id)?);
            }
            Ok(out)
        })
    }

    /// Pending approvals per tier that have not expired by `at`, read without expiring
    /// anything: what a metrics scrape reports.
    pub fn pending_approvals(&self, at: &str) -> Result<Vec<PendingTier>, StoreError> {
        let conn = self.read()?;
        let rows = conn.query_map(
            "SELECT tier, COUNT(*), MIN(created_at) FROM approvals WHERE status = 'pending' AND expires_at > ?1 GROUP BY tier",
            params![at],
            |r| Ok(PendingTier { tier: tier_of(&r.get::<String>(0)?), count: r.get::<i64>(1)?.max(0) as u64, oldest: r.get(2)? }),
        )?;
        Ok(rows)
    }

    /// Records one identity's decision under the approval rules ([`approval::decide`]),
    /// in one transaction with its audit entries and the case's next state.
    pub fn decide(&self, id: &str, who: &Identity, decision: Decision, rationale: &str, at: DateTime<Utc>) -> Result<ApprovalRecord, DecisionError> {
        // A store error rolls back (and may be retried); a refusal is the answer, given
        // after committing what expired just now, since the rules refuse before anything
        // of the decision is written.
        self.tx(|tx| {
            expire_due(tx, &stamp(at))?;
            let Some(approval) = load_approval(tx, id)? else { return Ok(Err(DecisionError::NotFound(id.to_string()))) };
            let decider = Decider { who: Who::Principal(&who.principal), key_id: &who.key_id, actor: who.actor() };
            match apply_decision(tx, &approval, &decider, Ballot { decision, rationale }, at) {
                Ok(()) => {}
                Err(DecisionError::Store(e)) => return Err(e),
                Err(refused) => {
                    // A refused decision is still an attempt an auditor looks for (a
                    // requester approving their own request, one person voting twice, a
                    // vote on a closed approval): it is recorded with why it was refused.
                    append(
                        tx,
                        &decider.actor,
                        "approval.decision_refused",
                        id,
                        &json!({"decision": decision, "principal": who.principal, "case_id": approval.case_id,
                                "code": refused.code(), "reason": refused.to_string()}),
                    )?;
                    return Ok(Err(refused));
                }
            }
            Ok(load_approval(tx, id)?.ok_or_else(|| DecisionError::NotFound(id.to_string())))
        })?
    }

    pub fn actions(&self, status: Option<ActionStatus>, case_id: Option<&str>) -> Result<Vec<ActionRecord>, StoreError> {
        self.tx(|tx| {
            expire_due(tx, &now())?;
            let (filter, values) = listing_filter(status.map(|s| s.as_str()), case_id);
            let rows = tx.query_map(&format!("SELECT {ACTION_COLUMNS} FROM actions {filter} ORDER BY created_at, id"), &values, action_row)?;
            Ok(rows)
        })
    }

    /// The SOAR reports what it did with an approved action. An execution moves the case to
    /// `executed` from whatever open state it is in (automatic actions are approved while
    /// it is `recommended`, one approval of several leaves it `awaiting_approval`); its
    /// approvals still pending stay pending, and deciding them later leaves it `executed`.
    pub fn record_outcome(&self, action_id: &str, who: &Identity, executed: bool, detail: &str) -> Result<ActionRecord, StoreError> {
        self.tx(|tx| {
            let action = tx
                .query_opt(&format!("SELECT {ACTION_COLUMNS} FROM actions WHERE id = ?1"), params![action_id], action_row)?
                .ok_or_else(|| StoreError::NotFound(format!("action {action_id}")))?;
            if action.status != ActionStatus::Approved {
                return Err(StoreError::ActionNotApproved { action_id: action_id.to_string(), status: action.status.as_str() });
            }
            let status = if executed { ActionStatus::Executed } else { ActionStatus::Failed };
            let at = now();
            let outcome = json!({"status": status.as_str(), "detail": detail, "reported_by": who.actor(), "at": at});
            tx.execute(
                "UPDATE actions SET status = ?1, outcome = ?2, updated_at = ?3 WHERE id = ?4",
                params![status.as_str(), serde_json::to_string(&outcome)?, at, action_id],
            )?;
            append(tx, &who.actor(), "action.outcome", action_id, &json!({"case_id": action.case_id, "status": status.as_str(), "detail": detail}))?;
            if executed {
                set_state(tx, &action.case_id, CaseState::Executed, &who.actor(), &format!("{} on {} executed by the SOAR", action.action, action.target))?;
            }
            let updated = tx.query_row(&format!("SELECT {ACTION_COLUMNS} FROM actions WHERE id = ?1"), params![action_id], action_row)?;
            Ok(updated)
        })
    }
}

/// Who a decision is recorded for.
pub(crate) struct Decider<'a> {
    pub who: Who<'a>,
    /// The key id, or `policy:<rule id>`.
    pub key_id: &'a str,
    /// As the audit trail names it.
    pub actor: String,
}

/// RFC 3339 with milliseconds, UTC: the form every time is stored in.
pub(crate) fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Asks the rules about one decision and writes what they answer: the decision, the
/// approval's and action's new status, the audit entries and the case's next state.
pub(crate) fn apply_decision(tx: &Tx, approval: &ApprovalRecord, by: &Decider, ballot: Ballot, at: DateTime<Utc>) -> Result<(), DecisionError> {
    let expires_at = DateTime::parse_from_rfc3339(&approval.expires_at)
        .map_err(|e| StoreError::Corrupt(format!("approval {} expires_at `{}`: {e}", approval.approval_id, approval.expires_at)))?
        .with_timezone(&Utc);
    let binding_holds = approval.action.as_ref().is_none_or(|a| binding_hash(&a.recommendation_id, &a.action, &a.target, a.tier) == approval.binding_hash);
    let state = approval::State {
        status: approval.status,
        tier: approval.tier,
        required_approvals: approval.required_approvals,
        requested_by: &approval.requested_principal,
        expires_at,
        decisions: approval.decisions.iter().map(|d| (d.principal.as_str(), d.decision)).collect(),
        binding_holds,
    };
    let transition = approval::decide(&state, &by.who, ballot, at)?;
    let id = approval.approval_id.as_str();
    let when = stamp(at);
    let principal = by.who.principal();
    tx.execute(
        "INSERT INTO approval_decisions (approval_id, actor, decision, rationale, at, principal) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![id, by.key_id, ballot.decision.as_str(), ballot.rationale.trim(), when, principal],
    )?;
    let (approvals, required) = match transition {
        Transition::Counted { approvals, required } => (approvals, required),
        Transition::Approved { approvals } => (approvals, approval.required_approvals),
        Transition::Rejected => (0, approval.required_approvals),
    };
    append(
        tx,
        &by.actor,
        "approval.decision",
        id,
        &json!({"decision": ballot.decision, "rationale": ballot.rationale.trim(), "principal": principal, "case_id": approval.case_id,
                "approvals": approvals, "required": required}),
    )?;
    let status = transition.status();
    if status != ApprovalStatus::Pending {
        tx.execute("UPDATE approvals SET status = ?1, decided_at = ?2 WHERE id = ?3", params![status.as_str(), when, id])?;
        if let Some(action) = &approval.action {
            let action_status = if status == ApprovalStatus::Approved { ActionStatus::Approved } else { ActionStatus::Rejected };
            tx.execute("UPDATE actions SET status = ?1, updated_at = ?2 WHERE id = ?3", params![action_status.as_str(), when, action.action_id])?;
            append(tx, &by.actor, &format!("action.{}", action_status.as_str()), &action.action_id, &json!({"case_id": approval.case_id, "approval_id": id}))?;
        }
        append(tx, &by.actor, &format!("approval.{}", status.as_str()), id, &json!({"case_id": approval.case_id, "principal": principal}))?;
        settle_case(tx, &approval.case_id, &by.actor)?;
    }
    Ok(())
}

/// Applies the emergency rule's decision to an approval just inserted.
pub(crate) fn pre_approve(tx: &Tx, approval_id: &str, p: &PolicyApproval, at: DateTime<Utc>) -> Result<(), DecisionError> {
    let approval = load_approval(tx, approval_id)?.ok_or_else(|| DecisionError::NotFound(approval_id.to_string()))?;
    let key_id = format!("policy:{}", p.rule_id);
    let by = Decider { who: Who::Policy { rule_id: &p.rule_id }, key_id: &key_id, actor: key_id.clone() };
    apply_decision(tx, &approval, &by, Ballot { decision: Decision::Approve, rationale: &p.rationale }, at)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// A case view lists the case's approvals and actions; the queue, the pending approvals;
    /// the outbox, the approved actions. Each is read through an index, not a scan of every
    /// approval or action ever made.
    #[test]
    fn listings_by_status_or_case_are_read_through_an_index() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let conn = store.read().unwrap();
        for (table, status) in [("approvals", "pending"), ("approvals", "approved"), ("actions", "approved")] {
            for (status, case_id) in [(Some(status), None), (None, Some("case-1")), (Some(status), Some("case-1"))] {
                let (filter, values) = listing_filter(status, case_id);
                let plan = conn
                    .query_map(&format!("EXPLAIN QUERY PLAN SELECT id FROM {table} {filter} ORDER BY created_at, id"), &values, |r| r.get::<String>(3))
                    .unwrap();
                assert!(plan.iter().all(|step| !step.starts_with("SCAN") || step.contains(" INDEX ")), "{table} {filter}: {plan:?}");
            }
        }
    }
}
