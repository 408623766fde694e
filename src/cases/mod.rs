//! Case views and closing the loop: a closed case becomes a prior case in the index at once.

pub mod follow;
pub mod graph;
pub mod lifecycle;
pub mod overview;
pub mod queue;
pub mod stream;
pub mod summary;
pub mod verdict;

use serde::Serialize;
use serde_json::Value;

use crate::app::App;
use crate::corpus::Document;
use crate::corpus::cases::{PriorCase, to_document};
use crate::store::{ActionRecord, ApprovalRecord, CaseRecord, ClosedCase, HistoryEntry, StoreError, StoredAlert};

#[derive(Debug, Serialize)]
pub struct CaseView {
    #[serde(flatten)]
    pub case: CaseRecord,
    pub alerts: Vec<StoredAlert>,
    pub recommendations: Vec<Value>,
    pub approvals: Vec<ApprovalRecord>,
    pub actions: Vec<ActionRecord>,
    pub history: Vec<HistoryEntry>,
    #[serde(flatten)]
    pub overview: overview::Overview,
    pub learning: Vec<crate::learning::Task>,
}

pub fn view(app: &App, case_id: &str) -> Result<Option<CaseView>, StoreError> {
    let Some(case) = app.store.case(case_id)? else { return Ok(None) };
    let recommendations = app.store.recommendations_of(case_id)?;
    let approvals = app.store.approvals(None, Some(case_id), 500)?;
    let overview = overview::overview(&case, recommendations.last(), &approvals, app.store.related_cases(case_id)?, &app.stream.sla, chrono::Utc::now());
    Ok(Some(CaseView {
        alerts: app.store.case_alerts(case_id)?,
        recommendations,
        approvals,
        actions: app.store.actions(None, Some(case_id))?,
        history: app.store.case_history(case_id)?,
        learning: app.store.learning_tasks(None, Some(case_id))?,
        overview,
        case,
    }))
}

/// One line of the queue: the case and what the queue shows of it.
#[derive(Debug, Serialize)]
pub struct QueueEntry {
    #[serde(flatten)]
    pub case: CaseRecord,
    #[serde(flatten)]
    pub overview: overview::Overview,
}

/// What `GET /v1/cases` may filter and sort on.
#[derive(Debug, Default)]
pub struct QueueQuery {
    pub state: Option<crate::store::CaseState>,
    pub assignee: Option<String>,
    pub breached: Option<bool>,
    pub sort: QueueSort,
    pub limit: usize,
}

#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub enum QueueSort {
    /// Due first; cases without an SLA last.
    Sla,
    /// Most severe first, then oldest.
    #[default]
    Severity,
    /// Oldest first.
    Age,
}

/// The queue (contract section 11), filtered and sorted.
pub fn queue(app: &App, q: &QueueQuery) -> Result<Vec<QueueEntry>, StoreError> {
    let now = chrono::Utc::now();
    let mut out = Vec::new();
    for case in app.store.cases(q.state, 10_000)? {
        if q.assignee.as_ref().is_some_and(|a| case.assignee.as_ref() != Some(a)) {
            continue;
        }
        let id = case.case_id.clone();
        let current = app.store.latest_recommendation(&id)?;
        let approvals = app.store.approvals(Some(crate::approval::ApprovalStatus::Pending), Some(&id), 100)?;
        let overview = overview::overview(&case, current.as_ref(), &approvals, app.store.related_cases(&id)?, &app.stream.sla, now);
        if q.breached.is_some_and(|b| overview.sla.as_ref().is_some_and(|s| s.breached) != b) {
            continue;
        }
        out.push(QueueEntry { case, overview });
    }
    match q.sort {
        QueueSort::Sla => out.sort_by(|a, b| {
            let due = |e: &QueueEntry| e.overview.sla.as_ref().map(|s| s.due_at.clone());
            match (due(a), due(b)) {
                (Some(x), Some(y)) => x.cmp(&y),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => a.overview.opened_at.cmp(&b.overview.opened_at),
            }
        }),
        QueueSort::Age => out.sort_by(|a, b| a.overview.opened_at.cmp(&b.overview.opened_at)),
        QueueSort::Severity => {}
    }
    out.truncate(q.limit.max(1));
    Ok(out)
}

/// The index document of a closed case, in the same shape as corpus prior cases.
pub fn closed_case_document(case: &CaseRecord, alerts: &[StoredAlert]) -> Option<Document> {
    let closed: &ClosedCase = case.closed.as_ref()?;
    let prior = PriorCase {
        id: case.case_id.clone(),
        title: case.title.clone(),
        opened: Some(case.created_at.clone()),
        alerts: alerts.iter().map(|a| a.alert.clone()).collect(),
        disposition: closed.disposition,
        severity: closed.severity,
        techniques: closed.techniques.clone(),
        notes: closed.note.clone(),
        actions_taken: Vec::new(),
        runbook: None,
    };
    let mut doc = to_document(&prior);
    doc.text = format!("{}Closed by analyst {} at {}.\n", doc.text, closed.closed_by, closed.closed_at);
    Some(doc)
}

#[derive(Debug, thiserror::Error)]
pub enum CloseError {
    #[error("case {0} not found")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Index(#[from] crate::retrieval::IndexError),
}

impl crate::error_code::Coded for CloseError {
    fn code(&self) -> crate::error_code::ErrorCode {
        match self {
            CloseError::NotFound(_) => crate::error_code::ErrorCode::NotFound,
            CloseError::Store(s) => crate::error_code::Coded::code(s),
            CloseError::Index(_) => crate::error_code::ErrorCode::Internal,
        }
    }
}

/// How many recent alerts of other cases a tuning draft counts its exclusions in.
const PAST_ALERTS: usize = 5_000;

/// The learning tasks a closure drafts (contract section 13).
fn learning_drafts(app: &App, case_id: &str, closed: &ClosedCase) -> Result<Vec<crate::learning::Task>, StoreError> {
    let alerts_json: Vec<Value> = app.store.case_alerts(case_id)?.into_iter().map(|s| s.alert).collect();
    let parse = |values: &[Value]| values.iter().enumerate().filter_map(|(i, v)| crate::alert::Alert::parse(i, v).ok()).collect::<Vec<_>>();
    let alerts = parse(&alerts_json);
    let past = parse(&app.store.recent_alerts_except(case_id, PAST_ALERTS)?);
    let current = app.store.latest_recommendation(case_id)?;
    Ok(crate::learning::drafts(case_id, &alerts, &alerts_json, current.as_ref(), closed, &past, || crate::store::new_id("lrn")))
}

/// Closes a case and indexes it as a prior case before returning.
pub fn close(app: &App, case_id: &str, closed: ClosedCase) -> Result<CaseView, CloseError> {
    if app.store.case(case_id)?.is_none() {
        return Err(CloseError::NotFound(case_id.to_string()));
    }
    let tasks = learning_drafts(app, case_id, &closed)?;
    app.store.close_case(case_id, &closed, &tasks)?;
    let case = app.store.case(case_id)?.ok_or_else(|| CloseError::NotFound(case_id.to_string()))?;
    let alerts = app.store.case_alerts(case_id)?;
    if let Some(doc) = closed_case_document(&case, &alerts) {
        app.index.upsert(&doc)?;
    }
    view(app, case_id)?.ok_or_else(|| CloseError::NotFound(case_id.to_string()))
}

/// The case as a graph of what its alerts name (contract section 10), with inventory facts
/// on the nodes the inventory knows.
pub fn graph_of(app: &App, case_id: &str) -> Result<Option<graph::Graph>, StoreError> {
    if app.store.case(case_id)?.is_none() {
        return Ok(None);
    }
    let values: Vec<Value> = app.store.case_alerts(case_id)?.into_iter().map(|s| s.alert).collect();
    let alerts: Vec<crate::alert::Alert> = values.iter().enumerate().filter_map(|(i, v)| crate::alert::Alert::parse(i, v).ok()).collect();
    let pinned = |p: &str| stream::pinned_fingerprint(p).map(str::to_string);
    // Inventory keys are lower-cased `kind:value`.
    let keys: Vec<String> =
        alerts.iter().flat_map(|a| a.entities.targets()).map(|(k, v)| crate::enrich::import::key(k, &pinned(v).unwrap_or_else(|| v.to_string()))).collect();
    let records = app.store.inventory_records(&keys)?;
    let context = |id: &str| -> Option<serde_json::Map<String, Value>> {
        let record = records.get(&id.to_lowercase())?;
        let mut facts = serde_json::to_value(record).ok()?.as_object()?.clone();
        facts.retain(|k, _| matches!(k.as_str(), "owner" | "criticality" | "environment" | "exposure" | "service" | "kind" | "status"));
        (!facts.is_empty()).then_some(facts)
    };
    Ok(Some(graph::build(&alerts, &pinned, &context)))
}
