//! The knowledge retrieval draws on: runbooks and prior cases from the corpus folder,
//! Sigma rules and ATT&CK techniques imported into the data dir, and cases analysts close.

pub mod attack;
pub mod cases;
pub mod runbooks;
pub mod sigma;

use std::fmt;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use include_dir::{Dir, include_dir};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::severity::Severity;

/// The corpus built into the binary, used unless `--corpus-dir` points elsewhere.
static EMBEDDED: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/corpus");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DocKind {
    Runbook,
    Case,
    Sigma,
    Attack,
    /// Enrichment (contract section 12): made per request from the operator's inventory,
    /// intel and change records; never in the index.
    Inventory,
    Intel,
    Change,
}

impl DocKind {
    pub const ALL: [DocKind; 4] = [DocKind::Runbook, DocKind::Case, DocKind::Sigma, DocKind::Attack];

    pub fn as_str(self) -> &'static str {
        match self {
            DocKind::Runbook => "runbook",
            DocKind::Case => "case",
            DocKind::Sigma => "sigma",
            DocKind::Attack => "attack",
            DocKind::Inventory => "inventory",
            DocKind::Intel => "intel",
            DocKind::Change => "change",
        }
    }
}

impl FromStr for DocKind {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        DocKind::ALL.into_iter().find(|k| k.as_str() == s).ok_or(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    TruePositive,
    Benign,
    FalsePositive,
}

impl Disposition {
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::TruePositive => "true_positive",
            Disposition::Benign => "benign",
            Disposition::FalsePositive => "false_positive",
        }
    }
}

impl FromStr for Disposition {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "true_positive" => Ok(Disposition::TruePositive),
            "benign" => Ok(Disposition::Benign),
            "false_positive" => Ok(Disposition::FalsePositive),
            other => Err(format!("`{other}` is not a disposition (true_positive, benign, false_positive)")),
        }
    }
}

/// An action a runbook proposes, with when to take it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunbookAction {
    pub action: String,
    #[serde(default)]
    pub when: String,
}

/// One retrievable document. `text` is everything a citation of it may quote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document {
    pub kind: DocKind,
    pub id: String,
    pub title: String,
    pub text: String,
    #[serde(default)]
    pub techniques: Vec<String>,
    #[serde(default)]
    pub actions: Vec<RunbookAction>,
    #[serde(default)]
    pub severity: Option<Severity>,
    #[serde(default)]
    pub disposition: Option<Disposition>,
    /// Extra searchable terms that are not quotable text (families, log sources, field names).
    #[serde(default)]
    pub keywords: String,
}

impl Document {
    /// `runbook:rb-…`, `case:…`, `sigma:…`, `attack:T…` (also `attack:S…`, `attack:DET…`,
    /// `attack:AN…`: see [`attack`]).
    pub fn doc_ref(&self) -> String {
        format!("{}:{}", self.kind.as_str(), self.id)
    }
}

impl fmt::Display for Document {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.doc_ref(), self.title)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    #[error("reading {path}: {source}")]
    Io { path: String, source: std::io::Error },
}

/// The corpus as loaded: its documents and a content hash that changes with any file.
#[derive(Debug, Clone)]
pub struct Corpus {
    pub documents: Vec<Document>,
    pub hash: String,
    pub origin: String,
}

/// A corpus file: path relative to the corpus root and its text.
struct SourceFile {
    path: String,
    text: String,
}

impl Corpus {
    /// Loads from `dir`, or from the corpus built into the binary when `dir` is `None`.
    pub fn load(dir: Option<&Path>) -> Result<Corpus, CorpusError> {
        let (files, origin) = match dir {
            Some(d) => (read_dir_files(d)?, d.display().to_string()),
            None => (embedded_files(), "embedded".to_string()),
        };
        let mut hasher = Sha256::new();
        let mut documents = Vec::new();
        for f in &files {
            hasher.update(f.path.as_bytes());
            hasher.update([0]);
            hasher.update(f.text.as_bytes());
            hasher.update([0]);
            if is_runbook(&f.path) {
                documents.push(runbooks::parse(&f.path, &f.text)?);
            } else if is_cases(&f.path) {
                documents.extend(cases::parse_jsonl(&f.path, &f.text)?);
            }
        }
        let mut seen = std::collections::HashSet::new();
        for d in &documents {
            if !seen.insert(d.doc_ref()) {
                return Err(CorpusError::Invalid { path: origin.clone(), message: format!("{} is defined twice", d.doc_ref()) });
            }
        }
        Ok(Corpus { documents, hash: hex::encode(hasher.finalize()), origin })
    }

    pub fn runbooks(&self) -> impl Iterator<Item = &Document> {
        self.documents.iter().filter(|d| d.kind == DocKind::Runbook)
    }
}

fn embedded_files() -> Vec<SourceFile> {
    let mut out = Vec::new();
    collect_embedded(&EMBEDDED, &mut out);
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

fn collect_embedded(dir: &Dir<'static>, out: &mut Vec<SourceFile>) {
    for f in dir.files() {
        if let Some(text) = f.contents_utf8() {
            out.push(SourceFile { path: f.path().to_string_lossy().replace('\\', "/"), text: text.to_string() });
        }
    }
    for d in dir.dirs() {
        collect_embedded(d, out);
    }
}

fn read_dir_files(root: &Path) -> Result<Vec<SourceFile>, CorpusError> {
    dir_files(root)?.into_iter().map(|(file, path)| Ok(SourceFile { path, text: std::fs::read_to_string(&file).map_err(|e| io_error(&file, e))? })).collect()
}

/// The files under `root`, in file-name order: each one's path and its path relative to
/// `root` with `/` separators, as corpus paths are spelt.
fn dir_files(root: &Path) -> Result<Vec<(PathBuf, String)>, CorpusError> {
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
        let entry = entry.map_err(|e| io_error(root, std::io::Error::other(e.to_string())))?;
        if entry.file_type().is_file() {
            let rel = entry.path().strip_prefix(root).unwrap_or(entry.path()).to_string_lossy().replace('\\', "/");
            out.push((entry.into_path(), rel));
        }
    }
    Ok(out)
}

fn io_error(path: &Path, source: std::io::Error) -> CorpusError {
    CorpusError::Io { path: path.display().to_string(), source }
}

/// Calls `f` with each document of the corpus in `dir` (or of the one built into the binary),
/// in the order [`Corpus::load`] lists them and with its checks, reading one file at a time
/// and a prior-cases file one line at a time: the index is built from a corpus of any size
/// without holding it whole.
pub fn for_each_document<E: From<CorpusError>>(dir: Option<&Path>, f: &mut dyn FnMut(Document) -> Result<(), E>) -> Result<(), E> {
    let mut seen = std::collections::HashSet::new();
    let mut twice: Option<String> = None;
    // A ref defined twice fails the corpus, as in `Corpus::load`: after the parse errors of
    // every file, so the rest is still read, but no longer handed on.
    let mut each = |d: Document| -> Result<(), E> {
        let doc_ref = d.doc_ref();
        if twice.is_some() {
            return Ok(());
        }
        if seen.insert(doc_ref.clone()) {
            return f(d);
        }
        twice = Some(doc_ref);
        Ok(())
    };
    let origin = match dir {
        None => {
            for file in embedded_files() {
                if is_runbook(&file.path) {
                    each(runbooks::parse(&file.path, &file.text)?)?;
                } else if is_cases(&file.path) {
                    for (i, line) in file.text.lines().enumerate() {
                        if let Some(d) = cases::parse_line(&file.path, i + 1, line)? {
                            each(d)?;
                        }
                    }
                }
            }
            "embedded".to_string()
        }
        Some(root) => {
            for (path, rel) in dir_files(root)? {
                if is_runbook(&rel) {
                    let text = std::fs::read_to_string(&path).map_err(|e| io_error(&path, e))?;
                    each(runbooks::parse(&rel, &text)?)?;
                } else if is_cases(&rel) {
                    let file = std::fs::File::open(&path).map_err(|e| io_error(&path, e))?;
                    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
                        let line = line.map_err(|e| io_error(&path, e))?;
                        if let Some(d) = cases::parse_line(&rel, i + 1, &line)? {
                            each(d)?;
                        }
                    }
                }
            }
            root.display().to_string()
        }
    };
    match twice {
        Some(doc_ref) => Err(CorpusError::Invalid { path: origin, message: format!("{doc_ref} is defined twice") }.into()),
        None => Ok(()),
    }
}

fn is_runbook(path: &str) -> bool {
    path.starts_with("runbooks/") && path.ends_with(".md")
}

fn is_cases(path: &str) -> bool {
    path.starts_with("cases/") && path.ends_with(".jsonl")
}

/// Reads documents saved as JSON lines (imported Sigma rules and ATT&CK techniques).
pub fn read_documents(path: &Path) -> Result<Vec<Document>, CorpusError> {
    let mut out = Vec::new();
    for_each_stored_document(path, &mut |d| {
        out.push(d);
        Ok::<(), CorpusError>(())
    })?;
    Ok(out)
}

/// Calls `f` with each document saved as JSON lines in `path` (none when there is no such
/// file), reading one line at a time.
pub fn for_each_stored_document<E: From<CorpusError>>(path: &Path, f: &mut dyn FnMut(Document) -> Result<(), E>) -> Result<(), E> {
    let io = |source| CorpusError::Io { path: path.display().to_string(), source };
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => return Err(io(source).into()),
    };
    let mut number = 0;
    for line in std::io::BufReader::new(file).lines() {
        let line = line.map_err(io)?;
        if line.trim().is_empty() {
            continue;
        }
        number += 1;
        let d = serde_json::from_str(&line).map_err(|e| CorpusError::Invalid { path: format!("{}:{number}", path.display()), message: e.to_string() })?;
        f(d)?;
    }
    Ok(())
}

/// Writes documents as JSON lines, replacing the file atomically.
pub fn write_documents(path: &Path, docs: &[Document]) -> Result<(), CorpusError> {
    let io = |source| CorpusError::Io { path: path.display().to_string(), source };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let mut text = String::new();
    for d in docs {
        text.push_str(&serde_json::to_string(d).map_err(|e| io(std::io::Error::other(e)))?);
        text.push('\n');
    }
    let tmp = path.with_extension("jsonl.tmp");
    std::fs::write(&tmp, text).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// Folds every run of whitespace to one space: the form quotes are compared in.
pub fn fold_whitespace(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// An ATT&CK technique as an `attack:<ID>` document. Its description comes from the bundle
/// the operator imported and stays in their data dir.
pub fn attack_document(t: &crate::attack::stix::TechniqueDoc) -> Document {
    let mut text = format!("{} {}\nTactics: {}\n", t.id, t.name, t.tactics.join(", "));
    if !t.platforms.is_empty() {
        text.push_str(&format!("Platforms: {}\n", t.platforms.join(", ")));
    }
    if !t.data_sources.is_empty() {
        text.push_str(&format!("Data sources: {}\n", t.data_sources.join(", ")));
    }
    text.push_str(&t.description);
    if !t.detection.is_empty() {
        text.push_str("\n\nDetection: ");
        text.push_str(&t.detection);
    }
    Document {
        kind: DocKind::Attack,
        id: t.id.to_string(),
        title: format!("{} {}", t.id, t.name),
        text,
        techniques: vec![t.id.to_string()],
        actions: Vec::new(),
        severity: None,
        disposition: None,
        keywords: t.tactics.join(" "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_corpus_loads_with_unique_refs() {
        let c = Corpus::load(None).unwrap();
        assert!(c.runbooks().count() >= 1);
        assert_eq!(c.hash.len(), 64);
    }

    fn streamed(dir: Option<&Path>) -> Result<Vec<Document>, CorpusError> {
        let mut out = Vec::new();
        for_each_document(dir, &mut |d| {
            out.push(d);
            Ok::<(), CorpusError>(())
        })?;
        Ok(out)
    }

    #[test]
    fn streaming_a_corpus_reads_what_loading_it_does_and_checks_it_the_same() {
        assert_eq!(streamed(None).unwrap(), Corpus::load(None).unwrap().documents);
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("cases")).unwrap();
        let case = r#"{"id": "pc-1", "title": "t", "alerts": [], "disposition": "benign", "severity": "low"}"#;
        std::fs::write(dir.path().join("cases/a.jsonl"), format!("{case}\n\n{}\n", case.replace("pc-1", "pc-2"))).unwrap();
        assert_eq!(streamed(Some(dir.path())).unwrap(), Corpus::load(Some(dir.path())).unwrap().documents);
        std::fs::write(dir.path().join("cases/b.jsonl"), format!("{case}\n")).unwrap();
        let twice = |e: CorpusError| e.to_string();
        assert_eq!(twice(streamed(Some(dir.path())).unwrap_err()), twice(Corpus::load(Some(dir.path())).unwrap_err()));
        std::fs::write(dir.path().join("cases/c.jsonl"), "\n{\"id\": \"Bad Id\"}\n").unwrap();
        let err = streamed(Some(dir.path())).unwrap_err().to_string();
        assert_eq!(err, Corpus::load(Some(dir.path())).unwrap_err().to_string());
        assert!(err.contains("cases/c.jsonl:2"), "{err}");
    }
}
