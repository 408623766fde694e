//! Which class of environment an asset lives in, read through the operator's policy file
//! (`catalog/policy.toml`, replaced with `--policy <file>`).
//!
//! Senders spell environments every way (`Production `, `prod-us-east-1`, `PRD`, `live`),
//! and a tier must not depend on the spelling. A value is normalised, then matched against
//! the pattern lists of the policy; a value no list claims, an empty one or none at all is
//! [`EnvClass::Unknown`], which the tier decision treats as production: fail closed.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

const EMBEDDED: &str = include_str!("../../catalog/policy.toml");

/// The class whose assets raise a tier. Every other named class is non-production.
pub const PRODUCTION: &str = "production";

/// How an `asset.environment` value reads for policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvClass {
    /// Matched a pattern of the `production` class.
    Production,
    /// Matched a pattern of another class (its name: `staging`, `development`, …).
    NonProduction(String),
    /// Missing, empty, or matched by no pattern.
    Unknown,
}

impl EnvClass {
    /// Whether the tier decision must treat the asset as production: it is, or nothing
    /// says it is not.
    pub fn counts_as_production(&self) -> bool {
        !matches!(self, EnvClass::NonProduction(_))
    }

    pub fn name(&self) -> &str {
        match self {
            EnvClass::Production => PRODUCTION,
            EnvClass::NonProduction(c) => c,
            EnvClass::Unknown => "unknown",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("policy file: {0}")]
    Invalid(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    environments: BTreeMap<String, Vec<String>>,
    /// Read by [`super::stream::StreamPolicy`].
    #[allow(dead_code)]
    stream: Option<toml::Value>,
    #[allow(dead_code)]
    sla: Option<toml::Value>,
}

/// Parses the operator's policy file at `path`, or the shipped one, with `parse`; errors
/// name the file.
pub(crate) fn load_policy<T>(path: Option<&Path>, parse: impl Fn(&str) -> Result<T, PolicyError>) -> Result<T, PolicyError> {
    let Some(p) = path else { return parse(EMBEDDED) };
    let text = std::fs::read_to_string(p).map_err(|e| PolicyError::Invalid(format!("{}: {e}", p.display())))?;
    parse(&text).map_err(|PolicyError::Invalid(m)| PolicyError::Invalid(format!("{}: {m}", p.display())))
}

/// The environment classes of the policy, with their patterns normalised.
#[derive(Debug, Clone, Default)]
pub struct Environments {
    /// `(class, pattern)`, patterns already normalised. An empty list classifies every
    /// value as unknown, hence production: the safe default.
    patterns: Vec<(String, String)>,
}

impl Environments {
    pub fn embedded() -> Result<Environments, PolicyError> {
        Self::parse(EMBEDDED)
    }

    pub fn load(path: Option<&Path>) -> Result<Environments, PolicyError> {
        load_policy(path, Self::parse)
    }

    /// Parses a policy file. Refused: a pattern that normalises to nothing, a
    /// non-production pattern made only of wildcards (it would declare every spelling
    /// non-production), and one exact pattern listed under two classes.
    pub fn parse(text: &str) -> Result<Environments, PolicyError> {
        let file: PolicyFile = toml::from_str(text).map_err(|e| PolicyError::Invalid(e.to_string()))?;
        let mut patterns: Vec<(String, String)> = Vec::new();
        for (class, list) in file.environments {
            let class = normalise(&class).replace('-', "_");
            if class.is_empty() || class == "unknown" {
                return Err(PolicyError::Invalid(format!("`{class}` cannot name an environment class")));
            }
            for raw in list {
                let pattern = normalise_pattern(&raw);
                if pattern.trim_matches(['*', '-']).is_empty() {
                    if class != PRODUCTION {
                        return Err(PolicyError::Invalid(format!("pattern `{raw}` of `{class}` would match every environment")));
                    }
                    if pattern.is_empty() {
                        return Err(PolicyError::Invalid(format!("pattern `{raw}` of `{class}` is empty")));
                    }
                }
                if !pattern.contains('*')
                    && let Some((other, _)) = patterns.iter().find(|(c, p)| *p == pattern && *c != class)
                {
                    return Err(PolicyError::Invalid(format!("`{raw}` is listed under both `{other}` and `{class}`")));
                }
                patterns.push((class.clone(), pattern));
            }
        }
        Ok(Environments { patterns })
    }

    /// The class of an environment value. Exact patterns win over wildcard ones (so an
    /// operator can list `non-prod` under staging beside `*-prod` under production); when
    /// wildcard patterns of several classes match, production wins, else the longest
    /// pattern does.
    pub fn classify(&self, environment: Option<&str>) -> EnvClass {
        let Some(value) = environment.map(normalise).filter(|v| !v.is_empty()) else {
            return EnvClass::Unknown;
        };
        let class_of = |c: &str| if c == PRODUCTION { EnvClass::Production } else { EnvClass::NonProduction(c.to_string()) };
        if let Some((class, _)) = self.patterns.iter().find(|(_, p)| !p.contains('*') && *p == value) {
            return class_of(class);
        }
        let matching: Vec<&(String, String)> = self.patterns.iter().filter(|(_, p)| p.contains('*') && glob(p, &value)).collect();
        if matching.iter().any(|(c, _)| c == PRODUCTION) {
            return EnvClass::Production;
        }
        matching.iter().max_by_key(|(_, p)| p.len()).map(|(c, _)| class_of(c)).unwrap_or(EnvClass::Unknown)
    }
}

/// Lower case, trimmed, and every run of characters other than letters and digits turned
/// into one `-`: `" Prod_US.East 1 "` → `prod-us-east-1`.
pub fn normalise(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    out
}

/// [`normalise`], keeping `*` as the wildcard.
fn normalise_pattern(pattern: &str) -> String {
    pattern.split('*').map(normalise_part).collect::<Vec<_>>().join("*")
}

/// One literal piece of a pattern: like [`normalise`], but a separator at either end is
/// kept as `-`, so `prod-*` stays anchored on a separator.
fn normalise_part(part: &str) -> String {
    let core = normalise(part);
    let is_sep = |c: char| !c.is_alphanumeric();
    let lead = part.chars().next().is_some_and(is_sep) && !core.is_empty();
    let trail = part.chars().last().is_some_and(is_sep) && !core.is_empty();
    let only_sep = core.is_empty() && !part.is_empty();
    if only_sep {
        return "-".into();
    }
    format!("{}{core}{}", if lead { "-" } else { "" }, if trail { "-" } else { "" })
}

/// `*` matches any run of characters (empty included); everything else matches itself.
fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] != '*' && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_spellings() {
        assert_eq!(normalise(" Production "), "production");
        assert_eq!(normalise("Prod_US.East 1"), "prod-us-east-1");
        assert_eq!(normalise("--PRD--"), "prd");
        assert_eq!(normalise("  "), "");
        assert_eq!(normalise_pattern("prod-*"), "prod-*");
        assert_eq!(normalise_pattern("*_PROD"), "*-prod");
        assert_eq!(normalise_pattern("* prod *"), "*-prod-*");
    }

    #[test]
    fn glob_matches_runs() {
        assert!(glob("prod-*", "prod-us-east-1"));
        assert!(!glob("prod-*", "production"));
        assert!(glob("*-prod", "eu-prod"));
        assert!(glob("*-prod-*", "eu-prod-2"));
        assert!(!glob("*-prod-*", "eu-prod"));
        assert!(glob("*", ""));
        assert!(!glob("a*b", "acd"));
    }

    #[test]
    fn the_shipped_policy_classifies_every_spelling_and_fails_closed() {
        let env = Environments::embedded().unwrap();
        let table: [(Option<&str>, EnvClass); 22] = [
            (Some("production"), EnvClass::Production),
            (Some("production "), EnvClass::Production),
            (Some("Production"), EnvClass::Production),
            (Some("PRD"), EnvClass::Production),
            (Some("prod"), EnvClass::Production),
            (Some("prod-us-east-1"), EnvClass::Production),
            (Some("PROD_EU_WEST"), EnvClass::Production),
            (Some("us-east-1-prod"), EnvClass::Production),
            (Some("payments-prod-2"), EnvClass::Production),
            (Some("live"), EnvClass::Production),
            (Some("staging"), EnvClass::NonProduction("staging".into())),
            (Some("Stage"), EnvClass::NonProduction("staging".into())),
            (Some("non-prod"), EnvClass::NonProduction("staging".into())),
            (Some("pre-prod"), EnvClass::NonProduction("staging".into())),
            (Some("dev"), EnvClass::NonProduction("development".into())),
            (Some("development"), EnvClass::NonProduction("development".into())),
            (Some("corporate"), EnvClass::NonProduction("corporate".into())),
            // Both a production and a staging wildcard match: production wins.
            (Some("prod-staging"), EnvClass::Production),
            (Some(""), EnvClass::Unknown),
            (Some("   "), EnvClass::Unknown),
            (Some("qa-lab-7b"), EnvClass::NonProduction("staging".into())),
            (None, EnvClass::Unknown),
        ];
        for (value, want) in table {
            let got = env.classify(value);
            assert_eq!(got, want, "{value:?}");
        }
        for v in ["mars", "prdo", "environment"] {
            assert_eq!(env.classify(Some(v)), EnvClass::Unknown, "{v}");
            assert!(env.classify(Some(v)).counts_as_production());
        }
        assert!(!env.classify(Some("staging")).counts_as_production());
    }

    #[test]
    fn an_empty_policy_counts_everything_as_production() {
        let env = Environments::default();
        assert!(env.classify(Some("staging")).counts_as_production());
    }

    #[test]
    fn policies_that_would_fail_open_are_refused() {
        assert!(Environments::parse("[environments]\nstaging = [\"*\"]").is_err());
        assert!(Environments::parse("[environments]\nstaging = [\"--\"]").is_err());
        assert!(Environments::parse("[environments]\nstaging = [\"prod\"]\nproduction = [\"PROD\"]").is_err());
        assert!(Environments::parse("[environment]\nstaging = [\"stg\"]").is_err());
        assert!(Environments::parse("[environments]\nunknown = [\"x\"]").is_err());
        let ok = Environments::parse("[environments]\nproduction = [\"*\"]\nlab = [\"lab\"]").unwrap();
        assert_eq!(ok.classify(Some("lab")), EnvClass::NonProduction("lab".into()));
        assert_eq!(ok.classify(Some("anything")), EnvClass::Production);
    }
}
