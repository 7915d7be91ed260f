//! The C-MOVEs through the engine in progress, shared by every item of the
//! engine. A query operation that moves through the engine asks its
//! upstream to store to one of our services, under a Message ID it takes
//! here; the service that receives a C-STORE naming that Message ID and the
//! operation's AE title as its Move Originator finds the move here, takes
//! the instance in as a sub-operation (queued for the move's targets, to go
//! to its destination) and counts it; the operation that delivers it counts
//! how that went. The move's relay reads the counts for its pending
//! responses and its end.
//!
//! Nothing here is durable, and nothing needs to be: a sub-operation's
//! destination is in its message (and its body's trailer), so after a
//! restart it is still delivered; only the requester, whose association
//! ended with the engine, no longer hears of it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;

use super::Outputs;
use crate::ids::NamespaceId;
use crate::message::{MessageId, SubOperation};

/// The moves in progress (cheap to clone: one shared map).
#[derive(Debug, Clone, Default)]
pub struct Retrieves(Arc<Mutex<HashMap<Key, Arc<Retrieve>>>>);

/// What a sub-operation's C-STORE names: the Move Originator AE title (the
/// AE title the operation asked upstream as) and Message ID.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    namespace: NamespaceId,
    originator: String,
    message_id: u16,
}

/// One move through the engine.
#[derive(Debug)]
pub struct Retrieve {
    /// What each of its instances carries.
    pub sub_operation: SubOperation,
    /// Where its instances are queued: the operation's targets.
    pub outputs: Outputs,
    /// The AE title of the upstream asked to perform it.
    pub upstream: String,
    counts: Mutex<Counts>,
    /// Notified whenever a count changes.
    pub changed: Notify,
    /// A C-GET asked upstream as a C-MOVE to us: where its instances go,
    /// instead of being queued.
    pub get: Option<super::query::GetStorage>,
}

/// How far a move's sub-operations got.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Taken in from the upstream (acknowledged to it).
    pub received: u32,
    /// The SOP Instance UIDs taken in and not yet delivered or failed.
    pub in_flight: std::collections::BTreeSet<String>,
    /// The messages of the instances taken in, in arrival order.
    pub messages: Vec<MessageId>,
    /// Delivered to the destination.
    pub delivered: u32,
    /// Delivered, with a warning status.
    pub warning: u32,
    /// Failed for good.
    pub failed: u32,
    /// The SOP Instance UIDs of the failed ones.
    pub failed_uids: Vec<String>,
}

/// How one sub-operation's delivery ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Delivered,
    Warning,
    Failed,
}

impl Retrieve {
    pub fn new(sub_operation: SubOperation, outputs: Outputs, upstream: &str) -> Self {
        Self {
            sub_operation,
            outputs,
            upstream: upstream.to_string(),
            counts: Mutex::new(Counts::default()),
            changed: Notify::new(),
            get: None,
        }
    }

    /// A C-GET asked as a C-MOVE to us: its instances go to `storage`.
    #[must_use]
    pub fn passing_to(mut self, storage: super::query::GetStorage) -> Self {
        self.get = Some(storage);
        self
    }

    /// The counts now.
    pub fn counts(&self) -> Counts {
        self.lock().clone()
    }

    /// An instance is being taken in: in flight from now on, before it is
    /// queued, so that a delivery that ends before [`Self::received`] is
    /// called still finds it.
    pub fn arriving(&self, sop_instance_uid: &str) {
        self.lock().in_flight.insert(sop_instance_uid.to_string());
    }

    /// The instance could not be taken in (the upstream heard a failure).
    pub fn not_taken(&self, sop_instance_uid: &str) {
        self.lock().in_flight.remove(sop_instance_uid);
        self.changed.notify_one();
    }

    /// One more instance taken in (and queued for its targets), as the
    /// message `id`; [`Self::arriving`] came first.
    pub fn received(&self, id: MessageId) {
        let mut counts = self.lock();
        counts.received += 1;
        counts.messages.push(id);
        drop(counts);
        self.changed.notify_one();
    }

    fn ended(&self, sop_instance_uid: &str, delivery: Delivery) {
        let mut counts = self.lock();
        counts.in_flight.remove(sop_instance_uid);
        match delivery {
            Delivery::Delivered => counts.delivered += 1,
            Delivery::Warning => counts.warning += 1,
            Delivery::Failed => {
                counts.failed += 1;
                counts.failed_uids.push(sop_instance_uid.to_string());
            }
        }
        drop(counts);
        self.changed.notify_one();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A move registered under a Message ID; dropping it ends the move here
/// (sub-operations still arriving are then taken in as any instance).
#[derive(Debug)]
pub struct Registered {
    retrieves: Retrieves,
    key: Key,
    pub retrieve: Arc<Retrieve>,
}

impl Registered {
    /// The Message ID to send the C-MOVE-RQ upstream with.
    pub fn message_id(&self) -> u16 {
        self.key.message_id
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.retrieves.lock().remove(&self.key);
    }
}

impl Retrieves {
    /// Registers `retrieve`, asked upstream as `originator` in `namespace`,
    /// under a Message ID no other move of that originator uses; `None`
    /// when all 65,535 are taken.
    pub fn start(
        &self,
        namespace: &NamespaceId,
        originator: &str,
        retrieve: Retrieve,
    ) -> Option<Registered> {
        let retrieve = Arc::new(retrieve);
        let mut map = self.lock();
        // Start from the retrieve's own id, so that ids spread.
        let first = u16::try_from(retrieve.sub_operation.retrieve.0 % 65_535).unwrap_or(0) + 1;
        let key = (0..65_535u32)
            .map(|i| {
                let id = (u32::from(first) - 1 + i) % 65_535 + 1;
                Key {
                    namespace: namespace.clone(),
                    originator: originator.to_string(),
                    message_id: u16::try_from(id).unwrap_or(1),
                }
            })
            .find(|k| !map.contains_key(k))?;
        map.insert(key.clone(), retrieve.clone());
        Some(Registered {
            retrieves: self.clone(),
            key,
            retrieve,
        })
    }

    /// The move a C-STORE with this Move Originator belongs to. Some
    /// performers name themselves rather than the requester (pynetdicom
    /// 3.0.4's qrscp): a move asked of that upstream under that Message ID
    /// is matched too.
    pub fn matching(
        &self,
        namespace: &NamespaceId,
        originator: &str,
        message_id: u16,
    ) -> Option<Arc<Retrieve>> {
        let originator = originator.trim();
        let key = Key {
            namespace: namespace.clone(),
            originator: originator.to_string(),
            message_id,
        };
        let map = self.lock();
        map.get(&key).cloned().or_else(|| {
            map.iter()
                .find(|(k, r)| {
                    &k.namespace == namespace
                        && k.message_id == message_id
                        && r.upstream == originator
                })
                .map(|(_, r)| r.clone())
        })
    }

    /// A sub-operation of the move `retrieve` was delivered or failed for
    /// good; nothing when the move is no longer in progress.
    pub fn ended(&self, retrieve: MessageId, sop_instance_uid: &str, delivery: Delivery) {
        let found = self
            .lock()
            .values()
            .find(|r| r.sub_operation.retrieve == retrieve)
            .cloned();
        if let Some(r) = found {
            r.ended(sop_instance_uid, delivery);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Arc<Retrieve>>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retrieve(id: u64) -> Retrieve {
        Retrieve::new(
            SubOperation {
                retrieve: MessageId(id),
                destination: "DEST".into(),
                originator_ae_title: "MOVESCU".into(),
                originator_message_id: 7,
            },
            Outputs::default(),
            "QR",
        )
    }

    #[test]
    fn moves_get_free_message_ids_are_matched_counted_in_any_order_and_forgotten() {
        let retrieves = Retrieves::default();
        let ns = NamespaceId::default();
        let first = retrieves.start(&ns, "ROUTER", retrieve(1)).unwrap();
        let second = retrieves.start(&ns, "ROUTER", retrieve(65_536)).unwrap();
        // 65,536 would take the same id as 1: it gets the next free one.
        assert_ne!(first.message_id(), second.message_id());
        let found = retrieves
            .matching(&ns, "ROUTER ", first.message_id())
            .expect("the first move");
        assert_eq!(found.sub_operation.retrieve, MessageId(1));
        assert!(
            retrieves
                .matching(&ns, "OTHER", first.message_id())
                .is_none()
        );
        // A performer that names itself as Move Originator.
        assert!(retrieves.matching(&ns, "QR", first.message_id()).is_some());
        found.arriving("1.2.3");
        found.received(MessageId(2));
        // A delivery may end before the take-in returns: not left in flight.
        found.arriving("1.2.4");
        retrieves.ended(MessageId(1), "1.2.4", Delivery::Delivered);
        found.received(MessageId(3));
        assert_eq!(first.retrieve.counts().in_flight.len(), 1);
        retrieves.ended(MessageId(1), "1.2.3", Delivery::Failed);
        let counts = first.retrieve.counts();
        assert_eq!(
            (
                counts.received,
                counts.delivered,
                counts.failed,
                counts.in_flight.len()
            ),
            (2, 1, 1, 0)
        );
        assert_eq!(counts.failed_uids, ["1.2.3"]);
        let id = first.message_id();
        drop(first);
        assert!(retrieves.matching(&ns, "ROUTER", id).is_none());
        assert!(
            retrieves
                .matching(&ns, "ROUTER", second.message_id())
                .is_some()
        );
    }
}
