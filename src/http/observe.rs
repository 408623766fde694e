//! Each request's span and latency. Both know a request by its method and route template
//! (`/v1/cases/{id}`) only: never the path, the query string, a header or the body.

use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use tower_http::trace::{DefaultOnResponse, OnResponse};
use tracing::Span;
use tracing::field::Empty;

use super::AppState;
use crate::metrics::HttpLabels;

/// The route of a request no route matched (a 404 from the fallback).
pub const UNMATCHED: &str = "unmatched";

const METHODS: [&str; 9] = ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"];

/// The method, or `other` for an extension method: a client must not mint label values.
fn method(m: &Method) -> &'static str {
    METHODS.into_iter().find(|k| *k == m.as_str()).unwrap_or("other")
}

fn route<B>(req: &axum::http::Request<B>) -> &str {
    req.extensions().get::<MatchedPath>().map(MatchedPath::as_str).unwrap_or(UNMATCHED)
}

/// The request's span, named `METHOD /route/{template}` as OpenTelemetry's HTTP conventions
/// ask. The pipeline's stages are its children.
pub fn request_span<B>(req: &axum::http::Request<B>) -> Span {
    let (method, route) = (method(req.method()), route(req));
    tracing::info_span!(
        "request",
        otel.name = %format_args!("{method} {route}"),
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = method,
        http.route = route,
        http.response.status_code = Empty,
    )
}

/// Puts the status on the request's span (an error status for a 5xx, as the conventions
/// say for servers), then logs as tower-http does by default.
pub fn record_status<B>(response: &axum::http::Response<B>, latency: Duration, span: &Span) {
    // As i64: tracing-opentelemetry exports unsigned values as strings.
    span.record("http.response.status_code", i64::from(response.status().as_u16()));
    if response.status().is_server_error() {
        span.record("otel.status_code", "error");
    }
    DefaultOnResponse::default().on_response(response, latency, span);
}

/// Times the request into the HTTP latency histogram, by method, route and status.
pub async fn track(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let (method, route) = (method(req.method()), route(&req).to_string());
    let started = Instant::now();
    let response = next.run(req).await;
    s.app.metrics.http_request(HttpLabels { method: method.to_string(), route, status: response.status().as_u16() }, started.elapsed());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_methods_are_other() {
        assert_eq!(method(&Method::POST), "POST");
        assert_eq!(method(&Method::from_bytes(b"BREW").unwrap_or(Method::GET)), "other");
    }
}
