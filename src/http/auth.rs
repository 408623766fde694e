//! Bearer-key authentication and role checks.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::{AppError, AppState};
use crate::store::{Identity, Role};

/// The authenticated caller of a `/v1` route.
pub struct Caller(pub Identity);

impl FromRequestParts<AppState> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| AppError::new("unauthorized", "missing `Authorization: Bearer <key>`"))?;
        let key = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(|| AppError::new("unauthorized", "the Authorization header must be `Bearer <key>`"))?;
        let who = state.app.store.authenticate(key)?.ok_or_else(|| AppError::new("unauthorized", "unknown or revoked API key"))?;
        Ok(Caller(who))
    }
}

impl Caller {
    /// Refuses with 403 unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<&Identity, AppError> {
        if roles.contains(&self.0.role) {
            Ok(&self.0)
        } else {
            let allowed: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
            Err(AppError::new("forbidden", format!("role `{}` may not do this (needs {})", self.0.role, allowed.join(" or "))))
        }
    }
}
