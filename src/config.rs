//! Settings: environment (`TRIAGE_*`) < command-line flags. Secrets are never logged: the
//! `Debug` of [`LlmSettings`] hides the API key.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ResponseFormatKind {
    /// `response_format: json_schema` with `strict: true` (the default).
    JsonSchema,
    /// `response_format: json_object`, for endpoints without structured outputs; the schema
    /// is then given in the system message and enforced by validation only.
    JsonObject,
}

#[derive(Clone, Args)]
pub struct LlmSettings {
    /// Base URL of an OpenAI-compatible API, e.g. http://127.0.0.1:8080/v1
    #[arg(long = "llm-base-url", env = "TRIAGE_LLM_BASE_URL", default_value = "https://api.openai.com/v1")]
    pub base_url: String,
    /// Model name sent with each request
    #[arg(long = "llm-model", env = "TRIAGE_LLM_MODEL", default_value = "gpt-4o-mini")]
    pub model: String,
    /// API key (TRIAGE_LLM_API_KEY, else OPENAI_API_KEY)
    #[arg(long = "llm-api-key", env = "TRIAGE_LLM_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Timeout of one provider call, in milliseconds
    #[arg(long = "llm-timeout-ms", env = "TRIAGE_LLM_TIMEOUT_MS", default_value_t = 30_000)]
    pub timeout_ms: u64,
    /// Budget for all calls of one recommendation (retries and repair included), in milliseconds
    #[arg(long = "llm-total-timeout-ms", env = "TRIAGE_LLM_TOTAL_TIMEOUT_MS", default_value_t = 90_000)]
    pub total_timeout_ms: u64,
    /// Retries after a 429, a 5xx or a timeout
    #[arg(long = "llm-max-retries", env = "TRIAGE_LLM_MAX_RETRIES", default_value_t = 2)]
    pub max_retries: u32,
    /// Longest Retry-After honoured, in milliseconds
    #[arg(long = "llm-max-retry-after-ms", env = "TRIAGE_LLM_MAX_RETRY_AFTER_MS", default_value_t = 10_000)]
    pub max_retry_after_ms: u64,
    /// Provider calls in flight at once
    #[arg(long = "llm-concurrency", env = "TRIAGE_LLM_CONCURRENCY", default_value_t = 4)]
    pub concurrency: usize,
    /// Largest provider answer read, in bytes; a bigger one is refused and the baseline answers
    #[arg(long = "llm-max-answer-bytes", env = "TRIAGE_LLM_MAX_ANSWER_BYTES", default_value_t = 1024 * 1024)]
    pub max_answer_bytes: usize,
    /// Structured-output mode
    #[arg(long = "llm-response-format", env = "TRIAGE_LLM_RESPONSE_FORMAT", value_enum, default_value = "json-schema")]
    pub response_format: ResponseFormatKind,
    /// Upper bound on the prompt, in characters; longer prompts are trimmed deterministically
    #[arg(long = "llm-max-prompt-chars", env = "TRIAGE_LLM_MAX_PROMPT_CHARS", default_value_t = 24_000)]
    pub max_prompt_chars: usize,
    /// max_tokens of each answer (above the schema's worst case)
    #[arg(long = "llm-max-tokens", env = "TRIAGE_LLM_MAX_TOKENS", default_value_t = 6_000)]
    pub max_tokens: u32,
    /// Consecutive failed recommendations that open the circuit breaker
    #[arg(long = "llm-breaker-threshold", env = "TRIAGE_LLM_BREAKER_THRESHOLD", default_value_t = 5)]
    pub breaker_threshold: u32,
    /// How long an open breaker sends requests straight to the baseline, in milliseconds
    #[arg(long = "llm-breaker-cooldown-ms", env = "TRIAGE_LLM_BREAKER_COOLDOWN_MS", default_value_t = 30_000)]
    pub breaker_cooldown_ms: u64,
}

impl LlmSettings {
    /// The API key from the flag or `TRIAGE_LLM_API_KEY`, else `OPENAI_API_KEY`.
    pub fn resolved_api_key(&self) -> Option<String> {
        self.api_key.clone().or_else(|| std::env::var("OPENAI_API_KEY").ok()).filter(|k| !k.is_empty())
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

impl fmt::Debug for LlmSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LlmSettings")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("timeout_ms", &self.timeout_ms)
            .field("response_format", &self.response_format)
            .finish_non_exhaustive()
    }
}

/// What `triage serve` grants a client: how long it may take to send a request and how
/// many connections it may hold. Slow or half-open clients must not pin the service.
#[derive(Debug, Clone, Args)]
pub struct HttpSettings {
    /// Longest wait for a request's headers (and for the next request on an idle connection), in milliseconds
    #[arg(long = "http-header-timeout-ms", env = "TRIAGE_HTTP_HEADER_TIMEOUT_MS", default_value_t = 10_000, global = true)]
    pub header_timeout_ms: u64,
    /// Longest wait for a whole request body, in milliseconds (408 after)
    #[arg(long = "http-body-timeout-ms", env = "TRIAGE_HTTP_BODY_TIMEOUT_MS", default_value_t = 30_000, global = true)]
    pub body_timeout_ms: u64,
    /// Connections served at once; further ones wait in the listen queue
    #[arg(long = "http-max-connections", env = "TRIAGE_HTTP_MAX_CONNECTIONS", default_value_t = 1024, global = true)]
    pub max_connections: usize,
    /// Seconds between background checks of new audit entries (`/readyz` reports the last)
    #[arg(long = "audit-check-interval-secs", env = "TRIAGE_AUDIT_CHECK_INTERVAL_SECS", default_value_t = 10, global = true)]
    pub audit_check_interval_secs: u64,
    /// Hours between full re-checks of the audit chain from its first entry
    #[arg(long = "audit-full-check-hours", env = "TRIAGE_AUDIT_FULL_CHECK_HOURS", default_value_t = 24, global = true)]
    pub audit_full_check_hours: u64,
}

impl HttpSettings {
    pub fn header_timeout(&self) -> Duration {
        Duration::from_millis(self.header_timeout_ms.max(1))
    }

    pub fn body_timeout(&self) -> Duration {
        Duration::from_millis(self.body_timeout_ms.max(1))
    }
}

#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Where the SQLite file, the index and imported data live
    #[arg(long, env = "TRIAGE_DATA_DIR", default_value = "./data", global = true)]
    pub data_dir: PathBuf,
    /// A corpus folder (runbooks/, cases/) instead of the one built into the binary
    #[arg(long, env = "TRIAGE_CORPUS_DIR", global = true)]
    pub corpus_dir: Option<PathBuf>,
    /// An action catalog (TOML) instead of the shipped catalog/actions.toml
    #[arg(long, env = "TRIAGE_ACTIONS_POLICY", global = true)]
    pub actions_policy: Option<PathBuf>,
    /// An operator policy (TOML; environment classes) instead of the shipped catalog/policy.toml
    #[arg(long, env = "TRIAGE_POLICY", global = true)]
    pub policy: Option<PathBuf>,
    /// Which engine recommends
    #[arg(long, env = "TRIAGE_ENGINE", value_enum, default_value = "baseline", global = true)]
    pub engine: EngineKind,
    /// Approvals expire after this many seconds
    #[arg(long, env = "TRIAGE_APPROVAL_TTL_SECS", default_value_t = 4 * 3600, global = true)]
    pub approval_ttl_secs: u64,
    /// An offline MaxMind-format database (GeoLite2 Country or City, or an ip-location-db
    /// build) for the country of public IPs; without one, geo is said to be unavailable
    #[arg(long, env = "TRIAGE_GEOIP_DB", global = true)]
    pub geoip_db: Option<PathBuf>,
    /// The key secrets are fingerprinted under (at least 16 characters); default: a key
    /// file created in the data dir. Replicas on one database must share it
    #[arg(long, env = "TRIAGE_FINGERPRINT_KEY", hide_env_values = true, global = true)]
    pub fingerprint_key: Option<SecretText>,
    /// An OTLP/HTTP receiver for traces (e.g. http://127.0.0.1:4318; /v1/traces is added);
    /// without one, no spans leave the process
    #[arg(long, env = "TRIAGE_OTLP_ENDPOINT", global = true)]
    pub otlp_endpoint: Option<String>,
    #[command(flatten)]
    pub llm: LlmSettings,
    #[command(flatten)]
    pub http: HttpSettings,
}

/// A secret setting: its `Debug` never shows it.
#[derive(Clone)]
pub struct SecretText(pub String);

impl std::str::FromStr for SecretText {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(SecretText(s.to_string()))
    }
}

impl fmt::Debug for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}
