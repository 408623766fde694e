//! Handlers: extract, check the role, delegate, answer. Decisions live in the pipeline and
//! the store.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::{AppError, AppState, Caller, ErrorCode};
use crate::corpus::Disposition;
use crate::pipeline::{self, RecommendRequest};
use crate::severity::Severity;
use crate::store::{ActionStatus, ApprovalStatus, ClosedCase, Decision, Role};

/// A path parameter whose rejection (invalid UTF-8, a bad value) is the service's JSON error.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(AppError))]
pub struct Path<T>(pub T);

/// A query string whose rejection (`?after=x`, `?limit=-1`) is the service's JSON error.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(AppError))]
pub struct Query<T>(pub T);

/// A JSON body whose every failure (type, size, time, syntax, duplicate keys, shape) is the
/// service's JSON error.
pub struct Body<T>(pub T, pub Bytes);

/// Whether a `Content-Type` names JSON: `application/json` or `application/<x>+json`,
/// parameters (`; charset=utf-8`) allowed.
fn is_json_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

impl<T: DeserializeOwned> FromRequest<AppState> for Body<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, AppError> {
        if !is_json_content_type(req.headers()) {
            return Err(AppError::new(ErrorCode::UnsupportedMediaType, "the body must be JSON, sent with `Content-Type: application/json`"));
        }
        // A body that never finishes must not hold a connection and a task for ever.
        let limit = state.app.http.body_timeout;
        let max_bytes = state.app.http.body_limit_for(req.uri().path());
        let bytes = tokio::time::timeout(limit, read_limited(req, max_bytes))
            .await
            .map_err(|_| AppError::new(ErrorCode::RequestTimeout, format!("the body did not arrive within {} ms", limit.as_millis())))??;
        let value = crate::strict_json::parse_strict(&bytes)?;
        let parsed = serde_json::from_value(value).map_err(|e| {
            let msg = e.to_string();
            let code = if msg.starts_with("unknown field") {
                ErrorCode::UnknownField
            } else if msg.starts_with("missing field") {
                ErrorCode::MissingField
            } else {
                ErrorCode::InvalidField
            };
            AppError::new(code, msg)
        })?;
        Ok(Body(parsed, bytes))
    }
}

/// A body of any type (an import file), bounded by the route's limit.
pub struct RawBody(pub Bytes);

impl FromRequest<AppState> for RawBody {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, AppError> {
        let max_bytes = state.app.http.body_limit_for(req.uri().path());
        read_limited(req, max_bytes).await.map(RawBody)
    }
}

/// The whole body of `req`, at most `max` bytes: the route's limit from the settings
/// (`[http] max_body`, `max_stream_body`, `max_import_body`); 413 above.
pub(super) async fn read_limited(req: Request, max: usize) -> Result<Bytes, AppError> {
    use http_body_util::BodyExt;
    let too_large = || AppError::new(ErrorCode::PayloadTooLarge, format!("the body is larger than {max} bytes"));
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    // A client that asked to be told first (`Expect: 100-continue`) has sent nothing yet.
    let waits = req.headers().get(header::EXPECT).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let mut body = req.into_body();
    if declared.is_some_and(|n| n > max as u64) {
        if !waits {
            drain(body, 0).await;
        }
        return Err(too_large());
    }
    let mut out = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| AppError::new(ErrorCode::InvalidRequest, format!("the body could not be read: {e}")))?;
        let Ok(data) = frame.into_data() else { continue };
        if out.len() + data.len() > max {
            drain(body, (out.len() + data.len()) as u64).await;
            return Err(too_large());
        }
        out.extend_from_slice(&data);
    }
    Ok(out.freeze())
}

/// Most clients send the whole body before they read the answer. Closing on a body refused
/// as too large would leave its unread bytes in the socket, and the kernel answers those
/// with a reset that the client sees instead of the 413. So the rest is read and dropped,
/// bounded in bytes and time; a body beyond that bound meets the reset.
async fn drain(mut body: axum::body::Body, mut seen: u64) {
    use http_body_util::BodyExt;
    const DRAIN_BYTES: u64 = 16 << 20;
    const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(5);
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        while seen <= DRAIN_BYTES {
            match body.frame().await {
                Some(Ok(frame)) => seen += frame.data_ref().map_or(0, |d| d.len() as u64),
                _ => break,
            }
        }
    })
    .await;
}

pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Readiness, cheap enough to poll: the store answers and the index is open. The audit
/// chain is not walked here; the background check's last result is reported, and a
/// broken chain makes the service not ready.
pub async fn readyz(State(s): State<AppState>) -> Response {
    let (store, documents) = s.app.blocking(|app| (app.store.ping(), app.index.len())).await;
    let audit = s.app.audit_watch.status();
    let ok = store.is_ok() && audit.state != "broken";
    if let Err(e) = &store {
        tracing::warn!(error = %e, "readiness: the store does not answer");
    }
    let body = json!({
        "status": if ok { "ready" } else { "not_ready" },
        "store": if store.is_ok() { "ok" } else { "unavailable" },
        "documents": documents,
        "engine": s.app.engine.name(),
        "catalog": s.app.catalog.source,
        "audit": audit,
    });
    let status = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(body)).into_response()
}

/// Prometheus text, or OpenMetrics when the scraper's `Accept` asks for it. The store's
/// gauges (queue, pending approvals, audit chain) are read now: the store is shared with
/// whoever else serves it.
pub async fn metrics(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let format = crate::metrics::Format::negotiate(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    s.app.blocking(|app| app.metrics.observe_store(&app.store)).await;
    ([(header::CONTENT_TYPE, format.content_type())], s.app.metrics.render(format)).into_response()
}

pub async fn not_found() -> AppError {
    AppError::not_found("no such route")
}

pub async fn method_not_allowed() -> AppError {
    AppError::new(ErrorCode::MethodNotAllowed, "this route does not take that method")
}

/// Who the presented key belongs to, so clients can adapt to the role.
pub async fn whoami(caller: Caller) -> Json<Value> {
    Json(json!({"key_id": caller.0.key_id, "name": caller.0.name, "role": caller.0.role, "principal": caller.0.principal}))
}

pub async fn recommend(
    State(s): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Body(req, bytes): Body<RecommendRequest>,
) -> Result<Json<Value>, AppError> {
    let who = caller.require(&[Role::CaseEngine, Role::Analyst, Role::Admin])?;
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::trim).filter(|k| !k.is_empty());
    let hash = pipeline::body_hash(&bytes);
    let response = pipeline::recommend(&s.app, who, req, &hash, key).await?;
    Ok(Json(serde_json::to_value(response).map_err(AppError::internal)?))
}

/// Any valid key may read the schema.
pub async fn schema(State(s): State<AppState>, _caller: Caller) -> Result<Json<Value>, AppError> {
    Ok(Json(s.app.schemas.recommendation.clone()))
}

pub async fn recommendation(State(s): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Json<Value>, AppError> {
    caller.require(&[Role::CaseEngine, Role::Analyst, Role::Approver, Role::Admin])?;
    s.app.blocking(move |app| app.store.recommendation(&id)?.map(Json).ok_or_else(|| AppError::not_found(format!("recommendation {id} not found")))).await
}

pub async fn case(State(s): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Json<Value>, AppError> {
    caller.require(&[Role::CaseEngine, Role::Analyst, Role::Approver, Role::Admin])?;
    s.app
        .blocking(move |app| {
            let view = crate::cases::view(app, &id)?.ok_or_else(|| AppError::not_found(format!("case {id} not found")))?;
            Ok(Json(serde_json::to_value(view).map_err(AppError::internal)?))
        })
        .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloseRequest {
    disposition: String,
    severity: String,
    #[serde(default)]
    techniques: Vec<String>,
    #[serde(default)]
    note: String,
}

pub async fn close_case(State(s): State<AppState>, caller: Caller, Path(id): Path<String>, Body(req, _): Body<CloseRequest>) -> Result<Json<Value>, AppError> {
    let who = caller.require(&[Role::Analyst, Role::Admin])?;
    let disposition: Disposition = req.disposition.parse().map_err(|e: String| AppError::new(ErrorCode::InvalidField, e))?;
    let severity: Severity = req.severity.parse().map_err(|e: crate::severity::InvalidSeverity| AppError::new(ErrorCode::InvalidSeverity, e.to_string()))?;
    let mut techniques = Vec::new();
    for t in &req.techniques {
        let id = crate::attack::TechniqueId::parse(t).map_err(|e| AppError::new(ErrorCode::InvalidField, e.to_string()))?;
        let resolved =
            s.app.catalog.resolve(&id).ok_or_else(|| AppError::new(ErrorCode::UnknownTechnique, format!("{id} is not an active ATT&CK technique")))?;
        techniques.push(resolved.id.to_string());
    }
    let closed = ClosedCase { disposition, severity, techniques, note: req.note, closed_by: who.actor(), closed_at: crate::store::now() };
    s.app
        .blocking(move |app| {
            let view = crate::cases::close(app, &id, closed)?;
            Ok(Json(serde_json::to_value(view).map_err(AppError::internal)?))
        })
        .await
}

pub async fn summary(State(s): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Json<Value>, AppError> {
    caller.require(&[Role::CaseEngine, Role::Analyst, Role::Approver, Role::Admin])?;
    let summary = crate::cases::summary::summarize(&s.app, &id).await?.ok_or_else(|| AppError::not_found(format!("case {id} not found")))?;
    Ok(Json(serde_json::to_value(summary).map_err(AppError::internal)?))
}

#[derive(Deserialize)]
pub struct StatusQuery {
    status: Option<String>,
}

pub async fn approvals(State(s): State<AppState>, caller: Caller, Query(q): Query<StatusQuery>) -> Result<Json<Value>, AppError> {
    caller.require(&[Role::Analyst, Role::Approver, Role::Admin])?;
    let status = match q.status.as_deref() {
        None => None,
        Some(x) => Some(
            ApprovalStatus::parse(x).ok_or_else(|| AppError::new(ErrorCode::InvalidQuery, format!("`{x}` is not pending, approved, rejected or expired")))?,
        ),
    };
    s.app.blocking(move |app| Ok(Json(json!({"approvals": app.store.approvals(status, None, 500)?})))).await
}

pub async fn approval(State(s): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Json<Value>, AppError> {
    caller.require(&[Role::Analyst, Role::Approver, Role::Admin])?;
    s.app
        .blocking(move |app| {
            let a = app.store.approval(&id)?.ok_or_else(|| AppError::not_found(format!("approval {id} not found")))?;
            let mut v = serde_json::to_value(a).map_err(AppError::internal)?;
            super::enrich::with_evidence(app, &mut v)?;
            Ok(Json(v))
        })
        .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    decision: String,
    #[serde(default)]
    rationale: String,
}

pub async fn decide(State(s): State<AppState>, caller: Caller, Path(id): Path<String>, Body(req, _): Body<DecisionRequest>) -> Result<Json<Value>, AppError> {
    let who = caller.require(&[Role::Approver, Role::Admin])?;
    let decision = match req.decision.as_str() {
        "approve" => Decision::Approve,
        "reject" => Decision::Reject,
        other => return Err(AppError::new(ErrorCode::InvalidField, format!("`{other}` is not a decision (approve, reject)"))),
    };
    let who = who.clone();
    s.app
        .blocking(move |app| {
            let a = app.store.decide(&id, &who, decision, &req.rationale, chrono::Utc::now())?;
            Ok(Json(serde_json::to_value(a).map_err(AppError::internal)?))
        })
        .await
}

pub async fn actions(State(s): State<AppState>, caller: Caller, Query(q): Query<StatusQuery>) -> Result<Json<Value>, AppError> {
    let who = caller.require(&[Role::Soar, Role::Admin])?;
    let status = match q.status.as_deref() {
        None => None,
        Some(x) => Some(ActionStatus::parse(x).ok_or_else(|| AppError::new(ErrorCode::InvalidQuery, format!("`{x}` is not an action status")))?),
    };
    let actor = who.actor();
    s.app
        .blocking(move |app| {
            let list = app.store.actions(status, None)?;
            let ids: Vec<&str> = list.iter().map(|a| a.action_id.as_str()).collect();
            app.store.audit(&actor, "outbox.read", "actions", &json!({"status": q.status, "actions": ids}))?;
            Ok(Json(json!({"actions": list})))
        })
        .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutcomeRequest {
    status: String,
    #[serde(default)]
    detail: String,
}

pub async fn outcome(State(s): State<AppState>, caller: Caller, Path(id): Path<String>, Body(req, _): Body<OutcomeRequest>) -> Result<Json<Value>, AppError> {
    let who = caller.require(&[Role::Soar])?;
    let executed = match req.status.as_str() {
        "executed" => true,
        "failed" => false,
        other => return Err(AppError::new(ErrorCode::InvalidField, format!("`{other}` is not an outcome (executed, failed)"))),
    };
    let who = who.clone();
    s.app
        .blocking(move |app| {
            let action = app.store.record_outcome(&id, &who, executed, &req.detail)?;
            Ok(Json(serde_json::to_value(action).map_err(AppError::internal)?))
        })
        .await
}

#[derive(Deserialize)]
pub struct AuditQuery {
    after: Option<i64>,
    limit: Option<usize>,
}

pub async fn audit(State(s): State<AppState>, caller: Caller, Query(q): Query<AuditQuery>) -> Result<Json<Value>, AppError> {
    caller.require(&[Role::Admin])?;
    let entries = s.app.blocking(move |app| app.store.audit_entries(q.after.unwrap_or(0), q.limit.unwrap_or(1000).min(10_000))).await?;
    Ok(Json(json!({"entries": entries})))
}

pub async fn audit_verify(State(s): State<AppState>, caller: Caller) -> Result<Json<Value>, AppError> {
    caller.require(&[Role::Admin])?;
    let v = s.app.blocking(|app| app.store.verify_full(None)).await?;
    Ok(Json(match &v.first_broken {
        None => json!({"ok": v.ok(), "entries": v.entries, "first_broken": null, "unexplained": v.unexplained}),
        Some(b) => json!({"ok": false, "first_broken": b.seq, "reason": b.reason, "unexplained": v.unexplained}),
    }))
}

/// A retrieved document, so analysts can read what a recommendation cites.
pub async fn document(State(s): State<AppState>, caller: Caller, Path(doc_ref): Path<String>) -> Result<Json<Value>, AppError> {
    caller.require(&[Role::Analyst, Role::Approver, Role::Admin, Role::CaseEngine])?;
    let wanted = doc_ref.clone();
    let found = s
        .app
        .blocking(move |app| -> Result<_, AppError> {
            match app.index.get(&wanted).map_err(AppError::internal)? {
                Some(doc) => Ok(Some(doc)),
                None => Ok(crate::enrich::stored_document(&app.store, &wanted)?),
            }
        })
        .await?;
    if let Some(doc) = found {
        return Ok(Json(json!({"ref": doc.doc_ref(), "title": doc.title, "kind": doc.kind, "text": doc.text, "techniques": doc.techniques})));
    }
    // Techniques not imported into the index still have their catalog facts.
    let technique = doc_ref.strip_prefix("attack:").and_then(|id| crate::attack::TechniqueId::parse(id).ok()).and_then(|id| s.app.catalog.get(&id).cloned());
    match technique {
        Some(t) => Ok(Json(json!({
            "ref": doc_ref, "title": format!("{} {}", t.id, t.name), "kind": "attack", "techniques": [t.id],
            "text": format!("{} {}\nTactics: {}\nPlatforms: {}\n{}", t.id, t.name, t.tactics.join(", "), t.platforms.join(", "), t.url),
        }))),
        None => Err(AppError::not_found(format!("document {doc_ref} not found"))),
    }
}
