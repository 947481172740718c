//! Waiting before trying again: claims after failed claims, and the jitter of retries.

use std::time::Duration;

/// While claims fail (the store is down), the next one waits longer each time: from 100 ms,
/// doubling, up to 10 s; the first claim that succeeds resets it.
#[derive(Debug, Default)]
pub(super) struct ClaimBackoff {
    /// Claims failed in a row.
    pub(super) failures: u32,
    until: Option<tokio::time::Instant>,
}

impl ClaimBackoff {
    const FIRST: Duration = Duration::from_millis(100);
    const MAX: Duration = Duration::from_secs(10);

    /// Records a failed claim; how long until the next.
    pub(super) fn failed(&mut self) -> Duration {
        let delay = Self::FIRST
            .saturating_mul(2u32.saturating_pow(self.failures.min(16)))
            .min(Self::MAX);
        self.failures += 1;
        self.until = Some(tokio::time::Instant::now() + delay);
        delay
    }

    /// Whether to wait before claiming again.
    pub(super) fn waiting(&self) -> bool {
        self.until
            .is_some_and(|until| tokio::time::Instant::now() < until)
    }
}

/// A number in `[0, 1)` for backoff jitter.
pub(super) fn jitter() -> f64 {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        return 0.5;
    }
    #[allow(clippy::cast_precision_loss)]
    let value = (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64;
    value
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::ClaimBackoff;

    #[test]
    fn failed_claims_back_off_from_100_ms_to_ten_seconds() {
        let mut backoff = ClaimBackoff::default();
        assert!(!backoff.waiting());
        let delays: Vec<Duration> = (0..10).map(|_| backoff.failed()).collect();
        let millis: Vec<u128> = delays.iter().map(Duration::as_millis).collect();
        assert_eq!(
            millis,
            [100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000, 10_000]
        );
        assert!(backoff.waiting());
        backoff.until = Some(tokio::time::Instant::now());
        assert!(!backoff.waiting(), "waits only until the delay is over");
    }
}
