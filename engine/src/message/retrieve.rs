//! A C-MOVE through the engine in the trace: who asked to move what where,
//! how the upstream answered, and the instances it brought, each a message
//! of its own (its sub-operations, whose header names this move). Like a
//! query it has no body: nothing sends it again; its failed instances are
//! sent again one by one.

use serde::{Deserialize, Serialize};

use super::header::{ItemAddress, MessageHeader, MessageId};
use super::query::QueryKey;
use super::record::{Delivery, DeliveryStatus, MessageRecord, TraceEvent};
use crate::ids::NamespaceId;

/// What a move asked and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetrieveTrace {
    /// Query/Retrieve Level (PATIENT, STUDY, SERIES, IMAGE).
    pub level: String,
    pub keys: Vec<QueryKey>,
    /// The Move Destination; empty for a C-GET.
    pub destination: String,
    /// The instances taken in, in arrival order: messages of their own.
    pub sub_operations: Vec<MessageId>,
    /// The counts of the final response.
    pub completed: u32,
    pub failed: u32,
    pub warning: u32,
    /// The final status sent to the requester.
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_comment: Option<String>,
    /// Milliseconds from the request to the final response.
    pub duration_ms: u64,
}

/// How the upstream answered a move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamEnd {
    /// The query operation.
    pub target: ItemAddress,
    /// Its final status; `None` when it gave none.
    pub status: Option<u16>,
    pub error_comment: Option<String>,
    /// Milliseconds from the request to its final status.
    pub duration_ms: u64,
}

impl MessageRecord {
    /// A move that ended; its one delivery is the upstream.
    pub fn retrieve(
        id: MessageId,
        namespace: NamespaceId,
        header: MessageHeader,
        trace: RetrieveTrace,
        upstream: &UpstreamEnd,
    ) -> Self {
        let start = header.received_at;
        let at = start + upstream.duration_ms;
        let (status, reason) = match upstream.status {
            Some(s) if s == 0 || s == 0xFE00 || s & 0xF000 == 0xB000 => (
                DeliveryStatus::Delivered,
                Some(format!("final status {s:04X}H")),
            ),
            Some(s) => (
                DeliveryStatus::Failed,
                Some(format!(
                    "{s:04X}H: {}",
                    upstream.error_comment.clone().unwrap_or_default()
                )),
            ),
            None => (
                DeliveryStatus::Failed,
                Some(
                    upstream
                        .error_comment
                        .clone()
                        .unwrap_or_else(|| "no final status".into()),
                ),
            ),
        };
        let events = vec![
            TraceEvent {
                at: start,
                item: header.source.clone(),
                event: format!(
                    "C-MOVE received from {} ({} → {}) to {}: {} level",
                    header.origin,
                    header.calling_ae_title,
                    header.called_ae_title,
                    trace.destination,
                    trace.level
                ),
            },
            TraceEvent {
                at,
                item: upstream.target.clone(),
                event: format!(
                    "upstream finished after {} ms: {}; {} instances came",
                    upstream.duration_ms,
                    reason.clone().unwrap_or_default(),
                    trace.sub_operations.len()
                ),
            },
            TraceEvent {
                at: start + trace.duration_ms,
                item: header.source.clone(),
                event: format!(
                    "answered: {} completed, {} failed, {} warning, final status {:04X}H after {} ms{}",
                    trace.completed,
                    trace.failed,
                    trace.warning,
                    trace.status,
                    trace.duration_ms,
                    trace
                        .error_comment
                        .as_ref()
                        .map(|c| format!(": {c}"))
                        .unwrap_or_default()
                ),
            },
        ];
        Self {
            id,
            namespace,
            header,
            deliveries: vec![Delivery {
                target: upstream.target.clone(),
                status,
                attempts: 1,
                last_error: None,
                reason,
                updated_at: at,
            }],
            events,
            body_purged: false,
            query: None,
            retrieve: Some(trace),
        }
    }
}
