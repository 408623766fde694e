//! Case summaries: a timeline, the entities, ATT&CK by tactic, the evidence and what is
//! still uncertain, built from the case's checked recommendations. Every citation it
//! carries was checked when its recommendation was; nothing new is asserted here.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::alert::Alert;
use crate::app::App;
use crate::corpus::Document;
use crate::llm::EngineRequest;
use crate::recommendation::{Evidence, Recommendation};
use crate::retrieval::Hit;
use crate::store::StoreError;
use crate::validate::{self, CheckedSummary, Context};

#[derive(Debug, Serialize)]
pub struct TimelineEntry {
    pub time: String,
    pub kind: String,
    pub text: String,
    #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
    pub doc_ref: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct TacticGroup {
    pub tactic: String,
    pub techniques: Vec<Value>,
}

#[derive(Debug, Serialize)]
pub struct CaseSummary {
    pub case_id: String,
    pub summary_markdown: String,
    pub timeline: Vec<TimelineEntry>,
    pub entities: BTreeMap<String, Vec<String>>,
    pub attack: Vec<TacticGroup>,
    pub evidence: Vec<Evidence>,
    pub uncertainty: Vec<String>,
    pub engine: Value,
}

pub async fn summarize(app: &std::sync::Arc<App>, case_id: &str) -> Result<Option<CaseSummary>, StoreError> {
    let id = case_id.to_string();
    let read = app
        .blocking(move |app| -> Result<_, StoreError> {
            let Some(case) = app.store.case(&id)? else { return Ok(None) };
            Ok(Some((case, app.store.case_alerts(&id)?, app.store.recommendations_of(&id)?, app.store.approvals(None, Some(&id), 500)?)))
        })
        .await?;
    let Some((case, alerts, recs, approvals)) = read else { return Ok(None) };

    let mut timeline = Vec::new();
    let mut entities: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for a in &alerts {
        let name = crate::jsonpath::resolve(&a.alert, "rule.name")
            .or_else(|| crate::jsonpath::resolve(&a.alert, "finding_info.title"))
            .and_then(Value::as_str)
            .unwrap_or("alert");
        let time = crate::jsonpath::resolve(&a.alert, "time").map(crate::jsonpath::text_of).unwrap_or_else(|| a.received_at.clone());
        let parsed = crate::alert::Alert::parse(0, &a.alert).ok();
        let name_path = parsed.as_ref().map(|p| p.rule_name_path()).unwrap_or("rule.name");
        timeline.push(TimelineEntry {
            time,
            kind: "alert".into(),
            text: format!("Alert {}: {name}", a.alert_id),
            doc_ref: Some(format!("alert:{}#{name_path}", a.alert_id)),
        });
        if let Some(parsed) = parsed {
            for (kind, value) in parsed.entities.targets() {
                let list = entities.entry(format!("{kind}s")).or_default();
                if !list.iter().any(|v| v == value) {
                    list.push(value.to_string());
                }
            }
        }
    }
    let mut latest: Option<(Recommendation, Value)> = None;
    for r in &recs {
        let id = r.get("recommendation_id").and_then(Value::as_str).unwrap_or_default();
        let status = r.get("status").and_then(Value::as_str).unwrap_or_default();
        timeline.push(TimelineEntry { time: id_time(id), kind: "recommendation".into(), text: format!("Recommendation {id}: {status}"), doc_ref: None });
        if let Some(rec) = r.get("recommendation").filter(|v| !v.is_null()).and_then(|v| serde_json::from_value(v.clone()).ok()) {
            latest = Some((rec, r.get("engine").cloned().unwrap_or(Value::Null)));
        }
    }
    for a in &approvals {
        for d in &a.decisions {
            timeline.push(TimelineEntry {
                time: d.at.clone(),
                kind: "decision".into(),
                text: format!("{:?} of {} by {}: {}", d.decision, a.summary, d.actor, d.rationale),
                doc_ref: None,
            });
        }
    }
    if let Some(c) = &case.closed {
        timeline.push(TimelineEntry {
            time: c.closed_at.clone(),
            kind: "closed".into(),
            text: format!("Closed as {} ({}) by {}: {}", c.disposition.as_str(), c.severity, c.closed_by, c.note),
            doc_ref: None,
        });
    }
    timeline.sort_by(|a, b| a.time.cmp(&b.time));

    let (attack, mut evidence, mut uncertainty, _, severity, hypothesis) = match &latest {
        Some((rec, engine)) => {
            let mut by_tactic: BTreeMap<String, Vec<Value>> = BTreeMap::new();
            for t in &rec.attack {
                for tactic in &t.tactics {
                    by_tactic.entry(tactic.clone()).or_default().push(serde_json::json!({"technique_id": t.technique_id, "name": t.name}));
                }
            }
            (
                by_tactic.into_iter().map(|(tactic, techniques)| TacticGroup { tactic, techniques }).collect(),
                rec.evidence.clone(),
                rec.uncertainty.clone(),
                engine.clone(),
                Some(rec.severity),
                rec.hypothesis.clone(),
            )
        }
        None => (Vec::new(), Vec::new(), vec!["No recommendation of this case passed the checks yet.".to_string()], Value::Null, case.severity, String::new()),
    };

    // The engine writes the prose when it can; what it writes is checked like a recommendation.
    let written = match engine_summary(app, case_id, &alerts, &recs).await {
        Some(Ok((checked, info))) => Some((checked, info)),
        Some(Err(note)) => {
            uncertainty.push(note);
            None
        }
        None => None,
    };
    let (md, engine) = match written {
        Some((checked, info)) => {
            evidence = checked.evidence;
            uncertainty = checked.uncertainty;
            (checked.markdown, info)
        }
        None => {
            let md = markdown(&case, severity, &hypothesis, &timeline, &entities, &attack, &evidence, &uncertainty);
            (md, serde_json::json!({"name": "baseline", "model": "baseline", "prompt_version": DETERMINISTIC_VERSION, "degraded": false}))
        }
    };
    Ok(Some(CaseSummary { case_id: case.case_id, summary_markdown: md, timeline, entities, attack, evidence, uncertainty, engine }))
}

const DETERMINISTIC_VERSION: &str = "summary-v1";

/// Asks the engine for the prose of a summary, from the case's alerts and the documents its
/// recommendations retrieved, and checks it. `None` when the engine writes no prose;
/// `Err` carries a note on why the deterministic summary is shown instead.
async fn engine_summary(app: &App, case_id: &str, stored: &[crate::store::StoredAlert], recs: &[Value]) -> Option<Result<(CheckedSummary, Value), String>> {
    // The latest copy of each alert id, as the engine would have seen it.
    let mut alerts: Vec<Alert> = Vec::new();
    for a in stored.iter().rev() {
        if let Ok(parsed) = Alert::parse(alerts.len(), &a.alert)
            && !alerts.iter().any(|x| x.id == parsed.id)
        {
            alerts.push(parsed);
        }
    }
    alerts.reverse();
    let mut hits: Vec<Hit> = Vec::new();
    for r in recs {
        for item in r.get("retrieved").and_then(Value::as_array).into_iter().flatten() {
            let Some(doc_ref) = item.get("ref").and_then(Value::as_str) else { continue };
            if hits.iter().any(|h| h.doc_ref() == doc_ref) {
                continue;
            }
            if let Ok(Some(doc)) = app.index.get(doc_ref) {
                hits.push(Hit { doc: std::sync::Arc::new(doc), score: item.get("score").and_then(Value::as_f64).unwrap_or(0.0) as f32 });
            } else if let Ok(Some(doc)) = crate::enrich::stored_document(&app.store, doc_ref) {
                hits.push(Hit { doc: std::sync::Arc::new(doc), score: item.get("score").and_then(Value::as_f64).unwrap_or(0.0) as f32 });
            }
        }
    }
    hits.sort_by(|a, b| b.score.total_cmp(&a.score));
    let signals = crate::policy::injection::scan(&alerts);
    let assessment = crate::knowledge::assess(&app.knowledge, &app.catalog, &alerts, &hits);
    let req = EngineRequest {
        case_id,
        alerts: &alerts,
        retrieved: &hits,
        catalog: &app.catalog,
        actions: &app.actions,
        schemas: &app.schemas,
        injection: &signals,
        assessment: &assessment,
        context: &crate::enrich::EMPTY,
    };
    let answer = match app.engine.summarize(&req).await? {
        Ok(a) => a,
        Err(e) => return Some(Err(format!("The model could not be reached for this summary ({e}); it is built from the checked recommendations."))),
    };
    let documents: Vec<Document> = hits.into_iter().map(|h| std::sync::Arc::unwrap_or_clone(h.doc)).collect();
    let ctx = Context { alerts: &alerts, retrieved: &documents, catalog: &app.catalog, actions: &app.actions, schemas: &app.schemas, against: &[] };
    Some(match validate::check_summary(&answer.raw, &ctx) {
        Ok(checked) => {
            Ok((checked, serde_json::json!({"name": app.engine.name(), "model": answer.model, "prompt_version": answer.prompt_version, "degraded": false})))
        }
        Err(reasons) => {
            let codes: Vec<&str> = reasons.iter().map(|r| r.code.as_str()).collect();
            tracing::warn!(case_id, reasons = ?reasons, "model summary refused");
            Err(format!("The model's summary was refused ({}); this one is built from the checked recommendations.", codes.join(", ")))
        }
    })
}

#[allow(clippy::too_many_arguments)]
fn markdown(
    case: &crate::store::CaseRecord,
    severity: Option<crate::severity::Severity>,
    hypothesis: &str,
    timeline: &[TimelineEntry],
    entities: &BTreeMap<String, Vec<String>>,
    attack: &[TacticGroup],
    evidence: &[Evidence],
    uncertainty: &[String],
) -> String {
    let mut md = format!("## Case {} — {}\n\n", case.case_id, case.title);
    md.push_str(&format!("**State:** {} · **Severity:** {}\n\n", case.state.as_str(), severity.map(|s| s.as_str()).unwrap_or("unrated")));
    if !hypothesis.is_empty() {
        md.push_str(&format!("**Hypothesis:** {hypothesis}\n\n"));
    }
    md.push_str("### Timeline\n");
    for t in timeline {
        md.push_str(&format!("- {} — {}\n", t.time, t.text));
    }
    md.push_str("\n### Entities\n");
    for (kind, values) in entities {
        md.push_str(&format!("- {kind}: {}\n", values.join(", ")));
    }
    if !attack.is_empty() {
        md.push_str("\n### ATT&CK\n");
        for g in attack {
            let names: Vec<String> =
                g.techniques.iter().map(|t| format!("{} {}", t["technique_id"].as_str().unwrap_or(""), t["name"].as_str().unwrap_or(""))).collect();
            md.push_str(&format!("- {}: {}\n", g.tactic, names.join("; ")));
        }
    }
    if !evidence.is_empty() {
        md.push_str("\n### Evidence\n");
        for e in evidence {
            match &e.quote {
                Some(q) => md.push_str(&format!("- [{}] \"{}\"\n", e.doc_ref, q)),
                None => md.push_str(&format!("- [{}]\n", e.doc_ref)),
            }
        }
    }
    if !uncertainty.is_empty() {
        md.push_str("\n### Uncertain\n");
        for u in uncertainty {
            md.push_str(&format!("- {u}\n"));
        }
    }
    md
}

/// The creation time encoded in a UUIDv7-based id, as RFC 3339.
fn id_time(id: &str) -> String {
    let hex = id.rsplit('_').next().unwrap_or_default();
    u64::from_str_radix(hex.get(..12).unwrap_or("0"), 16)
        .ok()
        .and_then(|ms| chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms as i64))
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}
