//! The measured phases: warm-up, closed loop (peak), open loop (fixed rate), waiting for every
//! run to succeed (end to end), and the split server's ingest-alone and workers-alone runs.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::client::{self, LoadResult};
use crate::poll::{POLL, RunCounts, poll_until};
use crate::proc::{PhaseCpu, PhaseSampler};
use crate::report::{self, EndToEnd, Measured, Percentiles};
use crate::servers::ServerProcess;
use crate::{BoxError, Options, SECRET, filters};

/// The client runtime every phase drives its load from.
pub(crate) type Rt = tokio::runtime::Runtime;

/// Numbers the webhooks so that every body is unique across all phases.
#[derive(Debug, Default)]
pub(crate) struct Numbering(u64);

impl Numbering {
    pub(crate) fn take(&mut self, count: usize) -> u64 {
        let first = self.0;
        self.0 += count as u64;
        first
    }
}

/// Fails loudly unless every answer was `200`.
pub(crate) fn all_ok(
    server: &mut ServerProcess,
    phase: &str,
    result: &LoadResult,
) -> Result<(), BoxError> {
    server.check_alive()?;
    if result.non_ok == 0 {
        return Ok(());
    }
    Err(format!(
        "{phase}: {} of {} answers were not 200; the first: {}{}",
        result.non_ok,
        result.non_ok + result.ok,
        result.first_error.as_deref().unwrap_or("?"),
        server.stderr_tail()
    )
    .into())
}

/// Sends `count` signed webhooks in a closed loop (no measurement) to warm the server up.
pub(crate) fn warm_up(
    rt: &Rt,
    server: &mut ServerProcess,
    options: &Options,
    numbering: &mut Numbering,
) -> Result<(), BoxError> {
    if options.warmup == 0 {
        return Ok(());
    }
    let requests = client::webhook_requests(
        server.addr(),
        SECRET,
        numbering.take(options.warmup),
        options.warmup,
        client::booking_body,
    );
    let result = rt.block_on(client::closed_loop(
        server.addr(),
        requests,
        options.concurrency,
    ))?;
    all_ok(server, "warm-up", &result)
}

/// Runs a closed loop of `--requests` webhooks with bodies `body(n)` and samples CPU around it.
pub(crate) fn peak(
    rt: &Rt,
    server: &mut ServerProcess,
    options: &Options,
    numbering: &mut Numbering,
    body: fn(u64) -> String,
) -> Result<(LoadResult, PhaseCpu), BoxError> {
    let requests = client::webhook_requests(
        server.addr(),
        SECRET,
        numbering.take(options.requests),
        options.requests,
        body,
    );
    let sampler = PhaseSampler::start(server.pid())?;
    let result = rt.block_on(client::closed_loop(
        server.addr(),
        requests,
        options.concurrency,
    ))?;
    let cpu = sampler.finish()?;
    report::print_closed(&result, options.concurrency);
    report::print_cpu(&cpu);
    all_ok(server, "closed loop", &result)?;
    Ok((result, cpu))
}

/// Runs an open loop at `rate` for `--open-loop-secs` and samples CPU around it.
pub(crate) fn open(
    rt: &Rt,
    server: &mut ServerProcess,
    options: &Options,
    numbering: &mut Numbering,
    rate: f64,
) -> Result<LoadResult, BoxError> {
    let count = (rate * options.open_loop_secs).ceil().max(1.0) as usize;
    let requests = client::webhook_requests(
        server.addr(),
        SECRET,
        numbering.take(count),
        count,
        client::booking_body,
    );
    let sampler = PhaseSampler::start(server.pid())?;
    let result = open_loop(rt, server, options, requests, rate)?;
    let cpu = sampler.finish()?;
    report::print_open(&result, rate);
    report::print_cpu(&cpu);
    all_ok(server, "open loop", &result)?;
    Ok(result)
}

/// Sends signed `requests` at `rate` over `--concurrency` connections (see
/// [`client::open_loop`]).
pub(crate) fn open_loop(
    rt: &Rt,
    server: &ServerProcess,
    options: &Options,
    requests: Arc<Vec<Vec<u8>>>,
    rate: f64,
) -> Result<LoadResult, BoxError> {
    let result = client::open_loop(server.addr(), requests, options.concurrency, rate);
    Ok(rt.block_on(result)?)
}

/// The run counts of `GET /api/v1/stats`.
pub(crate) async fn counts(server: SocketAddr) -> Result<RunCounts, BoxError> {
    let stats = client::call_json("GET", server, "/api/v1/stats").await?;
    let counts = RunCounts::from_stats(&stats);
    counts.ok_or_else(|| format!("no count for every run status in {stats}").into())
}

/// Polls `/api/v1/stats` every [`POLL`] until `expected` runs exist and all of them
/// succeeded; returns when that was seen.
pub(crate) fn wait_for_runs(
    rt: &Rt,
    server: &mut ServerProcess,
    expected: u64,
    timeout: Duration,
) -> Result<Instant, BoxError> {
    let mut seen = RunCounts::default();
    let mut look = || -> Result<Option<Instant>, BoxError> {
        seen = rt.block_on(counts(server.addr()))?;
        let now = Instant::now();
        if seen.unsuccessful() > 0 {
            return Err(format!("{} runs failed or were canceled", seen.unsuccessful()).into());
        }
        if seen.total() == expected && seen.succeeded == expected {
            return Ok(Some(now));
        }
        server.check_alive()?;
        Ok(None)
    };
    if let Some(done) = poll_until(timeout, || look().transpose()) {
        return done;
    }
    Err(format!(
        "after {timeout:?}: {} of {} runs succeeded, {expected} expected{}",
        seen.succeeded,
        seen.total(),
        server.stderr_tail()
    )
    .into())
}

/// The durable server: warm-up, peak, end to end, open loop. Returns the measurements and the
/// open-loop rate it used.
pub(crate) fn durable_phase(
    rt: &Rt,
    durable: &mut ServerProcess,
    options: &Options,
    numbering: &mut Numbering,
    measured: &mut Measured,
) -> Result<f64, BoxError> {
    let timeout = Duration::from_secs(options.e2e_timeout_secs);
    warm_up(rt, durable, options, numbering)?;
    let baseline = rt.block_on(counts(durable.addr()))?.total();
    wait_for_runs(rt, durable, baseline, timeout)?;

    let (closed, _) = peak(rt, durable, options, numbering, client::booking_body)?;
    measured.durable_rate = closed.rate();
    let acked = Instant::now();
    let at_ack = rt.block_on(counts(durable.addr()))?;
    let sampler = PhaseSampler::start(durable.pid())?;
    let expected = baseline + closed.ok as u64;
    let done = wait_for_runs(rt, durable, expected, timeout)?;
    let drain_cpu = sampler.finish()?;
    let started = closed.started.unwrap_or(acked);
    let e2e = EndToEnd {
        runs: closed.ok as u64,
        total: done - started,
        ingest: closed.elapsed,
        backlog: expected.saturating_sub(at_ack.succeeded),
        drain: done.saturating_duration_since(acked),
    };
    report::heading("durable: end to end");
    report::print_end_to_end(&e2e, POLL);
    println!("  while draining the backlog:");
    report::print_cpu(&drain_cpu);
    measured.e2e_rate = Some(e2e.rate());

    let rate = measured.durable_rate * options.rate_fraction;
    report::heading(&format!(
        "durable: open loop at {:.0}% of its peak",
        options.rate_fraction * 100.0
    ));
    let result = open(rt, durable, options, numbering, rate)?;
    measured.open_p99 = Some((rate, Percentiles::of(&result.latencies).p99));
    Ok(rate)
}

/// What the split server measured.
#[derive(Clone, Debug)]
pub(crate) struct Split {
    /// Ingest alone, the ~360-byte webhook, per second.
    pub(crate) ingest: f64,
    /// Ingest alone, the filters bench's 2 KiB webhook, per second (the median round).
    pub(crate) ingest_large: f64,
    /// Each round of the 2 KiB webhook: the server's CPU time per ingest, and right after it
    /// the filters' CPU time per request.
    pub(crate) filter_rounds: Vec<(Duration, Duration)>,
    /// Runs executed by the workers alone, per second.
    pub(crate) workers: f64,
}

/// Rounds of (2 KiB ingest, filters) pairs: measured side by side, since this machine's speed
/// drifts between phases.
const FILTER_ROUNDS: usize = 5;

/// The split server: ingest alone (closed loop, workers off) of the usual webhook and of the
/// filters bench's 2 KiB one, then the workers alone on the backlog.
pub(crate) fn split_phase(
    rt: &Rt,
    options: &Options,
    numbering: &mut Numbering,
) -> Result<Split, BoxError> {
    let mut server = ServerProcess::start_split(SECRET)?;
    println!("  pid {} at http://{}", server.pid(), server.addr());
    warm_up(rt, &mut server, options, numbering)?;
    println!("  ingest alone (workers off):");
    let (closed, _) = peak(rt, &mut server, options, numbering, client::booking_body)?;
    let (ingest_large, filter_rounds) = filter_rounds(rt, &mut server, options, numbering)?;
    let queued = rt.block_on(counts(server.addr()))?.total();
    let sampler = PhaseSampler::start(server.pid())?;
    let started = Instant::now();
    rt.block_on(client::call_json("POST", server.addr(), "/bench/workers"))?;
    let timeout = Duration::from_secs(options.e2e_timeout_secs);
    let done = wait_for_runs(rt, &mut server, queued, timeout)?;
    let cpu = sampler.finish()?;
    let took = done - started;
    let rate = queued as f64 / took.as_secs_f64().max(1e-9);
    println!(
        "  workers alone: {queued} queued runs executed in {:.3} s = {rate:.0} runs/s",
        took.as_secs_f64()
    );
    report::print_cpu(&cpu);
    Ok(Split {
        ingest: closed.rate(),
        ingest_large,
        filter_rounds,
        workers: rate,
    })
}

/// The request whose filters the filters bench routes, ingested: the time the filters are
/// compared with, each round followed at once by the filters' own. Returns the median ingest
/// rate and each round's (server CPU per ingest, filters' CPU per request).
fn filter_rounds(
    rt: &Rt,
    server: &mut ServerProcess,
    options: &Options,
    numbering: &mut Numbering,
) -> Result<(f64, Vec<(Duration, Duration)>), BoxError> {
    let routing = filters::Routing::new()?;
    let mut rates = Vec::new();
    let mut rounds = Vec::new();
    for round in 1..=FILTER_ROUNDS {
        println!("  ingest alone (workers off), the filters bench's 2 KiB webhook, round {round}:");
        let body = filters::large_booking_body;
        let (large, cpu) = peak(rt, server, options, numbering, body)?;
        let ingest = cpu.wall.mul_f64(cpu.server.cores) / u32::try_from(large.ok.max(1))?;
        let filters = routing.cpu_cost(Duration::from_millis(400))?;
        println!(
            "  server CPU per ingest {:.1} µs, then the filters' CPU per request {:.2} µs = {:.1}%",
            ingest.as_secs_f64() * 1e6,
            filters.as_secs_f64() * 1e6,
            filters.as_secs_f64() / ingest.as_secs_f64().max(1e-12) * 100.0
        );
        rates.push(large.rate());
        rounds.push((ingest, filters));
    }
    rates.sort_by(f64::total_cmp);
    Ok((rates[rates.len() / 2], rounds))
}
