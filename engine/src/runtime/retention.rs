//! Retention of body files: the body of a message delivered to every target
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

use crate::store::messages::{DeliveryStatus, MessageError, MessageFilter, now_ms};
use crate::store::{Bodies, Store};

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
    let mut candidates = Vec::new();
    for ns in store.message_namespaces()? {
        let messages = store.messages(&ns)?;
        for r in messages.list(&MessageFilter::default())? {
            if !r.body_purged && r.status() == DeliveryStatus::Delivered {
                candidates.push((r.header.received_at, ns.clone(), r.id));
            }
        }
    }
    candidates.sort();
    let mut total: u64 = bodies
        .list()
        .map(|l| l.iter().map(|(_, s)| s).sum())
        .unwrap_or(0);
    let mut purged = 0;
    for (received_at, ns, id) in candidates {
        let too_old = policy.max_age.is_some_and(|age| {
            now.saturating_sub(received_at) > u64::try_from(age.as_millis()).unwrap_or(u64::MAX)
        });
        let too_big = policy.max_total_bytes.is_some_and(|max| total > max);
        if !too_old && !too_big {
            continue;
        }
        store.messages(&ns)?.mark_purged(&[id])?;
        let size = std::fs::metadata(bodies.path(id))
            .map(|m| m.len())
            .unwrap_or(0);
        if let Err(e) = bodies.remove(id) {
            warn!(message = %id, error = %e, "Could not remove a body file.");
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

/// Runs retention every `every` until `shutdown`.
pub async fn run(
    store: Store,
    bodies: Bodies,
    policy: RetentionPolicy,
    every: Duration,
    shutdown: tokio_util::sync::CancellationToken,
) {
    if policy.max_age.is_none() && policy.max_total_bytes.is_none() {
        return;
    }
    loop {
        let (s, b) = (store.clone(), bodies.clone());
        match tokio::task::spawn_blocking(move || purge_once(&s, &b, policy)).await {
            Ok(Err(e)) => warn!(error = %e, "Retention pass failed."),
            Err(e) => warn!(error = %e, "Retention pass failed."),
            Ok(Ok(_)) => {}
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
    }
}
