//! What the workers did, counted for `GET /metrics`: attempts by job and outcome, and how long
//! they took, as Prometheus histograms.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The upper bounds of the attempt duration histogram's buckets, in seconds.
pub const BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// How an attempt ended, as the metrics name it.
pub const OUTCOMES: [&str; 5] = ["succeeded", "retrying", "failed", "suspended", "lost"];

/// How a worker got the runs it started, as the metrics name it: handed over by the ingest
/// that created them claimed, or claimed from the store.
pub const STARTED_VIA: [&str; 2] = ["ingest", "claim"];

/// The attempts of every job since the process started.
#[derive(Debug, Default)]
pub struct AttemptMetrics {
    jobs: Mutex<BTreeMap<String, JobAttempts>>,
    /// Attempts started, by [`STARTED_VIA`].
    started: [AtomicU64; STARTED_VIA.len()],
}

#[derive(Debug, Default)]
struct JobAttempts {
    outcomes: [u64; OUTCOMES.len()],
    /// Attempts at most each bucket's bound (not cumulative here; summed when shown).
    buckets: [u64; BUCKETS.len()],
    count: u64,
    seconds: f64,
}

impl AttemptMetrics {
    /// Counts an attempt of `job` that ended with `outcome` (one of [`OUTCOMES`]) after
    /// `took`.
    pub fn record(&self, job: &str, outcome: &str, took: Duration) {
        let mut jobs = self
            .jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let attempts = match jobs.get_mut(job) {
            Some(attempts) => attempts,
            None => jobs.entry(job.to_owned()).or_default(),
        };
        if let Some(i) = OUTCOMES.iter().position(|o| *o == outcome) {
            attempts.outcomes[i] += 1;
        }
        let seconds = took.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|bound| seconds <= *bound) {
            attempts.buckets[i] += 1;
        }
        attempts.count += 1;
        attempts.seconds += seconds;
    }

    /// Counts an attempt started by a run got `via` (one of [`STARTED_VIA`]).
    pub fn started(&self, via: &str) {
        if let Some(i) = STARTED_VIA.iter().position(|v| *v == via) {
            self.started[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Appends the metrics in Prometheus text format.
    pub fn render(&self, out: &mut String) {
        out.push_str(
            "# HELP trigger_attempts_started_total Attempts started, by how the worker got the \
             run: handed over by its ingest, or claimed from the store.\n",
        );
        out.push_str("# TYPE trigger_attempts_started_total counter\n");
        for (via, n) in STARTED_VIA.iter().zip(&self.started) {
            let n = n.load(Ordering::Relaxed);
            let _ = writeln!(out, "trigger_attempts_started_total{{via=\"{via}\"}} {n}");
        }
        let jobs = self
            .jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        out.push_str("# HELP trigger_attempts_total Job attempts finished, by job and outcome.\n");
        out.push_str("# TYPE trigger_attempts_total counter\n");
        for (job, attempts) in jobs.iter() {
            for (outcome, n) in OUTCOMES.iter().zip(attempts.outcomes) {
                let job = label(job);
                let _ = writeln!(
                    out,
                    "trigger_attempts_total{{job=\"{job}\",outcome=\"{outcome}\"}} {n}"
                );
            }
        }
        out.push_str("# HELP trigger_attempt_duration_seconds How long job attempts took.\n");
        out.push_str("# TYPE trigger_attempt_duration_seconds histogram\n");
        for (job, attempts) in jobs.iter() {
            let job = label(job);
            let mut cumulative = 0;
            for (bound, n) in BUCKETS.iter().zip(attempts.buckets) {
                cumulative += n;
                let _ = writeln!(
                    out,
                    "trigger_attempt_duration_seconds_bucket{{job=\"{job}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            let (count, sum) = (attempts.count, attempts.seconds);
            let _ = writeln!(
                out,
                "trigger_attempt_duration_seconds_bucket{{job=\"{job}\",le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(
                out,
                "trigger_attempt_duration_seconds_sum{{job=\"{job}\"}} {sum}"
            );
            let _ = writeln!(
                out,
                "trigger_attempt_duration_seconds_count{{job=\"{job}\"}} {count}"
            );
        }
    }
}

/// `value` as a label value: backslash, quote and newline escaped.
pub(crate) fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{AttemptMetrics, label};

    #[test]
    fn attempts_render_as_counters_and_a_cumulative_histogram() {
        let metrics = AttemptMetrics::default();
        metrics.record("mail", "succeeded", Duration::from_millis(3));
        metrics.record("mail", "failed", Duration::from_millis(200));
        metrics.record("mail", "succeeded", Duration::from_secs(400));
        let mut out = String::new();
        metrics.render(&mut out);
        assert!(
            out.contains("trigger_attempts_total{job=\"mail\",outcome=\"succeeded\"} 2\n"),
            "{out}"
        );
        assert!(out.contains("trigger_attempts_total{job=\"mail\",outcome=\"failed\"} 1\n"));
        assert!(
            out.contains("trigger_attempt_duration_seconds_bucket{job=\"mail\",le=\"0.005\"} 1\n")
        );
        assert!(
            out.contains("trigger_attempt_duration_seconds_bucket{job=\"mail\",le=\"0.25\"} 2\n")
        );
        assert!(
            out.contains("trigger_attempt_duration_seconds_bucket{job=\"mail\",le=\"300\"} 2\n")
        );
        assert!(
            out.contains("trigger_attempt_duration_seconds_bucket{job=\"mail\",le=\"+Inf\"} 3\n")
        );
        assert!(out.contains("trigger_attempt_duration_seconds_count{job=\"mail\"} 3\n"));
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
