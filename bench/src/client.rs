//! The load generator: a minimal keep-alive HTTP/1.1 client over a tokio `TcpStream`, the
//! signed Cal.com-like workload, and the closed- and open-loop drivers.
//!
//! The client only uses `readable`/`try_read` and `writable`/`try_write`, so it needs no tokio
//! feature beyond the workspace's (no `io-util`) and builds against the same tokio as the server.
//! Every request is rendered to bytes before a run starts, so the client spends its CPU on
//! syscalls, not on JSON or HMAC, while it measures.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::net::TcpStream;
use tokio::task::JoinSet;
use trigger_runtime::verify::{HmacScheme, Secret};

/// The header Cal.com signs with.
pub(crate) const SIGNATURE_HEADER: &str = "X-Cal-Signature-256";

/// What a load run sends: signed webhooks to `path`, the `n`th with the body `body(n)`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Workload {
    /// The endpoint's path.
    pub(crate) path: &'static str,
    /// The body of webhook `n`.
    pub(crate) body: fn(u64) -> String,
}

impl Workload {
    /// The example's endpoint, with [`booking_body`]: the bench's usual webhook.
    pub(crate) const BOOKING: Self = Self {
        path: "/endpoints/cal.com",
        body: booking_body,
    };
}

/// A status and body read from the server.
#[derive(Debug)]
pub(crate) struct Response {
    /// The HTTP status code.
    pub(crate) status: u16,
    /// The body (`Content-Length` bytes).
    pub(crate) body: Vec<u8>,
}

/// One keep-alive HTTP/1.1 connection.
pub(crate) struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    /// Connects with `TCP_NODELAY` (requests are single writes; Nagle would only add delay).
    pub(crate) async fn connect(addr: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buf: Vec::with_capacity(4096),
        })
    }

    /// Writes a rendered request and reads its response (status line, headers, and a body of
    /// `Content-Length` bytes; chunked responses are refused with an error).
    pub(crate) async fn send(&mut self, request: &[u8]) -> io::Result<Response> {
        self.write_all(request).await?;
        self.read_response().await
    }

    async fn write_all(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            self.stream.writable().await?;
            match self.stream.try_write(bytes) {
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Reads more bytes into the buffer; an error at end of stream.
    async fn fill(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            self.stream.readable().await?;
            match self.stream.try_read(&mut chunk) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the server closed the connection",
                    ));
                }
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
    }

    async fn read_response(&mut self) -> io::Result<Response> {
        let head_end = loop {
            if let Some(at) = find(&self.buf, b"\r\n\r\n") {
                break at + 4;
            }
            self.fill().await?;
        };
        let (status, length) = parse_head(&self.buf[..head_end])?;
        while self.buf.len() < head_end + length {
            self.fill().await?;
        }
        let body = self.buf[head_end..head_end + length].to_vec();
        self.buf.drain(..head_end + length);
        Ok(Response { status, body })
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// The status code and `Content-Length` of a response head.
fn parse_head(head: &[u8]) -> io::Result<(u16, usize)> {
    let text = std::str::from_utf8(head).map_err(|_| invalid("non-UTF-8 head".to_owned()))?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| invalid(format!("bad status line {status_line:?}")))?;
    let mut length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if name.eq_ignore_ascii_case("content-length") {
            length = value.trim().parse::<usize>().ok();
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(invalid(format!("unsupported Transfer-Encoding: {value}")));
        }
    }
    let length = match (length, status) {
        (Some(length), _) => length,
        (None, 100..=199 | 204 | 304) => 0,
        (None, _) => return Err(invalid(format!("no Content-Length in {status_line:?}"))),
    };
    Ok((status, length))
}

/// A rendered bodiless request (`GET`, or `POST` with an empty body).
pub(crate) fn bodiless_request(method: &str, addr: SocketAddr, path: &str) -> Vec<u8> {
    let length = if method == "GET" {
        ""
    } else {
        "Content-Length: 0\r\n"
    };
    format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\n{length}\r\n")
        .into_bytes()
}

/// `method path` without a body on a fresh connection: the body of its answer, or an error
/// unless the answer is `200`.
pub(crate) async fn call(method: &str, addr: SocketAddr, path: &str) -> io::Result<Vec<u8>> {
    let mut conn = Conn::connect(addr).await?;
    let response = conn.send(&bodiless_request(method, addr, path)).await?;
    if response.status != 200 {
        return Err(invalid(format!(
            "{method} {path}: {} {}",
            response.status,
            String::from_utf8_lossy(&response.body)
        )));
    }
    Ok(response.body)
}

/// [`call`], its answer parsed as JSON.
pub(crate) async fn call_json(
    method: &str,
    addr: SocketAddr,
    path: &str,
) -> io::Result<serde_json::Value> {
    let body = call(method, addr, path).await?;
    serde_json::from_slice(&body).map_err(|e| invalid(format!("{method} {path}: {e}")))
}

/// A Cal.com `BOOKING_CREATED` body of about 300 bytes, unique per `n`.
pub(crate) fn booking_body(n: u64) -> String {
    let minute = n % 60;
    let hour = 8 + (n / 60) % 10;
    format!(
        concat!(
            r#"{{"triggerEvent":"BOOKING_CREATED","createdAt":"2024-05-01T09:{minute:02}:00Z","#,
            r#""payload":{{"bookingId":{n},"uid":"bench-{n:010}","title":"30 min meeting","#,
            r#""startTime":"2024-05-02T{hour:02}:{minute:02}:00Z","endTime":"2024-05-02T{end_hour:02}:{end:02}:00Z","#,
            r#""organizer":{{"name":"Bench","email":"organizer@example.com","timeZone":"Europe/Berlin"}},"#,
            r#""attendees":[{{"name":"Ada","email":"ada@example.com"}}]}}}}"#
        ),
        n = n,
        minute = minute,
        hour = hour,
        end_hour = hour + (minute + 30) / 60,
        end = (minute + 30) % 60,
    )
}

/// Renders signed webhook requests numbered `first..first + count`, the way Cal.com sends them,
/// to `workload`'s path with its bodies.
pub(crate) fn webhook_requests(
    addr: SocketAddr,
    secret: &str,
    first: u64,
    count: usize,
    workload: Workload,
) -> Arc<Vec<Vec<u8>>> {
    let Workload { path, body } = workload;
    let scheme = HmacScheme::new(SIGNATURE_HEADER);
    let secret = Secret::new(secret);
    let requests = (first..first + count as u64)
        .map(|n| {
            let body = body(n);
            let signature = scheme.sign(body.as_bytes(), &secret);
            format!(
                "POST {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: trigger-bench\r\n\
                 Content-Type: application/json\r\n{SIGNATURE_HEADER}: {signature}\r\n\
                 Content-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes()
        })
        .collect();
    Arc::new(requests)
}

/// What one load run measured. Latencies are in nanoseconds.
#[derive(Debug, Default)]
pub(crate) struct LoadResult {
    /// Acknowledgement latency of every request: from the send (closed loop) or from the
    /// scheduled send time (open loop) until the response was read.
    pub(crate) latencies: Vec<u64>,
    /// Open loop only: from the actual send until the response (service time).
    pub(crate) service: Vec<u64>,
    /// `200` answers.
    pub(crate) ok: usize,
    /// Other answers.
    pub(crate) non_ok: usize,
    /// The first non-`200` answer, for the error message.
    pub(crate) first_error: Option<String>,
    /// When the first request was sent (or scheduled).
    pub(crate) started: Option<Instant>,
    /// From the start until the last response.
    pub(crate) elapsed: Duration,
}

impl LoadResult {
    /// Acknowledged (`200`) requests per second.
    pub(crate) fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Adds the result of a load run at the same time against another server: the union of
    /// both, from the earlier start to the later end.
    pub(crate) fn merge(&mut self, other: Self) {
        let end = |r: &Self| r.started.map(|s| s + r.elapsed);
        let (started, ended) = match (self.started, other.started) {
            (Some(a), Some(b)) => (Some(a.min(b)), end(self).max(end(&other))),
            (a, b) => (a.or(b), end(self).or(end(&other))),
        };
        self.absorb(other);
        self.started = started;
        if let (Some(started), Some(ended)) = (started, ended) {
            self.elapsed = ended - started;
        }
    }

    fn absorb(&mut self, other: Self) {
        self.latencies.extend(other.latencies);
        self.service.extend(other.service);
        self.ok += other.ok;
        self.non_ok += other.non_ok;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    fn count(&mut self, response: &Response) {
        if response.status == 200 {
            self.ok += 1;
        } else {
            self.non_ok += 1;
            if self.first_error.is_none() {
                self.first_error = Some(format!(
                    "{} {}",
                    response.status,
                    String::from_utf8_lossy(&response.body)
                ));
            }
        }
    }
}

async fn connect_all(addr: SocketAddr, count: usize) -> io::Result<Vec<Conn>> {
    let mut conns = Vec::with_capacity(count);
    for _ in 0..count {
        conns.push(Conn::connect(addr).await?);
    }
    Ok(conns)
}

async fn join(mut tasks: JoinSet<io::Result<LoadResult>>) -> io::Result<LoadResult> {
    let mut total = LoadResult::default();
    while let Some(joined) = tasks.join_next().await {
        let part = joined.map_err(|e| io::Error::other(format!("load task failed: {e}")))??;
        total.absorb(part);
    }
    Ok(total)
}

/// Closed loop: `concurrency` connections, each sending the next request as soon as the
/// previous one is answered, until every request has been sent.
pub(crate) async fn closed_loop(
    addr: SocketAddr,
    requests: Arc<Vec<Vec<u8>>>,
    concurrency: usize,
) -> io::Result<LoadResult> {
    let conns = connect_all(addr, concurrency.clamp(1, requests.len().max(1))).await?;
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for mut conn in conns {
        let requests = Arc::clone(&requests);
        let next = Arc::clone(&next);
        tasks.spawn(async move {
            let mut part = LoadResult {
                latencies: Vec::with_capacity(requests.len() / concurrency + 1),
                ..LoadResult::default()
            };
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(request) = requests.get(i) else {
                    break;
                };
                let sent = Instant::now();
                let response = conn.send(request).await?;
                part.latencies.push(sent.elapsed().as_nanos() as u64);
                part.count(&response);
            }
            Ok(part)
        });
    }
    let mut total = join(tasks).await?;
    total.elapsed = started.elapsed();
    total.started = Some(started);
    Ok(total)
}

/// The granularity of tokio's timer.
const TIMER_TICK: Duration = Duration::from_millis(1);

/// Open loop: request `j` is due at `start + j / rate`, sent on connection `j % concurrency`.
/// Latency counts from the due time (or from the send, when the timer woke early), so a slow
/// answer that delays later sends on its connection is charged to those requests too (no
/// coordinated omission).
pub(crate) async fn open_loop(
    addr: SocketAddr,
    requests: Arc<Vec<Vec<u8>>>,
    concurrency: usize,
    rate: f64,
) -> io::Result<LoadResult> {
    let concurrency = concurrency.clamp(1, requests.len().max(1));
    let conns = connect_all(addr, concurrency).await?;
    let rate = rate.max(1e-3);
    // A short head start so that every task is waiting before the first request is due.
    let start = Instant::now() + Duration::from_millis(20);
    let mut tasks = JoinSet::new();
    for (c, mut conn) in conns.into_iter().enumerate() {
        let requests = Arc::clone(&requests);
        tasks.spawn(async move {
            let mut part = LoadResult::default();
            for j in (c..requests.len()).step_by(concurrency) {
                let due = start + Duration::from_secs_f64(j as f64 / rate);
                // tokio's timer fires on the millisecond tick after the deadline; aiming one
                // tick early keeps the send within about a millisecond either side of `due`.
                let aim = due.checked_sub(TIMER_TICK).unwrap_or(due);
                tokio::time::sleep_until(aim.into()).await;
                let sent = Instant::now();
                let response = conn.send(&requests[j]).await?;
                let done = Instant::now();
                part.latencies
                    .push((done - due.min(sent)).as_nanos() as u64);
                part.service.push((done - sent).as_nanos() as u64);
                part.count(&response);
            }
            Ok(part)
        });
    }
    let mut total = join(tasks).await?;
    total.elapsed = start.elapsed();
    total.started = Some(start);
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_unique_json_of_about_300_bytes() {
        let a: serde_json::Value = serde_json::from_str(&booking_body(7)).unwrap();
        assert_eq!(a["payload"]["bookingId"], 7);
        assert_ne!(booking_body(1), booking_body(2));
        let len = booking_body(123_456).len();
        assert!((250..=450).contains(&len), "{len}");
    }

    #[test]
    fn heads_parse() {
        let head = b"HTTP/1.1 200 OK\r\ncontent-length: 12\r\n\r\n";
        assert_eq!(parse_head(head).unwrap(), (200, 12));
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert!(parse_head(chunked).is_err());
    }
}
