//! Helpers for the end-to-end tests: build an example binary once ([`example_binary`]), run
//! it as a real process ([`Server`]) in a [`TempDir`], talk HTTP/1.1 to it ([`http`]) and wait
//! for it ([`poll_until`], [`RunCounts`]). [`fixture`] drives the `trigger-fixture` server of
//! the durability and secrets tests; [`webdriver`] drives headless Chromium for the browser
//! tests.
//!
//! `temp_dir.rs` and `poll.rs` are also compiled into the bench, and `temp_dir.rs` into the
//! runtime's tests, with `#[path]`.

mod build;
pub mod fixture;
pub mod http;
mod poll;
mod temp_dir;
pub mod webdriver;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::Value;

pub use self::build::{example_binary, package_binary};
pub use self::http::Response;
pub use self::poll::{POLL, RunCounts, poll_until};
pub use self::temp_dir::TempDir;

/// How long a server may take to print its listening line.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// The banner line that gives the port.
const LISTENING: &str = "listening on http://127.0.0.1:";

/// The lowercase hex HMAC-SHA256 of `body` under `secret`, as Cal.com signs.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key size");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How to start a [`Server`]: the binary and its environment.
#[derive(Debug)]
pub struct ServerBuilder {
    command: Command,
    api_key: Option<String>,
    dir: Option<PathBuf>,
}

impl ServerBuilder {
    /// Adds command-line arguments.
    pub fn args(mut self, args: &[&str]) -> Self {
        self.command.args(args);
        self
    }

    /// Runs the server in `dir` (which the caller owns and removes) instead of a fresh
    /// temporary directory, e.g. to restart it on the same `.trigger/trigger.db`.
    pub fn current_dir(mut self, dir: &Path) -> Self {
        self.dir = Some(dir.to_owned());
        self
    }

    /// Sets an environment variable for the server.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        if key == "TRIGGER_API_KEY" {
            self.api_key = Some(value.to_owned());
        }
        self.command.env(key, value);
        self
    }

    /// Removes an environment variable from the server's environment.
    pub fn env_remove(mut self, key: &str) -> Self {
        self.command.env_remove(key);
        self
    }

    /// Starts the server and waits (up to a minute) until it prints its listening line;
    /// panics with everything it wrote if it exits or takes too long.
    #[track_caller]
    pub fn start(mut self) -> Server {
        let (dir, owned_dir) = match self.dir {
            Some(dir) => (dir, None),
            None => {
                let dir = TempDir::new("e2e");
                (dir.path().to_owned(), Some(dir))
            }
        };
        let command = self.command.current_dir(&dir).stdin(Stdio::null());
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {command:?}: {e}"));
        let (stdout, out_reader) = collect(child.stdout.take().expect("piped stdout"));
        let (stderr, err_reader) = collect(child.stderr.take().expect("piped stderr"));
        let readers = vec![out_reader, err_reader];
        let api_key = self.api_key;
        let mut server = Server {
            child,
            port: 0,
            stdout,
            stderr,
            readers,
            _owned_dir: owned_dir,
            api_key,
        };
        let started = poll_until(START_TIMEOUT, || {
            let port = lock(&server.stdout)
                .lines()
                .find_map(|l| l.strip_prefix(LISTENING)?.parse().ok());
            match port {
                Some(port) => Some(Ok(port)),
                None => server
                    .child
                    .try_wait()
                    .expect("query the server process")
                    .map(Err),
            }
        });
        match started {
            Some(Ok(port)) => server.port = port,
            Some(Err(status)) => panic!("the server exited with {status} before listening"),
            None => panic!("the server did not listen within {START_TIMEOUT:?}"),
        }
        server
    }
}

/// Waits until a line of `text` contains `needle`, and returns it.
#[track_caller]
fn wait_for_line(text: &Mutex<String>, name: &str, needle: &str, timeout: Duration) -> String {
    let found = poll_until(timeout, || {
        let text = lock(text);
        text.lines().find(|l| l.contains(needle)).map(str::to_owned)
    });
    let Some(line) = found else {
        panic!("no {name} line with {needle:?} within {timeout:?}");
    };
    line
}

/// A command for the binary at `path` that inherits no `TRIGGER_*` or `RUST_LOG` variables.
pub fn clean_command(path: &Path) -> Command {
    let mut command = Command::new(path);
    for (key, _) in std::env::vars_os() {
        if key
            .to_str()
            .is_some_and(|k| k.starts_with("TRIGGER_") || k == "RUST_LOG")
        {
            command.env_remove(key);
        }
    }
    command
}

/// A process that ran to its end: its exit status and what it wrote.
#[derive(Debug)]
pub struct Finished {
    /// How it exited.
    pub status: ExitStatus,
    /// Everything it wrote to stdout.
    pub stdout: String,
    /// Everything it wrote to stderr.
    pub stderr: String,
}

impl Finished {
    /// Everything it wrote, stdout then stderr, for failure messages.
    pub fn output(&self) -> String {
        format!(
            "--- stdout ---\n{}--- stderr ---\n{}--- end ---",
            self.stdout, self.stderr
        )
    }
}

/// Runs `command` (stdin closed, stdout and stderr captured) until it exits; kills it and
/// panics, with what it wrote, if it runs longer than `timeout`.
#[track_caller]
pub fn run_to_exit(command: &mut Command, timeout: Duration) -> Finished {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("could not start {command:?}: {e}"));
    let (stdout, out_reader) = collect(child.stdout.take().expect("piped stdout"));
    let (stderr, err_reader) = collect(child.stderr.take().expect("piped stderr"));
    let status = poll_until(timeout, || child.try_wait().expect("query the process"));
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    // It has exited, so its pipes are closed: let the readers take the last lines.
    drop(out_reader.join());
    drop(err_reader.join());
    let (stdout, stderr) = (lock(&stdout).clone(), lock(&stderr).clone());
    match status {
        Some(status) => Finished {
            status,
            stdout,
            stderr,
        },
        None => panic!(
            "{command:?} did not exit within {timeout:?}\n--- stdout ---\n{stdout}--- stderr ---\n{stderr}--- end ---"
        ),
    }
}

/// Collects `from`, line by line, into a shared string on a thread of its own.
fn collect(from: impl Read + Send + 'static) -> (Arc<Mutex<String>>, JoinHandle<()>) {
    let text = Arc::new(Mutex::new(String::new()));
    let into = Arc::clone(&text);
    let reader = thread::spawn(move || {
        for line in BufReader::new(from).lines().map_while(Result::ok) {
            let mut text = lock(&into);
            text.push_str(&line);
            text.push('\n');
        }
    });
    (text, reader)
}

/// A running server process, killed on drop. Dropped during a panic, it prints what the
/// server wrote, so every failing test shows the server's side.
#[derive(Debug)]
pub struct Server {
    child: Child,
    port: u16,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
    /// The working directory, when the server made it: only held, so that it is removed
    /// after the process is killed.
    _owned_dir: Option<TempDir>,
    api_key: Option<String>,
}

impl Server {
    /// A builder for `package`'s binary with `--host 127.0.0.1 --port 0`, no inherited
    /// `TRIGGER_*` or `RUST_LOG` variables, and a fresh temporary working directory.
    pub fn builder(package: &str) -> ServerBuilder {
        Self::with_binary(&example_binary(package))
    }

    /// Like [`builder`](Self::builder), for the binary at `path`.
    pub fn with_binary(path: &Path) -> ServerBuilder {
        let mut command = clean_command(path);
        command.args(["--host", "127.0.0.1", "--port", "0"]);
        ServerBuilder {
            command,
            api_key: None,
            dir: None,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the process with `SIGKILL` (no shutdown, no flushing) and waits for it.
    #[track_caller]
    pub fn kill(&mut self) -> ExitStatus {
        self.child.kill().expect("send SIGKILL to the server");
        let status = self.child.wait().expect("wait for the killed server");
        // Its pipes are closed: let the readers take the last lines.
        self.readers.drain(..).for_each(|r| drop(r.join()));
        status
    }

    /// Sends `signal` (a name such as `TERM`) with the `kill` command.
    #[track_caller]
    pub fn signal(&self, signal: &str) {
        let pid = self.pid().to_string();
        let kill = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .expect("run `kill`");
        assert!(kill.success(), "`kill -{signal} {pid}` failed: {kill}");
    }

    /// What the server wrote to stdout so far (the banner).
    pub fn stdout(&self) -> String {
        lock(&self.stdout).clone()
    }

    /// Everything the server wrote so far, stdout then stderr.
    pub fn output(&self) -> String {
        let (stdout, stderr) = (lock(&self.stdout), lock(&self.stderr));
        format!("--- server stdout ---\n{stdout}--- server stderr ---\n{stderr}--- end ---")
    }

    /// Sends a request (see [`http::send`]); panics, with the server's output, if that fails.
    #[track_caller]
    pub fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        match http::send(self.port, method, path, headers, body) {
            Ok(response) => response,
            Err(e) => panic!("{method} {path} failed: {e}"),
        }
    }

    /// `GET path`, with `Authorization: Bearer` when the server has an API key.
    #[track_caller]
    pub fn get(&self, path: &str) -> Response {
        let auth = self.api_key.as_ref().map(|key| format!("Bearer {key}"));
        let headers: Vec<_> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
        self.send("GET", path, &headers, b"")
    }

    /// Waits until a line of stdout contains `needle`, and returns it.
    #[track_caller]
    pub fn wait_for_stdout(&self, needle: &str, timeout: Duration) -> String {
        wait_for_line(&self.stdout, "stdout", needle, timeout)
    }

    /// Waits until a line of stderr (the logs) contains `needle`, and returns it.
    #[track_caller]
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> String {
        wait_for_line(&self.stderr, "stderr", needle, timeout)
    }

    /// Polls `GET /api/v1/runs/{id}` until the run's status is `status`; returns the run.
    #[track_caller]
    pub fn wait_for_run_status(&self, run_id: &str, status: &str, timeout: Duration) -> Value {
        let path = format!("/api/v1/runs/{run_id}");
        let mut last = None;
        let run = poll_until(timeout, || {
            let response = self.get(&path);
            let run = (response.status == 200).then(|| response.json());
            last = Some(response);
            run.filter(|run| run["status"] == status)
        });
        let Some(run) = run else {
            let last = last
                .map(|response| response.to_string())
                .unwrap_or_default();
            panic!("run {run_id} not {status:?} within {timeout:?}; last: {last}");
        };
        run
    }

    /// Waits up to `timeout` for the process to exit; its status, or `None` if it still runs.
    pub fn wait_for_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        poll_until(timeout, || {
            self.child.try_wait().expect("query the server process")
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            // The pipes are closed now: let the readers take the last lines.
            self.readers
                .drain(..)
                .for_each(|reader| drop(reader.join()));
            eprintln!("{}", self.output());
        }
        // Then `_owned_dir` is dropped, which removes it (or keeps it, during a panic).
    }
}
