//! A test delivery: a body signed the way the endpoint's sender would sign it, with the
//! endpoint's own scheme and secret. What `send` posts to a running server and what the
//! dashboard's test button delivers.

use bytes::Bytes;

use super::{HttpEndpoint, Verifier};
use crate::request::Request;
use crate::time::Timestamp;
use crate::verify::{Part, Secret};

/// A signed test webhook to an endpoint: where to post it and with which headers.
#[derive(Clone, Debug)]
pub struct TestDelivery {
    /// The endpoint's path, with the body's SHA-256 in the query where the scheme signs a
    /// JSON body that way (Twilio's `bodySHA256`).
    pub path: String,
    /// `Content-Type`, the scheme's message-id headers, and the signature's.
    pub headers: Vec<(&'static str, String)>,
}

impl HttpEndpoint {
    /// `body` (of `content_type`) signed at `now` with `secret` for a request to
    /// `base_url` + the endpoint's path (`base_url` is in the signature of schemes that sign the
    /// URL); an error for a custom verify fn, whose scheme the runtime cannot know.
    pub fn test_delivery(
        &self,
        base_url: &str,
        body: &Bytes,
        content_type: &str,
        secret: &Secret,
        now: Timestamp,
    ) -> Result<TestDelivery, String> {
        let path = self.test_path(body, content_type);
        let mut headers: Vec<(&'static str, String)> =
            vec![("Content-Type", content_type.to_owned())];
        if let Verifier::Scheme(scheme) = self.verifier() {
            for part in scheme.signed() {
                if let Part::Header(name) = part {
                    headers.push((name, format!("msg_send_{}", now.as_unix_millis())));
                }
            }
        }
        let mut map = http::HeaderMap::new();
        for (name, value) in &headers {
            if let Ok(value) = value.parse() {
                map.insert(*name, value);
            }
        }
        let url = format!("{}{path}", base_url.trim_end_matches('/'));
        let request = Request::new(http::Method::POST, &url, map, body.clone())
            .map_err(|e| format!("could not build the request: {e}"))?;
        let signature = self
            .sign_request(&request, secret, now)
            .map_err(|e| format!("cannot sign for endpoint {:?}: {e}", self.id()))?;
        headers.extend(signature);
        Ok(TestDelivery { path, headers })
    }

    fn test_path(&self, body: &[u8], content_type: &str) -> String {
        let path = self.path();
        let form = content_type.starts_with("application/x-www-form-urlencoded");
        match self.verifier() {
            Verifier::Scheme(scheme) if !form => match scheme.body_sha256_param() {
                Some(param) => {
                    let digest = <sha2::Sha256 as sha2::Digest>::digest(body);
                    format!("{path}?{param}={}", hex::encode(digest))
                }
                None => path,
            },
            _ => path,
        }
    }
}
