//! Durability of `trigger-fixture` as a real process: what the server acknowledged survives a
//! `kill -9`, durable tasks that completed are not run again, waits resume after a restart and
//! idempotency keys are remembered.
//!
//! Every server of a test runs in the same working directory, so a restart opens the same
//! `.trigger/trigger.db`. A failing test prints every server's stdout and stderr.

use std::io::ErrorKind;
use std::os::unix::process::ExitStatusExt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use trigger_tests::fixture::{
    Ack, COUNTED, Fixture, JobLog, WAITS, accepted, assert_acks_kept, post, run_counts,
    wait_until_settled,
};
use trigger_tests::{RunCounts, Server};

/// Webhooks the crash test sends, and from how many threads.
const REQUESTS: usize = 2000;
const CLIENTS: usize = 32;
/// The crash test kills the server after between `KILL_AFTER` and `KILL_AFTER + 400` acks.
const KILL_AFTER: usize = 600;
/// How long the runs may take to settle after a restart.
const SETTLE: Duration = Duration::from_secs(60);
/// How long one run or log line may take.
const WAIT: Duration = Duration::from_secs(15);

// ---- the crash test's load ----------------------------------------------------------------

/// What the client threads share.
#[derive(Debug, Default)]
struct Load {
    next: AtomicUsize,
    acked: AtomicUsize,
    killed: AtomicBool,
    acks: Mutex<Vec<Ack>>,
    /// Failures that are bugs: answers other than 200, errors before the kill.
    failures: Mutex<Vec<String>>,
    /// Requests cut off by the kill (reset, or refused right after it).
    cut_off: AtomicUsize,
}

impl Load {
    /// One client: sends the next unsent webhook until all are sent or the server is killed.
    fn client(&self, port: u16) {
        while !self.killed.load(Ordering::SeqCst) {
            let n = self.next.fetch_add(1, Ordering::SeqCst);
            if n >= REQUESTS {
                return;
            }
            let body = format!(r#"{{"n":{n},"note":"durability webhook {n} of {REQUESTS}"}}"#);
            match post(port, COUNTED, body.as_bytes(), &[]) {
                Ok(response) if response.status == 200 => {
                    let (event, runs) = accepted(&response);
                    let ack = Ack { body, event, runs };
                    self.acks
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(ack);
                    self.acked.fetch_add(1, Ordering::SeqCst);
                }
                Ok(response) => self.fail(format!("webhook {n}: {response}")),
                Err(_) if self.killed.load(Ordering::SeqCst) => {
                    self.cut_off.fetch_add(1, Ordering::SeqCst);
                }
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                    // The kill landed between the check above and `killed` being set.
                    self.cut_off.fetch_add(1, Ordering::SeqCst);
                }
                Err(e) => self.fail(format!("webhook {n} before the kill: {e}")),
            }
        }
    }

    fn fail(&self, failure: String) {
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        failures.push(failure);
    }
}

/// A kill point between `KILL_AFTER` and `KILL_AFTER + 400` acknowledgements.
fn kill_point() -> usize {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    KILL_AFTER + nanos as usize % 401
}

/// Waits until `load` has `acks` acknowledgements; panics if the clients finish first.
#[track_caller]
fn wait_for_acks(load: &Load, acks: usize) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while load.acked.load(Ordering::SeqCst) < acks {
        let sent = load.next.load(Ordering::SeqCst);
        assert!(
            sent < REQUESTS + CLIENTS,
            "every webhook was sent before {acks} were acknowledged"
        );
        assert!(
            Instant::now() < deadline,
            "fewer than {acks} acknowledgements within 120 s"
        );
        let failures = load.failures.lock().unwrap_or_else(PoisonError::into_inner);
        assert!(failures.is_empty(), "webhooks failed: {failures:#?}");
        drop(failures);
        thread::sleep(Duration::from_millis(1));
    }
}

/// What the crash test's load left when the server was killed.
#[derive(Debug)]
struct Killed {
    /// The acknowledgement count the kill aimed at.
    aimed_at: usize,
    /// Acknowledgements when the server was killed.
    acked: usize,
    /// Webhooks sent (or being sent) when the server was killed.
    sent: usize,
    /// Requests cut off by the kill.
    cut_off: usize,
    /// Every acknowledged webhook.
    acks: Vec<Ack>,
}

/// Loads `server` from [`CLIENTS`] threads and kills it with `SIGKILL` mid-stream; panics if a
/// webhook failed before the kill or if every webhook was sent before it.
#[track_caller]
fn load_until_killed(server: &mut Server) -> Killed {
    let load = Load::default();
    let aimed_at = kill_point();
    let port = server.port();
    let (acked, sent, status) = thread::scope(|scope| {
        for _ in 0..CLIENTS {
            scope.spawn(|| load.client(port));
        }
        wait_for_acks(&load, aimed_at);
        load.killed.store(true, Ordering::SeqCst);
        let status = server.kill();
        let acked = load.acked.load(Ordering::SeqCst);
        let sent = load.next.load(Ordering::SeqCst).min(REQUESTS);
        (acked, sent, status)
    });
    assert_eq!(status.signal(), Some(9), "not killed by SIGKILL: {status}");
    let failures = load
        .failures
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner);
    assert!(failures.is_empty(), "webhooks failed: {failures:#?}");
    assert!(sent < REQUESTS, "every webhook was sent before the kill");
    let acks = load
        .acks
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner);
    let cut_off = load.cut_off.into_inner();
    Killed {
        aimed_at,
        acked,
        sent,
        cut_off,
        acks,
    }
}

/// How the `counted` tasks ran, from the job log at the kill and after the restart.
#[derive(Debug)]
struct Tasks {
    /// Runs that stored their task's output, in the end.
    saved: usize,
    /// Runs that had stored it before the kill.
    saved_at_kill: usize,
    /// Runs whose task had started but not been stored at the kill.
    interrupted: usize,
    /// Of those, the runs whose task ran again.
    ran_twice: usize,
}

/// Checks the job log: a task stored before the kill never ran again, every acknowledged run
/// ran and stored its task, no task ran more than twice, and the runs that stored their task
/// are the `succeeded` runs of `counts`.
#[track_caller]
fn assert_task_log(at_kill: &JobLog, after: &JobLog, acks: &[Ack], counts: RunCounts) -> Tasks {
    assert!(
        after.text().starts_with(at_kill.text()),
        "the log changed before its end"
    );
    let saved_at_kill = at_kill.runs("saved");
    for run in &saved_at_kill {
        let tasks = after.count("task", run);
        assert_eq!(
            tasks, 1,
            "{run} saved its task before the kill, then ran it {tasks} times"
        );
    }
    for run in acks.iter().flat_map(|ack| &ack.runs) {
        assert!(after.count("task", run) >= 1, "{run} never ran its task");
        assert!(
            after.count("saved", run) >= 1,
            "{run} never stored its task"
        );
    }
    let (tasked, saved) = (after.runs("task"), after.runs("saved"));
    assert_eq!(
        tasked, saved,
        "runs that ran their task but never stored it"
    );
    assert_eq!(
        saved.len() as u64,
        counts.succeeded,
        "succeeded runs ≠ runs that stored their task: {counts}"
    );
    let interrupted: Vec<&str> = at_kill
        .runs("task")
        .difference(&saved_at_kill)
        .copied()
        .collect();
    let ran_twice = interrupted
        .iter()
        .filter(|run| after.count("task", run) > 1)
        .count();
    let more_than_twice = tasked.iter().filter(|run| after.count("task", run) > 2);
    assert_eq!(
        more_than_twice.count(),
        0,
        "a task ran more than twice:\n{}",
        after.text()
    );
    Tasks {
        saved: saved.len(),
        saved_at_kill: saved_at_kill.len(),
        interrupted: interrupted.len(),
        ran_twice,
    }
}

// ---- tests --------------------------------------------------------------------------------

#[test]
fn kill_dash_nine_loses_nothing_acknowledged() {
    let started = Instant::now();
    let fixture = Fixture::new();
    let mut first = fixture.server().start();

    // Load it from many threads and kill it mid-stream.
    let killed = load_until_killed(&mut first);
    // The server is dead: nothing appends to the log any more.
    let at_kill = fixture.log();

    // Restart on the same database; every acknowledged event and run must be there and finish.
    let second = fixture.server().start();
    let counts = wait_until_settled(&second, SETTLE);
    assert_eq!((counts.failed, counts.canceled), (0, 0), "{counts}");
    let claimed_again = assert_acks_kept(std::slice::from_ref(&second), &killed.acks, WAIT);

    // Tasks whose output was stored before the kill never ran again; every run ran its task.
    let after = fixture.log();
    let tasks = assert_task_log(&at_kill, &after, &killed.acks, counts);
    let Killed {
        aimed_at,
        acked,
        sent,
        cut_off,
        ..
    } = killed;
    eprintln!(
        "kill -9 after {acked} acks (aimed at {aimed_at}; {sent} of {REQUESTS} sent; {cut_off} \
         cut off in flight or refused); {} runs stored in all, {} unacknowledged; {} tasks \
         stored before the kill, none re-run; {} tasks interrupted, {} ran again; \
         {claimed_again} acknowledged runs claimed again after the restart; {:.1?} in all",
        tasks.saved,
        tasks.saved - killed.acks.len(),
        tasks.saved_at_kill,
        tasks.interrupted,
        tasks.ran_twice,
        started.elapsed(),
    );
}

#[test]
fn a_wait_resumes_after_a_restart() {
    let fixture = Fixture::new();
    let mut first = fixture.server().start();
    let sent = Instant::now();
    let body = br#"{"wait_ms":4000}"#;
    let response = post(first.port(), WAITS, body, &[]).expect("POST the webhook");
    let (_, runs) = accepted(&response);
    let [run] = runs.as_slice() else {
        panic!("expected one `waiter` run: {response}");
    };

    // The run ran its task and suspended: queued again, holding no worker.
    fixture.wait_for_line("before", run, WAIT);
    let waiting = first.wait_for_run_status(run, "queued", WAIT);
    first.signal("TERM");
    let status = first.wait_for_exit(Duration::from_secs(10));
    let status = status.unwrap_or_else(|| panic!("no exit within 10 s of SIGTERM"));
    assert!(status.success(), "the server exited with {status}");
    let stopped = sent.elapsed();
    let log = fixture.log();
    assert_eq!(
        log.count("after", run),
        0,
        "the wait ended before the stop ({stopped:?} after the webhook); the run: {waiting}"
    );

    let second = fixture.server().start();
    let done = second.wait_for_run_status(run, "succeeded", WAIT);
    let waited = sent.elapsed();
    assert!(
        waited >= Duration::from_millis(4000),
        "resumed after {waited:?}: {done}"
    );
    let log = fixture.log();
    assert_eq!(
        (log.count("before", run), log.count("after", run)),
        (1, 1),
        "the log:\n{}",
        log.text()
    );
    assert_eq!(run_counts(&second).succeeded, 1);
}

#[test]
fn a_redelivery_after_a_restart_is_still_a_duplicate() {
    let fixture = Fixture::new();
    let mut first = fixture.server().start();
    let body = br#"{"delivery":"abc"}"#;
    let key = [("Idempotency-Key", "abc")];
    let response = post(first.port(), COUNTED, body, &key).expect("POST the webhook");
    let (event, runs) = accepted(&response);
    assert_eq!(response.json()["duplicate"], false, "{response}");
    // Killed right after the answer: the key must already be on disk.
    first.kill();

    let second = fixture.server().start();
    let again = post(second.port(), COUNTED, body, &key).expect("POST the webhook again");
    assert_eq!(accepted(&again), (event, runs.clone()), "{again}");
    assert_eq!(again.json()["duplicate"], true, "{again}");

    // The one run finishes (claimed again once the killed server's lease expires, if needed).
    let [run] = runs.as_slice() else {
        panic!("expected one `counted` run: {response}");
    };
    second.wait_for_run_status(run, "succeeded", WAIT);
    let counts = wait_until_settled(&second, WAIT);
    assert_eq!(counts.succeeded, 1, "{counts}");
}
