//! Settings, in three layers: a TOML config file < the environment (`TRIAGE_*`) < flags.
//!
//! - The file is `--config <file>` (`TRIAGE_CONFIG`), else `triage.toml` in the data dir
//!   when there is one. Every table refuses unknown keys, and a mistake is refused at start
//!   with its line: `triage.toml line 7: unknown field `widnow``. Relative paths in the file
//!   are read from the file's folder. `triage.example.toml` documents every key.
//! - Flags and environment variables are read by clap ([`SettingsArgs`]); whatever they
//!   leave unset comes from the file, then from the defaults here.
//! - Secrets (the LLM API key, the fingerprint key, the audit key) come from files
//!   (`api_key_file = "…"`, `--llm-api-key-file`) or the environment, never from a flag
//!   (a flag shows in the process list) nor from the config file's own text. They are
//!   [`Secret`]s: `Debug`, `Display` and `Serialize` print `***`.
//!
//! The stream's windows, pivots and SLAs are in the operator policy file (`policy`), not
//! here.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, ValueEnum};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use toml::Spanned;

/// The config file looked for in the data dir when `--config` is not given.
pub const DEFAULT_FILE_NAME: &str = "triage.toml";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EngineKind {
    Baseline,
    Llm,
    /// Recorded answers; `triage eval` only (with `--replay <recording>`).
    Replay,
    /// Trivial baseline, `triage eval` only: severity high for every alert.
    ConstantHigh,
    /// Trivial baseline, `triage eval` only: the dataset's most common gold severity.
    ConstantMode,
    /// Trivial baseline, `triage eval` only: the dataset's most common gold disposition.
    MajorityVerdict,
    /// Trivial baseline, `triage eval` only: the alert's rule severity and ATT&CK tags.
    RuleSeverity,
    /// Trivial baseline, `triage eval` only: the top retrieved document's techniques.
    TopDocument,
}

/// How the model is asked for structured output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResponseFormatKind {
    /// `response_format: json_schema` with `strict: true` (the default).
    JsonSchema,
    /// `response_format: json_object`, for endpoints without structured outputs; the schema
    /// is then given in the system message and enforced by validation only.
    JsonObject,
}

// ---------------------------------------------------------------------------------------
// Secrets

/// A secret setting. Its `Debug`, `Display` and `Serialize` print `***`; only
/// [`Secret::expose`] gives the value, where it is used.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    value: String,
    /// Where it came from (`TRIAGE_LLM_API_KEY`, `file /run/secrets/openai`), never the value.
    source: String,
}

impl Secret {
    pub fn new(value: impl Into<String>, source: impl Into<String>) -> Secret {
        Secret { value: value.into(), source: source.into() }
    }

    pub fn expose(&self) -> &str {
        &self.value
    }

    /// Where the secret was read from.
    pub fn source(&self) -> &str {
        &self.source
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("***")
    }
}

// ---------------------------------------------------------------------------------------
// The effective settings

/// The effective settings: every layer applied, every secret read, every value checked.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// Where the SQLite file, the index and imported data live.
    pub data_dir: PathBuf,
    /// A corpus folder (runbooks/, cases/) instead of the one built into the binary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub corpus_dir: Option<PathBuf>,
    /// An action catalog instead of the shipped catalog/actions.toml.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actions_policy: Option<PathBuf>,
    /// An operator policy (environments, the stream's windows, SLAs) instead of the shipped
    /// catalog/policy.toml.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<PathBuf>,
    pub engine: EngineKind,
    /// An offline MaxMind-format database for the country of public IPs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub geoip_db: Option<PathBuf>,
    /// Approvals expire after this long.
    #[serde(serialize_with = "ser_duration")]
    pub approval_ttl: Duration,
    /// How long a repeat with an Idempotency-Key waits for the first request's answer; a
    /// claim older than this is taken over.
    #[serde(serialize_with = "ser_duration")]
    pub idempotency_wait: Duration,
    /// The key secrets are fingerprinted under; without one, a key file in the data dir.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint_key: Option<Secret>,
    /// The config file the settings were read from, if any.
    #[serde(skip)]
    pub config_file: Option<PathBuf>,
    /// PostgreSQL instead of SQLite in the data dir, when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<DatabaseSettings>,
    pub http: HttpSettings,
    pub audit: AuditSettings,
    pub retrieval: RetrievalSettings,
    pub llm: LlmSettings,
}

/// A PostgreSQL database that replicas share (contract section 15).
#[derive(Debug, Clone, Serialize)]
pub struct DatabaseSettings {
    /// `postgres://user@host:port/dbname`, never with a password in it.
    pub url: String,
    /// The password, when the URL's server asks for one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
}

/// What `triage serve` grants a client: how long it may take to send a request, how much
/// it may send and how many connections it may hold. Slow or half-open clients must not
/// pin the service.
#[derive(Debug, Clone, Serialize)]
pub struct HttpSettings {
    /// Where `triage serve` listens.
    pub addr: String,
    /// Longest wait for a request's headers (and for the next request on an idle connection).
    #[serde(serialize_with = "ser_duration")]
    pub header_timeout: Duration,
    /// Longest wait for a whole JSON body (408 after).
    #[serde(serialize_with = "ser_duration")]
    pub body_timeout: Duration,
    /// Connections served at once; further ones wait in the listen queue.
    pub max_connections: usize,
    /// The largest JSON body of any route but the two below (413 above).
    #[serde(serialize_with = "ser_size")]
    pub max_body: usize,
    /// The largest `POST /v1/alerts` body.
    #[serde(serialize_with = "ser_size")]
    pub max_stream_body: usize,
    /// The largest import over HTTP (`POST /v1/inventory`, `/v1/intel`, `/v1/changes`).
    #[serde(serialize_with = "ser_size")]
    pub max_import_body: usize,
}

impl HttpSettings {
    /// The largest body the route at `path` takes.
    pub fn body_limit_for(&self, path: &str) -> usize {
        match path {
            "/v1/alerts" => self.max_stream_body,
            "/v1/inventory" | "/v1/intel" | "/v1/changes" => self.max_import_body,
            _ => self.max_body,
        }
    }
}

/// The audit chain's key and its background check.
#[derive(Debug, Clone, Serialize)]
pub struct AuditSettings {
    /// The HMAC key of the chain; without one, `audit.key` in the data dir. Replicas on one
    /// database must share it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<Secret>,
    /// How often new audit entries are verified in the background (`/readyz` reports it).
    #[serde(serialize_with = "ser_duration")]
    pub check_interval: Duration,
    /// How often the background check starts again from the first entry.
    #[serde(serialize_with = "ser_duration")]
    pub full_check_interval: Duration,
}

/// How many documents of each kind a request retrieves.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct RetrievalSettings {
    pub runbooks: usize,
    pub cases: usize,
    pub sigma: usize,
    pub attack: usize,
}

impl RetrievalSettings {
    pub fn limits(&self) -> crate::retrieval::Limits {
        crate::retrieval::Limits { runbooks: self.runbooks, cases: self.cases, sigma: self.sigma, attack: self.attack }
    }
}

/// The OpenAI-compatible engine (`engine = "llm"`).
#[derive(Debug, Clone, Serialize)]
pub struct LlmSettings {
    /// Base URL of an OpenAI-compatible API.
    pub base_url: String,
    /// Model name sent with each request.
    pub model: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key: Option<Secret>,
    /// Timeout of one provider call.
    #[serde(serialize_with = "ser_duration")]
    pub timeout: Duration,
    /// Budget for all calls of one recommendation, retries and repair included.
    #[serde(serialize_with = "ser_duration")]
    pub total_timeout: Duration,
    /// Retries after a 429, a 5xx or a timeout.
    pub max_retries: u32,
    /// Longest Retry-After honoured.
    #[serde(serialize_with = "ser_duration")]
    pub max_retry_after: Duration,
    /// Provider calls in flight at once.
    pub concurrency: usize,
    /// Largest provider answer read; a bigger one is refused and the baseline answers.
    #[serde(serialize_with = "ser_size")]
    pub max_answer_bytes: usize,
    pub response_format: ResponseFormatKind,
    /// Upper bound on the prompt, in characters; longer prompts are trimmed deterministically.
    pub max_prompt_chars: usize,
    /// `max_tokens` of each answer.
    pub max_tokens: u32,
    /// Consecutive failed recommendations that open the circuit breaker.
    pub breaker_threshold: u32,
    /// How long an open breaker sends requests straight to the baseline.
    #[serde(serialize_with = "ser_duration")]
    pub breaker_cooldown: Duration,
}

impl LlmSettings {
    /// The API key, from whichever source gave it.
    pub fn resolved_api_key(&self) -> Option<String> {
        self.api_key.as_ref().map(|k| k.expose().to_string())
    }
}

impl Settings {
    /// The effective settings as TOML, every secret masked: what `triage config check` prints.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_else(|e| format!("# the settings could not be written as TOML: {e}\n"))
    }

    /// Each secret that is set, with where it came from (never its value).
    pub fn secret_sources(&self) -> Vec<(&'static str, &str)> {
        let mut out = Vec::new();
        if let Some(s) = &self.llm.api_key {
            out.push(("llm.api_key", s.source()));
        }
        if let Some(s) = &self.fingerprint_key {
            out.push(("fingerprint_key", s.source()));
        }
        if let Some(s) = &self.audit.key {
            out.push(("audit.key", s.source()));
        }
        if let Some(s) = self.database.as_ref().and_then(|d| d.password.as_ref()) {
            out.push(("database.password", s.source()));
        }
        out
    }
}

// ---------------------------------------------------------------------------------------
// Flags and environment (clap)

/// Every setting as a flag and an environment variable. Unset ones fall through to the
/// config file, then to the defaults; see [`SettingsArgs::resolve`].
#[derive(Debug, Clone, Default, Args)]
pub struct SettingsArgs {
    /// A TOML config file [default: triage.toml in the data dir, when present]; see triage.example.toml
    #[arg(long, env = "TRIAGE_CONFIG", global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where the SQLite file, the index and imported data live [default: ./data]
    #[arg(long, env = "TRIAGE_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// A corpus folder (runbooks/, cases/) instead of the one built into the binary
    #[arg(long, env = "TRIAGE_CORPUS_DIR", global = true)]
    pub corpus_dir: Option<PathBuf>,
    /// An action catalog (TOML) instead of the shipped catalog/actions.toml
    #[arg(long, env = "TRIAGE_ACTIONS_POLICY", global = true)]
    pub actions_policy: Option<PathBuf>,
    /// An operator policy (TOML: environments, the stream's windows, SLAs) instead of the shipped catalog/policy.toml
    #[arg(long, env = "TRIAGE_POLICY", global = true)]
    pub policy: Option<PathBuf>,
    /// Which engine recommends [default: baseline]
    #[arg(long, env = "TRIAGE_ENGINE", value_enum, global = true)]
    pub engine: Option<EngineKind>,
    /// Approvals expire after this many seconds [default: 14400]
    #[arg(long, env = "TRIAGE_APPROVAL_TTL_SECS", value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub approval_ttl_secs: Option<u64>,
    /// How long a repeat with an Idempotency-Key waits for the first answer, in milliseconds [default: the LLM's total timeout + 30 s]
    #[arg(long, env = "TRIAGE_IDEMPOTENCY_WAIT_MS", value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub idempotency_wait_ms: Option<u64>,
    /// An offline MaxMind-format database (GeoLite2 Country or City, or an ip-location-db
    /// build) for the country of public IPs; without one, geo is said to be unavailable
    #[arg(long, env = "TRIAGE_GEOIP_DB", global = true)]
    pub geoip_db: Option<PathBuf>,
    /// A file holding the key secrets are fingerprinted under (at least 16 characters; or the
    /// value in TRIAGE_FINGERPRINT_KEY); default: a key file created in the data dir.
    /// Replicas on one database must share it
    #[arg(long, env = "TRIAGE_FINGERPRINT_KEY_FILE", global = true, value_name = "FILE")]
    pub fingerprint_key_file: Option<PathBuf>,
    /// An OTLP/HTTP receiver for traces (e.g. http://127.0.0.1:4318; /v1/traces is added);
    /// without one, no spans leave the process
    #[arg(long, env = "TRIAGE_OTLP_ENDPOINT", global = true)]
    pub otlp_endpoint: Option<String>,
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub http: HttpArgs,
    #[command(flatten)]
    pub audit: AuditArgs,
    #[command(flatten)]
    pub retrieval: RetrievalArgs,
    #[command(flatten)]
    pub llm: LlmArgs,
}

#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Database")]
pub struct DatabaseArgs {
    /// PostgreSQL instead of SQLite in the data dir, so that replicas share one store:
    /// postgres://USER@HOST:PORT/DBNAME, without a password (a flag shows in the process
    /// list). TRIAGE_DATABASE_URL may hold one; else --database-password-file or PGPASSWORD
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,
    /// A file holding the PostgreSQL password
    #[arg(long, env = "TRIAGE_DATABASE_PASSWORD_FILE", global = true, value_name = "FILE")]
    pub database_password_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "HTTP (triage serve)")]
pub struct HttpArgs {
    /// Where `triage serve` listens [default: 127.0.0.1:8080]
    #[arg(long, env = "TRIAGE_ADDR", global = true)]
    pub addr: Option<String>,
    /// Longest wait for a request's headers (and for the next request on an idle connection), in milliseconds [default: 10000]
    #[arg(long = "http-header-timeout-ms", env = "TRIAGE_HTTP_HEADER_TIMEOUT_MS", value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub header_timeout_ms: Option<u64>,
    /// Longest wait for a whole request body, in milliseconds (408 after) [default: 30000]
    #[arg(long = "http-body-timeout-ms", env = "TRIAGE_HTTP_BODY_TIMEOUT_MS", value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub body_timeout_ms: Option<u64>,
    /// Connections served at once; further ones wait in the listen queue [default: 1024]
    #[arg(long = "http-max-connections", env = "TRIAGE_HTTP_MAX_CONNECTIONS", value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub max_connections: Option<u64>,
    /// The largest JSON body, in bytes (413 above) [default: 1048576]
    #[arg(long = "http-max-body-bytes", env = "TRIAGE_HTTP_MAX_BODY_BYTES", value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub max_body_bytes: Option<u64>,
    /// The largest `POST /v1/alerts` body, in bytes [default: 4194304]
    #[arg(long = "http-max-stream-body-bytes", env = "TRIAGE_HTTP_MAX_STREAM_BODY_BYTES", value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub max_stream_body_bytes: Option<u64>,
    /// The largest import over HTTP, in bytes [default: 67108864]
    #[arg(long = "http-max-import-body-bytes", env = "TRIAGE_HTTP_MAX_IMPORT_BODY_BYTES", value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub max_import_body_bytes: Option<u64>,
}

#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Audit")]
pub struct AuditArgs {
    /// A file holding the audit chain's HMAC key (or the value in TRIAGE_AUDIT_KEY); default: audit.key in the data dir
    #[arg(long, env = "TRIAGE_AUDIT_KEY_FILE", global = true, value_name = "FILE")]
    pub audit_key_file: Option<PathBuf>,
    /// Seconds between background checks of new audit entries (`/readyz` reports the last) [default: 10]
    #[arg(long = "audit-check-interval-secs", env = "TRIAGE_AUDIT_CHECK_INTERVAL_SECS", value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub check_interval_secs: Option<u64>,
    /// Hours between full re-checks of the audit chain from its first entry [default: 24]
    #[arg(long = "audit-full-check-hours", env = "TRIAGE_AUDIT_FULL_CHECK_HOURS", value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub full_check_hours: Option<u64>,
}

#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Retrieval")]
pub struct RetrievalArgs {
    /// Runbooks retrieved per request [default: 3]
    #[arg(long = "retrieval-runbooks", env = "TRIAGE_RETRIEVAL_RUNBOOKS", global = true)]
    pub runbooks: Option<usize>,
    /// Prior cases retrieved per request [default: 5]
    #[arg(long = "retrieval-cases", env = "TRIAGE_RETRIEVAL_CASES", global = true)]
    pub cases: Option<usize>,
    /// Sigma rules retrieved per request [default: 3]
    #[arg(long = "retrieval-sigma", env = "TRIAGE_RETRIEVAL_SIGMA", global = true)]
    pub sigma: Option<usize>,
    /// ATT&CK techniques retrieved per request [default: 3]
    #[arg(long = "retrieval-attack", env = "TRIAGE_RETRIEVAL_ATTACK", global = true)]
    pub attack: Option<usize>,
}

#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "LLM (engine llm)")]
pub struct LlmArgs {
    /// Base URL of an OpenAI-compatible API, e.g. http://127.0.0.1:8080/v1 [default: https://api.openai.com/v1]
    #[arg(long = "llm-base-url", env = "TRIAGE_LLM_BASE_URL", global = true)]
    pub base_url: Option<String>,
    /// Model name sent with each request [default: gpt-4o-mini]
    #[arg(long = "llm-model", env = "TRIAGE_LLM_MODEL", global = true)]
    pub model: Option<String>,
    /// A file holding the API key; else TRIAGE_LLM_API_KEY, else OPENAI_API_KEY (a key is never a flag)
    #[arg(long = "llm-api-key-file", env = "TRIAGE_LLM_API_KEY_FILE", global = true, value_name = "FILE")]
    pub api_key_file: Option<PathBuf>,
    /// Timeout of one provider call, in milliseconds [default: 30000]
    #[arg(long = "llm-timeout-ms", env = "TRIAGE_LLM_TIMEOUT_MS", value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub timeout_ms: Option<u64>,
    /// Budget for all calls of one recommendation (retries and repair included), in milliseconds [default: 90000]
    #[arg(long = "llm-total-timeout-ms", env = "TRIAGE_LLM_TOTAL_TIMEOUT_MS", value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub total_timeout_ms: Option<u64>,
    /// Retries after a 429, a 5xx or a timeout [default: 2]
    #[arg(long = "llm-max-retries", env = "TRIAGE_LLM_MAX_RETRIES", global = true)]
    pub max_retries: Option<u32>,
    /// Longest Retry-After honoured, in milliseconds [default: 10000]
    #[arg(long = "llm-max-retry-after-ms", env = "TRIAGE_LLM_MAX_RETRY_AFTER_MS", global = true)]
    pub max_retry_after_ms: Option<u64>,
    /// Provider calls in flight at once [default: 4]
    #[arg(long = "llm-concurrency", env = "TRIAGE_LLM_CONCURRENCY", value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub concurrency: Option<u64>,
    /// Largest provider answer read, in bytes; a bigger one is refused and the baseline answers [default: 1048576]
    #[arg(long = "llm-max-answer-bytes", env = "TRIAGE_LLM_MAX_ANSWER_BYTES", value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub max_answer_bytes: Option<u64>,
    /// Structured-output mode [default: json-schema]
    #[arg(long = "llm-response-format", env = "TRIAGE_LLM_RESPONSE_FORMAT", value_enum, global = true)]
    pub response_format: Option<ResponseFormatKind>,
    /// Upper bound on the prompt, in characters; longer prompts are trimmed deterministically [default: 24000]
    #[arg(long = "llm-max-prompt-chars", env = "TRIAGE_LLM_MAX_PROMPT_CHARS", value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub max_prompt_chars: Option<u64>,
    /// max_tokens of each answer (above the schema's worst case) [default: 6000]
    #[arg(long = "llm-max-tokens", env = "TRIAGE_LLM_MAX_TOKENS", value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub max_tokens: Option<u32>,
    /// Consecutive failed recommendations that open the circuit breaker [default: 5]
    #[arg(long = "llm-breaker-threshold", env = "TRIAGE_LLM_BREAKER_THRESHOLD", global = true)]
    pub breaker_threshold: Option<u32>,
    /// How long an open breaker sends requests straight to the baseline, in milliseconds [default: 30000]
    #[arg(long = "llm-breaker-cooldown-ms", env = "TRIAGE_LLM_BREAKER_COOLDOWN_MS", global = true)]
    pub breaker_cooldown_ms: Option<u64>,
}

// ---------------------------------------------------------------------------------------
// The config file

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    data_dir: Option<Spanned<PathBuf>>,
    corpus_dir: Option<Spanned<PathBuf>>,
    actions_policy: Option<Spanned<PathBuf>>,
    policy: Option<Spanned<PathBuf>>,
    engine: Option<EngineKind>,
    geoip_db: Option<Spanned<PathBuf>>,
    #[serde(default, deserialize_with = "de_duration")]
    approval_ttl: Option<Duration>,
    #[serde(default, deserialize_with = "de_duration")]
    idempotency_wait: Option<Duration>,
    fingerprint_key_file: Option<Spanned<PathBuf>>,
    /// Refused with a pointer to `fingerprint_key_file`: a secret is not written here.
    fingerprint_key: Option<Spanned<toml::Value>>,
    #[serde(default)]
    database: FileDatabase,
    #[serde(default)]
    http: FileHttp,
    #[serde(default)]
    audit: FileAudit,
    #[serde(default)]
    retrieval: FileRetrieval,
    #[serde(default)]
    llm: FileLlm,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDatabase {
    url: Option<Spanned<String>>,
    password_file: Option<Spanned<PathBuf>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileHttp {
    addr: Option<String>,
    #[serde(default, deserialize_with = "de_duration")]
    header_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "de_duration")]
    body_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "de_positive")]
    max_connections: Option<usize>,
    #[serde(default, deserialize_with = "de_size")]
    max_body: Option<usize>,
    #[serde(default, deserialize_with = "de_size")]
    max_stream_body: Option<usize>,
    #[serde(default, deserialize_with = "de_size")]
    max_import_body: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileAudit {
    key_file: Option<Spanned<PathBuf>>,
    /// Refused with a pointer to `key_file`.
    key: Option<Spanned<toml::Value>>,
    #[serde(default, deserialize_with = "de_duration")]
    check_interval: Option<Duration>,
    #[serde(default, deserialize_with = "de_duration")]
    full_check_interval: Option<Duration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRetrieval {
    runbooks: Option<usize>,
    cases: Option<usize>,
    sigma: Option<usize>,
    attack: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLlm {
    base_url: Option<String>,
    model: Option<String>,
    api_key_file: Option<Spanned<PathBuf>>,
    /// Refused with a pointer to `api_key_file`.
    api_key: Option<Spanned<toml::Value>>,
    #[serde(default, deserialize_with = "de_duration")]
    timeout: Option<Duration>,
    #[serde(default, deserialize_with = "de_duration")]
    total_timeout: Option<Duration>,
    max_retries: Option<u32>,
    #[serde(default, deserialize_with = "de_duration")]
    max_retry_after: Option<Duration>,
    #[serde(default, deserialize_with = "de_positive")]
    concurrency: Option<usize>,
    #[serde(default, deserialize_with = "de_size")]
    max_answer_bytes: Option<usize>,
    response_format: Option<ResponseFormatKind>,
    #[serde(default, deserialize_with = "de_positive")]
    max_prompt_chars: Option<usize>,
    max_tokens: Option<u32>,
    breaker_threshold: Option<u32>,
    #[serde(default, deserialize_with = "de_duration")]
    breaker_cooldown: Option<Duration>,
}

/// Why the settings were refused. Mistakes in the config file name its path and line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path} line {line}: {message}\n{line:>5} | {text}")]
    File { path: String, line: usize, message: String, text: String },
    #[error("{0}")]
    Invalid(String),
}

/// The text of the config file and where it is, for naming the line of a mistake.
struct Source<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Source<'_> {
    fn error(&self, span: Option<Range<usize>>, message: impl Into<String>) -> ConfigError {
        let (line, text) = self.line_of(span);
        ConfigError::File { path: self.path.display().to_string(), line, message: message.into(), text }
    }

    /// An error on a line that holds a secret: the line is named, never shown.
    fn error_hiding_line(&self, span: Option<Range<usize>>, message: impl Into<String>) -> ConfigError {
        let (line, text) = self.line_of(span);
        let key = text.split('=').next().unwrap_or_default().trim_end();
        ConfigError::File { path: self.path.display().to_string(), line, message: message.into(), text: format!("{key} = ***") }
    }

    fn line_of(&self, span: Option<Range<usize>>) -> (usize, String) {
        let start = span.map(|s| s.start).unwrap_or(0).min(self.text.len());
        let line = self.text[..start].matches('\n').count() + 1;
        (line, self.text.lines().nth(line - 1).unwrap_or_default().trim_end().to_string())
    }

    /// A path in the file, read from the file's folder when relative.
    fn path(&self, p: &Spanned<PathBuf>) -> PathBuf {
        let value = p.get_ref();
        if value.is_absolute() { value.clone() } else { self.path.parent().unwrap_or(Path::new(".")).join(value) }
    }
}

fn parse_file(source: &Source) -> Result<FileSettings, ConfigError> {
    let file: FileSettings = toml::from_str(source.text).map_err(|e| source.error(e.span(), e.message().trim_end()))?;
    let inline = [
        (&file.fingerprint_key, "fingerprint_key", "fingerprint_key_file", "TRIAGE_FINGERPRINT_KEY"),
        (&file.audit.key, "audit.key", "key_file", "TRIAGE_AUDIT_KEY"),
        (&file.llm.api_key, "llm.api_key", "api_key_file", "TRIAGE_LLM_API_KEY"),
    ];
    for (value, name, instead, env) in inline {
        if let Some(v) = value {
            return Err(source.error_hiding_line(
                Some(v.span()),
                format!("`{name}`: a secret is not written in the config file; name a file that holds it with `{instead}`, or set {env}"),
            ));
        }
    }
    if let Some(url) = &file.database.url {
        match split_database_url(url.get_ref()) {
            Err(e) => return Err(source.error_hiding_line(Some(url.span()), format!("`database.url`: {e}"))),
            Ok((_, Some(_))) => {
                return Err(source.error_hiding_line(
                    Some(url.span()),
                    "`database.url`: a password is not written in the config file; name a file that holds it with `password_file`, or set PGPASSWORD",
                ));
            }
            Ok(_) => {}
        }
    }
    Ok(file)
}

// ---------------------------------------------------------------------------------------
// Resolution

impl SettingsArgs {
    /// The effective settings: these flags and environment variables over the config file
    /// over the defaults, with secrets read from the process environment.
    pub fn resolve(&self) -> Result<Settings, ConfigError> {
        self.resolve_with(&|name| std::env::var(name).ok())
    }

    /// [`SettingsArgs::resolve`] with the environment given (for the secret variables,
    /// which clap does not read).
    pub fn resolve_with(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        let var = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let default_dir = self.data_dir.clone().unwrap_or_else(|| PathBuf::from("./data"));
        let config_path = match &self.config {
            Some(p) => Some(p.clone()),
            None => Some(default_dir.join(DEFAULT_FILE_NAME)).filter(|p| p.is_file()),
        };
        let text = match &config_path {
            Some(p) => std::fs::read_to_string(p).map_err(|source| ConfigError::Read { path: p.display().to_string(), source })?,
            None => String::new(),
        };
        let no_file = PathBuf::new();
        let source = Source { path: config_path.as_deref().unwrap_or(&no_file), text: &text };
        let file = if config_path.is_some() { parse_file(&source)? } else { FileSettings::default() };

        // A path that comes from the file must be there, so the mistake is named with its line.
        let file_path = |p: &Option<Spanned<PathBuf>>, key: &str| -> Result<Option<PathBuf>, ConfigError> {
            let Some(p) = p else { return Ok(None) };
            let path = source.path(p);
            if !path.exists() {
                return Err(source.error(Some(p.span()), format!("`{key}`: {} does not exist", path.display())));
            }
            Ok(Some(path))
        };
        let flag_or_file = |flag: &Option<PathBuf>, p: &Option<Spanned<PathBuf>>, key: &str| -> Result<Option<PathBuf>, ConfigError> {
            match flag {
                Some(f) => Ok(Some(f.clone())),
                None => file_path(p, key),
            }
        };

        let ms = Duration::from_millis;
        let secs = Duration::from_secs;
        let llm_total_timeout = self.llm.total_timeout_ms.map(ms).or(file.llm.total_timeout).unwrap_or(secs(90));
        let settings = Settings {
            data_dir: match &self.data_dir {
                Some(d) => d.clone(),
                None => file.data_dir.as_ref().map(|d| source.path(d)).unwrap_or(default_dir),
            },
            corpus_dir: flag_or_file(&self.corpus_dir, &file.corpus_dir, "corpus_dir")?,
            actions_policy: flag_or_file(&self.actions_policy, &file.actions_policy, "actions_policy")?,
            policy: flag_or_file(&self.policy, &file.policy, "policy")?,
            engine: self.engine.or(file.engine).unwrap_or(EngineKind::Baseline),
            geoip_db: flag_or_file(&self.geoip_db, &file.geoip_db, "geoip_db")?,
            approval_ttl: self.approval_ttl_secs.map(secs).or(file.approval_ttl).unwrap_or(secs(4 * 3600)),
            idempotency_wait: self.idempotency_wait_ms.map(ms).or(file.idempotency_wait).unwrap_or(llm_total_timeout + secs(30)),
            fingerprint_key: secret(
                &source,
                &self.fingerprint_key_file,
                "--fingerprint-key-file",
                var("TRIAGE_FINGERPRINT_KEY").map(|v| Secret::new(v, "TRIAGE_FINGERPRINT_KEY")),
                &file.fingerprint_key_file,
                "fingerprint_key_file",
            )?,
            config_file: config_path.clone(),
            database: database(&source, &self.database, &file.database, &var)?,
            http: HttpSettings {
                addr: self.http.addr.clone().or(file.http.addr).unwrap_or_else(|| "127.0.0.1:8080".into()),
                header_timeout: self.http.header_timeout_ms.map(ms).or(file.http.header_timeout).unwrap_or(secs(10)),
                body_timeout: self.http.body_timeout_ms.map(ms).or(file.http.body_timeout).unwrap_or(secs(30)),
                max_connections: self.http.max_connections.map(to_usize).or(file.http.max_connections).unwrap_or(1024),
                max_body: self.http.max_body_bytes.map(to_usize).or(file.http.max_body).unwrap_or(MIB),
                max_stream_body: self.http.max_stream_body_bytes.map(to_usize).or(file.http.max_stream_body).unwrap_or(4 * MIB),
                max_import_body: self.http.max_import_body_bytes.map(to_usize).or(file.http.max_import_body).unwrap_or(64 * MIB),
            },
            audit: AuditSettings {
                key: secret(
                    &source,
                    &self.audit.audit_key_file,
                    "--audit-key-file",
                    var("TRIAGE_AUDIT_KEY").map(|v| Secret::new(v, "TRIAGE_AUDIT_KEY")),
                    &file.audit.key_file,
                    "audit.key_file",
                )?,
                check_interval: self.audit.check_interval_secs.map(secs).or(file.audit.check_interval).unwrap_or(secs(10)),
                full_check_interval: self
                    .audit
                    .full_check_hours
                    .map(|h| secs(h.saturating_mul(3600)))
                    .or(file.audit.full_check_interval)
                    .unwrap_or(secs(24 * 3600)),
            },
            retrieval: RetrievalSettings {
                runbooks: self.retrieval.runbooks.or(file.retrieval.runbooks).unwrap_or(3),
                cases: self.retrieval.cases.or(file.retrieval.cases).unwrap_or(5),
                sigma: self.retrieval.sigma.or(file.retrieval.sigma).unwrap_or(3),
                attack: self.retrieval.attack.or(file.retrieval.attack).unwrap_or(3),
            },
            llm: LlmSettings {
                base_url: self.llm.base_url.clone().or(file.llm.base_url).unwrap_or_else(|| "https://api.openai.com/v1".into()),
                model: self.llm.model.clone().or(file.llm.model).unwrap_or_else(|| "gpt-4o-mini".into()),
                api_key: secret(
                    &source,
                    &self.llm.api_key_file,
                    "--llm-api-key-file",
                    var("TRIAGE_LLM_API_KEY")
                        .map(|v| Secret::new(v, "TRIAGE_LLM_API_KEY"))
                        .or_else(|| var("OPENAI_API_KEY").map(|v| Secret::new(v, "OPENAI_API_KEY"))),
                    &file.llm.api_key_file,
                    "llm.api_key_file",
                )?,
                timeout: self.llm.timeout_ms.map(ms).or(file.llm.timeout).unwrap_or(secs(30)),
                total_timeout: llm_total_timeout,
                max_retries: self.llm.max_retries.or(file.llm.max_retries).unwrap_or(2),
                max_retry_after: self.llm.max_retry_after_ms.map(ms).or(file.llm.max_retry_after).unwrap_or(secs(10)),
                concurrency: self.llm.concurrency.map(to_usize).or(file.llm.concurrency).unwrap_or(4),
                max_answer_bytes: self.llm.max_answer_bytes.map(to_usize).or(file.llm.max_answer_bytes).unwrap_or(MIB),
                response_format: self.llm.response_format.or(file.llm.response_format).unwrap_or(ResponseFormatKind::JsonSchema),
                max_prompt_chars: self.llm.max_prompt_chars.map(to_usize).or(file.llm.max_prompt_chars).unwrap_or(24_000),
                max_tokens: self.llm.max_tokens.or(file.llm.max_tokens).unwrap_or(6_000),
                breaker_threshold: self.llm.breaker_threshold.or(file.llm.breaker_threshold).unwrap_or(5),
                breaker_cooldown: self.llm.breaker_cooldown_ms.map(ms).or(file.llm.breaker_cooldown).unwrap_or(secs(30)),
            },
        };
        if settings.database.is_some() && settings.audit.key.is_none() {
            return Err(ConfigError::Invalid(
                "PostgreSQL is configured but no audit key is: replicas share one audit chain and must hash it under one key, so set TRIAGE_AUDIT_KEY or --audit-key-file (`[audit] key_file`), the same on every replica".into(),
            ));
        }
        if let Some(k) = &settings.fingerprint_key
            && k.expose().chars().count() < 16
        {
            return Err(ConfigError::Invalid(format!("the fingerprint key from {} is shorter than 16 characters", k.source())));
        }
        Ok(settings)
    }
}

const MIB: usize = 1024 * 1024;

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// A secret from, in order: a file named by a flag or its `*_FILE` variable, the value in
/// an environment variable, a file named in the config file.
fn secret(
    source: &Source,
    flag_file: &Option<PathBuf>,
    flag: &str,
    from_env: Option<Secret>,
    file_key: &Option<Spanned<PathBuf>>,
    key: &str,
) -> Result<Option<Secret>, ConfigError> {
    if let Some(path) = flag_file {
        return read_secret(path).map(Some).map_err(|m| ConfigError::Invalid(format!("{flag} {}: {m}", path.display())));
    }
    if from_env.is_some() {
        return Ok(from_env);
    }
    match file_key {
        None => Ok(None),
        Some(p) => {
            let path = source.path(p);
            read_secret(&path).map(Some).map_err(|m| source.error(Some(p.span()), format!("`{key}`: {}: {m}", path.display())))
        }
    }
}

/// The database, from the flag, else `TRIAGE_DATABASE_URL`, else the config file. Only the
/// environment may carry a password in the URL: a flag shows in the process list, and the
/// config file holds no secrets. The password is kept apart from the URL, which is shown.
fn database(source: &Source, args: &DatabaseArgs, file: &FileDatabase, var: &dyn Fn(&str) -> Option<String>) -> Result<Option<DatabaseSettings>, ConfigError> {
    let invalid = |from: &str, e: String| ConfigError::Invalid(format!("{from}: {e}"));
    let (url, in_url) = if let Some(flag) = &args.database_url {
        match split_database_url(flag).map_err(|e| invalid("--database-url", e))? {
            (_, Some(_)) => {
                return Err(ConfigError::Invalid(
                    "--database-url holds a password, which a flag shows in the process list: leave it out of the URL and name a file that holds it with --database-password-file, or set PGPASSWORD (or the whole URL in TRIAGE_DATABASE_URL)".into(),
                ));
            }
            (url, None) => (url, None),
        }
    } else if let Some(env) = var("TRIAGE_DATABASE_URL") {
        let (url, password) = split_database_url(env.trim()).map_err(|e| invalid("TRIAGE_DATABASE_URL", e))?;
        (url, password.map(|p| Secret::new(p, "TRIAGE_DATABASE_URL")))
    } else if let Some(url) = &file.url {
        // Checked when the file was read: no password in it.
        (split_database_url(url.get_ref()).map_err(|e| invalid("database.url", e))?.0, None)
    } else {
        if args.database_password_file.is_some() || file.password_file.is_some() {
            return Err(ConfigError::Invalid(
                "a database password file is set, but no database URL (--database-url, TRIAGE_DATABASE_URL, `[database] url`)".into(),
            ));
        }
        return Ok(None);
    };
    let from_env = in_url.or_else(|| var("PGPASSWORD").map(|p| Secret::new(p, "PGPASSWORD")));
    let password = secret(source, &args.database_password_file, "--database-password-file", from_env, &file.password_file, "database.password_file")?;
    Ok(Some(DatabaseSettings { url, password }))
}

/// A `postgres://` URL without its password, and the password it held (percent-decoded).
pub fn split_database_url(url: &str) -> Result<(String, Option<String>), String> {
    let Some(rest) = url.strip_prefix("postgres://").or_else(|| url.strip_prefix("postgresql://")) else {
        return Err("a PostgreSQL URL starts with postgres:// (postgres://USER@HOST:PORT/DBNAME)".into());
    };
    let scheme = &url[..url.len() - rest.len()];
    let config: tokio_postgres::Config = url.parse().map_err(|e| format!("not a PostgreSQL URL ({e})"))?;
    let password = config.get_password().map(|p| String::from_utf8_lossy(p).into_owned());
    let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => format!("{}@{hosts}", userinfo.split(':').next().unwrap_or_default()),
        None => authority.to_string(),
    };
    let (path, query) = tail.split_once('?').unwrap_or((tail, ""));
    let query: Vec<&str> = query.split('&').filter(|p| !p.is_empty() && !p.starts_with("password=")).collect();
    let query = if query.is_empty() { String::new() } else { format!("?{}", query.join("&")) };
    Ok((format!("{scheme}{authority}{path}{query}"), password))
}

/// The secret a file holds, surrounding whitespace trimmed.
fn read_secret(path: &Path) -> Result<Secret, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let value = text.trim();
    if value.is_empty() {
        return Err("the file is empty".into());
    }
    Ok(Secret::new(value, format!("file {}", path.display())))
}

// ---------------------------------------------------------------------------------------
// Durations and sizes as the file writes them

/// `"250ms"`, `"30s"`, `"10m"`, `"4h"`, `"2d"`, or combinations (`"1h30m"`); more than zero.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n.checked_mul(60)?),
            "h" => Duration::from_secs(n.checked_mul(3600)?),
            "d" => Duration::from_secs(n.checked_mul(86_400)?),
            _ => return None,
        };
        total = total.checked_add(unit)?;
        rest = &rest[unit_len..];
    }
    (total > Duration::ZERO).then_some(total)
}

/// A duration as [`parse_duration`] reads it, in its largest whole units.
pub fn format_duration(d: Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [("d", 86_400_000u128), ("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)] {
        if ms >= size {
            out.push_str(&format!("{}{unit}", ms / size));
            ms %= size;
        }
    }
    out
}

/// A size in bytes: a number, or `"512KiB"`, `"4MiB"`, `"1GiB"`, `"100B"`; more than zero.
pub fn parse_size(text: &str) -> Option<usize> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let n: usize = t[..digits].parse().ok()?;
    let unit = match t[digits..].trim() {
        "" | "B" => 1,
        "KiB" => 1024,
        "MiB" => MIB,
        "GiB" => 1024 * MIB,
        _ => return None,
    };
    n.checked_mul(unit).filter(|n| *n > 0)
}

fn format_size(n: usize) -> String {
    for (unit, size) in [("GiB", 1024 * MIB), ("MiB", MIB), ("KiB", 1024)] {
        if n >= size && n.is_multiple_of(size) {
            return format!("{}{unit}", n / size);
        }
    }
    format!("{n}B")
}

fn ser_duration<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_duration(*d))
}

fn ser_size<S: Serializer>(n: &usize, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_size(*n))
}

fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(d)?;
    parse_duration(&text)
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom(format!("`{text}` is not a duration like \"250ms\", \"30s\", \"10m\", \"4h\" or \"2d\" (more than zero)")))
}

#[derive(Deserialize)]
#[serde(untagged)]
enum SizeValue {
    Bytes(u64),
    Text(String),
}

fn de_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    let parsed = match SizeValue::deserialize(d)? {
        SizeValue::Bytes(n) => Some(to_usize(n)).filter(|n| *n > 0).ok_or_else(|| "0".to_string()),
        SizeValue::Text(t) => parse_size(&t).ok_or(t),
    };
    parsed.map(Some).map_err(|t| serde::de::Error::custom(format!("`{t}` is not a size like 1048576, \"512KiB\" or \"4MiB\" (more than zero)")))
}

fn de_positive<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    let n = u64::deserialize(d)?;
    if n == 0 {
        return Err(serde::de::Error::custom("must be at least 1"));
    }
    Ok(Some(to_usize(n)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(args: SettingsArgs, file: Option<&str>) -> Result<Settings, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let mut args = args;
        if let Some(text) = file {
            let path = dir.path().join("t.toml");
            std::fs::write(&path, text).unwrap();
            args.config = Some(path);
        }
        args.data_dir.get_or_insert(dir.path().join("data"));
        args.resolve_with(&|_| None)
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let s = resolve(SettingsArgs::default(), None).unwrap();
        assert_eq!(s.engine, EngineKind::Baseline);
        assert_eq!(s.approval_ttl, Duration::from_secs(4 * 3600));
        assert_eq!(s.idempotency_wait, Duration::from_secs(120));
        assert_eq!((s.http.header_timeout, s.http.body_timeout, s.http.max_connections), (Duration::from_secs(10), Duration::from_secs(30), 1024));
        assert_eq!((s.http.max_body, s.http.max_stream_body, s.http.max_import_body), (MIB, 4 * MIB, 64 * MIB));
        assert_eq!(s.http.body_limit_for("/v1/alerts"), 4 * MIB);
        assert_eq!(s.http.body_limit_for("/v1/recommend"), MIB);
        assert_eq!((s.retrieval.runbooks, s.retrieval.cases), (3, 5));
        assert_eq!((s.llm.timeout, s.llm.concurrency, s.llm.max_retries), (Duration::from_secs(30), 4, 2));
        assert!(s.llm.api_key.is_none() && s.fingerprint_key.is_none() && s.audit.key.is_none());
    }

    #[test]
    fn the_file_sets_and_flags_override() {
        let text = "approval_ttl = \"2h\"\n[http]\nmax_connections = 7\nmax_body = \"2MiB\"\n[llm]\ntimeout = \"1500ms\"\nmodel = \"m\"\n";
        let s = resolve(SettingsArgs::default(), Some(text)).unwrap();
        assert_eq!((s.approval_ttl, s.http.max_connections, s.http.max_body), (Duration::from_secs(7200), 7, 2 * MIB));
        assert_eq!((s.llm.timeout, s.llm.model.as_str()), (Duration::from_millis(1500), "m"));
        let mut args = SettingsArgs::default();
        args.http.max_connections = Some(9);
        args.llm.timeout_ms = Some(250);
        let s = resolve(args, Some(text)).unwrap();
        assert_eq!((s.http.max_connections, s.llm.timeout), (9, Duration::from_millis(250)));
    }

    #[test]
    fn mistakes_name_their_line() {
        let e = resolve(SettingsArgs::default(), Some("engine = \"baseline\"\n\n[http]\nwidnow = \"6h\"\n")).unwrap_err().to_string();
        assert!(e.contains("line 4") && e.contains("unknown field `widnow`"), "{e}");
        let e = resolve(SettingsArgs::default(), Some("[llm]\ntimeout = \"soon\"\n")).unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("soon"), "{e}");
        let e = resolve(SettingsArgs::default(), Some("[http]\nmax_connections = 0\n")).unwrap_err().to_string();
        assert!(e.contains("line 2"), "{e}");
        let e = resolve(SettingsArgs::default(), Some("\n[llm]\napi_key = \"sk-live-123\"\n")).unwrap_err().to_string();
        assert!(e.contains("line 3") && e.contains("api_key_file") && !e.contains("sk-live-123"), "{e}");
        let e = resolve(SettingsArgs::default(), Some("[llm]\napi_key_file = \"/nonexistent/key\"\n")).unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("api_key_file") && e.contains("/nonexistent/key"), "{e}");
    }

    #[test]
    fn secrets_are_masked_everywhere() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key");
        std::fs::write(&key, "sk-very-secret-value\n").unwrap();
        let config = dir.path().join("t.toml");
        std::fs::write(&config, "[llm]\napi_key_file = \"key\"\n").unwrap();
        let args = SettingsArgs { config: Some(config), data_dir: Some(dir.path().join("data")), ..Default::default() };
        let s = args.resolve_with(&|_| None).unwrap();
        assert_eq!(s.llm.resolved_api_key().as_deref(), Some("sk-very-secret-value"));
        for shown in [format!("{s:?}"), s.to_toml(), format!("{}", s.llm.api_key.as_ref().unwrap())] {
            assert!(!shown.contains("sk-very-secret-value"), "{shown}");
            assert!(shown.contains("***"), "{shown}");
        }
        // The environment's value beats the file's.
        let s = args.resolve_with(&|k| (k == "TRIAGE_LLM_API_KEY").then(|| "from-env".to_string())).unwrap();
        assert_eq!(s.llm.resolved_api_key().as_deref(), Some("from-env"));
    }

    #[test]
    fn database_passwords_stay_out_of_flags_files_and_output() {
        let (url, password) = split_database_url("postgres://triage:s%40cret@db:5432/triage?application_name=t").unwrap();
        assert_eq!((url.as_str(), password.as_deref()), ("postgres://triage@db:5432/triage?application_name=t", Some("s@cret")));
        let (url, password) = split_database_url("postgresql://triage@db/triage?password=x&sslmode=disable").unwrap();
        assert_eq!((url.as_str(), password.as_deref()), ("postgresql://triage@db/triage?sslmode=disable", Some("x")));
        assert!(split_database_url("mysql://db/triage").is_err());

        let flag = |url: &str| SettingsArgs { database: DatabaseArgs { database_url: Some(url.into()), database_password_file: None }, ..Default::default() };
        let key = |name: &str| match name {
            "TRIAGE_AUDIT_KEY" => Some("shared-audit-key".to_string()),
            "PGPASSWORD" => Some("from-pgpassword".to_string()),
            _ => None,
        };
        let e = resolve_env(flag("postgres://triage:hunter2@db/triage"), &key).unwrap_err().to_string();
        assert!(e.contains("--database-url") && !e.contains("hunter2"), "{e}");
        let s = resolve_env(flag("postgres://triage@db/triage"), &key).unwrap();
        let db = s.database.as_ref().unwrap();
        assert_eq!((db.url.as_str(), db.password.as_ref().map(|p| p.expose())), ("postgres://triage@db/triage", Some("from-pgpassword")));
        assert!(!s.to_toml().contains("from-pgpassword"), "{}", s.to_toml());

        // The environment's URL may carry the password; it is shown without it.
        let env = |name: &str| match name {
            "TRIAGE_DATABASE_URL" => Some("postgres://triage:hunter2@db/triage".to_string()),
            "TRIAGE_AUDIT_KEY" => Some("shared-audit-key".to_string()),
            _ => None,
        };
        let s = resolve_env(SettingsArgs::default(), &env).unwrap();
        assert!(s.to_toml().contains("url = \"postgres://triage@db/triage\"") && !s.to_toml().contains("hunter2"), "{}", s.to_toml());
        assert!(s.secret_sources().contains(&("database.password", "TRIAGE_DATABASE_URL")));

        // Without a shared audit key, replicas would each hash the chain their own way.
        let no_key = |name: &str| if name == "TRIAGE_DATABASE_URL" { Some("postgres://triage@db/triage".to_string()) } else { None };
        let e = resolve_env(SettingsArgs::default(), &no_key).unwrap_err().to_string();
        assert!(e.contains("audit key"), "{e}");

        // The config file holds no password, not even inside the URL.
        let e = resolve(SettingsArgs::default(), Some("[database]\nurl = \"postgres://triage:hunter2@db/triage\"\n")).unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("password_file") && !e.contains("hunter2"), "{e}");
    }

    fn resolve_env(mut args: SettingsArgs, env: &dyn Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        args.data_dir.get_or_insert(dir.path().join("data"));
        args.resolve_with(env)
    }

    #[test]
    fn durations_and_sizes() {
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        for bad in ["", "6", "h", "0s", "1x", "-1s", "1.5s"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
        for d in [Duration::from_millis(1500), Duration::from_secs(4 * 3600), Duration::from_secs(90)] {
            assert_eq!(parse_duration(&format_duration(d)), Some(d));
        }
        assert_eq!(parse_size("4MiB"), Some(4 * MIB));
        assert_eq!(parse_size("100"), Some(100));
        assert_eq!(parse_size("0"), None);
        assert_eq!(parse_size("4MB"), None);
        assert_eq!(format_size(64 * MIB), "64MiB");
    }

    /// `(table, key)` of every key line of the example, commented out (`# key = …`) or not.
    fn example_keys(text: &str) -> Vec<(String, String)> {
        let mut table = String::new();
        let mut out = Vec::new();
        for line in text.lines() {
            let line = line.strip_prefix("# ").unwrap_or(line).trim();
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                table = name.to_string();
            } else if let Some((key, _)) = line.split_once(" = ")
                && !key.is_empty()
                && key.chars().all(|c| c.is_ascii_lowercase() || c == '_')
            {
                out.push((table.clone(), key.to_string()));
            }
        }
        out
    }

    #[test]
    fn the_example_file_is_valid_and_names_every_key() {
        let text = include_str!("../triage.example.toml");
        let dir = tempfile::tempdir().unwrap();
        // As shipped, it is a valid file that changes nothing.
        let path = dir.path().join("example.toml");
        std::fs::write(&path, text).unwrap();
        let args = SettingsArgs { config: Some(path.clone()), data_dir: Some(dir.path().join("data")), ..Default::default() };
        let shipped = args.resolve_with(&|_| None).unwrap();
        let defaults = SettingsArgs { config: None, ..args }.resolve_with(&|_| None).unwrap();
        assert_eq!(shipped.to_toml(), defaults.to_toml(), "the example's values are the defaults");
        // Every key it names, commented out or not, is a key of the file.
        let keys = example_keys(text);
        let mut uncommented = String::new();
        let mut table = String::new();
        for (t, k) in &keys {
            if *t != table {
                uncommented.push_str(&format!("[{t}]\n"));
                table = t.clone();
            }
            let value = match k.as_str() {
                "engine" => "\"baseline\"".to_string(),
                "url" => "\"postgres://triage@db/triage\"".to_string(),
                "response_format" => "\"json-schema\"".to_string(),
                k if k.ends_with("timeout")
                    || k.ends_with("interval")
                    || k.ends_with("ttl")
                    || k.ends_with("wait")
                    || k.ends_with("cooldown")
                    || k.ends_with("after") =>
                {
                    "\"1s\"".to_string()
                }
                k if k.starts_with("max_") || ["runbooks", "cases", "sigma", "attack", "concurrency", "breaker_threshold"].contains(&k) => "1".to_string(),
                _ => "\"x\"".to_string(),
            };
            uncommented.push_str(&format!("{k} = {value}\n"));
        }
        parse_file(&Source { path: &path, text: &uncommented }).unwrap_or_else(|e| panic!("{e}\n{uncommented}"));
        // It names every key the effective settings have, and every file-only one.
        let effective: toml::Table = toml::from_str(&defaults.to_toml()).unwrap();
        let mut want: Vec<(String, String)> = Vec::new();
        for (key, value) in &effective {
            match value.as_table() {
                Some(t) => want.extend(t.keys().map(|k| (key.clone(), k.clone()))),
                None => want.push((String::new(), key.clone())),
            }
        }
        for (t, k) in [
            ("", "corpus_dir"),
            ("", "actions_policy"),
            ("", "policy"),
            ("", "geoip_db"),
            ("", "fingerprint_key_file"),
            ("llm", "api_key_file"),
            ("audit", "key_file"),
            ("database", "url"),
            ("database", "password_file"),
        ] {
            want.push((t.to_string(), k.to_string()));
        }
        for w in &want {
            assert!(keys.contains(w), "triage.example.toml lacks {w:?}");
        }
    }
}
