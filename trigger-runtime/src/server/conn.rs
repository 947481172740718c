//! One HTTP/1.1 connection, served by hyper under the server's time limits.
//!
//! hyper's own `header_read_timeout` cannot tell a keep-alive connection that waits between
//! requests from one that trickles its headers (it starts the clock as soon as the
//! connection is idle), so the limits are kept here, from what the connection does:
//!
//! - before its first request, and from the first byte of each later one until its headers are
//!   read, a connection has [`Limits::header_timeout`];
//! - between requests (the last answer given, no byte of the next request yet), it has
//!   [`Limits::idle_timeout`];
//! - while a request is being handled it has no deadline here: the handlers bound their own
//!   work (a body not received within 30 s is `408`), and shutdown bounds everything.
//!
//! Every change of phase happens while hyper's connection future is polled (a read, the
//! service being called, its future ending), so the deadline is checked after each poll,
//! without timers or wake-ups per request.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;

/// The most a connection's read buffer holds: request headers must fit in it (a request with
/// more gets `431`). hyper's default, about 400 KiB, times 1,024 connections would be 400 MiB
/// held by slow senders; this keeps it to 64 MiB.
const READ_BUFFER: usize = 64 * 1024;

/// The time limits of one connection.
#[derive(Clone, Copy, Debug)]
pub(super) struct Limits {
    /// From the connection's start, or the first byte of a request, to the end of its headers.
    pub(super) header_timeout: Duration,
    /// Between requests of a keep-alive connection.
    pub(super) idle_timeout: Duration,
}

/// What the connection is doing, and since when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Reading the headers of a request (or waiting for the first one).
    Head(Instant),
    /// Handling this many requests.
    Busy(usize),
    /// Between requests: the last answer was given, no byte of the next request has come.
    Idle(Instant),
}

/// The phase of one connection, shared by its reader, its service and its driver.
#[derive(Debug)]
struct Watch {
    phase: Mutex<Phase>,
}

impl Watch {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            phase: Mutex::new(Phase::Head(Instant::now())),
        })
    }

    fn update(&self, change: impl FnOnce(Phase) -> Phase) {
        let mut phase = self.phase.lock().unwrap_or_else(PoisonError::into_inner);
        *phase = change(*phase);
    }

    fn phase(&self) -> Phase {
        *self.phase.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Bytes arrived: an idle connection starts reading a request.
    fn read(&self) {
        self.update(|phase| match phase {
            Phase::Idle(_) => Phase::Head(Instant::now()),
            other => other,
        });
    }

    /// When the connection must be closed unless its phase changes first.
    fn deadline(&self, limits: Limits) -> Option<Instant> {
        match self.phase() {
            Phase::Head(since) => Some(since + limits.header_timeout),
            Phase::Idle(since) => Some(since + limits.idle_timeout),
            Phase::Busy(_) => None,
        }
    }
}

/// A request in flight on a connection, from its headers to its answer.
struct InFlight(Arc<Watch>);

impl InFlight {
    fn start(watch: &Arc<Watch>) -> Self {
        watch.update(|phase| match phase {
            Phase::Busy(n) => Phase::Busy(n + 1),
            Phase::Head(_) | Phase::Idle(_) => Phase::Busy(1),
        });
        Self(Arc::clone(watch))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.update(|phase| match phase {
            Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
            _ => Phase::Idle(Instant::now()),
        });
    }
}

/// The TCP stream, telling the [`Watch`] when bytes arrive.
struct WatchedStream {
    stream: TcpStream,
    watch: Arc<Watch>,
}

impl AsyncRead for WatchedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.watch.read();
        }
        polled
    }
}

impl AsyncWrite for WatchedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// The router as a hyper service that marks each request in flight on the [`Watch`].
#[derive(Clone)]
struct Tracked {
    router: TowerToHyperService<Router>,
    watch: Arc<Watch>,
    /// The client's address, given to handlers as `ConnectInfo`.
    peer: Option<std::net::SocketAddr>,
}

impl hyper::service::Service<http::Request<Incoming>> for Tracked {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn call(&self, mut request: http::Request<Incoming>) -> Self::Future {
        if let Some(peer) = self.peer {
            request
                .extensions_mut()
                .insert(axum::extract::ConnectInfo(peer));
        }
        let in_flight = InFlight::start(&self.watch);
        let answer = self.router.call(request);
        Box::pin(async move {
            let answer = answer.await;
            drop(in_flight);
            answer
        })
    }
}

/// How a connection ended.
enum Ended {
    /// It closed (the client left, or `Connection: close`), or failed.
    Closed(hyper::Result<()>),
    /// It ran past a deadline in this phase.
    TimedOut(Phase),
    /// The shutdown grace ran out.
    Aborted,
}

/// Serves `stream` until it closes, times out, or shutdown ends it: on `stop` it finishes
/// the request in flight and closes (an idle connection closes at once); on `abort` it
/// closes at once.
pub(super) async fn serve(
    stream: TcpStream,
    router: Router,
    limits: Limits,
    stop: CancellationToken,
    abort: CancellationToken,
) {
    let watch = Watch::new();
    let peer = stream.peer_addr().ok();
    let io = TokioIo::new(WatchedStream {
        stream,
        watch: Arc::clone(&watch),
    });
    let service = Tracked {
        router: TowerToHyperService::new(router),
        watch: Arc::clone(&watch),
        peer,
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    // No hyper timer: the limits are kept here (see the module's documentation).
    builder
        .header_read_timeout(None)
        .keep_alive(true)
        .max_buf_size(READ_BUFFER);
    let mut conn = pin!(builder.serve_connection(io, service));
    let mut stopping = pin!(stop.cancelled());
    let mut aborting = pin!(abort.cancelled());
    let mut deadline = watch.deadline(limits);
    let mut timer: Pin<Box<Sleep>> = Box::pin(tokio::time::sleep_until(far(deadline)));
    let mut draining = false;
    let ended = std::future::poll_fn(|cx| {
        if aborting.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Ended::Aborted);
        }
        if !draining && stopping.as_mut().poll(cx).is_ready() {
            draining = true;
            conn.as_mut().graceful_shutdown();
        }
        if let Poll::Ready(result) = conn.as_mut().poll(cx) {
            return Poll::Ready(Ended::Closed(result));
        }
        let now = watch.deadline(limits);
        if now != deadline {
            deadline = now;
            timer.as_mut().reset(far(deadline));
        }
        if deadline.is_some() && timer.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Ended::TimedOut(watch.phase()));
        }
        Poll::Pending
    })
    .await;
    match ended {
        Ended::Closed(Ok(())) => {}
        Ended::Closed(Err(error)) => tracing::debug!(%error, "connection failed"),
        Ended::TimedOut(Phase::Idle(_)) => tracing::debug!("idle connection closed"),
        Ended::TimedOut(_) => {
            tracing::debug!("connection closed: its request headers did not arrive in time");
        }
        Ended::Aborted => tracing::debug!("connection closed: the shutdown grace ran out"),
    }
}

/// `deadline`, or a time far enough away to mean never.
fn far(deadline: Option<Instant>) -> Instant {
    deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400 * 365))
}
