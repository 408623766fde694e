//! The five severities, ordered `informational < low < medium < high < critical`.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] = [Severity::Informational, Severity::Low, Severity::Medium, Severity::High, Severity::Critical];

    /// 0 for informational up to 4 for critical.
    pub fn rank(self) -> u8 {
        self as u8
    }

    pub fn from_rank(rank: i32) -> Severity {
        Severity::ALL[rank.clamp(0, 4) as usize]
    }

    /// The severity `steps` levels away, saturating at both ends.
    pub fn shifted(self, steps: i32) -> Severity {
        Severity::from_rank(i32::from(self.rank()) + steps)
    }

    /// The five names, in order.
    pub fn names() -> [&'static str; 5] {
        Severity::ALL.map(Severity::as_str)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Informational => "informational",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// OCSF `severity_id`: 1 informational … 5 critical, 6 fatal (taken as critical).
    pub fn from_ocsf_id(id: i64) -> Option<Severity> {
        match id {
            1 => Some(Severity::Informational),
            2 => Some(Severity::Low),
            3 => Some(Severity::Medium),
            4 => Some(Severity::High),
            5 | 6 => Some(Severity::Critical),
            _ => None,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not a severity (informational, low, medium, high, critical)")]
pub struct InvalidSeverity(pub String);

impl FromStr for Severity {
    type Err = InvalidSeverity;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Severity::ALL.into_iter().find(|sev| sev.as_str().eq_ignore_ascii_case(s.trim())).ok_or_else(|| InvalidSeverity(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordering_and_shifts_saturate() {
        assert!(Severity::Informational < Severity::Critical);
        assert_eq!(Severity::High.shifted(2), Severity::Critical);
        assert_eq!(Severity::Low.shifted(-3), Severity::Informational);
        assert_eq!("HIGH".parse::<Severity>().ok(), Some(Severity::High));
        assert!("severe".parse::<Severity>().is_err());
    }
}
