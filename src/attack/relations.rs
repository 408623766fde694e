//! ATT&CK facts beyond techniques: software and the techniques it uses, v18 detection
//! strategies and their analytics (platforms, log sources and channels), data components,
//! groups and campaigns. Facts only (IDs, names, aliases, relationships, log-source names);
//! no description prose.
//!
//! [`Relations`] is what is stored (`catalog/attack-relations.json` in the repository, inside
//! `attack/catalog.json` in a data dir); [`RelationIndex`] is built from it once, on a
//! [`super::Catalog`]'s first lookup, and answers the lookups a mapping engine needs.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::TechniqueId;

/// What an ATT&CK ID names, told by its prefix: `T1059.001`, `S0160`, `DET0001`, `AN0001`,
/// `DC0032`, `G0007`, `C0022`, `TA0002`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    Technique,
    Tactic,
    Software,
    DetectionStrategy,
    Analytic,
    DataComponent,
    Group,
    Campaign,
}

impl ObjectKind {
    /// The kind an ATT&CK ID names, or `None` when it is no ATT&CK ID. Only the shape is
    /// checked (prefix and digits), not that the object exists.
    pub fn of_id(id: &str) -> Option<ObjectKind> {
        let id = id.trim();
        if TechniqueId::parse(id).is_ok() {
            return Some(ObjectKind::Technique);
        }
        let kinds = [
            ("DET", ObjectKind::DetectionStrategy),
            ("AN", ObjectKind::Analytic),
            ("DC", ObjectKind::DataComponent),
            ("TA", ObjectKind::Tactic),
            ("S", ObjectKind::Software),
            ("G", ObjectKind::Group),
            ("C", ObjectKind::Campaign),
        ];
        kinds.into_iter().find_map(|(prefix, kind)| {
            let digits = id.strip_prefix(prefix)?;
            (digits.len() == 4 && digits.bytes().all(|b| b.is_ascii_digit())).then_some(kind)
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Technique => "technique",
            ObjectKind::Tactic => "tactic",
            ObjectKind::Software => "software",
            ObjectKind::DetectionStrategy => "detection_strategy",
            ObjectKind::Analytic => "analytic",
            ObjectKind::DataComponent => "data_component",
            ObjectKind::Group => "group",
            ObjectKind::Campaign => "campaign",
        }
    }
}

/// `tool` or `malware`, as STIX types them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SoftwareType {
    Tool,
    Malware,
}

impl SoftwareType {
    pub fn as_str(self) -> &'static str {
        match self {
            SoftwareType::Tool => "tool",
            SoftwareType::Malware => "malware",
        }
    }
}

/// An ATT&CK software entry (`S0160 certutil`): a tool or a piece of malware.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Software {
    /// `S` + 4 digits.
    pub id: String,
    pub name: String,
    /// `x_mitre_aliases`, the name itself included when the bundle lists it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    #[serde(rename = "type")]
    pub software_type: SoftwareType,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<String>,
    /// Active techniques it `uses`, sorted.
    #[serde(default)]
    pub techniques: Vec<TechniqueId>,
}

/// A v18 detection strategy (`DET0001`): the techniques it `detects` and its analytics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectionStrategy {
    /// `DET` + 4 digits.
    pub id: String,
    pub name: String,
    /// Techniques it detects (a relationship `detects`), sorted.
    pub techniques: Vec<TechniqueId>,
    /// Its analytics' IDs (`AN…`), in the bundle's order.
    pub analytics: Vec<String>,
}

/// One log source an analytic names: data component, log source name and channel.
/// Stored as `[data component, name, channel]` to keep the catalog small.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "(String, String, String)", into = "(String, String, String)")]
pub struct LogSourceRef {
    /// Data component ID (`DC0032`); empty when the bundle's ref resolves to nothing.
    pub data_component: String,
    /// Log source name as the bundle spells it: `WinEventLog:Sysmon`, `AWS:CloudTrail`.
    pub name: String,
    /// Channel as the bundle spells it: `EventCode=10`, `AssumeRole`, free text at times.
    pub channel: String,
}

impl From<(String, String, String)> for LogSourceRef {
    fn from((data_component, name, channel): (String, String, String)) -> Self {
        LogSourceRef { data_component, name, channel }
    }
}

impl From<LogSourceRef> for (String, String, String) {
    fn from(l: LogSourceRef) -> Self {
        (l.data_component, l.name, l.channel)
    }
}

/// A v18 analytic (`AN0001`): one platform's way of carrying out a detection strategy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analytic {
    /// `AN` + 4 digits.
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<String>,
    /// The detection strategy that lists it (`DET…`); its techniques are this analytic's.
    pub strategy: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log_sources: Vec<LogSourceRef>,
}

/// A log source a data component lists (`x_mitre_log_sources`). Stored as
/// `[name, channel]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "(String, String)", into = "(String, String)")]
pub struct LogSource {
    pub name: String,
    pub channel: String,
}

impl From<(String, String)> for LogSource {
    fn from((name, channel): (String, String)) -> Self {
        LogSource { name, channel }
    }
}

impl From<LogSource> for (String, String) {
    fn from(l: LogSource) -> Self {
        (l.name, l.channel)
    }
}

/// A data component (`DC0032 Process Creation`) and the log sources it lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataComponent {
    /// `DC` + 4 digits.
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log_sources: Vec<LogSource>,
}

/// A group (`intrusion-set`, `G0007 APT28`) with the techniques and software it uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub techniques: Vec<TechniqueId>,
    /// Software IDs (`S…`) it uses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub software: Vec<String>,
}

/// A campaign (`C0022 Operation Dream Job`) with what it uses and the groups it is
/// attributed to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Campaign {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub techniques: Vec<TechniqueId>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub software: Vec<String>,
    /// Group IDs (`G…`) it is `attributed-to`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

/// Every non-technique fact the catalog holds, sorted by ID. Revoked and deprecated
/// objects are left out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Relations {
    #[serde(default)]
    pub software: Vec<Software>,
    #[serde(default)]
    pub detection_strategies: Vec<DetectionStrategy>,
    #[serde(default)]
    pub analytics: Vec<Analytic>,
    #[serde(default)]
    pub data_components: Vec<DataComponent>,
    #[serde(default)]
    pub groups: Vec<Group>,
    #[serde(default)]
    pub campaigns: Vec<Campaign>,
}

impl Relations {
    pub fn is_empty(&self) -> bool {
        self.software.is_empty() && self.detection_strategies.is_empty() && self.analytics.is_empty() && self.data_components.is_empty()
    }

    /// JSON with one object per line inside each array: small, and diffs stay readable.
    pub fn to_json_lines(&self, source: &str) -> String {
        fn section<T: Serialize>(out: &mut String, key: &str, items: &[T], last: bool) {
            out.push_str(&format!("  \"{key}\": ["));
            for (i, item) in items.iter().enumerate() {
                out.push_str(if i == 0 { "\n    " } else { ",\n    " });
                out.push_str(&serde_json::to_string(item).unwrap_or_default());
            }
            out.push_str(if items.is_empty() { "]" } else { "\n  ]" });
            out.push_str(if last { "\n" } else { ",\n" });
        }
        let mut out = String::from("{\n");
        out.push_str(&format!("  \"source\": {},\n", serde_json::to_string(source).unwrap_or_default()));
        section(&mut out, "software", &self.software, false);
        section(&mut out, "detection_strategies", &self.detection_strategies, false);
        section(&mut out, "analytics", &self.analytics, false);
        section(&mut out, "data_components", &self.data_components, false);
        section(&mut out, "groups", &self.groups, false);
        section(&mut out, "campaigns", &self.campaigns, true);
        out.push_str("}\n");
        out
    }
}

/// The normalised form software names and aliases are looked up in: lowercase, the folder
/// of a path and a trailing `.exe` dropped, only letters and digits kept. `C:\Tools\PsExec.exe`,
/// `psexec.exe` and `PsExec` all give `psexec`; `Cobalt Strike` gives `cobaltstrike`.
pub fn normalize_software_name(name: &str) -> String {
    let mut s = name.trim();
    if let Some(i) = s.rfind('\\') {
        s = &s[i + 1..];
    }
    if s.starts_with('/')
        && let Some(i) = s.rfind('/')
    {
        s = &s[i + 1..];
    }
    let lower = s.to_lowercase();
    let lower = lower.strip_suffix(".exe").unwrap_or(&lower);
    lower.chars().filter(|c| c.is_alphanumeric()).collect()
}

/// A log source name in the form it is compared in: trimmed, lowercase.
fn normalize_source(name: &str) -> String {
    name.trim().to_lowercase()
}

/// The tokens of a channel (or of a channel asked for): lowercase runs of letters, digits
/// and `. _ / -`, with trailing punctuation dropped. `EventCode=4768, 4769` gives
/// `eventcode`, `4768`, `4769`; `Microsoft.Compute/virtualMachines/write: …` keeps the
/// operation whole.
pub fn channel_tokens(channel: &str) -> Vec<String> {
    channel
        .split(|c: char| !(c.is_alphanumeric() || matches!(c, '.' | '_' | '/' | '-')))
        .map(|t| t.trim_matches(|c: char| matches!(c, '.' | '/' | '-' | '_')).to_lowercase())
        .filter(|t| !t.is_empty())
        .collect()
}

/// Lookup tables over [`Relations`], built once, on a catalog's first lookup.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RelationIndex {
    software_by_id: HashMap<String, usize>,
    software_by_name: HashMap<String, Vec<usize>>,
    software_by_technique: HashMap<TechniqueId, Vec<usize>>,
    strategy_by_id: HashMap<String, usize>,
    strategies_by_technique: HashMap<TechniqueId, Vec<usize>>,
    analytic_by_id: HashMap<String, usize>,
    /// Analytic index → index of its detection strategy.
    analytic_strategy: Vec<Option<usize>>,
    component_by_id: HashMap<String, usize>,
    component_by_name: HashMap<String, usize>,
    group_by_id: HashMap<String, usize>,
    campaign_by_id: HashMap<String, usize>,
    /// Every distinct log source name, normalised, with its spelling in the bundle (first
    /// seen) and its references: (analytic index, log source index within the analytic).
    sources: BTreeMap<String, (String, Vec<(usize, usize)>)>,
    analytics_by_component: HashMap<String, Vec<usize>>,
}

/// Adds `i` under `key`, allocating the key only the first time it is seen.
fn add<K, Q>(map: &mut HashMap<K, Vec<usize>>, key: &Q, i: usize)
where
    K: std::borrow::Borrow<Q> + std::hash::Hash + Eq,
    Q: std::hash::Hash + Eq + ToOwned<Owned = K> + ?Sized,
{
    match map.get_mut(key) {
        Some(v) => {
            if v.last() != Some(&i) && !v.contains(&i) {
                v.push(i);
            }
        }
        None => {
            map.insert(key.to_owned(), vec![i]);
        }
    }
}

impl RelationIndex {
    pub fn build(r: &Relations) -> RelationIndex {
        let mut ix = RelationIndex::default();
        for (i, s) in r.software.iter().enumerate() {
            ix.software_by_id.insert(s.id.clone(), i);
            for name in std::iter::once(&s.name).chain(&s.aliases) {
                let key = normalize_software_name(name);
                if !key.is_empty() {
                    add(&mut ix.software_by_name, key.as_str(), i);
                }
            }
            for t in &s.techniques {
                add(&mut ix.software_by_technique, t, i);
            }
        }
        for (i, d) in r.detection_strategies.iter().enumerate() {
            ix.strategy_by_id.insert(d.id.clone(), i);
            for t in &d.techniques {
                add(&mut ix.strategies_by_technique, t, i);
            }
        }
        for (i, c) in r.data_components.iter().enumerate() {
            ix.component_by_id.insert(c.id.clone(), i);
            ix.component_by_name.insert(c.name.trim().to_lowercase(), i);
        }
        let mut source = String::new();
        for (i, a) in r.analytics.iter().enumerate() {
            ix.analytic_by_id.insert(a.id.clone(), i);
            ix.analytic_strategy.push(ix.strategy_by_id.get(&a.strategy).copied());
            for (j, ls) in a.log_sources.iter().enumerate() {
                source.clear();
                source.push_str(&normalize_source(&ls.name));
                match ix.sources.get_mut(&source) {
                    Some((_, refs)) => refs.push((i, j)),
                    None => {
                        ix.sources.insert(source.clone(), (ls.name.trim().to_string(), vec![(i, j)]));
                    }
                }
                if !ls.data_component.is_empty() {
                    add(&mut ix.analytics_by_component, ls.data_component.as_str(), i);
                }
            }
        }
        for (i, g) in r.groups.iter().enumerate() {
            ix.group_by_id.insert(g.id.clone(), i);
        }
        for (i, c) in r.campaigns.iter().enumerate() {
            ix.campaign_by_id.insert(c.id.clone(), i);
        }
        ix
    }

    pub(super) fn software_by_id(&self, id: &str) -> Option<usize> {
        self.software_by_id.get(id).copied()
    }
    pub(super) fn software_by_name(&self, name: &str) -> &[usize] {
        self.software_by_name.get(&normalize_software_name(name)).map(Vec::as_slice).unwrap_or_default()
    }
    pub(super) fn software_by_technique(&self, t: &TechniqueId) -> &[usize] {
        self.software_by_technique.get(t).map(Vec::as_slice).unwrap_or_default()
    }
    pub(super) fn strategy_by_id(&self, id: &str) -> Option<usize> {
        self.strategy_by_id.get(id).copied()
    }
    pub(super) fn strategies_by_technique(&self, t: &TechniqueId) -> &[usize] {
        self.strategies_by_technique.get(t).map(Vec::as_slice).unwrap_or_default()
    }
    pub(super) fn analytic_by_id(&self, id: &str) -> Option<usize> {
        self.analytic_by_id.get(id).copied()
    }
    /// The techniques of analytic `i`: those of its detection strategy.
    pub(super) fn analytic_techniques<'a>(&self, r: &'a Relations, i: usize) -> &'a [TechniqueId] {
        self.analytic_strategy.get(i).copied().flatten().map(|s| r.detection_strategies[s].techniques.as_slice()).unwrap_or_default()
    }
    pub(super) fn component(&self, id_or_name: &str) -> Option<usize> {
        let k = id_or_name.trim();
        self.component_by_id.get(k).or_else(|| self.component_by_name.get(&k.to_lowercase())).copied()
    }
    pub(super) fn analytics_by_component(&self, id: &str) -> &[usize] {
        self.analytics_by_component.get(id).map(Vec::as_slice).unwrap_or_default()
    }
    pub(super) fn group_by_id(&self, id: &str) -> Option<usize> {
        self.group_by_id.get(id).copied()
    }
    pub(super) fn campaign_by_id(&self, id: &str) -> Option<usize> {
        self.campaign_by_id.get(id).copied()
    }

    /// Every distinct log source name analytics use, as the bundle spells it.
    pub(super) fn source_names(&self) -> impl Iterator<Item = &str> {
        self.sources.values().map(|(name, _)| name.as_str())
    }

    /// The normalised log source names a query stands for (see
    /// [`super::Catalog::resolve_log_sources`]).
    pub(super) fn resolve_sources(&self, query: &str) -> Vec<&str> {
        let q = normalize_source(query);
        if q.is_empty() {
            return Vec::new();
        }
        if let Some((k, _)) = self.sources.get_key_value(&q) {
            return vec![k.as_str()];
        }
        self.sources.keys().filter(|n| if q.contains(':') { n.starts_with(&q) } else { n.split(':').any(|part| part == q) }).map(String::as_str).collect()
    }

    /// (analytic index, log source index) of every reference to one of `sources` whose
    /// channel holds every token of `channel`. Channels are tokenised here, per lookup: a
    /// source has at most a few hundred references.
    pub(super) fn refs(&self, r: &Relations, sources: &[&str], channel: Option<&str>) -> Vec<(usize, usize)> {
        let wanted: Vec<String> = channel.map(channel_tokens).unwrap_or_default();
        let mut out = Vec::new();
        for s in sources {
            for &(a, l) in self.sources.get(*s).map(|(_, refs)| refs.as_slice()).unwrap_or_default() {
                let ok = wanted.is_empty() || {
                    let have = channel_tokens(&r.analytics[a].log_sources[l].channel);
                    wanted.iter().all(|w| have.contains(w))
                };
                if ok {
                    out.push((a, l));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_tell_their_kind() {
        assert_eq!(ObjectKind::of_id("T1059.001"), Some(ObjectKind::Technique));
        assert_eq!(ObjectKind::of_id("S0160"), Some(ObjectKind::Software));
        assert_eq!(ObjectKind::of_id("DET0001"), Some(ObjectKind::DetectionStrategy));
        assert_eq!(ObjectKind::of_id("AN0001"), Some(ObjectKind::Analytic));
        assert_eq!(ObjectKind::of_id("DC0032"), Some(ObjectKind::DataComponent));
        assert_eq!(ObjectKind::of_id("G0007"), Some(ObjectKind::Group));
        assert_eq!(ObjectKind::of_id("C0022"), Some(ObjectKind::Campaign));
        assert_eq!(ObjectKind::of_id("TA0002"), Some(ObjectKind::Tactic));
        for bad in ["S016", "DET01", "X0001", "s0160", "AN00011", ""] {
            assert_eq!(ObjectKind::of_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn software_names_normalise() {
        for (raw, want) in [
            ("PsExec", "psexec"),
            ("psexec.exe", "psexec"),
            ("C:\\Windows\\System32\\certutil.exe", "certutil"),
            ("/usr/bin/curl", "curl"),
            ("Cobalt Strike", "cobaltstrike"),
            ("Win32/KillDisk.NBI", "win32killdisknbi"),
            ("  AdFind ", "adfind"),
        ] {
            assert_eq!(normalize_software_name(raw), want, "{raw}");
        }
    }

    #[test]
    fn channels_tokenise() {
        assert_eq!(channel_tokens("EventCode=4768, 4769, 4770"), ["eventcode", "4768", "4769", "4770"]);
        assert_eq!(channel_tokens("Microsoft.Compute/virtualMachines/write: imageReference"), ["microsoft.compute/virtualmachines/write", "imagereference"]);
        assert_eq!(channel_tokens("user.session.start"), ["user.session.start"]);
    }
}
