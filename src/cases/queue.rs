//! The background queue of case recommendations (contract section 10): every change to a
//! case's alerts queues one, at most one runs per case, and what is queued survives a
//! restart because the queue is a table.

use std::sync::Arc;
use std::time::Duration;

use tracing::Instrument;

use crate::app::App;
use crate::store::Identity;

/// How long an idle worker waits before looking again without being woken.
const IDLE_POLL: Duration = Duration::from_secs(1);
/// A claim not renewed for this long was left by a replica that died and did not come
/// back (one that restarts takes back its own claims at once).
const STALE_CLAIM: chrono::Duration = chrono::Duration::seconds(90);
/// How often a running job renews its claim: well inside [`STALE_CLAIM`], so a slow model
/// answer never looks abandoned.
const RENEW_CLAIM: Duration = Duration::from_secs(20);

/// The identity background recommendations are recorded under.
pub fn identity() -> Identity {
    Identity::local("stream")
}

/// Runs queued case recommendations until the task is dropped. Claims left by an earlier
/// process are released first, so work accepted before a crash runs now.
pub async fn run(app: Arc<App>) {
    let worker = match app.blocking(|app| app.store.queue_worker()).await {
        Ok(w) => Arc::<str>::from(w),
        Err(e) => {
            tracing::error!(error = %e, "queue: no worker id; queued case recommendations will not run");
            return;
        }
    };
    let w = worker.clone();
    match app.blocking(move |app| app.store.release_claims(&w)).await {
        Ok(n) if n > 0 => tracing::info!(claims = n, "queued case recommendations resumed"),
        Ok(_) => {}
        Err(e) => tracing::error!(error = %e, "could not release old queue claims"),
    }
    loop {
        match run_one(&app, &worker).await {
            Ok(true) => continue,
            Ok(false) => {}
            Err(e) => tracing::error!(error = %e, "queue: could not claim work"),
        }
        let _ = tokio::time::timeout(IDLE_POLL, app.queue_wake.notified()).await;
    }
}

/// Claims and runs one queued recommendation; `Ok(false)` when nothing was queued.
pub async fn run_one(app: &Arc<App>, worker: &Arc<str>) -> Result<bool, crate::store::StoreError> {
    let now = chrono::Utc::now();
    let w = worker.clone();
    let Some((case_id, generation)) = app.blocking(move |app| app.store.claim_queued(&fmt(now), &fmt(now - STALE_CLAIM), &w)).await? else {
        return Ok(false);
    };
    let renewing = tokio::spawn(renew(app.clone(), case_id.clone(), worker.clone()));
    // A job of its own in traces: the root of its pipeline spans.
    let job = tracing::info_span!("queue_recommendation", otel.kind = "internal", triage.case_id = %case_id);
    match crate::pipeline::recommend_case(app, &identity(), &case_id).instrument(job).await {
        Ok(r) => tracing::debug!(case_id = %case_id, rec_id = %r.recommendation_id, "case recommendation"),
        // A case closed while queued takes no recommendation; that is not a failure.
        Err(crate::pipeline::PipelineError::Store(crate::store::StoreError::InvalidTransition(t))) => {
            tracing::debug!(case_id = %case_id, "queued recommendation dropped: {t}");
        }
        Err(e) => tracing::error!(case_id = %case_id, error = %e, "queued case recommendation failed"),
    }
    renewing.abort();
    app.blocking(move |app| app.store.finish_queued(&case_id, generation)).await?;
    Ok(true)
}

fn fmt(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Renews the claim on `case_id` until aborted.
async fn renew(app: Arc<App>, case_id: String, worker: Arc<str>) {
    let mut every = tokio::time::interval(RENEW_CLAIM);
    every.tick().await;
    loop {
        every.tick().await;
        let (case_id, worker) = (case_id.clone(), worker.clone());
        if let Err(e) = app.blocking(move |app| app.store.renew_claim(&case_id, &fmt(chrono::Utc::now()), &worker)).await {
            tracing::warn!(error = %e, "queue: could not renew a claim");
        }
    }
}
