//! Runs created already claimed at ingest and handed to the running worker loop in memory, so
//! that they need neither a claim nor a read of their event back from the store.
//!
//! An ingest takes a free slot of the loop ([`Handoff::reserve`]) before it stores the
//! webhook, stores the run claimed by it (see [`NewRun::lease`](crate::store::NewRun::lease)),
//! and hands it over once committed ([`Handoff::hand`]). While slots are scarce, they are taken
//! only while the queue may hold no due run: otherwise new webhooks would overtake older queued
//! runs (and retries that became due) for as long as webhooks keep coming. Anything that can
//! make runs due (an ingest that found no slot, another server's announcement, the poll tick)
//! marks the queue as possibly busy; a claim that finds fewer due runs than it asked for marks
//! it empty again, unless something was marked meanwhile.
//!
//! While more than half the slots would stay free, a slot is taken even if runs may be queued:
//! the loop's next claim takes every due run into the free slots at once, so a new run started
//! beside them does not make them wait. Under a steady stream of webhooks the queue is almost
//! never known empty (an ingest marks after its commit, so a claim that saw its run cannot
//! count its mark), and with the gate alone most runs went through the queue and a claim even
//! while the workers kept up (22–43 % handed over in the bench's sustained trials).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use crate::request::Request;
use crate::store::ClaimedRun;

/// A run handed over: created claimed, with the request its ingest verified (its job gets
/// that request, not one rebuilt from the stored event), and the slot it runs in.
pub(super) struct Handed {
    pub(super) claim: ClaimedRun,
    pub(super) request: Request,
    pub(super) permit: OwnedSemaphorePermit,
}

/// A free slot of the running worker, taken for a run an ingest creates claimed.
#[derive(Debug)]
pub(crate) struct Slot {
    permit: OwnedSemaphorePermit,
}

/// The way from ingest to the running loop.
#[derive(Debug, Default)]
pub(super) struct Handoff {
    /// While the loop runs: its slots, and where to hand runs.
    open: Mutex<Option<Open>>,
    /// How many times runs may have become due (see the module docs)...
    marked: AtomicU64,
    /// ...and how many of those a claim that found the queue empty had seen.
    drained: AtomicU64,
}

#[derive(Debug)]
struct Open {
    permits: Arc<Semaphore>,
    /// How many of them there are.
    slots: usize,
    runs: mpsc::UnboundedSender<Handed>,
}

impl Handoff {
    /// Starts taking runs for the loop whose `slots` are `permits`; the loop receives them.
    pub(super) fn open(
        &self,
        permits: Arc<Semaphore>,
        slots: usize,
    ) -> mpsc::UnboundedReceiver<Handed> {
        let (runs, received) = mpsc::unbounded_channel();
        *self.lock() = Some(Open {
            permits,
            slots,
            runs,
        });
        // Runs from before this start may be waiting.
        self.mark();
        received
    }

    /// Stops taking runs: a run reserved before and handed after comes back from
    /// [`hand`](Self::hand).
    pub(super) fn close(&self) {
        self.lock().take();
    }

    /// Runs may have become due: no slot is reserved until a claim has looked.
    pub(super) fn mark(&self) {
        self.marked.fetch_add(1, Ordering::AcqRel);
    }

    /// What a claim about to start has seen marked.
    pub(super) fn seen(&self) -> u64 {
        self.marked.load(Ordering::Acquire)
    }

    /// A claim that started after `seen` marks found every due run there was.
    pub(super) fn drained(&self, seen: u64) {
        self.drained.fetch_max(seen, Ordering::AcqRel);
    }

    /// Whether a claim found every due run there was since runs last may have become due:
    /// then another claim would find none (until the poll tick marks retries that came due).
    pub(super) fn quiet(&self) -> bool {
        self.drained.load(Ordering::Acquire) == self.marked.load(Ordering::Acquire)
    }

    /// A free slot, when the loop runs and has one, and either the queue holds no due run or
    /// more than half the slots stay free without this one (see the module docs).
    pub(super) fn reserve(&self) -> Option<Slot> {
        let open = self.lock();
        let open = open.as_ref()?;
        let plenty = || open.permits.available_permits().saturating_sub(1) * 2 > open.slots;
        if !self.quiet() && !plenty() {
            return None;
        }
        let permit = Arc::clone(&open.permits).try_acquire_owned().ok()?;
        Some(Slot { permit })
    }

    /// Hands `claim`, created for `request`, to the loop to execute in `slot`; gives it back
    /// when the loop has stopped.
    pub(super) fn hand(
        &self,
        claim: ClaimedRun,
        request: Request,
        slot: Slot,
    ) -> Option<ClaimedRun> {
        let handed = Handed {
            claim,
            request,
            permit: slot.permit,
        };
        match self.lock().as_ref() {
            Some(open) => open.runs.send(handed).err().map(|error| error.0.claim),
            None => Some(handed.claim),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Option<Open>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::sync::Semaphore;

    use super::Handoff;

    #[test]
    fn slots_are_handed_out_only_once_a_claim_found_the_queue_empty() {
        let handoff = Handoff::default();
        assert!(handoff.reserve().is_none(), "no loop runs");
        let permits = Arc::new(Semaphore::new(2));
        let _received = handoff.open(Arc::clone(&permits), 2);
        assert!(
            handoff.reserve().is_none(),
            "runs from before the start may wait"
        );

        let seen = handoff.seen();
        handoff.drained(seen);
        let slot = handoff.reserve().expect("a free slot");
        assert_eq!(permits.available_permits(), 1);
        drop(slot);

        // Marked while a claim was looking: that claim's empty answer does not count.
        let seen = handoff.seen();
        handoff.mark();
        handoff.drained(seen);
        assert!(handoff.reserve().is_none());
        let seen = handoff.seen();
        handoff.drained(seen);
        let (a, b) = (handoff.reserve(), handoff.reserve());
        assert!(a.is_some() && b.is_some());
        assert!(handoff.reserve().is_none(), "every slot is taken");

        handoff.close();
        drop((a, b));
        assert!(handoff.reserve().is_none(), "closed");
    }

    #[test]
    fn with_more_than_half_the_slots_free_a_slot_is_taken_though_runs_may_be_queued() {
        let handoff = Handoff::default();
        let permits = Arc::new(Semaphore::new(5));
        let _received = handoff.open(Arc::clone(&permits), 5);
        assert!(!handoff.quiet(), "runs from before the start may wait");
        // 5 free, then 4: more than half of 5 stay free without the slot taken.
        let taken = [handoff.reserve(), handoff.reserve()];
        assert!(taken.iter().all(Option::is_some));
        // 3 free: taking one would leave 2 of 5.
        assert!(handoff.reserve().is_none());
        assert_eq!(permits.available_permits(), 3);
        // Once a claim found the queue empty, every slot may go.
        let seen = handoff.seen();
        handoff.drained(seen);
        let rest: Vec<_> = std::iter::from_fn(|| handoff.reserve()).collect();
        assert_eq!(rest.len(), 3);
    }
}
