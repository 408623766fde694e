//! The offline eval harness (contract section 9): datasets in, every sample through the same
//! pipeline as `POST /v1/recommend`, per-sample scores with reasons, metrics with seeded
//! bootstrap intervals, reports, gates, paired comparison of runs, and retrieval quality.
//!
//! - [`dataset`]: JSON-lines datasets; bad lines are reported and skipped
//! - [`run`]: runs samples through the pipeline in a scratch data dir, writes the run
//! - [`scorers`]: per-sample scores, reasons and metric contributions
//! - [`bootstrap`]: seeded percentile intervals
//! - [`summary`]: metrics overall and per tag, confusion matrix, tactics, calibration
//! - [`report`]: report.md and report.html (inline SVG, no external assets)
//! - [`trivial`]: engines that need no model and no knowledge, run beside every engine
//! - [`gate`]: thresholds per metric, absolute or above the best trivial baseline; a miss exits non-zero
//! - [`outcomes`]: per-sample outcomes of deterministic engines, for exact gates
//! - [`compare`]: paired per-sample differences between two runs
//! - [`retrieval`]: recall@k, MRR and nDCG@10 of the retrieval index

pub mod bootstrap;
pub mod compare;
pub mod dataset;
pub mod gate;
pub mod outcomes;
pub mod report;
pub mod retrieval;
pub mod run;
pub mod scorers;
pub mod summary;
pub mod trivial;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};

use crate::config::Settings;
use bootstrap::{Bootstrap, DEFAULT_RESAMPLES, DEFAULT_SEED};

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Open(#[from] crate::app::OpenError),
    #[error(transparent)]
    Corpus(#[from] crate::corpus::CorpusError),
    #[error(transparent)]
    Replay(#[from] crate::llm::replay::ReplayError),
    #[error(transparent)]
    Index(#[from] crate::retrieval::IndexError),
    #[error("engine: {0}")]
    Engine(String),
    #[error("gate {path}: {message}")]
    Gate { path: String, message: String },
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// `triage eval …`
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct EvalCommand {
    #[command(subcommand)]
    pub command: Option<EvalSubcommand>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Dataset files (JSON lines, contract section 9); give several after one flag or repeat it
    #[arg(long = "dataset", required = true, num_args = 1..)]
    pub datasets: Vec<PathBuf>,
    /// Where the run's files go (default evals/runs/<timestamp>)
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Thresholds per metric (TOML: [min] and [max], absolute or `best_trivial + margin`) and
    /// exact outcome files per deterministic engine ([exact]); a miss or a changed outcome exits non-zero
    #[arg(long)]
    pub gate: Option<PathBuf>,
    /// Write every sample's outcome (status, severity, techniques, disposition, actions) to
    /// this file, for a gate's [exact] table
    #[arg(long)]
    pub write_outcomes: Option<PathBuf>,
    /// Skip the trivial baselines (constant-high, constant-mode, majority-verdict,
    /// rule-severity, top-document) that otherwise run beside the engine; gates relative to
    /// them then fail
    #[arg(long)]
    pub no_trivial: bool,
    /// Recorded answers to replay (implies --engine replay)
    #[arg(long)]
    pub replay: Option<PathBuf>,
    /// Replay only answers recorded under this prompt version (default: any recorded version)
    #[arg(long, requires = "replay")]
    pub replay_prompt_version: Option<String>,
    /// Record every answer of the live engine to this file, for --replay later
    #[arg(long)]
    pub record: Option<PathBuf>,
    /// Keep only the first N valid samples of each dataset
    #[arg(long)]
    pub limit: Option<usize>,
    /// Samples in flight at once (default: --llm-concurrency for llm, else 1)
    #[arg(long)]
    pub jobs: Option<usize>,
    #[command(flatten)]
    pub bootstrap: BootstrapArgs,
}

#[derive(Debug, Clone, Copy, Args)]
pub struct BootstrapArgs {
    /// Bootstrap resamples for the 95% intervals
    #[arg(long, default_value_t = DEFAULT_RESAMPLES)]
    pub resamples: usize,
    /// Seed of the bootstrap draws
    #[arg(long, default_value_t = DEFAULT_SEED)]
    pub seed: u64,
}

impl From<BootstrapArgs> for Bootstrap {
    fn from(a: BootstrapArgs) -> Bootstrap {
        Bootstrap { resamples: a.resamples, seed: a.seed }
    }
}

#[derive(Debug, Subcommand)]
pub enum EvalSubcommand {
    /// Paired per-sample differences (B − A) of every metric between two runs, with intervals
    Compare {
        run_a: PathBuf,
        run_b: PathBuf,
        #[command(flatten)]
        bootstrap: BootstrapArgs,
    },
    /// Check an existing run's summary.json against a gate file
    Gate {
        run: PathBuf,
        #[arg(long)]
        gate: PathBuf,
    },
    /// Write every closed case as a dataset line, the analyst's verdict as gold, so a SOC's
    /// own history becomes its eval set (contract section 13)
    ExportCases {
        /// The JSON-lines file to write
        #[arg(long)]
        out: PathBuf,
    },
    /// Retrieval quality on a labelled dataset: recall@k, MRR, nDCG@10
    Retrieval {
        /// Retrieval datasets (JSON lines with `alerts` and `relevant`)
        #[arg(long = "dataset", required = true, num_args = 1..)]
        datasets: Vec<PathBuf>,
        /// A folder for retrieval.json, or a file name ending in .json
        #[arg(long)]
        out: Option<PathBuf>,
        /// Which documents are ranked
        #[arg(long, value_enum, default_value = "runbook")]
        kinds: RankedKinds,
        #[command(flatten)]
        bootstrap: BootstrapArgs,
    },
}

/// What the retrieval eval ranks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RankedKinds {
    /// Runbooks only, by BM25 score
    Runbook,
    /// Every kind together (runbooks, cases, Sigma, ATT&CK), by BM25 score
    All,
}

/// Runs `triage eval …`; the exit code is non-zero when a gate misses.
pub fn main(settings: &Settings, cmd: EvalCommand, runtime: &tokio::runtime::Runtime) -> Result<ExitCode, EvalError> {
    match cmd.command {
        Some(EvalSubcommand::Compare { run_a, run_b, bootstrap }) => {
            let c = compare::compare(&run_a, &run_b, bootstrap.into())?;
            print!("{}", compare::table(&c));
            if c.paired == 0 {
                return Err(EvalError::Usage(format!(
                    "{} and {} have no sample in common (same id, same alerts and gold): there is nothing to compare",
                    run_a.display(),
                    run_b.display()
                )));
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(EvalSubcommand::Gate { run, gate }) => {
            let summary: summary::Summary = {
                let p = run.join("summary.json");
                let text = std::fs::read_to_string(&p).map_err(|source| EvalError::Io { path: p.display().to_string(), source })?;
                serde_json::from_str(&text)?
            };
            let g = gate::load(&gate)?;
            let records = read_records(&run)?;
            // A run whose samples file lost lines would compare only what is left, and the
            // missing samples would read as "not in this run" rather than as a broken run.
            if records.len() != summary.samples {
                return Err(EvalError::Usage(format!(
                    "{}: summary.json counts {} samples but samples.jsonl holds {}; the run is incomplete or was edited, run the eval again",
                    run.display(),
                    summary.samples,
                    records.len()
                )));
            }
            Ok(report_gate(&gate.display().to_string(), &g, &summary, &records)?)
        }
        Some(EvalSubcommand::Retrieval { datasets, out, kinds, bootstrap }) => {
            let r = retrieval::run(settings, &datasets, kinds, bootstrap.into(), std::io::stderr().is_terminal())?;
            print!("{}", retrieval::table(&r));
            if let Some(out) = out {
                let path = retrieval::write(&out, &r)?;
                println!("written to {}", path.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(EvalSubcommand::ExportCases { out }) => {
            let store = crate::app::open_store(settings)?;
            let mut text = String::new();
            let mut n = 0;
            for (case, alerts) in store.closed_cases()? {
                let Some(closed) = &case.closed else { continue };
                let values: Vec<serde_json::Value> = alerts.into_iter().map(|a| a.alert).collect();
                text.push_str(&serde_json::to_string(&crate::learning::eval_case(&case.case_id, &values, closed))?);
                text.push('\n');
                n += 1;
            }
            std::fs::write(&out, text).map_err(|source| EvalError::Io { path: out.display().to_string(), source })?;
            println!("{n} closed cases written to {}", out.display());
            Ok(ExitCode::SUCCESS)
        }
        None => run_eval(settings, cmd.run, runtime),
    }
}

fn default_out() -> PathBuf {
    PathBuf::from("evals").join("runs").join(chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string())
}

fn run_eval(settings: &Settings, a: RunArgs, runtime: &tokio::runtime::Runtime) -> Result<ExitCode, EvalError> {
    // Load the gate first: a typo in it should fail before a long run, not after.
    let gate = match &a.gate {
        Some(p) => Some((p.display().to_string(), gate::load(p)?)),
        None => None,
    };
    let options = run::RunOptions {
        datasets: a.datasets,
        engine: settings.engine,
        replay: a.replay,
        replay_prompt_version: a.replay_prompt_version,
        record: a.record,
        out: a.out.unwrap_or_else(default_out),
        limit: a.limit,
        jobs: a.jobs,
        bootstrap: a.bootstrap.into(),
        progress: std::io::stderr().is_terminal(),
        trivial: !a.no_trivial,
    };
    let out = run::run(settings, &options, runtime)?;
    print!("{}", report::console(&out.summary));
    if out.summary.severity_unlabelled > 0 {
        println!("{} sample(s) have no gold severity: the severity metrics skip them", out.summary.severity_unlabelled);
    }
    if let Some((path, n)) = &out.recorded {
        println!("recorded {n} answers to {}", path.display());
    }
    let degraded = out.records.iter().filter(|r| r.engine.as_ref().is_some_and(|e| e.degraded)).count();
    if degraded > 0 {
        println!("{degraded} sample(s) were answered by the baseline because the configured engine was unavailable (degraded_rate)");
    }
    let errors = out.records.iter().filter(|r| r.error.is_some()).count();
    if errors > 0 {
        println!("{errors} sample(s) could not be answered; see `error` in samples.jsonl");
    }
    println!("run written to {}", options.out.display());
    // The gate reads the outcome file as it was before this run: writing it is how a change
    // is accepted, and the next run checks against it.
    let code = match gate {
        Some((path, g)) => report_gate(&path, &g, &out.summary, &out.records)?,
        None => ExitCode::SUCCESS,
    };
    if let Some(path) = &a.write_outcomes {
        let n = outcomes::write(path, &out.records)?;
        println!("{n} sample outcomes written to {}", path.display());
    }
    Ok(code)
}

fn read_records(dir: &std::path::Path) -> Result<Vec<run::SampleRecord>, EvalError> {
    let path = dir.join("samples.jsonl");
    let text = std::fs::read_to_string(&path).map_err(|source| EvalError::Io { path: path.display().to_string(), source })?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| EvalError::Usage(format!("{}:{}: {e}", path.display(), i + 1))))
        .collect()
}

fn report_gate(path: &str, g: &gate::Gate, summary: &summary::Summary, records: &[run::SampleRecord]) -> Result<ExitCode, EvalError> {
    let checks = gate::check(g, summary);
    println!("gate {path}:");
    print!("{}", gate::table(&checks));
    let mut failures: Vec<String> = checks.iter().filter(|c| c.fails()).map(gate::Check::message).collect();
    let known = checks.iter().filter(|c| c.shortfall && !c.passed).count();
    if known > 0 {
        println!("  {known} line(s) missed that the gate lists as known shortfalls of {}", summary.engine.kind);
    }
    let engine = summary.engine.kind.as_str();
    match g.exact.get(engine) {
        Some(file) if file.is_file() => {
            let recorded = outcomes::read(file)?;
            let exact = outcomes::compare(&file.display().to_string(), &recorded, records);
            print!("{}", outcomes::table(&exact));
            if !exact.passed() {
                failures.push(format!(
                    "{} sample outcome(s) differ from {}; if the change is intended, write the file again with --write-outcomes {} and commit it with the change",
                    exact.changes.len(),
                    file.display(),
                    file.display()
                ));
            }
        }
        Some(file) => {
            println!("  FAIL exact outcomes {}: the file does not exist", file.display());
            failures.push(format!("{} does not exist: write it with --write-outcomes {}", file.display(), file.display()));
        }
        None if trivial::TrivialKind::is_deterministic(engine) => println!("  (no outcome file for {engine} in this gate: thresholds only)"),
        None => println!("  ({engine} is not deterministic: thresholds only)"),
    }
    if failures.is_empty() {
        println!("gate passed ({} thresholds{})", checks.len(), if g.exact.contains_key(engine) { ", exact outcomes" } else { "" });
        Ok(ExitCode::SUCCESS)
    } else {
        for f in &failures {
            eprintln!("gate failed: {f}");
        }
        Ok(ExitCode::FAILURE)
    }
}
