//! The action catalog (`catalog/actions.toml`) and the tier decision.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::Tier;
use super::environment::Environments;
use crate::alert::Alert;

const EMBEDDED: &str = include_str!("../../catalog/actions.toml");

/// Target kinds a proposal may name (`host:WS-042`).
pub const TARGET_KINDS: [&str; 17] = [
    "host",
    "user",
    "service_account",
    "token",
    "cloud_account",
    "ip",
    "domain",
    "url",
    "file",
    "process",
    "resource",
    "repository",
    "mailbox",
    "app",
    "org",
    "team",
    "case",
];

/// Providers' own identifier prefixes (`arn:aws:iam::…`, `gcp:projects/…`), read as
/// `resource:<the whole identifier>` (contract section 3).
pub const PROVIDER_PREFIXES: [&str; 4] = ["arn", "aws", "azure", "gcp"];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionSpec {
    pub tier: Tier,
    #[serde(default)]
    pub production_tier: Option<Tier>,
    #[serde(default)]
    pub description: String,
    /// Evidence an approver needs before this action (contract section 12): ids from
    /// [`crate::enrich::evidence::ITEMS`].
    #[serde(default)]
    pub required_evidence: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionCatalog {
    pub actions: BTreeMap<String, ActionSpec>,
    /// How asset environments read for the tier; from the policy file, not this one.
    #[serde(skip)]
    pub environments: Environments,
    /// Pre-approved emergency rules (`[[emergency]]`), see [`super::emergency`].
    #[serde(default)]
    pub emergency: Vec<super::emergency::EmergencyRule>,
}

#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("`{0}` is not in the action catalog")]
    UnknownAction(String),
    #[error("target `{0}` is not `<kind>:<value>` with a known kind ({kinds}) nor a provider's identifier (arn:, aws:, azure:, gcp:)", kinds = TARGET_KINDS.join(", "))]
    InvalidTarget(String),
    #[error("action policy: {0}")]
    Policy(String),
}

/// A parsed `<kind>:<value>` target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub kind: String,
    pub value: String,
}

impl Target {
    /// The canonical `<kind>:<value>` form, as served and approved.
    pub fn canonical(&self) -> String {
        format!("{}:{}", self.kind, self.value)
    }

    pub fn parse(s: &str) -> Result<Target, ActionError> {
        let (kind, value) = s.split_once(':').ok_or_else(|| ActionError::InvalidTarget(s.into()))?;
        if PROVIDER_PREFIXES.contains(&kind) && !value.trim().is_empty() {
            return Ok(Target { kind: "resource".into(), value: s.trim().to_string() });
        }
        let value = value.trim();
        if !TARGET_KINDS.contains(&kind) || value.is_empty() {
            return Err(ActionError::InvalidTarget(s.into()));
        }
        Ok(Target { kind: kind.to_string(), value: value.to_string() })
    }

    /// Whether an alert names this target among its entities (or as its asset owner).
    fn named_by(&self, alert: &Alert) -> bool {
        let v = self.value.to_ascii_lowercase();
        let same = |x: &str| x.to_ascii_lowercase() == v;
        match self.kind.as_str() {
            "case" | "org" => false,
            _ => {
                alert.entities.targets().iter().any(|(_, x)| same(x))
                    || alert.entities.other.iter().any(|(_, x)| same(x))
                    || alert.asset.owner.as_deref().is_some_and(same)
            }
        }
    }
}

impl ActionCatalog {
    /// The shipped catalog with the shipped environment policy.
    pub fn embedded() -> Result<ActionCatalog, ActionError> {
        let environments = Environments::embedded().map_err(|e| ActionError::Policy(e.to_string()))?;
        Ok(Self::parse(EMBEDDED)?.with_environments(environments))
    }

    /// The catalog reading asset environments through `environments`. A catalog parsed
    /// without one counts every asset as production.
    pub fn with_environments(mut self, environments: Environments) -> ActionCatalog {
        self.environments = environments;
        self
    }

    pub fn parse(text: &str) -> Result<ActionCatalog, ActionError> {
        let c: ActionCatalog = toml::from_str(text).map_err(|e| ActionError::Policy(e.to_string()))?;
        if c.actions.is_empty() {
            return Err(ActionError::Policy("the catalog has no actions".into()));
        }
        for rule in &c.emergency {
            rule.check().map_err(ActionError::Policy)?;
            let spec =
                c.actions.get(&rule.action).ok_or_else(|| ActionError::Policy(format!("emergency rule `{}`: unknown action `{}`", rule.id, rule.action)))?;
            if spec.tier == Tier::TwoPerson {
                return Err(ActionError::Policy(format!("emergency rule `{}`: `{}` needs two people; no rule may pre-approve it", rule.id, rule.action)));
            }
        }
        crate::enrich::evidence::check_catalog(&c).map_err(ActionError::Policy)?;
        Ok(c)
    }

    pub fn load(path: Option<&Path>) -> Result<ActionCatalog, ActionError> {
        match path {
            None => Self::embedded(),
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| ActionError::Policy(format!("{}: {e}", p.display())))?;
                Self::parse(&text)
            }
        }
    }

    pub fn contains(&self, action: &str) -> bool {
        self.actions.contains_key(action)
    }

    /// The tier of `action` on `target`, decided from the catalog and the target's asset
    /// context: production raises it. An environment the policy doesn't place in a
    /// non-production class (misspelt, empty, missing, or no asset at all) counts as
    /// production, and so does a target no alert names: nothing says it is not.
    pub fn tier_for(&self, action: &str, target: &Target, alerts: &[Alert]) -> Result<Tier, ActionError> {
        let spec = self.actions.get(action).ok_or_else(|| ActionError::UnknownAction(action.into()))?;
        let naming: Vec<&Alert> = alerts.iter().filter(|a| target.named_by(a)).collect();
        let production = if naming.is_empty() {
            target.kind != "case"
        } else {
            naming.iter().any(|a| self.environments.classify(a.asset.environment.as_deref()).counts_as_production())
        };
        Ok(match (production, spec.production_tier) {
            (true, Some(raised)) => raised.max(spec.tier),
            _ => spec.tier,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn alert(env: &str) -> Alert {
        Alert::parse(
            0,
            &json!({"id": "a", "source": "cloudtrail", "time": "2026-01-01T00:00:00Z",
            "rule": {"name": "x"}, "entities": {"cloud_accounts": ["123456789012"], "hosts": ["WS-1"]},
            "asset": {"environment": env}}),
        )
        .unwrap()
    }

    #[test]
    fn production_cloud_containment_needs_two_people() {
        let c = ActionCatalog::embedded().unwrap();
        let t = Target::parse("cloud_account:123456789012").unwrap();
        assert_eq!(c.tier_for("contain_cloud_resource", &t, &[alert("production")]).unwrap(), Tier::TwoPerson);
        assert_eq!(c.tier_for("contain_cloud_resource", &t, &[alert("staging")]).unwrap(), Tier::HumanApproval);
        for env in ["production ", "prod-us-east-1", "live", "PRD", "", "mars"] {
            assert_eq!(c.tier_for("contain_cloud_resource", &t, &[alert(env)]).unwrap(), Tier::TwoPerson, "{env:?}");
        }
        // Without an environment policy nothing is known to be non-production.
        let bare = ActionCatalog::parse(EMBEDDED).unwrap();
        assert_eq!(bare.tier_for("contain_cloud_resource", &t, &[alert("staging")]).unwrap(), Tier::TwoPerson);
        let unknown = Target::parse("cloud_account:999").unwrap();
        assert_eq!(c.tier_for("contain_cloud_resource", &unknown, &[alert("staging")]).unwrap(), Tier::TwoPerson);
        let host = Target::parse("host:WS-1").unwrap();
        assert_eq!(c.tier_for("isolate_host", &host, &[alert("production")]).unwrap(), Tier::HumanApproval);
        assert_eq!(c.tier_for("create_ticket", &host, &[alert("production")]).unwrap(), Tier::Automatic);
        assert!(matches!(c.tier_for("wipe_host", &host, &[]), Err(ActionError::UnknownAction(_))));
        assert!(Target::parse("WS-1").is_err());
        assert!(Target::parse("planet:earth").is_err());
        // Providers' own identifiers are resources, kept whole.
        for id in [
            "arn:aws:iam::123456789012:user/ci-uploader",
            "aws:iam:user/ci-uploader",
            "azure:/subscriptions/0000/resourceGroups/rg",
            "gcp:projects/p1/serviceAccounts/sa",
        ] {
            let t = Target::parse(id).unwrap();
            assert_eq!((t.kind.as_str(), t.value.as_str()), ("resource", id));
            assert_eq!(t.canonical(), format!("resource:{id}"));
        }
        assert!(Target::parse("arn:").is_err());
        assert_eq!(Target::parse("team:payments").unwrap().kind, "team");
    }

    #[test]
    fn catalog_requires_the_contract_evidence_and_refuses_unknown_items() {
        let c = ActionCatalog::embedded().unwrap();
        assert_eq!(c.actions["revoke_token"].required_evidence, ["token_owner", "token_scope", "token_recent_use", "detection_reason", "rollback_path"]);
        assert_eq!(c.actions["isolate_host"].required_evidence, ["edr_evidence", "business_criticality", "session_state", "asset_owner"]);
        assert_eq!(c.actions["contain_cloud_resource"].required_evidence, ["audit_log_evidence", "affected_service", "cost_and_risk", "recovery_plan"]);
        let bad = ActionCatalog::parse("[actions.x]\ntier = \"automatic\"\nrequired_evidence = [\"vibes\"]\n").unwrap_err();
        assert!(bad.to_string().contains("`vibes` is not an evidence item"), "{bad}");
    }

    #[test]
    fn catalog_has_the_contract_minimum() {
        let c = ActionCatalog::embedded().unwrap();
        for (a, t) in [
            ("enrich_alert", Tier::Automatic),
            ("notify_owner", Tier::Automatic),
            ("kill_process", Tier::HumanApproval),
            ("quarantine_workload", Tier::HumanApproval),
            ("delete_resource", Tier::TwoPerson),
            ("change_org_policy", Tier::TwoPerson),
        ] {
            assert_eq!(c.actions[a].tier, t, "{a}");
        }
    }
}
