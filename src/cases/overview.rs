//! What the queue shows of a case (contract section 11): owner, SLA, freshness,
//! confidence, missing context, blocked actions, related cases. Computed from what the
//! store holds and the clock, by one pure function.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::approval::ApprovalStatus;
use crate::policy::stream::Sla;
use crate::store::{ApprovalKind, ApprovalRecord, CaseRecord};

#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    pub assignee: Option<String>,
    pub opened_at: String,
    pub sla: Option<SlaStatus>,
    pub freshness: Freshness,
    pub confidence: Option<f64>,
    pub missing_context: Vec<MissingItem>,
    pub blocked_actions: Vec<BlockedAction>,
    pub related_cases: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SlaStatus {
    pub due_at: String,
    pub breached: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Freshness {
    pub newest_alert_at: String,
    pub age_seconds: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MissingItem {
    #[serde(rename = "for")]
    pub for_: String,
    pub item: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct BlockedAction {
    pub action_id: String,
    pub action: String,
    pub approval_id: String,
    /// Approvals still needed.
    pub waiting_for: u32,
}

/// The queue's view of one case. `current` is the case's newest recommendation response.
pub fn overview(case: &CaseRecord, current: Option<&Value>, approvals: &[ApprovalRecord], related: Vec<String>, sla: &Sla, now: DateTime<Utc>) -> Overview {
    let opened_at = case.first_alert_at.clone().unwrap_or_else(|| case.created_at.clone());
    let severity = case.closed.as_ref().map(|c| c.severity).or(case.severity);
    let ended = case.closed.as_ref().and_then(|c| parse(&c.closed_at)).unwrap_or(now);
    let sla = match (severity.and_then(|s| sla.due_within(s)), parse(&opened_at)) {
        (Some(within), Some(opened)) => {
            let due = opened + within;
            Some(SlaStatus { due_at: stamp(due), breached: ended > due })
        }
        _ => None,
    };
    let newest = case.newest_alert_at.clone().unwrap_or_else(|| case.created_at.clone());
    let age_seconds = parse(&newest).map(|t| (now - t).num_seconds().max(0)).unwrap_or(0);
    let rec = current.and_then(|r| r.get("recommendation")).filter(|r| !r.is_null());
    let confidence = rec.and_then(|r| r["confidence"].as_f64());
    let mut missing_context = Vec::new();
    for action in rec.and_then(|r| r["proposed_actions"].as_array()).into_iter().flatten() {
        for status in action["evidence_status"].as_array().into_iter().flatten() {
            if status["present"] == Value::Bool(false)
                && let Some(item) = status["item"].as_str()
            {
                let m = MissingItem {
                    for_: format!("action:{}", action["action"].as_str().unwrap_or("?")),
                    item: crate::enrich::evidence::label(item).to_string(),
                };
                if !missing_context.contains(&m) {
                    missing_context.push(m);
                }
            }
        }
    }
    let blocked_actions = approvals
        .iter()
        .filter(|a| a.kind == ApprovalKind::Action && a.status == ApprovalStatus::Pending)
        .filter_map(|a| {
            let action = a.action.as_ref()?;
            let approved = a.decisions.iter().filter(|d| d.decision == crate::store::Decision::Approve).count() as u32;
            Some(BlockedAction {
                action_id: action.action_id.clone(),
                action: action.action.clone(),
                approval_id: a.approval_id.clone(),
                waiting_for: a.required_approvals.saturating_sub(approved),
            })
        })
        .collect();
    Overview {
        assignee: case.assignee.clone(),
        opened_at,
        sla,
        freshness: Freshness { newest_alert_at: newest, age_seconds },
        confidence,
        missing_context,
        blocked_actions,
        related_cases: related,
    }
}

fn parse(t: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(t).ok().map(|t| t.with_timezone(&Utc))
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::severity::Severity;
    use crate::store::CaseState;

    fn case(severity: Severity) -> CaseRecord {
        CaseRecord {
            case_id: "case-1".into(),
            title: "t".into(),
            state: CaseState::Recommended,
            severity: Some(severity),
            created_at: "2026-03-02T10:20:00.000Z".into(),
            updated_at: "2026-03-02T10:20:00.000Z".into(),
            created_by: "x".into(),
            closed: None,
            assignee: Some("alice".into()),
            first_alert_at: Some("2026-03-02T10:00:00.000Z".into()),
            newest_alert_at: Some("2026-03-02T10:15:00.000Z".into()),
            merged_into: None,
        }
    }

    #[test]
    fn sla_counts_from_the_first_alert_and_freshness_from_the_newest() {
        let sla = crate::policy::StreamPolicy::embedded().unwrap().sla;
        let now = parse("2026-03-02T15:00:00Z").unwrap();
        let o = overview(&case(Severity::High), None, &[], vec![], &sla, now);
        let s = o.sla.unwrap();
        assert_eq!(s.due_at, "2026-03-02T14:00:00.000Z");
        assert!(s.breached);
        assert_eq!(o.freshness.age_seconds, 4 * 3600 + 45 * 60);
        let o = overview(&case(Severity::Medium), None, &[], vec![], &sla, now);
        assert!(!o.sla.unwrap().breached);
        assert!(overview(&case(Severity::Informational), None, &[], vec![], &sla, now).sla.is_none());
    }

    #[test]
    fn missing_context_comes_from_the_current_recommendations_evidence_status() {
        let sla = crate::policy::StreamPolicy::embedded().unwrap().sla;
        let rec = json!({"recommendation": {"confidence": 0.7, "proposed_actions": [
            {"action": "revoke_token", "evidence_status": [{"item": "token_owner", "present": false, "ref": null}, {"item": "detection_reason", "present": true, "ref": "alert:a#rule.name"}]}
        ]}});
        let o = overview(&case(Severity::High), Some(&rec), &[], vec![], &sla, Utc::now());
        assert_eq!(o.confidence, Some(0.7));
        assert_eq!(o.missing_context, vec![MissingItem { for_: "action:revoke_token".into(), item: "token owner".into() }]);
    }
}
