//! Several `trigger-fixture` servers on one PostgreSQL schema share one queue (issue 11): with
//! one of three killed by `kill -9` mid-load and restarted, every acknowledged webhook's runs
//! succeed and no run ever executes on two servers at once; a webhook delivered to a busy
//! server is taken at once by an idle one, woken by `NOTIFY`.
//!
//! Every server of a test runs in the fixture's one working directory, so the jobs of all of
//! them append to one log file, whose order is the order in which the lines were written
//! (`O_APPEND`, one `write` per line): the `start` and `end` lines of `counted` (with the
//! server's pid) show which executions of a run overlapped in time. The database is a fresh
//! schema of `TRIGGER_TEST_DATABASE_URL`, dropped at the end; without that variable the tests
//! are skipped, and the skip is printed. A failing test prints every server's output and keeps
//! the schema and the working directory.

// `TestSchema`: a PostgreSQL schema of this test's own, or a printed skip.
#[path = "common/database.rs"]
#[allow(unreachable_pub)] // shared with the runtime's tests, where it is `pub`
mod database;

use std::collections::{BTreeMap, BTreeSet};
use std::io::ErrorKind;
use std::os::unix::process::ExitStatusExt;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use trigger_tests::fixture::{
    Ack, COUNTED, Fixture, JobLog, LEASE, Mark, accepted, assert_acks_kept, post,
    wait_until_settled,
};
use trigger_tests::{RunCounts, Server, ServerBuilder};

use self::database::TestSchema;

/// Servers on the one schema.
const SERVERS: usize = 3;
/// Webhooks the crash test sends at least, and from how many threads.
const REQUESTS: usize = 3000;
const CLIENTS: usize = 24;
/// The crash test kills a server after between `KILL_AFTER` and `KILL_AFTER + 400` acks.
const KILL_AFTER: usize = 600;
/// The load goes on until the restarted server acknowledged this many webhooks.
const AFTER_RESTART: usize = 100;
/// How long the runs may take to settle after the load.
const SETTLE: Duration = Duration::from_secs(120);
/// How long one run or log line may take.
const WAIT: Duration = Duration::from_secs(15);

/// The tests of this file run one at a time: the wake-up test measures milliseconds, which the
/// crash test's load on the same machine would blur.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Microseconds since the Unix epoch, the clock of the job log's `start` and `end` lines.
fn now_micros() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros())
}

/// A number below `bound` that differs from call to call (no need for a good generator).
fn jitter(bound: u64) -> u64 {
    static STATE: Mutex<u64> = Mutex::new(0);
    let mut state = STATE.lock().unwrap_or_else(PoisonError::into_inner);
    if *state == 0 {
        *state = u64::try_from(now_micros() % u128::from(u64::MAX)).unwrap_or(1) | 1;
    }
    // xorshift64
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state % bound.max(1)
}

/// A fixture installation whose servers share a fresh PostgreSQL schema.
#[derive(Debug)]
struct Cluster {
    fixture: Fixture,
    schema: Option<TestSchema>,
    url: String,
}

impl Cluster {
    /// `None`, with the skip printed, without a test database.
    fn new(test: &str) -> Option<Self> {
        let schema = TestSchema::new(test)?;
        let url = schema.url();
        Some(Self {
            fixture: Fixture::new(),
            schema: Some(schema),
            url,
        })
    }

    /// A server on the shared schema (see [`Fixture::server`]).
    fn server(&self) -> ServerBuilder {
        self.fixture.server().args(&["--database-url", &self.url])
    }

    /// A server on the shared schema running `concurrency` attempts at once.
    fn server_with_concurrency(&self, concurrency: usize) -> ServerBuilder {
        self.fixture
            .server_with_concurrency(concurrency)
            .args(&["--database-url", &self.url])
    }

    /// Kills `servers`, then drops the schema.
    fn finish(mut self, servers: Vec<Server>) {
        drop(servers);
        let Some(schema) = self.schema.take() else {
            return;
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime to drop the schema");
        runtime.block_on(schema.drop_schema());
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(schema) = &self.schema {
            if thread::panicking() {
                eprintln!(
                    "kept the PostgreSQL schema {} for inspection",
                    schema.name()
                );
            }
        }
    }
}

// ---- the crash test's load ----------------------------------------------------------------

/// What the client threads share.
#[derive(Debug)]
struct Load {
    /// The port of each server, `None` while it is down.
    ports: Mutex<[Option<u16>; SERVERS]>,
    next: AtomicUsize,
    acked: AtomicUsize,
    /// Acknowledgements per port.
    acked_by: Mutex<BTreeMap<u16, usize>>,
    /// The killed server's port (0 before the kill): the only one whose requests may fail.
    killed_port: AtomicU32,
    /// The restarted server's port (0 before it listens).
    restarted_port: AtomicU32,
    restarted_acked: AtomicUsize,
    /// Set when the clients must stop (a failure, or a deadline).
    stop: AtomicBool,
    acks: Mutex<Vec<Ack>>,
    /// Failures that are bugs: answers other than 200, errors from a live server.
    failures: Mutex<Vec<String>>,
    /// Requests to the killed server cut off by the kill (reset, or refused right after it).
    cut_off: AtomicUsize,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Load {
    fn new(servers: &[Server]) -> Self {
        let mut ports = [None; SERVERS];
        for (port, server) in ports.iter_mut().zip(servers) {
            *port = Some(server.port());
        }
        Self {
            ports: Mutex::new(ports),
            next: AtomicUsize::new(0),
            acked: AtomicUsize::new(0),
            acked_by: Mutex::new(BTreeMap::new()),
            killed_port: AtomicU32::new(0),
            restarted_port: AtomicU32::new(0),
            restarted_acked: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            acks: Mutex::new(Vec::new()),
            failures: Mutex::new(Vec::new()),
            cut_off: AtomicUsize::new(0),
        }
    }

    /// Whether the load is done: [`REQUESTS`] sent and [`AFTER_RESTART`] acknowledged by the
    /// restarted server (or twice as many sent, so it ends even if that server never answers).
    fn done(&self, sent: usize) -> bool {
        let restarted = self.restarted_acked.load(Ordering::SeqCst);
        self.stop.load(Ordering::SeqCst)
            || sent >= 2 * REQUESTS
            || (sent >= REQUESTS && restarted >= AFTER_RESTART)
    }

    /// The port for webhook `n`: the servers in turn, skipping one that is down.
    fn port_for(&self, n: usize) -> Option<u16> {
        let ports = lock(&self.ports);
        (0..SERVERS).find_map(|i| ports[(n + i) % SERVERS])
    }

    /// One client: sends the next webhook until the load is done.
    fn client(&self) {
        loop {
            let n = self.next.fetch_add(1, Ordering::SeqCst);
            if self.done(n) {
                return;
            }
            let Some(port) = self.port_for(n) else {
                self.fail(format!("webhook {n}: no server is up"));
                return;
            };
            let body = format!(r#"{{"n":{n},"note":"cluster webhook {n}"}}"#);
            match post(port, COUNTED, body.as_bytes(), &[]) {
                Ok(response) if response.status == 200 => {
                    let (event, runs) = accepted(&response);
                    lock(&self.acks).push(Ack { body, event, runs });
                    *lock(&self.acked_by).entry(port).or_default() += 1;
                    self.acked.fetch_add(1, Ordering::SeqCst);
                    if u32::from(port) == self.restarted_port.load(Ordering::SeqCst) {
                        self.restarted_acked.fetch_add(1, Ordering::SeqCst);
                    }
                }
                Ok(response) => self.fail(format!("webhook {n} to :{port}: {response}")),
                Err(_) if u32::from(port) == self.killed_port.load(Ordering::SeqCst) => {
                    self.cut_off.fetch_add(1, Ordering::SeqCst);
                }
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                    self.fail(format!(
                        "webhook {n}: a live server on :{port} refused: {e}"
                    ));
                }
                Err(e) => self.fail(format!("webhook {n} to the live server on :{port}: {e}")),
            }
        }
    }

    fn fail(&self, failure: String) {
        lock(&self.failures).push(failure);
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Panics if a webhook failed.
    #[track_caller]
    fn assert_no_failures(&self) {
        let failures = lock(&self.failures);
        assert!(failures.is_empty(), "webhooks failed: {failures:#?}");
    }

    /// Waits until `acks` webhooks were acknowledged; panics if a webhook failed, if the load
    /// ended first or after two minutes.
    #[track_caller]
    fn wait_for_acks(&self, acks: usize) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while self.acked.load(Ordering::SeqCst) < acks {
            self.assert_no_failures();
            let sent = self.next.load(Ordering::SeqCst);
            assert!(
                !self.done(sent),
                "the load ended before {acks} acknowledgements"
            );
            assert!(
                Instant::now() < deadline,
                "fewer than {acks} acknowledgements within 120 s"
            );
            thread::sleep(Duration::from_millis(1));
        }
    }
}

/// A kill point between `KILL_AFTER` and `KILL_AFTER + 400` acknowledgements.
fn kill_point() -> usize {
    KILL_AFTER + usize::try_from(jitter(401)).unwrap_or(0)
}

/// What the crash test's kill and restart left.
#[derive(Debug)]
struct Killed {
    /// Which server was killed, and its pid.
    index: usize,
    pid: u32,
    /// The acknowledgement count the kill aimed at, and the count at the kill.
    aimed_at: usize,
    acked: usize,
    /// The job log right after the kill: the killed server appends nothing after it.
    log: JobLog,
    /// When it was killed (after the process was reaped), in µs since the epoch.
    at_micros: u128,
    /// How long the restarted server took to listen.
    restart: Duration,
}

/// What the load left: every acknowledgement and how the load went.
#[derive(Debug)]
struct Loaded {
    acks: Vec<Ack>,
    /// Acknowledgements per port.
    acked_by: BTreeMap<u16, usize>,
    /// Acknowledgements by the restarted server.
    restarted_acked: usize,
    /// Webhooks sent, or being sent when the load ended.
    sent: usize,
    /// Requests cut off by the kill.
    cut_off: usize,
    /// How long the load took.
    took: Duration,
}

/// Stops the clients if the main thread panics, so that the scope ends soon.
struct StopOnPanic<'a>(&'a Load);

impl Drop for StopOnPanic<'_> {
    fn drop(&mut self) {
        if thread::panicking() {
            self.0.stop.store(true, Ordering::SeqCst);
        }
    }
}

/// Loads `servers` from [`CLIENTS`] threads, kills one with `SIGKILL` mid-stream and restarts
/// it on the same schema, while the load goes on; returns the kill and every acknowledgement.
#[track_caller]
fn load_kill_and_restart(cluster: &Cluster, servers: &mut [Server]) -> (Killed, Loaded) {
    let load = Load::new(servers);
    let aimed_at = kill_point();
    let index = usize::try_from(jitter(SERVERS as u64)).unwrap_or(0);
    let started = Instant::now();
    let killed = thread::scope(|scope| {
        for _ in 0..CLIENTS {
            scope.spawn(|| load.client());
        }
        let _stop = StopOnPanic(&load);
        kill_and_restart(cluster, servers, &load, aimed_at, index)
    });
    let took = started.elapsed();
    load.assert_no_failures();
    let loaded = Loaded {
        acks: load
            .acks
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner),
        acked_by: load
            .acked_by
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner),
        restarted_acked: load.restarted_acked.into_inner(),
        sent: load.next.into_inner().min(2 * REQUESTS),
        cut_off: load.cut_off.into_inner(),
        took,
    };
    (killed, loaded)
}

/// The main thread's part of [`load_kill_and_restart`].
#[track_caller]
fn kill_and_restart(
    cluster: &Cluster,
    servers: &mut [Server],
    load: &Load,
    aimed_at: usize,
    index: usize,
) -> Killed {
    load.wait_for_acks(aimed_at);
    let victim = &mut servers[index];
    let pid = victim.pid();
    // From now on, failed requests to this port are expected: it is being killed.
    load.killed_port
        .store(u32::from(victim.port()), Ordering::SeqCst);
    lock(&load.ports)[index] = None;
    let status = victim.kill();
    let at_micros = now_micros();
    let acked = load.acked.load(Ordering::SeqCst);
    let log = cluster.fixture.log();
    assert_eq!(status.signal(), Some(9), "not killed by SIGKILL: {status}");
    assert!(
        !load.done(load.next.load(Ordering::SeqCst)),
        "the load ended at the kill"
    );

    // Restarted on the same schema while the other two take the load.
    let restarting = Instant::now();
    let restarted = cluster.server().start();
    let restart = restarting.elapsed();
    load.restarted_port
        .store(u32::from(restarted.port()), Ordering::SeqCst);
    lock(&load.ports)[index] = Some(restarted.port());
    servers[index] = restarted;
    Killed {
        index,
        pid,
        aimed_at,
        acked,
        log,
        at_micros,
        restart,
    }
}

// ---- the checks -------------------------------------------------------------------------------

/// One execution of a run, from its `start` line to its `end` line (or to the kill).
#[derive(Debug, Clone)]
struct Execution {
    pid: u32,
    attempt: u32,
    /// Its `start` line's index and time.
    line: usize,
    at_micros: u128,
}

impl std::fmt::Display for Execution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Self {
            pid,
            attempt,
            line,
            at_micros,
        } = self;
        write!(
            f,
            "pid {pid} attempt {attempt} from line {} (at {at_micros} µs)",
            line + 1
        )
    }
}

/// What the job log says about the executions.
#[derive(Debug, Default)]
struct Executions {
    /// Executions (`start` lines) in all.
    started: usize,
    /// Executions per server process.
    by_pid: BTreeMap<u32, usize>,
    /// Runs executed more than once.
    again: usize,
    /// The killed server's executions that had not ended at the kill.
    interrupted: usize,
    /// How long after the kill each of those runs started again, in ms (min, max).
    rerun_after_ms: Option<(u128, u128)>,
}

/// The job log's `start` and `end` lines read in order, with the executions still running.
#[derive(Debug)]
struct Scan<'a> {
    killed: &'a Killed,
    /// The log's length right after the kill.
    kill_line: usize,
    killed_closed: bool,
    open: BTreeMap<&'a str, Vec<Execution>>,
    last_attempt: BTreeMap<&'a str, u32>,
    /// The killed server's executions that had not ended at the kill, until run again.
    interrupted: BTreeMap<&'a str, Execution>,
    rerun_after_ms: Vec<u128>,
    overlaps: Vec<String>,
    stats: Executions,
}

impl<'a> Scan<'a> {
    fn new(killed: &'a Killed) -> Self {
        Self {
            killed,
            kill_line: killed.log.len(),
            killed_closed: false,
            open: BTreeMap::new(),
            last_attempt: BTreeMap::new(),
            interrupted: BTreeMap::new(),
            rerun_after_ms: Vec::new(),
            overlaps: Vec::new(),
            stats: Executions::default(),
        }
    }

    /// Reads one line.
    #[track_caller]
    fn read(&mut self, mark: &'a Mark) {
        if mark.line >= self.kill_line && !self.killed_closed {
            self.kill();
        }
        assert!(
            mark.line < self.kill_line || mark.pid != self.killed.pid,
            "the killed server (pid {}) wrote line {} after its kill",
            mark.pid,
            mark.line + 1
        );
        if mark.start {
            self.start(mark);
        } else {
            self.end(mark);
        }
    }

    /// The kill: the killed server's unfinished executions end here.
    fn kill(&mut self) {
        self.killed_closed = true;
        let pid = self.killed.pid;
        for (run, executions) in &mut self.open {
            let (dead, live): (Vec<Execution>, Vec<Execution>) = std::mem::take(executions)
                .into_iter()
                .partition(|e| e.pid == pid);
            *executions = live;
            for execution in dead {
                self.interrupted.insert(run, execution);
            }
        }
    }

    #[track_caller]
    fn start(&mut self, mark: &'a Mark) {
        let run = mark.run.as_str();
        let execution = Execution {
            pid: mark.pid,
            attempt: mark.attempt,
            line: mark.line,
            at_micros: mark.at_micros,
        };
        self.stats.started += 1;
        *self.stats.by_pid.entry(mark.pid).or_default() += 1;
        let running = self.open.entry(run).or_default();
        for other in running.iter() {
            self.overlaps.push(format!(
                "{run}: {execution} started while {other} had not ended"
            ));
        }
        if let Some(previous) = self.last_attempt.insert(run, mark.attempt) {
            self.stats.again += 1;
            assert!(
                mark.attempt > previous,
                "{run}: {execution} after attempt {previous}"
            );
        }
        if let Some(lost) = self.interrupted.remove(run) {
            assert_ne!(mark.pid, lost.pid, "{run}: started again by the killed pid");
            let after = mark.at_micros.saturating_sub(self.killed.at_micros) / 1000;
            self.rerun_after_ms.push(after);
        }
        running.push(execution);
    }

    #[track_caller]
    fn end(&mut self, mark: &'a Mark) {
        let running = self.open.entry(mark.run.as_str()).or_default();
        let ended = running
            .iter()
            .position(|e| (e.pid, e.attempt) == (mark.pid, mark.attempt));
        let Some(ended) = ended else {
            panic!("an end without a start: {mark:?}");
        };
        running.remove(ended);
    }

    /// Panics on overlaps, on executions of live servers that never ended and on interrupted
    /// runs that never ran again.
    #[track_caller]
    fn finish(mut self) -> Executions {
        if !self.killed_closed {
            self.kill();
        }
        assert!(
            self.overlaps.is_empty(),
            "runs executed on two servers at once:\n{}",
            self.overlaps.join("\n")
        );
        let unended: Vec<String> = self
            .open
            .iter()
            .flat_map(|(run, executions)| executions.iter().map(move |e| format!("{run}: {e}")))
            .collect();
        assert!(
            unended.is_empty(),
            "executions of live servers that never ended:\n{}",
            unended.join("\n")
        );
        assert!(
            self.interrupted.is_empty(),
            "interrupted runs never started again: {:?}",
            self.interrupted.keys().collect::<Vec<_>>()
        );
        let after = &self.rerun_after_ms;
        self.stats.interrupted = after.len();
        self.stats.rerun_after_ms = after.iter().min().copied().zip(after.iter().max().copied());
        self.stats
    }
}

/// Checks that no two executions of a run overlapped: in the log's order (the order of the
/// writes), no run has a `start` while another execution of it has started and not ended.
/// The killed server's executions that had not ended end at the kill (the log's length right
/// after the process was reaped): it wrote nothing after it. Also checks that each execution
/// of a run has a higher attempt than the one before, that every execution of a live server
/// ended, and that every interrupted run started again, on another server.
#[track_caller]
fn assert_never_on_two_at_once(log: &JobLog, killed: &Killed) -> Executions {
    let mut scan = Scan::new(killed);
    for mark in log.marks() {
        scan.read(mark);
    }
    scan.finish()
}

/// Checks the durable task across servers: a task stored before the kill never ran again,
/// every acknowledged run ran and stored its task, and the runs that stored their task are the
/// `succeeded` runs of `counts`.
#[track_caller]
fn assert_tasks(at_kill: &JobLog, after: &JobLog, acks: &[Ack], counts: RunCounts) {
    assert!(
        after.text().starts_with(at_kill.text()),
        "the log changed before its end"
    );
    for run in &at_kill.runs("saved") {
        let tasks = after.count("task", run);
        assert_eq!(
            tasks, 1,
            "{run} saved its task before the kill, then ran it {tasks} times"
        );
    }
    for run in acks.iter().flat_map(|ack| &ack.runs) {
        assert!(after.count("start", run) >= 1, "{run} never started");
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
}

// ---- tests --------------------------------------------------------------------------------

/// Checks that each server acknowledged webhooks, the restarted one at least
/// [`AFTER_RESTART`].
#[track_caller]
fn assert_spread(loaded: &Loaded, ports: &[u16]) {
    let Loaded {
        acked_by,
        restarted_acked,
        ..
    } = loaded;
    assert!(
        *restarted_acked >= AFTER_RESTART,
        "the restarted server acknowledged {restarted_acked} webhooks"
    );
    for port in ports {
        assert!(
            acked_by.get(port).copied().unwrap_or(0) > 0,
            "the server on :{port} acknowledged nothing: {acked_by:?}"
        );
    }
}

/// Waits until no run is queued or running; checks that none failed and that every server
/// counts the same runs.
#[track_caller]
fn assert_settled(servers: &[Server]) -> RunCounts {
    let counts = wait_until_settled(&servers[0], SETTLE);
    assert_eq!((counts.failed, counts.canceled), (0, 0), "{counts}");
    for server in &servers[1..] {
        let stats = wait_until_settled(server, WAIT);
        assert_eq!(stats, counts, "every server counts the same runs");
    }
    counts
}

/// Checks that every server process, `pids`, executed runs and that no other did; and that
/// the runs the kill interrupted started again only once their lease could have expired.
#[track_caller]
fn assert_every_server_ran(executions: &Executions, pids: &BTreeSet<u32>) {
    let by_pid = &executions.by_pid;
    for pid in pids {
        assert!(
            by_pid.contains_key(pid),
            "the server with pid {pid} executed nothing: {by_pid:?}"
        );
    }
    let unknown: Vec<&u32> = by_pid.keys().filter(|pid| !pids.contains(pid)).collect();
    assert!(unknown.is_empty(), "executions by unknown pids {unknown:?}");
    // A lease is renewed every third of it: taken back no sooner than two thirds of it after
    // the kill (less a margin for the clocks' reading).
    assert_eq!(LEASE, "2s");
    let earliest_ms = 2000 * 2 / 3 - 100;
    if let Some((min, _)) = executions.rerun_after_ms {
        assert!(
            min >= earliest_ms,
            "an interrupted run started again {min} ms after the kill, before its lease could \
             expire"
        );
    }
}

/// How long the crash test's phases took.
#[derive(Debug)]
struct Timings {
    up: Duration,
    settle: Duration,
    check: Duration,
    started: Instant,
}

/// Prints what the crash test did.
fn report(
    killed: &Killed,
    loaded: &Loaded,
    counts: RunCounts,
    claimed_again: usize,
    executions: &Executions,
    timings: &Timings,
) {
    let by_pid: Vec<String> = executions
        .by_pid
        .iter()
        .map(|(pid, n)| format!("{pid}: {n}"))
        .collect();
    eprintln!(
        "{SERVERS} servers up in {:.1?}; {} acks of {} webhooks from {CLIENTS} threads in \
         {:.1?} (per port {:?}); kill -9 of server {} (pid {}) after {} acks (aimed at {}), {} \
         requests cut off, restarted in {:.1?}, then {} acks by it; settled {:.1?} after the \
         load: {counts}; every ack checked in {:.1?}, {claimed_again} acknowledged runs took \
         more than one attempt; {} executions (per pid: {}), {} runs executed again, {} \
         interrupted by the kill and started again {:?} ms after it (min, max); no run on two \
         servers at once; {:.1?} in all",
        timings.up,
        loaded.acks.len(),
        loaded.sent,
        loaded.took,
        loaded.acked_by,
        killed.index,
        killed.pid,
        killed.acked,
        killed.aimed_at,
        loaded.cut_off,
        killed.restart,
        loaded.restarted_acked,
        timings.settle,
        timings.check,
        executions.started,
        by_pid.join(", "),
        executions.again,
        executions.interrupted,
        executions.rerun_after_ms,
        timings.started.elapsed(),
    );
}

/// Three servers on one schema; webhooks spread over them from many threads; one killed with
/// `kill -9` mid-load and restarted on the schema. Every acknowledged webhook's run succeeds
/// (read through every server's API), and the job log shows that no run ever executed on two
/// servers at once: only the killed server's interrupted executions ran again, elsewhere,
/// after their lease expired.
#[test]
fn three_servers_share_a_queue_and_a_kill_loses_nothing() {
    let _serial = serial();
    let Some(cluster) = Cluster::new("three_servers_share_a_queue_and_a_kill_loses_nothing") else {
        return;
    };
    let started = Instant::now();
    let mut servers: Vec<Server> = (0..SERVERS).map(|_| cluster.server().start()).collect();
    let mut pids: BTreeSet<u32> = servers.iter().map(Server::pid).collect();
    let ports: Vec<u16> = servers.iter().map(Server::port).collect();
    let up = started.elapsed();

    let (killed, loaded) = load_kill_and_restart(&cluster, &mut servers);
    pids.insert(servers[killed.index].pid());
    assert_spread(&loaded, &ports);

    // Every run settles, and every acknowledged one succeeded, whichever server is asked.
    let settling = Instant::now();
    let counts = assert_settled(&servers);
    let settle = settling.elapsed();
    let checking = Instant::now();
    let claimed_again = assert_acks_kept(&servers, &loaded.acks, WAIT);
    let check = checking.elapsed();

    // The log: no run on two servers at once; each server, the restarted one too, ran runs.
    let after = cluster.fixture.log();
    assert_tasks(&killed.log, &after, &loaded.acks, counts);
    let executions = assert_never_on_two_at_once(&after, &killed);
    assert_every_server_ran(&executions, &pids);

    let timings = Timings {
        up,
        settle,
        check,
        started,
    };
    report(
        &killed,
        &loaded,
        counts,
        claimed_again,
        &executions,
        &timings,
    );
    cluster.finish(servers);
}

/// How many webhooks the wake-up test times.
const ROUNDS: usize = 12;
/// Started within this of the webhook being sent counts as prompt; the poll tick is 500 ms.
const PROMPT: Duration = Duration::from_millis(150);

/// A webhook delivered to a server with no free worker is executed at once by an idle server:
/// `NOTIFY` wakes it, not its poll tick. Each webhook is sent at a random moment to an idle
/// server B, so a poll tick (every 500 ms) would start it within [`PROMPT`] only about 3 times
/// in 10; nearly every one must.
#[test]
fn a_webhook_on_a_busy_server_wakes_an_idle_one_at_once() {
    let _serial = serial();
    let Some(cluster) = Cluster::new("a_webhook_on_a_busy_server_wakes_an_idle_one_at_once") else {
        return;
    };
    let fixture = &cluster.fixture;
    // A runs one attempt at a time, and a long one holds it.
    let busy = cluster.server_with_concurrency(1).start();
    let response = post(busy.port(), COUNTED, br#"{"hold_ms":600000}"#, &[]).expect("POST");
    let (_, runs) = accepted(&response);
    let [held] = runs.as_slice() else {
        panic!("expected one `counted` run: {response}");
    };
    let log = fixture.wait_for_line("start", held, WAIT);
    let holder = log.marks().iter().find(|m| m.start && &m.run == held);
    assert_eq!(holder.map(|m| m.pid), Some(busy.pid()), "{}", log.text());

    let idle = cluster.server().start();
    // Once: the idle server's listener may not be listening yet when it prints its banner.
    let started_on = |run: &str| {
        let log = fixture.wait_for_line("end", run, WAIT);
        let start = log
            .marks()
            .iter()
            .find(|m| m.start && m.run == run)
            .cloned();
        start.unwrap_or_else(|| panic!("{run} ended without a start:\n{}", log.text()))
    };
    let response = post(busy.port(), COUNTED, br#"{"warm":true}"#, &[]).expect("POST");
    let (_, runs) = accepted(&response);
    assert_eq!(
        started_on(&runs[0]).pid,
        idle.pid(),
        "run by the idle server"
    );

    let mut latencies = Vec::new();
    for round in 0..ROUNDS {
        // A random phase of the idle server's poll tick, with nothing in flight there.
        thread::sleep(Duration::from_millis(100 + jitter(500)));
        let body = format!(r#"{{"round":{round}}}"#);
        let sent = now_micros();
        let response = post(busy.port(), COUNTED, body.as_bytes(), &[]).expect("POST");
        let (_, runs) = accepted(&response);
        let start = started_on(&runs[0]);
        assert_eq!(start.pid, idle.pid(), "run by the idle server: {start:?}");
        let micros = start.at_micros.saturating_sub(sent);
        latencies.push(Duration::from_micros(
            u64::try_from(micros).unwrap_or(u64::MAX),
        ));
    }
    let prompt = latencies.iter().filter(|l| **l <= PROMPT).count();
    let mut sorted = latencies.clone();
    sorted.sort();
    eprintln!(
        "webhooks to the busy server started on the idle one after (sent to started) \
         {latencies:.1?}; median {:.1?}; {prompt} of {ROUNDS} within {PROMPT:?}",
        sorted[ROUNDS / 2]
    );
    assert!(
        prompt >= ROUNDS - 2,
        "only {prompt} of {ROUNDS} webhooks started within {PROMPT:?}: {latencies:?}"
    );
    assert_eq!(fixture.log().count("end", held), 0, "the held run ended");
    cluster.finish(vec![busy, idle]);
}
