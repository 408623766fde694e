//! The case as a state machine (contract section 11): the states, and the one table of
//! transitions every store backend checks before it moves a case. Anything not in the
//! table is refused (409 `invalid_transition`).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseState {
    /// Opened from normalised alerts.
    New,
    /// Context the alerts don't carry was joined (inventory, intel, changes).
    Enriched,
    /// Another alert joined the case; a fresh recommendation is due.
    Correlated,
    Recommended,
    NeedsReview,
    AwaitingApproval,
    Approved,
    Executed,
    /// The affected service is back after an executed action.
    Recovered,
    Closed,
    /// Every learning task of the closed case was decided.
    Learned,
}

use CaseState::*;

/// Every state, in lifecycle order.
pub const ALL: [CaseState; 11] = [New, Enriched, Correlated, Recommended, NeedsReview, AwaitingApproval, Approved, Executed, Recovered, Closed, Learned];

/// States a recommendation or a new alert may follow: everything open.
const WORKING: [CaseState; 9] = [New, Enriched, Correlated, Recommended, NeedsReview, AwaitingApproval, Approved, Executed, Recovered];

/// The transitions, `(from, to)`. Staying in a state is not a transition.
///
/// - Work on an open case (an alert joining, a recommendation) may happen in any open state.
/// - `approved` only follows the approvals of `awaiting_approval`.
/// - `executed` may follow any open state: the SOAR reports on an action that is already
///   approved (the store checks that), and the case may have moved on meanwhile. An
///   automatic action is approved while its case is `recommended`; one approval of several
///   decided leaves it `awaiting_approval`; an alert joining makes it `correlated`.
/// - `recovered` only follows an execution.
/// - A closed case only becomes `learned`; a learned case is final.
pub fn allowed(from: CaseState, to: CaseState) -> bool {
    match to {
        New => false,
        Enriched => matches!(from, New),
        Correlated | Recommended | NeedsReview | AwaitingApproval | Executed | Closed => WORKING.contains(&from),
        Approved => matches!(from, AwaitingApproval),
        Recovered => matches!(from, Executed),
        Learned => matches!(from, Closed),
    }
}

/// Whether a case in `state` still takes alerts, recommendations and decisions.
pub fn is_open(state: CaseState) -> bool {
    !matches!(state, Closed | Learned)
}

/// A transition the table refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a case cannot go from {} to {}", from.as_str(), to.as_str())]
pub struct InvalidTransition {
    pub from: CaseState,
    pub to: CaseState,
}

/// Checks one move: `Ok(true)` when the state changes, `Ok(false)` when it stays.
pub fn check(from: CaseState, to: CaseState) -> Result<bool, InvalidTransition> {
    if from == to {
        return Ok(false);
    }
    if allowed(from, to) { Ok(true) } else { Err(InvalidTransition { from, to }) }
}

impl CaseState {
    pub fn as_str(self) -> &'static str {
        match self {
            New => "new",
            Enriched => "enriched",
            Correlated => "correlated",
            Recommended => "recommended",
            NeedsReview => "needs_review",
            AwaitingApproval => "awaiting_approval",
            Approved => "approved",
            Executed => "executed",
            Recovered => "recovered",
            Closed => "closed",
            Learned => "learned",
        }
    }
}

/// A state name that is not one of [`ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown case state `{0}`")]
pub struct UnknownState(pub String);

impl std::str::FromStr for CaseState {
    type Err = UnknownState;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ALL.into_iter().find(|st| st.as_str() == s).ok_or_else(|| UnknownState(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_errors() {
        for s in ALL {
            assert_eq!(s.as_str().parse::<CaseState>(), Ok(s));
            assert_eq!(serde_json::to_value(s).unwrap(), serde_json::json!(s.as_str()));
        }
        assert!("reopened".parse::<CaseState>().is_err());
    }

    #[test]
    fn closed_cases_only_become_learned_and_learned_is_final() {
        for to in ALL {
            assert_eq!(allowed(Closed, to), to == Learned, "closed -> {to:?}");
            assert!(!allowed(Learned, to), "learned -> {to:?}");
        }
    }

    #[test]
    fn approval_execution_and_recovery_come_in_order() {
        assert!(allowed(AwaitingApproval, Approved));
        assert!(!allowed(Recommended, Approved));
        assert!(allowed(Approved, Executed));
        assert!(!allowed(Approved, Recovered));
        assert!(allowed(Executed, Recovered));
        assert!(!allowed(NeedsReview, Recovered));
        assert!(!allowed(Closed, Executed), "nothing of a closed case executes");
    }

    #[test]
    fn an_approved_action_executes_from_any_open_state() {
        // Automatic actions are approved while the case is `recommended`; one of several
        // approvals leaves it `awaiting_approval`; a joining alert makes it `correlated`.
        for from in WORKING {
            assert!(allowed(from, Executed) || from == Executed, "{from:?} -> executed");
        }
        assert_eq!(check(Recommended, Executed), Ok(true));
        assert_eq!(check(AwaitingApproval, Executed), Ok(true));
        assert_eq!(check(Executed, Executed), Ok(false));
    }

    #[test]
    fn every_open_state_takes_new_work_and_can_close() {
        for from in WORKING {
            for to in [Correlated, Recommended, NeedsReview, AwaitingApproval, Closed] {
                assert!(allowed(from, to) || from == to, "{from:?} -> {to:?}");
            }
        }
        assert_eq!(check(Recommended, Recommended), Ok(false));
        assert_eq!(check(Closed, Recommended), Err(InvalidTransition { from: Closed, to: Recommended }));
        assert!(!allowed(Recommended, New), "nothing goes back to new");
    }
}
