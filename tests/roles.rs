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
const WORKERS: &[Role] = &[Role::Analyst, Role::Admin];

/// (method, path as the router declares it, roles that may call it).
const MATRIX: &[(&str, &str, &[Role])] = &[
    ("GET", "/v1/whoami", ALL),
    ("POST", "/v1/recommend", &[Role::CaseEngine, Role::Analyst, Role::Admin]),
    ("GET", "/v1/schema/recommendation", ALL),
    ("GET", "/v1/recommendations/{id}", READERS),
    ("POST", "/v1/alerts", &[Role::CaseEngine, Role::Admin]),
    ("GET", "/v1/cases", READERS),
    ("GET", "/v1/cases/{id}", READERS),
    ("POST", "/v1/cases/{id}/close", WORKERS),
    ("GET", "/v1/cases/{id}/summary", READERS),
    ("POST", "/v1/cases/{id}/assign", WORKERS),
    ("POST", "/v1/cases/{id}/recover", WORKERS),
    ("POST", "/v1/cases/{id}/merge", WORKERS),
    ("POST", "/v1/cases/{id}/split", WORKERS),
    ("GET", "/v1/cases/{id}/graph", READERS),
    ("GET", "/v1/approvals", QUEUE),
    ("GET", "/v1/approvals/{id}", QUEUE),
    ("POST", "/v1/approvals/{id}/decisions", &[Role::Approver, Role::Admin]),
    ("GET", "/v1/actions", &[Role::Soar, Role::Admin]),
    ("POST", "/v1/actions/{id}/outcome", &[Role::Soar]),
    ("GET", "/v1/keys", &[Role::Admin]),
    ("POST", "/v1/keys", &[Role::Admin]),
    ("DELETE", "/v1/keys/{id}", &[Role::Admin]),
    ("GET", "/v1/audit", &[Role::Admin]),
    ("GET", "/v1/audit/verify", &[Role::Admin]),
    ("GET", "/v1/documents/{doc_ref}", READERS),
    ("POST", "/v1/inventory", &[Role::Admin]),
    ("POST", "/v1/intel", &[Role::Admin]),
    ("POST", "/v1/changes", &[Role::Admin]),
    ("POST", "/v1/fingerprint", &[Role::Soar]),
    ("GET", "/v1/learning", WORKERS),
    ("POST", "/v1/learning/{id}", WORKERS),
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

/// The (method, path) pairs `src/http/mod.rs` hands to axum, with those of the routers it
/// merges in (`.merge(module::routes())`, read from `src/http/module.rs`). Read from the
/// source, since a built `Router` can't list its routes; every `.route(` call is parsed,
/// whatever its layout.
fn router_routes() -> BTreeSet<(String, String)> {
    let out = routes_of_module("mod", "fn router(");
    assert!(out.len() >= 20, "router parsing found too little: {out:?}");
    out
}

/// The text of a `src/http` module: `mod` for `mod.rs`, else `name.rs` or `name/mod.rs`.
fn http_source(module: &str) -> String {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/http");
    let candidates = if module == "mod" { vec![format!("{dir}/mod.rs")] } else { vec![format!("{dir}/{module}.rs"), format!("{dir}/{module}/mod.rs")] };
    candidates.iter().find_map(|p| std::fs::read_to_string(p).ok()).unwrap_or_else(|| panic!("no source for the http module `{module}`: {candidates:?}"))
}

/// The body of the function that `signature` opens, up to its closing brace.
fn function_body<'a>(src: &'a str, signature: &str, module: &str) -> &'a str {
    let start = src.find(signature).unwrap_or_else(|| panic!("no `{signature}` in the http module `{module}`"));
    let open = start + src[start..].find('{').unwrap_or_else(|| panic!("`{signature}` in `{module}` has no body"));
    let mut depth = 0;
    for (i, ch) in src[open..].char_indices() {
        match ch {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return &src[open..=open + i];
                }
            }
            _ => {}
        }
    }
    panic!("`{signature}` in `{module}` never closes")
}

/// The argument text of every `.{call}(…)` in `src`, parentheses balanced.
fn calls<'a>(src: &'a str, call: &str) -> Vec<&'a str> {
    let needle = format!(".{call}(");
    let mut out = Vec::new();
    for (start, _) in src.match_indices(&needle) {
        let open = start + needle.len() - 1;
        let mut depth = 0;
        for (i, ch) in src[open..].char_indices() {
            match ch {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        out.push(&src[open + 1..open + i]);
                        break;
                    }
                }
                _ => {}
            }
        }
    }
    out
}

/// The routes the function `signature` of the http module `module` declares, following the
/// routers it merges in.
fn routes_of_module(module: &str, signature: &str) -> BTreeSet<(String, String)> {
    let file = http_source(module);
    let src = function_body(&file, signature, module);
    // A nested router prefixes its paths, and a service hides them: neither is read here.
    assert!(!src.contains(".nest(") && !src.contains(".nest_service(") && !src.contains(".route_service("), "extend router_routes() to read nested routers");
    let mut out = BTreeSet::new();
    for merged in calls(src, "merge") {
        // `enrich::routes()`: the function `routes` of `src/http/enrich.rs`.
        let target = merged.trim().strip_suffix("()").unwrap_or_else(|| panic!("extend router_routes() to read `.merge({merged})`"));
        let (sub, function) = target.rsplit_once("::").unwrap_or_else(|| panic!("extend router_routes() to read `.merge({merged})`"));
        let sub = sub.trim_start_matches("self::").trim_start_matches("super::");
        assert!(sub.chars().all(|c| c.is_alphanumeric() || c == '_'), "extend router_routes() to read `.merge({merged})`");
        let found = routes_of_module(sub, &format!("fn {function}("));
        assert!(!found.is_empty(), "`.merge({merged})` declares no route");
        out.extend(found);
    }
    for call in calls(src, "route") {
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
        "/v1/keys" => json!({"name": "role-probe", "role": "analyst"}),
        // Imports are files: one JSON line, or a STIX bundle.
        "/v1/inventory" => json!({"entity": "host:role-probe", "owner": "role-probe", "environment": "staging"}),
        "/v1/intel" => json!({"type": "bundle", "id": "bundle--6f0e5c1a-2b7d-4c8e-9f3a-1d2e3f4a5b6c", "objects": [{
            "type": "indicator", "spec_version": "2.1", "id": "indicator--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061",
            "created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z", "pattern_type": "stix",
            "pattern": "[ipv4-addr:value = '203.0.113.77']", "valid_from": "2026-01-01T00:00:00Z"}]}),
        "/v1/changes" => {
            json!({"id": "chg-role-probe", "time": "2026-03-02T09:00:00Z", "entity": "host:role-probe", "kind": "config", "by": "role-probe", "summary": "role probe"})
        }
        "/v1/fingerprint" => json!({"secret": "role-probe-secret"}),
        "/v1/alerts" => json!({"alerts": [common::native_alert("rp-stream-1", "Role probe", "low", json!({}))]}),
        "/v1/cases/{id}/assign" => json!({"assignee": "role-probe"}),
        "/v1/cases/{id}/recover" => json!({"note": "role probe"}),
        "/v1/cases/{id}/merge" => json!({"from": ["probe-missing-too"]}),
        "/v1/cases/{id}/split" => json!({"alert_ids": ["rp-missing"]}),
        "/v1/learning/{id}" => json!({"status": "dismissed", "note": "role probe"}),
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
        "DELETE" => t.http.delete(url),
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
    // Every route, 5 roles: the refusals the matrix implies, no fewer.
    assert_eq!(refused, MATRIX.iter().map(|(_, _, a)| 5 - a.len()).sum::<usize>());
    assert!(refused >= 60, "{refused}");
}

#[tokio::test]
async fn a_refused_write_changes_nothing() {
    // A wrong role on a route that writes: the store is as before, and the audit trail
    // gains nothing but the reads this test makes as admin and, if the service records
    // them, the refusals themselves (section 14 audits failed sign-ins). The keys are made
    // first: creating a key is an audit event of its own.
    let t = spawn_app().await;
    let admin = t.key("admin", Role::Admin);
    let probes: Vec<(Role, &str, String)> = [
        (Role::Soar, "/v1/recommend"),
        (Role::Approver, "/v1/recommend"),
        (Role::CaseEngine, "/v1/cases/{id}/close"),
        (Role::Analyst, "/v1/keys"),
        (Role::Soar, "/v1/inventory"),
        (Role::Admin, "/v1/fingerprint"),
    ]
    .into_iter()
    .map(|(role, path)| (role, path, t.key(&format!("wrong-{role}"), role)))
    .collect();
    let (_, before) = t.get("/v1/audit", &admin).await;
    let stored_before = state_of(&t);
    for (role, path, key) in &probes {
        let (s, b) = call(&t, "POST", path, Some(key), None).await;
        assert_error(s, &b, 403, "forbidden", &format!("POST {path} as {role}"));
    }
    assert_eq!(state_of(&t), stored_before, "a refused write changed the store");
    let (_, cases) = t.get("/v1/cases", &admin).await;
    assert_eq!(cases["cases"], json!([]));
    let (_, keys) = t.get("/v1/keys", &admin).await;
    assert_eq!(keys["keys"].as_array().unwrap().len(), 1 + probes.len(), "{keys:#}");
    let (_, after) = t.get("/v1/audit", &admin).await;
    let entries = |v: &Value| v["entries"].as_array().unwrap().clone();
    let (before, after) = (entries(&before), entries(&after));
    assert!(!before.is_empty() && after.len() >= before.len(), "{after:#?}");
    assert_eq!(after[..before.len()], before[..], "the audit trail was rewritten");
    for e in &after[before.len()..] {
        let kind = e["kind"].as_str().unwrap();
        let refusal = kind.starts_with("auth.") && e["data"].as_object().is_some_and(|d| !d.contains_key("alerts") && !d.contains_key("case_id"));
        assert!(kind == "outbox.read" || refusal, "a refused write left an audit entry other than its refusal: {e:#}");
    }
}

/// Every row of every table but the audit trail (whose growth is checked on its own).
fn state_of(t: &TestApp) -> String {
    common::storage_dump(t.dir.path()).lines().filter(|l| !l.starts_with("audit\t") && !l.starts_with("audit_head\t")).collect::<Vec<_>>().join("\n")
}
