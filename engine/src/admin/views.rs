//! What the admin API shows of stored things: its own view types, so that
//! the store's format can change without changing the API (and the CLI's
//! `--json`), and the other way round. Change them only by adding.

use serde::{Deserialize, Serialize};

use crate::association::{
    AeTitle, AssociationContext, CertificateBinding, PairKey, PresentationContext,
};
use crate::ids::NamespaceId;
use crate::message::{
    Delivery, DeliveryStatus, ItemAddress, MessageHeader, MessageId, MessageRecord, QueryKey,
    QueryTrace, RetrieveTrace, TraceEvent,
};
use crate::store::quarantine::{QuarantinedBody, QuarantinedRecord, RestoredBody};

/// An item of a production, as (production, item).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AddressView {
    pub production: String,
    pub item: String,
}

impl From<ItemAddress> for AddressView {
    fn from(a: ItemAddress) -> Self {
        Self {
            production: a.production,
            item: a.item,
        }
    }
}

/// A message: what arrived, where it went and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageView {
    pub id: MessageId,
    pub namespace: NamespaceId,
    /// The overall status: failed if a delivery failed, else in flight or
    /// queued if one is, else delivered.
    pub status: DeliveryStatus,
    pub header: HeaderView,
    pub deliveries: Vec<DeliveryView>,
    /// Its way through the items, oldest first.
    pub events: Vec<EventView>,
    /// The body file was removed by retention; the header stays.
    pub body_purged: bool,
    /// A query (C-FIND): what was asked and how it was answered; its
    /// deliveries are its upstreams.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<QueryView>,
    /// A C-MOVE through the engine: what was asked and how it ended; its
    /// delivery is its upstream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retrieve: Option<RetrieveView>,
    /// A move's instances, each a message of its own, with their delivery
    /// to the destination (filled by `messages show`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sub_operations: Vec<SubOperationView>,
}

/// A C-MOVE or C-GET in the trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetrieveView {
    /// PATIENT, STUDY, SERIES or IMAGE.
    pub level: String,
    pub keys: Vec<QueryKeyView>,
    /// The Move Destination; empty for a C-GET.
    pub destination: String,
    /// Its instances' messages, in arrival order.
    pub sub_operations: Vec<MessageId>,
    pub completed: u32,
    pub failed: u32,
    pub warning: u32,
    /// The final status sent to the requester.
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_comment: Option<String>,
    pub duration_ms: u64,
}

/// One instance of a move: its message and where it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubOperationView {
    pub id: MessageId,
    pub sop_instance_uid: String,
    pub status: DeliveryStatus,
    /// Why it failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl RetrieveView {
    /// "move to DEST", or "get" (its instances went back to the requester).
    pub fn what(&self) -> String {
        if self.destination.is_empty() {
            "get".to_string()
        } else {
            format!("move to {}", self.destination)
        }
    }
}

impl From<RetrieveTrace> for RetrieveView {
    fn from(r: RetrieveTrace) -> Self {
        Self {
            level: r.level,
            keys: r.keys.into_iter().map(Into::into).collect(),
            destination: r.destination,
            sub_operations: r.sub_operations,
            completed: r.completed,
            failed: r.failed,
            warning: r.warning,
            status: r.status,
            error_comment: r.error_comment,
            duration_ms: r.duration_ms,
        }
    }
}

impl From<&MessageRecord> for SubOperationView {
    fn from(r: &MessageRecord) -> Self {
        Self {
            id: r.id,
            sop_instance_uid: r.header.sop_instance_uid.clone(),
            status: r.status(),
            reason: r
                .deliveries
                .iter()
                .find_map(|d| d.reason.clone().or(d.last_error.clone())),
        }
    }
}

/// A query in the trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryView {
    /// PATIENT, STUDY, SERIES, IMAGE or WORKLIST.
    pub level: String,
    /// The identifier's keys, in its order; `Sequence>Keyword` inside a
    /// sequence.
    pub keys: Vec<QueryKeyView>,
    /// Matches sent to the requester.
    pub matches: u64,
    /// The final status sent to the requester.
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_comment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_match_ms: Option<u64>,
    pub duration_ms: u64,
}

/// One key of a query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryKeyView {
    pub keyword: String,
    /// The value matched; empty for a key only to be returned.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
}

impl From<QueryKey> for QueryKeyView {
    fn from(k: QueryKey) -> Self {
        Self {
            keyword: k.keyword,
            value: k.value,
        }
    }
}

impl From<QueryTrace> for QueryView {
    fn from(q: QueryTrace) -> Self {
        Self {
            level: q.level,
            keys: q.keys.into_iter().map(Into::into).collect(),
            matches: q.matches,
            status: q.status,
            error_comment: q.error_comment,
            first_match_ms: q.first_match_ms,
            duration_ms: q.duration_ms,
        }
    }
}

/// What is known of a message since it arrived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeaderView {
    /// The service that took it in.
    pub source: AddressView,
    /// Milliseconds since the Unix epoch.
    pub received_at: u64,
    pub sop_class_uid: String,
    pub sop_instance_uid: String,
    pub transfer_syntax: String,
    pub calling_ae_title: String,
    pub called_ae_title: String,
    /// The peer's address (DICOM) or the file it came from.
    pub origin: String,
    /// Bytes of the data set.
    pub size: u64,
    /// The body file's name in `<data-dir>/bodies/`.
    pub body: String,
}

/// Where a message stands for one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryView {
    pub target: AddressView,
    pub status: DeliveryStatus,
    /// Attempts that ended.
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Why it failed for good, or a note on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub updated_at: u64,
}

/// One step of a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventView {
    /// Milliseconds since the Unix epoch.
    pub at: u64,
    pub item: AddressView,
    pub event: String,
}

impl From<MessageRecord> for MessageView {
    fn from(r: MessageRecord) -> Self {
        Self {
            status: r.status(),
            id: r.id,
            namespace: r.namespace,
            header: r.header.into(),
            deliveries: r.deliveries.into_iter().map(Into::into).collect(),
            events: r.events.into_iter().map(Into::into).collect(),
            body_purged: r.body_purged,
            query: r.query.map(Into::into),
            retrieve: r.retrieve.map(Into::into),
            sub_operations: Vec::new(),
        }
    }
}

impl From<MessageHeader> for HeaderView {
    fn from(h: MessageHeader) -> Self {
        Self {
            source: h.source.into(),
            received_at: h.received_at,
            sop_class_uid: h.sop_class_uid,
            sop_instance_uid: h.sop_instance_uid,
            transfer_syntax: h.transfer_syntax,
            calling_ae_title: h.calling_ae_title,
            called_ae_title: h.called_ae_title,
            origin: h.origin,
            size: h.size,
            body: h.body,
        }
    }
}

impl From<Delivery> for DeliveryView {
    fn from(d: Delivery) -> Self {
        Self {
            target: d.target.into(),
            status: d.status,
            attempts: d.attempts,
            last_error: d.last_error,
            reason: d.reason,
            updated_at: d.updated_at,
        }
    }
}

impl From<TraceEvent> for EventView {
    fn from(e: TraceEvent) -> Self {
        Self {
            at: e.at,
            item: e.item.into(),
            event: e.event,
        }
    }
}

/// An association context as the API and `--json` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssociationView {
    pub calling_aet: AeTitle,
    pub called_aet: AeTitle,
    pub name: String,
    pub description: String,
    pub presentation_contexts: Vec<PresentationContext>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_pdu_length: Option<u32>,
    /// The client certificates the calling AE title is bound to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificates: Vec<CertificateBinding>,
}

impl AssociationView {
    /// The pair.
    pub fn key(&self) -> PairKey {
        PairKey::new(self.calling_aet.clone(), self.called_aet.clone())
    }
}

impl From<AssociationContext> for AssociationView {
    fn from(ctx: AssociationContext) -> Self {
        Self {
            calling_aet: ctx.calling_ae_title,
            called_aet: ctx.called_ae_title,
            name: ctx.name,
            description: ctx.description,
            presentation_contexts: ctx.presentation_contexts,
            max_pdu_length: ctx.max_pdu_length,
            certificates: ctx.certificates,
        }
    }
}

impl From<AssociationView> for AssociationContext {
    fn from(view: AssociationView) -> Self {
        Self {
            calling_ae_title: view.calling_aet,
            called_ae_title: view.called_aet,
            name: view.name,
            description: view.description,
            presentation_contexts: view.presentation_contexts,
            max_pdu_length: view.max_pdu_length,
            certificates: view.certificates,
        }
    }
}

/// A body file in quarantine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarantinedBodyView {
    /// Its file name (what `quarantine restore` takes).
    pub name: String,
    pub size: u64,
    /// Why it was set aside.
    pub reason: String,
}

impl From<QuarantinedBody> for QuarantinedBodyView {
    fn from(b: QuarantinedBody) -> Self {
        Self {
            name: b.name,
            size: b.size,
            reason: b.reason,
        }
    }
}

/// A store record in quarantine (its message, if its body file remains, was
/// restored from the body's trailer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarantinedRecordView {
    pub namespace: NamespaceId,
    /// `messages`, or `queue/<production>/<item>`.
    pub tree: String,
    /// The message id it was stored under.
    pub key: u64,
    pub size: usize,
}

impl From<QuarantinedRecord> for QuarantinedRecordView {
    fn from(r: QuarantinedRecord) -> Self {
        Self {
            namespace: r.namespace,
            tree: r.tree,
            key: r.key,
            size: r.size,
        }
    }
}

/// A body file taken back from quarantine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoredView {
    pub name: String,
    pub namespace: NamespaceId,
    pub id: MessageId,
    /// The targets its message was queued for; empty when the store knew
    /// the message already.
    pub queued_for: Vec<AddressView>,
}

impl From<RestoredBody> for RestoredView {
    fn from(r: RestoredBody) -> Self {
        Self {
            name: r.name,
            namespace: r.namespace,
            id: r.id,
            queued_for: r.queued_for.into_iter().map(AddressView::from).collect(),
        }
    }
}
