//! `LISTEN` on the schema's channel, on a connection of its own: every commit that makes runs
//! due (on any server) sends a `NOTIFY`, and the listener wakes this server's worker. It
//! reconnects after losing the connection, and wakes the worker once it listens again, so
//! that runs announced meanwhile are not left to the poll tick.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_postgres::AsyncMessage;
use tokio_postgres::tls::MakeTlsConnect;

use super::config::Settings;
use crate::store::Result;

/// The first wait before reconnecting; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Listens until the task is aborted (the store is dropped).
pub(super) async fn listen(settings: Settings, wake: Arc<Notify>) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        let ended = match &settings.tls {
            Some(tls) => session(&settings, tls.clone(), &wake, &mut backoff).await,
            None => session(&settings, tokio_postgres::NoTls, &wake, &mut backoff).await,
        };
        match ended {
            Ok(()) => tracing::warn!("the PostgreSQL listener's connection closed; reconnecting"),
            Err(error) => tracing::warn!(
                error = %crate::error::error_chain(&error),
                "the PostgreSQL listener lost its connection; reconnecting in {backoff:?}"
            ),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One connection's life: `LISTEN`, then a wake-up per notification until it closes.
async fn session<T>(
    settings: &Settings,
    tls: T,
    wake: &Notify,
    backoff: &mut Duration,
) -> Result<()>
where
    T: MakeTlsConnect<tokio_postgres::Socket>,
    T::Stream: Send + Unpin,
{
    let (client, mut connection) = settings.config.connect(tls).await?;
    let sql = format!("LISTEN \"{}\"", settings.channel());
    let listen = client.batch_execute(&sql);
    tokio::pin!(listen);
    let mut listening = false;
    loop {
        tokio::select! {
            result = &mut listen, if !listening => {
                result?;
                listening = true;
                *backoff = FIRST_BACKOFF;
                wake.notify_one();
            }
            message = std::future::poll_fn(|cx| connection.poll_message(cx)) => match message {
                Some(Ok(AsyncMessage::Notification(_))) => wake.notify_one(),
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(error.into()),
                None => return Ok(()),
            },
        }
    }
}
