//! Each preset's delivery id: the event's deduplication key, taken from where the sender puts
//! it (a signed header, the signed body, or a header the sender sends with every retry), and
//! preferred over the generic `Idempotency-Key`.

mod common;

use common::post_request as post;
use trigger_runtime::request::Request;
use trigger_runtime::verify::Preset;

fn digest(body: &[u8]) -> String {
    hex::encode(<sha2::Sha256 as sha2::Digest>::digest(body))
}

#[track_caller]
fn check(cases: Vec<(Preset, Request, Option<String>)>) {
    for (preset, request, expected) in cases {
        assert_eq!(preset.dedup_key(&request), expected, "{preset}");
    }
}

#[test]
fn signed_ids_come_from_the_signed_headers_or_body() {
    let json = |fields: &str| format!("{{{fields}}}").into_bytes();
    check(vec![
        (
            Preset::StandardWebhooks,
            post(
                &[("webhook-id", "msg_1"), ("Idempotency-Key", "other")],
                b"{}",
            ),
            Some("msg_1".into()),
        ),
        (
            Preset::Svix,
            post(&[("svix-id", "msg_2")], b"{}"),
            Some("msg_2".into()),
        ),
        (
            Preset::Stripe,
            post(&[], &json(r#""id":"evt_3""#)),
            Some("evt_3".into()),
        ),
        (
            Preset::Discord,
            post(&[], &json(r#""id":"123","type":1"#)),
            Some("123".into()),
        ),
        (
            Preset::Paddle,
            post(&[], &json(r#""notification_id":"ntf_1""#)),
            Some("ntf_1".into()),
        ),
        (
            Preset::Square,
            post(&[], &json(r#""event_id":"sq-1""#)),
            Some("sq-1".into()),
        ),
        (
            Preset::Slack,
            post(
                &[("X-Slack-Request-Timestamp", "9")],
                &json(r#""event_id":"Ev01""#),
            ),
            Some("Ev01".into()),
        ),
        (
            Preset::Slack,
            post(&[("X-Slack-Request-Timestamp", "9")], b"a=b"),
            Some(format!("9:sha256:{}", digest(b"a=b"))),
        ),
        (
            Preset::Zoom,
            post(&[("x-zm-request-timestamp", "5")], b"{}"),
            Some(format!("5:sha256:{}", digest(b"{}"))),
        ),
        (
            Preset::Calcom,
            post(&[], b"{}"),
            Some(format!("sha256:{}", digest(b"{}"))),
        ),
        (
            Preset::Meta,
            post(&[], b"[1]"),
            Some(format!("sha256:{}", digest(b"[1]"))),
        ),
    ]);
}

#[test]
fn other_ids_come_from_the_headers_senders_repeat_in_retries() {
    check(vec![
        (
            Preset::Github,
            post(
                &[("X-GitHub-Delivery", "72d3162e"), ("Idempotency-Key", "x")],
                b"{}",
            ),
            Some("72d3162e".into()),
        ),
        (Preset::Github, post(&[], b"{}"), None),
        (
            Preset::Gitlab,
            post(
                &[("X-Gitlab-Event-UUID", "u-1"), ("Idempotency-Key", "k-1")],
                b"{}",
            ),
            Some("k-1".into()),
        ),
        (
            Preset::Gitlab,
            post(&[("X-Gitlab-Event-UUID", "u-1")], b"{}"),
            Some("u-1".into()),
        ),
        (
            Preset::Shopify,
            post(
                &[
                    ("X-Shopify-Event-Id", "e-1"),
                    ("X-Shopify-Webhook-Id", "w-1"),
                ],
                b"{}",
            ),
            Some("e-1".into()),
        ),
        (
            Preset::Twilio,
            post(&[("I-Twilio-Idempotency-Token", "t-1")], b""),
            Some("t-1".into()),
        ),
        (
            Preset::Linear,
            post(&[("Linear-Delivery", "d-1")], b"{}"),
            Some("d-1".into()),
        ),
        (
            Preset::Stripe,
            post(&[("Idempotency-Key", "k")], b"{}"),
            None,
        ),
    ]);
}
