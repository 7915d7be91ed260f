//! The message-trace commands (`switchboard messages …`) against the store.
//!
//! A resend only writes queue entries; when an engine runs, its admin server
//! then wakes the items' queue readers ([`super::EngineState::queued`]).

use super::api::Response;
use super::execute::CommandError;
use crate::ids::NamespaceId;
use crate::store::Store;
use crate::store::messages::{DeliveryStatus, MessageFilter, MessageId};

pub(super) fn list(
    store: &Store,
    namespace: &NamespaceId,
    filter: &MessageFilter,
) -> Result<Response, CommandError> {
    let messages = store.messages(namespace)?.list(filter)?;
    Ok(Response::Messages {
        messages,
        namespaces: store.message_namespaces()?,
    })
}

pub(super) fn show(
    store: &Store,
    namespace: &NamespaceId,
    id: MessageId,
) -> Result<Response, CommandError> {
    Ok(Response::Message {
        message: Box::new(store.messages(namespace)?.get(id)?),
    })
}

pub(super) fn resend(
    store: &Store,
    namespace: &NamespaceId,
    ids: &[MessageId],
    all_failed: bool,
) -> Result<Response, CommandError> {
    let messages = store.messages(namespace)?;
    let mut targets: Vec<MessageId> = ids.to_vec();
    if all_failed {
        let filter = MessageFilter {
            status: Some(DeliveryStatus::Failed),
            ..MessageFilter::default()
        };
        targets.extend(messages.list(&filter)?.into_iter().map(|r| r.id));
    }
    targets.sort_unstable();
    targets.dedup();
    let mut resent = Vec::new();
    for id in targets {
        // An explicit id is sent again to every target, delivered or not;
        // `--status failed` only retries what failed.
        let include_delivered = ids.contains(&id);
        resent.push((id, messages.resend(id, include_delivered)?));
    }
    Ok(Response::Resent { resent })
}
