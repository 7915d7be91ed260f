//! A C-MOVE in the trace: a message without a body (`message::retrieve`),
//! written when the move has answered, before the answer goes out.

use std::sync::Arc;

use tokio::time::Instant;
use tracing::warn;

use super::relay::Relay;
use crate::component::query::{RetrieveAnswer, RetrieveRequest, identifier_summary};
use crate::message::time::millis;
use crate::message::{
    ItemAddress, MessageHeader, MessageId, MessageQueues, MessageRecord, RetrieveTrace, UpstreamEnd,
};

/// Where a move goes in the trace.
pub(super) struct Trace {
    messages: Option<Arc<dyn MessageQueues>>,
    /// The service that took the request.
    source: ItemAddress,
    /// The query operation.
    target: ItemAddress,
}

impl Trace {
    /// The trace of a move `relay` answers for the service that took
    /// `request`.
    pub(super) fn new(relay: &Relay, request: &RetrieveRequest) -> Self {
        Self {
            messages: relay.messages.clone().ok(),
            source: ItemAddress::new(relay.address.production.as_str(), request.service.as_str()),
            target: relay.address.clone(),
        }
    }

    /// The operation the move asks, as the trace names it.
    pub(super) fn target(&self) -> &ItemAddress {
        &self.target
    }

    /// A new id in the trace's numbering, for a move relayed as it is.
    pub(super) fn next_id(&self) -> Option<MessageId> {
        self.messages.as_ref()?.next_id().ok()
    }

    /// Writes the move (the request and its answer) into the trace, off
    /// the runtime's threads. A failure costs the trace line, never the
    /// answer.
    pub(super) async fn record(
        self,
        id: MessageId,
        received_at: u64,
        started: Instant,
        (request, answer): (&RetrieveRequest, &RetrieveAnswer),
        sub_operations: Vec<MessageId>,
        upstream: UpstreamEnd,
    ) {
        let Some(messages) = self.messages else {
            return;
        };
        let RetrieveAnswer::Done {
            status,
            sub_operations: counts,
            error_comment,
            ..
        } = answer
        else {
            return;
        };
        let (level, keys) = identifier_summary(
            &request.sop_class_uid,
            &request.identifier,
            &request.transfer_syntax,
        );
        let trace = RetrieveTrace {
            level,
            keys,
            destination: request.move_destination.clone().unwrap_or_default(),
            sub_operations,
            completed: counts.completed.map_or(0, u32::from),
            failed: counts.failed.map_or(0, u32::from),
            warning: counts.warning.map_or(0, u32::from),
            status: status.code(),
            error_comment: error_comment.clone(),
            duration_ms: millis(started.elapsed()),
        };
        let header = MessageHeader {
            source: self.source,
            received_at,
            sop_class_uid: request.sop_class_uid.clone(),
            sop_instance_uid: String::new(),
            transfer_syntax: request.transfer_syntax.clone(),
            calling_ae_title: request.calling_ae_title.to_string(),
            called_ae_title: request.called_ae_title.to_string(),
            origin: request.peer.to_string(),
            size: request.identifier.len() as u64,
            body: String::new(),
            sub_operation: None,
        };
        let record =
            MessageRecord::retrieve(id, messages.namespace().clone(), header, trace, &upstream);
        let written = tokio::task::spawn_blocking(move || messages.record(&record)).await;
        if let Err(e) = written
            .map_err(|e| e.to_string())
            .and_then(|w| w.map_err(|e| e.to_string()))
        {
            warn!(error = %e, "A C-MOVE could not be recorded in the trace.");
        }
    }
}
