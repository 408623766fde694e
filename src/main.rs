//! The `triage` command: parse, set up logging and traces, load settings, dispatch.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use triage::app::{App, imported_path};
use triage::attack::{Catalog, TechniqueId, stix};
use triage::config::Settings;
use triage::corpus::{DocKind, Document, sigma, write_documents};
use triage::pipeline::{self, RecommendRequest};
use triage::store::{Checkpoint, Identity, NewKey, Role, Store};

#[derive(Parser)]
#[command(name = "triage", version, about = "AI-assisted security-alert triage: grounded, checked recommendations that people approve")]
struct Cli {
    #[command(flatten)]
    settings: Settings,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP service
    Serve {
        #[arg(long, env = "TRIAGE_ADDR", default_value = "127.0.0.1:8080")]
        addr: String,
    },
    /// Recommend for one request (a file, or - for stdin); the response JSON goes to stdout
    Recommend { input: String },
    /// (Re)build the retrieval index from the corpus and imported data
    Index,
    /// Corpus imports
    Corpus {
        #[command(subcommand)]
        command: CorpusCommand,
    },
    /// The ATT&CK catalog
    Attack {
        #[command(subcommand)]
        command: AttackCommand,
    },
    /// API keys
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// The audit trail
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Print a case summary as JSON
    Summarize { case_id: String },
    /// The inventory of assets and identities (JSON lines, upserted by entity)
    Inventory {
        #[command(subcommand)]
        command: ImportCommand,
    },
    /// Threat intel: STIX 2.1 bundles of indicators, or CSV type,value,source,confidence,description
    Intel {
        #[command(subcommand)]
        command: ImportCommand,
    },
    /// Change records (JSON lines, upserted by id)
    Changes {
        #[command(subcommand)]
        command: ImportCommand,
    },
    /// Offline evals: run datasets through the pipeline and score them; compare runs; retrieval quality
    Eval(Box<triage::eval::EvalCommand>),
}

#[derive(Subcommand)]
enum CorpusCommand {
    /// Add the Sigma rules found under a folder to the index as sigma:<rule id> documents
    ImportSigma { dir: PathBuf },
}

#[derive(Subcommand)]
enum ImportCommand {
    /// Import a file: all of it, or nothing with every bad line reported (non-zero exit)
    Import { file: PathBuf },
}

#[derive(Subcommand)]
enum AttackCommand {
    /// Load an ATT&CK STIX bundle (MITRE's enterprise-attack.json shape) and index its techniques
    Import {
        bundle: PathBuf,
        /// Also write the facts-only catalog (no description prose) to this file
        #[arg(long)]
        write_catalog: Option<PathBuf>,
    },
    /// Show one technique
    Show { id: String },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key; the key itself is printed on the last line
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// The person or system the key belongs to (default: the key's name); dual control
        /// counts principals, not keys
        #[arg(long)]
        principal: Option<String>,
        /// When the key stops working (RFC 3339, e.g. 2026-12-31T23:59:59Z)
        #[arg(long, value_parser = parse_expiry)]
        expires_at: Option<String>,
    },
    /// List keys with their principal, role and status (never the secrets)
    List,
    /// Revoke a key at once
    Revoke { key_id: String },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the hash chain and reconcile approvals, decisions, actions and case states
    /// with it; exits non-zero at the first broken entry or anything unexplained
    Verify {
        /// A checkpoint from `triage audit checkpoint`: the chain must still extend it
        #[arg(long)]
        checkpoint: Option<PathBuf>,
    },
    /// Print a signed head of the chain (seq, hash, time; Ed25519) to keep elsewhere
    Checkpoint,
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
}

fn parse_expiry(s: &str) -> Result<String, String> {
    triage::http::parse_expiry(s)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let logs = tracing_subscriber::EnvFilter::try_from_env("TRIAGE_LOG").unwrap_or_else(|_| "triage=info,tower_http=warn".into());
    let telemetry = match triage::telemetry::init(cli.settings.otlp_endpoint.as_deref(), logs) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if telemetry.exporting() {
        tracing::info!(endpoint = cli.settings.otlp_endpoint.as_deref().unwrap_or_default(), "traces exported over OTLP/HTTP");
    }
    let code = match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    };
    // The spans still buffered are sent before the process ends.
    drop(telemetry);
    code
}

fn progress_bar(label: &'static str) -> impl Fn(usize, usize) {
    let bar = ProgressBar::new(0);
    bar.set_style(ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len}").unwrap_or_else(|_| ProgressStyle::default_bar()));
    bar.set_message(label);
    move |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
        if done == total {
            bar.finish();
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    let settings = cli.settings;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match cli.command {
        Command::Serve { addr } => runtime.block_on(serve(&settings, &addr))?,
        Command::Recommend { input } => {
            let body = if input == "-" {
                let mut s = String::new();
                std::io::stdin().read_to_string(&mut s)?;
                s
            } else {
                std::fs::read_to_string(&input).with_context(|| format!("reading {input}"))?
            };
            let request: RecommendRequest = serde_json::from_str(&body).context("the request is not a recommend body ({\"alerts\": [...]})")?;
            let app = App::open(&settings, None, &progress_bar("indexing"))?;
            let who = Identity::local("cli");
            let response = runtime.block_on(pipeline::recommend(&app, &who, request, &pipeline::body_hash(body.as_bytes()), None))?;
            println!("{}", serde_json::to_string_pretty(&response)?);
        }
        Command::Index => {
            // An explicit rebuild: forget what the index was built from.
            let _ = std::fs::remove_file(triage::retrieval::manifest_path(&triage::retrieval::index_dir(&settings.data_dir)));
            let app = App::open(&settings, None, &progress_bar("indexing"))?;
            let r = &app.index_report;
            eprintln!("{} documents indexed ({}); content {}", r.documents, if r.rebuilt { "rebuilt" } else { "already up to date" }, &r.content_hash[..12]);
        }
        Command::Corpus { command: CorpusCommand::ImportSigma { dir } } => import_sigma(&settings, &dir)?,
        Command::Attack { command: AttackCommand::Import { bundle, write_catalog } } => import_attack(&settings, &bundle, write_catalog.as_deref())?,
        Command::Attack { command: AttackCommand::Show { id } } => {
            let catalog = Catalog::load(&settings.data_dir)?;
            let tid = TechniqueId::parse_lenient(&id)?;
            let Some(t) = catalog.get(&tid) else { bail!("{tid} is not in the catalog ({})", catalog.source) };
            let mut out = serde_json::to_value(t)?;
            if let Some(by) = catalog.resolve(&tid).filter(|r| r.id != tid) {
                out["replacement"] = serde_json::json!({"technique_id": by.id, "name": by.name});
            }
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        Command::Keys { command: KeysCommand::Create { name, role, principal, expires_at } } => {
            let store = Store::open(&settings.data_dir)?;
            let (who, key) = store.create_key_with(&NewKey { name, role, principal, expires_at: expires_at.clone() }, "cli")?;
            let until = expires_at.map(|e| format!(", expires {e}")).unwrap_or_default();
            println!("created key {} for {} (principal {}) with role {}{until}", who.key_id, who.name, who.principal, who.role);
            println!("{key}");
        }
        Command::Keys { command: KeysCommand::List } => {
            let store = Store::open(&settings.data_dir)?;
            println!("{:<37} {:<8} {:<12} {:<24} {:<24} expires", "key id", "status", "role", "name", "principal");
            for k in store.keys(&triage::store::now())? {
                println!("{:<37} {:<8} {:<12} {:<24} {:<24} {}", k.key_id, k.status, k.role, k.name, k.principal, k.expires_at.as_deref().unwrap_or("-"));
            }
        }
        Command::Keys { command: KeysCommand::Revoke { key_id } } => {
            let store = Store::open(&settings.data_dir)?;
            let k = store.revoke_key(&key_id, "cli", &triage::store::now())?;
            println!("revoked key {} ({}, principal {})", k.key_id, k.name, k.principal);
        }
        Command::Audit { command: AuditCommand::Verify { checkpoint } } => {
            let checkpoint: Option<Checkpoint> = match checkpoint {
                None => None,
                Some(p) => Some(
                    serde_json::from_str(&std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?)
                        .with_context(|| format!("{} is not a checkpoint", p.display()))?,
                ),
            };
            let store = Store::open(&settings.data_dir)?;
            let v = store.verify_full(checkpoint.as_ref())?;
            if let Some(b) = &v.first_broken {
                println!("audit chain broken at entry {}: {}", b.seq, b.reason);
            }
            if let Some(c) = &v.checkpoint {
                println!("checkpoint: {c}");
            }
            for u in &v.unexplained {
                println!("unexplained: {u}");
            }
            if !v.ok() {
                return Ok(ExitCode::FAILURE);
            }
            let against = checkpoint.map(|c| format!(", extends checkpoint at entry {}", c.seq)).unwrap_or_default();
            println!("audit chain intact: {} entries{against}; every approval, decision, action and case state has its entry", v.entries);
        }
        Command::Audit { command: AuditCommand::Checkpoint } => {
            let store = Store::open(&settings.data_dir)?;
            println!("{}", serde_json::to_string_pretty(&store.checkpoint()?)?);
        }
        Command::Eval(cmd) => return Ok(triage::eval::main(&settings, *cmd, &runtime)?),
        Command::Inventory { command: ImportCommand::Import { file } } => return import_enrichment(&settings, "inventory", &file),
        Command::Intel { command: ImportCommand::Import { file } } => return import_enrichment(&settings, "intel", &file),
        Command::Changes { command: ImportCommand::Import { file } } => return import_enrichment(&settings, "changes", &file),
        Command::Summarize { case_id } => {
            let app = App::open(&settings, None, &|_, _| {})?;
            let Some(summary) = runtime.block_on(triage::cases::summary::summarize(&app, &case_id))? else { bail!("case {case_id} not found") };
            println!("{}", serde_json::to_string_pretty(&summary)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn serve(settings: &Settings, addr: &str) -> Result<()> {
    let app = Arc::new(App::open(settings, None, &|_, _| {})?);
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
    tracing::info!(addr = %listener.local_addr()?, engine = app.engine.name(), documents = app.index.len(), "triage listening");
    triage::http::serve(listener, app, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}

/// One enrichment import; exits non-zero, listing every refused line, when the file is refused.
fn import_enrichment(settings: &Settings, kind: &'static str, file: &Path) -> Result<ExitCode> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let store = Store::open(&settings.data_dir)?;
    match triage::http::enrich::import_text(&store, kind, &text, &Identity::local("cli").actor())? {
        Ok(report) => {
            eprintln!("{kind}: {} imported from {}", report.imported, file.display());
            for s in &report.skipped {
                eprintln!("  skipped line {}: {}", s.line, s.reason);
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(refused) => {
            eprintln!("{kind}: {} refused; nothing imported", file.display());
            for l in &refused.lines {
                eprintln!("  line {}: {}", l.line, l.reason);
            }
            Ok(ExitCode::FAILURE)
        }
    }
}

fn import_sigma(settings: &Settings, dir: &Path) -> Result<()> {
    if !dir.is_dir() {
        bail!("{} is not a folder", dir.display());
    }
    let catalog = Catalog::load(&settings.data_dir)?;
    let (docs, report) = sigma::import_dir(dir, &catalog);
    let path = imported_path(&settings.data_dir, "sigma");
    let mut all: Vec<Document> = triage::corpus::read_documents(&path)?;
    all.retain(|d| !docs.iter().any(|n| n.id == d.id));
    all.extend(docs);
    write_documents(&path, &all)?;
    eprintln!("sigma: {} files, {} rules imported, {} skipped, {} duplicate ids", report.files, report.imported, report.skipped.len(), report.duplicates);
    for s in &report.skipped {
        eprintln!("  skipped {}: {}", s.path, s.reason);
    }
    if !report.unknown_techniques.is_empty() {
        eprintln!("  ATT&CK IDs not active in the catalog ({}), kept as tags only:", catalog.source);
        for (id, rules) in &report.unknown_techniques {
            eprintln!("    {id}: {} rule(s)", rules.len());
        }
    }
    let app = App::open(settings, None, &progress_bar("indexing"))?;
    eprintln!("index: {} documents ({} sigma)", app.index.len(), all.iter().filter(|d| d.kind == DocKind::Sigma).count());
    Ok(())
}

fn import_attack(settings: &Settings, bundle: &Path, write_catalog: Option<&Path>) -> Result<()> {
    let text = std::fs::read_to_string(bundle).with_context(|| format!("reading {}", bundle.display()))?;
    let name = bundle.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let imported = stix::import(&text, &format!("ATT&CK STIX bundle {name}"))?;
    let catalog_json = serde_json::to_string_pretty(&imported.catalog)?;
    let catalog_path = Catalog::path_in(&settings.data_dir);
    std::fs::create_dir_all(catalog_path.parent().unwrap_or(Path::new(".")))?;
    std::fs::write(&catalog_path, &catalog_json)?;
    if let Some(out) = write_catalog {
        std::fs::write(out, format!("{catalog_json}\n"))?;
        eprintln!("facts-only catalog written to {}", out.display());
    }
    let docs: Vec<Document> = imported.documents.iter().map(triage::corpus::attack_document).collect();
    write_documents(&imported_path(&settings.data_dir, "attack"), &docs)?;
    let c = &imported.catalog;
    eprintln!(
        "attack: {} techniques ({} active, {} revoked, {} deprecated), {} tactics; {} documents",
        c.techniques.len(),
        c.active_count(),
        c.techniques.values().filter(|t| t.revoked).count(),
        c.techniques.values().filter(|t| t.deprecated && !t.revoked).count(),
        c.tactics.len(),
        docs.len()
    );
    let app = App::open(settings, None, &progress_bar("indexing"))?;
    eprintln!("index: {} documents", app.index.len());
    Ok(())
}
