//! `GET /openapi.json`: the routes, their roles and the schemas derived from the types.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::AppState;

pub async fn openapi(State(s): State<AppState>) -> Json<Value> {
    let op = |summary: &str, roles: &str| {
        json!({"summary": summary, "description": format!("Roles: {roles}."), "security": [{"bearer": []}],
        "responses": {"200": {"description": "OK"}, "401": {"$ref": "#/components/responses/Error"}, "403": {"$ref": "#/components/responses/Error"}}})
    };
    Json(json!({
        "openapi": "3.1.0",
        "info": {"title": "triage", "version": env!("CARGO_PKG_VERSION"), "description": "AI-assisted security-alert triage: grounded, checked recommendations with human approval."},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "responses": {"Error": {"description": "`{ \"error\": { \"code\", \"message\" } }`"}},
            "schemas": {"Recommendation": s.app.schemas.recommendation, "ModelOutput": s.app.schemas.model_output}
        },
        "paths": {
            "/healthz": {"get": {"summary": "Liveness", "responses": {"200": {"description": "OK"}}}},
            "/readyz": {"get": {"summary": "Readiness (store and index open)", "responses": {"200": {"description": "OK"}, "503": {"description": "Not ready"}}}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "OK"}}}},
            "/v1/whoami": {"get": op("The caller's key id, name and role", "any")},
            "/v1/recommend": {"post": op("Recommend for 1–100 alerts (body ≤ 1 MiB; Idempotency-Key honoured)", "case_engine, analyst, admin")},
            "/v1/schema/recommendation": {"get": op("JSON Schema (2020-12) of `recommendation`", "any")},
            "/v1/recommendations/{id}": {"get": op("A stored response", "case_engine, analyst, approver, admin")},
            "/v1/alerts": {"post": op("Stream 1–500 alerts (body ≤ 4 MiB): dedup by fingerprint, correlation into cases; `{results: [{alert_id, fingerprint, outcome: new_case|attached|duplicate, case_id, related_cases}]}`", "case_engine, admin")},
            "/v1/cases": {"get": op("The queue (`?state=&assignee=&breached=&sort=sla|severity|age&limit=`) with assignee, sla, freshness, confidence, missing_context, blocked_actions, related_cases", "case_engine, analyst, approver, admin")},
            "/v1/cases/{case_id}/assign": {"post": op("`{assignee}` (null unassigns)", "analyst, admin")},
            "/v1/cases/{case_id}/recover": {"post": op("`{note}`: the service is back after an executed action (409 `invalid_transition` otherwise)", "analyst, admin")},
            "/v1/cases/{case_id}/merge": {"post": op("`{from: [case ids]}`: move their alerts here; they close with `merged_into`", "analyst, admin")},
            "/v1/cases/{case_id}/split": {"post": op("`{alert_ids: [...]}`: move them to a new case (201 `{case_id}`)", "analyst, admin")},
            "/v1/cases/{case_id}/graph": {"get": op("`{nodes, edges}`: what the case's alerts name", "case_engine, analyst, approver, admin")},
            "/v1/learning": {"get": op("Learning tasks (`?status=open|accepted|dismissed&case_id=`)", "analyst, admin")},
            "/v1/learning/{id}": {"post": op("`{status: accepted|dismissed, note}`; the case is `learned` when none is open", "analyst, admin")},
            "/v1/cases/{case_id}": {"get": op("Alerts, recommendations, approvals, state and history", "case_engine, analyst, approver, admin")},
            "/v1/cases/{case_id}/close": {"post": op("Close with disposition, severity, techniques, note", "analyst, admin")},
            "/v1/cases/{case_id}/summary": {"get": op("Grounded case summary", "analyst, approver, admin")},
            "/v1/approvals": {"get": op("Approvals (`?status=pending|approved|rejected|expired`)", "analyst, approver, admin")},
            "/v1/approvals/{id}": {"get": op("One approval with its decisions", "analyst, approver, admin")},
            "/v1/approvals/{id}/decisions": {"post": op("`{decision: approve|reject, rationale}`", "approver, admin")},
            "/v1/actions": {"get": op("The outbox (`?status=approved`)", "soar, admin")},
            "/v1/actions/{id}/outcome": {"post": op("`{status: executed|failed, detail}` for an approved action", "soar")},
            "/v1/keys": {"get": op("API keys with their principal and status (`{keys: [...]}`)", "admin"),
                         "post": op("Create a key `{name, role, principal?, expires_at?}`; the secret is in `key`, shown once", "admin")},
            "/v1/keys/{id}": {"delete": op("Revoke a key at once", "admin")},
            "/v1/audit": {"get": op("Audit entries after `?after=<seq>`", "admin")},
            "/v1/audit/verify": {"get": op("First broken entry of the hash chain", "admin")},
            "/v1/documents/{ref}": {"get": op("A retrievable document by ref", "case_engine, analyst, approver, admin")},
            "/v1/inventory": {"post": op("Import inventory JSON lines, upserted by entity; 400 `invalid_import` with `error.lines`, nothing kept", "admin")},
            "/v1/intel": {"post": op("Import a STIX 2.1 bundle or CSV `type,value,source,confidence,description`; 400 `invalid_import` with `error.lines`", "admin")},
            "/v1/changes": {"post": op("Import change records (JSON lines), upserted by id; 400 `invalid_import` with `error.lines`", "admin")},
            "/v1/fingerprint": {"post": op("`{secret}` → `{fingerprint: fp_…}`, to match `token:fp_…` targets", "soar")}
        }
    }))
}
