//! Learning tasks (contract section 13): drafts for people, stored with their case, decided
//! by analysts. A closed case becomes `learned` when none of its tasks is open.

use super::db::{Row, params};
use serde_json::json;

use super::audit::append;
use super::cases::{CaseState, set_state};
use super::{Store, StoreError, Tx, now};
use crate::learning::{Task, TaskStatus};

/// Replaces a case's open tasks by `tasks` (a re-closed case is drafted again).
pub(crate) fn replace_open_tasks(tx: &Tx, case_id: &str, tasks: &[Task], actor: &str) -> Result<(), StoreError> {
    tx.execute("DELETE FROM learning_tasks WHERE case_id = ?1 AND status = 'open'", params![case_id])?;
    let at = now();
    for t in tasks {
        tx.execute(
            "INSERT INTO learning_tasks (id, case_id, kind, title, draft, status, created_at) VALUES (?1, ?2, ?3, ?4, ?5, 'open', ?6)",
            params![t.id, case_id, t.kind.as_str(), t.title, t.draft, at],
        )?;
        append(tx, actor, "learning.drafted", &t.id, &json!({"case_id": case_id, "kind": t.kind.as_str()}))?;
    }
    Ok(())
}

fn task_row(r: &Row) -> Result<Task, StoreError> {
    let kind: String = r.get(2)?;
    let status: String = r.get(5)?;
    let bad = |i: usize, e: String| StoreError::Corrupt(format!("learning task column {i}: {e}"));
    Ok(Task {
        id: r.get(0)?,
        case_id: r.get(1)?,
        kind: kind.parse().map_err(|e| bad(2, e))?,
        title: r.get(3)?,
        draft: r.get(4)?,
        status: status.parse().map_err(|e| bad(5, e))?,
    })
}

const COLUMNS: &str = "id, case_id, kind, title, draft, status";

impl Store {
    /// Learning tasks, optionally of one status or one case, oldest first.
    pub fn learning_tasks(&self, status: Option<TaskStatus>, case_id: Option<&str>) -> Result<Vec<Task>, StoreError> {
        let conn = self.read()?;
        let rows = conn.query_map(
            &format!(
                "SELECT {COLUMNS} FROM learning_tasks WHERE (CAST(?1 AS TEXT) IS NULL OR status = ?1) AND (CAST(?2 AS TEXT) IS NULL OR case_id = ?2) ORDER BY created_at, id LIMIT 1000"
            ),
            params![status.map(|s| s.as_str()), case_id],
            task_row,
        )?;
        Ok(rows)
    }

    /// An analyst accepts or dismisses an open task; the case becomes `learned` when it was
    /// the last open one.
    pub fn decide_task(&self, id: &str, status: TaskStatus, note: &str, actor: &str) -> Result<Task, StoreError> {
        self.tx(|tx| {
            let task = tx
                .query_opt(&format!("SELECT {COLUMNS} FROM learning_tasks WHERE id = ?1"), params![id], task_row)?
                .ok_or_else(|| StoreError::NotFound(format!("learning task {id}")))?;
            if task.status != TaskStatus::Open {
                return Err(StoreError::TaskAlreadyDecided { id: id.to_string(), status: task.status.as_str() });
            }
            if status == TaskStatus::Open {
                return Err(StoreError::TaskDecisionOpen);
            }
            tx.execute(
                "UPDATE learning_tasks SET status = ?1, decided_by = ?2, decided_at = ?3, note = ?4 WHERE id = ?5",
                params![status.as_str(), actor, now(), note, id],
            )?;
            append(tx, actor, &format!("learning.{}", status.as_str()), id, &json!({"case_id": task.case_id, "note": note}))?;
            let open: i64 = tx.query_row("SELECT COUNT(*) FROM learning_tasks WHERE case_id = ?1 AND status = 'open'", params![task.case_id], |r| r.get(0))?;
            if open == 0 {
                set_state(tx, &task.case_id, CaseState::Learned, actor, "every learning task decided")?;
            }
            Ok(Task { status, ..task })
        })
    }
}
