//! Messages and their queues: the durable half of store-and-forward.
//!
//! Per namespace:
//! - tree `<ns>/messages`: key = message id (u64, big-endian, so scans come
//!   back in arrival order), value = version byte + JSON [`MessageRecord`]:
//!   the header, one [`Delivery`] per target (status, attempts, errors) and
//!   the trace of events through the items.
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
//! All calls block: call them from `spawn_blocking` in async code.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use super::{Store, StoreError};
use crate::ids::NamespaceId;

/// The first byte of every stored record and queue entry.
const FORMAT_V1: u8 = 1;

/// A message's number, unique in the data directory, increasing with
/// arrival.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MessageId(pub u64);

impl std::fmt::Display for MessageId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::str::FromStr for MessageId {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim().parse().map(Self)
    }
}

/// Where a message goes: an item of a production.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ItemAddress {
    pub production: String,
    pub item: String,
}

impl ItemAddress {
    pub fn new(production: impl Into<String>, item: impl Into<String>) -> Self {
        Self {
            production: production.into(),
            item: item.into(),
        }
    }
}

impl std::fmt::Display for ItemAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.production, self.item)
    }
}

/// What is known of a message when it arrives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageHeader {
    /// The service that took it in.
    pub source: ItemAddress,
    /// Milliseconds since the Unix epoch.
    pub received_at: u64,
    pub sop_class_uid: String,
    pub sop_instance_uid: String,
    pub transfer_syntax: String,
    pub calling_ae_title: String,
    pub called_ae_title: String,
    /// The peer's address (DICOM) or the file it came from (file service).
    pub origin: String,
    /// Bytes of the data set in the body file.
    pub size: u64,
    /// The body file's name in `<data-dir>/bodies/`.
    #[serde(default)]
    pub body: String,
}

/// Where one delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeliveryStatus {
    Queued,
    InFlight,
    Delivered,
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::InFlight => "in-flight",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }
}

impl std::fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for DeliveryStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "queued" => Ok(Self::Queued),
            "in-flight" | "in_flight" | "inflight" => Ok(Self::InFlight),
            "delivered" => Ok(Self::Delivered),
            "failed" => Ok(Self::Failed),
            other => Err(format!(
                "unknown status {other:?}: use queued, in-flight, delivered or failed"
            )),
        }
    }
}

/// The state of a message for one target item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub target: ItemAddress,
    pub status: DeliveryStatus,
    /// Attempts that ended (failed or succeeded).
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Why it failed for good, or a note on success (e.g. a warning status).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub updated_at: u64,
}

/// One step of a message through the items, for `messages show`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceEvent {
    pub at: u64,
    pub item: ItemAddress,
    pub event: String,
}

/// Everything stored about a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRecord {
    pub id: MessageId,
    pub namespace: NamespaceId,
    pub header: MessageHeader,
    pub deliveries: Vec<Delivery>,
    pub events: Vec<TraceEvent>,
    /// The body file was removed by retention; the header stays.
    #[serde(default)]
    pub body_purged: bool,
}

impl MessageRecord {
    /// The overall status: failed if any delivery failed, else in flight or
    /// queued if any is, else delivered (a message with no target counts as
    /// delivered: it went everywhere it had to).
    pub fn status(&self) -> DeliveryStatus {
        let has = |s| self.deliveries.iter().any(|d| d.status == s);
        if has(DeliveryStatus::Failed) {
            DeliveryStatus::Failed
        } else if has(DeliveryStatus::InFlight) {
            DeliveryStatus::InFlight
        } else if has(DeliveryStatus::Queued) {
            DeliveryStatus::Queued
        } else {
            DeliveryStatus::Delivered
        }
    }

    fn delivery_mut(&mut self, target: &ItemAddress) -> Option<&mut Delivery> {
        self.deliveries.iter_mut().find(|d| &d.target == target)
    }
}

/// A queue entry: a pending delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueEntry {
    /// Claimed by a worker; put back to queued on start.
    pub in_flight: bool,
    /// Not before (ms since the epoch): back-off of a retried delivery.
    #[serde(default)]
    pub not_before: u64,
}

/// Errors of the message store.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no message {0} in namespace {1}")]
    NotFound(MessageId, NamespaceId),
    #[error("message {id} has no delivery to {target}")]
    NoDelivery { id: MessageId, target: ItemAddress },
    #[error("message {0} cannot be sent again: its body was purged by retention")]
    BodyPurged(MessageId),
    #[error("stored message {key} in namespace {namespace} cannot be read: {reason}")]
    Corrupt {
        namespace: NamespaceId,
        key: String,
        reason: String,
    },
}

impl From<sled::Error> for MessageError {
    fn from(e: sled::Error) -> Self {
        Self::Store(StoreError::from(e))
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = vec![FORMAT_V1];
    // Serialising these plain structs to JSON cannot fail.
    if let Ok(json) = serde_json::to_vec(value) {
        out.extend(json);
    }
    out
}

fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, String> {
    match bytes.split_first() {
        Some((&FORMAT_V1, json)) => serde_json::from_slice(json).map_err(|e| e.to_string()),
        Some((v, _)) => Err(format!("unknown format version {v}")),
        None => Err("empty value".into()),
    }
}

/// A filter for [`Messages::list`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub production: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<DeliveryStatus>,
    /// Received at or after (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<u64>,
    /// At most this many, newest first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

impl MessageFilter {
    fn matches(&self, r: &MessageRecord) -> bool {
        self.production.as_ref().is_none_or(|p| {
            &r.header.source.production == p
                || r.deliveries.iter().any(|d| &d.target.production == p)
        }) && self
            .status
            .is_none_or(|s| r.status() == s || r.deliveries.iter().any(|d| d.status == s))
            && self.since.is_none_or(|t| r.header.received_at >= t)
    }
}

/// The messages and queues of one namespace. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Messages {
    store: Store,
    namespace: NamespaceId,
    records: sled::Tree,
}

impl Store {
    /// The messages and queues of a namespace.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the tree cannot be opened.
    pub fn messages(&self, namespace: &NamespaceId) -> Result<Messages, StoreError> {
        Ok(Messages {
            store: self.clone(),
            namespace: namespace.clone(),
            records: self.tree(&format!("{namespace}/messages"))?,
        })
    }

    /// A new message id, unique in this data directory and larger than every
    /// earlier one (sled persists the counter).
    ///
    /// # Errors
    /// [`StoreError::Backend`].
    pub fn next_message_id(&self) -> Result<MessageId, StoreError> {
        // sled starts at 0; keep 0 free so that ids read as 1, 2, 3, …
        Ok(MessageId(self.inner.db.generate_id()? + 1))
    }

    /// Makes sure later ids are larger than `id` (after the store was
    /// rebuilt from body files, its counter starts again from zero and
    /// would reuse their names).
    ///
    /// # Errors
    /// [`StoreError::Backend`].
    pub fn ensure_message_ids_above(&self, id: MessageId) -> Result<(), StoreError> {
        while self.inner.db.generate_id()? < id.0 {}
        Ok(())
    }

    /// Every namespace that has messages.
    ///
    /// # Errors
    /// None in practice; kept fallible for symmetry.
    pub fn message_namespaces(&self) -> Result<Vec<NamespaceId>, StoreError> {
        let mut out = Vec::new();
        for name in self.inner.db.tree_names() {
            if let Some(ns) = std::str::from_utf8(&name)
                .ok()
                .and_then(|n| n.strip_suffix("/messages"))
                .and_then(|n| NamespaceId::new(n).ok())
            {
                out.push(ns);
            }
        }
        Ok(out)
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

    fn queue(&self, target: &ItemAddress) -> Result<sled::Tree, MessageError> {
        Ok(self.store.tree(&self.queue_name(target))?)
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

    /// Records a new message and queues it for each target, in one
    /// transaction. Not durable until the next group commit.
    ///
    /// # Errors
    /// [`MessageError::Store`].
    pub fn accept(
        &self,
        id: MessageId,
        header: MessageHeader,
        targets: &[ItemAddress],
    ) -> Result<MessageRecord, MessageError> {
        let now = now_ms();
        let record = MessageRecord {
            id,
            namespace: self.namespace.clone(),
            deliveries: targets
                .iter()
                .map(|t| Delivery {
                    target: t.clone(),
                    status: DeliveryStatus::Queued,
                    attempts: 0,
                    last_error: None,
                    reason: None,
                    updated_at: now,
                })
                .collect(),
            events: vec![TraceEvent {
                at: header.received_at,
                item: header.source.clone(),
                event: format!(
                    "received from {} ({} → {}), queued for {}",
                    header.origin,
                    header.calling_ae_title,
                    header.called_ae_title,
                    if targets.is_empty() {
                        "no target".to_string()
                    } else {
                        targets
                            .iter()
                            .map(|t| t.item.clone())
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ),
            }],
            header,
            body_purged: false,
        };
        let queues = targets
            .iter()
            .map(|t| self.queue(t))
            .collect::<Result<Vec<_>, _>>()?;
        let key = id.0.to_be_bytes();
        let entry = encode(&QueueEntry {
            in_flight: false,
            not_before: 0,
        });
        let _writes = self.lock();
        for q in &queues {
            q.insert(key, entry.as_slice())?;
        }
        self.records.insert(key, encode(&record))?;
        Ok(record)
    }

    /// Re-creates a message from its body file's trailer (the record was
    /// lost: a store moved aside after corruption, or writes that never
    /// reached sled's disk). Every target is queued again: a duplicate at
    /// worst, never a loss.
    ///
    /// # Errors
    /// [`MessageError::Store`].
    pub fn restore(
        &self,
        trailer: &super::bodies::BodyTrailer,
    ) -> Result<MessageRecord, MessageError> {
        let mut record = self.accept(trailer.id, trailer.header.clone(), &trailer.targets)?;
        record.events.push(TraceEvent {
            at: now_ms(),
            item: trailer.header.source.clone(),
            event: "restored from its body file".to_string(),
        });
        let _writes = self.lock();
        self.records
            .insert(trailer.id.0.to_be_bytes(), encode(&record))?;
        Ok(record)
    }

    /// One message.
    ///
    /// # Errors
    /// [`MessageError::NotFound`], [`MessageError::Corrupt`].
    pub fn get(&self, id: MessageId) -> Result<MessageRecord, MessageError> {
        let key = id.0.to_be_bytes();
        let bytes = self
            .records
            .get(key)?
            .ok_or_else(|| MessageError::NotFound(id, self.namespace.clone()))?;
        decode(&bytes).map_err(|r| self.corrupt(&key, r))
    }

    /// Messages matching a filter, newest first.
    ///
    /// # Errors
    /// [`MessageError::Store`], [`MessageError::Corrupt`].
    pub fn list(&self, filter: &MessageFilter) -> Result<Vec<MessageRecord>, MessageError> {
        let mut out = Vec::new();
        for item in self.records.iter().rev() {
            let (k, v) = item?;
            let r: MessageRecord = decode(&v).map_err(|e| self.corrupt(&k, e))?;
            if filter.since.is_some_and(|t| r.header.received_at < t) {
                // ids increase with arrival: older ones follow
                break;
            }
            if filter.matches(&r) {
                out.push(r);
                if filter.limit.is_some_and(|l| out.len() >= l) {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Pending deliveries of an item, oldest first, after `after`, at most
    /// `limit`; entries in flight or waiting for back-off are skipped.
    ///
    /// # Errors
    /// [`MessageError::Store`], [`MessageError::Corrupt`].
    pub fn pending(
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

    /// The earliest back-off deadline among an item's waiting entries, if
    /// any (ms since the epoch).
    ///
    /// # Errors
    /// [`MessageError::Store`], [`MessageError::Corrupt`].
    pub fn next_retry_at(&self, target: &ItemAddress) -> Result<Option<u64>, MessageError> {
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

    /// How many deliveries wait in an item's queue (queued or in flight).
    ///
    /// # Errors
    /// [`MessageError::Store`].
    pub fn queue_depth(&self, target: &ItemAddress) -> Result<usize, MessageError> {
        Ok(self.queue(target)?.len())
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
        self.records
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
        let mut record = self
            .read_record(&key)?
            .ok_or_else(|| MessageError::NotFound(id, self.namespace.clone()))?;
        let entry = self.read_entry(&q, &key)?;
        match f(&mut record, entry)? {
            Some(e) => {
                q.insert(key, encode(&e))?;
                self.records.insert(key, encode(&record))?;
            }
            None => {
                self.records.insert(key, encode(&record))?;
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
        let result = (&self.records, &q).transaction(|(records, queue)| {
            let bytes = records.get(key)?.ok_or_else(|| {
                ConflictableTransactionError::Abort(MessageError::NotFound(
                    id,
                    self.namespace.clone(),
                ))
            })?;
            let mut record: MessageRecord = decode(&bytes)
                .map_err(|r| ConflictableTransactionError::Abort(self.corrupt(&key, r)))?;
            let entry = match queue.get(key)? {
                Some(b) => Some(
                    decode::<QueueEntry>(&b)
                        .map_err(|r| ConflictableTransactionError::Abort(self.corrupt(&key, r)))?,
                ),
                None => None,
            };
            let new_entry = (f.borrow_mut())(&mut record, entry)
                .map_err(ConflictableTransactionError::Abort)?;
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

    /// Marks a queued delivery in flight. `None` when it is not queued for
    /// this item any more (resent, failed, or claimed by another worker).
    /// An entry whose delivery already ended, or whose record is missing,
    /// is left over from a crash between two writes and is removed.
    ///
    /// # Errors
    /// [`MessageError::Store`], [`MessageError::Corrupt`].
    pub fn claim(
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
        let mut record = match self.read_record(&key)? {
            Some(r) => r,
            None => {
                q.remove(key)?;
                return Ok(None);
            }
        };
        let Some(d) = record
            .delivery_mut(target)
            .filter(|d| matches!(d.status, DeliveryStatus::Queued | DeliveryStatus::InFlight))
        else {
            q.remove(key)?;
            return Ok(None);
        };
        d.status = DeliveryStatus::InFlight;
        d.updated_at = now_ms();
        entry.in_flight = true;
        q.insert(key, encode(&entry))?;
        self.records.insert(key, encode(&record))?;
        Ok(Some(record))
    }

    /// Records a successful delivery and removes it from the queue.
    ///
    /// # Errors
    /// [`MessageError::Store`], [`MessageError::Corrupt`], [`MessageError::NotFound`].
    pub fn delivered(
        &self,
        id: MessageId,
        target: &ItemAddress,
        note: &str,
    ) -> Result<MessageRecord, MessageError> {
        self.change(id, target, |record, _| {
            let event = if note.is_empty() {
                "delivered".to_string()
            } else {
                format!("delivered: {note}")
            };
            let d = end_attempt(record, id, target, DeliveryStatus::Delivered, event)?;
            d.reason = (!note.is_empty()).then(|| note.to_string());
            Ok(None)
        })
    }

    /// Records a failed attempt that will be retried after `retry_at` (ms
    /// since the epoch); the delivery goes back to queued.
    ///
    /// # Errors
    /// As [`Self::delivered`].
    pub fn retry_later(
        &self,
        id: MessageId,
        target: &ItemAddress,
        error: &str,
        retry_at: u64,
    ) -> Result<MessageRecord, MessageError> {
        self.update(id, target, |record, _| {
            let attempt = record
                .delivery_mut(target)
                .map_or(1, |d| d.attempts.saturating_add(1));
            let event = format!("attempt {attempt} failed, will retry: {error}");
            let d = end_attempt(record, id, target, DeliveryStatus::Queued, event)?;
            d.last_error = Some(error.to_string());
            Ok(Some(QueueEntry {
                in_flight: false,
                not_before: retry_at,
            }))
        })
    }

    /// Puts a claimed delivery back to queued without counting an attempt
    /// (shutdown, or a connection lost before sending it).
    ///
    /// # Errors
    /// As [`Self::delivered`].
    pub fn requeue(
        &self,
        id: MessageId,
        target: &ItemAddress,
    ) -> Result<MessageRecord, MessageError> {
        self.update(id, target, |record, entry| {
            match record.delivery_mut(target) {
                Some(d) if d.status == DeliveryStatus::InFlight => {
                    d.status = DeliveryStatus::Queued;
                    d.updated_at = now_ms();
                }
                // Left over from a crash between the record's end and the
                // entry's removal.
                Some(d)
                    if matches!(d.status, DeliveryStatus::Delivered | DeliveryStatus::Failed) =>
                {
                    return Ok(None);
                }
                _ => {}
            }
            Ok(entry.map(|e| QueueEntry {
                in_flight: false,
                ..e
            }))
        })
    }

    /// Records that a delivery failed for good and removes it from the
    /// queue.
    ///
    /// # Errors
    /// As [`Self::delivered`].
    pub fn failed(
        &self,
        id: MessageId,
        target: &ItemAddress,
        reason: &str,
    ) -> Result<MessageRecord, MessageError> {
        self.change(id, target, |record, _| {
            let event = format!("failed: {reason}");
            let d = end_attempt(record, id, target, DeliveryStatus::Failed, event)?;
            d.last_error = Some(reason.to_string());
            d.reason = Some(reason.to_string());
            Ok(None)
        })
    }

    /// A process passed the message on: its own delivery is done and the
    /// message is queued for `targets`. The targets' entries are written first,
    /// then the record, then the process's own entry is removed: a crash in
    /// between routes the message again (a duplicate at worst).
    ///
    /// # Errors
    /// As [`Self::delivered`].
    pub fn route(
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
        let entry = encode(&QueueEntry {
            in_flight: false,
            not_before: 0,
        });
        let _writes = self.lock();
        let mut record = self
            .read_record(&key)?
            .ok_or_else(|| MessageError::NotFound(id, self.namespace.clone()))?;
        let now = now_ms();
        if let Some(d) = record.delivery_mut(from) {
            d.status = DeliveryStatus::Delivered;
            d.attempts += 1;
            d.updated_at = now;
        }
        for t in targets {
            match record.delivery_mut(t) {
                Some(d) => {
                    d.status = DeliveryStatus::Queued;
                    d.updated_at = now;
                }
                None => record.deliveries.push(Delivery {
                    target: t.clone(),
                    status: DeliveryStatus::Queued,
                    attempts: 0,
                    last_error: None,
                    reason: None,
                    updated_at: now,
                }),
            }
        }
        record.events.push(TraceEvent {
            at: now,
            item: from.clone(),
            event: if targets.is_empty() {
                format!(
                    "dropped{}",
                    if note.is_empty() {
                        String::new()
                    } else {
                        format!(": {note}")
                    }
                )
            } else {
                format!(
                    "routed to {}",
                    targets
                        .iter()
                        .map(|t| t.item.clone())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            },
        });
        for q in &queues {
            q.insert(key, entry.as_slice())?;
        }
        self.records.insert(key, encode(&record))?;
        own.remove(key)?;
        Ok(record)
    }

    /// Queues failed (or, when `include_delivered`, also delivered)
    /// deliveries of a message again.
    ///
    /// # Errors
    /// [`MessageError::BodyPurged`] when the body is gone, and as
    /// [`Self::delivered`].
    pub fn resend(
        &self,
        id: MessageId,
        include_delivered: bool,
    ) -> Result<Vec<ItemAddress>, MessageError> {
        let record = self.get(id)?;
        if record.body_purged {
            return Err(MessageError::BodyPurged(id));
        }
        let mut requeued = Vec::new();
        for d in &record.deliveries {
            let again = d.status == DeliveryStatus::Failed
                || (include_delivered && d.status == DeliveryStatus::Delivered);
            if !again {
                continue;
            }
            self.update(id, &d.target, |record, _| {
                let now = now_ms();
                if let Some(d) = record.delivery_mut(&d.target) {
                    d.status = DeliveryStatus::Queued;
                    d.attempts = 0;
                    d.reason = None;
                    d.updated_at = now;
                }
                record.events.push(TraceEvent {
                    at: now,
                    item: d.target.clone(),
                    event: "queued again (resend)".to_string(),
                });
                Ok(Some(QueueEntry {
                    in_flight: false,
                    not_before: 0,
                }))
            })?;
            requeued.push(d.target.clone());
        }
        Ok(requeued)
    }

    /// On start: every delivery left in flight by the previous run goes back
    /// to queued (it will be sent again: a duplicate at worst, never a loss).
    /// Returns how many.
    ///
    /// # Errors
    /// [`MessageError::Store`], [`MessageError::Corrupt`].
    pub fn requeue_in_flight(&self) -> Result<usize, MessageError> {
        let prefix = format!("{}/queue/", self.namespace);
        let mut count = 0;
        for name in self.store.inner.db.tree_names() {
            let Some(rest) = std::str::from_utf8(&name)
                .ok()
                .and_then(|n| n.strip_prefix(&prefix))
            else {
                continue;
            };
            let Some((production, item)) = rest.split_once('/') else {
                continue;
            };
            count += self.requeue_in_flight_of(&ItemAddress::new(production, item))?;
        }
        Ok(count)
    }

    /// Puts every delivery in flight at one item back to queued: for an
    /// item that was stopped (or aborted after the grace period) while it
    /// held some, so that its successor, or the item when it comes back,
    /// sends them. Only call it when no worker of that item runs. Returns
    /// how many.
    ///
    /// # Errors
    /// [`MessageError::Store`], [`MessageError::Corrupt`].
    pub fn requeue_in_flight_of(&self, target: &ItemAddress) -> Result<usize, MessageError> {
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

    /// Every queue of the namespace with its depth: (production, item) →
    /// pending deliveries.
    ///
    /// # Errors
    /// [`MessageError::Store`].
    pub fn queues(&self) -> Result<BTreeMap<ItemAddress, usize>, MessageError> {
        let prefix = format!("{}/queue/", self.namespace);
        let mut out = BTreeMap::new();
        for name in self.store.inner.db.tree_names() {
            if let Some((p, i)) = std::str::from_utf8(&name)
                .ok()
                .and_then(|n| n.strip_prefix(&prefix))
                .and_then(|r| r.split_once('/'))
            {
                let target = ItemAddress::new(p, i);
                let depth = self.queue(&target)?.len();
                out.insert(target, depth);
            }
        }
        Ok(out)
    }

    /// Marks the bodies of these messages as purged (the files are removed
    /// by the caller).
    ///
    /// # Errors
    /// [`MessageError::Store`], [`MessageError::Corrupt`].
    pub fn mark_purged(&self, ids: &[MessageId]) -> Result<(), MessageError> {
        let _writes = self.lock();
        for id in ids {
            let key = id.0.to_be_bytes();
            self.records
                .transaction(|records| {
                    if let Some(bytes) = records.get(key)? {
                        let mut r: MessageRecord = decode(&bytes).map_err(|reason| {
                            ConflictableTransactionError::Abort(self.corrupt(&key, reason))
                        })?;
                        r.body_purged = true;
                        records.insert(&key, encode(&r))?;
                    }
                    Ok(())
                })
                .map_err(abort_or_storage)?;
        }
        Ok(())
    }

    /// Removes the records of messages (used when rebuilding, never by
    /// retention, which keeps headers).
    ///
    /// # Errors
    /// [`MessageError::Store`].
    pub fn contains(&self, id: MessageId) -> Result<bool, MessageError> {
        Ok(self.records.contains_key(id.0.to_be_bytes())?)
    }
}

/// Ends one attempt of a delivery: its new status, one more attempt, the
/// time, and an event in the trace. Returns the delivery for the caller's
/// own fields.
fn end_attempt<'r>(
    record: &'r mut MessageRecord,
    id: MessageId,
    target: &ItemAddress,
    status: DeliveryStatus,
    event: String,
) -> Result<&'r mut Delivery, MessageError> {
    let now = now_ms();
    record.events.push(TraceEvent {
        at: now,
        item: target.clone(),
        event,
    });
    let d = record
        .delivery_mut(target)
        .ok_or_else(|| MessageError::NoDelivery {
            id,
            target: target.clone(),
        })?;
    d.status = status;
    d.attempts += 1;
    d.updated_at = now;
    Ok(d)
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
