//! The highest rate at which the durable server's workers keep up: open-loop trials at rates
//! found by bisection, each keeping up when every webhook was acknowledged on time and the
//! runs queued or running at its end are no more than [`BACKLOG_SECS`] of webhooks.
//!
//! The closed-loop peak is measured while the workers fall behind (most of its runs are still
//! queued at its last acknowledgement), so it is not a rate the server sustains; this is.

use std::time::Duration;

use crate::client::Workload;
use crate::phases::{Numbering, Rt, all_ok, counts, open_loop, started_via, wait_for_runs};
use crate::servers::ServerProcess;
use crate::{BoxError, Options, report};

/// How long each trial sends.
const TRIAL_SECS: f64 = 4.0;

/// How many trials the bisection runs.
const TRIALS: usize = 5;

/// The queue a trial may end with, in seconds of its rate: what is in flight, not a backlog
/// that grows (a rate a twentieth too high leaves twice this after a trial).
const BACKLOG_SECS: f64 = 0.1;

/// One trial's outcome.
#[derive(Clone, Copy, Debug)]
struct Trial {
    /// The rate sent, webhooks per second.
    rate: f64,
    /// Runs queued or running when the last webhook was acknowledged.
    backlog: u64,
    /// Whether the workers kept up.
    kept_up: bool,
    /// The share of its runs handed over at ingest; the others went through the queue and a
    /// claim.
    handed: f64,
}

/// The highest rate that kept up (`None` if none did), found between half the end-to-end rate
/// and the closed-loop `peak`, starting at `end_to_end`.
pub(crate) fn sustained_phase(
    rt: &Rt,
    server: &mut ServerProcess,
    options: &Options,
    numbering: &mut Numbering,
    end_to_end: f64,
    peak: f64,
) -> Result<Option<f64>, BoxError> {
    report::heading("durable: the highest rate the workers keep up with (open loop)");
    let timeout = Duration::from_secs(options.e2e_timeout_secs);
    let (mut low, mut high) = (end_to_end * 0.5, peak.max(end_to_end));
    let mut rate = end_to_end;
    let mut best = None;
    for _ in 0..TRIALS {
        let trial = trial(rt, server, options, numbering, rate, timeout)?;
        println!(
            "  {:>6.0}/s for {TRIAL_SECS} s: {} runs queued or running at the last ack, {:.0} % handed over at ingest: {}",
            trial.rate,
            trial.backlog,
            trial.handed * 100.0,
            if trial.kept_up {
                "kept up"
            } else {
                "fell behind"
            }
        );
        if trial.kept_up {
            best = Some(rate);
            low = rate;
        } else {
            high = rate;
        }
        rate = (low + high) / 2.0;
    }
    Ok(best)
}

/// Sends `rate` webhooks per second for [`TRIAL_SECS`], reads the queue at the end, then waits
/// until every run succeeded (so that the next trial starts from an empty queue).
fn trial(
    rt: &Rt,
    server: &mut ServerProcess,
    options: &Options,
    numbering: &mut Numbering,
    rate: f64,
    timeout: Duration,
) -> Result<Trial, BoxError> {
    let before = rt.block_on(counts(server.addr()))?.total();
    let started_before = rt.block_on(started_via(server.addr()))?;
    let count = (rate * TRIAL_SECS).ceil().max(1.0) as usize;
    let requests = numbering.webhooks(server.addr(), count, Workload::BOOKING);
    let result = open_loop(rt, server, options, requests, rate)?;
    let at_end = rt.block_on(counts(server.addr()))?;
    all_ok(server, "sustained trial", &result)?;
    wait_for_runs(rt, server, before + result.ok as u64, timeout)?;
    let started = rt.block_on(started_via(server.addr()))?;
    let (handed, claimed) = (started.0 - started_before.0, started.1 - started_before.1);
    let backlog = at_end.queued + at_end.running;
    Ok(Trial {
        rate,
        backlog,
        kept_up: kept_up(rate, result.elapsed, backlog),
        handed: handed as f64 / (handed + claimed).max(1) as f64,
    })
}

/// Whether a trial at `rate` kept up: its last acknowledgement `elapsed` after its start came
/// within a tenth of the trial after its schedule ended, and it left at most [`BACKLOG_SECS`]
/// of webhooks queued or running.
fn kept_up(rate: f64, elapsed: Duration, backlog: u64) -> bool {
    elapsed.as_secs_f64() <= TRIAL_SECS * 1.1 && backlog as f64 <= rate * BACKLOG_SECS
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::kept_up;

    #[test]
    fn a_trial_keeps_up_with_what_is_in_flight_only() {
        let on_time = Duration::from_secs_f64(4.05);
        assert!(kept_up(10_000.0, on_time, 0));
        assert!(
            kept_up(10_000.0, on_time, 1_000),
            "a tenth of a second in flight"
        );
        assert!(!kept_up(10_000.0, on_time, 1_001), "a queue that grew");
        let late = Duration::from_secs_f64(4.5);
        assert!(!kept_up(10_000.0, late, 0), "acknowledged behind schedule");
    }
}
