//! The command line every user binary gets from [`run`]: `serve` (the default), `endpoints`,
//! `jobs`, `runs`, `run <id>`, `replay <run-id>`, `cancel <run-id>` and `send <endpoint-id>`.

use std::time::Duration;

use clap::{Parser, Subcommand};

pub(crate) use self::parse::{parse_duration, parse_size};
use self::parse::{parse_lease, parse_max_connections, parse_timeout};
pub use self::runtime::runtime;
use crate::error::Result;
use crate::registry::Registry;
use crate::server::ServerConfig;
use crate::store::Store;
use crate::worker::WorkerConfig;

mod client;
mod inspect;
mod parse;
mod runtime;
mod send;
mod serve;

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
    /// List the jobs: id, version, name, endpoint, and their runs by status.
    Jobs,
    /// List runs, newest first.
    Runs {
        /// Only runs with this status: queued, running, succeeded, failed, canceled.
        #[arg(long)]
        status: Option<String>,
        /// Only runs of this job.
        #[arg(long)]
        job: Option<String>,
        /// At most this many (1 to 500).
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Show a run: its status, attempts, output or error, and every log line.
    Run {
        /// The run's id, `run_…`.
        id: String,
    },
    /// Run a run's job again on the same event: a new run.
    Replay {
        /// The run's id, `run_…`.
        run_id: String,
    },
    /// Cancel a run: a queued run never starts; a running one stops at its next heartbeat.
    Cancel {
        /// The run's id, `run_…`.
        run_id: String,
    },
    /// Sign a body with an endpoint's own scheme and secret, send it to the running server
    /// (`--host`, `--port`), and follow the runs it starts until they finish.
    Send {
        /// The endpoint's id.
        endpoint: String,
        /// The body to send (a small example JSON body without it).
        #[arg(long, conflicts_with = "job")]
        file: Option<std::path::PathBuf>,
        /// Send this job's example payload (`#[job(example = "file.json")]`).
        #[arg(long)]
        job: Option<String>,
        /// The body's content type.
        #[arg(long, default_value = "application/json")]
        content_type: String,
        /// How long to follow the runs, e.g. 30s.
        #[arg(long, default_value = "30s", value_parser = parse_duration)]
        wait: Duration,
    },
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
    #[arg(
        long,
        env = "TRIGGER_CONCURRENCY",
        default_value_t = 256,
        global = true
    )]
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
    /// How log lines are written to stderr: `text`, for people, or `json`, one object per
    /// line with its spans, for log collectors.
    #[arg(long, env = "TRIGGER_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
}

/// The format of log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// `2026-12-03T09:30:00Z  INFO request{method=POST path=/endpoints/cal.com}: accepted webhook`.
    Text,
    /// `{"timestamp":…,"level":"INFO","fields":{"message":"accepted webhook",…},"spans":[…]}`.
    Json,
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
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(error) => {
            // --help and --version print and succeed; usage errors print and exit with 2.
            let _ = error.print();
            #[allow(clippy::exit)]
            std::process::exit(error.exit_code());
        }
    };
    init_tracing(cli.options.log_format);
    match dotenv {
        Err(error) if !error.not_found() => tracing::warn!(%error, "could not read .env"),
        _ => {}
    }
    let registry = Registry::from_inventory()?;
    let options = cli.options;
    let output = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => return serve::serve(registry, options).await,
        Command::Endpoints => return serve::endpoints(registry, &options).await,
        Command::Send {
            endpoint,
            file,
            job,
            content_type,
            wait,
        } => {
            let args = send::SendArgs {
                endpoint: &endpoint,
                file: file.as_deref(),
                job: job.as_deref(),
                content_type: &content_type,
                wait,
            };
            return send::send(registry, &options, &args).await;
        }
        command => inspect(&registry, &options, command).await?,
    };
    print!("{output}");
    Ok(())
}

/// The commands that read or change the store, and what they print.
async fn inspect(registry: &Registry, options: &Options, command: Command) -> Result<String> {
    let store = Store::open(&options.database_url).await?;
    match command {
        Command::Jobs => inspect::jobs(registry, &store).await,
        Command::Runs { status, job, limit } => {
            inspect::runs(&store, status.as_deref(), job, limit).await
        }
        Command::Run { id } => inspect::run(&store, &id).await,
        Command::Replay { run_id } => inspect::replay(registry, &store, &run_id).await,
        Command::Cancel { run_id } => inspect::cancel(&store, &run_id).await,
        Command::Serve | Command::Endpoints | Command::Send { .. } => Ok(String::new()),
    }
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`): lines for people, or one JSON
/// object per line with the event's fields and its spans (`request`, `run`).
fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => {
            let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
            builder.with_target(false).with_ansi(ansi).try_init()
        }
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .try_init(),
    };
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
