//! One request, top to bottom: redact → parse → record → enrich → retrieve → engine → validate
//! (→ one repair) → policy (tiers, approvals) → store → respond. For an engine that answers
//! in process (the baseline), `record` joins `store`: one transaction, one commit.
//!
//! Each stage runs in a span of its name, a child of the request's (or the queue job's)
//! span. Spans carry counts, ids, reason codes and, on `engine`, the OpenTelemetry GenAI
//! attributes; never alert content, prompts or model output.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tracing::Instrument;
use tracing::field::Empty;

use crate::alert::{self, AlertError, Redactor};
use crate::app::App;
use crate::corpus::Document;
use crate::corpus::cases::is_valid_case_id;
use crate::error_code::{Coded, ErrorCode};
use crate::knowledge;
use crate::llm::{Engine, EngineAnswer, EngineError, EngineRequest};
use crate::policy::injection;
use crate::policy::{Target, Tier, emergency};
use crate::recommendation::{EngineInfo, RecommendResponse, Recommendation, Retrieved, Review, ReviewReason, Status};
use crate::store::{ApprovalKind, Claim, Identity, NewAction, NewApproval, NewRecommendation, PolicyApproval, RequestRecord, StoreError, binding_hash, new_id};
use crate::validate::{self, Context, reason};

/// A parsed `POST /v1/recommend` body.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecommendRequest {
    #[serde(default)]
    pub case_id: Option<String>,
    pub alerts: Vec<Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Alert(#[from] AlertError),
    #[error("case_id `{0}` must be 3–64 characters of a-z, 0-9, `-` and `_`")]
    InvalidCaseId(String),
    #[error("{0}")]
    IdempotencyInFlight(String),
    #[error("engine: {0}")]
    Engine(EngineError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Index(#[from] crate::retrieval::IndexError),
}

impl Coded for PipelineError {
    fn code(&self) -> ErrorCode {
        match self {
            PipelineError::Alert(a) => a.code(),
            PipelineError::InvalidCaseId(_) => ErrorCode::InvalidCaseId,
            PipelineError::IdempotencyInFlight(_) => ErrorCode::IdempotencyInFlight,
            PipelineError::Engine(_) => ErrorCode::EngineError,
            PipelineError::Store(s) => s.code(),
            PipelineError::Index(_) => ErrorCode::Internal,
        }
    }
}

/// Reason codes a repair request may fix. An output that proposed execution or a downgrade
/// is never retried, whatever else is wrong with it: that is exactly what a person must
/// see, and the model gets no second try at it.
fn repairable(reasons: &[ReviewReason]) -> bool {
    let unsafe_output = reasons.iter().any(|r| matches!(r.code.as_str(), reason::DIRECT_EXECUTION | reason::SEVERITY_DOWNGRADE));
    !unsafe_output
        && reasons.iter().all(|r| {
            matches!(
                r.code.as_str(),
                reason::INVALID_OUTPUT | reason::UNKNOWN_TECHNIQUE | reason::UNSUPPORTED_CITATION | reason::UNKNOWN_ACTION | reason::INVALID_TARGET
            )
        })
}

/// The emergency rule of the operator's policy that pre-approves this action, if one does.
fn pre_approval(app: &App, action: &str, target: &str, tier: Tier, alerts: &[alert::Alert], now: chrono::DateTime<chrono::Utc>) -> Option<PolicyApproval> {
    let target = Target::parse(target).ok()?;
    let rule = emergency::first_match(&app.actions.emergency, action, &target, tier, alerts, now)?;
    let why = if rule.description.is_empty() { String::new() } else { format!(": {}", rule.description) };
    Some(PolicyApproval {
        rule_id: rule.id.clone(),
        rationale: format!("pre-approved by emergency rule {} (expires {}){why}", rule.id, rule.expires_at.to_rfc3339()),
    })
}

/// An idempotency key this request owns. Dropped without completing (an error, or the
/// request abandoned), it is released so that a repeat can do the work.
struct OwnedKey<'a> {
    app: &'a App,
    actor: String,
    key: String,
    completed: bool,
}

impl Drop for OwnedKey<'_> {
    fn drop(&mut self) {
        if !self.completed
            && let Err(e) = self.app.store.release_idempotency(&self.actor, &self.key)
        {
            tracing::error!(error = %e, "could not release an idempotency key");
        }
    }
}

/// How often a repeat looks for the first request's response: soon at first, then
/// backing off so that waiting repeats don't crowd the store the first one is writing to.
const IDEMPOTENCY_POLL: (u64, u64) = (10, 250);

/// Claims `key` for this request, or waits for the request that holds it and returns its
/// stored response (`Ok`). Works across processes sharing one database: the claim is a row.
async fn claim_key<'a>(app: &'a Arc<App>, actor: &str, key: &str, body_sha256: &str) -> Result<Result<RecommendResponse, OwnedKey<'a>>, PipelineError> {
    let wait = app.settings.idempotency_wait;
    let deadline = Instant::now() + wait;
    let mut poll_ms = IDEMPOTENCY_POLL.0;
    loop {
        let now = chrono::Utc::now();
        let stale = now - chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX);
        let fmt = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let (actor_, key_, body_) = (actor.to_string(), key.to_string(), body_sha256.to_string());
        let claimed = app.blocking(move |app| app.store.claim_idempotency(&actor_, &key_, &body_, &fmt(now), &fmt(stale))).await?;
        match claimed {
            Claim::Owned => return Ok(Err(OwnedKey { app, actor: actor.to_string(), key: key.to_string(), completed: false })),
            Claim::Done(stored) => return Ok(Ok(serde_json::from_value(stored).map_err(|e| PipelineError::Store(StoreError::Json(e)))?)),
            Claim::InFlight if Instant::now() >= deadline => {
                return Err(PipelineError::IdempotencyInFlight("a request with this Idempotency-Key is still being processed".into()));
            }
            Claim::InFlight => {
                tokio::time::sleep(std::time::Duration::from_millis(poll_ms)).await;
                poll_ms = (poll_ms * 2).min(IDEMPOTENCY_POLL.1);
            }
        }
    }
}

pub fn body_hash(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// The secret behind each redaction placeholder in a request's alerts.
type FingerprintOf = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// What an analysis starts from, run on the blocking pool in the same hop as enrichment:
/// the alerts (recorded in their case unless that waits for the result) and the secrets
/// behind their placeholders.
/// Each hop between the runtime and the blocking pool costs two thread wake-ups, and a
/// request used to make five.
type Prepare = Box<dyn FnOnce(&App) -> Result<(Vec<alert::Alert>, FingerprintOf), PipelineError> + Send>;

pub async fn recommend(
    app: &Arc<App>,
    who: &Identity,
    request: RecommendRequest,
    body_sha256: &str,
    idempotency_key: Option<&str>,
) -> Result<RecommendResponse, PipelineError> {
    let started = Instant::now();

    // Input: secrets out first, then parse. Nothing is stored unless every alert is valid;
    // an invalid case id is refused after the alerts are read, as they come first.
    let RecommendRequest { case_id, alerts: values } = request;
    let (case_id, invalid_case_id) = match case_id {
        Some(id) if is_valid_case_id(&id) => (id, None),
        Some(id) => (id.clone(), Some(id)),
        None => (new_id("case"), None),
    };
    let read = move |app: &App| -> Result<(Vec<alert::Alert>, Redactor), PipelineError> {
        let mut redactor = Redactor::with_fingerprints(app.fingerprint_key.clone());
        let redacted: Vec<Value> =
            tracing::info_span!("redact", triage.alerts = values.len() as i64).in_scope(|| values.iter().map(|a| redactor.redact_value(a)).collect());
        let alerts = alert::parse_all(&redacted)?;
        match invalid_case_id {
            Some(id) => Err(PipelineError::InvalidCaseId(id)),
            None => Ok((alerts, redactor)),
        }
    };
    let request_id = new_id("req");
    // A remote model may take seconds: its request is recorded first, so that the case and
    // its alerts are there (and audited) meanwhile. An in-process engine's is recorded with
    // the result, in the same transaction.
    let deferred = app.engine.answers_in_process().then(|| Deferred { actor: who.actor(), body_sha256: body_sha256.to_string() });
    let record_first = deferred.is_none();
    let (actor, body, ids) = (who.actor(), body_sha256.to_string(), (request_id.clone(), case_id.clone()));
    let record = move |app: &App, alerts: Vec<alert::Alert>, redactor: Redactor| -> Result<(Vec<alert::Alert>, FingerprintOf), PipelineError> {
        let (request_id, case_id) = ids;
        if record_first {
            let request = RequestRecord { request_id: &request_id, actor: &actor, case_id: &case_id, body_hash: &body, alerts: &alerts };
            tracing::info_span!("record", triage.case_id = %case_id).in_scope(|| app.store.record_request(&request))?;
        }
        Ok((alerts, Arc::new(move |p: &str| redactor.fingerprint_of(p).map(str::to_string))))
    };
    // The key is claimed before any work: a repeat waits for the first response. Without
    // one, reading the alerts and recording them join enrichment in one blocking hop.
    let mut claim = None;
    let prepare: Prepare = match idempotency_key {
        None => Box::new(move |app| read(app).and_then(|(alerts, redactor)| record(app, alerts, redactor))),
        Some(key) => {
            let (alerts, redactor) = app.blocking(read).await?;
            match claim_key(app, &who.key_id, key, body_sha256).await? {
                Ok(stored) => return Ok(stored),
                Err(owned) => claim = Some(owned),
            }
            Box::new(move |app| record(app, alerts, redactor))
        }
    };
    let run = Run { case_id, request_id, omitted: 0, idempotency_key: idempotency_key.map(str::to_string), started, deferred };
    let response = analyse(app, who, run, prepare).await?;
    if let Some(c) = claim.as_mut() {
        c.completed = true;
    }
    Ok(response)
}

/// The most alerts one `POST /v1/alerts` batch may carry.
pub const MAX_STREAM_ALERTS: usize = 500;

/// `POST /v1/alerts`: redact, parse and fingerprint every alert of the batch, then dedup
/// and correlate them into cases in one transaction (contract section 10). An invalid
/// alert refuses the whole batch before anything is stored. Changed cases are queued for
/// a background recommendation.
pub fn ingest(app: &App, who: &Identity, values: &[Value]) -> Result<Vec<crate::store::IngestResult>, PipelineError> {
    if values.is_empty() {
        return Err(AlertError { index: 0, code: ErrorCode::NoAlerts, message: "a batch needs at least one alert".into() }.into());
    }
    if values.len() > MAX_STREAM_ALERTS {
        let message = format!("{} alerts; at most {MAX_STREAM_ALERTS} per batch", values.len());
        return Err(AlertError { index: MAX_STREAM_ALERTS, code: ErrorCode::TooManyAlerts, message }.into());
    }
    let mut redactor = Redactor::with_fingerprints(app.fingerprint_key.clone());
    let mut batch = Vec::with_capacity(values.len());
    let redacting = tracing::info_span!("redact", triage.alerts = values.len() as i64).entered();
    for (i, value) in values.iter().enumerate() {
        let redacted = redactor.redact_value(value);
        let pinned = crate::cases::stream::pin_placeholders(&redacted, &|p| redactor.fingerprint_of(p).map(str::to_string));
        let a = alert::Alert::parse(i, &pinned)?;
        batch.push(crate::store::StreamAlert {
            fingerprint: crate::cases::stream::fingerprint(&a, &app.stream),
            pivots: crate::cases::stream::pivots(&a, &app.stream),
            alert_id: a.id.clone(),
            time: a.time,
            title: a.rule.name.clone(),
            severity: a.rule.severity,
            raw: a.raw,
        });
    }
    drop(redacting);
    let windows = crate::store::Windows {
        dedup: app.stream.dedup_window,
        correlation: app.stream.correlation_window,
        max_open_cases_per_pivot: app.stream.max_open_cases_per_pivot,
    };
    let results = tracing::info_span!("store").in_scope(|| app.store.ingest(&new_id("req"), &who.actor(), &batch, &windows))?;
    app.queue_wake.notify_one();
    Ok(results)
}

/// A case's current recommendation, over the alerts the stream gathered in it (contract
/// section 10): the same analysis as `POST /v1/recommend`, run by the background queue.
/// Beyond the policy's bound, the most severe and newest alerts are read and the rest
/// counted in `uncertainty`.
pub async fn recommend_case(app: &Arc<App>, who: &Identity, case_id: &str) -> Result<RecommendResponse, PipelineError> {
    let started = Instant::now();
    let id = case_id.to_string();
    let stored = app.blocking(move |app| app.store.case_alerts(&id)).await?;
    // The store gives one alert per id, as last stored (evidence refs name alerts by id).
    let mut parsed: Vec<alert::Alert> = stored.iter().enumerate().map(|(i, s)| alert::Alert::parse(i, &s.alert)).collect::<Result<_, _>>()?;
    parsed.sort_by(|a, b| a.time.cmp(&b.time).then_with(|| a.id.cmp(&b.id)));
    let max = app.stream.max_alerts_per_recommendation;
    let omitted = parsed.len().saturating_sub(max);
    if omitted > 0 {
        let severity = |a: &alert::Alert| a.rule.severity.map(|s| s.rank()).unwrap_or(0);
        parsed.sort_by(|a, b| severity(b).cmp(&severity(a)).then(b.time.cmp(&a.time)));
        parsed.truncate(max);
        parsed.sort_by(|a, b| a.time.cmp(&b.time).then_with(|| a.id.cmp(&b.id)));
    }
    let run = Run { case_id: case_id.to_string(), request_id: new_id("run"), omitted, idempotency_key: None, started, deferred: None };
    let fingerprint_of: FingerprintOf = Arc::new(|p: &str| crate::cases::stream::pinned_fingerprint(p).map(str::to_string));
    analyse(app, who, run, Box::new(move |_| Ok((parsed, fingerprint_of)))).await
}

/// What an analysis is for: the case, the request (or background run) behind it.
struct Run {
    case_id: String,
    request_id: String,
    /// Alerts of the case left out of this analysis.
    omitted: usize,
    idempotency_key: Option<String>,
    started: Instant,
    /// The request, when it is recorded with its result rather than before the analysis.
    deferred: Option<Deferred>,
}

/// Who sent a request that is recorded with its result, and its body's hash.
struct Deferred {
    actor: String,
    body_sha256: String,
}

/// What the engine is shown, gathered off the runtime: the alerts with the stricter asset
/// view, what enrichment found, the retrieved documents, and the injection signals.
struct Gathered {
    alerts: Vec<alert::Alert>,
    context: crate::enrich::Context,
    hits: Vec<crate::retrieval::Hit>,
    documents: Vec<Document>,
    enriched: bool,
    signals: Vec<injection::InjectionSignal>,
}

/// Context the alerts don't carry (inventory, intel, changes, geo), joined before
/// retrieval; the stricter asset view replaces the sender's for every later decision.
fn enrich(
    app: &App,
    alerts: Vec<alert::Alert>,
    fingerprint_of: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Result<(Vec<alert::Alert>, crate::enrich::Context), PipelineError> {
    let context = tracing::info_span!("enrich").in_scope(|| crate::enrich::build(&app.store, app.geo.as_ref(), &alerts, fingerprint_of))?;
    let alerts = context.apply_assets(alerts);
    Ok((alerts, context))
}

/// Knowledge: what the engine may see and cite, found with the techniques the alerts'
/// own values point to (`direct`).
fn retrieve(app: &App, alerts: Vec<alert::Alert>, context: crate::enrich::Context, direct: &[String]) -> Result<Gathered, PipelineError> {
    let retrieving = tracing::info_span!("retrieve", triage.documents = Empty);
    let (hits, documents, enriched) = retrieving.in_scope(|| -> Result<_, PipelineError> {
        let searched = Instant::now();
        let mut hits = app.index.search_alerts_with(&alerts, direct, app.settings.limits)?;
        app.metrics.retrieval(searched.elapsed());
        let context_hits = context.hits(&hits);
        let enriched = !context_hits.is_empty();
        hits.extend(context_hits);
        let documents: Vec<Document> = hits.iter().map(|h| h.doc.as_ref().clone()).collect();
        Ok((hits, documents, enriched))
    })?;
    retrieving.record("triage.documents", documents.len() as i64);
    let signals = injection::scan(&alerts);
    Ok(Gathered { alerts, context, hits, documents, enriched, signals })
}

/// Enrich → retrieve → engine → validate (→ one repair) → policy → store, for the alerts
/// `prepare` gives, recorded in their case.
async fn analyse(app: &Arc<App>, who: &Identity, run: Run, prepare: Prepare) -> Result<RecommendResponse, PipelineError> {
    let Run { case_id, request_id, omitted, idempotency_key, started, deferred } = run;
    let (alerts, context) = app
        .blocking(move |app| {
            let (alerts, fingerprint_of) = prepare(app)?;
            enrich(app, alerts, &*fingerprint_of)
        })
        .await?;
    // The indicators are matched once: their techniques steer retrieval, then rank with it.
    let observed = knowledge::observe(&app.knowledge, &alerts);
    let direct = observed.direct_techniques(&app.knowledge, &app.catalog, &alerts);
    let Gathered { alerts, context, hits, documents, enriched, signals } = app.blocking(move |app| retrieve(app, alerts, context, &direct)).await?;
    let assessment = knowledge::assess_observed(&app.knowledge, &app.catalog, &alerts, observed, &hits);
    let engine_request = EngineRequest {
        case_id: &case_id,
        alerts: &alerts,
        retrieved: &hits,
        catalog: &app.catalog,
        actions: &app.actions,
        schemas: &app.schemas,
        injection: &signals,
        assessment: &assessment,
        context: &context,
    };

    // Engine: the configured one, or the baseline when it can't be reached.
    let engine = app.engine.as_ref();
    let proposed = traced_engine_call(app, engine, false, async { Some(engine.propose(&engine_request).await) }).await;
    let (answer, fallback) = match proposed.unwrap_or_else(|| Err(EngineError::Unavailable("the engine gave no answer".into()))) {
        Ok(a) => (a, None),
        Err(EngineError::Unavailable(e) | EngineError::Rejected(e)) => {
            tracing::warn!(error = %e, case_id = %case_id, "engine unavailable; the baseline answers");
            app.metrics.degraded(engine.name(), engine.model());
            let baseline = traced_engine_call(app, &app.baseline, false, async { Some(app.baseline.propose(&engine_request).await) }).await;
            let answer = baseline.unwrap_or_else(|| Err(EngineError::Unavailable("the baseline gave no answer".into()))).map_err(PipelineError::Engine)?;
            (answer, Some(json!({"engine": engine.name(), "model": engine.model(), "error": e})))
        }
        Err(e) => return Err(PipelineError::Engine(e)),
    };
    let degraded = fallback.is_some();

    // Checks: schema and semantics, with one repair for fixable mistakes.
    let ctx =
        Context { alerts: &alerts, retrieved: &documents, catalog: &app.catalog, actions: &app.actions, schemas: &app.schemas, against: &assessment.against };
    let mut usage = answer.usage.clone();
    let mut raw_outputs = vec![answer.raw.clone()];
    let mut final_answer: EngineAnswer = answer;
    let mut checked = traced_check(&final_answer.raw, &ctx);
    // The answer a repair replaced was a rejection too: the audit trail keeps its reasons.
    let mut refused_first: Option<Value> = None;
    if let Err(reasons) = &checked
        && !degraded
        && repairable(reasons)
        && let Some(repaired) = traced_engine_call(app, engine, true, engine.repair(&engine_request, &final_answer, reasons)).await
    {
        refused_first = Some(json!(reasons));
        match repaired {
            Ok(second) => {
                usage.prompt_tokens += second.usage.prompt_tokens;
                usage.completion_tokens += second.usage.completion_tokens;
                raw_outputs.push(second.raw.clone());
                checked = traced_check(&second.raw, &ctx);
                final_answer = second;
            }
            Err(e) => tracing::warn!(error = %e, "repair request failed"),
        }
    }
    let engine = EngineInfo {
        name: if degraded { "baseline".into() } else { app.engine.name().into() },
        model: final_answer.model.clone(),
        prompt_version: final_answer.prompt_version.clone(),
        degraded,
    };

    // Policy: approvals for every non-automatic proposal, or a review for a refused output.
    // No await until the store: the entered span below never crosses one.
    let (recommendation_id, approvals, actions, review_reasons, recommendation, review) = {
        let deciding = tracing::info_span!("policy", triage.status = Empty, triage.approvals = Empty, triage.actions = Empty).entered();
        let recommendation_id = new_id("rec");
        let now = chrono::Utc::now();
        let expires_at = (now + app.settings.approval_ttl).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let mut approvals = Vec::new();
        let mut actions = Vec::new();
        let mut review_reasons: Option<Vec<ReviewReason>> = None;
        let mut recommendation: Option<Recommendation> = None;
        match checked {
            Ok(c) => {
                let mut rec = c.recommendation;
                if !signals.is_empty() && rec.uncertainty.len() < crate::recommendation::MAX_UNCERTAINTY {
                    let first = &signals[0];
                    let note = format!("Instruction-like text in alert data ({}#{}) was treated as data, not as instructions.", first.alert_id, first.path);
                    if !rec.uncertainty.iter().any(|u| u.contains("instruction-like")) {
                        rec.uncertainty.push(note);
                    }
                }
                if omitted > 0 && rec.uncertainty.len() < crate::recommendation::MAX_UNCERTAINTY {
                    rec.uncertainty
                        .push(format!("{omitted} older or less severe alerts of this case were not read; the newest and most severe {} were.", alerts.len()));
                }
                crate::enrich::finish(&mut rec, &app.actions, &alerts, &context);
                for p in &mut rec.proposed_actions {
                    let action_id = new_id("act");
                    let approval_id = (p.tier != Tier::Automatic).then(|| new_id("apr"));
                    if let Some(apr) = &approval_id {
                        approvals.push(NewApproval {
                            id: apr.clone(),
                            case_id: case_id.clone(),
                            recommendation_id: recommendation_id.clone(),
                            kind: ApprovalKind::Action,
                            action_id: Some(action_id.clone()),
                            binding_hash: binding_hash(&recommendation_id, &p.action, &p.target, p.tier),
                            tier: p.tier,
                            required_approvals: p.tier.required_approvals(),
                            requested_by: who.key_id.clone(),
                            requested_principal: who.principal.clone(),
                            expires_at: expires_at.clone(),
                            summary: format!("{} {}", p.action, p.target),
                            pre_approved: pre_approval(app, &p.action, &p.target, p.tier, &alerts, now),
                        });
                    }
                    actions.push(NewAction {
                        id: action_id,
                        case_id: case_id.clone(),
                        recommendation_id: recommendation_id.clone(),
                        approval_id: approval_id.clone(),
                        action: p.action.clone(),
                        target: p.target.clone(),
                        tier: p.tier,
                        rationale: p.rationale.clone(),
                    });
                    p.approval_id = approval_id;
                }
                // The last line of defence: what leaves must match the served schema.
                let errors = app.schemas.recommendation_errors(&serde_json::to_value(&rec).unwrap_or_default());
                if errors.is_empty() {
                    recommendation = Some(rec);
                } else {
                    tracing::error!(errors = ?errors, "a checked recommendation failed the served schema");
                    approvals.clear();
                    actions.clear();
                    review_reasons = Some(errors.into_iter().map(|e| ReviewReason { code: reason::INVALID_OUTPUT.into(), detail: e }).collect());
                }
            }
            Err(reasons) => review_reasons = Some(reasons),
        }
        let review = review_reasons.as_ref().map(|reasons| {
            let approval_id = new_id("apr");
            approvals.push(NewApproval {
                id: approval_id.clone(),
                case_id: case_id.clone(),
                recommendation_id: recommendation_id.clone(),
                kind: ApprovalKind::Review,
                action_id: None,
                binding_hash: binding_hash(&recommendation_id, "review", &case_id, Tier::HumanApproval),
                tier: Tier::HumanApproval,
                required_approvals: 1,
                requested_by: who.key_id.clone(),
                requested_principal: who.principal.clone(),
                expires_at: expires_at.clone(),
                pre_approved: None,
                summary: format!("review refused output: {}", reasons.iter().map(|r| r.code.as_str()).collect::<Vec<_>>().join(", ")),
            });
            Review { reasons: reasons.clone(), approval_id }
        });
        deciding.record("triage.status", if recommendation.is_some() { "ready" } else { "needs_review" });
        deciding.record("triage.approvals", approvals.len() as i64);
        deciding.record("triage.actions", actions.len() as i64);
        drop(deciding);
        (recommendation_id, approvals, actions, review_reasons, recommendation, review)
    };

    let mut retrieved: Vec<Retrieved> = hits.iter().map(|h| Retrieved { doc_ref: h.doc_ref(), title: h.doc.title.clone(), score: h.score }).collect();
    retrieved.sort_by(|a, b| b.score.total_cmp(&a.score));
    let response = RecommendResponse {
        recommendation_id: recommendation_id.clone(),
        case_id: case_id.clone(),
        status: if recommendation.is_some() { Status::Ready } else { Status::NeedsReview },
        engine,
        recommendation,
        review,
        retrieved,
    };

    // Store: the response, its approvals and actions, the raw output(s) for reviewers.
    let response_value = serde_json::to_value(&response).unwrap_or_default();
    let reasons_value = review_reasons.as_ref().map(|r| json!(r));
    let latency_ms = started.elapsed().as_millis() as u64;
    let storing = tracing::info_span!("store", triage.case_id = %case_id, triage.recommendation_id = %recommendation_id);
    let (rec_id, who_, engine_name) = (recommendation_id.clone(), who.clone(), response.engine.name.clone());
    let ready = response.status == Status::Ready;
    let severity = response.recommendation.as_ref().map(|r| r.severity);
    let injection_value = json!(signals);
    let raw_output = raw_outputs.join("\n---\n");
    app.blocking(move |app| {
        storing.in_scope(|| {
            app.store.save_recommendation(NewRecommendation {
                id: &rec_id,
                case_id: &case_id,
                request_id: &request_id,
                actor: &who_.actor(),
                ready,
                severity,
                response: &response_value,
                raw_output: Some(&raw_output),
                engine: &engine_name,
                prompt_tokens: usage.prompt_tokens,
                completion_tokens: usage.completion_tokens,
                latency_ms,
                injection: &injection_value,
                approvals,
                actions,
                review_reasons: reasons_value.as_ref(),
                idempotency: idempotency_key.as_deref().map(|key| (who_.key_id.as_str(), key)),
                enriched,
                fallback: fallback.as_ref(),
                refused_before_repair: refused_first.as_ref(),
                request: deferred.as_ref().map(|d| RequestRecord {
                    request_id: &request_id,
                    actor: &d.actor,
                    case_id: &case_id,
                    body_hash: &d.body_sha256,
                    alerts: &alerts,
                }),
            })
        })
    })
    .await?;
    let case_id = &response.case_id;
    app.metrics.recommendation(&response, started.elapsed());
    tracing::info!(case_id = %case_id, rec_id = %recommendation_id, status = ?response.status, engine = %response.engine.name, latency_ms, "recommendation");
    Ok(response)
}

/// One engine call (a proposal or a repair) in an `engine` span with the OpenTelemetry
/// GenAI attributes, timed into the engine latency histogram. Neither the prompt nor the
/// answer goes into the span; the `llm` engine adds the finish reason and response model.
/// Numbers are recorded as i64: tracing-opentelemetry exports unsigned ones as strings.
async fn traced_engine_call(
    app: &App,
    engine: &dyn Engine,
    repair: bool,
    call: impl Future<Output = Option<Result<EngineAnswer, EngineError>>>,
) -> Option<Result<EngineAnswer, EngineError>> {
    let span = tracing::info_span!(
        "engine",
        gen_ai.operation.name = "chat",
        gen_ai.system = crate::telemetry::gen_ai_system(engine.name()),
        gen_ai.request.model = engine.model(),
        gen_ai.response.model = Empty,
        gen_ai.response.finish_reasons = Empty,
        gen_ai.usage.input_tokens = Empty,
        gen_ai.usage.output_tokens = Empty,
        "error.type" = Empty,
        otel.status_code = Empty,
        triage.engine = engine.name(),
        triage.engine.repair = repair,
        triage.engine.calls = Empty,
    );
    let started = Instant::now();
    let result = call.instrument(span.clone()).await;
    let elapsed = started.elapsed();
    match &result {
        Some(Ok(a)) => {
            span.record("gen_ai.usage.input_tokens", i64::from(a.usage.prompt_tokens));
            span.record("gen_ai.usage.output_tokens", i64::from(a.usage.completion_tokens));
            span.record("triage.engine.calls", i64::from(a.calls));
            app.metrics.engine_call(engine.name(), &a.model, elapsed);
        }
        Some(Err(e)) => {
            let kind = match e {
                EngineError::Unavailable(_) => "unavailable",
                EngineError::Rejected(_) => "rejected",
                EngineError::NotRecorded(_) => "not_recorded",
            };
            span.record("error.type", kind);
            span.record("otel.status_code", "error");
            app.metrics.engine_call(engine.name(), engine.model(), elapsed);
        }
        None => {}
    }
    result
}

/// [`validate::check`] in a `validate` span that says whether the output passed and, if
/// not, the reason codes (never their details, which may quote the output).
fn traced_check(raw: &str, ctx: &Context<'_>) -> Result<validate::Checked, Vec<ReviewReason>> {
    let span = tracing::info_span!("validate", triage.valid = Empty, triage.review_reasons = Empty);
    let checked = span.in_scope(|| validate::check(raw, ctx));
    span.record("triage.valid", checked.is_ok());
    if let Err(reasons) = &checked {
        span.record("triage.review_reasons", reasons.iter().map(|r| r.code.as_str()).collect::<Vec<_>>().join(",").as_str());
    }
    checked
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(code: &str) -> ReviewReason {
        ReviewReason { code: code.into(), detail: String::new() }
    }

    #[test]
    fn outputs_that_proposed_execution_or_a_downgrade_are_never_repaired() {
        assert!(repairable(&[r(reason::INVALID_OUTPUT), r(reason::UNSUPPORTED_CITATION)]));
        assert!(!repairable(&[r(reason::DIRECT_EXECUTION), r(reason::INVALID_OUTPUT)]));
        assert!(!repairable(&[r(reason::INVALID_OUTPUT), r(reason::DIRECT_EXECUTION)]));
        assert!(!repairable(&[r(reason::SEVERITY_DOWNGRADE), r(reason::UNKNOWN_TECHNIQUE)]));
    }
}
