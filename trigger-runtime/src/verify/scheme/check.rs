//! Verifying a request against a [`Scheme`].

use std::borrow::Cow;

use super::{BODY, Carrier, KeyFormat, Part, Scheme, Signer, TimestampFrom};
use crate::request::Request;
use crate::time::Timestamp;
use crate::verify::{Encoding, Secret, Verification, constant_time_eq};

impl Scheme {
    /// Verified when the request's signature is one of its signed content under one of
    /// `secrets` (the current one first, during a rotation) and, for a timestamped scheme,
    /// its timestamp is within the tolerance of `now`.
    pub fn verify_at(&self, request: &Request, secrets: &[Secret], now: Timestamp) -> Verification {
        self.verify_in(self.carrier.header(), request, secrets, now)
    }

    /// As [`verify_at`](Self::verify_at), with the signature in `header` (a name that need not
    /// be `'static`).
    pub(crate) fn verify_in(
        &self,
        header: &str,
        request: &Request,
        secrets: &[Secret],
        now: Timestamp,
    ) -> Verification {
        match self.check(header, request, secrets, now) {
            Ok(()) => Verification::Verified,
            Err(reason) => Verification::Rejected(reason),
        }
    }

    fn check(
        &self,
        header: &str,
        request: &Request,
        secrets: &[Secret],
        now: Timestamp,
    ) -> Result<(), String> {
        if secrets.is_empty() {
            return Err("no secret to verify the signature with".to_owned());
        }
        if secrets.iter().all(|secret| secret.as_bytes().is_empty()) {
            return Err("the secret is empty, and an empty secret verifies nothing".to_owned());
        }
        let carried = self.carried(header, request)?;
        let timestamp = match self.timestamp {
            Some(from) => Some(timestamp(from, request, carried.timestamp)?),
            None => None,
        };
        self.check_body_sha256(request)?;
        let message = self.message(request, timestamp.as_ref().map(|(text, _)| &**text))?;
        let matches = |secret: &Secret| match self.key_bytes(secret) {
            Ok(key) => !key.is_empty() && self.matches(&key, &message, &carried.signatures),
            Err(_) => false,
        };
        if !secrets.iter().any(matches) {
            // A secret that cannot be a key at all is a configuration mistake: say so.
            if let Some(Err(why)) = secrets
                .iter()
                .map(|s| self.key_bytes(s))
                .find(Result::is_err)
            {
                return Err(why);
            }
            return Err(match self.signer {
                Signer::Token => format!("the token in {header} is not the secret"),
                _ => format!(
                    "signature in {header} does not match {}",
                    self.what_is_signed()
                ),
            });
        }
        match timestamp {
            Some((text, at)) => self.check_tolerance(&text, at, now),
            None => Ok(()),
        }
    }

    /// "the body", or the template.
    fn what_is_signed(&self) -> String {
        if self.signed == BODY {
            "the body".to_owned()
        } else {
            format!("the signed content `{}`", self.template())
        }
    }

    fn check_tolerance(&self, text: &str, at: Timestamp, now: Timestamp) -> Result<(), String> {
        if self.tolerance.is_zero() {
            return Ok(());
        }
        let tolerance = i64::try_from(self.tolerance.as_millis()).unwrap_or(i64::MAX);
        let age = now.as_unix_millis().saturating_sub(at.as_unix_millis());
        let place = match self.timestamp {
            Some(TimestampFrom::Header(name)) => format!("in {name}"),
            Some(TimestampFrom::BodyMillis(field)) => format!("in the body's {field}"),
            _ => format!("in {}", self.carrier.header()),
        };
        let seconds = |millis: i64| millis.unsigned_abs().div_ceil(1000);
        let allowed = self.tolerance.as_secs();
        if age > tolerance {
            Err(format!(
                "timestamp too old: {text} {place} is {} s before now, and the tolerance is {allowed} s",
                seconds(age)
            ))
        } else if -age > tolerance {
            Err(format!(
                "timestamp too far in the future: {text} {place} is {} s after now, and the tolerance is {allowed} s",
                seconds(age)
            ))
        } else {
            Ok(())
        }
    }

    /// The key `secret` stands for.
    pub(super) fn key_bytes<'s>(&self, secret: &'s Secret) -> Result<Cow<'s, [u8]>, String> {
        let text = secret.expose();
        match self.key {
            KeyFormat::Raw => Ok(Cow::Borrowed(secret.as_bytes())),
            KeyFormat::WhsecBase64 => {
                let encoded = text.strip_prefix("whsec_").unwrap_or(text);
                Encoding::Base64
                    .decode(encoded)
                    .map(Cow::Owned)
                    .ok_or_else(|| {
                        "the secret is not valid for this scheme: expected base64 after `whsec_`"
                            .to_owned()
                    })
            }
            KeyFormat::Hex => match hex::decode(text) {
                Ok(key) if key.len() == 32 => Ok(Cow::Owned(key)),
                _ => Err("the public key is not valid: expected 64 hex digits".to_owned()),
            },
        }
    }

    /// Whether one of `signatures` is that of `message` under `key`.
    fn matches(&self, key: &[u8], message: &[Cow<'_, [u8]>], signatures: &[Vec<u8>]) -> bool {
        match self.signer {
            Signer::Hmac(algorithm) => {
                let tag = crate::verify::hmac_parts(algorithm, key, message);
                signatures.iter().any(|s| constant_time_eq(&tag, s))
            }
            Signer::Ed25519 => {
                let Ok(public) = ed25519_compact::PublicKey::from_slice(key) else {
                    return false;
                };
                signatures.iter().any(|signature| {
                    let Ok(signature) = ed25519_compact::Signature::from_slice(signature) else {
                        return false;
                    };
                    let Ok(mut state) = public.verify_incremental(&signature) else {
                        return false;
                    };
                    for piece in message {
                        state.absorb(piece);
                    }
                    state.verify().is_ok()
                })
            }
            Signer::Token => signatures.iter().any(|token| constant_time_eq(token, key)),
        }
    }

    /// The signed content, piece by piece, borrowed from the request where it can be.
    pub(super) fn message<'r>(
        &self,
        request: &'r Request,
        timestamp: Option<&'r str>,
    ) -> Result<Vec<Cow<'r, [u8]>>, String> {
        let mut pieces = Vec::with_capacity(self.signed.len());
        for part in self.signed {
            let piece: Cow<'r, [u8]> = match part {
                Part::Body => Cow::Borrowed(request.body()),
                Part::Timestamp => Cow::Borrowed(timestamp.unwrap_or_default().as_bytes()),
                Part::Url => Cow::Borrowed(request.url().as_bytes()),
                Part::Text(text) => Cow::Borrowed(text.as_bytes()),
                Part::Header(name) => match request.header(name) {
                    Some(value) => Cow::Borrowed(value.as_bytes()),
                    None => return Err(format!("missing header {name}, which is signed")),
                },
                Part::FormParams => Cow::Owned(form_params(request)),
            };
            pieces.push(piece);
        }
        Ok(pieces)
    }

    /// For a body that is not a form, the URL's body-hash parameter must be its SHA-256.
    fn check_body_sha256(&self, request: &Request) -> Result<(), String> {
        let Some(param) = self.body_sha256_param else {
            return Ok(());
        };
        if is_form(request) {
            return Ok(());
        }
        let pairs = request.query().pairs().iter();
        let Some((_, expected)) = pairs.rev().find(|(name, _)| name == param) else {
            return Ok(());
        };
        let actual = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(request.body()));
        if constant_time_eq(actual.as_bytes(), expected.to_ascii_lowercase().as_bytes()) {
            Ok(())
        } else {
            Err(format!("the body does not match {param} in the URL"))
        }
    }
}

/// What the signature header holds: the signatures (decoded, each of the right length) and,
/// in a [`Carrier::Pairs`] header, the timestamp as written.
struct Carried<'r> {
    signatures: Vec<Vec<u8>>,
    timestamp: Option<&'r str>,
}

impl Scheme {
    fn carried<'r>(&self, header: &str, request: &'r Request) -> Result<Carried<'r>, String> {
        let Some(value) = request.headers().get(header) else {
            return Err(format!("missing signature header {header}"));
        };
        let Ok(value) = value.to_str() else {
            return Err(format!("signature header {header} is not visible ASCII"));
        };
        let value = value.trim();
        if value.is_empty() {
            return Err(format!("signature header {header} is empty"));
        }
        match self.carrier {
            Carrier::Header { prefix, .. } => {
                let Some(text) = value.strip_prefix(prefix).map(str::trim) else {
                    return Err(format!(
                        "signature header {header} does not start with {prefix:?}"
                    ));
                };
                if text.is_empty() {
                    return Err(format!(
                        "signature header {header} has no signature after {prefix:?}"
                    ));
                }
                let signature = self.decode(header, text)?;
                Ok(Carried {
                    signatures: vec![signature],
                    timestamp: None,
                })
            }
            Carrier::Versioned { version, .. } => {
                let entries = value.split_ascii_whitespace().filter_map(|entry| {
                    let (v, signature) = entry.split_once(',')?;
                    (v == version).then_some(signature)
                });
                self.any_of(header, entries, &format!("{version} signature"))
                    .map(|signatures| Carried {
                        signatures,
                        timestamp: None,
                    })
            }
            Carrier::Pairs {
                separator,
                signature,
                timestamp,
                ..
            } => {
                let pairs = || {
                    value
                        .split(separator)
                        .filter_map(|pair| pair.split_once('='))
                        .map(|(k, v)| (k.trim(), v.trim()))
                };
                let found = pairs().find(|(k, _)| *k == timestamp).map(|(_, v)| v);
                let signatures = pairs().filter(|(k, _)| *k == signature).map(|(_, v)| v);
                let what = format!("{signature}= signature");
                let signatures = self.any_of(header, signatures, &what)?;
                Ok(Carried {
                    signatures,
                    timestamp: found,
                })
            }
        }
    }

    /// Every one of `texts` that decodes to a signature; when none does, why the only one
    /// did not, or that there is none.
    fn any_of<'t>(
        &self,
        header: &str,
        texts: impl Iterator<Item = &'t str>,
        what: &str,
    ) -> Result<Vec<Vec<u8>>, String> {
        let (mut signatures, mut first_error, mut count) = (Vec::new(), None, 0);
        for text in texts {
            count += 1;
            match self.decode(header, text) {
                Ok(signature) => signatures.push(signature),
                Err(why) => {
                    first_error.get_or_insert(why);
                }
            }
        }
        match (signatures.is_empty(), first_error) {
            (false, _) => Ok(signatures),
            (true, Some(why)) if count == 1 => Err(why),
            _ => Err(format!("signature header {header} has no valid {what}")),
        }
    }

    /// One signature's text, decoded and of the signer's length.
    fn decode(&self, header: &str, text: &str) -> Result<Vec<u8>, String> {
        if self.signer == Signer::Token {
            return Ok(text.as_bytes().to_vec());
        }
        let Some(bytes) = self.encoding.decode(text) else {
            return Err(format!(
                "signature header {header} is not valid {}",
                self.encoding.name()
            ));
        };
        match self.signer.output_len() {
            Some(len) if bytes.len() != len => Err(format!(
                "signature in {header} is {} bytes long, and an {} is {len}",
                bytes.len(),
                self.signer.name()
            )),
            _ => Ok(bytes),
        }
    }
}

/// The timestamp, as written and as a time.
pub(super) fn timestamp<'r>(
    from: TimestampFrom,
    request: &'r Request,
    carried: Option<&'r str>,
) -> Result<(Cow<'r, str>, Timestamp), String> {
    let (text, place, millis): (Cow<'r, str>, String, bool) = match from {
        TimestampFrom::Header(name) => match request.header(name) {
            Some(text) => (Cow::Borrowed(text.trim()), format!("header {name}"), false),
            None => return Err(format!("missing timestamp header {name}")),
        },
        TimestampFrom::Carrier => match carried {
            Some(text) => (
                Cow::Borrowed(text),
                "signature header's timestamp".to_owned(),
                false,
            ),
            None => return Err("the signature header has no timestamp".to_owned()),
        },
        TimestampFrom::BodyMillis(field) => match body_integer(request, field) {
            Some(value) => (
                Cow::Owned(value.to_string()),
                format!("body field {field}"),
                true,
            ),
            None => return Err(format!("the body has no integer {field}")),
        },
    };
    let value: i64 = match text.parse() {
        Ok(value) if text.bytes().all(|b| b.is_ascii_digit()) => value,
        _ => return Err(format!("the {place} is not a whole number: {text:?}")),
    };
    let unix_millis = if millis {
        value
    } else {
        value.saturating_mul(1000)
    };
    Ok((text, Timestamp::from_unix_millis(unix_millis)))
}

/// Top-level integer field `field` of a JSON body.
fn body_integer(request: &Request, field: &str) -> Option<u64> {
    let body: serde_json::Value = serde_json::from_slice(request.body()).ok()?;
    body.get(field)?.as_u64()
}

fn is_form(request: &Request) -> bool {
    let form = "application/x-www-form-urlencoded";
    request
        .header("content-type")
        .and_then(|value| value.get(..form.len()))
        .is_some_and(|start| start.eq_ignore_ascii_case(form))
}

/// A form body's parameters sorted by name (then value), each name then its value; nothing for
/// other bodies.
fn form_params(request: &Request) -> Vec<u8> {
    if !is_form(request) {
        return Vec::new();
    }
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(request.body())
        .into_owned()
        .collect();
    pairs.sort();
    let mut out = Vec::new();
    for (name, value) in pairs {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(value.as_bytes());
    }
    out
}
