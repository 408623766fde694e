//! The HTTP surface (contract sections 2–8): a router of thin handlers over the pipeline
//! and the store.

mod auth;
mod cases;
pub mod enrich;
mod error;
mod handlers;
mod keys;
mod observe;
mod openapi;
mod serve;
mod ui;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use crate::app::App;

pub use crate::error_code::{Coded, ErrorCode};
pub use crate::strict_json::{StrictJsonError, parse_strict};
pub use auth::Caller;
pub use error::AppError;
pub use keys::parse_expiry;
pub use serve::serve;

#[derive(Clone)]
pub struct AppState {
    pub app: Arc<App>,
}

pub fn router(app: Arc<App>) -> Router {
    // Bodies are read by the extractors in `handlers`, each bounded by its route's limit
    // (`[http] max_body`, `max_stream_body`, `max_import_body`); this bounds any other.
    let body_limit = app.http.max_body;
    let state = AppState { app };
    let timed = axum::middleware::from_fn_with_state(state.clone(), observe::track);
    Router::new()
        .route("/healthz", get(handlers::healthz))
        .route("/readyz", get(handlers::readyz))
        .route("/metrics", get(handlers::metrics))
        .route("/openapi.json", get(openapi::openapi))
        .route("/ui", get(ui::page))
        .route("/v1/whoami", get(handlers::whoami))
        .route("/v1/recommend", post(handlers::recommend))
        .route("/v1/schema/recommendation", get(handlers::schema))
        .route("/v1/recommendations/{id}", get(handlers::recommendation))
        .route("/v1/cases/{id}", get(handlers::case))
        .route("/v1/cases/{id}/close", post(handlers::close_case))
        .route("/v1/cases/{id}/summary", get(handlers::summary))
        .route("/v1/approvals", get(handlers::approvals))
        .route("/v1/approvals/{id}", get(handlers::approval))
        .route("/v1/approvals/{id}/decisions", post(handlers::decide))
        .route("/v1/actions", get(handlers::actions))
        .route("/v1/actions/{id}/outcome", post(handlers::outcome))
        .route("/v1/keys", get(keys::list).post(keys::create))
        .route("/v1/keys/{id}", axum::routing::delete(keys::revoke))
        .route("/v1/audit", get(handlers::audit))
        .route("/v1/audit/verify", get(handlers::audit_verify))
        .route("/v1/documents/{doc_ref}", get(handlers::document))
        .merge(enrich::routes())
        .merge(cases::routes())
        .fallback(handlers::not_found)
        .method_not_allowed_fallback(handlers::method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(CatchPanicLayer::custom(panicked))
        .layer(axum::middleware::map_response(no_sniffing))
        .layer(timed)
        .layer(TraceLayer::new_for_http().make_span_with(observe::request_span).on_response(observe::record_status))
        .with_state(state)
}

/// Every answer is what its `Content-Type` says, never sniffed into something else.
async fn no_sniffing(mut response: Response) -> Response {
    response.headers_mut().insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// A panic in a handler is a bug; the client still gets the JSON error, not a dropped
/// connection.
fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    AppError::internal("a handler panicked").into_response()
}
