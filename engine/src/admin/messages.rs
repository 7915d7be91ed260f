//! The message-trace commands (`switchboard messages …`) against the store.
//!
//! Message ids are unique in the data directory, so a message named by id
//! can be found in whichever namespace holds it (`every_namespace`).
//!
//! A resend only writes queue entries; when an engine runs, its admin server
//! then wakes the items' queue readers ([`super::EngineState::queued`]).

use std::collections::BTreeMap;

use super::api::Response;
use super::error::CommandError;
use super::views::MessageView;
use crate::ids::NamespaceId;
use crate::message::{DeliveryStatus, MessageFilter, MessageId};
use crate::store::Store;

/// The namespaces a command looks in: the given one, or every one with
/// messages.
fn namespaces(store: &Store, namespace: &NamespaceId, every: bool) -> Vec<NamespaceId> {
    if every {
        store.message_namespaces()
    } else {
        vec![namespace.clone()]
    }
}

pub(super) fn list(
    store: &Store,
    namespace: &NamespaceId,
    filter: &MessageFilter,
    every_namespace: bool,
) -> Result<Response, CommandError> {
    let mut messages = Vec::new();
    // With a scan limit, each namespace may stop at a different message
    // (the last it read): every message from the highest stop up was read
    // in every namespace, so only those matches are sure to be complete
    // and in order; the next page starts below it.
    let mut stopped_at: Option<MessageId> = None;
    for ns in namespaces(store, namespace, every_namespace) {
        let (found, stop) = store.messages(&ns)?.list_page(filter)?;
        messages.extend(found);
        stopped_at = stopped_at.max(stop);
    }
    if let Some(cut) = stopped_at {
        messages.retain(|m| m.id >= cut);
    }
    // Newest first across namespaces too (ids grow with arrival).
    messages.sort_by_key(|m| std::cmp::Reverse(m.id));
    if let Some(limit) = filter.limit {
        messages.truncate(limit);
    }
    Ok(Response::Messages {
        messages: messages.into_iter().map(MessageView::from).collect(),
        namespaces: store.message_namespaces(),
        more_before: stopped_at,
    })
}

pub(super) fn show(
    store: &Store,
    namespace: &NamespaceId,
    id: MessageId,
    every_namespace: bool,
) -> Result<Response, CommandError> {
    let record = if every_namespace {
        store.find_message(id, namespace)?
    } else {
        store.messages(namespace)?.get(id)?
    };
    // A move lists its instances, as far as they are still stored.
    let mut sub_operations = Vec::new();
    if let Some(r) = &record.retrieve {
        let messages = store.messages(&record.namespace)?;
        for id in &r.sub_operations {
            if let Ok(sub) = messages.get(*id) {
                sub_operations.push((&sub).into());
            }
        }
    }
    let mut message: MessageView = record.into();
    message.sub_operations = sub_operations;
    Ok(Response::Message {
        message: Box::new(message),
    })
}

pub(super) fn resend(
    store: &Store,
    namespace: &NamespaceId,
    ids: &[MessageId],
    all_failed: Option<MessageFilter>,
    every_namespace: bool,
) -> Result<Response, CommandError> {
    // Where each message is.
    let mut found: BTreeMap<MessageId, NamespaceId> = BTreeMap::new();
    for id in ids {
        let ns = if every_namespace {
            store.find_message(*id, namespace)?.namespace
        } else {
            store.messages(namespace)?.get(*id)?.namespace
        };
        found.insert(*id, ns);
    }
    if let Some(matching) = all_failed {
        let filter = MessageFilter {
            status: Some(DeliveryStatus::Failed),
            limit: None,
            before: None,
            scan: None,
            ..matching
        };
        for ns in namespaces(store, namespace, every_namespace) {
            // A query that failed is asked again by its requester.
            for r in store
                .messages(&ns)?
                .list(&filter)?
                .into_iter()
                .filter(|r| r.has_body())
            {
                found.insert(r.id, ns.clone());
            }
        }
    }
    let mut resent = Vec::new();
    for (id, ns) in &found {
        // An explicit id is sent again to every target, delivered or not;
        // `all_failed` only retries what failed.
        let include_delivered = ids.contains(id);
        let targets = store.messages(ns)?.resend(*id, include_delivered)?;
        resent.push((*id, targets.into_iter().map(Into::into).collect()));
    }
    Ok(Response::Resent {
        resent,
        namespaces: found.into_iter().collect(),
    })
}
