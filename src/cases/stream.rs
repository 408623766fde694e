//! The alert stream's pure rules (contract section 10): what makes two alerts the same
//! event (the fingerprint) and what may tie an alert to a case (its pivots). The store
//! applies them inside one transaction; nothing here reads the store or the clock.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::alert::Alert;
use crate::policy::StreamPolicy;

/// Where a secret's fingerprint is written into a stored stream alert: the placeholder a
/// redactor numbers per request becomes `[REDACTED:<kind>:fp_…]`, the same in every
/// request, so later recommendations over the case still know which secret it was.
pub fn pin_placeholders(value: &Value, fingerprint_of: &impl Fn(&str) -> Option<String>) -> Value {
    match value {
        Value::String(s) if s.contains("[REDACTED:") => Value::String(pin_text(s, fingerprint_of)),
        Value::Array(items) => Value::Array(items.iter().map(|v| pin_placeholders(v, fingerprint_of)).collect()),
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), pin_placeholders(v, fingerprint_of))).collect()),
        other => other.clone(),
    }
}

fn pin_text(text: &str, fingerprint_of: &impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("[REDACTED:") {
        let Some(len) = rest[start..].find(']') else { break };
        let placeholder = &rest[start..start + len + 1];
        out.push_str(&rest[..start]);
        match (fingerprint_of(placeholder), placeholder.split_once('#')) {
            (Some(fp), Some((kind, _))) => {
                out.push_str(kind);
                out.push(':');
                out.push_str(&fp);
                out.push(']');
            }
            _ => out.push_str(placeholder),
        }
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    out
}

/// The fingerprint a pinned placeholder carries (`[REDACTED:github_token:fp_…]` → `fp_…`).
pub fn pinned_fingerprint(placeholder: &str) -> Option<&str> {
    let inner = placeholder.strip_prefix("[REDACTED:")?.strip_suffix(']')?;
    let (_, fp) = inner.rsplit_once(':')?;
    (fp.starts_with("fp_") && fp.len() > 3 && fp[3..].chars().all(|c| c.is_ascii_hexdigit())).then_some(fp)
}

/// An entity value as the stream compares it: trimmed, lower-cased, a secret by its
/// fingerprint. `None` for a secret whose fingerprint is unknown: a placeholder, ours
/// (`[REDACTED:github_token#2]`) or the sender's (`[REDACTED]`, `***`, `ghp_…(redacted)`),
/// would tie unrelated secrets together. Which values are placeholders is one rule,
/// [`crate::alert::redact::is_secret_placeholder`]; it applies to the kinds that hold
/// secrets (tokens, and lists named like a secret, `api_keys`).
fn entity_value(kind: &str, value: &str) -> Option<String> {
    let v = value.trim();
    if holds_secrets(kind) {
        if let Some(fp) = pinned_in(v) {
            return Some(fp.to_string());
        }
        if crate::alert::redact::is_secret_placeholder(v) {
            return None;
        }
    } else if v.starts_with("[REDACTED:") {
        return pinned_fingerprint(v).map(str::to_string);
    }
    (!v.is_empty()).then(|| v.to_lowercase())
}

/// The fingerprint of the first pinned placeholder in `text`
/// (`[REDACTED:github_token:fp_…] (redacted by the sender)` → `fp_…`).
fn pinned_in(text: &str) -> Option<&str> {
    text.match_indices("[REDACTED:").find_map(|(at, _)| {
        let end = text[at..].find(']')?;
        pinned_fingerprint(&text[at..at + end + 1])
    })
}

/// Whether an entity kind holds secrets: `token`, or a list named like one.
fn holds_secrets(kind: &str) -> bool {
    kind == "token" || crate::alert::redact::is_secret_name(kind)
}

/// SHA-256 over the alert's source, rule (id, else name), its entities (sorted,
/// lower-cased; secrets by fingerprint) and the values of the policy's salient fields for
/// its source; never its id or time. Alerts must have their placeholders pinned.
pub fn fingerprint(alert: &Alert, policy: &StreamPolicy) -> String {
    let mut entities: Vec<String> = alert.entities.targets().into_iter().filter_map(|(k, v)| entity_value(k, v).map(|v| format!("{k}:{v}"))).collect();
    entities.extend(alert.entities.other.iter().filter_map(|(k, v)| entity_value(k, v).map(|v| format!("{}:{v}", k.to_lowercase()))));
    entities.sort();
    entities.dedup();
    let salient: Vec<(String, String)> =
        policy.salient_for(&alert.source).iter().filter_map(|f| field(&alert.fields, f).map(|v| (f.clone(), canonical(v)))).collect();
    let rule = alert.rule.id.as_deref().filter(|id| !id.trim().is_empty()).unwrap_or(&alert.rule.name);
    let material = serde_json::json!([alert.source.to_lowercase(), rule, entities, salient]);
    format!("fp_{}", hex::encode(Sha256::digest(material.to_string().as_bytes())))
}

/// A field by name, or by dotted path into nested objects.
fn field<'a>(fields: &'a Value, name: &str) -> Option<&'a Value> {
    if let Some(v) = fields.get(name) {
        return Some(v);
    }
    name.split('.').try_fold(fields, |v, part| v.get(part))
}

/// A value as compared: strings trimmed, everything else as JSON.
fn canonical(v: &Value) -> String {
    match v {
        Value::String(s) => s.trim().to_string(),
        other => other.to_string(),
    }
}

/// The pivots of an alert, as `kind:value` keys: the entities of the policy's pivot kinds,
/// lower-cased, secrets by fingerprint, IPs only when public, without the values that
/// never pivot.
pub fn pivots(alert: &Alert, policy: &StreamPolicy) -> Vec<String> {
    let mut out: Vec<String> = alert
        .entities
        .targets()
        .into_iter()
        .filter(|(kind, _)| policy.pivot_kinds.iter().any(|k| k == kind))
        .filter_map(|(kind, value)| {
            let v = entity_value(kind, value)?;
            if policy.never_pivot.contains(&v) || (kind == "user" && policy.never_pivot.contains(&bare_user(&v).to_string())) {
                return None;
            }
            // Addresses many hosts share (private, loopback, CGNAT…) tie nothing together.
            // The documentation ranges pivot: they are unique wherever they appear, and
            // examples and exercises use them for outside addresses.
            if kind == "ip" {
                let ip: std::net::IpAddr = v.parse().ok()?;
                if !matches!(crate::enrich::geo::range_of(ip), "public" | "documentation") {
                    return None;
                }
            }
            Some(format!("{kind}:{v}"))
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// `corp\jdoe` and `jdoe@corp.example` name the account `jdoe`: a never-pivot entry like
/// `system` applies whatever the domain.
fn bare_user(v: &str) -> &str {
    let v = v.rsplit('\\').next().unwrap_or(v);
    v.split('@').next().unwrap_or(v)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn alert(v: Value) -> Alert {
        crate::alert::parse_all(&[v]).unwrap().remove(0)
    }

    fn sysmon(id: &str, time: &str, user: &str, cmd: &str) -> Value {
        json!({"id": id, "source": "sysmon", "time": time,
               "rule": {"id": "r-1", "name": "Encoded PowerShell", "severity": "high"},
               "entities": {"users": [user], "hosts": ["WS-042"], "ips": ["10.0.0.5", "203.0.113.7"]},
               "fields": {"CommandLine": cmd, "Image": "C:\\Windows\\System32\\powershell.exe", "ProcessId": id}})
    }

    #[test]
    fn the_same_event_under_a_new_id_and_time_has_the_same_fingerprint() {
        let p = StreamPolicy::embedded().unwrap();
        let a = fingerprint(&alert(sysmon("a-1", "2026-01-01T00:00:00Z", "CORP\\jdoe", "powershell -enc AAAA")), &p);
        let b = fingerprint(&alert(sysmon("a-2", "2026-01-01T05:00:00Z", "corp\\JDOE", "powershell -enc AAAA")), &p);
        let c = fingerprint(&alert(sysmon("a-3", "2026-01-01T05:00:00Z", "CORP\\jdoe", "powershell -enc BBBB")), &p);
        assert!(a.starts_with("fp_") && a.len() == 67);
        assert_eq!(a, b, "id, time and the case of entities don't count");
        assert_ne!(a, c, "a salient field does");
    }

    #[test]
    fn pivots_skip_private_ips_and_never_pivot_values() {
        let p = StreamPolicy::embedded().unwrap();
        let a = alert(sysmon("a-1", "2026-01-01T00:00:00Z", "NT AUTHORITY\\SYSTEM", "x"));
        assert_eq!(pivots(&a, &p), vec!["host:ws-042".to_string(), "ip:203.0.113.7".to_string()]);
        let b = alert(sysmon("a-1", "2026-01-01T00:00:00Z", "CORP\\jdoe", "x"));
        assert!(pivots(&b, &p).contains(&"user:corp\\jdoe".to_string()));
    }

    #[test]
    fn secrets_pivot_by_fingerprint_and_unknown_placeholders_not_at_all() {
        let p = StreamPolicy::embedded().unwrap();
        let fp = |ph: &str| (ph == "[REDACTED:github_token#1]").then(|| "fp_0123456789abcdef".to_string());
        let raw = json!({"id": "t-1", "source": "github", "time": "2026-01-01T00:00:00Z", "rule": {"name": "PAT used"},
                         "entities": {"tokens": ["[REDACTED:github_token#1]", "[REDACTED:github_token#2]"]}});
        let pinned = pin_placeholders(&raw, &fp);
        assert_eq!(pinned["entities"]["tokens"][0], "[REDACTED:github_token:fp_0123456789abcdef]");
        assert_eq!(pinned["entities"]["tokens"][1], "[REDACTED:github_token#2]");
        assert_eq!(pivots(&alert(pinned), &p), vec!["token:fp_0123456789abcdef".to_string()]);
    }

    #[test]
    fn a_token_left_as_a_placeholder_by_the_sender_neither_pivots_nor_fingerprints() {
        let p = StreamPolicy::embedded().unwrap();
        let with = |token: &str| {
            alert(json!({"id": "t-1", "source": "okta", "time": "2026-01-01T00:00:00Z", "rule": {"name": "Session token reuse"},
                         "entities": {"tokens": [token], "users": ["jdoe"]}}))
        };
        let none = fingerprint(
            &alert(json!({"id": "t-1", "source": "okta", "time": "2026-01-01T00:00:00Z", "rule": {"name": "Session token reuse"},
                                              "entities": {"users": ["jdoe"]}})),
            &p,
        );
        for placeholder in ["[REDACTED]", "***", "ghp_…(redacted by the sender)", "ghp_...(REDACTED)", "[REDACTED:github_token#3]", "<masked>"] {
            let a = with(placeholder);
            assert_eq!(pivots(&a, &p), vec!["user:jdoe".to_string()], "{placeholder}");
            assert_eq!(fingerprint(&a, &p), none, "{placeholder} is no part of the fingerprint");
        }
        assert!(pivots(&with("tok-reused-7"), &p).contains(&"token:tok-reused-7".to_string()), "a real value still pivots");
        let pinned = with("[REDACTED:github_token:fp_0123456789abcdef] (redacted by the sender)");
        assert!(pivots(&pinned, &p).contains(&"token:fp_0123456789abcdef".to_string()), "a secret we fingerprinted pivots by it");
    }
}
