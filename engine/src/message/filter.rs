//! What a listing of messages asks for.

use serde::{Deserialize, Serialize};

use super::header::MessageId;
use super::record::{DeliveryStatus, MessageRecord};

/// A filter for message listings: every field that is set must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageFilter {
    /// Messages of this production, as source or as target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub production: Option<String>,
    /// Messages whose overall status, or one of whose deliveries, is this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<DeliveryStatus>,
    /// Received at or after (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<u64>,
    /// At most this many, newest first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// Messages that passed this item (of any production), as source or
    /// as target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    /// Messages of this SOP class (its UID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sop_class: Option<String>,
    /// Received before (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<u64>,
    /// Only messages older than this one: the next page after a page that
    /// ended with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<MessageId>,
    /// Read at most this many messages (newest first, from `before`): a
    /// page of a rare match then ends early and says where it stopped,
    /// instead of reading the whole store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan: Option<usize>,
}

impl MessageFilter {
    /// Whether a record matches (every field but `limit`).
    pub fn matches(&self, r: &MessageRecord) -> bool {
        self.production.as_ref().is_none_or(|p| {
            &r.header.source.production == p
                || r.deliveries.iter().any(|d| &d.target.production == p)
        }) && self
            .status
            .is_none_or(|s| r.status() == s || r.deliveries.iter().any(|d| d.status == s))
            && self.since.is_none_or(|t| r.header.received_at >= t)
            && self.until.is_none_or(|t| r.header.received_at < t)
            && self.before.is_none_or(|id| r.id < id)
            && self.item.as_ref().is_none_or(|i| {
                &r.header.source.item == i || r.deliveries.iter().any(|d| &d.target.item == i)
            })
            && self
                .sop_class
                .as_ref()
                .is_none_or(|c| &r.header.sop_class_uid == c)
    }
}
