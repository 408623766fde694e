//! `GET /ui`: the analyst's page, served by the binary.

use axum::response::Html;

const PAGE: &str = include_str!("ui.html");

pub async fn page() -> Html<&'static str> {
    Html(PAGE)
}
