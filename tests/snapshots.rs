//! Snapshots of what is large and stable: the schemas the model and callers rely on, and
//! the shape of error bodies. A change here is a change to the contract's outside.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use serde_json::json;
use triage::store::Role;

#[test]
fn the_model_output_schema() {
    insta::assert_json_snapshot!(triage::recommendation::model_output_schema());
}

#[test]
fn the_served_recommendation_schema() {
    insta::assert_json_snapshot!(triage::recommendation::recommendation_schema());
}

#[test]
fn the_case_summary_schema() {
    insta::assert_json_snapshot!(triage::recommendation::summary_output_schema());
}

#[tokio::test]
async fn error_bodies() {
    let t = common::spawn_app().await;
    let key = t.key("case-engine", Role::CaseEngine);
    let (_, unknown) = t
        .post("/v1/recommend", &key, &json!({"alerts": [{"id": "a", "source": "s", "time": "2026-01-01T00:00:00Z", "rule": {"name": "x"}, "sevrity": "high"}]}))
        .await;
    let (_, unauthorized) = t.post("/v1/recommend", "nope", &json!({})).await;
    let (_, forbidden) = t.get("/v1/audit", &key).await;
    let (_, missing) = t.get("/v1/recommendations/rec_missing", &key).await;
    insta::assert_json_snapshot!(json!({"unknown_field": unknown, "unauthorized": unauthorized, "forbidden": forbidden, "not_found": missing}));
}
