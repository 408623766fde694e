//! Change records (contract section 12): deploys, IAM changes, maintenance, imported as JSON
//! lines and retrieved when they touch an alert's entities shortly before it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::import::{Entity, ImportError, json_lines, time};

/// How far before an alert a change is looked for.
pub const WINDOW_HOURS: i64 = 72;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeRecord {
    pub id: String,
    #[serde(deserialize_with = "time", serialize_with = "ser_time")]
    pub time: DateTime<Utc>,
    pub entity: String,
    pub kind: String,
    pub by: String,
    pub summary: String,
}

fn ser_time<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&super::import::stored_time(t))
}

impl ChangeRecord {
    pub fn entity(&self) -> Result<Entity, String> {
        Entity::parse(&self.entity)
    }

    fn check(&self) -> Result<(), String> {
        let id_ok = !self.id.is_empty() && self.id.len() <= 128 && self.id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.:@".contains(c));
        if !id_ok {
            return Err(format!("`id`: `{}` must be 1 to 128 characters of letters, digits and -_.:@", self.id));
        }
        self.entity()?;
        for (name, v, max) in [("kind", &self.kind, 64), ("by", &self.by, 200), ("summary", &self.summary, 2_000)] {
            if v.trim().is_empty() || v.len() > max {
                return Err(format!("`{name}` must be 1 to {max} characters"));
            }
        }
        Ok(())
    }

    /// The text of a `change:<id>` document.
    pub fn document_text(&self, owner_note: Option<&str>) -> String {
        let mut t = format!(
            "Change {} ({}) on {} at {} by {}\n{}\n",
            self.id,
            self.kind,
            self.entity,
            super::import::stored_time(&self.time),
            self.by,
            self.summary.trim()
        );
        if let Some(n) = owner_note {
            t.push_str(n);
            t.push('\n');
        }
        t
    }
}

/// Parses a changes file (JSON lines), refusing it whole on any bad line.
pub fn parse(text: &str) -> Result<Vec<ChangeRecord>, ImportError> {
    let lines = json_lines::<ChangeRecord>(text, ChangeRecord::check)?;
    Ok(lines.into_iter().map(|(_, r)| r).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_changes_and_refuses_bad_dates_and_ids() {
        let ok = parse(r#"{"id": "chg-1", "time": "2026-03-02T09:15:00Z", "entity": "host:WS-042", "kind": "deploy", "by": "payments-team", "summary": "Rolled out the billing agent"}"#).unwrap();
        assert_eq!(ok[0].id, "chg-1");
        let err = parse(
            r#"{"id": "chg 2", "time": "2026-03-02T09:15:00Z", "entity": "host:a", "kind": "deploy", "by": "x", "summary": "y"}
{"id": "chg-3", "time": "yesterday", "entity": "host:a", "kind": "deploy", "by": "x", "summary": "y"}
{"id": "chg-4", "time": "2026-03-02T09:15:00Z", "entity": "host:a", "kind": "deploy", "by": "x"}"#,
        )
        .unwrap_err();
        assert_eq!(err.lines.len(), 3);
        assert!(err.lines[1].reason.contains("RFC 3339"));
        assert!(err.lines[2].reason.contains("missing field `summary`"));
    }
}
