//! The alert stream and the case queue over HTTP (contract sections 10 and 11): alerts in,
//! the queue, assignment, recovery, merge and split, the case graph, learning tasks
//! (section 13).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::handlers::{Body, Path, Query};
use super::{AppError, AppState, Caller, ErrorCode};
use crate::cases::{QueueQuery, QueueSort};
use crate::learning::TaskStatus;
use crate::store::{CaseState, Role};

/// Who may read cases, graphs and the queue.
const READERS: [Role; 4] = [Role::CaseEngine, Role::Analyst, Role::Approver, Role::Admin];
/// Who may change a case.
const WORKERS: [Role; 2] = [Role::Analyst, Role::Admin];

pub fn routes() -> Router<AppState> {
    Router::new()
        // Its body may be up to `[http] max_stream_body` (4 MiB by default).
        .route("/v1/alerts", post(alerts))
        .route("/v1/cases", get(queue))
        .route("/v1/cases/{id}/assign", post(assign))
        .route("/v1/cases/{id}/recover", post(recover))
        .route("/v1/cases/{id}/merge", post(merge))
        .route("/v1/cases/{id}/split", post(split))
        .route("/v1/cases/{id}/graph", get(graph))
        .route("/v1/learning", get(learning))
        .route("/v1/learning/{id}", post(decide_task))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsRequest {
    alerts: Vec<Value>,
}

pub async fn alerts(State(s): State<AppState>, caller: Caller, Body(req, _): Body<AlertsRequest>) -> Result<Json<Value>, AppError> {
    let who = caller.require(&[Role::CaseEngine, Role::Admin])?.clone();
    // A batch of 500 is one transaction of a few thousand rows.
    let results = s.app.blocking(move |app| crate::pipeline::ingest(app, &who, &req.alerts)).await?;
    Ok(Json(json!({"results": results})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueParams {
    state: Option<String>,
    assignee: Option<String>,
    breached: Option<bool>,
    sort: Option<String>,
    limit: Option<usize>,
}

pub async fn queue(State(s): State<AppState>, caller: Caller, Query(q): Query<QueueParams>) -> Result<Json<Value>, AppError> {
    caller.require(&READERS)?;
    let invalid = |m: String| AppError::new(ErrorCode::InvalidQuery, m);
    let query = QueueQuery {
        state: q.state.as_deref().map(str::parse::<CaseState>).transpose().map_err(|e| invalid(e.to_string()))?,
        assignee: q.assignee,
        breached: q.breached,
        sort: match q.sort.as_deref() {
            None | Some("severity") => QueueSort::Severity,
            Some("sla") => QueueSort::Sla,
            Some("age") => QueueSort::Age,
            Some(other) => return Err(invalid(format!("sort `{other}` is not one of sla, severity, age"))),
        },
        limit: q.limit.unwrap_or(500).min(5_000),
    };
    s.app.blocking(move |app| Ok(Json(json!({"cases": crate::cases::queue(app, &query)?})))).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    assignee: Option<String>,
}

pub async fn assign(State(s): State<AppState>, caller: Caller, Path(id): Path<String>, Body(req, _): Body<AssignRequest>) -> Result<Json<Value>, AppError> {
    let who = caller.require(&WORKERS)?;
    let assignee = req.assignee.as_deref().map(str::trim).filter(|a| !a.is_empty());
    if assignee.is_some_and(|a| a.chars().count() > 128) {
        return Err(AppError::new(ErrorCode::InvalidField, "an assignee is at most 128 characters"));
    }
    let (assignee, actor) = (assignee.map(str::to_string), who.actor());
    s.app
        .blocking(move |app| {
            app.store.assign_case(&id, assignee.as_deref(), &actor)?;
            case_json(app, &id)
        })
        .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecoverRequest {
    #[serde(default)]
    note: String,
}

pub async fn recover(State(s): State<AppState>, caller: Caller, Path(id): Path<String>, Body(req, _): Body<RecoverRequest>) -> Result<Json<Value>, AppError> {
    let who = caller.require(&WORKERS)?;
    let actor = who.actor();
    s.app
        .blocking(move |app| {
            app.store.recover_case(&id, req.note.trim(), &actor)?;
            case_json(app, &id)
        })
        .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MergeRequest {
    from: Vec<String>,
}

pub async fn merge(State(s): State<AppState>, caller: Caller, Path(id): Path<String>, Body(req, _): Body<MergeRequest>) -> Result<Json<Value>, AppError> {
    let who = caller.require(&WORKERS)?;
    if req.from.is_empty() {
        return Err(AppError::new(ErrorCode::InvalidField, "`from` names at least one case"));
    }
    // A repeated id would otherwise be merged twice, and the second time refused as closed.
    if let Some(twice) = repeated(&req.from) {
        return Err(AppError::new(ErrorCode::InvalidField, format!("`from` names case {twice} more than once")));
    }
    let actor = who.actor();
    s.app
        .blocking(move |app| {
            app.store.merge_cases(&id, &req.from, &actor)?;
            app.queue_wake.notify_one();
            case_json(app, &id)
        })
        .await
}

/// The first id that appears twice in `ids`.
fn repeated(ids: &[String]) -> Option<&str> {
    let mut seen = std::collections::HashSet::new();
    ids.iter().find(|id| !seen.insert(id.as_str())).map(String::as_str)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitRequest {
    alert_ids: Vec<String>,
}

pub async fn split(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(req, _): Body<SplitRequest>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let who = caller.require(&WORKERS)?;
    if req.alert_ids.is_empty() {
        return Err(AppError::new(ErrorCode::InvalidField, "`alert_ids` names at least one alert"));
    }
    let actor = who.actor();
    let new = s.app.blocking(move |app| app.store.split_case(&id, &req.alert_ids, &actor)).await?;
    s.app.queue_wake.notify_one();
    Ok((StatusCode::CREATED, Json(json!({"case_id": new}))))
}

pub async fn graph(State(s): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Json<Value>, AppError> {
    caller.require(&READERS)?;
    s.app
        .blocking(move |app| {
            let graph = crate::cases::graph_of(app, &id)?.ok_or_else(|| AppError::not_found(format!("case {id} not found")))?;
            Ok(Json(serde_json::to_value(graph).map_err(AppError::internal)?))
        })
        .await
}

fn case_json(app: &crate::app::App, id: &str) -> Result<Json<Value>, AppError> {
    let view = crate::cases::view(app, id)?.ok_or_else(|| AppError::not_found(format!("case {id} not found")))?;
    Ok(Json(serde_json::to_value(view).map_err(AppError::internal)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LearningParams {
    status: Option<String>,
    case_id: Option<String>,
}

pub async fn learning(State(s): State<AppState>, caller: Caller, Query(q): Query<LearningParams>) -> Result<Json<Value>, AppError> {
    caller.require(&WORKERS)?;
    let status = q.status.as_deref().map(str::parse::<TaskStatus>).transpose().map_err(|e| AppError::new(ErrorCode::InvalidQuery, e))?;
    s.app.blocking(move |app| Ok(Json(json!({"tasks": app.store.learning_tasks(status, q.case_id.as_deref())?})))).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskDecision {
    status: String,
    #[serde(default)]
    note: String,
}

pub async fn decide_task(State(s): State<AppState>, caller: Caller, Path(id): Path<String>, Body(req, _): Body<TaskDecision>) -> Result<Json<Value>, AppError> {
    let who = caller.require(&WORKERS)?;
    let status = match req.status.as_str() {
        "accepted" => TaskStatus::Accepted,
        "dismissed" => TaskStatus::Dismissed,
        other => return Err(AppError::new(ErrorCode::InvalidField, format!("`{other}` is not a decision (accepted, dismissed)"))),
    };
    let actor = who.actor();
    s.app
        .blocking(move |app| {
            let task = app.store.decide_task(&id, status, req.note.trim(), &actor)?;
            Ok(Json(serde_json::to_value(task).map_err(AppError::internal)?))
        })
        .await
}
