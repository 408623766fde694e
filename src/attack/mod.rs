//! The ATT&CK catalog: technique facts (IDs, names, tactics, platforms, parent links,
//! revoked → replacement) and the facts around them ([`relations`]: software and the
//! techniques it uses, v18 detection strategies and analytics with their log sources, data
//! components, groups, campaigns). A facts-only catalog generated from ATT&CK v18.1 ships
//! inside the binary; `triage attack import` replaces it with the bundle the operator imports.
//!
//! The lookups a mapping engine needs are methods of [`Catalog`], answered from tables built
//! once at load:
//!
//! - software by name or alias: [`Catalog::software_by_name`] (`certutil`, `psexec.exe`,
//!   `Cobalt Strike`), by ID: [`Catalog::software`], by technique: [`Catalog::software_using`];
//! - techniques by log source and channel: [`Catalog::techniques_by_log_source`]
//!   (`WinEventLog:Security` + `4769`, `sysmon` + `EventCode=10`, `AWS:CloudTrail` +
//!   `AssumeRole`), with [`Catalog::resolve_log_sources`] and [`Catalog::log_source_names`]
//!   to see what names exist; by data component: [`Catalog::techniques_by_data_component`];
//! - a technique's detection: [`Catalog::detection_strategies_for`], [`Catalog::analytics_for`];
//! - any ATT&CK ID: [`Catalog::object`].

pub mod relations;
pub mod stix;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The catalog shipped in the repository (`catalog/attack.json`).
const EMBEDDED: &str = include_str!("../../catalog/attack.json");
/// The relations shipped beside it (`catalog/attack-relations.json`).
const EMBEDDED_RELATIONS: &str = include_str!("../../catalog/attack-relations.json");

use relations::RelationIndex;
pub use relations::{
    Analytic, Campaign, DataComponent, DetectionStrategy, Group, LogSource, LogSourceRef, ObjectKind, Relations, Software, SoftwareType, channel_tokens,
    normalize_software_name,
};

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
    /// Software, detection strategies, analytics, data components, groups, campaigns.
    /// Private so the lookup tables built from it stay in step; read it with
    /// [`Catalog::relations`].
    #[serde(default, skip_serializing_if = "Relations::is_empty")]
    relations: Relations,
    /// Lookup tables, built on the first lookup that needs them.
    #[serde(skip)]
    index: std::sync::OnceLock<RelationIndex>,
}

/// A technique with the analytics that support it, as log-source and data-component
/// lookups return them.
#[derive(Debug, Clone, PartialEq)]
pub struct TechniqueSupport<'a> {
    pub technique: TechniqueId,
    /// The analytics (each with its detection strategy) that tie the technique to what was
    /// looked up, in catalog order.
    pub analytics: Vec<&'a Analytic>,
}

/// One analytic that names a log source, with the matching reference.
#[derive(Debug, Clone, PartialEq)]
pub struct LogSourceMatch<'a> {
    pub analytic: &'a Analytic,
    pub log_source: &'a LogSourceRef,
    /// The techniques of the analytic's detection strategy.
    pub techniques: &'a [TechniqueId],
}

/// Whatever an ATT&CK ID names in the catalog.
#[derive(Debug, Clone, PartialEq)]
pub enum AttackObject<'a> {
    Technique(&'a Technique),
    Tactic(&'a Tactic),
    Software(&'a Software),
    DetectionStrategy(&'a DetectionStrategy),
    Analytic(&'a Analytic),
    DataComponent(&'a DataComponent),
    Group(&'a Group),
    Campaign(&'a Campaign),
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
    /// A catalog from its parts, with its lookup tables built.
    pub fn new(source: String, tactics: Vec<Tactic>, techniques: BTreeMap<TechniqueId, Technique>, relations: Relations) -> Catalog {
        Catalog { source, tactics, techniques, relations, index: std::sync::OnceLock::new() }
    }

    /// The catalog built into the binary: `catalog/attack.json` and
    /// `catalog/attack-relations.json`.
    pub fn embedded() -> Result<Catalog, CatalogError> {
        let mut c: Catalog = serde_json::from_str(EMBEDDED)?;
        c.relations = serde_json::from_str(EMBEDDED_RELATIONS)?;
        Ok(c)
    }

    /// The catalog imported into `data_dir`, or the embedded one when nothing was imported.
    /// An import made before relations were kept (no software, no analytics) gets the
    /// embedded relations; `triage attack import` again replaces them with its own.
    pub fn load(data_dir: &Path) -> Result<Catalog, CatalogError> {
        let path = Self::path_in(data_dir);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let mut c: Catalog = serde_json::from_str(&text)?;
                if c.relations.is_empty() {
                    c.relations = serde_json::from_str(EMBEDDED_RELATIONS)?;
                }
                Ok(c)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Self::embedded(),
            Err(source) => Err(CatalogError::Io { path: path.display().to_string(), source }),
        }
    }

    /// The facts beyond techniques: software, detection strategies, analytics, data
    /// components, groups, campaigns.
    pub fn relations(&self) -> &Relations {
        &self.relations
    }

    /// The lookup tables over the relations, built on first use (a few milliseconds).
    fn ix(&self) -> &RelationIndex {
        self.index.get_or_init(|| RelationIndex::build(&self.relations))
    }

    /// The technique facts alone, as `catalog/attack.json` holds them (relations go to
    /// their own file, see [`Relations::to_json_lines`]).
    pub fn techniques_only(&self) -> Catalog {
        Catalog::new(self.source.clone(), self.tactics.clone(), self.techniques.clone(), Relations::default())
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

    // ---- Software ----

    /// Software by its ATT&CK ID (`S0160`).
    pub fn software(&self, id: &str) -> Option<&Software> {
        self.ix().software_by_id(id.trim()).map(|i| &self.relations.software[i])
    }

    /// Software whose name or one of whose aliases matches `name` once both are normalised
    /// with [`normalize_software_name`]: case-insensitive, folder and `.exe` dropped,
    /// letters and digits only. `certutil`, `CertUtil.exe`, `C:\Windows\System32\certutil.exe`
    /// find S0160; `PsExec`/`psexec.exe` S0029; `Cobalt Strike`/`cobaltstrike` S0154. More
    /// than one entry when software share an alias. Each carries its techniques.
    pub fn software_by_name(&self, name: &str) -> Vec<&Software> {
        self.ix().software_by_name(name).iter().map(|&i| &self.relations.software[i]).collect()
    }

    /// Software that `uses` a technique. The ID is matched exactly: ask for the parent
    /// (`T1003`) and each sub-technique (`T1003.001`) separately when both matter.
    pub fn software_using(&self, technique: &TechniqueId) -> Vec<&Software> {
        self.ix().software_by_technique(technique).iter().map(|&i| &self.relations.software[i]).collect()
    }

    // ---- Detection strategies and analytics ----

    /// A detection strategy by ID (`DET0001`).
    pub fn detection_strategy(&self, id: &str) -> Option<&DetectionStrategy> {
        self.ix().strategy_by_id(id.trim()).map(|i| &self.relations.detection_strategies[i])
    }

    /// The detection strategies that `detect` a technique (exact ID).
    pub fn detection_strategies_for(&self, technique: &TechniqueId) -> Vec<&DetectionStrategy> {
        self.ix().strategies_by_technique(technique).iter().map(|&i| &self.relations.detection_strategies[i]).collect()
    }

    /// An analytic by ID (`AN0001`).
    pub fn analytic(&self, id: &str) -> Option<&Analytic> {
        self.ix().analytic_by_id(id.trim()).map(|i| &self.relations.analytics[i])
    }

    /// The analytics of the detection strategies of a technique (exact ID), strategy by
    /// strategy.
    pub fn analytics_for(&self, technique: &TechniqueId) -> Vec<&Analytic> {
        self.detection_strategies_for(technique).into_iter().flat_map(|d| d.analytics.iter().filter_map(|a| self.analytic(a))).collect()
    }

    /// The techniques an analytic detects: those of its detection strategy.
    pub fn analytic_techniques(&self, analytic: &Analytic) -> &[TechniqueId] {
        self.ix().analytic_by_id(&analytic.id).map(|i| self.ix().analytic_techniques(&self.relations, i)).unwrap_or_default()
    }

    // ---- Log sources and data components ----

    /// Every distinct log source name the analytics use, as the bundle spells it
    /// (`WinEventLog:Security`, `WinEventLog:Sysmon`, `AWS:CloudTrail`, `azure:activity`,
    /// `gcp:audit`, `saas:okta`, `Okta:SystemLog`, `kubernetes:audit`, `m365:unified`, …).
    pub fn log_source_names(&self) -> Vec<&str> {
        self.ix().source_names().collect()
    }

    /// The log source names (lowercase) a query stands for, case-insensitively: the name
    /// itself when it exists (`aws:cloudtrail`); else, for a query without `:`, every name
    /// with that part (`sysmon` → `wineventlog:sysmon`, `linux:sysmon`; `cloudtrail` →
    /// `aws:cloudtrail`, …; `okta` → `saas:okta`, `okta:systemlog`); else every name it
    /// begins (`okta:system` → `okta:systemlog`).
    pub fn resolve_log_sources(&self, query: &str) -> Vec<&str> {
        self.ix().resolve_sources(query)
    }

    /// Every analytic log-source reference that matches `source` (see
    /// [`Catalog::resolve_log_sources`]) and, when given, `channel`: a channel matches when
    /// the reference's channel holds every token of it ([`channel_tokens`], case-insensitive),
    /// so `4769`, `EventCode=4769` both match `EventCode=4768, 4769, 4770`, `AssumeRole`
    /// matches `AssumeRole` but not `AssumeRoleWithWebIdentity`.
    pub fn analytics_by_log_source(&self, source: &str, channel: Option<&str>) -> Vec<LogSourceMatch<'_>> {
        let sources = self.resolve_log_sources(source);
        self.ix()
            .refs(&self.relations, &sources, channel)
            .into_iter()
            .map(|(a, l)| LogSourceMatch {
                analytic: &self.relations.analytics[a],
                log_source: &self.relations.analytics[a].log_sources[l],
                techniques: self.ix().analytic_techniques(&self.relations, a),
            })
            .collect()
    }

    /// The techniques whose analytics name a log source (and channel), most supported
    /// first: `("WinEventLog:Security", Some("4769"))` gives Kerberoasting (T1558.003) among
    /// others, `("sysmon", Some("EventCode=10"))` LSASS memory access (T1003.001). Broad
    /// channels (Sysmon `EventCode=1`) give hundreds; weigh by how few there are.
    pub fn techniques_by_log_source(&self, source: &str, channel: Option<&str>) -> Vec<TechniqueSupport<'_>> {
        let matches = self.analytics_by_log_source(source, channel);
        support(matches.iter().flat_map(|m| m.techniques.iter().map(move |t| (t, m.analytic))))
    }

    /// A data component by ID (`DC0032`) or name (`Process Creation`, case-insensitive).
    pub fn data_component(&self, id_or_name: &str) -> Option<&DataComponent> {
        self.ix().component(id_or_name).map(|i| &self.relations.data_components[i])
    }

    /// The analytics with a log source of a data component (ID or name).
    pub fn analytics_by_data_component(&self, id_or_name: &str) -> Vec<&Analytic> {
        let Some(dc) = self.data_component(id_or_name) else { return Vec::new() };
        self.ix().analytics_by_component(&dc.id).iter().map(|&i| &self.relations.analytics[i]).collect()
    }

    /// The techniques detected through a data component (ID or name), most supported first.
    pub fn techniques_by_data_component(&self, id_or_name: &str) -> Vec<TechniqueSupport<'_>> {
        let analytics = self.analytics_by_data_component(id_or_name);
        support(analytics.into_iter().flat_map(|a| self.analytic_techniques(a).iter().map(move |t| (t, a))))
    }

    // ---- Groups, campaigns, any ID ----

    /// A group by ID (`G0007`).
    pub fn group(&self, id: &str) -> Option<&Group> {
        self.ix().group_by_id(id.trim()).map(|i| &self.relations.groups[i])
    }

    /// A campaign by ID (`C0022`).
    pub fn campaign(&self, id: &str) -> Option<&Campaign> {
        self.ix().campaign_by_id(id.trim()).map(|i| &self.relations.campaigns[i])
    }

    /// Whatever an ATT&CK ID names: technique (revoked and deprecated ones included),
    /// tactic, software, detection strategy, analytic, data component, group or campaign.
    pub fn object(&self, id: &str) -> Option<AttackObject<'_>> {
        let id = id.trim();
        match ObjectKind::of_id(id)? {
            ObjectKind::Technique => self.get(&TechniqueId::parse(id).ok()?).map(AttackObject::Technique),
            ObjectKind::Tactic => self.tactics.iter().find(|t| t.id == id).map(AttackObject::Tactic),
            ObjectKind::Software => self.software(id).map(AttackObject::Software),
            ObjectKind::DetectionStrategy => self.detection_strategy(id).map(AttackObject::DetectionStrategy),
            ObjectKind::Analytic => self.analytic(id).map(AttackObject::Analytic),
            ObjectKind::DataComponent => self.data_component(id).map(AttackObject::DataComponent),
            ObjectKind::Group => self.group(id).map(AttackObject::Group),
            ObjectKind::Campaign => self.campaign(id).map(AttackObject::Campaign),
        }
    }

    pub fn tactic_name(&self, shortname: &str) -> Option<&str> {
        self.tactics.iter().find(|t| t.shortname == shortname).map(|t| t.name.as_str())
    }

    pub fn active_count(&self) -> usize {
        self.techniques.values().filter(|t| t.is_active()).count()
    }
}

/// Groups (technique, analytic) pairs by technique, most analytics first, then by ID.
fn support<'a>(pairs: impl Iterator<Item = (&'a TechniqueId, &'a Analytic)>) -> Vec<TechniqueSupport<'a>> {
    let mut by: BTreeMap<&TechniqueId, Vec<&Analytic>> = BTreeMap::new();
    for (t, a) in pairs {
        let v = by.entry(t).or_default();
        if !v.iter().any(|x| x.id == a.id) {
            v.push(a);
        }
    }
    let mut out: Vec<TechniqueSupport> = by.into_iter().map(|(t, analytics)| TechniqueSupport { technique: t.clone(), analytics }).collect();
    out.sort_by(|a, b| b.analytics.len().cmp(&a.analytics.len()).then(a.technique.cmp(&b.technique)));
    out
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

    fn tid(s: &str) -> TechniqueId {
        TechniqueId::parse(s).unwrap()
    }

    fn ids(v: &[TechniqueSupport]) -> Vec<String> {
        v.iter().map(|s| s.technique.to_string()).collect()
    }

    #[test]
    fn software_is_found_by_name_alias_and_file_name() {
        let c = Catalog::embedded().unwrap();
        for (query, id) in [
            ("certutil", "S0160"),
            ("CertUtil.exe", "S0160"),
            ("C:\\Windows\\System32\\certutil.exe", "S0160"),
            ("PsExec", "S0029"),
            ("psexec.exe", "S0029"),
            ("AdFind", "S0552"),
            ("mimikatz", "S0002"),
            ("Rubeus", "S1071"),
            ("Cobalt Strike", "S0154"),
            ("cobaltstrike", "S0154"),
            ("net.exe", "S0039"),
        ] {
            let found: Vec<&str> = c.software_by_name(query).iter().map(|s| s.id.as_str()).collect();
            assert_eq!(found, vec![id], "{query}");
        }
        assert!(c.software_by_name("notepad-that-is-no-tool").is_empty());
        let certutil = c.software("S0160").unwrap();
        assert_eq!(certutil.software_type, SoftwareType::Tool);
        assert!(certutil.aliases.iter().any(|a| a == "certutil.exe"));
        assert_eq!(certutil.techniques, ["T1105", "T1140", "T1553.004", "T1560.001"].map(tid));
        let rubeus = c.software("S1071").unwrap();
        assert!(rubeus.techniques.contains(&tid("T1558.003")));
        assert_eq!(c.software("S0154").unwrap().software_type, SoftwareType::Malware);
        assert!(c.software("S0154").unwrap().techniques.len() > 50);
        // And back: what uses a technique.
        let kerberoasting: Vec<&str> = c.software_using(&tid("T1558.003")).iter().map(|s| s.id.as_str()).collect();
        assert!(kerberoasting.contains(&"S1071"), "{kerberoasting:?}");
    }

    #[test]
    fn every_relation_points_at_active_known_objects() {
        let c = Catalog::embedded().unwrap();
        let r = c.relations();
        assert!(r.software.len() > 700 && r.detection_strategies.len() > 600 && r.analytics.len() > 1500 && r.data_components.len() > 100);
        assert!(r.groups.len() > 150 && r.campaigns.len() > 40);
        let techniques = r
            .software
            .iter()
            .flat_map(|s| &s.techniques)
            .chain(r.detection_strategies.iter().flat_map(|d| &d.techniques))
            .chain(r.groups.iter().flat_map(|g| &g.techniques))
            .chain(r.campaigns.iter().flat_map(|g| &g.techniques));
        for t in techniques {
            assert!(matches!(c.lookup(t), Lookup::Active(_)), "{t}");
        }
        for a in &r.analytics {
            assert!(c.detection_strategy(&a.strategy).is_some_and(|d| d.analytics.contains(&a.id)), "{}", a.id);
            assert!(!c.analytic_techniques(a).is_empty(), "{}", a.id);
            for l in &a.log_sources {
                assert!(l.data_component.is_empty() || c.data_component(&l.data_component).is_some(), "{}: {}", a.id, l.data_component);
            }
        }
        for g in &r.groups {
            for s in &g.software {
                assert!(c.software(s).is_some(), "{}: {s}", g.id);
            }
        }
    }

    #[test]
    fn techniques_have_their_detection_strategies_and_analytics() {
        let c = Catalog::embedded().unwrap();
        let det: Vec<&str> = c.detection_strategies_for(&tid("T1558.003")).iter().map(|d| d.id.as_str()).collect();
        assert_eq!(det, ["DET0157"]);
        let an: Vec<&str> = c.analytics_for(&tid("T1558.003")).iter().map(|a| a.id.as_str()).collect();
        assert_eq!(an, ["AN0444"]);
        assert_eq!(c.analytic_techniques(c.analytic("AN0444").unwrap()), [tid("T1558.003")]);
        assert_eq!(c.detection_strategies_for(&tid("T1003.001"))[0].id, "DET0363");
        assert!(!c.analytics_for(&tid("T1059.001")).is_empty());
        assert!(c.analytics_for(&tid("T1999")).is_empty());
    }

    #[test]
    fn techniques_are_found_by_log_source_and_channel() {
        let c = Catalog::embedded().unwrap();
        // Windows Security 4769: Kerberos service tickets.
        let kerberos = ids(&c.techniques_by_log_source("WinEventLog:Security", Some("EventCode=4769")));
        assert!(kerberos.contains(&"T1558.003".to_string()), "{kerberos:?}");
        assert_eq!(kerberos, ids(&c.techniques_by_log_source("wineventlog:security", Some("4769"))));
        // Sysmon 10 (process access) includes LSASS memory dumping; `sysmon` is enough.
        assert!(c.resolve_log_sources("sysmon").contains(&"wineventlog:sysmon"));
        let access = ids(&c.techniques_by_log_source("sysmon", Some("EventCode=10")));
        assert!(access.contains(&"T1003.001".to_string()), "{access:?}");
        assert!(access.len() * 3 < c.techniques_by_log_source("sysmon", None).len(), "a channel narrows the source");
        // Cloud and identity sources, with an operation or event as the channel.
        let assume = c.analytics_by_log_source("AWS:CloudTrail", Some("AssumeRole"));
        assert!(!assume.is_empty());
        assert!(assume.iter().all(|m| channel_tokens(&m.log_source.channel).contains(&"assumerole".to_string())), "token match, not substring");
        for source in ["azure:activity", "gcp:audit", "kubernetes:audit", "saas:okta", "okta:system", "m365:unified", "azure:signinlogs"] {
            assert!(!c.techniques_by_log_source(source, None).is_empty(), "{source}");
        }
        assert!(!c.techniques_by_log_source("gcp:audit", Some("iam.serviceAccounts.keys.create")).is_empty());
        assert!(c.techniques_by_log_source("no:such-source", None).is_empty());
        assert!(c.log_source_names().contains(&"WinEventLog:Security"));
    }

    #[test]
    fn techniques_are_found_by_data_component() {
        let c = Catalog::embedded().unwrap();
        let dc = c.data_component("Process Access").unwrap();
        assert_eq!(c.data_component(&dc.id).unwrap().name, "Process Access");
        let via = ids(&c.techniques_by_data_component("process access"));
        assert!(via.contains(&"T1003.001".to_string()), "{via:?}");
        let creation = c.techniques_by_data_component("DC0032");
        assert!(creation.len() > 100);
        assert!(creation.windows(2).all(|w| w[0].analytics.len() >= w[1].analytics.len()), "most supported first");
    }

    #[test]
    fn any_id_resolves_to_its_object() {
        let c = Catalog::embedded().unwrap();
        assert!(matches!(c.object("T1059.001"), Some(AttackObject::Technique(t)) if t.name == "PowerShell"));
        assert!(matches!(c.object("S0160"), Some(AttackObject::Software(s)) if s.name == "certutil"));
        assert!(matches!(c.object("DET0157"), Some(AttackObject::DetectionStrategy(_))));
        assert!(matches!(c.object("AN0444"), Some(AttackObject::Analytic(_))));
        assert!(matches!(c.object("DC0032"), Some(AttackObject::DataComponent(d)) if d.name == "Process Creation"));
        assert!(matches!(c.object("G0007"), Some(AttackObject::Group(g)) if g.name == "APT28"));
        assert!(matches!(c.object("C0022"), Some(AttackObject::Campaign(_))));
        assert!(matches!(c.object("TA0002"), Some(AttackObject::Tactic(_))));
        assert_eq!(c.object("S9999"), None);
        assert_eq!(c.object("hello"), None);
    }
}
