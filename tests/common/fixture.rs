//! The `trigger-fixture` server (`tests/fixture/main.rs`) of the durability and secrets tests:
//! a working directory that keeps its database across restarts, signed posts, the run
//! statistics, the log file its jobs append to and one-shot commands such as `endpoints`.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::{
    Response, RunCounts, Server, ServerBuilder, TempDir, clean_command, http, package_binary,
    poll_until, sign,
};

/// The package and binary of the fixture.
const PACKAGE: &str = "trigger-tests";
const BIN: &str = "trigger-fixture";
/// The variable `fixture` and `waits` take their secret from.
pub const SECRET_VAR: &str = "FIXTURE_SECRET";
/// The secret `fixture` and `waits` verify with (the value of [`SECRET_VAR`]).
pub const SECRET: &str = "whsec_fixture_test";
/// The header that carries the signature.
pub const SIGNATURE: &str = "X-Signature";
/// The endpoint whose `counted` job records a durable task.
pub const COUNTED: &str = "/endpoints/fixture";
/// The endpoint whose `waiter` job waits durably.
pub const WAITS: &str = "/endpoints/waits";
/// The endpoint whose jobs have filters.
pub const ROUTED: &str = "/endpoints/routed";
/// The endpoint whose secret the runtime generates and stores; no job runs on it.
pub const GENERATED: &str = "/endpoints/generated";
/// The endpoint verified with the secret of either [`ROTATED_NEW`] or [`ROTATED_OLD`]; no job
/// runs on it.
pub const ROTATED: &str = "/endpoints/rotated";
/// The variable of `rotated`'s current secret.
pub const ROTATED_NEW: &str = "ROTATED_NEW";
/// The variable of `rotated`'s older secret.
pub const ROTATED_OLD: &str = "ROTATED_OLD";
/// The lease the fixture runs with, so runs of a killed server are claimed again soon.
pub const LEASE: &str = "2s";

/// A fixture installation: a working directory, so every server started from it uses the
/// same `.trigger/trigger.db` (the default database URL), and the jobs' log file.
#[derive(Debug)]
pub struct Fixture {
    dir: TempDir,
    log: PathBuf,
}

impl Default for Fixture {
    fn default() -> Self {
        Self::new()
    }
}

impl Fixture {
    /// A fresh installation: an empty directory, no database, no log.
    pub fn new() -> Self {
        let dir = TempDir::new("fixture");
        let log = dir.path().join("fixture.log");
        Self { dir, log }
    }

    /// A server on this installation: `--port 0`, `--lease 2s`, `--concurrency 8`, the secret
    /// and the log file set. Every server started from it shares the database.
    pub fn server(&self) -> ServerBuilder {
        self.server_with_concurrency(8)
    }

    /// Like [`server`](Self::server), running `concurrency` attempts at once.
    pub fn server_with_concurrency(&self, concurrency: usize) -> ServerBuilder {
        Server::with_binary(&package_binary(PACKAGE, BIN))
            .args(&["--lease", LEASE, "--concurrency", &concurrency.to_string()])
            .current_dir(self.dir.path())
            .env(SECRET_VAR, SECRET)
            .env("FIXTURE_LOG", &self.log.to_string_lossy())
    }

    /// A one-shot command of the fixture binary (such as `endpoints`) on this installation:
    /// the working directory, the secret and the log file set, no inherited `TRIGGER_*` or
    /// `RUST_LOG` variables. Run it with [`run_to_exit`](crate::run_to_exit).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = clean_command(&package_binary(PACKAGE, BIN));
        command
            .args(args)
            .current_dir(self.dir.path())
            .env(SECRET_VAR, SECRET)
            .env("FIXTURE_LOG", &self.log);
        command
    }

    /// The working directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The log file as it is now.
    #[track_caller]
    pub fn log(&self) -> JobLog {
        match std::fs::read_to_string(&self.log) {
            Ok(text) => JobLog::parse(text),
            Err(e) if e.kind() == io::ErrorKind::NotFound => JobLog::parse(String::new()),
            Err(e) => panic!("could not read {}: {e}", self.log.display()),
        }
    }

    /// Waits until the log has a `{kind} {run}` line; returns the log.
    #[track_caller]
    pub fn wait_for_line(&self, kind: &str, run: &str, timeout: Duration) -> JobLog {
        let found = poll_until(timeout, || {
            Some(self.log()).filter(|l| l.count(kind, run) > 0)
        });
        let Some(log) = found else {
            let log = self.log();
            panic!(
                "no `{kind} {run}` line within {timeout:?}; the log:\n{}",
                log.text()
            );
        };
        log
    }
}

/// The lines the fixture's jobs appended, one per `write`: `<kind> <run id>`, or for the
/// `start` and `end` of an execution `<kind> <run id> <pid> <attempt> <µs>` (see [`Mark`]).
#[derive(Debug, Clone)]
pub struct JobLog {
    text: String,
    counts: BTreeMap<(String, String), usize>,
    marks: Vec<Mark>,
}

/// A `start` or `end` line: which server process ran which attempt of a run, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    /// The line's index in the log: the log orders its lines as they were written.
    pub line: usize,
    /// `true` for `start`, `false` for `end`.
    pub start: bool,
    /// The run.
    pub run: String,
    /// The server's process id.
    pub pid: u32,
    /// The attempt, from the job's context.
    pub attempt: u32,
    /// When, in microseconds since the Unix epoch.
    pub at_micros: u128,
}

impl JobLog {
    /// Parses the log; panics on a line that is not `<kind> run_…` (with a pid, an attempt
    /// and a time for `start` and `end`) or on a torn last line, which would mean a line was
    /// not written in one piece.
    #[track_caller]
    fn parse(text: String) -> Self {
        assert!(
            text.is_empty() || text.ends_with('\n'),
            "the log ends in a partial line: {:?}",
            text.lines().last()
        );
        let mut counts = BTreeMap::new();
        let mut marks = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let mut fields = line.split(' ');
            let (kind, run) = (fields.next().unwrap_or(""), fields.next().unwrap_or(""));
            let rest: Vec<&str> = fields.collect();
            assert!(
                !kind.is_empty() && run.starts_with("run_"),
                "a malformed log line {line:?}"
            );
            let number = |field: &str| -> u128 {
                field
                    .parse()
                    .unwrap_or_else(|_| panic!("a malformed log line {line:?}"))
            };
            let mark = match (kind, rest.as_slice()) {
                ("start" | "end", [pid, attempt, at]) => Some(Mark {
                    line: index,
                    start: kind == "start",
                    run: run.to_owned(),
                    pid: u32::try_from(number(pid)).expect("a pid fits 32 bits"),
                    attempt: u32::try_from(number(attempt)).expect("an attempt fits 32 bits"),
                    at_micros: number(at),
                }),
                ("start" | "end", _) => panic!("a malformed log line {line:?}"),
                (_, []) => None,
                _ => panic!("a malformed log line {line:?}"),
            };
            marks.extend(mark);
            *counts.entry((kind.to_owned(), run.to_owned())).or_default() += 1;
        }
        Self {
            text,
            counts,
            marks,
        }
    }

    /// How many lines there are.
    pub fn len(&self) -> usize {
        self.text.lines().count()
    }

    /// Whether there is no line.
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// The `start` and `end` lines, in the order they were written.
    pub fn marks(&self) -> &[Mark] {
        &self.marks
    }

    /// The raw text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// How many `{kind} {run}` lines there are.
    pub fn count(&self, kind: &str, run: &str) -> usize {
        let key = (kind.to_owned(), run.to_owned());
        self.counts.get(&key).copied().unwrap_or(0)
    }

    /// The runs with at least one `{kind}` line.
    pub fn runs(&self, kind: &str) -> BTreeSet<&str> {
        self.counts
            .keys()
            .filter(|(k, _)| k == kind)
            .map(|(_, run)| run.as_str())
            .collect()
    }
}

/// POSTs `body`, signed, to `path` on `127.0.0.1:port`, with `extra` headers.
pub fn post(port: u16, path: &str, body: &[u8], extra: &[(&str, &str)]) -> io::Result<Response> {
    let signature = sign(SECRET, body);
    let mut headers = vec![
        ("Content-Type", "application/json"),
        (SIGNATURE, signature.as_str()),
    ];
    headers.extend_from_slice(extra);
    http::send(port, "POST", path, &headers, body)
}

/// An ingest answer's event id and run ids; panics unless it is a `200` with both.
#[track_caller]
pub fn accepted(response: &Response) -> (String, Vec<String>) {
    assert_eq!(response.status, 200, "not accepted: {response}");
    let json = response.json();
    let event = json["event_id"].as_str();
    let runs: Option<Vec<String>> = json["runs"].as_array().and_then(|runs| {
        runs.iter()
            .map(|run| Some(run["id"].as_str()?.to_owned()))
            .collect()
    });
    match (event, runs) {
        (Some(event), Some(runs)) => (event.to_owned(), runs),
        _ => panic!("no event_id or runs in {json}"),
    }
}

/// The run counts of `GET /api/v1/stats`.
#[track_caller]
pub fn run_counts(server: &Server) -> RunCounts {
    let response = server.get("/api/v1/stats");
    assert_eq!(response.status, 200, "GET /api/v1/stats: {response}");
    let Some(counts) = RunCounts::from_stats(&response.json()) else {
        panic!("no count for every run status in {response}");
    };
    counts
}

/// Waits until no run is queued or running; returns the run counts.
#[track_caller]
pub fn wait_until_settled(server: &Server, timeout: Duration) -> RunCounts {
    let mut last = RunCounts::default();
    let settled = poll_until(timeout, || {
        last = run_counts(server);
        (last.unfinished() == 0).then_some(last)
    });
    let Some(counts) = settled else {
        panic!("runs still queued or running after {timeout:?}: {last}");
    };
    counts
}

/// A webhook a server acknowledged: its body, its event and the runs the answer named.
#[derive(Debug)]
pub struct Ack {
    /// The body sent.
    pub body: String,
    /// The event the answer named.
    pub event: String,
    /// The runs the answer named.
    pub runs: Vec<String>,
}

/// Checks, through the servers in turn, that every acknowledged event is stored with its one
/// `counted` run and that the run succeeded within `wait`; returns how many of those runs took
/// more than one attempt.
#[track_caller]
pub fn assert_acks_kept(servers: &[Server], acks: &[Ack], wait: Duration) -> usize {
    let mut claimed_again = 0;
    for (i, ack) in acks.iter().enumerate() {
        let server = &servers[i % servers.len()];
        let response = server.get(&format!("/api/v1/events/{}", ack.event));
        assert_eq!(
            response.status, 200,
            "acknowledged {} lost: {response}",
            ack.event
        );
        let event = response.json();
        assert_eq!(event["body"], ack.body.as_str(), "{event}");
        let runs: Vec<&str> = event["runs"]
            .as_array()
            .map(|runs| runs.iter().filter_map(|r| r["id"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(runs, ack.runs, "runs of {}: {event}", ack.event);
        assert_eq!(ack.runs.len(), 1, "one `counted` run per event: {event}");
        for run_id in &ack.runs {
            let run = server.wait_for_run_status(run_id, "succeeded", wait);
            if run["attempts"].as_u64() > Some(1) {
                claimed_again += 1;
            }
        }
    }
    claimed_again
}
