//! Recovery from body files. Every body file ends with a trailer holding
//! its message's id, namespace, header and targets (see
//! [`super::bodies`]), so the message store can be rebuilt from
//! `<data-dir>/bodies/` alone.
//!
//! On every start, before any item runs:
//! - store records that cannot be decoded go to quarantine (see
//!   [`super::quarantine`]), so that one bad record stops nothing;
//! - a file that was read and has no trailer is a transfer cut short (never
//!   acknowledged): it is removed;
//! - a file whose trailer cannot be read (an I/O error, a damaged or newer
//!   trailer) may hold an acknowledged message: it goes to quarantine,
//!   never away;
//! - a body whose message the store does not know is restored and queued for
//!   its targets. This covers a store that lost its last writes, and the
//!   disaster path for a corrupt store:
//!   1. stop the engine; move `<data-dir>/store` aside;
//!   2. start the engine: associations are created again from the production
//!      files (re-import any you edited, from `association export` files),
//!      and every message whose body is still there is restored and queued.
//!
//! Messages delivered before the loss whose bodies were not yet purged are
//! then delivered again (duplicates, never losses). The scan reads every
//! header once, one at a time: its time is proportional to what the store
//! holds, its memory to the body files there.

use std::collections::BTreeMap;
use std::path::PathBuf;

use tracing::{info, warn};

use super::bodies::{TrailerError, remove_if_present};
use super::messages::Messages;
use super::quarantine::{Quarantine, quarantine_undecodable};
use super::{Bodies, Store};
use crate::ids::NamespaceId;
use crate::message::{MessageError, MessageId};

/// What a recovery pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Recovered {
    pub restored: usize,
    pub removed_partial: usize,
    /// Body files moved to quarantine.
    pub quarantined_bodies: usize,
    /// Store records moved to quarantine.
    pub quarantined_records: usize,
}

/// Restores the messages of body files the store does not know, removes
/// partial files and quarantines what cannot be read.
///
/// # Errors
/// Store errors; unreadable files and records are quarantined and logged.
pub fn restore_missing(store: &Store, bodies: &Bodies) -> Result<Recovered, MessageError> {
    restore(store, bodies, true)
}

/// [`restore_missing`] under a running engine (after the store was
/// reopened): only bodies with a readable trailer are restored; a file
/// without one may be a transfer in progress, so it is left alone for the
/// next start to judge.
///
/// # Errors
/// Store errors.
pub(super) fn restore_missing_live(
    store: &Store,
    bodies: &Bodies,
) -> Result<Recovered, MessageError> {
    restore(store, bodies, false)
}

fn restore(store: &Store, bodies: &Bodies, at_start: bool) -> Result<Recovered, MessageError> {
    let mut done = Recovered {
        quarantined_records: quarantine_undecodable(store)?,
        ..Recovered::default()
    };
    let quarantine = Quarantine::new(store.data_dir());
    let files = match bodies.list() {
        Ok(f) => f,
        Err(e) => {
            warn!(error = %e, "Cannot list the body files; nothing restored.");
            return Ok(done);
        }
    };
    // The body files no record names: all of them, less those the records
    // name, read one at a time (memory in proportion to the files there,
    // not to the history).
    let mut unknown: BTreeMap<String, PathBuf> = files
        .into_iter()
        .filter_map(|(path, _)| Some((path.file_name()?.to_str()?.to_owned(), path)))
        .collect();
    let mut namespaces: BTreeMap<NamespaceId, Messages> = BTreeMap::new();
    for ns in store.message_namespaces() {
        let m = store.messages(&ns)?;
        for r in m.oldest_first(MessageId(0))? {
            unknown.remove(&r?.header.body);
        }
        namespaces.insert(ns, m);
    }
    let mut max_id = MessageId(0);
    let mut to_restore = Vec::new();
    for path in unknown.into_values() {
        match Bodies::read_trailer(&path) {
            Ok(trailer) => {
                max_id = max_id.max(trailer.id);
                to_restore.push(trailer);
            }
            Err(_) if !at_start => {}
            Err(TrailerError::Missing) => {
                if let Err(e) = remove_if_present(&path) {
                    warn!(file = %path.display(), error = %e, "Cannot remove a partial body file.");
                } else {
                    done.removed_partial += 1;
                }
            }
            Err(TrailerError::Unreadable(reason)) => match quarantine.put(&path, &reason) {
                Ok(to) => {
                    warn!(file = %to.display(), %reason, "A body file's trailer cannot be read: moved to quarantine.");
                    done.quarantined_bodies += 1;
                }
                Err(e) => {
                    warn!(file = %path.display(), %reason, error = %e, "A body file's trailer cannot be read, and it cannot be moved to quarantine: left in place.");
                }
            },
        }
    }
    if done.quarantined_bodies + done.quarantined_records > 0 {
        warn!(
            bodies = done.quarantined_bodies,
            records = done.quarantined_records,
            folder = %quarantine.dir().display(),
            "Quarantined what may hold acknowledged messages but cannot be read; nothing was deleted. See `switchboard quarantine list`."
        );
    }
    if to_restore.is_empty() {
        return Ok(done);
    }
    store.ensure_message_ids_above(max_id)?;
    for trailer in to_restore {
        let messages = match namespaces.get(&trailer.namespace) {
            Some(m) => m.clone(),
            None => {
                let m = store.messages(&trailer.namespace)?;
                namespaces.insert(trailer.namespace.clone(), m.clone());
                m
            }
        };
        if messages.contains(trailer.id)? {
            continue;
        }
        messages.restore(&trailer)?;
        done.restored += 1;
    }
    if done.restored > 0 {
        info!(
            count = done.restored,
            "Messages restored from their body files and queued again."
        );
    }
    Ok(done)
}
