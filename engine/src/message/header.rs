//! What names a message and what is known of it when it arrives.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

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
    /// Set when the message is a sub-operation of a C-MOVE through the
    /// engine: it goes to that move's destination.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_operation: Option<SubOperation>,
}

/// What makes a received instance part of a C-MOVE through the engine.
/// Kept with the message (and its body's trailer), so that after a restart
/// it still goes where the move sent it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubOperation {
    /// The retrieve in the trace.
    pub retrieve: MessageId,
    /// The AE title the instance goes to, found in the AE directory when
    /// it is sent.
    pub destination: String,
    /// Who asked for the move, and the Message ID of its C-MOVE-RQ: the
    /// Move Originator of the C-STORE sent to the destination.
    pub originator_ae_title: String,
    pub originator_message_id: u16,
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
