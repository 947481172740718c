//! Generated secrets of `trigger-fixture` as a real process: an endpoint that names no secret
//! variable (`generated`) gets a random `whsec_` + 64 hex digit secret on first start, shown in
//! the start-up banner and by the `endpoints` command, verified on ingest, and kept in the
//! store across restarts; another installation gets another secret. A secret from a variable
//! (`fixture`'s `FIXTURE_SECRET`) is only named, never shown.
//!
//! An endpoint that names two variables (`rotated`, `secret = ["ROTATED_NEW", "ROTATED_OLD"]`)
//! accepts a body signed with the secret of either that is set, and says which are set.
//!
//! A failing test prints the servers' stdout and stderr.

use std::time::Duration;

use trigger_tests::fixture::{
    COUNTED, Fixture, GENERATED, ROTATED, ROTATED_NEW, ROTATED_OLD, SECRET, SECRET_VAR, SIGNATURE,
};
use trigger_tests::{Response, Server, run_to_exit, sign};

/// The id of the endpoint with a generated secret.
const GENERATED_ID: &str = "generated";
/// How long a banner line or the `endpoints` command may take.
const WAIT: Duration = Duration::from_secs(30);

/// Whether `secret` is `whsec_` and 64 lowercase hex digits (32 random bytes).
fn is_generated_secret(secret: &str) -> bool {
    secret.strip_prefix("whsec_").is_some_and(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// The lines of endpoint `id`'s block in `text` (a banner or `endpoints`' output): the line
/// whose first word is `id`, then the lines indented deeper than it.
fn block<'a>(text: &'a str, id: &str) -> Option<Vec<&'a str>> {
    let indent = |line: &str| line.len() - line.trim_start().len();
    let mut lines = text.lines();
    let head = lines.find(|l| l.split_whitespace().next() == Some(id))?;
    let mut block = vec![head];
    block.extend(lines.take_while(|l| !l.trim().is_empty() && indent(l) > indent(head)));
    Some(block)
}

/// The value of the `{name}:` field in endpoint `id`'s block in `text`; panics, showing
/// `text`, when there is none.
#[track_caller]
fn field(text: &str, id: &str, name: &str) -> String {
    let prefix = format!("{name}:");
    let value = block(text, id).and_then(|block| {
        block[1..]
            .iter()
            .find_map(|line| line.trim().strip_prefix(prefix.as_str()))
            .map(|value| value.trim().to_owned())
    });
    value.unwrap_or_else(|| panic!("no `{name}:` line for endpoint {id:?} in:\n{text}"))
}

/// The generated secret of `generated` in `text`: the first word of its `secret:` field,
/// which must say it was generated and stored; panics, showing `text`, otherwise.
#[track_caller]
fn generated_secret(text: &str) -> String {
    let field = field(text, GENERATED_ID, "secret");
    let Some((secret, note)) = field.split_once(' ') else {
        panic!("no note after the secret in {field:?}; in:\n{text}");
    };
    assert_eq!(note, "(generated and stored)", "in:\n{text}");
    assert!(
        is_generated_secret(secret),
        "{secret:?} is not `whsec_` and 64 lowercase hex digits; in:\n{text}"
    );
    secret.to_owned()
}

/// Waits for the whole endpoint list of `server`'s banner, checks `generated`'s URL line and
/// returns its generated secret.
#[track_caller]
fn banner_secret(server: &Server) -> String {
    // The banner is written in one piece; the jobs heading comes after every endpoint.
    server.wait_for_stdout("jobs:", WAIT);
    let banner = server.stdout();
    let url = format!("http://127.0.0.1:{}{GENERATED}", server.port());
    let head = block(&banner, GENERATED_ID).map(|block| block[0]);
    assert!(
        head.is_some_and(|head| head.split_whitespace().last() == Some(url.as_str())),
        "no `{GENERATED_ID}  {url}` line in the banner:\n{banner}"
    );
    generated_secret(&banner)
}

/// POSTs a JSON body to `generated`, signed with `secret` (or unsigned).
#[track_caller]
fn post_generated(server: &Server, secret: Option<&str>) -> Response {
    let body = br#"{"hello":"generated secrets"}"#;
    let signature = secret.map(|secret| sign(secret, body));
    let mut headers = vec![("Content-Type", "application/json")];
    headers.extend(signature.as_deref().map(|s| (SIGNATURE, s)));
    server.send("POST", GENERATED, &headers, body)
}

/// Checks that `generated` accepts a body signed with `secret`, as an event without runs.
#[track_caller]
fn assert_accepted(server: &Server, secret: &str) {
    let response = post_generated(server, Some(secret));
    assert_eq!(
        response.status, 200,
        "signed with the generated secret: {response}"
    );
    let json = response.json();
    assert!(
        json["event_id"].as_str().is_some_and(|id| !id.is_empty()),
        "no event_id in {json}"
    );
    assert_eq!(
        json["runs"],
        serde_json::json!([]),
        "no job runs on {GENERATED}"
    );
}

/// Checks that `generated` refuses `secret` (or no signature) with a `401` and a reason.
#[track_caller]
fn assert_refused(server: &Server, secret: Option<&str>) {
    let response = post_generated(server, secret);
    assert_eq!(response.status, 401, "signed with {secret:?}: {response}");
    assert!(
        response.json()["error"].is_string(),
        "no error reason: {response}"
    );
}

/// Stops `server` with SIGTERM and waits for it to exit.
#[track_caller]
fn stop(server: &mut Server) {
    server.signal("TERM");
    let status = server.wait_for_exit(WAIT);
    assert!(
        status.is_some(),
        "the server did not stop within {WAIT:?} of SIGTERM"
    );
}

#[test]
fn generated_secret_is_shown_verified_and_kept() {
    let fixture = Fixture::new();
    let mut server = fixture.server().start();
    let secret = banner_secret(&server);
    assert_ne!(secret, SECRET);

    // The banner names where `fixture`'s secret comes from, never its value.
    let from_var = format!("set (from {SECRET_VAR})");
    assert_eq!(field(&server.stdout(), "fixture", "secret"), from_var);

    // Ingest verifies with the generated secret, and only with it.
    assert_accepted(&server, &secret);
    assert_refused(&server, Some(SECRET));
    assert_refused(&server, Some(&format!("whsec_{}", "0".repeat(64))));
    assert_refused(&server, None);
    // `fixture` still verifies with its variable's secret, not the generated one.
    let body = br#"{"n":0}"#;
    let signature = sign(&secret, body);
    let response = server.send("POST", COUNTED, &[(SIGNATURE, signature.as_str())], body);
    assert_eq!(
        response.status, 401,
        "{COUNTED} with the generated secret: {response}"
    );

    // `endpoints`, while the server runs on the same database, shows the same secret.
    let endpoints = run_to_exit(&mut fixture.command(&["endpoints"]), WAIT);
    assert!(
        endpoints.status.success(),
        "`endpoints` failed with {}:\n{}",
        endpoints.status,
        endpoints.output()
    );
    let listed = generated_secret(&endpoints.stdout);
    assert_eq!(listed, secret, "{}", endpoints.output());
    let url = field(&endpoints.stdout, GENERATED_ID, "url");
    assert!(
        url.ends_with(GENERATED),
        "url {url:?}:\n{}",
        endpoints.output()
    );
    assert_eq!(
        field(&endpoints.stdout, "fixture", "secret"),
        from_var,
        "{}",
        endpoints.output()
    );
    assert!(
        !endpoints.output().contains(SECRET),
        "`endpoints` printed the value of {SECRET_VAR}:\n{}",
        endpoints.output()
    );

    // Restarted on the same directory, the server keeps the stored secret.
    stop(&mut server);
    assert!(
        !server.output().contains(SECRET),
        "the server printed the value of {SECRET_VAR}:\n{}",
        server.output()
    );
    drop(server);
    let server = fixture.server().start();
    let restarted = banner_secret(&server);
    assert_eq!(
        restarted,
        secret,
        "a new secret after a restart in {}",
        fixture.dir().display()
    );
    assert_accepted(&server, &secret);
    assert_refused(&server, Some(SECRET));
}

#[test]
fn each_installation_generates_its_own_secret() {
    let first = Fixture::new();
    let first_server = first.server().start();
    let first_secret = banner_secret(&first_server);

    let second = Fixture::new();
    let second_server = second.server().start();
    let second_secret = banner_secret(&second_server);

    assert_ne!(
        first_secret, second_secret,
        "two fresh installations got the same secret"
    );
    assert_accepted(&second_server, &second_secret);
    assert_refused(&second_server, Some(&first_secret));
    assert_refused(&first_server, Some(&second_secret));
}

/// The secrets `rotated` reads in the rotation tests.
const NEW_SECRET: &str = "whsec_rotated_new";
const OLD_SECRET: &str = "whsec_rotated_old";

/// POSTs a JSON body to `rotated`, signed with `secret`.
#[track_caller]
fn post_rotated(server: &Server, secret: &str) -> Response {
    let body = br#"{"hello":"rotation"}"#;
    let signature = sign(secret, body);
    let headers = [
        ("Content-Type", "application/json"),
        (SIGNATURE, &signature),
    ];
    server.send("POST", ROTATED, &headers, body)
}

#[test]
fn a_rotated_endpoint_accepts_the_new_and_the_old_secret() {
    let fixture = Fixture::new();
    let server = fixture
        .server()
        .env(ROTATED_NEW, NEW_SECRET)
        .env(ROTATED_OLD, OLD_SECRET)
        .start();
    server.wait_for_stdout("jobs:", WAIT);
    let both = format!("set (from {ROTATED_NEW}, {ROTATED_OLD})");
    assert_eq!(field(&server.stdout(), "rotated", "secret"), both);
    for secret in [NEW_SECRET, OLD_SECRET] {
        let response = post_rotated(&server, secret);
        assert_eq!(response.status, 200, "signed with {secret}: {response}");
    }
    let response = post_rotated(&server, SECRET);
    assert_eq!(response.status, 401, "{response}");
    assert_eq!(
        response.json()["error"],
        "signature in X-Signature does not match the body"
    );

    let endpoints = run_to_exit(
        fixture
            .command(&["endpoints"])
            .env(ROTATED_NEW, NEW_SECRET)
            .env(ROTATED_OLD, OLD_SECRET),
        WAIT,
    );
    assert_eq!(
        field(&endpoints.stdout, "rotated", "secret"),
        both,
        "{}",
        endpoints.output()
    );
    for output in [server.output(), endpoints.output()] {
        assert!(
            !output.contains(NEW_SECRET) && !output.contains(OLD_SECRET),
            "a rotated secret was printed:\n{output}"
        );
    }
}

#[test]
fn with_only_the_old_secret_set_it_verifies_and_warns() {
    let fixture = Fixture::new();
    let server = fixture.server().env(ROTATED_OLD, OLD_SECRET).start();
    server.wait_for_stdout("jobs:", WAIT);
    let warning = server.wait_for_log(
        &format!("{ROTATED_NEW}, the current secret, is not set"),
        WAIT,
    );
    assert!(warning.contains("WARN"), "{warning}");
    assert_eq!(
        field(&server.stdout(), "rotated", "secret"),
        format!("set (from {ROTATED_OLD}); NOT SET: {ROTATED_NEW}")
    );
    let response = post_rotated(&server, OLD_SECRET);
    assert_eq!(response.status, 200, "{response}");
    let response = post_rotated(&server, NEW_SECRET);
    assert_eq!(response.status, 401, "{response}");
}

#[test]
fn with_no_rotated_secret_set_the_current_one_is_asked_for() {
    let fixture = Fixture::new();
    let server = fixture.server().start();
    server.wait_for_stdout("jobs:", WAIT);
    let response = post_rotated(&server, NEW_SECRET);
    assert_eq!(response.status, 401, "{response}");
    assert_eq!(
        response.json()["error"],
        format!("secret not configured: set {ROTATED_NEW}")
    );
}
