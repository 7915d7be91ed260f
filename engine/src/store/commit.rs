//! Group commit: many writers, one flush.
//!
//! A writer makes its change (sled transaction, body file renamed), then
//! awaits [`GroupCommit::sync`]. One committer task takes every request
//! waiting at that moment, flushes sled, fsyncs its log and (when one of
//! them created a body file not yet durable) the bodies folder once for all of them, then answers them all. Requests that arrive
//! during a flush wait for the next one, since their changes may have been
//! made after the flush began. Under load, the cost of one flush is shared
//! by every concurrent C-STORE.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::bodies::Bodies;
use super::error::error_chain;
use super::{Store, StoreError};

/// A waiting writer: whether its change needs the bodies folder synced (a
/// new body file whose entry is not durable yet), and where to answer.
type Reply = (bool, oneshot::Sender<Result<(), CommitError>>);

/// The handle writers use. Cheap to clone; the committer task stops when
/// the last handle is dropped.
#[derive(Debug, Clone)]
pub struct GroupCommit {
    // Unbounded: each waiting writer holds at most one request, so the
    // channel is bounded by the number of concurrent writers.
    tx: mpsc::UnboundedSender<Reply>,
    /// A flush nobody waits for is queued ([`Self::request_soon`]): more
    /// such requests add nothing.
    background_pending: Arc<AtomicBool>,
}

/// How long a flush nobody waits for is held back to gather more changes.
const BACKGROUND_DELAY: Duration = Duration::from_millis(20);

/// Why a commit failed; the C-STORE is then answered with a failure. Shared
/// by every writer of the batch, hence the `Arc`s.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CommitError {
    #[error("could not make the message durable: {}", error_chain(.0.as_ref()))]
    Store(Arc<StoreError>),
    #[error("could not make the bodies folder durable: {0}")]
    Folder(Arc<std::io::Error>),
    #[error("the commit did not finish: {0}")]
    Task(Arc<tokio::task::JoinError>),
    #[error("the committer has stopped")]
    Stopped,
}

impl CommitError {
    /// Refused because an earlier sync failed.
    pub fn is_latched(&self) -> bool {
        matches!(self, Self::Store(e) if matches!(**e, StoreError::Latched(_)))
    }

    /// The runtime stopped before the flush could run: the engine is
    /// shutting down, and flushes the store itself as it stops.
    fn is_shutdown(&self) -> bool {
        matches!(self, Self::Task(e) if e.is_cancelled())
    }
}

impl GroupCommit {
    /// Spawns the committer task on the current tokio runtime.
    pub fn spawn(store: Store, bodies: Bodies) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<Reply>();
        let store = Arc::new(store);
        let background_pending = Arc::new(AtomicBool::new(false));
        let pending = background_pending.clone();
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                while let Ok(more) = rx.try_recv() {
                    batch.push(more);
                }
                if batch.iter().all(|(_, reply)| reply.is_closed()) {
                    // Only background requests: let more changes gather,
                    // unless a writer that waits comes along.
                    let deadline = tokio::time::Instant::now() + BACKGROUND_DELAY;
                    while let Ok(Some(more)) = tokio::time::timeout_at(deadline, rx.recv()).await {
                        let waits = !more.1.is_closed();
                        batch.push(more);
                        if waits {
                            break;
                        }
                    }
                    while let Ok(more) = rx.try_recv() {
                        batch.push(more);
                    }
                }
                // Changes made from here on need another flush.
                pending.store(false, Ordering::Release);
                let store = store.clone();
                let bodies = bodies.clone();
                let n = batch.len();
                let needs_dir = batch.iter().any(|(dir, _)| *dir);
                let result = tokio::task::spawn_blocking(move || {
                    let t0 = std::time::Instant::now();
                    let sync_store = || store.sync().map_err(|e| CommitError::Store(Arc::new(e)));
                    if !needs_dir {
                        return sync_store();
                    }
                    // The two are independent (the bodies were fdatasynced
                    // before their records were written): run them at once.
                    let (store_result, dir_result) = std::thread::scope(|s| {
                        let dir = s.spawn(|| bodies.sync_dir());
                        let store_result = sync_store();
                        let dir_result = dir.join().unwrap_or_else(|_| {
                            Err(std::io::Error::other("the folder sync panicked"))
                        });
                        (store_result, dir_result)
                    });
                    tracing::trace!(batch = n, took = ?t0.elapsed(), "Group commit.");
                    store_result.and(dir_result.map_err(|e| CommitError::Folder(Arc::new(e))))
                })
                .await
                .unwrap_or_else(|e| Err(CommitError::Task(Arc::new(e))));
                // Nobody may wait for this result (`request_soon`): say it
                // here. A latched store has said so once already; a flush
                // cut off by the shutdown is made by the shutdown itself.
                match &result {
                    Err(e) if e.is_shutdown() => {
                        tracing::debug!(
                            batch = n,
                            "A group commit was left to the shutdown's flush."
                        );
                    }
                    Err(e) if !e.is_latched() => {
                        tracing::error!(error = %e, batch = n, "A group commit failed.");
                    }
                    _ => {}
                }
                for (_, reply) in batch {
                    reply.send(result.clone()).ok();
                }
            }
        });
        Self {
            tx,
            background_pending,
        }
    }

    /// Returns once every change made before the call is durable, new body
    /// files included.
    ///
    /// # Errors
    /// [`CommitError`] when the flush or an fsync failed.
    pub async fn sync(&self) -> Result<(), CommitError> {
        self.request(true).await
    }

    /// Asks for a flush without waiting for it: the changes made so far
    /// become durable with the next commit, soon.
    pub fn request_soon(&self) {
        if self.background_pending.swap(true, Ordering::AcqRel) {
            return;
        }
        let (reply, _no_wait) = oneshot::channel();
        self.tx.send((false, reply)).ok();
    }

    async fn request(&self, needs_dir: bool) -> Result<(), CommitError> {
        let (reply, wait) = oneshot::channel();
        self.tx
            .send((needs_dir, reply))
            .map_err(|_| CommitError::Stopped)?;
        wait.await.unwrap_or(Err(CommitError::Stopped))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A flush the runtime dropped on its way down (what a shutdown does to
    /// a blocking task not started yet) is told apart from a failed one.
    #[test]
    fn a_flush_cut_off_by_the_shutdown_is_not_a_failure() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let task = runtime.spawn(std::future::pending::<()>());
        task.abort();
        let cancelled = runtime.block_on(task).unwrap_err();
        assert!(CommitError::Task(Arc::new(cancelled)).is_shutdown());
        assert!(!CommitError::Stopped.is_shutdown());
        let folder = CommitError::Folder(Arc::new(std::io::Error::other("disk gone")));
        assert!(!folder.is_shutdown());
    }
}
