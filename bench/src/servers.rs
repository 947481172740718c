//! The servers under test: building and starting the `example-caldotcom` release binary, the
//! bare verifying handler (the ceiling), and [`ServerProcess`], the guard that kills a server
//! when it is dropped, also while unwinding from a panic.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use trigger_runtime::request::Request;
use trigger_runtime::verify::{HmacScheme, Secret};

use crate::BoxError;
use crate::client::SIGNATURE_HEADER;
use crate::temp_dir::TempDir;

/// The environment variable the example reads its Cal.com secret from.
pub(crate) const SECRET_VAR: &str = "CALDOTCOM_SECRET";

/// How long a server may take to print its address.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The workspace root: the bench's parent directory.
pub(crate) fn workspace_root() -> PathBuf {
    let bench = Path::new(env!("CARGO_MANIFEST_DIR"));
    bench.parent().unwrap_or(bench).to_path_buf()
}

/// Builds `example-caldotcom` in release mode with the cargo that built the bench, and returns
/// the executable path from the `compiler-artifact` message.
pub(crate) fn build_example() -> Result<PathBuf, BoxError> {
    let mut command = Command::new(env!("CARGO"));
    // `cargo run` describes the bench package in these; a build script that watches them
    // (ring's does) would run again and rebuild its crates for nothing.
    for (key, _) in std::env::vars_os() {
        let Some(name) = key.to_str() else { continue };
        let per_package = [
            "CARGO_PKG_",
            "CARGO_BIN_",
            "CARGO_MANIFEST_",
            "CARGO_CRATE_",
        ]
        .iter()
        .any(|prefix| name.starts_with(prefix));
        if per_package || matches!(name, "CARGO_PRIMARY_PACKAGE" | "OUT_DIR") {
            command.env_remove(&key);
        }
    }
    let mut child = command
        .args([
            "build",
            "--release",
            "-p",
            "example-caldotcom",
            "--message-format=json-render-diagnostics",
        ])
        .current_dir(workspace_root())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("cargo has no stdout")?;
    let mut executable = None;
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        let Ok(message) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        let is_bin = message["target"]["kind"]
            .as_array()
            .is_some_and(|kinds| kinds.iter().any(|k| k == "bin"));
        if message["reason"] == "compiler-artifact"
            && message["target"]["name"] == "example-caldotcom"
            && is_bin
        {
            executable = message["executable"].as_str().map(PathBuf::from);
        }
    }
    let status = child.wait()?;
    if !status.success() {
        return Err(format!("cargo build -p example-caldotcom failed: {status}").into());
    }
    executable.ok_or_else(|| "cargo reported no executable for example-caldotcom".into())
}

/// A running server process; dropping it kills the process, then removes its directory.
#[derive(Debug)]
pub(crate) struct ServerProcess {
    name: &'static str,
    child: Child,
    addr: SocketAddr,
    /// Dropped after the process is killed.
    dir: TempDir,
}

impl ServerProcess {
    /// Starts the bench itself as the bare server (`bare-server --port 0`).
    pub(crate) fn start_bare(secret: &str) -> Result<Self, BoxError> {
        let mut command = Command::new(std::env::current_exe()?);
        command
            .args(["bare-server", "--port", "0"])
            .env(SECRET_VAR, secret);
        Self::start("bare", command, TempDir::create("bench-bare")?)
    }

    /// Starts the bench itself as the split server (`split-server --port 0`) in a fresh
    /// directory, so that its SQLite store is new.
    pub(crate) fn start_split(secret: &str) -> Result<Self, BoxError> {
        let mut command = Command::new(std::env::current_exe()?);
        command
            .args(["split-server", "--port", "0"])
            .env(SECRET_VAR, secret);
        Self::start("split", command, TempDir::create("bench-split")?)
    }

    /// Starts the example's release binary on a free port, in a fresh directory so that its
    /// default SQLite store (`.trigger/trigger.db`) is new, with `RUST_LOG=warn`.
    pub(crate) fn start_durable(executable: &Path, secret: &str) -> Result<Self, BoxError> {
        Self::start_durable_with(executable, secret, &[])
    }

    /// [`Self::start_durable`] with more arguments (another `--database-url`).
    pub(crate) fn start_durable_with(
        executable: &Path,
        secret: &str,
        args: &[&str],
    ) -> Result<Self, BoxError> {
        let mut command = Command::new(executable);
        command
            .args(["serve", "--port", "0"])
            .args(args)
            .env(SECRET_VAR, secret)
            .env("RUST_LOG", "warn");
        // Settings from the bench's own environment would change what is measured.
        for var in [
            "TRIGGER_HOST",
            "TRIGGER_PORT",
            "TRIGGER_PUBLIC_URL",
            "TRIGGER_DATABASE_URL",
            "TRIGGER_BODY_LIMIT",
            "TRIGGER_CONCURRENCY",
            "TRIGGER_API_KEY",
        ] {
            command.env_remove(var);
        }
        Self::start("durable", command, TempDir::create("bench-durable")?)
    }

    /// Starts `command` in `dir` with stderr in `dir/stderr.log`, and waits until it prints
    /// `listening on http://ADDR` on stdout.
    fn start(name: &'static str, mut command: Command, dir: TempDir) -> Result<Self, BoxError> {
        let log = std::fs::File::create(dir.join("stderr.log"))?;
        command
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log);
        let mut child = command.spawn()?;
        let stdout = child.stdout.take().ok_or("the server has no stdout")?;
        let (found, address) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                if let Some(rest) = line.trim().strip_prefix("listening on http://") {
                    let _ = found.send(rest.trim_end_matches('/').to_owned());
                    break;
                }
                line.clear();
            }
            // Keep draining so that the server never blocks on a full pipe.
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        let mut server = Self {
            name,
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            dir,
        };
        let text = match address.recv_timeout(START_TIMEOUT) {
            Ok(text) => text,
            Err(_) => {
                return Err(format!(
                    "the {name} server printed no `listening on http://` line{}",
                    server.stderr_tail()
                )
                .into());
            }
        };
        server.addr = text
            .parse()
            .map_err(|e| format!("bad address {text:?} from the {name} server: {e}"))?;
        Ok(server)
    }

    /// Where the server listens.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's directory (its working directory; the durable store lives under it).
    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Whether the process is still running.
    pub(crate) fn check_alive(&mut self) -> Result<(), BoxError> {
        match self.child.try_wait()? {
            None => Ok(()),
            Some(status) => Err(format!(
                "the {} server exited ({status}){}",
                self.name,
                self.stderr_tail()
            )
            .into()),
        }
    }

    /// The last lines of the server's stderr, formatted for an error message (empty if none).
    pub(crate) fn stderr_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = &lines[lines.len().saturating_sub(15)..];
        if tail.is_empty() {
            String::new()
        } else {
            format!("; its stderr ends with:\n  {}", tail.join("\n  "))
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Then `dir` is dropped, which removes it (or keeps it, during a panic).
    }
}

/// The bare server (hidden `bare-server` subcommand): verifies the Cal.com signature exactly as
/// the runtime does and answers `200` JSON without storing anything. Multi-threaded runtime with
/// a worker per core: it has no writer thread to leave a core to, as the example's runtime does.
pub(crate) fn run_bare_server(port: u16) -> Result<(), BoxError> {
    let secret = std::env::var(SECRET_VAR)
        .ok()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| format!("set {SECRET_VAR}"))?;
    let secret = Secret::new(secret);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let local = listener.local_addr()?;
        println!("listening on http://{local}");
        let app = Router::new()
            .route("/endpoints/{id}", any(bare_ingest))
            .route(
                "/healthz",
                get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }),
            )
            .with_state(secret);
        axum::serve(listener, app).await?;
        Ok(())
    })
}

/// Verifies like `trigger_runtime`'s ingest (same `Request`, same `HmacScheme`) and answers.
async fn bare_ingest(
    State(secret): State<Secret>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path_and_query = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let url = match headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
        Some(host) => format!("http://{host}{path_and_query}"),
        None => path_and_query.to_owned(),
    };
    let request = match Request::new(method, &url, headers, body) {
        Ok(request) => request,
        Err(e) => {
            let error = serde_json::json!({ "error": e.to_string() });
            return (StatusCode::BAD_REQUEST, axum::Json(error)).into_response();
        }
    };
    let verdict = HmacScheme::new(SIGNATURE_HEADER).verify(&request, &secret);
    match verdict.reason() {
        None => {
            let ok = serde_json::json!({ "event_id": null, "runs": [], "duplicate": false });
            (StatusCode::OK, axum::Json(ok)).into_response()
        }
        Some(reason) => {
            let error = serde_json::json!({ "error": reason });
            (StatusCode::UNAUTHORIZED, axum::Json(error)).into_response()
        }
    }
}
