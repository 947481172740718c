//! Seeded property tests: whatever bytes a signature header holds, and whatever the body,
//! every scheme (each HMAC combination, each preset) answers a [`Verification`] without
//! panicking, and a signature that was not made with the secret never verifies. No crate: a
//! xorshift generator and a fixed number of cases, so a failure names the case that
//! reproduces it.

use http::{HeaderMap, HeaderValue, Method};

use super::*;

/// Cases per combination of algorithm, encoding and prefix.
const CASES: u32 = 300;

/// xorshift64*: small, fast, and the same sequence for the same seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap_or(0)
    }

    fn byte(&mut self) -> u8 {
        self.next().to_le_bytes()[0]
    }

    fn bytes(&mut self, len: usize, pick: impl Fn(&mut Self) -> u8) -> Vec<u8> {
        (0..len).map(|_| pick(self)).collect()
    }

    /// Up to `max` bytes.
    fn some_bytes(&mut self, max: usize, pick: impl Fn(&mut Self) -> u8) -> Vec<u8> {
        let len = self.below(max + 1);
        self.bytes(len, pick)
    }

    fn pick(&mut self, alphabet: &[u8]) -> u8 {
        alphabet[self.below(alphabet.len())]
    }
}

const HEX: &[u8] = b"0123456789abcdefABCDEF";
const BASE64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";

/// A byte a header value may hold: tab, visible ASCII, space, or any byte from 0x80.
fn header_byte(rng: &mut Rng) -> u8 {
    match rng.byte() {
        b @ (b'\t' | 0x20..=0x7e | 0x80..=0xff) => b,
        b => b | 0x80,
    }
}

/// A header value that was not made with the secret, in one of several shapes.
fn random_value(rng: &mut Rng, scheme: &HmacScheme, body: &[u8], secret: &Secret) -> Vec<u8> {
    let prefix = scheme.prefix().as_bytes();
    let right_len = scheme.algorithm().output_len();
    let with_prefix = |mut rest: Vec<u8>| {
        let mut value = prefix.to_vec();
        value.append(&mut rest);
        value
    };
    match rng.below(7) {
        // Any bytes at all, control bytes included: most are no header value.
        0 => rng.some_bytes(64, Rng::byte),
        // Bytes a header may hold, non-ASCII included.
        1 => rng.some_bytes(200, header_byte),
        // Huge: up to 64 KiB.
        2 => rng.some_bytes(64 * 1024, header_byte),
        // Hex digits around the right length, after the prefix.
        3 => {
            let len = (2 * right_len + rng.below(5)).saturating_sub(2);
            with_prefix(rng.bytes(len, |r| r.pick(HEX)))
        }
        // Base64 around the right length, after the prefix.
        4 => {
            let len = (right_len.div_ceil(3) * 4 + rng.below(5)).saturating_sub(2);
            with_prefix(rng.bytes(len, |r| r.pick(BASE64)))
        }
        // Random bytes of the right length, well encoded.
        5 => {
            let bytes = rng.bytes(right_len, Rng::byte);
            with_prefix(scheme.encoding().encode(&bytes).into_bytes())
        }
        // The real signature with one bit flipped.
        _ => {
            let mut mac = hmac(scheme.algorithm(), secret.as_bytes(), body);
            let at = rng.below(mac.len());
            mac[at] ^= 1 << rng.below(8);
            with_prefix(scheme.encoding().encode(&mac).into_bytes())
        }
    }
}

fn request(value: &[u8], body: &[u8]) -> Option<Request> {
    let value = HeaderValue::from_bytes(value).ok()?;
    let mut headers = HeaderMap::new();
    headers.insert("X-Sig", value);
    let body = bytes::Bytes::copy_from_slice(body);
    Request::new(Method::POST, "/endpoints/x", headers, body).ok()
}

#[test]
fn any_header_bytes_are_a_verdict_and_never_a_forgery() {
    let secret = Secret::new("whsec_fuzz");
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut requests, mut genuine) = (0_u32, 0_u32);
    for algorithm in [Algorithm::Sha1, Algorithm::Sha256, Algorithm::Sha512] {
        for encoding in [Encoding::Hex, Encoding::Base64] {
            for prefix in ["", "sha256=", "v1,"] {
                let scheme = HmacScheme::new("X-Sig")
                    .with_algorithm(algorithm)
                    .with_encoding(encoding)
                    .with_prefix(prefix);
                for case in 0..CASES {
                    let body = rng.some_bytes(512, Rng::byte);
                    let value = random_value(&mut rng, &scheme, &body, &secret);
                    let at = format!("{scheme:?}, case {case}, header {value:?}");
                    // What `http` refuses to hold never reaches a verifier.
                    let Some(request) = request(&value, &body) else {
                        continue;
                    };
                    requests += 1;
                    let verdict = scheme.verify(&request, &secret);
                    assert!(!verdict.is_verified(), "forged signature verified: {at}");
                    assert!(verdict.reason().is_some_and(|r| !r.is_empty()), "{at}");
                    // The real signature of the same body still verifies.
                    let real = scheme.sign(&body, &secret);
                    let signed = request_or_panic(real.as_bytes(), &body);
                    assert!(scheme.verify(&signed, &secret).is_verified(), "{at}");
                    genuine += 1;
                }
            }
        }
    }
    // Most cases reach the verifier; the test is not vacuous.
    assert!(requests > 18 * CASES * 3 / 4, "only {requests} requests");
    assert_eq!(genuine, requests);
}

#[track_caller]
fn request_or_panic(value: &[u8], body: &[u8]) -> Request {
    request(value, body).unwrap_or_else(|| panic!("{value:?} is a header value"))
}

/// A value for a preset's signature or timestamp header: random bytes, or the real value with
/// pieces broken, repeated or added; and whether it must fail (empty entries added after the
/// real ones change nothing).
fn mangled(rng: &mut Rng, real: &str) -> (Vec<u8>, bool) {
    let mut value = real.as_bytes().to_vec();
    match rng.below(6) {
        0 => return (rng.some_bytes(300, header_byte), true),
        1 if !value.is_empty() => {
            let at = rng.below(value.len());
            value[at] = rng.pick(b"0aA=,; v1t.-+/9");
        }
        2 => {
            value.extend_from_slice(b",v1=,t=,,;;h1= v1,");
            return (value, false);
        }
        3 => value.truncate(rng.below(value.len() + 1)),
        4 => {
            let at = rng.below(value.len() + 1);
            let junk = rng.some_bytes(20, |r| r.pick(b"0123456789abcdef=,;v t"));
            value.splice(at..at, junk);
        }
        _ => value = b"99999999999999999999999".to_vec(),
    }
    (value, true)
}

#[test]
fn any_header_bytes_never_verify_and_never_panic_for_any_preset() {
    use crate::time::Timestamp;
    let now = Timestamp::from_unix_millis(1_700_000_000_000);
    let seed = [3u8; 32];
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let mut verdicts = 0;
    for &preset in Preset::ALL {
        let scheme = preset.scheme();
        let secret = match preset {
            Preset::Discord => Secret::new(crate::testing::ed25519_public_key(seed)),
            _ => Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        };
        for case in 0..CASES {
            let body = format!(r#"{{"id":"{case}","webhookTimestamp":1700000000000}}"#);
            let mut base = HeaderMap::new();
            base.insert("webhook-id", HeaderValue::from_static("msg_1"));
            base.insert("svix-id", HeaderValue::from_static("msg_1"));
            let unsigned = Request::new(Method::POST, "https://h/x", base.clone(), body.clone())
                .unwrap_or_else(|e| panic!("{e}"));
            let real = match preset {
                Preset::Discord => crate::testing::sign_ed25519(&scheme, &unsigned, seed, now),
                _ => scheme
                    .sign(&unsigned, &secret, now)
                    .unwrap_or_else(|e| panic!("{e}")),
            };
            let mut headers = base.clone();
            for (name, value) in &real {
                headers.insert(
                    *name,
                    HeaderValue::from_str(value).unwrap_or_else(|e| panic!("{e}")),
                );
            }
            let genuine = Request::new(Method::POST, "https://h/x", headers.clone(), body.clone())
                .unwrap_or_else(|e| panic!("{e}"));
            assert!(
                scheme
                    .verify_at(&genuine, std::slice::from_ref(&secret), now)
                    .is_verified(),
                "{preset}: the real signature"
            );
            // Break one of the headers the sender set.
            let (name, value) = &real[rng.below(real.len())];
            let (bytes, must_fail) = mangled(&mut rng, value);
            let Ok(broken) = HeaderValue::from_bytes(&bytes) else {
                continue;
            };
            if broken.as_bytes() == value.as_bytes() {
                continue;
            }
            headers.insert(*name, broken.clone());
            let request = Request::new(Method::POST, "https://h/x", headers, body.clone())
                .unwrap_or_else(|e| panic!("{e}"));
            let verdict = scheme.verify_at(&request, std::slice::from_ref(&secret), now);
            // Hex in either case, and base64 with or without padding, are the same signature.
            let same = broken.to_str().is_ok_and(|b| {
                b.eq_ignore_ascii_case(value)
                    || b.trim_end_matches('=') == value.trim_end_matches('=')
            });
            if must_fail && !same {
                assert!(
                    !verdict.is_verified(),
                    "{preset}: {name}: {broken:?} instead of {value:?} verified"
                );
            }
            verdicts += 1;
        }
    }
    let all = u32::try_from(Preset::ALL.len()).unwrap_or(u32::MAX);
    assert!(verdicts > all * CASES / 2, "only {verdicts} verdicts");
}
