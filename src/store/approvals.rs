//! Approvals and the action outbox. An approval is bound to a hash of the exact action and
//! target it covers; N distinct approvers approve, one rejection rejects, the requester
//! can't decide, and nothing is decided after it expired. Approved actions wait in the
//! outbox for a SOAR; the service itself never executes anything.

use rusqlite::{OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::audit::append;
use super::cases::{CaseState, set_state};
use super::{Identity, Store, StoreError, now};
use crate::policy::Tier;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    Pending,
    Approved,
    Rejected,
    Expired,
}

impl ApprovalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalStatus::Pending => "pending",
            ApprovalStatus::Approved => "approved",
            ApprovalStatus::Rejected => "rejected",
            ApprovalStatus::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<ApprovalStatus> {
        [ApprovalStatus::Pending, ApprovalStatus::Approved, ApprovalStatus::Rejected, ApprovalStatus::Expired].into_iter().find(|x| x.as_str() == s)
    }
}

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
        }
    }

    pub fn parse(s: &str) -> Option<ActionStatus> {
        [ActionStatus::PendingApproval, ActionStatus::Approved, ActionStatus::Rejected, ActionStatus::Expired, ActionStatus::Executed, ActionStatus::Failed]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approve,
    Reject,
}

#[derive(Debug, Clone, Serialize)]
pub struct DecisionRecord {
    /// Key id of the approver.
    pub actor: String,
    /// The approver's key name, for people to read.
    pub actor_name: Option<String>,
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
    pub created_at: String,
    pub expires_at: String,
    pub decided_at: Option<String>,
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
    pub expires_at: String,
    pub summary: String,
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
    #[error("the identity that asked for the recommendation cannot decide on its approval")]
    OwnRequest,
    #[error("this identity has already decided on this approval")]
    AlreadyDecidedByYou,
    #[error("the approval is already {0}")]
    Closed(&'static str),
    #[error("the approved action no longer matches what was approved")]
    BindingMismatch,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for DecisionError {
    fn from(e: rusqlite::Error) -> Self {
        DecisionError::Store(StoreError::Sql(e))
    }
}

pub(crate) fn insert_action(tx: &Transaction, a: &NewAction) -> Result<(), StoreError> {
    let at = now();
    let status = if a.tier == Tier::Automatic { ActionStatus::Approved } else { ActionStatus::PendingApproval };
    tx.execute(
        "INSERT INTO actions (id, case_id, recommendation_id, approval_id, action, target, tier, rationale, status, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
        params![a.id, a.case_id, a.recommendation_id, a.approval_id, a.action, a.target, a.tier.as_str(), a.rationale, status.as_str(), at],
    )?;
    Ok(())
}

pub(crate) fn insert_approval(tx: &Transaction, a: &NewApproval) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO approvals (id, case_id, recommendation_id, kind, action_id, binding_hash, tier, required_approvals, status, requested_by, created_at, expires_at, summary)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending', ?9, ?10, ?11, ?12)",
        params![
            a.id, a.case_id, a.recommendation_id, if a.kind == ApprovalKind::Action { "action" } else { "review" }, a.action_id,
            a.binding_hash, a.tier.as_str(), a.required_approvals, a.requested_by, now(), a.expires_at, a.summary
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

fn action_row(r: &rusqlite::Row) -> rusqlite::Result<ActionRecord> {
    let outcome: Option<String> = r.get(11)?;
    Ok(ActionRecord {
        action_id: r.get(0)?,
        case_id: r.get(1)?,
        recommendation_id: r.get(2)?,
        approval_id: r.get(3)?,
        action: r.get(4)?,
        target: r.get(5)?,
        tier: tier_of(&r.get::<_, String>(6)?),
        rationale: r.get(7)?,
        status: ActionStatus::parse(&r.get::<_, String>(8)?).unwrap_or(ActionStatus::PendingApproval),
        created_at: r.get(9)?,
        updated_at: r.get(10)?,
        outcome: outcome.and_then(|o| serde_json::from_str(&o).ok()),
    })
}

const APPROVAL_COLUMNS: &str = "id, case_id, recommendation_id, kind, action_id, binding_hash, tier, required_approvals, status, requested_by, created_at, expires_at, decided_at, summary";

struct ApprovalRow {
    record: ApprovalRecord,
    action_id: Option<String>,
}

fn approval_row(r: &rusqlite::Row) -> rusqlite::Result<ApprovalRow> {
    Ok(ApprovalRow {
        action_id: r.get(4)?,
        record: ApprovalRecord {
            approval_id: r.get(0)?,
            case_id: r.get(1)?,
            recommendation_id: r.get(2)?,
            kind: if r.get::<_, String>(3)? == "review" { ApprovalKind::Review } else { ApprovalKind::Action },
            binding_hash: r.get(5)?,
            tier: tier_of(&r.get::<_, String>(6)?),
            required_approvals: r.get(7)?,
            status: ApprovalStatus::parse(&r.get::<_, String>(8)?).unwrap_or(ApprovalStatus::Pending),
            requested_by: r.get(9)?,
            created_at: r.get(10)?,
            expires_at: r.get(11)?,
            decided_at: r.get(12)?,
            summary: r.get(13)?,
            decisions: Vec::new(),
            action: None,
        },
    })
}

fn load_approval(tx: &Transaction, id: &str) -> Result<Option<ApprovalRecord>, StoreError> {
    let row = tx.query_row(&format!("SELECT {APPROVAL_COLUMNS} FROM approvals WHERE id = ?1"), params![id], approval_row).optional()?;
    let Some(ApprovalRow { mut record, action_id }) = row else { return Ok(None) };
    let mut stmt = tx.prepare(
        "SELECT d.actor, d.decision, d.rationale, d.at, k.name FROM approval_decisions d LEFT JOIN api_keys k ON k.id = d.actor
         WHERE d.approval_id = ?1 ORDER BY d.at",
    )?;
    record.decisions = stmt
        .query_map(params![id], |r| {
            Ok(DecisionRecord {
                actor: r.get(0)?,
                decision: if r.get::<_, String>(1)? == "approve" { Decision::Approve } else { Decision::Reject },
                rationale: r.get(2)?,
                at: r.get(3)?,
                actor_name: r.get(4)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(aid) = action_id {
        record.action = tx.query_row(&format!("SELECT {ACTION_COLUMNS} FROM actions WHERE id = ?1"), params![aid], action_row).optional()?;
    }
    Ok(Some(record))
}

/// Marks pending approvals past their expiry as expired (with their actions), auditing each.
fn expire_due(tx: &Transaction, at: &str) -> Result<(), StoreError> {
    let due: Vec<(String, Option<String>, String)> = {
        let mut stmt = tx.prepare("SELECT id, action_id, case_id FROM approvals WHERE status = 'pending' AND expires_at <= ?1")?;
        stmt.query_map(params![at], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect::<Result<Vec<_>, _>>()?
    };
    for (id, action_id, case_id) in due {
        tx.execute("UPDATE approvals SET status = 'expired', decided_at = ?1 WHERE id = ?2", params![at, id])?;
        if let Some(aid) = action_id {
            tx.execute("UPDATE actions SET status = 'expired', updated_at = ?1 WHERE id = ?2", params![at, aid])?;
        }
        append(tx, "system", "approval.expired", &id, &json!({"case_id": case_id}))?;
        settle_case(tx, &case_id, "system")?;
    }
    Ok(())
}

/// When a case has no pending approvals left, moves it to `approved` (something was
/// approved) or back to `recommended`.
fn settle_case(tx: &Transaction, case_id: &str, actor: &str) -> Result<(), StoreError> {
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
            let ids: Vec<String> = {
                let mut stmt = tx.prepare(
                    "SELECT id FROM approvals WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR case_id = ?2) ORDER BY created_at DESC, id LIMIT ?3",
                )?;
                stmt.query_map(params![status.map(|s| s.as_str()), case_id, limit as i64], |r| r.get(0))?.collect::<Result<Vec<_>, _>>()?
            };
            let mut out = Vec::new();
            for id in ids {
                out.extend(load_approval(tx, &id)?);
            }
            Ok(out)
        })
    }

    /// Records one identity's decision under the approval rules.
    pub fn decide(&self, id: &str, who: &Identity, decision: Decision, rationale: &str) -> Result<ApprovalRecord, DecisionError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction()?;
        let at = now();
        expire_due(&tx, &at)?;
        let approval = load_approval(&tx, id)?.ok_or_else(|| DecisionError::NotFound(id.to_string()))?;
        if approval.status != ApprovalStatus::Pending {
            // Commit the expiry that may just have happened before answering.
            tx.commit()?;
            return Err(DecisionError::Closed(approval.status.as_str()));
        }
        if approval.requested_by == who.key_id {
            return Err(DecisionError::OwnRequest);
        }
        if approval.decisions.iter().any(|d| d.actor == who.key_id) {
            return Err(DecisionError::AlreadyDecidedByYou);
        }
        if let Some(action) = &approval.action
            && binding_hash(&action.recommendation_id, &action.action, &action.target, action.tier) != approval.binding_hash
        {
            return Err(DecisionError::BindingMismatch);
        }
        tx.execute(
            "INSERT INTO approval_decisions (approval_id, actor, decision, rationale, at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id, who.key_id, if decision == Decision::Approve { "approve" } else { "reject" }, rationale, at],
        )?;
        let approvals = approval.decisions.iter().filter(|d| d.decision == Decision::Approve).count() as u32 + u32::from(decision == Decision::Approve);
        let new_status = match decision {
            Decision::Reject => Some(ApprovalStatus::Rejected),
            Decision::Approve if approvals >= approval.required_approvals.max(1) => Some(ApprovalStatus::Approved),
            Decision::Approve => None,
        };
        append(
            &tx,
            &who.actor(),
            "approval.decision",
            id,
            &json!({"decision": decision, "rationale": rationale, "case_id": approval.case_id, "approvals": approvals, "required": approval.required_approvals}),
        )?;
        if let Some(status) = new_status {
            tx.execute("UPDATE approvals SET status = ?1, decided_at = ?2 WHERE id = ?3", params![status.as_str(), at, id])?;
            if let Some(action) = &approval.action {
                let action_status = if status == ApprovalStatus::Approved { ActionStatus::Approved } else { ActionStatus::Rejected };
                tx.execute("UPDATE actions SET status = ?1, updated_at = ?2 WHERE id = ?3", params![action_status.as_str(), at, action.action_id])?;
            }
            append(&tx, &who.actor(), &format!("approval.{}", status.as_str()), id, &json!({"case_id": approval.case_id}))?;
            settle_case(&tx, &approval.case_id, &who.actor())?;
        }
        let updated = load_approval(&tx, id)?.ok_or_else(|| DecisionError::NotFound(id.to_string()))?;
        tx.commit()?;
        Ok(updated)
    }

    pub fn actions(&self, status: Option<ActionStatus>, case_id: Option<&str>) -> Result<Vec<ActionRecord>, StoreError> {
        self.tx(|tx| {
            expire_due(tx, &now())?;
            let mut stmt = tx.prepare(&format!(
                "SELECT {ACTION_COLUMNS} FROM actions WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR case_id = ?2) ORDER BY created_at, id"
            ))?;
            let rows = stmt.query_map(params![status.map(|s| s.as_str()), case_id], action_row)?.collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }

    /// The SOAR reports what it did with an approved action.
    pub fn record_outcome(&self, action_id: &str, who: &Identity, executed: bool, detail: &str) -> Result<ActionRecord, StoreError> {
        self.tx(|tx| {
            let action = tx
                .query_row(&format!("SELECT {ACTION_COLUMNS} FROM actions WHERE id = ?1"), params![action_id], action_row)
                .optional()?
                .ok_or_else(|| StoreError::NotFound(format!("action {action_id}")))?;
            if action.status != ActionStatus::Approved {
                return Err(StoreError::Conflict(format!("action {action_id} is {}, not approved", action.status.as_str())));
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
