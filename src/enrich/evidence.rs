//! Required evidence per action (contract section 12): the catalog names the items an
//! approver needs before an action (`required_evidence`); this module decides, from the
//! alerts and the enrichment, which are present and where — never the model.

use crate::alert::Alert;
use crate::policy::{ActionCatalog, Target};
use crate::recommendation::EvidenceStatus;

use super::{Context, InventoryMatch};

/// Every evidence item the catalog may require, with how people call it.
pub const ITEMS: [(&str, &str); 17] = [
    ("token_owner", "token owner"),
    ("token_scope", "token scope"),
    ("token_recent_use", "token recent use"),
    ("detection_reason", "detection reason"),
    ("rollback_path", "rollback path"),
    ("edr_evidence", "EDR evidence"),
    ("business_criticality", "business criticality"),
    ("session_state", "session state"),
    ("asset_owner", "owner"),
    ("audit_log_evidence", "audit-log evidence"),
    ("affected_service", "affected service"),
    ("cost_and_risk", "cost and risk"),
    ("recovery_plan", "recovery plan"),
    ("intel_match", "threat-intel match"),
    ("identity_kind", "identity type (human or non-human)"),
    ("change_record", "recent change record"),
    ("exposure", "exposure (internet or internal)"),
];

/// How people call an item (`token_owner` → "token owner").
pub fn label(item: &str) -> &str {
    ITEMS.iter().find(|(id, _)| *id == item).map(|(_, l)| *l).unwrap_or(item)
}

/// The uncertainty line for a proposal that misses required evidence ("Missing before
/// revoke_token on token:fp_…: rollback path."), or `None` when nothing is missing.
pub fn missing_note(action: &str, target: &str, status: &[EvidenceStatus]) -> Option<String> {
    let missing: Vec<&str> = status.iter().filter(|s| !s.present).map(|s| label(&s.item)).collect();
    if missing.is_empty() {
        return None;
    }
    let note = format!("Missing before {action} on {target}: {}.", missing.join(", "));
    Some(if note.chars().count() <= NOTE_MAX { note } else { note.chars().take(NOTE_MAX - 1).chain(['…']).collect() })
}

/// The longest uncertainty line the recommendation schema allows.
const NOTE_MAX: usize = 300;

pub fn is_item(item: &str) -> bool {
    ITEMS.iter().any(|(id, _)| *id == item)
}

/// Fields whose presence shows an endpoint (EDR) saw the process.
const EDR_FIELDS: [&str; 8] = ["CommandLine", "Image", "ParentImage", "ProcessId", "process.cmd_line", "process.name", "ParentCommandLine", "process"];
/// Fields that show a logon session.
const SESSION_FIELDS: [&str; 6] = ["LogonId", "TargetLogonId", "SessionId", "session_id", "logon_type", "LogonType"];
/// Fields that show a cloud control-plane audit event.
const AUDIT_FIELDS: [&str; 5] = ["eventName", "operationName", "protoPayload.methodName", "api.operation", "methodName"];

/// The evidence status of every item `action` requires, for `target`.
pub fn status(actions: &ActionCatalog, action: &str, target: &str, alerts: &[Alert], ctx: &Context) -> Vec<EvidenceStatus> {
    let Some(spec) = actions.actions.get(action) else { return Vec::new() };
    let parsed = Target::parse(target).ok();
    let subject = parsed.as_ref().and_then(|t| ctx.inventory_for(&t.kind, &t.value));
    let naming: Vec<(&Alert, String)> = parsed.as_ref().map(|t| naming_alerts(t, alerts, ctx)).unwrap_or_default();
    // Identities named beside a token: the account a token belongs to, when the token itself
    // is not on record.
    let related: Vec<&InventoryMatch> = ctx
        .inventory
        .iter()
        .filter(|m| parsed.as_ref().is_some_and(|t| t.kind == "token") && m.record.is_nhi() && !m.entity_key.starts_with("token:"))
        .filter(|m| naming.iter().any(|(a, _)| m.alerts.iter().any(|(id, _)| id == &a.id)))
        .collect();
    let own_or_related = |pick: &dyn Fn(&InventoryMatch) -> bool| -> Option<String> {
        subject.filter(|m| pick(m)).or_else(|| related.iter().copied().find(|m| pick(m))).map(|m| m.doc_ref())
    };
    // Alert evidence comes from the alerts that name the target, else from the request.
    let pool: Vec<&Alert> = if naming.is_empty() { alerts.iter().collect() } else { naming.iter().map(|(a, _)| *a).collect() };
    let alert_field = |keys: &[&str]| -> Option<String> {
        pool.iter().find_map(|a| {
            let prefix = if a.format == crate::alert::AlertFormat::Native { "fields." } else { "" };
            keys.iter().map(|k| format!("{prefix}{k}")).find(|p| a.value_at(p).is_some()).map(|p| format!("alert:{}#{p}", a.id))
        })
    };
    let alert_path = |path: &str| -> Option<String> { naming.iter().find(|(a, _)| a.value_at(path).is_some()).map(|(a, _)| format!("alert:{}#{path}", a.id)) };
    spec.required_evidence
        .iter()
        .map(|item| {
            let found: Option<String> = match item.as_str() {
                "token_owner" | "asset_owner" => own_or_related(&|m| m.record.owner.is_some()).or_else(|| alert_path("asset.owner")),
                "token_scope" => own_or_related(&|m| !m.record.scopes.is_empty()),
                "token_recent_use" => {
                    own_or_related(&|m| m.record.last_used_at.is_some()).or_else(|| naming.first().map(|(a, p)| format!("alert:{}#{p}", a.id)))
                }
                "detection_reason" => naming.first().map(|(a, _)| *a).or(alerts.first()).map(|a| format!("alert:{}#{}", a.id, a.rule_name_path())),
                "rollback_path" | "recovery_plan" => own_or_related(&|m| m.record.rollback.is_some()),
                "edr_evidence" => alert_field(&EDR_FIELDS),
                "business_criticality" => subject.filter(|m| m.record.criticality.is_some()).map(|m| m.doc_ref()).or_else(|| alert_path("asset.criticality")),
                "session_state" => alert_field(&SESSION_FIELDS).or_else(|| alert_path("entities.users[0]")),
                "audit_log_evidence" => alert_field(&AUDIT_FIELDS),
                "affected_service" => subject.filter(|m| m.record.service.is_some()).map(|m| m.doc_ref()),
                "cost_and_risk" => {
                    subject.filter(|m| m.record.criticality.is_some() && (m.record.service.is_some() || m.record.environment.is_some())).map(|m| m.doc_ref())
                }
                "identity_kind" => subject.filter(|m| m.record.kind.is_some()).map(|m| m.doc_ref()),
                "exposure" => subject.filter(|m| m.record.exposure.is_some()).map(|m| m.doc_ref()),
                "intel_match" => parsed
                    .as_ref()
                    .and_then(|t| ctx.intel.iter().find(|m| m.matches.iter().any(|x| x.value.eq_ignore_ascii_case(&t.value))))
                    .map(|m| m.doc_ref()),
                "change_record" => {
                    parsed.as_ref().and_then(|t| ctx.changes.iter().find(|c| c.entity_key == super::import::key(&t.kind, &t.value))).map(|c| c.doc_ref())
                }
                _ => None,
            };
            EvidenceStatus { item: item.clone(), present: found.is_some(), doc_ref: found }
        })
        .collect()
}

/// The alerts that name a target among their entities, with the path where they do. A
/// token target named by fingerprint matches the placeholder it was taken from.
fn naming_alerts<'a>(t: &Target, alerts: &'a [Alert], ctx: &Context) -> Vec<(&'a Alert, String)> {
    let mut out = Vec::new();
    for a in alerts {
        let found = super::entity_paths(a).into_iter().find(|(kind, value, _)| {
            let value_matches = value.eq_ignore_ascii_case(&t.value) || ctx.fingerprints.get(value.as_str()).is_some_and(|fp| fp == &t.value);
            value_matches && (*kind == t.kind || t.kind == "token")
        });
        if let Some((_, _, path)) = found {
            out.push((a, path));
        }
    }
    out
}

/// Checks the items a catalog requires: each must be one this module knows.
pub fn check_catalog(actions: &ActionCatalog) -> Result<(), String> {
    for (name, spec) in &actions.actions {
        if let Some(bad) = spec.required_evidence.iter().find(|i| !is_item(i)) {
            let known: Vec<&str> = ITEMS.iter().map(|(id, _)| *id).collect();
            return Err(format!("action `{name}`: `{bad}` is not an evidence item ({})", known.join(", ")));
        }
    }
    Ok(())
}
