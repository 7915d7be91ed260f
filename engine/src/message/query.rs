//! A query (C-FIND) in the trace: who asked what of whom, and how it ended.
//! It is a message without a body: nothing sends it again, retention has
//! nothing to remove, and recovery (which works from bodies) never sees it.
//! Each upstream is a delivery: delivered when it answered, failed with its
//! reason when it did not.

use serde::{Deserialize, Serialize};

use super::header::{ItemAddress, MessageHeader, MessageId};
use super::record::{Delivery, DeliveryStatus, MessageRecord, TraceEvent};
use crate::ids::NamespaceId;

/// One key of a query's identifier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryKey {
    /// The attribute's keyword (`PatientName`), `Sequence>Keyword` inside
    /// a sequence, or the tag when the dictionary does not know it.
    pub keyword: String,
    /// The value to match; empty for a key that is only to be returned.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
}

/// What a query asked and how it was answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryTrace {
    /// Query/Retrieve Level (PATIENT, STUDY, SERIES, IMAGE), or WORKLIST.
    pub level: String,
    pub keys: Vec<QueryKey>,
    /// Matches sent to the requester.
    pub matches: u64,
    /// The final status sent to the requester.
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_comment: Option<String>,
    /// Milliseconds from the request to the first match sent, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_match_ms: Option<u64>,
    /// Milliseconds from the request to the final status.
    pub duration_ms: u64,
}

/// How one upstream answered a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamOutcome {
    /// The query operation.
    pub target: ItemAddress,
    /// Matches it gave (before de-duplication).
    pub matches: u64,
    /// Its final status; `None` when it gave none (the requester left).
    pub status: Option<u16>,
    pub error_comment: Option<String>,
    /// Milliseconds from the request to its final status.
    pub duration_ms: u64,
}

/// Success, Cancel, or Warning (Bxxx): the upstream answered.
fn answered(status: u16) -> bool {
    status == 0x0000 || status == 0xFE00 || status & 0xF000 == 0xB000
}

impl MessageRecord {
    /// A query that was answered, with one delivery per upstream.
    pub fn query(
        id: MessageId,
        namespace: NamespaceId,
        header: MessageHeader,
        trace: QueryTrace,
        upstreams: &[UpstreamOutcome],
    ) -> Self {
        let start = header.received_at;
        let mut events = vec![TraceEvent {
            at: start,
            item: header.source.clone(),
            event: format!(
                "query received from {} ({} → {}): {} level, {} key{}",
                header.origin,
                header.calling_ae_title,
                header.called_ae_title,
                trace.level,
                trace.keys.len(),
                if trace.keys.len() == 1 { "" } else { "s" },
            ),
        }];
        let mut deliveries = Vec::new();
        for u in upstreams {
            let at = start + u.duration_ms;
            let (status, event, reason) = match u.status {
                Some(s) if answered(s) => (
                    DeliveryStatus::Delivered,
                    format!(
                        "{} matches, final status {s:04X}H after {} ms",
                        u.matches, u.duration_ms
                    ),
                    Some(format!("{} matches", u.matches)),
                ),
                Some(s) => {
                    let why = u.error_comment.clone().unwrap_or_default();
                    (
                        DeliveryStatus::Failed,
                        format!(
                            "{} matches, failed with {s:04X}H after {} ms: {why}",
                            u.matches, u.duration_ms
                        ),
                        Some(why),
                    )
                }
                None => (
                    DeliveryStatus::Failed,
                    format!(
                        "{} matches, no final status (the requester left)",
                        u.matches
                    ),
                    Some("no final status".to_string()),
                ),
            };
            events.push(TraceEvent {
                at,
                item: u.target.clone(),
                event,
            });
            deliveries.push(Delivery {
                target: u.target.clone(),
                status,
                attempts: 1,
                last_error: None,
                reason,
                updated_at: at,
            });
        }
        events.push(TraceEvent {
            at: start + trace.duration_ms,
            item: header.source.clone(),
            event: format!(
                "answered: {} matches, final status {:04X}H after {} ms{}",
                trace.matches,
                trace.status,
                trace.duration_ms,
                trace
                    .error_comment
                    .as_ref()
                    .map(|c| format!(": {c}"))
                    .unwrap_or_default()
            ),
        });
        Self {
            id,
            namespace,
            header,
            deliveries,
            events,
            body_purged: false,
            query: Some(trace),
            retrieve: None,
        }
    }

    /// Whether the message has a body (a query or a move has none).
    pub fn has_body(&self) -> bool {
        self.query.is_none() && self.retrieve.is_none()
    }
}
