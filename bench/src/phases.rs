//! The measured phases: warm-up, closed loop (peak), open loop (fixed rate), waiting for every
//! run to succeed (end to end), and the split server's ingest-alone and workers-alone runs.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::client::{self, LoadResult, Workload};
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

    /// The next `count` webhooks of `workload` to `addr`, signed, each with a number of its own.
    pub(crate) fn webhooks(
        &mut self,
        addr: SocketAddr,
        count: usize,
        workload: Workload,
    ) -> Arc<Vec<Vec<u8>>> {
        client::webhook_requests(addr, SECRET, self.take(count), count, workload)
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
    let requests = numbering.webhooks(server.addr(), options.warmup, Workload::BOOKING);
    let result = rt.block_on(client::closed_loop(
        server.addr(),
        requests,
        options.concurrency,
    ))?;
    all_ok(server, "warm-up", &result)
}

/// Runs a closed loop of `--requests` webhooks of `workload` and samples CPU around it.
pub(crate) fn peak(
    rt: &Rt,
    server: &mut ServerProcess,
    options: &Options,
    numbering: &mut Numbering,
    workload: Workload,
) -> Result<(LoadResult, PhaseCpu), BoxError> {
    let requests = numbering.webhooks(server.addr(), options.requests, workload);
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
    let requests = numbering.webhooks(server.addr(), count, Workload::BOOKING);
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

/// The runs queued or running, from `GET /api/v1/queue`: counted through the store's indexes,
/// so a poll costs the server the same however many finished runs it keeps (the soak's
/// windows polled `/api/v1/stats`, a pass over every run, which took up to 1.7 s of the two
/// cores it measures per window once millions of runs were stored).
pub(crate) async fn backlog(server: SocketAddr) -> Result<u64, BoxError> {
    let queue = client::call_json("GET", server, "/api/v1/queue").await?;
    let count = |status: &str| queue["runs"][status].as_u64();
    match (count("queued"), count("running")) {
        (Some(queued), Some(running)) => Ok(queued + running),
        _ => Err(format!("no queued and running counts in {queue}").into()),
    }
}

/// Attempts the server started so far: `(handed over at ingest, claimed)`, from `/metrics`.
pub(crate) async fn started_via(server: SocketAddr) -> Result<(u64, u64), BoxError> {
    let text = String::from_utf8(client::call("GET", server, "/metrics").await?)?;
    let count = |via: &str| {
        let line = format!("trigger_attempts_started_total{{via=\"{via}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(line.as_str()))
            .map_or(Ok(0), str::parse)
    };
    Ok((count("ingest")?, count("claim")?))
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

/// The durable server: warm-up, peak, end to end, the rate its workers keep up with, open loop.
/// Returns the measurements and the open-loop rate it used.
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

    let (closed, _) = peak(rt, durable, options, numbering, Workload::BOOKING)?;
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

    measured.sustained_rate = crate::sustained::sustained_phase(
        rt,
        durable,
        options,
        numbering,
        e2e.rate(),
        measured.durable_rate,
    )?;

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
    /// Runs executed by the workers alone, per second.
    pub(crate) workers: f64,
}

/// The split server: ingest alone (closed loop, workers off) of the usual webhook, then the
/// workers alone on the backlog.
pub(crate) fn split_phase(
    rt: &Rt,
    options: &Options,
    numbering: &mut Numbering,
) -> Result<Split, BoxError> {
    let mut server = ServerProcess::start_split(SECRET)?;
    println!("  pid {} at http://{}", server.pid(), server.addr());
    warm_up(rt, &mut server, options, numbering)?;
    println!("  ingest alone (workers off):");
    let (closed, _) = peak(rt, &mut server, options, numbering, Workload::BOOKING)?;
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
        workers: rate,
    })
}

/// One round of the filters' share: the filters bench's 2 KiB webhook ingested by the split
/// server (workers off) on the filters' endpoint and on the example's, then at once the
/// filters' own CPU time per request, side by side since this machine's speed drifts.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FilterRound {
    /// Server CPU per ingest on the filters' endpoint, whose 20 filtered jobs the filters
    /// bench routes through: the ingest path the filters are part of.
    pub(crate) endpoint: Duration,
    /// Runs stored per webhook there (the jobs whose filters match).
    pub(crate) runs: f64,
    /// Server CPU per ingest of the same body on the example's endpoint, one job and no
    /// filter: the cheapest ingest of that body.
    pub(crate) one_job: Duration,
    /// The filters' CPU time per request.
    pub(crate) filters: Duration,
}

impl FilterRound {
    /// The filters' share of the ingest path they are part of.
    pub(crate) fn share(&self) -> f64 {
        share(self.filters, self.endpoint)
    }

    /// The filters' share of the one-job ingest.
    pub(crate) fn one_job_share(&self) -> f64 {
        share(self.filters, self.one_job)
    }
}

fn share(part: Duration, whole: Duration) -> f64 {
    part.as_secs_f64() / whole.as_secs_f64().max(1e-12)
}

/// What the filter rounds measured.
#[derive(Clone, Debug)]
pub(crate) struct FilterShare {
    /// Ingest of the 2 KiB webhook on the example's endpoint, per second (the median round).
    pub(crate) ingest_large: f64,
    /// Every round, in order.
    pub(crate) rounds: Vec<FilterRound>,
}

/// Rounds of the filters' share.
const FILTER_ROUNDS: usize = 5;

/// The filters' share of the ingest, on a split server of its own (the runs it leaves queued
/// would otherwise be the workers' backlog): [`FILTER_ROUNDS`] rounds of [`FilterRound`].
pub(crate) fn filter_phase(
    rt: &Rt,
    options: &Options,
    numbering: &mut Numbering,
) -> Result<FilterShare, BoxError> {
    let mut server = ServerProcess::start_split(SECRET)?;
    println!("  pid {} at http://{}", server.pid(), server.addr());
    warm_up(rt, &mut server, options, numbering)?;
    let routing = filters::Routing::new()?;
    let mut rates = Vec::new();
    let mut rounds = Vec::new();
    for round in 1..=FILTER_ROUNDS {
        println!("  round {round}: the 2 KiB webhook to the 20 filtered jobs' endpoint:");
        let before = rt.block_on(counts(server.addr()))?.total();
        let (result, cpu) = peak(rt, &mut server, options, numbering, filters::FILTERED)?;
        let stored = rt.block_on(counts(server.addr()))?.total() - before;
        let endpoint = cpu.per_request(&result)?;
        let runs = stored as f64 / result.ok.max(1) as f64;
        println!("  round {round}: the same webhook to the example's endpoint (one job):");
        let (large, cpu) = peak(rt, &mut server, options, numbering, filters::LARGE)?;
        let one_job = cpu.per_request(&large)?;
        let filters = routing.cpu_cost(Duration::from_millis(400))?;
        let round = FilterRound {
            endpoint,
            runs,
            one_job,
            filters,
        };
        println!(
            "  server CPU per ingest {:.1} µs ({runs:.1} runs each) and {:.1} µs (one run); the \
             filters' CPU per request {:.2} µs = {:.1}% and {:.1}%",
            endpoint.as_secs_f64() * 1e6,
            one_job.as_secs_f64() * 1e6,
            filters.as_secs_f64() * 1e6,
            round.share() * 100.0,
            round.one_job_share() * 100.0,
        );
        rates.push(large.rate());
        rounds.push(round);
    }
    rates.sort_by(f64::total_cmp);
    Ok(FilterShare {
        ingest_large: rates[rates.len() / 2],
        rounds,
    })
}
