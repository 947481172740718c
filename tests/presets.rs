//! End-to-end tests of `example-presets`: the binary as a real process, with every preset's
//! secret in its environment, receiving each sender's signed requests and handshakes.

use serde_json::{Value, json};
use std::time::Duration;
use trigger_runtime::request::Request;
use trigger_runtime::testing;
use trigger_runtime::time::Timestamp;
use trigger_runtime::verify::{Preset, Secret};
use trigger_tests::{Response, Server};

/// Every preset's secret; valid as Standard Webhooks' base64 key too.
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const DISCORD_SEED: [u8; 32] = [42; 32];
const VERIFY_TOKEN: &str = "meta-verify-token";
const PUBLIC_URL: &str = "https://hooks.example.com";
const WAIT: Duration = Duration::from_secs(15);

fn server() -> Server {
    let mut builder = Server::builder("example-presets")
        .env(
            "DISCORD_PUBLIC_KEY",
            &testing::ed25519_public_key(DISCORD_SEED),
        )
        .env("META_VERIFY_TOKEN", VERIFY_TOKEN)
        .env("TRIGGER_PUBLIC_URL", PUBLIC_URL);
    for preset in Preset::ALL {
        let var = format!("{}_SECRET", preset.name().to_uppercase().replace('-', "_"));
        builder = builder.env(&var, SECRET);
    }
    builder.start()
}

/// A body every preset can take: the ids and the timestamp their schemes read.
fn body(preset: Preset) -> Vec<u8> {
    if preset == Preset::Twilio {
        return b"Body=hello&From=%2B15551234567&MessageSid=SM1".to_vec();
    }
    let id = format!("evt_{}", preset.name());
    let now_ms = Timestamp::now().as_unix_millis();
    serde_json::to_vec(&json!({
        "id": id, "event_id": id, "notification_id": id, "type": 2,
        "webhookTimestamp": now_ms, "data": { "object": "test" }
    }))
    .unwrap()
}

/// The headers `preset`'s sender sends with `body`, signed now.
fn headers(preset: Preset, body: &[u8]) -> Vec<(String, String)> {
    let content_type = if preset == Preset::Twilio {
        "application/x-www-form-urlencoded"
    } else {
        "application/json"
    };
    let mut map = http::HeaderMap::new();
    map.insert("content-type", content_type.parse().unwrap());
    map.insert("webhook-id", "msg_e2e".parse().unwrap());
    map.insert("svix-id", "msg_e2e".parse().unwrap());
    let url = format!("{PUBLIC_URL}/endpoints/{}", preset.name());
    let request = Request::new(http::Method::POST, &url, map.clone(), body.to_vec()).unwrap();
    let scheme = preset.scheme();
    let now = Timestamp::now();
    let signature = match preset {
        Preset::Discord => testing::sign_ed25519(&scheme, &request, DISCORD_SEED, now),
        _ => scheme.sign(&request, &Secret::new(SECRET), now).unwrap(),
    };
    let mut all: Vec<(String, String)> = map
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
        .collect();
    all.extend(signature.into_iter().map(|(n, v)| (n.to_owned(), v)));
    all
}

fn post(server: &Server, preset: Preset, headers: &[(String, String)], body: &[u8]) -> Response {
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    server.send(
        "POST",
        &format!("/endpoints/{}", preset.name()),
        &headers,
        body,
    )
}

#[test]
fn every_preset_verifies_its_senders_signature_and_runs_its_job() {
    let server = server();
    for &preset in Preset::ALL {
        let body = body(preset);
        let headers = headers(preset, &body);
        let accepted = post(&server, preset, &headers, &body);
        assert_eq!(
            accepted.status,
            200,
            "{preset}: {accepted}\n{}",
            server.output()
        );
        let accepted: Value = accepted.json();
        let run = &accepted["runs"][0];
        assert_eq!(
            run["job"],
            format!("log-{}", preset.name()),
            "{preset}: {accepted}"
        );
        server.wait_for_run_status(run["id"].as_str().unwrap(), "succeeded", WAIT);

        // The same headers on another body never verify (GitLab's token signs nothing).
        if preset != Preset::Gitlab {
            let mut tampered = body.clone();
            let last = tampered.len() - 2;
            tampered[last] ^= 1;
            let refused = post(&server, preset, &headers, &tampered);
            assert_eq!(refused.status, 401, "{preset}: {refused}");
        }
        // Nor does nothing at all.
        let unsigned = server.send("POST", &format!("/endpoints/{}", preset.name()), &[], &body);
        assert_eq!(unsigned.status, 401, "{preset}: {unsigned}");
    }
}

#[test]
fn the_presets_answer_their_senders_handshakes() {
    let server = server();
    let slack = br#"{"token":"t","challenge":"c-123","type":"url_verification"}"#;
    let answer = post(
        &server,
        Preset::Slack,
        &headers(Preset::Slack, slack),
        slack,
    );
    assert_eq!(
        (answer.status, answer.json()),
        (200, json!({ "challenge": "c-123" }))
    );

    let ping = br#"{"id":"ping-1","type":1}"#;
    let answer = post(
        &server,
        Preset::Discord,
        &headers(Preset::Discord, ping),
        ping,
    );
    assert_eq!((answer.status, answer.json()), (200, json!({ "type": 1 })));

    let zoom =
        br#"{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event":"endpoint.url_validation"}"#;
    let answer = post(&server, Preset::Zoom, &headers(Preset::Zoom, zoom), zoom);
    assert_eq!(answer.status, 200, "{answer}");
    let expected = trigger_tests::sign(SECRET, b"qgg8vlvZRS6UYooatFL8Aw");
    assert_eq!(
        answer.json(),
        json!({ "plainToken": "qgg8vlvZRS6UYooatFL8Aw", "encryptedToken": expected })
    );

    let subscribe = |token: &str| {
        let path = format!(
            "/endpoints/meta?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444"
        );
        server.send("GET", &path, &[], b"")
    };
    let answer = subscribe(VERIFY_TOKEN);
    assert_eq!(
        (answer.status, answer.body.as_slice()),
        (200, &b"1158201444"[..])
    );
    assert_eq!(subscribe("a-guess").status, 403);

    // None of them stored anything.
    let stats = server.get("/api/v1/stats").json();
    assert_eq!(
        stats["runs"]["queued"].as_u64().unwrap_or(0)
            + stats["runs"]["succeeded"].as_u64().unwrap_or(0),
        0,
        "{stats}"
    );
}
