//! What the service knows about events, and the candidate techniques it supports for a
//! request: the team's indicators (`catalog/knowledge/`), ATT&CK's software and analytics,
//! the sender's own tags and the labels of retrieved documents, each candidate with what
//! supports it. Every engine sees the same assessment: the baseline ranks from it, the LLM
//! prompt shows it.

pub mod consistency;
pub mod event;
pub mod indicators;
pub mod names;
pub mod software;

use std::collections::BTreeMap;

use serde::Serialize;

pub use consistency::Against;
pub use event::{Attr, Event, EventKind, Platform};
pub use indicators::{Indicators, KnowledgeError, Match, Wording};

use crate::alert::Alert;
use crate::attack::{Catalog, TechniqueId};
use crate::corpus::DocKind;
use crate::retrieval::Hit;
use crate::severity::Severity;

/// Candidates kept for a request: enough for a multi-stage case, few enough to read.
pub const MAX_CANDIDATES: usize = 8;

/// Where a candidate technique's support comes from, strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SupportKind {
    /// The sender tagged the alert with it.
    Sender,
    /// One of the team's indicators matched the event's own values.
    Indicator,
    /// A rule-wording indicator or a technique's name matched the rule's name.
    RuleWording,
    /// An ATT&CK software entry named in the event uses it.
    Software,
    /// Only the rule's description says it: what a detection looks for, or what might follow.
    RuleDescription,
    /// A retrieved document (runbook, prior case, Sigma rule, ATT&CK entry) is labelled with it.
    Document,
}

#[derive(Debug, Clone, Serialize)]
pub struct Support {
    pub kind: SupportKind,
    /// `indicator:certutil-urlcache`, `runbook:rb-…`, `attack:S0160`, `alert:a1`.
    pub what: String,
    /// A line a reader can check: the indicator's note and source, a document's title.
    pub note: String,
    pub weight: f32,
}

#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    pub technique_id: TechniqueId,
    pub name: String,
    pub score: f32,
    pub support: Vec<Support>,
}

impl Candidate {
    /// Whether anything but retrieved documents, a description's wording or named software
    /// supports it. Software corroborates: a tool that uses a dozen techniques does not say
    /// which one this is (counted as direct, it cost the real dev halves precision).
    pub fn has_direct_support(&self) -> bool {
        self.support.iter().any(|s| !matches!(s.kind, SupportKind::Document | SupportKind::RuleDescription | SupportKind::Software))
    }
}

/// Everything the knowledge says about one request.
#[derive(Debug, Clone, Serialize)]
pub struct Assessment<'k> {
    pub events: Vec<Event>,
    pub matches: Vec<Match<'k>>,
    pub candidates: Vec<Candidate>,
    /// The severity that indicators matched on the events' own values suggest, if any matched.
    pub evidence_severity: Option<Severity>,
    /// The severity that indicators matched on the rules' names suggest: what the sender's
    /// detection is about, for alerts that carry no severity of their own.
    pub wording_severity: Option<Severity>,
    /// The events that read against what their rule says it detects (a different or
    /// opposite operation, a read where the rule is about a change, a failure), and why.
    pub against: Vec<Against>,
}

impl Assessment<'_> {
    /// An assessment that knows nothing (requests built without knowledge, e.g. summaries).
    pub fn empty() -> Assessment<'static> {
        Assessment { events: Vec::new(), matches: Vec::new(), candidates: Vec::new(), evidence_severity: None, wording_severity: None, against: Vec::new() }
    }

    /// Whether the knowledge recognised the events only as ordinary ones (a logon, a process
    /// start, a DNS query): something matched, and nothing that points to a technique did.
    pub fn is_routine(&self) -> bool {
        !self.matches.is_empty() && self.matches.iter().all(|m| m.indicator.techniques.is_empty())
    }

    /// Whether every event reads against its rule: the detection matched, but not what it
    /// was written for.
    pub fn contradicts_rules(&self) -> bool {
        !self.events.is_empty() && self.against.len() == self.events.len()
    }

    /// Matches on the events' own values (not only on a rule's wording) that point to a technique.
    pub fn telling_matches(&self) -> impl Iterator<Item = &Match<'_>> {
        self.matches.iter().filter(|m| !m.text_only && !m.indicator.techniques.is_empty())
    }
}

/// Weights of the kinds of support. An indicator on the event's own values is the
/// strongest evidence the service has; document labels are the weakest, because on real
/// telemetry retrieval often finds a neighbour, not the thing itself.
const SENDER_WEIGHT: f32 = 3.0;
const INDICATOR_WEIGHT: f32 = 3.0;
const RULE_WORDING_WEIGHT: f32 = 2.0;
/// A description says what a detection looks for and what might follow ("could lead to
/// data exfiltration"), so its wording counts for much less than the rule's name.
const DESCRIPTION_WEIGHT: f32 = 0.6;
/// Software named by the event, shared out over the techniques it uses (divided by the
/// square root of their number): `certutil` supports each of its few techniques about as
/// much as a description does, Cobalt Strike each of its seventy barely at all.
const SOFTWARE_WEIGHT: f32 = 1.5;
const DOCUMENT_WEIGHTS: [(DocKind, f32); 4] = [(DocKind::Runbook, 1.0), (DocKind::Case, 0.5), (DocKind::Sigma, 0.6), (DocKind::Attack, 0.8)];

/// The events of a request and the indicators their values match: the costly half of an
/// assessment, done once per request and shared by the query and the ranking.
#[derive(Debug, Clone)]
pub struct Observed<'k> {
    events: Vec<Event>,
    matches: Vec<Match<'k>>,
}

/// Reads the alerts as events and matches the indicators against them.
pub fn observe<'k>(indicators: &'k Indicators, alerts: &[Alert]) -> Observed<'k> {
    let events: Vec<Event> = alerts.iter().map(Event::of).collect();
    let matches = events.iter().flat_map(|e| indicators.matches(e)).collect();
    Observed { events, matches }
}

impl Observed<'_> {
    /// The techniques the alerts' own values and the rules' names point to, before any
    /// retrieval: what retrieval should look for.
    pub fn direct_techniques(&self, indicators: &Indicators, catalog: &Catalog, alerts: &[Alert]) -> Vec<String> {
        let candidates = rank(indicators, catalog, alerts, &self.events, &self.matches, &[]);
        candidates.iter().filter(|c| c.has_direct_support()).map(|c| c.technique_id.to_string()).collect()
    }
}

/// Reads the alerts, matches the indicators and ranks candidate techniques.
pub fn assess<'k>(indicators: &'k Indicators, catalog: &Catalog, alerts: &[Alert], hits: &[Hit]) -> Assessment<'k> {
    assess_observed(indicators, catalog, alerts, observe(indicators, alerts), hits)
}

/// Ranks candidate techniques from what [`observe`] found and what retrieval returned.
pub fn assess_observed<'k>(indicators: &Indicators, catalog: &Catalog, alerts: &[Alert], observed: Observed<'k>, hits: &[Hit]) -> Assessment<'k> {
    let Observed { events, matches } = observed;
    let candidates = rank(indicators, catalog, alerts, &events, &matches, hits);
    let evidence_severity = matches.iter().filter(|m| !m.text_only).map(|m| m.indicator.severity).max();
    let wording_severity = matches.iter().filter(|m| m.text_only && m.wording == Some(Wording::RuleName)).map(|m| m.indicator.severity).max();
    let against = consistency::readings(&events, alerts);
    Assessment { events, matches, candidates, evidence_severity, wording_severity, against }
}

/// The candidate techniques, best first: the sender's tags, the indicators' matches, the
/// technique names in the rules' wording and the retrieved documents' labels.
fn rank(indicators: &Indicators, catalog: &Catalog, alerts: &[Alert], events: &[Event], matches: &[Match], hits: &[Hit]) -> Vec<Candidate> {
    let mut ranked = Ranking::default();

    for a in alerts {
        for id in &a.technique_hints {
            ranked.add(
                catalog,
                id,
                Support { kind: SupportKind::Sender, what: format!("alert:{}", a.id), note: "tagged by the sender".into(), weight: SENDER_WEIGHT },
            );
        }
    }
    for m in matches {
        let i = m.indicator;
        let (kind, base) = match (m.text_only, m.wording) {
            (false, _) => (SupportKind::Indicator, INDICATOR_WEIGHT),
            (true, Some(Wording::RuleDescription)) => (SupportKind::RuleDescription, DESCRIPTION_WEIGHT),
            (true, _) => (SupportKind::RuleWording, RULE_WORDING_WEIGHT),
        };
        // Narrow indicators (binary and argument) say more than broad ones (a binary alone).
        let weight = base * (0.8 + 0.1 * i.narrowness().min(3) as f32);
        for t in &i.techniques {
            ranked.add(catalog, t.as_str(), Support { kind, what: format!("indicator:{}", i.id), note: format!("{} ({})", i.note, i.source), weight });
        }
    }
    for e in events {
        for (s, value) in software::named(catalog, e) {
            // A tool that uses many techniques says little about which one this is.
            let weight = SOFTWARE_WEIGHT / (s.techniques.len().max(1) as f32).sqrt();
            let note = format!("{} ({}) is named by {value}; ATT&CK records it using this technique", s.name, s.id);
            for t in &s.techniques {
                ranked.add(catalog, t.as_str(), Support { kind: SupportKind::Software, what: format!("attack:{}", s.id), note: note.clone(), weight });
            }
        }
        for (text, kind, weight) in
            [(&e.rule_name, SupportKind::RuleWording, RULE_WORDING_WEIGHT), (&e.rule_description, SupportKind::RuleDescription, DESCRIPTION_WEIGHT)]
        {
            for hit in indicators.names.find(text) {
                let note = format!("the rule names the technique \"{}\"", hit.name);
                ranked.add(catalog, hit.technique_id.as_str(), Support { kind, what: format!("alert:{}", e.alert_id), note, weight });
            }
        }
    }
    for (kind, kind_weight) in DOCUMENT_WEIGHTS {
        let mut of_kind: Vec<&Hit> = hits.iter().filter(|h| h.doc.kind == kind).collect();
        of_kind.sort_by(|a, b| b.score.total_cmp(&a.score));
        let Some(top) = of_kind.first().map(|h| h.score) else { continue };
        for h in of_kind {
            let rel = h.score / top.max(f32::EPSILON);
            if rel < 0.5 {
                continue;
            }
            for (id, share) in document_techniques(h) {
                ranked.add(
                    catalog,
                    &id,
                    Support { kind: SupportKind::Document, what: h.doc_ref(), note: h.doc.title.clone(), weight: kind_weight * rel * share },
                );
            }
        }
    }
    ranked.finish()
}

/// The techniques a retrieved document supports, each with its share of the document's
/// weight. A technique document supports itself; a detection strategy or analytic the one
/// or two techniques it detects; software the many techniques it is known to use, each
/// weakly (Cobalt Strike uses dozens: naming it says little about which one this is).
fn document_techniques(h: &Hit) -> Vec<(String, f32)> {
    use crate::attack::relations::ObjectKind;
    let doc = &h.doc;
    match doc.attack_object() {
        Some(ObjectKind::Technique) | None if doc.kind == DocKind::Attack && doc.techniques.is_empty() => vec![(doc.id.clone(), 1.0)],
        Some(ObjectKind::Software) => {
            let share = 1.0 / (doc.techniques.len().max(1) as f32);
            doc.techniques.iter().map(|t| (t.clone(), share)).collect()
        }
        Some(ObjectKind::DetectionStrategy | ObjectKind::Analytic) => {
            let share = 1.0 / (doc.techniques.len().max(1) as f32).sqrt();
            doc.techniques.iter().map(|t| (t.clone(), share)).collect()
        }
        _ => doc.techniques.iter().map(|t| (t.clone(), 1.0)).collect(),
    }
}

#[derive(Default)]
struct Ranking {
    by_id: BTreeMap<TechniqueId, Candidate>,
}

impl Ranking {
    fn add(&mut self, catalog: &Catalog, id: &str, support: Support) {
        let Ok(tid) = TechniqueId::parse_lenient(id) else { return };
        let Some(t) = catalog.resolve(&tid) else { return };
        let c =
            self.by_id.entry(t.id.clone()).or_insert_with(|| Candidate { technique_id: t.id.clone(), name: t.name.clone(), score: 0.0, support: Vec::new() });
        // One source supports a technique once, however many ways it says so.
        if let Some(existing) = c.support.iter_mut().find(|s| s.what == support.what) {
            if support.weight > existing.weight {
                c.score += support.weight - existing.weight;
                *existing = support;
            }
            return;
        }
        c.score += support.weight;
        c.support.push(support);
    }

    fn finish(self) -> Vec<Candidate> {
        let mut v: Vec<Candidate> = self.by_id.into_values().collect();
        for c in &mut v {
            c.support.sort_by(|a, b| a.kind.cmp(&b.kind).then(b.weight.total_cmp(&a.weight)));
        }
        v.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.technique_id.cmp(&b.technique_id)));
        v.truncate(MAX_CANDIDATES);
        v
    }
}
