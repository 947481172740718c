//! Retention: events (with their runs, logs and task outputs) older than `--retention` are
//! deleted in small batches, off the hot path, so the database does not grow without bound.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::error::error_chain;
use crate::store::Store;
use crate::time::Timestamp;

/// Events deleted per write: small, so ingests queued behind it wait little.
const BATCH: usize = 100;

/// Prunes now, then every tenth of `retention` (at least every hour, at most every second),
/// until `stop`.
pub(super) async fn run(store: Store, retention: Duration, stop: CancellationToken) {
    let every = (retention / 10).clamp(Duration::from_secs(1), Duration::from_secs(3600));
    loop {
        prune(&store, retention).await;
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
    }
}

/// Deletes, batch by batch, every event older than `retention` that has no unfinished run.
pub(super) async fn prune(store: &Store, retention: Duration) {
    let before = Timestamp::now().saturating_sub(retention);
    let mut total = 0;
    loop {
        match store.prune(before, BATCH).await {
            Ok(pruned) => {
                total += pruned.events;
                if !pruned.more {
                    break;
                }
                // Let ingests and workers in between batches.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(error) => {
                tracing::warn!(error = %error_chain(&error), "pruning old events failed; trying again later");
                break;
            }
        }
    }
    if total > 0 {
        tracing::info!(
            events = total,
            "pruned events older than the retention ({retention:?})"
        );
    }
}
