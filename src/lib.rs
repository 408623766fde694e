//! `triage`: turns noisy security alerts into grounded, checked recommendations that people
//! approve. The model proposes; code decides; nothing is ever executed by the service.

pub mod alert; // native + OCSF alerts, normalisation, secret redaction
pub mod app; // opens store, index, catalogs, schemas and engines once
pub mod approval; // the approval rules as one pure function
pub mod attack; // ATT&CK catalog: STIX import, lookup, revoked → replacement
pub mod cases; // case views, summaries and closing the loop into the index
pub mod config; // settings: config file < environment (TRIAGE_*) < flags; secrets masked
pub mod corpus; // runbooks, prior cases, Sigma import; the document model
pub mod enrich; // inventory, threat intel, changes, geo, required evidence: context joined before retrieval
pub mod error_code; // every error code the API answers with, its status and meaning, in one table
pub mod eval; // datasets, scorers, reports
pub mod http; // axum router, auth, thin handlers, error mapping
pub mod jsonpath; // the JSON path dialect of `alert:<id>#<path>` evidence refs
pub mod knowledge; // what events are: indicators, candidate techniques with their support
pub mod learning; // drafts after closure: Sigma tuning filters, runbook edits, eval cases
pub mod llm; // engines: baseline, OpenAI-compatible, replay
pub mod metrics; // Prometheus metrics (prometheus-client): requests, engines, provider, store gauges
pub mod pipeline; // retrieve → engine → validate → policy → store, in one function
pub mod policy; // action catalog and tiers, direct-execution and injection detection
pub mod prompt; // prompt templates (minijinja, strict undefined) and untrusted-data fencing
pub mod readiness; // /readyz: cheap checks, the audit chain verified in the background
pub mod recommendation; // the model's output and the served recommendation, with schemas
pub mod retrieval; // tantivy index: schema, build, query, search
pub mod severity; // the ordered severities
pub mod store; // SQLite: keys, cases, recommendations, approvals, actions, audit chain
pub mod strict_json; // JSON that refuses a key twice in one object: request bodies and engine answers
pub mod telemetry; // logs to stderr, spans over OTLP/HTTP when an endpoint is configured
pub mod validate; // JSON Schema then semantic checks of every engine output
