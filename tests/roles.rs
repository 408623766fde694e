//! Every `/v1` route against every role (contract section 7): 401 without a valid key,
//! 403 with the JSON error for each role that may not call it, and no refusal for the
//! roles that may. The matrix below is checked against the routes the router declares and
//! the roles `/openapi.json` documents, so a new route can't ship unprobed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;

use common::{TestApp, spawn_app};
use serde_json::{Value, json};
use triage::store::Role;

const ALL: &[Role] = &Role::ALL;
const READERS: &[Role] = &[Role::CaseEngine, Role::Analyst, Role::Approver, Role::Admin];
const QUEUE: &[Role] = &[Role::Analyst, Role::Approver, Role::Admin];

/// (method, path as the router declares it, roles that may call it).
const MATRIX: &[(&str, &str, &[Role])] = &[
    ("GET", "/v1/whoami", ALL),
    ("POST", "/v1/recommend", &[Role::CaseEngine, Role::Analyst, Role::Admin]),
    ("GET", "/v1/schema/recommendation", ALL),
    ("GET", "/v1/recommendations/{id}", READERS),
    ("GET", "/v1/cases", QUEUE),
    ("GET", "/v1/cases/{id}", READERS),
    ("POST", "/v1/cases/{id}/close", &[Role::Analyst, Role::Admin]),
    ("GET", "/v1/cases/{id}/summary", QUEUE),
    ("GET", "/v1/approvals", QUEUE),
    ("GET", "/v1/approvals/{id}", QUEUE),
    ("POST", "/v1/approvals/{id}/decisions", &[Role::Approver, Role::Admin]),
    ("GET", "/v1/actions", &[Role::Soar, Role::Admin]),
    ("POST", "/v1/actions/{id}/outcome", &[Role::Soar]),
    ("GET", "/v1/audit", &[Role::Admin]),
    ("GET", "/v1/audit/verify", &[Role::Admin]),
    ("GET", "/v1/documents/{doc_ref}", READERS),
];

/// `/v1/cases/{case_id}` and `/v1/cases/{id}` are the same route.
fn normalise(path: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for ch in path.chars() {
        match ch {
            '{' => {
                in_param = true;
                out.push_str("{}");
            }
            '}' => in_param = false,
            _ if in_param => {}
            _ => out.push(ch),
        }
    }
    out
}

/// The (method, path) pairs `src/http/mod.rs` hands to axum. Read from the source, since a
/// built `Router` can't list its routes; every `.route(` call is parsed, whatever its layout.
fn router_routes() -> BTreeSet<(String, String)> {
    let src = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/http/mod.rs")).unwrap();
    // A nested or merged router would hide its routes from this reading.
    assert!(!src.contains(".nest(") && !src.contains(".merge(") && !src.contains(".route_service("), "extend router_routes() to read nested routers");
    let mut out = BTreeSet::new();
    for (start, _) in src.match_indices(".route(") {
        let mut depth = 0;
        let mut end = start;
        for (i, ch) in src[start..].char_indices() {
            match ch {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = start + i;
                        break;
                    }
                }
                _ => {}
            }
        }
        let call = &src[start..end];
        let path = call.split('"').nth(1).unwrap_or_else(|| panic!("no path in {call}"));
        let mut methods = 0;
        for m in ["get", "post", "put", "patch", "delete"] {
            for (i, _) in call.match_indices(&format!("{m}(")) {
                let before = call[..i].chars().last().unwrap_or(' ');
                if !before.is_alphanumeric() && before != '_' {
                    out.insert((m.to_uppercase(), path.to_string()));
                    methods += 1;
                }
            }
        }
        assert!(methods > 0, "no method read from {call}");
    }
    assert!(out.len() >= 20, "router parsing found too little: {out:?}");
    out
}

#[test]
fn the_matrix_covers_every_v1_route_the_router_serves_and_openapi_documents() {
    let matrix: BTreeSet<(String, String)> = MATRIX.iter().map(|(m, p, _)| (m.to_string(), normalise(p))).collect();
    assert_eq!(matrix.len(), MATRIX.len(), "duplicate rows in MATRIX");
    let router: BTreeSet<(String, String)> = router_routes().into_iter().filter(|(_, p)| p.starts_with("/v1/")).map(|(m, p)| (m, normalise(&p))).collect();
    assert_eq!(router, matrix, "routes in the router but not in MATRIX (or the reverse): add each to MATRIX with its roles");
}

#[tokio::test]
async fn openapi_documents_the_same_routes_and_roles() {
    let t = spawn_app().await;
    let (_, doc) = t.get("/openapi.json", "").await;
    let mut documented = BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        if !path.starts_with("/v1/") {
            continue;
        }
        for (method, op) in ops.as_object().unwrap() {
            let key = (method.to_uppercase(), normalise(path));
            let (_, _, roles) =
                MATRIX.iter().find(|(m, p, _)| (m.to_string(), normalise(p)) == key).unwrap_or_else(|| panic!("{key:?} is documented but not in MATRIX"));
            // "Roles: a, b." or "Roles: any."
            let text = op["description"].as_str().unwrap();
            let listed = text.strip_prefix("Roles: ").and_then(|r| r.strip_suffix('.')).unwrap_or_else(|| panic!("{path}: {text}"));
            let listed: BTreeSet<&str> = if listed == "any" { Role::ALL.iter().map(|r| r.as_str()).collect() } else { listed.split(", ").collect() };
            let want: BTreeSet<&str> = roles.iter().map(|r| r.as_str()).collect();
            assert_eq!(listed, want, "{method} {path}: openapi.json documents other roles than MATRIX");
            documented.insert(key);
        }
    }
    let matrix: BTreeSet<(String, String)> = MATRIX.iter().map(|(m, p, _)| (m.to_string(), normalise(p))).collect();
    assert_eq!(documented, matrix, "openapi.json and MATRIX list different /v1 routes");
}

/// A body each POST route accepts, so that only the role (never a 400 from parsing the
/// body, which runs before the handler) decides the answer.
fn body_for(path: &str) -> Value {
    match path {
        "/v1/recommend" => json!({"case_id": "role-probe", "alerts": [common::native_alert("rp-1", "Role probe", "low", json!({}))]}),
        "/v1/cases/{id}/close" => json!({"disposition": "benign", "severity": "low", "techniques": [], "note": "role probe"}),
        "/v1/approvals/{id}/decisions" => json!({"decision": "reject", "rationale": "role probe"}),
        "/v1/actions/{id}/outcome" => json!({"status": "failed", "detail": "role probe"}),
        _ => json!({}),
    }
}

/// The path with its parameters filled with ids that don't exist, so no probe changes
/// anything that a later probe depends on.
fn concrete(path: &str) -> String {
    path.replace("{id}", "probe-missing").replace("{doc_ref}", "runbook:rb-probe-missing")
}

async fn call(t: &TestApp, method: &str, path: &str, key: Option<&str>, auth_header: Option<&str>) -> (u16, Value) {
    let url = format!("{}{}", t.base, concrete(path));
    let mut req = match method {
        "GET" => t.http.get(url),
        "POST" => t.http.post(url).json(&body_for(path)),
        other => panic!("no probe for {other}"),
    };
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    if let Some(h) = auth_header {
        req = req.header("authorization", h);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn assert_error(status: u16, body: &Value, want_status: u16, want_code: &str, what: &str) {
    assert_eq!(status, want_status, "{what}: {body}");
    assert_eq!(body["error"]["code"], want_code, "{what}: {body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{what}: no message in {body}");
}

#[tokio::test]
async fn every_v1_route_refuses_missing_and_bad_keys_and_wrong_roles() {
    let t = spawn_app().await;
    let keys: Vec<(Role, String)> = Role::ALL.iter().map(|r| (*r, t.key(&format!("probe-{r}"), *r))).collect();
    let mut refused = 0;
    for (method, path, allowed) in MATRIX {
        let route = format!("{method} {path}");
        let (s, b) = call(&t, method, path, None, None).await;
        assert_error(s, &b, 401, "unauthorized", &format!("{route} without a key"));
        let (s, b) = call(&t, method, path, Some("trk_0000000000000000000000000000000000000000"), None).await;
        assert_error(s, &b, 401, "unauthorized", &format!("{route} with an unknown key"));
        let (s, b) = call(&t, method, path, None, Some(&format!("Basic {}", keys[4].1))).await;
        assert_error(s, &b, 401, "unauthorized", &format!("{route} with a valid key in the wrong scheme"));
        for (role, key) in &keys {
            let (s, b) = call(&t, method, path, Some(key), None).await;
            if allowed.contains(role) {
                assert!(s != 401 && s != 403, "{route} refused {role}, which may call it: {s} {b}");
                assert!(s < 500, "{route} as {role}: {s} {b}");
            } else {
                assert_error(s, &b, 403, "forbidden", &format!("{route} as {role}"));
                assert!(b["error"]["message"].as_str().unwrap().contains(role.as_str()), "{route} as {role}: {b}");
                refused += 1;
            }
        }
    }
    // 16 routes, 5 roles: the refusals the matrix implies, no fewer.
    assert_eq!(refused, MATRIX.iter().map(|(_, _, a)| 5 - a.len()).sum::<usize>());
    assert!(refused >= 30, "{refused}");
}

#[tokio::test]
async fn a_refused_write_changes_nothing() {
    // A wrong role on a route that writes: the audit trail and the store are as before,
    // apart from the reads this test makes as admin.
    let t = spawn_app().await;
    let admin = t.key("admin", Role::Admin);
    let (_, before) = t.get("/v1/audit", &admin).await;
    for (role, path) in [(Role::Soar, "/v1/recommend"), (Role::Approver, "/v1/recommend"), (Role::CaseEngine, "/v1/cases/{id}/close")] {
        let key = t.key("wrong", role);
        let (s, _) = call(&t, "POST", path, Some(&key), None).await;
        assert_eq!(s, 403);
    }
    let (_, cases) = t.get("/v1/cases", &admin).await;
    assert_eq!(cases["cases"], json!([]));
    let (_, after) = t.get("/v1/audit", &admin).await;
    let writes = |v: &Value| v["entries"].as_array().unwrap().iter().filter(|e| e["kind"] != "outbox.read").count();
    assert_eq!(writes(&before), writes(&after), "{after:#}");
}
