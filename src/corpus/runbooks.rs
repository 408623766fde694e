//! Runbooks: Markdown with YAML front matter (`docs/formats.md`).

use serde::Deserialize;

use super::{CorpusError, DocKind, Document, RunbookAction};
use crate::severity::Severity;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FrontMatter {
    id: String,
    title: String,
    #[serde(default)]
    families: Vec<String>,
    #[serde(default)]
    techniques: Vec<String>,
    #[serde(default)]
    severity: Option<Severity>,
    #[serde(default)]
    required_evidence: Vec<String>,
    #[serde(default)]
    actions: Vec<FrontMatterAction>,
    #[serde(default)]
    false_positives: Vec<String>,
    #[serde(default)]
    escalation: Vec<String>,
}

#[derive(Deserialize)]
struct FrontMatterAction {
    action: String,
    #[serde(default)]
    #[allow(dead_code)]
    tier: Option<String>,
    #[serde(default)]
    when: String,
}

/// Splits `---\n<yaml>\n---\n<body>`.
fn split_front_matter(text: &str) -> Option<(&str, &str)> {
    let rest = text.strip_prefix("---")?.trim_start_matches(['\r', ' ']).strip_prefix('\n')?;
    let end = rest.find("\n---")?;
    let yaml = &rest[..end];
    let body = rest[end + 4..].trim_start_matches(['-', '\r']).trim_start_matches('\n');
    Some((yaml, body))
}

pub fn parse(path: &str, text: &str) -> Result<Document, CorpusError> {
    let invalid = |message: String| CorpusError::Invalid { path: path.to_string(), message };
    let (yaml, body) = split_front_matter(text).ok_or_else(|| invalid("no `---` front matter".into()))?;
    let fm: FrontMatter = serde_yaml::from_str(yaml).map_err(|e| invalid(e.to_string()))?;
    let stem = path.rsplit('/').next().unwrap_or(path).trim_end_matches(".md");
    if fm.id != stem {
        return Err(invalid(format!("id `{}` differs from the file name `{stem}`", fm.id)));
    }
    let list = |title: &str, items: &[String]| -> String {
        if items.is_empty() {
            return String::new();
        }
        let mut s = format!("{title}:\n");
        for i in items {
            s.push_str("- ");
            s.push_str(i);
            s.push('\n');
        }
        s.push('\n');
        s
    };
    // The quotable text: the title, the lists of the front matter, then the body.
    let mut full = format!("{}\n\n", fm.title);
    full.push_str(&list("Required evidence", &fm.required_evidence));
    full.push_str(&list("False positives", &fm.false_positives));
    full.push_str(&list("Escalate when", &fm.escalation));
    full.push_str(body.trim());
    Ok(Document {
        kind: DocKind::Runbook,
        id: fm.id,
        title: fm.title,
        text: full,
        techniques: fm.techniques,
        actions: fm.actions.into_iter().map(|a| RunbookAction { action: a.action, when: a.when }).collect(),
        severity: fm.severity,
        disposition: None,
        keywords: fm.families.join(" "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_front_matter_and_body() {
        let text = "---\nid: rb-x\ntitle: X things\nfamilies: [execution]\ntechniques: [T1059.001]\nseverity: high\nactions:\n  - { action: isolate_host, tier: human_approval, when: \"bad\" }\nfalse_positives: [SCCM]\n---\n\nBody text here.\n";
        let d = parse("runbooks/rb-x.md", text).unwrap();
        assert_eq!(d.doc_ref(), "runbook:rb-x");
        assert_eq!(d.severity, Some(Severity::High));
        assert_eq!(d.actions[0].action, "isolate_host");
        assert!(d.text.contains("- SCCM") && d.text.ends_with("Body text here."));
        assert!(parse("runbooks/rb-y.md", text).is_err());
    }
}
