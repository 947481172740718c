//! [`RetryPolicy`]: how many attempts a run gets and how long it waits between them.

use std::time::Duration;

/// Attempts and exponential backoff with jitter between them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    max_attempts: u32,
    min_backoff: Duration,
    max_backoff: Duration,
}

impl Default for RetryPolicy {
    /// Three attempts, waiting about 1 s then 2 s (capped at 60 s).
    fn default() -> Self {
        Self {
            max_attempts: 3,
            min_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// A policy of `max_attempts` attempts (at least 1) with the default backoff.
    pub fn attempts(max_attempts: u32) -> Self {
        Self {
            max_attempts: max_attempts.max(1),
            ..Self::default()
        }
    }

    /// Sets the backoff bounds: the first retry waits about `min`, doubling up to `max`.
    #[must_use]
    pub fn with_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.min_backoff = min;
        self.max_backoff = max.max(min);
        self
    }

    /// The wait after the first failed attempt.
    pub fn min_backoff(&self) -> Duration {
        self.min_backoff
    }

    /// The longest wait between attempts.
    pub fn max_backoff(&self) -> Duration {
        self.max_backoff
    }

    /// The maximum number of attempts.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// How long to wait after failed attempt number `attempt` (from 1): `min · 2^(attempt-1)`,
    /// capped at `max`, then scaled by a random factor in `[0.5, 1.0]` so that many runs failing
    /// together do not retry together.
    pub fn backoff(&self, attempt: u32, random: f64) -> Duration {
        let exp = 2u32.saturating_pow(attempt.saturating_sub(1).min(31));
        let base = self.min_backoff.saturating_mul(exp).min(self.max_backoff);
        base.mul_f64(0.5 + random.clamp(0.0, 1.0) / 2.0)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::RetryPolicy;

    #[test]
    fn backoff_doubles_and_caps() {
        let p =
            RetryPolicy::attempts(10).with_backoff(Duration::from_secs(1), Duration::from_secs(5));
        assert_eq!(p.backoff(1, 1.0), Duration::from_secs(1));
        assert_eq!(p.backoff(2, 1.0), Duration::from_secs(2));
        assert_eq!(p.backoff(4, 1.0), Duration::from_secs(5));
        assert_eq!(p.backoff(2, 0.0), Duration::from_secs(1));
        assert_eq!(RetryPolicy::attempts(0).max_attempts(), 1);
    }
}
