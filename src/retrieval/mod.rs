//! The retrieval index (tantivy, BM25) over runbooks, prior cases, Sigma rules and ATT&CK
//! techniques. Built in the data dir on first use and rebuilt whenever the content it was
//! built from changes; cases analysts close are added in place, without a rebuild.

mod query;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value};
use tantivy::tokenizer::{Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term, doc};

use crate::alert::Alert;
use crate::corpus::{DocKind, Document};

pub use query::AlertQuery;

/// Bumped whenever the schema or the analyzers change, forcing a rebuild.
const SCHEMA_VERSION: u32 = 3;
const TOKENIZER: &str = "triage_text";
const WRITER_MEMORY: usize = 50_000_000;

/// How many documents of each kind a request retrieves.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub runbooks: usize,
    pub cases: usize,
    pub sigma: usize,
    pub attack: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { runbooks: 3, cases: 5, sigma: 3, attack: 3 }
    }
}

impl Limits {
    fn of(&self, kind: DocKind) -> usize {
        match kind {
            DocKind::Runbook => self.runbooks,
            DocKind::Case => self.cases,
            DocKind::Sigma => self.sigma,
            DocKind::Attack => self.attack,
            DocKind::Inventory | DocKind::Intel | DocKind::Change => 0,
        }
    }
}

/// One retrieved document with its BM25 score.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hit {
    pub doc: Document,
    pub score: f32,
}

impl Hit {
    pub fn doc_ref(&self) -> String {
        self.doc.doc_ref()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("index: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    #[error("index directory {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("index: stored document is not readable: {0}")]
    Stored(String),
    #[error("index: writer lock poisoned")]
    Poisoned,
}

#[derive(Clone, Copy)]
struct Fields {
    doc_ref: Field,
    kind: Field,
    title: Field,
    body: Field,
    keywords: Field,
    techniques: Field,
    stored: Field,
}

#[derive(Serialize, Deserialize, PartialEq)]
struct Manifest {
    schema_version: u32,
    content_hash: String,
    documents: usize,
}

/// What opening the index did.
#[derive(Debug, Clone, Serialize)]
pub struct OpenReport {
    pub rebuilt: bool,
    pub documents: usize,
    pub content_hash: String,
}

pub struct SearchIndex {
    index: Index,
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    fields: Fields,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = TextOptions::default()
        .set_indexing_options(TextFieldIndexing::default().set_tokenizer(TOKENIZER).set_index_option(IndexRecordOption::WithFreqsAndPositions));
    let fields = Fields {
        doc_ref: b.add_text_field("ref", STRING | STORED),
        kind: b.add_text_field("kind", STRING),
        title: b.add_text_field("title", text.clone()),
        body: b.add_text_field("body", text.clone()),
        keywords: b.add_text_field("keywords", text),
        techniques: b.add_text_field("techniques", STRING),
        stored: b.add_text_field("doc", STORED),
    };
    (b.build(), fields)
}

fn register_tokenizer(index: &Index) {
    let analyzer = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(64))
        .filter(LowerCaser)
        .filter(StopWordFilter::new(Language::English).unwrap_or_else(|| StopWordFilter::remove(Vec::new())))
        .filter(Stemmer::new(Language::English))
        .build();
    index.tokenizers().register(TOKENIZER, analyzer);
}

/// Hash of everything an index is built from, in a stable order.
pub fn content_hash(docs: &[Document]) -> String {
    let mut refs: Vec<(String, &Document)> = docs.iter().map(|d| (d.doc_ref(), d)).collect();
    refs.sort_by(|a, b| a.0.cmp(&b.0));
    let mut h = Sha256::new();
    h.update(SCHEMA_VERSION.to_le_bytes());
    for (r, d) in refs {
        h.update(r.as_bytes());
        h.update(serde_json::to_vec(d).unwrap_or_default());
    }
    hex::encode(h.finalize())
}

impl SearchIndex {
    /// Opens the index in `dir`, (re)building it from `docs` when it is missing or was built
    /// from different content. `progress` is told how many documents were written.
    pub fn open_or_build(dir: &Path, docs: &[Document], progress: &dyn Fn(usize, usize)) -> Result<(SearchIndex, OpenReport), IndexError> {
        let hash = content_hash(docs);
        let manifest_path = manifest_path(dir);
        let current: Option<Manifest> = std::fs::read(&manifest_path).ok().and_then(|b| serde_json::from_slice(&b).ok());
        let fresh = current.as_ref().is_some_and(|m| m.schema_version == SCHEMA_VERSION && m.content_hash == hash);
        if fresh && let Ok(index) = Index::open_in_dir(dir) {
            let opened = Self::from_index(index)?;
            let documents = opened.len();
            return Ok((opened, OpenReport { rebuilt: false, documents, content_hash: hash }));
        }
        let io = |source| IndexError::Io { path: dir.display().to_string(), source };
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(io)?;
        }
        std::fs::create_dir_all(dir).map_err(io)?;
        let (schema, _) = schema();
        let index = Index::create_in_dir(dir, schema)?;
        let built = Self::from_index(index)?;
        {
            let mut w = built.writer.lock().map_err(|_| IndexError::Poisoned)?;
            for (i, d) in docs.iter().enumerate() {
                w.add_document(built.to_tantivy(d))?;
                if (i + 1) % 200 == 0 || i + 1 == docs.len() {
                    progress(i + 1, docs.len());
                }
            }
            w.commit()?;
        }
        built.reader.reload()?;
        let manifest = Manifest { schema_version: SCHEMA_VERSION, content_hash: hash.clone(), documents: docs.len() };
        std::fs::write(&manifest_path, serde_json::to_vec_pretty(&manifest).unwrap_or_default()).map_err(io)?;
        Ok((built, OpenReport { rebuilt: true, documents: docs.len(), content_hash: hash }))
    }

    fn from_index(index: Index) -> Result<SearchIndex, IndexError> {
        register_tokenizer(&index);
        let (_, fields) = schema();
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        let writer = index.writer(WRITER_MEMORY)?;
        Ok(SearchIndex { index, reader, writer: Mutex::new(writer), fields })
    }

    fn to_tantivy(&self, d: &Document) -> TantivyDocument {
        let f = self.fields;
        let mut td = doc!(
            f.doc_ref => d.doc_ref(),
            f.kind => d.kind.as_str(),
            f.title => d.title.clone(),
            f.body => d.text.clone(),
            f.keywords => d.keywords.clone(),
            f.stored => serde_json::to_string(d).unwrap_or_default(),
        );
        for t in &d.techniques {
            td.add_text(f.techniques, t);
            if t.len() > 5 {
                td.add_text(f.techniques, &t[..5]);
            }
        }
        td
    }

    pub fn len(&self) -> usize {
        self.reader.searcher().num_docs() as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds or replaces one document and makes it searchable before returning.
    pub fn upsert(&self, d: &Document) -> Result<(), IndexError> {
        let mut w = self.writer.lock().map_err(|_| IndexError::Poisoned)?;
        w.delete_term(Term::from_field_text(self.fields.doc_ref, &d.doc_ref()));
        w.add_document(self.to_tantivy(d))?;
        w.commit()?;
        self.reader.reload()?;
        Ok(())
    }

    /// The stored document for a ref, if indexed.
    pub fn get(&self, doc_ref: &str) -> Result<Option<Document>, IndexError> {
        let searcher = self.reader.searcher();
        let q = TermQuery::new(Term::from_field_text(self.fields.doc_ref, doc_ref), IndexRecordOption::Basic);
        let top = searcher.search(&q, &TopDocs::with_limit(1))?;
        match top.first() {
            Some((_, addr)) => Ok(Some(self.load(&searcher.doc(*addr)?)?)),
            None => Ok(None),
        }
    }

    fn load(&self, td: &TantivyDocument) -> Result<Document, IndexError> {
        let json = td.get_first(self.fields.stored).and_then(|v| v.as_str()).ok_or_else(|| IndexError::Stored("missing".into()))?;
        serde_json::from_str(json).map_err(|e| IndexError::Stored(e.to_string()))
    }

    /// Retrieves the best documents of each kind for a set of alerts.
    pub fn search_alerts(&self, alerts: &[Alert], limits: Limits) -> Result<Vec<Hit>, IndexError> {
        self.search_alerts_with(alerts, &[], limits)
    }

    /// Retrieves with the techniques the alerts' own values point to (the knowledge's
    /// direct candidates) weighted in, so runbooks and ATT&CK entries for what the event
    /// is outrank those that merely share words with it.
    pub fn search_alerts_with(&self, alerts: &[Alert], techniques: &[String], limits: Limits) -> Result<Vec<Hit>, IndexError> {
        let q = AlertQuery::from_alerts(alerts).with_techniques(techniques);
        self.search(&q, limits)
    }

    /// Searches each kind in turn. ATT&CK techniques are searched last, expanded with the
    /// techniques that the best runbooks, cases and rules carry: technique prose shares too
    /// many generic words with alerts to be found by text alone.
    pub fn search(&self, q: &AlertQuery, limits: Limits) -> Result<Vec<Hit>, IndexError> {
        let searcher = self.reader.searcher();
        let mut hits: Vec<Hit> = Vec::new();
        for kind in DocKind::ALL {
            let n = limits.of(kind);
            if n == 0 {
                continue;
            }
            let mut query = q.clone();
            if kind == DocKind::Attack {
                let mut ids = query.techniques().to_vec();
                ids.extend(expansion(&hits).into_iter().filter(|t| !q.techniques().contains(t)));
                query = query.with_expansion(&ids);
            }
            let Some(text_query) = query.to_query(&self.index, self.fields.title, self.fields.body, self.fields.keywords, self.fields.techniques) else {
                continue;
            };
            let kind_q: Box<dyn Query> = Box::new(TermQuery::new(Term::from_field_text(self.fields.kind, kind.as_str()), IndexRecordOption::Basic));
            let q = BooleanQuery::new(vec![
                (Occur::Must, text_query),
                (Occur::Must, Box::new(tantivy::query::ConstScoreQuery::new(kind_q, 0.0)) as Box<dyn Query>),
            ]);
            for (score, addr) in searcher.search(&q, &TopDocs::with_limit(n))? {
                hits.push(Hit { doc: self.load(&searcher.doc(addr)?)?, score });
            }
        }
        Ok(hits)
    }
}

/// Techniques of the two best hits of each kind, for expanding the ATT&CK search.
fn expansion(hits: &[Hit]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for kind in [DocKind::Runbook, DocKind::Case, DocKind::Sigma] {
        for h in hits.iter().filter(|h| h.doc.kind == kind).take(2) {
            for t in &h.doc.techniques {
                if !out.contains(t) {
                    out.push(t.clone());
                }
            }
        }
    }
    out
}

/// The record of what an index was built from; removing it forces a rebuild.
pub fn manifest_path(index_dir: &Path) -> PathBuf {
    index_dir.join("triage-manifest.json")
}

/// Where the index lives inside a data dir.
pub fn index_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("index")
}
