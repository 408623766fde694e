//! Sigma rule import: each rule becomes a `sigma:<rule id>` document. Files that don't parse
//! are reported and skipped; ATT&CK tags the catalog doesn't know are kept and reported.

use std::path::{Path, PathBuf};

use serde_yaml::Value as Yaml;

use super::{DocKind, Document};
use crate::attack::{Catalog, TechniqueId};
use crate::severity::Severity;

#[derive(Debug, Default, serde::Serialize)]
pub struct SigmaReport {
    pub files: usize,
    pub imported: usize,
    pub skipped: Vec<SkippedFile>,
    /// Technique tags that are not active in the catalog, with the rules that carry them.
    pub unknown_techniques: Vec<(String, Vec<String>)>,
    pub duplicates: usize,
}

#[derive(Debug, serde::Serialize)]
pub struct SkippedFile {
    pub path: String,
    pub reason: String,
}

/// Finds `*.yml`/`*.yaml` under `dir` and parses every rule in them.
pub fn import_dir(dir: &Path, catalog: &Catalog) -> (Vec<Document>, SigmaReport) {
    let mut report = SigmaReport::default();
    let mut docs: Vec<Document> = Vec::new();
    let mut unknown: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    let files: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yml") | Some("yaml")))
        .collect();
    for path in files {
        report.files += 1;
        let shown = path.display().to_string();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                report.skipped.push(SkippedFile { path: shown, reason: e.to_string() });
                continue;
            }
        };
        match parse_rules(&text, catalog) {
            Ok(rules) => {
                for (doc, unknown_ids) in rules {
                    for id in unknown_ids {
                        unknown.entry(id).or_default().push(doc.id.clone());
                    }
                    if let Some(existing) = docs.iter_mut().find(|d| d.id == doc.id) {
                        report.duplicates += 1;
                        *existing = doc;
                    } else {
                        docs.push(doc);
                    }
                }
            }
            Err(reason) => report.skipped.push(SkippedFile { path: shown, reason }),
        }
    }
    report.imported = docs.len();
    report.unknown_techniques = unknown.into_iter().collect();
    (docs, report)
}

/// Parses one rule file and returns its first rule (see [`parse_rules`]).
pub fn parse_rule(text: &str, catalog: &Catalog) -> Result<(Document, Vec<String>), String> {
    parse_rules(text, catalog)?.into_iter().next().ok_or_else(|| "no rule in the file".to_string())
}

/// Parses every rule of one file, with the technique tags the catalog doesn't know.
///
/// A file may hold several YAML documents: Sigma collections put a correlation rule and
/// the rules it counts side by side, and the older multi-document form starts with an
/// `action: global` document whose keys every following document inherits (`action:
/// reset` drops them). Documents that end up with one id are variants of one rule (the
/// same detection on several log sources) and make one document with every variant's
/// detection. Filters (`filter:`, no detection of their own) are not rules.
pub fn parse_rules(text: &str, catalog: &Catalog) -> Result<Vec<(Document, Vec<String>)>, String> {
    let mut global: Option<Yaml> = None;
    let mut rules: Vec<Yaml> = Vec::new();
    let mut filters = 0usize;
    for doc in serde_yaml::Deserializer::from_str(text) {
        let mut v = <Yaml as serde::Deserialize>::deserialize(doc).map_err(|e| format!("YAML: {e}"))?;
        match v.get("action").and_then(Yaml::as_str) {
            Some("global") => {
                if let Yaml::Mapping(m) = &mut v {
                    m.remove("action");
                }
                global = Some(v);
                continue;
            }
            Some("reset") => {
                global = None;
                continue;
            }
            _ => {}
        }
        if let Some(g) = &global {
            v = inherit(g, v);
        }
        if v.get("detection").is_some() || v.get("correlation").is_some() {
            rules.push(v);
        } else if v.get("filter").is_some() {
            filters += 1;
        }
    }
    if rules.is_empty() {
        return Err(if filters > 0 { "a Sigma filter, not a rule".into() } else { "no rule with a `detection` or `correlation` section".into() });
    }
    let mut out: Vec<(Document, Vec<String>)> = Vec::new();
    for rule in &rules {
        let (doc, unknown) = rule_document(rule, catalog)?;
        match out.iter_mut().find(|(d, _)| d.id == doc.id) {
            // Another log source of the same rule: its detection is one more way it fires.
            Some((first, _)) => {
                if let Some(variant) = doc.text.split_once("\nLog source: ").map(|(_, rest)| rest) {
                    first.text.push_str(&format!("Log source: {variant}"));
                }
            }
            None => out.push((doc, unknown)),
        }
    }
    Ok(out)
}

/// `doc` with every key of `global` it doesn't set itself; mappings are merged key by key.
fn inherit(global: &Yaml, doc: Yaml) -> Yaml {
    match (global, doc) {
        (Yaml::Mapping(g), Yaml::Mapping(mut d)) => {
            for (k, gv) in g {
                let merged = match d.remove(k) {
                    Some(dv) => inherit(gv, dv),
                    None => gv.clone(),
                };
                d.insert(k.clone(), merged);
            }
            Yaml::Mapping(d)
        }
        (_, doc) => doc,
    }
}

/// One rule (or correlation rule) as a `sigma:<id>` document.
fn rule_document(rule: &Yaml, catalog: &Catalog) -> Result<(Document, Vec<String>), String> {
    let s = |k: &str| rule.get(k).and_then(Yaml::as_str).map(str::to_string);
    let id = s("id").ok_or("rule has no `id`")?;
    if id.is_empty() || id.contains(char::is_whitespace) {
        return Err(format!("rule id `{id}` is not usable as a ref"));
    }
    let title = s("title").ok_or("rule has no `title`")?;
    let tags: Vec<String> = seq_strings(rule.get("tags"));
    let mut techniques = Vec::new();
    let mut unknown = Vec::new();
    for tag in &tags {
        let Some(rest) = tag.strip_prefix("attack.") else { continue };
        let Ok(tid) = TechniqueId::parse_lenient(rest) else { continue };
        match catalog.resolve(&tid) {
            Some(t) => {
                if !techniques.contains(&t.id.to_string()) {
                    techniques.push(t.id.to_string());
                }
            }
            None => unknown.push(tid.to_string()),
        }
    }
    let level = s("level");
    let severity = level.as_deref().and_then(|l| l.trim().to_ascii_lowercase().parse::<Severity>().ok());

    let mut text_out = format!("{title}\n");
    if let Some(d) = s("description") {
        text_out.push_str(d.trim());
        text_out.push('\n');
    }
    let fps = seq_strings(rule.get("falsepositives"));
    if !fps.is_empty() {
        text_out.push_str(&format!("False positives: {}\n", fps.join("; ")));
    }
    if let Some(l) = &level {
        text_out.push_str(&format!("Level: {l}\n"));
    }
    if let Some(c) = rule.get("correlation") {
        push_section(&mut text_out, "Correlation", c);
    }
    // Log source and detection last: a variant of the rule on another log source adds
    // its own pair after them.
    let logsource = match rule.get("logsource") {
        Some(Yaml::Mapping(ls)) => ls.iter().filter_map(|(k, v)| Some(format!("{}: {}", k.as_str()?, scalar(v)?))).collect::<Vec<_>>().join(", "),
        _ => String::new(),
    };
    if !logsource.is_empty() || rule.get("detection").is_some() {
        text_out.push_str(&format!("Log source: {logsource}\n"));
    }
    if let Some(det) = rule.get("detection") {
        push_section(&mut text_out, "Detection", det);
    }
    let keywords = tags.join(" ");
    Ok((Document { kind: DocKind::Sigma, id, title, text: text_out, techniques, actions: Vec::new(), severity, disposition: None, keywords }, unknown))
}

fn scalar(v: &Yaml) -> Option<String> {
    match v {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Number(n) => Some(n.to_string()),
        Yaml::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn seq_strings(v: Option<&Yaml>) -> Vec<String> {
    match v {
        Some(Yaml::Sequence(items)) => items.iter().filter_map(scalar).collect(),
        Some(other) => scalar(other).into_iter().collect(),
        None => Vec::new(),
    }
}

/// A heading line, then the section flattened one `key: values` line each.
fn push_section(text: &mut String, heading: &str, section: &Yaml) {
    let mut lines = Vec::new();
    detection_lines(section, "", &mut lines);
    text.push_str(heading);
    text.push_str(":\n");
    for l in lines {
        text.push_str(&l);
        text.push('\n');
    }
}

/// Flattens a detection section into `field|modifier: value, value` lines.
fn detection_lines(v: &Yaml, prefix: &str, out: &mut Vec<String>) {
    match v {
        Yaml::Mapping(m) => {
            for (k, val) in m {
                let key = k.as_str().map(str::to_string).or_else(|| scalar(k)).unwrap_or_default();
                if key == "condition" {
                    // A correlation's condition is a comparison (`gte: 10`), a detection's a
                    // boolean expression or a list of them.
                    let condition = match val {
                        Yaml::Mapping(m) => m.iter().filter_map(|(op, n)| Some(format!("{} {}", op.as_str()?, scalar(n)?))).collect::<Vec<_>>().join(", "),
                        _ => seq_strings(Some(val)).join(" | "),
                    };
                    out.push(format!("condition: {condition}"));
                    continue;
                }
                match val {
                    Yaml::Mapping(_) => detection_lines(val, &key, out),
                    Yaml::Sequence(items) if items.iter().all(|i| matches!(i, Yaml::Mapping(_))) => {
                        for i in items {
                            detection_lines(i, &key, out);
                        }
                    }
                    _ => out.push(format!("{key}: {}", seq_strings(Some(val)).join(", "))),
                }
            }
        }
        Yaml::Sequence(items) => {
            let values: Vec<String> = items.iter().filter_map(scalar).collect();
            if !values.is_empty() {
                out.push(format!("{prefix}: {}", values.join(", ")));
            }
            for i in items.iter().filter(|i| matches!(i, Yaml::Mapping(_))) {
                detection_lines(i, prefix, out);
            }
        }
        other => {
            if let Some(s) = scalar(other) {
                out.push(format!("{prefix}: {s}"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_rule_and_reports_unknown_techniques() {
        let catalog = Catalog::embedded().unwrap();
        let text = "title: AWS Key Created\nid: 1234-abcd\nstatus: test\ndescription: A new key.\ntags:\n  - attack.persistence\n  - attack.t1098.001\n  - attack.t1999\nlogsource:\n  product: aws\n  service: cloudtrail\ndetection:\n  selection:\n    eventSource: iam.amazonaws.com\n    eventName:\n      - CreateAccessKey\n  condition: selection\nfalsepositives:\n  - Admins rotating keys\nlevel: medium\n";
        let (doc, unknown) = parse_rule(text, &catalog).unwrap();
        assert_eq!(doc.doc_ref(), "sigma:1234-abcd");
        assert_eq!(doc.techniques, vec!["T1098.001"]);
        assert_eq!(unknown, vec!["T1999"]);
        assert!(doc.text.contains("eventName: CreateAccessKey"));
        assert!(doc.text.contains("Log source: product: aws, service: cloudtrail"));
        assert_eq!(doc.severity, Some(Severity::Medium));
        assert!(parse_rule("title: x\n", &catalog).is_err());
    }

    #[test]
    fn a_global_document_is_inherited_and_variants_make_one_rule() {
        let catalog = Catalog::embedded().unwrap();
        let text = "title: Encoded PowerShell\nid: g-1\naction: global\ntags: [attack.t1059.001]\nlevel: HIGH\nlogsource:\n  product: windows\n---\nlogsource:\n  category: process_creation\ndetection:\n  sel:\n    CommandLine|contains: ' -enc '\n  condition: sel\n---\nlogsource:\n  category: ps_script\ndetection:\n  sel:\n    ScriptBlockText|contains: FromBase64String\n  condition: sel\n";
        let rules = parse_rules(text, &catalog).unwrap();
        assert_eq!(rules.len(), 1, "two log sources of one rule id are one document");
        let doc = &rules[0].0;
        assert_eq!((doc.title.as_str(), doc.severity), ("Encoded PowerShell", Some(Severity::High)));
        assert_eq!(doc.techniques, vec!["T1059.001"]);
        assert!(doc.text.contains("Log source: category: process_creation, product: windows"), "{}", doc.text);
        assert!(doc.text.contains("Log source: category: ps_script, product: windows"), "{}", doc.text);
        assert!(doc.text.contains("ScriptBlockText|contains: FromBase64String"), "{}", doc.text);
    }

    #[test]
    fn a_collection_yields_every_rule_and_a_correlation_is_a_rule() {
        let catalog = Catalog::embedded().unwrap();
        let text = "title: Failed logon\nid: base-1\nname: failed_logon\nlogsource: {product: windows, service: security}\ndetection:\n  sel: {EventID: 4625}\n  condition: sel\n---\ntitle: Many failed logons for one user\nid: corr-1\ntags: [attack.t1110]\ncorrelation:\n  type: event_count\n  rules: [failed_logon]\n  group-by: [TargetUserName]\n  timespan: 5m\n  condition:\n    gte: 10\nlevel: high\n";
        let rules = parse_rules(text, &catalog).unwrap();
        let ids: Vec<&str> = rules.iter().map(|(d, _)| d.id.as_str()).collect();
        assert_eq!(ids, ["base-1", "corr-1"]);
        let corr = &rules[1].0;
        assert_eq!(corr.techniques, vec!["T1110"]);
        assert!(corr.text.contains("type: event_count") && corr.text.contains("condition: gte 10"), "{}", corr.text);
        assert!(!corr.text.contains("Log source"), "{}", corr.text);
        let filter = "title: Exclude admins\nid: f-1\nfilter:\n  rules: [base-1]\n  selection: {User: admin}\n  condition: not selection\nlogsource: {product: windows}\n";
        assert_eq!(parse_rules(filter, &catalog).unwrap_err(), "a Sigma filter, not a rule");
    }
}
