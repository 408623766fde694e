//! The one HTTP error type. Its code is an [`ErrorCode`] from the one table
//! (`src/error_code.rs`), which also gives the status; any domain error that is
//! [`Coded`] converts into it. 5xx details are logged, never sent.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

pub use crate::error_code::{Coded, ErrorCode};

#[derive(Debug)]
pub struct AppError {
    pub code: ErrorCode,
    pub message: String,
}

impl AppError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> AppError {
        AppError { code, message: message.into() }
    }

    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    pub fn internal(e: impl std::fmt::Display) -> AppError {
        tracing::error!(error = %e, "internal error");
        AppError::new(ErrorCode::Internal, ErrorCode::Internal.public_message())
    }

    pub fn not_found(what: impl Into<String>) -> AppError {
        AppError::new(ErrorCode::NotFound, what)
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        (self.status(), Json(json!({"error": {"code": self.code, "message": self.message}}))).into_response()
    }
}

/// Any coded domain error: its code and message, or, for a 5xx, the code with a generic
/// message while the details go to the log.
impl<E: Coded> From<E> for AppError {
    fn from(e: E) -> Self {
        let code = e.code();
        if code.status().is_server_error() {
            tracing::error!(code = code.as_str(), error = %e, "request failed");
            return AppError::new(code, code.public_message());
        }
        AppError::new(code, e.to_string())
    }
}

impl From<axum::extract::rejection::PathRejection> for AppError {
    fn from(e: axum::extract::rejection::PathRejection) -> Self {
        AppError::new(ErrorCode::InvalidPath, e.body_text())
    }
}

impl From<axum::extract::rejection::QueryRejection> for AppError {
    fn from(e: axum::extract::rejection::QueryRejection) -> Self {
        AppError::new(ErrorCode::InvalidQuery, e.body_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;

    #[test]
    fn server_errors_keep_their_details_in_the_log() {
        let e = AppError::from(StoreError::Corrupt("row 7 of secret_table".into()));
        assert_eq!(e.code, ErrorCode::Internal);
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!e.message.contains("secret_table"), "{}", e.message);
        let e = AppError::from(StoreError::NotFound("case c1".into()));
        assert_eq!((e.code, e.message.as_str()), (ErrorCode::NotFound, "case c1 not found"));
    }
}
