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
use triage::config::{Settings, SettingsArgs};
use triage::corpus::{DocKind, Document, sigma, write_documents};
use triage::pipeline::{self, RecommendRequest};
use triage::store::{Checkpoint, Identity, NewKey, Role, Store};

// A request allocates thousands of small, short-lived values (JSON, alert fields, query
// terms, candidates); under glibc's malloc a fifth of a recommendation's CPU went to the
// allocator, much of it consolidating freed chunks.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(
    name = "triage",
    version,
    about = "AI-assisted security-alert triage: grounded, checked recommendations that people approve",
    after_help = "Every setting can also come from a TOML config file (--config, else triage.toml in the data dir; every key is in triage.example.toml). \
                  Layers: file < environment < flags. Secrets are read from files (--*-key-file) or the environment, never from flags; \
                  `triage config check` prints the effective settings with secrets masked."
)]
struct Cli {
    #[command(flatten)]
    settings: SettingsArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP service (on `--addr`, default 127.0.0.1:8080)
    Serve,
    /// The config file
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
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
enum ConfigCommand {
    /// Check the config file (`--config <file>`, else triage.toml in the data dir) and print
    /// the effective settings (file < environment < flags), every secret masked
    Check,
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
    /// Show one ATT&CK object by ID: a technique (with its detection strategies, analytics and
    /// how much software uses it), software (S…, with its techniques), a detection strategy
    /// (DET…), an analytic (AN…), a data component (DC…), a group (G…) or a campaign (C…)
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
    if !matches!(cli.command, Command::Serve) {
        end_quietly_when_stdout_closes();
    }
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

/// A command piped into `head` (`triage audit export | head`) ends when its reader does, as
/// Unix tools do, instead of panicking on the closed pipe: Rust starts with SIGPIPE ignored,
/// so `println!` meets the error. The server keeps ignoring it (a client that hangs up is
/// that socket's error only); the sockets of other commands are written with
/// `MSG_NOSIGNAL` and are not affected either way.
fn end_quietly_when_stdout_closes() {
    #[cfg(unix)]
    // SAFETY: `signal` with SIG_DFL installs no handler; it only restores the default.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
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
    // A mistake in the config file stops every command here, naming the file and line.
    let settings = cli.settings.resolve()?;
    // Store calls and retrieval run on the blocking pool (`App::blocking`). They queue on one
    // SQLite connection and a few cores, so more threads than a few per core add no
    // throughput under overload, only memory (a stack, a malloc arena and regex caches each).
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let runtime = tokio::runtime::Builder::new_multi_thread().max_blocking_threads((cores * 4).max(8)).enable_all().build()?;
    match cli.command {
        Command::Serve => runtime.block_on(serve(&settings))?,
        Command::Config { command: ConfigCommand::Check } => config_check(&settings),
        Command::Recommend { input } => {
            let body = if input == "-" {
                let mut s = String::new();
                std::io::stdin().read_to_string(&mut s)?;
                s
            } else {
                std::fs::read_to_string(&input).with_context(|| format!("reading {input}"))?
            };
            let request: RecommendRequest = serde_json::from_str(&body).context("the request is not a recommend body ({\"alerts\": [...]})")?;
            let app = std::sync::Arc::new(App::open(&settings, None, &progress_bar("indexing"))?);
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
            println!("{}", serde_json::to_string_pretty(&show_attack(&catalog, &id)?)?);
        }
        Command::Keys { command: KeysCommand::Create { name, role, principal, expires_at } } => {
            let store = open_store(&settings)?;
            let new = NewKey::checked(&name, role, principal.as_deref(), expires_at.clone()).map_err(anyhow::Error::msg)?;
            let (who, key) = store.create_key_with(&new, "cli")?;
            let until = expires_at.map(|e| format!(", expires {e}")).unwrap_or_default();
            println!("created key {} for {} (principal {}) with role {}{until}", who.key_id, who.name, who.principal, who.role);
            println!("{key}");
        }
        Command::Keys { command: KeysCommand::List } => {
            let store = open_store(&settings)?;
            println!("{:<37} {:<8} {:<12} {:<24} {:<24} expires", "key id", "status", "role", "name", "principal");
            for k in store.keys(&triage::store::now())? {
                println!("{:<37} {:<8} {:<12} {:<24} {:<24} {}", k.key_id, k.status, k.role, k.name, k.principal, k.expires_at.as_deref().unwrap_or("-"));
            }
        }
        Command::Keys { command: KeysCommand::Revoke { key_id } } => {
            let store = open_store(&settings)?;
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
            let store = open_store(&settings)?;
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
            let store = open_store(&settings)?;
            println!("{}", serde_json::to_string_pretty(&store.checkpoint()?)?);
        }
        Command::Eval(cmd) => return Ok(triage::eval::main(&settings, *cmd, &runtime)?),
        Command::Inventory { command: ImportCommand::Import { file } } => return import_enrichment(&settings, "inventory", &file),
        Command::Intel { command: ImportCommand::Import { file } } => return import_enrichment(&settings, "intel", &file),
        Command::Changes { command: ImportCommand::Import { file } } => return import_enrichment(&settings, "changes", &file),
        Command::Summarize { case_id } => {
            let app = std::sync::Arc::new(App::open(&settings, None, &|_, _| {})?);
            let Some(summary) = runtime.block_on(triage::cases::summary::summarize(&app, &case_id))? else { bail!("case {case_id} not found") };
            println!("{}", serde_json::to_string_pretty(&summary)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn serve(settings: &Settings) -> Result<()> {
    let app = Arc::new(App::open(settings, None, &|_, _| {})?);
    let addr = &settings.http.addr;
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
    tracing::info!(addr = %listener.local_addr()?, engine = app.engine.name(), documents = app.index.len(), "triage listening");
    triage::http::serve(listener, app, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}

/// `triage config check`: the file is valid (else `run` has already refused it); print the
/// effective settings, secrets masked, and where each secret came from.
fn config_check(settings: &Settings) {
    match &settings.config_file {
        Some(p) => println!("# {}: valid", p.display()),
        None => println!("# no config file (neither --config nor {} in the data dir): defaults and environment", triage::config::DEFAULT_FILE_NAME),
    }
    println!("# effective settings (file < environment < flags); secrets are masked");
    for (name, source) in settings.secret_sources() {
        println!("# {name}: set, from {source}");
    }
    print!("{}", settings.to_toml());
}

/// One enrichment import; exits non-zero, listing every refused line, when the file is refused.
fn import_enrichment(settings: &Settings, kind: &'static str, file: &Path) -> Result<ExitCode> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let store = open_store(settings)?;
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
    let imported = stix::import(&text, &name)?;
    // The data dir keeps techniques and relations in one file; the repository two.
    let catalog_path = Catalog::path_in(&settings.data_dir);
    std::fs::create_dir_all(catalog_path.parent().unwrap_or(Path::new(".")))?;
    std::fs::write(&catalog_path, serde_json::to_string(&imported.catalog)?)?;
    if let Some(out) = write_catalog {
        let mut shipped = imported.catalog.techniques_only();
        shipped.source = format!("{}, facts only", shipped.source);
        std::fs::write(out, format!("{}\n", serde_json::to_string_pretty(&shipped)?))?;
        let relations_out = relations_path(out);
        std::fs::write(&relations_out, imported.catalog.relations().to_json_lines(&shipped.source))?;
        eprintln!("facts-only catalog written to {} and {}", out.display(), relations_out.display());
    }
    let docs: Vec<Document> = triage::corpus::attack::documents(&imported);
    write_documents(&imported_path(&settings.data_dir, "attack"), &docs)?;
    let c = &imported.catalog;
    let r = c.relations();
    eprintln!(
        "attack: {} techniques ({} active, {} revoked, {} deprecated), {} tactics; {} software, {} detection strategies, {} analytics, {} data components, {} groups, {} campaigns; {} documents",
        c.techniques.len(),
        c.active_count(),
        c.techniques.values().filter(|t| t.revoked).count(),
        c.techniques.values().filter(|t| t.deprecated && !t.revoked).count(),
        c.tactics.len(),
        r.software.len(),
        r.detection_strategies.len(),
        r.analytics.len(),
        r.data_components.len(),
        r.groups.len(),
        r.campaigns.len(),
        docs.len()
    );
    let app = App::open(settings, None, &progress_bar("indexing"))?;
    eprintln!("index: {} documents", app.index.len());
    Ok(())
}

/// The facts `triage attack show` prints for an ID.
fn show_attack(catalog: &Catalog, id: &str) -> Result<serde_json::Value> {
    use serde_json::json;
    use triage::attack::AttackObject;
    let lenient = TechniqueId::parse_lenient(id).map(|t| t.to_string()).unwrap_or_else(|_| id.trim().to_ascii_uppercase());
    let Some(object) = catalog.object(&lenient) else { bail!("{lenient} is not in the catalog ({})", catalog.source) };
    let techniques = |ids: &[TechniqueId]| -> serde_json::Value {
        ids.iter().map(|t| json!({"technique_id": t, "name": catalog.get(t).map(|x| x.name.as_str()).unwrap_or_default()})).collect()
    };
    let analytic = |a: &triage::attack::Analytic| {
        json!({
            "id": a.id, "platforms": a.platforms, "strategy": a.strategy,
            "log_sources": a.log_sources.iter().map(|l| json!({"name": l.name, "channel": l.channel, "data_component": l.data_component})).collect::<Vec<_>>(),
        })
    };
    let mut out = match object {
        AttackObject::Technique(t) => {
            let mut out = serde_json::to_value(t)?;
            if let Some(by) = catalog.resolve(&t.id).filter(|r| r.id != t.id) {
                out["replacement"] = json!({"technique_id": by.id, "name": by.name});
            }
            out["software_count"] = json!(catalog.software_using(&t.id).len());
            out["detection_strategies"] = catalog.detection_strategies_for(&t.id).iter().map(|d| json!({"id": d.id, "name": d.name})).collect();
            out["analytics"] = catalog.analytics_for(&t.id).into_iter().map(analytic).collect();
            out
        }
        AttackObject::Software(s) => {
            let mut out = serde_json::to_value(s)?;
            out["techniques"] = techniques(&s.techniques);
            out
        }
        AttackObject::DetectionStrategy(d) => {
            let mut out = serde_json::to_value(d)?;
            out["techniques"] = techniques(&d.techniques);
            out["analytics"] = d.analytics.iter().filter_map(|a| catalog.analytic(a)).map(analytic).collect();
            out
        }
        AttackObject::Analytic(a) => {
            let mut out = analytic(a);
            out["name"] = json!(a.name);
            out["techniques"] = techniques(catalog.analytic_techniques(a));
            out
        }
        AttackObject::DataComponent(dc) => {
            let mut out = serde_json::to_value(dc)?;
            out["log_sources"] = dc.log_sources.iter().map(|l| json!({"name": l.name, "channel": l.channel})).collect();
            out["techniques"] =
                catalog.techniques_by_data_component(&dc.id).iter().map(|s| json!({"technique_id": s.technique, "analytics": s.analytics.len()})).collect();
            out
        }
        AttackObject::Group(g) => {
            let mut out = serde_json::to_value(g)?;
            out["techniques"] = techniques(&g.techniques);
            out
        }
        AttackObject::Campaign(c) => {
            let mut out = serde_json::to_value(c)?;
            out["techniques"] = techniques(&c.techniques);
            out
        }
        AttackObject::Tactic(t) => serde_json::to_value(t)?,
    };
    if let Some(kind) = triage::attack::ObjectKind::of_id(&lenient) {
        out["kind"] = json!(kind.as_str());
    }
    Ok(out)
}

/// `catalog/attack.json` → `catalog/attack-relations.json`.
fn relations_path(catalog: &Path) -> PathBuf {
    let stem = catalog.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_else(|| "attack".into());
    catalog.with_file_name(format!("{stem}-relations.json"))
}

/// The store the settings name, with the configured audit key.
fn open_store(settings: &Settings) -> Result<Store> {
    Ok(triage::app::open_store(settings)?)
}
