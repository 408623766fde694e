//! Case views and closing the loop: a closed case becomes a prior case in the index at once.

pub mod summary;

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
}

pub fn view(app: &App, case_id: &str) -> Result<Option<CaseView>, StoreError> {
    let Some(case) = app.store.case(case_id)? else { return Ok(None) };
    Ok(Some(CaseView {
        alerts: app.store.case_alerts(case_id)?,
        recommendations: app.store.recommendations_of(case_id)?,
        approvals: app.store.approvals(None, Some(case_id), 500)?,
        actions: app.store.actions(None, Some(case_id))?,
        history: app.store.case_history(case_id)?,
        case,
    }))
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

/// Closes a case and indexes it as a prior case before returning.
pub fn close(app: &App, case_id: &str, closed: ClosedCase) -> Result<CaseView, CloseError> {
    if app.store.case(case_id)?.is_none() {
        return Err(CloseError::NotFound(case_id.to_string()));
    }
    app.store.close_case(case_id, &closed)?;
    let case = app.store.case(case_id)?.ok_or_else(|| CloseError::NotFound(case_id.to_string()))?;
    let alerts = app.store.case_alerts(case_id)?;
    if let Some(doc) = closed_case_document(&case, &alerts) {
        app.index.upsert(&doc)?;
    }
    view(app, case_id)?.ok_or_else(|| CloseError::NotFound(case_id.to_string()))
}
