//! What every import shares: entities, times, and errors reported line by line.
//!
//! A file is checked whole before anything is stored: one bad line refuses the file, and
//! the operator gets every bad line at once, not the first one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use crate::policy::actions::TARGET_KINDS;

/// One refused line of an import file (1-based).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineError {
    pub line: usize,
    pub reason: String,
}

/// A refused import: every bad line, with why. Nothing of the file was kept.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{} line(s) refused; nothing imported: {}", lines.len(), summary(lines))]
pub struct ImportError {
    pub lines: Vec<LineError>,
}

fn summary(lines: &[LineError]) -> String {
    let shown: Vec<String> = lines.iter().take(3).map(|l| format!("line {}: {}", l.line, l.reason)).collect();
    let more = if lines.len() > 3 { format!(" (and {} more)", lines.len() - 3) } else { String::new() };
    format!("{}{more}", shown.join("; "))
}

impl ImportError {
    pub fn one(line: usize, reason: impl Into<String>) -> ImportError {
        ImportError { lines: vec![LineError { line, reason: reason.into() }] }
    }
}

/// What an accepted import did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ImportReport {
    pub kind: &'static str,
    /// Records added or replaced.
    pub imported: usize,
    /// Records that were valid but carry nothing the service can match (say, a STIX
    /// indicator on a process name), with why.
    pub skipped: Vec<LineError>,
}

/// The most lines one import may refuse before the rest are not even looked at.
pub const MAX_LINE_ERRORS: usize = 200;

/// Entity kinds an inventory record or a change may name: the target kinds of the action
/// catalog, less the ones that are not things (`case`).
pub fn entity_kinds() -> impl Iterator<Item = &'static str> {
    TARGET_KINDS.into_iter().filter(|k| *k != "case").chain(["service"])
}

/// A `<kind>:<value>` entity as written, and the key it is matched by (kind and value
/// lower-cased: `host:WS-042` and `host:ws-042` are one host).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entity {
    pub text: String,
    pub key: String,
}

impl Entity {
    pub fn parse(s: &str) -> Result<Entity, String> {
        let s = s.trim();
        let (kind, value) = s.split_once(':').ok_or_else(|| format!("entity `{s}` is not `<kind>:<value>`"))?;
        if !entity_kinds().any(|k| k == kind) {
            return Err(format!("entity `{s}`: `{kind}` is not an entity kind ({})", entity_kinds().collect::<Vec<_>>().join(", ")));
        }
        if value.is_empty() || value.len() > 180 {
            return Err(format!("entity `{s}`: the value must be 1 to 180 characters"));
        }
        // Entities become evidence refs (`inventory:<entity>`), which never hold whitespace.
        if value.chars().any(char::is_whitespace) {
            return Err(format!("entity `{s}`: the value may not contain whitespace"));
        }
        Ok(Entity { text: s.to_string(), key: key(kind, value) })
    }
}

/// The matching key of an entity.
pub fn key(kind: &str, value: &str) -> String {
    format!("{kind}:{}", value.trim().to_lowercase())
}

/// Parses an RFC 3339 time, saying which field was wrong.
pub fn parse_time(field: &str, s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s.trim()).map(|t| t.with_timezone(&Utc)).map_err(|e| format!("`{field}`: `{s}` is not an RFC 3339 time ({e})"))
}

/// serde helper: an optional RFC 3339 time with a readable error.
pub fn opt_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    match s {
        None => Ok(None),
        Some(s) => DateTime::parse_from_rfc3339(s.trim())
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|e| serde::de::Error::custom(format!("`{s}` is not an RFC 3339 time ({e})"))),
    }
}

/// serde helper: a required RFC 3339 time with a readable error.
pub fn time<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    let s = String::deserialize(d)?;
    DateTime::parse_from_rfc3339(s.trim()).map(|t| t.with_timezone(&Utc)).map_err(|e| serde::de::Error::custom(format!("`{s}` is not an RFC 3339 time ({e})")))
}

/// Times as stored: RFC 3339, milliseconds, UTC, so that text order is time order.
pub fn stored_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Parses JSON lines into `T`, collecting every bad line. Blank lines and `#` comments are
/// skipped.
pub fn json_lines<T: serde::de::DeserializeOwned>(text: &str, check: impl Fn(&T) -> Result<(), String>) -> Result<Vec<(usize, T)>, ImportError> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let parsed = serde_json::from_str::<T>(t).map_err(|e| strip_position(&e.to_string())).and_then(|v| check(&v).map(|()| v));
        match parsed {
            Ok(v) => out.push((i + 1, v)),
            Err(reason) => {
                errors.push(LineError { line: i + 1, reason });
                if errors.len() >= MAX_LINE_ERRORS {
                    break;
                }
            }
        }
    }
    if errors.is_empty() { Ok(out) } else { Err(ImportError { lines: errors }) }
}

/// serde_json ends its messages with `at line 1 column N`, which is noise on one line.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entities_are_kind_checked_and_matched_case_blind() {
        let e = Entity::parse("host:WS-042").unwrap();
        assert_eq!(e.key, "host:ws-042");
        assert_eq!(e.text, "host:WS-042");
        assert!(Entity::parse("planet:earth").unwrap_err().contains("not an entity kind"));
        assert!(Entity::parse("WS-042").is_err());
        assert!(Entity::parse("user:John Doe").is_err());
    }

    #[test]
    fn json_lines_reports_every_bad_line() {
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct R {
            #[allow(dead_code)]
            a: u8,
        }
        let err = json_lines::<R>("{\"a\": 1}\n\n{\"b\": 2}\nnot json\n", |_| Ok(())).unwrap_err();
        assert_eq!(err.lines.iter().map(|l| l.line).collect::<Vec<_>>(), vec![3, 4]);
        assert!(err.lines[0].reason.contains("unknown field"), "{}", err.lines[0].reason);
        assert!(!err.lines[0].reason.contains("column"));
    }
}
