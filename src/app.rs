//! Everything a request needs, opened once: store, index, catalogs, schemas, engines.

use std::sync::Arc;

use crate::attack::Catalog;
use crate::config::{EngineKind, Settings};
use crate::corpus::Document;
use crate::knowledge::{Indicators, KnowledgeError};
use crate::llm::SharedEngine;
use crate::llm::baseline::Baseline;
use crate::metrics::Metrics;
use crate::policy::{ActionCatalog, Environments};
use crate::retrieval::{Limits, OpenReport, SearchIndex, index_dir};
use crate::store::{Backend, Store};
use crate::validate::Schemas;

pub struct PipelineSettings {
    pub approval_ttl: chrono::Duration,
    pub limits: Limits,
    /// How long a repeat with an Idempotency-Key waits for the first request's response:
    /// the whole engine budget and some; a claim older than this is taken over.
    pub idempotency_wait: std::time::Duration,
}

pub struct App {
    pub store: Store,
    pub index: SearchIndex,
    pub catalog: Catalog,
    pub actions: ActionCatalog,
    pub schemas: Schemas,
    pub engine: SharedEngine,
    pub baseline: Baseline,
    pub settings: PipelineSettings,
    pub metrics: Metrics,
    pub index_report: OpenReport,
    pub knowledge: Indicators,
    /// What a client is granted by `triage serve` (timeouts, body sizes, connections).
    pub http: crate::config::HttpSettings,
    /// How often `triage serve` checks the audit chain in the background.
    pub audit: crate::config::AuditSettings,
    /// The last background check of the audit chain, for `/readyz`.
    pub audit_watch: crate::readiness::AuditWatch,
    /// The offline GeoIP database, when one is configured.
    pub geo: Option<crate::enrich::geo::GeoDb>,
    /// The key secrets are fingerprinted under.
    pub fingerprint_key: crate::alert::fingerprint::FingerprintKey,
    /// How the alert stream dedups and correlates, and the SLAs of cases.
    pub stream: crate::policy::StreamPolicy,
    /// Woken when the stream queues a case recommendation.
    pub queue_wake: tokio::sync::Notify,
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Corpus(#[from] crate::corpus::CorpusError),
    #[error(transparent)]
    Catalog(#[from] crate::attack::CatalogError),
    #[error(transparent)]
    Actions(#[from] crate::policy::ActionError),
    #[error(transparent)]
    Policy(#[from] crate::policy::environment::PolicyError),
    #[error(transparent)]
    Schema(#[from] crate::validate::schema::SchemaError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Index(#[from] crate::retrieval::IndexError),
    #[error("engine: {0}")]
    Engine(String),
    #[error("knowledge: {0}")]
    Knowledge(#[from] KnowledgeError),
    #[error(transparent)]
    Geo(#[from] crate::enrich::geo::GeoError),
    #[error(transparent)]
    FingerprintKey(#[from] crate::alert::fingerprint::FingerprintKeyError),
}

/// The store the settings name: PostgreSQL when a database URL is set, else SQLite in the
/// data dir.
pub fn open_store(settings: &Settings) -> Result<Store, crate::store::StoreError> {
    let backend = match &settings.database {
        Some(db) => Backend::Postgres { url: &db.url, password: db.password.as_ref().map(|p| p.expose()) },
        None => Backend::Sqlite,
    };
    Store::open_backend(backend, &settings.data_dir, settings.audit.key.as_ref().map(|k| k.expose()))
}

/// Where imported documents are kept inside a data dir.
pub fn imported_path(data_dir: &std::path::Path, kind: &str) -> std::path::PathBuf {
    data_dir.join("imported").join(format!("{kind}.jsonl"))
}

/// Every document the index is built from: corpus, imported Sigma and ATT&CK, closed cases.
pub fn all_documents(settings: &Settings, store: &Store) -> Result<Vec<Document>, OpenError> {
    let closed = closed_case_documents(store)?;
    let mut docs = Vec::new();
    for_each_document(settings, &closed, &mut |d| {
        docs.push(d.clone());
        Ok(())
    })?;
    Ok(docs)
}

/// The documents of closed cases, each once (the last close of a case counts).
fn closed_case_documents(store: &Store) -> Result<Vec<Document>, OpenError> {
    let mut docs: Vec<Document> = Vec::new();
    for (case, alerts) in store.closed_cases()? {
        if let Some(doc) = crate::cases::closed_case_document(&case, &alerts) {
            docs.retain(|d| d.doc_ref() != doc.doc_ref());
            docs.push(doc);
        }
    }
    Ok(docs)
}

/// Hands `f` every document the index is built from, in index order and one at a time
/// (see [`crate::retrieval::DocumentSource`]): corpus, imported Sigma and ATT&CK, then the
/// closed cases, each in place of a document with its ref.
fn for_each_document(settings: &Settings, closed: &[Document], f: &mut dyn FnMut(&Document) -> Result<(), OpenError>) -> Result<(), OpenError> {
    let replaced: std::collections::HashSet<String> = closed.iter().map(Document::doc_ref).collect();
    let mut each = |d: Document| if replaced.contains(&d.doc_ref()) { Ok(()) } else { f(&d) };
    crate::corpus::for_each_document(settings.corpus_dir.as_deref(), &mut each)?;
    for kind in ["sigma", "attack"] {
        crate::corpus::for_each_stored_document(&imported_path(&settings.data_dir, kind), &mut each)?;
    }
    closed.iter().try_for_each(f)
}

impl App {
    /// Runs `f` on tokio's blocking pool and waits for it: every store call made from async
    /// code goes through here (the store is synchronous, and a slow call on a runtime
    /// worker would stall every request on it, LLM timers included), and so does
    /// CPU-heavy work such as retrieval. The caller's span stays the parent of what `f`
    /// logs. A panic in `f` is resumed in the caller.
    pub async fn blocking<T, F>(self: &Arc<Self>, f: F) -> T
    where
        T: Send + 'static,
        F: FnOnce(&App) -> T + Send + 'static,
    {
        let app = Arc::clone(self);
        let span = tracing::Span::current();
        match tokio::task::spawn_blocking(move || span.in_scope(|| f(&app))).await {
            Ok(value) => value,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // Only a runtime shutting down cancels a blocking task; the request goes with it.
            Err(_) => std::panic::resume_unwind(Box::new("the runtime shut down during a blocking call")),
        }
    }

    /// Opens the app, (re)building the index if its content changed. `progress` hears
    /// about indexing.
    pub fn open(settings: &Settings, engine: Option<SharedEngine>, progress: &dyn Fn(usize, usize)) -> Result<App, OpenError> {
        let store = open_store(settings)?;
        let closed = closed_case_documents(&store)?;
        let (index, index_report) =
            SearchIndex::open_or_build_from(&index_dir(&settings.data_dir), &mut |f| for_each_document(settings, &closed, f), progress)?;
        drop(closed);
        let metrics = Metrics::default();
        let engine: SharedEngine = match (engine, settings.engine) {
            (Some(e), _) => e,
            (None, EngineKind::Baseline) => Arc::new(Baseline),
            (None, EngineKind::Llm) => {
                Arc::new(crate::llm::openai::OpenAiEngine::new(&settings.llm).map_err(|e| OpenError::Engine(e.to_string()))?.with_metrics(metrics.llm()))
            }
            (None, EngineKind::Replay) => {
                return Err(OpenError::Engine("the replay engine answers only in `triage eval --engine replay --replay <recording>`".into()));
            }
            (None, _) => return Err(OpenError::Engine("trivial baselines answer only in `triage eval`".into())),
        };
        let catalog = Catalog::load(&settings.data_dir)?;
        let knowledge = Indicators::embedded(&catalog)?;
        Ok(App {
            store,
            index,
            catalog,
            knowledge,
            actions: ActionCatalog::load(settings.actions_policy.as_deref())?.with_environments(Environments::load(settings.policy.as_deref())?),
            schemas: Schemas::compile()?,
            engine,
            baseline: Baseline,
            settings: PipelineSettings {
                approval_ttl: chrono::Duration::from_std(settings.approval_ttl).unwrap_or(chrono::Duration::MAX),
                limits: settings.retrieval.limits(),
                idempotency_wait: settings.idempotency_wait,
            },
            metrics,
            index_report,
            http: settings.http.clone(),
            audit: settings.audit.clone(),
            audit_watch: crate::readiness::AuditWatch::default(),
            geo: settings.geoip_db.as_deref().map(crate::enrich::geo::GeoDb::open).transpose()?,
            fingerprint_key: crate::alert::fingerprint::FingerprintKey::load(&settings.data_dir, settings.fingerprint_key.as_ref().map(|k| k.expose()))?,
            stream: crate::policy::StreamPolicy::load(settings.policy.as_deref())?,
            queue_wake: tokio::sync::Notify::new(),
        })
    }
}
