//! Who gets in. A connection holds an association slot only once it has
//! sent a valid A-ASSOCIATE-RQ: before that it is in the handshake, which
//! has a budget of its own. When the budget is full, a new connection
//! closes the oldest one still in the handshake, so stalled handshakes
//! (a port scanner, a half-open flood, all from one address or many) can
//! never keep a real peer out; a real peer sends its RQ at once and is out
//! of the handshake before it could be the oldest.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

/// Connections in the handshake at once: at least this many, and twice
/// `max_associations` (a burst of real peers connecting at once is not
/// mistaken for a flood); past it the oldest is closed.
pub(super) const MIN_HANDSHAKE_BUDGET: usize = 128;

/// The handshake budget of a listener with this many association slots.
pub(super) fn handshake_budget(max_associations: usize) -> usize {
    max_associations.saturating_mul(2).max(MIN_HANDSHAKE_BUDGET)
}

/// The admission state of one listener.
#[derive(Debug)]
pub(super) struct Admission {
    /// `max_associations` slots.
    slots: Arc<Semaphore>,
    /// Rejections past the limit that may wait for the peer to close;
    /// beyond them a rejected connection is closed right after the RJ.
    rejections: Arc<Semaphore>,
    /// Connections in the handshake, oldest first, each with the token
    /// that closes it.
    handshakes: Mutex<VecDeque<(u64, CancellationToken)>>,
    budget: usize,
}

impl Admission {
    pub(super) fn new(max_associations: usize, handshake_budget: usize) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(max_associations)),
            rejections: Arc::new(Semaphore::new(max_associations)),
            handshakes: Mutex::new(VecDeque::new()),
            budget: handshake_budget.max(1),
        }
    }

    /// Connection `id` enters the handshake. Returns the token that closes
    /// it, and whether an older connection was closed to make room.
    pub(super) fn handshake(&self, id: u64) -> (CancellationToken, bool) {
        let mut open = self.lock();
        let evicted = open.len() >= self.budget;
        if evicted && let Some((_, oldest)) = open.pop_front() {
            oldest.cancel();
        }
        let token = CancellationToken::new();
        open.push_back((id, token.clone()));
        (token, evicted)
    }

    /// Connection `id` left the handshake (it sent its RQ, or closed).
    pub(super) fn handshake_done(&self, id: u64) {
        self.lock().retain(|(open, _)| *open != id);
    }

    /// An association slot, if one is free.
    pub(super) fn slot(&self) -> Option<OwnedSemaphorePermit> {
        self.slots.clone().try_acquire_owned().ok()
    }

    /// Leave to wait for a rejected peer to close, if there is room.
    pub(super) fn rejection(&self) -> Option<OwnedSemaphorePermit> {
        self.rejections.clone().try_acquire_owned().ok()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<(u64, CancellationToken)>> {
        self.handshakes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_handshake_budget_closes_the_oldest_to_admit_a_newcomer() {
        let admission = Admission::new(2, 3);
        let tokens: Vec<_> = (1..=3).map(|id| admission.handshake(id)).collect();
        assert!(
            tokens
                .iter()
                .all(|(t, evicted)| !t.is_cancelled() && !evicted)
        );
        let (fourth, evicted) = admission.handshake(4);
        assert!(evicted && tokens[0].0.is_cancelled() && !fourth.is_cancelled());
        assert!(!tokens[1].0.is_cancelled());
        // One that sent its RQ is never closed for a newcomer.
        admission.handshake_done(2);
        assert!(!admission.handshake(5).1, "room again");
        assert!(admission.handshake(6).1);
        assert!(!tokens[1].0.is_cancelled() && tokens[2].0.is_cancelled());
    }

    #[test]
    fn slots_are_what_max_associations_says() {
        let admission = Admission::new(2, 3);
        let (a, b) = (admission.slot(), admission.slot());
        assert!(a.is_some() && b.is_some() && admission.slot().is_none());
        drop(a);
        assert!(admission.slot().is_some());
    }
}
