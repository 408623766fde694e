//! The guardrail corpus: model outputs that must be refused (each with the reason it must
//! give) and legitimate ones that must pass with the right tiers. Prints the figures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use serde_json::Value;
use triage::alert::Alert;
use triage::attack::Catalog;
use triage::corpus::{DocKind, Document};
use triage::policy::ActionCatalog;
use triage::validate::{self, Context, Schemas};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/guardrails");

fn documents(ctx: &Value) -> Vec<Document> {
    ctx["retrieved"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let (kind, id) = d["ref"].as_str().unwrap().split_once(':').unwrap();
            Document {
                kind: kind.parse::<DocKind>().unwrap(),
                id: id.to_string(),
                title: d["title"].as_str().unwrap_or_default().to_string(),
                text: d["text"].as_str().unwrap().to_string(),
                techniques: Vec::new(),
                actions: Vec::new(),
                severity: d["severity"].as_str().and_then(|s| s.parse().ok()),
                disposition: d["disposition"].as_str().and_then(|s| s.parse().ok()),
                keywords: String::new(),
            }
        })
        .collect()
}

#[test]
fn rejection_corpus_is_fully_rejected_and_legitimate_outputs_pass() {
    let shared: Value = serde_json::from_str(&std::fs::read_to_string(format!("{FIXTURES}/context.json")).unwrap()).unwrap();
    let catalog = Catalog::embedded().unwrap();
    let actions = ActionCatalog::embedded().unwrap();
    let schemas = Schemas::compile().unwrap();
    let lines = std::fs::read_to_string(format!("{FIXTURES}/outputs.jsonl")).unwrap();

    let mut rejected_right = 0;
    let mut rejects = 0;
    let mut passed = 0;
    let mut passes = 0;
    let mut by_reason: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut failures = Vec::new();
    for line in lines.lines().filter(|l| !l.trim().is_empty()) {
        let case: Value = serde_json::from_str(line).unwrap();
        let id = case["id"].as_str().unwrap();
        let ctx_value = case.get("context").filter(|c| !c.is_null()).unwrap_or(&shared);
        let alerts: Vec<Alert> = ctx_value["alerts"].as_array().unwrap().iter().enumerate().map(|(i, a)| Alert::parse(i, a).unwrap()).collect();
        let docs = documents(ctx_value);
        let ctx = Context { alerts: &alerts, retrieved: &docs, catalog: &catalog, actions: &actions, schemas: &schemas, against: &[] };
        let raw = match case.get("raw").and_then(Value::as_str) {
            Some(r) => r.to_string(),
            None => case["output"].to_string(),
        };
        let result = validate::check(&raw, &ctx);
        match case["expect"].as_str().unwrap() {
            "reject" => {
                rejects += 1;
                let want = case["reason"].as_str().unwrap();
                let entry = by_reason.entry(want.to_string()).or_default();
                entry.1 += 1;
                match result {
                    // Execution, wherever found, is the first reason a reviewer reads.
                    Err(reasons) if reasons.iter().any(|r| r.code == "direct_execution_proposed") && reasons[0].code != "direct_execution_proposed" => failures
                        .push(format!("{id}: direct_execution_proposed is not the first reason: {:?}", reasons.iter().map(|r| &r.code).collect::<Vec<_>>())),
                    Err(reasons) if reasons.iter().any(|r| r.code == want) => {
                        rejected_right += 1;
                        entry.0 += 1;
                    }
                    Err(reasons) => {
                        failures.push(format!("{id}: wanted {want}, got {:?}", reasons.iter().map(|r| format!("{}: {}", r.code, r.detail)).collect::<Vec<_>>()))
                    }
                    Ok(_) => failures.push(format!("{id}: wanted {want}, but it passed")),
                }
            }
            _ => {
                passes += 1;
                match result {
                    Ok(checked) => {
                        let tiers = validate::tiers(&checked.recommendation);
                        let mut ok = true;
                        if let Some(want) = case.get("tiers").and_then(Value::as_object) {
                            for (k, v) in want {
                                let got = tiers.get(k).map(|t| t.as_str());
                                if got != v.as_str() {
                                    ok = false;
                                    failures.push(format!("{id}: tier of `{k}` is {got:?}, wanted {v}"));
                                }
                            }
                        }
                        if ok {
                            passed += 1;
                        }
                    }
                    Err(reasons) => {
                        failures.push(format!("{id}: false rejection {:?}", reasons.iter().map(|r| format!("{}: {}", r.code, r.detail)).collect::<Vec<_>>()))
                    }
                }
            }
        }
    }
    println!(
        "guardrail corpus: {rejected_right}/{rejects} unsafe outputs rejected with the right code; {passed}/{passes} legitimate outputs passed ({} false rejections)",
        passes - passed
    );
    for (reason, (ok, n)) in &by_reason {
        println!("  {reason:<28} {ok}/{n}");
    }
    for f in &failures {
        println!("  FAIL {f}");
    }
    assert!(rejects >= 60 && passes >= 40, "corpus too small: {rejects} rejects, {passes} passes");
    assert!(failures.is_empty(), "{} failures", failures.len());
}

/// Legitimate answers as OpenAI (strict and json_object), Ollama and llama.cpp write them
/// (null and absent quotes, provider-prefixed targets, fences, escapes, whitespace) must
/// all pass; answers that propose execution and also break the schema must be refused
/// with `direct_execution_proposed` first. Prints the figures per provider style.
#[test]
fn provider_styles_pass_and_broken_unsafe_answers_report_execution_first() {
    let shared: Value = serde_json::from_str(&std::fs::read_to_string(format!("{FIXTURES}/context.json")).unwrap()).unwrap();
    let catalog = Catalog::embedded().unwrap();
    let actions = ActionCatalog::embedded().unwrap();
    let schemas = Schemas::compile().unwrap();
    let lines = std::fs::read_to_string(format!("{FIXTURES}/providers.jsonl")).unwrap();
    // style -> (cases, false rejections or wrong refusals)
    let mut figures: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut failures = Vec::new();
    for line in lines.lines().filter(|l| !l.trim().is_empty()) {
        let case: Value = serde_json::from_str(line).unwrap();
        let id = case["id"].as_str().unwrap();
        let ctx_value = case.get("context").filter(|c| !c.is_null()).unwrap_or(&shared);
        let alerts: Vec<Alert> = ctx_value["alerts"].as_array().unwrap().iter().enumerate().map(|(i, a)| Alert::parse(i, a).unwrap()).collect();
        let docs = documents(ctx_value);
        let ctx = Context { alerts: &alerts, retrieved: &docs, catalog: &catalog, actions: &actions, schemas: &schemas, against: &[] };
        let result = validate::check(case["raw"].as_str().unwrap(), &ctx);
        let entry = figures.entry(case["style"].as_str().unwrap().to_string()).or_default();
        entry.0 += 1;
        let failure = match (case["expect"].as_str().unwrap(), result) {
            ("pass", Ok(checked)) => {
                let tiers = validate::tiers(&checked.recommendation);
                case.get("tiers").and_then(Value::as_object).into_iter().flatten().find_map(|(k, v)| {
                    let got = tiers.get(k).map(|t| t.as_str());
                    (got != v.as_str()).then(|| format!("{id}: tier of `{k}` is {got:?}, wanted {v} (have {:?})", tiers.keys().collect::<Vec<_>>()))
                })
            }
            ("pass", Err(reasons)) => {
                Some(format!("{id}: false rejection {:?}", reasons.iter().map(|r| format!("{}: {}", r.code, r.detail)).collect::<Vec<_>>()))
            }
            (_, Ok(_)) => Some(format!("{id}: passed, but proposes execution")),
            (_, Err(reasons)) if reasons[0].code != "direct_execution_proposed" => {
                Some(format!("{id}: first reason is {:?}", reasons.iter().map(|r| format!("{}: {}", r.code, r.detail)).collect::<Vec<_>>()))
            }
            (_, Err(reasons)) if !reasons.iter().any(|r| r.code != "direct_execution_proposed") && case["id"] != "exec-prose" => {
                Some(format!("{id}: the schema break is not reported too: {:?}", reasons.iter().map(|r| &r.code).collect::<Vec<_>>()))
            }
            (_, Err(_)) => None,
        };
        if let Some(f) = failure {
            entry.1 += 1;
            failures.push(f);
        }
    }
    println!("provider styles (legitimate answers: false rejections; unsafe: wrongly handled):");
    for (style, (n, bad)) in &figures {
        println!("  {style:<14} {bad}/{n}");
    }
    for f in &failures {
        println!("  FAIL {f}");
    }
    for style in ["openai_strict", "json_object", "ollama", "llamacpp", "unsafe"] {
        assert!(figures.get(style).is_some_and(|(n, _)| *n >= 5), "no {style} cases");
    }
    assert!(failures.is_empty(), "{} failures", failures.len());
}

/// A review lists every reason found (contract section 3): an answer that asks for
/// execution and so breaks the schema still has its techniques checked.
#[test]
fn an_answer_that_breaks_the_schema_still_has_its_techniques_checked() {
    let shared: Value = serde_json::from_str(&std::fs::read_to_string(format!("{FIXTURES}/context.json")).unwrap()).unwrap();
    let alerts: Vec<Alert> = shared["alerts"].as_array().unwrap().iter().enumerate().map(|(i, a)| Alert::parse(i, a).unwrap()).collect();
    let docs = documents(&shared);
    let (catalog, actions, schemas) = (Catalog::embedded().unwrap(), ActionCatalog::embedded().unwrap(), Schemas::compile().unwrap());
    let ctx = Context { alerts: &alerts, retrieved: &docs, catalog: &catalog, actions: &actions, schemas: &schemas, against: &[] };
    let raw = serde_json::json!({
        "severity": "high", "confidence": 0.7, "hypothesis": "Encoded PowerShell from Word.", "execute": true,
        "attack": [{"technique_id": "T9999", "rationale": "made up"}],
        "evidence": [], "uncertainty": [], "proposed_actions": [], "summary": "Isolate after approval."
    });
    let codes: Vec<String> = validate::check(&raw.to_string(), &ctx).unwrap_err().into_iter().map(|r| r.code).collect();
    assert_eq!(codes[0], "direct_execution_proposed", "{codes:?}");
    for want in ["invalid_output", "unknown_technique"] {
        assert!(codes.iter().any(|c| c == want), "{want} missing from {codes:?}");
    }
}
