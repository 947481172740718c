//! Every preset against its sender's documented scheme: the providers' published example
//! signatures where they exist, signatures computed here (with the `hmac` crate, not the
//! runtime) otherwise; tampering, missing and empty headers, the tolerance on both sides with
//! the clock set, rotation, and each sender's delivery id.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use http::Method;
use trigger_runtime::request::Request;

mod common;

use common::{post_request as post, request};
use trigger_runtime::testing;
use trigger_runtime::time::Timestamp;
use trigger_runtime::verify::{Preset, Secret, Verification};

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_unix_millis(seconds * 1000)
}

fn check(preset: Preset, request: &Request, secret: &str, now: Timestamp) -> Verification {
    preset
        .scheme()
        .verify_at(request, &[Secret::new(secret)], now)
}

fn reason(preset: Preset, request: &Request, secret: &str, now: Timestamp) -> String {
    check(preset, request, secret, now)
        .reason()
        .unwrap_or_else(|| panic!("{preset} verified {request:?}"))
        .to_owned()
}

fn mac<M: Mac + hmac::digest::KeyInit>(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(key).unwrap();
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

fn sha256_hex(key: &str, message: &str) -> String {
    hex::encode(mac::<Hmac<sha2::Sha256>>(
        key.as_bytes(),
        message.as_bytes(),
    ))
}

fn sha256_base64(key: &[u8], message: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(mac::<Hmac<sha2::Sha256>>(key, message))
}

// The Standard Webhooks specification's test vector (also Svix's documentation example).
const SW_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SW_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const SW_TIMESTAMP: i64 = 1_614_265_330;
const SW_BODY: &[u8] = br#"{"test": 2432232314}"#;
const SW_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

fn standard(prefix: &str, signature: &str, body: &[u8]) -> Request {
    let (id, ts, sig) = (
        format!("{prefix}-id"),
        format!("{prefix}-timestamp"),
        format!("{prefix}-signature"),
    );
    let time = SW_TIMESTAMP.to_string();
    post(&[(&id, SW_ID), (&ts, &time), (&sig, signature)], body)
}

#[test]
fn standard_webhooks_and_svix_verify_the_published_vector() {
    for (preset, prefix) in [
        (Preset::StandardWebhooks, "webhook"),
        (Preset::Svix, "svix"),
    ] {
        let now = at(SW_TIMESTAMP);
        let vector = standard(prefix, SW_SIGNATURE, SW_BODY);
        assert_eq!(
            check(preset, &vector, SW_SECRET, now),
            Verification::Verified
        );
        // The key is the base64 after `whsec_`; pasted without the prefix it is the same.
        let bare = SW_SECRET.trim_start_matches("whsec_");
        assert!(check(preset, &vector, bare, now).is_verified());
        // A sender rotating its secret sends several signatures; one is enough.
        let several =
            format!("v1,AAAAbm90IGl0AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= {SW_SIGNATURE} v2,x");
        assert!(check(preset, &standard(prefix, &several, SW_BODY), SW_SECRET, now).is_verified());

        let tampered = standard(prefix, SW_SIGNATURE, br#"{"test": 2432232315}"#);
        let why = reason(preset, &tampered, SW_SECRET, now);
        assert!(
            why.contains("does not match the signed content `{header:"),
            "{why}"
        );
        let only_v2 = standard(
            prefix,
            "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            SW_BODY,
        );
        assert_eq!(
            reason(preset, &only_v2, SW_SECRET, now),
            format!("signature header {prefix}-signature has no valid v1 signature")
        );
        let unsigned = post(&[(&format!("{prefix}-id"), SW_ID)], SW_BODY);
        assert_eq!(
            reason(preset, &unsigned, SW_SECRET, now),
            format!("missing signature header {prefix}-signature")
        );
        assert!(
            reason(preset, &vector, "whsec_not base64!", now).contains("expected base64"),
            "a secret that cannot be a key is a configuration mistake, said as such"
        );
    }
}

#[test]
fn the_tolerance_refuses_old_and_future_timestamps() {
    let vector = standard("webhook", SW_SIGNATURE, SW_BODY);
    let preset = Preset::StandardWebhooks;
    assert!(check(preset, &vector, SW_SECRET, at(SW_TIMESTAMP + 300)).is_verified());
    assert!(check(preset, &vector, SW_SECRET, at(SW_TIMESTAMP - 300)).is_verified());
    let old = reason(preset, &vector, SW_SECRET, at(SW_TIMESTAMP + 301));
    assert_eq!(
        old,
        "timestamp too old: 1614265330 in webhook-timestamp is 301 s before now, and the tolerance is 300 s"
    );
    let future = reason(preset, &vector, SW_SECRET, at(SW_TIMESTAMP - 3600));
    assert!(
        future.starts_with(
            "timestamp too far in the future: 1614265330 in webhook-timestamp is 3600 s after now"
        ),
        "{future}"
    );
    // A wider tolerance, and none at all.
    let wide = preset
        .scheme()
        .with_tolerance(std::time::Duration::from_secs(600));
    let secrets = [Secret::new(SW_SECRET)];
    assert!(
        wide.verify_at(&vector, &secrets, at(SW_TIMESTAMP + 599))
            .is_verified()
    );
    let off = preset.scheme().with_tolerance(std::time::Duration::ZERO);
    assert!(
        off.verify_at(&vector, &secrets, at(SW_TIMESTAMP + 86_400 * 365))
            .is_verified()
    );
    // A bad signature is refused as such, whatever its timestamp.
    let tampered = standard("webhook", SW_SIGNATURE, b"{}");
    assert!(reason(preset, &tampered, SW_SECRET, at(0)).contains("does not match"));
}

#[test]
fn github_verifies_its_documented_example() {
    // docs.github.com, "Validating webhook deliveries".
    let body = b"Hello, World!";
    let signature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    let ok = post(&[("X-Hub-Signature-256", signature)], body);
    let secret = "It's a Secret to Everybody";
    assert!(check(Preset::Github, &ok, secret, Timestamp::now()).is_verified());
    let upper = post(
        &[(
            "X-Hub-Signature-256",
            &signature.to_uppercase().replace("SHA256=", "sha256="),
        )],
        body,
    );
    assert!(check(Preset::Github, &upper, secret, Timestamp::now()).is_verified());
    let bare = post(&[("X-Hub-Signature-256", &signature[7..])], body);
    assert_eq!(
        reason(Preset::Github, &bare, secret, Timestamp::now()),
        "signature header X-Hub-Signature-256 does not start with \"sha256=\""
    );
    let empty = post(&[("X-Hub-Signature-256", "")], body);
    assert_eq!(
        reason(Preset::Github, &empty, secret, Timestamp::now()),
        "signature header X-Hub-Signature-256 is empty"
    );
}

#[test]
fn slack_verifies_its_documented_example_within_five_minutes() {
    // api.slack.com, "Verifying requests from Slack".
    let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    let signature = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
    let ok = post(
        &[
            ("X-Slack-Request-Timestamp", "1531420618"),
            ("X-Slack-Signature", signature),
        ],
        body.as_bytes(),
    );
    let secret = "8f742231b10e8888abcd99yyyzzz85a5";
    assert!(check(Preset::Slack, &ok, secret, at(1_531_420_618)).is_verified());
    let later = reason(Preset::Slack, &ok, secret, at(1_531_420_618 + 600));
    assert!(later.starts_with("timestamp too old"), "{later}");
    let other_time = post(
        &[
            ("X-Slack-Request-Timestamp", "1531420619"),
            ("X-Slack-Signature", signature),
        ],
        body.as_bytes(),
    );
    assert!(
        reason(Preset::Slack, &other_time, secret, at(1_531_420_618))
            .contains("v0:{timestamp}:{body}")
    );
}

#[test]
fn twilio_verifies_its_documented_example_and_json_bodies_by_their_hash() {
    // twilio.com/docs/usage/security: the URL, then the form's parameters sorted by name.
    let body = "CallSid=CA1234567890ABCDE&Caller=%2B12349013030&Digits=1234&From=%2B12349013030&To=%2B18005551212";
    let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
    let form = request(
        Method::POST,
        url,
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("X-Twilio-Signature", "0/KCTR6DLpKmkAf8muzZqo1nDgQ="),
        ],
        body.as_bytes(),
    );
    assert!(check(Preset::Twilio, &form, "12345", Timestamp::now()).is_verified());

    // A JSON body: the URL carries its SHA-256, and only the URL is signed.
    let json = br#"{"status":"delivered"}"#;
    let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(json));
    let url = format!("https://hooks.example.com/endpoints/twilio?bodySHA256={hash}");
    let signature = base64::engine::general_purpose::STANDARD
        .encode(mac::<Hmac<sha1::Sha1>>(b"12345", url.as_bytes()));
    let headers = [
        ("Content-Type", "application/json"),
        ("X-Twilio-Signature", signature.as_str()),
    ];
    let signed = request(Method::POST, &url, &headers, json);
    assert!(check(Preset::Twilio, &signed, "12345", Timestamp::now()).is_verified());
    let tampered = request(Method::POST, &url, &headers, br#"{"status":"failed"}"#);
    assert_eq!(
        reason(Preset::Twilio, &tampered, "12345", Timestamp::now()),
        "the body does not match bodySHA256 in the URL"
    );
}

#[test]
fn stripe_verifies_any_v1_of_its_header_under_the_raw_secret() {
    let (secret, body, t) = (
        "whsec_stripe_test_secret",
        br#"{"id":"evt_1","object":"event"}"#,
        1_700_000_000,
    );
    let v1 = sha256_hex(
        secret,
        &format!("{t}.{}", std::str::from_utf8(body).unwrap()),
    );
    let header = format!("t={t},v1={},v1={v1},v0=6ffbb59b", "0".repeat(64));
    let ok = post(&[("Stripe-Signature", &header)], body);
    assert!(check(Preset::Stripe, &ok, secret, at(t)).is_verified());
    assert!(reason(Preset::Stripe, &ok, secret, at(t + 301)).starts_with("timestamp too old"));
    let no_t = post(&[("Stripe-Signature", &format!("v1={v1}"))], body);
    assert_eq!(
        reason(Preset::Stripe, &no_t, secret, at(t)),
        "the signature header has no timestamp"
    );
    let v0_only = post(&[("Stripe-Signature", &format!("t={t},v0={v1}"))], body);
    assert_eq!(
        reason(Preset::Stripe, &v0_only, secret, at(t)),
        "signature header Stripe-Signature has no valid v1= signature"
    );
}

/// Verified with `key`, refused with another secret and on another body.
#[track_caller]
fn signs_body_with(preset: Preset, signed: &Request, key: &str, now: Timestamp) {
    assert_eq!(
        check(preset, signed, key, now),
        Verification::Verified,
        "{preset}"
    );
    let why = reason(preset, signed, "another-secret", now);
    assert!(why.contains("does not match"), "{preset}: {why}");
    let headers: Vec<(&str, &str)> = signed
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str(), v.to_str().unwrap()))
        .collect();
    let mut body = signed.body().to_vec();
    body.push(b' ');
    assert!(
        !check(preset, &post(&headers, &body), key, now).is_verified(),
        "{preset}"
    );
}

const BODY: &str =
    r#"{"event_id":"evt_01","notification_id":"ntf_01","webhookTimestamp":1700000000000}"#;
const KEY: &str = "shared-secret";

#[test]
fn paddle_and_zoom_sign_the_timestamp_with_the_body() {
    let now = at(1_700_000_000);
    let h1 = sha256_hex(KEY, &format!("1700000000:{BODY}"));
    let paddle = post(
        &[("Paddle-Signature", &format!("ts=1700000000;h1={h1}"))],
        BODY.as_bytes(),
    );
    signs_body_with(Preset::Paddle, &paddle, KEY, now);
    let v0 = sha256_hex(KEY, &format!("v0:1700000000:{BODY}"));
    let zoom = post(
        &[
            ("x-zm-request-timestamp", "1700000000"),
            ("x-zm-signature", &format!("v0={v0}")),
        ],
        BODY.as_bytes(),
    );
    signs_body_with(Preset::Zoom, &zoom, KEY, now);
}

#[test]
fn shopify_calcom_meta_and_linear_sign_the_body() {
    let now = at(1_700_000_000);
    let (hex, base64) = (
        sha256_hex(KEY, BODY),
        sha256_base64(KEY.as_bytes(), BODY.as_bytes()),
    );
    let cases = [
        (Preset::Shopify, "X-Shopify-Hmac-Sha256", base64),
        (Preset::Calcom, "X-Cal-Signature-256", hex.clone()),
        (Preset::Meta, "X-Hub-Signature-256", format!("sha256={hex}")),
        (Preset::Linear, "Linear-Signature", hex.clone()),
    ];
    for (preset, header, value) in cases {
        signs_body_with(
            preset,
            &post(&[(header, &value)], BODY.as_bytes()),
            KEY,
            now,
        );
    }
    // Linear's timestamp is the body's, in milliseconds.
    let linear = post(&[("Linear-Signature", &hex)], BODY.as_bytes());
    let late = reason(Preset::Linear, &linear, KEY, at(1_700_000_000 + 301));
    assert!(late.starts_with("timestamp too old"), "{late}");
    let untimed = r#"{"action":"create"}"#;
    let untimed = post(
        &[("Linear-Signature", &sha256_hex(KEY, untimed))],
        untimed.as_bytes(),
    );
    assert_eq!(
        reason(Preset::Linear, &untimed, KEY, now),
        "the body has no integer webhookTimestamp"
    );
}

#[test]
fn square_signs_the_url_with_the_body() {
    let url = "https://hooks.example.com/endpoints/x";
    let signature = sha256_base64(KEY.as_bytes(), format!("{url}{BODY}").as_bytes());
    let square = post(
        &[("x-square-hmacsha256-signature", &signature)],
        BODY.as_bytes(),
    );
    signs_body_with(Preset::Square, &square, KEY, Timestamp::now());
    let elsewhere = request(
        Method::POST,
        "https://other.example.com/endpoints/x",
        &[("x-square-hmacsha256-signature", &signature)],
        BODY.as_bytes(),
    );
    assert!(!check(Preset::Square, &elsewhere, KEY, Timestamp::now()).is_verified());
}

#[test]
fn gitlab_compares_its_token_in_constant_time() {
    let ok = post(&[("X-Gitlab-Token", "gl-token")], b"{}");
    assert!(check(Preset::Gitlab, &ok, "gl-token", Timestamp::now()).is_verified());
    assert_eq!(
        reason(Preset::Gitlab, &ok, "gl-token-2", Timestamp::now()),
        "the token in X-Gitlab-Token is not the secret"
    );
    let missing = post(&[], b"{}");
    assert_eq!(
        reason(Preset::Gitlab, &missing, "gl-token", Timestamp::now()),
        "missing signature header X-Gitlab-Token"
    );
}

#[test]
fn discord_verifies_ed25519_signatures_with_the_public_key() {
    let seed = [7u8; 32];
    let public = testing::ed25519_public_key(seed);
    let body = br#"{"id":"1","type":2}"#;
    let scheme = Preset::Discord.scheme();
    let unsigned = post(&[], body);
    let now = at(1_700_000_000);
    let headers = testing::sign_ed25519(&scheme, &unsigned, seed, now);
    let pairs: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let signed = post(&pairs, body);
    assert!(check(Preset::Discord, &signed, &public, now).is_verified());
    assert!(reason(Preset::Discord, &post(&pairs, b"{}"), &public, now).contains("does not match"));
    let other = testing::ed25519_public_key([8u8; 32]);
    assert!(!check(Preset::Discord, &signed, &other, now).is_verified());
    assert_eq!(
        reason(Preset::Discord, &signed, "not-a-key", now),
        "the public key is not valid: expected 64 hex digits"
    );
    let short = post(&[pairs[1], ("X-Signature-Ed25519", "abcd")], body);
    assert!(
        reason(Preset::Discord, &short, &public, now)
            .contains("is 2 bytes long, and an Ed25519 signature is 64")
    );
}

#[test]
fn every_preset_has_a_name_and_a_documented_scheme() {
    for preset in Preset::ALL {
        assert_eq!(Preset::from_name(preset.name()), Some(*preset));
        let shown = preset.scheme().to_string();
        assert!(
            shown.contains(preset.scheme().carrier().header()),
            "{shown}"
        );
    }
    assert_eq!(Preset::from_name("strip"), None);
    assert_eq!(
        Preset::Stripe.scheme().to_string(),
        "HMAC-SHA256 hex of `{timestamp}.{body}` in Stripe-Signature (v1=, timestamp in t=, tolerance 300 s)"
    );
}

#[test]
fn a_rotated_secret_verifies_with_either_and_tampered_headers_with_neither() {
    let now = at(SW_TIMESTAMP);
    let vector = standard("webhook", SW_SIGNATURE, SW_BODY);
    let new = Secret::new("whsec_c2VjcmV0LW9mLWEtcm90YXRlZC1lbmRwb2ludA==");
    let old = Secret::new(SW_SECRET);
    let scheme = Preset::StandardWebhooks.scheme();
    assert!(
        scheme
            .verify_at(&vector, &[new.clone(), old.clone()], now)
            .is_verified()
    );
    assert!(
        !scheme
            .verify_at(&vector, std::slice::from_ref(&new), now)
            .is_verified()
    );
    // The id and the timestamp are signed: changing either breaks the signature.
    let time = SW_TIMESTAMP.to_string();
    let other_id = post(
        &[
            ("webhook-id", "msg_other"),
            ("webhook-timestamp", &time),
            ("webhook-signature", SW_SIGNATURE),
        ],
        SW_BODY,
    );
    assert!(
        !scheme
            .verify_at(&other_id, std::slice::from_ref(&old), now)
            .is_verified()
    );
    let later = (SW_TIMESTAMP + 1).to_string();
    let other_time = post(
        &[
            ("webhook-id", SW_ID),
            ("webhook-timestamp", &later),
            ("webhook-signature", SW_SIGNATURE),
        ],
        SW_BODY,
    );
    assert!(!scheme.verify_at(&other_time, &[old], now).is_verified());
}
