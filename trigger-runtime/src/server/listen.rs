//! The accept loop: at most `max_connections` connections at once, each served by
//! [`conn::serve`] in its own task, and a graceful stop.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::MAX_CONNECTIONS;
use super::conn::{self, Limits};

/// How often, at most, the server warns that it is at its connection limit.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// The open connections: how many may open, and how to stop them.
pub(super) struct Connections {
    router: Router,
    limits: Limits,
    max_connections: usize,
    /// One permit per connection that may open; a connection holds one until it closes.
    slots: Arc<Semaphore>,
    /// Connections finish their request and close.
    stop: CancellationToken,
    /// Connections close now.
    abort: CancellationToken,
}

impl Connections {
    pub(super) fn new(router: Router, limits: Limits, max_connections: usize) -> Self {
        let max_connections = max_connections.clamp(1, MAX_CONNECTIONS);
        Self {
            router,
            limits,
            max_connections,
            slots: Arc::new(Semaphore::new(max_connections)),
            stop: CancellationToken::new(),
            abort: CancellationToken::new(),
        }
    }

    /// Accepts on `listener` until this future is dropped (which closes the listener). When
    /// every slot is taken, new connections wait in the kernel's backlog until one closes
    /// (slow ones close at the header timeout).
    pub(super) async fn accept(&self, listener: TcpListener) {
        let mut warned: Option<Instant> = None;
        loop {
            let slot = match Arc::clone(&self.slots).try_acquire_owned() {
                Ok(slot) => slot,
                Err(_) => {
                    if warned.is_none_or(|at| at.elapsed() >= WARN_EVERY) {
                        warned = Some(Instant::now());
                        tracing::warn!(
                            max_connections = self.max_connections,
                            "at the connection limit; new connections wait until one closes"
                        );
                    }
                    match Arc::clone(&self.slots).acquire_owned().await {
                        Ok(slot) => slot,
                        // The semaphore is never closed.
                        Err(_) => return,
                    }
                }
            };
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(error) => {
                    accept_failed(&error).await;
                    continue;
                }
            };
            let (router, limits) = (self.router.clone(), self.limits);
            let (stop, abort) = (self.stop.clone(), self.abort.clone());
            tokio::spawn(async move {
                conn::serve(stream, router, limits, stop, abort).await;
                drop(slot);
            });
        }
    }

    /// Stops the open connections: each finishes its request in flight and closes (idle ones
    /// at once); those still open after `grace` are closed. Returns once all are closed.
    pub(super) async fn drain(&self, grace: Duration) {
        self.stop.cancel();
        // At most `MAX_CONNECTIONS`, which fits.
        let all = u32::try_from(self.max_connections).unwrap_or(u32::MAX);
        let closed = tokio::time::timeout(grace, self.slots.acquire_many(all)).await;
        if closed.is_err() {
            tracing::warn!("open requests did not finish within the shutdown grace; closing them");
            self.abort.cancel();
            let _ = self.slots.acquire_many(all).await;
        }
    }
}

/// Waits after a failed `accept`: not at all when one connection failed, a moment when the
/// process is out of resources (file descriptors), so the loop does not spin.
async fn accept_failed(error: &std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::warn!(%error, "could not accept a connection; retrying in 100 ms");
    tokio::time::sleep(Duration::from_millis(100)).await;
}
