//! The seam between the runtime and the items: what an item kind tells the
//! runtime ([`ItemConfig`]), what an item is given ([`ItemContext`]) and what
//! it gives back ([`RunningItem`]). Items never import the runtime or the
//! production-file reader; the runtime never looks inside an item.
//!
//! - [`kind`]: the [`ItemConfig`] trait every kind's settings implement, the
//!   typed [`FieldError`] of their checks, and the registry macro that makes
//!   each kind one line in its role's list.
//! - [`intake`]: how a service (or a process making a copy) takes a message
//!   in durably.
//! - [`queue`]: [`QueueReader`], how a worker takes the messages queued for it.
//! - [`resource`], [`duration`]: what items declare in production files
//!   (exclusive resources, durations with units).
//!
//! Messages do not travel through memory between items: a sender writes a
//! queue entry for each target (durable, keyed by namespace, production and
//! item) and then pokes the target's [`Notify`], and the target's
//! [`QueueReader`] takes entries from its queue in arrival order. The
//! wake-ups are kept by the runtime per item address, so a reloaded item
//! finds the same one, and a missing item's queue just waits.

pub mod cut_through;
pub mod duration;
pub mod intake;
pub mod kind;
pub mod query;
pub mod queue;
pub mod resource;
pub mod retrieves;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use duration::HumanDuration;
pub use intake::IntakeError;
pub use kind::{FieldError, ItemConfig};
pub use queue::{Next, QueueReader};
pub use resource::Resource;

use crate::ids::{ItemName, NamespaceId};
use crate::message::{ItemAddress, MessageQueues};
use crate::store::{AeDirectory, Associations, Bodies, GroupCommit};

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

    /// The target whose item is called `name`.
    pub fn named(&self, name: &str) -> Option<&Output> {
        self.0.iter().find(|o| o.address.item == name)
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
    /// The association contexts of this namespace.
    pub associations: Associations,
    /// This namespace's AE directory.
    pub ae_directory: AeDirectory,
    /// This namespace's messages and queues.
    pub messages: Arc<dyn MessageQueues>,
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
    /// Who answers the C-FIND queries this item relays: its targets that
    /// answer queries (never given messages), in the order written.
    pub queries: Vec<(ItemAddress, std::sync::Arc<dyn query::Query>)>,
    /// The C-MOVEs through the engine in progress (see [`retrieves`]).
    pub retrieves: retrieves::Retrieves,
    /// The instances sent on while they arrive (see [`cut_through`]).
    pub cut_throughs: cut_through::CutThroughs,
}

impl ItemContext {
    /// This item's address (production, item).
    pub fn address(&self) -> ItemAddress {
        ItemAddress::new(self.production.as_str(), self.name.as_str())
    }

    /// A reader of this item's queue.
    pub fn queue_reader(&self) -> QueueReader {
        QueueReader::new(
            self.messages.clone(),
            self.address(),
            self.inbox.clone(),
            self.shutdown.clone(),
        )
    }
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
    /// A listening socket for `address`: a duplicate of the one kept for it,
    /// else a new one (kept for a successor). Non-blocking, ready for tokio.
    ///
    /// # Errors
    /// The address cannot be bound.
    pub fn listen(&self, address: SocketAddr) -> std::io::Result<std::net::TcpListener> {
        let mut kept = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(listener) = kept.get(&address).and_then(|l| l.try_clone().ok()) {
            return Ok(listener);
        }
        let listener = std::net::TcpListener::bind(address)?;
        listener.set_nonblocking(true)?;
        if let Ok(copy) = listener.try_clone() {
            kept.insert(address, copy);
        }
        Ok(listener)
    }

    /// Drops the sockets of the addresses `keep` rejects.
    pub fn retain(&self, keep: impl Fn(&SocketAddr) -> bool) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|a, _| keep(a));
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

impl RunningItem {
    /// An item that runs `task` and listens on nothing.
    pub fn task(task: JoinHandle<()>) -> Self {
        Self {
            task,
            local_addr: None,
        }
    }
}

/// Why an item could not be built. The message says what could not be set
/// up and why; the runtime adds the item's name.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A socket could not be bound.
    #[error("cannot listen on {address}: {error}")]
    Listen {
        address: SocketAddr,
        error: std::io::Error,
    },
    /// A folder could not be created.
    #[error("cannot create the folder {}: {error}", path.display())]
    Folder {
        path: std::path::PathBuf,
        error: std::io::Error,
    },
    /// The kind's own set-up failed (e.g. a plugin that does not load); its
    /// error says what and where.
    #[error("{0}")]
    Setup(Box<dyn std::error::Error + Send + Sync>),
    /// A blocking step of the build did not finish.
    #[error("the build stopped: {0}")]
    Task(#[from] tokio::task::JoinError),
}
