//! [`Deliveries`]: what each endpoint received lately, accepted or not, kept in memory only: a
//! bounded ring per endpoint (one shared ring for ids no endpoint has), so that forged traffic
//! costs no disk writes and no memory beyond the rings; and the counts by outcome that
//! `/metrics` shows.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Mutex;

use serde::Serialize;

use crate::time::Timestamp;

/// How many deliveries each ring keeps.
pub const RING: usize = 300;

/// The ring of requests to ids that no endpoint has.
pub const UNKNOWN_ENDPOINT: &str = "(unknown)";

/// What became of a delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Outcome {
    /// Stored, with its runs.
    Accepted,
    /// A redelivery of a stored event: no new runs.
    Duplicate,
    /// Answered by a handshake (a preset's or a `respond_with` fn's).
    Answered,
    /// Refused: unknown endpoint, too large, bad signature, stale timestamp, ...
    Rejected,
    /// Not stored for a fault of the server (the store, a verify fn that hung): retryable.
    Failed,
}

impl Outcome {
    /// Every outcome, in the order `/metrics` lists them.
    pub const ALL: [Self; 5] = [
        Self::Accepted,
        Self::Duplicate,
        Self::Answered,
        Self::Rejected,
        Self::Failed,
    ];

    /// Its name, as in JSON and metrics.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Duplicate => "duplicate",
            Self::Answered => "answered",
            Self::Rejected => "rejected",
            Self::Failed => "failed",
        }
    }
}

/// One request to `/endpoints/{id}`, as the dashboard shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Delivery {
    /// When it arrived.
    pub at: Timestamp,
    /// What became of it.
    pub outcome: Outcome,
    /// The status it was answered with.
    pub status: u16,
    /// The stored event, when it was stored (or was a duplicate of one).
    pub event_id: Option<String>,
    /// Why it was refused or failed (never a secret or a signature).
    pub reason: Option<String>,
    /// The sender's address, when the connection gave one.
    pub from: Option<SocketAddr>,
}

/// The recent deliveries of every endpoint, and counts of all of them.
#[derive(Debug, Default)]
pub struct Deliveries {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    rings: HashMap<String, VecDeque<Delivery>>,
    counts: HashMap<(String, Outcome), u64>,
}

impl Deliveries {
    /// Records `delivery` to `endpoint` (a known endpoint's id, or [`UNKNOWN_ENDPOINT`]).
    pub fn record(&self, endpoint: &str, delivery: Delivery) {
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let outcome = delivery.outcome;
        match inner.counts.get_mut(&(endpoint.to_owned(), outcome)) {
            Some(count) => *count += 1,
            None => {
                inner.counts.insert((endpoint.to_owned(), outcome), 1);
            }
        }
        let ring = match inner.rings.get_mut(endpoint) {
            Some(ring) => ring,
            None => inner
                .rings
                .entry(endpoint.to_owned())
                .or_insert_with(|| VecDeque::with_capacity(RING)),
        };
        if ring.len() == RING {
            ring.pop_front();
        }
        ring.push_back(delivery);
    }

    /// The deliveries to `endpoint` still in its ring, newest first.
    pub fn recent(&self, endpoint: &str) -> Vec<Delivery> {
        let inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        inner
            .rings
            .get(endpoint)
            .map(|ring| ring.iter().rev().cloned().collect())
            .unwrap_or_default()
    }

    /// How many deliveries each endpoint had, by outcome, since the server started.
    pub fn counts(&self) -> Vec<(String, Outcome, u64)> {
        let inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut counts: Vec<(String, Outcome, u64)> = inner
            .counts
            .iter()
            .map(|((endpoint, outcome), count)| (endpoint.clone(), *outcome, *count))
            .collect();
        counts.sort_by(|a, b| (&a.0, a.1.name()).cmp(&(&b.0, b.1.name())));
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::{Deliveries, Delivery, Outcome, RING};
    use crate::time::Timestamp;

    fn delivery(outcome: Outcome, status: u16) -> Delivery {
        Delivery {
            at: Timestamp::from_unix_millis(0),
            outcome,
            status,
            event_id: None,
            reason: None,
            from: None,
        }
    }

    #[test]
    fn rings_are_bounded_newest_first_and_counts_keep_everything() {
        let deliveries = Deliveries::default();
        for i in 0..RING + 10 {
            let status = u16::try_from(i).unwrap_or(u16::MAX);
            deliveries.record("a", delivery(Outcome::Rejected, status));
        }
        deliveries.record("b", delivery(Outcome::Accepted, 200));
        let recent = deliveries.recent("a");
        assert_eq!(recent.len(), RING);
        assert_eq!(recent[0].status, u16::try_from(RING + 9).unwrap_or(0));
        assert_eq!(
            deliveries.counts(),
            [
                ("a".to_owned(), Outcome::Rejected, 310),
                ("b".to_owned(), Outcome::Accepted, 1)
            ]
        );
        assert!(deliveries.recent("c").is_empty());
    }
}
