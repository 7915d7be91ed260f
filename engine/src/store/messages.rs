//! Messages and their queues in sled: the durable half of store-and-forward.
//! What a change means is decided by [`crate::message`]; this file decides
//! how it is written.
//!
//! Per namespace:
//! - tree `<ns>/messages`: key = message id (u64, big-endian, so scans come
//!   back in arrival order), value = version byte + JSON [`MessageRecord`].
//! - tree `<ns>/queue/<production>/<item>`: the pending work of one item; key
//!   = message id, value = version byte + JSON [`QueueEntry`]. Only queued
//!   and in-flight deliveries are in it, so a scan never wades through
//!   history. It is keyed by production and item, not by a running task, so
//!   it outlives reloads and restarts (a removed item's queue simply waits).
//!
//! Writes are serialised by one lock per store. The frequent ones (accept,
//! claim, delivered, failed, route) are single-key writes in an order that
//! is safe for any prefix of them, because sled recovers a prefix of its log
//! after a crash; sled transactions are kept for the rare ones (retry,
//! requeue, resend, purge), since each transaction makes sled write out its
//! log buffer twice. The order:
//! - new queue entries are written before the record that lists them, so an
//!   entry may lack its record (the body's trailer restores it on start);
//! - a finished delivery's record is written before its entry is removed, so
//!   an entry may outlive its delivery; whoever finds such an entry (claim,
//!   requeue) removes it.
//!
//! Durability of a batch of changes is made by [`super::commit::GroupCommit`]
//! (flush sled, fsync its log); the other changes (in flight, delivered)
//! ride on the next flush: after a crash they can only be repeated, never
//! lost.
//!
//! All calls block: call them from `spawn_blocking` in async code, except
//! the short single-key writes items make per message (claim, delivered,
//! …), which cost microseconds and are made inline.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use super::bodies::BodyTrailer;
use super::counts::Counted;
use super::{Store, StoreError};
use crate::ids::NamespaceId;
use crate::message::record::Requeued;
use crate::message::{
    ItemAddress, MessageError, MessageFilter, MessageHeader, MessageId, MessageQueues,
    MessageRecord, now_ms,
};

/// The first byte of every stored record and queue entry.
const FORMAT_V1: u8 = 1;

/// A queue entry: a pending delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct QueueEntry {
    /// Claimed by a worker; put back to queued on start.
    in_flight: bool,
    /// Not before (ms since the epoch): back-off of a retried delivery.
    #[serde(default)]
    not_before: u64,
}

impl QueueEntry {
    const QUEUED: QueueEntry = QueueEntry {
        in_flight: false,
        not_before: 0,
    };
}

impl From<StoreError> for MessageError {
    fn from(e: StoreError) -> Self {
        MessageError::Backend(Box::new(e))
    }
}

impl From<sled::Error> for MessageError {
    fn from(e: sled::Error) -> Self {
        StoreError::from(e).into()
    }
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(1024);
    out.push(FORMAT_V1);
    // Serialising these plain structs to JSON cannot fail.
    serde_json::to_writer(&mut out, value).ok();
    out
}

fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, String> {
    match bytes.split_first() {
        Some((&FORMAT_V1, json)) => serde_json::from_slice(json).map_err(|e| e.to_string()),
        Some((v, _)) => Err(format!("unknown format version {v}")),
        None => Err("empty value".into()),
    }
}

/// Whether a stored value is a readable message record.
pub(super) fn decodes_as_record(bytes: &[u8]) -> bool {
    decode::<MessageRecord>(bytes).is_ok()
}

/// Whether a stored value is a readable queue entry.
pub(super) fn decodes_as_entry(bytes: &[u8]) -> bool {
    decode::<QueueEntry>(bytes).is_ok()
}

/// The messages and queues of one namespace. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Messages {
    store: Store,
    namespace: NamespaceId,
}

impl Messages {
    fn count(&self, item: &ItemAddress, what: Counted) {
        self.store.count(&self.namespace, item, what);
    }
}

impl Store {
    /// The messages and queues of a namespace.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the tree cannot be opened.
    pub fn messages(&self, namespace: &NamespaceId) -> Result<Messages, StoreError> {
        let messages = Messages {
            store: self.clone(),
            namespace: namespace.clone(),
        };
        messages.records()?;
        Ok(messages)
    }

    /// A new message id, unique in this data directory and larger than every
    /// earlier one (sled persists the counter).
    ///
    /// # Errors
    /// [`StoreError::Backend`].
    pub fn next_message_id(&self) -> Result<MessageId, StoreError> {
        // sled starts at 0; keep 0 free so that ids read as 1, 2, 3, …
        Ok(MessageId(self.db()?.generate_id()? + 1))
    }

    /// Makes sure later ids are larger than `id` (after the store was
    /// rebuilt from body files, its counter starts again from zero and
    /// would reuse their names).
    ///
    /// # Errors
    /// [`StoreError::Backend`].
    pub fn ensure_message_ids_above(&self, id: MessageId) -> Result<(), StoreError> {
        while self.db()?.generate_id()? < id.0 {}
        Ok(())
    }

    /// Every namespace that has messages.
    pub fn message_namespaces(&self) -> Vec<NamespaceId> {
        self.namespaces_with("/messages")
    }

    /// The message with this id in whichever namespace holds it (ids are
    /// unique in the data directory).
    ///
    /// # Errors
    /// [`MessageError::NotFound`] (naming `fallback` as the namespace looked
    /// in when no namespace has messages), or a store failure.
    pub fn find_message(
        &self,
        id: MessageId,
        fallback: &NamespaceId,
    ) -> Result<MessageRecord, MessageError> {
        for ns in self.message_namespaces() {
            match self.messages(&ns)?.get(id) {
                Ok(record) => return Ok(record),
                Err(MessageError::NotFound(..)) => {}
                Err(e) => return Err(e),
            }
        }
        Err(MessageError::NotFound(id, fallback.clone()))
    }
}

impl Messages {
    /// The namespace.
    pub fn namespace(&self) -> &NamespaceId {
        &self.namespace
    }

    fn queue_name(&self, target: &ItemAddress) -> String {
        format!(
            "{}/queue/{}/{}",
            self.namespace, target.production, target.item
        )
    }

    /// The records tree. Opened on each use, never kept: the store may be
    /// reopened under a running engine (see [`Store::heal`]).
    fn records(&self) -> Result<sled::Tree, StoreError> {
        self.store.tree(&format!("{}/messages", self.namespace))
    }

    fn queue(&self, target: &ItemAddress) -> Result<sled::Tree, MessageError> {
        Ok(self.store.tree(&self.queue_name(target))?)
    }

    /// The item addresses that have a queue tree in this namespace.
    fn queue_addresses(&self) -> Vec<ItemAddress> {
        let prefix = format!("{}/queue/", self.namespace);
        self.store
            .tree_names()
            .iter()
            .filter_map(|name| {
                let rest = std::str::from_utf8(name).ok()?.strip_prefix(&prefix)?;
                let (production, item) = rest.split_once('/')?;
                Some(ItemAddress::new(production, item))
            })
            .collect()
    }

    fn corrupt(&self, key: &[u8], reason: String) -> MessageError {
        let key = key
            .try_into()
            .map(|b: [u8; 8]| u64::from_be_bytes(b).to_string())
            .unwrap_or_else(|_| String::from_utf8_lossy(key).into_owned());
        MessageError::Corrupt {
            namespace: self.namespace.clone(),
            key,
            reason,
        }
    }

    fn not_found(&self, id: MessageId) -> MessageError {
        MessageError::NotFound(id, self.namespace.clone())
    }

    /// Re-creates a message from its body file's trailer (the record was
    /// lost: a store moved aside after corruption, or writes that never
    /// reached sled's disk). Every target is queued again: a duplicate at
    /// worst, never a loss.
    ///
    /// # Errors
    /// A store failure.
    pub fn restore(&self, trailer: &BodyTrailer) -> Result<MessageRecord, MessageError> {
        let mut record = MessageRecord::received(
            trailer.id,
            self.namespace.clone(),
            trailer.header.clone(),
            &trailer.targets,
            now_ms(),
        );
        record.restored(now_ms());
        self.write_new(&record, &trailer.targets)?;
        Ok(record)
    }

    /// One message.
    ///
    /// # Errors
    /// [`MessageError::NotFound`], [`MessageError::Corrupt`].
    pub fn get(&self, id: MessageId) -> Result<MessageRecord, MessageError> {
        self.read_record(&id.0.to_be_bytes())?
            .ok_or_else(|| self.not_found(id))
    }

    /// Whether the message is recorded.
    ///
    /// # Errors
    /// A store failure.
    pub fn contains(&self, id: MessageId) -> Result<bool, MessageError> {
        Ok(self.records()?.contains_key(id.0.to_be_bytes())?)
    }

    /// Messages matching a filter, newest first.
    ///
    /// # Errors
    /// A store failure, [`MessageError::Corrupt`].
    pub fn list(&self, filter: &MessageFilter) -> Result<Vec<MessageRecord>, MessageError> {
        Ok(self.list_page(filter)?.0)
    }

    /// [`Messages::list`], and where the reading stopped when
    /// `filter.scan` messages were read before `filter.limit` matched: the
    /// last message read (every newer one was read).
    ///
    /// # Errors
    /// A store failure, [`MessageError::Corrupt`].
    pub fn list_page(
        &self,
        filter: &MessageFilter,
    ) -> Result<(Vec<MessageRecord>, Option<MessageId>), MessageError> {
        let mut out = Vec::new();
        let records = self.records()?;
        // A page after `before` starts at its key, not at the newest.
        let range = match filter.before {
            Some(id) => records.range(..id.0.to_be_bytes()),
            None => records.iter(),
        };
        for (read, item) in (1usize..).zip(range.rev()) {
            let (k, v) = item?;
            let r: MessageRecord = decode(&v).map_err(|e| self.corrupt(&k, e))?;
            if filter.since.is_some_and(|t| r.header.received_at < t) {
                // ids increase with arrival: older ones follow
                break;
            }
            let id = r.id;
            if filter.matches(&r) {
                out.push(r);
                if filter.limit.is_some_and(|l| out.len() >= l) {
                    break;
                }
            }
            if filter.scan.is_some_and(|s| read >= s) {
                return Ok((out, Some(id)));
            }
        }
        Ok((out, None))
    }

    /// Every message from `from` on, oldest first, each decoded as the
    /// iteration reaches it: a pass over the whole history holds one record
    /// at a time.
    ///
    /// # Errors
    /// A store failure; items: a store failure, [`MessageError::Corrupt`].
    pub fn oldest_first(
        &self,
        from: MessageId,
    ) -> Result<impl Iterator<Item = Result<MessageRecord, MessageError>> + use<>, MessageError>
    {
        let this = self.clone();
        Ok(self
            .records()?
            .range(from.0.to_be_bytes()..)
            .map(move |item| {
                let (k, v) = item?;
                decode(&v).map_err(|e| this.corrupt(&k, e))
            }))
    }

    /// When the oldest message waiting in an item's queue arrived (ms since
    /// the epoch); `None` when the queue is empty.
    ///
    /// # Errors
    /// A store failure, [`MessageError::Corrupt`].
    pub fn oldest_queued(&self, target: &ItemAddress) -> Result<Option<u64>, MessageError> {
        let Some((key, _)) = self.queue(target)?.first()? else {
            return Ok(None);
        };
        let Ok(key) = <[u8; 8]>::try_from(key.as_ref()) else {
            return Ok(None);
        };
        Ok(self.read_record(&key)?.map(|r| r.header.received_at))
    }

    /// How many deliveries wait in an item's queue (queued or in flight).
    ///
    /// # Errors
    /// A store failure.
    pub fn queue_depth(&self, target: &ItemAddress) -> Result<usize, MessageError> {
        Ok(self.queue(target)?.len())
    }

    /// Queues failed (or, when `include_delivered`, also delivered)
    /// deliveries of a message again; returns their targets.
    ///
    /// # Errors
    /// [`MessageError::BodyPurged`] when the body is gone, and as
    /// [`MessageQueues::delivered`].
    pub fn resend(
        &self,
        id: MessageId,
        include_delivered: bool,
    ) -> Result<Vec<ItemAddress>, MessageError> {
        let targets = self.get(id)?.resendable(include_delivered)?;
        for target in &targets {
            self.update(id, target, |record, _| {
                // Retention may have purged the body since the read above.
                if record.body_purged {
                    return Err(MessageError::BodyPurged(id));
                }
                record.resent(target, now_ms());
                Ok(Some(QueueEntry::QUEUED))
            })?;
        }
        Ok(targets)
    }

    /// On start: every delivery left in flight by the previous run goes back
    /// to queued (it will be sent again: a duplicate at worst, never a loss).
    /// Returns how many.
    ///
    /// # Errors
    /// A store failure, [`MessageError::Corrupt`].
    pub fn requeue_in_flight(&self) -> Result<usize, MessageError> {
        let mut count = 0;
        for address in self.queue_addresses() {
            count += self.requeue_in_flight_of(&address)?;
        }
        Ok(count)
    }

    /// Marks a message's body as purged if retention may remove it: every
    /// delivery delivered, checked in the same transaction (a resend that
    /// got in first keeps the body). Returns whether it was marked; the
    /// caller then removes the file, or calls it back with `purged: false`
    /// when it cannot.
    ///
    /// # Errors
    /// A store failure, [`MessageError::Corrupt`].
    pub fn set_purged(&self, id: MessageId, purged: bool) -> Result<bool, MessageError> {
        let _writes = self.lock();
        let key = id.0.to_be_bytes();
        self.records()?
            .transaction(|records| {
                let Some(bytes) = records.get(key)? else {
                    return Ok(false);
                };
                let mut r: MessageRecord = decode(&bytes).map_err(|reason| {
                    ConflictableTransactionError::Abort(self.corrupt(&key, reason))
                })?;
                let changed = if purged {
                    r.purge()
                } else {
                    std::mem::replace(&mut r.body_purged, false)
                };
                if changed {
                    records.insert(&key, encode(&r))?;
                }
                Ok(changed)
            })
            .map_err(abort_or_storage)
    }

    /// Writes a new record and its queue entries: the entries first (see
    /// the module's comment on the order).
    fn write_new(
        &self,
        record: &MessageRecord,
        targets: &[ItemAddress],
    ) -> Result<(), MessageError> {
        let queues = targets
            .iter()
            .map(|t| self.queue(t))
            .collect::<Result<Vec<_>, _>>()?;
        let key = record.id.0.to_be_bytes();
        let entry = encode(&QueueEntry::QUEUED);
        let _writes = self.lock();
        for q in &queues {
            q.insert(key, entry.as_slice())?;
        }
        self.records()?.insert(key, encode(record))?;
        Ok(())
    }

    /// Holds off every other writer of messages and queues in this store.
    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.store
            .inner
            .message_writes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn read_record(&self, key: &[u8; 8]) -> Result<Option<MessageRecord>, MessageError> {
        self.records()?
            .get(key)?
            .map(|b| decode(&b).map_err(|r| self.corrupt(key, r)))
            .transpose()
    }

    fn read_entry(
        &self,
        queue: &sled::Tree,
        key: &[u8; 8],
    ) -> Result<Option<QueueEntry>, MessageError> {
        queue
            .get(key)?
            .map(|b| decode(&b).map_err(|r| self.corrupt(key, r)))
            .transpose()
    }

    /// Applies a change to a record and an item's queue entry as ordered
    /// single-key writes (see the module's comment): a kept entry is
    /// written before the record, a removed one after it. `f` gets the
    /// record and the current entry, and returns the new entry (`None`
    /// removes it from the queue).
    fn change<F>(
        &self,
        id: MessageId,
        target: &ItemAddress,
        f: F,
    ) -> Result<MessageRecord, MessageError>
    where
        F: FnOnce(
            &mut MessageRecord,
            Option<QueueEntry>,
        ) -> Result<Option<QueueEntry>, MessageError>,
    {
        let key = id.0.to_be_bytes();
        let q = self.queue(target)?;
        let _writes = self.lock();
        let mut record = self.read_record(&key)?.ok_or_else(|| self.not_found(id))?;
        let entry = self.read_entry(&q, &key)?;
        match f(&mut record, entry)? {
            Some(e) => {
                q.insert(key, encode(&e))?;
                self.records()?.insert(key, encode(&record))?;
            }
            None => {
                self.records()?.insert(key, encode(&record))?;
                q.remove(key)?;
            }
        }
        Ok(record)
    }

    /// Applies a change to a record and an item's queue entry in one
    /// transaction, for the rare changes that must not be split by a crash.
    /// `f` gets the record and the current entry, and returns the new entry
    /// (`None` removes it from the queue); it may run more than once
    /// (optimistic transaction), so it must only compute.
    fn update<F>(
        &self,
        id: MessageId,
        target: &ItemAddress,
        f: F,
    ) -> Result<MessageRecord, MessageError>
    where
        F: FnMut(
            &mut MessageRecord,
            Option<QueueEntry>,
        ) -> Result<Option<QueueEntry>, MessageError>,
    {
        // sled wants an `Fn` closure; the change itself is `FnMut`.
        let f = std::cell::RefCell::new(f);
        let key = id.0.to_be_bytes();
        let q = self.queue(target)?;
        let _writes = self.lock();
        let records = self.records()?;
        let result = (&records, &q).transaction(|(records, queue)| {
            let abort = ConflictableTransactionError::Abort;
            let bytes = records.get(key)?.ok_or_else(|| abort(self.not_found(id)))?;
            let mut record: MessageRecord =
                decode(&bytes).map_err(|r| abort(self.corrupt(&key, r)))?;
            let entry = match queue.get(key)? {
                Some(b) => {
                    Some(decode::<QueueEntry>(&b).map_err(|r| abort(self.corrupt(&key, r)))?)
                }
                None => None,
            };
            let new_entry = (f.borrow_mut())(&mut record, entry).map_err(abort)?;
            records.insert(&key, encode(&record))?;
            match new_entry {
                Some(e) => {
                    queue.insert(&key, encode(&e))?;
                }
                None => {
                    queue.remove(&key)?;
                }
            }
            Ok(record)
        });
        result.map_err(abort_or_storage)
    }
}

impl MessageQueues for Messages {
    fn namespace(&self) -> &NamespaceId {
        &self.namespace
    }

    fn next_id(&self) -> Result<MessageId, MessageError> {
        Ok(self.store.next_message_id()?)
    }

    /// Not durable until the next group commit.
    fn accept(
        &self,
        id: MessageId,
        header: MessageHeader,
        targets: &[ItemAddress],
    ) -> Result<MessageRecord, MessageError> {
        let record = MessageRecord::received(id, self.namespace.clone(), header, targets, now_ms());
        self.write_new(&record, targets)?;
        self.count(&record.header.source, Counted::Received);
        for t in targets {
            self.count(t, Counted::Received);
        }
        Ok(record)
    }

    fn record(&self, record: &MessageRecord) -> Result<(), MessageError> {
        self.write_new(record, &[])?;
        self.count(&record.header.source, Counted::Received);
        Ok(())
    }

    fn pending(
        &self,
        target: &ItemAddress,
        after: Option<MessageId>,
        limit: usize,
    ) -> Result<Vec<MessageId>, MessageError> {
        let q = self.queue(target)?;
        let start = after.map_or(0, |a| a.0.saturating_add(1));
        let now = now_ms();
        let mut out = Vec::new();
        for item in q.range(start.to_be_bytes()..) {
            let (k, v) = item?;
            let e: QueueEntry = decode(&v).map_err(|r| self.corrupt(&k, r))?;
            if e.in_flight || e.not_before > now {
                continue;
            }
            let id = k
                .as_ref()
                .try_into()
                .map(u64::from_be_bytes)
                .map_err(|_| self.corrupt(&k, "bad key".into()))?;
            out.push(MessageId(id));
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    fn next_retry_at(&self, target: &ItemAddress) -> Result<Option<u64>, MessageError> {
        let q = self.queue(target)?;
        let mut next: Option<u64> = None;
        for item in q.iter() {
            let (k, v) = item?;
            let e: QueueEntry = decode(&v).map_err(|r| self.corrupt(&k, r))?;
            if !e.in_flight && e.not_before > 0 {
                next = Some(next.map_or(e.not_before, |n| n.min(e.not_before)));
            }
        }
        Ok(next)
    }

    /// An entry whose delivery already ended, or whose record is missing,
    /// is left over from a crash between two writes and is removed.
    fn claim(
        &self,
        id: MessageId,
        target: &ItemAddress,
    ) -> Result<Option<MessageRecord>, MessageError> {
        let key = id.0.to_be_bytes();
        let q = self.queue(target)?;
        let _writes = self.lock();
        let Some(mut entry) = self.read_entry(&q, &key)? else {
            return Ok(None);
        };
        if entry.in_flight {
            return Ok(None);
        }
        let Some(mut record) = self.read_record(&key)? else {
            q.remove(key)?;
            return Ok(None);
        };
        if !record.claim(target, now_ms()) {
            q.remove(key)?;
            return Ok(None);
        }
        entry.in_flight = true;
        q.insert(key, encode(&entry))?;
        self.records()?.insert(key, encode(&record))?;
        Ok(Some(record))
    }

    fn delivered(
        &self,
        id: MessageId,
        target: &ItemAddress,
        note: &str,
    ) -> Result<MessageRecord, MessageError> {
        let record = self.change(id, target, |record, _| {
            record.delivered(target, note, now_ms())?;
            Ok(None)
        })?;
        self.count(target, Counted::Delivered);
        Ok(record)
    }

    fn retry_later(
        &self,
        id: MessageId,
        target: &ItemAddress,
        error: &str,
        retry_at: u64,
    ) -> Result<MessageRecord, MessageError> {
        self.update(id, target, |record, _| {
            record.retry_later(target, error, now_ms())?;
            Ok(Some(QueueEntry {
                in_flight: false,
                not_before: retry_at,
            }))
        })
    }

    fn requeue(&self, id: MessageId, target: &ItemAddress) -> Result<MessageRecord, MessageError> {
        self.update(id, target, |record, entry| {
            Ok(match record.requeue(target, now_ms()) {
                Requeued::Ended => None,
                Requeued::Queued | Requeued::Unchanged => entry.map(|e| QueueEntry {
                    in_flight: false,
                    ..e
                }),
            })
        })
    }

    fn failed(
        &self,
        id: MessageId,
        target: &ItemAddress,
        reason: &str,
    ) -> Result<MessageRecord, MessageError> {
        let record = self.change(id, target, |record, _| {
            record.failed(target, reason, now_ms())?;
            Ok(None)
        })?;
        self.count(target, Counted::Failed);
        Ok(record)
    }

    /// The targets' entries are written first, then the record, then the
    /// process's own entry is removed: a crash in between routes the
    /// message again (a duplicate at worst).
    fn route(
        &self,
        id: MessageId,
        from: &ItemAddress,
        targets: &[ItemAddress],
        note: &str,
    ) -> Result<MessageRecord, MessageError> {
        let key = id.0.to_be_bytes();
        let own = self.queue(from)?;
        let queues = targets
            .iter()
            .map(|t| self.queue(t))
            .collect::<Result<Vec<_>, _>>()?;
        let entry = encode(&QueueEntry::QUEUED);
        let _writes = self.lock();
        let mut record = self.read_record(&key)?.ok_or_else(|| self.not_found(id))?;
        record.routed(from, targets, note, now_ms());
        for q in &queues {
            q.insert(key, entry.as_slice())?;
        }
        self.records()?.insert(key, encode(&record))?;
        own.remove(key)?;
        self.count(from, Counted::Delivered);
        for t in targets {
            self.count(t, Counted::Received);
        }
        Ok(record)
    }

    /// Only call it when no worker of that item runs.
    fn requeue_in_flight_of(&self, target: &ItemAddress) -> Result<usize, MessageError> {
        let q = self.queue(target)?;
        let mut stuck = Vec::new();
        for entry in q.iter() {
            let (k, v) = entry?;
            let e: QueueEntry = decode(&v).map_err(|r| self.corrupt(&k, r))?;
            if e.in_flight
                && let Ok(b) = <[u8; 8]>::try_from(k.as_ref())
            {
                stuck.push(MessageId(u64::from_be_bytes(b)));
            }
        }
        for id in &stuck {
            self.requeue(*id, target)?;
        }
        Ok(stuck.len())
    }

    fn queues(&self) -> Result<BTreeMap<ItemAddress, usize>, MessageError> {
        let mut out = BTreeMap::new();
        for address in self.queue_addresses() {
            let depth = self.queue(&address)?.len();
            out.insert(address, depth);
        }
        Ok(out)
    }
}

/// A transaction's error: the reason it was aborted, or the storage error.
fn abort_or_storage(e: TransactionError<MessageError>) -> MessageError {
    match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => MessageError::from(e),
    }
}

#[cfg(test)]
#[path = "messages/tests.rs"]
mod tests;
