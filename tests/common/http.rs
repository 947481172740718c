//! A small blocking HTTP/1.1 client over [`TcpStream`]: one request per connection
//! (`Connection: close`), answers with a `Content-Length`, chunked or close-delimited body.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;

/// An HTTP answer.
#[derive(Debug)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The headers, names lowercased, in order.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl Response {
    /// The first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let mut found = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name));
        found.next().map(|(_, v)| v.as_str())
    }

    /// The body as JSON; panics, showing the answer, when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {self}"))
    }
}

impl fmt::Display for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "HTTP {} {}",
            self.status,
            String::from_utf8_lossy(&self.body)
        )
    }
}

/// Sends one request to `127.0.0.1:port` and reads the whole answer. `Content-Length` is
/// added unless `headers` has a `Transfer-Encoding` (then `body` must be encoded already,
/// e.g. with [`chunked`]).
pub fn send(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<Response> {
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    // A test may send its own `Host` (a foreign one, to check the API refuses it).
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("Host: 127.0.0.1:{port}\r\n"));
    }
    head.push_str("Connection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("transfer-encoding"))
    {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut raw = head.into_bytes();
    raw.extend_from_slice(body);

    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    // A server that answers early (413) may close before taking the whole body: still read,
    // and keep what arrived before a reset.
    let written = stream.write_all(&raw);
    let mut bytes = Vec::new();
    let read = stream.read_to_end(&mut bytes);
    match (read, written) {
        (Err(e), _) if bytes.is_empty() || e.kind() != io::ErrorKind::ConnectionReset => Err(e),
        (_, Err(e)) if bytes.is_empty() => Err(e),
        _ => parse_response(&bytes),
    }
}

/// `body` in chunked transfer encoding, in chunks of at most 500 bytes.
pub fn chunked(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in body.chunks(500) {
        out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

fn invalid(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

/// The index of the first `\r\n` at or after `from`.
fn crlf(bytes: &[u8], from: usize) -> io::Result<usize> {
    let at = bytes
        .get(from..)
        .and_then(|b| b.windows(2).position(|w| w == b"\r\n"));
    at.map(|at| from + at)
        .ok_or_else(|| invalid("missing CRLF"))
}

/// Parses a complete HTTP/1.1 answer.
pub fn parse_response(bytes: &[u8]) -> io::Result<Response> {
    let split = bytes.windows(4).position(|w| w == b"\r\n\r\n");
    let split = split.ok_or_else(|| invalid(format!("no end of headers in {bytes:?}")))?;
    let head = std::str::from_utf8(&bytes[..split]).map_err(|_| invalid("non-UTF-8 headers"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line.split(' ').nth(1).and_then(|s| s.parse().ok());
    let status = status.ok_or_else(|| invalid(format!("bad status line {status_line:?}")))?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut response = Response {
        status,
        headers,
        body: Vec::new(),
    };
    let rest = &bytes[split + 4..];
    let chunked = response
        .header("transfer-encoding")
        .is_some_and(|v| v.contains("chunked"));
    response.body = if chunked {
        dechunk(rest)?
    } else if let Some(length) = response.header("content-length") {
        let length: usize = length.parse().map_err(|_| invalid("bad Content-Length"))?;
        let body = rest.get(..length);
        body.ok_or_else(|| invalid(format!("body ended at {} of {length} bytes", rest.len())))?
            .to_vec()
    } else {
        rest.to_vec()
    };
    Ok(response)
}

/// Decodes a chunked body (chunk extensions and trailers are ignored).
fn dechunk(bytes: &[u8]) -> io::Result<Vec<u8>> {
    let (mut body, mut at) = (Vec::new(), 0);
    loop {
        let end = crlf(bytes, at)?;
        let line = std::str::from_utf8(&bytes[at..end]).map_err(|_| invalid("bad chunk size"))?;
        let size = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size, 16).map_err(|_| invalid("bad chunk size"))?;
        if size == 0 {
            return Ok(body);
        }
        let chunk = bytes
            .get(end + 2..end + 2 + size)
            .ok_or_else(|| invalid("short chunk"))?;
        body.extend_from_slice(chunk);
        at = end + 2 + size;
        if crlf(bytes, at)? != at {
            return Err(invalid("chunk longer than its size"));
        }
        at += 2;
    }
}

#[cfg(test)]
mod tests {
    use super::{chunked, parse_response};

    #[test]
    fn parses_content_length_answers() {
        let plain = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: b\r\n\r\nhi");
        let plain = plain.unwrap();
        assert_eq!((plain.status, &plain.body[..]), (200, &b"hi"[..]));
        assert_eq!(plain.header("X-a"), Some("b"));
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhi").is_err());
    }

    #[test]
    fn parses_chunked_answers() {
        let mut raw = b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        raw.extend_from_slice(b"3;x=y\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
        let answer = parse_response(&raw).unwrap();
        assert_eq!((answer.status, &answer.body[..]), (404, &b"abcde"[..]));

        let body = vec![b'z'; 1234];
        let mut raw = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
        raw.extend_from_slice(&chunked(&body));
        assert_eq!(parse_response(&raw).unwrap().body, body);
        raw.truncate(raw.len() - 10);
        assert!(parse_response(&raw).is_err());
    }
}
