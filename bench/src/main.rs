//! `trigger-bench`: how many signed Cal.com webhooks per second the durable `example-caldotcom`
//! server acknowledges, compared with a bare handler that only verifies the signature, how fast
//! their runs then finish, at what latency and in how much memory.
//!
//! ```sh
//! cargo run --release -p trigger-bench                # the full report
//! cargo run --release -p trigger-bench -- --help      # options
//! ```
//!
//! Phases: build the example (release) → bare server: warm-up, closed loop → durable server:
//! warm-up, closed loop, wait until every run succeeded (end to end), the highest open-loop rate
//! the workers keep up with (bisected), open loop at a fraction of the durable peak → the bare
//! server at the same open-loop rate (reference) → split server: ingest alone, then workers
//! alone (diagnosis) → targets.
//! Each server is a separate process, killed when the bench ends, fails or panics.

mod client;
mod filters;
mod phases;
mod proc;
mod report;
mod scale;
mod servers;
mod soak;
mod split;
mod store_ops;
mod sustained;

// Shared with the end-to-end tests (`tests/common`), where these items are public.
#[allow(dead_code, unreachable_pub)]
#[path = "../../tests/common/poll.rs"]
mod poll;
#[allow(dead_code, unreachable_pub)]
#[path = "../../tests/common/temp_dir.rs"]
mod temp_dir;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::phases::Numbering;
use crate::report::Measured;
use crate::servers::ServerProcess;

/// The example's allocator, so that the bare and split servers (this binary) and the example
/// are compared on the same one.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Any error, with a message for the user.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The Cal.com secret every server verifies with.
pub(crate) const SECRET: &str = "whsec_trigger_bench_0123456789abcdef";

#[derive(Debug, Parser)]
#[command(
    about = "Benchmark: the durable Cal.com example server against a bare verifying handler",
    version
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    options: Options,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the bare verifying handler (the bench starts itself with this).
    #[command(hide = true)]
    BareServer {
        /// Port to listen on (0 picks a free one).
        #[arg(long, default_value_t = 0)]
        port: u16,
    },
    /// Serve the runtime's router and store with the workers off until `POST /bench/workers`.
    #[command(hide = true)]
    SplitServer {
        /// Port to listen on (0 picks a free one).
        #[arg(long, default_value_t = 0)]
        port: u16,
    },
    /// Only measure filters: 20 filtered jobs on one endpoint against a 2 KiB webhook.
    Filters {
        /// Requests routed per measurement.
        #[arg(long, default_value_t = 50_000)]
        iterations: u32,
    },
    /// Only measure the SQLite store: each webhook's ingest, claim and finish, without HTTP.
    Store {
        /// Webhooks written.
        #[arg(long, default_value_t = 50_000)]
        webhooks: u64,
    },
}

/// The bench's options.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Options {
    /// Webhooks sent to each server in the closed-loop (peak) run.
    #[arg(long, default_value_t = 20_000)]
    pub(crate) requests: usize,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 64)]
    pub(crate) concurrency: usize,
    /// The open-loop rate, as a fraction of the durable server's closed-loop peak.
    #[arg(long, default_value_t = 0.5)]
    pub(crate) rate_fraction: f64,
    /// How long the open-loop run lasts, in seconds.
    #[arg(long, default_value_t = 5.0)]
    pub(crate) open_loop_secs: f64,
    /// Skip the bare server (no ceiling and no ratio).
    #[arg(long)]
    pub(crate) skip_bare: bool,
    /// Warm-up webhooks per server before measuring (not counted).
    #[arg(long, default_value_t = 1000)]
    pub(crate) warmup: usize,
    /// Worker threads of the load generator's runtime (the servers get the other cores).
    #[arg(long, default_value_t = 1)]
    pub(crate) client_threads: usize,
    /// Skip the split server (ingest alone, then workers alone).
    #[arg(long)]
    pub(crate) skip_split: bool,
    /// How long to wait for every run to succeed, in seconds.
    #[arg(long, default_value_t = 120)]
    pub(crate) e2e_timeout_secs: u64,
    /// Measure the durable server on this PostgreSQL database instead (one, then two server
    /// processes on a fresh schema each), e.g. postgres://postgres@127.0.0.1:5432/test.
    #[arg(long)]
    pub(crate) database_url: Option<String>,
    /// Instead of the report: soak the durable server for this many seconds at half its peak
    /// (see --rate-fraction, --soak-rate), window by window: RSS, p99 and the queue of runs.
    #[arg(long, value_name = "SECS")]
    pub(crate) soak: Option<u64>,
    /// The soak's rate in webhooks per second, instead of --rate-fraction of a measured peak.
    #[arg(long)]
    pub(crate) soak_rate: Option<f64>,
    /// The length of one soak window, in seconds.
    #[arg(long, default_value_t = 10)]
    pub(crate) soak_window: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::BareServer { port }) => servers::run_bare_server(port),
        Some(Command::SplitServer { port }) => split::run_split_server(port),
        Some(Command::Filters { iterations }) => {
            filters::measure(iterations).map(|cost| report::print_filters(&cost))
        }
        Some(Command::Store { webhooks }) => store_ops::measure(webhooks),
        None => bench(&cli.options),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("\nerror: {error}");
            ExitCode::FAILURE
        }
    }
}

fn bench(options: &Options) -> Result<(), BoxError> {
    check(options)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(options.client_threads.max(1))
        .enable_all()
        .build()?;
    let executable = prepare(options)?;
    if let Some(url) = &options.database_url {
        return scale::scale_out(&rt, &executable, options, url);
    }
    if let Some(secs) = options.soak {
        return soak::soak(&rt, &executable, options, secs);
    }

    let mut numbering = Numbering::default();
    let mut measured = Measured::default();
    let mut bare = None;
    if !options.skip_bare {
        bare = Some(bare_peak(&rt, options, &mut numbering, &mut measured)?);
    }
    let rate = durable(
        &rt,
        &executable,
        options,
        &mut numbering,
        &mut measured,
        bare.as_ref(),
    )?;
    if let Some(server) = &mut bare {
        report::heading("reference: bare server at the same open-loop rate");
        phases::open(&rt, server, options, &mut numbering, rate)?;
    }
    if !options.skip_split {
        report::heading("split: the runtime's router + SQLite store in the bench binary");
        measured.split = Some(phases::split_phase(&rt, options, &mut numbering)?);
        report::heading("filters' share: the 2 KiB webhook ingested, then routed in the bench");
        measured.filter_share = Some(phases::filter_phase(&rt, options, &mut numbering)?);
    }
    report::heading("filters: 20 filtered jobs on one endpoint, one webhook");
    let cost = filters::measure(50_000)?;
    report::print_filters(&cost);
    measured.filters = Some(cost);
    let missed = report::print_targets(&measured);
    println!(
        "\n  {missed} of 6 targets missed{}",
        if missed > 0 {
            "; see the cpu lines above for where the time goes"
        } else {
            ""
        }
    );
    // The guard kills the bare server here (and both servers on every early return or panic).
    drop(bare);
    Ok(())
}

/// Refuses options that would measure nothing.
fn check(options: &Options) -> Result<(), BoxError> {
    if options.requests == 0 || options.concurrency == 0 {
        return Err("--requests and --concurrency must be at least 1".into());
    }
    if !(options.rate_fraction > 0.0 && options.open_loop_secs > 0.0) {
        return Err("--rate-fraction and --open-loop-secs must be positive".into());
    }
    if options
        .soak_rate
        .is_some_and(|rate| rate.is_nan() || rate <= 0.0)
    {
        return Err("--soak-rate must be positive".into());
    }
    Ok(())
}

/// Prints the setup and builds the example in release mode; returns its executable.
fn prepare(options: &Options) -> Result<PathBuf, BoxError> {
    report::heading("trigger-bench");
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    println!(
        "  {} webhooks per peak run (+{} warm-up), {} connections, client runtime {} thread(s), {cores} cores",
        options.requests, options.warmup, options.concurrency, options.client_threads
    );
    println!(
        "  sample body ({} bytes): {}",
        client::booking_body(0).len(),
        client::booking_body(0)
    );
    println!("  building example-caldotcom (release)...");
    let executable = servers::build_example()?;
    println!("  server binary: {}", executable.display());
    Ok(executable)
}

/// Starts the bare server, warms it up and measures its peak (the ceiling); returns the server,
/// kept for the open-loop reference run.
fn bare_peak(
    rt: &phases::Rt,
    options: &Options,
    numbering: &mut Numbering,
    measured: &mut Measured,
) -> Result<ServerProcess, BoxError> {
    report::heading("bare: axum + HMAC verification, nothing stored");
    let mut server = ServerProcess::start_bare(SECRET)?;
    println!("  pid {} at http://{}", server.pid(), server.addr());
    phases::warm_up(rt, &mut server, options, numbering)?;
    let (closed, _) = phases::peak(
        rt,
        &mut server,
        options,
        numbering,
        client::Workload::BOOKING,
    )?;
    measured.bare_rate = Some(closed.rate());
    Ok(server)
}

/// Starts the durable server, runs its phases and reads its memory (and `bare`'s); returns the
/// open-loop rate. The server is killed on return: it would go on executing the open loop's
/// runs during the reference run.
fn durable(
    rt: &phases::Rt,
    executable: &Path,
    options: &Options,
    numbering: &mut Numbering,
    measured: &mut Measured,
    bare: Option<&ServerProcess>,
) -> Result<f64, BoxError> {
    report::heading("durable: example-caldotcom, SQLite store");
    let mut durable = ServerProcess::start_durable(executable, SECRET)?;
    let fs = proc::filesystem(durable.dir()).map_or_else(
        || "?".to_owned(),
        |(kind, mount)| format!("{kind} on {mount}"),
    );
    println!(
        "  pid {} at http://{}, store {}/.trigger/trigger.db ({fs})",
        durable.pid(),
        durable.addr(),
        durable.dir().display()
    );
    let rate = phases::durable_phase(rt, &mut durable, options, numbering, measured)?;

    report::heading("memory");
    let durable_memory = proc::memory(durable.pid())?;
    measured.durable_peak_kib = durable_memory.peak_kib;
    report::print_memory("durable", durable_memory);
    if let Some(server) = bare {
        report::print_memory("bare", proc::memory(server.pid())?);
    }
    let stderr = durable.stderr_tail();
    if !stderr.is_empty() {
        println!("  note: the durable server wrote to stderr{stderr}");
    }
    Ok(rate)
}
