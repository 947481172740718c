//! Helpers for the end-to-end tests: build an example binary once ([`example_binary`]), run
//! it as a real process ([`Server`]) and talk HTTP/1.1 to it ([`http`]).

pub mod http;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde_json::Value;

pub use self::http::Response;

/// The workspace root, where the nested `cargo build` runs.
const WORKSPACE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
/// How long a server may take to print its listening line.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How often the `wait_for_*` helpers look again.
const POLL: Duration = Duration::from_millis(50);
/// The banner line that gives the port.
const LISTENING: &str = "listening on http://127.0.0.1:";

/// Builds `package`'s binaries with `cargo build` (once per test process) and returns the
/// path of its binary, taken from cargo's `compiler-artifact` message. A failed build panics
/// with cargo's diagnostics, here and in every later call.
///
/// The nested build uses the workspace's normal target directory: `cargo test` releases its
/// build lock before running tests, and `cargo nextest` builds before running anything, so it
/// does not wait on the outer build and is a quick no-op when the binary is up to date.
pub fn example_binary(package: &str) -> PathBuf {
    static BUILT: Mutex<BTreeMap<String, Result<PathBuf, String>>> = Mutex::new(BTreeMap::new());
    let mut built = lock(&BUILT);
    let built = built
        .entry(package.to_owned())
        .or_insert_with(|| build(package));
    built.clone().unwrap_or_else(|error| panic!("{error}"))
}

fn build(package: &str) -> Result<PathBuf, String> {
    let output = Command::new(env!("CARGO"))
        .args([
            "build",
            "--bins",
            "--message-format=json-render-diagnostics",
            "-p",
            package,
        ])
        .current_dir(WORKSPACE)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("could not run `{} build`: {e}", env!("CARGO")))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(format!("`cargo build -p {package}` failed:\n{stderr}"));
    }
    let binaries: Vec<(String, PathBuf)> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .filter(|m| {
            m["target"]["kind"]
                .as_array()
                .is_some_and(|k| k.contains(&"bin".into()))
        })
        .filter_map(|m| {
            let path = PathBuf::from(m["executable"].as_str()?);
            Some((m["target"]["name"].as_str()?.to_owned(), path))
        })
        .collect();
    let path = match binaries.as_slice() {
        [(_, only)] => Some(only.clone()),
        all => all
            .iter()
            .find(|(name, _)| name == package)
            .map(|(_, p)| p.clone()),
    };
    path.ok_or_else(|| format!("which binary of {package}? {binaries:?}\n{stderr}"))
}

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
}

impl ServerBuilder {
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
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        // Not under the workspace: the server also looks for `.env` in parent directories.
        let n = COUNT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("trigger-e2e-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the server's working directory");
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
            dir,
            api_key,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let line = lock(&server.stdout)
                .lines()
                .find_map(|l| l.strip_prefix(LISTENING)?.parse().ok());
            if let Some(port) = line {
                server.port = port;
                return server;
            }
            if let Some(status) = server.child.try_wait().expect("query the server process") {
                panic!("the server exited with {status} before listening");
            }
            let waited = Instant::now() < deadline;
            assert!(waited, "the server did not listen within {START_TIMEOUT:?}");
            thread::sleep(POLL);
        }
    }
}

/// Waits until a line of `text` contains `needle`, and returns it.
#[track_caller]
fn wait_for_line(text: &Mutex<String>, name: &str, needle: &str, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(line) = lock(text).lines().find(|l| l.contains(needle)) {
            return line.to_owned();
        }
        let waited = Instant::now() < deadline;
        assert!(waited, "no {name} line with {needle:?} within {timeout:?}");
        thread::sleep(POLL);
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
    dir: PathBuf,
    api_key: Option<String>,
}

impl Server {
    /// A builder for `package`'s binary with `--host 127.0.0.1 --port 0`, no inherited
    /// `TRIGGER_*` or `RUST_LOG` variables, and a fresh temporary working directory.
    pub fn builder(package: &str) -> ServerBuilder {
        let mut command = Command::new(example_binary(package));
        command.args(["--host", "127.0.0.1", "--port", "0"]);
        for (key, _) in std::env::vars_os() {
            if key
                .to_str()
                .is_some_and(|k| k.starts_with("TRIGGER_") || k == "RUST_LOG")
            {
                command.env_remove(key);
            }
        }
        ServerBuilder {
            command,
            api_key: None,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
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
        let deadline = Instant::now() + timeout;
        loop {
            let response = self.get(&format!("/api/v1/runs/{run_id}"));
            if response.status == 200 && response.json()["status"] == status {
                return response.json();
            }
            assert!(
                Instant::now() < deadline,
                "run {run_id} not {status:?} within {timeout:?}; last: {response}"
            );
            thread::sleep(POLL);
        }
    }

    /// Waits up to `timeout` for the process to exit; its status, or `None` if it still runs.
    pub fn wait_for_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            let status = self.child.try_wait().expect("query the server process");
            if status.is_some() || Instant::now() >= deadline {
                return status;
            }
            thread::sleep(POLL);
        }
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
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
