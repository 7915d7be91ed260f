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
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
