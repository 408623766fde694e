//! Every `error.code` the service can answer with, in one table: the code, its HTTP status
//! and what it means (Meilisearch's `make_error_codes!`). A code is an [`ErrorCode`], never
//! a free string, so a handler can't invent one, a code always names one status, and
//! `/openapi.json` and `docs/api.md` are checked against [`ErrorCode::ALL`].
//!
//! Domain errors say which code they are with [`Coded`]; the HTTP layer turns any of them
//! into its JSON error body.

use axum::http::StatusCode;
use serde::{Serialize, Serializer};

macro_rules! error_codes {
    ($($variant:ident = $code:literal, $status:ident, $description:literal;)+) => {
        /// A stable `error.code` of the HTTP API. The wire strings are part of the contract:
        /// never rename one.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ErrorCode {
            $(
                #[doc = $description]
                $variant,
            )+
        }

        impl ErrorCode {
            /// Every code, in the order of the table.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),+];

            /// The code as clients see it in `error.code`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)+
                }
            }

            /// The HTTP status every answer with this code has.
            pub const fn status(self) -> StatusCode {
                match self {
                    $(ErrorCode::$variant => StatusCode::$status,)+
                }
            }

            /// One line on what the code means, for the docs and `/openapi.json`.
            pub const fn description(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $description,)+
                }
            }
        }
    };
}

error_codes! {
    // The request as a whole.
    InvalidRequest = "invalid_request", BAD_REQUEST, "The request body could not be read.";
    InvalidJson = "invalid_json", BAD_REQUEST, "The body is not JSON.";
    DuplicateKey = "duplicate_key", BAD_REQUEST, "A JSON object in the body repeats a key.";
    UnknownField = "unknown_field", BAD_REQUEST, "A key the route (or the alert's top level, `rule` or `asset`) does not take.";
    MissingField = "missing_field", BAD_REQUEST, "A required field is absent or empty.";
    InvalidField = "invalid_field", BAD_REQUEST, "A field has the wrong type or a value the route does not take.";
    InvalidQuery = "invalid_query", BAD_REQUEST, "The query string has a parameter of the wrong type or an unknown value.";
    InvalidPath = "invalid_path", BAD_REQUEST, "A path parameter could not be decoded.";
    // Alerts (contract section 1).
    InvalidAlert = "invalid_alert", BAD_REQUEST, "An alert is not a JSON object.";
    InvalidAlertId = "invalid_alert_id", BAD_REQUEST, "An alert id is not 1 to 128 characters of letters, digits and `-_.:@`.";
    InvalidTime = "invalid_time", BAD_REQUEST, "An alert's time is not an RFC 3339 time or epoch milliseconds.";
    InvalidSeverity = "invalid_severity", BAD_REQUEST, "A severity is not one of informational, low, medium, high, critical.";
    UnsupportedAlertClass = "unsupported_alert_class", BAD_REQUEST, "An OCSF alert is not a Detection Finding (class_uid 2004).";
    NoAlerts = "no_alerts", BAD_REQUEST, "A request or batch carries no alert.";
    TooManyAlerts = "too_many_alerts", BAD_REQUEST, "More alerts than one request (100) or one stream batch (500) may carry.";
    DuplicateAlertId = "duplicate_alert_id", BAD_REQUEST, "Two alerts of one request share an id.";
    InvalidCaseId = "invalid_case_id", BAD_REQUEST, "A caller's case_id is not 3 to 64 characters of a-z, 0-9, `-` and `_`.";
    UnknownTechnique = "unknown_technique", BAD_REQUEST, "An ATT&CK technique that is not active in the catalog.";
    RationaleRequired = "rationale_required", BAD_REQUEST, "An approval decision without a rationale.";
    InvalidImport = "invalid_import", BAD_REQUEST, "An import file was refused whole; `error.lines` names each bad line and why.";
    // Who is asking.
    Unauthorized = "unauthorized", UNAUTHORIZED, "No API key, a malformed Authorization header, or an unknown, revoked or expired key.";
    Forbidden = "forbidden", FORBIDDEN, "The key's role may not call this route, or an emergency rule may not decide this.";
    OwnRequest = "own_request", FORBIDDEN, "The principal that asked for the recommendation may not decide on its approval.";
    // What is asked for.
    NotFound = "not_found", NOT_FOUND, "No such route, or no such case, approval, action, key, task, recommendation or document.";
    MethodNotAllowed = "method_not_allowed", METHOD_NOT_ALLOWED, "The route does not take this method.";
    RequestTimeout = "request_timeout", REQUEST_TIMEOUT, "The body did not arrive within the body timeout.";
    // The state of things.
    Conflict = "conflict", CONFLICT, "The request contradicts the state: a key already revoked, a task already decided, a merge or split that can't be.";
    AlreadyDecided = "already_decided", CONFLICT, "This principal has already decided on this approval.";
    ApprovalClosed = "approval_closed", CONFLICT, "The approval is decided or expired and takes no more decisions.";
    BindingMismatch = "binding_mismatch", CONFLICT, "The action no longer matches what the approval was bound to.";
    ActionNotApproved = "action_not_approved", CONFLICT, "Only an approved action takes an outcome.";
    InvalidTransition = "invalid_transition", CONFLICT, "The case's state machine does not allow this transition.";
    CaseClosed = "case_closed", CONFLICT, "The case is closed and takes no new alerts or recommendations.";
    IdempotencyInFlight = "idempotency_in_flight", CONFLICT, "A request with this Idempotency-Key is still being answered.";
    PayloadTooLarge = "payload_too_large", PAYLOAD_TOO_LARGE, "The body is larger than the route's limit.";
    UnsupportedMediaType = "unsupported_media_type", UNSUPPORTED_MEDIA_TYPE, "The body is not sent as `Content-Type: application/json`.";
    IdempotencyKeyReused = "idempotency_key_reused", UNPROCESSABLE_ENTITY, "The Idempotency-Key was already used with a different body.";
    // The service's side.
    Internal = "internal", INTERNAL_SERVER_ERROR, "A fault inside the service; details are in its log, never in the answer.";
    EngineError = "engine_error", BAD_GATEWAY, "The recommendation engine could not answer.";
    NotReady = "not_ready", SERVICE_UNAVAILABLE, "The service is not ready (`GET /readyz`: the store does not answer or the audit chain is broken).";
}

impl ErrorCode {
    /// The code whose wire string is `s`.
    pub fn parse(s: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.iter().copied().find(|c| c.as_str() == s)
    }

    /// What a client is told for a 5xx code: the details stay in the log.
    pub const fn public_message(self) -> &'static str {
        match self {
            ErrorCode::EngineError => "the engine could not answer",
            ErrorCode::NotReady => "the service is not ready",
            _ => "internal error; see the service log",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A domain error that knows its [`ErrorCode`]. The HTTP layer converts any of them into
/// its JSON error, so a new error can't reach a client without a code from the table.
pub trait Coded: std::fmt::Display {
    fn code(&self) -> ErrorCode;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case_and_round_trip() {
        let mut seen = std::collections::BTreeSet::new();
        for c in ErrorCode::ALL {
            assert!(seen.insert(c.as_str()), "{c} twice");
            assert!(c.as_str().bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{c}");
            assert_eq!(ErrorCode::parse(c.as_str()), Some(*c));
            assert!(c.status().is_client_error() || c.status().is_server_error(), "{c}: {}", c.status());
            assert!(!c.description().is_empty());
        }
        assert_eq!(ErrorCode::parse("nope"), None);
    }

    #[test]
    fn the_statuses_clients_rely_on() {
        for (code, status) in [
            ("unauthorized", 401),
            ("forbidden", 403),
            ("own_request", 403),
            ("not_found", 404),
            ("method_not_allowed", 405),
            ("request_timeout", 408),
            ("conflict", 409),
            ("invalid_transition", 409),
            ("case_closed", 409),
            ("approval_closed", 409),
            ("already_decided", 409),
            ("action_not_approved", 409),
            ("idempotency_in_flight", 409),
            ("payload_too_large", 413),
            ("unsupported_media_type", 415),
            ("idempotency_key_reused", 422),
            ("internal", 500),
            ("engine_error", 502),
            ("not_ready", 503),
            ("rationale_required", 400),
            ("invalid_import", 400),
            ("unknown_field", 400),
        ] {
            let c = ErrorCode::parse(code).unwrap_or_else(|| panic!("{code} is gone from the table"));
            assert_eq!(c.status().as_u16(), status, "{code}");
        }
    }
}
