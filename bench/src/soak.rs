//! `--soak SECS`: the durable example under a steady open loop for a long time, read window by
//! window, to show whether its memory, its p99 and its queue of runs stay flat.
//!
//! The rate is `--soak-rate`, or `--rate-fraction` of a closed-loop peak measured first (the
//! backlog of that peak is drained before the soak starts). Each window of `--soak-window`
//! seconds is its own open loop at that rate; the requests of the next window are signed on
//! another thread meanwhile, so that windows follow each other without a gap.

use std::time::{Duration, Instant};

use crate::client;
use crate::phases::{self, Numbering, Rt, counts, wait_for_runs};
use crate::report::{self, Percentiles, mb, ms};
use crate::servers::ServerProcess;
use crate::{BoxError, Options, SECRET, proc};

/// What one window measured.
#[derive(Clone, Copy, Debug)]
struct Window {
    /// Seconds since the soak started, at the window's end.
    at: f64,
    rate: f64,
    latency: Percentiles,
    rss_kib: u64,
    /// Runs queued or running at the window's end.
    backlog: u64,
}

/// Runs the soak against a fresh durable server for `secs` seconds.
pub(crate) fn soak(
    rt: &Rt,
    executable: &std::path::Path,
    options: &Options,
    secs: u64,
) -> Result<(), BoxError> {
    let window_secs = options.soak_window.max(1);
    if secs < 4 * window_secs {
        return Err(format!(
            "--soak {secs} is too short for windows of {window_secs} s: give at least four windows"
        )
        .into());
    }
    report::heading("soak: example-caldotcom, SQLite store");
    let mut server = ServerProcess::start_durable(executable, SECRET)?;
    println!("  pid {} at http://{}", server.pid(), server.addr());
    let mut numbering = Numbering::default();
    let rate = settle(rt, &mut server, options, &mut numbering)?;

    let windows = secs / window_secs;
    let per_window = (rate * window_secs as f64).ceil().max(1.0) as usize;
    println!(
        "  open loop at {rate:.0}/s for {} s: {windows} windows of {window_secs} s, {per_window} webhooks each",
        windows * window_secs
    );
    let addr = server.addr();
    let sign = |first: u64| {
        std::thread::spawn(move || {
            client::webhook_requests(addr, SECRET, first, per_window, client::Workload::BOOKING)
        })
    };
    let mut next = sign(numbering.take(per_window));
    let started = Instant::now();
    let mut seen = Vec::new();
    let mut all: Vec<u64> = Vec::new();
    for _ in 0..windows {
        let requests = next.join().map_err(|_| "signing the requests panicked")?;
        next = sign(numbering.take(per_window));
        let latencies = window(rt, &mut server, options, requests, rate, started, &mut seen)?;
        all.extend(latencies);
    }
    let peak = proc::memory(server.pid())?.peak_kib;
    print_verdict(&seen, &Percentiles::of(&all), rate, peak);
    Ok(())
}

/// Warms the server up and returns the soak's rate, once every run so far has succeeded: the
/// soak starts with an empty queue.
fn settle(
    rt: &Rt,
    server: &mut ServerProcess,
    options: &Options,
    numbering: &mut Numbering,
) -> Result<f64, BoxError> {
    phases::warm_up(rt, server, options, numbering)?;
    let rate = match options.soak_rate {
        Some(rate) => rate,
        None => {
            let (closed, _) =
                phases::peak(rt, server, options, numbering, client::Workload::BOOKING)?;
            closed.rate() * options.rate_fraction
        }
    };
    let timeout = Duration::from_secs(options.e2e_timeout_secs);
    let total = rt.block_on(counts(server.addr()))?.total();
    wait_for_runs(rt, server, total, timeout)?;
    Ok(rate)
}

/// One window: `requests` at `rate`, then the server's memory and queue; prints its line,
/// adds it to `seen` and returns its latencies.
fn window(
    rt: &Rt,
    server: &mut ServerProcess,
    options: &Options,
    requests: std::sync::Arc<Vec<Vec<u8>>>,
    rate: f64,
    started: Instant,
    seen: &mut Vec<Window>,
) -> Result<Vec<u64>, BoxError> {
    let result = phases::open_loop(rt, server, options, requests, rate)?;
    phases::all_ok(server, "soak", &result)?;
    let asked = Instant::now();
    let backlog = rt.block_on(phases::backlog(server.addr()))?;
    let counted = asked.elapsed();
    let window = Window {
        at: started.elapsed().as_secs_f64(),
        rate: result.rate(),
        latency: Percentiles::of(&result.latencies),
        rss_kib: proc::memory(server.pid())?.current_kib,
        backlog,
    };
    println!(
        "  {:>5.0} s  {:>6.0}/s  p50 {}  p99 {}  max {}  RSS {}  runs queued or running {} (counted in {:.0} ms)",
        window.at,
        window.rate,
        ms(window.latency.p50),
        ms(window.latency.p99),
        ms(window.latency.max),
        mb(window.rss_kib),
        window.backlog,
        counted.as_secs_f64() * 1e3
    );
    seen.push(window);
    Ok(result.latencies)
}

/// The medians of the four quarters of `values` (each has at least one value; all zero when
/// there are none).
fn quarters(values: &[u64]) -> [u64; 4] {
    if values.is_empty() {
        return [0; 4];
    }
    let n = values.len();
    std::array::from_fn(|i| {
        let start = (i * n / 4).min(n - 1);
        let end = ((i + 1) * n / 4).max(start + 1);
        let mut part = values[start..end].to_vec();
        part.sort_unstable();
        part[part.len() / 2]
    })
}

/// RSS moves by a few MB from one window to the next as caches fill and allocators return
/// memory: flat is at most 5 MB or a tenth above the first quarter, whichever is more.
const RSS_SLACK_KIB: u64 = 5 * 1000 * 1000 / 1024;

/// Flat: the last quarter's median RSS is within [`RSS_SLACK_KIB`] or a tenth of the first
/// quarter's, its median p99 at most half above; the queue at the end is at most a second of
/// webhooks, so the workers kept up.
fn print_verdict(seen: &[Window], overall: &Percentiles, rate: f64, peak_kib: u64) {
    report::heading("soak: verdict");
    let rss = quarters(&seen.iter().map(|w| w.rss_kib).collect::<Vec<_>>());
    let p99 = quarters(&seen.iter().map(|w| w.latency.p99).collect::<Vec<_>>());
    let backlog = seen.last().map_or(0, |w| w.backlog);
    let verdict = |flat: bool| if flat { "flat" } else { "NOT flat" };
    let rss_flat = rss[3] <= rss[0] + (rss[0] / 10).max(RSS_SLACK_KIB);
    println!(
        "  memory: median RSS of each quarter {}, peak {}: {}",
        rss.map(mb).join(", "),
        mb(peak_kib),
        verdict(rss_flat)
    );
    println!(
        "  p99: median of the windows' p99 in each quarter {}: {}",
        p99.map(ms).join(", "),
        verdict(p99[3] * 2 <= p99[0] * 3)
    );
    println!(
        "  queue: {backlog} runs queued or running at the end, against {rate:.0} webhooks per second: {}",
        if (backlog as f64) <= rate {
            "the workers kept up"
        } else {
            "the workers fell behind"
        }
    );
    println!("  every ack of the soak: {}", overall.line());
}

#[cfg(test)]
mod tests {
    use super::quarters;

    #[test]
    fn quarters_are_the_medians_of_each_quarter() {
        assert_eq!(
            quarters(&[1, 3, 2, 9, 9, 9, 4, 4, 5, 7, 6, 8]),
            [2, 9, 4, 7]
        );
        assert_eq!(quarters(&[4, 5, 6, 7, 100]), [4, 5, 6, 100]);
        assert_eq!(quarters(&[3, 1]), [3, 3, 1, 1]);
        assert_eq!(quarters(&[]), [0; 4]);
    }
}
