//! Pre-approved emergency rules (contract section 4): narrow, expiring exceptions to a
//! person approving a `human_approval` action, written by the operator in the policy file:
//!
//! ```toml
//! [[emergency]]
//! id = "leaked-github-token"
//! action = "revoke_token"
//! target_kinds = ["token"]
//! expires_at = "2026-12-31T23:59:59Z"
//! description = "GitHub push-protection hits on our org: revoke at once"
//! [emergency.when]
//! source = ["github-secret-scanning"]     # any of
//! rule_id = ["gh-push-protection"]        # any of
//! fields = { secret_type = "github_personal_access_token" }   # all of, under `fields`
//! ```
//!
//! A rule matches when the action and target kind are its own, it has not expired, and one
//! alert of the request meets every condition. It never applies to a `two_person` action.
//! An intel-match condition waits for enrichment (contract section 12).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::Tier;
use super::actions::Target;
use crate::alert::Alert;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmergencyRule {
    /// Recorded as the decision of principal `policy:<id>`.
    pub id: String,
    pub action: String,
    pub target_kinds: Vec<String>,
    /// The rule matches nothing from this instant on.
    pub expires_at: DateTime<Utc>,
    #[serde(default)]
    pub description: String,
    pub when: Conditions,
}

/// Conditions on one alert of the request; an empty list or map places no condition.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conditions {
    #[serde(default)]
    pub source: Vec<String>,
    #[serde(default)]
    pub rule_id: Vec<String>,
    /// JSON paths under the alert's `fields`, each with the exact text it must hold.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
}

impl Conditions {
    fn met_by(&self, alert: &Alert) -> bool {
        (self.source.is_empty() || self.source.iter().any(|s| s.eq_ignore_ascii_case(&alert.source)))
            && (self.rule_id.is_empty() || alert.rule.id.as_ref().is_some_and(|id| self.rule_id.contains(id)))
            && self.fields.iter().all(|(path, want)| crate::jsonpath::resolve(&alert.fields, path).is_some_and(|v| crate::jsonpath::text_of(v) == *want))
    }

    fn is_empty(&self) -> bool {
        self.source.is_empty() && self.rule_id.is_empty() && self.fields.is_empty()
    }
}

impl EmergencyRule {
    /// Whether this rule pre-approves `action` on `target` for these alerts at `now`.
    pub fn matches(&self, action: &str, target: &Target, tier: Tier, alerts: &[Alert], now: DateTime<Utc>) -> bool {
        tier == Tier::HumanApproval
            && now < self.expires_at
            && self.action == action
            && self.target_kinds.contains(&target.kind)
            && alerts.iter().any(|a| self.when.met_by(a))
    }

    /// A rule that names no condition would pre-approve every alert: refused at load time.
    pub fn check(&self) -> Result<(), String> {
        if self.id.trim().is_empty() || self.id.contains(char::is_whitespace) {
            return Err(format!("emergency rule id `{}` must be one word", self.id));
        }
        if self.when.is_empty() {
            return Err(format!("emergency rule `{}` names no condition on the alerts", self.id));
        }
        if self.target_kinds.is_empty() {
            return Err(format!("emergency rule `{}` names no target kind", self.id));
        }
        Ok(())
    }
}

/// The first rule that pre-approves the action, if any.
pub fn first_match<'a>(
    rules: &'a [EmergencyRule],
    action: &str,
    target: &Target,
    tier: Tier,
    alerts: &[Alert],
    now: DateTime<Utc>,
) -> Option<&'a EmergencyRule> {
    rules.iter().find(|r| r.matches(action, target, tier, alerts, now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(expires: &str) -> EmergencyRule {
        toml::from_str(&format!(
            r#"
            id = "leaked-gh-token"
            action = "revoke_token"
            target_kinds = ["token"]
            expires_at = "{expires}"
            [when]
            source = ["github"]
            rule_id = ["gh-secret"]
            fields = {{ "secret.type" = "github_pat" }}
            "#
        ))
        .unwrap()
    }

    fn alert(source: &str, secret_type: &str) -> Alert {
        Alert::parse(
            0,
            &json!({"id": "a1", "source": source, "time": "2026-05-01T10:00:00Z", "rule": {"id": "gh-secret", "name": "Token pushed"},
                    "entities": {"tokens": ["ghp_****"]}, "fields": {"secret": {"type": secret_type}}}),
        )
        .unwrap()
    }

    fn now() -> DateTime<Utc> {
        "2026-05-01T10:05:00Z".parse().unwrap()
    }

    #[test]
    fn matches_only_its_action_kind_conditions_tier_and_time() {
        let r = rule("2026-06-01T00:00:00Z");
        r.check().unwrap();
        let token = Target::parse("token:ghp_****").unwrap();
        let good = [alert("github", "github_pat")];
        assert!(r.matches("revoke_token", &token, Tier::HumanApproval, &good, now()));
        assert!(!r.matches("rotate_secret", &token, Tier::HumanApproval, &good, now()));
        assert!(!r.matches("revoke_token", &Target::parse("user:jdoe").unwrap(), Tier::HumanApproval, &good, now()));
        assert!(!r.matches("revoke_token", &token, Tier::TwoPerson, &good, now()));
        assert!(!r.matches("revoke_token", &token, Tier::HumanApproval, &[alert("gitlab", "github_pat")], now()));
        assert!(!r.matches("revoke_token", &token, Tier::HumanApproval, &[alert("github", "aws_key")], now()));
        let expired = rule("2026-05-01T10:00:00Z");
        assert!(!expired.matches("revoke_token", &token, Tier::HumanApproval, &good, now()));
    }

    #[test]
    fn a_rule_without_conditions_is_refused() {
        let mut r = rule("2026-06-01T00:00:00Z");
        r.when = Conditions::default();
        assert!(r.check().is_err());
    }
}
