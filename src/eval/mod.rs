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
//! - [`gate`]: thresholds per metric; a miss exits non-zero
//! - [`compare`]: paired per-sample differences between two runs
//! - [`retrieval`]: recall@k, MRR and nDCG@10 of the retrieval index

pub mod bootstrap;
pub mod compare;
pub mod dataset;
pub mod gate;
pub mod report;
pub mod retrieval;
pub mod run;
pub mod scorers;
pub mod summary;

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
    /// Thresholds per metric (TOML: [min] and [max] tables); a miss exits non-zero
    #[arg(long)]
    pub gate: Option<PathBuf>,
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
            Ok(ExitCode::SUCCESS)
        }
        Some(EvalSubcommand::Gate { run, gate }) => {
            let summary: summary::Summary = {
                let p = run.join("summary.json");
                let text = std::fs::read_to_string(&p).map_err(|source| EvalError::Io { path: p.display().to_string(), source })?;
                serde_json::from_str(&text)?
            };
            Ok(apply_gate(&gate, &summary)?)
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
    };
    let out = run::run(settings, &options, runtime)?;
    print!("{}", report::console(&out.summary));
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
    Ok(match gate {
        Some((path, g)) => report_gate(&path, &g, &out.summary),
        None => ExitCode::SUCCESS,
    })
}

fn apply_gate(path: &std::path::Path, summary: &summary::Summary) -> Result<ExitCode, EvalError> {
    let g = gate::load(path)?;
    Ok(report_gate(&path.display().to_string(), &g, summary))
}

fn report_gate(path: &str, g: &gate::Gate, summary: &summary::Summary) -> ExitCode {
    let checks = gate::check(g, summary);
    println!("gate {path}:");
    print!("{}", gate::table(&checks));
    let failed: Vec<&gate::Check> = checks.iter().filter(|c| !c.passed).collect();
    if failed.is_empty() {
        println!("gate passed ({} thresholds)", checks.len());
        ExitCode::SUCCESS
    } else {
        for c in &failed {
            eprintln!("gate failed: {}", c.message());
        }
        ExitCode::FAILURE
    }
}
