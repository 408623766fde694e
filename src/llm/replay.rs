//! Replays recorded engine answers, keyed by a hash of the request, so an LLM run can be
//! re-scored offline; and the recorder that writes those answers while a live engine runs.
//!
//! The key of a request is the SHA-256 of a canonical JSON object holding the redacted
//! alerts (exactly as the engine saw them), the sorted refs of the retrieved documents and
//! the prompt version. The case id is not part of it, so the same dataset replays across
//! runs. A repair is keyed by the request key and the hash of the answer it repairs.
//!
//! A recording is JSON lines, one answer a line:
//! `{"key", "kind": "propose" | "repair", "prompt_version", "recorded_at", "answer"}`.

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::{Engine, EngineAnswer, EngineError, EngineRequest, SharedEngine};
use crate::recommendation::ReviewReason;

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("reading recording {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("recording {path}, line {line}: {message}")]
    Line { path: String, line: usize, message: String },
}

/// What one line of a recording holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordedAnswer {
    pub key: String,
    pub kind: RecordKind,
    pub prompt_version: String,
    #[serde(default)]
    pub recorded_at: String,
    pub answer: EngineAnswer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordKind {
    Propose,
    Repair,
}

/// Object keys sorted at every level, so the hash does not depend on insertion order.
fn canonical(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for k in keys {
                if let Some(x) = m.get(k) {
                    out.insert(k.clone(), canonical(x));
                }
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The replay key of a request under a prompt version.
pub fn request_key(req: &EngineRequest<'_>, prompt_version: &str) -> String {
    let alerts: Vec<Value> = req.alerts.iter().map(|a| canonical(&a.raw)).collect();
    let refs: BTreeSet<String> = req.retrieved.iter().map(|h| h.doc_ref()).collect();
    let body = json!({ "alerts": alerts, "retrieved": refs, "prompt_version": prompt_version });
    sha256_hex(body.to_string().as_bytes())
}

/// The replay key of a repair of `previous` for a request.
pub fn repair_key(req: &EngineRequest<'_>, previous: &EngineAnswer) -> String {
    let request = request_key(req, &previous.prompt_version);
    sha256_hex(format!("{request}\n{}", sha256_hex(previous.raw.as_bytes())).as_bytes())
}

/// Answers only from a recording. A request that was not recorded is
/// [`EngineError::NotRecorded`]; the eval reports it per sample.
pub struct ReplayEngine {
    answers: HashMap<(RecordKind, String), EngineAnswer>,
    /// The prompt versions a request key is tried under, in order.
    prompt_versions: Vec<String>,
    source: PathBuf,
}

impl ReplayEngine {
    /// Loads a recording. With `prompt_version`, only answers recorded under that version
    /// replay (a changed prompt is then a miss); without it, any recorded version does.
    pub fn load(path: &Path, prompt_version: Option<&str>) -> Result<ReplayEngine, ReplayError> {
        let text = std::fs::read_to_string(path).map_err(|source| ReplayError::Io { path: path.display().to_string(), source })?;
        let mut answers = HashMap::new();
        let mut versions: Vec<String> = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let r: RecordedAnswer =
                serde_json::from_str(line).map_err(|e| ReplayError::Line { path: path.display().to_string(), line: i + 1, message: e.to_string() })?;
            if !versions.contains(&r.prompt_version) {
                versions.push(r.prompt_version.clone());
            }
            answers.insert((r.kind, r.key), r.answer);
        }
        let prompt_versions = match prompt_version {
            Some(v) => vec![v.to_string()],
            None => versions,
        };
        Ok(ReplayEngine { answers, prompt_versions, source: path.to_path_buf() })
    }

    pub fn len(&self) -> usize {
        self.answers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.answers.is_empty()
    }

    pub fn source(&self) -> &Path {
        &self.source
    }
}

#[async_trait]
impl Engine for ReplayEngine {
    fn name(&self) -> &'static str {
        "replay"
    }

    fn answers_in_process(&self) -> bool {
        true
    }

    async fn propose(&self, req: &EngineRequest<'_>) -> Result<EngineAnswer, EngineError> {
        let mut tried = Vec::new();
        for v in &self.prompt_versions {
            let key = request_key(req, v);
            if let Some(a) = self.answers.get(&(RecordKind::Propose, key.clone())) {
                return Ok(a.clone());
            }
            tried.push(key);
        }
        if tried.is_empty() {
            tried.push(request_key(req, ""));
        }
        Err(EngineError::NotRecorded(tried.join(", ")))
    }

    async fn repair(&self, req: &EngineRequest<'_>, previous: &EngineAnswer, _reasons: &[ReviewReason]) -> Option<Result<EngineAnswer, EngineError>> {
        // Not recorded means the live engine made no successful repair: none here either.
        self.answers.get(&(RecordKind::Repair, repair_key(req, previous))).cloned().map(Ok)
    }
}

/// Wraps a live engine and appends every answer it gives to a recording.
pub struct RecordingEngine {
    inner: SharedEngine,
    out: Mutex<std::fs::File>,
    path: PathBuf,
    recorded: AtomicUsize,
    write_errors: AtomicUsize,
}

impl RecordingEngine {
    /// Creates (or truncates) the recording at `path`.
    pub fn create(inner: SharedEngine, path: &Path) -> Result<RecordingEngine, ReplayError> {
        let io = |source| ReplayError::Io { path: path.display().to_string(), source };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let file = std::fs::File::create(path).map_err(io)?;
        Ok(RecordingEngine { inner, out: Mutex::new(file), path: path.to_path_buf(), recorded: AtomicUsize::new(0), write_errors: AtomicUsize::new(0) })
    }

    /// Answers written so far.
    pub fn recorded(&self) -> usize {
        self.recorded.load(Ordering::Relaxed)
    }

    /// Answers that could not be written (each one is also logged).
    pub fn write_errors(&self) -> usize {
        self.write_errors.load(Ordering::Relaxed)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write(&self, kind: RecordKind, key: String, answer: &EngineAnswer) {
        let record = RecordedAnswer { key, kind, prompt_version: answer.prompt_version.clone(), recorded_at: crate::store::now(), answer: answer.clone() };
        let result = serde_json::to_string(&record).map_err(std::io::Error::other).and_then(|line| {
            let mut f = self.out.lock().map_err(|_| std::io::Error::other("recording lock poisoned"))?;
            writeln!(f, "{line}")?;
            f.flush()
        });
        match result {
            Ok(()) => {
                self.recorded.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                self.write_errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, path = %self.path.display(), "could not record an engine answer");
            }
        }
    }
}

#[async_trait]
impl Engine for RecordingEngine {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn answers_in_process(&self) -> bool {
        self.inner.answers_in_process()
    }

    fn model(&self) -> &str {
        self.inner.model()
    }

    async fn propose(&self, req: &EngineRequest<'_>) -> Result<EngineAnswer, EngineError> {
        let answer = self.inner.propose(req).await?;
        self.write(RecordKind::Propose, request_key(req, &answer.prompt_version), &answer);
        Ok(answer)
    }

    async fn repair(&self, req: &EngineRequest<'_>, previous: &EngineAnswer, reasons: &[ReviewReason]) -> Option<Result<EngineAnswer, EngineError>> {
        let repaired = self.inner.repair(req, previous, reasons).await;
        if let Some(Ok(answer)) = &repaired {
            self.write(RecordKind::Repair, repair_key(req, previous), answer);
        }
        repaired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_ignores_key_order() {
        let a: Value = serde_json::from_str(r#"{"b":1,"a":{"y":[1,{"d":2,"c":3}],"x":null}}"#).unwrap_or_default();
        let b: Value = serde_json::from_str(r#"{"a":{"x":null,"y":[1,{"c":3,"d":2}]},"b":1}"#).unwrap_or_default();
        assert_eq!(canonical(&a).to_string(), canonical(&b).to_string());
        assert_ne!(canonical(&a).to_string(), "{}");
    }
}
