//! The accept loop of `triage serve`, hardened against slow and hostile clients.
//!
//! `axum::serve` has no read timeouts and no connection limit: a client that opens a
//! connection and sends half a header holds it (and a task) for as long as it likes. Here:
//!
//! - at most `max_connections` connections are served at once; the next one is accepted
//!   only when one closes, so a flood waits in the kernel's listen queue instead of
//!   growing the process;
//! - headers must arrive within `header_timeout` (hyper's header read timeout, which also
//!   bounds an idle keep-alive connection waiting for its next request);
//! - request bodies are bounded in time by the JSON body extractor (`body_timeout`).
//!
//! The background audit-chain check that `/readyz` reports, the queue of case
//! recommendations and the index's follower of cases closed on other replicas run beside
//! the loop.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::app::App;
use crate::readiness::AuditWatch;

/// Serves `app` on `listener` until `shutdown` resolves, then lets open requests finish.
pub async fn serve(listener: TcpListener, app: Arc<App>, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
    let http = app.http.clone();
    let watch = tokio::spawn(AuditWatch::run(app.clone(), app.audit.check_interval, app.audit.full_check_interval));
    let queue = tokio::spawn(crate::cases::queue::run(app.clone()));
    let follow = tokio::spawn(crate::cases::follow::run(app.clone()));
    let router = super::router(app);
    let slots = Arc::new(Semaphore::new(http.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(http.header_timeout);
    tokio::pin!(shutdown);
    loop {
        // Wait for a free slot before accepting, so the cap holds without refusing anyone.
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(peer = %peer, error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    watch.abort();
    queue.abort();
    follow.abort();
    // Requests in flight finish; a connection still idle after the grace period is dropped.
    if tokio::time::timeout(http.header_timeout + http.body_timeout, graceful.shutdown()).await.is_err() {
        tracing::warn!("shutdown: connections still open after the grace period were dropped");
    }
    Ok(())
}
