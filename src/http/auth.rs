//! Bearer-key authentication and role checks.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::{AppError, AppState, ErrorCode};
use crate::store::{Identity, Role, SignIn};

/// The authenticated caller of a `/v1` route.
pub struct Caller(pub Identity);

impl FromRequestParts<AppState> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        // Every failed sign-in is an audit event (contract section 14).
        let refuse = async |reason: &'static str, message: &'static str| -> AppError {
            if let Err(e) = state.app.blocking(move |app| app.store.failed_sign_in(reason, "-")).await {
                return AppError::internal(e);
            }
            AppError::new(ErrorCode::Unauthorized, message)
        };
        let Some(header) = parts.headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
            return Err(refuse("missing key", "missing `Authorization: Bearer <key>`").await);
        };
        let Some(key) = header.strip_prefix("Bearer ").or_else(|| header.strip_prefix("bearer ")) else {
            return Err(refuse("malformed Authorization header", "the Authorization header must be `Bearer <key>`").await);
        };
        let key = key.to_string();
        match state.app.blocking(move |app| app.store.sign_in(&key, &crate::store::now())).await? {
            SignIn::Valid(who) => Ok(Caller(who)),
            // One answer for all three: the caller learns nothing about which keys exist;
            // the audit trail records which it was.
            SignIn::Unknown | SignIn::Revoked(_) | SignIn::Expired(_) => Err(AppError::new(ErrorCode::Unauthorized, "unknown or revoked API key")),
        }
    }
}

impl Caller {
    /// Refuses with 403 unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<&Identity, AppError> {
        if roles.contains(&self.0.role) {
            Ok(&self.0)
        } else {
            let allowed: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
            Err(AppError::new(ErrorCode::Forbidden, format!("role `{}` may not do this (needs {})", self.0.role, allowed.join(" or "))))
        }
    }
}
