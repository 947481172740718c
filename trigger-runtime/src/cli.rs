//! The command line every user binary gets from [`run`]: `serve` (the default) and
//! `endpoints`.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::error::{Error, Result};
use crate::registry::Registry;
use crate::server::{MAX_CONNECTIONS, SecretState, Server, ServerConfig};
use crate::store::{Store, redact_url};
use crate::worker::WorkerConfig;

/// The default database URL: an embedded SQLite file under `.trigger/`.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://.trigger/trigger.db";

#[derive(Debug, Parser)]
#[command(about = "Webhooks in, durable jobs out", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    options: Options,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Receive webhooks and run jobs (the default).
    Serve,
    /// List the endpoints: id, URL, source, verification and secret status.
    Endpoints,
}

/// Options shared by every command.
#[derive(Debug, Clone, clap::Args)]
struct Options {
    /// Address to listen on.
    #[arg(long, env = "TRIGGER_HOST", default_value = "127.0.0.1", global = true)]
    host: String,
    /// Port to listen on (0 picks a free one).
    #[arg(long, env = "TRIGGER_PORT", default_value_t = 3000, global = true)]
    port: u16,
    /// The URL senders use to reach this server, e.g. https://hooks.example.com.
    #[arg(long, env = "TRIGGER_PUBLIC_URL", global = true)]
    public_url: Option<String>,
    /// Where runs are stored.
    #[arg(long, env = "TRIGGER_DATABASE_URL", default_value = DEFAULT_DATABASE_URL, global = true)]
    database_url: String,
    /// The largest request body accepted, e.g. 5MiB, 512KiB or 1000000.
    #[arg(long, env = "TRIGGER_BODY_LIMIT", default_value = "5MiB", value_parser = parse_size, global = true)]
    body_limit: usize,
    /// Job attempts that run at once.
    #[arg(long, env = "TRIGGER_CONCURRENCY", default_value_t = 64, global = true)]
    concurrency: usize,
    /// How long running jobs may finish after a shutdown signal, e.g. 30s.
    #[arg(long, env = "TRIGGER_SHUTDOWN_GRACE", default_value = "30s", value_parser = parse_duration, global = true)]
    shutdown_grace: Duration,
    /// How long a claimed run stays held without a heartbeat (sent every third of it); a run
    /// whose worker died is claimed again once it expires, e.g. 30s.
    #[arg(long, env = "TRIGGER_LEASE", default_value = "30s", value_parser = parse_lease, global = true)]
    lease: Duration,
    /// Delete events, with their runs, logs and task outputs, once older than this (and none
    /// of their runs is unfinished), e.g. 30d, 12h; 0 keeps everything.
    #[arg(long, env = "TRIGGER_RETENTION", default_value = "30d", value_parser = parse_duration, global = true)]
    retention: Duration,
    /// Serve the JSON API without TRIGGER_API_KEY beyond loopback: anyone who can reach the
    /// server can read events and replay runs. Logged loudly at start-up.
    #[arg(long, global = true)]
    insecure_open_api: bool,
    /// How long a connection has to send a request's headers (from its start, or from the
    /// first byte of a request); then it is closed, e.g. 10s.
    #[arg(long, env = "TRIGGER_HEADER_TIMEOUT", default_value = "10s", value_parser = parse_timeout, global = true)]
    header_timeout: Duration,
    /// How long a keep-alive connection may wait for its next request; then it is closed,
    /// e.g. 60s.
    #[arg(long, env = "TRIGGER_IDLE_TIMEOUT", default_value = "60s", value_parser = parse_timeout, global = true)]
    idle_timeout: Duration,
    /// The most connections open at once; beyond it, new connections wait until one closes.
    #[arg(long, env = "TRIGGER_MAX_CONNECTIONS", default_value_t = 1024, value_parser = parse_max_connections, global = true)]
    max_connections: usize,
    /// The environment name jobs see in their context.
    #[arg(
        long = "env",
        env = "TRIGGER_ENV",
        default_value = "dev",
        global = true
    )]
    environment: String,
}

/// Runs the user's binary: reads `.env`, parses the command line, checks the registry and
/// serves (or lists endpoints).
///
/// ```no_run
/// #[tokio::main]
/// async fn main() -> trigger_runtime::Result<()> {
///     trigger_runtime::run().await
/// }
/// ```
pub async fn run() -> Result<()> {
    run_from(std::env::args_os()).await
}

/// [`run`] with explicit arguments (the first is the program name).
pub async fn run_from<I, T>(args: I) -> Result<()>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    // Only the working directory's `.env`, not one found in a parent folder.
    let dotenv = dotenvy::from_path(".env");
    init_tracing();
    match dotenv {
        Err(error) if !error.not_found() => tracing::warn!(%error, "could not read .env"),
        _ => {}
    }
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(error) => {
            // --help and --version print and succeed; usage errors print and exit with 2.
            let _ = error.print();
            #[allow(clippy::exit)]
            std::process::exit(error.exit_code());
        }
    };
    let registry = Registry::from_inventory()?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(registry, cli.options).await,
        Command::Endpoints => endpoints(registry, &cli.options).await,
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .try_init();
}

fn server_config(options: &Options) -> ServerConfig {
    ServerConfig {
        public_url: options.public_url.clone(),
        body_limit: options.body_limit,
        api_key: crate::verify::env_secret("TRIGGER_API_KEY"),
        open_api: options.insecure_open_api,
        retention: Some(options.retention).filter(|r| !r.is_zero()),
        header_timeout: options.header_timeout,
        idle_timeout: options.idle_timeout,
        max_connections: options.max_connections,
        worker: WorkerConfig {
            concurrency: options.concurrency.max(1),
            shutdown_grace: options.shutdown_grace,
            lease: options.lease,
            environment: options.environment.clone(),
            ..WorkerConfig::default()
        },
        ..ServerConfig::default()
    }
}

async fn serve(registry: Registry, options: Options) -> Result<()> {
    let config = server_config(&options);
    check_exposure(&options.host, &config)?;
    let store = Store::open(&options.database_url).await?;
    let server = Server::new(registry, store, config).await?;
    let address = format!("{}:{}", options.host, options.port);
    let listener = tokio::net::TcpListener::bind(&address)
        .await
        .map_err(|source| Error::Io {
            context: format!("could not listen on {address}"),
            source,
        })?;
    let local = listener.local_addr().map_err(|source| Error::Io {
        context: "reading the listening address".to_owned(),
        source,
    })?;
    print!("{}", banner(&server, &options, local));
    let result = server.serve(listener, shutdown_signal()).await;
    tracing::info!("stopped");
    result
}

/// Refuses to serve an open API beyond loopback, unless asked to, loudly.
fn check_exposure(host: &str, config: &ServerConfig) -> Result<()> {
    if config.api_key.is_some() || crate::server::is_loopback_address(host) {
        return Ok(());
    }
    if !config.open_api {
        return Err(Error::OpenApi {
            host: host.to_owned(),
        });
    }
    tracing::warn!(
        host,
        "--insecure-open-api: the JSON API is open to anyone who can reach {host}; set TRIGGER_API_KEY to close it"
    );
    Ok(())
}

async fn endpoints(registry: Registry, options: &Options) -> Result<()> {
    let store = Store::open(&options.database_url).await?;
    let server = Server::new(registry, store, server_config(options)).await?;
    let base = base_url(options, None);
    let mut out = String::new();
    for endpoint in server.registry().endpoints() {
        let secret = server
            .secret_state(endpoint.id())
            .map_or_else(String::new, |s| secret_text(s, &server));
        out.push_str(&format!(
            "{}\n  url:          {base}{}\n  source:       {}\n  enabled:      {}\n  verification: {}\n  secret:       {secret}\n",
            endpoint.id(),
            endpoint.path(),
            endpoint.source(),
            endpoint.is_enabled(),
            verification_text(endpoint),
        ));
    }
    print!("{out}");
    Ok(())
}

/// `preset stripe: HMAC-SHA256 hex of ...`, the scheme alone, or `custom verify fn`.
fn verification_text(endpoint: &crate::endpoint::HttpEndpoint) -> String {
    match endpoint.preset() {
        Some(preset) => format!("preset {preset}: {}", endpoint.verifier()),
        None => endpoint.verifier().to_string(),
    }
}

fn base_url(options: &Options, local: Option<SocketAddr>) -> String {
    if let Some(url) = &options.public_url {
        return url.trim_end_matches('/').to_owned();
    }
    match local {
        Some(addr) => format!("http://{addr}"),
        None => format!("http://{}:{}", options.host, options.port),
    }
}

fn secret_text(state: &SecretState, server: &Server) -> String {
    match state {
        SecretState::Env { vars, unset, .. } if unset.is_empty() => {
            format!("set (from {})", vars.join(", "))
        }
        SecretState::Env { vars, unset, .. } => format!(
            "set (from {}); NOT SET: {}",
            vars.join(", "),
            unset.join(", ")
        ),
        SecretState::Missing { var } => format!("NOT SET: set {var}; requests get 401 until then"),
        SecretState::Generated { secret } if !server.store().kind().is_persistent() => format!(
            "{} (generated; the memory store forgets it at exit, so name a `secret` variable to keep it)",
            secret.expose()
        ),
        SecretState::Generated { secret } => format!("{} (generated and stored)", secret.expose()),
    }
}

fn banner(server: &Server, options: &Options, local: SocketAddr) -> String {
    let base = base_url(options, Some(local));
    let mut out = format!(
        "\ntrigger-runtime {} · env {} · store {}\nlistening on http://{local}\n\nendpoints:\n",
        env!("CARGO_PKG_VERSION"),
        options.environment,
        redact_url(&options.database_url),
    );
    for endpoint in server.registry().endpoints() {
        let state = if endpoint.is_enabled() {
            ""
        } else {
            " (disabled)"
        };
        let secret = server
            .secret_state(endpoint.id())
            .map_or_else(String::new, |s| secret_text(s, server));
        out.push_str(&format!(
            "  {}{state}  {base}{}\n    verification: {}\n    secret: {secret}\n",
            endpoint.id(),
            endpoint.path(),
            verification_text(endpoint)
        ));
    }
    out.push_str("\njobs:\n");
    for job in server.registry().jobs() {
        let state = if job.is_enabled() { "" } else { " (disabled)" };
        out.push_str(&format!(
            "  {}@{}{state}  \"{}\"  <- {}\n",
            job.id(),
            job.version(),
            job.name(),
            job.trigger().endpoint().id()
        ));
    }
    out.push('\n');
    out
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: no new requests; running jobs get the grace period");
}

/// Parses a size: `5MiB`, `512KiB`, `2MB`, `10k` or a number of bytes.
pub(crate) fn parse_size(text: &str) -> std::result::Result<usize, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: usize = number
        .parse()
        .map_err(|_| format!("invalid size {text:?}; write e.g. 5MiB"))?;
    let multiplier: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "kib" => 1024,
        "m" | "mb" => 1_000_000,
        "mib" => 1024 * 1024,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1024 * 1024 * 1024,
        other => {
            return Err(format!(
                "unknown size unit {other:?}; use B, KiB, MiB, GiB, KB, MB or GB"
            ));
        }
    };
    number
        .checked_mul(multiplier)
        .ok_or_else(|| format!("size {text:?} is too large"))
}

/// The shortest lease accepted: heartbeats go every third of it.
const MIN_LEASE: Duration = Duration::from_millis(100);

/// Parses a lease: a duration of at least 100 ms.
fn parse_lease(text: &str) -> std::result::Result<Duration, String> {
    let lease = parse_duration(text)?;
    if lease < MIN_LEASE {
        return Err(format!(
            "lease {text:?} is too short; use at least {}ms",
            MIN_LEASE.as_millis()
        ));
    }
    Ok(lease)
}

/// Parses a connection timeout: a duration above zero (zero would close every connection
/// before its first request).
fn parse_timeout(text: &str) -> std::result::Result<Duration, String> {
    let timeout = parse_duration(text)?;
    if timeout.is_zero() {
        return Err(format!(
            "timeout {text:?} would close every connection at once; use e.g. 10s"
        ));
    }
    Ok(timeout)
}

/// Parses a connection limit: a whole number from 1 to [`MAX_CONNECTIONS`].
fn parse_max_connections(text: &str) -> std::result::Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_CONNECTIONS).contains(&n) => Ok(n),
        _ => Err(format!(
            "invalid connection limit {text:?}; write a whole number from 1 to {MAX_CONNECTIONS}"
        )),
    }
}

/// Parses a duration with its unit: `30s`, `500ms`, `2m`, `1h`, `30d`. A bare number is
/// refused, as in `#[job(timeout = ...)]` (`30` could mean seconds or milliseconds), except
/// `0`, which is zero in every unit.
pub(crate) fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let text = text.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("invalid duration {text:?}; write e.g. 30s"))?;
    Ok(match unit.trim() {
        "" => {
            return Err(format!(
                "duration {text:?} has no unit; write e.g. {number}s, {number}ms, {number}m or {number}h"
            ));
        }
        "s" => Duration::from_secs(number),
        "ms" => Duration::from_millis(number),
        "m" => Duration::from_secs(number.saturating_mul(60)),
        "h" => Duration::from_secs(number.saturating_mul(3600)),
        "d" => Duration::from_secs(number.saturating_mul(86_400)),
        other => {
            return Err(format!(
                "unknown duration unit {other:?}; use ms, s, m, h or d"
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{parse_duration, parse_lease, parse_max_connections, parse_size, parse_timeout};

    #[test]
    fn sizes() {
        assert_eq!(parse_size("5MiB"), Ok(5 * 1024 * 1024));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert_eq!(parse_size("2 kb"), Ok(2000));
        assert!(parse_size("five").is_err());
        assert!(parse_size("5XB").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(
            parse_duration("7"),
            Err("duration \"7\" has no unit; write e.g. 7s, 7ms, 7m or 7h".to_owned())
        );
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn connection_timeouts() {
        assert_eq!(parse_timeout("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_timeout("1ms"), Ok(Duration::from_millis(1)));
        assert!(parse_timeout("0s").is_err());
        assert!(parse_timeout("10").is_err());
    }

    #[test]
    fn connection_limits() {
        assert_eq!(parse_max_connections("1024"), Ok(1024));
        assert_eq!(parse_max_connections("1"), Ok(1));
        assert!(parse_max_connections("0").is_err());
        assert!(parse_max_connections("-1").is_err());
        assert!(parse_max_connections("many").is_err());
        assert!(parse_max_connections("16777217").is_err());
    }

    #[test]
    fn leases() {
        assert_eq!(parse_lease("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_lease("100ms"), Ok(Duration::from_millis(100)));
        assert!(parse_lease("0ms").is_err());
        assert!(parse_lease("0").is_err());
        assert!(parse_lease("30").is_err());
        assert!(parse_lease("99ms").is_err());
        assert!(parse_lease("soon").is_err());
    }
}
