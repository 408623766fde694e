//! The ATT&CK catalog: technique facts (IDs, names, tactics, platforms, parent links,
//! revoked → replacement). A facts-only catalog generated from ATT&CK v18.1 ships inside
//! the binary; `triage attack import` replaces it with the bundle the operator imports.

pub mod stix;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The catalog shipped in the repository (`catalog/attack.json`).
const EMBEDDED: &str = include_str!("../../catalog/attack.json");

/// A syntactically valid ATT&CK technique ID: `T` + 4 digits, optionally `.` + 3 digits.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TechniqueId(String);

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("`{0}` is not an ATT&CK technique ID (T1234 or T1234.567)")]
pub struct InvalidTechniqueId(pub String);

impl TechniqueId {
    pub fn parse(s: &str) -> Result<Self, InvalidTechniqueId> {
        let t = s.trim();
        let b = t.as_bytes();
        let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
        let ok = match b.len() {
            5 => b[0] == b'T' && digits(1..5),
            9 => b[0] == b'T' && digits(1..5) && b[5] == b'.' && digits(6..9),
            _ => false,
        };
        if ok { Ok(Self(t.to_string())) } else { Err(InvalidTechniqueId(s.to_string())) }
    }

    /// Accepts the lowercase spellings of Sigma tags (`attack.t1059.001`, `t1059`).
    pub fn parse_lenient(s: &str) -> Result<Self, InvalidTechniqueId> {
        let t = s.trim();
        let t = t.strip_prefix("attack.").unwrap_or(t);
        Self::parse(&t.to_ascii_uppercase())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `T1059` for `T1059.001`; itself for a parent technique.
    pub fn parent(&self) -> TechniqueId {
        TechniqueId(self.0[..5].to_string())
    }

    pub fn is_subtechnique(&self) -> bool {
        self.0.len() == 9
    }
}

impl fmt::Display for TechniqueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for TechniqueId {
    type Err = InvalidTechniqueId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for TechniqueId {
    type Error = InvalidTechniqueId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<TechniqueId> for String {
    fn from(t: TechniqueId) -> String {
        t.0
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Technique {
    pub id: TechniqueId,
    pub name: String,
    /// Tactic short names (`execution`, `credential-access`), in matrix order.
    pub tactics: Vec<String>,
    #[serde(default)]
    pub platforms: Vec<String>,
    #[serde(default)]
    pub data_sources: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<TechniqueId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_by: Option<TechniqueId>,
    #[serde(default)]
    pub revoked: bool,
    #[serde(default)]
    pub deprecated: bool,
    pub url: String,
}

impl Technique {
    pub fn is_active(&self) -> bool {
        !self.revoked && !self.deprecated
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tactic {
    pub id: String,
    pub shortname: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    /// Where the facts came from, e.g. `ATT&CK v18.1 (enterprise-attack)`.
    pub source: String,
    pub tactics: Vec<Tactic>,
    pub techniques: BTreeMap<TechniqueId, Technique>,
}

/// What an ID means in this catalog.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup<'a> {
    Active(&'a Technique),
    /// Revoked, with the active technique that replaces it.
    Replaced {
        revoked: &'a Technique,
        by: &'a Technique,
    },
    /// Deprecated, or revoked with no active replacement.
    Inactive(&'a Technique),
    Unknown,
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("reading {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("parsing the ATT&CK catalog: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the STIX bundle has no ATT&CK techniques")]
    Empty,
}

impl Catalog {
    pub fn embedded() -> Result<Catalog, CatalogError> {
        Ok(serde_json::from_str(EMBEDDED)?)
    }

    /// The catalog imported into `data_dir`, or the embedded one when nothing was imported.
    pub fn load(data_dir: &Path) -> Result<Catalog, CatalogError> {
        let path = Self::path_in(data_dir);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(serde_json::from_str(&text)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Self::embedded(),
            Err(source) => Err(CatalogError::Io { path: path.display().to_string(), source }),
        }
    }

    pub fn path_in(data_dir: &Path) -> std::path::PathBuf {
        data_dir.join("attack").join("catalog.json")
    }

    pub fn get(&self, id: &TechniqueId) -> Option<&Technique> {
        self.techniques.get(id)
    }

    pub fn lookup(&self, id: &TechniqueId) -> Lookup<'_> {
        let Some(t) = self.techniques.get(id) else {
            return Lookup::Unknown;
        };
        if t.is_active() {
            return Lookup::Active(t);
        }
        // Follow revoked-by links (they can chain) to an active technique.
        let mut current = t;
        for _ in 0..8 {
            match current.revoked_by.as_ref().and_then(|r| self.techniques.get(r)) {
                Some(next) if next.is_active() => return Lookup::Replaced { revoked: t, by: next },
                Some(next) => current = next,
                None => break,
            }
        }
        Lookup::Inactive(t)
    }

    /// The active technique an ID stands for, following revocations.
    pub fn resolve(&self, id: &TechniqueId) -> Option<&Technique> {
        match self.lookup(id) {
            Lookup::Active(t) | Lookup::Replaced { by: t, .. } => Some(t),
            Lookup::Inactive(_) | Lookup::Unknown => None,
        }
    }

    pub fn tactic_name(&self, shortname: &str) -> Option<&str> {
        self.tactics.iter().find(|t| t.shortname == shortname).map(|t| t.name.as_str())
    }

    pub fn active_count(&self) -> usize {
        self.techniques.values().filter(|t| t.is_active()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn technique_ids_parse_strictly() {
        assert!(TechniqueId::parse("T1059.001").is_ok());
        assert!(TechniqueId::parse("T1059").is_ok());
        for bad in ["t1059", "T105", "T1059.01", "T1059.0011", "X1059", "T1059-001"] {
            assert!(TechniqueId::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(TechniqueId::parse_lenient("attack.t1059.001").unwrap().as_str(), "T1059.001");
        assert_eq!(TechniqueId::parse("T1059.001").unwrap().parent().as_str(), "T1059");
    }

    #[test]
    fn embedded_catalog_knows_active_revoked_and_unknown() {
        let c = Catalog::embedded().unwrap();
        assert!(c.active_count() > 600);
        let ps = TechniqueId::parse("T1059.001").unwrap();
        match c.lookup(&ps) {
            Lookup::Active(t) => {
                assert_eq!(t.name, "PowerShell");
                assert_eq!(t.tactics, vec!["execution"]);
                assert_eq!(t.parent.as_ref().map(|p| p.as_str()), Some("T1059"));
            }
            other => panic!("{other:?}"),
        }
        let revoked = c.techniques.values().find(|t| t.revoked && t.revoked_by.is_some()).unwrap();
        assert!(matches!(c.lookup(&revoked.id), Lookup::Replaced { .. }));
        assert_eq!(c.lookup(&TechniqueId::parse("T1999").unwrap()), Lookup::Unknown);
    }
}
