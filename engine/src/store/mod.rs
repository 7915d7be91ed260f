//! The embedded store: sled 0.34 hidden behind a domain API.
//!
//! - [`Store`]: one per data directory, opened once per process (sled locks
//!   the directory; a second opener gets [`StoreError::Locked`]). Cheap to
//!   clone.
//! - [`Associations`]: the association contexts of one namespace, in the tree
//!   `<namespace>/associations`.
//! - [`Messages`]: message records and per-item queues of one namespace
//!   (it implements [`crate::message::MessageQueues`]); [`Bodies`]: the body
//!   files under `<data-dir>/bodies/`; [`GroupCommit`]: one flush shared by
//!   concurrent writers; [`recover`]: the store rebuilt from the bodies on
//!   start; [`retention`]: bodies of delivered messages removed;
//!   [`quarantine`]: what may hold an acknowledged message but cannot be
//!   read, set aside and never deleted.
//!
//! Layout on disk: `<data-dir>/store/` is sled's directory. Every value starts
//! with a format-version byte followed by its serde_json encoding, so the
//! format can evolve.
//!
//! Durability differs by kind of data:
//! - association contexts: every write is one compare-and-swap, durable when
//!   it returns (sled is flushed and its log file fsynced by us, because sled
//!   0.34 only calls `sync_file_range` on Linux);
//! - messages and queues: ordered single-key writes (or, for rare changes,
//!   transactions) that are durable after the next [`GroupCommit`]; a
//!   message is acknowledged once its body file, which carries its header
//!   and targets in a trailer, is fdatasynced, and a record sled lost is
//!   restored from that trailer on start (see [`messages`] and [`bodies`]).
//!
//! Calls block (sled and fsync are synchronous). From async code, put the
//! ones that flush, sync or scan (`Store::open`, association writes,
//! listings, recovery, retention, group commits) on the blocking pool; the
//! single-key message writes an item makes per message take microseconds
//! and are made inline. Nothing outside this module sees a sled type.

mod ae_directory;
mod associations;
pub mod audit;
pub(crate) mod bodies;
pub(crate) mod commit;
pub(crate) mod counts;
mod error;
mod heal;
mod keys;
pub(crate) mod latch;
pub(crate) mod messages;
pub(crate) mod quarantine;
pub(crate) mod recover;
pub(crate) mod retention;
pub mod spool;
mod versioned;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

pub use ae_directory::AeDirectory;
pub use associations::Associations;
pub use bodies::{Bodies, BodyTrailer};
pub use commit::{CommitError, GroupCommit};
pub use counts::ItemCounts;
pub use error::{BackendError, StoreError};
pub use heal::{Healed, Health};
pub use messages::Messages;

use crate::ids::NamespaceId;

/// The folder inside the data directory that holds sled's files.
pub const STORE_DIR: &str = "store";

/// The marker sled 0.34 puts in the I/O error it returns when another process
/// holds the directory's lock (`sled-0.34.7/src/config.rs`).
const SLED_LOCK_MESSAGE: &str = "could not acquire lock";

/// Flush sled's log every so often in the background too; our own writes
/// flush and fsync explicitly.
const BACKGROUND_FLUSH_MS: u64 = 500;

/// sled's page cache (its default is 1 GiB, which a long run fills with
/// history: the headers stay after retention). The pages in use are the
/// queues and the newest records; older ones are read by a retention pass
/// or a search and need not stay. With 64 MiB the engine's RSS levels off
/// at about 200 MiB under load (`scripts/soak`).
const CACHE_BYTES: u64 = 64 << 20;

/// A handle on the store of one data directory. Clones share one sled
/// database.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    /// Replaced when the store is reopened ([`Store::heal`]).
    backend: RwLock<Backend>,
    /// sled's directory, `<data-dir>/store`.
    path: PathBuf,
    /// Held by every write to messages and queues (see `messages.rs`: they
    /// are ordered single-key writes, not sled transactions).
    message_writes: std::sync::Mutex<()>,
    /// Tripped by the first failed sync of the store or a body.
    latch: latch::SyncLatch,
    /// Messages per item since the store was opened.
    counts: counts::Counts,
    /// Association contexts as last decoded.
    decoded: associations::Decoded,
}

/// The open database, or why there is none (a reopen failed).
enum Backend {
    Open {
        db: sled::Db,
        /// sled's log file `<path>/db`, kept open to fsync it after each
        /// write. fsync works per inode, so a read-only handle is enough.
        log_file: File,
    },
    Closed(String),
}

impl Backend {
    fn open(path: &Path) -> Result<Backend, StoreError> {
        let db = sled::Config::new()
            .path(path)
            .flush_every_ms(Some(BACKGROUND_FLUSH_MS))
            .cache_capacity(CACHE_BYTES)
            .open()
            .map_err(|e| open_error(path, e))?;
        let log_file = File::open(path.join("db")).map_err(|source| StoreError::Sync {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Backend::Open { db, log_file })
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating if needed) the store under `data_dir`.
    ///
    /// # Errors
    /// [`StoreError::Locked`] when another process holds the directory (for
    /// example a running `switchboard run`), [`StoreError::NotPrivate`]
    /// when group or others may use the data directory, [`StoreError::Open`]
    /// or [`StoreError::Sync`] for anything else.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        private_data_dir(data_dir)?;
        let path = data_dir.join(STORE_DIR);
        let fresh = !path.exists();
        std::fs::create_dir_all(&path).map_err(|source| StoreError::Sync {
            path: path.clone(),
            source,
        })?;
        let backend = Backend::open(&path)?;
        let store = Store {
            inner: Arc::new(Inner {
                backend: RwLock::new(backend),
                path,
                message_writes: std::sync::Mutex::new(()),
                latch: latch::SyncLatch::default(),
                counts: counts::Counts::default(),
                decoded: associations::Decoded::default(),
            }),
        };
        // Make the directory entries of a freshly created store durable
        // (only then: each fsync costs milliseconds on every command).
        if fresh {
            sync_dir(&store.inner.path)?;
            if let Some(parent) = store.inner.path.parent() {
                sync_dir(parent)?;
            }
        }
        Ok(store)
    }

    /// The body files of this data directory, sharing the store's sync
    /// latch: after a failed sync of either, both refuse to acknowledge.
    ///
    /// # Errors
    /// The bodies folder cannot be created.
    pub fn bodies(&self) -> std::io::Result<Bodies> {
        Ok(Bodies::open(self.data_dir())?.with_latch(self.inner.latch.clone()))
    }

    /// `Err` once a sync of the store or a body failed (see [`latch`]).
    ///
    /// # Errors
    /// [`StoreError::Latched`].
    pub fn check_latch(&self) -> Result<(), StoreError> {
        Ok(self.inner.latch.check()?)
    }

    /// The association contexts of a namespace.
    pub fn associations(&self, namespace: &NamespaceId) -> Associations {
        Associations::new(self.clone(), namespace.clone())
    }

    /// Every namespace that has association contexts.
    pub fn association_namespaces(&self) -> Vec<NamespaceId> {
        self.namespaces_with("/associations")
    }

    /// Every namespace that has an AE directory.
    pub fn ae_directory_namespaces(&self) -> Vec<NamespaceId> {
        self.namespaces_with("/ae-directory")
    }

    /// Every namespace with a tree `<namespace><suffix>`.
    pub(crate) fn namespaces_with(&self, suffix: &str) -> Vec<NamespaceId> {
        self.tree_names()
            .iter()
            .filter_map(|name| {
                std::str::from_utf8(name)
                    .ok()
                    .and_then(|n| n.strip_suffix(suffix))
                    .and_then(|n| NamespaceId::new(n).ok())
            })
            .collect()
    }

    /// sled's directory.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// An item's messages since the store was opened.
    pub fn item_counts(
        &self,
        namespace: &NamespaceId,
        item: &crate::message::ItemAddress,
    ) -> ItemCounts {
        self.inner.counts.get(namespace, item)
    }

    pub(crate) fn count(
        &self,
        namespace: &NamespaceId,
        item: &crate::message::ItemAddress,
        what: counts::Counted,
    ) {
        self.inner.counts.add(namespace, item, what);
    }

    /// The data directory the store is in.
    pub fn data_dir(&self) -> &Path {
        self.inner.path.parent().unwrap_or(&self.inner.path)
    }

    /// The database. Callers hold it (and the trees they open) only for
    /// one operation: a reopen waits for every handle on the old one.
    pub(crate) fn db(&self) -> Result<sled::Db, StoreError> {
        match &*self.backend() {
            Backend::Open { db, .. } => Ok(db.clone()),
            Backend::Closed(why) => Err(StoreError::Closed(why.clone())),
        }
    }

    fn backend(&self) -> std::sync::RwLockReadGuard<'_, Backend> {
        self.inner
            .backend
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Opens (creating) one of sled's trees.
    pub(crate) fn tree(&self, name: &str) -> Result<sled::Tree, StoreError> {
        Ok(self.db()?.open_tree(name)?)
    }

    /// The names of sled's trees (none while the store is closed).
    pub(crate) fn tree_names(&self) -> Vec<sled::IVec> {
        self.db().map(|db| db.tree_names()).unwrap_or_default()
    }

    /// Makes every write so far durable: flushes sled, then fsyncs its log.
    ///
    /// # Errors
    /// [`StoreError::Backend`] or [`StoreError::Sync`].
    /// After one failure every later call fails too (see [`latch`]).
    pub(crate) fn sync(&self) -> Result<(), StoreError> {
        self.inner.latch.check()?;
        let backend = self.backend();
        let (db, log_file) = match &*backend {
            Backend::Open { db, log_file } => (db, log_file),
            Backend::Closed(why) => return Err(StoreError::Closed(why.clone())),
        };
        // A failed write of sled's log (ENOSPC) leaves sled refusing every
        // later operation: `heal` reopens it. Only a failed fsync latches.
        db.flush()?;
        let log = self.inner.path.join("db");
        self.inner
            .latch
            .watch(&log, log_file.sync_all())
            .map_err(|source| StoreError::Sync { path: log, source })
    }
}

/// Creates the data directory 0700 when missing; refuses one that group or
/// others may read, write or enter (as PostgreSQL does), with the fix.
fn private_data_dir(data_dir: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let sync_error = |source| StoreError::Sync {
        path: data_dir.to_path_buf(),
        source,
    };
    if !data_dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(data_dir)
            .map_err(sync_error)?;
    }
    let mode = std::fs::metadata(data_dir)
        .map_err(sync_error)?
        .permissions()
        .mode()
        & 0o7777;
    if mode & 0o077 != 0 {
        return Err(StoreError::NotPrivate {
            path: data_dir.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

fn open_error(path: &Path, e: sled::Error) -> StoreError {
    if let sled::Error::Io(io) = &e
        && io.to_string().contains(SLED_LOCK_MESSAGE)
    {
        return StoreError::Locked {
            path: path.parent().unwrap_or(path).to_path_buf(),
        };
    }
    StoreError::Open {
        path: path.to_path_buf(),
        source: BackendError::from(e),
    }
}

fn sync_dir(path: &Path) -> Result<(), StoreError> {
    File::open(path)
        .and_then(|dir| dir.sync_all())
        .map_err(|source| StoreError::Sync {
            path: path.to_path_buf(),
            source,
        })
}

/// The message header the store's tests use: CT Image Storage, instance
/// `1.2.3.<n>`, 4 bytes, from `p/IN`.
#[cfg(test)]
pub(crate) fn test_header(n: u64) -> crate::message::MessageHeader {
    crate::message::MessageHeader {
        source: crate::message::ItemAddress::new("p", "IN"),
        received_at: crate::message::now_ms(),
        sop_class_uid: "1.2.840.10008.5.1.4.1.1.2".into(),
        sop_instance_uid: format!("1.2.3.{n}"),
        transfer_syntax: "1.2.840.10008.1.2.1".into(),
        calling_ae_title: "SCU".into(),
        called_ae_title: "SCP".into(),
        origin: "127.0.0.1:1234".into(),
        size: 4,
        body: String::new(),
        sub_operation: None,
    }
}

/// A temporary folder only this user may use, as a data directory must be
/// (`tempfile::tempdir` leaves it to the umask).
#[cfg(test)]
pub(crate) fn private_tempdir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    #[allow(clippy::expect_used)]
    tempfile::Builder::new()
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()
        .expect("a temporary folder")
}

#[cfg(test)]
mod tests;
