//! The command line of a user's binary against a real server: `send` signs a test webhook with
//! the endpoint's own scheme and follows its run to success; `jobs`, `runs`, `run`, `replay`
//! and `cancel` read and change the same store.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use trigger_tests::{Finished, Server, TempDir, clean_command, package_binary, run_to_exit};

const PACKAGE: &str = "example-caldotcom";
const SECRET: &str = "whsec_cli_test";
const WAIT: Duration = Duration::from_secs(60);

/// The example's binary with `args`, in `dir`, talking to the server on `port`.
fn cli(dir: &Path, port: u16, args: &[&str]) -> Finished {
    let binary = package_binary(PACKAGE, PACKAGE);
    let mut command: Command = clean_command(&binary);
    command
        .args(args)
        .args(["--port", &port.to_string()])
        .env("CALDOTCOM_SECRET", SECRET)
        .current_dir(dir);
    run_to_exit(&mut command, WAIT)
}

#[track_caller]
fn ok(finished: &Finished) -> &str {
    assert!(finished.status.success(), "{}", finished.output());
    &finished.stdout
}

/// The first `run_…` id in `text`.
fn run_id(text: &str) -> String {
    let start = text
        .find("run_")
        .unwrap_or_else(|| panic!("no run id in {text}"));
    text[start..]
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn send_signs_a_test_webhook_and_follows_its_run_to_success() {
    let dir = TempDir::new("cli");
    let server = Server::builder(PACKAGE)
        .env("CALDOTCOM_SECRET", SECRET)
        .current_dir(dir.path())
        .start();
    let sent = cli(dir.path(), server.port(), &["send", "cal.com"]);
    let out = ok(&sent);
    assert!(out.contains("POST http://127.0.0.1:"), "{}", sent.output());
    assert!(
        out.contains("\"job\":\"http-caldotcom\""),
        "{}",
        sent.output()
    );
    assert!(
        out.contains("http-caldotcom  succeeded"),
        "{}",
        sent.output()
    );
    let id = run_id(out);

    // The same run through the store: listed, shown with its logs, replayed.
    let runs = cli(
        dir.path(),
        server.port(),
        &["runs", "--job", "http-caldotcom"],
    );
    assert!(
        ok(&runs).contains(&format!("{id}  succeeded")),
        "{}",
        runs.output()
    );
    let run = cli(dir.path(), server.port(), &["run", &id]);
    let shown = ok(&run);
    assert!(
        shown.contains("succeeded  job http-caldotcom@1.0.0"),
        "{}",
        run.output()
    );
    assert!(shown.contains("INFO  Body"), "{}", run.output());
    let replay = cli(dir.path(), server.port(), &["replay", &id]);
    let replayed = run_id(ok(&replay));
    assert_ne!(replayed, id);
    server.wait_for_run_status(&replayed, "succeeded", WAIT);
    let jobs = cli(dir.path(), server.port(), &["jobs"]);
    assert!(ok(&jobs).contains("0 failed"), "{}", jobs.output());

    // A finished run cannot be canceled; an unknown one is named.
    let cancel = cli(dir.path(), server.port(), &["cancel", &id]);
    assert!(!cancel.status.success());
    assert!(
        cancel.stderr.contains("already succeeded"),
        "{}",
        cancel.output()
    );
    let unknown = cli(dir.path(), server.port(), &["run", "run_nope"]);
    assert!(
        unknown.stderr.contains("no run \"run_nope\""),
        "{}",
        unknown.output()
    );
}

#[test]
fn send_job_sends_its_example_payload_and_follows_its_runs() {
    let dir = TempDir::new("cli");
    let server = Server::builder(PACKAGE)
        .env("CALDOTCOM_SECRET", SECRET)
        .current_dir(dir.path())
        .start();
    // A cancellation: it starts the filtered job and the one without a filter.
    let example = cli(
        dir.path(),
        server.port(),
        &["send", "cal.com", "--job", "booking-cancelled"],
    );
    let out = ok(&example);
    assert!(
        out.contains("booking-cancelled  succeeded") && out.contains("http-caldotcom  succeeded"),
        "{}",
        example.output()
    );
}

#[test]
fn send_says_what_went_wrong() {
    let dir = TempDir::new("cli");
    let server = Server::builder(PACKAGE)
        .env("CALDOTCOM_SECRET", SECRET)
        .current_dir(dir.path())
        .start();
    // Another secret than the server's: the server's refusal, word for word.
    let binary = package_binary(PACKAGE, PACKAGE);
    let mut command = clean_command(&binary);
    command
        .args(["send", "cal.com", "--port", &server.port().to_string()])
        .env("CALDOTCOM_SECRET", "not-the-secret")
        .current_dir(dir.path());
    let refused = run_to_exit(&mut command, WAIT);
    assert!(!refused.status.success());
    assert!(
        refused.stderr.contains(
            "the server answered 401: signature in X-Cal-Signature-256 does not match the body"
        ),
        "{}",
        refused.output()
    );
    let without = cli(
        dir.path(),
        server.port(),
        &["send", "cal.com", "--job", "http-caldotcom"],
    );
    assert!(
        without.stderr.contains(
            "job \"http-caldotcom\" has no example payload; add `example = \"payloads/http-caldotcom.json\"`"
        ),
        "{}",
        without.output()
    );
    let no_job = cli(
        dir.path(),
        server.port(),
        &["send", "cal.com", "--job", "nope"],
    );
    assert!(
        no_job
            .stderr
            .contains("no job \"nope\"; the jobs of cal.com are"),
        "{}",
        no_job.output()
    );
    let unknown = cli(dir.path(), server.port(), &["send", "nope"]);
    assert!(
        unknown
            .stderr
            .contains("no endpoint \"nope\"; the endpoints are cal.com"),
        "{}",
        unknown.output()
    );
    drop(server);
    let down = cli(dir.path(), 1, &["send", "cal.com"]);
    assert!(
        down.stderr
            .contains("could not reach the server at 127.0.0.1:1 (is it running?)"),
        "{}",
        down.output()
    );
}

#[test]
fn json_logs_name_the_request_and_the_run_of_each_line() {
    let dir = TempDir::new("cli");
    let server = Server::builder(PACKAGE)
        .env("CALDOTCOM_SECRET", SECRET)
        .args(&["--log-format", "json"])
        .current_dir(dir.path())
        .start();
    let sent = cli(dir.path(), server.port(), &["send", "cal.com"]);
    let id = run_id(ok(&sent));
    let parse = |line: &str| -> serde_json::Value {
        serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    };

    let accepted = parse(&server.wait_for_log("accepted webhook", WAIT));
    assert_eq!(accepted["level"], "INFO", "{accepted}");
    assert_eq!(accepted["fields"]["endpoint"], "cal.com", "{accepted}");
    assert_eq!(accepted["span"]["name"], "request", "{accepted}");
    assert_eq!(accepted["span"]["method"], "POST", "{accepted}");
    assert_eq!(accepted["span"]["path"], "/endpoints/cal.com", "{accepted}");

    // The job's own log line, inside its run's span.
    let logged = parse(&server.wait_for_log(&format!("\"run\":\"{id}\""), WAIT));
    assert_eq!(logged["span"]["name"], "run", "{logged}");
    assert_eq!(logged["span"]["run"], id.as_str(), "{logged}");
    assert_eq!(logged["span"]["job"], "http-caldotcom", "{logged}");
    assert_eq!(logged["span"]["attempt"], 1, "{logged}");
    assert_eq!(
        logged["span"]["event"], accepted["fields"]["event"],
        "{logged}"
    );
    // Every line is one JSON object.
    let output = server.output();
    let stderr = output
        .split("--- server stderr ---\n")
        .nth(1)
        .unwrap_or_default()
        .trim_end_matches("--- end ---");
    for line in stderr.lines().filter(|l| !l.is_empty()) {
        parse(line);
    }
}
