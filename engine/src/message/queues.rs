//! The one interface through which items and the runtime reach messages and
//! their queues.
//!
//! A queue belongs to an item address (production, item), not to a running
//! task: it outlives reloads and restarts, and a removed item's queue just
//! waits. Each call is one durable-enough step: its writes reach the backend
//! before it returns, in an order that keeps a crash from losing an
//! acknowledged message (at worst a delivery is repeated); what makes them
//! durable on disk is the backend's business (the embedded store flushes in
//! group commits).
//!
//! Calls block: from async code, call them where blocking is fine
//! (`spawn_blocking`), or where the backend documents them as quick.

use std::collections::BTreeMap;

use super::error::MessageError;
use super::header::{ItemAddress, MessageHeader, MessageId};
use super::record::MessageRecord;
use crate::ids::NamespaceId;

/// The messages and queues of one namespace, as items and the runtime use
/// them.
pub trait MessageQueues: Send + Sync + std::fmt::Debug {
    /// The namespace.
    fn namespace(&self) -> &NamespaceId;

    /// A new message id, larger than every earlier one.
    ///
    /// # Errors
    /// The backend failed.
    fn next_id(&self) -> Result<MessageId, MessageError>;

    /// Records a new message and queues it for each target. The body must
    /// already be durable.
    ///
    /// # Errors
    /// The backend failed.
    fn accept(
        &self,
        id: MessageId,
        header: MessageHeader,
        targets: &[ItemAddress],
    ) -> Result<MessageRecord, MessageError>;

    /// Records a message that has no body and nothing left to deliver (a
    /// query, answered): one write, no queue entry. Like the other writes,
    /// it is made durable by the backend's next flush.
    ///
    /// # Errors
    /// The backend failed.
    fn record(&self, record: &MessageRecord) -> Result<(), MessageError>;

    /// Pending deliveries of an item, oldest first, after `after`, at most
    /// `limit`; entries in flight or waiting for their back-off are left out.
    ///
    /// # Errors
    /// The backend failed.
    fn pending(
        &self,
        target: &ItemAddress,
        after: Option<MessageId>,
        limit: usize,
    ) -> Result<Vec<MessageId>, MessageError>;

    /// The earliest back-off deadline among an item's waiting entries (ms
    /// since the epoch).
    ///
    /// # Errors
    /// The backend failed.
    fn next_retry_at(&self, target: &ItemAddress) -> Result<Option<u64>, MessageError>;

    /// Takes a queued delivery: in flight. `None` when it is not queued for
    /// this item any more (resent, failed, or claimed by another worker).
    ///
    /// # Errors
    /// The backend failed.
    fn claim(
        &self,
        id: MessageId,
        target: &ItemAddress,
    ) -> Result<Option<MessageRecord>, MessageError>;

    /// Records a successful delivery and takes it off the queue.
    ///
    /// # Errors
    /// [`MessageError::NotFound`], [`MessageError::NoDelivery`] or the
    /// backend failed.
    fn delivered(
        &self,
        id: MessageId,
        target: &ItemAddress,
        note: &str,
    ) -> Result<MessageRecord, MessageError>;

    /// Records a failed attempt to retry after `retry_at` (ms since the
    /// epoch): queued again.
    ///
    /// # Errors
    /// As [`Self::delivered`].
    fn retry_later(
        &self,
        id: MessageId,
        target: &ItemAddress,
        error: &str,
        retry_at: u64,
    ) -> Result<MessageRecord, MessageError>;

    /// Puts a claimed delivery back without counting an attempt.
    ///
    /// # Errors
    /// As [`Self::delivered`].
    fn requeue(&self, id: MessageId, target: &ItemAddress) -> Result<MessageRecord, MessageError>;

    /// Records that a delivery failed for good and takes it off the queue.
    ///
    /// # Errors
    /// As [`Self::delivered`].
    fn failed(
        &self,
        id: MessageId,
        target: &ItemAddress,
        reason: &str,
    ) -> Result<MessageRecord, MessageError>;

    /// A process passed the message on to `targets` (none: dropped, `note`
    /// saying why).
    ///
    /// # Errors
    /// As [`Self::delivered`].
    fn route(
        &self,
        id: MessageId,
        from: &ItemAddress,
        targets: &[ItemAddress],
        note: &str,
    ) -> Result<MessageRecord, MessageError>;

    /// Puts every delivery in flight at one item back to queued, for an item
    /// whose workers stopped. Returns how many.
    ///
    /// # Errors
    /// The backend failed.
    fn requeue_in_flight_of(&self, target: &ItemAddress) -> Result<usize, MessageError>;

    /// Every queue of the namespace with its depth (queued or in flight).
    ///
    /// # Errors
    /// The backend failed.
    fn queues(&self) -> Result<BTreeMap<ItemAddress, usize>, MessageError>;
}
