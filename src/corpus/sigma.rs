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
        match parse_rule(&text, catalog) {
            Ok((doc, unknown_ids)) => {
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
            Err(reason) => report.skipped.push(SkippedFile { path: shown, reason }),
        }
    }
    report.imported = docs.len();
    report.unknown_techniques = unknown.into_iter().collect();
    (docs, report)
}

/// Parses one rule file (the first YAML document that has `detection`).
pub fn parse_rule(text: &str, catalog: &Catalog) -> Result<(Document, Vec<String>), String> {
    let mut rule: Option<Yaml> = None;
    for doc in serde_yaml::Deserializer::from_str(text) {
        let v = <Yaml as serde::Deserialize>::deserialize(doc).map_err(|e| format!("YAML: {e}"))?;
        if v.get("detection").is_some() {
            rule = Some(v);
            break;
        }
    }
    let rule = rule.ok_or("no rule with a `detection` section")?;
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
    let severity = level.as_deref().and_then(|l| l.parse::<Severity>().ok());

    let mut text_out = format!("{title}\n");
    if let Some(d) = s("description") {
        text_out.push_str(d.trim());
        text_out.push('\n');
    }
    let mut keywords = String::new();
    if let Some(Yaml::Mapping(ls)) = rule.get("logsource") {
        let parts: Vec<String> = ls.iter().filter_map(|(k, v)| Some(format!("{}: {}", k.as_str()?, scalar(v)?))).collect();
        text_out.push_str(&format!("Log source: {}\n", parts.join(", ")));
    }
    if let Some(det) = rule.get("detection") {
        let mut lines = Vec::new();
        detection_lines(det, "", &mut lines);
        text_out.push_str("Detection:\n");
        for l in lines {
            text_out.push_str(&l);
            text_out.push('\n');
        }
    }
    let fps = seq_strings(rule.get("falsepositives"));
    if !fps.is_empty() {
        text_out.push_str(&format!("False positives: {}\n", fps.join("; ")));
    }
    if let Some(l) = &level {
        text_out.push_str(&format!("Level: {l}\n"));
    }
    keywords.push_str(&tags.join(" "));
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

/// Flattens a detection section into `field|modifier: value, value` lines.
fn detection_lines(v: &Yaml, prefix: &str, out: &mut Vec<String>) {
    match v {
        Yaml::Mapping(m) => {
            for (k, val) in m {
                let key = k.as_str().map(str::to_string).or_else(|| scalar(k)).unwrap_or_default();
                if key == "condition" {
                    out.push(format!("condition: {}", seq_strings(Some(val)).join(" | ")));
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
}
