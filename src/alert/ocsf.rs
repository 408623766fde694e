//! OCSF 1.x Detection Finding (`class_uid` 2004), mapped onto the native fields.
//!
//! OCSF is a large, evolving schema, so attributes this mapping doesn't read are kept in
//! the raw alert (and searched) rather than refused: nothing the sender sent is dropped.

use serde_json::{Map, Value};

use super::{Alert, AlertFormat, Asset, Entities, FieldError, Rule, parse_time};
use crate::error_code::ErrorCode;
use crate::severity::Severity;

pub const DETECTION_FINDING: i64 = 2004;

pub(super) fn parse(obj: &Map<String, Value>) -> Result<Alert, FieldError> {
    let class = obj.get("class_uid").and_then(Value::as_i64);
    if class != Some(DETECTION_FINDING) {
        return Err((
            ErrorCode::UnsupportedAlertClass,
            format!(
                "OCSF class_uid {} is not supported; send a Detection Finding (2004) or the native form",
                obj.get("class_uid").map(Value::to_string).unwrap_or_default()
            ),
        ));
    }
    let root = Value::Object(obj.clone());
    let s = |path: &str| str_at(&root, path);

    let id = s("finding_info.uid").or_else(|| s("metadata.uid")).ok_or((ErrorCode::MissingField, "`finding_info.uid` is required".to_string()))?;
    super::check_id(&id, "finding_info.uid")?;
    let time = match (obj.get("time"), obj.get("time_dt")) {
        (Some(t), _) => parse_time(t, "time")?,
        (None, Some(t)) => parse_time(t, "time_dt")?,
        (None, None) => return Err((ErrorCode::MissingField, "`time` is required".into())),
    };
    let name = s("finding_info.title")
        .or_else(|| s("finding_info.analytic.name"))
        .or_else(|| s("message"))
        .ok_or((ErrorCode::MissingField, "`finding_info.title` is required".to_string()))?;
    let severity = match obj.get("severity_id").and_then(Value::as_i64) {
        Some(id) => Severity::from_ocsf_id(id),
        None => s("severity").and_then(|v| v.parse().ok()),
    };
    let rule = Rule {
        id: s("finding_info.analytic.uid").or_else(|| s("finding_info.analytic.name")),
        name,
        severity,
        description: s("finding_info.desc").or_else(|| s("message")),
    };
    let source = s("metadata.product.name").or_else(|| s("metadata.product.vendor_name")).unwrap_or_else(|| "ocsf".into());

    Ok(Alert {
        id,
        source,
        time,
        rule,
        entities: entities(&root),
        asset: asset(&root),
        fields: root.clone(),
        format: AlertFormat::Ocsf,
        technique_hints: technique_hints(&root),
        raw: root,
    })
}

fn str_at(root: &Value, path: &str) -> Option<String> {
    match crate::jsonpath::resolve(root, path)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Places entities commonly sit in a Detection Finding: the finding's own endpoints and
/// actor, each evidence artifact, the affected resources and the observables.
fn entities(root: &Value) -> Entities {
    let mut e = Entities::default();
    let mut scopes = vec![root];
    if let Some(Value::Array(evidences)) = root.get("evidences") {
        scopes.extend(evidences.iter());
    }
    for scope in scopes {
        for p in ["actor.user.name", "actor.user.email_addr", "user.name"] {
            push(&mut e.users, str_at(scope, p));
        }
        for p in ["device.hostname", "device.name", "src_endpoint.hostname", "dst_endpoint.hostname"] {
            push(&mut e.hosts, str_at(scope, p));
        }
        for p in ["device.ip", "src_endpoint.ip", "dst_endpoint.ip"] {
            push(&mut e.ips, str_at(scope, p));
        }
        for p in ["file.name", "process.file.path", "process.file.name"] {
            push(&mut e.files, str_at(scope, p));
        }
        for p in ["url.url_string", "http_request.url.url_string"] {
            push(&mut e.urls, str_at(scope, p));
        }
        push(&mut e.cloud_accounts, str_at(scope, "cloud.account.uid"));
    }
    if let Some(Value::Array(observables)) = root.get("observables") {
        for o in observables {
            let value = str_at(o, "value");
            let kind = str_at(o, "type").unwrap_or_default().to_ascii_lowercase();
            let slot = match o.get("type_id").and_then(Value::as_i64) {
                Some(1) => &mut e.hosts,
                Some(2) => &mut e.ips,
                Some(4) | Some(21) => &mut e.users,
                Some(6) => &mut e.urls,
                Some(7) => &mut e.files,
                _ if kind.contains("ip") => &mut e.ips,
                _ if kind.contains("host") => &mut e.hosts,
                _ if kind.contains("user") => &mut e.users,
                _ if kind.contains("url") => &mut e.urls,
                _ if kind.contains("file") => &mut e.files,
                _ => continue,
            };
            push(slot, value);
        }
    }
    e
}

fn asset(root: &Value) -> Asset {
    let label_env = root
        .get("resources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| r.get("labels").and_then(Value::as_array))
        .flatten()
        .filter_map(Value::as_str)
        .find_map(|l| l.strip_prefix("environment:").or_else(|| l.strip_prefix("env:")))
        .map(str::to_string);
    Asset {
        environment: str_at(root, "unmapped.asset.environment").or(label_env).or_else(|| str_at(root, "cloud.environment")),
        criticality: str_at(root, "unmapped.asset.criticality").or_else(|| str_at(root, "device.criticality")),
        owner: str_at(root, "unmapped.asset.owner").or_else(|| str_at(root, "device.owner.name")),
    }
}

fn technique_hints(root: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let attacks = [root.get("attacks"), crate::jsonpath::resolve(root, "finding_info.attacks")];
    for list in attacks.into_iter().flatten().filter_map(Value::as_array) {
        for a in list {
            push(&mut out, str_at(a, "sub_technique.uid"));
            push(&mut out, str_at(a, "technique.uid"));
        }
    }
    out
}

fn push(list: &mut Vec<String>, value: Option<String>) {
    if let Some(v) = value
        && !list.contains(&v)
    {
        list.push(v);
    }
}

#[cfg(test)]
mod tests {
    use crate::alert::{Alert, AlertFormat};
    use crate::error_code::ErrorCode;
    use crate::severity::Severity;
    use serde_json::json;

    #[test]
    fn maps_a_detection_finding() {
        let v = json!({
            "class_uid": 2004, "time": 1772446500000_i64, "severity_id": 4,
            "metadata": {"product": {"name": "GuardDuty", "vendor_name": "AWS"}},
            "finding_info": {"uid": "f-1", "title": "Credential access from TOR",
                "attacks": [{"technique": {"uid": "T1078"}, "sub_technique": {"uid": "T1078.004"}}]},
            "cloud": {"account": {"uid": "123456789012"}},
            "evidences": [{"src_endpoint": {"ip": "203.0.113.9"}, "actor": {"user": {"name": "svc-ci"}}}],
            "resources": [{"uid": "i-1", "labels": ["environment:production"]}],
            "vendor_specific": {"x": 1}
        });
        let a = Alert::parse(0, &v).unwrap();
        assert_eq!(a.format, AlertFormat::Ocsf);
        assert_eq!(a.id, "f-1");
        assert_eq!(a.source, "GuardDuty");
        assert_eq!(a.rule.severity, Some(Severity::High));
        assert_eq!(a.entities.ips, vec!["203.0.113.9"]);
        assert_eq!(a.entities.users, vec!["svc-ci"]);
        assert_eq!(a.entities.cloud_accounts, vec!["123456789012"]);
        assert!(a.asset.is_production());
        assert_eq!(a.technique_hints, vec!["T1078.004", "T1078"]);
        assert!(a.value_at("vendor_specific.x").is_some());
    }

    #[test]
    fn other_classes_are_refused() {
        let v = json!({"class_uid": 3002, "time": 1});
        assert_eq!(Alert::parse(0, &v).unwrap_err().code, ErrorCode::UnsupportedAlertClass);
    }
}
