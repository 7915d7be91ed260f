//! Retention of body files (one pass; the engine runs it every minute): the body of a message delivered to every target
//! is removed once it is older than the configured age, or, oldest first,
//! while the body folder is larger than the configured size. Headers (and
//! the trace) are kept; the record notes that the body is gone. Bodies of
//! messages still queued, in flight or failed are never removed.
//!
//! The scan reads every header of every namespace: fine for the volumes of
//! one engine's retention window; an index by delivery time would be the
//! next step.

use std::time::Duration;

use tracing::{info, warn};

use super::quarantine::quarantine_undecodable;
use super::{Bodies, Store};
use crate::ids::NamespaceId;
use crate::message::{
    DeliveryStatus, MessageError, MessageFilter, MessageHeader, MessageId, now_ms,
};

/// How long and how much to keep.
#[derive(Debug, Clone, Copy, Default)]
pub struct RetentionPolicy {
    pub max_age: Option<Duration>,
    pub max_total_bytes: Option<u64>,
}

/// One pass of retention; returns how many bodies were removed.
///
/// # Errors
/// Store errors.
pub fn purge_once(
    store: &Store,
    bodies: &Bodies,
    policy: RetentionPolicy,
) -> Result<usize, MessageError> {
    let now = now_ms();
    let mut candidates = match delivered(store) {
        // One record that cannot be decoded stops nothing: it goes to
        // quarantine and the pass goes on without it.
        Err(MessageError::Corrupt { .. }) => {
            quarantine_undecodable(store)?;
            delivered(store)?
        }
        other => other?,
    };
    candidates.sort_by_key(|c| (c.0, c.2));
    let mut total: u64 = bodies
        .list()
        .map(|l| l.iter().map(|(_, s)| s).sum())
        .unwrap_or(0);
    let mut purged = 0;
    for (received_at, ns, id, header) in candidates {
        let too_old = policy.max_age.is_some_and(|age| {
            now.saturating_sub(received_at) > u64::try_from(age.as_millis()).unwrap_or(u64::MAX)
        });
        let too_big = policy.max_total_bytes.is_some_and(|max| total > max);
        if !too_old && !too_big {
            continue;
        }
        let messages = store.messages(&ns)?;
        // Marked only if still delivered everywhere: a resend since the
        // scan keeps its body.
        if !messages.set_purged(id, true)? {
            continue;
        }
        let size = std::fs::metadata(bodies.path(&header))
            .map(|m| m.len())
            .unwrap_or(0);
        if let Err(e) = bodies.remove(&header) {
            warn!(message_id = %id, error = %e, "Could not remove a body file; it stays, and so does its message's resend.");
            messages.set_purged(id, false)?;
            continue;
        }
        total = total.saturating_sub(size);
        purged += 1;
    }
    if purged > 0 {
        info!(
            count = purged,
            "Bodies of delivered messages purged by retention."
        );
    }
    Ok(purged)
}

/// The delivered messages whose bodies are still there.
fn delivered(
    store: &Store,
) -> Result<Vec<(u64, NamespaceId, MessageId, MessageHeader)>, MessageError> {
    let mut candidates = Vec::new();
    for ns in store.message_namespaces() {
        let messages = store.messages(&ns)?;
        for r in messages.list(&MessageFilter::default())? {
            if r.has_body() && !r.body_purged && r.status() == DeliveryStatus::Delivered {
                candidates.push((r.header.received_at, ns.clone(), r.id, r.header));
            }
        }
    }
    Ok(candidates)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{ItemAddress, MessageQueues};
    use crate::store::BodyTrailer;

    #[test]
    fn only_bodies_of_delivered_messages_are_purged_and_headers_stay() {
        let dir = crate::store::private_tempdir();
        let store = Store::open(dir.path()).unwrap();
        let bodies = Bodies::open(dir.path()).unwrap();
        let ns = NamespaceId::new("demo").unwrap();
        let m = store.messages(&ns).unwrap();
        let out = ItemAddress::new("p", "OUT");
        let mut ids = Vec::new();
        for n in 0..3 {
            let id = store.next_message_id().unwrap();
            let mut trailer = BodyTrailer {
                id,
                namespace: ns.clone(),
                header: crate::store::test_header(n),
                targets: vec![out.clone()],
            };
            bodies.write(&b"DATA"[..], &mut trailer).unwrap();
            m.accept(id, trailer.header, &trailer.targets).unwrap();
            ids.push(id);
        }
        for id in &ids[..2] {
            m.claim(*id, &out).unwrap().unwrap();
            m.delivered(*id, &out, "").unwrap();
        }
        let policy = RetentionPolicy {
            max_age: None,
            max_total_bytes: Some(0),
        };
        assert_eq!(purge_once(&store, &bodies, policy).unwrap(), 2);
        for id in &ids[..2] {
            let r = m.get(*id).unwrap();
            assert!(r.body_purged);
            assert!(!bodies.path(&r.header).exists());
            assert!(m.resend(*id, true).is_err(), "no body, no resend");
        }
        let queued = m.get(ids[2]).unwrap();
        assert!(!queued.body_purged && bodies.path(&queued.header).exists());
        assert_eq!(purge_once(&store, &bodies, policy).unwrap(), 0);
    }

    /// A delivered message with a body, in a fresh store.
    fn delivered_one(
        store: &Store,
        bodies: &Bodies,
        m: &crate::store::Messages,
    ) -> (crate::message::MessageId, std::path::PathBuf) {
        let out = ItemAddress::new("p", "OUT");
        let id = store.next_message_id().unwrap();
        let mut trailer = BodyTrailer {
            id,
            namespace: m.namespace().clone(),
            header: crate::store::test_header(id.0),
            targets: vec![out.clone()],
        };
        let path = bodies.write(&b"DATA"[..], &mut trailer).unwrap();
        m.accept(id, trailer.header, &trailer.targets).unwrap();
        m.claim(id, &out).unwrap().unwrap();
        m.delivered(id, &out, "").unwrap();
        (id, path)
    }

    const ALL: RetentionPolicy = RetentionPolicy {
        max_age: None,
        max_total_bytes: Some(0),
    };

    #[test]
    fn a_resent_message_keeps_its_body_and_a_purged_one_is_not_resent() {
        let dir = crate::store::private_tempdir();
        let store = Store::open(dir.path()).unwrap();
        let bodies = Bodies::open(dir.path()).unwrap();
        let m = store.messages(&NamespaceId::new("demo").unwrap()).unwrap();
        let (id, path) = delivered_one(&store, &bodies, &m);
        m.resend(id, true).unwrap();
        assert!(!m.set_purged(id, true).unwrap(), "queued again: kept");
        assert_eq!(purge_once(&store, &bodies, ALL).unwrap(), 0);
        assert!(path.exists());

        let (id, path) = delivered_one(&store, &bodies, &m);
        assert!(m.set_purged(id, true).unwrap());
        assert!(matches!(
            m.resend(id, true),
            Err(MessageError::BodyPurged(_))
        ));
        assert!(path.exists(), "the caller removes the file");
    }

    #[test]
    fn a_body_that_cannot_be_removed_is_not_marked_purged() {
        let dir = crate::store::private_tempdir();
        let store = Store::open(dir.path()).unwrap();
        let bodies = Bodies::open(dir.path()).unwrap();
        let m = store.messages(&NamespaceId::new("demo").unwrap()).unwrap();
        let (id, path) = delivered_one(&store, &bodies, &m);
        // A directory where the file was: removing it fails (even as root).
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir_all(path.join("in-the-way")).unwrap();
        assert_eq!(purge_once(&store, &bodies, ALL).unwrap(), 0);
        assert!(!m.get(id).unwrap().body_purged);
    }

    #[test]
    fn retention_racing_resend_never_leaves_a_queued_message_without_its_body() {
        let dir = crate::store::private_tempdir();
        let store = Store::open(dir.path()).unwrap();
        let bodies = Bodies::open(dir.path()).unwrap();
        let m = store.messages(&NamespaceId::new("demo").unwrap()).unwrap();
        for _ in 0..200 {
            let (id, path) = delivered_one(&store, &bodies, &m);
            let (s, b) = (store.clone(), bodies.clone());
            let purge = std::thread::spawn(move || purge_once(&s, &b, ALL).unwrap());
            let resent = m.resend(id, true);
            purge.join().unwrap();
            let r = m.get(id).unwrap();
            match resent {
                Ok(_) => assert!(
                    path.exists() && !r.body_purged && r.status() == DeliveryStatus::Queued,
                    "{r:?}"
                ),
                Err(e) => assert!(matches!(e, MessageError::BodyPurged(_)), "{e}"),
            }
            // Deliver it again so the next round starts clean.
            if r.status() == DeliveryStatus::Queued {
                let out = ItemAddress::new("p", "OUT");
                m.claim(id, &out).unwrap().unwrap();
                m.delivered(id, &out, "").unwrap();
            }
        }
    }
}
