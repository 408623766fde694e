//! Where every engine's output is checked before anything leaves the service.
//!
//! [`check`] runs, in order: the execution check on the raw answer (keys and text, whatever
//! its shape) → JSON parse → JSON Schema → deserialize → techniques → citations and quotes
//! → actions and tiers → severity floor. It either returns a [`Checked`] recommendation or
//! every reason it was refused, `direct_execution_proposed` first; an answer that breaks the
//! schema still has its well-formed techniques, citations, actions and severity checked.

mod raw;
pub mod schema;

use std::collections::HashMap;

use serde_json::Value;

use crate::alert::Alert;
use crate::attack::{Catalog, Lookup, TechniqueId};
use crate::corpus::{Disposition, DocKind, Document, fold_whitespace};
use crate::knowledge::{Against, consistency};
use crate::policy::{ActionCatalog, ActionError, Target, Tier};
use crate::recommendation::{
    AttackMapping, Evidence, ModelAction, ModelEvidence, ModelOutput, ModelTechnique, ProposedAction, Recommendation, ReviewReason, SummaryOutput,
};
use crate::severity::Severity;
use crate::strict_json::StrictJsonError;

pub use schema::Schemas;

/// Stable reason codes (contract section 2).
pub mod reason {
    pub const DIRECT_EXECUTION: &str = "direct_execution_proposed";
    pub const INVALID_OUTPUT: &str = "invalid_output";
    pub const UNKNOWN_TECHNIQUE: &str = "unknown_technique";
    pub const UNSUPPORTED_CITATION: &str = "unsupported_citation";
    pub const UNKNOWN_ACTION: &str = "unknown_action";
    pub const INVALID_TARGET: &str = "invalid_target";
    pub const SEVERITY_DOWNGRADE: &str = "severity_downgrade";
}

/// What an output is checked against: the request's alerts and what was retrieved for it.
pub struct Context<'a> {
    pub alerts: &'a [Alert],
    pub retrieved: &'a [Document],
    pub catalog: &'a Catalog,
    pub actions: &'a ActionCatalog,
    pub schemas: &'a Schemas,
    /// The alerts' readings against their rules (`knowledge::Assessment::against`), made by
    /// code from the alerts' own fields. Left empty, no severity floor is lowered.
    pub against: &'a [Against],
}

/// A recommendation that passed every check; approval ids are not assigned yet.
#[derive(Debug, Clone)]
pub struct Checked {
    pub recommendation: Recommendation,
}

fn reason(code: &str, detail: impl Into<String>) -> ReviewReason {
    ReviewReason { code: code.to_string(), detail: detail.into() }
}

/// Parses the raw text an engine returned: the whole text, or the JSON object of one
/// fenced block (```json or ```) with or without prose around it. A key twice in one
/// object is refused: the last value would win and the shadowed one go unchecked.
pub fn parse_raw(raw: &str) -> Result<Value, ReviewReason> {
    parse_located(&locate(raw)).map_err(|(r, _)| r)
}

/// [`parse_raw`] on a located answer; a refusal for a repeated key carries the value as
/// `serde_json` reads it (the last value of each key), for the checks that read parts.
fn parse_located(located: &Located) -> Result<Value, (ReviewReason, Option<Value>)> {
    crate::strict_json::parse_strict(located.json.trim().as_bytes()).map_err(|e| match e {
        StrictJsonError::DuplicateKey { key, at } => {
            (reason(reason::INVALID_OUTPUT, format!("duplicate key `{key}` in one object{at}")), serde_json::from_str(located.json.trim()).ok())
        }
        StrictJsonError::Syntax(e) => {
            // Say what came back: an engine's own note (a cut-off answer) or the start of the text.
            let start: String = located.json.trim().chars().take(160).collect();
            (reason(reason::INVALID_OUTPUT, format!("not JSON ({e}): {start}")), None)
        }
    })
}

/// Where the answer is in an engine's raw text.
#[derive(Debug, PartialEq)]
struct Located<'a> {
    /// The text read as JSON: the whole text, or the content of the fenced block that holds
    /// a JSON object.
    json: &'a str,
    /// Prose written around that block, scanned for execution like any text.
    prose: String,
}

/// The first fenced block whose content is a JSON object is the answer; a text without
/// one is read whole (and a code block in it is scanned as what it is).
fn locate(raw: &str) -> Located<'_> {
    let t = raw.trim();
    if !t.starts_with('{') {
        let fences: Vec<usize> = t.match_indices("```").map(|(i, _)| i).collect();
        for pair in fences.chunks_exact(2) {
            let (open, close) = (pair[0], pair[1]);
            let inner = &t[open + 3..close];
            // The info string (`json`) runs to the first line break or brace.
            let body = inner.trim_start_matches(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if body.trim_start().starts_with('{') {
                return Located { json: body, prose: format!("{}\n{}", &t[..open], &t[close + 3..]) };
            }
        }
    }
    Located { json: t, prose: String::new() }
}

/// The execution check on the raw answer, whatever its shape, then JSON, the JSON Schema
/// and the Rust type. Execution findings come first and never stop the other checks, so a
/// review lists every reason. `Ok` carries the typed answer and the execution findings.
fn parse_typed<T: serde::de::DeserializeOwned>(
    raw: &str,
    alerts: &[Alert],
    schema_errors: impl Fn(&Value) -> Vec<String>,
) -> Result<(T, Vec<ReviewReason>), Refused> {
    let alert_text = crate::policy::execution::AlertText::of(alerts.iter().map(|a| &a.raw));
    let located = locate(raw);
    let parsed = parse_located(&located);
    let mut findings = match &parsed {
        Ok(value) => raw::scan_value(value, &alert_text),
        // Not JSON, cut off, or a key twice: every literal of the text is read, shadowed ones too.
        Err(_) => raw::scan_text(located.json, &alert_text),
    };
    findings.extend(crate::policy::execution::scan_text("output", &located.prose, &alert_text));
    let mut reasons: Vec<ReviewReason> = findings.into_iter().map(|f| reason(reason::DIRECT_EXECUTION, format!("{}: {}", f.path, f.detail))).collect();
    let mut value = match parsed {
        Ok(v) => v,
        Err((r, value)) => {
            reasons.push(r);
            return Err(Refused { reasons, value });
        }
    };
    tolerate_absent_quotes(&mut value);
    let errors = schema_errors(&value);
    if !errors.is_empty() {
        reasons.extend(errors.into_iter().map(|e| reason(reason::INVALID_OUTPUT, e)));
        return Err(Refused { reasons, value: Some(value) });
    }
    match serde_json::from_value(value.clone()) {
        Ok(typed) => Ok((typed, reasons)),
        Err(e) => {
            reasons.push(reason(reason::INVALID_OUTPUT, e.to_string()));
            Err(Refused { reasons, value: Some(value) })
        }
    }
}

/// An answer refused before it could be typed: the reasons so far, and the JSON when it
/// parsed, so the semantic checks can still read the parts that are well formed.
struct Refused {
    reasons: Vec<ReviewReason>,
    value: Option<Value>,
}

/// The items of `value[key]` that read as `T`; the rest were reported by the schema.
fn items<T: serde::de::DeserializeOwned>(value: &Value, key: &str) -> Vec<T> {
    let all = value.get(key).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    all.iter().filter_map(|v| serde_json::from_value(v.clone()).ok()).collect()
}

/// The semantic checks on an answer that broke the schema, on whatever parts of it are
/// well formed: a review lists every reason found (contract section 3), so an unknown
/// technique beside an `execute` key is reported too.
fn check_parts(value: &Value, ctx: &Context, reasons: &mut Vec<ReviewReason>) {
    check_techniques(&items(value, "attack"), ctx.catalog, reasons, &mut Vec::new());
    check_evidence(&items(value, "evidence"), ctx, reasons);
    check_actions(&items(value, "proposed_actions"), ctx, reasons);
    if let Some(severity) = value.get("severity").and_then(|s| serde_json::from_value::<Severity>(s.clone()).ok()) {
        check_severity(severity, ctx, reasons);
    }
}

/// `evidence[].quote` may be `null` or left out (contract section 3): such a citation
/// names the whole document. Both are read here as the empty quote before the schema
/// check, so the check doesn't depend on how the derived schema spells "nullable" (a
/// serde default makes the field optional and non-null in it) and the typed answer
/// reads it the same way (`""`: no quote).
fn tolerate_absent_quotes(value: &mut Value) {
    if let Some(items) = value.get_mut("evidence").and_then(Value::as_array_mut) {
        for item in items.iter_mut().filter_map(Value::as_object_mut) {
            let quote = item.entry("quote").or_insert(Value::Null);
            if quote.is_null() {
                *quote = Value::String(String::new());
            }
        }
    }
}

/// `direct_execution_proposed` first, the rest in the order found.
fn execution_first(mut reasons: Vec<ReviewReason>) -> Vec<ReviewReason> {
    reasons.sort_by_key(|r| r.code != reason::DIRECT_EXECUTION);
    reasons
}

pub fn check(raw: &str, ctx: &Context) -> Result<Checked, Vec<ReviewReason>> {
    let (output, mut reasons): (ModelOutput, _) = match parse_typed(raw, ctx.alerts, |v| ctx.schemas.model_output_errors(v)) {
        Ok(typed) => typed,
        Err(Refused { mut reasons, value }) => {
            if let Some(value) = value {
                check_parts(&value, ctx, &mut reasons);
            }
            return Err(execution_first(reasons));
        }
    };
    let mut uncertainty = output.uncertainty.clone();
    let attack = check_techniques(&output.attack, ctx.catalog, &mut reasons, &mut uncertainty);
    let evidence = check_evidence(&output.evidence, ctx, &mut reasons);
    let proposed_actions = check_actions(&output.proposed_actions, ctx, &mut reasons);
    check_severity(output.severity, ctx, &mut reasons);
    if !reasons.is_empty() {
        return Err(execution_first(reasons));
    }
    Ok(Checked {
        recommendation: Recommendation {
            severity: output.severity,
            confidence: output.confidence,
            hypothesis: output.hypothesis,
            attack,
            evidence,
            uncertainty,
            proposed_actions,
            summary: output.summary,
        },
    })
}

/// An answer two or more levels below the evidence's floor is a downgrade a human must confirm.
fn check_severity(severity: Severity, ctx: &Context, reasons: &mut Vec<ReviewReason>) {
    if let Some(floor) = severity_floor(ctx.alerts, ctx.against, ctx.retrieved)
        && severity.rank() + 2 <= floor.severity.rank()
    {
        reasons.push(reason(reason::SEVERITY_DOWNGRADE, format!("severity {severity} is two or more levels below {} ({})", floor.severity, floor.why)));
    }
}

/// A checked case summary from an engine.
#[derive(Debug, Clone)]
pub struct CheckedSummary {
    pub markdown: String,
    pub evidence: Vec<Evidence>,
    pub uncertainty: Vec<String>,
}

/// Checks a summary answer the way a recommendation is checked: JSON, execution keys,
/// schema, commands and execution wording in the prose, citations and quotes. Markdown
/// images and links are refused too: a summary is pasted into tickets, where they would
/// load or lead somewhere.
pub fn check_summary(raw: &str, ctx: &Context) -> Result<CheckedSummary, Vec<ReviewReason>> {
    let (out, mut reasons): (SummaryOutput, _) = parse_typed(raw, ctx.alerts, |v| ctx.schemas.summary_errors(v)).map_err(|r| execution_first(r.reasons))?;
    if out.summary_markdown.contains("](") {
        reasons.push(reason(reason::INVALID_OUTPUT, "summary_markdown: links and images are not allowed"));
    }
    let evidence = check_evidence(&out.evidence, ctx, &mut reasons);
    if !reasons.is_empty() {
        return Err(execution_first(reasons));
    }
    Ok(CheckedSummary { markdown: out.summary_markdown, evidence, uncertainty: out.uncertainty })
}

/// The folded text of every alert in a request, for telling quotes from proposals.
pub fn alerts_text(alerts: &[Alert]) -> String {
    let mut s = String::new();
    for a in alerts {
        s.push_str(&crate::jsonpath::text_of(&a.raw));
        s.push('\n');
    }
    fold_whitespace(&s)
}

fn check_techniques(techniques: &[ModelTechnique], catalog: &Catalog, reasons: &mut Vec<ReviewReason>, notes: &mut Vec<String>) -> Vec<AttackMapping> {
    let mut out: Vec<AttackMapping> = Vec::new();
    for t in techniques {
        let id = match TechniqueId::parse(&t.technique_id) {
            Ok(id) => id,
            Err(e) => {
                reasons.push(reason(reason::INVALID_OUTPUT, e.to_string()));
                continue;
            }
        };
        let technique = match catalog.lookup(&id) {
            Lookup::Active(t) => t,
            Lookup::Replaced { revoked, by } => {
                notes.push(format!("{} ({}) is revoked in ATT&CK; mapped to {} ({}).", revoked.id, revoked.name, by.id, by.name));
                by
            }
            Lookup::Inactive(t) => {
                reasons.push(reason(reason::UNKNOWN_TECHNIQUE, format!("{id} ({}) is deprecated with no replacement", t.name)));
                continue;
            }
            Lookup::Unknown => {
                reasons.push(reason(reason::UNKNOWN_TECHNIQUE, format!("{id} is not an ATT&CK technique")));
                continue;
            }
        };
        if out.iter().any(|m| m.technique_id == technique.id.as_str()) {
            continue;
        }
        out.push(AttackMapping {
            technique_id: technique.id.to_string(),
            name: technique.name.clone(),
            tactics: technique.tactics.clone(),
            rationale: t.rationale.clone(),
        });
    }
    out
}

/// What a ref names, as quotable text, or why it names nothing in this request.
pub fn cited_text(doc_ref: &str, alerts: &[Alert], retrieved: &[Document]) -> Result<String, String> {
    if let Some(rest) = doc_ref.strip_prefix("alert:") {
        let (alert_id, path) = rest.split_once('#').ok_or_else(|| format!("`{doc_ref}` has no `#<path>`"))?;
        let alert = alerts.iter().find(|a| a.id == alert_id).ok_or_else(|| format!("no alert `{alert_id}` in this request"))?;
        let value = alert.value_at(path).ok_or_else(|| format!("alert `{alert_id}` has no `{path}`"))?;
        return Ok(crate::jsonpath::text_of(value));
    }
    retrieved.iter().find(|d| d.doc_ref() == doc_ref).map(|d| d.text.clone()).ok_or_else(|| format!("`{doc_ref}` was not retrieved for this request"))
}

fn check_evidence(items: &[ModelEvidence], ctx: &Context, reasons: &mut Vec<ReviewReason>) -> Vec<Evidence> {
    let mut out = Vec::new();
    // Answers cite the same document many times; each is folded once.
    let mut folded: HashMap<&str, String> = HashMap::new();
    for (i, e) in items.iter().enumerate() {
        let text = match folded.get(e.doc_ref.as_str()) {
            Some(text) => Ok(text),
            None => cited_text(&e.doc_ref, ctx.alerts, ctx.retrieved).map(|t| &*folded.entry(&e.doc_ref).or_insert(fold_whitespace(&t))),
        };
        match text {
            Err(why) => reasons.push(reason(reason::UNSUPPORTED_CITATION, format!("evidence[{i}]: {why}"))),
            Ok(text) => {
                // The prompt writes `<`, `>`, the `[` of `[INST]` and line separators of its data as
                // `\uXXXX` escapes; a quote copied with them spelled out reads them back.
                let quote =
                    [e.quote.as_str(), &crate::prompt::unneutralise(&e.quote)].into_iter().find(|q| text.contains(&fold_whitespace(q))).map(str::to_string);
                let Some(quote) = quote else {
                    reasons.push(reason(reason::UNSUPPORTED_CITATION, format!("evidence[{i}]: the quote does not appear verbatim in `{}`", e.doc_ref)));
                    continue;
                };
                out.push(Evidence { doc_ref: e.doc_ref.clone(), quote: (!fold_whitespace(&quote).is_empty()).then_some(quote) });
            }
        }
    }
    out
}

fn check_actions(proposed: &[ModelAction], ctx: &Context, reasons: &mut Vec<ReviewReason>) -> Vec<ProposedAction> {
    let mut out = Vec::new();
    for (i, a) in proposed.iter().enumerate() {
        if !ctx.actions.contains(&a.action) {
            reasons.push(reason(reason::UNKNOWN_ACTION, format!("proposed_actions[{i}]: `{}` is not in the action catalog", a.action)));
            continue;
        }
        let tier = Target::parse(&a.target).and_then(|t| Ok((ctx.actions.tier_for(&a.action, &t, ctx.alerts)?, t)));
        match tier {
            // A provider's own identifier is served as `resource:<identifier>`.
            Ok((tier, target)) => out.push(ProposedAction {
                action: a.action.clone(),
                target: target.canonical(),
                rationale: a.rationale.clone(),
                tier,
                approval_id: None,
                evidence_status: Vec::new(),
            }),
            Err(ActionError::UnknownAction(x)) => reasons.push(reason(reason::UNKNOWN_ACTION, format!("proposed_actions[{i}]: `{x}`"))),
            Err(e) => reasons.push(reason(reason::INVALID_TARGET, format!("proposed_actions[{i}]: {e}"))),
        }
    }
    out
}

/// The lowest severity the evidence supports, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct SeverityFloor {
    pub severity: Severity,
    pub why: String,
}

/// The highest of: the alerts' rule severities, and the severities of retrieved prior
/// true-positive cases of the same detection (a case whose alerts include one of these
/// rule names). An answer two or more levels below it is a downgrade a human must confirm.
/// A case that merely resembles the alert sets no floor: on real telemetry retrieval often
/// finds a neighbour, and its severity is not evidence about this alert.
///
/// One narrow exception lowers the rules' floor by one level: when every alert's own
/// recorded values decisively read against what its rule describes (an operation of the
/// opposite kind, a read-only call, an error code, the rule's property set to false; see
/// `knowledge::consistency::decisively_against`). That reading is done here, by code, on
/// the log source's structured fields; nothing an engine writes (its severity, its
/// uncertainty, its quotes) and no free text of the alert can lower the floor.
pub fn severity_floor<'d>(alerts: &[Alert], readings: &[Against], retrieved: impl IntoIterator<Item = &'d Document>) -> Option<SeverityFloor> {
    let contradicted = alerts.iter().any(|a| a.rule.severity.is_some()) && consistency::decisively_against(alerts, readings);
    let rule = alerts.iter().filter_map(|a| a.rule.severity.map(|s| (s, a))).max_by_key(|(s, _)| *s).map(|(s, a)| {
        if contradicted {
            SeverityFloor {
                severity: s.shifted(-1),
                why: format!("rule severity of alert `{}`, one level under it because every event reads against its rule", a.id),
            }
        } else {
            SeverityFloor { severity: s, why: format!("rule severity of alert `{}`", a.id) }
        }
    });
    let case = retrieved
        .into_iter()
        .filter(|d| d.kind == DocKind::Case && d.disposition == Some(Disposition::TruePositive))
        .filter(|d| same_detection(d, alerts))
        .filter_map(|d| d.severity.map(|s| (s, d)))
        .max_by_key(|(s, _)| *s)
        .map(|(s, d)| SeverityFloor { severity: s, why: format!("true-positive prior case {}", d.doc_ref()) });
    match (rule, case) {
        (Some(r), Some(c)) => Some(if c.severity > r.severity { c } else { r }),
        (r, c) => r.or(c),
    }
}

/// Whether a prior case was about the same detection as one of the alerts: one of its
/// alerts carried the same rule name.
pub fn same_detection(case: &Document, alerts: &[Alert]) -> bool {
    alerts.iter().any(|a| case.text.lines().any(|l| l.strip_prefix("Alert: ").is_some_and(|n| n.trim().eq_ignore_ascii_case(a.rule.name.trim()))))
}

/// Tiers of the actions in a checked recommendation, for callers that count approvals.
pub fn tiers(rec: &Recommendation) -> HashMap<String, Tier> {
    rec.proposed_actions.iter().map(|a| (format!("{} {}", a.action, a.target), a.tier)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knowledge::Event;
    use serde_json::json;

    fn alert(name: &str, severity: &str, fields: Value) -> Alert {
        Alert::parse(
            0,
            &json!({"id": "a1", "source": "aws-cloudtrail", "time": "2026-01-01T00:00:00Z", "rule": {"name": name, "severity": severity}, "fields": fields}),
        )
        .unwrap()
    }

    /// One encoded-PowerShell alert and a checker over it, with no retrieved documents.
    struct Fixture {
        alerts: Vec<Alert>,
        catalog: Catalog,
        actions: ActionCatalog,
        schemas: Schemas,
    }

    impl Fixture {
        fn new(note: &str) -> Fixture {
            let raw = json!({"id": "a1", "source": "sysmon", "time": "2026-01-01T00:00:00Z",
                "rule": {"name": "Encoded PowerShell spawned by Office", "severity": "high"},
                "entities": {"hosts": ["WS-042"]},
                "fields": {"CommandLine": "powershell -enc SQBFAFgA", "Note": note}});
            Fixture {
                alerts: vec![Alert::parse(0, &raw).unwrap()],
                catalog: Catalog::embedded().unwrap(),
                actions: ActionCatalog::embedded().unwrap(),
                schemas: Schemas::compile().unwrap(),
            }
        }

        fn check(&self, raw: &str) -> Result<Checked, Vec<ReviewReason>> {
            let ctx = Context { alerts: &self.alerts, retrieved: &[], catalog: &self.catalog, actions: &self.actions, schemas: &self.schemas, against: &[] };
            check(raw, &ctx)
        }
    }

    /// A valid, `ready` answer over [`Fixture`]'s alert.
    fn good() -> String {
        r#"{"severity": "high", "confidence": 0.7, "hypothesis": "Word spawned encoded PowerShell on WS-042.",
            "attack": [{"technique_id": "T1059.001", "rationale": "PowerShell with an encoded command."}],
            "evidence": [{"ref": "alert:a1#fields.CommandLine", "quote": "powershell -enc SQBFAFgA"}],
            "uncertainty": [], "proposed_actions": [{"action": "isolate_host", "target": "host:WS-042", "rationale": "Contain it once approved."}],
            "summary": "Encoded PowerShell from Word; isolate WS-042 after approval."}"#
            .to_string()
    }

    fn codes(result: Result<Checked, Vec<ReviewReason>>) -> Vec<String> {
        result.err().unwrap_or_default().into_iter().map(|r| format!("{}: {}", r.code, r.detail)).collect()
    }

    #[test]
    fn the_fixture_answer_is_ready() {
        let f = Fixture::new("");
        assert!(f.check(&good()).is_ok(), "{:?}", codes(f.check(&good())));
    }

    /// The last of two values would win and the first go unchecked: a key twice is refused
    /// by name, and what it shadowed is still scanned for execution.
    #[test]
    fn a_key_twice_is_refused_and_the_shadowed_value_is_still_scanned() {
        let f = Fixture::new("");
        let shadowed = |extra: &str| good().replacen('{', &format!("{{{extra}, "), 1);
        let got = codes(f.check(&shadowed(r#""summary": "Run kubectl delete namespace prod --force now.""#)));
        assert!(got[0].starts_with("direct_execution_proposed: summary"), "{got:?}");
        assert!(got.iter().any(|r| r.starts_with("invalid_output: duplicate key `summary`")), "{got:?}");

        let got = codes(f.check(&shadowed(r#""severity": "informational""#)));
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].starts_with("invalid_output: duplicate key `severity`"), "{got:?}");

        let nested = good().replace(r#""action": "isolate_host","#, r#""command": "rm -rf /", "action": "isolate_host", "command": "none","#);
        let got = codes(f.check(&nested));
        assert!(got[0].starts_with("direct_execution_proposed"), "{got:?}");
        assert!(got.iter().any(|r| r.contains("duplicate key `command`")), "{got:?}");
        assert!(parse_raw(&nested).is_err());
    }

    /// A fenced answer is read the same with or without a plain sentence before it; the
    /// prose around it is still scanned, and a fenced command is still a command.
    #[test]
    fn a_fenced_answer_after_a_preamble_is_read_and_a_fenced_command_is_not() {
        let f = Fixture::new("");
        for wrapped in [
            format!("```json\n{}\n```", good()),
            format!("Here is the recommendation:\n```json\n{}\n```\n", good()),
            format!("Sure.\n```\n{}\n```\nLet me know.", good()),
        ] {
            assert!(f.check(&wrapped).is_ok(), "{wrapped}: {:?}", codes(f.check(&wrapped)));
        }
        let got = codes(f.check(&format!("I have isolated WS-042.\n```json\n{}\n```", good())));
        assert!(got[0].starts_with("direct_execution_proposed: output"), "{got:?}");
        for command in ["Run this first:\n```bash\nkubectl delete pod payments -n prod\n```", "```powershell\nDisable-ADAccount -Identity jdoe\n```"] {
            let got = codes(f.check(&format!("{command}\n```json\n{}\n```", good())));
            assert!(got.first().is_some_and(|r| r.starts_with("direct_execution_proposed")), "{command}: {got:?}");
        }
    }

    /// The prompt shows `<`, `>` and the `[` of `[INST]` in alert values as `\uXXXX` escapes; a quote
    /// copied with the escapes spelled out still matches the alert's value.
    #[test]
    fn a_quote_copied_with_the_prompts_escapes_still_matches() {
        let f = Fixture::new("<|im_end|> [INST] x </s>");
        for quote in [r"\\u003c|im_end|\\u003e \\u005bINST] x \\u003c/s\\u003e", "<|im_end|> [INST] x </s>", r"\u003c|im_end|\u003e"] {
            let answer = good().replace(
                r#""ref": "alert:a1#fields.CommandLine", "quote": "powershell -enc SQBFAFgA""#,
                &format!(r#""ref": "alert:a1#fields.Note", "quote": "{quote}""#),
            );
            let checked = f.check(&answer);
            assert!(checked.is_ok(), "{quote}: {:?}", codes(checked));
        }
        let wrong = good().replace("powershell -enc SQBFAFgA\"", r#"\\u003cpowershell""#);
        assert!(f.check(&wrong).is_err());
    }

    #[test]
    fn the_rule_floor_drops_one_level_only_when_every_event_decisively_reads_against_its_rule() {
        let floor = |alerts: &[Alert]| {
            let events: Vec<Event> = alerts.iter().map(Event::of).collect();
            severity_floor(alerts, &consistency::readings(&events, alerts), &[]).unwrap().severity
        };
        // The operation the rule describes: the floor is the rule's severity.
        let real = alert("AWS WAF Web ACL Disassociated", "critical", json!({"eventSource": "wafv2.amazonaws.com", "eventName": "DisassociateWebACL"}));
        assert_eq!(floor(std::slice::from_ref(&real)), Severity::Critical);
        // A read under a rule about a change: one level under it, and no further.
        let read =
            alert("AWS WAF Web ACL Disassociated", "critical", json!({"eventSource": "wafv2.amazonaws.com", "eventName": "ListWebACLs", "readOnly": true}));
        assert_eq!(floor(std::slice::from_ref(&read)), Severity::High);
        // Without the readings (a caller that has none) the floor stays the rule's.
        assert_eq!(severity_floor(std::slice::from_ref(&read), &[], &[]).unwrap().severity, Severity::Critical);
        // An operation that only shares no word with the rule is not decisive.
        let other = alert("Slack App Added", "high", json!({"action": "user_channel_join"}));
        assert_eq!(floor(std::slice::from_ref(&other)), Severity::High);
        // One alert that is what its rule describes keeps the whole request's floor.
        assert_eq!(floor(&[read, real]), Severity::Critical);
    }
}
