//! Trivial baselines: engines that need no model and no knowledge of security, run through
//! the same pipeline as any other engine so that every figure of a run can be read against
//! what a constant or an echo would score on the same samples. A metric on which the
//! product does no better than these measures the dataset, not the product; gates are
//! written relative to the best of them (see [`super::gate`]).
//!
//! Two of them answer with the dataset's own label priors ([`Priors`]), computed from the
//! gold labels of the samples being evaluated. That is a peek no real engine gets, so they
//! are, if anything, stronger than a deployed constant would be.

use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::attack::TechniqueId;
use crate::config::EngineKind;
use crate::corpus::{Disposition, DocKind};
use crate::llm::{Engine, EngineAnswer, EngineError, EngineRequest, Usage};
use crate::recommendation::{MAX_EVIDENCE, ModelEvidence, ModelOutput, ModelTechnique};
use crate::severity::Severity;

use super::dataset::Sample;

/// The confidence every trivial engine states: it knows nothing about whether it is right.
const CONFIDENCE: f64 = 0.5;
/// At most this many techniques (the model-output schema's bound).
const MAX_TECHNIQUES: usize = 6;

/// The trivial baselines, in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TrivialKind {
    ConstantHigh,
    ConstantMode,
    MajorityVerdict,
    RuleSeverity,
    TopDocument,
}

impl TrivialKind {
    pub const ALL: [TrivialKind; 5] =
        [TrivialKind::ConstantHigh, TrivialKind::ConstantMode, TrivialKind::MajorityVerdict, TrivialKind::RuleSeverity, TrivialKind::TopDocument];

    /// The name `--engine` takes and reports show.
    pub fn name(self) -> &'static str {
        match self {
            TrivialKind::ConstantHigh => "constant-high",
            TrivialKind::ConstantMode => "constant-mode",
            TrivialKind::MajorityVerdict => "majority-verdict",
            TrivialKind::RuleSeverity => "rule-severity",
            TrivialKind::TopDocument => "top-document",
        }
    }

    /// What it answers, for reports.
    pub fn what(self) -> &'static str {
        match self {
            TrivialKind::ConstantHigh => "severity high for every alert; no technique, citation or action",
            TrivialKind::ConstantMode => "the most common gold severity of the evaluated samples, for every alert",
            TrivialKind::MajorityVerdict => {
                "the most common gold disposition of the evaluated samples, for every alert (as its most common gold severity among them)"
            }
            TrivialKind::RuleSeverity => "echoes the alert: its rule's severity (else medium) and the ATT&CK tags its sender put on it",
            TrivialKind::TopDocument => "copies the top retrieved document that carries ATT&CK labels: its techniques, its severity (else medium), cited",
        }
    }

    pub fn from_engine(kind: EngineKind) -> Option<TrivialKind> {
        match kind {
            EngineKind::ConstantHigh => Some(TrivialKind::ConstantHigh),
            EngineKind::ConstantMode => Some(TrivialKind::ConstantMode),
            EngineKind::MajorityVerdict => Some(TrivialKind::MajorityVerdict),
            EngineKind::RuleSeverity => Some(TrivialKind::RuleSeverity),
            EngineKind::TopDocument => Some(TrivialKind::TopDocument),
            EngineKind::Baseline | EngineKind::Llm | EngineKind::Replay => None,
        }
    }

    /// Whether an engine named so in a summary answers the same every time: the baseline,
    /// replays and every trivial engine.
    pub fn is_deterministic(engine: &str) -> bool {
        matches!(engine, "baseline" | "replay") || TrivialKind::ALL.iter().any(|k| k.name() == engine)
    }
}

/// What the evaluated samples' gold labels say before any alert is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Priors {
    /// The most common gold severity (ties go to the higher severity); medium when no
    /// sample has one.
    pub common_severity: Severity,
    /// The most common gold disposition (ties go to true positive); true positive when no
    /// sample has one.
    pub majority: Disposition,
    /// The severity that says the majority verdict under the harness's derived disposition:
    /// the most common gold severity among the majority's samples, at least medium for a
    /// true positive and at most low otherwise.
    pub majority_severity: Severity,
}

fn mode(severities: impl Iterator<Item = Severity>) -> Option<Severity> {
    let mut counts: BTreeMap<Severity, usize> = BTreeMap::new();
    for s in severities {
        *counts.entry(s).or_default() += 1;
    }
    // max_by_key keeps the last of equal maxima: iterating in ascending order, the higher severity.
    counts.into_iter().max_by_key(|(_, n)| *n).map(|(s, _)| s)
}

impl Priors {
    pub fn of(samples: &[Sample]) -> Priors {
        let common_severity = mode(samples.iter().filter_map(|s| s.gold.severity)).unwrap_or(Severity::Medium);
        let count = |d: Disposition| samples.iter().filter(|s| s.gold.disposition == Some(d)).count();
        let majority = [Disposition::TruePositive, Disposition::Benign, Disposition::FalsePositive]
            .into_iter()
            .max_by_key(|d| (count(*d), *d == Disposition::TruePositive))
            .unwrap_or(Disposition::TruePositive);
        let among = mode(samples.iter().filter(|s| s.gold.disposition == Some(majority)).filter_map(|s| s.gold.severity));
        let majority_severity = match majority {
            Disposition::TruePositive => among.unwrap_or(Severity::Medium).max(Severity::Medium),
            _ => among.unwrap_or(Severity::Low).min(Severity::Low),
        };
        Priors { common_severity, majority, majority_severity }
    }
}

/// A trivial engine. It reads the request only as its kind says, and never proposes an action.
pub struct Trivial {
    pub kind: TrivialKind,
    pub priors: Priors,
}

impl Trivial {
    pub fn new(kind: TrivialKind, priors: Priors) -> Trivial {
        Trivial { kind, priors }
    }

    /// The answer for a request.
    pub fn answer(&self, req: &EngineRequest<'_>) -> ModelOutput {
        let (severity, techniques, evidence, note) = match self.kind {
            TrivialKind::ConstantHigh => (Severity::High, Vec::new(), Vec::new(), "severity high for every alert".to_string()),
            TrivialKind::ConstantMode => {
                (self.priors.common_severity, Vec::new(), Vec::new(), format!("the dataset's most common gold severity, {}", self.priors.common_severity))
            }
            TrivialKind::MajorityVerdict => {
                (self.priors.majority_severity, Vec::new(), Vec::new(), format!("the dataset's most common disposition, {}", self.priors.majority.as_str()))
            }
            TrivialKind::RuleSeverity => {
                let severity = req.alerts.iter().filter_map(|a| a.rule.severity).max().unwrap_or(Severity::Medium);
                let hints: Vec<&String> = req.alerts.iter().flat_map(|a| a.technique_hints.iter()).collect();
                (
                    severity,
                    known(req, hints.into_iter().map(String::as_str), "tagged by the sender"),
                    Vec::new(),
                    "the alert's own severity and tags".to_string(),
                )
            }
            TrivialKind::TopDocument => match top_document(req) {
                Some(h) => {
                    let ids: Vec<String> = if h.doc.kind == DocKind::Attack { vec![h.doc.id.clone()] } else { h.doc.techniques.clone() };
                    let cite = vec![ModelEvidence { doc_ref: h.doc_ref(), quote: String::new() }];
                    let severity = h.doc.severity.unwrap_or(Severity::Medium);
                    (severity, known(req, ids.iter().map(String::as_str), "labels of the top document"), cite, format!("copied from {}", h.doc_ref()))
                }
                None => (Severity::Medium, Vec::new(), Vec::new(), "no retrieved document carries ATT&CK labels".to_string()),
            },
        };
        let name = self.kind.name();
        let mut evidence = evidence;
        evidence.truncate(MAX_EVIDENCE);
        ModelOutput {
            severity,
            confidence: CONFIDENCE,
            hypothesis: format!("Trivial baseline {name}: {note}."),
            attack: techniques,
            evidence,
            uncertainty: vec![format!("Trivial baseline {name}: it does not read the alert beyond {}.", self.reads())],
            proposed_actions: Vec::new(),
            summary: format!("Trivial baseline {name}: {severity} severity."),
        }
    }

    fn reads(&self) -> &'static str {
        match self.kind {
            TrivialKind::ConstantHigh | TrivialKind::ConstantMode | TrivialKind::MajorityVerdict => "nothing",
            TrivialKind::RuleSeverity => "its rule severity and ATT&CK tags",
            TrivialKind::TopDocument => "what retrieval ranks first",
        }
    }
}

/// The best-scoring retrieved document that carries ATT&CK labels (an ATT&CK document is
/// its own label).
fn top_document<'a>(req: &'a EngineRequest<'_>) -> Option<&'a crate::retrieval::Hit> {
    req.retrieved.iter().filter(|h| h.doc.kind == DocKind::Attack || !h.doc.techniques.is_empty()).max_by(|a, b| a.score.total_cmp(&b.score))
}

/// The IDs the catalog knows (revoked ones follow their replacement), de-duplicated, in order.
fn known<'s>(req: &EngineRequest<'_>, ids: impl Iterator<Item = &'s str>, why: &str) -> Vec<ModelTechnique> {
    let mut out: Vec<ModelTechnique> = Vec::new();
    for id in ids {
        let Ok(tid) = TechniqueId::parse_lenient(id) else { continue };
        let Some(t) = req.catalog.resolve(&tid) else { continue };
        let id = t.id.to_string();
        if out.iter().any(|m| m.technique_id == id) {
            continue;
        }
        out.push(ModelTechnique { technique_id: id, rationale: why.to_string() });
        if out.len() == MAX_TECHNIQUES {
            break;
        }
    }
    out
}

#[async_trait]
impl Engine for Trivial {
    fn name(&self) -> &'static str {
        self.kind.name()
    }

    async fn propose(&self, req: &EngineRequest<'_>) -> Result<EngineAnswer, EngineError> {
        let output = self.answer(req);
        Ok(EngineAnswer {
            raw: serde_json::to_string(&output).map_err(|e| EngineError::Unavailable(e.to_string()))?,
            model: self.kind.name().to_string(),
            prompt_version: format!("trivial-{}-v1", self.kind.name()),
            usage: Usage::default(),
            calls: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::dataset::Gold;

    fn sample(severity: Option<Severity>, disposition: Option<Disposition>) -> Sample {
        Sample {
            id: String::new(),
            alerts: Vec::new(),
            gold: Gold { severity, techniques: Vec::new(), disposition, must_cite: None, forbidden_actions: None },
            tags: Vec::new(),
            source: None,
            license: None,
            dataset: String::new(),
            line: 0,
        }
    }

    #[test]
    fn priors_follow_the_gold_labels_and_say_the_majority_verdict() {
        use Disposition::*;
        use Severity::*;
        let samples = vec![
            sample(Some(Informational), Some(Benign)),
            sample(Some(Informational), Some(Benign)),
            sample(Some(Low), Some(FalsePositive)),
            sample(Some(High), Some(TruePositive)),
            sample(None, Some(Benign)),
        ];
        let p = Priors::of(&samples);
        assert_eq!(p.common_severity, Informational);
        assert_eq!(p.majority, Benign);
        assert_eq!(p.majority_severity, Informational, "a benign majority answers at most low");

        // A true-positive majority whose own gold severity is low still reads as a true positive.
        let tp = vec![sample(Some(Low), Some(TruePositive)), sample(Some(Low), Some(TruePositive)), sample(Some(High), Some(Benign))];
        let p = Priors::of(&tp);
        assert_eq!((p.majority, p.majority_severity), (TruePositive, Medium));
        // Ties go to the higher severity; nothing labelled gives medium.
        assert_eq!(Priors::of(&[sample(Some(Low), None), sample(Some(Critical), None)]).common_severity, Critical);
        assert_eq!(Priors::of(&[sample(None, None)]).common_severity, Medium);
    }
}
