//! `Server::serve` on a real socket: graceful shutdown with idle connections and requests in
//! flight, and the header timeout, in process.

mod common;

use std::time::{Duration, Instant};

use common::{secret, server};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use trigger_runtime::endpoint::HttpEndpoint;
use trigger_runtime::job::Job;
use trigger_runtime::registry::Registry;
use trigger_runtime::server::{Server, ServerConfig};
use trigger_runtime::verify::HmacScheme;

static HOOK: HttpEndpoint = HttpEndpoint::new("hook").with_hmac(HmacScheme::new("X-Sig"));

struct Running {
    app: Server,
    port: u16,
    stop: oneshot::Sender<()>,
    served: JoinHandle<trigger_runtime::Result<()>>,
}

async fn start(config: ServerConfig) -> Running {
    let job = Job::new("noop", HOOK.on_request(), |_req, _io, _ctx| async {
        Ok::<_, trigger_runtime::job::BoxError>(())
    });
    let app = server(Registry::from_parts([&HOOK], [job]).unwrap(), config).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = oneshot::channel::<()>();
    let served = tokio::spawn(app.clone().serve(listener, async {
        let _ = stopped.await;
    }));
    Running {
        app,
        port,
        stop,
        served,
    }
}

/// The head of a signed `POST /endpoints/hook` of `body`, and the body.
fn signed_post(app: &Server, body: &[u8]) -> (String, Vec<u8>) {
    let (name, value) = HOOK.sign(body, &secret(app, "hook")).unwrap();
    let head = format!(
        "POST /endpoints/hook HTTP/1.1\r\nHost: x\r\n{name}: {value}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    (head, body.to_vec())
}

/// Writes all of `bytes` (tokio's `io-util` is not a dependency).
async fn write_all(stream: &TcpStream, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        stream.writable().await.unwrap();
        match stream.try_write(bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("write: {e}"),
        }
    }
}

/// Reads what is there, waiting for something (`Ok(0)`: closed).
async fn read(stream: &TcpStream, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        stream.readable().await?;
        match stream.try_read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            read => return read,
        }
    }
}

/// Reads until the server closes the connection or `wait` passes; what was read, and whether
/// it was closed.
async fn read_until_closed(stream: &TcpStream, wait: Duration) -> (String, bool) {
    let mut all = Vec::new();
    let closed = tokio::time::timeout(wait, async {
        let mut buf = [0u8; 4096];
        loop {
            match read(stream, &mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => all.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .is_ok();
    (String::from_utf8_lossy(&all).into_owned(), closed)
}

fn config(grace: Duration) -> ServerConfig {
    let mut config = common::config();
    config.worker.shutdown_grace = grace;
    config
}

#[tokio::test]
async fn shutdown_closes_idle_connections_at_once_and_a_trickling_request_at_the_grace() {
    let running = start(config(Duration::from_secs(1))).await;
    let idle = TcpStream::connect(("127.0.0.1", running.port))
        .await
        .unwrap();
    write_all(&idle, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let mut answer = [0u8; 512];
    let n = read(&idle, &mut answer).await.unwrap();
    assert!(answer[..n].starts_with(b"HTTP/1.1 200"));

    let trickling = TcpStream::connect(("127.0.0.1", running.port))
        .await
        .unwrap();
    let (head, body) = signed_post(&running.app, b"{\"a\":1}");
    write_all(&trickling, head.as_bytes()).await;
    write_all(&trickling, &body[..3]).await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    let stopping = Instant::now();
    running.stop.send(()).unwrap();
    let (_, closed) = read_until_closed(&idle, Duration::from_millis(500)).await;
    assert!(
        closed,
        "an idle connection stayed open after shutdown began"
    );
    running.served.await.unwrap().unwrap();
    let took = stopping.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "serve returned {took:?} after shutdown began, with a grace of 1s"
    );
    let (_, closed) = read_until_closed(&trickling, Duration::from_millis(500)).await;
    assert!(closed, "the trickling request outlived the grace");
}

#[tokio::test]
async fn a_request_in_flight_at_shutdown_is_answered() {
    let running = start(config(Duration::from_secs(10))).await;
    let stream = TcpStream::connect(("127.0.0.1", running.port))
        .await
        .unwrap();
    let (head, body) = signed_post(&running.app, b"{\"a\":1}");
    write_all(&stream, head.as_bytes()).await;
    write_all(&stream, &body[..3]).await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    let stopping = Instant::now();
    running.stop.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    write_all(&stream, &body[3..]).await;
    let (answer, closed) = read_until_closed(&stream, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        closed,
        "the connection stayed open after its answer at shutdown"
    );
    running.served.await.unwrap().unwrap();
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "serve waited {:?} though nothing was open",
        stopping.elapsed()
    );
}

#[tokio::test]
async fn headers_that_never_end_are_closed_at_the_header_timeout() {
    let config = ServerConfig {
        header_timeout: Duration::from_millis(300),
        ..config(Duration::from_secs(1))
    };
    let running = start(config).await;
    let slow = TcpStream::connect(("127.0.0.1", running.port))
        .await
        .unwrap();
    let opened = Instant::now();
    write_all(&slow, b"POST /endpoints/hook HT").await;
    let (answer, closed) = read_until_closed(&slow, Duration::from_secs(3)).await;
    let took = opened.elapsed();
    assert!(closed && answer.is_empty(), "{answer:?}");
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(2),
        "closed after {took:?}, with a header timeout of 300ms"
    );
    running.stop.send(()).unwrap();
    running.served.await.unwrap().unwrap();
}
