//! Taking a message in: its body made durable, then its record and one
//! queue entry per target written, then the targets woken. Only then is the
//! message acknowledged to whoever sent it.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::ItemContext;
use crate::message::{ItemAddress, MessageError, MessageHeader, MessageId};
use crate::store::spool::SpooledData;
use crate::store::{BodyTrailer, CommitError};

/// Why a message could not be taken in; nothing was acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error(transparent)]
    Messages(#[from] MessageError),
    #[error("cannot write the body file: {0}")]
    Body(#[from] std::io::Error),
    #[error(transparent)]
    Commit(#[from] CommitError),
    #[error("the intake stopped: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("nothing can be taken in now: {0}")]
    Refused(String),
}

impl ItemContext {
    /// Takes in a message whose data set is in a spool file of
    /// [`crate::store::Bodies::spool_dir`]: its last bytes are written, the
    /// body gets its trailer and is made durable with its folder entry
    /// (already durable when `entry_durable`: a pre-created spool file), then
    /// the header and one queue entry per target are written. Only then does
    /// this return `Ok`, and the targets are woken; the record's flush
    /// follows (see below why the acknowledgement need not wait for it).
    ///
    /// That work blocks (it waits for the disk), so it runs on the blocking
    /// pool, except when the data set arrived alone (see [`TakingIn`]).
    ///
    /// # Errors
    /// Any failure to persist; nothing is acknowledged then.
    pub async fn take_in_spooled(
        &self,
        spool_path: &Path,
        data: SpooledData,
        entry_durable: bool,
        header: MessageHeader,
    ) -> Result<MessageId, IntakeError> {
        let cx = self.clone();
        let spool = spool_path.to_path_buf();
        let t0 = std::time::Instant::now();
        let work = move || -> Result<_, IntakeError> {
            let t0 = std::time::Instant::now();
            let file = data.complete()?;
            let id = cx.messages.next_id()?;
            let mut trailer = cx.trailer(id, header, cx.outputs.addresses());
            let body = cx.bodies.adopt(&spool, file, entry_durable, &mut trailer)?;
            let t1 = t0.elapsed();
            if let Err(e) = cx.messages.accept(id, trailer.header, &trailer.targets) {
                // Not acknowledged: the sender will send it again.
                remove_body(&body);
                return Err(e.into());
            }
            Ok((id, t1, t0.elapsed() - t1))
        };
        let taking_in = TakingIn::new();
        let (id, t_adopt, t_accept) = if taking_in.alone() {
            work()?
        } else {
            tokio::task::spawn_blocking(work).await??
        };
        drop(taking_in);
        // The acknowledgement does not wait for the store's flush: `adopt`
        // made the body, its trailer (id, header, targets) and its folder
        // entry durable, and on start every body the store does not know is
        // restored from its trailer as queued (`store::recover`). Sled's log
        // is a prefix after a crash, so a lost record takes its later
        // changes with it, never the other way round; the worst case is a
        // message delivered just before a power loss being delivered again.
        // The record is flushed by the next group commit, requested here.
        self.commit.request_soon();
        tracing::trace!(?t_adopt, ?t_accept, blocking = ?t0.elapsed(), "Intake timing.");
        self.outputs.wake_all();
        Ok(id)
    }

    /// Takes in a message whose data set is read from `data` (the data set
    /// of a Part 10 file, an edited copy), queued for `targets`: the body is
    /// written and fdatasynced, the record and entries written, and the
    /// group commit awaited (a new body file's folder entry is made durable
    /// by it). Then the targets are woken.
    ///
    /// # Errors
    /// Any failure to persist.
    pub async fn take_in_reader<R: std::io::Read + Send + 'static>(
        &self,
        data: R,
        header: MessageHeader,
        targets: Vec<ItemAddress>,
    ) -> Result<MessageId, IntakeError> {
        if let Some(why) = self.bodies.refuses() {
            return Err(IntakeError::Refused(why));
        }
        let cx = self.clone();
        let queued_for = targets.clone();
        let (id, body) = tokio::task::spawn_blocking(move || -> Result<_, IntakeError> {
            let id = cx.messages.next_id()?;
            let mut trailer = cx.trailer(id, header, targets);
            let body = cx.bodies.write(data, &mut trailer)?;
            if let Err(e) = cx.messages.accept(id, trailer.header, &trailer.targets) {
                // Not taken in: its body must not come back on the next
                // start as a message nobody acknowledged.
                remove_body(&body);
                return Err(e.into());
            }
            Ok((id, body))
        })
        .await??;
        if let Err(e) = self.commit_or_withdraw(id, &queued_for).await {
            remove_body(&body);
            return Err(e);
        }
        self.outputs.wake(&queued_for);
        Ok(id)
    }

    fn trailer(
        &self,
        id: MessageId,
        header: MessageHeader,
        targets: Vec<ItemAddress>,
    ) -> BodyTrailer {
        BodyTrailer {
            id,
            namespace: self.namespace.clone(),
            header,
            targets,
        }
    }

    /// Waits for the group commit. When it fails, the message is not
    /// acknowledged (its sender sees a failure), so its deliveries are
    /// marked failed at once rather than left queued without a durable body.
    async fn commit_or_withdraw(
        &self,
        id: MessageId,
        targets: &[ItemAddress],
    ) -> Result<(), IntakeError> {
        match self.commit.sync().await {
            Ok(()) => Ok(()),
            Err(e) => {
                let reason = format!("not acknowledged to the sender: {e}");
                for target in targets {
                    self.messages.failed(id, target, &reason).ok();
                }
                Err(e.into())
            }
        }
    }
}

/// Removes the body of a message that was not taken in; a failure is only
/// logged (the file is then restored on the next start, a duplicate at
/// worst).
fn remove_body(path: &Path) {
    if let Err(error) = std::fs::remove_file(path) {
        tracing::warn!(file = %path.display(), %error, "Could not remove the body of a message that was not taken in.");
    }
}

/// An intake made on its association's own worker thread instead of the
/// blocking pool. Handing it over and back wakes two threads; when a data
/// set arrives alone (its sender waits for each answer), that cost about a
/// tenth of the engine's CPU per 512 KiB instance, and its answer came 5 to
/// 10 % later (see BENCHMARKS.md). A worker blocked for a sync holds up
/// what it would run meanwhile, though: with several senders at once that
/// cost more than it saved. So an intake runs inline only when no other
/// data set is arriving or being taken in, and with another worker left.
///
/// One intake, counted in [`TAKING_IN`] while it lives.
struct TakingIn;

/// Intakes running now, inline or not.
static TAKING_IN: AtomicUsize = AtomicUsize::new(0);

impl TakingIn {
    fn new() -> Self {
        TAKING_IN.fetch_add(1, Ordering::AcqRel);
        Self
    }

    /// Whether this intake may run inline.
    fn alone(&self) -> bool {
        let workers = tokio::runtime::Handle::try_current()
            .map_or(0, |runtime| runtime.metrics().num_workers());
        runs_inline(
            workers,
            crate::store::spool::receiving(),
            TAKING_IN.load(Ordering::Acquire),
        )
    }
}

impl Drop for TakingIn {
    fn drop(&mut self) {
        TAKING_IN.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Whether an intake runs inline with this many runtime workers, data sets
/// arriving and intakes running (itself included).
fn runs_inline(workers: usize, receiving: usize, taking_in: usize) -> bool {
    workers >= 2 && receiving == 0 && taking_in == 1
}

#[cfg(test)]
mod tests;
