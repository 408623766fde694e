//! Runs every sample through [`crate::pipeline::recommend`] — the function behind
//! `POST /v1/recommend` — in a scratch data dir, scores it, and writes the run's files.
//! Then, unless told not to, runs every trivial baseline ([`super::trivial`]) over the same
//! samples through the same pipeline and index, so each figure stands beside theirs.
//!
//! The scratch dir gets the configured data dir's imported knowledge (ATT&CK catalog, Sigma
//! and ATT&CK documents) but not its store: eval cases never reach the real review queue,
//! and closed cases of the live store do not change the results. It is removed afterwards.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::instrument::WithSubscriber;

use crate::app::{App, imported_path};
use crate::attack::Catalog;
use crate::config::{EngineKind, Settings};
use crate::corpus::Corpus;
use crate::llm::SharedEngine;
use crate::llm::baseline::Baseline;
use crate::llm::replay::{RecordingEngine, ReplayEngine};
use crate::pipeline::{self, RecommendRequest};
use crate::recommendation::{EngineInfo, RecommendResponse, Status};
use crate::store::Identity;

use super::EvalError;
use super::bootstrap::Bootstrap;
use super::dataset::{self, Gold, Sample};
use super::scorers::{self, Outcome, Score};
use super::summary::{self, EngineSummary, IndexSummary, ScoredSample, Summary, TrivialSummary};
use super::trivial::{Priors, Trivial, TrivialKind};

/// One line of samples.jsonl.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SampleRecord {
    pub id: String,
    pub dataset: String,
    pub line: usize,
    pub tags: Vec<String>,
    pub source: Option<String>,
    pub license: Option<String>,
    /// The input alerts, as in the dataset.
    pub alerts: Vec<Value>,
    pub gold: Gold,
    pub status: Option<Status>,
    pub engine: Option<EngineInfo>,
    /// Every raw engine answer, separated by `\n---\n` when a repair was asked for.
    pub raw_output: Option<String>,
    /// The parsed result: the response `POST /v1/recommend` would have returned.
    pub response: Option<RecommendResponse>,
    pub latency_ms: Option<u64>,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub error: Option<String>,
    pub scores: BTreeMap<String, Score>,
}

impl SampleRecord {
    pub fn scored(&self) -> ScoredSample {
        // The summary needs only the scores; runs are paired by content when read back.
        ScoredSample { id: self.id.clone(), tags: self.tags.clone(), alerts: Value::Null, gold: Value::Null, scores: self.scores.clone() }
    }
}

pub struct RunOptions {
    pub datasets: Vec<PathBuf>,
    pub engine: EngineKind,
    pub replay: Option<PathBuf>,
    pub replay_prompt_version: Option<String>,
    pub record: Option<PathBuf>,
    pub out: PathBuf,
    pub limit: Option<usize>,
    pub jobs: Option<usize>,
    pub bootstrap: Bootstrap,
    pub progress: bool,
    /// Also run the trivial baselines over the same samples.
    pub trivial: bool,
}

pub struct RunOutput {
    pub summary: Summary,
    pub records: Vec<SampleRecord>,
    pub loaded: dataset::Loaded,
    pub recorded: Option<(PathBuf, usize)>,
}

/// A data dir that is removed when dropped.
pub struct Scratch {
    pub dir: PathBuf,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            tracing::debug!(error = %e, dir = %self.dir.display(), "scratch dir not removed");
        }
    }
}

/// Settings pointing at a fresh scratch data dir that holds the configured dir's imported
/// knowledge.
pub fn scratch_settings(settings: &Settings) -> Result<(Settings, Scratch), EvalError> {
    let dir = std::env::temp_dir().join(format!("triage-eval-{}", uuid::Uuid::now_v7().simple()));
    let scratch = Scratch { dir: dir.clone() };
    let copies = [
        (Catalog::path_in(&settings.data_dir), Catalog::path_in(&dir)),
        (imported_path(&settings.data_dir, "sigma"), imported_path(&dir, "sigma")),
        (imported_path(&settings.data_dir, "attack"), imported_path(&dir, "attack")),
    ];
    for (from, to) in copies {
        if from.is_file() {
            let io = |source| EvalError::Io { path: to.display().to_string(), source };
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent).map_err(io)?;
            }
            std::fs::copy(&from, &to).map_err(io)?;
        }
    }
    let mut s = settings.clone();
    s.data_dir = dir;
    Ok((s, scratch))
}

/// Logging for eval runs: warnings only unless `TRIAGE_LOG` says otherwise, so the
/// pipeline's per-request info lines don't bury the progress bar.
pub fn quiet_logging() -> tracing::Dispatch {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TRIAGE_LOG").unwrap_or_else(|_| "triage=warn".into());
    tracing::Dispatch::new(tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).finish())
}

pub fn progress_bar(len: u64, label: &'static str, visible: bool) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(len), if visible { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() });
    bar.set_style(ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {elapsed_precise} eta {eta}").unwrap_or_else(|_| ProgressStyle::default_bar()));
    bar.set_message(label);
    bar
}

enum Engines {
    Plain(SharedEngine),
    Recording(Arc<RecordingEngine>),
}

fn build_engine(settings: &Settings, o: &RunOptions, priors: Priors) -> Result<(Engines, String, Option<String>), EvalError> {
    let replay = o.replay.is_some() || o.engine == EngineKind::Replay;
    let (engine, kind, recording): (SharedEngine, &str, Option<String>) = if replay {
        let Some(path) = &o.replay else {
            return Err(EvalError::Usage("--engine replay needs --replay <recording.jsonl>".into()));
        };
        let engine = ReplayEngine::load(path, o.replay_prompt_version.as_deref())?;
        if engine.is_empty() {
            tracing::warn!(path = %path.display(), "the recording holds no answers: every sample will be a replay miss");
        }
        (Arc::new(engine), "replay", Some(path.display().to_string()))
    } else {
        match (o.engine, TrivialKind::from_engine(o.engine)) {
            (EngineKind::Llm, _) => {
                (Arc::new(crate::llm::openai::OpenAiEngine::new(&settings.llm).map_err(|e| EvalError::Engine(e.to_string()))?), "llm", None)
            }
            (_, Some(t)) => (Arc::new(Trivial::new(t, priors)), t.name(), None),
            _ => (Arc::new(Baseline), "baseline", None),
        }
    };
    match &o.record {
        Some(path) if !replay => {
            let rec = Arc::new(RecordingEngine::create(engine, path)?);
            Ok((Engines::Recording(rec), kind.to_string(), Some(path.display().to_string())))
        }
        Some(_) => Err(EvalError::Usage("--record wraps a live engine; it cannot record a replay".into())),
        None => Ok((Engines::Plain(engine), kind.to_string(), recording)),
    }
}

async fn run_one(app: &Arc<App>, alerts: Vec<Value>) -> Outcome {
    let body = serde_json::json!({ "alerts": &alerts }).to_string();
    let request = RecommendRequest { case_id: None, alerts };
    let who = Identity::local("eval");
    match pipeline::recommend(app, &who, request, &pipeline::body_hash(body.as_bytes()), None).await {
        Ok(response) => match app.store.recommendation_meta(&response.recommendation_id) {
            Ok(Some(meta)) => Outcome {
                raw_output: meta.raw_output,
                latency_ms: meta.latency_ms,
                prompt_tokens: meta.prompt_tokens,
                completion_tokens: meta.completion_tokens,
                response: Some(response),
                error: None,
            },
            Ok(None) => Outcome { response: Some(response), error: Some("the stored recommendation is missing".into()), ..Outcome::default() },
            Err(e) => Outcome { response: Some(response), error: Some(format!("reading the stored recommendation: {e}")), ..Outcome::default() },
        },
        Err(e) => Outcome { error: Some(e.to_string()), ..Outcome::default() },
    }
}

/// Unmatchable gold IDs listed before the run; the rest are counted.
const UNMATCHABLE_SHOWN: usize = 10;

/// Runs a whole eval and writes summary.json, samples.jsonl, report.md and report.html.
pub fn run(settings: &Settings, o: &RunOptions, runtime: &tokio::runtime::Runtime) -> Result<RunOutput, EvalError> {
    let loaded = dataset::load_all(&o.datasets, o.limit)?;
    for bad in loaded.skipped() {
        eprintln!("skipped {}:{}: {}", bad.dataset, bad.line, bad.error);
    }
    if loaded.samples.is_empty() {
        return Err(EvalError::Usage("no valid sample in the datasets".into()));
    }
    let dispatch = quiet_logging();
    let (scratch_settings, _scratch) = scratch_settings(settings)?;
    let priors = Priors::of(&loaded.samples);
    let (engines, kind, recording) = build_engine(settings, o, priors)?;
    let engine: SharedEngine = match &engines {
        Engines::Plain(e) => e.clone(),
        Engines::Recording(r) => r.clone(),
    };
    let app = tracing::dispatcher::with_default(&dispatch, || {
        let bar = progress_bar(0, "indexing", o.progress);
        let app = App::open(&scratch_settings, Some(engine), &|done, total| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        });
        bar.finish_and_clear();
        app
    })?;
    let app = Arc::new(app);
    let unmatchable = dataset::unmatchable_gold(&loaded.samples, &app.catalog);
    for (s, id) in unmatchable.iter().take(UNMATCHABLE_SHOWN) {
        eprintln!("{}:{}: gold technique {id} is not an active technique of the ATT&CK catalog: no engine can match it", s.dataset, s.line);
    }
    if unmatchable.len() > UNMATCHABLE_SHOWN {
        eprintln!("… and {} more gold technique IDs the catalog does not know", unmatchable.len() - UNMATCHABLE_SHOWN);
    }
    let corpus_hash = Corpus::load(settings.corpus_dir.as_deref())?.hash;

    let jobs = o.jobs.unwrap_or(if kind == "llm" { settings.llm.concurrency } else { 1 }).max(1);
    let records = answer_all(&app, &loaded.samples, jobs, "eval", o.progress, &dispatch, runtime);
    let recorded = match &engines {
        Engines::Recording(r) => {
            if r.write_errors() > 0 {
                return Err(EvalError::Engine(format!("{} answers could not be written to {}", r.write_errors(), r.path().display())));
            }
            Some((r.path().to_path_buf(), r.recorded()))
        }
        Engines::Plain(_) => None,
    };

    let scored: Vec<ScoredSample> = records.iter().map(SampleRecord::scored).collect();
    let computed = summary::compute(&scored, o.bootstrap);
    let index = IndexSummary { content_hash: app.index_report.content_hash.clone(), documents: app.index_report.documents, corpus_hash };
    // The index takes a writer lock per open: let go of it before each baseline opens its own.
    drop(app);
    let mut trivial = Vec::new();
    if o.trivial {
        for t in TrivialKind::ALL {
            let (metrics, by_tag) = if kind == t.name() {
                // The engine under test is this baseline: its figures are the run's own.
                (computed.metrics.clone(), computed.by_tag.clone())
            } else {
                let engine: SharedEngine = Arc::new(Trivial::new(t, priors));
                // Same scratch dir: the index is already built and is opened as it is.
                let app = tracing::dispatcher::with_default(&dispatch, || App::open(&scratch_settings, Some(engine), &|_, _| {}))?;
                let records = answer_all(&Arc::new(app), &loaded.samples, 1, t.name(), o.progress, &dispatch, runtime);
                let scored: Vec<ScoredSample> = records.iter().map(SampleRecord::scored).collect();
                let c = summary::compute(&scored, o.bootstrap);
                (c.metrics, c.by_tag)
            };
            trivial.push(TrivialSummary { engine: t.name().to_string(), what: t.what().to_string(), metrics, by_tag });
        }
    }
    let mut engine_summary = EngineSummary { kind, names: BTreeMap::new(), models: BTreeMap::new(), prompt_versions: BTreeMap::new(), recording };
    for r in records.iter().filter_map(|r| r.engine.as_ref()) {
        *engine_summary.names.entry(r.name.clone()).or_default() += 1;
        *engine_summary.models.entry(r.model.clone()).or_default() += 1;
        *engine_summary.prompt_versions.entry(r.prompt_version.clone()).or_default() += 1;
    }
    let summary = Summary {
        triage_version: env!("CARGO_PKG_VERSION").to_string(),
        created_at: crate::store::now(),
        engine: engine_summary,
        datasets: loaded.datasets.clone(),
        index,
        bootstrap: o.bootstrap,
        samples: records.len(),
        severity_unlabelled: loaded.samples.iter().filter(|s| s.gold.severity.is_none()).count(),
        metrics: computed.metrics,
        by_tag: computed.by_tag,
        trivial,
        confusion: computed.confusion,
        by_tactic: computed.by_tactic,
        calibration: computed.calibration,
        latency_ms: computed.latency_ms,
        tokens: computed.tokens,
    };
    write_outputs(&o.out, &summary, &records)?;
    Ok(RunOutput { summary, records, loaded, recorded })
}

/// Every sample through the pipeline, `jobs` at a time, scored; in dataset order.
fn answer_all(
    app: &Arc<App>,
    samples: &[Sample],
    jobs: usize,
    label: &'static str,
    progress: bool,
    dispatch: &tracing::Dispatch,
    runtime: &tokio::runtime::Runtime,
) -> Vec<SampleRecord> {
    let bar = progress_bar(samples.len() as u64, label, progress);
    let outcomes = runtime.block_on(
        async {
            let sem = Arc::new(Semaphore::new(jobs.max(1)));
            let mut set = JoinSet::new();
            let mut outcomes: Vec<Option<Outcome>> = vec![None; samples.len()];
            for (i, s) in samples.iter().enumerate() {
                let Ok(permit) = sem.clone().acquire_owned().await else { break };
                let app = app.clone();
                let alerts = s.alerts.clone();
                set.spawn(
                    async move {
                        let out = run_one(&app, alerts).await;
                        drop(permit);
                        (i, out)
                    }
                    .with_subscriber(dispatch.clone()),
                );
                while let Some(done) = set.try_join_next() {
                    collect(done, &mut outcomes, &bar);
                }
            }
            while let Some(done) = set.join_next().await {
                collect(done, &mut outcomes, &bar);
            }
            outcomes
        }
        .with_subscriber(dispatch.clone()),
    );
    bar.finish_and_clear();
    samples
        .iter()
        .zip(outcomes)
        .map(|(s, out)| {
            record(s, out.unwrap_or_else(|| Outcome { error: Some("the sample's task did not finish".into()), ..Outcome::default() }), &app.catalog)
        })
        .collect()
}

fn collect(done: Result<(usize, Outcome), tokio::task::JoinError>, outcomes: &mut [Option<Outcome>], bar: &ProgressBar) {
    match done {
        Ok((i, out)) => {
            if let Some(slot) = outcomes.get_mut(i) {
                *slot = Some(out);
            }
        }
        Err(e) => tracing::error!(error = %e, "an eval task failed"),
    }
    bar.inc(1);
}

fn record(s: &Sample, out: Outcome, catalog: &Catalog) -> SampleRecord {
    let scores = scorers::score(s, &out, catalog);
    SampleRecord {
        id: s.id.clone(),
        dataset: s.dataset.clone(),
        line: s.line,
        tags: s.tags.clone(),
        source: s.source.clone(),
        license: s.license.clone(),
        alerts: s.alerts.clone(),
        gold: s.gold.clone(),
        status: out.response.as_ref().map(|r| r.status),
        engine: out.response.as_ref().map(|r| r.engine.clone()),
        latency_ms: out.error.is_none().then_some(out.latency_ms),
        prompt_tokens: out.prompt_tokens,
        completion_tokens: out.completion_tokens,
        raw_output: out.raw_output,
        response: out.response,
        error: out.error,
        scores,
    }
}

pub fn write_outputs(dir: &Path, summary: &Summary, records: &[SampleRecord]) -> Result<(), EvalError> {
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| EvalError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let json = serde_json::to_string_pretty(summary)?;
    let p = dir.join("summary.json");
    std::fs::write(&p, format!("{json}\n")).map_err(io(&p))?;
    let mut lines = String::new();
    for r in records {
        lines.push_str(&serde_json::to_string(r)?);
        lines.push('\n');
    }
    let p = dir.join("samples.jsonl");
    std::fs::write(&p, lines).map_err(io(&p))?;
    let p = dir.join("report.md");
    std::fs::write(&p, super::report::markdown(summary, records)).map_err(io(&p))?;
    let p = dir.join("report.html");
    std::fs::write(&p, super::report::html(summary, records)).map_err(io(&p))?;
    Ok(())
}
