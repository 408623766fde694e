//! `GET /openapi.json`: the routes, their roles, the error codes each can answer with (from
//! the one table, [`ErrorCode`]) and the schemas derived from the types.

use axum::Json;
use axum::extract::State;
use serde_json::{Map, Value, json};

use super::{AppState, ErrorCode};
use crate::store::Role;

use ErrorCode::*;

/// What a route reads, each with the errors reading it can give.
#[derive(Clone, Copy, PartialEq)]
enum Input {
    /// Nothing beyond the path.
    None,
    /// A JSON body (the `Body` extractor).
    Json,
    /// An import file (any type, up to `[http] max_import_body`).
    Import,
}

/// One operation of the API, as documented.
struct Op {
    method: &'static str,
    path: &'static str,
    summary: String,
    /// `None`: no key needed.
    roles: Option<&'static [Role]>,
    /// The status of a success.
    ok: u16,
    input: Input,
    /// Whether the route reads a query string.
    query: bool,
    /// What the route itself may refuse with, beyond what its input, its path parameters
    /// and the key check give.
    codes: &'static [ErrorCode],
}

const ANY: &[Role] = &Role::ALL;
const READERS: &[Role] = &[Role::CaseEngine, Role::Analyst, Role::Approver, Role::Admin];
const QUEUE: &[Role] = &[Role::Analyst, Role::Approver, Role::Admin];
const WORKERS: &[Role] = &[Role::Analyst, Role::Admin];
const ADMIN: &[Role] = &[Role::Admin];

/// The errors of a JSON body: its type, size, time, syntax and shape.
const BODY_ERRORS: &[ErrorCode] =
    &[UnsupportedMediaType, PayloadTooLarge, RequestTimeout, InvalidRequest, InvalidJson, DuplicateKey, UnknownField, MissingField, InvalidField];
/// The errors of an import file; a refused file names its lines.
const IMPORT_ERRORS: &[ErrorCode] = &[PayloadTooLarge, InvalidRequest, InvalidImport];
/// What a batch of alerts may be refused for (contract section 1).
const ALERT_ERRORS: &[ErrorCode] =
    &[InvalidAlert, InvalidAlertId, InvalidTime, InvalidSeverity, UnsupportedAlertClass, NoAlerts, TooManyAlerts, DuplicateAlertId];

/// Codes any route can answer with, whatever it is: documented once, at the top.
pub const ANY_ROUTE: &[ErrorCode] = &[NotFound, MethodNotAllowed, Internal];

fn ops(max_body: usize, max_stream_body: usize, max_import_body: usize) -> Vec<Op> {
    let mib = |n: usize| if n.is_multiple_of(1024 * 1024) { format!("{} MiB", n / (1024 * 1024)) } else { format!("{n} bytes") };
    let op = |method: &'static str, path: &'static str, summary: &str, roles: Option<&'static [Role]>, input: Input, codes: &'static [ErrorCode]| Op {
        method,
        path,
        summary: summary.to_string(),
        roles,
        ok: 200,
        input,
        query: false,
        codes,
    };
    let import = |path: &'static str, what: &str| Op {
        summary: format!("{what} (body ≤ {}); 400 `invalid_import` with `error.lines`, nothing kept", mib(max_import_body)),
        ..op("post", path, "", Some(ADMIN), Input::Import, &[])
    };
    vec![
        Op { summary: "Liveness".into(), ..op("get", "/healthz", "", None, Input::None, &[]) },
        Op {
            summary: "Readiness (store and index open, audit chain intact); 503 with `status: not_ready`".into(),
            ..op("get", "/readyz", "", None, Input::None, &[NotReady])
        },
        op("get", "/metrics", "Prometheus metrics", None, Input::None, &[]),
        op("get", "/openapi.json", "This document", None, Input::None, &[]),
        op("get", "/ui", "The analyst's page", None, Input::None, &[]),
        op("get", "/v1/whoami", "The caller's key id, name, role and principal", Some(ANY), Input::None, &[]),
        op(
            "post",
            "/v1/recommend",
            &format!("Recommend for 1–100 alerts (body ≤ {}; Idempotency-Key honoured)", mib(max_body)),
            Some(&[Role::CaseEngine, Role::Analyst, Role::Admin]),
            Input::Json,
            &[
                InvalidAlert,
                InvalidAlertId,
                InvalidTime,
                InvalidSeverity,
                UnsupportedAlertClass,
                NoAlerts,
                TooManyAlerts,
                DuplicateAlertId,
                InvalidCaseId,
                CaseClosed,
                InvalidTransition,
                IdempotencyKeyReused,
                IdempotencyInFlight,
                EngineError,
            ],
        ),
        op("get", "/v1/schema/recommendation", "JSON Schema (2020-12) of `recommendation`", Some(ANY), Input::None, &[]),
        op("get", "/v1/recommendations/{id}", "A stored response", Some(READERS), Input::None, &[NotFound]),
        op(
            "post",
            "/v1/alerts",
            &format!(
                "The alert stream: 1–500 alerts (body ≤ {}), deduplicated by fingerprint and correlated into cases; a batch with an invalid alert is refused whole",
                mib(max_stream_body)
            ),
            Some(&[Role::CaseEngine, Role::Admin]),
            Input::Json,
            ALERT_ERRORS,
        ),
        Op {
            query: true,
            ..op(
                "get",
                "/v1/cases",
                "The queue (`?state=&assignee=&breached=&sort=sla|severity|age&limit=`): `{cases: [...]}`",
                Some(READERS),
                Input::None,
                &[],
            )
        },
        op(
            "get",
            "/v1/cases/{case_id}",
            "Alerts, recommendations, approvals, state and history, SLA, freshness, blocked actions",
            Some(READERS),
            Input::None,
            &[NotFound],
        ),
        op(
            "post",
            "/v1/cases/{case_id}/close",
            "Close with disposition, severity, techniques, note",
            Some(WORKERS),
            Input::Json,
            &[NotFound, InvalidSeverity, UnknownTechnique, InvalidTransition],
        ),
        op("get", "/v1/cases/{case_id}/summary", "Grounded case summary", Some(READERS), Input::None, &[NotFound]),
        op("post", "/v1/cases/{case_id}/assign", "`{assignee}` (null unassigns)", Some(WORKERS), Input::Json, &[NotFound, CaseClosed]),
        op(
            "post",
            "/v1/cases/{case_id}/recover",
            "`{note}`: the affected service is back after an executed action",
            Some(WORKERS),
            Input::Json,
            &[NotFound, InvalidTransition],
        ),
        op(
            "post",
            "/v1/cases/{case_id}/merge",
            "`{from: [case ids]}`: move the alerts of other open cases into this one; they close with `merged_into`",
            Some(WORKERS),
            Input::Json,
            &[NotFound, CaseClosed, Conflict, InvalidTransition],
        ),
        Op {
            ok: 201,
            ..op(
                "post",
                "/v1/cases/{case_id}/split",
                "`{alert_ids: [...]}`: move these alerts into a new case; 201 `{case_id}`",
                Some(WORKERS),
                Input::Json,
                &[NotFound, CaseClosed, Conflict, InvalidTransition],
            )
        },
        op("get", "/v1/cases/{case_id}/graph", "The case as a graph of what its alerts name: `{nodes, edges}`", Some(READERS), Input::None, &[NotFound]),
        Op { query: true, ..op("get", "/v1/approvals", "Approvals (`?status=pending|approved|rejected|expired`)", Some(QUEUE), Input::None, &[]) },
        op("get", "/v1/approvals/{id}", "One approval with its decisions and evidence status", Some(QUEUE), Input::None, &[NotFound]),
        op(
            "post",
            "/v1/approvals/{id}/decisions",
            "`{decision: approve|reject, rationale}`",
            Some(&[Role::Approver, Role::Admin]),
            Input::Json,
            &[NotFound, RationaleRequired, Forbidden, OwnRequest, AlreadyDecided, ApprovalClosed, BindingMismatch],
        ),
        Op { query: true, ..op("get", "/v1/actions", "The outbox (`?status=approved`)", Some(&[Role::Soar, Role::Admin]), Input::None, &[]) },
        op(
            "post",
            "/v1/actions/{id}/outcome",
            "`{status: executed|failed, detail}` for an approved action",
            Some(&[Role::Soar]),
            Input::Json,
            &[NotFound, ActionNotApproved],
        ),
        op("get", "/v1/keys", "API keys with their principal and status (`{keys: [...]}`)", Some(ADMIN), Input::None, &[]),
        Op {
            ok: 201,
            ..op("post", "/v1/keys", "Create a key `{name, role, principal?, expires_at?}`; the secret is in `key`, shown once", Some(ADMIN), Input::Json, &[])
        },
        op("delete", "/v1/keys/{id}", "Revoke a key at once", Some(ADMIN), Input::None, &[NotFound, Conflict]),
        Op { query: true, ..op("get", "/v1/audit", "Audit entries after `?after=<seq>` (`&limit=`)", Some(ADMIN), Input::None, &[]) },
        op("get", "/v1/audit/verify", "First broken entry of the hash chain", Some(ADMIN), Input::None, &[]),
        op("get", "/v1/documents/{ref}", "A retrievable document by ref", Some(READERS), Input::None, &[NotFound]),
        import("/v1/inventory", "Import inventory JSON lines, upserted by entity"),
        import("/v1/intel", "Import a STIX 2.1 bundle or CSV `type,value,source,confidence,description`"),
        import("/v1/changes", "Import change records (JSON lines), upserted by id"),
        op("post", "/v1/fingerprint", "`{secret}` → `{fingerprint: fp_…}`, to match `token:fp_…` targets", Some(&[Role::Soar]), Input::Json, &[]),
        Op {
            query: true,
            ..op("get", "/v1/learning", "Learning tasks (`?status=open|accepted|dismissed&case_id=`): `{tasks: [...]}`", Some(WORKERS), Input::None, &[])
        },
        op(
            "post",
            "/v1/learning/{id}",
            "`{status: accepted|dismissed, note}`; the case is learned when none of its tasks is open",
            Some(WORKERS),
            Input::Json,
            &[NotFound, Conflict, InvalidTransition],
        ),
    ]
}

impl Op {
    /// Every code the operation can answer with, from its route, input and key check.
    fn all_codes(&self) -> Vec<ErrorCode> {
        let mut codes: Vec<ErrorCode> = self.codes.to_vec();
        match self.input {
            Input::None => {}
            Input::Json => codes.extend_from_slice(BODY_ERRORS),
            Input::Import => codes.extend_from_slice(IMPORT_ERRORS),
        }
        if self.path.contains('{') {
            codes.push(InvalidPath);
        }
        if self.query {
            codes.push(InvalidQuery);
        }
        if let Some(roles) = self.roles {
            codes.push(Unauthorized);
            if roles.len() < Role::ALL.len() {
                codes.push(Forbidden);
            }
            codes.push(Internal);
        }
        codes.sort();
        codes.dedup();
        codes
    }

    fn document(&self) -> Value {
        let mut responses = Map::new();
        responses.insert(self.ok.to_string(), json!({"description": if self.ok == 201 { "Created" } else { "OK" }}));
        let codes = self.all_codes();
        let mut statuses: Vec<u16> = codes.iter().map(|c| c.status().as_u16()).collect();
        statuses.sort();
        statuses.dedup();
        for status in statuses {
            let here: Vec<ErrorCode> = codes.iter().copied().filter(|c| c.status().as_u16() == status).collect();
            let description = here.iter().map(|c| format!("`{c}`: {}", c.description())).collect::<Vec<_>>().join("\n\n");
            let mut response = json!({
                "description": description,
                "x-error-codes": here,
            });
            // `/readyz` answers its own body, with `status: not_ready`.
            if here != [NotReady] {
                response["content"] = json!({"application/json": {"schema": {
                    "allOf": [{"$ref": "#/components/schemas/Error"}],
                    "properties": {"error": {"properties": {"code": {"enum": here}}}}
                }}});
            }
            responses.insert(status.to_string(), response);
        }
        let mut op = json!({"summary": self.summary, "responses": responses});
        if let Some(roles) = self.roles {
            let listed = if roles.len() == Role::ALL.len() { "any".to_string() } else { roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ") };
            op["description"] = json!(format!("Roles: {listed}."));
            op["security"] = json!([{"bearer": []}]);
        }
        op
    }
}

/// The document, with the limits of these settings in the summaries.
pub fn document(s: &AppState) -> Value {
    let http = &s.app.http;
    let mut paths = Map::new();
    for op in ops(http.max_body, http.max_stream_body, http.max_import_body) {
        let entry = paths.entry(op.path.to_string()).or_insert_with(|| json!({}));
        entry[op.method] = op.document();
    }
    let table: Vec<Value> = ErrorCode::ALL.iter().map(|c| json!({"code": c, "status": c.status().as_u16(), "description": c.description()})).collect();
    json!({
        "openapi": "3.1.0",
        "info": {"title": "triage", "version": env!("CARGO_PKG_VERSION"), "description": "AI-assisted security-alert triage: grounded, checked recommendations with human approval. Every error is `{ \"error\": { \"code\", \"message\" } }` with a stable code; each operation lists the codes it can answer with (`x-error-codes` per status), and any route can answer `not_found` (no such route), `method_not_allowed` or `internal`."},
        "x-error-codes": ANY_ROUTE,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object", "required": ["error"],
                    "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
                        "code": {"$ref": "#/components/schemas/ErrorCode"},
                        "message": {"type": "string"},
                        "lines": {"type": "array", "description": "`invalid_import` only: each refused line and why", "items": {"type": "object", "properties": {"line": {"type": "integer"}, "reason": {"type": "string"}}}}
                    }}}
                },
                "ErrorCode": {"type": "string", "enum": ErrorCode::ALL, "x-error-table": table},
                "Recommendation": s.app.schemas.recommendation, "ModelOutput": s.app.schemas.model_output
            }
        },
        "paths": paths
    })
}

pub async fn openapi(State(s): State<AppState>) -> Json<Value> {
    Json(document(&s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_of_the_table_is_documented_on_some_route() {
        let ops = ops(1, 2, 3);
        for code in ErrorCode::ALL {
            let listed = ANY_ROUTE.contains(code) || ops.iter().any(|o| o.all_codes().contains(code));
            assert!(listed, "{code} is in the table but no route of openapi.json lists it");
        }
    }
}
