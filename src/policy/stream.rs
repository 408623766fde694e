//! How the alert stream groups alerts and how fast cases are due (contract sections 10
//! and 11), read from the `[stream]` and `[sla]` tables of the operator's policy file
//! (`catalog/policy.toml`, replaced with `--policy <file>`). Every key is optional; the
//! defaults are the contract's.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::Duration;
use serde::Deserialize;

use super::environment::PolicyError;
use crate::severity::Severity;

const EMBEDDED: &str = include_str!("../../catalog/policy.toml");

/// The entity kinds that may tie an alert to an open case.
pub const PIVOT_KINDS: [&str; 7] = ["user", "host", "service_account", "token", "cloud_account", "repository", "ip"];

#[derive(Debug, Clone)]
pub struct StreamPolicy {
    /// An alert whose fingerprint an open case saw within this window of its `last_seen`
    /// is a duplicate.
    pub dedup_window: Duration,
    /// An alert joins an open case that saw one of its pivots within this window.
    pub correlation_window: Duration,
    /// Entity kinds that pivot (a subset of [`PIVOT_KINDS`]).
    pub pivot_kinds: Vec<String>,
    /// Values that never pivot, lower-cased (`root`, `system`, shared jump hosts).
    pub never_pivot: Vec<String>,
    /// A value already in more than this many open cases stops pivoting: it is
    /// everywhere, so it says nothing about which case an alert belongs to.
    pub max_open_cases_per_pivot: usize,
    /// Per alert source, the fields whose values make two alerts the same event.
    pub salient_fields: BTreeMap<String, Vec<String>>,
    /// Fields used for sources the table doesn't list.
    pub default_salient_fields: Vec<String>,
    /// Alerts a case recommendation reads at most; the rest are counted.
    pub max_alerts_per_recommendation: usize,
    pub sla: Sla,
}

/// How long a case may stay open, by severity; `None` means no SLA.
#[derive(Debug, Clone)]
pub struct Sla(BTreeMap<Severity, Option<Duration>>);

impl Sla {
    pub fn due_within(&self, severity: Severity) -> Option<Duration> {
        self.0.get(&severity).copied().flatten()
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    stream: StreamTable,
    #[serde(default)]
    sla: BTreeMap<String, String>,
    /// Read by [`super::Environments`].
    #[allow(dead_code)]
    environments: Option<toml::Value>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct StreamTable {
    dedup_window: Option<String>,
    correlation_window: Option<String>,
    pivot_kinds: Option<Vec<String>>,
    never_pivot: Option<Vec<String>>,
    max_open_cases_per_pivot: Option<usize>,
    salient_fields: Option<BTreeMap<String, Vec<String>>>,
    max_alerts_per_recommendation: Option<usize>,
}

impl StreamPolicy {
    pub fn embedded() -> Result<StreamPolicy, PolicyError> {
        Self::parse(EMBEDDED)
    }

    pub fn load(path: Option<&Path>) -> Result<StreamPolicy, PolicyError> {
        super::environment::load_policy(path, Self::parse)
    }

    pub fn parse(text: &str) -> Result<StreamPolicy, PolicyError> {
        let file: File = toml::from_str(text).map_err(|e| PolicyError::Invalid(e.to_string()))?;
        let t = file.stream;
        let window = |name: &str, v: Option<String>, default: &str| -> Result<Duration, PolicyError> {
            let text = v.unwrap_or_else(|| default.to_string());
            match parse_duration(&text) {
                Some(d) if d > Duration::zero() => Ok(d),
                _ => Err(PolicyError::Invalid(format!("[stream] {name} = \"{text}\" is not a duration like \"6h\", \"30m\" or \"2d\""))),
            }
        };
        let pivot_kinds = t.pivot_kinds.unwrap_or_else(|| PIVOT_KINDS.iter().map(|k| k.to_string()).collect());
        if let Some(bad) = pivot_kinds.iter().find(|k| !PIVOT_KINDS.contains(&k.as_str())) {
            return Err(PolicyError::Invalid(format!("[stream] pivot_kinds: `{bad}` is not one of {}", PIVOT_KINDS.join(", "))));
        }
        let mut salient = t.salient_fields.unwrap_or_default();
        let default_salient_fields = salient.remove("default").unwrap_or_else(|| DEFAULT_SALIENT.iter().map(|s| s.to_string()).collect());
        Ok(StreamPolicy {
            dedup_window: window("dedup_window", t.dedup_window, "24h")?,
            correlation_window: window("correlation_window", t.correlation_window, "6h")?,
            pivot_kinds,
            never_pivot: t.never_pivot.unwrap_or_default().iter().map(|v| v.trim().to_lowercase()).collect(),
            max_open_cases_per_pivot: t.max_open_cases_per_pivot.unwrap_or(20),
            salient_fields: salient.into_iter().map(|(k, v)| (k.to_lowercase(), v)).collect(),
            default_salient_fields,
            max_alerts_per_recommendation: t.max_alerts_per_recommendation.unwrap_or(100).max(1),
            sla: sla(&file.sla)?,
        })
    }

    /// The salient fields for alerts of `source`.
    pub fn salient_for(&self, source: &str) -> &[String] {
        self.salient_fields.get(&source.to_lowercase()).unwrap_or(&self.default_salient_fields)
    }
}

/// Fields that tell one event from another across common sources, used where the policy
/// lists none for a source: what ran, what it touched, what was called.
const DEFAULT_SALIENT: [&str; 14] = [
    "CommandLine",
    "Image",
    "ParentImage",
    "TargetFilename",
    "TargetObject",
    "QueryName",
    "DestinationIp",
    "DestinationPort",
    "eventName",
    "operationName",
    "methodName",
    "action",
    "request.uri",
    "url",
];

fn sla(table: &BTreeMap<String, String>) -> Result<Sla, PolicyError> {
    let defaults = [
        (Severity::Critical, Some(Duration::hours(1))),
        (Severity::High, Some(Duration::hours(4))),
        (Severity::Medium, Some(Duration::hours(24))),
        (Severity::Low, Some(Duration::hours(72))),
        (Severity::Informational, None),
    ];
    let mut out: BTreeMap<Severity, Option<Duration>> = defaults.into_iter().collect();
    for (name, value) in table {
        let severity: Severity = name.parse().map_err(|_| PolicyError::Invalid(format!("[sla] `{name}` is not a severity")))?;
        let due = match value.trim() {
            "none" => None,
            v => Some(
                parse_duration(v)
                    .filter(|d| *d > Duration::zero())
                    .ok_or_else(|| PolicyError::Invalid(format!("[sla] {name} = \"{v}\" is not a duration like \"4h\" or \"none\"")))?,
            ),
        };
        out.insert(severity, due);
    }
    Ok(Sla(out))
}

/// `"90s"`, `"30m"`, `"6h"`, `"2d"`, or combinations (`"1h30m"`).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let mut total = Duration::zero();
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let n: i64 = digits.parse().ok()?;
        digits.clear();
        total += match c {
            's' => Duration::seconds(n),
            'm' => Duration::minutes(n),
            'h' => Duration::hours(n),
            'd' => Duration::days(n),
            _ => return None,
        };
    }
    digits.is_empty().then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_policy_gives_the_contract_defaults() {
        let p = StreamPolicy::embedded().unwrap();
        assert_eq!(p.dedup_window, Duration::hours(24));
        assert_eq!(p.correlation_window, Duration::hours(6));
        assert_eq!(p.max_open_cases_per_pivot, 20);
        assert_eq!(p.sla.due_within(Severity::Critical), Some(Duration::hours(1)));
        assert_eq!(p.sla.due_within(Severity::Low), Some(Duration::hours(72)));
        assert_eq!(p.sla.due_within(Severity::Informational), None);
        assert!(p.never_pivot.contains(&"system".to_string()));
    }

    #[test]
    fn operators_override_windows_and_slas_and_mistakes_are_named() {
        let p = StreamPolicy::parse("[stream]\ncorrelation_window = \"1h30m\"\n[sla]\nhigh = \"2h\"\nlow = \"none\"\n").unwrap();
        assert_eq!(p.correlation_window, Duration::minutes(90));
        assert_eq!(p.sla.due_within(Severity::High), Some(Duration::hours(2)));
        assert_eq!(p.sla.due_within(Severity::Low), None);
        let e = StreamPolicy::parse("[stream]\ndedup_window = \"soon\"\n").unwrap_err().to_string();
        assert!(e.contains("dedup_window") && e.contains("soon"), "{e}");
        assert!(StreamPolicy::parse("[stream]\npivot_kinds = [\"mood\"]\n").unwrap_err().to_string().contains("mood"));
        assert!(StreamPolicy::parse("[stream]\nwindow = \"1h\"\n").is_err(), "unknown keys are refused");
        assert!(StreamPolicy::parse("[sla]\nurgent = \"1h\"\n").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Some(Duration::seconds(90)));
        assert_eq!(parse_duration("2d"), Some(Duration::days(2)));
        assert_eq!(parse_duration("6"), None);
        assert_eq!(parse_duration("h"), None);
    }
}
