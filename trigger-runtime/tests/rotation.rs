//! Secret rotation: an endpoint that names several secret variables accepts a request signed
//! with any secret that is set. Tests cannot set variables (`unsafe_code` is denied), so these
//! name variables no test sets and check what does not need them; `tests/secrets.rs` of the
//! workspace's `tests` package sets them on a real server process.

mod common;

use axum::body::Body;
use common::{send, server, signed};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use trigger_runtime::endpoint::{BoxFuture, HttpEndpoint};
use trigger_runtime::prelude::*;
use trigger_runtime::registry::Registry;
use trigger_runtime::server::SecretState;
use trigger_runtime::verify::HmacScheme;

const NEW: &str = "TRIGGER_TEST_ROTATION_NEW_NEVER_SET";
const OLD: &str = "TRIGGER_TEST_ROTATION_OLD_NEVER_SET";

static ROTATED: HttpEndpoint = HttpEndpoint::new("rotated")
    .with_hmac(HmacScheme::new("X-Hub-Signature-256").with_prefix("sha256="))
    .with_secret_envs(&[NEW, OLD]);

fn bearer<'a>(request: &'a Request, secret: &'a Secret) -> BoxFuture<'a, Verification> {
    let token = request.header("authorization").map(str::to_owned);
    let expected = format!("Bearer {}", secret.expose());
    Box::pin(async move {
        if token.as_deref() == Some(expected.as_str()) {
            Verification::Verified
        } else {
            Verification::rejected("wrong token")
        }
    })
}

static ROTATED_TOKEN: HttpEndpoint = HttpEndpoint::new("rotated-token")
    .with_verify_fn(bearer)
    .with_secret_envs(&[NEW, OLD]);

#[http_endpoint(
    id = "macro-rotated",
    header = "X-Sig",
    secret = ["TRIGGER_TEST_MACRO_NEW_NEVER_SET", "TRIGGER_TEST_MACRO_OLD_NEVER_SET"]
)]
fn macro_rotated();

fn request(header: &str, value: &str, body: &'static [u8]) -> Request {
    let mut headers = HeaderMap::new();
    headers.insert(
        http::HeaderName::from_bytes(header.as_bytes()).unwrap(),
        HeaderValue::from_str(value).unwrap(),
    );
    Request::new(Method::POST, "/endpoints/x", headers, body).unwrap()
}

fn hub(secret: &Secret, body: &'static [u8]) -> Request {
    let (header, value) = ROTATED.sign(body, secret).unwrap();
    request(header, &value, body)
}

#[test]
fn the_first_variable_is_the_current_one() {
    assert_eq!(ROTATED.secret_env(), Some(NEW));
    assert_eq!(ROTATED.secret_envs(), [NEW, OLD]);
    assert_eq!(
        macro_rotated.secret_envs(),
        [
            "TRIGGER_TEST_MACRO_NEW_NEVER_SET",
            "TRIGGER_TEST_MACRO_OLD_NEVER_SET"
        ]
    );
    let single = HttpEndpoint::new("single").with_secret_env("ONE");
    assert_eq!(single.secret_envs(), ["ONE"]);
    assert_eq!(single.secret_env(), Some("ONE"));
    let none = HttpEndpoint::new("none").with_secret_envs(&[]);
    assert_eq!(none.secret_env(), None);
    assert!(none.secret_envs().is_empty());
}

#[tokio::test]
async fn a_request_signed_with_any_listed_secret_verifies() {
    let (new, old) = (Secret::new("whsec_new"), Secret::new("whsec_old"));
    let both = [new.clone(), old.clone()];
    for signer in [&new, &old] {
        let verdict = ROTATED
            .verify_with_secrets(&hub(signer, b"{}"), &both)
            .await;
        assert!(verdict.is_verified(), "{verdict:?}");
    }
    let stranger = hub(&Secret::new("whsec_guess"), b"{}");
    assert_eq!(
        ROTATED.verify_with_secrets(&stranger, &both).await.reason(),
        Some("signature in X-Hub-Signature-256 does not match the body")
    );
    // Once the old secret is dropped, its signatures are refused.
    let verdict = ROTATED
        .verify_with_secrets(&hub(&old, b"{}"), std::slice::from_ref(&new))
        .await;
    assert!(!verdict.is_verified());
}

#[tokio::test]
async fn a_custom_verify_fn_is_tried_with_each_secret() {
    let (new, old) = (Secret::new("t_new"), Secret::new("t_old"));
    let both = [new, old];
    for token in ["t_new", "t_old"] {
        let req = request("authorization", &format!("Bearer {token}"), b"");
        let verdict = ROTATED_TOKEN.verify_with_secrets(&req, &both).await;
        assert!(verdict.is_verified(), "{token}: {verdict:?}");
    }
    let req = request("authorization", "Bearer t_guess", b"");
    let verdict = ROTATED_TOKEN.verify_with_secrets(&req, &both).await;
    assert_eq!(verdict.reason(), Some("wrong token"));
    assert_eq!(
        ROTATED_TOKEN.verify_with_secrets(&req, &[]).await.reason(),
        Some("no secret to verify with")
    );
}

#[tokio::test]
async fn with_no_variable_set_the_current_one_is_asked_for() {
    let verdict = ROTATED.verify(&hub(&Secret::new("x"), b"{}")).await;
    assert_eq!(
        verdict.reason(),
        Some(format!("secret not configured: set {NEW}").as_str())
    );

    let registry = Registry::from_parts([&ROTATED], []).unwrap();
    let app = server(registry, common::config()).await;
    let state = app.secret_state("rotated").unwrap();
    assert!(matches!(state, SecretState::Missing { var } if *var == NEW));
    assert!(state.secrets().is_empty());
    let request = signed(&ROTATED, &Secret::new("x"), b"{}")
        .body(Body::from("{}"))
        .unwrap();
    let reply = send(&app, request).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.error(), format!("secret not configured: set {NEW}"));
}

#[test]
fn the_secrets_of_an_env_state_are_in_order_the_current_first() {
    let state = SecretState::Env {
        vars: vec![NEW, OLD],
        secrets: vec![Secret::new("new"), Secret::new("old")],
        unset: vec![],
    };
    assert_eq!(state.secret(), Some(&Secret::new("new")));
    let exposed: Vec<&str> = state.secrets().iter().map(Secret::expose).collect();
    assert_eq!(exposed, ["new", "old"]);
}
