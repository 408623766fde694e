//! The native alert form (contract section 1). The keys at the top level and inside `rule`
//! and `asset` are closed sets: a typo (`enviroment`) must not silently drop data or lower
//! a tier. `entities` may carry other kinds, kept as they are; `fields` is free-form.

use serde_json::{Map, Value};

use super::{Alert, AlertFormat, Asset, Entities, FieldError, Rule, kind_of, parse_time};
use crate::error_code::ErrorCode;
use crate::severity::Severity;

const TOP_LEVEL: [&str; 7] = ["id", "source", "time", "rule", "entities", "asset", "fields"];
const RULE_KEYS: [&str; 4] = ["id", "name", "severity", "description"];
const ASSET_KEYS: [&str; 3] = ["environment", "criticality", "owner"];

/// Refuses the first key of `obj` that is not in `allowed`.
fn closed_keys(obj: &Map<String, Value>, allowed: &[&str], prefix: &str) -> Result<(), FieldError> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(key) => Err((ErrorCode::UnknownField, format!("unknown key `{prefix}{key}` (allowed: {})", allowed.join(", ")))),
        None => Ok(()),
    }
}

pub(super) fn parse(obj: &Map<String, Value>) -> Result<Alert, FieldError> {
    if let Some(key) = obj.keys().find(|k| !TOP_LEVEL.contains(&k.as_str())) {
        return Err((ErrorCode::UnknownField, format!("unknown top-level key `{key}` (allowed: {})", TOP_LEVEL.join(", "))));
    }
    let id = required_str(obj, "id", "id")?;
    super::check_id(&id, "id")?;
    let source = required_str(obj, "source", "source")?;
    let time = parse_time(obj.get("time").ok_or_else(|| missing("time"))?, "time")?;
    let rule_obj = match obj.get("rule") {
        Some(Value::Object(r)) => {
            closed_keys(r, &RULE_KEYS, "rule.")?;
            r
        }
        Some(other) => return Err(wrong_type("rule", "an object", other)),
        None => return Err(missing("rule.name")),
    };
    let rule = Rule {
        id: optional_str(rule_obj, "id", "rule.id")?,
        name: required_str(rule_obj, "name", "rule.name")?,
        severity: match optional_str(rule_obj, "severity", "rule.severity")? {
            Some(s) => Some(s.parse::<Severity>().map_err(|e| (ErrorCode::InvalidSeverity, format!("`rule.severity`: {e}")))?),
            None => None,
        },
        description: optional_str(rule_obj, "description", "rule.description")?,
    };
    let entities = match obj.get("entities") {
        None | Some(Value::Null) => Entities::default(),
        Some(Value::Object(e)) => entities(e)?,
        Some(other) => return Err(wrong_type("entities", "an object", other)),
    };
    let asset = match obj.get("asset") {
        None | Some(Value::Null) => Asset::default(),
        Some(Value::Object(a)) => {
            closed_keys(a, &ASSET_KEYS, "asset.")?;
            Asset {
                environment: optional_str(a, "environment", "asset.environment")?,
                criticality: optional_str(a, "criticality", "asset.criticality")?,
                owner: optional_str(a, "owner", "asset.owner")?,
            }
        }
        Some(other) => return Err(wrong_type("asset", "an object", other)),
    };
    let fields = obj.get("fields").cloned().unwrap_or(Value::Object(Map::new()));
    Ok(Alert { id, source, time, rule, entities, asset, fields, format: AlertFormat::Native, technique_hints: Vec::new(), raw: Value::Object(obj.clone()) })
}

fn entities(e: &Map<String, Value>) -> Result<Entities, FieldError> {
    let mut out = Entities::default();
    for (kind, value) in e {
        let path = format!("entities.{kind}");
        let values = string_list(value, &path)?;
        let slot = match kind.as_str() {
            "users" => &mut out.users,
            "hosts" => &mut out.hosts,
            "ips" => &mut out.ips,
            "service_accounts" => &mut out.service_accounts,
            "tokens" => &mut out.tokens,
            "cloud_accounts" => &mut out.cloud_accounts,
            "files" => &mut out.files,
            "urls" => &mut out.urls,
            "repositories" => &mut out.repositories,
            _ => {
                out.other.extend(values.into_iter().map(|v| (kind.clone(), v)));
                continue;
            }
        };
        *slot = values;
    }
    Ok(out)
}

fn string_list(value: &Value, path: &str) -> Result<Vec<String>, FieldError> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                other => Err(wrong_type(&format!("{path}[{i}]"), "a string", other)),
            })
            .collect(),
        other => Err(wrong_type(path, "an array of strings", other)),
    }
}

fn required_str(obj: &Map<String, Value>, key: &str, path: &str) -> Result<String, FieldError> {
    match optional_str(obj, key, path)? {
        Some(s) if !s.trim().is_empty() => Ok(s),
        Some(_) => Err((ErrorCode::MissingField, format!("`{path}` is empty"))),
        None => Err(missing(path)),
    }
}

fn optional_str(obj: &Map<String, Value>, key: &str, path: &str) -> Result<Option<String>, FieldError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) if key == "id" => Ok(Some(n.to_string())),
        Some(other) => Err(wrong_type(path, "a string", other)),
    }
}

fn missing(path: &str) -> FieldError {
    (ErrorCode::MissingField, format!("`{path}` is required"))
}

fn wrong_type(path: &str, expected: &str, got: &Value) -> FieldError {
    (ErrorCode::InvalidField, format!("`{path}` must be {expected}, got {}", kind_of(got)))
}
