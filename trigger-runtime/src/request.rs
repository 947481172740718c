//! [`Request`]: the webhook as received, handed to verification and to every job.

use std::fmt;

use bytes::Bytes;
use http::{HeaderMap, Method};
use serde::de::DeserializeOwned;

/// Why a request body could not be read the way a job asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// `text()` on a body that is not UTF-8.
    #[error("request body is not valid UTF-8 (invalid byte at offset {valid_up_to})")]
    NotUtf8 {
        /// Bytes before the first invalid one.
        valid_up_to: usize,
    },
    /// `json()` on a body that does not parse as the requested type.
    #[error("request body is not valid JSON for the requested type")]
    Json(#[source] serde_json::Error),
    /// `form()` on a body that does not parse as the requested type.
    #[error("request body is not a valid form for the requested type")]
    Form(#[source] serde_urlencoded::de::Error),
    /// `query_as()` on a query string that does not parse as the requested type.
    #[error("query string does not parse as the requested type")]
    Query(#[source] serde_urlencoded::de::Error),
    /// The URL given to [`Request::new`] is not a valid URI.
    #[error("invalid request URL {url:?}")]
    Url {
        /// The URL as given.
        url: String,
    },
}

/// The query string, parsed into name/value pairs in their original order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Query {
    raw: String,
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Parses a raw (percent-encoded) query string, without the leading `?`.
    pub fn parse(raw: &str) -> Self {
        let pairs = form_urlencoded::parse(raw.as_bytes())
            .into_owned()
            .collect();
        Self {
            raw: raw.to_owned(),
            pairs,
        }
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// All pairs, decoded, in order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// The raw query string as received, without the leading `?`.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// Whether the query string has no pairs.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

/// An HTTP request as the endpoint received it: the raw body bytes exactly, the headers
/// (looked up case-insensitively), the method, the URL and the query.
///
/// Cloning is cheap: the body is reference-counted.
#[derive(Clone)]
pub struct Request {
    method: Method,
    url: String,
    path: String,
    query: Query,
    headers: HeaderMap,
    body: Bytes,
}

impl Request {
    /// Builds a request from its parts. `url` may be absolute (`https://host/path?q`) or a path
    /// with an optional query (`/endpoints/cal.com?x=1`).
    pub fn new(
        method: Method,
        url: &str,
        headers: HeaderMap,
        body: impl Into<Bytes>,
    ) -> Result<Self, RequestError> {
        let uri: http::Uri = url.parse().map_err(|_| RequestError::Url {
            url: url.to_owned(),
        })?;
        Ok(Self {
            method,
            path: uri.path().to_owned(),
            query: Query::parse(uri.query().unwrap_or_default()),
            url: url.to_owned(),
            headers,
            body: body.into(),
        })
    }

    /// The HTTP method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The full URL the sender used, as far as the server knows it (see `TRIGGER_PUBLIC_URL`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The path, e.g. `/endpoints/cal.com`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The parsed query string.
    pub fn query(&self) -> &Query {
        &self.query
    }

    /// Deserializes the query string into `T`.
    pub fn query_as<T: DeserializeOwned>(&self) -> Result<T, RequestError> {
        serde_urlencoded::from_str(self.query.as_str()).map_err(RequestError::Query)
    }

    /// All headers; lookups are case-insensitive.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The first value of header `name` (any case), if present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The raw body bytes, exactly as received.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The body as UTF-8 text.
    pub fn text(&self) -> Result<&str, RequestError> {
        std::str::from_utf8(&self.body).map_err(|e| RequestError::NotUtf8 {
            valid_up_to: e.valid_up_to(),
        })
    }

    /// Deserializes the JSON body into `T` (use `serde_json::Value` for any JSON).
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, RequestError> {
        serde_json::from_slice(&self.body).map_err(RequestError::Json)
    }

    /// Deserializes an `application/x-www-form-urlencoded` body into `T`.
    pub fn form<T: DeserializeOwned>(&self) -> Result<T, RequestError> {
        serde_urlencoded::from_bytes(&self.body).map_err(RequestError::Form)
    }
}

impl fmt::Debug for Request {
    /// Header values and the body are left out: they may carry credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("body_len", &self.body.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, HeaderValue, Method};

    use super::{Request, RequestError};

    fn request(url: &str, body: &'static [u8]) -> Request {
        let mut headers = HeaderMap::new();
        headers.insert("X-Cal-Signature-256", HeaderValue::from_static("abc"));
        Request::new(Method::POST, url, headers, body).unwrap()
    }

    #[test]
    fn parts_and_case_insensitive_headers() {
        let r = request("http://h/endpoints/cal.com?a=1&b=x%20y&a=2", b"{}");
        assert_eq!(r.path(), "/endpoints/cal.com");
        assert_eq!(r.query().get("b"), Some("x y"));
        assert_eq!(r.query().get_all("a").collect::<Vec<_>>(), ["1", "2"]);
        assert_eq!(r.header("x-cal-signature-256"), Some("abc"));
        assert_eq!(r.header("X-CAL-SIGNATURE-256"), Some("abc"));
    }

    #[test]
    fn body_errors_are_clear() {
        let r = request("/p", b"\xff\xfe");
        let err = r.text().unwrap_err();
        assert!(matches!(err, RequestError::NotUtf8 { valid_up_to: 0 }));
        assert!(r.json::<serde_json::Value>().is_err());
        let form = request("/p", b"a=1&b=two");
        #[derive(serde::Deserialize)]
        struct F {
            a: u32,
            b: String,
        }
        let f: F = form.form().unwrap();
        assert_eq!((f.a, f.b.as_str()), (1, "two"));
        assert!(matches!(
            form.form::<std::collections::HashMap<String, u32>>(),
            Err(RequestError::Form(_))
        ));
    }
}
