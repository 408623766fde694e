//! The one HTTP error type. Every code lives in [`AppError::status`]: a code names one
//! status, always. 5xx details are logged, never sent.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::alert::AlertError;
use crate::approval::DecideError;
use crate::pipeline::PipelineError;
use crate::store::{DecisionError, StoreError};

#[derive(Debug)]
pub struct AppError {
    pub code: &'static str,
    pub message: String,
}

impl AppError {
    pub fn new(code: &'static str, message: impl Into<String>) -> AppError {
        AppError { code, message: message.into() }
    }

    pub fn status(&self) -> StatusCode {
        match self.code {
            "unauthorized" => StatusCode::UNAUTHORIZED,
            "forbidden" | "own_request" => StatusCode::FORBIDDEN,
            "not_found" => StatusCode::NOT_FOUND,
            "method_not_allowed" => StatusCode::METHOD_NOT_ALLOWED,
            "request_timeout" => StatusCode::REQUEST_TIMEOUT,
            "payload_too_large" => StatusCode::PAYLOAD_TOO_LARGE,
            "unsupported_media_type" => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "already_decided"
            | "invalid_transition"
            | "case_closed"
            | "approval_closed"
            | "action_not_approved"
            | "binding_mismatch"
            | "conflict"
            | "idempotency_in_flight" => StatusCode::CONFLICT,
            "idempotency_key_reused" => StatusCode::UNPROCESSABLE_ENTITY,
            "engine_error" => StatusCode::BAD_GATEWAY,
            "internal" => StatusCode::INTERNAL_SERVER_ERROR,
            "not_ready" => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    pub fn internal(e: impl std::fmt::Display) -> AppError {
        tracing::error!(error = %e, "internal error");
        AppError::new("internal", "internal error; see the service log")
    }

    pub fn not_found(what: impl Into<String>) -> AppError {
        AppError::new("not_found", what)
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        (self.status(), Json(json!({"error": {"code": self.code, "message": self.message}}))).into_response()
    }
}

impl From<axum::extract::rejection::PathRejection> for AppError {
    fn from(e: axum::extract::rejection::PathRejection) -> Self {
        AppError::new("invalid_path", e.body_text())
    }
}

impl From<axum::extract::rejection::QueryRejection> for AppError {
    fn from(e: axum::extract::rejection::QueryRejection) -> Self {
        AppError::new("invalid_query", e.body_text())
    }
}

impl From<AlertError> for AppError {
    fn from(e: AlertError) -> Self {
        AppError::new(e.code, e.to_string())
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(m) => AppError::not_found(format!("{m} not found")),
            StoreError::Conflict(m) => AppError::new("conflict", m),
            StoreError::InvalidTransition(t) => AppError::new("invalid_transition", t.to_string()),
            StoreError::CaseClosed(id) => AppError::new("case_closed", format!("case {id} is closed; a new alert opens a new case that lists it as related")),
            other => AppError::internal(other),
        }
    }
}

impl From<PipelineError> for AppError {
    fn from(e: PipelineError) -> Self {
        match e {
            PipelineError::Alert(a) => a.into(),
            PipelineError::InvalidCaseId(_) => AppError::new("invalid_case_id", e.to_string()),
            PipelineError::IdempotencyConflict(m) => AppError::new("idempotency_key_reused", m),
            PipelineError::IdempotencyInFlight(m) => AppError::new("idempotency_in_flight", m),
            PipelineError::Engine(inner) => {
                tracing::error!(error = %inner, "engine error");
                AppError::new("engine_error", "the engine could not answer")
            }
            PipelineError::Store(s) => s.into(),
            PipelineError::Index(i) => AppError::internal(i),
        }
    }
}

impl From<DecisionError> for AppError {
    fn from(e: DecisionError) -> Self {
        let code = match &e {
            DecisionError::NotFound(_) => "not_found",
            DecisionError::Rule(DecideError::RationaleRequired) => "rationale_required",
            DecisionError::Rule(DecideError::OwnRequest) => "own_request",
            DecisionError::Rule(DecideError::AlreadyDecided) => "already_decided",
            DecisionError::Rule(DecideError::Closed(_) | DecideError::Expired) => "approval_closed",
            DecisionError::Rule(DecideError::BindingMismatch) => "binding_mismatch",
            DecisionError::Rule(DecideError::NotForPolicy(_)) => "forbidden",
            DecisionError::Store(s) => return AppError::internal(s),
        };
        AppError::new(code, e.to_string())
    }
}
