//! Signing a request as its sender would, for tests, the bench and `send`.

use std::borrow::Cow;

use super::check::timestamp;
use super::{Carrier, Scheme, Signer, TimestampFrom};
use crate::request::Request;
use crate::time::Timestamp;
use crate::verify::Secret;

impl Scheme {
    /// The headers a sender adds to `request` to sign it with `secret` at `now`: the
    /// signature header and, where the scheme has one, the timestamp header. What the signed
    /// content names must be in the request already: a delivery id header (`webhook-id`), a
    /// body timestamp (Linear's `webhookTimestamp`). An Ed25519 scheme signs with a private
    /// key, not the public key the endpoint holds: see `testing::sign_ed25519`.
    pub fn sign(
        &self,
        request: &Request,
        secret: &Secret,
        now: Timestamp,
    ) -> Result<Vec<(&'static str, String)>, String> {
        let seconds = (now.as_unix_millis().div_euclid(1000)).to_string();
        let timestamp: Option<Cow<'_, str>> = match self.timestamp {
            None => None,
            Some(TimestampFrom::BodyMillis(_)) => {
                let from = self.timestamp.unwrap_or(TimestampFrom::Carrier);
                Some(timestamp(from, request, None)?.0)
            }
            Some(_) => Some(Cow::Borrowed(seconds.as_str())),
        };
        let signature = match self.signer {
            Signer::Hmac(algorithm) => {
                let key = self.key_bytes(secret)?;
                let message = self.message(request, timestamp.as_deref())?;
                self.encoding
                    .encode(&crate::verify::hmac_parts(algorithm, &key, &message))
            }
            Signer::Token => secret.expose().to_owned(),
            Signer::Ed25519 => {
                return Err("an Ed25519 scheme signs with the sender's private key: \
                            use testing::sign_ed25519"
                    .to_owned());
            }
        };
        let value = match self.carrier {
            Carrier::Header { prefix, .. } => format!("{prefix}{signature}"),
            Carrier::Versioned { version, .. } => format!("{version},{signature}"),
            Carrier::Pairs {
                separator,
                signature: key,
                timestamp: at,
                ..
            } => format!("{at}={seconds}{separator}{key}={signature}"),
        };
        let mut headers = vec![(self.carrier.header(), value)];
        if let Some(TimestampFrom::Header(name)) = self.timestamp {
            headers.push((name, seconds));
        }
        Ok(headers)
    }
}
