//! Bounded under abuse, end to end: connections that never finish their headers, idle
//! keep-alive connections and more connections than the limit, against `example-caldotcom`
//! as a real process. Every connection goes to 127.0.0.1, a few hundred at most.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use trigger_tests::{Response, Server, ServerBuilder, sign};

const SECRET: &str = "whsec_limits_test";
/// A request cut off in its request line: headers that never end.
const PARTIAL: &[u8] = b"POST /endpoints/cal.com HT";

fn caldotcom(args: &[&str]) -> ServerBuilder {
    Server::builder("example-caldotcom")
        .env("CALDOTCOM_SECRET", SECRET)
        .args(args)
}

fn post_signed(server: &Server) -> Response {
    let body = br#"{"triggerEvent":"BOOKING_CREATED","payload":{"title":"limits"}}"#;
    let signature = sign(SECRET, body);
    let headers = [
        ("Content-Type", "application/json"),
        ("X-Cal-Signature-256", signature.as_str()),
    ];
    server.send("POST", "/endpoints/cal.com", &headers, body)
}

/// Opens `count` connections that each send [`PARTIAL`] and nothing more.
#[track_caller]
fn slow_connections(server: &Server, count: usize) -> Vec<TcpStream> {
    (0..count)
        .map(|i| {
            let mut stream = TcpStream::connect(("127.0.0.1", server.port()))
                .unwrap_or_else(|e| panic!("connection {i}: {e}"));
            stream
                .write_all(PARTIAL)
                .unwrap_or_else(|e| panic!("connection {i}: {e}"));
            stream
        })
        .collect()
}

/// Whether the server closed `stream`, waiting for it until `deadline`: `true` on an end of
/// stream or a reset, `false` if it is still open then. Panics if the server sent anything.
#[track_caller]
fn closed_by(mut stream: &TcpStream, deadline: Instant) -> bool {
    let wait = deadline.saturating_duration_since(Instant::now());
    stream
        .set_read_timeout(Some(wait.max(Duration::from_millis(1))))
        .expect("set a read timeout");
    let mut byte = [0u8; 64];
    match stream.read(&mut byte) {
        Ok(0) => true,
        Ok(n) => panic!(
            "the server answered a request it never received: {:?}",
            String::from_utf8_lossy(&byte[..n])
        ),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => false,
        Err(e) if e.kind() == ErrorKind::ConnectionReset => true,
        Err(e) => panic!("reading a slow connection: {e}"),
    }
}

/// Waits until every stream is closed by the server, at the latest at `deadline`; returns when
/// the last one was seen closed. Panics, saying how many are open, if some outlive it.
#[track_caller]
fn all_closed_by(streams: &[TcpStream], deadline: Instant) -> Instant {
    let open = streams
        .iter()
        .filter(|stream| !closed_by(stream, deadline))
        .count();
    assert_eq!(
        open,
        0,
        "{open} of {} slow connections were still open",
        streams.len()
    );
    Instant::now()
}

/// How many of `streams` the server has closed so far, without waiting.
#[track_caller]
fn closed_now(streams: &[TcpStream]) -> usize {
    streams
        .iter()
        .filter(|stream| {
            stream.set_nonblocking(true).expect("set non-blocking");
            let mut byte = [0u8; 1];
            let closed = match stream.peek(&mut byte) {
                Ok(_) => true,
                Err(e) if e.kind() == ErrorKind::WouldBlock => false,
                Err(e) if e.kind() == ErrorKind::ConnectionReset => true,
                Err(e) => panic!("peeking at a slow connection: {e}"),
            };
            stream.set_nonblocking(false).expect("set blocking");
            closed
        })
        .count()
}

#[test]
fn slow_headers_neither_delay_webhooks_nor_stay_open() {
    let header_timeout = Duration::from_secs(2);
    let server = caldotcom(&["--header-timeout", "2s"]).start();
    let first_opened = Instant::now();
    let slow = slow_connections(&server, 300);
    let all_opened = Instant::now();

    let response = post_signed(&server);
    let answered = all_opened.elapsed();
    assert_eq!(response.status, 200, "{response}");
    assert!(
        answered < Duration::from_secs(1),
        "the webhook took {answered:?} beside 300 slow connections"
    );

    // No slow connection is closed before the header timeout (none can be due before
    // `first_opened + header_timeout`); looked at three quarters of the way.
    std::thread::sleep(
        (first_opened + header_timeout * 3 / 4).saturating_duration_since(Instant::now()),
    );
    let early = closed_now(&slow);
    if first_opened.elapsed() < header_timeout {
        assert_eq!(
            early, 0,
            "slow connections closed before the header timeout"
        );
    }

    let last_closed = all_closed_by(&slow, all_opened + header_timeout + Duration::from_secs(3));
    eprintln!(
        "webhook answered in {answered:?} beside 300 slow connections (opened in {:?}); \
         all were closed {:?} after the last opened (header timeout {header_timeout:?})",
        all_opened - first_opened,
        last_closed - all_opened,
    );
    assert_eq!(post_signed(&server).status, 200);
}

#[test]
fn idle_keep_alive_connections_close_at_the_idle_timeout_not_the_header_timeout() {
    let server = caldotcom(&["--header-timeout", "1s", "--idle-timeout", "3s"]).start();
    let mut stream = TcpStream::connect(("127.0.0.1", server.port())).expect("connect");
    let request = format!(
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\r\n",
        server.port()
    );
    stream.write_all(request.as_bytes()).expect("send");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("set a read timeout");
    let mut answer = [0u8; 1024];
    let n = stream.read(&mut answer).expect("the answer");
    let idle_since = Instant::now();
    assert!(
        answer[..n].starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&answer[..n])
    );

    // Idle past the header timeout: still open, and still serving.
    assert!(
        !closed_by(&stream, idle_since + Duration::from_secs(2)),
        "an idle keep-alive connection was closed at the header timeout"
    );
    stream.write_all(request.as_bytes()).expect("send again");
    let n = stream.read(&mut answer).expect("the second answer");
    let idle_since = Instant::now();
    assert!(answer[..n].starts_with(b"HTTP/1.1 200"));

    assert!(
        closed_by(&stream, idle_since + Duration::from_secs(6)),
        "an idle keep-alive connection outlived the idle timeout"
    );
    let idle = idle_since.elapsed();
    eprintln!("idle connection closed after {idle:?} (idle timeout 3s)");
    assert!(idle >= Duration::from_millis(2900), "closed after {idle:?}");
}

/// The server's open TCP sockets, listener included, from `/proc`.
#[cfg(target_os = "linux")]
fn open_sockets(pid: u32) -> usize {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).expect("read the server's fds");
    fds.filter_map(Result::ok)
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .filter(|target| target.to_string_lossy().starts_with("socket:"))
        .count()
}

#[cfg(target_os = "linux")]
#[test]
fn connections_beyond_the_limit_wait_and_are_served_in_turn() {
    let server = caldotcom(&["--header-timeout", "1s", "--max-connections", "50"]).start();
    let opened = Instant::now();
    let slow = slow_connections(&server, 200);
    std::thread::sleep(Duration::from_millis(300));
    let sockets = open_sockets(server.pid());
    assert!(
        // The listener, and tokio's signal pipe.
        sockets <= 50 + 4,
        "the server holds {sockets} sockets with a limit of 50 connections"
    );

    // Queued behind the slow ones, a webhook is served once they time out.
    let response = post_signed(&server);
    assert_eq!(response.status, 200, "{response}");
    let served = opened.elapsed();
    let last_closed = all_closed_by(&slow, opened + Duration::from_secs(10));
    eprintln!(
        "limit 50: {sockets} sockets with 200 slow connections; webhook served after {served:?}; \
         all slow ones closed after {:?}",
        last_closed - opened
    );
}
