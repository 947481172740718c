//! Unit tests of signature verification.

use http::{HeaderMap, HeaderValue, Method};

use super::*;

fn signed(header: &'static str, value: &str, body: &'static [u8]) -> Request {
    let mut headers = HeaderMap::new();
    headers.insert(header, HeaderValue::from_str(value).unwrap());
    Request::new(Method::POST, "/endpoints/x", headers, body).unwrap()
}

#[test]
fn known_vector() {
    // RFC 4231 test case 2.
    let mac = hmac(Algorithm::Sha256, b"Jefe", b"what do ya want for nothing?");
    assert_eq!(
        hex::encode(mac),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
}

#[test]
fn accepts_upper_and_lower_hex_and_rejects_tampering() {
    let secret = Secret::new("s3cret");
    let scheme = HmacScheme::new("X-Sig");
    let sig = scheme.sign(b"{\"a\":1}", &secret);
    assert!(
        scheme
            .verify(&signed("X-Sig", &sig, b"{\"a\":1}"), &secret)
            .is_verified()
    );
    let upper = sig.to_uppercase();
    assert!(
        scheme
            .verify(&signed("X-Sig", &upper, b"{\"a\":1}"), &secret)
            .is_verified()
    );
    let tampered = scheme.verify(&signed("X-Sig", &sig, b"{\"a\":2}"), &secret);
    assert_eq!(
        tampered.reason(),
        Some("signature in X-Sig does not match the body")
    );
    let missing = scheme.verify(&signed("Other", &sig, b"{}"), &secret);
    assert_eq!(missing.reason(), Some("missing signature header X-Sig"));
    let garbage = scheme.verify(&signed("X-Sig", "zz", b"{}"), &secret);
    assert_eq!(
        garbage.reason(),
        Some("signature header X-Sig is not valid hex")
    );
}

#[test]
fn prefix_is_stripped_only_at_the_start() {
    let secret = Secret::new("k");
    let scheme = HmacScheme::new("X-Hub-Signature-256").with_prefix("sha256=");
    let sig = scheme.sign(b"body", &secret);
    assert!(sig.starts_with("sha256="));
    let ok = signed("X-Hub-Signature-256", &sig, b"body");
    assert!(scheme.verify(&ok, &secret).is_verified());
    let bare = signed("X-Hub-Signature-256", &sig["sha256=".len()..], b"body");
    assert!(!scheme.verify(&bare, &secret).is_verified());
}

#[test]
fn base64_sha1_and_sha512() {
    let secret = Secret::new("k");
    for algorithm in [Algorithm::Sha1, Algorithm::Sha512] {
        let scheme = HmacScheme::new("X-S")
            .with_algorithm(algorithm)
            .with_encoding(Encoding::Base64);
        let sig = scheme.sign(b"payload", &secret);
        assert!(
            scheme
                .verify(&signed("X-S", &sig, b"payload"), &secret)
                .is_verified()
        );
        let wrong = HmacScheme::new("X-S").with_encoding(Encoding::Base64);
        assert!(
            !wrong
                .verify(&signed("X-S", &sig, b"payload"), &secret)
                .is_verified()
        );
    }
}

#[test]
fn secret_debug_is_masked() {
    let secret = Secret::new("topsecretvalue");
    assert_eq!(format!("{secret:?}"), "Secret(****)");
}

/// A request with `value` in `X-Sig`, which may be any bytes a header value can hold.
fn with_header_bytes(value: &[u8], body: &[u8]) -> Request {
    let mut headers = HeaderMap::new();
    headers.insert("X-Sig", HeaderValue::from_bytes(value).unwrap());
    Request::new(
        Method::POST,
        "/endpoints/x",
        headers,
        bytes::Bytes::copy_from_slice(body),
    )
    .unwrap()
}

#[test]
fn an_empty_signature_never_verifies() {
    let secret = Secret::new("k");
    let scheme = HmacScheme::new("X-Sig");
    for value in ["", "   "] {
        let verdict = scheme.verify(&with_header_bytes(value.as_bytes(), b""), &secret);
        assert_eq!(verdict.reason(), Some("signature header X-Sig is empty"));
    }
    let github = HmacScheme::new("X-Sig").with_prefix("sha256=");
    let verdict = github.verify(&with_header_bytes(b"sha256=", b""), &secret);
    assert_eq!(
        verdict.reason(),
        Some("signature header X-Sig has no signature after \"sha256=\"")
    );
}

#[test]
fn an_empty_secret_never_verifies() {
    let empty = Secret::new("");
    let scheme = HmacScheme::new("X-Sig");
    // Even the signature an empty key makes.
    let sig = scheme.sign(b"body", &empty);
    let request = with_header_bytes(sig.as_bytes(), b"body");
    let reason = Some("the secret is empty, and an empty secret verifies nothing");
    assert_eq!(scheme.verify(&request, &empty).reason(), reason);
    assert_eq!(
        verify_request_signature(&request, "X-Sig", &empty, Algorithm::Sha256).reason(),
        reason
    );
    // Beside a real secret, an empty one is skipped, never matched.
    let real = Secret::new("k");
    let verdict = scheme.verify_any(&request, &[real.clone(), empty]);
    assert_eq!(
        verdict.reason(),
        Some("signature in X-Sig does not match the body")
    );
    assert_eq!(
        scheme.verify_any(&request, &[]).reason(),
        Some("no secret to verify the signature with")
    );
}

#[test]
fn a_signature_of_the_wrong_length_never_verifies() {
    let secret = Secret::new("k");
    let scheme = HmacScheme::new("X-Sig");
    let sig = scheme.sign(b"body", &secret);
    // 31 bytes of hex: the real signature without its last byte.
    let short = &sig[..62];
    let verdict = scheme.verify(&with_header_bytes(short.as_bytes(), b"body"), &secret);
    assert_eq!(
        verdict.reason(),
        Some("signature in X-Sig is 31 bytes long, and an HMAC-SHA256 is 32")
    );
    // One byte too many, and a SHA-256 signature where SHA-512 is expected.
    let long = format!("{sig}00");
    let verdict = scheme.verify(&with_header_bytes(long.as_bytes(), b"body"), &secret);
    assert_eq!(
        verdict.reason(),
        Some("signature in X-Sig is 33 bytes long, and an HMAC-SHA256 is 32")
    );
    let sha512 = HmacScheme::new("X-Sig").with_algorithm(Algorithm::Sha512);
    let verdict = sha512.verify(&with_header_bytes(sig.as_bytes(), b"body"), &secret);
    assert_eq!(
        verdict.reason(),
        Some("signature in X-Sig is 32 bytes long, and an HMAC-SHA512 is 64")
    );
    // An odd number of hex digits is not hex at all.
    let odd = &sig[..63];
    let verdict = scheme.verify(&with_header_bytes(odd.as_bytes(), b"body"), &secret);
    assert_eq!(
        verdict.reason(),
        Some("signature header X-Sig is not valid hex")
    );
}

#[test]
fn any_of_several_secrets_verifies() {
    let (new, old, other) = (Secret::new("new"), Secret::new("old"), Secret::new("x"));
    let scheme = HmacScheme::new("X-Sig").with_prefix("sha256=");
    for signer in [&new, &old] {
        let sig = scheme.sign(b"body", signer);
        let request = with_header_bytes(sig.as_bytes(), b"body");
        assert!(
            scheme
                .verify_any(&request, &[new.clone(), old.clone()])
                .is_verified()
        );
    }
    let sig = scheme.sign(b"body", &other);
    let request = with_header_bytes(sig.as_bytes(), b"body");
    assert_eq!(
        scheme.verify_any(&request, &[new, old]).reason(),
        Some("signature in X-Sig does not match the body")
    );
}
