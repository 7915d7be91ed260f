//! Associations to the upstream kept open between queries (`keep_open`),
//! so that a query costs one C-FIND round trip instead of a TCP connect and
//! an association negotiation as well. An association is reused only for a
//! query that would propose the same contexts to the same address; one idle
//! for longer than `keep_open` is released. An upstream that serves one
//! association at a time (DCMTK's `wlmscpfs` without `--fork`) is kept busy
//! by an idle one, so `keep_open` is off unless set.

use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use crate::dimse::tls::Stream;
use tokio::time::Instant;

use crate::dimse::scu::{ProposedContext, ScuAssociation};

/// An association to the upstream.
pub(super) type Upstream = ScuAssociation<Stream>;

/// Most associations kept idle by one operation.
const MAX_IDLE: usize = 8;

/// What an association was opened with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Key {
    pub address: String,
    pub contexts: Vec<ProposedContext>,
}

/// The idle associations of one query operation.
pub(super) struct Pool {
    keep_open: Duration,
    idle: Mutex<Idle>,
}

#[derive(Default)]
struct Idle {
    entries: Vec<(Key, Upstream, Instant)>,
    /// A task releases expired entries while there are any.
    reaper: bool,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("keep_open", &self.keep_open)
            .finish_non_exhaustive()
    }
}

/// Ends an association politely, without making anyone wait for it.
fn release_later(assoc: Upstream) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(async move { assoc.release().await.ok() });
    }
}

impl Pool {
    pub(super) fn new(keep_open: Duration) -> Arc<Pool> {
        Arc::new(Pool {
            keep_open,
            idle: Mutex::new(Idle::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Idle> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Releases the entries idle for longer than `keep_open`; whether any
    /// are left.
    fn expire(&self) -> bool {
        let now = Instant::now();
        let mut idle = self.lock();
        let (expired, kept) = std::mem::take(&mut idle.entries)
            .into_iter()
            .partition(|(_, _, since)| now.duration_since(*since) >= self.keep_open);
        idle.entries = kept;
        let left = !idle.entries.is_empty();
        idle.reaper = left;
        drop(idle);
        for (_, assoc, _) in expired {
            release_later(assoc);
        }
        left
    }

    /// The most recently used idle association opened with `key`.
    pub(super) fn take(&self, key: &Key) -> Option<Upstream> {
        if self.keep_open.is_zero() {
            return None;
        }
        self.expire();
        let mut idle = self.lock();
        let i = idle.entries.iter().rposition(|(k, _, _)| k == key)?;
        Some(idle.entries.remove(i).1)
    }

    /// Keeps an association that ended a query cleanly, or releases it
    /// when associations are not kept open.
    pub(super) fn put(self: &Arc<Self>, key: Key, assoc: Upstream) {
        if self.keep_open.is_zero() {
            release_later(assoc);
            return;
        }
        let mut idle = self.lock();
        if idle.entries.len() >= MAX_IDLE {
            let (_, oldest, _) = idle.entries.remove(0);
            release_later(oldest);
        }
        idle.entries.push((key, assoc, Instant::now()));
        if !idle.reaper {
            idle.reaper = true;
            let (pool, period) = (Arc::downgrade(self), self.keep_open);
            tokio::spawn(reap(pool, period));
        }
    }
}

/// Releases expired associations until none is left or the pool is gone.
async fn reap(pool: Weak<Pool>, period: Duration) {
    loop {
        tokio::time::sleep(period).await;
        match pool.upgrade() {
            Some(pool) if pool.expire() => {}
            _ => return,
        }
    }
}

impl Drop for Pool {
    /// A reload replaced the operation: its idle associations are released.
    fn drop(&mut self) {
        let idle = std::mem::take(&mut self.lock().entries);
        for (_, assoc, _) in idle {
            release_later(assoc);
        }
    }
}
