//! Random bytes as request lines, headers and bodies, sent to the Cal.com example as a real
//! process over loopback: every answer is below 500, the server never crashes, and a signed
//! webhook still gets `200` afterwards. Deterministic (seeded), bounded in count and time.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use trigger_tests::http::parse_response;
use trigger_tests::{Server, sign};

const SECRET: &str = "whsec_fuzz";
/// Requests sent; each connection reads for at most [`READ`].
const CASES: u64 = 600;
const READ: Duration = Duration::from_secs(5);

/// xorshift64*, seeded per case so that a failure names a case that reproduces it.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n.max(1) as u64).unwrap_or(0)
    }

    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let len = self.below(max + 1);
        (0..len).map(|_| (self.next() & 0xff) as u8).collect()
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// One raw request: a mix of valid and random parts, so that random bytes reach every layer.
fn request(rng: &mut Rng) -> Vec<u8> {
    if rng.below(8) == 0 {
        return rng.bytes(600);
    }
    let method = rng.pick(&[
        "POST", "GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "P%ST", "\u{1}",
    ]);
    let paths = [
        "/endpoints/cal.com",
        "/endpoints/cal.com?x=%zz&token=1&a=%00",
        "/endpoints/%63al.com",
        "/endpoints/",
        "/endpoints/\u{7f}",
        "/api/v1/runs?limit=-1&status=%ff",
        "/api/v1/events/evt_%2e%2e",
        "/api/v1/runs/run_x/replay",
        "/readyz",
        "//",
        "*",
    ];
    let path = rng.pick(&paths);
    let body = if rng.below(3) == 0 {
        br#"{"triggerEvent":"BOOKING_CREATED","payload":{}}"#.to_vec()
    } else {
        rng.bytes(2000)
    };
    let mut raw = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n")
        .into_bytes();
    let headers = rng.below(6);
    for _ in 0..headers {
        match rng.below(5) {
            0 => raw.extend_from_slice(b"Content-Type: application/x-www-form-urlencoded\r\n"),
            1 => raw.extend_from_slice(
                format!("X-Cal-Signature-256: {}\r\n", sign(SECRET, &body)).as_bytes(),
            ),
            2 => raw.extend_from_slice(b"Idempotency-Key: \xff\xfe\r\n"),
            3 => raw.extend_from_slice(b"Transfer-Encoding: chunked, gzip\r\n"),
            _ => {
                raw.extend_from_slice(&rng.bytes(40));
                raw.extend_from_slice(b": ");
                raw.extend_from_slice(&rng.bytes(80));
                raw.extend_from_slice(b"\r\n");
            }
        }
    }
    let length = match rng.below(4) {
        0 => String::new(),
        1 => format!("Content-Length: {}\r\n", body.len() + rng.below(3)),
        2 => "Content-Length: 18446744073709551616\r\n".to_owned(),
        _ => format!("Content-Length: {}\r\n", body.len()),
    };
    raw.extend_from_slice(length.as_bytes());
    raw.extend_from_slice(b"\r\n");
    raw.extend_from_slice(&body);
    raw
}

/// Sends `raw` and returns the status of the answer, if the server gave a parsable one (it
/// may also close the connection on a request it cannot parse, which is fine).
fn exchange(port: u16, raw: &[u8]) -> Option<u16> {
    let mut stream =
        TcpStream::connect(("127.0.0.1", port)).expect("the server accepts connections");
    stream.set_read_timeout(Some(READ)).expect("timeout");
    let _ = stream.write_all(raw);
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut bytes = Vec::new();
    let _ = stream.read_to_end(&mut bytes);
    parse_response(&bytes).ok().map(|r| r.status)
}

#[test]
fn random_requests_never_get_a_5xx_nor_crash_the_server() {
    let server = Server::builder("example-caldotcom")
        .env("CALDOTCOM_SECRET", SECRET)
        .start();
    let mut answered = 0;
    for case in 0..CASES {
        let mut rng = Rng(case.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let raw = request(&mut rng);
        if let Some(status) = exchange(server.port(), &raw) {
            answered += 1;
            assert!(
                status < 500,
                "case {case}: {status} for {:?}",
                String::from_utf8_lossy(&raw[..raw.len().min(300)])
            );
        }
    }
    assert!(
        answered > CASES / 2,
        "only {answered} of {CASES} requests got an answer"
    );
    assert_eq!(server.get("/healthz").status, 200);
    let body = br#"{"triggerEvent":"BOOKING_CREATED"}"#;
    let signature = sign(SECRET, body);
    let accepted = server.send(
        "POST",
        "/endpoints/cal.com",
        &[
            ("X-Cal-Signature-256", signature.as_str()),
            ("Content-Type", "application/json"),
        ],
        body,
    );
    assert_eq!(accepted.status, 200, "{accepted}");
}
