//! How many messages each item took in, delivered and failed since this
//! process opened the store: what the production board shows. Counted as
//! the message writes succeed; kept in memory only (the trace is the
//! record).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use crate::ids::NamespaceId;
use crate::message::ItemAddress;

/// One item's counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ItemCounts {
    /// Messages it took in (a service) or was handed (a process or
    /// operation: queued for it).
    pub received: u64,
    /// Deliveries it completed (an operation) or messages it routed (a
    /// process).
    pub delivered: u64,
    /// Deliveries that failed for good.
    pub failed: u64,
}

/// What happened to a message at an item.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Counted {
    Received,
    Delivered,
    Failed,
}

/// Every item's counts.
#[derive(Debug, Default)]
pub(crate) struct Counts(Mutex<HashMap<(NamespaceId, ItemAddress), ItemCounts>>);

impl Counts {
    pub(crate) fn add(&self, namespace: &NamespaceId, item: &ItemAddress, what: Counted) {
        let mut all = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let c = all.entry((namespace.clone(), item.clone())).or_default();
        match what {
            Counted::Received => c.received += 1,
            Counted::Delivered => c.delivered += 1,
            Counted::Failed => c.failed += 1,
        }
    }

    pub(crate) fn get(&self, namespace: &NamespaceId, item: &ItemAddress) -> ItemCounts {
        let all = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        all.get(&(namespace.clone(), item.clone()))
            .copied()
            .unwrap_or_default()
    }
}
