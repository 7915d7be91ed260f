//! A message's record: its header, one delivery per target and the trace of
//! its way through the items, with every change of a delivery as one pure
//! method. The store decides how and in which order records and queue
//! entries are written; what a change means is decided here.

use serde::{Deserialize, Serialize};

use super::error::MessageError;
use super::header::{ItemAddress, MessageHeader, MessageId};
use crate::ids::NamespaceId;

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

    /// Whether the delivery still waits for its target (queued or in flight).
    pub fn is_pending(self) -> bool {
        matches!(self, Self::Queued | Self::InFlight)
    }
}

impl std::fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status name that is not one of the four.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown status {0:?}: use queued, in-flight, delivered or failed")]
pub struct UnknownStatus(pub String);

impl std::str::FromStr for DeliveryStatus {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "queued" => Ok(Self::Queued),
            "in-flight" | "in_flight" | "inflight" => Ok(Self::InFlight),
            "delivered" => Ok(Self::Delivered),
            "failed" => Ok(Self::Failed),
            other => Err(UnknownStatus(other.to_string())),
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

impl Delivery {
    fn queued(target: ItemAddress, now: u64) -> Self {
        Self {
            target,
            status: DeliveryStatus::Queued,
            attempts: 0,
            last_error: None,
            reason: None,
            updated_at: now,
        }
    }
}

/// One step of a message through the items, for `messages show`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceEvent {
    pub at: u64,
    pub item: ItemAddress,
    pub event: String,
}

/// Everything known about a message.
///
/// The store keeps it as the serde encoding of this type behind a format
/// version byte: fields may be added (optional, with a default); any other
/// change of its fields needs a new format version.
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
    /// A query (C-FIND): what was asked and how it was answered. It has no
    /// body (see [`super::query`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<super::query::QueryTrace>,
    /// A C-MOVE through the engine: what was asked, how it ended, and its
    /// instances. It has no body (see [`super::retrieve`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retrieve: Option<super::retrieve::RetrieveTrace>,
}

/// What [`MessageRecord::requeue`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requeued {
    /// The delivery was in flight and is queued again.
    Queued,
    /// The delivery already ended (delivered or failed): its queue entry is
    /// left over from a crash between two writes and goes.
    Ended,
    /// Nothing to change (queued already, or no such delivery).
    Unchanged,
}

impl MessageRecord {
    /// A message just taken in, queued for each target.
    pub fn received(
        id: MessageId,
        namespace: NamespaceId,
        header: MessageHeader,
        targets: &[ItemAddress],
        now: u64,
    ) -> Self {
        let queued_for = if targets.is_empty() {
            "no target".to_string()
        } else {
            item_names(targets)
        };
        Self {
            id,
            namespace,
            deliveries: targets
                .iter()
                .map(|t| Delivery::queued(t.clone(), now))
                .collect(),
            events: vec![TraceEvent {
                at: header.received_at,
                item: header.source.clone(),
                event: format!(
                    "received from {} ({} → {}), queued for {queued_for}",
                    header.origin, header.calling_ae_title, header.called_ae_title
                ),
            }],
            header,
            body_purged: false,
            query: None,
            retrieve: None,
        }
    }

    /// Notes that the record was rebuilt from its body file.
    pub fn restored(&mut self, now: u64) {
        self.event(
            now,
            self.header.source.clone(),
            "restored from its body file",
        );
    }

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

    /// The delivery to `target`, if any.
    pub fn delivery(&self, target: &ItemAddress) -> Option<&Delivery> {
        self.deliveries.iter().find(|d| &d.target == target)
    }

    fn delivery_mut(&mut self, target: &ItemAddress) -> Option<&mut Delivery> {
        self.deliveries.iter_mut().find(|d| &d.target == target)
    }

    fn event(&mut self, at: u64, item: ItemAddress, event: impl Into<String>) {
        self.events.push(TraceEvent {
            at,
            item,
            event: event.into(),
        });
    }

    /// A worker of `target` takes the delivery: in flight. `false` when
    /// there is no pending delivery to `target` (its queue entry is stale).
    pub fn claim(&mut self, target: &ItemAddress, now: u64) -> bool {
        match self.delivery_mut(target) {
            Some(d) if d.status.is_pending() => {
                d.status = DeliveryStatus::InFlight;
                d.updated_at = now;
                true
            }
            _ => false,
        }
    }

    /// The target took the message; `note` (e.g. a warning status) is kept.
    ///
    /// # Errors
    /// [`MessageError::NoDelivery`].
    pub fn delivered(
        &mut self,
        target: &ItemAddress,
        note: &str,
        now: u64,
    ) -> Result<(), MessageError> {
        let event = if note.is_empty() {
            "delivered".to_string()
        } else {
            format!("delivered: {note}")
        };
        let d = self.end_attempt(target, DeliveryStatus::Delivered, event, now)?;
        d.reason = (!note.is_empty()).then(|| note.to_string());
        Ok(())
    }

    /// An attempt failed for a reason that may pass: queued again, one more
    /// attempt counted.
    ///
    /// # Errors
    /// [`MessageError::NoDelivery`].
    pub fn retry_later(
        &mut self,
        target: &ItemAddress,
        error: &str,
        now: u64,
    ) -> Result<(), MessageError> {
        let attempt = self
            .delivery(target)
            .map_or(1, |d| d.attempts.saturating_add(1));
        // A remote down for days must not grow the record with every
        // attempt: the trace keeps the first retry and one line for the
        // latest, which says how many failed in between.
        let mine = || {
            self.events
                .iter()
                .enumerate()
                .rev()
                .filter(|(_, e)| &e.item == target)
        };
        let first_kept = mine().take_while(|(_, e)| is_retry_of(e, target)).count() >= 2;
        if first_kept && let Some((latest, _)) = mine().next() {
            self.events.remove(latest);
        }
        let event = if first_kept {
            format!("attempts 2–{attempt} {RETRY_MARK}; the last: {error}")
        } else {
            format!("attempt {attempt} {RETRY_MARK}: {error}")
        };
        let d = self.end_attempt(target, DeliveryStatus::Queued, event, now)?;
        d.last_error = Some(error.to_string());
        Ok(())
    }

    /// A delivery in flight goes back to queued without counting an attempt
    /// (shutdown, or a connection lost before it was sent).
    pub fn requeue(&mut self, target: &ItemAddress, now: u64) -> Requeued {
        match self.delivery_mut(target) {
            Some(d) if d.status == DeliveryStatus::InFlight => {
                d.status = DeliveryStatus::Queued;
                d.updated_at = now;
                Requeued::Queued
            }
            Some(d) if !d.status.is_pending() => Requeued::Ended,
            _ => Requeued::Unchanged,
        }
    }

    /// The delivery failed for good.
    ///
    /// # Errors
    /// [`MessageError::NoDelivery`].
    pub fn failed(
        &mut self,
        target: &ItemAddress,
        reason: &str,
        now: u64,
    ) -> Result<(), MessageError> {
        // What was delivered stays delivered (a late withdrawal of a
        // message a worker already delivered changes nothing).
        if self
            .delivery(target)
            .is_some_and(|d| d.status == DeliveryStatus::Delivered)
        {
            return Ok(());
        }
        let d = self.end_attempt(
            target,
            DeliveryStatus::Failed,
            format!("failed: {reason}"),
            now,
        )?;
        d.last_error = Some(reason.to_string());
        d.reason = Some(reason.to_string());
        Ok(())
    }

    /// A process passed the message on: its own delivery is done, and the
    /// message is queued for `targets` (none: dropped, with `note` as the
    /// reason).
    pub fn routed(&mut self, from: &ItemAddress, targets: &[ItemAddress], note: &str, now: u64) {
        if let Some(d) = self.delivery_mut(from) {
            d.status = DeliveryStatus::Delivered;
            d.attempts += 1;
            d.updated_at = now;
        }
        for t in targets {
            match self.delivery_mut(t) {
                Some(d) => {
                    d.status = DeliveryStatus::Queued;
                    d.updated_at = now;
                }
                None => self.deliveries.push(Delivery::queued(t.clone(), now)),
            }
        }
        let event = match (targets.is_empty(), note.is_empty()) {
            (false, _) => format!("routed to {}", item_names(targets)),
            (true, true) => "dropped".to_string(),
            (true, false) => format!("dropped: {note}"),
        };
        self.event(now, from.clone(), event);
    }

    /// The targets a resend queues again: failed deliveries, and with
    /// `include_delivered` delivered ones too.
    ///
    /// # Errors
    /// [`MessageError::BodyPurged`]: without its body a message cannot be
    /// sent again.
    pub fn resendable(&self, include_delivered: bool) -> Result<Vec<ItemAddress>, MessageError> {
        if self.query.is_some() {
            return Err(MessageError::Query(self.id));
        }
        if self.retrieve.is_some() {
            return Err(MessageError::Retrieve(self.id));
        }
        if self.body_purged {
            return Err(MessageError::BodyPurged(self.id));
        }
        Ok(self
            .deliveries
            .iter()
            .filter(|d| {
                d.status == DeliveryStatus::Failed
                    || (include_delivered && d.status == DeliveryStatus::Delivered)
            })
            .map(|d| d.target.clone())
            .collect())
    }

    /// Retention removes the body: only of a message delivered everywhere
    /// whose body is still there. Returns whether it was marked purged.
    pub fn purge(&mut self) -> bool {
        if self.body_purged || !self.has_body() || self.status() != DeliveryStatus::Delivered {
            return false;
        }
        self.body_purged = true;
        true
    }

    /// The delivery to `target` is queued again from scratch (a resend).
    pub fn resent(&mut self, target: &ItemAddress, now: u64) {
        if let Some(d) = self.delivery_mut(target) {
            d.status = DeliveryStatus::Queued;
            d.attempts = 0;
            d.reason = None;
            d.updated_at = now;
        }
        self.event(now, target.clone(), "queued again (resend)");
    }

    /// Ends one attempt: the new status, one more attempt, the time and an
    /// event in the trace. Returns the delivery for the caller's own fields.
    fn end_attempt(
        &mut self,
        target: &ItemAddress,
        status: DeliveryStatus,
        event: String,
        now: u64,
    ) -> Result<&mut Delivery, MessageError> {
        let Some(at) = self.deliveries.iter().position(|d| &d.target == target) else {
            return Err(MessageError::NoDelivery {
                id: self.id,
                target: target.clone(),
            });
        };
        self.event(now, target.clone(), event);
        let d = &mut self.deliveries[at];
        d.status = status;
        d.attempts += 1;
        d.updated_at = now;
        Ok(d)
    }
}

/// What every retry's trace event says.
const RETRY_MARK: &str = "failed, will retry";

/// Whether a trace event is a retry of the delivery to `target`.
fn is_retry_of(event: &TraceEvent, target: &ItemAddress) -> bool {
    &event.item == target && event.event.contains(RETRY_MARK)
}

/// `A, B, C`: the item names of addresses, for the trace.
fn item_names(targets: &[ItemAddress]) -> String {
    targets
        .iter()
        .map(|t| t.item.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
