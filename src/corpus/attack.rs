//! ATT&CK objects as retrievable documents, all of kind `attack` with ATT&CK's own IDs:
//!
//! - `attack:T1059.001`: a technique (name, tactics, platforms, the bundle's description);
//! - `attack:S0160`: software (name, aliases, type, platforms, the techniques it uses and
//!   its description);
//! - `attack:DET0001`: a detection strategy (name, the techniques it detects, its analytics
//!   with their platforms and log sources);
//! - `attack:AN0001`: an analytic (its strategy, techniques, platforms, log sources and
//!   channels, description and tunable fields).
//!
//! A document's `techniques` are the techniques it is about: the technique itself, the
//! techniques software uses, the techniques a strategy or analytic detects. The prose comes
//! from the bundle the operator imported and stays in their data dir.

use regex::Regex;

use super::{DocKind, Document};
use crate::attack::stix::{Imported, Prose};
use crate::attack::{Analytic, Catalog, DetectionStrategy, ObjectKind, Software, SoftwareType, TechniqueId};

/// Every document of an ATT&CK import: techniques, software, detection strategies and
/// analytics.
pub fn documents(imported: &Imported) -> Vec<Document> {
    let c = &imported.catalog;
    let r = c.relations();
    let none = Prose::default();
    let prose = |id: &str| imported.prose.get(id).unwrap_or(&none);
    let mut out: Vec<Document> = imported.documents.iter().map(super::attack_document).collect();
    out.extend(r.software.iter().map(|s| software_document(s, &prose(&s.id).description, c)));
    out.extend(r.detection_strategies.iter().map(|d| strategy_document(d, c)));
    out.extend(r.analytics.iter().map(|a| analytic_document(a, prose(&a.id), c)));
    out
}

/// `T1003.001 OS Credential Dumping: LSASS Memory`, or the bare ID when the catalog lacks it.
fn technique_label(id: &TechniqueId, c: &Catalog) -> String {
    let Some(t) = c.get(id) else { return id.to_string() };
    match t.parent.as_ref().and_then(|p| c.get(p)) {
        Some(p) => format!("{} {}: {}", id, p.name, t.name),
        None => format!("{} {}", id, t.name),
    }
}

fn technique_lines(ids: &[TechniqueId], c: &Catalog) -> String {
    ids.iter().map(|t| technique_label(t, c)).collect::<Vec<_>>().join("; ")
}

/// A software entry as an `attack:S…` document.
pub fn software_document(s: &Software, description: &str, c: &Catalog) -> Document {
    let mut text = format!("{} {}\nType: {}\n", s.id, s.name, s.software_type.as_str());
    let aliases: Vec<&str> = s.aliases.iter().map(String::as_str).filter(|a| *a != s.name).collect();
    if !aliases.is_empty() {
        text.push_str(&format!("Aliases: {}\n", aliases.join(", ")));
    }
    if !s.platforms.is_empty() {
        text.push_str(&format!("Platforms: {}\n", s.platforms.join(", ")));
    }
    if !s.techniques.is_empty() {
        text.push_str(&format!("Techniques used: {}\n", technique_lines(&s.techniques, c)));
    }
    text.push_str(&clean_prose(description));
    let mut keywords: Vec<String> = std::iter::once(&s.name).chain(&s.aliases).filter_map(|n| software_keyword(n, s.software_type)).collect();
    keywords.sort();
    keywords.dedup();
    Document {
        kind: DocKind::Attack,
        id: s.id.clone(),
        title: format!("{} {} ({})", s.id, s.name, s.software_type.as_str()),
        text: text.trim_end().to_string(),
        techniques: s.techniques.iter().map(ToString::to_string).collect(),
        actions: Vec::new(),
        severity: None,
        disposition: None,
        keywords: keywords.join(" "),
    }
}

/// How retrieval looks for one name of a software entry: its normalised form
/// ([`crate::attack::normalize_software_name`]), a single word. A piece of malware named
/// by a plain word (`Page`, `Play`, `Wiper`, `CALENDAR`) gets the prefix `plain:`: those
/// are matched only where the alert writes them as a name, not in running text (see
/// `retrieval`). Tools keep every name as is: binaries are written in lowercase.
pub fn software_keyword(name: &str, software_type: SoftwareType) -> Option<String> {
    let normalized = crate::attack::normalize_software_name(name);
    if normalized.is_empty() {
        return None;
    }
    let word = name.trim();
    let plain =
        word.chars().all(|c| c.is_ascii_alphabetic()) && (word.chars().skip(1).all(|c| c.is_ascii_lowercase()) || word.chars().all(|c| c.is_ascii_uppercase()));
    Some(if plain && software_type == SoftwareType::Malware { format!("plain:{normalized}") } else { normalized })
}

/// `WinEventLog:Sysmon EventCode=10 (Process Access)`.
fn log_source_label(name: &str, channel: &str, component: &str, c: &Catalog) -> String {
    let mut s = name.to_string();
    if !channel.is_empty() {
        s.push(' ');
        s.push_str(channel);
    }
    if let Some(dc) = (!component.is_empty()).then(|| c.data_component(component)).flatten() {
        s.push_str(&format!(" ({})", dc.name));
    }
    s
}

/// A detection strategy as an `attack:DET…` document: facts only (the bundle gives
/// strategies no description).
pub fn strategy_document(d: &DetectionStrategy, c: &Catalog) -> Document {
    let mut text = format!("{} {}\n", d.id, d.name);
    if !d.techniques.is_empty() {
        text.push_str(&format!("Detects: {}\n", technique_lines(&d.techniques, c)));
    }
    let mut keywords: Vec<String> = Vec::new();
    for a in d.analytics.iter().filter_map(|a| c.analytic(a)) {
        let sources: Vec<String> = a.log_sources.iter().map(|l| log_source_label(&l.name, &l.channel, &l.data_component, c)).collect();
        text.push_str(&format!("Analytic {} ({}): {}\n", a.id, a.platforms.join(", "), sources.join("; ")));
        keywords.extend(a.log_sources.iter().map(|l| l.name.clone()));
        keywords.extend(a.platforms.iter().cloned());
    }
    keywords.sort();
    keywords.dedup();
    Document {
        kind: DocKind::Attack,
        id: d.id.clone(),
        title: format!("{} {}", d.id, d.name),
        text: text.trim_end().to_string(),
        techniques: d.techniques.iter().map(ToString::to_string).collect(),
        actions: Vec::new(),
        severity: None,
        disposition: None,
        keywords: keywords.join(" "),
    }
}

/// An analytic as an `attack:AN…` document.
pub fn analytic_document(a: &Analytic, prose: &Prose, c: &Catalog) -> Document {
    let strategy = c.detection_strategy(&a.strategy);
    let strategy_name = strategy.map(|d| d.name.as_str()).unwrap_or_default();
    let techniques = c.analytic_techniques(a);
    let platforms = a.platforms.join(", ");
    let mut text = format!("{} {} ({platforms})\n", a.id, a.name);
    if let Some(d) = strategy {
        text.push_str(&format!("Detection strategy: {} {}\n", d.id, d.name));
    }
    if !techniques.is_empty() {
        text.push_str(&format!("Detects: {}\n", technique_lines(techniques, c)));
    }
    if !a.log_sources.is_empty() {
        let sources: Vec<String> = a.log_sources.iter().map(|l| log_source_label(&l.name, &l.channel, &l.data_component, c)).collect();
        text.push_str(&format!("Log sources: {}\n", sources.join("; ")));
    }
    text.push_str(&clean_prose(&prose.description));
    if !prose.mutable_elements.is_empty() {
        text.push_str("\nTunable:");
        for (field, what) in &prose.mutable_elements {
            text.push_str(&format!("\n- {field}: {what}"));
        }
    }
    let mut keywords: Vec<String> = a.log_sources.iter().map(|l| l.name.clone()).collect();
    keywords.extend(a.log_sources.iter().filter_map(|l| c.data_component(&l.data_component)).map(|d| d.name.clone()));
    keywords.extend(a.platforms.iter().cloned());
    keywords.sort();
    keywords.dedup();
    let title = if strategy_name.is_empty() { format!("{} {} ({platforms})", a.id, a.name) } else { format!("{} {strategy_name} ({platforms})", a.id) };
    Document {
        kind: DocKind::Attack,
        id: a.id.clone(),
        title,
        text: text.trim_end().to_string(),
        techniques: techniques.iter().map(ToString::to_string).collect(),
        actions: Vec::new(),
        severity: None,
        disposition: None,
        keywords: keywords.join(" "),
    }
}

/// The bundle's Markdown without what only adds noise to a search: links become their
/// text, `(Citation: …)` markers go.
pub fn clean_prose(s: &str) -> String {
    static LINK: std::sync::OnceLock<Option<Regex>> = std::sync::OnceLock::new();
    static CITATION: std::sync::OnceLock<Option<Regex>> = std::sync::OnceLock::new();
    let link = LINK.get_or_init(|| Regex::new(r"\[([^\]]*)\]\((?:[^()]|\([^()]*\))*\)").ok());
    let citation = CITATION.get_or_init(|| Regex::new(r"\s*\(Citation:[^)]*\)").ok());
    let mut out = s.to_string();
    if let Some(re) = link {
        out = re.replace_all(&out, "$1").into_owned();
    }
    if let Some(re) = citation {
        out = re.replace_all(&out, "").into_owned();
    }
    out
}

impl Document {
    /// What an `attack` document is about (technique, software, detection strategy,
    /// analytic), told by its ID; `None` for other kinds.
    pub fn attack_object(&self) -> Option<ObjectKind> {
        (self.kind == DocKind::Attack).then(|| ObjectKind::of_id(&self.id)).flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prose_loses_links_and_citations() {
        let s = "[Net](https://attack.mitre.org/software/S0039) is used (Citation: Savill 1999) by [APT1](https://x/(y)).";
        assert_eq!(clean_prose(s), "Net is used by APT1.");
    }

    #[test]
    fn plain_word_malware_names_are_marked() {
        assert_eq!(software_keyword("PsExec", SoftwareType::Tool).as_deref(), Some("psexec"));
        assert_eq!(software_keyword("certutil.exe", SoftwareType::Tool).as_deref(), Some("certutil"));
        assert_eq!(software_keyword("Net", SoftwareType::Tool).as_deref(), Some("net"));
        assert_eq!(software_keyword("Cobalt Strike", SoftwareType::Malware).as_deref(), Some("cobaltstrike"));
        assert_eq!(software_keyword("Page", SoftwareType::Malware).as_deref(), Some("plain:page"));
        assert_eq!(software_keyword("CALENDAR", SoftwareType::Malware).as_deref(), Some("plain:calendar"));
        assert_eq!(software_keyword("BlackCat", SoftwareType::Malware).as_deref(), Some("blackcat"));
        assert_eq!(software_keyword("gh0st RAT", SoftwareType::Malware).as_deref(), Some("gh0strat"));
    }

    #[test]
    fn embedded_facts_make_documents_tied_to_techniques() {
        let c = Catalog::embedded().unwrap();
        let certutil = c.software("S0160").unwrap();
        let d = software_document(certutil, "", &c);
        assert_eq!(d.doc_ref(), "attack:S0160");
        assert_eq!(d.attack_object(), Some(ObjectKind::Software));
        assert!(d.techniques.iter().any(|t| t == "T1105"), "{:?}", d.techniques);
        assert!(d.text.contains("T1105 Ingress Tool Transfer"), "{}", d.text);
        let an = c.analytics_for(&TechniqueId::parse("T1558.003").unwrap())[0];
        let d = analytic_document(an, &Prose::default(), &c);
        assert!(d.doc_ref().starts_with("attack:AN"));
        assert_eq!(d.techniques, vec!["T1558.003"]);
        assert!(d.text.contains("WinEventLog:Security"), "{}", d.text);
        let det = c.detection_strategy(&an.strategy).unwrap();
        let d = strategy_document(det, &c);
        assert!(d.doc_ref().starts_with("attack:DET"));
        assert!(d.text.contains(&an.id));
    }
}
