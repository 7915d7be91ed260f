//! Quarantine: what may hold an acknowledged message but cannot be read
//! now. The engine never deletes any of it; it reports it at start and in
//! `status`, and `switchboard quarantine list|restore` shows and takes it
//! back.
//!
//! - Body files: recovery moves a body whose trailer is there but cannot be
//!   read (an I/O error, a damaged trailer, a newer format) to
//!   `<data-dir>/quarantine/`, with `<name>.reason` beside it saying why.
//!   [`restore`] moves one back once its trailer reads again (the disk was
//!   fixed, a newer engine runs) and queues its message.
//! - Store records: a message record or queue entry that cannot be decoded
//!   is moved, key and bytes, to the tree `<ns>/quarantine`. The message's
//!   body file still carries its trailer, so recovery restores the message
//!   from it on the same start (a duplicate delivery at worst).

use std::path::{Path, PathBuf};

use tracing::warn;

use super::bodies::{TrailerError, sync_dir};
use super::messages::{decodes_as_entry, decodes_as_record};
use super::{Bodies, BodyTrailer, Store, StoreError};
use crate::ids::NamespaceId;
use crate::message::{ItemAddress, MessageError, MessageId};

/// The quarantine folder inside the data directory.
pub const QUARANTINE_DIR: &str = "quarantine";
/// Beside each quarantined body: why it is there.
const REASON_SUFFIX: &str = ".reason";

/// One body file in quarantine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantinedBody {
    pub name: String,
    pub size: u64,
    pub reason: String,
}

/// One store record in quarantine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantinedRecord {
    pub namespace: NamespaceId,
    /// The tree it was in: `messages` or `queue/<production>/<item>`.
    pub tree: String,
    /// Its key: a message id.
    pub key: u64,
    pub size: usize,
}

/// The quarantine folder of a data directory.
#[derive(Debug, Clone)]
pub struct Quarantine {
    dir: PathBuf,
}

impl Quarantine {
    /// The quarantine of `data_dir` (created when first used).
    pub fn new(data_dir: &Path) -> Self {
        Self {
            dir: data_dir.join(QUARANTINE_DIR),
        }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Moves a body file into quarantine with its reason, durably: the
    /// reason file is synced before the move, both folders after it.
    ///
    /// # Errors
    /// I/O errors; then the file stays where it was.
    pub fn put(&self, body: &Path, reason: &str) -> std::io::Result<PathBuf> {
        let name = body
            .file_name()
            .ok_or_else(|| std::io::Error::other("a body path without a file name"))?;
        std::fs::create_dir_all(&self.dir)?;
        let target = self.dir.join(name);
        let mut why = target.clone().into_os_string();
        why.push(REASON_SUFFIX);
        std::fs::write(&why, format!("{reason}\n"))?;
        std::fs::File::open(&why)?.sync_all()?;
        std::fs::rename(body, &target)?;
        sync_dir(&self.dir)?;
        if let Some(from) = body.parent() {
            sync_dir(from)?;
        }
        Ok(target)
    }

    /// The quarantined body files, by name. A missing folder is an empty
    /// quarantine.
    ///
    /// # Errors
    /// I/O errors reading the folder.
    pub fn bodies(&self) -> std::io::Result<Vec<QuarantinedBody>> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let Ok(meta) = entry.metadata() else { continue };
            if name.ends_with(REASON_SUFFIX) || !meta.is_file() {
                continue;
            }
            let reason = std::fs::read_to_string(self.dir.join(format!("{name}{REASON_SUFFIX}")))
                .map(|r| r.trim_end().to_string())
                .unwrap_or_else(|_| "no reason recorded".into());
            out.push(QuarantinedBody {
                name,
                size: meta.len(),
                reason,
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }
}

/// What [`restore`] did with one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoredBody {
    pub name: String,
    pub namespace: NamespaceId,
    pub id: MessageId,
    /// The targets it was queued for; empty when the store already knew
    /// the message (the file only went back to the bodies folder).
    pub queued_for: Vec<ItemAddress>,
}

/// Why a quarantined body could not be restored; it stays in quarantine.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error(
        "{name} is not in the quarantine folder {dir}; `switchboard quarantine list` shows what is"
    )]
    NotQuarantined { name: String, dir: PathBuf },
    #[error(
        "{name} still cannot be read ({reason}); it stays in {dir}: fix the cause (disk, permissions, engine version) and restore it again"
    )]
    StillUnreadable {
        name: String,
        dir: PathBuf,
        reason: String,
    },
    #[error("cannot move {name} back into {dir}")]
    Move {
        name: String,
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Messages(#[from] MessageError),
}

/// Checks that `name` is a quarantined body whose trailer reads again.
///
/// # Errors
/// [`RestoreError::NotQuarantined`] or [`RestoreError::StillUnreadable`].
pub fn check(quarantine: &Quarantine, name: &str) -> Result<BodyTrailer, RestoreError> {
    let path = quarantine.dir.join(name);
    let listed = Path::new(name).file_name().and_then(|n| n.to_str()) == Some(name)
        && !name.ends_with(REASON_SUFFIX)
        && path.is_file();
    if !listed {
        return Err(RestoreError::NotQuarantined {
            name: name.to_string(),
            dir: quarantine.dir.clone(),
        });
    }
    Bodies::read_trailer(&path).map_err(|e| RestoreError::StillUnreadable {
        name: name.to_string(),
        dir: quarantine.dir.clone(),
        reason: match e {
            TrailerError::Missing => "it has no trailer at all".into(),
            TrailerError::Unreadable(r) => r,
        },
    })
}

/// Moves a quarantined body back into the bodies folder and queues its
/// message for its targets unless the store knows it. Safe while the engine
/// runs: it touches this one file only.
///
/// # Errors
/// [`RestoreError`]; then the file stays in quarantine.
pub fn restore(
    store: &Store,
    bodies: &Bodies,
    quarantine: &Quarantine,
    name: &str,
) -> Result<RestoredBody, RestoreError> {
    let trailer = check(quarantine, name)?;
    let path = quarantine.dir.join(name);
    let target = bodies.dir().join(name);
    let moved = if target.exists() {
        Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            "a body file of that name exists",
        ))
    } else {
        std::fs::rename(&path, &target)
            .and_then(|()| sync_dir(bodies.dir()))
            .and_then(|()| sync_dir(&quarantine.dir))
    };
    moved.map_err(|source| RestoreError::Move {
        name: name.to_string(),
        dir: bodies.dir().to_path_buf(),
        source,
    })?;
    std::fs::remove_file(quarantine.dir.join(format!("{name}{REASON_SUFFIX}"))).ok();
    store.ensure_message_ids_above(trailer.id)?;
    let messages = store.messages(&trailer.namespace)?;
    let queued_for = if messages.contains(trailer.id)? {
        Vec::new()
    } else {
        messages.restore(&trailer)?;
        store.sync()?;
        trailer.targets.clone()
    };
    Ok(RestoredBody {
        name: name.to_string(),
        namespace: trailer.namespace,
        id: trailer.id,
        queued_for,
    })
}

/// Moves every message record and queue entry that cannot be decoded to
/// its namespace's quarantine tree, and makes that durable. Returns how
/// many were moved.
///
/// # Errors
/// Store failures.
pub fn quarantine_undecodable(store: &Store) -> Result<usize, StoreError> {
    let mut moved = 0;
    for ns in store.message_namespaces() {
        let mut trees = vec![("messages".to_string(), true)];
        let prefix = format!("{ns}/queue/");
        for name in store.tree_names() {
            if let Some(rest) = std::str::from_utf8(&name)
                .ok()
                .and_then(|n| n.strip_prefix(&prefix))
            {
                trees.push((format!("queue/{rest}"), false));
            }
        }
        let aside = store.tree(&format!("{ns}/quarantine/records"))?;
        for (tree_name, is_record) in trees {
            let tree = store.tree(&format!("{ns}/{tree_name}"))?;
            let bad: Vec<(sled::IVec, sled::IVec)> = tree
                .iter()
                .filter_map(Result::ok)
                .filter(|(_, v)| {
                    if is_record {
                        !decodes_as_record(v)
                    } else {
                        !decodes_as_entry(v)
                    }
                })
                .collect();
            for (key, value) in bad {
                let _writes = store
                    .inner
                    .message_writes
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                // Ordered single-key writes: a crash between them leaves a
                // copy in both trees, and the next pass moves it again.
                let mut aside_key = tree_name.clone().into_bytes();
                aside_key.push(0);
                aside_key.extend_from_slice(&key);
                aside.insert(aside_key, value)?;
                tree.remove(&key)?;
                warn!(namespace = %ns, tree = %tree_name, key = %key_text(&key), "A store record cannot be decoded: moved to quarantine.");
                moved += 1;
            }
        }
    }
    if moved > 0 {
        store.sync()?;
    }
    Ok(moved)
}

/// Every store record in quarantine.
///
/// # Errors
/// Store failures.
pub fn records(store: &Store) -> Result<Vec<QuarantinedRecord>, StoreError> {
    let mut out = Vec::new();
    for ns in store.namespaces_with("/quarantine/records") {
        for item in store.tree(&format!("{ns}/quarantine/records"))?.iter() {
            let (key, value) = item?;
            let Some(split) = key.iter().position(|b| *b == 0) else {
                continue;
            };
            out.push(QuarantinedRecord {
                namespace: ns.clone(),
                tree: String::from_utf8_lossy(&key[..split]).into_owned(),
                key: key_number(&key[split + 1..]),
                size: value.len(),
            });
        }
    }
    Ok(out)
}

fn key_number(key: &[u8]) -> u64 {
    <[u8; 8]>::try_from(key).map_or(0, u64::from_be_bytes)
}

fn key_text(key: &[u8]) -> String {
    <[u8; 8]>::try_from(key).map_or_else(
        |_| String::from_utf8_lossy(key).into_owned(),
        |b| u64::from_be_bytes(b).to_string(),
    )
}

#[cfg(test)]
mod tests;
