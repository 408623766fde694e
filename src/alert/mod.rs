//! Alerts in: the native form and OCSF Detection Findings, normalised into one [`Alert`].
//!
//! Everything in an alert is attacker-influenced data. Secrets are redacted before an
//! alert is built (see [`redact`]), so every later stage — retrieval, engines, checks,
//! storage — only ever sees the redacted view.

pub mod fingerprint;
mod native;
mod ocsf;
pub mod redact;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error_code::{Coded, ErrorCode};
use crate::severity::Severity;

pub use redact::{Redacted, Redactor};

/// The most alerts one request may carry.
pub const MAX_ALERTS: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertFormat {
    Native,
    Ocsf,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    pub id: Option<String>,
    pub name: String,
    pub severity: Option<Severity>,
    pub description: Option<String>,
}

/// The entities an alert names, by kind. Kinds the contract doesn't list are kept in `other`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Entities {
    pub users: Vec<String>,
    pub hosts: Vec<String>,
    pub ips: Vec<String>,
    pub service_accounts: Vec<String>,
    pub tokens: Vec<String>,
    pub cloud_accounts: Vec<String>,
    pub files: Vec<String>,
    pub urls: Vec<String>,
    pub repositories: Vec<String>,
    pub other: Vec<(String, String)>,
}

impl Entities {
    /// Every entity as `(target kind, value)`, using the target kinds of the action catalog.
    pub fn targets(&self) -> Vec<(&'static str, &str)> {
        let groups: [(&'static str, &Vec<String>); 9] = [
            ("user", &self.users),
            ("host", &self.hosts),
            ("ip", &self.ips),
            ("service_account", &self.service_accounts),
            ("token", &self.tokens),
            ("cloud_account", &self.cloud_accounts),
            ("file", &self.files),
            ("url", &self.urls),
            ("repository", &self.repositories),
        ];
        groups.into_iter().flat_map(|(kind, values)| values.iter().map(move |v| (kind, v.as_str()))).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.targets().is_empty() && self.other.is_empty()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Asset {
    pub environment: Option<String>,
    pub criticality: Option<String>,
    pub owner: Option<String>,
}

impl Asset {
    pub fn is_production(&self) -> bool {
        self.environment.as_deref().is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "production" | "prod" | "prd"))
    }

    /// Asset criticality as a severity-like level, when given.
    pub fn criticality_level(&self) -> Option<Severity> {
        let c = self.criticality.as_deref()?.to_ascii_lowercase();
        match c.as_str() {
            "crown_jewel" | "crown-jewel" | "critical" => Some(Severity::Critical),
            "high" => Some(Severity::High),
            "medium" | "moderate" => Some(Severity::Medium),
            "low" => Some(Severity::Low),
            _ => None,
        }
    }
}

/// One alert, normalised. `raw` is the alert exactly as received (after redaction); it is
/// what `alert:<id>#<path>` evidence refs point into.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub id: String,
    pub source: String,
    pub time: DateTime<Utc>,
    pub rule: Rule,
    pub entities: Entities,
    pub asset: Asset,
    pub fields: Value,
    pub format: AlertFormat,
    /// ATT&CK IDs the sender attached (OCSF `attacks`), unchecked.
    pub technique_hints: Vec<String>,
    pub raw: Value,
}

/// Why an alert was refused. `code` is the stable `error.code` of the HTTP answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("alerts[{index}]: {message}")]
pub struct AlertError {
    pub index: usize,
    pub code: ErrorCode,
    pub message: String,
}

impl Coded for AlertError {
    fn code(&self) -> ErrorCode {
        self.code
    }
}

impl Alert {
    /// Parses one alert (native, or OCSF when it has `class_uid`) from JSON that has already
    /// been redacted.
    pub fn parse(index: usize, value: &Value) -> Result<Alert, AlertError> {
        let Some(obj) = value.as_object() else {
            return Err(AlertError { index, code: ErrorCode::InvalidAlert, message: "an alert must be a JSON object".into() });
        };
        let parsed = if obj.contains_key("class_uid") { ocsf::parse(obj) } else { native::parse(obj) };
        parsed.map_err(|(code, message)| AlertError { index, code, message })
    }

    /// The value at a JSON path inside `raw` (`fields.CommandLine`, `entities.hosts[0]`,
    /// `fields["Event.Data"]`), if it exists.
    pub fn value_at(&self, path: &str) -> Option<&Value> {
        crate::jsonpath::resolve(&self.raw, path)
    }

    /// Where the rule's name sits in `raw`, for citing it: `rule.name` in the native form,
    /// the attribute it was mapped from in OCSF.
    pub fn rule_name_path(&self) -> &'static str {
        ["rule.name", "finding_info.title", "finding_info.analytic.name", "message"]
            .into_iter()
            .find(|p| self.value_at(p).and_then(Value::as_str) == Some(self.rule.name.as_str()))
            .unwrap_or("rule.name")
    }

    /// Highest of the alert's own severity signals: the rule's severity.
    pub fn rule_severity(&self) -> Option<Severity> {
        self.rule.severity
    }
}

/// Parses the `alerts` array of a request: every alert or the first error.
pub fn parse_all(values: &[Value]) -> Result<Vec<Alert>, AlertError> {
    if values.is_empty() {
        return Err(AlertError { index: 0, code: ErrorCode::NoAlerts, message: "a request needs at least one alert".into() });
    }
    if values.len() > MAX_ALERTS {
        return Err(AlertError {
            index: MAX_ALERTS,
            code: ErrorCode::TooManyAlerts,
            message: format!("{} alerts; at most {MAX_ALERTS} per request", values.len()),
        });
    }
    let alerts = values.iter().enumerate().map(|(i, v)| Alert::parse(i, v)).collect::<Result<Vec<_>, _>>()?;
    let mut seen = std::collections::HashSet::new();
    for (i, a) in alerts.iter().enumerate() {
        if !seen.insert(a.id.as_str()) {
            return Err(AlertError {
                index: i,
                code: ErrorCode::DuplicateAlertId,
                message: format!("alert id `{}` appears twice; evidence refs need unique ids", a.id),
            });
        }
    }
    Ok(alerts)
}

pub(crate) type FieldError = (ErrorCode, String);

/// The longest alert id (contract section 1).
pub const MAX_ID_CHARS: usize = 128;

/// Whether `id` is 1 to 128 characters of ASCII letters, digits and `-_.:@` (contract
/// section 1): ids end up in evidence refs (`alert:<id>#<path>`), URLs and the store, so
/// a space, a `#` or a 4 KiB id must be refused at the door, not break citations later.
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ID_CHARS && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:@".contains(&b))
}

pub(crate) fn check_id(id: &str, path: &str) -> Result<(), FieldError> {
    if is_valid_id(id) {
        return Ok(());
    }
    let shown: String = id.chars().take(40).collect();
    let more = if id.chars().count() > 40 { "…" } else { "" };
    Err((
        ErrorCode::InvalidAlertId,
        format!("`{path}` `{shown}{more}` ({} characters) must be 1 to {MAX_ID_CHARS} characters of letters, digits and `-_.:@`", id.chars().count()),
    ))
}

pub(crate) fn parse_time(value: &Value, path: &str) -> Result<DateTime<Utc>, FieldError> {
    match value {
        Value::String(s) => DateTime::parse_from_rfc3339(s.trim())
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| (ErrorCode::InvalidTime, format!("`{path}`: `{s}` is not an RFC 3339 time ({e})"))),
        Value::Number(n) => n
            .as_i64()
            .and_then(DateTime::<Utc>::from_timestamp_millis)
            .ok_or_else(|| (ErrorCode::InvalidTime, format!("`{path}`: {n} is not epoch milliseconds"))),
        other => Err((ErrorCode::InvalidTime, format!("`{path}` must be a time, got {}", kind_of(other)))),
    }
}

pub(crate) fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Renders an alert as searchable text: rule, entities and every scalar in `fields` with its key.
pub fn search_text(alert: &Alert) -> String {
    let mut out = String::new();
    out.push_str(&alert.rule.name);
    out.push('\n');
    if let Some(d) = &alert.rule.description {
        out.push_str(d);
        out.push('\n');
    }
    out.push_str(&alert.source);
    out.push('\n');
    crate::jsonpath::for_each_scalar(&alert.fields, "", &mut |path, text| {
        out.push_str(path);
        out.push(' ');
        out.push_str(text);
        out.push('\n');
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn native() -> Value {
        json!({
            "id": "a1", "source": "sysmon", "time": "2026-03-02T10:15:00Z",
            "rule": {"name": "Encoded PowerShell", "severity": "high"},
            "entities": {"hosts": ["WS-042"], "users": ["CORP\\jdoe"]},
            "asset": {"environment": "production"},
            "fields": {"CommandLine": "powershell -enc AAAA", "nested": {"k": [1, "two"]}}
        })
    }

    #[test]
    fn parses_native_alert() {
        let a = Alert::parse(0, &native()).unwrap();
        assert_eq!(a.format, AlertFormat::Native);
        assert_eq!(a.rule.severity, Some(Severity::High));
        assert!(a.asset.is_production());
        assert_eq!(a.value_at("fields.CommandLine"), Some(&json!("powershell -enc AAAA")));
        assert_eq!(a.value_at("fields.nested.k[1]"), Some(&json!("two")));
        assert_eq!(a.value_at("entities.hosts[0]"), Some(&json!("WS-042")));
        assert!(a.value_at("fields.nope").is_none());
    }

    #[test]
    fn rejects_unknown_top_level_key_and_bad_time() {
        let mut v = native();
        v["severity"] = json!("high");
        assert_eq!(Alert::parse(0, &v).unwrap_err().code, ErrorCode::UnknownField);
        let mut v = native();
        v["time"] = json!("yesterday");
        assert_eq!(Alert::parse(0, &v).unwrap_err().code, ErrorCode::InvalidTime);
        let mut v = native();
        v["rule"] = json!({"id": "x"});
        assert_eq!(Alert::parse(0, &v).unwrap_err().code, ErrorCode::MissingField);
        let mut v = native();
        v["rule"]["severity"] = json!("urgent");
        assert_eq!(Alert::parse(0, &v).unwrap_err().code, ErrorCode::InvalidSeverity);
        let mut v = native();
        v["asset"]["enviroment"] = json!("staging");
        assert_eq!(Alert::parse(0, &v).unwrap_err().code, ErrorCode::UnknownField);
        let mut v = native();
        v["rule"]["sevrity"] = json!("low");
        assert_eq!(Alert::parse(0, &v).unwrap_err().code, ErrorCode::UnknownField);
    }

    #[test]
    fn alert_ids_are_checked_at_the_door() {
        for bad in ["", "has space", "a#b", "x".repeat(129).as_str(), "é", "a/b"] {
            let mut v = native();
            v["id"] = json!(bad);
            let code = Alert::parse(0, &v).unwrap_err().code;
            assert!(code == ErrorCode::InvalidAlertId || (bad.is_empty() && code == ErrorCode::MissingField), "{bad:?}: {code}");
        }
        for good in ["a", "alrt-7f3a", "evt_1.2:3@x", "x".repeat(128).as_str()] {
            let mut v = native();
            v["id"] = json!(good);
            assert!(Alert::parse(0, &v).is_ok(), "{good}");
        }
        let mut v = native();
        v["id"] = json!(42);
        assert_eq!(Alert::parse(0, &v).unwrap().id, "42");
    }

    #[test]
    fn duplicate_ids_and_counts_are_refused() {
        assert_eq!(parse_all(&[]).unwrap_err().code, ErrorCode::NoAlerts);
        assert_eq!(parse_all(&[native(), native()]).unwrap_err().code, ErrorCode::DuplicateAlertId);
        let many = vec![native(); MAX_ALERTS + 1];
        assert_eq!(parse_all(&many).unwrap_err().code, ErrorCode::TooManyAlerts);
    }
}
