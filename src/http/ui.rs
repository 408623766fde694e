//! `GET /ui`: the analyst's page, served by the binary.

use axum::http::header;
use axum::response::{Html, IntoResponse};

const PAGE: &str = include_str!("ui.html");

/// The page, never framed by another origin (clickjacking an approval), never sniffed, and
/// never sending its URL onwards. The page's own Content-Security-Policy is in its
/// `<meta>` tag; `frame-ancestors` only works as a header, so it is sent here.
pub async fn page() -> impl IntoResponse {
    (
        [
            (header::CONTENT_SECURITY_POLICY, "frame-ancestors 'none'"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Html(PAGE),
    )
}
