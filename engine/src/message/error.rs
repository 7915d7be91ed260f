//! Why a message operation failed.

use super::header::{ItemAddress, MessageId};
use crate::ids::NamespaceId;

/// Why a message operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    #[error("no message {0} in namespace {1}")]
    NotFound(MessageId, NamespaceId),
    #[error("message {id} has no delivery to {target}")]
    NoDelivery { id: MessageId, target: ItemAddress },
    #[error("message {0} cannot be sent again: its body was purged by retention")]
    BodyPurged(MessageId),
    #[error("message {0} is a query: there is nothing to send again (the requester asks again)")]
    Query(MessageId),
    #[error(
        "message {0} is a C-MOVE: send its failed instances again instead (messages show {0} lists them)"
    )]
    Retrieve(MessageId),
    #[error("stored message {key} in namespace {namespace} cannot be read: {reason}")]
    Corrupt {
        namespace: NamespaceId,
        key: String,
        reason: String,
    },
    /// The backend failed (its own error says how).
    #[error(transparent)]
    Backend(Box<dyn std::error::Error + Send + Sync>),
}
