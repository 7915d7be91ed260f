//! The seam between the runtime and the items: what an item is given
//! ([`ItemContext`]) and what it gives back ([`RunningItem`]). Items never
//! import the runtime; the runtime never looks inside an item.
//!
//! Messages do not travel through memory between items: a sender writes a
//! queue entry for each target in the store (durable, keyed by namespace,
//! production and item) and then pokes the target's [`Notify`], and the
//! target's [`QueueReader`] takes entries from its queue in arrival order.
//! The wake-ups are kept by the runtime per item address, so a reloaded item
//! finds the same one, and a missing item's queue just waits in the store.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::ids::{ItemName, NamespaceId};
use crate::services::dicom_scp::SpooledData;
use crate::store::messages::{
    ItemAddress, MessageError, MessageHeader, MessageId, MessageRecord, Messages, now_ms,
};
use crate::store::{Bodies, BodyTrailer, GroupCommit, Store};

/// One target of an item: where to queue, whom to wake.
#[derive(Debug, Clone)]
pub struct Output {
    pub address: ItemAddress,
    pub wake: Arc<Notify>,
}

/// The targets of an item.
#[derive(Debug, Clone, Default)]
pub struct Outputs(pub Vec<Output>);

impl Outputs {
    /// The targets' addresses, in the order written.
    pub fn addresses(&self) -> Vec<ItemAddress> {
        self.0.iter().map(|o| o.address.clone()).collect()
    }

    /// Wakes every target (after their queue entries are written).
    pub fn wake_all(&self) {
        for o in &self.0 {
            o.wake.notify_one();
        }
    }

    /// Wakes the targets with these addresses.
    pub fn wake(&self, addresses: &[ItemAddress]) {
        for o in self.0.iter().filter(|o| addresses.contains(&o.address)) {
            o.wake.notify_one();
        }
    }
}

/// Everything an item gets from the runtime.
#[derive(Debug, Clone)]
pub struct ItemContext {
    pub namespace: NamespaceId,
    pub production: ItemName,
    pub name: ItemName,
    /// The whole store (associations of this namespace via
    /// `store.associations(&namespace)`).
    pub store: Store,
    /// This namespace's messages and queues.
    pub messages: Messages,
    pub bodies: Bodies,
    pub commit: GroupCommit,
    /// Fires when the item must stop: services stop accepting, workers stop
    /// taking new work. A child of the production's token.
    pub shutdown: CancellationToken,
    /// How long open work may take to finish after `shutdown` fires.
    pub grace: Duration,
    /// Poked when something is queued for this item.
    pub inbox: Arc<Notify>,
    pub outputs: Outputs,
    /// Listening sockets kept across reloads (see [`Listeners`]).
    pub listeners: Listeners,
}

/// Listening sockets kept across a reload, by configured address.
///
/// A listening service keeps a duplicate of its socket here. When a reload
/// replaces the service with a new version on the same address, the new
/// version takes over the same socket: connections that arrive while the
/// old version stops accepting and the new one starts wait in the socket's
/// backlog instead of being refused. The runtime drops the sockets of
/// addresses no service uses any more, which closes the port.
///
/// Why a std mutex: a map lookup or insert, never held across an await.
#[derive(Debug, Clone, Default)]
pub struct Listeners(Arc<Mutex<HashMap<SocketAddr, std::net::TcpListener>>>);

impl Listeners {
    /// A duplicate of the socket kept for `address`, if any.
    pub fn take_over(&self, address: SocketAddr) -> Option<std::net::TcpListener> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&address)
            .and_then(|l| l.try_clone().ok())
    }

    /// Keeps (a duplicate of) a listening socket for a successor.
    pub fn keep(&self, address: SocketAddr, listener: std::net::TcpListener) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(address, listener);
    }

    /// Drops the sockets of the addresses `keep` rejects.
    pub fn retain(&self, keep: impl Fn(&SocketAddr) -> bool) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|a, _| keep(a));
    }
}

impl ItemContext {
    /// This item's address (production, item).
    pub fn address(&self) -> ItemAddress {
        ItemAddress::new(self.production.as_str(), self.name.as_str())
    }

    /// Takes in a message whose data set is in a spool file of
    /// [`Bodies::spool_dir`]: its last bytes are written, the body gets its trailer and is made durable
    /// with its folder entry (already durable when `entry_durable`: a
    /// pre-created spool file), then the header and one queue entry per
    /// target are written in one transaction. Only then does this return
    /// `Ok`, and the targets are woken; the record's flush follows (see
    /// below why the acknowledgement need not wait for it).
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
        let (id, t_adopt, t_accept) =
            tokio::task::spawn_blocking(move || -> Result<_, IntakeError> {
                let t0 = std::time::Instant::now();
                let file = data.complete()?;
                let id = cx.store.next_message_id().map_err(MessageError::from)?;
                let mut trailer = BodyTrailer {
                    id,
                    namespace: cx.namespace.clone(),
                    targets: cx.outputs.addresses(),
                    header,
                };
                cx.bodies.adopt(&spool, file, entry_durable, &mut trailer)?;
                let t1 = t0.elapsed();
                cx.messages.accept(id, trailer.header, &trailer.targets)?;
                Ok((id, t1, t0.elapsed() - t1))
            })
            .await
            .map_err(|e| IntakeError::Task(e.to_string()))??;
        // The acknowledgement does not wait for sled's flush: `adopt` made
        // the body, its trailer (id, header, targets) and its folder entry
        // durable, and on start every body the store does not know is
        // restored from its trailer as queued (`runtime::recover`). Sled's
        // log is a prefix after a crash, so a lost record takes its later
        // changes with it, never the other way round; the worst case is a
        // message delivered just before a power loss being delivered again.
        // The record is flushed by the next group commit, requested here.
        self.commit.request_soon();
        tracing::trace!(?t_adopt, ?t_accept, blocking = ?t0.elapsed(), "Intake timing.");
        self.outputs.wake_all();
        Ok(id)
    }

    /// Takes in a message whose data set is read from `data` (e.g. the data
    /// set of a Part 10 file); as [`Self::take_in_spooled`] otherwise.
    ///
    /// # Errors
    /// Any failure to persist.
    pub async fn take_in_reader<R: std::io::Read + Send + 'static>(
        &self,
        data: R,
        header: MessageHeader,
    ) -> Result<MessageId, IntakeError> {
        let cx = self.clone();
        let id = tokio::task::spawn_blocking(move || -> Result<MessageId, IntakeError> {
            let id = cx.store.next_message_id().map_err(MessageError::from)?;
            let mut trailer = BodyTrailer {
                id,
                namespace: cx.namespace.clone(),
                targets: cx.outputs.addresses(),
                header,
            };
            cx.bodies.write(data, &mut trailer)?;
            cx.messages.accept(id, trailer.header, &trailer.targets)?;
            Ok(id)
        })
        .await
        .map_err(|e| IntakeError::Task(e.to_string()))??;
        // A new body file: its folder entry is made durable by the commit.
        self.commit_or_withdraw(id).await?;
        self.outputs.wake_all();
        Ok(id)
    }

    /// Waits for the group commit. When it fails, the message is not
    /// acknowledged (its sender sees a failure and its body is removed), so
    /// its deliveries are marked failed at once rather than left queued
    /// without a body.
    async fn commit_or_withdraw(&self, id: MessageId) -> Result<(), IntakeError> {
        match self.commit.sync().await {
            Ok(()) => Ok(()),
            Err(e) => {
                let reason = format!("not acknowledged to the sender: {e}");
                for target in self.outputs.addresses() {
                    self.messages.failed(id, &target, &reason).ok();
                }
                Err(e.into())
            }
        }
    }

    /// A reader of this item's queue.
    pub fn queue_reader(&self) -> QueueReader {
        QueueReader {
            messages: self.messages.clone(),
            address: self.address(),
            inbox: self.inbox.clone(),
            shutdown: self.shutdown.clone(),
            buffer: VecDeque::new(),
            cursor: None,
        }
    }
}

/// Why a message could not be taken in.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error(transparent)]
    Messages(#[from] MessageError),
    #[error("cannot write the body file: {0}")]
    Body(#[from] std::io::Error),
    #[error(transparent)]
    Commit(#[from] crate::store::CommitError),
    #[error("internal task failed: {0}")]
    Task(String),
}

/// What [`QueueReader::next`] found.
#[derive(Debug)]
pub enum Next {
    /// A message claimed for this item (now in flight).
    Message(Box<MessageRecord>),
    /// Nothing arrived within the idle time.
    Idle,
    /// The item must stop.
    Shutdown,
}

/// Takes an item's pending messages in arrival order, claiming each
/// (in flight) as it hands it out. Cancel-safe: nothing is claimed while it
/// waits.
#[derive(Debug)]
pub struct QueueReader {
    messages: Messages,
    address: ItemAddress,
    inbox: Arc<Notify>,
    shutdown: CancellationToken,
    buffer: VecDeque<MessageId>,
    /// The last id read from the store; the next scan starts after it. Reset
    /// to the start when the queue runs dry, so that messages put back
    /// (retries, resends) are found again.
    cursor: Option<MessageId>,
}

/// How many queue entries one scan reads.
const SCAN_BATCH: usize = 256;
/// Safety net: rescan at least this often even without a wake-up.
const RESCAN: Duration = Duration::from_secs(5);

impl QueueReader {
    /// The next message, waiting for one up to `idle` (forever if `None`).
    ///
    /// # Errors
    /// Store errors.
    pub async fn next(&mut self, idle: Option<Duration>) -> Result<Next, MessageError> {
        let deadline = idle.map(|d| tokio::time::Instant::now() + d);
        loop {
            if self.shutdown.is_cancelled() {
                return Ok(Next::Shutdown);
            }
            // Arm the wake-up before looking, so a poke between the scan and
            // the wait is not missed.
            let notified = self.inbox.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            while let Some(id) = self.buffer.pop_front() {
                if let Some(record) = self.messages.claim(id, &self.address)? {
                    return Ok(Next::Message(Box::new(record)));
                }
            }
            let found = self
                .messages
                .pending(&self.address, self.cursor, SCAN_BATCH)?;
            if let Some(last) = found.last() {
                self.cursor = Some(*last);
                self.buffer.extend(found);
                continue;
            }
            let was_scanning_from_start = self.cursor.is_none();
            self.cursor = None;
            if !was_scanning_from_start {
                continue;
            }
            // Nothing pending: sleep until poked, a back-off ends, the idle
            // time passes or shutdown.
            let retry_at = self.messages.next_retry_at(&self.address)?;
            let mut wait = RESCAN;
            if let Some(at) = retry_at {
                wait = wait.min(Duration::from_millis(at.saturating_sub(now_ms()).max(1)));
            }
            let sleep_until = match deadline {
                Some(d) => (tokio::time::Instant::now() + wait).min(d),
                None => tokio::time::Instant::now() + wait,
            };
            tokio::select! {
                () = self.shutdown.cancelled() => return Ok(Next::Shutdown),
                () = &mut notified => {}
                () = tokio::time::sleep_until(sleep_until) => {
                    if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
                        return Ok(Next::Idle);
                    }
                }
            }
        }
    }
}

/// A started item, as the runtime holds it.
#[derive(Debug)]
pub struct RunningItem {
    /// The item's task; it ends after its shutdown token fired and open work
    /// finished (or was put back in the queue).
    pub task: JoinHandle<()>,
    /// The address a listening service bound, if any.
    pub local_addr: Option<SocketAddr>,
}

/// Why an item could not be built.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BuildError(pub String);
