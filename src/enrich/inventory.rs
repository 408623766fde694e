//! Inventory of assets and identities (contract section 12): JSON lines, upserted by
//! `entity`, and the facts they give about an alert's entities.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::import::{Entity, ImportError, json_lines, opt_time};
use crate::alert::Asset;
use crate::severity::Severity;

/// An identity unused for this long before an alert is stale.
pub const UNUSED_DAYS: i64 = 90;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdentityKind {
    Human,
    Nhi,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Exposure {
    Internet,
    Internal,
}

/// Whether a person or account still exists: an NHI whose owner is `departed` or
/// `disabled` has no one answering for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Active,
    Disabled,
    Departed,
}

/// One inventory line: an asset (`environment`, `criticality`, `exposure`, `service`) or an
/// identity (`kind`, `scopes`, `created_at`, `last_used_at`, `last_rotated_at`,
/// `rollback`, `status`). Unknown keys are refused: a typo must not drop a fact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryRecord {
    pub entity: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<IdentityKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub criticality: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposure: Option<Exposure>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "opt_time")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "opt_time")]
    pub last_used_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "opt_time")]
    pub last_rotated_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
}

impl InventoryRecord {
    pub fn entity(&self) -> Result<Entity, String> {
        Entity::parse(&self.entity)
    }

    fn check(&self) -> Result<(), String> {
        self.entity()?;
        if let Some(c) = &self.criticality
            && self.criticality_level().is_none()
        {
            return Err(format!("`criticality`: `{c}` is not low, medium, high, critical or crown_jewel"));
        }
        for (name, v) in [("owner", &self.owner), ("environment", &self.environment), ("service", &self.service), ("rollback", &self.rollback)] {
            if v.as_deref().is_some_and(|s| s.trim().is_empty() || s.len() > 500) {
                return Err(format!("`{name}` must be 1 to 500 characters when given"));
            }
        }
        if let (Some(c), Some(u)) = (self.created_at, self.last_used_at)
            && u < c
        {
            return Err("`last_used_at` is before `created_at`".into());
        }
        Ok(())
    }

    /// The record as an asset, for comparing with what a sender said.
    pub fn as_asset(&self) -> Asset {
        Asset { environment: self.environment.clone(), criticality: self.criticality.clone(), owner: self.owner.clone() }
    }

    pub fn criticality_level(&self) -> Option<Severity> {
        self.as_asset().criticality_level()
    }

    /// Whether this is a non-human identity: said so, or a kind that is never a person.
    pub fn is_nhi(&self) -> bool {
        match self.kind {
            Some(k) => k == IdentityKind::Nhi,
            None => ["service_account:", "token:", "app:"].iter().any(|p| self.entity.starts_with(p)),
        }
    }

    /// Stale-identity facts at `at` (the alert's time): never rotated, unused for 90 days,
    /// owner gone. `owner_status` is the inventory status of the owner, when it is known.
    pub fn stale_facts(&self, at: DateTime<Utc>, owner_status: Option<Status>) -> Vec<String> {
        if !self.is_nhi() {
            return Vec::new();
        }
        let mut out = Vec::new();
        if self.last_rotated_at.is_none() {
            out.push("never rotated".to_string());
        }
        if let Some(used) = self.last_used_at {
            let days = (at - used).num_days();
            if days >= UNUSED_DAYS {
                out.push(format!("unused for {days} days before this alert"));
            }
        }
        match (&self.owner, owner_status) {
            (None, _) => out.push("no owner on record".to_string()),
            (Some(o), Some(s @ (Status::Departed | Status::Disabled))) => out.push(format!("owner {o} is {}", status_word(s))),
            _ => {}
        }
        out
    }
}

fn status_word(s: Status) -> &'static str {
    match s {
        Status::Active => "active",
        Status::Disabled => "disabled",
        Status::Departed => "departed",
    }
}

/// Parses an inventory file (JSON lines), refusing it whole on any bad line. A later line
/// for the same entity replaces an earlier one, as a later import would.
pub fn parse(text: &str) -> Result<Vec<InventoryRecord>, ImportError> {
    let lines = json_lines::<InventoryRecord>(text, InventoryRecord::check)?;
    Ok(lines.into_iter().map(|(_, r)| r).collect())
}

/// The text of an `inventory:<entity>` document: every fact on its own line, so a
/// citation can quote one. `at` is the alert's time (for staleness).
pub fn document_text(r: &InventoryRecord, at: DateTime<Utc>, owner_status: Option<Status>, seen_as: Option<&str>) -> String {
    let mut t = format!("Inventory record for {}", r.entity);
    if let Some(p) = seen_as {
        t.push_str(&format!(" (named in the alerts as {p})"));
    }
    t.push('\n');
    let day = |d: &DateTime<Utc>| d.format("%Y-%m-%d").to_string();
    if let Some(k) = r.kind.or_else(|| r.is_nhi().then_some(IdentityKind::Nhi)) {
        t.push_str(&format!("Identity: {}\n", if k == IdentityKind::Nhi { "non-human" } else { "human" }));
    }
    for (label, v) in
        [("Owner", r.owner.as_deref()), ("Criticality", r.criticality.as_deref()), ("Environment", r.environment.as_deref()), ("Service", r.service.as_deref())]
    {
        if let Some(v) = v {
            t.push_str(&format!("{label}: {v}\n"));
        }
    }
    if let Some(e) = r.exposure {
        t.push_str(&format!("Exposure: {}\n", if e == Exposure::Internet { "internet" } else { "internal" }));
    }
    if !r.scopes.is_empty() {
        t.push_str(&format!("Scopes: {}\n", r.scopes.join(", ")));
    }
    if let Some(c) = &r.created_at {
        t.push_str(&format!("Created: {}\n", day(c)));
    }
    if let Some(u) = &r.last_used_at {
        t.push_str(&format!("Last used: {}\n", day(u)));
    }
    if r.is_nhi() {
        t.push_str(&format!("Last rotated: {}\n", r.last_rotated_at.as_ref().map(day).unwrap_or_else(|| "never".into())));
    }
    if let Some(s) = r.status {
        t.push_str(&format!("Status: {}\n", status_word(s)));
    }
    if let Some(rb) = &r.rollback {
        t.push_str(&format!("Rollback: {rb}\n"));
    }
    let stale = r.stale_facts(at, owner_status);
    if !stale.is_empty() {
        t.push_str(&format!("Stale identity: {}\n", stale.join("; ")));
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn parses_assets_and_identities_and_refuses_bad_lines() {
        let ok = parse(
            r#"{"entity": "host:WS-042", "owner": "payments-team", "criticality": "high", "environment": "production", "exposure": "internal", "service": "payments"}
{"entity": "service_account:svc-deploy", "kind": "nhi", "owner": "platform-team", "scopes": ["repo:write"], "created_at": "2025-01-01T00:00:00Z", "last_used_at": "2025-06-01T00:00:00Z", "rollback": "re-issue from vault"}"#,
        )
        .unwrap();
        assert_eq!(ok.len(), 2);
        let err = parse(
            r#"{"entity": "host:WS-1", "criticality": "extreme"}
{"entity": "host:WS-2", "owner": "x", "colour": "red"}
{"entity": "service_account:a", "last_used_at": "2026-13-01"}
{"entity": "host:ok"}"#,
        )
        .unwrap_err();
        assert_eq!(err.lines.iter().map(|l| l.line).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert!(err.lines[2].reason.contains("RFC 3339"), "{}", err.lines[2].reason);
    }

    #[test]
    fn stale_nhi_facts() {
        let r = parse(r#"{"entity": "service_account:svc-old", "owner": "jdoe", "last_used_at": "2025-01-01T00:00:00Z"}"#).unwrap().remove(0);
        let facts = r.stale_facts(at("2025-06-01T00:00:00Z"), Some(Status::Departed));
        assert_eq!(facts, vec!["never rotated", "unused for 151 days before this alert", "owner jdoe is departed"]);
        let human = parse(r#"{"entity": "user:jdoe", "kind": "human"}"#).unwrap().remove(0);
        assert!(human.stale_facts(at("2025-06-01T00:00:00Z"), None).is_empty());
    }
}
