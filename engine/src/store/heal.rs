//! Reopening the store under a running engine. sled 0.34 keeps the first
//! failed write of its log (ENOSPC on a full disk) as a global error and
//! refuses every later operation until the database is opened again, so
//! without this a full disk would leave every lane failing to read its
//! queue and every C-STORE refused until a restart, even after space came
//! back. [`Store::heal`] does to the store what a restart does, in place:
//! sled recovers from its log, messages whose records were lost with the
//! failed writes come back from their bodies' trailers (as on start, see
//! [`super::recover`], leaving files in transfer alone), and deliveries left in flight are queued again (a
//! duplicate at worst, never a loss).
//!
//! A failed fsync is different: it latches (see [`super::latch`]) and only
//! a restart clears it.

use std::time::Duration;

use super::error::error_chain;
use super::recover::restore_missing_live;
use super::{Backend, Bodies, Store, StoreError};
use crate::message::MessageError;

/// What [`Store::heal`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// sled writes.
    Working,
    /// sled stopped writing and there is no room to reopen it yet (why).
    Waiting(String),
    /// sled had stopped writing and was reopened.
    Reopened(Healed),
}

/// Free space sled needs to be reopened and to write again (a few of its
/// log segments); below it a reopen would only fail again.
const REOPEN_FREE: u64 = 4 << 20;

/// What a reopen did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Healed {
    /// Messages restored from their bodies.
    pub restored: usize,
    /// Deliveries that were in flight, queued again.
    pub requeued: usize,
}

/// How long a reopen waits for the last handles on the failed database to
/// go (an operation in progress holds one; sled's file lock goes with the
/// last).
const CLOSE_WAIT: Duration = Duration::from_millis(500);

impl Store {
    /// Whether sled works: a flush fails once it refuses everything.
    pub fn healthy(&self) -> bool {
        self.db().is_ok_and(|db| db.flush().is_ok())
    }

    /// Reopens the store when sled refuses to work and there is room.
    ///
    /// # Errors
    /// The store cannot be opened again (then it stays closed and every
    /// operation says so until a later call succeeds), the sync latch is
    /// tripped, or the recovery failed.
    pub fn heal(&self, bodies: &Bodies) -> Result<Health, MessageError> {
        if self.healthy() {
            return Ok(Health::Working);
        }
        self.check_latch()?;
        if let Ok(free) = fs2::available_space(self.path())
            && free < REOPEN_FREE
        {
            return Ok(Health::Waiting(format!(
                "{} KiB free in {}, {} MiB needed to reopen it",
                free >> 10,
                self.path().display(),
                REOPEN_FREE >> 20
            )));
        }
        self.reopen()?;
        let restored = restore_missing_live(self, bodies)?.restored;
        let mut requeued = 0;
        for ns in self.message_namespaces() {
            requeued += self.messages(&ns)?.requeue_in_flight()?;
        }
        Ok(Health::Reopened(Healed { restored, requeued }))
    }

    fn reopen(&self) -> Result<(), StoreError> {
        // No message write may start on the old database meanwhile.
        let _writes = self
            .inner
            .message_writes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut backend = self
            .inner
            .backend
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        drop(std::mem::replace(
            &mut *backend,
            Backend::Closed("it is being reopened".into()),
        ));
        let started = std::time::Instant::now();
        loop {
            match Backend::open(&self.inner.path) {
                Ok(open) => {
                    *backend = open;
                    return Ok(());
                }
                Err(StoreError::Locked { .. }) if started.elapsed() < CLOSE_WAIT => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => {
                    *backend = Backend::Closed(error_chain(&e));
                    return Err(e);
                }
            }
        }
    }
}
