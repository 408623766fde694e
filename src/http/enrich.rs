//! Enrichment routes (contract section 12): imports of inventory, intel and change records
//! (admin), and secret fingerprints for SOARs.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use serde_json::{Value, json};

use super::handlers::{Body, RawBody};
use super::{AppError, AppState, Caller, ErrorCode};
use crate::enrich::import::{ImportError, ImportReport};
use crate::enrich::{changes, intel, inventory};
use crate::store::Role;

pub fn routes() -> Router<AppState> {
    Router::new()
        // Imports are files, larger than a request: `[http] max_import_body` (64 MiB by
        // default) over HTTP; the CLI has no limit.
        .route("/v1/inventory", post(import_inventory))
        .route("/v1/intel", post(import_intel))
        .route("/v1/changes", post(import_changes))
        .route("/v1/fingerprint", post(fingerprint))
}

/// Why an import was refused, as an HTTP answer.
pub enum ImportFailure {
    Lines(ImportError),
    App(AppError),
}

impl From<AppError> for ImportFailure {
    fn from(e: AppError) -> Self {
        ImportFailure::App(e)
    }
}

impl IntoResponse for ImportFailure {
    fn into_response(self) -> Response {
        match self {
            ImportFailure::App(e) => e.into_response(),
            ImportFailure::Lines(e) => {
                let code = ErrorCode::InvalidImport;
                (code.status(), Json(json!({"error": {"code": code, "message": e.to_string(), "lines": e.lines}}))).into_response()
            }
        }
    }
}

/// Parses and stores one import file (`inventory`, `intel` or `changes`): the whole file
/// or nothing. The outer error is the store's; the inner one names the refused lines.
pub fn import_text(
    store: &crate::store::Store,
    kind: &'static str,
    text: &str,
    actor: &str,
) -> Result<Result<ImportReport, ImportError>, crate::store::StoreError> {
    let report = match kind {
        "inventory" => match inventory::parse(text) {
            Ok(records) => ImportReport { kind, imported: store.import_inventory(&records, actor)?, skipped: Vec::new() },
            Err(e) => return Ok(Err(e)),
        },
        "intel" => match intel::parse(text) {
            Ok(parsed) => ImportReport { kind, imported: store.import_intel(&parsed.indicators, actor)?, skipped: parsed.skipped },
            Err(e) => return Ok(Err(e)),
        },
        _ => match changes::parse(text) {
            Ok(records) => ImportReport { kind, imported: store.import_changes(&records, actor)?, skipped: Vec::new() },
            Err(e) => return Ok(Err(e)),
        },
    };
    Ok(Ok(report))
}

async fn import(s: AppState, caller: Caller, body: Result<RawBody, AppError>, kind: &'static str) -> Result<Json<Value>, ImportFailure> {
    let who = caller.require(&[Role::Admin])?;
    let RawBody(bytes) = body.map_err(|e| match e.code {
        ErrorCode::PayloadTooLarge => AppError::new(
            ErrorCode::PayloadTooLarge,
            format!("an import is at most {} bytes over HTTP; use `triage {kind} import <file>`", s.app.http.max_import_body),
        ),
        _ => e,
    })?;
    let text = String::from_utf8(bytes.to_vec()).map_err(|_| ImportFailure::Lines(ImportError::one(1, "the file is not UTF-8")))?;
    let actor = who.actor();
    let result = s.app.blocking(move |app| import_text(&app.store, kind, &text, &actor)).await;
    match result.map_err(AppError::from)? {
        Ok(report) => Ok(Json(serde_json::to_value(report).map_err(AppError::internal)?)),
        Err(lines) => Err(ImportFailure::Lines(lines)),
    }
}

pub async fn import_inventory(State(s): State<AppState>, caller: Caller, body: Result<RawBody, AppError>) -> Result<Json<Value>, ImportFailure> {
    import(s, caller, body, "inventory").await
}

pub async fn import_intel(State(s): State<AppState>, caller: Caller, body: Result<RawBody, AppError>) -> Result<Json<Value>, ImportFailure> {
    import(s, caller, body, "intel").await
}

pub async fn import_changes(State(s): State<AppState>, caller: Caller, body: Result<RawBody, AppError>) -> Result<Json<Value>, ImportFailure> {
    import(s, caller, body, "changes").await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FingerprintRequest {
    secret: String,
}

/// The fingerprint of a secret a SOAR holds, to match `token:fp_…` targets. The secret is
/// neither stored nor logged; the request is audited with the fingerprint only.
pub async fn fingerprint(State(s): State<AppState>, caller: Caller, Body(req, _): Body<FingerprintRequest>) -> Result<Json<Value>, AppError> {
    let who = caller.require(&[Role::Soar])?;
    if req.secret.is_empty() || req.secret.len() > 8_192 {
        return Err(AppError::new(ErrorCode::InvalidField, "`secret` must be 1 to 8192 bytes"));
    }
    let fp = s.app.fingerprint_key.fingerprint(&req.secret);
    let (actor, subject) = (who.actor(), fp.clone());
    s.app.blocking(move |app| app.store.audit(&actor, "fingerprint", &subject, &json!({}))).await?;
    Ok(Json(json!({"fingerprint": fp})))
}

/// The evidence status of the proposed action an approval is for, from the stored
/// recommendation, added to the approval's JSON as `evidence_status`.
pub fn with_evidence(app: &crate::app::App, approval: &mut Value) -> Result<(), AppError> {
    let (Some(id), Some(rec_id)) = (approval.get("approval_id").and_then(Value::as_str), approval.get("recommendation_id").and_then(Value::as_str)) else {
        return Ok(());
    };
    let Some(stored) = app.store.recommendation(rec_id)? else { return Ok(()) };
    let status = stored
        .pointer("/recommendation/proposed_actions")
        .and_then(Value::as_array)
        .and_then(|actions| actions.iter().find(|a| a.get("approval_id").and_then(Value::as_str) == Some(id)))
        .and_then(|a| a.get("evidence_status").cloned());
    if let (Some(status), Some(obj)) = (status, approval.as_object_mut()) {
        obj.insert("evidence_status".into(), status);
    }
    Ok(())
}
