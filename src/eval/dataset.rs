//! Eval datasets: JSON lines in the contract's format (section 9). A line that does not
//! parse, whose gold labels are not valid, or whose alerts the service would reject is
//! reported with its line number and skipped; loading never fails on content.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::attack::TechniqueId;
use crate::corpus::Disposition;
use crate::severity::Severity;

use super::EvalError;

/// What a sample should get, as a seasoned analyst would label it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gold {
    /// `null` or absent when the source gives no severity (many real detectors send none):
    /// the severity metrics then skip the sample and count it, every other scorer still runs.
    #[serde(default)]
    pub severity: Option<Severity>,
    pub techniques: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disposition: Option<Disposition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub must_cite: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forbidden_actions: Option<Vec<String>>,
}

/// One line of a dataset as written; unknown top-level keys are ignored.
#[derive(Debug, Clone, Deserialize)]
struct Line {
    id: String,
    alerts: Vec<Value>,
    gold: Gold,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    license: Option<String>,
}

/// A sample ready to run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub id: String,
    pub alerts: Vec<Value>,
    pub gold: Gold,
    pub tags: Vec<String>,
    pub source: Option<String>,
    pub license: Option<String>,
    /// The dataset file and the 1-based line the sample came from.
    pub dataset: String,
    pub line: usize,
}

/// A line that was skipped, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BadLine {
    pub dataset: String,
    pub line: usize,
    pub error: String,
}

/// What loading a dataset file found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DatasetInfo {
    pub path: String,
    pub sha256: String,
    pub lines: usize,
    pub samples: usize,
    pub skipped: Vec<BadLine>,
}

/// Samples from any number of files, ids unique across all of them.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    pub samples: Vec<Sample>,
    pub datasets: Vec<DatasetInfo>,
}

impl Loaded {
    pub fn skipped(&self) -> impl Iterator<Item = &BadLine> {
        self.datasets.iter().flat_map(|d| d.skipped.iter())
    }
}

/// Loads every file in order. `limit` keeps the first N valid samples of each file.
pub fn load_all(paths: &[PathBuf], limit: Option<usize>) -> Result<Loaded, EvalError> {
    let mut loaded = Loaded::default();
    let mut seen: HashMap<String, (String, usize)> = HashMap::new();
    for path in paths {
        let text = std::fs::read_to_string(path).map_err(|source| EvalError::Io { path: path.display().to_string(), source })?;
        let (samples, mut info) = parse_text(path, &text);
        let mut kept = 0;
        for s in samples {
            if limit.is_some_and(|n| kept >= n) {
                break;
            }
            if let Some((file, line)) = seen.get(&s.id) {
                info.skipped.push(BadLine { dataset: s.dataset.clone(), line: s.line, error: format!("duplicate id `{}` (first at {file}:{line})", s.id) });
                continue;
            }
            seen.insert(s.id.clone(), (s.dataset.clone(), s.line));
            loaded.samples.push(s);
            kept += 1;
        }
        info.samples = kept;
        info.skipped.sort_by_key(|b| b.line);
        loaded.datasets.push(info);
    }
    Ok(loaded)
}

/// Parses one file's text; never fails, bad lines are listed in the returned info.
pub fn parse_text(path: &Path, text: &str) -> (Vec<Sample>, DatasetInfo) {
    let dataset = path.display().to_string();
    let mut samples = Vec::new();
    let mut skipped = Vec::new();
    let mut lines = 0;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        lines += 1;
        match parse_line(raw) {
            Ok(l) => samples.push(Sample {
                id: l.id,
                alerts: l.alerts,
                gold: l.gold,
                tags: l.tags,
                source: l.source,
                license: l.license,
                dataset: dataset.clone(),
                line: line_no,
            }),
            Err(error) => skipped.push(BadLine { dataset: dataset.clone(), line: line_no, error }),
        }
    }
    let sha256 = hex::encode(Sha256::digest(text.as_bytes()));
    let info = DatasetInfo { path: dataset, sha256, lines, samples: samples.len(), skipped };
    (samples, info)
}

/// Gold technique IDs the catalog has no active technique for (unknown to it, or deprecated
/// with nothing in their place): no engine can name them, so each is a miss whatever the
/// engine answers. Reported rather than refused, since the catalog may be older than the
/// gold; a typo (`T1059.01`, `T1509`) shows up here.
pub fn unmatchable_gold<'s>(samples: &'s [Sample], catalog: &crate::attack::Catalog) -> Vec<(&'s Sample, &'s str)> {
    let known = |t: &str| TechniqueId::parse_lenient(t).ok().is_some_and(|id| catalog.resolve(&id).is_some());
    samples.iter().flat_map(|s| s.gold.techniques.iter().filter(|t| !known(t)).map(move |t| (s, t.as_str()))).collect()
}

fn parse_line(raw: &str) -> Result<Line, String> {
    let line: Line = serde_json::from_str(raw).map_err(|e| format!("not a dataset line: {e}"))?;
    if line.id.trim().is_empty() {
        return Err("`id` is empty".into());
    }
    if line.alerts.is_empty() || line.alerts.len() > crate::alert::MAX_ALERTS {
        return Err(format!("`alerts` must hold 1 to {} alerts, it holds {}", crate::alert::MAX_ALERTS, line.alerts.len()));
    }
    for t in &line.gold.techniques {
        TechniqueId::parse_lenient(t).map_err(|e| format!("gold.techniques: {e}"))?;
    }
    // The same checks a request gets, so a sample the service would refuse is reported here.
    let mut redactor = crate::alert::Redactor::new();
    let redacted: Vec<Value> = line.alerts.iter().map(|a| redactor.redact_value(a)).collect();
    crate::alert::parse_all(&redacted).map_err(|e| format!("alerts: {e}"))?;
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"id":"s1","alerts":[{"id":"a1","source":"sysmon","time":"2026-03-02T10:15:00Z","rule":{"name":"x"}}],"gold":{"severity":"high","techniques":["T1059.001"]},"tags":["t"]}"#;

    #[test]
    fn bad_lines_are_reported_with_their_number() {
        let text = format!("{GOOD}\n{{not json\n\n{}\n", GOOD.replace("\"high\"", "\"severe\""));
        let (samples, info) = parse_text(Path::new("x.jsonl"), &text);
        assert_eq!(samples.len(), 1);
        assert_eq!(info.lines, 3);
        let lines: Vec<usize> = info.skipped.iter().map(|b| b.line).collect();
        assert_eq!(lines, vec![2, 4]);
        assert!(info.skipped[1].error.contains("severe"), "{}", info.skipped[1].error);
    }

    #[test]
    fn a_gold_severity_may_be_null_or_absent() {
        let null = GOOD.replace("\"high\"", "null");
        let absent = GOOD.replace("\"severity\":\"high\",", "");
        let (samples, info) = parse_text(Path::new("x.jsonl"), &format!("{null}\n{}\n", absent.replace("\"s1\"", "\"s2\"")));
        assert!(info.skipped.is_empty(), "{:?}", info.skipped);
        assert_eq!(samples.iter().map(|s| s.gold.severity).collect::<Vec<_>>(), vec![None, None]);
        assert_eq!(parse_text(Path::new("x.jsonl"), GOOD).0[0].gold.severity, Some(Severity::High));
    }

    #[test]
    fn unknown_gold_keys_are_refused() {
        let text = GOOD.replace("\"techniques\"", "\"must_cit\":[],\"techniques\"");
        let (samples, info) = parse_text(Path::new("x.jsonl"), &text);
        assert!(samples.is_empty());
        assert!(info.skipped[0].error.contains("must_cit"));
    }

    #[test]
    fn gold_techniques_the_catalog_cannot_match_are_named() {
        let catalog = crate::attack::Catalog::embedded().unwrap();
        let text = [
            GOOD.to_string(),
            GOOD.replace("\"s1\"", "\"s2\"").replace("\"T1059.001\"", "\"T1059.001\",\"T1509\""),
            GOOD.replace("\"s1\"", "\"s3\"").replace("\"T1059.001\"", "\"T1059.999\""),
        ]
        .join("\n");
        let (samples, info) = parse_text(Path::new("x.jsonl"), &text);
        assert!(info.skipped.is_empty(), "{:?}", info.skipped);
        let found: Vec<(&str, &str)> = unmatchable_gold(&samples, &catalog).into_iter().map(|(s, t)| (s.id.as_str(), t)).collect();
        assert_eq!(found, [("s2", "T1509"), ("s3", "T1059.999")]);
    }
}
