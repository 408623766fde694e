//! The baseline engine: deterministic, grounded only in what the service knows and
//! retrieved, and honest that it is not a model. It is the embedded default and the
//! fallback when a model is down.
//!
//! - severity: the rule's severity, raised one level by what the event itself shows (the
//!   knowledge's indicators), from that evidence alone when the rule has none, `low` with
//!   an uncertainty note when nothing is known; raised for critical production assets,
//!   moved by the verdicts of closely matched prior cases, never two levels below a floor;
//! - techniques: the knowledge's best candidates (indicators on the event's own values,
//!   the sender's tags, then document labels);
//! - evidence: the values the knowledge recognised, verbatim quotes of the alerts and of
//!   the best documents;
//! - actions: the best-matching runbook's, aimed at the alerts' entities.

use async_trait::async_trait;

use super::{Engine, EngineAnswer, EngineError, EngineRequest, Usage};
use crate::alert::Alert;
use crate::corpus::{Disposition, DocKind, Document, fold_whitespace};
use crate::knowledge::Assessment;
use crate::recommendation::{ModelAction, ModelEvidence, ModelOutput, ModelTechnique};
use crate::retrieval::Hit;
use crate::severity::Severity;
use crate::validate::severity_floor;

pub const PROMPT_VERSION: &str = "baseline-v1";

/// A retrieved runbook this weak (BM25) is a guess, not a match.
const WEAK_RUNBOOK_SCORE: f32 = 12.0;
/// Prior cases scoring below this share of the best case are not "similar".
const SIMILAR_CASE_SHARE: f32 = 0.6;
/// Candidates scoring below this share of the best are left out, and at most this many kept.
const TECHNIQUE_SHARE: f32 = 0.45;
const MAX_TECHNIQUES: usize = 3;
/// When only documents point to a technique, they must agree: about a full-strength
/// runbook, ATT&CK entry and prior case together. Below it, on real detections, the guess
/// was right about one time in ten; on the gold set, written beside our corpus, half the time.
const DOCUMENT_GUESS_MIN_SCORE: f32 = 2.5;

/// Fields whose values say most about what happened, in order of preference.
const SALIENT_FIELDS: [&str; 24] = [
    "CommandLine",
    "command_line",
    "cmd_line",
    "cmdline",
    "process.cmd_line",
    "ScriptBlockText",
    "eventName",
    "query",
    "url",
    "request",
    "Image",
    "TargetFilename",
    "TargetObject",
    "ServiceFileName",
    "action",
    "operation",
    "event_type",
    "eventType",
    "activity",
    "message",
    "subject",
    "verb",
    "objectRef.resource",
    "user_agent",
];

pub struct Baseline;

#[async_trait]
impl Engine for Baseline {
    fn name(&self) -> &'static str {
        "baseline"
    }

    fn answers_in_process(&self) -> bool {
        true
    }

    async fn propose(&self, req: &EngineRequest<'_>) -> Result<EngineAnswer, EngineError> {
        let output = recommend(req);
        Ok(EngineAnswer {
            raw: serde_json::to_string(&output).map_err(|e| EngineError::Unavailable(e.to_string()))?,
            model: "baseline".into(),
            prompt_version: PROMPT_VERSION.into(),
            usage: Usage::default(),
            calls: 0,
        })
    }
}

fn of_kind(hits: &[Hit], kind: DocKind) -> Vec<&Hit> {
    let mut v: Vec<&Hit> = hits.iter().filter(|h| h.doc.kind == kind).collect();
    v.sort_by(|a, b| b.score.total_cmp(&a.score));
    v
}

/// The deterministic recommendation for a request.
pub fn recommend(req: &EngineRequest<'_>) -> ModelOutput {
    let alerts = req.alerts;
    let runbooks = of_kind(req.retrieved, DocKind::Runbook);
    let cases = of_kind(req.retrieved, DocKind::Case);
    let best_runbook = runbooks.first().filter(|h| h.score >= WEAK_RUNBOOK_SCORE).copied();
    let similar: Vec<&Hit> = match cases.first() {
        Some(top) => cases.iter().copied().filter(|h| h.score >= top.score * SIMILAR_CASE_SHARE).collect(),
        None => Vec::new(),
    };
    let mut uncertainty = vec!["Deterministic baseline: ranked from retrieved documents and rule metadata, without model judgement.".to_string()];

    let verdicts = Verdicts::of(&similar, alerts);
    let severity = severity(alerts, req, &verdicts, best_runbook.is_some(), &mut uncertainty);
    let attack = techniques(req, &mut uncertainty);
    let mut evidence = evidence(alerts, req.assessment, best_runbook.or(runbooks.first().copied()), &similar, req.retrieved);
    // Disruptive proposals need the analysts' past verdicts on similar alerts to lean
    // malicious; otherwise only non-disruptive steps are proposed.
    let automatic_only = verdicts.total() > 0 && verdicts.true_positive <= verdicts.benign;
    let proposed_actions = actions(alerts, best_runbook, automatic_only, req.case_id);
    uncertainty.extend(unfit_targets(alerts).into_iter().take(2));
    let explained_by_owner = context_lines(req, &proposed_actions, &mut evidence, &mut uncertainty);

    match best_runbook {
        None => uncertainty.push(match runbooks.first() {
            Some(h) => format!("Weak runbook match: the closest, {}, scored only {:.1}.", h.doc_ref(), h.score),
            None => "No runbook matched this alert; no containment is proposed.".into(),
        }),
        Some(rb) => {
            if let Some(second) = runbooks.get(1)
                && second.score >= rb.score * 0.9
            {
                uncertainty.push(format!("Two runbooks match almost equally: {} and {}.", rb.doc_ref(), second.doc_ref()));
            }
        }
    }
    if verdicts.total() >= 2 && verdicts.true_positive > 0 && verdicts.true_positive < verdicts.total() {
        uncertainty.push(format!("Similar prior cases disagree: {} of {} were true positives.", verdicts.true_positive, verdicts.total()));
    }
    if !req.injection.is_empty() {
        let paths: Vec<String> = req.injection.iter().take(3).map(|s| format!("{}#{}", s.alert_id, s.path)).collect();
        uncertainty.push(format!("Alert data contains instruction-like text ({}); it was treated as data only.", paths.join(", ")));
    }
    uncertainty.truncate(crate::recommendation::MAX_UNCERTAINTY);

    let confidence = confidence(best_runbook, &verdicts, attack.len());
    let confidence = if explained_by_owner { lowered(confidence) } else { confidence };
    let lead = &alerts[0];
    let entities = describe_entities(alerts);
    let runbook_part = match best_runbook {
        Some(rb) => format!("matches {}", rb.doc_ref()),
        None => "matches no runbook closely".into(),
    };
    let verdict_part = if verdicts.total() > 0 {
        format!("; {} of {} similar prior cases were true positives", verdicts.true_positive, verdicts.total())
    } else {
        String::new()
    };
    let rule_name = quoted(&lead.rule.name, RULE_MARKS).unwrap_or_else(|| "The alert's rule".into());
    let hypothesis = clip(&format!("{rule_name} from {}{} {}{}.", lead.source, entities, runbook_part, verdict_part), 600);
    let technique_list: Vec<&str> = attack.iter().map(|t| t.technique_id.as_str()).collect();
    let action_list: Vec<String> = proposed_actions.iter().map(|a| format!("{} on {}", a.action, a.target)).collect();
    let summary = clip(
        &format!(
            "{} severity across {} alert(s). ATT&CK: {}. Proposed for approval: {}.",
            capitalise(severity.as_str()),
            alerts.len(),
            if technique_list.is_empty() { "none mapped".into() } else { technique_list.join(", ") },
            if action_list.is_empty() { "nothing".into() } else { action_list.join("; ") },
        ),
        600,
    );
    ModelOutput { severity, confidence, hypothesis, attack, evidence, uncertainty, proposed_actions, summary }
}

#[derive(Default)]
struct Verdicts {
    true_positive: usize,
    benign: usize,
    tp_severities: Vec<Severity>,
    /// The highest severity among similar true-positive cases.
    similar_tp_max: Option<Severity>,
}

impl Verdicts {
    /// The verdicts of similar cases; the severities of those about the same detection.
    fn of(similar: &[&Hit], alerts: &[Alert]) -> Verdicts {
        let mut v = Verdicts::default();
        for h in similar {
            match h.doc.disposition {
                Some(Disposition::TruePositive) => {
                    v.true_positive += 1;
                    v.similar_tp_max = v.similar_tp_max.max(h.doc.severity);
                    if crate::validate::same_detection(&h.doc, alerts) {
                        v.tp_severities.extend(h.doc.severity);
                    }
                }
                Some(_) => v.benign += 1,
                None => {}
            }
        }
        v
    }

    fn total(&self) -> usize {
        self.true_positive + self.benign
    }

    fn benign_leaning(&self) -> bool {
        self.benign >= 2 && self.benign > self.true_positive
    }
}

fn severity(alerts: &[Alert], req: &EngineRequest<'_>, verdicts: &Verdicts, strong_match: bool, notes: &mut Vec<String>) -> Severity {
    let rule = alerts.iter().filter_map(|a| a.rule.severity).max();
    let evidence = req.assessment.evidence_severity;
    // The sender's rule severity anchors; what the event itself shows may raise it one
    // level. Without a rule severity, the event's evidence decides, and with no evidence
    // at all the answer says so rather than defaulting high.
    let mut sev = match (rule, evidence) {
        (Some(r), Some(e)) if e > r => {
            notes.push(format!("The event's own values suggest {e}, above the rule's {r}."));
            r.shifted(1).min(e)
        }
        (Some(r), _) => r,
        (None, Some(e)) => e,
        (None, None) => match req.assessment.wording_severity {
            Some(w) => {
                notes.push("No rule severity and nothing recognised in the event's values: severity follows what the rule's name says it detects.".into());
                w
            }
            None => {
                notes.push(
                    "Thin evidence: no rule severity, and nothing in the event that the service's knowledge recognises; rated low until a person looks.".into(),
                );
                Severity::Low
            }
        },
    };
    // What the event itself shows can also lower it: an event that is not what the rule
    // was written for (another or the opposite operation, a read where the rule is about a
    // change, a failure the rule is not about), an attempt that failed or was denied, or a
    // call that only read, with nothing the knowledge recognises as an attack.
    let events = &req.assessment.events;
    let telling = req.assessment.telling_matches().next().is_some();
    let contradicted = req.assessment.contradicts_rules();
    if contradicted {
        let why: Vec<String> = req.assessment.against.iter().take(2).map(|a| a.note()).collect();
        // The rule's severity stays the floor a person must confirm going two levels under,
        // unless every event reads against its rule on what the log source itself recorded
        // (the validator then lowers that floor one level: `validate::severity_floor`).
        let decisive = req.assessment.against.iter().all(|a| a.reason.is_decisive());
        sev = match rule {
            Some(r) if decisive => r.shifted(-2),
            Some(r) => r.shifted(-1),
            None => Severity::Informational,
        };
        notes.push(clip(&format!("The event is not what the rule describes ({}); severity lowered.", why.join("; ")), 300));
    } else if !events.is_empty() && events.iter().all(|e| e.failed.is_some()) {
        notes.push("Every event reports a failed or denied attempt; severity lowered one level.".into());
        sev = sev.shifted(-1);
    } else if !telling && !events.is_empty() && events.iter().all(|e| e.read_only) {
        notes.push("Every event is a read-only call and nothing in it is recognised as an attack; severity lowered one level.".into());
        sev = sev.shifted(-1);
    }
    let crown_jewel = alerts.iter().any(|a| a.asset.is_production() && a.asset.criticality_level() >= Some(Severity::High));
    if crown_jewel && sev >= Severity::Medium {
        sev = sev.shifted(1);
    }
    if verdicts.benign_leaning() {
        sev = sev.shifted(-1);
        notes.push(format!(
            "{} of {} similar prior cases were closed as benign or false positive; severity lowered one level.",
            verdicts.benign,
            verdicts.total()
        ));
    } else if let Some(max_tp) = verdicts.tp_severities.iter().max()
        && !contradicted
        && *max_tp > sev
        && verdicts.true_positive >= 2
        && strong_match
    {
        // Past verdicts on the same detection move severity: a case that merely resembles
        // the alert says little about this event.
        notes.push(format!("Similar true-positive cases were rated up to {max_tp}, above the rule's {sev}."));
        sev = sev.shifted(1).min(*max_tp);
    }
    if let Some(floor) = severity_floor(alerts, &req.assessment.against, req.retrieved.iter().map(|h| h.doc.as_ref())) {
        sev = sev.max(floor.severity.shifted(-1));
    }
    // Closely matched true positives keep similar cases' benign verdicts from pulling it
    // below what the alert itself says (its rule severity, else its recognised values);
    // they never lend a severity the alert does not carry, nor overrule an event that reads
    // against its own rule.
    if strong_match
        && !contradicted
        && let (Some(anchor), Some(tp)) = (rule.or(evidence), verdicts.similar_tp_max)
    {
        sev = sev.max(tp.shifted(-1).min(anchor));
    }
    sev
}

/// The best-supported candidate techniques of the knowledge's assessment.
fn techniques(req: &EngineRequest<'_>, notes: &mut Vec<String>) -> Vec<ModelTechnique> {
    let candidates = &req.assessment.candidates;
    let Some(best) = candidates.first() else {
        notes.push("Nothing in the alerts or the retrieved documents points to an ATT&CK technique; none is mapped.".into());
        return Vec::new();
    };
    // The rule's words and documents that resemble it are its hypothesis; an event that
    // reads against it does not support them.
    if req.assessment.contradicts_rules() {
        notes.push("Every event reads against what its rule describes; no technique is mapped from the rule's hypothesis.".into());
        return Vec::new();
    }
    let direct = candidates.iter().any(|c| c.has_direct_support());
    // A detection that rates itself medium or above says the event is not ordinary, even
    // when its values are those of ordinary activity (a clone, a logon): only unflagged
    // telemetry counts as routine.
    let flagged = req.alerts.iter().any(|a| a.rule.severity.is_some_and(|s| s.rank() >= crate::severity::Severity::Medium.rank()));
    if !direct && !flagged && req.assessment.is_routine() {
        // A document that resembles an ordinary event is not evidence of an attack.
        notes.push("The events are recognised as routine activity and nothing in them points to a technique; none is mapped.".into());
        return Vec::new();
    }
    // An event forwarded as it was logged (no severity, no description of what a detection
    // looked for) is telemetry, not a detection: when nothing in its values is recognised,
    // documents that resemble it are no evidence that anything happened.
    let raw_telemetry = req.alerts.iter().all(|a| a.rule.severity.is_none() && a.rule.description.as_deref().is_none_or(|d| d.trim().is_empty()));
    if !direct && raw_telemetry {
        notes.push("Raw events that the service's knowledge does not recognise, and no detection describing them; no technique is mapped.".into());
        return Vec::new();
    }
    if !direct && best.score < DOCUMENT_GUESS_MIN_SCORE {
        notes.push("Only weakly matching documents point to a technique, and nothing in the event confirms it; none is mapped.".into());
        return Vec::new();
    }
    let picked: Vec<ModelTechnique> = candidates
        .iter()
        .filter(|c| c.score >= best.score * TECHNIQUE_SHARE)
        // When the event's own values or the rule's words point somewhere, document labels
        // alone count only as the best candidate. Measured on the real-data dev halves,
        // such a label behind a better candidate was right 3 times in 60; on the gold set,
        // written beside our corpus, a little more often.
        .enumerate()
        .filter(|(rank, c)| !direct || c.has_direct_support() || *rank == 0)
        .map(|(_, c)| c)
        // Document labels alone are a guess: one guess, not three.
        .take(if direct { MAX_TECHNIQUES } else { 1 })
        .map(|c| {
            let why: Vec<String> = c.support.iter().take(3).map(|s| s.what.clone()).collect();
            ModelTechnique {
                technique_id: c.technique_id.to_string(),
                rationale: clip(&format!("Supported by {} (score {:.2}).", why.join(", "), c.score), 300),
            }
        })
        .collect();
    if !direct {
        notes.push("Techniques come from the labels of similar documents only; nothing in the event's own values confirms them.".into());
    }
    picked
}

fn evidence(alerts: &[Alert], assessment: &Assessment<'_>, runbook: Option<&Hit>, similar: &[&Hit], retrieved: &[Hit]) -> Vec<ModelEvidence> {
    let mut out: Vec<ModelEvidence> = Vec::new();
    let alert_words = words(&crate::validate::alerts_text(alerts));
    // The values the knowledge recognised come first: they are why techniques were mapped.
    for m in assessment.telling_matches() {
        if let (Some(path), Some(value)) = (&m.path, &m.value) {
            let doc_ref = format!("alert:{}#{path}", m.alert_id);
            let resolves = alerts.iter().any(|a| a.id == m.alert_id && citable(a, path));
            if resolves && out.len() < 3 && !out.iter().any(|e| e.doc_ref == doc_ref) {
                out.push(ModelEvidence { doc_ref, quote: clip_quote(value) });
            }
        }
    }
    for a in alerts.iter().take(4) {
        out.push(ModelEvidence { doc_ref: format!("alert:{}#{}", a.id, a.rule_name_path()), quote: clip_quote(&a.rule.name) });
        if let Some((path, text)) = salient_field(a) {
            let doc_ref = format!("alert:{}#{path}", a.id);
            if !out.iter().any(|e| e.doc_ref == doc_ref) {
                out.push(ModelEvidence { doc_ref, quote: clip_quote(&text) });
            }
        }
    }
    if let Some(rb) = runbook
        && let Some(line) = best_line(&rb.doc, &alert_words)
    {
        out.push(ModelEvidence { doc_ref: rb.doc_ref(), quote: line });
    }
    for case in similar.iter().take(2) {
        // The verdict line and the analyst's note that follows it: contiguous in the text.
        let mut lines = case.doc.text.lines().skip_while(|l| !l.starts_with("Disposition:"));
        let verdict = match (lines.next(), lines.next()) {
            (Some(v), Some(note)) => format!("{v} {note}"),
            (Some(v), None) => v.to_string(),
            _ => case.doc.title.clone(),
        };
        out.push(ModelEvidence { doc_ref: case.doc_ref(), quote: clip_quote(&verdict) });
    }
    for kind in [DocKind::Sigma, DocKind::Attack] {
        if let Some(h) = of_kind(retrieved, kind).first() {
            out.push(ModelEvidence { doc_ref: h.doc_ref(), quote: clip_quote(h.doc.text.lines().next().unwrap_or(&h.doc.title)) });
        }
    }
    out.truncate(crate::recommendation::MAX_EVIDENCE);
    out
}

/// The most telling field of an alert: a known salient key, else the longest short string.
fn salient_field(a: &Alert) -> Option<(String, String)> {
    let prefix = if a.format == crate::alert::AlertFormat::Native { "fields." } else { "" };
    for key in SALIENT_FIELDS {
        let path = format!("{prefix}{key}");
        if let Some(v) = a.value_at(&path).and_then(|v| v.as_str())
            && !v.trim().is_empty()
        {
            return Some((path, v.to_string()));
        }
    }
    let mut best: Option<(String, String)> = None;
    crate::jsonpath::for_each_scalar(&a.fields, "", &mut |path, text| {
        let better = best.as_ref().is_none_or(|(_, b)| text.len() > b.len());
        let full = format!("{prefix}{path}");
        if text.len() >= 8 && text.len() <= 400 && better && !path.is_empty() && citable(a, &full) {
            best = Some((full, text.to_string()));
        }
    });
    best
}

/// Whether `alert:<id>#<path>` is a ref the checks accept: the path leads back to a value
/// (keys with brackets or quotes inside can't be written in the path dialect) and the ref
/// fits the schema's pattern and length.
fn citable(a: &Alert, path: &str) -> bool {
    let doc_ref_len = "alert:".len() + a.id.len() + 1 + path.len();
    doc_ref_len <= 200 && !path.contains(char::is_whitespace) && a.value_at(path).is_some()
}

fn words(text: &str) -> std::collections::HashSet<String> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| w.len() >= 4).map(str::to_ascii_lowercase).collect()
}

/// The line of a document that shares most words with the alerts.
fn best_line(doc: &Document, alert_words: &std::collections::HashSet<String>) -> Option<String> {
    doc.text
        .lines()
        .map(|l| l.trim().trim_start_matches("- ").trim())
        .filter(|l| l.len() >= 24 && !l.starts_with('#') && !l.starts_with("```") && !l.starts_with('|'))
        .map(|l| (words(l).intersection(alert_words).count(), l))
        .max_by(|a, b| a.0.cmp(&b.0).then(b.1.len().cmp(&a.1.len())))
        .map(|(_, l)| clip_quote(l))
}

/// A target for an action among the alerts' entities.
fn target_for(action: &str, alerts: &[Alert], case_id: &str) -> Option<String> {
    let first = |pick: &dyn Fn(&Alert) -> &Vec<String>, kind: &str| -> Option<String> {
        // A target longer than the schema allows can't be proposed; the next entity can.
        alerts.iter().flat_map(|a| pick(a).iter()).filter(|v| fit_target(v)).map(|v| format!("{kind}:{v}")).find(|t| t.len() <= 200)
    };
    let hosts = || first(&|a| &a.entities.hosts, "host");
    let users = || first(&|a| &a.entities.users, "user");
    let service_accounts = || first(&|a| &a.entities.service_accounts, "service_account");
    let tokens = || first(&|a| &a.entities.tokens, "token");
    match action {
        "isolate_host" | "kill_process" | "collect_forensics" | "quarantine_workload" => hosts(),
        "disable_account" => service_accounts().or_else(users),
        "reset_password" | "revoke_sessions" | "remove_mailbox_rule" | "quarantine_email" => users(),
        "revoke_token" => tokens().or_else(service_accounts),
        "rotate_secret" => service_accounts().or_else(tokens).or_else(|| first(&|a| &a.entities.repositories, "repository")),
        "block_indicator" => alerts
            .iter()
            .flat_map(|a| a.entities.ips.iter())
            .find(|ip| !is_internal_ip(ip) && fit_target(ip))
            .map(|ip| format!("ip:{ip}"))
            .or_else(|| first(&|a| &a.entities.urls, "url")),
        "contain_cloud_resource" => first(&|a| &a.entities.cloud_accounts, "cloud_account"),
        "notify_owner" => hosts().or_else(users).or_else(service_accounts),
        "create_ticket" | "enrich_alert" | "add_to_watchlist" => match action {
            "create_ticket" => Some(format!("case:{case_id}")),
            _ => users().or_else(hosts).or_else(service_accounts),
        },
        _ => None,
    }
}

/// Whether an entity value can be an action target. Entity values are attacker-chosen:
/// one that carries shell metacharacters or reads as a command (`WS-042; rm -rf /`) is
/// data to look at, not something to aim an action at.
fn fit_target(value: &str) -> bool {
    // `$` alone is a Windows machine account (`WS-042$`); `$(` is a substitution.
    let metachar = value.contains([';', '|', '`', '<', '>']) || value.contains("$(") || value.contains("&&") || value.chars().any(char::is_control);
    !metachar && crate::policy::execution::scan_text("target", value, &crate::policy::execution::AlertText::default()).is_empty()
}

/// Notes on the entity values left out as targets by [`fit_target`], each quoted as data.
fn unfit_targets(alerts: &[Alert]) -> Vec<String> {
    let mut values: Vec<&str> =
        alerts.iter().flat_map(|a| a.entities.targets()).filter(|(kind, v)| *kind != "file" && !fit_target(v)).map(|(_, v)| v).collect();
    values.dedup();
    values
        .into_iter()
        .map(|v| match quoted(v, ENTITY_MARKS).filter(|_| v.chars().count() <= 120) {
            Some(q) => format!("Entity value {q} carries shell metacharacters or a command; it is not proposed as an action target."),
            None => "An entity value carries shell metacharacters or a command; it is not proposed as an action target.".into(),
        })
        .collect()
}

/// Quotation marks for alert values echoed in prose, in order of preference. The execution
/// check reads a quoted, verbatim alert value as data, not as a proposal, so a value that
/// looks like a command (a rule named after one, a host name with `; rm -rf /`) can't make
/// the service refuse its own answer.
const RULE_MARKS: &[(char, char)] = &[('"', '"'), ('`', '`'), ('“', '”')];
const ENTITY_MARKS: &[(char, char)] = &[('`', '`'), ('"', '"'), ('“', '”')];

/// `value` between the first pair of marks it does not contain; `None` when it holds them all.
fn quoted(value: &str, marks: &[(char, char)]) -> Option<String> {
    marks.iter().find(|(open, close)| !value.contains([*open, *close])).map(|(open, close)| format!("{open}{value}{close}"))
}

/// An entity value in prose: as it is when it is a plain name, quoted as data otherwise.
fn entity_in_prose(value: &str) -> Option<String> {
    let plain = value.chars().all(|c| c.is_alphanumeric() || "._-@\\:/+=".contains(c));
    if plain { Some(value.to_string()) } else { quoted(value, ENTITY_MARKS) }
}

fn is_internal_ip(ip: &str) -> bool {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(v4)) => v4.is_private() || v4.is_loopback() || v4.is_link_local(),
        Ok(std::net::IpAddr::V6(v6)) => v6.is_loopback(),
        Err(_) => true,
    }
}

/// Destructive, organisation-wide actions are left to people: the baseline never proposes them.
const NEVER_PROPOSED: [&str; 2] = ["delete_resource", "change_org_policy"];

fn actions(alerts: &[Alert], runbook: Option<&Hit>, automatic_only: bool, case_id: &str) -> Vec<ModelAction> {
    let Some(rb) = runbook else {
        return target_for("create_ticket", alerts, case_id)
            .map(|t| vec![ModelAction { action: "create_ticket".into(), target: t, rationale: "No runbook matched; an analyst should look.".into() }])
            .unwrap_or_default();
    };
    let automatic = ["enrich_alert", "create_ticket", "collect_forensics", "notify_owner", "add_to_watchlist"];
    let mut out: Vec<ModelAction> = Vec::new();
    for a in &rb.doc.actions {
        if NEVER_PROPOSED.contains(&a.action.as_str()) || (automatic_only && !automatic.contains(&a.action.as_str())) {
            continue;
        }
        let Some(target) = target_for(&a.action, alerts, case_id) else { continue };
        if out.iter().any(|x| x.action == a.action && x.target == target) {
            continue;
        }
        let when = a.when.trim().trim_end_matches('.');
        out.push(ModelAction {
            action: a.action.clone(),
            target,
            rationale: clip(&if when.is_empty() { format!("Per {}.", rb.doc_ref()) } else { format!("Per {}: {when}.", rb.doc_ref()) }, 300),
        });
        if out.len() == 4 {
            break;
        }
    }
    out
}

fn confidence(runbook: Option<&Hit>, verdicts: &Verdicts, techniques: usize) -> f64 {
    let mut c = 0.3;
    if let Some(rb) = runbook {
        c += (f64::from(rb.score) / 60.0).min(0.3);
    }
    if verdicts.total() > 0 {
        let agree = verdicts.true_positive.max(verdicts.benign) as f64 / verdicts.total() as f64;
        c += 0.25 * agree;
    }
    if techniques == 0 {
        c -= 0.1;
    }
    (c.clamp(0.05, 0.95) * 100.0).round() / 100.0
}

fn describe_entities(alerts: &[Alert]) -> String {
    let mut parts = Vec::new();
    for (label, pick) in [
        ("host", (|a: &Alert| a.entities.hosts.clone()) as fn(&Alert) -> Vec<String>),
        ("user", |a: &Alert| a.entities.users.clone()),
        ("service account", |a: &Alert| a.entities.service_accounts.clone()),
        ("cloud account", |a: &Alert| a.entities.cloud_accounts.clone()),
    ] {
        let mut v: Vec<String> = alerts.iter().flat_map(pick).collect();
        v.dedup();
        if let Some(first) = v.first().and_then(|v| entity_in_prose(v)) {
            parts.push(format!("{label} {first}"));
        }
    }
    if parts.is_empty() { String::new() } else { format!(" on {}", parts.join(", ")) }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
}

/// Shortens to at most `max` characters on a character boundary.
fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// A verbatim quote of at most 300 characters: folded, cut at a word boundary, no ellipsis
/// (an added character would break the verbatim match).
fn clip_quote(s: &str) -> String {
    let folded = fold_whitespace(s);
    if folded.chars().count() <= 300 {
        return folded;
    }
    let cut: String = folded.chars().take(300).collect();
    match cut.rfind(' ') {
        Some(i) if i > 100 => cut[..i].to_string(),
        _ => cut,
    }
}

/// What enrichment adds: its documents cited (intel first, then inventory facts, then
/// changes), a change by the owner that may explain the alert, and the evidence the
/// proposed actions still miss. Returns whether such an owner change was found.
fn context_lines(req: &EngineRequest<'_>, proposed: &[ModelAction], evidence: &mut Vec<ModelEvidence>, notes: &mut Vec<String>) -> bool {
    let mut cited: Vec<ModelEvidence> = Vec::new();
    for kind in [DocKind::Intel, DocKind::Inventory, DocKind::Change] {
        for h in req.retrieved.iter().filter(|h| h.doc.kind == kind) {
            let lines: Vec<&str> = h.doc.text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
            let line = match kind {
                DocKind::Inventory => lines.iter().find(|l| l.starts_with("Stale identity:")).or_else(|| lines.iter().find(|l| l.starts_with("Owner:"))),
                DocKind::Change => lines.iter().find(|l| l.starts_with("Made by")).or(lines.first()),
                _ => lines.first(),
            };
            cited.push(ModelEvidence { doc_ref: h.doc_ref(), quote: line.map(|l| clip_quote(l)).unwrap_or_default() });
        }
    }
    // After the alerts' own lines, before runbooks and prior cases: these are facts about
    // this request's entities.
    let at = evidence.iter().position(|e| !e.doc_ref.starts_with("alert:")).unwrap_or(evidence.len());
    evidence.splice(at..at, cited);
    evidence.truncate(crate::recommendation::MAX_EVIDENCE);

    let owner_change = req.context.owner_changes().next();
    if let Some(c) = owner_change {
        notes.insert(
            1.min(notes.len()),
            clip(
                &format!(
                    "{} ({}) by {}, the owner of {}, {:.1} h before the alert may explain it; confidence in a malicious reading lowered.",
                    c.doc_ref(),
                    c.change.kind,
                    c.change.by,
                    c.change.entity,
                    c.hours_before
                ),
                300,
            ),
        );
    }
    // The first two proposals that miss evidence, said plainly: an approver will ask.
    let missing_lines = proposed.iter().filter_map(|a| {
        let target = req.context.actionable_target(&a.target);
        let status = crate::enrich::evidence::status(req.actions, &a.action, &target, req.alerts, req.context);
        crate::enrich::evidence::missing_note(&a.action, &target, &status)
    });
    notes.extend(missing_lines.take(2));
    owner_change.is_some()
}

/// A change by the owner is a benign explanation on record: the malicious reading is less
/// certain, though not ruled out.
fn lowered(confidence: f64) -> f64 {
    ((confidence - 0.2).max(0.05) * 100.0).round() / 100.0
}
