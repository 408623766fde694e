//! The approval rules (contract sections 4 and 14) as one pure function: given what an
//! approval is, who decides, what they decide and when, [`decide`] says what happens or
//! why it may not. Every store backend calls it inside its own transaction and writes the
//! transition it returns; nothing here touches storage or reads the clock.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

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

/// Why an approval ended without a decision (its status is then `expired`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClosedReason {
    /// Its TTL ran out.
    Expired,
    /// Its case was closed (or merged into another).
    CaseClosed,
    /// A newer recommendation for its case replaced the one it belongs to.
    Superseded,
}

impl ClosedReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ClosedReason::Expired => "expired",
            ClosedReason::CaseClosed => "case_closed",
            ClosedReason::Superseded => "superseded",
        }
    }

    pub fn parse(s: &str) -> Option<ClosedReason> {
        [ClosedReason::Expired, ClosedReason::CaseClosed, ClosedReason::Superseded].into_iter().find(|x| x.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approve,
    Reject,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Approve => "approve",
            Decision::Reject => "reject",
        }
    }
}

/// What the rules need to know about an approval.
#[derive(Debug, Clone)]
pub struct State<'a> {
    pub status: ApprovalStatus,
    pub tier: Tier,
    pub required_approvals: u32,
    /// The principal that asked for the recommendation.
    pub requested_by: &'a str,
    pub expires_at: DateTime<Utc>,
    /// `(principal, decision)` of every decision so far.
    pub decisions: Vec<(&'a str, Decision)>,
    /// Whether the action still hashes to what the approval was bound to.
    pub binding_holds: bool,
}

/// Who decides: a person or system behind a key, or a pre-approved emergency rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who<'a> {
    Principal(&'a str),
    /// Recorded as principal `policy:<rule id>`.
    Policy {
        rule_id: &'a str,
    },
}

impl Who<'_> {
    pub fn principal(&self) -> String {
        match self {
            Who::Principal(p) => (*p).to_string(),
            Who::Policy { rule_id } => format!("policy:{rule_id}"),
        }
    }
}

/// One decision as asked for.
#[derive(Debug, Clone, Copy)]
pub struct Ballot<'a> {
    pub decision: Decision,
    pub rationale: &'a str,
}

/// What a decision does to the approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Counted; still pending (`approvals` distinct principals of `required`).
    Counted {
        approvals: u32,
        required: u32,
    },
    Approved {
        approvals: u32,
    },
    Rejected,
}

impl Transition {
    /// The approval's status after the decision.
    pub fn status(self) -> ApprovalStatus {
        match self {
            Transition::Counted { .. } => ApprovalStatus::Pending,
            Transition::Approved { .. } => ApprovalStatus::Approved,
            Transition::Rejected => ApprovalStatus::Rejected,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecideError {
    #[error("a decision needs a non-empty rationale")]
    RationaleRequired,
    #[error("the approval is already {}", .0.as_str())]
    Closed(ApprovalStatus),
    #[error("the approval expired before this decision")]
    Expired,
    #[error("the approved action no longer matches what was approved")]
    BindingMismatch,
    #[error("the principal that asked for the recommendation cannot decide on its approval")]
    OwnRequest,
    #[error("this principal has already decided on this approval")]
    AlreadyDecided,
    #[error("an emergency rule may not decide this: {0}")]
    NotForPolicy(&'static str),
}

impl crate::error_code::Coded for DecideError {
    fn code(&self) -> crate::error_code::ErrorCode {
        use crate::error_code::ErrorCode;
        match self {
            DecideError::RationaleRequired => ErrorCode::RationaleRequired,
            DecideError::OwnRequest => ErrorCode::OwnRequest,
            DecideError::AlreadyDecided => ErrorCode::AlreadyDecided,
            DecideError::Closed(_) | DecideError::Expired => ErrorCode::ApprovalClosed,
            DecideError::BindingMismatch => ErrorCode::BindingMismatch,
            DecideError::NotForPolicy(_) => ErrorCode::Forbidden,
        }
    }
}

/// The approval rules, in the order they are checked:
/// 1. a decision carries a non-empty rationale;
/// 2. a decided or expired approval takes no more decisions, nor one past its expiry;
/// 3. the action must still be the one the approval was bound to;
/// 4. an emergency rule only approves, and never a `two_person` action;
/// 5. the requester's principal can't decide, and one principal counts once, whatever
///    keys it holds;
/// 6. one rejection rejects; `required_approvals` distinct principals approve.
pub fn decide(state: &State, who: &Who, ballot: Ballot, now: DateTime<Utc>) -> Result<Transition, DecideError> {
    if ballot.rationale.trim().is_empty() {
        return Err(DecideError::RationaleRequired);
    }
    if state.status != ApprovalStatus::Pending {
        return Err(DecideError::Closed(state.status));
    }
    if now >= state.expires_at {
        return Err(DecideError::Expired);
    }
    if !state.binding_holds {
        return Err(DecideError::BindingMismatch);
    }
    if let Who::Policy { .. } = who {
        if state.tier == Tier::TwoPerson {
            return Err(DecideError::NotForPolicy("two-person actions need two people"));
        }
        if ballot.decision == Decision::Reject {
            return Err(DecideError::NotForPolicy("rules only pre-approve"));
        }
    }
    let principal = who.principal();
    if principal == state.requested_by {
        return Err(DecideError::OwnRequest);
    }
    if state.decisions.iter().any(|(p, _)| *p == principal) {
        return Err(DecideError::AlreadyDecided);
    }
    if ballot.decision == Decision::Reject {
        return Ok(Transition::Rejected);
    }
    let mut approvers: Vec<&str> = state.decisions.iter().filter(|(_, d)| *d == Decision::Approve).map(|(p, _)| *p).collect();
    approvers.sort_unstable();
    approvers.dedup();
    let approvals = approvers.len() as u32 + 1;
    let required = state.required_approvals.max(1);
    Ok(if approvals >= required { Transition::Approved { approvals } } else { Transition::Counted { approvals, required } })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 5, 1, h, 0, 0).single().unwrap_or_default()
    }

    fn state(tier: Tier) -> State<'static> {
        State {
            status: ApprovalStatus::Pending,
            tier,
            required_approvals: tier.required_approvals(),
            requested_by: "case-engine",
            expires_at: at(12),
            decisions: Vec::new(),
            binding_holds: true,
        }
    }

    const APPROVE: Ballot = Ballot { decision: Decision::Approve, rationale: "owner confirmed the key leaked" };
    const REJECT: Ballot = Ballot { decision: Decision::Reject, rationale: "benign: scheduled rotation" };

    #[test]
    fn a_rationale_is_required() {
        let s = state(Tier::HumanApproval);
        for r in ["", "   \n"] {
            assert_eq!(decide(&s, &Who::Principal("alice"), Ballot { decision: Decision::Approve, rationale: r }, at(10)), Err(DecideError::RationaleRequired));
        }
    }

    #[test]
    fn one_approver_approves_a_human_approval() {
        assert_eq!(decide(&state(Tier::HumanApproval), &Who::Principal("alice"), APPROVE, at(10)), Ok(Transition::Approved { approvals: 1 }));
    }

    #[test]
    fn two_person_needs_two_distinct_principals() {
        let mut s = state(Tier::TwoPerson);
        assert_eq!(decide(&s, &Who::Principal("alice"), APPROVE, at(10)), Ok(Transition::Counted { approvals: 1, required: 2 }));
        s.decisions.push(("alice", Decision::Approve));
        // Another key of alice's is still alice.
        assert_eq!(decide(&s, &Who::Principal("alice"), APPROVE, at(10)), Err(DecideError::AlreadyDecided));
        assert_eq!(decide(&s, &Who::Principal("bob"), APPROVE, at(10)), Ok(Transition::Approved { approvals: 2 }));
    }

    #[test]
    fn the_requesters_principal_cannot_decide() {
        let s = state(Tier::HumanApproval);
        assert_eq!(decide(&s, &Who::Principal("case-engine"), APPROVE, at(10)), Err(DecideError::OwnRequest));
        assert_eq!(decide(&s, &Who::Principal("case-engine"), REJECT, at(10)), Err(DecideError::OwnRequest));
    }

    #[test]
    fn one_rejection_rejects_even_after_an_approval() {
        let mut s = state(Tier::TwoPerson);
        s.decisions.push(("alice", Decision::Approve));
        assert_eq!(decide(&s, &Who::Principal("bob"), REJECT, at(10)), Ok(Transition::Rejected));
    }

    #[test]
    fn decided_and_expired_approvals_take_no_decision() {
        for status in [ApprovalStatus::Approved, ApprovalStatus::Rejected, ApprovalStatus::Expired] {
            let s = State { status, ..state(Tier::HumanApproval) };
            assert_eq!(decide(&s, &Who::Principal("alice"), APPROVE, at(10)), Err(DecideError::Closed(status)));
        }
        let s = state(Tier::HumanApproval);
        assert_eq!(decide(&s, &Who::Principal("alice"), APPROVE, at(12)), Err(DecideError::Expired));
        assert_eq!(decide(&s, &Who::Principal("alice"), APPROVE, at(13)), Err(DecideError::Expired));
    }

    #[test]
    fn a_changed_action_cannot_be_approved() {
        let s = State { binding_holds: false, ..state(Tier::HumanApproval) };
        assert_eq!(decide(&s, &Who::Principal("alice"), APPROVE, at(10)), Err(DecideError::BindingMismatch));
    }

    #[test]
    fn emergency_rules_approve_human_approval_only() {
        let rule = Who::Policy { rule_id: "leaked-gh-token" };
        assert_eq!(rule.principal(), "policy:leaked-gh-token");
        assert_eq!(decide(&state(Tier::HumanApproval), &rule, APPROVE, at(10)), Ok(Transition::Approved { approvals: 1 }));
        assert!(matches!(decide(&state(Tier::TwoPerson), &rule, APPROVE, at(10)), Err(DecideError::NotForPolicy(_))));
        assert!(matches!(decide(&state(Tier::HumanApproval), &rule, REJECT, at(10)), Err(DecideError::NotForPolicy(_))));
    }

    #[test]
    fn closed_reasons_round_trip() {
        for r in [ClosedReason::Expired, ClosedReason::CaseClosed, ClosedReason::Superseded] {
            assert_eq!(ClosedReason::parse(r.as_str()), Some(r));
            assert_eq!(serde_json::to_value(r).unwrap(), serde_json::json!(r.as_str()));
        }
        assert_eq!(ClosedReason::parse("rejected"), None);
    }

    #[test]
    fn transitions_name_the_status() {
        assert_eq!(Transition::Counted { approvals: 1, required: 2 }.status(), ApprovalStatus::Pending);
        assert_eq!(Transition::Approved { approvals: 2 }.status(), ApprovalStatus::Approved);
        assert_eq!(Transition::Rejected.status(), ApprovalStatus::Rejected);
    }
}
