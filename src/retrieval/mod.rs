//! The retrieval index (tantivy, BM25) over runbooks, prior cases, Sigma rules and ATT&CK
//! documents (techniques, software, detection strategies and analytics). Built in the data
//! dir on first use and rebuilt whenever the content it was built from changes; cases
//! analysts close are added in place, without a rebuild.

mod parsed;
mod query;
mod score;
mod terms;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tantivy::collector::TopDocs;
use tantivy::query::TermQuery;
use tantivy::schema::{FAST, Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value};
use tantivy::tokenizer::{Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term, doc};

use crate::alert::Alert;
use crate::attack::ObjectKind;
use crate::corpus::{DocKind, Document};

pub use query::AlertQuery;
use score::{Clause, ScoredDocs};

/// Bumped whenever the schema or the analyzers change, forcing a rebuild.
const SCHEMA_VERSION: u32 = 6;
const TOKENIZER: &str = "triage_text";
const WRITER_MEMORY: usize = 50_000_000;

/// How many documents of each kind a request retrieves.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub runbooks: usize,
    pub cases: usize,
    pub sigma: usize,
    /// Per group of ATT&CK documents ([`AttackGroup`]): up to this many techniques, this
    /// many software entries and this many detections (strategies and analytics, at most
    /// one per technique set).
    pub attack: usize,
}

/// The groups ATT&CK documents are retrieved in, each up to [`Limits::attack`] documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttackGroup {
    /// `attack:T…`: searched last, expanded with the techniques of the best runbooks, cases
    /// and rules.
    Technique,
    /// `attack:S…`: found by the software's name and aliases in the alert text.
    Software,
    /// `attack:DET…` and `attack:AN…`: found by log sources, channels and what they look for.
    Detection,
}

impl AttackGroup {
    /// The value of the index's `kind_code` field for documents of this group.
    fn code(self) -> u64 {
        match self {
            AttackGroup::Technique => 3,
            AttackGroup::Software => 4,
            AttackGroup::Detection => 5,
        }
    }

    /// The value of the index's `kind` field for documents of this group.
    fn term(self) -> &'static str {
        match self {
            AttackGroup::Technique => "attack",
            AttackGroup::Software => "attack-software",
            AttackGroup::Detection => "attack-detection",
        }
    }

    /// The group of an `attack` document, by its ID.
    pub fn of(doc: &Document) -> AttackGroup {
        match doc.attack_object() {
            Some(ObjectKind::Software) => AttackGroup::Software,
            Some(ObjectKind::DetectionStrategy | ObjectKind::Analytic) => AttackGroup::Detection,
            _ => AttackGroup::Technique,
        }
    }
}

/// Which partition of the index a document is in: software, detections, or the main one
/// (`Technique`) with runbooks, cases, rules and techniques.
fn partition_of(d: &Document) -> AttackGroup {
    if d.kind == DocKind::Attack { AttackGroup::of(d) } else { AttackGroup::Technique }
}

/// Terms a detection search sends: the heaviest, as detection prose is long and common
/// words in it many.
const DETECTION_TERMS: usize = 48;

/// The value of the index's `kind` field for a document.
fn kind_term(d: &Document) -> &'static str {
    match d.kind {
        DocKind::Attack => AttackGroup::of(d).term(),
        other => other.as_str(),
    }
}

/// The value of the index's `kind_code` fast field for a document: what one search that
/// ranks several kinds at once reads to keep the best of each.
fn kind_code(d: &Document) -> u64 {
    match d.kind {
        DocKind::Attack => AttackGroup::of(d).code(),
        other => other_code(other),
    }
}

fn other_code(kind: DocKind) -> u64 {
    match kind {
        DocKind::Runbook => 0,
        DocKind::Case => 1,
        DocKind::Sigma => 2,
        DocKind::Attack => AttackGroup::Technique.code(),
        DocKind::Inventory | DocKind::Intel | DocKind::Change => 6,
    }
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

/// One retrieved document with its BM25 score. The document is shared with the index's
/// cache of parsed documents ([`parsed`]) and with other requests that retrieved it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hit {
    #[serde(with = "shared")]
    pub doc: Arc<Document>,
    pub score: f32,
}

/// A shared document (de)serialised as the document itself.
mod shared {
    use std::sync::Arc;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::corpus::Document;

    pub fn serialize<S: Serializer>(doc: &Arc<Document>, s: S) -> Result<S::Ok, S::Error> {
        doc.as_ref().serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Arc<Document>, D::Error> {
        Document::deserialize(d).map(Arc::new)
    }
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
    /// [`kind_code`], a fast field.
    kind_code: Field,
    /// Runbooks, Sigma rules and ATT&CK techniques.
    main: TextFields,
    /// Prior cases, in fields of their own so that their search is one of its own: cases
    /// grow with use, without bound, while the other kinds do not (see [`SearchIndex::search`]).
    /// They are scored with the statistics of `main` and these together, as if in one field.
    cases: TextFields,
    /// ATT&CK detection strategies and analytics, and software (its names and aliases
    /// only), each in fields of their own so that they change no statistic (document
    /// frequency, length) the other kinds are scored with (see [`Partition`]), and need no
    /// filter by kind.
    detections: TextFields,
    /// Software's names and aliases, normalised, one untokenised term each.
    software_names: Field,
    stored: Field,
}

/// The searchable fields of one partition of the index.
#[derive(Clone, Copy)]
struct TextFields {
    title: Field,
    body: Field,
    keywords: Field,
    techniques: Field,
}

/// BM25 statistics of one partition: term and token counts come from its own fields, and
/// the document count is that of its documents only. Scores of runbooks, cases, rules and
/// techniques are thus what they would be without the ATT&CK objects in the index.
struct Partition<'a> {
    searcher: &'a tantivy::Searcher,
    /// Where the index's terms are, shared by every request on one generation.
    terms: &'a terms::TermInfos,
    docs: u64,
    /// Pairs of fields counted as one (the main partition's and the cases' own), either
    /// way: a term's document frequency and a field's tokens are their sums.
    twins: Vec<(Field, Field)>,
    /// Document frequencies of terms in their own field, each looked up once per request:
    /// a query asks whether its terms occur in both twins' fields, and the weights of
    /// both searches ask again for their statistics.
    doc_freqs: std::cell::RefCell<std::collections::HashMap<Term, u64, foldhash::fast::RandomState>>,
    tokens: std::cell::RefCell<Vec<(Field, u64)>>,
}

impl Partition<'_> {
    /// How many documents have `term` in its field (the searcher's own count, not the twins'
    /// sum).
    fn field_doc_freq(&self, term: &Term) -> tantivy::Result<u64> {
        if let Some(&n) = self.doc_freqs.borrow().get(term) {
            return Ok(n);
        }
        let n = self.terms.get(self.searcher, term)?.iter().flatten().map(|t| u64::from(t.doc_freq)).sum();
        self.doc_freqs.borrow_mut().insert(term.clone(), n);
        Ok(n)
    }

    /// Where `term` is in the searcher's segment `ord`, if that segment has it.
    fn term_info(&self, term: &Term, ord: usize) -> tantivy::Result<Option<tantivy::postings::TermInfo>> {
        Ok(self.terms.get(self.searcher, term)?.get(ord).cloned().flatten())
    }

    fn field_tokens(&self, field: Field) -> tantivy::Result<u64> {
        if let Some(&(_, n)) = self.tokens.borrow().iter().find(|(f, _)| *f == field) {
            return Ok(n);
        }
        let n = tantivy::query::Bm25StatisticsProvider::total_num_tokens(self.searcher, field)?;
        self.tokens.borrow_mut().push((field, n));
        Ok(n)
    }

    fn twin(&self, field: Field) -> Option<Field> {
        self.twins.iter().find_map(|&(a, b)| {
            if a == field {
                Some(b)
            } else if b == field {
                Some(a)
            } else {
                None
            }
        })
    }
}

impl tantivy::query::Bm25StatisticsProvider for Partition<'_> {
    fn total_num_tokens(&self, field: Field) -> tantivy::Result<u64> {
        Ok(self.field_tokens(field)? + self.twin(field).map(|f| self.field_tokens(f)).transpose()?.unwrap_or(0))
    }

    fn total_num_docs(&self) -> tantivy::Result<u64> {
        Ok(self.docs.max(1))
    }

    fn doc_freq(&self, term: &Term) -> tantivy::Result<u64> {
        let mut n = self.field_doc_freq(term)?;
        if let Some(twin) = self.twin(term.field()) {
            let mut other = Term::from_field_text(twin, "");
            other.set_bytes(term.serialized_value_bytes());
            n += self.field_doc_freq(&other)?;
        }
        Ok(n.min(self.docs.max(1)))
    }
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

/// The tantivy index of a data dir, shared by every process that opens the dir: a server
/// and the CLI beside it. No writer is held between writes (tantivy allows one writer per
/// index, so a held one would lock the CLI out), and readers follow commits made by any
/// process, so an import by the CLI reaches a running server without a restart.
pub struct SearchIndex {
    index: Index,
    reader: IndexReader,
    /// Serialises this process's writes; other processes are waited for at the lock.
    writing: Mutex<()>,
    fields: Fields,
    /// The terms of the software names field and the length of the longest, for the
    /// searcher generation they were read from.
    software: std::sync::RwLock<SoftwareNames>,
    /// Retrieved documents, parsed once.
    parsed: parsed::ParsedDocs,
    terms: terms::TermInfos,
}

#[derive(Default)]
struct SoftwareNames {
    generation: Option<u64>,
    vocabulary: std::collections::HashSet<String>,
    longest: usize,
}

/// How long a write waits for another process's writer to finish.
const WRITER_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = TextOptions::default()
        .set_indexing_options(TextFieldIndexing::default().set_tokenizer(TOKENIZER).set_index_option(IndexRecordOption::WithFreqsAndPositions));
    // Technique IDs, one untokenised term each, with frequencies like the text fields':
    // technique clauses sit in the same disjunction as the text's.
    let ids = TextOptions::default().set_indexing_options(TextFieldIndexing::default().set_tokenizer("raw").set_index_option(IndexRecordOption::WithFreqs));
    let fields = Fields {
        doc_ref: b.add_text_field("ref", STRING | STORED),
        kind: b.add_text_field("kind", STRING),
        kind_code: b.add_u64_field("kind_code", FAST),
        main: TextFields {
            title: b.add_text_field("title", text.clone()),
            body: b.add_text_field("body", text.clone()),
            keywords: b.add_text_field("keywords", text.clone()),
            techniques: b.add_text_field("techniques", ids.clone()),
        },
        cases: TextFields {
            title: b.add_text_field("case_title", text.clone()),
            body: b.add_text_field("case_body", text.clone()),
            keywords: b.add_text_field("case_keywords", text.clone()),
            techniques: b.add_text_field("case_techniques", ids.clone()),
        },
        detections: TextFields {
            title: b.add_text_field("detection_title", text.clone()),
            body: b.add_text_field("detection_body", text.clone()),
            keywords: b.add_text_field("detection_keywords", text.clone()),
            techniques: b.add_text_field("detection_techniques", ids),
        },
        software_names: b.add_text_field("software_names", STRING),
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
    let mut h = ContentHasher::default();
    docs.iter().for_each(|d| h.add(d));
    h.finish()
}

/// [`content_hash`] fed one document at a time: each document's digest is kept under its
/// ref (some 80 bytes a document), not the document, and the digests are hashed in the
/// order of their refs at the end.
#[derive(Default)]
struct ContentHasher {
    digests: Vec<(String, [u8; 32])>,
}

impl ContentHasher {
    fn add(&mut self, d: &Document) {
        let mut h = Sha256::new();
        // Every field, each with its length, straight into the hash: serialising thousands of
        // ATT&CK documents to JSON first would cost more than hashing them.
        let mut field = |b: &[u8]| {
            h.update((b.len() as u64).to_le_bytes());
            h.update(b);
        };
        let doc_ref = d.doc_ref();
        let Document { kind: _, id: _, title, text, techniques, actions, severity, disposition, keywords } = d;
        field(doc_ref.as_bytes());
        field(title.as_bytes());
        field(text.as_bytes());
        field(keywords.as_bytes());
        field(techniques.join("\n").as_bytes());
        for a in actions {
            field(a.action.as_bytes());
            field(a.when.as_bytes());
        }
        field(format!("{severity:?} {disposition:?} {}", actions.len()).as_bytes());
        self.digests.push((doc_ref, h.finalize().into()));
    }

    fn len(&self) -> usize {
        self.digests.len()
    }

    fn finish(mut self) -> String {
        // Stable: documents that share a ref keep the order they came in.
        self.digests.sort_by(|a, b| a.0.cmp(&b.0));
        let mut h = Sha256::new();
        h.update(SCHEMA_VERSION.to_le_bytes());
        for (doc_ref, digest) in &self.digests {
            h.update((doc_ref.len() as u64).to_le_bytes());
            h.update(doc_ref.as_bytes());
            h.update(digest);
        }
        hex::encode(h.finalize())
    }
}

/// Where the documents of an index come from: called with a visitor, it hands each
/// document to it in index order, and stops at the first error. It is read once to hash
/// the content and once more when the index must be (re)built, so that no document is held
/// longer than it takes to hash or index it.
pub type DocumentSource<'a, E> = dyn FnMut(&mut dyn FnMut(&Document) -> Result<(), E>) -> Result<(), E> + 'a;

impl SearchIndex {
    /// Opens the index in `dir`, (re)building it from `docs` when it is missing or was built
    /// from different content. `progress` is told how many documents were written.
    pub fn open_or_build(dir: &Path, docs: &[Document], progress: &dyn Fn(usize, usize)) -> Result<(SearchIndex, OpenReport), IndexError> {
        Self::open_or_build_from(dir, &mut |f: &mut dyn FnMut(&Document) -> Result<(), IndexError>| docs.iter().try_for_each(&mut *f), progress)
    }

    /// [`SearchIndex::open_or_build`] from documents read on demand (see [`DocumentSource`]).
    pub fn open_or_build_from<E: From<IndexError>>(
        dir: &Path,
        docs: &mut DocumentSource<'_, E>,
        progress: &dyn Fn(usize, usize),
    ) -> Result<(SearchIndex, OpenReport), E> {
        let manifest_path = manifest_path(dir);
        let current: Option<Manifest> = std::fs::read(&manifest_path).ok().and_then(|b| serde_json::from_slice(&b).ok());
        // An index whose schema isn't this build's (a build from another version of the
        // code) is rebuilt too, rather than read with the wrong fields.
        let existing = Index::open_in_dir(dir).ok().filter(|index| index.schema() == schema().0);
        // The content is hashed first only when it decides whether to rebuild; an index
        // without a manifest of this schema is rebuilt anyway, and hashed as it is built,
        // reading the documents once.
        let hashed = match (&current, &existing) {
            (Some(m), Some(_)) if m.schema_version == SCHEMA_VERSION => {
                let mut hasher = ContentHasher::default();
                docs(&mut |d| {
                    hasher.add(d);
                    Ok(())
                })?;
                Some((hasher.len(), hasher.finish()))
            }
            _ => None,
        };
        if let (Some(m), Some((_, hash))) = (&current, &hashed)
            && m.content_hash == *hash
            && let Some(index) = existing
        {
            let opened = Self::from_index(index)?;
            let documents = opened.len();
            return Ok((opened, OpenReport { rebuilt: false, documents, content_hash: hash.clone() }));
        }
        let io = |source| IndexError::Io { path: dir.display().to_string(), source };
        // An index of this build's schema is rebuilt in place, in one commit, so that a
        // server reading it switches to the new content at once; any other is replaced.
        let index = match existing {
            Some(index) => index,
            None => {
                if dir.exists() {
                    std::fs::remove_dir_all(dir).map_err(io)?;
                }
                std::fs::create_dir_all(dir).map_err(io)?;
                Index::create_in_dir(dir, schema().0).map_err(IndexError::from)?
            }
        };
        let built = Self::from_index(index)?;
        // Until the documents are counted, progress is told the size of the index being
        // replaced, kept above what was written so far.
        let estimate = built.len();
        let mut hasher = ContentHasher::default();
        built.write(|w| {
            w.delete_all_documents().map_err(IndexError::from)?;
            let mut written = 0;
            docs(&mut |d| {
                if hashed.is_none() {
                    hasher.add(d);
                }
                w.add_document(built.to_tantivy(d)).map_err(IndexError::from)?;
                written += 1;
                match hashed {
                    Some((total, _)) if written % 200 == 0 || written == total => progress(written, total),
                    None if written % 200 == 0 => progress(written, estimate.max(written + 1)),
                    _ => {}
                }
                Ok(())
            })
        })?;
        let (total, hash) = match hashed {
            Some(known) => known,
            None => {
                let total = hasher.len();
                if total > 0 {
                    progress(total, total);
                }
                (total, hasher.finish())
            }
        };
        built.merge_segments()?;
        let manifest = Manifest { schema_version: SCHEMA_VERSION, content_hash: hash.clone(), documents: total };
        std::fs::write(&manifest_path, serde_json::to_vec_pretty(&manifest).unwrap_or_default()).map_err(io)?;
        Ok((built, OpenReport { rebuilt: true, documents: total, content_hash: hash }))
    }

    fn from_index(index: Index) -> Result<SearchIndex, IndexError> {
        register_tokenizer(&index);
        let (_, fields) = schema();
        // Commits by this process are reloaded at once (`write`); those of another process
        // (the CLI beside a server) when tantivy sees `meta.json` change.
        let reader = index.reader_builder().reload_policy(ReloadPolicy::OnCommitWithDelay).try_into()?;
        Ok(SearchIndex {
            index,
            reader,
            writing: Mutex::new(()),
            fields,
            software: std::sync::RwLock::new(SoftwareNames::default()),
            parsed: Default::default(),
            terms: Default::default(),
        })
    }

    /// Runs `f` with a writer, commits, and makes the result searchable here before
    /// returning. The writer is taken for this write only; when another process holds it,
    /// this one waits (up to [`WRITER_WAIT`]).
    fn write<E: From<IndexError>>(&self, f: impl FnOnce(&mut IndexWriter) -> Result<(), E>) -> Result<(), E> {
        let _guard = self.writing.lock().map_err(|_| IndexError::Poisoned)?;
        let deadline = std::time::Instant::now() + WRITER_WAIT;
        let mut writer: IndexWriter = loop {
            match self.index.writer(WRITER_MEMORY) {
                Ok(w) => break w,
                Err(tantivy::TantivyError::LockFailure(..)) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(e) => return Err(IndexError::from(e).into()),
            }
        };
        f(&mut writer)?;
        writer.commit().map_err(IndexError::from)?;
        writer.wait_merging_threads().map_err(IndexError::from)?;
        self.reader.reload().map_err(IndexError::from)?;
        Ok(())
    }

    /// Merges a fresh build's segments (one per indexing thread) into one: every query
    /// clause is looked up and scored once per segment, so a request costs less the fewer
    /// there are. Later single-document updates are left to tantivy's merge policy.
    fn merge_segments(&self) -> Result<(), IndexError> {
        self.write(|w| {
            let ids = w.index().searchable_segment_ids()?;
            if ids.len() > 1 {
                w.merge(&ids).wait()?;
            }
            Ok(())
        })
    }

    /// The software names of the current searcher, read again when the index changed.
    fn software_names(&self, searcher: &tantivy::Searcher) -> Result<std::sync::RwLockReadGuard<'_, SoftwareNames>, IndexError> {
        let generation = searcher.generation().generation_id();
        {
            let current = self.software.read().map_err(|_| IndexError::Poisoned)?;
            if current.generation == Some(generation) {
                return Ok(current);
            }
        }
        let vocabulary = Self::software_vocabulary(searcher, self.fields.software_names)?;
        let longest = vocabulary.iter().map(String::len).max().unwrap_or(0);
        *self.software.write().map_err(|_| IndexError::Poisoned)? = SoftwareNames { generation: Some(generation), vocabulary, longest };
        self.software.read().map_err(|_| IndexError::Poisoned)
    }

    fn to_tantivy(&self, d: &Document) -> TantivyDocument {
        let f = self.fields;
        let mut td = doc!(
            f.doc_ref => d.doc_ref(),
            f.kind => kind_term(d),
            f.kind_code => kind_code(d),
            f.stored => serde_json::to_string(d).unwrap_or_default(),
        );
        let tf = match partition_of(d) {
            AttackGroup::Software => {
                // Its keywords are its normalised names (see `corpus::attack`).
                for name in d.keywords.split_whitespace() {
                    td.add_text(f.software_names, name);
                }
                return td;
            }
            AttackGroup::Detection => f.detections,
            AttackGroup::Technique if d.kind == DocKind::Case => f.cases,
            AttackGroup::Technique => f.main,
        };
        td.add_text(tf.title, &d.title);
        td.add_text(tf.body, &d.text);
        td.add_text(tf.keywords, &d.keywords);
        // Each ID once (a parent named by two sub-techniques too), as its term frequency
        // counts in the score now that the field keeps frequencies.
        let mut ids: Vec<&str> = Vec::with_capacity(d.techniques.len() * 2);
        for t in &d.techniques {
            for id in [t.as_str(), t.get(..5).filter(|_| t.len() > 5).unwrap_or_default()] {
                if !id.is_empty() && !ids.contains(&id) {
                    ids.push(id);
                    td.add_text(tf.techniques, id);
                }
            }
        }
        td
    }

    /// The BM25 statistics of a partition: software, detections, or everything else
    /// (`Technique`: runbooks, cases, rules and techniques).
    fn partition<'a>(&'a self, searcher: &'a tantivy::Searcher, group: AttackGroup) -> Result<Partition<'a>, IndexError> {
        let count = |g: AttackGroup| searcher.doc_freq(&Term::from_field_text(self.fields.kind, g.term()));
        let docs = match group {
            AttackGroup::Technique => {
                let all: u64 = searcher.segment_readers().iter().map(|r| u64::from(r.max_doc())).sum();
                all.saturating_sub(count(AttackGroup::Software)? + count(AttackGroup::Detection)?)
            }
            g => count(g)?,
        };
        let twins = match group {
            AttackGroup::Technique => {
                let (m, c) = (self.fields.main, self.fields.cases);
                vec![(m.title, c.title), (m.body, c.body), (m.keywords, c.keywords), (m.techniques, c.techniques)]
            }
            _ => Vec::new(),
        };
        Ok(Partition { searcher, terms: &self.terms, docs, twins, doc_freqs: Default::default(), tokens: Default::default() })
    }

    /// Every term of the software names field: the names a query looks for.
    fn software_vocabulary(searcher: &tantivy::Searcher, field: Field) -> Result<std::collections::HashSet<String>, IndexError> {
        let mut out = std::collections::HashSet::new();
        for segment in searcher.segment_readers() {
            let inverted = segment.inverted_index(field)?;
            let mut stream = inverted.terms().stream().map_err(|e| IndexError::Stored(e.to_string()))?;
            while stream.advance() {
                if let Ok(t) = std::str::from_utf8(stream.key()) {
                    out.insert(t.to_string());
                }
            }
        }
        Ok(out)
    }

    pub fn len(&self) -> usize {
        self.reader.searcher().num_docs() as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds or replaces one document and makes it searchable before returning.
    pub fn upsert(&self, d: &Document) -> Result<(), IndexError> {
        self.write(|w| {
            w.delete_term(Term::from_field_text(self.fields.doc_ref, &d.doc_ref()));
            w.add_document(self.to_tantivy(d))?;
            Ok(())
        })
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

    /// Runbooks and rules in one search, ranked together and the best of each kind kept;
    /// prior cases in a search of their own over their own fields, scored with the same
    /// statistics, so that the knowledge's search does not grow with the cases and the
    /// cases' search can leave out, once there are thousands of cases, the common terms'
    /// long posting lists (scored at its candidates only). Without ATT&CK in the index that is all; with it, software by name,
    /// detections by the alerts' words (and the techniques the sender tagged), and ATT&CK
    /// techniques last, expanded with the techniques that the best runbooks, cases and
    /// rules carry: technique prose shares too many generic words with alerts to be found
    /// by text alone. Every search is a plain disjunction of weighted terms, scored a term
    /// at a time ([`score`]): block-max WAND was measured several times slower at these
    /// sizes (a few hundred clauses; `docs/benchmarks.md`).
    pub fn search(&self, q: &AlertQuery, limits: Limits) -> Result<Vec<Hit>, IndexError> {
        let searcher = self.reader.searcher();
        let main = self.partition(&searcher, AttackGroup::Technique)?;
        let fields = |f: TextFields, max_terms: usize| query::SearchFields {
            text: vec![(f.title, query::TITLE_BOOST), (f.body, 1.0), (f.keywords, query::KEYWORDS_BOOST)],
            techniques: Some(f.techniques),
            max_terms,
            max_doc_freq: None,
        };
        let present = |term: &str| -> Result<bool, IndexError> { Ok(searcher.doc_freq(&Term::from_field_text(self.fields.kind, term))? > 0) };
        let mut wanted: Vec<(u64, usize)> = Vec::new();
        for kind in [DocKind::Runbook, DocKind::Sigma] {
            let n = limits.of(kind);
            if n > 0 && present(kind.as_str())? {
                wanted.push((other_code(kind), n));
            }
        }
        let mut hits: Vec<Hit> = Vec::new();
        if !wanted.is_empty() {
            hits = self.collect_by_kind(&searcher, &main, &q.to_clauses(&self.index, &main, &fields(self.fields.main, query::MAX_TERMS)), &wanted)?;
        }
        // Prior cases on their own, with the same statistics, placed between runbooks and
        // rules. Only when there are many cases (over [`COMMON_FLOOR`] have a term in a
        // field) are the common terms' clauses set apart: candidates are found without
        // them and only the candidates are scored with them.
        let n = limits.of(DocKind::Case);
        if n > 0 {
            let cases = searcher.doc_freq(&Term::from_field_text(self.fields.kind, DocKind::Case.as_str()))?;
            let mut case_fields = fields(self.fields.cases, query::MAX_TERMS);
            case_fields.max_doc_freq = Some(common_doc_freq(cases));
            let (clauses, common) = q.to_split_clauses(&self.index, &main, &case_fields);
            if cases > 0 && !clauses.is_empty() {
                let code = other_code(DocKind::Case);
                let best = if common.is_empty() {
                    score::best_by_kind(&searcher, &main, &clauses, &[(code, n)])?
                } else {
                    let candidates = score::best_by_kind(&searcher, &main, &clauses, &[(code, n * CASE_CANDIDATES)])?;
                    candidates.into_iter().map(|list| score::rescore(&searcher, &main, &common, list, n)).collect::<Result<_, _>>()?
                };
                let found = self.load_hits(&searcher, best)?;
                let at = hits.iter().take_while(|h| h.doc.kind == DocKind::Runbook).count();
                hits.splice(at..at, found);
            }
        }
        let n = limits.of(DocKind::Attack);
        if n == 0 {
            return Ok(hits);
        }
        // Software by its names and aliases among the alerts' words (not by the
        // techniques the sender tagged: each is used by hundreds).
        let software = self.partition(&searcher, AttackGroup::Software)?;
        if software.docs > 0 {
            let known = self.software_names(&searcher)?;
            let names = q.software_names(&known.vocabulary, known.longest);
            drop(known);
            if !names.is_empty() {
                let clauses: Vec<Clause> =
                    names.iter().map(|(name, w)| Clause { term: Term::from_field_text(self.fields.software_names, name), boost: *w }).collect();
                hits.extend(self.collect_by_kind(&searcher, &software, &clauses, &[(AttackGroup::Software.code(), n)])?);
            }
        }
        // Detections by what they look for and where; strategies and analytics of one
        // technique say the same thing, so the best of them stands for all.
        let detections = self.partition(&searcher, AttackGroup::Detection)?;
        if detections.docs > 0 {
            let clauses = q.to_clauses(&self.index, &detections, &fields(self.fields.detections, DETECTION_TERMS));
            let mut seen: Vec<Vec<String>> = Vec::new();
            for h in self.collect_by_kind(&searcher, &detections, &clauses, &[(AttackGroup::Detection.code(), n * 2)])? {
                if seen.len() < n && !seen.contains(&h.doc.techniques) {
                    seen.push(h.doc.techniques.clone());
                    hits.push(h);
                }
            }
        }
        if present(AttackGroup::Technique.term())? {
            // The techniques the query is told about (sender tags, the knowledge's
            // candidates) lead; what the best documents suggest follows.
            let mut ids = q.techniques().to_vec();
            ids.extend(expansion(&hits).into_iter().filter(|t| !q.techniques().contains(t)));
            let expanded = q.clone().with_expansion(&ids);
            let clauses = expanded.to_clauses(&self.index, &main, &fields(self.fields.main, query::MAX_TERMS));
            hits.extend(self.collect_by_kind(&searcher, &main, &clauses, &[(AttackGroup::Technique.code(), n)])?);
        }
        Ok(hits)
    }

    /// The best documents of each kind that `wanted` names (`(kind_code, n)`) for one
    /// disjunction of clauses, scored with `stats`, loaded, in the order of `wanted` and
    /// best first within a kind.
    fn collect_by_kind(&self, searcher: &tantivy::Searcher, stats: &Partition, clauses: &[Clause], wanted: &[(u64, usize)]) -> Result<Vec<Hit>, IndexError> {
        let best = score::best_by_kind(searcher, stats, clauses, wanted)?;
        self.load_hits(searcher, best)
    }

    /// The documents of lists of scored addresses, in order.
    fn load_hits(&self, searcher: &tantivy::Searcher, best: Vec<ScoredDocs>) -> Result<Vec<Hit>, IndexError> {
        let generation = searcher.generation().generation_id();
        let mut out = Vec::new();
        for list in best {
            for (score, address) in list {
                let segment = searcher.segment_reader(address.segment_ord).segment_id();
                let doc = self.parsed.get_or_load(generation, segment, address.doc_id, || self.load(&searcher.doc(address)?))?;
                out.push(Hit { doc, score });
            }
        }
        Ok(out)
    }
}

/// A term more cases than this share of them, and more than [`COMMON_FLOOR`], have in a
/// field is common there, and scored only at the candidates the other clauses find.
const COMMON_SHARE_DIVISOR: u64 = 20;
/// Below this many cases with a term in a field, no term is common: a corpus of some
/// thousand cases is searched whole.
const COMMON_FLOOR: u64 = 1_000;
/// Candidates per case a search keeps when common terms are set apart.
const CASE_CANDIDATES: usize = 20;

/// The most cases that a term may be in, in a field, to be searched through rather than
/// scored at the candidates only.
fn common_doc_freq(cases: u64) -> u64 {
    (cases / COMMON_SHARE_DIVISOR).max(COMMON_FLOOR)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::Corpus;

    fn open(dir: &Path, docs: &[Document]) -> OpenReport {
        SearchIndex::open_or_build(dir, docs, &|_, _| {}).unwrap().1
    }

    #[test]
    fn the_index_is_rebuilt_when_and_only_when_its_content_changes() {
        let dir = tempfile::tempdir().unwrap();
        let mut docs = Corpus::load(None).unwrap().documents;
        let built = open(dir.path(), &docs);
        assert!(built.rebuilt);
        assert_eq!((built.documents, built.content_hash.as_str()), (docs.len(), content_hash(&docs).as_str()));
        let again = open(dir.path(), &docs);
        assert!(!again.rebuilt);
        assert_eq!((again.documents, again.content_hash), (docs.len(), built.content_hash.clone()));

        // Hashed before the rebuild (the manifest is there) or while it runs (it is not),
        // the content hashes the same.
        docs[0].text.push_str(" One more line.");
        let changed = open(dir.path(), &docs);
        assert!(changed.rebuilt);
        assert_ne!(changed.content_hash, built.content_hash);
        std::fs::remove_file(manifest_path(dir.path())).unwrap();
        let forced = open(dir.path(), &docs);
        assert!(forced.rebuilt);
        assert_eq!((forced.documents, forced.content_hash), (docs.len(), changed.content_hash));
        assert!(!open(dir.path(), &docs).rebuilt);
    }

    #[test]
    fn cases_scored_at_candidates_with_common_clauses_score_as_in_the_whole_search() {
        let dir = tempfile::tempdir().unwrap();
        let docs = Corpus::load(None).unwrap().documents;
        let (index, _) = SearchIndex::open_or_build(dir.path(), &docs, &|_, _| {}).unwrap();
        let searcher = index.reader.searcher();
        let main = index.partition(&searcher, AttackGroup::Technique).unwrap();
        let all = [(other_code(DocKind::Case), docs.len())];
        for text in ["powershell encoded command download cradle", "impossible travel sign-in from new country", "ssh brute force then login"] {
            let q = AlertQuery::from_text(text).with_techniques(&["T1059.001".to_string()]);
            let mut fields = query::SearchFields {
                text: vec![
                    (index.fields.cases.title, query::TITLE_BOOST),
                    (index.fields.cases.body, 1.0),
                    (index.fields.cases.keywords, query::KEYWORDS_BOOST),
                ],
                techniques: Some(index.fields.cases.techniques),
                max_terms: query::MAX_TERMS,
                max_doc_freq: None,
            };
            let (whole, none) = q.to_split_clauses(&index.index, &main, &fields);
            assert!(none.is_empty());
            let whole = score::best_by_kind(&searcher, &main, &whole, &all).unwrap().remove(0);
            // Every term in more than two cases is common: the others find the candidates.
            fields.max_doc_freq = Some(2);
            let (rare, common) = q.to_split_clauses(&index.index, &main, &fields);
            if common.is_empty() {
                // Every text clause was common: then none is set apart.
                assert_eq!(text, "ssh brute force then login");
                continue;
            }
            let candidates = score::best_by_kind(&searcher, &main, &rare, &all).unwrap().remove(0);
            assert!(!candidates.is_empty(), "{text}");
            let n = candidates.len();
            let got = score::rescore(&searcher, &main, &common, candidates, n).unwrap();
            assert!(got.windows(2).all(|w| w[0].0 >= w[1].0), "{text}: best first");
            for (score, address) in &got {
                let (expected, _) = whole.iter().find(|(_, a)| a == address).unwrap();
                assert!((score - expected).abs() <= 1e-4 * expected.abs(), "{text}: {score} vs {expected}");
            }
        }
    }

    #[test]
    fn term_at_a_time_scores_are_tantivys_own() {
        use tantivy::query::Query;
        let dir = tempfile::tempdir().unwrap();
        let docs = Corpus::load(None).unwrap().documents;
        let (index, _) = SearchIndex::open_or_build(dir.path(), &docs, &|_, _| {}).unwrap();
        let searcher = index.reader.searcher();
        let main = index.partition(&searcher, AttackGroup::Technique).unwrap();
        let f = index.fields.main;
        let fields = query::SearchFields {
            text: vec![(f.title, query::TITLE_BOOST), (f.body, 1.0), (f.keywords, query::KEYWORDS_BOOST)],
            techniques: Some(f.techniques),
            max_terms: query::MAX_TERMS,
            max_doc_freq: None,
        };
        let everything = [(other_code(DocKind::Runbook), docs.len()), (other_code(DocKind::Sigma), docs.len())];
        for text in ["powershell encoded command download cradle", "impossible travel sign-in from new country", "ssh brute force then login"] {
            let q = AlertQuery::from_text(text).with_techniques(&["T1059.001".to_string(), "T1110".to_string()]);
            let clauses = q.to_clauses(&index.index, &main, &fields);
            assert!(clauses.len() > 5, "{text}");
            let got: Vec<(f32, tantivy::DocAddress)> = score::best_by_kind(&searcher, &main, &clauses, &everything).unwrap().concat();
            // The same disjunction as tantivy's own query, every match scored.
            let boolean = score::tantivy_query(&clauses);
            let weight = boolean.weight(tantivy::query::EnableScoring::enabled_from_statistics_provider(&main, &searcher)).unwrap();
            let mut expected: Vec<(f32, tantivy::DocAddress)> = Vec::new();
            for (ord, segment) in searcher.segment_readers().iter().enumerate() {
                let kinds = segment.fast_fields().u64("kind_code").unwrap();
                weight
                    .for_each(segment, &mut |doc, score| {
                        if kinds.first(doc).is_some_and(|k| everything.iter().any(|&(c, _)| c == k)) {
                            expected.push((score, tantivy::DocAddress::new(ord as u32, doc)));
                        }
                    })
                    .unwrap();
            }
            assert_eq!(got.len(), expected.len(), "{text}: every matching document is scored");
            // Above the postings bound the same clauses go through tantivy's pruned scorers:
            // the same best documents, best first.
            let top = [(other_code(DocKind::Runbook), 5), (other_code(DocKind::Sigma), 3)];
            let straight = score::best_by_kind(&searcher, &main, &clauses, &top).unwrap();
            let pruned = score::best_by_kind_pruned(&searcher, &main, &clauses, &top).unwrap();
            assert_eq!(
                straight.iter().map(|l| l.iter().map(|(_, a)| *a).collect::<Vec<_>>()).collect::<Vec<_>>(),
                pruned.iter().map(|l| l.iter().map(|(_, a)| *a).collect::<Vec<_>>()).collect::<Vec<_>>(),
                "{text}"
            );
            for (score, address) in &got {
                let (want, _) = expected.iter().find(|(_, a)| a == address).unwrap();
                assert!((score - want).abs() <= 1e-5 * want.abs(), "{text}: {score} vs {want}");
            }
        }
    }
}
