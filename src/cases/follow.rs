//! Each replica's index follows the cases closed anywhere (contract section 15): a case
//! closed on one replica becomes a prior case that every other replica retrieves within
//! seconds, without a restart. The feed is the cases table itself, read by update time.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::app::App;

/// How often the feed is read; the contract allows five seconds from close to retrieval.
const POLL: Duration = Duration::from_secs(2);
/// Replicas stamp changes with their own clocks, and a transaction can commit after a later
/// one: every poll looks this far behind the newest change it has seen.
const LOOK_BEHIND: chrono::Duration = chrono::Duration::minutes(2);

/// Indexes cases closed by any process on the same store until the task is dropped.
pub async fn run(app: Arc<App>) {
    let mut follower = Follower::starting_now();
    loop {
        tokio::time::sleep(POLL).await;
        follower = app
            .blocking(move |app| {
                if let Err(e) = follower.poll(app) {
                    tracing::warn!(error = %e, "could not follow closed cases");
                }
                follower
            })
            .await;
    }
}

/// What the feed has delivered: the newest change time, and each recent case's change time
/// so that the look-behind window doesn't index a case twice.
struct Follower {
    newest: String,
    seen: HashMap<String, String>,
}

impl Follower {
    /// Cases closed before this process started are in the index it built at start.
    fn starting_now() -> Follower {
        Follower { newest: crate::store::now(), seen: HashMap::new() }
    }

    fn poll(&mut self, app: &App) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let since = chrono::DateTime::parse_from_rfc3339(&self.newest)
            .map(|t| (t.with_timezone(&chrono::Utc) - LOOK_BEHIND).to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .unwrap_or_default();
        for (case_id, updated_at) in app.store.cases_closed_since(&since)? {
            if self.seen.get(&case_id) == Some(&updated_at) {
                continue;
            }
            if let Some(case) = app.store.case(&case_id)? {
                let alerts = app.store.case_alerts(&case_id)?;
                if let Some(doc) = super::closed_case_document(&case, &alerts) {
                    app.index.upsert(&doc)?;
                }
            }
            if updated_at > self.newest {
                self.newest.clone_from(&updated_at);
            }
            self.seen.insert(case_id, updated_at);
        }
        self.seen.retain(|_, at| *at >= since);
        Ok(())
    }
}
