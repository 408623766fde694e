//! `/v1/keys` (contract section 14, role `admin`): create, list and revoke API keys.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::handlers::Body;
use super::{AppError, AppState, Caller, ErrorCode};
use crate::store::{NewKey, Role, now};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    name: String,
    role: String,
    #[serde(default)]
    principal: Option<String>,
    #[serde(default)]
    expires_at: Option<String>,
}

/// An RFC 3339 time, normalised to the stored form so that comparisons hold.
pub fn parse_expiry(s: &str) -> Result<String, String> {
    let t = chrono::DateTime::parse_from_rfc3339(s.trim()).map_err(|e| format!("`{s}` is not an RFC 3339 time ({e})"))?;
    Ok(t.with_timezone(&chrono::Utc).to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

pub async fn create(State(s): State<AppState>, caller: Caller, Body(req, _): Body<CreateKey>) -> Result<(StatusCode, Json<Value>), AppError> {
    let who = caller.require(&[Role::Admin])?;
    let role: Role = req.role.parse().map_err(|e: String| AppError::new(ErrorCode::InvalidField, e))?;
    let expires_at = req.expires_at.as_deref().map(parse_expiry).transpose().map_err(|e| AppError::new(ErrorCode::InvalidField, e))?;
    let new = NewKey::checked(&req.name, role, req.principal.as_deref(), expires_at.clone()).map_err(|e| AppError::new(ErrorCode::InvalidField, e))?;
    let actor = who.actor();
    let (created, secret) = s.app.blocking(move |app| app.store.create_key_with(&new, &actor)).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"key_id": created.key_id, "name": created.name, "role": created.role, "principal": created.principal,
                    "expires_at": expires_at, "key": secret})),
    ))
}

pub async fn list(State(s): State<AppState>, caller: Caller) -> Result<Json<Value>, AppError> {
    caller.require(&[Role::Admin])?;
    Ok(Json(json!({"keys": s.app.blocking(|app| app.store.keys(&now())).await?})))
}

pub async fn revoke(State(s): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Json<Value>, AppError> {
    let who = caller.require(&[Role::Admin])?;
    let actor = who.actor();
    let key = s.app.blocking(move |app| app.store.revoke_key(&id, &actor, &now())).await?;
    Ok(Json(serde_json::to_value(key).map_err(AppError::internal)?))
}
