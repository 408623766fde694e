//! Property tests of the parsers that read attacker-influenced input: request bodies
//! (strict JSON), alerts (native and OCSF), JSON paths, redaction, and the checks of
//! model outputs. For any input: no panic, and every failure is a typed error with a
//! stable code.
//!
//! Each property runs `PROPTEST_CASES` inputs, 10 000 by default (the CI setting, about
//! half a minute for the whole file on two cores in a debug build). A longer run, outside
//! CI: `PROPTEST_CASES=1000000 cargo test --release --test properties` (docs/security.md).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{Map, Value, json};
use triage::alert::{Alert, Redactor};
use triage::attack::Catalog;
use triage::corpus::{Corpus, Document};
use triage::policy::ActionCatalog;
use triage::validate::{self, Context, Schemas};

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    Config { cases, failure_persistence: None, ..Config::default() }
}

/// Any JSON value: scalars of every kind (strings with any character), nested a few levels.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
        any::<String>().prop_map(Value::String),
        "[a-zA-Z0-9 _:@.#/-]{0,24}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6).prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Object keys: the ones the parsers look for, and anything else.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "id",
            "source",
            "time",
            "rule",
            "name",
            "severity",
            "entities",
            "asset",
            "environment",
            "fields",
            "class_uid",
            "finding_info",
            "uid",
            "title",
            "severity_id",
            "evidences",
            "resources",
            "labels",
            "observables",
            "type_id",
            "value",
            "password",
            "token",
            "hosts",
            "users",
        ])
        .prop_map(str::to_string),
        any::<String>(),
    ]
}

fn native_alert() -> Value {
    json!({
        "id": "a1", "source": "sysmon", "time": "2026-03-02T10:15:00Z",
        "rule": {"id": "r-1", "name": "Encoded PowerShell", "severity": "high", "description": "d"},
        "entities": {"hosts": ["WS-042"], "users": ["CORP\\jdoe"], "tokens": ["ghp_x"]},
        "asset": {"environment": "production", "criticality": "high", "owner": "it"},
        "fields": {"CommandLine": "powershell -enc SQBFAFgA", "nested": {"k": [1, "two"]}}
    })
}

fn ocsf_finding() -> Value {
    json!({
        "class_uid": 2004, "time": 1767225600000_i64, "severity_id": 4,
        "metadata": {"product": {"name": "Falco"}, "uid": "m-1"},
        "finding_info": {"uid": "fnd-1", "title": "Reverse shell", "desc": "d", "analytic": {"uid": "r1", "name": "rs"}, "attacks": [{"technique": {"uid": "T1059"}}]},
        "device": {"hostname": "node-1", "ip": "10.0.0.1"},
        "evidences": [{"process": {"cmd_line": "bash -i"}, "dst_endpoint": {"ip": "203.0.113.7"}}],
        "resources": [{"labels": ["environment:production"]}],
        "observables": [{"type_id": 2, "value": "10.0.0.9"}, {"type": "hostname", "value": "x"}]
    })
}

/// Puts `v` at a path of `root` made of `keys` (creating objects on the way), or removes
/// the last key when `v` is `None`.
fn mutate(root: &mut Value, keys: &[String], v: Option<Value>) {
    let Some((last, parents)) = keys.split_last() else { return };
    let mut at = root;
    for k in parents {
        if !at.is_object() {
            *at = Value::Object(Map::new());
        }
        at = at.as_object_mut().unwrap().entry(k.clone()).or_insert(Value::Object(Map::new()));
    }
    if !at.is_object() {
        *at = Value::Object(Map::new());
    }
    let obj = at.as_object_mut().unwrap();
    match v {
        Some(v) => {
            obj.insert(last.clone(), v);
        }
        None => {
            obj.remove(last);
        }
    }
}

fn path_keys() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(key(), 1..4)
}

const ALERT_CODES: &[&str] = &[
    "invalid_alert",
    "unknown_field",
    "missing_field",
    "invalid_field",
    "invalid_time",
    "invalid_severity",
    "invalid_alert_id",
    "unsupported_alert_class",
    "no_alerts",
    "too_many_alerts",
    "duplicate_alert_id",
];

fn check_alert(result: Result<Alert, triage::alert::AlertError>) -> Result<(), TestCaseError> {
    match result {
        Ok(a) => prop_assert!(triage::alert::is_valid_id(&a.id), "accepted id {:?}", a.id),
        Err(e) => {
            prop_assert!(ALERT_CODES.contains(&e.code.as_str()), "untyped code {}", e.code);
            prop_assert!(!e.message.is_empty());
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_json_is_an_alert_or_a_typed_error(v in json_value()) {
        check_alert(Alert::parse(0, &v))?;
        if let Value::Array(items) = &v
            && let Err(e) = triage::alert::parse_all(items)
        {
            prop_assert!(ALERT_CODES.contains(&e.code.as_str()), "untyped code {}", e.code);
        }
    }

    #[test]
    fn a_mutated_native_alert_is_an_alert_or_a_typed_error(keys in path_keys(), v in prop::option::of(json_value())) {
        let mut a = native_alert();
        mutate(&mut a, &keys, v);
        check_alert(Alert::parse(0, &a))?;
    }

    #[test]
    fn a_mutated_ocsf_finding_is_an_alert_or_a_typed_error(keys in path_keys(), v in prop::option::of(json_value())) {
        let mut a = ocsf_finding();
        mutate(&mut a, &keys, v);
        let parsed = Alert::parse(0, &a);
        if let Ok(alert) = &parsed {
            // What the mapping extracted sits in the raw alert it came from.
            prop_assert_eq!(&alert.raw, &a);
        }
        check_alert(parsed)?;
    }

    #[test]
    fn json_paths_resolve_or_miss_without_panicking(v in json_value(), path in any::<String>(), simple in "[a-z]{1,8}(\\.[a-z]{1,8}|\\[[0-9]\\]){0,4}") {
        let _ = triage::jsonpath::resolve(&v, &path);
        let _ = triage::jsonpath::resolve(&v, &simple);
        // A path to a member that exists finds it.
        let mut root = Map::new();
        root.insert("fields".into(), json!({simple.replace(['.', '[', ']'], "_"): v.clone()}));
        let root = Value::Object(root);
        let found = triage::jsonpath::resolve(&root, &format!("fields.{}", simple.replace(['.', '[', ']'], "_")));
        prop_assert_eq!(found, Some(&v));
        let _ = triage::jsonpath::text_of(&v);
    }

    #[test]
    fn redaction_never_panics_and_catches_planted_tokens(
        before in "[ -~]{0,60}",
        after in "[ -~]{0,60}",
        body in "[A-Za-z0-9]{36}",
        shape in 0usize..5,
        noise in any::<String>(),
    ) {
        let token = match shape {
            0 => format!("ghp_{body}"),
            1 => format!("npm_{body}"),
            2 => format!("AKIA{}", body[..16].to_ascii_uppercase()),
            3 => format!("glpat-{}", &body[..20]),
            _ => format!("xoxb-{}", &body[..24]),
        };
        let text = format!("{before} {token} {after}");
        let out = Redactor::new().redact_value(&json!({"message": text, "noise": noise, noise.clone(): 1}));
        prop_assert!(!out.to_string().contains(&token), "{} survived in {}", token, out);
        let out = Redactor::new().redact_str(&noise);
        prop_assert!(out.len() < noise.len() + 4096);
    }

    #[test]
    fn strict_json_reads_any_bytes_as_a_value_or_a_typed_error(bytes in prop::collection::vec(any::<u8>(), 0..256), v in json_value()) {
        let _ = triage::http::parse_strict(&bytes);
        // A serialized value reads back as itself.
        let text = serde_json::to_vec(&v).unwrap();
        prop_assert_eq!(triage::http::parse_strict(&text).unwrap(), v);
    }

    #[test]
    fn any_model_output_is_checked_or_refused_with_reasons(raw in any::<String>(), keys in path_keys(), v in prop::option::of(json_value()), cut in 0usize..2000) {
        let f = fixture();
        let ctx = Context { alerts: &f.alerts, retrieved: &f.docs, catalog: &f.catalog, actions: &f.actions, schemas: &f.schemas, against: &[] };
        let mut output = valid_output(&f.docs);
        mutate(&mut output, &keys, v);
        let text = output.to_string();
        let truncated: String = text.chars().take(cut).collect();
        for candidate in [raw.as_str(), text.as_str(), truncated.as_str()] {
            match validate::check(candidate, &ctx) {
                // What passes names only catalog actions, each with the tier policy gives it.
                Ok(checked) => {
                    for a in &checked.recommendation.proposed_actions {
                        prop_assert!(f.actions.contains(&a.action), "{} passed", a.action);
                        let target = triage::policy::Target::parse(&a.target).unwrap();
                        prop_assert_eq!(f.actions.tier_for(&a.action, &target, &f.alerts).unwrap(), a.tier);
                    }
                }
                Err(reasons) => {
                    prop_assert!(!reasons.is_empty());
                    for r in &reasons {
                        prop_assert!(!r.code.is_empty() && r.code.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "untyped reason {:?}", r);
                    }
                }
            }
        }
    }
}

struct Fixture {
    alerts: Vec<Alert>,
    docs: Vec<Document>,
    catalog: Catalog,
    actions: ActionCatalog,
    schemas: Schemas,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| Fixture {
        alerts: vec![Alert::parse(0, &native_alert()).unwrap()],
        docs: Corpus::load(None).unwrap().documents.into_iter().take(5).collect(),
        catalog: Catalog::embedded().unwrap(),
        actions: ActionCatalog::embedded().unwrap(),
        schemas: Schemas::compile().unwrap(),
    })
}

/// An output that passes every check against [`fixture`].
fn valid_output(docs: &[Document]) -> Value {
    let doc = &docs[0];
    let quote: String = doc.text.split_whitespace().take(4).collect::<Vec<_>>().join(" ");
    json!({
        "severity": "high", "confidence": 0.7, "hypothesis": "Encoded PowerShell from an Office parent.",
        "attack": [{"technique_id": "T1059.001", "rationale": "encoded interpreter command line"}],
        "evidence": [{"ref": "alert:a1#rule.name", "quote": "Encoded PowerShell"}, {"ref": doc.doc_ref(), "quote": quote}],
        "uncertainty": ["The parent document was not retrieved."],
        "proposed_actions": [{"action": "isolate_host", "target": "host:WS-042", "rationale": "contain the host"}],
        "summary": "Likely malicious PowerShell."
    })
}

#[test]
fn the_valid_output_passes_so_mutations_start_from_a_real_answer() {
    let f = fixture();
    let ctx = Context { alerts: &f.alerts, retrieved: &f.docs, catalog: &f.catalog, actions: &f.actions, schemas: &f.schemas, against: &[] };
    let raw = valid_output(&f.docs).to_string();
    assert!(validate::check(&raw, &ctx).is_ok(), "{:?}", validate::check(&raw, &ctx).err());
}
